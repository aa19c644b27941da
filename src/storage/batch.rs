//! Kafka RecordBatch (magic 2) framing: validation, in-place offset assignment, and
//! header walking for recovery and index lookups.
//!
//! Pure: no I/O, no state. Records inside a batch are never decoded here, except to
//! count uncompressed records (their varint lengths only) and, on request, to find the
//! exact record for a timestamp (`records_at_or_after`).

use zerocopy::byteorder::big_endian::{I16, I32, I64, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// The fixed 61-byte header in front of every magic-2 batch.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Debug, Clone, Copy)]
#[repr(C)]
pub struct BatchHeader {
    pub base_offset: I64,
    /// Bytes after this field: a batch occupies `LOG_OVERHEAD + batch_length` bytes.
    pub batch_length: I32,
    pub partition_leader_epoch: I32,
    pub magic: i8,
    /// CRC-32C of everything from `attributes` to the end of the batch.
    pub crc: U32,
    pub attributes: I16,
    pub last_offset_delta: I32,
    pub base_timestamp: I64,
    pub max_timestamp: I64,
    pub producer_id: I64,
    pub producer_epoch: I16,
    pub base_sequence: I32,
    pub records_count: I32,
}

/// Size of base offset + batch length: the part of a batch outside `batch_length`.
pub const LOG_OVERHEAD: usize = 12;
pub const HEADER_BYTES: usize = 61;
/// Where the CRC-covered bytes start.
const CRC_START: usize = 21;
pub const MAGIC_V2: i8 = 2;
const ATTR_COMPRESSION_MASK: i16 = 0x07;
const ATTR_LOG_APPEND_TIME: i16 = 0x08;
const ATTR_TRANSACTIONAL: i16 = 0x10;
const ATTR_CONTROL: i16 = 0x20;
const ATTR_DELETE_HORIZON: i16 = 0x40;
/// Control record types (the key of a control batch's one record).
pub const CONTROL_ABORT: i16 = 0;
pub const CONTROL_COMMIT: i16 = 1;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("record batch truncated: {needed} bytes needed, {available} available")]
    Truncated { needed: usize, available: usize },
    #[error("record batch length {0} is invalid")]
    BadLength(i32),
    #[error("record batch magic {0} is not supported (only 2)")]
    BadMagic(i8),
    #[error("record batch CRC mismatch: stored {stored:#x}, computed {computed:#x}")]
    BadCrc { stored: u32, computed: u32 },
    #[error("record batch of {size} bytes exceeds the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("record batch is inconsistent: {0}")]
    Invalid(&'static str),
    #[error("record batch compression codec {0} is unknown")]
    BadCompression(i16),
}

/// What validation learned about one batch, kept for indexing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchInfo {
    /// Position of the batch inside the buffer it was validated in.
    pub position: usize,
    pub size: usize,
    /// As written in the batch (a client's is 0; the broker assigns offsets).
    pub base_offset: i64,
    pub last_offset_delta: i32,
    pub records_count: i32,
    pub max_timestamp: i64,
    /// Its records' codec: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub codec: i16,
    pub control: bool,
    /// -1 for a producer without an id (neither idempotent nor transactional).
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub transactional: bool,
}

impl BatchHeader {
    /// The header at the start of `bytes`, if there are enough of them.
    pub fn parse(bytes: &[u8]) -> Result<&BatchHeader, BatchError> {
        match BatchHeader::ref_from_prefix(bytes) {
            Ok((header, _)) => Ok(header),
            Err(_) => Err(BatchError::Truncated {
                needed: HEADER_BYTES,
                available: bytes.len(),
            }),
        }
    }

    pub fn total_size(&self) -> Result<usize, BatchError> {
        let length = self.batch_length.get();
        let min = (HEADER_BYTES - LOG_OVERHEAD) as i32;
        if length < min {
            return Err(BatchError::BadLength(length));
        }
        Ok(LOG_OVERHEAD + length as usize)
    }

