//! A bench producer's batch, filled record by record: each record is encoded (magic 2, no
//! headers) as it is made, straight into the bytes the batch will send.
//!
//! `client::records::encode_batch` (kafka-protocol's encoder) takes a finished list of
//! records, each with its own key and value buffers and header map; at the harness's
//! rates that bookkeeping cost more CPU than the encoding, and the harness's CPU per MB is
//! one of the numbers it reports (it shares the machine with the broker it measures).
//! The batch is decoded back by kafka-protocol in the tests.

use anyhow::Result;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};
use kafka_protocol::records::Compression;
use zerocopy::byteorder::big_endian::{I16, I32, I64, U32};
use zerocopy::IntoBytes;

use crate::client::records::ProducerFields;
use crate::protocol::fetch::put_uvarint;
use crate::storage::batch::{batch_crc, BatchHeader, HEADER_BYTES, LOG_OVERHEAD};

/// A batch's transactional flag (in its attributes).
const TRANSACTIONAL: i16 = 0x10;

pub struct BatchBuilder {
    /// Room for the batch header, then the records back to back, uncompressed: an
    /// uncompressed batch is sent from this buffer as it is.
    buf: BytesMut,
    count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
}

impl BatchBuilder {
    /// A builder with room for about `bytes` of records, so that filling it does not
    /// copy it again and again as it grows.
    pub fn with_capacity(bytes: usize) -> BatchBuilder {
        let mut buf = BytesMut::with_capacity(HEADER_BYTES + bytes);
        buf.resize(HEADER_BYTES, 0);
        BatchBuilder {
            buf,
            count: 0,
            base_timestamp: 0,
            max_timestamp: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Adds a record whose value is `value`'s parts one after another.
    pub fn push(&mut self, key: Option<&[u8]>, value: &[&[u8]], timestamp: i64) {
        if self.count == 0 {
            self.base_timestamp = timestamp;
            self.max_timestamp = timestamp;
        }
        self.max_timestamp = self.max_timestamp.max(timestamp);
        let timestamp_delta = timestamp - self.base_timestamp;
        let key_length = key.map_or(-1, |k| k.len() as i64);
        let value_length: usize = value.iter().map(|part| part.len()).sum();
        // attributes, the deltas, both lengths, the bytes, and a header count of 0.
        let body = 1
            + varint_len(timestamp_delta)
            + varint_len(i64::from(self.count))
            + varint_len(key_length)
            + key.map_or(0, <[u8]>::len)
            + varint_len(value_length as i64)
            + value_length
            + 1;
        let buf = &mut self.buf;
        buf.reserve(varint_len(body as i64) + body);
        put_varint(buf, body as i64);
        buf.put_u8(0);
        put_varint(buf, timestamp_delta);
        put_varint(buf, i64::from(self.count));
        put_varint(buf, key_length);
        if let Some(key) = key {
            buf.put_slice(key);
        }
        put_varint(buf, value_length as i64);
        for part in value {
            buf.put_slice(part);
        }
        put_varint(buf, 0);
        self.count += 1;
    }

    /// The batch: offsets from 0, records compressed with `compression`, written by
    /// `producer` when given (else with no producer id).
    pub fn finish(
        self,
        compression: Compression,
        producer: Option<ProducerFields>,
    ) -> Result<Bytes> {
        let mut batch = match compression {
            Compression::None => self.buf,
            codec => compressed(&self.buf[HEADER_BYTES..], codec)?,
        };
        let producer = producer.unwrap_or(ProducerFields {
            id: -1,
            epoch: -1,
            base_sequence: -1,
            transactional: false,
        });
        // The codec, the transactional flag; the timestamps are CreateTime.
        let attributes = compression as i16
            | if producer.transactional {
                TRANSACTIONAL
            } else {
                0
            };
        let mut header = BatchHeader {
            base_offset: I64::new(0),
            batch_length: I32::new((batch.len() - LOG_OVERHEAD) as i32),
            partition_leader_epoch: I32::new(-1),
            magic: 2,
            crc: U32::new(0),
            attributes: I16::new(attributes),
            last_offset_delta: I32::new(self.count - 1),
            base_timestamp: I64::new(self.base_timestamp),
            max_timestamp: I64::new(self.max_timestamp),
            producer_id: I64::new(producer.id),
            producer_epoch: I16::new(producer.epoch),
            base_sequence: I32::new(producer.base_sequence),
            records_count: I32::new(self.count),
        };
        header.crc = U32::new(batch_crc(&header, &batch[HEADER_BYTES..]));
        batch[..HEADER_BYTES].copy_from_slice(header.as_bytes());
        Ok(batch.freeze())
    }
}

impl Default for BatchBuilder {
    fn default() -> BatchBuilder {
        BatchBuilder::with_capacity(0)
    }
}

/// Room for a batch header, then `records` compressed with `codec`.
fn compressed(records: &[u8], codec: Compression) -> Result<BytesMut> {
    let mut out = BytesMut::with_capacity(HEADER_BYTES + records.len());
    out.resize(HEADER_BYTES, 0);
    let copy = |tmp: &mut BytesMut| {
        tmp.put_slice(records);
        Ok(())
    };
    match codec {
        Compression::None => out.put_slice(records),
        Compression::Gzip => Gzip::compress(&mut out, copy)?,
        Compression::Snappy => Snappy::compress(&mut out, copy)?,
        Compression::Lz4 => Lz4::compress(&mut out, copy)?,
        Compression::Zstd => Zstd::compress(&mut out, copy)?,
    }
    Ok(out)
}

/// `value` zigzag encoded, as the record format's signed varints are.
fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// Bytes of `value` as a zigzag varint.
fn varint_len(value: i64) -> usize {
    (64 - (zigzag(value) | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_varint(out: &mut BytesMut, value: i64) {
    put_uvarint(out, zigzag(value));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::records::decode_batches;

    #[test]
    fn varint_lengths_match_what_is_written() {
        for value in [
            0,
            1,
            -1,
            63,
            -64,
            64,
            -65,
            8191,
            8192,
            i64::from(i32::MAX),
            i64::MIN,
            i64::MAX,
        ] {
            let mut out = BytesMut::new();
            put_varint(&mut out, value);
            assert_eq!(out.len(), varint_len(value), "{value}");
        }
    }

    #[test]
    fn a_built_batch_decodes_to_its_records_with_every_codec() {
        let value = vec![7u8; 300];
        for compression in crate::storage::batch::tests::CODECS {
            let mut builder = BatchBuilder::default();
            builder.push(Some(b"k0"), &[b"head", &value], 1_000);
            builder.push(None, &[&value], 900);
            builder.push(Some(b""), &[], 1_200);
            assert_eq!(builder.len(), 3);
            let batch = builder.finish(compression, None).unwrap();
            // The broker's own check: framing, CRC, record count.
            let infos = crate::storage::batch::validate(&batch, usize::MAX).unwrap();
            assert_eq!(infos.len(), 1);
            let decoded = decode_batches(batch, 0, &[]).unwrap();
            let records = &decoded.records;
            assert_eq!(records.len(), 3, "{compression:?}");
            let offsets: Vec<i64> = records.iter().map(|r| r.offset).collect();
            assert_eq!(offsets, [0, 1, 2]);
            let timestamps: Vec<i64> = records.iter().map(|r| r.timestamp).collect();
            assert_eq!(timestamps, [1_000, 900, 1_200]);
            assert_eq!(records[0].key.as_deref(), Some(&b"k0"[..]));
            assert_eq!(records[0].value.as_deref().unwrap()[..4], *b"head");
            assert_eq!(records[0].value.as_deref().unwrap()[4..], value[..]);
            assert_eq!(records[1].key, None);
            assert_eq!(records[1].value.as_deref(), Some(&value[..]));
            assert_eq!(records[2].key.as_deref(), Some(&b""[..]));
            assert_eq!(records[2].value.as_deref(), Some(&b""[..]));
        }
    }
}
