//! The quorum's own encoding of Raft messages, entries and snapshots, for the wire and
//! for the disk. Not protobuf: the protobuf 2 decoder that Raft's generated types come
//! with recurses without bound on nested groups, so a hostile frame could overflow the
//! stack. This format has no nesting a peer controls: every count and length is checked
//! against the bytes that are actually there before anything is allocated for it.
//!
//! Integers are big-endian; byte strings and lists carry a u32 length first.

use bytes::Bytes;
use protobuf::ProtobufEnum;
use raft::eraftpb::{
    ConfState, Entry, EntryType, HardState, Message, MessageType, Snapshot, SnapshotMetadata,
};

/// The first byte of every encoded message: a later shoal can change the format.
const FORMAT_VERSION: u8 = 0;

/// An entry's bytes with empty data and context: no count may ask for more entries than
/// the rest of the frame could hold.
const ENTRY_SIZE_MIN: usize = 1 + 8 + 8 + 4 + 4 + 1;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("quorum message ends early: {0} needs more bytes than remain")]
    Short(&'static str),
    #[error("quorum message: unknown {what} {value}")]
    Unknown { what: &'static str, value: u64 },
    #[error("quorum message: {0} bytes follow its end")]
    Trailing(usize),
}

pub fn encode_message(m: &Message) -> Vec<u8> {
    let mut w = Vec::with_capacity(96 + m.entries.iter().map(|e| 40 + e.data.len()).sum::<usize>());
    w.push(FORMAT_VERSION);
    w.push(m.msg_type.value() as u8);
    for v in [
        m.to,
        m.from,
        m.term,
        m.log_term,
        m.index,
        m.commit,
        m.commit_term,
    ] {
        put_u64(&mut w, v);
    }
    put_u64(&mut w, m.request_snapshot);
    w.push(m.reject as u8);
    put_u64(&mut w, m.reject_hint);
    put_u64(&mut w, m.priority as u64);
    put_bytes(&mut w, &m.context);
    put_u32(&mut w, m.entries.len() as u32);
    for e in m.entries.iter() {
        put_entry(&mut w, e);
    }
    match m.snapshot.as_ref() {
        Some(s) => {
            w.push(1);
            put_snapshot(&mut w, s);
        }
        None => w.push(0),
    }
    w
}

/// The first message on a connection a member dials: who it is and where it listens,
/// so that a member that does not know the dialler's address yet (a dynamic quorum's
/// new member, to which the leader sends the log before it has the image that says
/// where the leader is) can answer it. It is a message type Raft keeps to itself
/// (`MsgUnreachable`), with the address as its context, addressed to the member
/// dialled: one that does not know hellos takes it as a message of its peer and drops
/// it unstepped.
pub fn hello(from: u64, to: u64, address: &str) -> Message {
    Message {
        msg_type: MessageType::MsgUnreachable,
        from,
        to,
        context: address.as_bytes().to_vec().into(),
        ..Default::default()
    }
}

/// The dialler's address, if `m` is a hello.
pub fn as_hello(m: &Message) -> Option<&str> {
    match m.msg_type {
        MessageType::MsgUnreachable => std::str::from_utf8(&m.context).ok(),
        _ => None,
    }
}

pub fn decode_message(bytes: &[u8]) -> Result<Message, CodecError> {
    let mut r = Reader::new(bytes);
    let version = r.u8("version")?;
    if version != FORMAT_VERSION {
        return Err(CodecError::Unknown {
            what: "format version",
            value: version.into(),
        });
    }
    let mut m = Message::default();
    let kind = r.u8("message type")?;
    m.msg_type = MessageType::from_i32(kind.into()).ok_or(CodecError::Unknown {
        what: "message type",
        value: kind.into(),
    })?;
    m.to = r.u64("to")?;
    m.from = r.u64("from")?;
    m.term = r.u64("term")?;
    m.log_term = r.u64("log term")?;
    m.index = r.u64("index")?;
    m.commit = r.u64("commit")?;
    m.commit_term = r.u64("commit term")?;
    m.request_snapshot = r.u64("request snapshot")?;
    m.reject = r.flag("reject")?;
    m.reject_hint = r.u64("reject hint")?;
    m.priority = r.u64("priority")? as i64;
    m.context = r.bytes("context")?;
    let entries = r.count("entries", ENTRY_SIZE_MIN)?;
    let mut list = Vec::with_capacity(entries);
    for _ in 0..entries {
        list.push(entry(&mut r)?);
    }
    m.entries = list.into();
    if r.flag("snapshot flag")? {
        m.snapshot = Some(snapshot(&mut r)?).into();
    }
    r.end()?;
    Ok(m)
}

pub fn encode_entry(e: &Entry) -> Vec<u8> {
    let mut w = Vec::with_capacity(32 + e.data.len() + e.context.len());
    put_entry(&mut w, e);
    w
}

pub fn decode_entry(bytes: &[u8]) -> Result<Entry, CodecError> {
    let mut r = Reader::new(bytes);
    let e = entry(&mut r)?;
    r.end()?;
    Ok(e)
}

pub fn encode_snapshot(s: &Snapshot) -> Vec<u8> {
    let mut w = Vec::with_capacity(64 + s.data.len());
    put_snapshot(&mut w, s);
    w
}

pub fn decode_snapshot(bytes: &[u8]) -> Result<Snapshot, CodecError> {
    let mut r = Reader::new(bytes);
    let s = snapshot(&mut r)?;
    r.end()?;
    Ok(s)
}

pub fn encode_hard_state(h: &HardState) -> [u8; 24] {
    let mut w = [0u8; 24];
    w[..8].copy_from_slice(&h.term.to_be_bytes());
    w[8..16].copy_from_slice(&h.vote.to_be_bytes());
    w[16..].copy_from_slice(&h.commit.to_be_bytes());
    w
}

pub fn decode_hard_state(bytes: &[u8]) -> Result<HardState, CodecError> {
    let mut r = Reader::new(bytes);
    let h = HardState {
        term: r.u64("term")?,
        vote: r.u64("vote")?,
        commit: r.u64("commit")?,
        ..Default::default()
    };
    r.end()?;
    Ok(h)
}

fn put_u32(w: &mut Vec<u8>, v: u32) {
    w.extend_from_slice(&v.to_be_bytes());
}

fn put_u64(w: &mut Vec<u8>, v: u64) {
    w.extend_from_slice(&v.to_be_bytes());
}

fn put_bytes(w: &mut Vec<u8>, b: &[u8]) {
    put_u32(w, b.len() as u32);
    w.extend_from_slice(b);
}

fn put_ids(w: &mut Vec<u8>, ids: &[u64]) {
    put_u32(w, ids.len() as u32);
    for id in ids {
        put_u64(w, *id);
    }
}

fn put_entry(w: &mut Vec<u8>, e: &Entry) {
    w.push(e.entry_type.value() as u8);
    put_u64(w, e.term);
    put_u64(w, e.index);
    put_bytes(w, &e.data);
    put_bytes(w, &e.context);
    w.push(e.sync_log as u8);
}

fn entry(r: &mut Reader) -> Result<Entry, CodecError> {
    let mut e = Entry::default();
    let kind = r.u8("entry type")?;
    e.entry_type = EntryType::from_i32(kind.into()).ok_or(CodecError::Unknown {
        what: "entry type",
        value: kind.into(),
    })?;
    e.term = r.u64("entry term")?;
    e.index = r.u64("entry index")?;
    e.data = r.bytes("entry data")?;
    e.context = r.bytes("entry context")?;
    e.sync_log = r.flag("entry sync")?;
    Ok(e)
}

fn put_snapshot(w: &mut Vec<u8>, s: &Snapshot) {
    put_bytes(w, &s.data);
    let meta = s.get_metadata();
    put_u64(w, meta.index);
    put_u64(w, meta.term);
    let conf = meta.get_conf_state();
    put_ids(w, &conf.voters);
    put_ids(w, &conf.learners);
    put_ids(w, &conf.voters_outgoing);
    put_ids(w, &conf.learners_next);
    w.push(conf.auto_leave as u8);
}

fn snapshot(r: &mut Reader) -> Result<Snapshot, CodecError> {
    let data = r.bytes("snapshot data")?;
    let mut meta = SnapshotMetadata {
        index: r.u64("snapshot index")?,
        term: r.u64("snapshot term")?,
        ..Default::default()
    };
    meta.set_conf_state(ConfState {
        voters: r.ids("voters")?,
        learners: r.ids("learners")?,
        voters_outgoing: r.ids("outgoing voters")?,
        learners_next: r.ids("next learners")?,
        auto_leave: r.flag("auto leave")?,
        ..Default::default()
    });
    let mut s = Snapshot {
        data,
        ..Default::default()
    };
    s.set_metadata(meta);
    Ok(s)
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], CodecError> {
        if self.rest.len() < n {
            return Err(CodecError::Short(what));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, CodecError> {
        Ok(self.take(1, what)?[0])
    }

    fn flag(&mut self, what: &'static str) -> Result<bool, CodecError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(CodecError::Unknown {
                what,
                value: v.into(),
            }),
        }
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, CodecError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, CodecError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    fn bytes(&mut self, what: &'static str) -> Result<Bytes, CodecError> {
        let len = self.u32(what)? as usize;
        Ok(Bytes::copy_from_slice(self.take(len, what)?))
    }

    /// A list's length, refused when its items could not fit in what remains.
    fn count(&mut self, what: &'static str, item_size_min: usize) -> Result<usize, CodecError> {
        let n = self.u32(what)? as usize;
        if n.saturating_mul(item_size_min) > self.rest.len() {
            return Err(CodecError::Short(what));
        }
        Ok(n)
    }

    fn ids(&mut self, what: &'static str) -> Result<Vec<u64>, CodecError> {
        let n = self.count(what, 8)?;
        (0..n).map(|_| self.u64(what)).collect()
    }

    fn end(&self) -> Result<(), CodecError> {
        match self.rest.len() {
            0 => Ok(()),
            n => Err(CodecError::Trailing(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Message {
        let e = Entry {
            term: 7,
            index: 42,
            data: Bytes::from_static(b"{\"record\":1}"),
            ..Default::default()
        };
        let mut s = Snapshot {
            data: Bytes::from_static(b"image"),
            ..Default::default()
        };
        s.mut_metadata().index = 30;
        s.mut_metadata().term = 5;
        s.mut_metadata().mut_conf_state().voters = vec![1, 2, 3];
        Message {
            msg_type: MessageType::MsgAppend,
            to: 2,
            from: 1,
            term: 7,
            log_term: 6,
            index: 41,
            commit: 40,
            reject_hint: 3,
            priority: -4,
            context: Bytes::from_static(b"ctx"),
            entries: vec![e.clone(), e].into(),
            snapshot: Some(s).into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_message_survives_the_round_trip() {
        let m = sample();
        assert_eq!(decode_message(&encode_message(&m)).unwrap(), m);
        let bare = Message {
            entries: vec![Entry::default()].into(),
            ..Default::default()
        };
        assert_eq!(decode_message(&encode_message(&bare)).unwrap(), bare);
        let h = HardState {
            term: 9,
            vote: 2,
            commit: 77,
            ..Default::default()
        };
        assert_eq!(decode_hard_state(&encode_hard_state(&h)).unwrap(), h);
    }

    #[test]
    fn every_cut_and_every_flipped_byte_is_an_error_or_a_message_never_a_panic() {
        let bytes = encode_message(&sample());
        for cut in 0..bytes.len() {
            assert!(decode_message(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..bytes.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[i] ^= flip;
                let _ = decode_message(&b);
            }
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(decode_message(&trailing), Err(CodecError::Trailing(1)));
    }

    #[test]
    fn a_declared_count_larger_than_the_frame_allocates_nothing() {
        let m = Message {
            msg_type: MessageType::MsgAppend,
            ..Default::default()
        };
        let mut bytes = encode_message(&m);
        // The entry count sits just before the snapshot flag at the end.
        let at = bytes.len() - 5;
        bytes[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(decode_message(&bytes), Err(CodecError::Short("entries")));
    }
}
