//! OffsetFetch: a group's committed offsets, from the shard that coordinates it. A group
//! or partition with nothing committed answers offset -1 and no error, as Kafka does.
//! v8+ asks about several groups in one request.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse};

use super::groups::{home_of_any_id, str_bytes};
use super::{topic_name, Ctx, Response};
use crate::acl::{Operation, ResourceType};
use crate::group::records::Committed;

pub const VERSIONS: RangeInclusive<i16> = 1..=9;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<OffsetFetchRequest>(body) else {
        return Response::Close;
    };
    if ctx.version >= 8 {
        let mut groups = Vec::with_capacity(request.groups.len());
        for group in request.groups {
            let topics = group.topics.map(|topics| {
                topics
                    .into_iter()
                    .map(|t| (t.name.to_string(), t.partition_indexes))
                    .collect()
            });
            let group_id = group.group_id.to_string();
            // v9: the member asking (KIP-848's groups check it).
            let member = (ctx.version >= 9).then(|| {
                let member_id = group.member_id.as_ref().map(|m| m.to_string());
                (member_id, group.member_epoch)
            });
            let (found, error) = fetch(
                &ctx,
                group_id.clone(),
                topics,
                request.require_stable,
                member,
            )
            .await;
            let topics = found
                .into_iter()
                .map(|(topic, partitions)| {
                    let partitions = partitions
                        .into_iter()
                        .map(|(p, committed)| {
                            let (offset, epoch, metadata, error) = fields(committed);
                            OffsetFetchResponsePartitions::default()
                                .with_partition_index(p)
                                .with_error_code(error)
                                .with_committed_offset(offset)
                                .with_committed_leader_epoch(epoch)
                                .with_metadata(Some(str_bytes(metadata)))
                        })
                        .collect();
                    OffsetFetchResponseTopics::default()
                        .with_name(topic_name(&topic))
                        .with_partitions(partitions)
                })
                .collect();
            groups.push(
                OffsetFetchResponseGroup::default()
                    .with_group_id(str_bytes(group_id).into())
                    .with_topics(topics)
                    .with_error_code(super::groups::code(error)),
            );
        }
        return ctx.respond(&OffsetFetchResponse::default().with_groups(groups));
    }
    let topics = request.topics.map(|topics| {
        topics
            .into_iter()
            .map(|t| (t.name.to_string(), t.partition_indexes))
            .collect()
    });
    let stable = request.require_stable;
    let (found, error) = fetch(&ctx, request.group_id.to_string(), topics, stable, None).await;
    let epochs = ctx.version >= 5;
    let topics = found
        .into_iter()
        .map(|(topic, partitions)| {
            let partitions = partitions
                .into_iter()
                .map(|(p, committed)| {
                    let (offset, epoch, metadata, error) = fields(committed);
                    OffsetFetchResponsePartition::default()
                        .with_partition_index(p)
                        .with_error_code(error)
                        .with_committed_offset(offset)
                        .with_committed_leader_epoch(if epochs { epoch } else { -1 })
                        .with_metadata(Some(str_bytes(metadata)))
                })
                .collect();
            OffsetFetchResponseTopic::default()
                .with_name(topic_name(&topic))
                .with_partitions(partitions)
        })
        .collect();
    let response = OffsetFetchResponse::default().with_topics(topics);
    let response = if ctx.version >= 2 {
        response.with_error_code(super::groups::code(error))
    } else {
        response
    };
    ctx.respond(&response)
}

/// A partition's offset, leader epoch, metadata and error code.
fn fields(committed: Answer) -> (i64, i32, String, i16) {
    match committed {
        Ok(Some(c)) => (c.offset, c.leader_epoch, c.metadata, 0),
        Ok(None) => (-1, -1, String::new(), 0),
        Err(error) => (-1, -1, String::new(), error.code()),
    }
}

/// A partition's committed offset (if any), or why the caller may not see it.
type Answer = Result<Option<Committed>, ResponseError>;
/// Per topic, each partition's answer.
type Answers = Vec<(String, Vec<(i32, Answer)>)>;

/// One group's offsets for `topics` (every committed one for `None`), or the error
/// that stands for the whole group. With `require_stable`, an offset a transaction
/// still open has committed is UNSTABLE_OFFSET_COMMIT, as Kafka answers (the client
/// asks again). `member`: v9's member id and epoch, which a KIP-848 group checks
/// (UNKNOWN_MEMBER_ID, STALE_MEMBER_EPOCH), as Kafka's does.
async fn fetch(
    ctx: &Ctx,
    group_id: String,
    topics: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
    member: Option<(Option<String>, i32)>,
) -> (Answers, Option<ResponseError>) {
    let unanswered = |topics: Option<Vec<(String, Vec<i32>)>>| -> Answers {
        topics
            .unwrap_or_default()
            .into_iter()
            .map(|(t, ps)| (t, ps.into_iter().map(|p| (p, Ok(None))).collect()))
            .collect()
    };
    let home = match home_of_any_id(ctx, Operation::Describe, &group_id).await {
        Ok(home) => home,
        Err(error) => return (unanswered(topics), Some(error)),
    };
    // Kafka: each topic needs DESCRIBE; asked-for topics the caller may not describe are
    // answered TOPIC_AUTHORIZATION_FAILED, and a fetch of every topic leaves them out.
    let describable = |topic: &str| ctx.allowed(Operation::Describe, ResourceType::Topic, topic);
    let (topics, refused) = match topics {
        Some(topics) => {
            let (allowed, refused): (Vec<_>, Vec<_>) = topics
                .into_iter()
                .partition(|(topic, _)| describable(topic));
            (Some(allowed), refused)
        }
        None => (None, Vec::new()),
    };
    let refused = refused.into_iter().map(|(topic, partitions)| {
        let refusal = ResponseError::TopicAuthorizationFailed;
        (
            topic,
            partitions.into_iter().map(|p| (p, Err(refusal))).collect(),
        )
    });
    let asked = topics.clone();
    // Cross-shard: the group lives on the shard owning its offsets partition.
    match ctx
        .shard
        .invoke_on(home.shard, move |s| async move {
            if let Some((member_id, epoch)) = &member {
                s.groups
                    .check_fetcher(&group_id, member_id.as_deref(), *epoch)?;
            }
            let found = s.groups.fetch(&group_id, topics);
            let answers: Answers = found
                .into_iter()
                .map(|(topic, partitions)| {
                    let answers = partitions
                        .into_iter()
                        .map(|(p, c)| {
                            let unstable =
                                require_stable && s.groups.has_pending(&group_id, &topic, p);
                            let answer = match unstable {
                                true => Err(ResponseError::UnstableOffsetCommit),
                                false => Ok(c),
                            };
                            (p, answer)
                        })
                        .collect();
                    (topic, answers)
                })
                .collect();
            Ok(answers)
        })
        .await
    {
        Ok(Ok(found)) => {
            let found = found.into_iter().filter(|(topic, _)| describable(topic));
            (found.chain(refused).collect(), None)
        }
        Ok(Err(error)) => (
            unanswered(asked).into_iter().chain(refused).collect(),
            Some(error),
        ),
        Err(_) => (
            unanswered(asked).into_iter().chain(refused).collect(),
            Some(ResponseError::NotCoordinator),
        ),
    }
}
