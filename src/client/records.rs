//! Record batches as a producer builds them and a consumer reads them (kafka-protocol's
//! encoder and decoder, magic 2, every codec the crate is built with), for the tools, the
//! bench harness and tests. Pure: bytes in, records out.

use bytes::{Buf, Bytes, BytesMut};
use indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// One record to send.
#[derive(Debug, Clone, Default)]
pub struct NewRecord {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub timestamp: i64,
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// The producer a batch is written for (an idempotent or transactional one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerFields {
    pub id: i64,
    pub epoch: i16,
    /// The first record's sequence; -1 for a coordinator's batch, which has none.
    pub base_sequence: i32,
    pub transactional: bool,
}

/// One batch holding `records` in order, offsets from 0, no producer id.
pub fn encode_batch(records: &[NewRecord], compression: Compression) -> anyhow::Result<Bytes> {
    encode_batch_as(records, compression, None)
}

/// One batch holding `records` in order, offsets from 0, for `producer` if given.
pub fn encode_batch_as(
    records: &[NewRecord],
    compression: Compression,
    producer: Option<ProducerFields>,
) -> anyhow::Result<Bytes> {
    let producer = producer.unwrap_or(ProducerFields {
        id: -1,
        epoch: -1,
        base_sequence: 0,
        transactional: false,
    });
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, record)| Record {
            transactional: producer.transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: producer.id,
            producer_epoch: producer.epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder starts a new batch wherever offset minus sequence changes, and
            // takes the batch's base sequence from its first record.
            sequence: producer.base_sequence.wrapping_add(i as i32),
            timestamp: record.timestamp,
            key: record.key.clone(),
            value: record.value.clone(),
            headers: record
                .headers
                .iter()
                .map(|(k, v)| (StrBytes::from_string(k.clone()), v.clone()))
                .collect::<IndexMap<_, _>>(),
        })
        .collect();
    // Sized for the uncompressed batch up front: growing it as it fills would copy it
    // again and again.
    let payload: usize = records
        .iter()
        .map(|r| {
            let key = r.key.as_ref().map_or(0, Bytes::len);
            let value = r.value.as_ref().map_or(0, Bytes::len);
            key + value + RECORD_OVERHEAD_BYTES
        })
        .sum();
    let mut buf = BytesMut::with_capacity(BATCH_HEADER_BYTES + payload);
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options)?;
    Ok(buf.freeze())
}

/// Bytes of a v2 batch header before its records: baseOffset(8) batchLength(4)
/// partitionLeaderEpoch(4) magic(1) crc(4) attributes(2) lastOffsetDelta(4) ...
const BATCH_LENGTH_OFFSET: usize = 8;
const MAGIC_OFFSET: usize = 16;
const ATTRIBUTES_OFFSET: usize = 21;
const LAST_OFFSET_DELTA_OFFSET: usize = 23;
const RECORD_COUNT_OFFSET: usize = 57;
const BATCH_HEADER_BYTES: usize = 61;
/// A record's framing around its key and value, about (varint lengths, deltas).
const RECORD_OVERHEAD_BYTES: usize = 16;
/// The smallest record: length, attributes, timestamp/offset deltas, key and value
/// lengths and header count, one byte each.
const RECORD_BYTES_MIN: usize = 7;
/// baseOffset and batchLength come before what batchLength counts.
const LOG_OVERHEAD: usize = 12;

/// What one partition's fetched record bytes hold.
#[derive(Debug, Default)]
pub struct Decoded {
    /// Data records at or after the fetch offset, in offset order (control records left out).
    pub records: Vec<Record>,
    /// The offset after the last whole batch, or None if there was none.
    pub next_offset: Option<i64>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record batch at offset {offset} uses message format v{magic}, which this client does not read")]
    LegacyFormat { offset: i64, magic: i8 },
    #[error("corrupt record batch at offset {offset}: {reason}")]
    Corrupt { offset: i64, reason: String },
}

