//! kafka-dump-log.sh's `--offsets-decoder` and `--transaction-log-decoder`: a record of
//! `__consumer_offsets` or `__transaction_state` as Kafka 4's tool prints it. The key
//! is one compact JSON object naming the record type (`{"type":"1","data":{...}}`), the
//! value one naming its version (`{"version":"3","data":{...}}`), fields in the order
//! of Kafka's schemas under their JSON names; a tombstone's value is `<DELETE>`. A
//! record that cannot be read prints Kafka's sentence in place of the key, and no value.
//!
//! One difference: the members of a classic group's metadata value keep their
//! subscription and assignment as base64, where Kafka decodes a consumer group's. shoal
//! writes that value without members.

use base64::Engine;

use crate::protocol::codec::{get_i16, get_i32, get_i64, get_string};
use crate::txn::state::TxnState;

/// Which internal topic's records the tool reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoder {
    Offsets,
    TransactionLog,
}

/// What the tool prints of a record: the key's text and, unless it is one of Kafka's
/// "skipping" sentences, the value's.
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded {
    pub key: String,
    pub payload: Option<String>,
}

/// The texts of the record at `offset` (a record without a key stops Kafka's tool
/// before it gets here).
pub fn decode(decoder: Decoder, offset: i64, raw_key: &[u8], value: Option<&[u8]>) -> Decoded {
    let mut rest = raw_key;
    let Some(record_type) = get_i16(&mut rest) else {
        return skipped(offset, "the key has no record type");
    };
    let known = matches!(
        (decoder, record_type),
        (Decoder::Offsets, 0..=3) | (Decoder::TransactionLog, 0)
    );
    if !known {
        return Decoded {
            key: format!("Unknown record type {record_type} at offset {offset}, skipping."),
            payload: None,
        };
    }
    let mut read = || -> Option<Decoded> {
        let key = match (decoder, record_type) {
            (Decoder::Offsets, 0 | 1) => object(&[
                ("group", string(&get_string(&mut rest)?)),
                ("topic", string(&get_string(&mut rest)?)),
                ("partition", get_i32(&mut rest)?.to_string()),
            ]),
            (Decoder::Offsets, 2) => object(&[("group", string(&get_string(&mut rest)?))]),
            (Decoder::Offsets, _) => object(&[("groupId", string(&get_string(&mut rest)?))]),
            (Decoder::TransactionLog, _) => {
                object(&[("transactionalId", string(&get_string(&mut rest)?))])
            }
        };
        let key = object(&[("type", string(&record_type.to_string())), ("data", key)]);
        let payload = match value {
            None => "<DELETE>".to_string(),
            Some(mut value) => {
                let version = get_i16(&mut value)?;
                let data = match (decoder, record_type) {
                    (Decoder::Offsets, 0 | 1) => offset_value(version, value)?,
                    (Decoder::Offsets, 2) => group_value(version, value)?,
                    (Decoder::Offsets, _) => consumer_group_value(version, value)?,
                    (Decoder::TransactionLog, _) => transaction_value(version, raw_key, value)?,
                };
                object(&[("version", string(&version.to_string())), ("data", data)])
            }
        };
        Some(Decoded {
            key,
            payload: Some(payload),
        })
    };
    read().unwrap_or_else(|| skipped(offset, "the record does not follow its schema"))
}

/// Kafka's sentence for a record it could not read.
fn skipped(offset: i64, why: &str) -> Decoded {
    Decoded {
        key: format!("Error at offset {offset}, skipping. {why}"),
        payload: None,
    }
}

/// OffsetCommitValue, versions 0 to 3 (`leaderEpoch` from 3, `expireTimestamp` in 1).
fn offset_value(version: i16, mut value: &[u8]) -> Option<String> {
    let offset = get_i64(&mut value)?;
    let leader_epoch = match version {
        3 => Some(get_i32(&mut value)?),
        0..=2 => None,
        _ => return None,
    };
    let mut fields = vec![("offset", offset.to_string())];
    if let Some(epoch) = leader_epoch {
        fields.push(("leaderEpoch", epoch.to_string()));
    }
    fields.push(("metadata", string(&get_string(&mut value)?)));
    fields.push(("commitTimestamp", get_i64(&mut value)?.to_string()));
    if version == 1 {
        fields.push(("expireTimestamp", get_i64(&mut value)?.to_string()));
    }
    Some(object(&fields))
}

