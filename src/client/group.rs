//! Consumer-group requests: FindCoordinator, then on the coordinator ListGroups,
//! DescribeGroups, OffsetFetch, OffsetCommit, DeleteGroups and the classic membership
//! calls (JoinGroup, SyncGroup, Heartbeat, LeaveGroup). Each request is built for the
//! version the broker negotiated; fields a version lacks keep their defaults, since
//! kafka-protocol refuses to encode a non-default value a version cannot carry.
//!
//! Membership errors a member must react to (rebalance, fencing) come back as
//! `Error::Broker` with the Kafka code, for the caller to match on; everything else is an
//! error naming the group.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedPartitions;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerProtocolAssignment, ConsumerProtocolSubscription,
    DeleteGroupsRequest, DescribeGroupsRequest, FindCoordinatorRequest, GroupId, HeartbeatRequest,
    JoinGroupRequest, LeaveGroupRequest, ListGroupsRequest, OffsetCommitRequest,
    OffsetFetchRequest, SyncGroupRequest, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use super::broker::Broker;
use super::cluster::{Cluster, RETRY_BACKOFF};
use super::error::{is_retriable, Error, Result};
use super::{missing, str_bytes};

pub const ILLEGAL_GENERATION: i16 = 22;
pub const UNKNOWN_MEMBER_ID: i16 = 25;
pub const REBALANCE_IN_PROGRESS: i16 = 27;
pub const GROUP_ID_NOT_FOUND: i16 = 69;
const MEMBER_ID_REQUIRED: i16 = 79;
/// The protocol type of groups of consumers (as opposed to e.g. Connect workers).
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";
/// FindCoordinator v4 asks for several keys at once, in `coordinator_keys`.
const FIND_COORDINATOR_BATCH_VERSION: i16 = 4;
/// OffsetFetch v8 names groups in a list; OffsetCommit v10 names topics by id only.
const OFFSET_FETCH_VERSION_MAX: i16 = 7;
const OFFSET_COMMIT_VERSION_MAX: i16 = 9;
/// The ConsumerProtocol versions this client writes (the oldest: every broker and
/// consumer reads them).
const CONSUMER_PROTOCOL_VERSION: i16 = 0;
const CONSUMER_PROTOCOL_VERSION_MAX: i16 = 3;

/// A topic's partitions, as the consumer protocol lists them.
pub type Assignment = Vec<(String, Vec<i32>)>;

fn group_id(s: &str) -> GroupId {
    GroupId(str_bytes(s))
}

/// The broker id coordinating `group`, waiting out "not available yet" answers (the
/// coordinator is loading its offsets partition) until `timeout`.
pub fn coordinator(cluster: &mut Cluster, group: &str, timeout: Duration) -> Result<i32> {
    find_coordinator(cluster, Coordinated::Group, group, Instant::now() + timeout)
}

/// What a FindCoordinator key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coordinated {
    Group = 0,
    Transaction = 1,
}

impl Coordinated {
    fn what(self) -> &'static str {
        match self {
            Coordinated::Group => "group",
            Coordinated::Transaction => "transactional id",
        }
    }
}

