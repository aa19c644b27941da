//! Kafka's checks of each record a client produces (its LogValidator): a compacted
//! topic refuses records without a key, and a CreateTime topic refuses timestamps
//! outside `message.timestamp.before.max.ms` / `message.timestamp.after.max.ms`. A batch
//! with such records is refused whole, naming each record (KIP-467's `record_errors`).
//!
//! Batches are stored as clients send them, so decoding (and decompressing) them is
//! paid only when a check needs it: on a compacted topic, with a finite
//! `before.max.ms`, or when a batch's header already shows a timestamp past the
//! `after.max.ms` bound. Records inside bounds never cost a decode under the defaults.

use kafka_protocol::error::ResponseError;

use crate::error::{ApiError, RecordError};
use kafka_protocol::records::RecordSet;

use crate::storage::decode::decode_all;
use crate::storage::BatchInfo;

/// Kafka reports at most this many record errors in the partition's error message.
const ERRORS_IN_MESSAGE_MAX: usize = 3;
/// A record without a timestamp (-1) is not checked, as in Kafka.
const NO_TIMESTAMP: i64 = -1;

/// What a partition checks its records against, at one moment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordRules {
    pub compacted: bool,
    /// `(before.max.ms, after.max.ms)` for a CreateTime topic; `None` for LogAppendTime.
    pub timestamp_bounds: Option<(i64, i64)>,
    pub now_ms: i64,
}

impl RecordRules {
    /// Whether any check needs the records themselves, not just the batch headers.
    pub fn need_records(&self, infos: &[BatchInfo]) -> bool {
        self.compacted
            || self.timestamp_bounds.is_some_and(|(before, after)| {
                before != i64::MAX
                    || infos
                        .iter()
                        .any(|i| i.max_timestamp.saturating_sub(self.now_ms) > after)
            })
    }
}

/// The records of `batches` (validated whole batches), decoded for the checks and for
/// recompression; records that do not decode are INVALID_RECORD.
pub(crate) fn decode(batches: &[u8]) -> Result<Vec<RecordSet>, ApiError> {
    decode_all(batches).map_err(|error| {
        ApiError::new(
            ResponseError::InvalidRecord,
            format!("cannot read the batch's records: {error}"),
        )
    })
}

