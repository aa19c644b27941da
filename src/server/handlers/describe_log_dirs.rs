//! DescribeLogDirs: the broker's log directory, each partition's log size in it, and
//! (v4) the file system's size and free space. Kafka's tool `kafka-log-dirs.sh` and
//! `shoal log-dirs` read it; DESCRIBE on the cluster is required.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse};

use super::{topic_name, Ctx, Response};
use crate::acl::Operation;
use crate::protocol::str_bytes;

pub const VERSIONS: RangeInclusive<i16> = 1..=4;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<DescribeLogDirsRequest>(body) else {
        return Response::Close;
    };
    let refuse =
        |code: ResponseError| DescribeLogDirsResponse::default().with_error_code(code.code());
    if !ctx.allowed_on_cluster(Operation::Describe) {
        return ctx.respond(&refuse(ResponseError::ClusterAuthorizationFailed));
    }
    // Null: every partition; otherwise the partitions named (unknown ones are left out).
    let wanted: Option<BTreeMap<String, Vec<i32>>> = request.topics.map(|topics| {
        topics
            .into_iter()
            .map(|t| (t.topic.0.to_string(), t.partitions))
            .collect()
    });
    // Cross-shard: each shard sizes its own partitions' logs.
    let sized = ctx
        .shard
        .invoke_on_all(|s| async move {
            let partitions = s.local_partitions();
            partitions
                .iter()
                .map(|p| (p.topic.clone(), p.index, p.size_bytes()))
                .collect::<Vec<_>>()
        })
        .await;
    let Ok(sized) = sized else {
        return ctx.respond(&refuse(ResponseError::UnknownServerError));
    };
    let mut topics: BTreeMap<String, Vec<(i32, u64)>> = BTreeMap::new();
    for (topic, partition, size) in sized.into_iter().flatten() {
        let asked = wanted.as_ref().is_none_or(|w| {
            w.get(&topic)
                .is_some_and(|partitions| partitions.contains(&partition))
        });
        if asked {
            topics.entry(topic).or_default().push((partition, size));
        }
    }
    let topics = topics
        .into_iter()
        .map(|(name, mut partitions)| {
            partitions.sort_unstable();
            let partitions = partitions
                .into_iter()
                .map(|(index, size)| {
                    DescribeLogDirsPartition::default()
                        .with_partition_index(index)
                        .with_partition_size(i64::try_from(size).unwrap_or(i64::MAX))
                })
                .collect();
            DescribeLogDirsTopic::default()
                .with_name(topic_name(&name))
                .with_partitions(partitions)
        })
        .collect();
    let dir = ctx.shard.log_dir();
    let result =
        DescribeLogDirsResult::default().with_log_dir(str_bytes(dir.display().to_string()));
    let result = match crate::storage::file_system_space(dir) {
        Some((usable, total)) => result
            .with_topics(topics)
            .with_total_bytes(i64::try_from(total).unwrap_or(i64::MAX))
            .with_usable_bytes(i64::try_from(usable).unwrap_or(i64::MAX)),
        // As Kafka answers a directory it cannot read: the error, sizes -1, no topics.
        None => result
            .with_error_code(ResponseError::UnknownServerError.code())
            .with_total_bytes(-1)
            .with_usable_bytes(-1),
    };
    ctx.respond(&DescribeLogDirsResponse::default().with_results(vec![result]))
}
