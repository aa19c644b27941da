//! The records of `__transaction_state`, in Kafka's layout so its tools can read the
//! topic: key version 0 (the transactional id) with value version 1 (producer id and
//! epoch, timeout, state, partitions, last update and start times; flexible, with the
//! previous and next producer ids and the client's transaction version as tagged
//! fields); a null value forgets the id. Value version 0 (no tagged fields) is read
//! too.
//!
//! Pure encoding; decoding is total (bad bytes give `None`, never a panic).

use std::collections::BTreeSet;

use bytes::{BufMut, Bytes, BytesMut};

use super::state::{TxnMeta, TxnState};
use crate::protocol::codec::{
    get_compact_len, get_compact_string, get_i16, get_i32, get_i64, get_i8, get_string,
    get_tagged_fields, put_compact_len, put_compact_string, put_string, put_tagged_fields,
};

const KEY_VERSION: i16 = 0;
const VALUE_VERSION: i16 = 1;
/// Partitions a stored transaction may name, at most: more is a damaged record.
const PARTITIONS_MAX: usize = 1 << 20;
/// The tags of value version 1's tagged fields.
const PREVIOUS_PRODUCER_ID: u32 = 0;
const NEXT_PRODUCER_ID: u32 = 1;
const CLIENT_TRANSACTION_VERSION: u32 = 2;

pub fn key(transactional_id: &str) -> Bytes {
    let mut buf = BytesMut::with_capacity(4 + transactional_id.len());
    buf.put_i16(KEY_VERSION);
    put_string(&mut buf, transactional_id);
    buf.freeze()
}

pub fn value(meta: &TxnMeta) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(VALUE_VERSION);
    buf.put_i64(meta.producer_id);
    buf.put_i16(meta.producer_epoch);
    buf.put_i32(meta.timeout_ms);
    buf.put_i8(meta.state as i8);
    if meta.state == TxnState::Empty {
        put_compact_len(&mut buf, None);
    } else {
        let mut topics: Vec<(&str, Vec<i32>)> = Vec::new();
        for (topic, partition) in &meta.partitions {
            match topics.last_mut() {
                Some((last, partitions)) if *last == topic => partitions.push(*partition),
                _ => topics.push((topic, vec![*partition])),
            }
        }
        put_compact_len(&mut buf, Some(topics.len()));
        for (topic, partitions) in topics {
            put_compact_string(&mut buf, topic);
            put_compact_len(&mut buf, Some(partitions.len()));
            partitions.iter().for_each(|p| buf.put_i32(*p));
            put_tagged_fields(&mut buf, &[]);
        }
    }
    buf.put_i64(meta.last_update_ms);
    buf.put_i64(meta.start_ms);
    // Tagged fields are written when they differ from their defaults.
    let mut tagged = Vec::new();
    if meta.previous_producer_id != -1 {
        let bytes = meta.previous_producer_id.to_be_bytes().to_vec();
        tagged.push((PREVIOUS_PRODUCER_ID, bytes));
    }
    if meta.next_producer_id != -1 {
        tagged.push((
            NEXT_PRODUCER_ID,
            meta.next_producer_id.to_be_bytes().to_vec(),
        ));
    }
    if meta.client_version != 0 {
        let bytes = meta.client_version.to_be_bytes().to_vec();
        tagged.push((CLIENT_TRANSACTION_VERSION, bytes));
    }
    put_tagged_fields(&mut buf, &tagged);
    buf.freeze()
}

/// One record: the transactional id, and its state (`None`: forgotten).
pub fn decode(key: &[u8], value: Option<&[u8]>) -> Option<(String, Option<TxnMeta>)> {
    let mut key = key;
    if get_i16(&mut key)? != KEY_VERSION {
        return None;
    }
    let id = get_string(&mut key)?;
    let meta = match value {
        None => None,
        Some(value) => Some(decode_value(value)?),
    };
    Some((id, meta))
}