/// Checks every record of `sets` (a produced batch's, decoded) for `topic_partition`.
pub(crate) fn check(
    sets: &[RecordSet],
    rules: &RecordRules,
    topic_partition: &str,
) -> Result<(), ApiError> {
    let mut errors: Vec<RecordError> = Vec::new();
    let mut bad_timestamp = false;
    for set in sets {
        for (batch_index, record) in set.records.iter().enumerate() {
            let batch_index = i32::try_from(batch_index).unwrap_or(i32::MAX);
            if rules.compacted && record.key.is_none() {
                errors.push(RecordError {
                    batch_index,
                    message: format!(
                        "Compacted topic cannot accept message without key in topic partition {topic_partition}."
                    ),
                });
                continue;
            }
            let Some((before, after)) = rules.timestamp_bounds else {
                continue;
            };
            let age = rules.now_ms.saturating_sub(record.timestamp);
            if record.timestamp != NO_TIMESTAMP && (age > before || -age > after) {
                bad_timestamp = true;
                errors.push(RecordError {
                    batch_index,
                    message: format!(
                        "Timestamp {} of message with offset {} is out of range. The timestamp should be within [{}, {}]",
                        record.timestamp,
                        record.offset,
                        rules.now_ms.saturating_sub(before),
                        rules.now_ms.saturating_add(after),
                    ),
                });
            }
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    // Kafka's messages: one for any timestamp error, else the first three records'.
    let (code, message) = if bad_timestamp {
        (
            ResponseError::InvalidTimestamp,
            "One or more records have been rejected due to invalid timestamp".to_string(),
        )
    } else {
        let shown: Vec<String> = errors
            .iter()
            .take(ERRORS_IN_MESSAGE_MAX)
            .map(|e| {
                format!(
                    "RecordError(batchIndex={}, message='{}')",
                    e.batch_index, e.message
                )
            })
            .collect();
        (
            ResponseError::InvalidRecord,
            format!(
                "One or more records have been rejected due to {} record errors in total, and only \
                 showing the first three errors at most: [{}]",
                errors.len(),
                shown.join(", ")
            ),
        )
    };
    Err(ApiError {
        code,
        message: Some(message),
        record_errors: errors,
    })
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use kafka_protocol::records::Compression;

    use super::*;
    use crate::client::records::{encode_batch, NewRecord};
    use crate::storage::batch;

    const NOW: i64 = 1_700_000_000_000;

    fn record(key: Option<&'static [u8]>, timestamp: i64) -> NewRecord {
        NewRecord {
            key: key.map(Bytes::from_static),
            value: Some(Bytes::from_static(b"v")),
            timestamp,
            headers: Vec::new(),
        }
    }

    fn rules(compacted: bool, timestamp_bounds: Option<(i64, i64)>) -> RecordRules {
        RecordRules {
            compacted,
            timestamp_bounds,
            now_ms: NOW,
        }
    }

    fn refused(records: &[NewRecord], compression: Compression, rules: &RecordRules) -> ApiError {
        let bytes = encode_batch(records, compression).unwrap();
        let infos = batch::validate(&bytes, usize::MAX).unwrap();
        assert!(rules.need_records(&infos));
        check(&decode(&bytes).unwrap(), rules, "t-0").unwrap_err()
    }

    #[test]
    fn a_compacted_topic_names_each_keyless_record() {
        for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let records = [
                record(Some(b"a"), NOW),
                record(None, NOW),
                record(Some(b"c"), NOW),
                record(None, NOW),
            ];
            let error = refused(&records, compression, &rules(true, None));
            assert_eq!(error.code, ResponseError::InvalidRecord);
            let indexes: Vec<i32> = error.record_errors.iter().map(|e| e.batch_index).collect();
            assert_eq!(indexes, [1, 3]);
            assert_eq!(
                error.record_errors[0].message,
                "Compacted topic cannot accept message without key in topic partition t-0."
            );
            let message = error.message.unwrap();
            assert!(
                message
                    .starts_with("One or more records have been rejected due to 2 record errors")
                    && message.contains("RecordError(batchIndex=3, message='Compacted topic"),
                "{message}"
            );
        }
    }

    #[test]
    fn timestamps_outside_the_bounds_are_refused_and_minus_one_is_not_checked() {
        let records = [
            record(None, NOW - 1000),
            record(None, NOW - 1001),
            record(None, NOW + 1001),
            record(None, -1),
            record(None, NOW + 1000),
        ];
        let error = refused(
            &records,
            Compression::None,
            &rules(false, Some((1000, 1000))),
        );
        assert_eq!(error.code, ResponseError::InvalidTimestamp);
        assert_eq!(
            error.message.as_deref(),
            Some("One or more records have been rejected due to invalid timestamp")
        );
        let indexes: Vec<i32> = error.record_errors.iter().map(|e| e.batch_index).collect();
        assert_eq!(indexes, [1, 2]);
        assert_eq!(
            error.record_errors[0].message,
            format!(
                "Timestamp {} of message with offset 1 is out of range. The timestamp should be within [{}, {}]",
                NOW - 1001,
                NOW - 1000,
                NOW + 1000
            )
        );
    }

    #[test]
    fn records_are_decoded_only_when_a_check_needs_them() {
        let infos = |timestamp: i64| {
            let bytes = encode_batch(&[record(None, timestamp)], Compression::None).unwrap();
            batch::validate(&bytes, usize::MAX).unwrap()
        };
        let hour = 3_600_000;
        // Kafka 4's defaults: no lower bound, an hour ahead at most.
        let defaults = rules(false, Some((i64::MAX, hour)));
        assert!(!defaults.need_records(&infos(NOW)));
        assert!(!defaults.need_records(&infos(0)));
        assert!(defaults.need_records(&infos(NOW + hour + 1)));
        assert!(rules(false, Some((1000, hour))).need_records(&infos(NOW)));
        assert!(!rules(false, None).need_records(&infos(NOW + 10 * hour)));
        assert!(rules(true, None).need_records(&infos(NOW)));
        // Within bounds and keyed: checked, and accepted.
        let bytes = encode_batch(&[record(Some(b"k"), NOW)], Compression::None).unwrap();
        let sets = decode(&bytes).unwrap();
        assert!(check(&sets, &rules(true, Some((1000, 1000))), "t-0").is_ok());
    }
}
