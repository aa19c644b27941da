//! The records of `__consumer_offsets`, in Kafka's own layout so its tools can read the
//! topic: key version 1 (group, topic, partition) with value version 3 (offset, leader
//! epoch, metadata, commit time) for a committed offset; a null value deletes it.
//! Key version 2 is a classic group's metadata: shoal writes it (value version 3) with
//! the protocol type, generation, protocol and leader but no members, so a group comes
//! back Empty after a restart, with its type. Key type 3 is a KIP-848 group's
//! (ConsumerGroupMetadataKey; value version 0: the group epoch). Of a group's two, the
//! record written last says what the group is.
//!
//! Pure encoding; decoding is total (bad bytes give `None`, never a panic).

use bytes::{BufMut, Bytes, BytesMut};

use crate::protocol::codec::{get_i16, get_i32, get_i64, get_string, put_string};

/// A committed offset as it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp_ms: i64,
    /// Where the record stands in the offsets partition (-1 until it is written; not
    /// part of the stored value): of two commits of one partition, the later record
    /// wins, whatever order their transactions end in.
    pub record_offset: i64,
}

/// What one record of the topic says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// `None`: the offset was deleted (a tombstone).
    Offset {
        group: String,
        topic: String,
        partition: i32,
        committed: Option<Committed>,
    },
    /// A classic group's metadata; `None`: the group was deleted.
    Group {
        group: String,
        protocol_type: Option<String>,
    },
    /// A KIP-848 group's metadata: its epoch; `None`: the group was deleted.
    ConsumerGroup { group: String, epoch: Option<i32> },
}

const OFFSET_KEY_VERSION: i16 = 1;
const GROUP_KEY_VERSION: i16 = 2;
const OFFSET_VALUE_VERSION: i16 = 3;
const GROUP_VALUE_VERSION: i16 = 3;
const CONSUMER_GROUP_KEY_VERSION: i16 = 3;
const CONSUMER_GROUP_VALUE_VERSION: i16 = 0;

pub fn offset_key(group: &str, topic: &str, partition: i32) -> Bytes {
    let mut buf = BytesMut::with_capacity(2 + 2 + group.len() + 2 + topic.len() + 4);
    buf.put_i16(OFFSET_KEY_VERSION);
    put_string(&mut buf, group);
    put_string(&mut buf, topic);
    buf.put_i32(partition);
    buf.freeze()
}

pub fn group_key(group: &str) -> Bytes {
    keyed_by_group(GROUP_KEY_VERSION, group)
}

/// A key of one version that names only the group.
fn keyed_by_group(version: i16, group: &str) -> Bytes {
    let mut buf = BytesMut::with_capacity(2 + 2 + group.len());
    buf.put_i16(version);
    put_string(&mut buf, group);
    buf.freeze()
}

/// Tombstones for both of a group's metadata records (it is deleted).
pub fn group_tombstones(group: &str) -> [(Bytes, Option<Bytes>); 2] {
    [(group_key(group), None), (consumer_group_key(group), None)]
}

pub fn consumer_group_key(group: &str) -> Bytes {
    keyed_by_group(CONSUMER_GROUP_KEY_VERSION, group)
}

/// Kafka's ConsumerGroupMetadataValue, version 0 (a flexible version): the epoch and no
/// tagged fields.
pub fn consumer_group_value(epoch: i32) -> Bytes {
    let mut buf = BytesMut::with_capacity(2 + 4 + 1);
    buf.put_i16(CONSUMER_GROUP_VALUE_VERSION);
    buf.put_i32(epoch);
    buf.put_u8(0);
    buf.freeze()
}

/// Kafka's group metadata value, version 3, with no members.
pub fn group_value(
    protocol_type: &str,
    generation: i32,
    protocol: &str,
    leader: &str,
    now_ms: i64,
) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(GROUP_VALUE_VERSION);
    put_string(&mut buf, protocol_type);
    buf.put_i32(generation);
    put_string(&mut buf, protocol);
    put_string(&mut buf, leader);
    buf.put_i64(now_ms);
    buf.put_i32(0);
    buf.freeze()
}

pub fn offset_value(committed: &Committed) -> Bytes {
    let mut buf = BytesMut::with_capacity(2 + 8 + 4 + 2 + committed.metadata.len() + 8);
    buf.put_i16(OFFSET_VALUE_VERSION);
    buf.put_i64(committed.offset);
    buf.put_i32(committed.leader_epoch);
    put_string(&mut buf, &committed.metadata);
    buf.put_i64(committed.commit_timestamp_ms);
    buf.freeze()
}