/// GroupMetadataValue, versions 0 to 3.
fn group_value(version: i16, mut value: &[u8]) -> Option<String> {
    if !(0..=3).contains(&version) {
        return None;
    }
    let mut fields = vec![
        ("protocolType", string(&get_string(&mut value)?)),
        ("generation", get_i32(&mut value)?.to_string()),
        ("protocol", nullable(&mut value)?),
        ("leader", nullable(&mut value)?),
    ];
    if version >= 2 {
        fields.push(("currentStateTimestamp", get_i64(&mut value)?.to_string()));
    }
    let count = get_i32(&mut value)?;
    let mut members = Vec::new();
    for _ in 0..count.max(0) {
        let mut member = vec![("memberId", string(&get_string(&mut value)?))];
        if version >= 3 {
            member.push(("groupInstanceId", nullable(&mut value)?));
        }
        member.push(("clientId", string(&get_string(&mut value)?)));
        member.push(("clientHost", string(&get_string(&mut value)?)));
        if version >= 1 {
            member.push(("rebalanceTimeout", get_i32(&mut value)?.to_string()));
        }
        member.push(("sessionTimeout", get_i32(&mut value)?.to_string()));
        member.push(("subscription", base64(&mut value)?));
        member.push(("assignment", base64(&mut value)?));
        members.push(object(&member));
    }
    fields.push(("members", format!("[{}]", members.join(","))));
    Some(object(&fields))
}

/// ConsumerGroupMetadataValue, version 0: the group epoch (tagged fields left out, as
/// Kafka prints them only when set, and shoal sets none).
fn consumer_group_value(version: i16, mut value: &[u8]) -> Option<String> {
    if version != 0 {
        return None;
    }
    Some(object(&[("epoch", get_i32(&mut value)?.to_string())]))
}

/// TransactionLogValue, versions 0 and 1: shoal's decoder reads it; the fields in
/// Kafka's order, tagged ones only where set.
fn transaction_value(version: i16, key: &[u8], value: &[u8]) -> Option<String> {
    let mut whole = version.to_be_bytes().to_vec();
    whole.extend_from_slice(value);
    let (_, meta) = crate::txn::records::decode(key, Some(&whole))?;
    let meta = meta?;
    let mut fields = vec![("producerId", meta.producer_id.to_string())];
    if meta.previous_producer_id != -1 {
        fields.push(("previousProducerId", meta.previous_producer_id.to_string()));
    }
    if meta.next_producer_id != -1 {
        fields.push(("nextProducerId", meta.next_producer_id.to_string()));
    }
    fields.push(("producerEpoch", meta.producer_epoch.to_string()));
    fields.push(("transactionTimeoutMs", meta.timeout_ms.to_string()));
    fields.push(("transactionStatus", (meta.state as i8).to_string()));
    let partitions = match meta.state {
        TxnState::Empty => "null".to_string(),
        _ => {
            let mut topics: Vec<(&str, Vec<String>)> = Vec::new();
            for (topic, partition) in &meta.partitions {
                match topics.last_mut() {
                    Some((last, ids)) if *last == topic => ids.push(partition.to_string()),
                    _ => topics.push((topic, vec![partition.to_string()])),
                }
            }
            let topics: Vec<String> = topics
                .into_iter()
                .map(|(topic, ids)| {
                    object(&[
                        ("topic", string(topic)),
                        ("partitionIds", format!("[{}]", ids.join(","))),
                    ])
                })
                .collect();
            format!("[{}]", topics.join(","))
        }
    };
    fields.push(("transactionPartitions", partitions));
    fields.push((
        "transactionLastUpdateTimestampMs",
        meta.last_update_ms.to_string(),
    ));
    fields.push(("transactionStartTimestampMs", meta.start_ms.to_string()));
    if meta.client_version != 0 {
        fields.push(("clientTransactionVersion", meta.client_version.to_string()));
    }
    Some(object(&fields))
}

/// A JSON object of `fields` (each value JSON already), in their order, no spaces.
fn object(fields: &[(&str, String)]) -> String {
    let fields: Vec<String> = fields
        .iter()
        .map(|(name, value)| format!("{}:{value}", string(name)))
        .collect();
    format!("{{{}}}", fields.join(","))
}

/// A JSON string.
fn string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// A nullable string (length -1 is null) as JSON.
fn nullable(buf: &mut &[u8]) -> Option<String> {
    let mut peek = *buf;
    if get_i16(&mut peek)? == -1 {
        *buf = peek;
        return Some("null".to_string());
    }
    Some(string(&get_string(buf)?))
}

