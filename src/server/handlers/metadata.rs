//! Metadata: brokers, topics and partition leaders; auto-creates requested topics
//! when both the client and `auto.create.topics.enable` allow it. With an authorizer,
//! topics the caller may not DESCRIBE are left out of a full list and refused when
//! named, and auto-creation needs CREATE on the cluster or on the topic.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse};
use kafka_protocol::protocol::StrBytes;

use super::{Ctx, Response};
use crate::acl::Operation::{Create, Describe};
use crate::acl::ResourceType::{Cluster, Topic};
use crate::acl::CLUSTER_NAME;
use crate::cluster::controller::NewTopic;
use crate::cluster::{ShardId, Snapshot};

pub const VERSIONS: RangeInclusive<i16> = 0..=12;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<MetadataRequest>(body) else {
        return Response::Close;
    };
    // v0 asks for all topics with an empty list; later versions with null.
    let all = match &request.topics {
        None => true,
        Some(topics) => topics.is_empty() && ctx.version == 0,
    };
    // Before version 12 a topic is asked for by name only: Kafka refuses the request,
    // answering every topic INVALID_REQUEST.
    let by_id = request
        .topics
        .iter()
        .flatten()
        .any(|t| t.name.is_none() || !t.topic_id.is_nil());
    if !all && by_id && ctx.version < 12 {
        let topics = request
            .topics
            .iter()
            .flatten()
            .map(|t| {
                MetadataResponseTopic::default()
                    .with_error_code(ResponseError::InvalidRequest.code())
                    // The answer's name may not be null before v12: Kafka sends "".
                    .with_name(Some(t.name.clone().unwrap_or_default()))
                    .with_topic_id(t.topic_id)
            })
            .collect();
        return ctx.respond(&MetadataResponse::default().with_topics(topics));
    }
    let snapshot = ctx.shard.snapshot();
    let mut names: Vec<Option<String>> = Vec::new();
    // The id each topic was asked by (nil when by name), for an id naming no topic.
    let mut ids: Vec<uuid::Uuid> = Vec::new();
    if !all {
        for topic in request.topics.iter().flatten() {
            let name = match &topic.name {
                Some(name) => Some(name.to_string()),
                None => snapshot.topic_name(&topic.topic_id).map(str::to_string),
            };
            names.push(name);
            ids.push(topic.topic_id);
        }
    }
    let describable =
        |snapshot: &Snapshot, name: &str| ctx.allowed_in(snapshot, Describe, Topic, name);
    let auto_create = (request.allow_auto_topic_creation || ctx.version < 4)
        && snapshot.broker.auto_create_topics_enable;
    // Kafka: creating needs CREATE on the cluster, or else on each topic.
    let refused_creation: Vec<String> = if auto_create && !ctx.allowed_on_cluster(Create) {
        names
            .iter()
            .flatten()
            .filter(|name| may_auto_create(&snapshot, name) && describable(&snapshot, name))
            .filter(|name| !ctx.allowed_in(&snapshot, Create, Topic, name))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    let (snapshot, created) = if auto_create {
        let wanted: Vec<String> = names
            .iter()
            .flatten()
            .filter(|name| describable(&snapshot, name) && !refused_creation.contains(name))
            .cloned()
            .collect();
        create_missing(&ctx, &snapshot, &wanted).await
    } else {
        (snapshot, Vec::new())
    };
    let with_operations = |topic: MetadataResponseTopic, name: &str| {
        let requested = request.include_topic_authorized_operations;
        let operations = ctx.authorized_operations(&snapshot, requested, Topic, name);
        topic.with_topic_authorized_operations(operations)
    };
    let mut topics: Vec<MetadataResponseTopic> = if all {
        // Topics the caller may not describe are left out of the list.
        snapshot
            .topics()
            .filter(|(name, _)| describable(&snapshot, name))
            .map(|(name, _)| with_operations(describe(&snapshot, name), name))
            .collect()
    } else {
        names
            .iter()
            .zip(&ids)
            .map(|(name, id)| match name.as_deref() {
                // Kafka gives a refused topic no authorized operations.
                Some(name)
                    if !describable(&snapshot, name)
                        || refused_creation.iter().any(|n| n == name) =>
                {
                    refused(name)
                }
                Some(name) if created.iter().any(|n| n == name) => being_created(name),
                Some(name) => with_operations(describe_requested(&snapshot, Some(name)), name),
                // An id naming no topic: the id asked, and no name.
                None => MetadataResponseTopic::default()
                    .with_error_code(ResponseError::UnknownTopicId.code())
                    .with_name(None)
                    .with_topic_id(*id),
            })
            .collect()
    };
    // Kafka reports the cluster's operations only to who may describe it (v8-10).
    let cluster_operations = match request.include_cluster_authorized_operations {
        true if !ctx.allowed_on_cluster(Describe) => 0,
        requested => ctx.authorized_operations(&snapshot, requested, Cluster, CLUSTER_NAME),
    };
    without_listener(&snapshot, &ctx.peer.listener, &mut topics);
    let brokers = ctx
        .brokers(&snapshot)
        .into_iter()
        .map(|b| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(b.id))
                .with_host(StrBytes::from_string(b.host))
                .with_port(b.port)
                .with_rack(b.rack.map(StrBytes::from_string))
        })
        .collect();
    let response = MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(StrBytes::from_string(
            snapshot.cluster_id().to_string(),
        )))
        .with_controller_id(BrokerId(snapshot.controller()))
        .with_topics(topics)
        .with_cluster_authorized_operations(cluster_operations);
    ctx.respond(&response)
}

