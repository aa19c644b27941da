//! `shoal dump-log`: Kafka's kafka-dump-log.sh, offline, on a partition directory's
//! files. A `.log` segment prints a line per batch in Kafka's words (and with
//! `--deep-iteration` or `--print-data-log` a line per record); `.index` and
//! `.timeindex` print their entries and are checked against their segment; `.txnindex`
//! prints its aborted transactions. Problems found go to stderr at the end, as Kafka
//! reports them.
//!
//! One difference follows from shoal's layout: an offset index entry names the first
//! offset of the batch at its position (Kafka's names the batch's last), and a time
//! index entry the first offset after the records its timestamp bounds; each is checked
//! as shoal writes it.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use kafka_protocol::records::Record;

use super::dump_log_decode::{decode as decode_record, Decoder};
use crate::storage::batch::{
    BatchHeader, CONTROL_ABORT, CONTROL_COMMIT, HEADER_BYTES, LOG_OVERHEAD,
};
use crate::storage::decode;

#[derive(Args, Debug)]
pub struct DumpLogArgs {
    /// Comma-separated data and index files to dump (`.log`, `.index`, `.timeindex`,
    /// `.txnindex`).
    #[arg(long, value_name = "FILES", required = true, value_delimiter = ',')]
    pub files: Vec<PathBuf>,
    /// Print each record's key and value (as UTF-8); implies --deep-iteration.
    #[arg(long)]
    pub print_data_log: bool,
    /// Print a line per record, not only per batch.
    #[arg(long)]
    pub deep_iteration: bool,
    /// Check the index files against their segments without printing their entries.
    #[arg(long)]
    pub verify_index_only: bool,
    /// Only check that the index files are well formed (as the broker does at start-up).
    #[arg(long)]
    pub index_sanity_check: bool,
    /// Read at most this many bytes of each log file.
    #[arg(long, value_name = "BYTES", default_value_t = i32::MAX as u64)]
    pub max_bytes: u64,
    /// Accepted for kafka-dump-log.sh's sake: batches are read whole, whatever their size.
    #[arg(long, value_name = "BYTES")]
    pub max_message_size: Option<u64>,
    /// Print record contents without their metadata (and no control records).
    #[arg(long)]
    pub skip_record_metadata: bool,
    /// Print `__consumer_offsets` records' keys and values as Kafka 4's decoder does
    /// (JSON); implies --print-data-log.
    #[arg(long, conflicts_with = "transaction_log_decoder")]
    pub offsets_decoder: bool,
    /// Print `__transaction_state` records' keys and values as Kafka 4's decoder does
    /// (JSON); implies --print-data-log.
    #[arg(long)]
    pub transaction_log_decoder: bool,
}

impl DumpLogArgs {
    fn decoder(&self) -> Option<Decoder> {
        match (self.offsets_decoder, self.transaction_log_decoder) {
            (true, _) => Some(Decoder::Offsets),
            (_, true) => Some(Decoder::TransactionLog),
            _ => None,
        }
    }

    /// Whether records' keys and values print (Kafka's decoders imply it).
    fn prints_data(&self) -> bool {
        self.print_data_log || self.decoder().is_some()
    }
}

/// What the files showed that Kafka reports at the end, per file.
#[derive(Default)]
struct Problems {
    /// Offsets not following their predecessor: (previous, next).
    gaps: BTreeMap<PathBuf, Vec<(i64, i64)>>,
    /// Index entries whose position does not start the batch they name: (entry, found).
    index: BTreeMap<PathBuf, Vec<(i64, i64)>>,
    /// Time index entries out of order, or naming no batch's first offset.
    time_index: BTreeMap<PathBuf, Vec<String>>,
}

pub fn run(args: DumpLogArgs) -> Result<()> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut problems = Problems::default();
    for file in &args.files {
        writeln!(out, "Dumping {}", file.display())?;
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
        let extension = file.extension().map(|e| e.to_string_lossy().into_owned());
        match extension.as_deref() {
            Some("log") => dump_log(file, &args, &mut out, &mut problems)?,
            Some("index") => dump_index(file, &args, &mut out, &mut problems)?,
            Some("timeindex") => dump_time_index(file, &args, &mut out, &mut problems)?,
            Some("txnindex") => dump_txn_index(file, &mut out)?,
            _ => eprintln!("Ignoring unknown file {}", name.unwrap_or_default()),
        }
    }
    out.flush()?;
    report(&problems);
    Ok(())
}

