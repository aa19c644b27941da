//! What the consumer-group handlers share: finding the shard that coordinates a group,
//! after checking the caller's right to the group, and committing offsets there.

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::protocol::StrBytes;

use super::auth::only_allowed;
use super::Ctx;
use crate::acl::{Operation, ResourceType};
use crate::cluster::controller::NewTopic;
use crate::cluster::ShardId;
use crate::group::offsets::{Committer, InTxn, NewOffset};
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
    if group.is_empty() {
        return Err(refused_or(
            ctx,
            operation,
            group,
            ResponseError::InvalidGroupId,
        ));
    }
    home_of_any_id(ctx, operation, group).await
}

/// `home_of` for the requests Kafka still takes with an empty group id, for old
/// clients: OffsetCommit, OffsetFetch, DescribeGroups and DeleteGroups.
pub async fn home_of_any_id(
    ctx: &Ctx,
    operation: Operation,
    group: &str,
) -> Result<Home, ResponseError> {
    let shard = &ctx.shard;
    let partition = offsets_partition_of(ctx, operation, group).await?;
    led_here(shard, OFFSETS_TOPIC, partition)?;
    let home = shard.snapshot().shard_for(OFFSETS_TOPIC, partition);
    loaded(shard, home, OFFSETS_TOPIC, partition).await?;
    Ok(Home {
        shard: home,
        partition,
    })
}

/// COORDINATOR_LOAD_IN_PROGRESS while the shard `home` reads back the coordinator
/// state of an internal topic's partition this broker just took the lead of; the home
/// shard's own view of the lead otherwise (another shard may hold a newer or older
/// snapshot than the one that decides what the home shard has loaded).
pub async fn loaded(
    shard: &Rc<Shard>,
    home: ShardId,
    topic: &'static str,
    partition: i32,
) -> Result<(), ResponseError> {
    let loaded_on = move |s: &Shard| match s.coordinator_loading(topic, partition) {
        true => Err(ResponseError::CoordinatorLoadInProgress),
        false => Ok(()),
    };
    // The home shard is this one: its lead was just checked on the same snapshot.
    if home == shard.id {
        return loaded_on(shard);
    }
    // Cross-shard: the home shard knows what it leads and what it is loading.
    let asked = shard.invoke_on(home, move |s| async move {
        loaded_on(&s).and_then(|()| led_here(&s, topic, partition))
    });
    asked
        .await
        .unwrap_or(Err(ResponseError::CoordinatorNotAvailable))
}

/// The offsets partition of `group`, wherever it is led, with `home_of`'s checks
/// before (AddOffsetsToTxn at a transaction coordinator needs no more).
pub async fn offsets_partition_of(
    ctx: &Ctx,
    operation: Operation,
    group: &str,
) -> Result<i32, ResponseError> {
    if group.len() > GROUP_ID_BYTES_MAX {
        return Err(refused_or(
            ctx,
            operation,
            group,
            ResponseError::InvalidGroupId,
        ));
    }
    if !ctx.allowed(operation, ResourceType::Group, group) {
        return Err(ResponseError::GroupAuthorizationFailed);
    }
    Ok(group::partition_for(
        group,
        offsets_partitions(&ctx.shard).await?,
    ))
}

/// GROUP_AUTHORIZATION_FAILED without `operation` on the group, before anything else,
/// as in Kafka; else `error`.
fn refused_or(ctx: &Ctx, operation: Operation, group: &str, error: ResponseError) -> ResponseError {
    match ctx.allowed(operation, ResourceType::Group, group) {
        true => error,
        false => ResponseError::GroupAuthorizationFailed,
    }
}

/// The offsets topic's partition count; the topic is created on first use.
pub async fn offsets_partitions(shard: &Rc<Shard>) -> Result<i32, ResponseError> {
    if let Some(meta) = shard.snapshot().topic(OFFSETS_TOPIC) {
        return Ok(meta.partitions);
    }
    let broker = &shard.snapshot().broker;
    let shape = (
        broker.offsets_topic_num_partitions,
        broker.offsets_topic_replication_factor,
    );
    create_internal_topic(shard, OFFSETS_TOPIC, shape, 104_857_600, "producer").await
}