    /// Saturating: the base offset lies outside the CRC, so on disk it may be garbage.
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .get()
            .saturating_add(i64::from(self.last_offset_delta.get()))
    }

    pub fn compression(&self) -> i16 {
        self.attributes.get() & ATTR_COMPRESSION_MASK
    }

    pub fn is_control(&self) -> bool {
        self.attributes.get() & ATTR_CONTROL != 0
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes.get() & ATTR_TRANSACTIONAL != 0
    }

    /// The broker stamped the batch's records with its clock (LogAppendTime).
    pub fn is_log_append_time(&self) -> bool {
        self.attributes.get() & ATTR_LOG_APPEND_TIME != 0
    }

    /// The cleaner set the batch's delete horizon: its base timestamp.
    pub fn delete_horizon_ms(&self) -> Option<i64> {
        (self.attributes.get() & ATTR_DELETE_HORIZON != 0).then(|| self.base_timestamp.get())
    }

    /// Whether `batch` (the whole batch this header starts) matches its CRC.
    pub fn crc_matches(&self, batch: &[u8]) -> bool {
        batch.len() >= HEADER_BYTES && check_crc(self, batch).is_ok()
    }
}

/// A commit (or abort) marker as the broker writes it: a control batch of one record
/// whose key is (version 0, type) and value (version 0, coordinator epoch), for the
/// producer's transaction; offsets are assigned when it is appended.
pub fn control_batch(
    producer_id: i64,
    producer_epoch: i16,
    coordinator_epoch: i32,
    commit: bool,
    timestamp: i64,
) -> Vec<u8> {
    let kind = if commit {
        CONTROL_COMMIT
    } else {
        CONTROL_ABORT
    };
    // attributes, timestamp delta 0, offset delta 0, key length 4 (zig-zag 8)
    let mut record = vec![0u8, 0, 0, 8];
    record.extend_from_slice(&0i16.to_be_bytes());
    record.extend_from_slice(&kind.to_be_bytes());
    record.push(12); // value length 6, zig-zag
    record.extend_from_slice(&0i16.to_be_bytes());
    record.extend_from_slice(&coordinator_epoch.to_be_bytes());
    record.push(0); // no headers
    let mut body = vec![(record.len() as u8) << 1];
    body.extend_from_slice(&record);
    let header = BatchHeader {
        base_offset: I64::new(0),
        batch_length: I32::new((HEADER_BYTES - LOG_OVERHEAD + body.len()) as i32),
        partition_leader_epoch: I32::new(-1),
        magic: MAGIC_V2,
        crc: U32::new(0),
        attributes: I16::new(ATTR_TRANSACTIONAL | ATTR_CONTROL),
        last_offset_delta: I32::new(0),
        base_timestamp: I64::new(timestamp),
        max_timestamp: I64::new(timestamp),
        producer_id: I64::new(producer_id),
        producer_epoch: I16::new(producer_epoch),
        base_sequence: I32::new(-1),
        records_count: I32::new(1),
    };
    let crc = batch_crc(&header, &body);
    let header = BatchHeader {
        crc: U32::new(crc),
        ..header
    };
    let mut batch = header.as_bytes().to_vec();
    batch.extend_from_slice(&body);
    batch
}

/// A transaction marker's outcome (whether it commits) and coordinator epoch, from its
/// control record (key: version and type; value: version and coordinator epoch);
/// `None` when `batch` is not an uncompressed commit or abort marker, or its record
/// does not read.
pub fn marker_record(batch: &[u8]) -> Option<(bool, i32)> {
    let header = BatchHeader::parse(batch).ok()?;
    if !header.is_control() || header.compression() != 0 {
        return None;
    }
    let mut rest = batch.get(HEADER_BYTES..)?;
    let varint = |rest: &mut &[u8]| {
        let (value, used) = read_varint(rest)?;
        *rest = &rest[used..];
        Some(value)
    };
    varint(&mut rest)?; // record length
    rest = rest.get(1..)?; // attributes
    varint(&mut rest)?; // timestamp delta
    varint(&mut rest)?; // offset delta
    let key_length = usize::try_from(varint(&mut rest)?).ok()?;
    let key = rest.get(..key_length)?;
    rest = &rest[key_length..];
    let value_length = usize::try_from(varint(&mut rest)?).ok()?;
    let value = rest.get(..value_length)?;
    let kind = i16::from_be_bytes(key.get(2..4)?.try_into().ok()?);
    let coordinator_epoch = i32::from_be_bytes(value.get(2..6)?.try_into().ok()?);
    match kind {
        CONTROL_COMMIT => Some((true, coordinator_epoch)),
        CONTROL_ABORT => Some((false, coordinator_epoch)),
        _ => None,
    }
}