/// Reads one record's key and value; `None` for anything not understood.
pub fn decode(key: &[u8], value: Option<&[u8]>) -> Option<Entry> {
    let mut key = key;
    match get_i16(&mut key)? {
        0 | OFFSET_KEY_VERSION => {
            let group = get_string(&mut key)?;
            let topic = get_string(&mut key)?;
            let partition = get_i32(&mut key)?;
            let committed = match value {
                None => None,
                Some(value) => Some(decode_offset_value(value)?),
            };
            Some(Entry::Offset {
                group,
                topic,
                partition,
                committed,
            })
        }
        GROUP_KEY_VERSION => {
            let group = get_string(&mut key)?;
            let protocol_type = match value {
                None => None,
                Some(mut value) => {
                    let _version = get_i16(&mut value)?;
                    Some(get_string(&mut value)?)
                }
            };
            Some(Entry::Group {
                group,
                protocol_type,
            })
        }
        CONSUMER_GROUP_KEY_VERSION => {
            let group = get_string(&mut key)?;
            let epoch = match value {
                None => None,
                Some(mut value) => {
                    let _version = get_i16(&mut value)?;
                    Some(get_i32(&mut value)?)
                }
            };
            Some(Entry::ConsumerGroup { group, epoch })
        }
        _ => None,
    }
}

/// Every value version Kafka has written: 0 (offset, metadata, time), 1 (plus expiry),
/// 2 (as 0), 3 (with leader epoch).
fn decode_offset_value(mut value: &[u8]) -> Option<Committed> {
    let version = get_i16(&mut value)?;
    let offset = get_i64(&mut value)?;
    let leader_epoch = if version >= 3 {
        get_i32(&mut value)?
    } else {
        -1
    };
    let metadata = get_string(&mut value)?;
    let commit_timestamp_ms = get_i64(&mut value)?;
    if !(0..=3).contains(&version) {
        return None;
    }
    Some(Committed {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp_ms,
        record_offset: -1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_trip() {
        let committed = Committed {
            offset: 42,
            leader_epoch: 7,
            metadata: "meta".into(),
            commit_timestamp_ms: 1_700_000_000_000,
            record_offset: -1,
        };
        let key = offset_key("g", "orders", 3);
        let value = offset_value(&committed);
        assert_eq!(
            decode(&key, Some(&value)),
            Some(Entry::Offset {
                group: "g".into(),
                topic: "orders".into(),
                partition: 3,
                committed: Some(committed),
            })
        );
        assert_eq!(
            decode(&key, None),
            Some(Entry::Offset {
                group: "g".into(),
                topic: "orders".into(),
                partition: 3,
                committed: None,
            })
        );
    }

    #[test]
    fn group_metadata_round_trips_its_protocol_type() {
        let value = group_value("consumer", 7, "range", "m-1", 1_000);
        assert_eq!(
            decode(&group_key("g"), Some(&value)),
            Some(Entry::Group {
                group: "g".into(),
                protocol_type: Some("consumer".into()),
            })
        );
        assert_eq!(
            decode(&group_key("g"), None),
            Some(Entry::Group {
                group: "g".into(),
                protocol_type: None,
            })
        );
    }

    #[test]
    fn a_kip848_groups_metadata_round_trips_its_epoch() {
        let key = consumer_group_key("g");
        assert_eq!(&key[..], b"\x00\x03\x00\x01g");
        let value = consumer_group_value(7);
        assert_eq!(&value[..], b"\x00\x00\x00\x00\x00\x07\x00");
        let entry = |epoch| {
            Some(Entry::ConsumerGroup {
                group: "g".into(),
                epoch,
            })
        };
        assert_eq!(decode(&key, Some(&value)), entry(Some(7)));
        assert_eq!(decode(&key, None), entry(None));
        assert_eq!(decode(&key, Some(&value[..3])), None);
    }

    #[test]
    fn a_string_cut_anywhere_decodes_to_none() {
        let key = offset_key("group", "topic", 1);
        let value = offset_value(&Committed {
            offset: 1,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp_ms: 0,
            record_offset: -1,
        });
        for cut in 0..key.len() {
            assert_eq!(decode(&key[..cut], Some(&value)), None, "key cut at {cut}");
        }
        for cut in 0..value.len() {
            assert_eq!(
                decode(&key, Some(&value[..cut])),
                None,
                "value cut at {cut}"
            );
        }
        assert_eq!(decode(&[0, 9, 0, 0], None), None, "unknown key version");
    }

    #[test]
    fn older_value_versions_are_read() {
        let mut v1 = BytesMut::new();
        v1.put_i16(1);
        v1.put_i64(5);
        put_string(&mut v1, "m");
        v1.put_i64(100);
        v1.put_i64(200);
        let Some(Entry::Offset { committed, .. }) = decode(&offset_key("g", "t", 0), Some(&v1))
        else {
            panic!("v1 decodes");
        };
        assert_eq!(committed.map(|c| (c.offset, c.leader_epoch)), Some((5, -1)));
    }
}
