//! The records of `__transaction_state`, in Kafka's layout so its tools can read the
//! topic: key version 0 (the transactional id) with value version 0 (producer id and
//! epoch, timeout, state, partitions, last update and start times); a null value
//! forgets the id.
//!
//! Pure encoding; decoding is total (bad bytes give `None`, never a panic).

use std::collections::BTreeSet;

use bytes::{BufMut, Bytes, BytesMut};

use super::state::{TxnMeta, TxnState};
use crate::protocol::codec::{get_i16, get_i32, get_i64, get_i8, get_string, put_string};

const KEY_VERSION: i16 = 0;
const VALUE_VERSION: i16 = 0;
/// Partitions a stored transaction may name, at most: more is a damaged record.
const PARTITIONS_MAX: usize = 1 << 20;

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
        buf.put_i32(-1);
    } else {
        let mut topics: Vec<(&str, Vec<i32>)> = Vec::new();
        for (topic, partition) in &meta.partitions {
            match topics.last_mut() {
                Some((last, partitions)) if *last == topic => partitions.push(*partition),
                _ => topics.push((topic, vec![*partition])),
            }
        }
        buf.put_i32(topics.len() as i32);
        for (topic, partitions) in topics {
            put_string(&mut buf, topic);
            buf.put_i32(partitions.len() as i32);
            partitions.iter().for_each(|p| buf.put_i32(*p));
        }
    }
    buf.put_i64(meta.last_update_ms);
    buf.put_i64(meta.start_ms);
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
    if get_i16(&mut value)? != VALUE_VERSION {
        return None;
    }
    let producer_id = get_i64(&mut value)?;
    let producer_epoch = get_i16(&mut value)?;
    let timeout_ms = get_i32(&mut value)?;
    let state = TxnState::from_id(get_i8(&mut value)?)?;
    let mut partitions = BTreeSet::new();
    let topics = get_i32(&mut value)?;
    for _ in 0..topics.max(0) {
        let topic = get_string(&mut value)?;
        let count = get_i32(&mut value)?;
        for _ in 0..count.max(0) {
            if partitions.len() >= PARTITIONS_MAX {
                return None;
            }
            partitions.insert((topic.clone(), get_i32(&mut value)?));
        }
    }
    let last_update_ms = get_i64(&mut value)?;
    let start_ms = get_i64(&mut value)?;
    Some(TxnMeta {
        producer_id,
        previous_producer_id: -1,
        producer_epoch,
        last_producer_epoch: -1,
        timeout_ms,
        state,
        partitions,
        start_ms,
        last_update_ms,
    })
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
        }
    }

    #[test]
    fn records_round_trip_in_kafkas_layout() {
        let ongoing = meta(TxnState::Ongoing, &[("a", 1), ("a", 0), ("b", 3)]);
        let value = value(&ongoing);
        // version, id, epoch, timeout, state, then 2 topics.
        assert_eq!(&value[..2], &[0, 0]);
        assert_eq!(value[16], 1, "Ongoing's id");
        assert_eq!(&value[17..21], &2i32.to_be_bytes());
        assert_eq!(
            decode(&key("tx-1"), Some(&value)),
            Some(("tx-1".to_string(), Some(ongoing)))
        );
        let empty = meta(TxnState::Empty, &[]);
        assert_eq!(
            &super::value(&empty)[17..21],
            &(-1i32).to_be_bytes(),
            "null"
        );
        assert_eq!(decode(&key("tx-1"), None), Some(("tx-1".to_string(), None)));
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
