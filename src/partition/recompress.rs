//! A topic's `compression.type` applied on append, as Kafka's LogValidator applies it: a
//! batch a client sent with another codec is decoded and encoded again with the
//! topic's, its records, offset deltas, timestamps and producer fields unchanged.
//! `producer` (the default) keeps what the client sent, so batches are stored as sent,
//! and served with sendfile as sent, unless an operator asks otherwise.

use std::io::Write;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::compression::{self as codecs, Compressor};
use kafka_protocol::error::ResponseError;
use kafka_protocol::records::{Compression, RecordBatchEncoder, RecordEncodeOptions, RecordSet};

use crate::config::CompressionType;
use crate::error::ApiError;
use crate::storage::BatchInfo;

/// A batch's header and its records' framing, about.
const BATCH_OVERHEAD_BYTES: usize = 256;

/// The codec `batches` must be written again with under `target`, when any of them was
/// sent with another; `None` when they are kept as sent.
pub(crate) fn needed(target: CompressionType, infos: &[BatchInfo]) -> Option<Compression> {
    let codec = match target {
        CompressionType::Producer => return None,
        CompressionType::Uncompressed => Compression::None,
        CompressionType::Gzip => Compression::Gzip,
        CompressionType::Snappy => Compression::Snappy,
        CompressionType::Lz4 => Compression::Lz4,
        CompressionType::Zstd => Compression::Zstd,
    };
    // kafka-protocol's codecs are numbered as the batch attribute numbers them.
    infos
        .iter()
        .any(|info| info.codec != codec as i16)
        .then_some(codec)
}

/// The decoded records of a produced batch, `sets`, encoded again with `codec` at
/// `level` (KIP-390's `compression.*.level`; gzip's -1 is zlib's default).
pub(crate) fn encode(
    sets: &[RecordSet],
    codec: Compression,
    level: i32,
) -> Result<Bytes, ApiError> {
    let size: usize = sets
        .iter()
        .flat_map(|set| &set.records)
        .map(|r| r.key.as_ref().map_or(0, Bytes::len) + r.value.as_ref().map_or(0, Bytes::len))
        .sum();
    let mut out = BytesMut::with_capacity(size + BATCH_OVERHEAD_BYTES);
    let options = RecordEncodeOptions {
        version: 2,
        compression: codec,
    };
    let compressor =
        |records: &mut BytesMut, out: &mut BytesMut, codec| compress(records, out, codec, level);
    for set in sets {
        RecordBatchEncoder::encode_with_custom_compression(
            &mut out,
            &set.records,
            &options,
            Some(compressor),
        )
        .map_err(|error| {
            let message = format!("cannot compress the batch's records again: {error}");
            ApiError::new(ResponseError::InvalidRecord, message)
        })?;
    }
    Ok(out.freeze())
}

