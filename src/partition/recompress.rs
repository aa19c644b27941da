//! A topic's `compression.type` applied on append, as Kafka's LogValidator applies it: a
//! batch a client sent with another codec is decoded and encoded again with the
//! topic's, its records, timestamps and producer fields unchanged and its records'
//! offsets 0, 1, 2 ... `producer` (the default) keeps what the client sent, so batches
//! are stored as sent, and served with sendfile as sent, unless an operator asks
//! otherwise. A compressed batch whose records' offsets are not 0, 1, 2 ... is written
//! again with its own codec, as Kafka writes it (some older clients number them so),
//! when its records are decoded anyway (`record_check`).

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

/// The codec of a compressed batch in `sets` whose records' offsets are not 0, 1, 2 ...,
/// which Kafka writes again with that codec at its default level.
pub(crate) fn misnumbered(sets: &[RecordSet]) -> Option<(Compression, i32)> {
    let set = sets.iter().find(|set| {
        let numbered = (0..)
            .zip(&set.records)
            .all(|(i, r): (i64, _)| r.offset == i);
        set.compression != Compression::None && !numbered
    })?;
    // Kafka's codecs' default levels (its `compression.*.level` defaults).
    let level = match set.compression {
        Compression::Lz4 => 9,
        Compression::Zstd => 3,
        _ => -1,
    };
    Some((set.compression, level))
}

/// The decoded records of a produced batch, `sets`, encoded again with `codec` at
/// `level` (KIP-390's `compression.*.level`; gzip's -1 is zlib's default), numbered
/// 0, 1, 2 ... as Kafka numbers a batch it writes again.
pub(crate) fn encode(
    mut sets: Vec<RecordSet>,
    codec: Compression,
    level: i32,
) -> Result<Bytes, ApiError> {
    for set in &mut sets {
        // A client's batch starts at offset 0, so each record's sequence is the batch's
        // base sequence plus its offset; kept so, the records stay one batch.
        let base_sequence = set
            .records
            .first()
            .map_or(0, |r| r.sequence.wrapping_sub(r.offset as i32));
        for (i, record) in (0..).zip(&mut set.records) {
            record.offset = i64::from(i);
            record.sequence = base_sequence.wrapping_add(i);
        }
    }
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
    for set in &sets {
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
            let stored = encode(decode(&sent).unwrap(), codec, 0).unwrap();
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
            let fast = encode(sets.clone(), codec, low).unwrap();
            let small = encode(sets.clone(), codec, high).unwrap();
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
        assert!(encode(sets, Compression::Gzip, -1).is_ok());
    }

    #[test]
    fn a_compressed_batch_numbered_otherwise_is_written_again_with_its_codec_from_0() {
        let producer = ProducerFields {
            id: 42,
            epoch: 3,
            base_sequence: 7,
            transactional: false,
        };
        let sent = encode_batch_as(&records(3), Compression::Gzip, Some(producer)).unwrap();
        assert_eq!(misnumbered(&decode(&sent).unwrap()), None);
        let plain = encode_batch_as(&records(3), Compression::None, None).unwrap();
        let mut plain = decode(&plain).unwrap();
        plain[0].records[1].offset = 0;
        assert_eq!(
            misnumbered(&plain),
            None,
            "uncompressed records are not renumbered"
        );
        // Offsets 0, 0, 2 (the encoder keeps offset minus sequence, so one batch).
        let mut sets = decode(&sent).unwrap();
        sets[0].records[1].offset = 0;
        sets[0].records[1].sequence = 7;
        let (codec, level) = misnumbered(&sets).expect("misnumbered");
        assert_eq!((codec, level), (Compression::Gzip, -1));
        let stored = encode(sets, codec, level).unwrap();
        let infos = batch::validate(&stored, usize::MAX).unwrap();
        assert_eq!(infos.len(), 1);
        assert_eq!(
            (
                infos[0].codec,
                infos[0].records_count,
                infos[0].base_sequence
            ),
            (1, 3, 7)
        );
        let again = decode(&stored).unwrap();
        let offsets: Vec<i64> = again[0].records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, [0, 1, 2]);
        assert_eq!(
            again[0].records[1].key,
            decode(&sent).unwrap()[0].records[1].key
        );
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