/// A segment's base offset, from its file's name.
fn base_offset(file: &Path) -> Result<i64> {
    let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned());
    stem.as_deref()
        .and_then(|stem| stem.parse().ok())
        .with_context(|| {
            format!(
                "{}: the name is not a segment's base offset",
                file.display()
            )
        })
}

/// The batches of a log file, read one at a time up to a byte limit: each with its
/// position and bytes. A batch is believed only as far as the file goes: a length past
/// the end, or too short for a header, ends the walk (`trailing` counts what is left).
struct Batches {
    reader: BufReader<io::Take<File>>,
    size: u64,
    position: u64,
}

impl Batches {
    fn open(file: &Path, max_bytes: u64) -> Result<Batches> {
        let opened = File::open(file).with_context(|| format!("opening {}", file.display()))?;
        let size = opened.metadata()?.len().min(max_bytes);
        Ok(Batches {
            reader: BufReader::new(opened.take(size)),
            size,
            position: 0,
        })
    }

    /// Bytes after the last whole batch.
    fn trailing(&self) -> u64 {
        self.size - self.position
    }

    fn next_batch(&mut self) -> io::Result<Option<(u64, Vec<u8>)>> {
        let mut head = [0u8; LOG_OVERHEAD];
        if read_whole(&mut self.reader, &mut head)? < LOG_OVERHEAD {
            return Ok(None);
        }
        let length = i32::from_be_bytes([head[8], head[9], head[10], head[11]]);
        let left = self.size - self.position - LOG_OVERHEAD as u64;
        let body = match u64::try_from(length) {
            Ok(length) if length >= (HEADER_BYTES - LOG_OVERHEAD) as u64 && length <= left => {
                length as usize
            }
            _ => return Ok(None),
        };
        let mut batch = head.to_vec();
        batch.resize(LOG_OVERHEAD + body, 0);
        if read_whole(&mut self.reader, &mut batch[LOG_OVERHEAD..])? < body {
            return Ok(None);
        }
        let position = self.position;
        self.position += batch.len() as u64;
        Ok(Some((position, batch)))
    }
}

/// Reads into `buf` until it is full or the input ends; how much was read.
fn read_whole(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

fn codec_name(id: i16) -> &'static str {
    match id {
        0 => "none",
        1 => "gzip",
        2 => "snappy",
        3 => "lz4",
        4 => "zstd",
        _ => "unknown",
    }
}

/// A record's sequence number as Kafka derives it from its batch's base sequence.
fn sequence(base: i32, delta: i32) -> i32 {
    match base {
        -1 => -1,
        _ => match base.checked_add(delta) {
            Some(sequence) => sequence,
            None => delta - (i32::MAX - base) - 1,
        },
    }
}