/// Compresses a batch's encoded records into `out` as kafka-protocol's codecs do, at
/// `level` where the codec has one.
fn compress(
    records: &mut BytesMut,
    out: &mut BytesMut,
    codec: Compression,
    level: i32,
) -> anyhow::Result<()> {
    let raw = |tmp: &mut BytesMut| {
        tmp.extend_from_slice(records);
        Ok(())
    };
    match codec {
        Compression::None => codecs::None::compress(out, raw),
        Compression::Snappy => codecs::Snappy::compress(out, raw),
        Compression::Gzip => {
            let level = match u32::try_from(level) {
                Ok(level) => flate2::Compression::new(level),
                Err(_) => flate2::Compression::default(),
            };
            let mut encoder = flate2::write::GzEncoder::new(out.writer(), level);
            encoder.write_all(records)?;
            encoder.finish()?;
            Ok(())
        }
        Compression::Lz4 => {
            let mut encoder = lz4::EncoderBuilder::new()
                .level(level.max(0) as u32)
                .block_mode(lz4::BlockMode::Independent)
                .build(out.writer())?;
            encoder.write_all(records)?;
            encoder.finish().1?;
            Ok(())
        }
        Compression::Zstd => {
            zstd::stream::copy_encode(&records[..], out.writer(), level)?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::records::{encode_batch_as, NewRecord, ProducerFields};
    use crate::partition::record_check::decode;
    use crate::storage::batch;

    fn records(count: usize) -> Vec<NewRecord> {
        (0..count)
            .map(|i| NewRecord {
                key: Some(Bytes::from(format!("key-{i}"))),
                value: Some(Bytes::from(vec![b'v'; 100 + i])),
                timestamp: 1_700_000_000_000 + i as i64,
                headers: vec![("h".to_string(), Some(Bytes::from_static(b"x")))],
            })
            .collect()
    }

    #[test]
    fn a_batch_is_written_again_with_the_topic_s_codec_and_nothing_else_changes() {
        let producer = ProducerFields {
            id: 42,
            epoch: 3,
            base_sequence: 7,
            transactional: true,
        };
        let sent = encode_batch_as(&records(20), Compression::Lz4, Some(producer)).unwrap();
        let infos = batch::validate(&sent, usize::MAX).unwrap();
        assert_eq!(needed(CompressionType::Producer, &infos), None);
        assert_eq!(needed(CompressionType::Lz4, &infos), None);
        for (target, id) in [
            (CompressionType::Zstd, 4),
            (CompressionType::Gzip, 1),
            (CompressionType::Snappy, 2),
            (CompressionType::Uncompressed, 0),
        ] {
            let codec = needed(target, &infos).expect("another codec");
            let stored = encode(&decode(&sent).unwrap(), codec, 0).unwrap();
            let again = batch::validate(&stored, usize::MAX).unwrap();
            assert_eq!(again.len(), 1);
            let (before, after) = (&infos[0], &again[0]);
            assert_eq!(after.codec, id, "{target}");
            assert_eq!(after.records_count, before.records_count);
            assert_eq!(after.last_offset_delta, before.last_offset_delta);
            assert_eq!(after.max_timestamp, before.max_timestamp);
            assert_eq!(
                (after.producer_id, after.producer_epoch, after.base_sequence),
                (42, 3, 7)
            );
            assert!(after.transactional);
            let (old, new) = (decode(&sent).unwrap(), decode(&stored).unwrap());
            assert_eq!(old[0].records, new[0].records, "{target}");
        }
    }

    #[test]
    fn each_codec_compresses_at_the_level_asked_and_reads_back_the_same() {
        // Text that compresses, and compresses better with more effort.
        let records: Vec<NewRecord> = (0..400)
            .map(|i: u64| NewRecord {
                key: Some(Bytes::from(format!("key-{}", i % 37))),
                value: Some(Bytes::from(format!(
                    "order {i} of customer {} shipped to {} on day {}",
                    i * 7919 % 1000,
                    i * 104_729 % 313,
                    i % 365
                ))),
                timestamp: 1_700_000_000_000 + i as i64,
                headers: Vec::new(),
            })
            .collect();
        let sent = encode_batch_as(&records, Compression::None, None).unwrap();
        let sets = decode(&sent).unwrap();
        for (codec, low, high) in [
            (Compression::Gzip, 1, 9),
            (Compression::Lz4, 1, 12),
            (Compression::Zstd, -5, 19),
        ] {
            let fast = encode(&sets, codec, low).unwrap();
            let small = encode(&sets, codec, high).unwrap();
            assert!(
                small.len() < fast.len(),
                "{codec:?}: level {high} gave {} bytes, level {low} {}",
                small.len(),
                fast.len()
            );
            for stored in [fast, small] {
                assert_eq!(
                    batch::validate(&stored, usize::MAX).unwrap()[0].codec,
                    codec as i16
                );
                assert_eq!(decode(&stored).unwrap()[0].records, sets[0].records);
            }
        }
        // Gzip's -1 is zlib's default level.
        assert!(encode(&sets, Compression::Gzip, -1).is_ok());
    }

    #[test]
    fn records_that_do_not_decompress_are_refused_as_invalid() {
        let mut sent = encode_batch_as(&records(3), Compression::Gzip, None)
            .unwrap()
            .to_vec();
        // Damage the compressed records, not the framing, and seal it with a good CRC,
        // as a client with a broken codec would send it.
        let last = sent.len() - 10;
        sent[last] ^= 0xff;
        let crc = crc32c::crc32c(&sent[21..]);
        sent[17..21].copy_from_slice(&crc.to_be_bytes());
        assert!(batch::validate(&sent, usize::MAX).is_ok());
        let error = decode(&sent).unwrap_err();
        assert_eq!(error.code, ResponseError::InvalidRecord);
    }
}