/// The broker id coordinating `key` (a group or a transactional id), waiting out "not
/// available yet" answers until `deadline`.
pub fn find_coordinator(
    cluster: &mut Cluster,
    kind: Coordinated,
    key: &str,
    deadline: Instant,
) -> Result<i32> {
    loop {
        let broker = cluster.any();
        // Key types other than groups came with v1.
        let version = match kind {
            Coordinated::Group => broker.version::<FindCoordinatorRequest>()?,
            _ => broker.version_at_least::<FindCoordinatorRequest>(1)?,
        };
        let mut request = FindCoordinatorRequest::default().with_key_type(kind as i8);
        if version >= FIND_COORDINATOR_BATCH_VERSION {
            request.coordinator_keys = vec![str_bytes(key)];
        } else {
            request.key = str_bytes(key);
        }
        let response = broker.call(version, &request)?;
        let (code, message, node) = if version >= FIND_COORDINATOR_BATCH_VERSION {
            // v4+ answers in the per-key list only; its top-level fields stay default.
            let Some(c) = response.coordinators.first() else {
                return Err(Error::Protocol {
                    address: broker.address().to_string(),
                    message: format!(
                        "FindCoordinator named no coordinator for {} '{key}'",
                        kind.what()
                    ),
                });
            };
            (c.error_code, c.error_message.clone(), c.node_id.0)
        } else {
            (
                response.error_code,
                response.error_message.clone(),
                response.node_id.0,
            )
        };
        if code == 0 {
            return Ok(node);
        }
        if !is_retriable(code) || Instant::now() >= deadline {
            return Err(Error::Broker {
                context: format!("cannot find the coordinator of {} '{key}'", kind.what()),
                code,
                message: message.map(|m| m.to_string()),
            });
        }
        // Not a hot path: a tool waiting for a coordinator to finish loading.
        std::thread::sleep(RETRY_BACKOFF);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    pub protocol_type: String,
    /// Empty when the broker's ListGroups version predates states (v4).
    pub state: String,
    /// "classic" or "consumer"; empty before ListGroups v5.
    pub group_type: String,
}

/// The groups `broker` coordinates, optionally only those in `states` (v4+) and of
/// `types` (v5+).
pub fn list_groups(
    broker: &mut Broker,
    states: &[String],
    types: &[String],
) -> Result<Vec<GroupListing>> {
    let version = broker.version::<ListGroupsRequest>()?;
    let mut request = ListGroupsRequest::default();
    if version >= 4 {
        request.states_filter = states.iter().map(str_bytes).collect();
    }
    if version >= 5 {
        request.types_filter = types.iter().map(str_bytes).collect();
    } else if !types.is_empty() {
        return Err(Error::Invalid(format!(
            "{}: its ListGroups is older than v5 and cannot filter groups by type",
            broker.address()
        )));
    }
    let response = broker.call(version, &request)?;
    Error::check(response.error_code, None, || {
        format!("{}: cannot list groups", broker.address())
    })?;
    Ok(response
        .groups
        .into_iter()
        .map(|g| GroupListing {
            group_id: g.group_id.0.to_string(),
            protocol_type: g.protocol_type.to_string(),
            state: g.group_state.to_string(),
            group_type: g.group_type.to_string(),
        })
        .collect())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// The partitions the member was given, decoded from its consumer-protocol bytes.
    pub assignment: Assignment,
    /// KIP-848 groups only: the member's epoch and the partitions it is to own.
    pub member_epoch: Option<i32>,
    pub target_assignment: Option<Assignment>,
    /// KIP-848 groups only (ConsumerGroupDescribe v1+): whether the member speaks the
    /// consumer protocol (true) or the classic one (false).
    pub upgraded: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    /// Kafka's state names: Empty, PreparingRebalance, CompletingRebalance, Stable, Dead.
    pub state: String,
    pub protocol_type: String,
    /// The assignor the group chose (DescribeGroups' protocol data); empty when none.
    pub assignor: String,
    pub members: Vec<MemberDescription>,
    /// KIP-848 groups only: the group epoch and the target assignment's epoch.
    pub epochs: Option<(i32, i32)>,
}

impl GroupDescription {
    /// A group the coordinator does not know is "Dead" (or GROUP_ID_NOT_FOUND on v6).
    pub fn exists(&self) -> bool {
        self.state != "Dead"
    }
}

/// One group, described by its coordinator as Kafka's admin client does it: with
/// ConsumerGroupDescribe (KIP-848) first, and DescribeGroups for a classic group.
pub fn describe_group(broker: &mut Broker, group: &str) -> Result<GroupDescription> {
    match describe_consumer_group(broker, group)? {
        Some(description) => Ok(description),
        None => describe_classic_group(broker, group),
    }
}

/// ConsumerGroupDescribe; `None` when the broker does not serve it or the group is not a
/// KIP-848 group.
fn describe_consumer_group(broker: &mut Broker, group: &str) -> Result<Option<GroupDescription>> {
    let Ok(version) = broker.version::<ConsumerGroupDescribeRequest>() else {
        return Ok(None);
    };
    let request = ConsumerGroupDescribeRequest::default().with_group_ids(vec![group_id(group)]);
    let response = broker.call(version, &request)?;
    let described = response
        .groups
        .into_iter()
        .find(|g| g.group_id.0.as_str() == group)
        .ok_or_else(|| missing(broker, "ConsumerGroupDescribe", group))?;
    if described.error_code == GROUP_ID_NOT_FOUND {
        return Ok(None);
    }
    Error::check(
        described.error_code,
        described.error_message.as_deref(),
        || format!("cannot describe group '{group}'"),
    )?;
    let partitions = |a: kafka_protocol::messages::consumer_group_describe_response::Assignment| {
        a.topic_partitions
            .into_iter()
            .map(|tp| (tp.topic_name.0.to_string(), tp.partitions))
            .collect::<Assignment>()
    };
    let members = described
        .members
        .into_iter()
        .map(|m| MemberDescription {
            member_id: m.member_id.to_string(),
            group_instance_id: m.instance_id.map(|s| s.to_string()),
            client_id: m.client_id.to_string(),
            client_host: m.client_host.to_string(),
            assignment: partitions(m.assignment),
            member_epoch: Some(m.member_epoch),
            target_assignment: Some(partitions(m.target_assignment)),
            // -1: unknown (v0); 0: classic; 1: consumer.
            upgraded: (m.member_type >= 0).then_some(m.member_type == 1),
        })
        .collect();
    Ok(Some(GroupDescription {
        group_id: group.to_string(),
        state: described.group_state.to_string(),
        protocol_type: CONSUMER_PROTOCOL_TYPE.to_string(),
        assignor: described.assignor_name.to_string(),
        members,
        epochs: Some((described.group_epoch, described.assignment_epoch)),
    }))
}

/// DescribeGroups for one group on its coordinator.
fn describe_classic_group(broker: &mut Broker, group: &str) -> Result<GroupDescription> {
    let version = broker.version::<DescribeGroupsRequest>()?;
    let request = DescribeGroupsRequest::default().with_groups(vec![group_id(group)]);
    let response = broker.call(version, &request)?;
    let described = response
        .groups
        .into_iter()
        .find(|g| g.group_id.0.as_str() == group)
        .ok_or_else(|| missing(broker, "DescribeGroups", group))?;
    if described.error_code != GROUP_ID_NOT_FOUND {
        Error::check(
            described.error_code,
            described.error_message.as_deref(),
            || format!("cannot describe group '{group}'"),
        )?;
    }
    let consumer = described.protocol_type.as_str() == CONSUMER_PROTOCOL_TYPE;
    let mut members = Vec::with_capacity(described.members.len());
    for m in described.members {
        let assignment = if consumer && !m.member_assignment.is_empty() {
            decode_assignment(m.member_assignment).map_err(|message| Error::Protocol {
                address: broker.address().to_string(),
                message: format!("group '{group}' member {}: {message}", m.member_id),
            })?
        } else {
            Vec::new()
        };
        members.push(MemberDescription {
            member_id: m.member_id.to_string(),
            group_instance_id: m.group_instance_id.map(|s| s.to_string()),
            client_id: m.client_id.to_string(),
            client_host: m.client_host.to_string(),
            assignment,
            member_epoch: None,
            target_assignment: None,
            upgraded: None,
        });
    }
    Ok(GroupDescription {
        group_id: group.to_string(),
        state: if described.error_code == GROUP_ID_NOT_FOUND {
            "Dead".to_string()
        } else {
            described.group_state.to_string()
        },
        protocol_type: described.protocol_type.to_string(),
        assignor: described.protocol_data.to_string(),
        members,
        epochs: None,
    })
}

/// Committed offsets of `group`: every partition it has one for (`topics` None), or
/// just those named. Partitions without a committed offset are left out.
pub fn offset_fetch(
    broker: &mut Broker,
    group: &str,
    topics: Option<&[(String, Vec<i32>)]>,
) -> Result<BTreeMap<(String, i32), i64>> {
    let committed = offset_fetch_with_epochs(broker, group, topics)?;
    Ok(committed
        .into_iter()
        .map(|(partition, (offset, _))| (partition, offset))
        .collect())
}

/// A committed offset and its leader epoch (`None`: not known).
pub type CommittedOffset = (i64, Option<i32>);

/// As `offset_fetch`, with each committed offset's leader epoch.
pub fn offset_fetch_with_epochs(
    broker: &mut Broker,
    group: &str,
    topics: Option<&[(String, Vec<i32>)]>,
) -> Result<BTreeMap<(String, i32), CommittedOffset>> {
    let version = broker
        .version::<OffsetFetchRequest>()?
        .min(OFFSET_FETCH_VERSION_MAX);
    let request = OffsetFetchRequest::default()
        .with_group_id(group_id(group))
        .with_topics(topics.map(|topics| {
            topics
                .iter()
                .map(|(name, partitions)| {
                    kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic::default()
                        .with_name(TopicName(str_bytes(name)))
                        .with_partition_indexes(partitions.clone())
                })
                .collect()
        }));
    let response = broker.call(version, &request)?;
    Error::check(response.error_code, None, || {
        format!("cannot fetch the offsets of group '{group}'")
    })?;
    let mut offsets = BTreeMap::new();
    for topic in response.topics {
        for p in topic.partitions {
            Error::check(p.error_code, None, || {
                format!(
                    "cannot fetch the offset of group '{group}' on {}-{}",
                    topic.name.0, p.partition_index
                )
            })?;
            if p.committed_offset >= 0 {
                let epoch = (p.committed_leader_epoch >= 0).then_some(p.committed_leader_epoch);
                offsets.insert(
                    (topic.name.0.to_string(), p.partition_index),
                    (p.committed_offset, epoch),
                );
            }
        }
    }
    Ok(offsets)
}

/// Who commits: a member of a generation, or (`generation` -1, empty member id) an
/// admin tool committing for an empty group.
#[derive(Debug, Clone, Copy)]
pub struct Committer<'a> {
    pub generation: i32,
    pub member_id: &'a str,
}

