//! What the consumer-group handlers share: finding the shard that coordinates a group,
//! after checking the caller's right to the group.

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::protocol::StrBytes;

use super::Ctx;
use crate::acl::{Operation, ResourceType};
use crate::cluster::controller::NewTopic;
use crate::cluster::ShardId;
use crate::group::{self, GROUP_ID_BYTES_MAX, OFFSETS_TOPIC};
use crate::shard::Shard;

/// Where a group lives: the shard that coordinates it and its offsets-topic partition.
#[derive(Debug, Clone, Copy)]
pub struct Home {
    pub shard: ShardId,
    pub partition: i32,
}

/// The home of `group`, once the caller is found allowed to perform `operation` on the
/// group (else GROUP_AUTHORIZATION_FAILED, before anything else, as in Kafka). The
/// offsets topic is created on first use, as Kafka does.
pub async fn home_of(ctx: &Ctx, operation: Operation, group: &str) -> Result<Home, ResponseError> {
    if !ctx.allowed(operation, ResourceType::Group, group) {
        return Err(ResponseError::GroupAuthorizationFailed);
    }
    let shard = &ctx.shard;
    if group.is_empty() || group.len() > GROUP_ID_BYTES_MAX {
        return Err(ResponseError::InvalidGroupId);
    }
    let partitions = match shard.snapshot().topic(OFFSETS_TOPIC) {
        Some(meta) => meta.partitions,
        None => create_offsets_topic(shard).await?,
    };
    let partition = group::partition_for(group, partitions);
    Ok(Home {
        shard: shard.snapshot().shard_for(OFFSETS_TOPIC, partition),
        partition,
    })
}

async fn create_offsets_topic(shard: &Rc<Shard>) -> Result<i32, ResponseError> {
    let partitions = shard.snapshot().broker.offsets_topic_num_partitions;
    create_internal_topic(shard, OFFSETS_TOPIC, partitions, 104_857_600, "producer").await
}

/// Creates an internal topic on its first use, as Kafka does (compacted, with the given
/// segment size and compression); answers its partition count.
pub async fn create_internal_topic(
    shard: &Rc<Shard>,
    name: &str,
    partitions: i32,
    segment_bytes: i32,
    compression: &str,
) -> Result<i32, ResponseError> {
    let topic = NewTopic {
        name: name.to_string(),
        partitions,
        replication_factor: -1,
        assignments: Vec::new(),
        configs: vec![
            ("cleanup.policy".to_string(), "compact".to_string()),
            ("segment.bytes".to_string(), segment_bytes.to_string()),
            ("compression.type".to_string(), compression.to_string()),
        ],
    };
    // Cross-shard: topics are created by the controller on shard 0. Two requests may
    // race to create it; the loser's TOPIC_ALREADY_EXISTS is fine.
    let created = shard
        .invoke_on(ShardId(0), move |s| async move {
            s.controller().create_topics(&s, vec![topic], false).await
        })
        .await;
    if let Ok(results) = created {
        for error in results.into_iter().filter_map(Result::err) {
            tracing::debug!(topic = name, ?error, "creating an internal topic");
        }
    }
    shard
        .snapshot()
        .topic(name)
        .map(|meta| meta.partitions)
        .ok_or(ResponseError::CoordinatorNotAvailable)
}

pub use crate::protocol::str_bytes;

pub fn opt_str(s: Option<StrBytes>) -> Option<String> {
    s.map(|s| s.to_string())
}

/// The wire code of an optional error (0 for none).
pub fn code(error: Option<ResponseError>) -> i16 {
    error.map_or(0, |e| e.code())
}
