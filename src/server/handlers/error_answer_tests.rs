//! The error answers of `error_answer.rs`, for every served API and version.

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
        ApiKey::ElectLeaders => {
            RequestKind::ElectLeaders(ElectLeadersRequest::default().with_topic_partitions(Some(
                vec![elect_leaders_request::TopicPartitions::default().with_partitions(vec![0])],
            )))
        }
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
                    offset_fetch_request::OffsetFetchRequestGroup::default().with_group_id(group()),
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
        ApiKey::DescribeGroups => {
            RequestKind::DescribeGroups(DescribeGroupsRequest::default().with_groups(vec![group()]))
        }
        ApiKey::ListGroups => RequestKind::ListGroups(Default::default()),
        ApiKey::DeleteGroups => RequestKind::DeleteGroups(
            DeleteGroupsRequest::default().with_groups_names(vec![group()]),
        ),
        ApiKey::OffsetDelete => RequestKind::OffsetDelete(Default::default()),
        ApiKey::ConsumerGroupHeartbeat => RequestKind::ConsumerGroupHeartbeat(Default::default()),
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
                ResponseHeader::decode(&mut read, api.response_header_version(version)).unwrap();
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