/// Whether Metadata would create `name` if it is missing: internal topics are created
/// by their coordinators, with their own configs, and the metadata log's name is
/// never a topic's.
fn may_auto_create(snapshot: &Snapshot, name: &str) -> bool {
    snapshot.topic(name).is_none()
        && crate::config::valid_topic_name(name).is_ok()
        && !crate::group::is_internal_topic(name)
        && name != crate::quorum::METADATA_TOPIC
}

/// Creates the requested topics that do not exist yet; returns the snapshot that has
/// them, and which ones this request created.
async fn create_missing(
    ctx: &Ctx,
    snapshot: &Snapshot,
    names: &[String],
) -> (std::rc::Rc<Snapshot>, Vec<String>) {
    let missing: Vec<NewTopic> = names
        .iter()
        .filter(|name| may_auto_create(snapshot, name))
        .map(|name| NewTopic {
            name: name.clone(),
            partitions: -1,
            replication_factor: -1,
            assignments: Vec::new(),
            configs: Vec::new(),
        })
        .collect();
    if !missing.is_empty() {
        // Cross-shard: topics are created by the controller on shard 0.
        let created = ctx
            .shard
            .invoke_on(ShardId(0), move |s| async move {
                let results = s.controller().create_topics(&s, missing, false).await;
                results
                    .into_iter()
                    .filter_map(Result::err)
                    .map(|e| format!("{e:?}"))
                    .collect::<Vec<_>>()
            })
            .await;
        if let Ok(errors) = created {
            for error in errors {
                tracing::debug!(%error, "auto-creation refused");
            }
        }
    }
    let after = ctx.shard.snapshot();
    let created = names
        .iter()
        .filter(|name| may_auto_create(snapshot, name) && after.topic(name).is_some())
        .cloned()
        .collect();
    (after, created)
}

/// A topic this very request auto-created: as Kafka does, the answer says its leader is
/// not available yet, and the client asks again. Clients that learnt the leader at once
/// started sending before the topic's records were all queued for it, and split batches
/// that Kafka's clients expect whole (librdkafka's purge test shows it).
fn being_created(name: &str) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(ResponseError::LeaderNotAvailable.code())
        .with_name(Some(StrBytes::from_string(name.to_string()).into()))
}

/// A topic the caller may not describe (or create): Kafka does not say whether it exists.
fn refused(name: &str) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(ResponseError::TopicAuthorizationFailed.code())
        .with_name(Some(StrBytes::from_string(name.to_string()).into()))
}

fn describe_requested(snapshot: &Snapshot, name: Option<&str>) -> MetadataResponseTopic {
    match name {
        Some(name) if snapshot.topic(name).is_some() => describe(snapshot, name),
        Some(name) => {
            let code = if crate::config::valid_topic_name(name).is_ok() {
                ResponseError::UnknownTopicOrPartition
            } else {
                ResponseError::InvalidTopicException
            };
            MetadataResponseTopic::default()
                .with_error_code(code.code())
                .with_name(Some(StrBytes::from_string(name.to_string()).into()))
        }
        None => MetadataResponseTopic::default()
            .with_error_code(ResponseError::UnknownTopicId.code())
            .with_name(None),
    }
}

/// As Kafka answers a client of `listener` when brokers are configured with different
/// listeners: a partition whose leader it cannot reach has LISTENER_NOT_FOUND and no
/// leader, and the replicas it cannot reach are offline.
fn without_listener(snapshot: &Snapshot, listener: &str, topics: &mut [MetadataResponseTopic]) {
    let unreachable = |id: &BrokerId| snapshot.unreachable_on(listener, id.0);
    for p in topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
        if unreachable(&p.leader_id) {
            p.error_code = ResponseError::ListenerNotFound.code();
            p.leader_id = BrokerId(-1);
        }
        let offline = p
            .replica_nodes
            .iter()
            .filter(|&r| unreachable(r) && !p.offline_replicas.contains(r));
        let offline: Vec<BrokerId> = offline.copied().collect();
        p.offline_replicas.extend(offline);
    }
}

fn describe(snapshot: &Snapshot, name: &str) -> MetadataResponseTopic {
    let Some(meta) = snapshot.topic(name) else {
        return describe_requested(snapshot, Some(name));
    };
    let ids = |brokers: Vec<i32>| brokers.into_iter().map(BrokerId).collect();
    let partitions = (0..meta.partitions)
        .filter_map(|index| Some((index, snapshot.replicas_of(name, index)?)))
        .map(|(index, r)| {
            let error = match r.leader {
                -1 => ResponseError::LeaderNotAvailable.code(),
                _ => 0,
            };
            MetadataResponsePartition::default()
                .with_error_code(error)
                .with_partition_index(index)
                .with_leader_id(BrokerId(r.leader))
                .with_leader_epoch(r.leader_epoch)
                .with_replica_nodes(ids(r.replicas))
                .with_isr_nodes(ids(r.isr))
                .with_offline_replicas(ids(r.offline))
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(StrBytes::from_string(name.to_string()).into()))
        .with_topic_id(meta.id)
        .with_is_internal(crate::group::is_internal_topic(name))
        .with_partitions(partitions)
}