impl Committer<'_> {
    pub const ADMIN: Committer<'static> = Committer {
        generation: -1,
        member_id: "",
    };
}

/// Commits `offsets` (topic, partition, offset); the first partition error is returned.
pub fn offset_commit(
    broker: &mut Broker,
    group: &str,
    committer: Committer<'_>,
    offsets: &[(String, i32, i64)],
) -> Result<()> {
    let version = broker
        .version::<OffsetCommitRequest>()?
        .min(OFFSET_COMMIT_VERSION_MAX);
    let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for (topic, partition, offset) in offsets {
        let mut p = OffsetCommitRequestPartition::default()
            .with_partition_index(*partition)
            .with_committed_offset(*offset)
            .with_committed_metadata(Some(StrBytes::default()));
        if version >= 6 {
            p.committed_leader_epoch = -1;
        }
        topics.entry(topic.as_str()).or_default().push(p);
    }
    let request = OffsetCommitRequest::default()
        .with_group_id(group_id(group))
        .with_generation_id_or_member_epoch(committer.generation)
        .with_member_id(str_bytes(committer.member_id))
        .with_topics(
            topics
                .into_iter()
                .map(|(name, partitions)| {
                    OffsetCommitRequestTopic::default()
                        .with_name(TopicName(str_bytes(name)))
                        .with_partitions(partitions)
                })
                .collect(),
        );
    let response = broker.call(version, &request)?;
    for topic in response.topics {
        for p in topic.partitions {
            Error::check(p.error_code, None, || {
                format!(
                    "cannot commit the offset of group '{group}' on {}-{}",
                    topic.name.0, p.partition_index
                )
            })?;
        }
    }
    Ok(())
}