/// Checks every batch in `buf` (one or more, back to back) and describes each.
/// `size_max` bounds a single batch (Kafka's `max.message.bytes`).
pub fn validate(buf: &[u8], size_max: usize) -> Result<Vec<BatchInfo>, BatchError> {
    let mut infos = Vec::new();
    let mut position = 0;
    while position < buf.len() {
        let info = validate_one(&buf[position..], size_max)?;
        infos.push(BatchInfo { position, ..info });
        position += info.size;
    }
    if infos.is_empty() {
        return Err(BatchError::Invalid("no record batch"));
    }
    Ok(infos)
}

fn validate_one(buf: &[u8], size_max: usize) -> Result<BatchInfo, BatchError> {
    let header = BatchHeader::parse(buf)?;
    if header.magic != MAGIC_V2 {
        return Err(BatchError::BadMagic(header.magic));
    }
    let size = header.total_size()?;
    if size > buf.len() {
        return Err(BatchError::Truncated {
            needed: size,
            available: buf.len(),
        });
    }
    if size > size_max {
        return Err(BatchError::TooLarge {
            size,
            limit: size_max,
        });
    }
    let batch = &buf[..size];
    check_crc(header, batch)?;
    let count = header.records_count.get();
    if count <= 0 {
        return Err(BatchError::Invalid("a batch must hold at least one record"));
    }
    if i64::from(header.last_offset_delta.get()) != i64::from(count) - 1 {
        return Err(BatchError::Invalid(
            "last offset delta does not match the record count",
        ));
    }
    let compression = header.compression();
    if compression > 4 {
        return Err(BatchError::BadCompression(compression));
    }
    if compression == 0 {
        check_record_lengths(&batch[HEADER_BYTES..], count)?;
    }
    Ok(BatchInfo {
        position: 0,
        size,
        base_offset: header.base_offset.get(),
        last_offset_delta: header.last_offset_delta.get(),
        records_count: count,
        max_timestamp: header.max_timestamp.get(),
        codec: compression,
        control: header.is_control(),
        producer_id: header.producer_id.get(),
        producer_epoch: header.producer_epoch.get(),
        base_sequence: header.base_sequence.get(),
        transactional: header.is_transactional(),
    })
}

fn check_crc(header: &BatchHeader, batch: &[u8]) -> Result<(), BatchError> {
    let computed = crc32c::crc32c(&batch[CRC_START..]);
    let stored = header.crc.get();
    if computed != stored {
        return Err(BatchError::BadCrc { stored, computed });
    }
    Ok(())
}

/// Walks the length prefixes of uncompressed records: they must tile the batch exactly.
fn check_record_lengths(mut records: &[u8], count: i32) -> Result<(), BatchError> {
    for _ in 0..count {
        let (length, used) =
            read_varint(records).ok_or(BatchError::Invalid("bad record length"))?;
        let length =
            usize::try_from(length).map_err(|_| BatchError::Invalid("negative record length"))?;
        let end = used.checked_add(length).filter(|end| *end <= records.len());
        let end = end.ok_or(BatchError::Invalid("record overruns its batch"))?;
        records = &records[end..];
    }
    if !records.is_empty() {
        return Err(BatchError::Invalid("bytes after the last record"));
    }
    Ok(())
}

/// A zig-zag varint (Kafka's record framing), with the number of bytes it used.
fn read_varint(bytes: &[u8]) -> Option<(i64, usize)> {
    let mut value: u64 = 0;
    for (i, byte) in bytes.iter().take(10).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let decoded = (value >> 1) as i64 ^ -((value & 1) as i64);
            return Some((decoded, i + 1));
        }
    }
    None
}

/// Gives the batch at `batch` the base offset `base` and leader epoch. Both fields lie
/// outside the CRC, so the stored CRC stays valid.
pub fn assign_offset(batch: &mut [u8], base: i64, leader_epoch: i32) {
    let (header, _) = BatchHeader::mut_from_prefix(batch).expect("caller passes a validated batch");
    header.base_offset = I64::new(base);
    header.partition_leader_epoch = I32::new(leader_epoch);
}

