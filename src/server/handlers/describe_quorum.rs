//! DescribeQuorum: the metadata quorum's leader, epoch, high watermark, voters and
//! observers, for `shoal metadata-quorum describe` and Kafka's kafka-metadata-quorum.sh.
//!
//! Kafka's brokers forward this request to the active controller, so the answer is the
//! leader's. So does a node here that does not lead: it asks the leader on the leader's
//! replication port, as brokers ask each other, and passes the answer on. When the
//! leader cannot be asked (no leader is known, it has no broker port, as a controller
//! of separate controllers, or it does not answer within `FORWARD_TIMEOUT`), or the
//! request came from another node, the node answers from its own member: it knows the
//! leader, the epoch and its own log end, and reports -1 for the others' log ends.

use std::ops::RangeInclusive;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::{
    BrokerId, DescribeQuorumRequest, DescribeQuorumResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::{Ctx, Response};
use crate::acl::Operation;
use crate::cluster::ShardId;

pub const VERSIONS: RangeInclusive<i16> = 0..=2;

/// How long a node waits for the leader's answer before it answers itself.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(2);

use crate::quorum::METADATA_TOPIC;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<DescribeQuorumRequest>(body) else {
        return Response::Close;
    };
    if !ctx.allowed_on_cluster(Operation::Describe) {
        let error = ResponseError::ClusterAuthorizationFailed;
        return ctx.respond(&DescribeQuorumResponse::default().with_error_code(error.code()));
    }
    let asks_for_metadata_log = matches!(
        request.topics.as_slice(),
        [topic] if topic.topic_name.0.as_str() == METADATA_TOPIC
            && matches!(topic.partitions.as_slice(), [p] if p.partition_index == 0)
    );
    if !asks_for_metadata_log {
        let error = ResponseError::UnknownTopicOrPartition;
        let topics = request
            .topics
            .iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        PartitionData::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(error.code())
                    })
                    .collect();
                TopicData::default()
                    .with_topic_name(t.topic_name.clone())
                    .with_partitions(partitions)
            })
            .collect();
        return ctx.respond(&DescribeQuorumResponse::default().with_topics(topics));
    }
    // Cross-shard: the quorum member lives with the controller on shard 0.
    let Ok(status) = ctx
        .shard
        .invoke_on(
            ShardId(0),
            |s| async move { s.controller().quorum_status() },
        )
        .await
    else {
        return Response::Close;
    };
    if let Some(answer) = leaders_answer(&ctx, status.leader, &request).await {
        return ctx.respond(&answer);
    }
    let directory = |node: i32| {
        let registered = status.controllers.iter().find(|c| c.0 == node);
        registered.map_or(uuid::Uuid::nil(), |c| c.1)
    };
    let replicas = |list: &[crate::quorum::member::VoterStatus]| -> Vec<ReplicaState> {
        list.iter()
            .map(|v| {
                ReplicaState::default()
                    .with_replica_id(BrokerId(v.node))
                    .with_replica_directory_id(directory(v.node))
                    .with_log_end_offset(v.log_end)
                    .with_last_fetch_timestamp(v.last_heard_ms)
                    .with_last_caught_up_timestamp(v.last_caught_up_ms)
            })
            .collect()
    };
    let voters = replicas(&status.voters);
    let observers = replicas(&status.observers);
    let partition = PartitionData::default()
        .with_partition_index(0)
        .with_leader_id(BrokerId(status.leader.unwrap_or(-1)))
        .with_leader_epoch(status.epoch)
        .with_high_watermark(status.high_watermark)
        .with_current_voters(voters)
        .with_observers(observers);
    let topic = TopicData::default()
        .with_topic_name(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
        .with_partitions(vec![partition]);
    let broker = &ctx.shard.snapshot().broker;
    let listener_name = broker
        .kraft
        .controller_listener_names
        .first()
        .cloned()
        .unwrap_or_default();
    let listener = |name: &str, host: &str, port: u16| {
        Listener::default()
            .with_name(StrBytes::from_string(name.to_string()))
            .with_host(StrBytes::from_string(host.to_string()))
            .with_port(port)
    };
    // The voters' listeners: `controller.quorum.voters`, or a dynamic quorum's
    // controllers as they registered.
    let fixed = broker.kraft.quorum_voters.iter().map(|v| {
        Node::default()
            .with_node_id(BrokerId(v.id))
            .with_listeners(vec![listener(&listener_name, &v.host, v.port)])
    });
    // Kafka lists the voters' endpoints only, not observers'.
    let is_voter = |node: &i32| status.voters.iter().any(|v| v.node == *node);
    let registered = status
        .controllers
        .iter()
        .filter(|c| is_voter(&c.0))
        .map(|(node, _, e)| {
            Node::default()
                .with_node_id(BrokerId(*node))
                .with_listeners(vec![listener(&e.name, &e.host, e.port)])
        });
    let nodes = fixed.chain(registered).collect();
    ctx.respond(
        &DescribeQuorumResponse::default()
            .with_topics(vec![topic])
            .with_nodes(nodes),
    )
}

/// The leader's answer to `request`, when this node does not lead and the leader's
/// replication port answers in time; a request from another node is not passed on again.
async fn leaders_answer(
    ctx: &Ctx,
    leader: Option<i32>,
    request: &DescribeQuorumRequest,
) -> Option<DescribeQuorumResponse> {
    let snapshot = ctx.shard.snapshot();
    let leader = leader.filter(|&l| l != snapshot.broker.node_id && !ctx.peer.internal)?;
    let address = snapshot
        .layout()?
        .image
        .brokers
        .get(&leader)?
        .broker_address()?;
    let api = (
        kafka_protocol::messages::ApiKey::DescribeQuorum,
        ctx.version,
    );
    let call = crate::replication::peer::call(&ctx.shard, &address, api, request);
    match glommio::timer::timeout(FORWARD_TIMEOUT, async { Ok(call.await) }).await {
        Ok(Ok(answer)) => Some(answer),
        Ok(Err(error)) => {
            tracing::debug!(%address, %error, "DescribeQuorum not answered by the leader: answering here");
            None
        }
        Err(_) => None,
    }
}