/// A coordinator's partition must be led by this broker: NOT_COORDINATOR when another
/// leads it (the client asks FindCoordinator again), COORDINATOR_NOT_AVAILABLE when
/// none does.
pub fn led_here(shard: &Shard, topic: &str, partition: i32) -> Result<(), ResponseError> {
    let snapshot = shard.snapshot();
    match snapshot.leader_of(topic, partition) {
        Some(leader) if leader == snapshot.broker.node_id => Ok(()),
        Some(_) => Err(ResponseError::NotCoordinator),
        None => Err(ResponseError::CoordinatorNotAvailable),
    }
}

/// Creates an internal topic on its first use, as Kafka does (compacted, with the given
/// partition count, replication factor, segment size and compression); answers its
/// partition count. A cluster of one keeps one replica whatever the factor says.
pub async fn create_internal_topic(
    shard: &Rc<Shard>,
    name: &str,
    (partitions, replication_factor): (i32, i16),
    segment_bytes: i32,
    compression: &str,
) -> Result<i32, ResponseError> {
    let replication_factor = match shard.snapshot().layout() {
        Some(_) => replication_factor,
        None => 1,
    };
    let topic = NewTopic {
        name: name.to_string(),
        partitions,
        replication_factor,
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

/// The offsets an OffsetCommit or a TxnOffsetCommit request commits (their topics and
/// partitions have the same fields), in request order.
macro_rules! new_offsets {
    ($topics:expr) => {
        $topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| crate::group::offsets::NewOffset {
                        topic: t.name.to_string(),
                        partition: p.partition_index,
                        offset: p.committed_offset,
                        leader_epoch: p.committed_leader_epoch,
                        metadata: p
                            .committed_metadata
                            .as_ref()
                            .map(|m| m.to_string())
                            .unwrap_or_default(),
                    })
            })
            .collect::<Vec<_>>()
    };
}
pub(crate) use new_offsets;

/// Commits `offsets` at the group's coordinator (in a transaction, if given), once the
/// caller is found allowed to READ each topic (Kafka asks for that on top of READ on
/// the group): one error or `None` per offset, in order.
pub async fn commit_offsets(
    ctx: &Ctx,
    home: Home,
    group_id: String,
    committer: Committer,
    offsets: Vec<NewOffset>,
    in_txn: Option<InTxn>,
) -> Vec<Option<ResponseError>> {
    let snapshot = ctx.shard.snapshot();
    let allowed = |offset: &NewOffset| {
        ctx.allowed_in(
            &snapshot,
            Operation::Read,
            ResourceType::Topic,
            &offset.topic,
        )
    };
    let refused = |_: &NewOffset| Some(ResponseError::TopicAuthorizationFailed);
    let shard = &ctx.shard;
    only_allowed(offsets, allowed, refused, |offsets| async move {
        let count = offsets.len();
        // Cross-shard: the group lives on the shard owning its offsets partition.
        shard
            .invoke_on(home.shard, move |s| async move {
                let groups = &s.groups;
                groups
                    .commit(&s, &group_id, home.partition, &committer, offsets, in_txn)
                    .await
            })
            .await
            .unwrap_or_else(|_| vec![Some(ResponseError::NotCoordinator); count])
    })
    .await
}

/// The response's topics of an offset commit: `make_partition` builds each partition's
/// answer from its index and error code, `make_topic` each topic's from its partitions.
pub fn commit_results<P, T>(
    shape: Vec<(String, i32)>,
    errors: Vec<Option<ResponseError>>,
    make_partition: impl Fn(i32, i16) -> P,
    make_topic: impl Fn(String, Vec<P>) -> T,
) -> Vec<T> {
    let partitions = shape
        .into_iter()
        .zip(errors)
        .map(|((topic, partition), error)| (topic, make_partition(partition, code(error))));
    super::group_by_topic(partitions, make_topic)
}

pub use crate::protocol::str_bytes;

pub fn opt_str(s: Option<StrBytes>) -> Option<String> {
    s.map(|s| s.to_string())
}

/// The wire code of an optional error (0 for none).
pub fn code(error: Option<ResponseError>) -> i16 {
    error.map_or(0, |e| e.code())
}