/// Bytes (an i32 length, -1 null) as a base64 JSON string.
fn base64(buf: &mut &[u8]) -> Option<String> {
    let length = get_i32(buf)?;
    if length < 0 {
        return Some("null".to_string());
    }
    let length = usize::try_from(length).ok()?;
    let bytes = buf.get(..length)?;
    *buf = &buf[length..];
    Some(string(
        &base64::engine::general_purpose::STANDARD.encode(bytes),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::records::{self as offsets, Committed};
    use crate::txn::state::TxnMeta;

    fn texts(decoder: Decoder, key: &[u8], value: Option<&[u8]>) -> (String, Option<String>) {
        let decoded = decode(decoder, 5, key, value);
        (decoded.key, decoded.payload)
    }

    /// The lines of Kafka's own DumpLogSegmentsTest, from records shoal writes.
    #[test]
    fn offsets_records_print_as_kafkas_decoder_prints_them() {
        let committed = Committed {
            offset: 1,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp_ms: 123,
            record_offset: -1,
        };
        let key = offsets::offset_key("g", "t", 0);
        assert_eq!(
            texts(Decoder::Offsets, &key, Some(&offsets::offset_value(&committed))),
            (
                r#"{"type":"1","data":{"group":"g","topic":"t","partition":0}}"#.to_string(),
                Some(r#"{"version":"3","data":{"offset":1,"leaderEpoch":-1,"metadata":"","commitTimestamp":123}}"#.to_string())
            )
        );
        assert_eq!(
            texts(Decoder::Offsets, &key, None).1.as_deref(),
            Some("<DELETE>")
        );
        let group = offsets::consumer_group_key("group");
        assert_eq!(
            texts(
                Decoder::Offsets,
                &group,
                Some(&offsets::consumer_group_value(10))
            ),
            (
                r#"{"type":"3","data":{"groupId":"group"}}"#.to_string(),
                Some(r#"{"version":"0","data":{"epoch":10}}"#.to_string())
            )
        );
        let classic = offsets::group_value("consumer", 10, "range", "member", -1);
        assert_eq!(
            texts(Decoder::Offsets, &offsets::group_key("g"), Some(&classic))
                .1
                .as_deref(),
            Some(
                r#"{"version":"3","data":{"protocolType":"consumer","generation":10,"protocol":"range","leader":"member","currentStateTimestamp":-1,"members":[]}}"#
            )
        );
        // Kafka's sentences for a type it does not know and a value that does not read.
        assert_eq!(
            texts(Decoder::Offsets, &[0, 9, 0, 1, b'g'], Some(b"x")),
            (
                "Unknown record type 9 at offset 5, skipping.".to_string(),
                None
            )
        );
        let (error, payload) = texts(Decoder::Offsets, &key, Some(&[0, 3, 1]));
        assert!(
            error.starts_with("Error at offset 5, skipping. "),
            "{error}"
        );
        assert_eq!(payload, None);
    }

    #[test]
    fn transaction_records_print_as_kafkas_decoder_prints_them() {
        let meta = TxnMeta {
            producer_id: 12,
            previous_producer_id: 11,
            producer_epoch: 2,
            last_producer_epoch: -1,
            timeout_ms: 14,
            state: TxnState::Ongoing,
            partitions: [("topic1", 0), ("topic1", 1), ("topic2", 3)]
                .into_iter()
                .map(|(t, p)| (t.to_string(), p))
                .collect(),
            start_ms: 13,
            last_update_ms: 123,
            next_producer_id: 10,
            client_version: 0,
        };
        let key = crate::txn::records::key("txnId");
        assert_eq!(
            texts(Decoder::TransactionLog, &key, Some(&crate::txn::records::value(&meta))),
            (
                r#"{"type":"0","data":{"transactionalId":"txnId"}}"#.to_string(),
                Some(r#"{"version":"1","data":{"producerId":12,"previousProducerId":11,"nextProducerId":10,"producerEpoch":2,"transactionTimeoutMs":14,"transactionStatus":1,"transactionPartitions":[{"topic":"topic1","partitionIds":[0,1]},{"topic":"topic2","partitionIds":[3]}],"transactionLastUpdateTimestampMs":123,"transactionStartTimestampMs":13}}"#.to_string())
            )
        );
        let empty = TxnMeta {
            state: TxnState::Empty,
            partitions: Default::default(),
            previous_producer_id: -1,
            next_producer_id: -1,
            ..meta
        };
        let (_, payload) = texts(
            Decoder::TransactionLog,
            &key,
            Some(&crate::txn::records::value(&empty)),
        );
        assert!(
            payload.as_deref().is_some_and(
                |p| p.contains(r#""transactionStatus":0,"transactionPartitions":null,"#)
            ),
            "{payload:?}"
        );
    }
}
