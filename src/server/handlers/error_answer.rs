//! Kafka's error answer to a whole request (its requests' `getErrorResponse`): every
//! entry the request names is answered with one error, in the response's own shape.
//! A SASL listener sends it to a request that comes where only SaslAuthenticate may.

use std::collections::BTreeSet;

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::error::ApiError;
use crate::protocol::{self, Request};

/// `request` answered whole with `error`: `None` when shoal does not serve its API or
/// version, or it does not parse (Kafka then closes the connection unanswered).
pub fn error_answer(request: &Request, error: &ApiError) -> Option<Bytes> {
    let served = super::versions(request.api_key)?;
    if !served.contains(&request.version) {
        return None;
    }
    let (code, version) = (error.wire_code(), request.version);
    let message = error.message.clone().map(StrBytes::from_string);
    // The message, in a field the response has from version `first` on.
    let since = |first: i16| (version >= first).then(|| message.clone()).flatten();
    // Where Kafka answers with the error's own description instead of the message.
    let text = Some(StrBytes::from_static_str(crate::error::kafka_text(
        error.code,
    )));
    match request.api_key {
        // Kafka has no answer for acks=0 and closes the connection.
        ApiKey::Produce if produce_acks(request) == Some(0) => None,
        ApiKey::Produce => build(request, |q: ProduceRequest| {
            let topics = q.topic_data.into_iter().map(|topic| {
                let partitions = topic.partition_data.iter().map(|p| {
                    produce_response::PartitionProduceResponse::default()
                        .with_index(p.index)
                        .with_error_code(code)
                        .with_error_message(since(8))
                        .with_base_offset(-1)
                });
                produce_response::TopicProduceResponse::default()
                    .with_name(topic.name)
                    .with_topic_id(topic.topic_id)
                    .with_partition_responses(partitions.collect())
            });
            ProduceResponse::default().with_responses(topics.collect())
        }),
        ApiKey::Fetch => build(request, |q: FetchRequest| {
            // Every partition asked for carries the error before v13; from v13 only
            // the top does (which has one from v7).
            let topics = q.topics.into_iter().filter(|_| version < 13).map(|topic| {
                let partitions = topic.partitions.iter().map(|p| {
                    fetch_response::PartitionData::default()
                        .with_partition_index(p.partition)
                        .with_error_code(code)
                        .with_high_watermark(-1)
                });
                fetch_response::FetchableTopicResponse::default()
                    .with_topic(topic.topic)
                    .with_topic_id(topic.topic_id)
                    .with_partitions(partitions.collect())
            });
            let top = if version >= 7 {
                (code, q.session_id)
            } else {
                (0, 0)
            };
            FetchResponse::default()
                .with_error_code(top.0)
                .with_session_id(top.1)
                .with_responses(topics.collect())
        }),
        ApiKey::ListOffsets => build(request, |q: ListOffsetsRequest| {
            let topics = q.topics.into_iter().map(|topic| {
                let partitions = topic.partitions.iter().map(|p| {
                    list_offsets_response::ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                        .with_timestamp(-1)
                        .with_offset(-1)
                });
                list_offsets_response::ListOffsetsTopicResponse::default()
                    .with_name(topic.name)
                    .with_partitions(partitions.collect())
            });
            ListOffsetsResponse::default().with_topics(topics.collect())
        }),
        ApiKey::Metadata => build(request, |q: MetadataRequest| {
            let topics = q.topics.unwrap_or_default().into_iter().map(|topic| {
                let name = topic.name.unwrap_or_else(|| StrBytes::default().into());
                metadata_response::MetadataResponseTopic::default()
                    .with_name(Some(name))
                    .with_topic_id(topic.topic_id)
                    .with_error_code(code)
            });
            MetadataResponse::default().with_topics(topics.collect())
        }),
        ApiKey::FindCoordinator => build(request, |q: FindCoordinatorRequest| {
            // From v4 each key is answered, before it the one key at the top.
            if version < 4 {
                return FindCoordinatorResponse::default()
                    .with_error_code(code)
                    .with_error_message(if version >= 1 { text } else { None })
                    .with_node_id((-1).into())
                    .with_port(-1);
            }
            let keys = q.coordinator_keys.into_iter().map(|key| {
                find_coordinator_response::Coordinator::default()
                    .with_key(key)
                    .with_node_id((-1).into())
                    .with_port(-1)
                    .with_error_code(code)
                    .with_error_message(text.clone())
            });
            FindCoordinatorResponse::default().with_coordinators(keys.collect())
        }),
        ApiKey::CreateTopics => build(request, |q: CreateTopicsRequest| {
            let topics = q.topics.into_iter().map(|topic| {
                create_topics_response::CreatableTopicResult::default()
                    .with_name(topic.name)
                    .with_error_code(code)
                    .with_error_message(message.clone())
            });
            CreateTopicsResponse::default().with_topics(topics.collect())
        }),
        ApiKey::DeleteTopics => build(request, |q: DeleteTopicsRequest| {
            let named = q
                .topic_names
                .into_iter()
                .map(|name| (Some(name), Default::default()));
            let states = q.topics.into_iter().map(|t| (t.name, t.topic_id));
            let topics = named.chain(states).map(|(name, id)| {
                delete_topics_response::DeletableTopicResult::default()
                    .with_name(name)
                    .with_topic_id(id)
                    .with_error_code(code)
            });
            DeleteTopicsResponse::default().with_responses(topics.collect())
        }),
        ApiKey::DeleteRecords => build(request, |q: DeleteRecordsRequest| {
            let topics = q.topics.into_iter().map(|topic| {
                let partitions = topic.partitions.iter().map(|p| {
                    delete_records_response::DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index)
                        .with_low_watermark(-1)
                        .with_error_code(code)
                });
                delete_records_response::DeleteRecordsTopicResult::default()
                    .with_name(topic.name)
                    .with_partitions(partitions.collect())
            });
            DeleteRecordsResponse::default().with_topics(topics.collect())
        }),
        ApiKey::OffsetForLeaderEpoch => build(request, |q: OffsetForLeaderEpochRequest| {
            let topics = q.topics.into_iter().map(|topic| {
                let partitions = topic.partitions.iter().map(|p| {
                    offset_for_leader_epoch_response::EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_error_code(code)
                        .with_leader_epoch(-1)
                        .with_end_offset(-1)
                });
                offset_for_leader_epoch_response::OffsetForLeaderTopicResult::default()
                    .with_topic(topic.topic)
                    .with_partitions(partitions.collect())
            });
            OffsetForLeaderEpochResponse::default().with_topics(topics.collect())
        }),
        ApiKey::DescribeAcls => build(request, |_: DescribeAclsRequest| {
            DescribeAclsResponse::default()
                .with_error_code(code)
                .with_error_message(message.clone())
        }),
        ApiKey::CreateAcls => build(request, |q: CreateAclsRequest| {
            let results = q.creations.iter().map(|_| {
                create_acls_response::AclCreationResult::default()
                    .with_error_code(code)
                    .with_error_message(message.clone())
            });
            CreateAclsResponse::default().with_results(results.collect())
        }),
        ApiKey::DeleteAcls => build(request, |q: DeleteAclsRequest| {
            let results = q.filters.iter().map(|_| {
                delete_acls_response::DeleteAclsFilterResult::default()
                    .with_error_code(code)
                    .with_error_message(message.clone())
            });
            DeleteAclsResponse::default().with_filter_results(results.collect())
        }),
        ApiKey::DescribeConfigs => build(request, |q: DescribeConfigsRequest| {
            let results = q.resources.into_iter().map(|r| {
                describe_configs_response::DescribeConfigsResult::default()
                    .with_error_code(code)
                    .with_error_message(text.clone())
                    .with_resource_type(r.resource_type)
                    .with_resource_name(r.resource_name)
            });
            DescribeConfigsResponse::default().with_results(results.collect())
        }),
        ApiKey::AlterConfigs => build(request, |q: AlterConfigsRequest| {
            let results = q.resources.into_iter().map(|r| {
                alter_configs_response::AlterConfigsResourceResponse::default()
                    .with_error_code(code)
                    .with_error_message(message.clone())
                    .with_resource_type(r.resource_type)
                    .with_resource_name(r.resource_name)
            });
            AlterConfigsResponse::default().with_responses(results.collect())
        }),
        ApiKey::IncrementalAlterConfigs => build(request, |q: IncrementalAlterConfigsRequest| {
            let results = q.resources.into_iter().map(|r| {
                incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                    .with_error_code(code)
                    .with_error_message(message.clone())
                    .with_resource_type(r.resource_type)
                    .with_resource_name(r.resource_name)
            });
            IncrementalAlterConfigsResponse::default().with_responses(results.collect())
        }),
        ApiKey::CreatePartitions => build(request, |q: CreatePartitionsRequest| {
            let results = q.topics.into_iter().map(|topic| {
                create_partitions_response::CreatePartitionsTopicResult::default()
                    .with_name(topic.name)
                    .with_error_code(code)
                    .with_error_message(message.clone())
            });
            CreatePartitionsResponse::default().with_results(results.collect())
        }),
        ApiKey::DescribeCluster => build(request, |_: DescribeClusterRequest| {
            DescribeClusterResponse::default()
                .with_error_code(code)
                .with_error_message(message.clone())
        }),
        ApiKey::DescribeQuorum => build(request, |_: DescribeQuorumRequest| {
            DescribeQuorumResponse::default().with_error_code(code)
        }),
        ApiKey::AddRaftVoter => build(request, |_: AddRaftVoterRequest| {
            AddRaftVoterResponse::default()
                .with_error_code(code)
                .with_error_message(text.clone())
        }),
        ApiKey::RemoveRaftVoter => build(request, |_: RemoveRaftVoterRequest| {
            RemoveRaftVoterResponse::default()
                .with_error_code(code)
                .with_error_message(text.clone())
        }),
        ApiKey::DescribeTopicPartitions => build(request, |q: DescribeTopicPartitionsRequest| {
            let topics = q.topics.into_iter().map(|topic| {
                describe_topic_partitions_response::DescribeTopicPartitionsResponseTopic::default()
                    .with_name(Some(topic.name))
                    .with_error_code(code)
            });
            DescribeTopicPartitionsResponse::default().with_topics(topics.collect())
        }),
        ApiKey::DescribeLogDirs => build(request, |_: DescribeLogDirsRequest| {
            // Before v3 the response has no place for an error: it lists no directory.
            DescribeLogDirsResponse::default().with_error_code(if version >= 3 { code } else { 0 })
        }),
        ApiKey::ElectLeaders => build(request, |q: ElectLeadersRequest| {
            let topics = q
                .topic_partitions
                .unwrap_or_default()
                .into_iter()
                .map(|topic| {
                    let partitions = topic.partitions.iter().map(|&p| {
                        elect_leaders_response::PartitionResult::default()
                            .with_partition_id(p)
                            .with_error_code(code)
                            .with_error_message(message.clone())
                    });
                    elect_leaders_response::ReplicaElectionResult::default()
                        .with_topic(topic.topic)
                        .with_partition_result(partitions.collect())
                });
            ElectLeadersResponse::default()
                .with_error_code(if version >= 1 { code } else { 0 })
                .with_replica_election_results(topics.collect())
        }),
        ApiKey::AlterPartitionReassignments => {
            build(request, |q: AlterPartitionReassignmentsRequest| {
                let topics = q.topics.into_iter().map(|topic| {
                    let partitions = topic.partitions.iter().map(|p| {
                        alter_partition_reassignments_response::ReassignablePartitionResponse::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(code)
                            .with_error_message(message.clone())
                    });
                    alter_partition_reassignments_response::ReassignableTopicResponse::default()
                        .with_name(topic.name)
                        .with_partitions(partitions.collect())
                });
                AlterPartitionReassignmentsResponse::default()
                    .with_error_code(code)
                    .with_error_message(message.clone())
                    .with_responses(topics.collect())
            })
        }
        ApiKey::ListPartitionReassignments => {
            build(request, |q: ListPartitionReassignmentsRequest| {
                // The partitions asked about are named back, without an error of their own.
                let topics = q.topics.unwrap_or_default().into_iter().map(|topic| {
                    let partitions = topic.partition_indexes.iter().map(|&p| {
                        list_partition_reassignments_response::OngoingPartitionReassignment::default()
                            .with_partition_index(p)
                    });
                    list_partition_reassignments_response::OngoingTopicReassignment::default()
                        .with_name(topic.name)
                        .with_partitions(partitions.collect())
                });
                ListPartitionReassignmentsResponse::default()
                    .with_error_code(code)
                    .with_error_message(message.clone())
                    .with_topics(topics.collect())
            })
        }
        ApiKey::OffsetCommit => build(request, |q: OffsetCommitRequest| {
            let topics = q.topics.into_iter().map(|topic| {
                let partitions = topic.partitions.iter().map(|p| {
                    offset_commit_response::OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                });
                offset_commit_response::OffsetCommitResponseTopic::default()
                    .with_name(topic.name)
                    .with_topic_id(topic.topic_id)
                    .with_partitions(partitions.collect())
            });
            OffsetCommitResponse::default().with_topics(topics.collect())
        }),
        ApiKey::OffsetFetch => build(request, |q: OffsetFetchRequest| {
            // The error goes in every partition before v2, at the top from v2, and in
            // every group from v8.
            let response = OffsetFetchResponse::default();
            if version >= 8 {
                let groups = q.groups.into_iter().map(|group| {
                    offset_fetch_response::OffsetFetchResponseGroup::default()
                        .with_group_id(group.group_id)
                        .with_error_code(code)
                });
                return response.with_groups(groups.collect());
            }
            if version >= 2 {
                return response.with_error_code(code);
            }
            let topics = q.topics.unwrap_or_default().into_iter().map(|topic| {
                let partitions = topic.partition_indexes.iter().map(|&p| {
                    offset_fetch_response::OffsetFetchResponsePartition::default()
                        .with_partition_index(p)
                        .with_committed_offset(-1)
                        .with_metadata(Some(StrBytes::default()))
                        .with_error_code(code)
                });
                offset_fetch_response::OffsetFetchResponseTopic::default()
                    .with_name(topic.name)
                    .with_partitions(partitions.collect())
            });
            response.with_topics(topics.collect())
        }),
        ApiKey::JoinGroup => build(request, |_: JoinGroupRequest| {
            // The protocol is null from v7, an empty string before.
            let protocol = (version < 7).then(StrBytes::default);
            JoinGroupResponse::default()
                .with_error_code(code)
                .with_generation_id(-1)
                .with_protocol_name(protocol)
        }),
        ApiKey::Heartbeat => build(request, |_: HeartbeatRequest| {
            HeartbeatResponse::default().with_error_code(code)
        }),
        ApiKey::LeaveGroup => build(request, |_: LeaveGroupRequest| {
            LeaveGroupResponse::default().with_error_code(code)
        }),
        ApiKey::SyncGroup => build(request, |_: SyncGroupRequest| {
            SyncGroupResponse::default().with_error_code(code)
        }),
        ApiKey::DescribeGroups => build(request, |q: DescribeGroupsRequest| {
            let groups = q.groups.into_iter().map(|group| {
                describe_groups_response::DescribedGroup::default()
                    .with_group_id(group)
                    .with_error_code(code)
            });
            DescribeGroupsResponse::default().with_groups(groups.collect())
        }),
        ApiKey::ListGroups => build(request, |_: ListGroupsRequest| {
            ListGroupsResponse::default().with_error_code(code)
        }),
        ApiKey::DeleteGroups => build(request, |q: DeleteGroupsRequest| {
            let results = q.groups_names.into_iter().map(|group| {
                delete_groups_response::DeletableGroupResult::default()
                    .with_group_id(group)
                    .with_error_code(code)
            });
            DeleteGroupsResponse::default().with_results(results.collect())
        }),
        ApiKey::OffsetDelete => build(request, |_: OffsetDeleteRequest| {
            OffsetDeleteResponse::default().with_error_code(code)
        }),
        ApiKey::ConsumerGroupHeartbeat => build(request, |_: ConsumerGroupHeartbeatRequest| {
            ConsumerGroupHeartbeatResponse::default().with_error_code(code)
        }),
        ApiKey::ConsumerGroupDescribe => build(request, |q: ConsumerGroupDescribeRequest| {
            let groups = q.group_ids.into_iter().map(|group| {
                consumer_group_describe_response::DescribedGroup::default()
                    .with_group_id(group)
                    .with_error_code(code)
            });
            ConsumerGroupDescribeResponse::default().with_groups(groups.collect())
        }),
        ApiKey::InitProducerId => build(request, |_: InitProducerIdRequest| {
            InitProducerIdResponse::default()
                .with_error_code(code)
                .with_producer_id((-1).into())
                .with_producer_epoch(-1)
        }),
        ApiKey::AddPartitionsToTxn => build(request, |q: AddPartitionsToTxnRequest| {
            // Before v4 the error goes in every partition; from v4 at the top.
            let topics = q.v3_and_below_topics.into_iter().map(|topic| {
                let partitions = topic.partitions.iter().map(|&p| {
                    add_partitions_to_txn_response::AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(p)
                        .with_partition_error_code(code)
                });
                add_partitions_to_txn_response::AddPartitionsToTxnTopicResult::default()
                    .with_name(topic.name)
                    .with_results_by_partition(partitions.collect())
            });
            AddPartitionsToTxnResponse::default()
                .with_error_code(if version >= 4 { code } else { 0 })
                .with_results_by_topic_v3_and_below(topics.collect())
        }),
        ApiKey::AddOffsetsToTxn => build(request, |_: AddOffsetsToTxnRequest| {
            AddOffsetsToTxnResponse::default().with_error_code(code)
        }),
        ApiKey::EndTxn => build(request, |_: EndTxnRequest| {
            EndTxnResponse::default().with_error_code(code)
        }),
        ApiKey::TxnOffsetCommit => build(request, |q: TxnOffsetCommitRequest| {
            let topics = q.topics.into_iter().map(|topic| {
                let partitions = topic.partitions.iter().map(|p| {
                    txn_offset_commit_response::TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                });
                txn_offset_commit_response::TxnOffsetCommitResponseTopic::default()
                    .with_name(topic.name)
                    .with_partitions(partitions.collect())
            });
            TxnOffsetCommitResponse::default().with_topics(topics.collect())
        }),
        ApiKey::WriteTxnMarkers => build(request, |q: WriteTxnMarkersRequest| {
            // One result per producer: markers of the same producer are answered together.
            let mut markers: Vec<write_txn_markers_response::WritableTxnMarkerResult> = Vec::new();
            for marker in q.markers {
                let topics = marker.topics.into_iter().map(|topic| {
                    let partitions = topic.partition_indexes.iter().map(|&p| {
                        write_txn_markers_response::WritableTxnMarkerPartitionResult::default()
                            .with_partition_index(p)
                            .with_error_code(code)
                    });
                    write_txn_markers_response::WritableTxnMarkerTopicResult::default()
                        .with_name(topic.name)
                        .with_partitions(partitions.collect())
                });
                match markers
                    .iter_mut()
                    .find(|m| m.producer_id == marker.producer_id)
                {
                    Some(result) => result.topics.extend(topics),
                    None => markers.push(
                        write_txn_markers_response::WritableTxnMarkerResult::default()
                            .with_producer_id(marker.producer_id)
                            .with_topics(topics.collect()),
                    ),
                }
            }
            WriteTxnMarkersResponse::default().with_markers(markers)
        }),
        ApiKey::DescribeProducers => build(request, |q: DescribeProducersRequest| {
            let topics = q.topics.into_iter().map(|topic| {
                let partitions = topic.partition_indexes.iter().map(|&p| {
                    describe_producers_response::PartitionResponse::default()
                        .with_partition_index(p)
                        .with_error_code(code)
                });
                describe_producers_response::TopicResponse::default()
                    .with_name(topic.name)
                    .with_partitions(partitions.collect())
            });
            DescribeProducersResponse::default().with_topics(topics.collect())
        }),
        ApiKey::DescribeTransactions => build(request, |q: DescribeTransactionsRequest| {
            let states = q.transactional_ids.into_iter().map(|id| {
                describe_transactions_response::TransactionState::default()
                    .with_transactional_id(id)
                    .with_error_code(code)
            });
            DescribeTransactionsResponse::default().with_transaction_states(states.collect())
        }),
        ApiKey::ListTransactions => build(request, |_: ListTransactionsRequest| {
            ListTransactionsResponse::default().with_error_code(code)
        }),
        ApiKey::DescribeUserScramCredentials => {
            build(request, |q: DescribeUserScramCredentialsRequest| {
                // Kafka names no user in the results (and fails on a request for all
                // users, which shoal answers with no results).
                let results = q.users.unwrap_or_default().into_iter().map(|_| {
                    describe_user_scram_credentials_response::DescribeUserScramCredentialsResult::default()
                        .with_error_code(code)
                        .with_error_message(message.clone())
                });
                DescribeUserScramCredentialsResponse::default()
                    .with_error_code(code)
                    .with_error_message(message.clone())
                    .with_results(results.collect())
            })
        }
        ApiKey::AlterUserScramCredentials => {
            build(request, |q: AlterUserScramCredentialsRequest| {
                // Each user once, in order.
                let deleted = q.deletions.into_iter().map(|d| d.name);
                let upserted = q.upsertions.into_iter().map(|u| u.name);
                let users: BTreeSet<StrBytes> = deleted.chain(upserted).collect();
                let results = users.into_iter().map(|user| {
                    alter_user_scram_credentials_response::AlterUserScramCredentialsResult::default(
                    )
                    .with_user(user)
                    .with_error_code(code)
                    .with_error_message(message.clone())
                });
                AlterUserScramCredentialsResponse::default().with_results(results.collect())
            })
        }
        ApiKey::DescribeClientQuotas => build(request, |_: DescribeClientQuotasRequest| {
            DescribeClientQuotasResponse::default()
                .with_error_code(code)
                .with_error_message(message.clone())
                .with_entries(None)
        }),
        ApiKey::AlterClientQuotas => build(request, |q: AlterClientQuotasRequest| {
            let entries = q.entries.into_iter().map(|entry| {
                let entity = entry.entity.into_iter().map(|e| {
                    alter_client_quotas_response::EntityData::default()
                        .with_entity_type(e.entity_type)
                        .with_entity_name(e.entity_name)
                });
                alter_client_quotas_response::EntryData::default()
                    .with_error_code(code)
                    .with_error_message(text.clone())
                    .with_entity(entity.collect())
            });
            AlterClientQuotasResponse::default().with_entries(entries.collect())
        }),
        // ApiVersions, SaslHandshake and SaslAuthenticate have their own answers.
        _ => None,
    }
}

