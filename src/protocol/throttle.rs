//! A response frame given a throttle time after it was encoded: Kafka's request quota
//! tells every response it throttles (`request_percentage`), and shoal learns a
//! request's time on the shard only once its handler has answered.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable};

/// `frame` (a whole response of `api_key` at `version`) with its `throttle_time_ms`
/// raised to at least `ms`; `None` when it does not decode, or the API has none.
pub fn with_throttle(api_key: ApiKey, version: i16, frame: &Bytes, ms: i32) -> Option<Bytes> {
    let header_version = api_key.response_header_version(version);
    let mut rest = frame.get(4..).map(|_| frame.slice(4..))?;
    let header = ResponseHeader::decode(&mut rest, header_version).ok()?;
    let mut body = ResponseKind::decode(api_key, &mut rest, version).ok()?;
    if !rest.is_empty() {
        return None;
    }
    raise(&mut body, ms)?;
    let mut buf = BytesMut::with_capacity(frame.len());
    buf.put_i32(0);
    header.encode(&mut buf, header_version).ok()?;
    body.encode(&mut buf, version).ok()?;
    let length = i32::try_from(buf.len() - 4).ok()?;
    buf[..4].copy_from_slice(&length.to_be_bytes());
    Some(buf.freeze())
}

macro_rules! throttled {
    ($($api:ident),* $(,)?) => {
        /// Raises the response's throttle time; `None` for an API without one.
        fn raise(body: &mut ResponseKind, ms: i32) -> Option<()> {
            match body {
                $(ResponseKind::$api(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),)*
                _ => return None,
            }
            Some(())
        }
    };
}

// The APIs shoal serves whose responses have a throttle time.
throttled!(
    AddOffsetsToTxn,
    AddPartitionsToTxn,
    AlterClientQuotas,
    AlterConfigs,
    AlterPartitionReassignments,
    AlterUserScramCredentials,
    ApiVersions,
    ConsumerGroupDescribe,
    ConsumerGroupHeartbeat,
    CreateAcls,
    CreatePartitions,
    CreateTopics,
    DeleteAcls,
    DeleteGroups,
    DeleteRecords,
    DeleteTopics,
    DescribeAcls,
    DescribeClientQuotas,
    DescribeCluster,
    DescribeConfigs,
    DescribeGroups,
    DescribeLogDirs,
    DescribeProducers,
    DescribeTopicPartitions,
    DescribeTransactions,
    DescribeUserScramCredentials,
    ElectLeaders,
    EndTxn,
    Fetch,
    FindCoordinator,
    Heartbeat,
    IncrementalAlterConfigs,
    InitProducerId,
    JoinGroup,
    LeaveGroup,
    ListGroups,
    ListOffsets,
    ListPartitionReassignments,
    ListTransactions,
    Metadata,
    OffsetCommit,
    OffsetDelete,
    OffsetFetch,
    OffsetForLeaderEpoch,
    Produce,
    SyncGroup,
    TxnOffsetCommit,
);

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{MetadataResponse, SaslHandshakeResponse};

    fn decoded(frame: &Bytes, version: i16) -> (i32, MetadataResponse) {
        let mut rest = frame.slice(4..);
        let header_version = ApiKey::Metadata.response_header_version(version);
        let header = ResponseHeader::decode(&mut rest, header_version).unwrap();
        let body = MetadataResponse::decode(&mut rest, version).unwrap();
        assert!(rest.is_empty());
        (header.correlation_id, body)
    }

    #[test]
    fn a_response_keeps_what_it_said_and_takes_the_longer_throttle() {
        for version in [3, 9, 12] {
            let response = MetadataResponse::default().with_throttle_time_ms(5);
            let frame =
                crate::protocol::encode_response(ApiKey::Metadata, version, 77, &response).unwrap();
            let longer = with_throttle(ApiKey::Metadata, version, &frame, 250).unwrap();
            assert_eq!(
                decoded(&longer, version),
                (77, response.clone().with_throttle_time_ms(250))
            );
            let shorter = with_throttle(ApiKey::Metadata, version, &frame, 1).unwrap();
            assert_eq!(decoded(&shorter, version), (77, response));
        }
    }

    #[test]
    fn what_does_not_decode_or_has_no_throttle_time_is_left_alone() {
        let frame = Bytes::from_static(&[0, 0, 0, 3, 1, 2, 3]);
        assert!(with_throttle(ApiKey::Metadata, 12, &frame, 100).is_none());
        assert!(with_throttle(ApiKey::Metadata, 12, &Bytes::from_static(&[0]), 100).is_none());
        let sasl = SaslHandshakeResponse::default();
        let frame = crate::protocol::encode_response(ApiKey::SaslHandshake, 1, 1, &sasl).unwrap();
        assert!(with_throttle(ApiKey::SaslHandshake, 1, &frame, 100).is_none());
    }
}
