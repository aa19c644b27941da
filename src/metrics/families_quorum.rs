//! The metadata quorum as this node's member sees it: Kafka's `raft-metrics` as the JMX
//! exporter names them (`kafka_server_raft_metrics_*`), and again as Strimzi's rules name
//! them (`kafka_server_raftmetrics_*`), which its KRaft dashboard and alerts read.

use prometheus::proto::{MetricFamily, MetricType};

use super::{family, gauge, single, single_labelled, Broker};
use crate::metrics::sample::ShardSample;

/// The states Kafka's raft-metrics `current-state` takes, one series each.
const QUORUM_STATES: [&str; 6] = [
    "leader",
    "candidate",
    "prospective",
    "follower",
    "unattached",
    "observer",
];

/// The metadata quorum as this node's member sees it (Kafka's `raft-metrics`).
pub fn quorum_families(samples: &[ShardSample], broker: &Broker) -> Vec<MetricFamily> {
    let Some(q) = samples.iter().find_map(|s| s.quorum.as_ref()) else {
        return Vec::new();
    };
    let own_end = q
        .voters
        .iter()
        .chain(&q.observers)
        .find(|v| v.node == broker.node_id)
        .map_or(-1, |v| v.log_end);
    let states = QUORUM_STATES
        .iter()
        .map(|state| gauge(&[("state", state)], f64::from(u8::from(*state == q.state))))
        .collect();
    let mut families = vec![
        single(
            "kafka_server_raft_metrics_current_leader",
            "The metadata quorum's leader as this node knows it, -1 if none (raft-metrics current-leader)",
            f64::from(q.leader.unwrap_or(-1)),
        ),
        single(
            "kafka_server_raft_metrics_current_epoch",
            "The metadata quorum's epoch (raft-metrics current-epoch)",
            f64::from(q.epoch),
        ),
        single(
            "kafka_server_raft_metrics_high_watermark",
            "The metadata log's high watermark (raft-metrics high-watermark)",
            q.high_watermark as f64,
        ),
        single(
            "kafka_server_raft_metrics_log_end_offset",
            "The end of this node's metadata log (raft-metrics log-end-offset)",
            own_end as f64,
        ),
        family(
            "kafka_server_raft_metrics_current_state",
            "1 for this node's state in the metadata quorum (raft-metrics current-state)",
            MetricType::GAUGE,
            states,
        ),
        single(
            "kafka_server_raft_metrics_number_of_voters",
            "The metadata quorum's voters as this node applied them (raft-metrics number-of-voters)",
            q.voters.len() as f64,
        ),
        single(
            "kafka_server_raft_metrics_number_of_observers",
            "Members following the metadata log without voting, as this node knows them (raft-metrics number-of-observers)",
            q.observers.len() as f64,
        ),
    ];
    // The same under the names Strimzi's JMX-exporter rules give raft-metrics
    // (`kafka_server_raftmetrics_*`; current-state as the one series of this node's state,
    // labelled `current_state`), which its KRaft dashboard and alerts read.
    let mut strimzi: Vec<MetricFamily> = families
        .iter()
        .filter(|f| f.name() != "kafka_server_raft_metrics_current_state")
        .map(|f| {
            let mut f = f.clone();
            f.set_name(f.name().replace("raft_metrics", "raftmetrics"));
            f
        })
        .collect();
    strimzi.push(single_labelled(
        "kafka_server_raftmetrics_current_state",
        "This node's state in the metadata quorum, under Strimzi's name",
        &[("current_state", q.state)],
        1.0,
    ));
    families.append(&mut strimzi);
    families
}
