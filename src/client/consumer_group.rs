//! KIP-848's ConsumerGroupHeartbeat, the one request a member of a `consumer` group
//! sends: it joins (epoch 0), keeps the session, acknowledges the partitions it owns
//! and leaves (epoch -1); the coordinator assigns. Errors come back as
//! `Error::Broker` with Kafka's code, for the member to react to.

use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, GroupId, TopicName};
use uuid::Uuid;

use super::broker::Broker;
use super::error::{Error, Result};
use super::str_bytes;

/// The epoch a member joins with.
pub const JOIN_EPOCH: i32 = 0;
/// The epoch a dynamic member leaves with.
pub const LEAVE_EPOCH: i32 = -1;
/// Kafka's FENCED_MEMBER_EPOCH: the member must rejoin with epoch 0.
pub const FENCED_MEMBER_EPOCH: i16 = 110;
/// Kafka's STALE_MEMBER_EPOCH: a commit with an epoch the member has moved past.
pub const STALE_MEMBER_EPOCH: i16 = 113;

/// What a member tells the coordinator.
pub struct Beat<'a> {
    pub group: &'a str,
    pub member_id: &'a str,
    pub epoch: i32,
    pub rebalance_timeout_ms: i32,
    /// The topics subscribed to, sent on every beat (Kafka allows null for "unchanged").
    pub topics: &'a [String],
    /// KIP-848's server-side assignor; None leaves the choice to the broker.
    pub assignor: Option<&'a str>,
    /// The partitions the member owns, by topic id.
    pub owned: &'a [(Uuid, Vec<i32>)],
}

/// The coordinator's answer.
#[derive(Debug)]
pub struct Answer {
    pub epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// The partitions the member is to own now, by topic id; None when unchanged.
    pub assignment: Option<Vec<(Uuid, Vec<i32>)>>,
}

pub fn heartbeat(broker: &mut Broker, beat: &Beat<'_>) -> Result<Answer> {
    let version = broker.version::<ConsumerGroupHeartbeatRequest>()?;
    let mut request = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(str_bytes(beat.group)))
        .with_member_id(str_bytes(beat.member_id))
        .with_member_epoch(beat.epoch);
    // Leaving says nothing else.
    if beat.epoch != LEAVE_EPOCH {
        request.rebalance_timeout_ms = beat.rebalance_timeout_ms;
        request.subscribed_topic_names = Some(
            beat.topics
                .iter()
                .map(|t| TopicName(str_bytes(t)))
                .collect(),
        );
        request.server_assignor = beat.assignor.map(str_bytes);
        request.topic_partitions = Some(
            beat.owned
                .iter()
                .map(|(id, partitions)| {
                    TopicPartitions::default()
                        .with_topic_id(*id)
                        .with_partitions(partitions.clone())
                })
                .collect(),
        );
    }
    let response = broker.call(version, &request)?;
    Error::check(
        response.error_code,
        response.error_message.as_deref(),
        || format!("heartbeat to group '{}'", beat.group),
    )?;
    let assignment = response.assignment.map(|a| {
        a.topic_partitions
            .into_iter()
            .map(|t| (t.topic_id, t.partitions))
            .collect()
    });
    Ok(Answer {
        epoch: response.member_epoch,
        heartbeat_interval_ms: response.heartbeat_interval_ms,
        assignment,
    })
}
