//! Record batches the broker itself decodes (ListOffsets by time, compaction, the
//! checks of produced records, the offsets topic), with the decompressed size bounded.
//! kafka-protocol's own decoders inflate a batch without limit, so a small "bomb"
//! (a megabyte of zstd that expands to gigabytes) would exhaust memory; here every codec
//! reads through a bound and a batch beyond it is an error.

use std::io::Read;

use anyhow::{ensure, Context};
use bytes::Bytes;
use kafka_protocol::records::{Compression, RecordBatchDecoder, RecordSet};

/// Bytes one batch may decompress to. Kafka has no such bound (it decompresses as a
/// stream); 64 MiB is 64 times the default `message.max.bytes`.
pub const DECOMPRESSED_BYTES_MAX: usize = 64 << 20;

/// xerial snappy-java's stream header, which Kafka's Java clients write.
const SNAPPY_XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";
const SNAPPY_XERIAL_HEADER_BYTES: usize = 16;

/// Decodes one whole batch.
pub fn decode(batch: &[u8]) -> anyhow::Result<RecordSet> {
    let mut buf = Bytes::copy_from_slice(batch);
    RecordBatchDecoder::decode_with_custom_compression(&mut buf, Some(bounded))
}

/// Decodes every batch of `batches` (whole batches, as validated).
pub fn decode_all(batches: &[u8]) -> anyhow::Result<Vec<RecordSet>> {
    let mut buf = Bytes::copy_from_slice(batches);
    let mut sets = Vec::new();
    while !buf.is_empty() {
        sets.push(RecordBatchDecoder::decode_with_custom_compression(
            &mut buf,
            Some(bounded),
        )?);
    }
    Ok(sets)
}

fn bounded(payload: &mut Bytes, codec: Compression) -> anyhow::Result<Bytes> {
    let input = payload.split_to(payload.len());
    let max = DECOMPRESSED_BYTES_MAX;
    let output = match codec {
        Compression::None => return Ok(input),
        Compression::Gzip => read_bounded(flate2::read::MultiGzDecoder::new(&input[..]), max)?,
        Compression::Zstd => read_bounded(zstd::stream::read::Decoder::new(&input[..])?, max)?,
        Compression::Lz4 => read_bounded(lz4::Decoder::new(&input[..])?, max)?,
        Compression::Snappy => snappy(&input, max)?,
    };
    Ok(Bytes::from(output))
}

fn read_bounded(reader: impl Read, max: usize) -> anyhow::Result<Vec<u8>> {
    let mut output = Vec::new();
    reader
        .take(max as u64 + 1)
        .read_to_end(&mut output)
        .context("corrupt compressed records")?;
    ensure!(
        output.len() <= max,
        "records decompress to more than {max} bytes"
    );
    Ok(output)
}

/// Raw snappy, or xerial's framing of it (a header, then length-prefixed blocks).
fn snappy(input: &[u8], max: usize) -> anyhow::Result<Vec<u8>> {
    let mut decoder = snap::raw::Decoder::new();
    if !input.starts_with(SNAPPY_XERIAL_MAGIC) {
        let length = snap::raw::decompress_len(input)?;
        ensure!(length <= max, "records decompress to more than {max} bytes");
        return Ok(decoder.decompress_vec(input)?);
    }
    let mut rest = input.get(SNAPPY_XERIAL_HEADER_BYTES..).unwrap_or_default();
    let mut output = Vec::new();
    while !rest.is_empty() {
        ensure!(rest.len() >= 4, "truncated snappy block length");
        let (length, tail) = rest.split_at(4);
        let length = u32::from_be_bytes([length[0], length[1], length[2], length[3]]) as usize;
        ensure!(tail.len() >= length, "truncated snappy block");
        let (block, tail) = tail.split_at(length);
        let inflated = snap::raw::decompress_len(block)?;
        ensure!(
            output.len().saturating_add(inflated) <= max,
            "records decompress to more than {max} bytes"
        );
        output.extend_from_slice(&decoder.decompress_vec(block)?);
        rest = tail;
    }
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::records::{encode_batch, NewRecord};

    #[test]
    fn every_codec_decodes_within_the_bound() {
        let records: Vec<NewRecord> = (0..50)
            .map(|i| NewRecord {
                key: Some(Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(vec![b'v'; 1000])),
                timestamp: i,
                headers: Vec::new(),
            })
            .collect();
        for codec in crate::storage::batch::tests::CODECS {
            let batch = encode_batch(&records, codec).expect("encode");
            let set = decode(&batch).expect("decode");
            assert_eq!(set.records.len(), 50, "{codec:?}");
            assert_eq!(set.records[49].value.as_deref(), Some(&[b'v'; 1000][..]));
        }
    }

    #[test]
    fn offsets_and_timestamps_past_i64_wrap_as_in_kafka() {
        let records: Vec<NewRecord> = (0..2)
            .map(|i| NewRecord {
                key: None,
                value: Some(Bytes::from_static(b"v")),
                timestamp: i * 5,
                headers: Vec::new(),
            })
            .collect();
        let mut batch = encode_batch(&records, Compression::None)
            .expect("encode")
            .to_vec();
        // A hostile producer's header: the base offset and first timestamp at i64::MAX,
        // so the second record's deltas overflow. The CRC covers the timestamp.
        batch[0..8].copy_from_slice(&i64::MAX.to_be_bytes());
        batch[27..35].copy_from_slice(&i64::MAX.to_be_bytes());
        let crc = crc32c::crc32c(&batch[21..]);
        batch[17..21].copy_from_slice(&crc.to_be_bytes());
        let set = decode(&batch).expect("decodes, as Kafka's Java decoder does");
        assert_eq!(set.records[1].offset, i64::MIN);
        assert_eq!(set.records[1].timestamp, i64::MIN + 4);
    }

    #[test]
    fn a_batch_that_inflates_past_the_bound_is_refused() {
        let value = Bytes::from(vec![0u8; DECOMPRESSED_BYTES_MAX + 1]);
        let record = NewRecord {
            key: Some(Bytes::from_static(b"bomb")),
            value: Some(value),
            timestamp: 0,
            headers: Vec::new(),
        };
        for codec in [
            Compression::Gzip,
            Compression::Zstd,
            Compression::Lz4,
            Compression::Snappy,
        ] {
            let batch = encode_batch(std::slice::from_ref(&record), codec).expect("encode");
            // Snappy gains about 20 times on zeros, the others far more.
            assert!(
                batch.len() < DECOMPRESSED_BYTES_MAX / 10,
                "{codec:?} compresses zeros"
            );
            let error = decode(&batch).expect_err("over the bound");
            assert!(
                format!("{error:#}").contains("more than"),
                "{codec:?}: {error:#}"
            );
        }
    }
}