/// DeleteGroups: each group's error code (0 for deleted).
pub fn delete_groups(broker: &mut Broker, groups: &[String]) -> Result<Vec<(String, i16)>> {
    let version = broker.version::<DeleteGroupsRequest>()?;
    let request = DeleteGroupsRequest::default()
        .with_groups_names(groups.iter().map(|g| group_id(g)).collect());
    let response = broker.call(version, &request)?;
    groups
        .iter()
        .map(|g| {
            response
                .results
                .iter()
                .find(|r| r.group_id.0.as_str() == g)
                .map(|r| (g.clone(), r.error_code))
                .ok_or_else(|| missing(broker, "DeleteGroups", g))
        })
        .collect()
}

/// What OffsetDelete answered: the group's error code and each partition's, by (topic,
/// partition).
pub type OffsetsDeleted = (i16, Vec<(String, i32, i16)>);

/// OffsetDelete: `group`'s committed offsets of these partitions removed.
pub fn offset_delete(
    broker: &mut Broker,
    group: &str,
    topics: &[(String, Vec<i32>)],
) -> Result<OffsetsDeleted> {
    use kafka_protocol::messages::offset_delete_request::{
        OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
    };
    use kafka_protocol::messages::OffsetDeleteRequest;
    let version = broker.version::<OffsetDeleteRequest>()?;
    let request = OffsetDeleteRequest::default()
        .with_group_id(group_id(group))
        .with_topics(
            topics
                .iter()
                .map(|(name, partitions)| {
                    OffsetDeleteRequestTopic::default()
                        .with_name(TopicName(str_bytes(name)))
                        .with_partitions(
                            partitions
                                .iter()
                                .map(|&p| {
                                    OffsetDeleteRequestPartition::default().with_partition_index(p)
                                })
                                .collect(),
                        )
                })
                .collect(),
        );
    let response = broker.call(version, &request)?;
    let partitions = response
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.0.to_string(), p.partition_index, p.error_code))
        })
        .collect();
    Ok((response.error_code, partitions))
}