/// Decodes the whole batches in a fetch response's record bytes. A partial batch at the
/// end (brokers cut at the size limit) is left for the next fetch. Records before
/// `from_offset` are dropped: a fetch may start mid-batch, and a compressed batch comes
/// back whole.
/// `aborted` lists a read_committed fetch's aborted transactions, (producer id, first
/// offset): a transactional record of such a producer from its first offset up to the
/// producer's abort marker is left out, as Kafka's consumer leaves it out.
pub fn decode_batches(
    mut bytes: Bytes,
    from_offset: i64,
    aborted: &[(i64, i64)],
) -> Result<Decoded, DecodeError> {
    let mut decoded = Decoded::default();
    let mut starting: Vec<(i64, i64)> = aborted.to_vec();
    starting.sort_by_key(|&(_, first)| std::cmp::Reverse(first));
    let mut aborting: std::collections::HashSet<i64> = std::collections::HashSet::new();
    while bytes.len() >= LOG_OVERHEAD {
        let base_offset = (&bytes[..8]).get_i64();
        let length = (&bytes[BATCH_LENGTH_OFFSET..LOG_OVERHEAD]).get_i32();
        let corrupt = |reason: String| DecodeError::Corrupt {
            offset: base_offset,
            reason,
        };
        if length < 0 {
            return Err(corrupt(format!("negative batch length {length}")));
        }
        let total = LOG_OVERHEAD + length as usize;
        if bytes.len() < total {
            break;
        }
        let mut batch = bytes.split_to(total);
        if total <= MAGIC_OFFSET {
            return Err(corrupt(format!("batch of {total} bytes")));
        }
        let magic = batch[MAGIC_OFFSET] as i8;
        if magic != 2 {
            return Err(DecodeError::LegacyFormat {
                offset: base_offset,
                magic,
            });
        }
        if total < BATCH_HEADER_BYTES {
            return Err(corrupt(format!("batch of {total} bytes")));
        }
        let last_offset_delta =
            (&batch[LAST_OFFSET_DELTA_OFFSET..LAST_OFFSET_DELTA_OFFSET + 4]).get_i32();
        let count = (&batch[RECORD_COUNT_OFFSET..BATCH_HEADER_BYTES]).get_i32();
        let compressed = batch[ATTRIBUTES_OFFSET + 1] & 0x07 != 0;
        // The decoder sizes its record vector from the count before reading a record:
        // a count no batch can hold is refused here (offsets in a batch are distinct and
        // at most base + lastOffsetDelta; uncompressed records take bytes each).
        let most = i64::from(last_offset_delta) + 1;
        let fits = compressed
            || usize::try_from(count)
                .is_ok_and(|n| n.saturating_mul(RECORD_BYTES_MIN) <= total - BATCH_HEADER_BYTES);
        if count < 0 || i64::from(count) > most || !fits {
            return Err(corrupt(format!(
                "record count {count} with last offset delta {last_offset_delta} in {total} bytes"
            )));
        }
        let set = RecordBatchDecoder::decode(&mut batch).map_err(|e| corrupt(format!("{e:#}")))?;
        for record in set.records {
            while let Some(&(producer, _)) =
                starting.last().filter(|(_, first)| *first <= record.offset)
            {
                aborting.insert(producer);
                starting.pop();
            }
            let aborted = record.transactional && aborting.contains(&record.producer_id);
            if record.control {
                // An abort marker (control type 0) ends the producer's aborted run.
                if aborted
                    && record
                        .key
                        .as_deref()
                        .is_some_and(|k| k.get(2..4) == Some(&[0, 0]))
                {
                    aborting.remove(&record.producer_id);
                }
                continue;
            }
            if !aborted && record.offset >= from_offset {
                decoded.records.push(record);
            }
        }
        decoded.next_offset = Some(
            base_offset
                .saturating_add(i64::from(last_offset_delta))
                .saturating_add(1),
        );
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(n: usize) -> Vec<NewRecord> {
        (0..n)
            .map(|i| NewRecord {
                key: (i % 2 == 0).then(|| Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(format!("value {i} {}", "x".repeat(i)))),
                timestamp: 1_700_000_000_000 + i as i64,
                headers: vec![
                    ("h".into(), Some(Bytes::from_static(b"v"))),
                    ("n".into(), None),
                ],
            })
            .collect()
    }

    /// A batch as a broker would store it: base offset patched in (outside the CRC).
    fn at_offset(batch: Bytes, base: i64) -> Bytes {
        let mut b = BytesMut::from(&batch[..]);
        b[..8].copy_from_slice(&base.to_be_bytes());
        b.freeze()
    }

    #[test]
    fn round_trips_every_codec() {
        for codec in CODECS {
            let sent = records(20);
            let batch = at_offset(encode_batch(&sent, codec).unwrap(), 100);
            let got = decode_batches(batch, 0, &[]).unwrap();
            assert_eq!(got.next_offset, Some(120), "{codec:?}");
            assert_eq!(got.records.len(), 20);
            for (i, (r, s)) in got.records.iter().zip(&sent).enumerate() {
                assert_eq!(r.offset, 100 + i as i64);
                assert_eq!(
                    (&r.key, &r.value, r.timestamp),
                    (&s.key, &s.value, s.timestamp)
                );
                assert_eq!(r.headers.len(), 2);
            }
        }
    }

    #[test]
    fn read_committed_leaves_out_aborted_transactions_up_to_their_markers() {
        let txn = |id: i64| ProducerFields {
            id,
            epoch: 0,
            base_sequence: 0,
            transactional: true,
        };
        let marker = |id: i64, commit: bool| {
            Bytes::from(crate::storage::batch::control_batch(
                id, 0, 0, commit, 1_000,
            ))
        };
        // 0-1: producer 7's aborted writes, 2: its abort marker, 3-4: its next
        // transaction, 5: committed, 6-7: producer 8's open transaction.
        let parts = [
            (
                encode_batch_as(&records(2), Compression::None, Some(txn(7))).unwrap(),
                0,
            ),
            (marker(7, false), 2),
            (
                encode_batch_as(&records(2), Compression::Lz4, Some(txn(7))).unwrap(),
                3,
            ),
            (marker(7, true), 5),
            (
                encode_batch_as(&records(2), Compression::None, Some(txn(8))).unwrap(),
                6,
            ),
        ];
        let mut log = BytesMut::new();
        for (batch, base) in parts {
            log.extend_from_slice(&at_offset(batch, base));
        }
        let offsets = |aborted: &[(i64, i64)]| {
            let got = decode_batches(log.clone().freeze(), 0, aborted).unwrap();
            got.records.iter().map(|r| r.offset).collect::<Vec<_>>()
        };
        assert_eq!(offsets(&[(7, 0)]), [3, 4, 6, 7]);
        assert_eq!(
            offsets(&[]),
            [0, 1, 3, 4, 6, 7],
            "read_uncommitted sees all"
        );
    }

    #[test]
    fn skips_records_before_the_fetch_offset_and_keeps_partial_batches_for_later() {
        let first = at_offset(encode_batch(&records(5), Compression::Gzip).unwrap(), 0);
        let second = at_offset(encode_batch(&records(5), Compression::None).unwrap(), 5);
        let mut both = BytesMut::from(&first[..]);
        both.extend_from_slice(&second[..second.len() - 3]);
        let got = decode_batches(both.freeze(), 3, &[]).unwrap();
        assert_eq!(
            got.records.iter().map(|r| r.offset).collect::<Vec<_>>(),
            [3, 4]
        );
        assert_eq!(got.next_offset, Some(5));
        assert!(decode_batches(Bytes::from_static(&[0; 11]), 0, &[])
            .unwrap()
            .next_offset
            .is_none());
    }

    #[test]
    fn rejects_corruption_and_legacy_formats() {
        let batch = at_offset(encode_batch(&records(3), Compression::None).unwrap(), 7);
        let mut flipped = BytesMut::from(&batch[..]);
        let last = flipped.len() - 1;
        flipped[last] ^= 0xff;
        assert!(matches!(
            decode_batches(flipped.freeze(), 0, &[]),
            Err(DecodeError::Corrupt { offset: 7, .. })
        ));
        let mut legacy = BytesMut::from(&batch[..]);
        legacy[MAGIC_OFFSET] = 1;
        assert_eq!(
            decode_batches(legacy.freeze(), 0, &[]).unwrap_err(),
            DecodeError::LegacyFormat {
                offset: 7,
                magic: 1
            }
        );
        let mut negative = BytesMut::from(&batch[..]);
        negative[8..12].copy_from_slice(&(-5i32).to_be_bytes());
        assert!(decode_batches(negative.freeze(), 0, &[]).is_err());
        for count in [-1, 4, i32::MAX] {
            let mut counted = BytesMut::from(&batch[..]);
            counted[RECORD_COUNT_OFFSET..BATCH_HEADER_BYTES].copy_from_slice(&count.to_be_bytes());
            reseal(&mut counted);
            assert!(
                matches!(
                    decode_batches(counted.freeze(), 0, &[]),
                    Err(DecodeError::Corrupt { .. })
                ),
                "count {count}"
            );
        }
    }

    /// Recomputes a batch's CRC-32C (attributes to the end) after its bytes changed.
    fn reseal(batch: &mut [u8]) {
        let crc = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
        batch[MAGIC_OFFSET + 1..ATTRIBUTES_OFFSET].copy_from_slice(&crc.to_be_bytes());
    }

    use crate::storage::batch::tests::CODECS;

    proptest::proptest! {
        /// Garbage where the records are, under a valid CRC (a broker could send that):
        /// decoding fails or succeeds, and never panics.
        #[test]
        fn garbage_records_under_a_valid_crc_never_panic(
            codec in 0..CODECS.len(),
            edits in proptest::collection::vec(
                (proptest::prelude::any::<proptest::sample::Index>(), proptest::prelude::any::<u8>()),
                1..24,
            ),
            cut in proptest::prelude::any::<proptest::sample::Index>(),
        ) {
            let batch = at_offset(encode_batch(&records(12), CODECS[codec]).unwrap(), 0);
            let mut b = BytesMut::from(&batch[..]);
            let body = b.len() - BATCH_HEADER_BYTES;
            for (at, byte) in edits {
                b[BATCH_HEADER_BYTES + at.index(body)] = byte;
            }
            // A shorter batch that says so: its length field follows the cut.
            let keep = BATCH_HEADER_BYTES + cut.index(body + 1);
            b.truncate(keep);
            let length = (keep - LOG_OVERHEAD) as i32;
            b[BATCH_LENGTH_OFFSET..LOG_OVERHEAD].copy_from_slice(&length.to_be_bytes());
            reseal(&mut b);
            let _ = decode_batches(b.freeze(), 0, &[]);
        }
    }
}
