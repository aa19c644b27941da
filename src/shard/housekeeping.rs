//! A shard's periodic upkeep of the partitions it owns: compaction, producer-id
//! expiry and retention every `log.retention.check.interval.ms`, the syncs of topics
//! with `flush.ms`, and the high-watermark checkpoints of replicated partitions.

use std::rc::Rc;

use super::Shard;

/// Every `log.retention.check.interval.ms`, compacts this shard's compacted partitions,
/// forgets producer ids past `producer.id.expiration.ms` and deletes the segments that
/// retention no longer keeps.
pub(super) async fn enforce_retention(shard: Rc<Shard>) {
    loop {
        let interval = shard.snapshot().broker.log_retention_check_interval_ms;
        if shard.pause_ms(interval).await.is_none() {
            return;
        }
        // Kafka's cleaner threads share the dedupe buffer; here the shards do.
        let map_entries_max = (shard.snapshot().broker.log_cleaner_dedupe_buffer_size as usize)
            / shard.shard_count().max(1)
            / crate::storage::log::MAP_ENTRY_BYTES;
        for partition in shard.local_partitions() {
            match partition.compact(super::now_ms(), map_entries_max).await {
                Ok(0) => {}
                Ok(removed) => {
                    tracing::info!(topic = %partition.topic, partition = partition.index, removed, "compaction removed records")
                }
                Err(error) => {
                    tracing::error!(topic = %partition.topic, partition = partition.index, %error, "compaction failed")
                }
            }
            let expired = partition.expire_producers(super::now_ms());
            if expired > 0 {
                tracing::debug!(topic = %partition.topic, partition = partition.index, expired, "producer ids expired");
            }
            match partition.enforce_retention(super::now_ms()).await {
                Ok(0) => {}
                Ok(deleted) => {
                    tracing::info!(topic = %partition.topic, partition = partition.index, deleted, "retention deleted segments")
                }
                Err(error) => {
                    tracing::error!(topic = %partition.topic, partition = partition.index, %error, "retention failed")
                }
            }
        }
    }
}

/// How often the periodic flusher looks for logs due a sync when none is configured
/// (a topic may gain `flush.ms` at any time).
const FLUSH_CHECK_MS: i64 = 1000;

/// Syncs the logs of topics with `flush.ms` set (whose acks=all appends did not wait
/// for a sync) once their interval has passed since their last sync.
pub(super) async fn flush_on_interval(shard: Rc<Shard>) {
    loop {
        let now = super::now_ms();
        let mut next_due = now + FLUSH_CHECK_MS;
        for partition in shard.local_partitions() {
            let (Some(interval), flushed_at) = partition.flush_schedule() else {
                continue;
            };
            let due = flushed_at.saturating_add(interval);
            if due > now {
                next_due = next_due.min(due);
                continue;
            }
            if let Err(error) = partition.flush_on_schedule(now).await {
                tracing::error!(topic = %partition.topic, partition = partition.index, %error, "periodic flush failed");
            }
            next_due = next_due.min(now.saturating_add(interval));
        }
        if shard.pause_ms(next_due - now).await.is_none() {
            return;
        }
    }
}

/// Every `replica.high.watermark.checkpoint.interval.ms`, writes the high watermark of
/// each replicated partition that moved beside its log, for a restart.
pub(super) async fn checkpoint_high_watermarks(shard: Rc<Shard>) {
    loop {
        let interval = shard
            .snapshot()
            .broker
            .replica_high_watermark_checkpoint_interval_ms;
        if shard.pause_ms(interval).await.is_none() {
            return;
        }
        for partition in shard.local_partitions() {
            // A stop writes every checkpoint as it closes the partitions.
            if shard.is_stopping() {
                return;
            }
            partition.checkpoint_high_watermark().await;
        }
    }
}
