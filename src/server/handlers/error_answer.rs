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
    // Where Kafka answers with the error's own description instead of the message.
    let text = Some(StrBytes::from_static_str(crate::error::kafka_text(
        error.code,
    )));
    match request.api_key {
        ApiKey::Produce => build_if(request, |q: ProduceRequest| {
            // Kafka has no answer for acks=0 and closes the connection.
            if q.acks == 0 {
                return None;
            }
            let topics = q.topic_data.into_iter().map(|topic| {
                let partitions = topic.partition_data.iter().map(|p| {
                    produce_response::PartitionProduceResponse::default()
                        .with_index(p.index)
                        .with_error_code(code)
                        .with_error_message((version >= 8).then(|| message.clone()).flatten())
                        .with_base_offset(-1)
                });
                produce_response::TopicProduceResponse::default()
                    .with_name(topic.name)
                    .with_topic_id(topic.topic_id)
                    .with_partition_responses(partitions.collect())
            });
            Some(ProduceResponse::default().with_responses(topics.collect()))
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

/// Decodes `request` as `Q` and encodes `answer`'s response to it.
fn build<Q: Decodable, S: Encodable>(
    request: &Request,
    answer: impl FnOnce(Q) -> S,
) -> Option<Bytes> {
    build_if(request, |asked| Some(answer(asked)))
}

/// As `build`, for a request Kafka may leave unanswered (`answer` gives `None`).
fn build_if<Q: Decodable, S: Encodable>(
    request: &Request,
    answer: impl FnOnce(Q) -> Option<S>,
) -> Option<Bytes> {
    let asked = Q::decode(&mut request.body.clone(), request.version).ok()?;
    let response = answer(asked)?;
    let correlation_id = request.header.correlation_id;
    protocol::encode_response(request.api_key, request.version, correlation_id, &response).ok()
}

#[cfg(test)]
#[path = "error_answer_tests.rs"]
mod tests;
