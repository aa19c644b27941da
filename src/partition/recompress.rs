//! A topic's `compression.type` applied on append, as Kafka's LogValidator applies it: a
//! batch a client sent with another codec is decoded and encoded again with the
//! topic's, its records, offset deltas, timestamps and producer fields unchanged.
//! `producer` (the default) keeps what the client sent, so batches are stored as sent,
//! and served with sendfile as sent, unless an operator asks otherwise.

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::records::{Compression, RecordBatchEncoder, RecordEncodeOptions};

use crate::config::CompressionType;
use crate::error::ApiError;
use crate::storage::decode::decode_all;
use crate::storage::BatchInfo;

/// The codec `batches` must be written again with under `target`, when any of them was
/// sent with another; `None` when they are kept as sent.
pub(crate) fn needed(target: CompressionType, infos: &[BatchInfo]) -> Option<Compression> {
    let (codec, id) = match target {
        CompressionType::Producer => return None,
        CompressionType::Uncompressed => (Compression::None, 0),
        CompressionType::Gzip => (Compression::Gzip, 1),
        CompressionType::Snappy => (Compression::Snappy, 2),
        CompressionType::Lz4 => (Compression::Lz4, 3),
        CompressionType::Zstd => (Compression::Zstd, 4),
    };
    infos.iter().any(|info| info.codec != id).then_some(codec)
}

/// `batches` (validated whole batches) encoded again with `codec`.
pub(crate) fn recompress(batches: &[u8], codec: Compression) -> Result<Bytes, ApiError> {
    let invalid = |what: &str, error: anyhow::Error| {
        ApiError::new(ResponseError::InvalidRecord, format!("{what}: {error}"))
    };
    let sets = decode_all(batches).map_err(|e| invalid("cannot read the batch's records", e))?;
    let mut out = BytesMut::with_capacity(batches.len());
    let options = RecordEncodeOptions {
        version: 2,
        compression: codec,
    };
    for set in &sets {
        RecordBatchEncoder::encode(&mut out, &set.records, &options)
            .map_err(|e| invalid("cannot compress the batch's records again", e))?;
    }
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::records::{encode_batch_as, NewRecord, ProducerFields};
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
            let stored = recompress(&sent, codec).unwrap();
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
            let (old, new) = (decode_all(&sent).unwrap(), decode_all(&stored).unwrap());
            assert_eq!(old[0].records, new[0].records, "{target}");
        }
    }

    #[test]
    fn records_that_do_not_decode_are_refused_as_invalid() {
        let mut sent = encode_batch_as(&records(3), Compression::Gzip, None)
            .unwrap()
            .to_vec();
        let last = sent.len() - 1;
        sent[last] ^= 0xff;
        let error = recompress(&sent, Compression::Zstd).unwrap_err();
        assert_eq!(error.code, ResponseError::InvalidRecord);
    }
}