/// What a member asks for when it joins.
#[derive(Debug, Clone)]
pub struct JoinParams<'a> {
    pub group: &'a str,
    pub member_id: &'a str,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    /// (assignor name, subscription metadata), best first.
    pub protocols: Vec<(String, Bytes)>,
}

#[derive(Debug, Clone)]
pub struct Joined {
    pub generation: i32,
    pub member_id: String,
    pub leader: String,
    pub protocol: Option<String>,
    /// Every member's subscription metadata when we lead; empty otherwise.
    pub members: Vec<(String, Bytes)>,
}

#[derive(Debug, Clone)]
pub enum JoinOutcome {
    Joined(Joined),
    /// KIP-394: a new member is first handed its member id, and joins again with it.
    MemberIdRequired(String),
}

/// One JoinGroup round trip.
pub fn join_group(broker: &mut Broker, params: &JoinParams<'_>) -> Result<JoinOutcome> {
    let version = broker.version::<JoinGroupRequest>()?;
    let mut request = JoinGroupRequest::default()
        .with_group_id(group_id(params.group))
        .with_session_timeout_ms(params.session_timeout_ms)
        .with_member_id(str_bytes(params.member_id))
        .with_protocol_type(str_bytes(CONSUMER_PROTOCOL_TYPE))
        .with_protocols(
            params
                .protocols
                .iter()
                .map(|(name, metadata)| {
                    JoinGroupRequestProtocol::default()
                        .with_name(str_bytes(name))
                        .with_metadata(metadata.clone())
                })
                .collect(),
        );
    if version >= 1 {
        request.rebalance_timeout_ms = params.rebalance_timeout_ms;
    }
    let rebalance = Duration::from_millis(params.rebalance_timeout_ms.max(0) as u64);
    let response = broker.call_waiting(version, &request, rebalance)?;
    if response.error_code == MEMBER_ID_REQUIRED {
        return Ok(JoinOutcome::MemberIdRequired(
            response.member_id.to_string(),
        ));
    }
    Error::check(response.error_code, None, || {
        format!("cannot join group '{}'", params.group)
    })?;
    Ok(JoinOutcome::Joined(Joined {
        generation: response.generation_id,
        member_id: response.member_id.to_string(),
        leader: response.leader.to_string(),
        protocol: response.protocol_name.map(|p| p.to_string()),
        members: response
            .members
            .into_iter()
            .map(|m| (m.member_id.to_string(), m.metadata))
            .collect(),
    }))
}

/// SyncGroup: the leader hands in every member's assignment; every member gets its own.
pub fn sync_group(
    broker: &mut Broker,
    group: &str,
    joined: &Joined,
    assignments: Vec<(String, Bytes)>,
) -> Result<Bytes> {
    let version = broker.version::<SyncGroupRequest>()?;
    let mut request = SyncGroupRequest::default()
        .with_group_id(group_id(group))
        .with_generation_id(joined.generation)
        .with_member_id(str_bytes(&joined.member_id))
        .with_assignments(
            assignments
                .into_iter()
                .map(|(member, assignment)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(str_bytes(&member))
                        .with_assignment(assignment)
                })
                .collect(),
        );
    if version >= 5 {
        request.protocol_type = Some(str_bytes(CONSUMER_PROTOCOL_TYPE));
        request.protocol_name = joined.protocol.as_deref().map(str_bytes);
    }
    let response = broker.call(version, &request)?;
    Error::check(response.error_code, None, || {
        format!("cannot sync group '{group}'")
    })?;
    Ok(response.assignment)
}

pub fn heartbeat(broker: &mut Broker, group: &str, generation: i32, member_id: &str) -> Result<()> {
    let version = broker.version::<HeartbeatRequest>()?;
    let request = HeartbeatRequest::default()
        .with_group_id(group_id(group))
        .with_generation_id(generation)
        .with_member_id(str_bytes(member_id));
    let response = broker.call(version, &request)?;
    Error::check(response.error_code, None, || {
        format!("heartbeat to group '{group}'")
    })
}

pub fn leave_group(broker: &mut Broker, group: &str, member_id: &str) -> Result<()> {
    let version = broker.version::<LeaveGroupRequest>()?;
    let mut request = LeaveGroupRequest::default().with_group_id(group_id(group));
    // v3 (KIP-345) lists the members leaving, so a batch of static members can go at once.
    if version >= 3 {
        request.members = vec![MemberIdentity::default().with_member_id(str_bytes(member_id))];
    } else {
        request.member_id = str_bytes(member_id);
    }
    let response = broker.call(version, &request)?;
    Error::check(response.error_code, None, || {
        format!("cannot leave group '{group}'")
    })?;
    for m in response.members {
        Error::check(m.error_code, None, || {
            format!("cannot leave group '{group}'")
        })?;
    }
    Ok(())
}

