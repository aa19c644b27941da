//! A topic's `compression.type` applied on append, as Kafka's LogValidator applies it: a
//! batch a client sent with another codec is decoded and encoded again with the
//! topic's, its records, offset deltas, timestamps and producer fields unchanged.
//! `producer` (the default) keeps what the client sent, so batches are stored as sent,
//! and served with sendfile as sent, unless an operator asks otherwise.

use bytes::{Bytes, BytesMut};
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

/// The decoded records of a produced batch, `sets`, encoded again with `codec`.
pub(crate) fn encode(sets: &[RecordSet], codec: Compression) -> Result<Bytes, ApiError> {
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
    for set in sets {
        RecordBatchEncoder::encode(&mut out, &set.records, &options).map_err(|error| {
            let message = format!("cannot compress the batch's records again: {error}");
            ApiError::new(ResponseError::InvalidRecord, message)
        })?;
    }
    Ok(out.freeze())
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
            let stored = encode(&decode(&sent).unwrap(), codec).unwrap();
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