/// A produce request's `acks`.
fn produce_acks(request: &Request) -> Option<i16> {
    let asked = ProduceRequest::decode(&mut request.body.clone(), request.version).ok()?;
    Some(asked.acks)
}

/// Decodes `request` as `Q` and encodes `answer`'s response to it.
fn build<Q: Decodable, S: Encodable>(
    request: &Request,
    answer: impl FnOnce(Q) -> S,
) -> Option<Bytes> {
    let asked = Q::decode(&mut request.body.clone(), request.version).ok()?;
    let correlation_id = request.header.correlation_id;
    protocol::encode_response(
        request.api_key,
        request.version,
        correlation_id,
        &answer(asked),
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use kafka_protocol::error::ResponseError;
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::{Decodable, StrBytes};
    use uuid::Uuid;

    use super::*;

    fn name() -> TopicName {
        StrBytes::from_static_str("t").into()
    }

    fn group() -> GroupId {
        StrBytes::from_static_str("g").into()
    }

    /// A request of `api` naming one entry in each of its lists, in the fields
    /// `version` has.
    fn asking(api: ApiKey, version: i16) -> RequestKind {
        let s = || StrBytes::from_static_str("x");
        let id = || Uuid::from_u128(7);
        match api {
            ApiKey::Produce => {
                RequestKind::Produce(ProduceRequest::default().with_acks(-1).with_topic_data(
                    vec![produce_request::TopicProduceData::default()
                        .with_name(name())
                        .with_partition_data(vec![Default::default()])],
                ))
            }
            ApiKey::Fetch => {
                let topic =
                    fetch_request::FetchTopic::default().with_partitions(vec![Default::default()]);
                let topic = if version >= 13 {
                    topic.with_topic_id(id())
                } else {
                    topic.with_topic(name())
                };
                RequestKind::Fetch(FetchRequest::default().with_topics(vec![topic]))
            }
            ApiKey::ListOffsets => {
                RequestKind::ListOffsets(ListOffsetsRequest::default().with_topics(vec![
                list_offsets_request::ListOffsetsTopic::default()
                    .with_name(name())
                    .with_partitions(vec![Default::default()]),
            ]))
            }
            ApiKey::Metadata => {
                RequestKind::Metadata(MetadataRequest::default().with_topics(Some(vec![
                    metadata_request::MetadataRequestTopic::default().with_name(Some(name())),
                ])))
            }
            ApiKey::FindCoordinator => {
                let asked = FindCoordinatorRequest::default();
                RequestKind::FindCoordinator(if version >= 4 {
                    asked.with_coordinator_keys(vec![s()])
                } else {
                    asked.with_key(s())
                })
            }
            ApiKey::CreateTopics => RequestKind::CreateTopics(
                CreateTopicsRequest::default().with_topics(vec![Default::default()]),
            ),
            ApiKey::DeleteTopics => {
                let asked = DeleteTopicsRequest::default();
                RequestKind::DeleteTopics(if version >= 6 {
                    asked.with_topics(vec![Default::default()])
                } else {
                    asked.with_topic_names(vec![name()])
                })
            }
            ApiKey::DeleteRecords => RequestKind::DeleteRecords(
                DeleteRecordsRequest::default()
                    .with_topics(vec![delete_records_request::DeleteRecordsTopic::default()
                        .with_partitions(vec![Default::default()])]),
            ),
            ApiKey::OffsetForLeaderEpoch => RequestKind::OffsetForLeaderEpoch(
                OffsetForLeaderEpochRequest::default().with_topics(vec![
                    offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                        .with_partitions(vec![Default::default()]),
                ]),
            ),
            ApiKey::DescribeAcls => RequestKind::DescribeAcls(Default::default()),
            ApiKey::CreateAcls => RequestKind::CreateAcls(
                CreateAclsRequest::default().with_creations(vec![Default::default()]),
            ),
            ApiKey::DeleteAcls => RequestKind::DeleteAcls(
                DeleteAclsRequest::default().with_filters(vec![Default::default()]),
            ),
            ApiKey::DescribeConfigs => RequestKind::DescribeConfigs(
                DescribeConfigsRequest::default().with_resources(vec![Default::default()]),
            ),
            ApiKey::AlterConfigs => RequestKind::AlterConfigs(
                AlterConfigsRequest::default().with_resources(vec![Default::default()]),
            ),
            ApiKey::IncrementalAlterConfigs => RequestKind::IncrementalAlterConfigs(
                IncrementalAlterConfigsRequest::default().with_resources(vec![Default::default()]),
            ),
            ApiKey::CreatePartitions => RequestKind::CreatePartitions(
                CreatePartitionsRequest::default().with_topics(vec![Default::default()]),
            ),
            ApiKey::DescribeCluster => RequestKind::DescribeCluster(Default::default()),
            ApiKey::DescribeQuorum => RequestKind::DescribeQuorum(Default::default()),
            ApiKey::AddRaftVoter => RequestKind::AddRaftVoter(Default::default()),
            ApiKey::RemoveRaftVoter => RequestKind::RemoveRaftVoter(Default::default()),
            ApiKey::DescribeTopicPartitions => RequestKind::DescribeTopicPartitions(
                DescribeTopicPartitionsRequest::default().with_topics(vec![
                    describe_topic_partitions_request::TopicRequest::default().with_name(name()),
                ]),
            ),
            ApiKey::DescribeLogDirs => RequestKind::DescribeLogDirs(Default::default()),
            ApiKey::ElectLeaders => RequestKind::ElectLeaders(
                ElectLeadersRequest::default().with_topic_partitions(Some(vec![
                    elect_leaders_request::TopicPartitions::default().with_partitions(vec![0]),
                ])),
            ),
            ApiKey::AlterPartitionReassignments => RequestKind::AlterPartitionReassignments(
                AlterPartitionReassignmentsRequest::default().with_topics(vec![
                    alter_partition_reassignments_request::ReassignableTopic::default()
                        .with_partitions(vec![Default::default()]),
                ]),
            ),
            ApiKey::ListPartitionReassignments => {
                RequestKind::ListPartitionReassignments(Default::default())
            }
            ApiKey::OffsetCommit => {
                RequestKind::OffsetCommit(OffsetCommitRequest::default().with_topics(vec![
                offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(name())
                    .with_partitions(vec![Default::default()]),
            ]))
            }
            ApiKey::OffsetFetch => {
                let asked = OffsetFetchRequest::default();
                RequestKind::OffsetFetch(if version >= 8 {
                    asked.with_groups(vec![
                        offset_fetch_request::OffsetFetchRequestGroup::default()
                            .with_group_id(group()),
                    ])
                } else {
                    asked.with_group_id(group()).with_topics(Some(vec![
                        offset_fetch_request::OffsetFetchRequestTopic::default()
                            .with_name(name())
                            .with_partition_indexes(vec![0]),
                    ]))
                })
            }
            ApiKey::JoinGroup => RequestKind::JoinGroup(Default::default()),
            ApiKey::Heartbeat => RequestKind::Heartbeat(Default::default()),
            ApiKey::LeaveGroup => RequestKind::LeaveGroup(Default::default()),
            ApiKey::SyncGroup => RequestKind::SyncGroup(Default::default()),
            ApiKey::DescribeGroups => RequestKind::DescribeGroups(
                DescribeGroupsRequest::default().with_groups(vec![group()]),
            ),
            ApiKey::ListGroups => RequestKind::ListGroups(Default::default()),
            ApiKey::DeleteGroups => RequestKind::DeleteGroups(
                DeleteGroupsRequest::default().with_groups_names(vec![group()]),
            ),
            ApiKey::OffsetDelete => RequestKind::OffsetDelete(Default::default()),
            ApiKey::ConsumerGroupHeartbeat => {
                RequestKind::ConsumerGroupHeartbeat(Default::default())
            }
            ApiKey::ConsumerGroupDescribe => RequestKind::ConsumerGroupDescribe(
                ConsumerGroupDescribeRequest::default().with_group_ids(vec![group()]),
            ),
            ApiKey::InitProducerId => RequestKind::InitProducerId(Default::default()),
            ApiKey::AddPartitionsToTxn => {
                let asked = AddPartitionsToTxnRequest::default();
                RequestKind::AddPartitionsToTxn(if version >= 4 {
                    asked.with_transactions(vec![Default::default()])
                } else {
                    asked.with_v3_and_below_topics(vec![
                        add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                            .with_partitions(vec![0]),
                    ])
                })
            }
            ApiKey::AddOffsetsToTxn => RequestKind::AddOffsetsToTxn(Default::default()),
            ApiKey::EndTxn => RequestKind::EndTxn(Default::default()),
            ApiKey::TxnOffsetCommit => {
                RequestKind::TxnOffsetCommit(TxnOffsetCommitRequest::default().with_topics(
                    vec![txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                    .with_partitions(vec![Default::default()])],
                ))
            }
            ApiKey::WriteTxnMarkers => {
                RequestKind::WriteTxnMarkers(WriteTxnMarkersRequest::default().with_markers(vec![
                    write_txn_markers_request::WritableTxnMarker::default().with_topics(vec![
                        write_txn_markers_request::WritableTxnMarkerTopic::default()
                            .with_partition_indexes(vec![0]),
                    ]),
                ]))
            }
            ApiKey::DescribeProducers => RequestKind::DescribeProducers(
                DescribeProducersRequest::default()
                    .with_topics(vec![describe_producers_request::TopicRequest::default()
                        .with_partition_indexes(vec![0])]),
            ),
            ApiKey::DescribeTransactions => RequestKind::DescribeTransactions(
                DescribeTransactionsRequest::default().with_transactional_ids(vec![s().into()]),
            ),
            ApiKey::ListTransactions => RequestKind::ListTransactions(Default::default()),
            ApiKey::DescribeUserScramCredentials => {
                RequestKind::DescribeUserScramCredentials(Default::default())
            }
            ApiKey::AlterUserScramCredentials => RequestKind::AlterUserScramCredentials(
                AlterUserScramCredentialsRequest::default()
                    .with_deletions(vec![Default::default()])
                    .with_upsertions(vec![Default::default()]),
            ),
            ApiKey::DescribeClientQuotas => RequestKind::DescribeClientQuotas(Default::default()),
            ApiKey::AlterClientQuotas => RequestKind::AlterClientQuotas(
                AlterClientQuotasRequest::default()
                    .with_entries(vec![alter_client_quotas_request::EntryData::default()
                        .with_entity(vec![Default::default()])]),
            ),
            other => panic!("no request of {other:?} to ask with"),
        }
    }

    fn request(api: ApiKey, version: i16, body: Bytes) -> Request {
        Request {
            api_key: api,
            version,
            header: RequestHeader::default()
                .with_request_api_key(api as i16)
                .with_request_api_version(version)
                .with_correlation_id(7),
            body,
        }
    }

    #[test]
    fn every_served_request_is_answered_whole_with_the_error_in_every_version() {
        let error = ApiError::new(ResponseError::IllegalSaslState, "why");
        let own_answers = [
            ApiKey::ApiVersions,
            ApiKey::SaslHandshake,
            ApiKey::SaslAuthenticate,
        ];
        for (api, versions) in crate::server::handlers::served() {
            for version in versions {
                let context = format!("{api:?} v{version}");
                let mut body = BytesMut::new();
                if own_answers.contains(&api) {
                    assert!(error_answer(&request(api, version, Bytes::new()), &error).is_none());
                    continue;
                }
                asking(api, version)
                    .encode(&mut body, version)
                    .expect(&context);
                let frame =
                    error_answer(&request(api, version, body.freeze()), &error).expect(&context);
                let mut read = frame.slice(4..);
                let header =
                    ResponseHeader::decode(&mut read, api.response_header_version(version))
                        .unwrap();
                assert_eq!(header.correlation_id, 7, "{context}");
                let response = ResponseKind::decode(api, &mut read, version).expect(&context);
                assert!(read.is_empty(), "{context}");
                // Every entry asked about carries the error (DescribeLogDirs before v3
                // and DescribeQuorum have nowhere to put the entries' errors).
                let shown = format!("{response:?}");
                let errors = shown.matches("error_code: 34").count();
                assert!(
                    errors >= 1 || (api == ApiKey::DescribeLogDirs && version < 3),
                    "{context}: {shown}"
                );
            }
        }
    }

    #[test]
    fn entries_are_answered_where_each_version_puts_the_error() {
        let error = ApiError::new(ResponseError::IllegalSaslState, "why");
        let answered = |api, version| {
            let mut body = BytesMut::new();
            asking(api, version).encode(&mut body, version).unwrap();
            let frame = error_answer(&request(api, version, body.freeze()), &error).unwrap();
            let mut read = frame.slice(4..);
            ResponseHeader::decode(&mut read, api.response_header_version(version)).unwrap();
            ResponseKind::decode(api, &mut read, version).unwrap()
        };
        let ResponseKind::Produce(produced) = answered(ApiKey::Produce, 12) else {
            unreachable!()
        };
        let partition = &produced.responses[0].partition_responses[0];
        assert_eq!((partition.error_code, partition.base_offset), (34, -1));
        assert_eq!(partition.error_message.as_deref(), Some("why"));
        let ResponseKind::Produce(produced) = answered(ApiKey::Produce, 7) else {
            unreachable!()
        };
        assert_eq!(
            produced.responses[0].partition_responses[0].error_message,
            None
        );

        let ResponseKind::Fetch(v12) = answered(ApiKey::Fetch, 12) else {
            unreachable!()
        };
        let partition = &v12.responses[0].partitions[0];
        assert_eq!(
            (
                v12.error_code,
                partition.error_code,
                partition.high_watermark
            ),
            (34, 34, -1)
        );
        let ResponseKind::Fetch(v13) = answered(ApiKey::Fetch, 13) else {
            unreachable!()
        };
        assert_eq!((v13.error_code, v13.responses.len()), (34, 0));

        let ResponseKind::OffsetFetch(v1) = answered(ApiKey::OffsetFetch, 1) else {
            unreachable!()
        };
        assert_eq!(v1.topics[0].partitions[0].error_code, 34);
        let ResponseKind::OffsetFetch(v7) = answered(ApiKey::OffsetFetch, 7) else {
            unreachable!()
        };
        assert_eq!((v7.error_code, v7.topics.len()), (34, 0));
        let ResponseKind::OffsetFetch(v8) = answered(ApiKey::OffsetFetch, 8) else {
            unreachable!()
        };
        assert_eq!(
            (v8.groups[0].group_id.as_str(), v8.groups[0].error_code),
            ("g", 34)
        );

        let ResponseKind::FindCoordinator(old) = answered(ApiKey::FindCoordinator, 3) else {
            unreachable!()
        };
        assert_eq!((old.error_code, old.node_id.0), (34, -1));
        assert_eq!(
            old.error_message.as_deref(),
            Some("Request is not valid given the current SASL state.")
        );
        let ResponseKind::FindCoordinator(new) = answered(ApiKey::FindCoordinator, 4) else {
            unreachable!()
        };
        assert_eq!(
            (
                new.coordinators[0].key.as_str(),
                new.coordinators[0].error_code
            ),
            ("x", 34)
        );

        let ResponseKind::Metadata(metadata) = answered(ApiKey::Metadata, 12) else {
            unreachable!()
        };
        assert_eq!(
            (metadata.topics[0].error_code, metadata.brokers.len()),
            (34, 0)
        );
        let ResponseKind::CreateAcls(acls) = answered(ApiKey::CreateAcls, 3) else {
            unreachable!()
        };
        assert_eq!(acls.results[0].error_message.as_deref(), Some("why"));
    }

    #[test]
    fn a_request_that_does_not_parse_or_a_version_not_served_or_acks_0_gets_no_answer() {
        let error = ApiError::code(ResponseError::IllegalSaslState);
        let mut body = BytesMut::new();
        let produce = ProduceRequest::default().with_acks(0);
        RequestKind::Produce(produce).encode(&mut body, 9).unwrap();
        assert!(error_answer(&request(ApiKey::Produce, 9, body.freeze()), &error).is_none());
        let truncated = Bytes::from_static(&[0, 0, 0, 1]);
        assert!(error_answer(&request(ApiKey::Metadata, 1, truncated), &error).is_none());
        let mut body = BytesMut::new();
        asking(ApiKey::Metadata, 12).encode(&mut body, 12).unwrap();
        assert!(error_answer(&request(ApiKey::Metadata, 99, body.freeze()), &error).is_none());
    }
}