/// A ConsumerProtocolSubscription, as JoinGroup carries it: version, then the fields.
pub fn encode_subscription(topics: &[String]) -> Result<Bytes> {
    let subscription =
        ConsumerProtocolSubscription::default().with_topics(topics.iter().map(str_bytes).collect());
    encode_versioned(&subscription, CONSUMER_PROTOCOL_VERSION)
}

/// The topics of a member's subscription metadata.
pub fn decode_subscription(bytes: Bytes) -> std::result::Result<Vec<String>, String> {
    let (_, subscription) = read_subscription(bytes)?;
    Ok(subscription.topics.iter().map(|t| t.to_string()).collect())
}

/// A member's whole subscription metadata, and the version it was written in.
pub fn read_subscription(
    mut bytes: Bytes,
) -> std::result::Result<(i16, ConsumerProtocolSubscription), String> {
    let version = read_version(&mut bytes)?;
    let subscription = ConsumerProtocolSubscription::decode(&mut bytes, version)
        .map_err(|e| format!("subscription v{version}: {e}"))?;
    Ok((version, subscription))
}

pub fn encode_assignment(assignment: &Assignment) -> Result<Bytes> {
    encode_assignment_as(assignment, CONSUMER_PROTOCOL_VERSION)
}

/// A ConsumerProtocolAssignment in a given version (the broker answers a classic member
/// of a KIP-848 group in its subscription's version).
pub fn encode_assignment_as(assignment: &Assignment, version: i16) -> Result<Bytes> {
    let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(
        assignment
            .iter()
            .map(|(topic, partitions)| {
                AssignedPartitions::default()
                    .with_topic(TopicName(str_bytes(topic)))
                    .with_partitions(partitions.clone())
            })
            .collect(),
    );
    encode_versioned(&assignment, version)
}

/// The partitions of a ConsumerProtocolAssignment (as SyncGroup and DescribeGroups carry it).
pub fn decode_assignment(mut bytes: Bytes) -> std::result::Result<Assignment, String> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let version = read_version(&mut bytes)?;
    let assignment = ConsumerProtocolAssignment::decode(&mut bytes, version)
        .map_err(|e| format!("assignment v{version}: {e}"))?;
    Ok(assignment
        .assigned_partitions
        .into_iter()
        .map(|tp| (tp.topic.0.to_string(), tp.partitions))
        .collect())
}

fn encode_versioned(message: &impl Encodable, version: i16) -> Result<Bytes> {
    let mut buf = BytesMut::new();
    buf.put_i16(version);
    message
        .encode(&mut buf, version)
        .map_err(|e| Error::Invalid(format!("cannot encode consumer protocol data: {e}")))?;
    Ok(buf.freeze())
}

/// The leading version of consumer-protocol bytes. Newer versions only add fields at the
/// end, so bytes of a version newer than we know read as the newest we know (as Kafka's
/// ConsumerProtocol does).
fn read_version(bytes: &mut Bytes) -> std::result::Result<i16, String> {
    if bytes.remaining() < 2 {
        return Err("consumer protocol data shorter than its version".to_string());
    }
    let version = bytes.get_i16();
    if version < 0 {
        return Err(format!("consumer protocol version {version}"));
    }
    Ok(version.min(CONSUMER_PROTOCOL_VERSION_MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_protocol_round_trips() {
        let topics = vec!["a".to_string(), "b".to_string()];
        let bytes = encode_subscription(&topics).unwrap();
        assert_eq!(&bytes[..2], &[0, 0]);
        assert_eq!(decode_subscription(bytes).unwrap(), topics);
        let assignment = vec![("a".to_string(), vec![0, 2]), ("b".to_string(), vec![1])];
        let bytes = encode_assignment(&assignment).unwrap();
        assert_eq!(decode_assignment(bytes).unwrap(), assignment);
        assert_eq!(decode_assignment(Bytes::new()).unwrap(), vec![]);
        assert!(decode_assignment(Bytes::from_static(&[0])).is_err());
        assert!(decode_assignment(Bytes::from_static(&[0, 0, 0, 0, 0, 9])).is_err());
    }
}