fn dump_log(
    file: &Path,
    args: &DumpLogArgs,
    out: &mut impl Write,
    problems: &mut Problems,
) -> Result<()> {
    let base = base_offset(file)?;
    writeln!(out, "Log starting offset: {base}")?;
    let deep = args.deep_iteration || args.prints_data();
    let mut batches = Batches::open(file, args.max_bytes)?;
    // Offsets run on from the segment's base (Kafka's tool counts from -1 in every file,
    // and so reports each segment after the first as a gap).
    let mut last_offset = base - 1;
    while let Some((position, bytes)) = batches.next_batch()? {
        let bytes = &bytes[..];
        let header = BatchHeader::parse(bytes)?;
        let time_type = match header.is_log_append_time() {
            true => "LogAppendTime",
            false => "CreateTime",
        };
        let base_sequence = header.base_sequence.get();
        let horizon = match header.delete_horizon_ms() {
            Some(ms) => format!("OptionalLong[{ms}]"),
            None => "OptionalLong.empty".to_string(),
        };
        writeln!(
            out,
            "baseOffset: {} lastOffset: {} count: {} baseSequence: {base_sequence} \
             lastSequence: {} producerId: {} producerEpoch: {} partitionLeaderEpoch: {} \
             isTransactional: {} isControl: {} deleteHorizonMs: {horizon} position: {position} \
             {time_type}: {} size: {} magic: {} compresscodec: {} crc: {} isvalid: {}",
            header.base_offset.get(),
            header.last_offset(),
            header.records_count.get(),
            sequence(base_sequence, header.last_offset_delta.get()),
            header.producer_id.get(),
            header.producer_epoch.get(),
            header.partition_leader_epoch.get(),
            header.is_transactional(),
            header.is_control(),
            header.max_timestamp.get(),
            bytes.len(),
            header.magic,
            codec_name(header.compression()),
            header.crc.get(),
            header.crc_matches(bytes),
        )?;
        if !deep {
            continue;
        }
        let records = match decode::decode(bytes) {
            Ok(set) => set.records,
            Err(error) => {
                writeln!(out, "| records not readable: {error:#}")?;
                continue;
            }
        };
        for record in &records {
            if record.offset != last_offset + 1 {
                let gaps = problems.gaps.entry(file.to_path_buf()).or_default();
                gaps.push((last_offset, record.offset));
            }
            last_offset = record.offset;
            let control = header.is_control();
            if args.skip_record_metadata && control {
                continue;
            }
            let mut line = String::new();
            if !args.skip_record_metadata {
                line = record_metadata(record, time_type, base_sequence, header);
            }
            if args.prints_data() && !control {
                let mut prefix = if args.skip_record_metadata { "| " } else { " " };
                let (key, payload) = match args.decoder() {
                    None => (
                        record
                            .key
                            .as_ref()
                            .map(|k| String::from_utf8_lossy(k).into_owned()),
                        record
                            .value
                            .as_ref()
                            .map(|v| String::from_utf8_lossy(v).into_owned()),
                    ),
                    Some(decoder) => {
                        let Some(key) = &record.key else {
                            anyhow::bail!(
                                "Failed to decode message at offset {} using the specified decoder (message had a missing key)",
                                record.offset
                            );
                        };
                        let decoded =
                            decode_record(decoder, record.offset, key, record.value.as_deref());
                        (Some(decoded.key), decoded.payload)
                    }
                };
                if let Some(key) = key {
                    line += &format!("{prefix}key: {key}");
                    prefix = " ";
                }
                if let Some(payload) = payload {
                    line += &format!("{prefix}payload: {payload}");
                }
            }
            writeln!(out, "{line}")?;
        }
    }
    let trailing = batches.trailing();
    if trailing > 0 && args.max_bytes == i32::MAX as u64 {
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        writeln!(out, "Found {trailing} invalid bytes at the end of {name}")?;
    }
    Ok(())
}

/// `| offset: ... sequence: ... headerKeys: [...]`, and a marker's type and epoch.
fn record_metadata(
    record: &Record,
    time_type: &str,
    base_sequence: i32,
    header: &BatchHeader,
) -> String {
    let size = |bytes: &Option<bytes::Bytes>| bytes.as_ref().map_or(-1, |b| b.len() as i64);
    let delta = (record.offset - header.base_offset.get()) as i32;
    let keys: Vec<&str> = record.headers.keys().map(|k| k.as_str()).collect();
    let mut line = format!(
        "| offset: {} {time_type}: {} keySize: {} valueSize: {} sequence: {} headerKeys: [{}]",
        record.offset,
        record.timestamp,
        size(&record.key),
        size(&record.value),
        sequence(base_sequence, delta),
        keys.join(","),
    );
    if header.is_control() {
        line += &control_record(record);
    }
    line
}

/// A control record as Kafka prints one: a transaction marker's type and coordinator
/// epoch, else its type id.
fn control_record(record: &Record) -> String {
    let field = |bytes: &Option<bytes::Bytes>, at: usize| {
        let bytes = bytes.as_deref()?;
        Some(i16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]))
    };
    let epoch = record.value.as_deref().and_then(|v| {
        Some(i32::from_be_bytes([
            *v.get(2)?,
            *v.get(3)?,
            *v.get(4)?,
            *v.get(5)?,
        ]))
    });
    match (field(&record.key, 2), epoch) {
        (Some(CONTROL_COMMIT), Some(epoch)) => {
            format!(" endTxnMarker: COMMIT coordinatorEpoch: {epoch}")
        }
        (Some(CONTROL_ABORT), Some(epoch)) => {
            format!(" endTxnMarker: ABORT coordinatorEpoch: {epoch}")
        }
        (kind, _) => format!(" controlType: UNKNOWN({})", kind.unwrap_or(-1)),
    }
}

/// The fixed-size entries of an index file, each as `width` bytes.
fn entries(file: &Path, width: usize) -> Result<Vec<Vec<u8>>> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    anyhow::ensure!(
        bytes.len() % width == 0,
        "{}: {} bytes is not a whole number of {width}-byte entries",
        file.display(),
        bytes.len()
    );
    Ok(bytes.chunks(width).map(<[u8]>::to_vec).collect())
}