/// The header the log stores in front of a validated `batch`: the client's, with the
/// offsets the log assigns and, for `message.timestamp.type=LogAppendTime`, the broker's
/// clock as max timestamp and the CRC recomputed over the changed fields and the
/// unchanged body. The body is written as the client sent it, without a copy.
pub fn stored_header(
    batch: &[u8],
    base: i64,
    leader_epoch: i32,
    log_append_time: Option<i64>,
) -> [u8; HEADER_BYTES] {
    let mut stored = [0u8; HEADER_BYTES];
    stored.copy_from_slice(&batch[..HEADER_BYTES]);
    assign_offset(&mut stored, base, leader_epoch);
    if let Some(now_ms) = log_append_time {
        let (header, _) = BatchHeader::mut_from_prefix(&mut stored).expect("a whole header");
        header.attributes = I16::new(header.attributes.get() | ATTR_LOG_APPEND_TIME);
        header.max_timestamp = I64::new(now_ms);
        let crc = batch_crc(header, &batch[HEADER_BYTES..]);
        header.crc = U32::new(crc);
    }
    stored
}

/// The CRC of a batch made of `header` (its own CRC field aside) and `body`, the bytes
/// after the header, without joining them.
pub fn batch_crc(header: &BatchHeader, body: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&header.as_bytes()[CRC_START..]), body)
}

/// How a walk over stored batches ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkEnd {
    /// Every byte belonged to a whole batch.
    Clean,
    /// A batch was cut short at this position: more bytes may complete it.
    Partial(usize),
    /// Bytes at this position are not a valid batch.
    Corrupt(usize),
}

/// Walks whole, valid batches at the start of `buf`, calling `each(position, header)`.
/// With `verify` the CRC of every batch is checked (recovery); without, only framing.
pub fn walk(buf: &[u8], verify: bool, mut each: impl FnMut(usize, &BatchHeader)) -> WalkEnd {
    let mut position = 0;
    while position < buf.len() {
        let rest = &buf[position..];
        let Ok(header) = BatchHeader::parse(rest) else {
            return WalkEnd::Partial(position);
        };
        let Ok(size) = header.total_size() else {
            return WalkEnd::Corrupt(position);
        };
        if header.magic != MAGIC_V2 {
            return WalkEnd::Corrupt(position);
        }
        if size > rest.len() {
            return WalkEnd::Partial(position);
        }
        if verify && check_crc(header, &rest[..size]).is_err() {
            return WalkEnd::Corrupt(position);
        }
        each(position, header);
        position += size;
    }
    WalkEnd::Clean
}

