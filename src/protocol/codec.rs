//! The field encodings that Kafka's internal topics use for their record keys and
//! values: the classic ones (big-endian integers, strings with an i16 length) and the
//! flexible ones of newer value versions (unsigned varints, compact strings and arrays
//! whose length is stored plus one, tagged fields). Reading is total: short or
//! malformed input gives `None`, never a panic, and nothing is allocated before the
//! bytes it holds are there.

use bytes::{Buf, BufMut, BytesMut};
use integer_encoding::VarInt;

/// Writes `s` with its i16 length. Callers bound their strings (ids, topic names,
/// metadata) well below i16::MAX; longer ones are cut there.
pub fn put_string(buf: &mut BytesMut, s: &str) {
    let len = s.len().min(i16::MAX as usize);
    buf.put_i16(len as i16);
    buf.put_slice(&s.as_bytes()[..len]);
}

pub fn get_i8(buf: &mut &[u8]) -> Option<i8> {
    (buf.remaining() >= 1).then(|| buf.get_i8())
}

pub fn get_i16(buf: &mut &[u8]) -> Option<i16> {
    (buf.remaining() >= 2).then(|| buf.get_i16())
}

pub fn get_i32(buf: &mut &[u8]) -> Option<i32> {
    (buf.remaining() >= 4).then(|| buf.get_i32())
}

pub fn get_i64(buf: &mut &[u8]) -> Option<i64> {
    (buf.remaining() >= 8).then(|| buf.get_i64())
}

pub fn get_string(buf: &mut &[u8]) -> Option<String> {
    let len = usize::try_from(get_i16(buf)?).ok()?;
    if buf.remaining() < len {
        return None;
    }
    let s = String::from_utf8(buf[..len].to_vec()).ok()?;
    buf.advance(len);
    Some(s)
}

pub fn put_uvarint(buf: &mut BytesMut, value: u32) {
    let mut bytes = [0u8; 5];
    let used = value.encode_var(&mut bytes);
    buf.put_slice(&bytes[..used]);
}

pub fn get_uvarint(buf: &mut &[u8]) -> Option<u32> {
    let (value, used) = u32::decode_var(buf)?;
    buf.advance(used);
    Some(value)
}

/// A compact array's (or string's) length: `None` for null.
pub fn get_compact_len(buf: &mut &[u8]) -> Option<Option<usize>> {
    let stored = get_uvarint(buf)?;
    Some(stored.checked_sub(1).map(|n| n as usize))
}

/// Writes a compact array's (or string's) length, `None` for null.
pub fn put_compact_len(buf: &mut BytesMut, len: Option<usize>) {
    let stored = len.map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX - 1) + 1);
    put_uvarint(buf, stored);
}

pub fn put_compact_string(buf: &mut BytesMut, s: &str) {
    put_compact_len(buf, Some(s.len()));
    buf.put_slice(s.as_bytes());
}

/// A compact string that is not null.
pub fn get_compact_string(buf: &mut &[u8]) -> Option<String> {
    let len = get_compact_len(buf)??;
    if buf.remaining() < len {
        return None;
    }
    let s = String::from_utf8(buf[..len].to_vec()).ok()?;
    buf.advance(len);
    Some(s)
}

/// A tagged-field section: (tag, bytes) in increasing tag order.
pub fn put_tagged_fields(buf: &mut BytesMut, fields: &[(u32, Vec<u8>)]) {
    put_uvarint(buf, fields.len() as u32);
    for (tag, bytes) in fields {
        put_uvarint(buf, *tag);
        put_uvarint(buf, bytes.len() as u32);
        buf.put_slice(bytes);
    }
}

/// Reads a tagged-field section, handing each field's tag and bytes to `each`.
pub fn get_tagged_fields(buf: &mut &[u8], mut each: impl FnMut(u32, &[u8])) -> Option<()> {
    let count = get_uvarint(buf)?;
    for _ in 0..count {
        let tag = get_uvarint(buf)?;
        let len = get_uvarint(buf)? as usize;
        if buf.remaining() < len {
            return None;
        }
        each(tag, &buf[..len]);
        buf.advance(len);
    }
    Some(())
}