/// An index file's segment base and its entries, `width` bytes each; `None` when there
/// is nothing more to do: the file is empty, or only its sanity was asked about (its
/// entries are whole, which reading them checked).
fn index_entries(
    file: &Path,
    width: usize,
    args: &DumpLogArgs,
    out: &mut impl Write,
) -> Result<Option<(i64, Vec<Vec<u8>>)>> {
    let base = base_offset(file)?;
    let entries = entries(file, width)?;
    if entries.is_empty() {
        writeln!(out, "{} is empty.", file.display())?;
        return Ok(None);
    }
    if args.index_sanity_check {
        writeln!(out, "{} passed sanity check.", file.display())?;
        return Ok(None);
    }
    Ok(Some((base, entries)))
}

/// The first offset of each batch of the segment beside `file`, by position.
fn segment_batches(file: &Path) -> Result<BTreeMap<u64, i64>> {
    let mut batches = Batches::open(&file.with_extension("log"), u64::MAX)?;
    let mut starts = BTreeMap::new();
    while let Some((position, bytes)) = batches.next_batch()? {
        starts.insert(position, BatchHeader::parse(&bytes)?.base_offset.get());
    }
    Ok(starts)
}

fn dump_index(
    file: &Path,
    args: &DumpLogArgs,
    out: &mut impl Write,
    problems: &mut Problems,
) -> Result<()> {
    let Some((base, entries)) = index_entries(file, 8, args, out)? else {
        return Ok(());
    };
    let starts = segment_batches(file)?;
    for entry in &entries {
        let relative = i32::from_be_bytes([entry[0], entry[1], entry[2], entry[3]]);
        let position = i32::from_be_bytes([entry[4], entry[5], entry[6], entry[7]]);
        let offset = base + i64::from(relative);
        let found = u64::try_from(position)
            .ok()
            .and_then(|p| starts.get(&p).copied());
        if found != Some(offset) {
            let mismatches = problems.index.entry(file.to_path_buf()).or_default();
            mismatches.push((offset, found.unwrap_or(-1)));
        }
        if !args.verify_index_only {
            writeln!(out, "offset: {offset} position: {position}")?;
        }
    }
    Ok(())
}

fn dump_time_index(
    file: &Path,
    args: &DumpLogArgs,
    out: &mut impl Write,
    problems: &mut Problems,
) -> Result<()> {
    let Some((base, entries)) = index_entries(file, 12, args, out)? else {
        return Ok(());
    };
    let firsts: std::collections::BTreeSet<i64> = segment_batches(file)?.into_values().collect();
    let mut previous = -1i64;
    for entry in &entries {
        let timestamp = i64::from_be_bytes(entry[..8].try_into()?);
        let offset = base + i64::from(i32::from_be_bytes(entry[8..12].try_into()?));
        let found = problems.time_index.entry(file.to_path_buf()).or_default();
        if timestamp <= previous {
            found.push(format!(
                "  Index timestamp: {timestamp}, Previously indexed timestamp: {previous}"
            ));
        }
        if !firsts.contains(&offset) {
            found.push(format!(
                "  Indexed offset: {offset} starts no batch in the log"
            ));
        }
        if !args.verify_index_only {
            writeln!(out, "timestamp: {timestamp} offset: {offset}")?;
        }
        previous = timestamp;
    }
    problems.time_index.retain(|_, found| !found.is_empty());
    Ok(())
}

fn dump_txn_index(file: &Path, out: &mut impl Write) -> Result<()> {
    for entry in entries(file, 34)? {
        let long = |at: usize| i64::from_be_bytes(entry[at..at + 8].try_into().unwrap_or_default());
        writeln!(
            out,
            "version: {} producerId: {} firstOffset: {} lastOffset: {} lastStableOffset: {}",
            i16::from_be_bytes([entry[0], entry[1]]),
            long(2),
            long(10),
            long(18),
            long(26),
        )?;
    }
    Ok(())
}

/// What the files showed, on stderr, as Kafka reports it.
fn report(problems: &Problems) {
    for (file, mismatches) in &problems.index {
        eprintln!("Mismatches in :{}", file.display());
        for (index, log) in mismatches {
            eprintln!("  Index offset: {index}, log offset: {log}");
        }
    }
    for (file, found) in &problems.time_index {
        eprintln!("Found time index problems in :{}", file.display());
        for line in found {
            eprintln!("{line}");
        }
    }
    for (file, gaps) in &problems.gaps {
        eprintln!("Non-consecutive offsets in {}", file.display());
        for (previous, next) in gaps {
            eprintln!("  {previous} is followed by {next}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_wrap_as_kafka_s_do() {
        assert_eq!(sequence(-1, 5), -1);
        assert_eq!(sequence(10, 5), 15);
        assert_eq!(sequence(i32::MAX - 1, 3), 1);
    }
}
