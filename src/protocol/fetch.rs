//! The zero-copy Fetch response encoder (versions 4..=18).
//!
//! A fetch response is framing around log bytes. This encoder writes the framing and
//! leaves each partition's records as a reference (`Chunk::File`) for the connection
//! to send straight from the segment file (sendfile). Record bytes never pass through
//! it. Each partition's fields come from kafka-protocol's own `PartitionData` encoder
//! (encoded with null records); only the outer shell and the records' length prefix
//! are written here.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::protocol::Encodable;
use uuid::Uuid;

pub const VERSION_MIN: i16 = 4;
pub const VERSION_MAX: i16 = 18;
/// From this version on the response is "flexible" (compact types, tagged fields).
const FLEXIBLE: i16 = 12;
/// From this version on topics are named by id.
const TOPIC_IDS: i16 = 13;

/// A piece of a response on the wire: framing bytes, or a run of a file.
#[derive(Debug, Clone)]
pub enum Chunk<F> {
    Bytes(Bytes),
    File { file: F, length: u32 },
}

impl<F> Chunk<F> {
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn len(&self) -> usize {
        match self {
            Chunk::Bytes(bytes) => bytes.len(),
            Chunk::File { length, .. } => *length as usize,
        }
    }
}

pub struct TopicData<F> {
    pub name: String,
    pub id: Uuid,
    pub partitions: Vec<(PartitionData, Option<(F, u32)>)>,
}

pub struct FetchResponseParts<F> {
    pub throttle_time_ms: i32,
    pub error_code: i16,
    pub session_id: i32,
    pub topics: Vec<TopicData<F>>,
}

/// Encodes a whole response frame (length prefix and header included). A partition
/// with a file run must have `records: None`; the run stands in for them.
pub fn encode<F>(
    version: i16,
    correlation_id: i32,
    response: FetchResponseParts<F>,
) -> anyhow::Result<Vec<Chunk<F>>> {
    anyhow::ensure!(
        (VERSION_MIN..=VERSION_MAX).contains(&version),
        "fetch v{version} is not supported"
    );
    let flexible = version >= FLEXIBLE;
    let mut out = Writer {
        chunks: Vec::new(),
        buf: BytesMut::with_capacity(256),
    };
    out.buf.put_i32(0);
    out.buf.put_i32(correlation_id);
    if flexible {
        out.buf.put_u8(0);
    }
    out.buf.put_i32(response.throttle_time_ms);
    if version >= 7 {
        out.buf.put_i16(response.error_code);
        out.buf.put_i32(response.session_id);
    }
    put_array_len(&mut out.buf, response.topics.len(), flexible);
    for topic in response.topics {
        if version >= TOPIC_IDS {
            out.buf.put_slice(topic.id.as_bytes());
        } else {
            put_string(&mut out.buf, &topic.name, flexible);
        }
        put_array_len(&mut out.buf, topic.partitions.len(), flexible);
        for (partition, records) in topic.partitions {
            out.partition(version, &partition, records)?;
        }
        if flexible {
            out.buf.put_u8(0);
        }
    }
    if flexible {
        out.buf.put_u8(0);
    }
    let mut chunks = out.finish();
    let total: usize = chunks.iter().map(Chunk::len).sum::<usize>() - 4;
    let total =
        i32::try_from(total).map_err(|_| anyhow::anyhow!("fetch response of {total} bytes"))?;
    if let Some(Chunk::Bytes(first)) = chunks.first_mut() {
        let mut patched = BytesMut::from(first.as_ref());
        patched[..4].copy_from_slice(&total.to_be_bytes());
        *first = patched.freeze();
    }
    Ok(chunks)
}

struct Writer<F> {
    chunks: Vec<Chunk<F>>,
    buf: BytesMut,
}

impl<F> Writer<F> {
    fn partition(
        &mut self,
        version: i16,
        partition: &PartitionData,
        records: Option<(F, u32)>,
    ) -> anyhow::Result<()> {
        let start = self.buf.len();
        partition.encode(&mut self.buf, version)?;
        let Some((file, length)) = records else {
            return Ok(());
        };
        anyhow::ensure!(partition.records.is_none(), "records travel as file runs");
        // Null records were written as -1 (int32) before v12, or as varint 0 followed by
        // the partition's tagged fields from v12 on. Put the real length there.
        let encoded = self.buf.split_off(start);
        let (before, after) = if version >= FLEXIBLE {
            let tags = tagged_fields_len(partition, version)?;
            let null_at = encoded.len() - tags - 1;
            anyhow::ensure!(encoded[null_at] == 0, "null compact records expected");
            (&encoded[..null_at], &encoded[null_at + 1..])
        } else {
            let null_at = encoded.len() - 4;
            anyhow::ensure!(encoded[null_at..] == [0xff; 4], "null records expected");
            (&encoded[..null_at], &encoded[encoded.len()..])
        };
        self.buf.put_slice(before);
        if version >= FLEXIBLE {
            put_uvarint(&mut self.buf, u64::from(length) + 1);
        } else {
            self.buf.put_i32(length as i32);
        }
        let framing = self.buf.split().freeze();
        self.chunks.push(Chunk::Bytes(framing));
        self.chunks.push(Chunk::File { file, length });
        self.buf.put_slice(after);
        Ok(())
    }

    fn finish(mut self) -> Vec<Chunk<F>> {
        if !self.buf.is_empty() {
            self.chunks.push(Chunk::Bytes(self.buf.freeze()));
        }
        self.chunks
    }
}

