//! The classic (non-flexible) field encodings that Kafka's internal topics use for
//! their record keys and values: big-endian integers and strings with an i16 length.
//! Reading is total: short or malformed input gives `None`, never a panic.

use bytes::{Buf, BufMut, BytesMut};

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