fn decode_value(mut value: &[u8]) -> Option<TxnMeta> {
    let flexible = match get_i16(&mut value)? {
        0 => false,
        1 => true,
        _ => return None,
    };
    let producer_id = get_i64(&mut value)?;
    let producer_epoch = get_i16(&mut value)?;
    let timeout_ms = get_i32(&mut value)?;
    let state = TxnState::from_id(get_i8(&mut value)?)?;
    let mut partitions = BTreeSet::new();
    let topics = match flexible {
        true => get_compact_len(&mut value)?.unwrap_or(0),
        false => usize::try_from(get_i32(&mut value)?).unwrap_or(0),
    };
    for _ in 0..topics {
        let topic = match flexible {
            true => get_compact_string(&mut value)?,
            false => get_string(&mut value)?,
        };
        let count = match flexible {
            true => get_compact_len(&mut value)?.unwrap_or(0),
            false => usize::try_from(get_i32(&mut value)?).unwrap_or(0),
        };
        for _ in 0..count {
            if partitions.len() >= PARTITIONS_MAX {
                return None;
            }
            partitions.insert((topic.clone(), get_i32(&mut value)?));
        }
        if flexible {
            get_tagged_fields(&mut value, |_, _| {})?;
        }
    }
    let last_update_ms = get_i64(&mut value)?;
    let start_ms = get_i64(&mut value)?;
    let mut meta = TxnMeta {
        producer_id,
        previous_producer_id: -1,
        producer_epoch,
        last_producer_epoch: -1,
        timeout_ms,
        state,
        partitions,
        start_ms,
        last_update_ms,
        next_producer_id: -1,
        client_version: 0,
    };
    if flexible {
        get_tagged_fields(&mut value, |tag, mut bytes| match tag {
            PREVIOUS_PRODUCER_ID => meta.previous_producer_id = get_i64(&mut bytes).unwrap_or(-1),
            NEXT_PRODUCER_ID => meta.next_producer_id = get_i64(&mut bytes).unwrap_or(-1),
            CLIENT_TRANSACTION_VERSION => meta.client_version = get_i16(&mut bytes).unwrap_or(0),
            // Fields of later Kafka versions.
            _ => {}
        })?;
    }
    Some(meta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn meta(state: TxnState, partitions: &[(&str, i32)]) -> TxnMeta {
        TxnMeta {
            producer_id: 4000,
            previous_producer_id: -1,
            producer_epoch: 7,
            last_producer_epoch: -1,
            timeout_ms: 60_000,
            state,
            partitions: partitions
                .iter()
                .map(|(t, p)| (t.to_string(), *p))
                .collect(),
            start_ms: 1_700_000_000_000,
            last_update_ms: 1_700_000_000_500,
            next_producer_id: -1,
            client_version: 0,
        }
    }

    #[test]
    fn records_round_trip_in_kafkas_layout() {
        let ongoing = meta(TxnState::Ongoing, &[("a", 1), ("a", 0), ("b", 3)]);
        let value = value(&ongoing);
        // version, id, epoch, timeout, state, then 2 topics (stored plus one).
        assert_eq!(&value[..2], &[0, 1]);
        assert_eq!(value[16], 1, "Ongoing's id");
        assert_eq!(value[17], 3);
        assert_eq!(*value.last().expect("bytes"), 0, "no tagged fields");
        assert_eq!(
            decode(&key("tx-1"), Some(&value)),
            Some(("tx-1".to_string(), Some(ongoing)))
        );
        let empty = meta(TxnState::Empty, &[]);
        assert_eq!(super::value(&empty)[17], 0, "null");
        assert_eq!(decode(&key("tx-1"), None), Some(("tx-1".to_string(), None)));
    }

    #[test]
    fn the_tagged_fields_round_trip() {
        let mut moving = meta(TxnState::PrepareCommit, &[("t", 0)]);
        moving.previous_producer_id = 3000;
        moving.next_producer_id = 5000;
        moving.client_version = 2;
        let value = value(&moving);
        assert_eq!(
            decode(&key("x"), Some(&value)),
            Some(("x".to_string(), Some(moving)))
        );
    }

    #[test]
    fn value_version_0_is_read() {
        let mut v0 = BytesMut::new();
        v0.put_i16(0);
        v0.put_i64(4000);
        v0.put_i16(7);
        v0.put_i32(60_000);
        v0.put_i8(TxnState::Ongoing as i8);
        v0.put_i32(1);
        put_string(&mut v0, "a");
        v0.put_i32(2);
        v0.put_i32(0);
        v0.put_i32(1);
        v0.put_i64(1_700_000_000_500);
        v0.put_i64(1_700_000_000_000);
        let expected = meta(TxnState::Ongoing, &[("a", 0), ("a", 1)]);
        assert_eq!(
            decode(&key("x"), Some(&v0)),
            Some(("x".to_string(), Some(expected)))
        );
    }

    proptest! {
        #[test]
        fn bad_bytes_never_panic(key in proptest::collection::vec(any::<u8>(), 0..40),
                                 value in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = decode(&key, Some(&value));
            let _ = decode(&key, None);
        }
    }
}