/// Bytes of a partition's tagged-field section (what follows its records field).
fn tagged_fields_len(partition: &PartitionData, version: i16) -> anyhow::Result<usize> {
    let with_null = partition.compute_size(version)?;
    let mut bare = partition.clone();
    bare.diverging_epoch = Default::default();
    bare.current_leader = Default::default();
    bare.snapshot_id = Default::default();
    bare.unknown_tagged_fields = Default::default();
    Ok(with_null - bare.compute_size(version)? + 1)
}

fn put_array_len(buf: &mut BytesMut, len: usize, flexible: bool) {
    if flexible {
        put_uvarint(buf, len as u64 + 1);
    } else {
        buf.put_i32(len as i32);
    }
}

fn put_string(buf: &mut BytesMut, value: &str, flexible: bool) {
    if flexible {
        put_uvarint(buf, value.len() as u64 + 1);
    } else {
        buf.put_i16(value.len() as i16);
    }
    buf.put_slice(value.as_bytes());
}

/// An unsigned varint (7 bits a byte, low bits first), as the flexible versions' compact
/// lengths and the record format's varints (after zigzag) are written.
pub(crate) fn put_uvarint(buf: &mut BytesMut, mut value: u64) {
    while value >= 0x80 {
        buf.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    buf.put_u8(value as u8);
}

/// Raises the `throttle_time_ms` of a response `encode` made (at the head of its first
/// chunk, after the length and header) to at least `ms`; false when the first chunk is
/// not that head.
pub fn raise_throttle<F>(chunks: &mut [Chunk<F>], version: i16, ms: i32) -> bool {
    let at = if version >= FLEXIBLE { 9 } else { 8 };
    let Some(Chunk::Bytes(head)) = chunks.first_mut() else {
        return false;
    };
    let Some(told) = head.get(at..at + 4) else {
        return false;
    };
    let told = i32::from_be_bytes([told[0], told[1], told[2], told[3]]);
    let mut raised = BytesMut::from(&head[..]);
    raised[at..at + 4].copy_from_slice(&told.max(ms).to_be_bytes());
    *head = raised.freeze();
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Buf;
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, LeaderIdAndEpoch};
    use kafka_protocol::messages::{FetchResponse, ResponseHeader, TopicName};
    use kafka_protocol::protocol::{Decodable, StrBytes};

    fn partition(index: i32, error_code: i16) -> PartitionData {
        PartitionData::default()
            .with_partition_index(index)
            .with_error_code(error_code)
            .with_high_watermark(100)
            .with_last_stable_offset(100)
            .with_log_start_offset(3)
            .with_records(None)
    }

    /// Fills the file runs with their bytes and decodes the frame as a client would.
    fn decode(version: i16, chunks: Vec<Chunk<Bytes>>) -> FetchResponse {
        let mut wire = BytesMut::new();
        for chunk in chunks {
            match chunk {
                Chunk::Bytes(bytes) => wire.put_slice(&bytes),
                Chunk::File { file, length } => wire.put_slice(&file[..length as usize]),
            }
        }
        let mut wire = wire.freeze();
        assert_eq!(wire.get_i32() as usize, wire.len());
        let header_version = if version >= 12 { 1 } else { 0 };
        let header = ResponseHeader::decode(&mut wire, header_version).expect("header");
        assert_eq!(header.correlation_id, 7);
        let response = FetchResponse::decode(&mut wire, version).expect("body");
        assert!(wire.is_empty(), "no trailing bytes");
        response
    }

    #[test]
    fn frames_file_runs_exactly_as_kafka_protocol_would() {
        let id = Uuid::from_u128(0x1234);
        for version in VERSION_MIN..=VERSION_MAX {
            let records = Bytes::from_static(b"pretend these are record batches");
            let leader = LeaderIdAndEpoch::default()
                .with_leader_id(1.into())
                .with_leader_epoch(5);
            let with_tags = if version >= 12 {
                partition(2, 0).with_current_leader(leader)
            } else {
                partition(2, 0)
            };
            let parts = FetchResponseParts {
                throttle_time_ms: 0,
                error_code: 0,
                session_id: if version >= 7 { 99 } else { 0 },
                topics: vec![TopicData {
                    name: "orders".into(),
                    id,
                    partitions: vec![
                        (
                            partition(0, 0),
                            Some((records.clone(), records.len() as u32)),
                        ),
                        (partition(1, 1), None),
                        (with_tags.clone(), Some((records.clone(), 10))),
                    ],
                }],
            };
            let mut chunks = encode(version, 7, parts).expect("encodes");
            assert!(raise_throttle(&mut chunks, version, 30));
            let response = decode(version, chunks);
            assert_eq!(response.throttle_time_ms, 30);
            let topic: &FetchableTopicResponse = &response.responses[0];
            if version >= TOPIC_IDS {
                assert_eq!(topic.topic_id, id);
            } else {
                assert_eq!(topic.topic, TopicName(StrBytes::from_static_str("orders")));
            }
            assert_eq!(topic.partitions[0].records.as_deref(), Some(&records[..]));
            assert_eq!(topic.partitions[1].records, None);
            assert_eq!(topic.partitions[1].error_code, 1);
            assert_eq!(topic.partitions[2].records.as_deref(), Some(&records[..10]));
            assert_eq!(topic.partitions[2].current_leader, with_tags.current_leader);
            if version >= 7 {
                assert_eq!(response.session_id, 99);
            }
        }
    }
}