/// The offset and timestamp of the first record in `batch` whose timestamp is at or
/// after `timestamp`, decoding (and decompressing) the records.
pub fn first_record_at_or_after(batch: &[u8], timestamp: i64) -> Option<(i64, i64)> {
    let set = super::decode::decode(batch).ok()?;
    set.records
        .iter()
        .find(|record| record.timestamp >= timestamp)
        .map(|record| (record.offset, record.timestamp))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::client::records::NewRecord;
    use bytes::Bytes;
    use kafka_protocol::records::Compression;
    use proptest::prelude::*;

    /// Every codec a batch can be compressed with.
    pub(crate) const CODECS: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// A real batch, encoded by kafka-protocol as a client would.
    pub(crate) fn encode_batch(
        values: &[&[u8]],
        timestamps: &[i64],
        compression: Compression,
    ) -> Vec<u8> {
        let records: Vec<NewRecord> = values
            .iter()
            .zip(timestamps)
            .map(|(value, timestamp)| NewRecord {
                key: Some(Bytes::from_static(b"k")),
                value: Some(Bytes::copy_from_slice(value)),
                timestamp: *timestamp,
                headers: Vec::new(),
            })
            .collect();
        crate::client::records::encode_batch(&records, compression)
            .expect("encodes")
            .to_vec()
    }

    #[test]
    fn validates_what_a_client_encodes() {
        for compression in CODECS {
            let batch = encode_batch(&[b"a", b"bb", b"ccc"], &[10, 20, 30], compression);
            let infos = validate(&batch, 1 << 20).expect("valid");
            assert_eq!(infos.len(), 1);
            assert_eq!(infos[0].records_count, 3);
            assert_eq!(infos[0].max_timestamp, 30);
            assert_eq!(infos[0].size, batch.len());
        }
    }

    #[test]
    fn rejects_corruption_size_and_magic() {
        let batch = encode_batch(&[b"hello"], &[1], Compression::None);
        let mut bad = batch.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        assert!(matches!(
            validate(&bad, 1 << 20),
            Err(BatchError::BadCrc { .. })
        ));
        assert!(matches!(
            validate(&batch, 10),
            Err(BatchError::TooLarge { .. })
        ));
        let mut old = batch.clone();
        old[16] = 1;
        assert_eq!(validate(&old, 1 << 20), Err(BatchError::BadMagic(1)));
        assert!(matches!(
            validate(&batch[..40], 1 << 20),
            Err(BatchError::Truncated { .. })
        ));
        assert!(validate(&[], 1 << 20).is_err());
    }

    #[test]
    fn offsets_are_assigned_without_breaking_the_crc() {
        let mut batch = encode_batch(&[b"x", b"y"], &[5, 6], Compression::None);
        assign_offset(&mut batch, 1234, 7);
        let header = BatchHeader::parse(&batch).expect("header");
        assert_eq!(header.base_offset.get(), 1234);
        assert_eq!(header.last_offset(), 1235);
        assert!(validate(&batch, 1 << 20).is_ok());
    }

    #[test]
    fn a_stored_header_keeps_the_batch_valid() {
        let batch = encode_batch(&[b"x", b"y"], &[5, 6], Compression::None);
        let stored = |log_append_time| {
            let header = stored_header(&batch, 1234, 7, log_append_time);
            [&header[..], &batch[HEADER_BYTES..]].concat()
        };
        let create_time = stored(None);
        let header = BatchHeader::parse(&create_time).expect("header");
        assert_eq!(header.base_offset.get(), 1234);
        assert_eq!(header.partition_leader_epoch.get(), 7);
        assert_eq!(create_time[HEADER_BYTES..], batch[HEADER_BYTES..]);
        let info = validate(&create_time, 1 << 20).expect("valid")[0];
        assert_eq!(info.max_timestamp, 6);
        let append_time = stored(Some(99));
        let info = validate(&append_time, 1 << 20).expect("valid")[0];
        assert_eq!(info.max_timestamp, 99);
        assert_eq!(append_time[HEADER_BYTES..], batch[HEADER_BYTES..]);
    }

    #[test]
    fn markers_are_valid_control_batches_that_read_back() {
        for commit in [true, false] {
            let marker = control_batch(77, 3, 5, commit, 1234);
            let infos = validate(&marker, 1 << 20).expect("valid");
            assert!(infos[0].control && infos[0].transactional);
            assert_eq!((infos[0].producer_id, infos[0].producer_epoch), (77, 3));
            assert_eq!(marker_record(&marker), Some((commit, 5)));
            // kafka-protocol (what clients use) reads it as a control record too.
            let set = crate::storage::decode::decode(&marker).expect("decodes");
            assert!(set.records[0].control);
            assert_eq!(set.records[0].producer_id, 77);
        }
        assert_eq!(
            marker_record(&encode_batch(&[b"x"], &[1], Compression::None)),
            None
        );
    }

    #[test]
    fn finds_the_exact_record_for_a_timestamp() {
        let mut batch = encode_batch(&[b"a", b"b", b"c"], &[100, 200, 300], Compression::Lz4);
        assign_offset(&mut batch, 50, 0);
        assert_eq!(first_record_at_or_after(&batch, 150), Some((51, 200)));
        assert_eq!(first_record_at_or_after(&batch, 300), Some((52, 300)));
        assert_eq!(first_record_at_or_after(&batch, 301), None);
    }

    proptest! {
        /// Whatever garbage arrives, validation answers without panicking, and a walk
        /// over a valid log followed by garbage stops exactly at the garbage.
        #[test]
        fn garbage_never_panics(garbage in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = validate(&garbage, 1 << 20);
            let batch = encode_batch(&[b"v"], &[1], Compression::None);
            let mut log = batch.clone();
            log.extend_from_slice(&garbage);
            let end = walk(&log, true, |_, _| {});
            match end {
                WalkEnd::Clean => prop_assert!(garbage.is_empty() || validate(&garbage, 1 << 20).is_ok()),
                WalkEnd::Partial(p) | WalkEnd::Corrupt(p) => prop_assert!(p >= batch.len()),
            }
        }
    }
}
