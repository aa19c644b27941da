//! The leader's side of replication on its shard: the periodic look at each led
//! partition's followers (`replica.lag.time.max.ms`, changes left unanswered), and the
//! ISR changes it sends the controller (AlterPartition through the metadata quorum).

use std::rc::Rc;
use std::time::Duration;

use crate::cluster::ShardId;
use crate::partition::Partition;
use crate::replication::isr::{AlterAnswer, AlterIsr};
use crate::shard::{now_ms, Shard};

/// How often a leader looks at its followers.
const CHECK_INTERVAL: Duration = Duration::from_millis(500);

/// Looks at every partition this shard leads, every `CHECK_INTERVAL`, until the broker
/// stops.
pub async fn run_isr_checks(shard: Rc<Shard>) {
    loop {
        let pause = glommio::timer::sleep(CHECK_INTERVAL);
        if shard.unless_stopping(pause).await.is_none() {
            return;
        }
        let now = now_ms();
        for partition in shard.local_partitions() {
            if let Some(change) = partition.isr_check(now) {
                send_alter(&shard, &partition, change);
            }
        }
    }
}

/// Sends an ISR change to the controller, and hands the answer to the partition
/// (none comes when the quorum has no leader or the change times out: it stays pending
/// and is sent again).
pub fn send_alter(shard: &Rc<Shard>, partition: &Rc<Partition>, change: AlterIsr) {
    let Some(topic) = shard.snapshot().topic(&partition.topic).map(|m| m.id) else {
        return;
    };
    let (shard, partition) = (Rc::clone(shard), Rc::clone(partition));
    let index = partition.index;
    // The ISR the change was asked from: the metadata may bring the new one to this
    // shard before the controller's answer does.
    let before = partition.in_sync_replicas() as usize;
    tracing::debug!(topic = %partition.topic, partition = index, isr = ?change.isr, "asking the controller for a new ISR");
    glommio::spawn_local(async move {
        let asked_at = change.partition_epoch;
        // Cross-shard: the metadata quorum's member is on shard 0.
        let answer = shard
            .invoke_on(ShardId(0), move |s| async move {
                s.controller().alter_isr(topic, index, change).await
            })
            .await;
        if let Ok(Some(answer)) = answer {
            if let AlterAnswer::Committed { isr, .. } = &answer {
                tracing::info!(topic = %partition.topic, partition = index, ?isr, "ISR changed");
                let metrics = &shard.metrics;
                match isr.len().cmp(&before) {
                    std::cmp::Ordering::Less => metrics.isr_shrinks.add(1),
                    std::cmp::Ordering::Greater => metrics.isr_expands.add(1),
                    std::cmp::Ordering::Equal => {}
                }
            }
            partition.on_alter_answer(asked_at, answer, now_ms());
        }
    })
    .detach();
}
