//! The quorum member's files, as bytes: what to write for an output's `Persist`, and
//! how to read a directory's files back into a `QuorumLog`. The I/O itself is the
//! caller's (on its shard, through io_uring); everything here is pure.
//!
//! In `<log.dir>/__cluster_metadata-0/` (Kafka's directory for the metadata log):
//! - `raft-state`: the hard state (term, vote, commit), replaced whole (write aside,
//!   sync, rename);
//! - `raft-snapshot`: the last snapshot (the image and the voters at an index), replaced
//!   whole the same way;
//! - `raft-entries`: entries appended as frames, each `length, crc32c, entry`. An entry
//!   at an index already in the file replaces it and everything after it (a new leader
//!   overwrote an uncommitted tail), so the file is only ever appended to between
//!   compactions, which rewrite it with the entries after the snapshot.
//!
//! A frame cut short or failing its CRC at the end of `raft-entries` is a write a crash
//! interrupted: what came before is the log, and the file is cut there. A bad frame
//! followed by good ones is damage, not a torn write, and so is a state or snapshot
//! file that does not check: both stop the member, naming the file, since a member
//! that forgot a vote or an entry it acknowledged can break the quorum's guarantees.

use raft::eraftpb::{Entry, HardState, Snapshot};

use super::codec::{self, CodecError};
use super::store::{LogError, QuorumLog};

pub const DIR: &str = "__cluster_metadata-0";
pub const STATE_FILE: &str = "raft-state";
pub const SNAPSHOT_FILE: &str = "raft-snapshot";
pub const ENTRIES_FILE: &str = "raft-entries";

/// Length and CRC before each entry.
const FRAME_HEADER: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    #[error("{file}: {reason}")]
    Damaged { file: &'static str, reason: String },
    #[error(transparent)]
    Log(#[from] LogError),
}

fn damaged(file: &'static str, reason: impl Into<String>) -> DiskError {
    DiskError::Damaged {
        file,
        reason: reason.into(),
    }
}

/// A whole file's contents with a CRC32C of them in front.
fn checked(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&crc32c::crc32c(body).to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn unchecked<'a>(file: &'static str, bytes: &'a [u8]) -> Result<&'a [u8], DiskError> {
    if bytes.len() < 4 {
        return Err(damaged(
            file,
            format!("{} bytes, too short to hold a checksum", bytes.len()),
        ));
    }
    let (crc, body) = bytes.split_at(4);
    if u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]) != crc32c::crc32c(body) {
        return Err(damaged(file, "checksum mismatch"));
    }
    Ok(body)
}

pub fn encode_state(hard_state: &HardState) -> Vec<u8> {
    checked(&codec::encode_hard_state(hard_state))
}

pub fn encode_snapshot(snapshot: &Snapshot) -> Vec<u8> {
    checked(&codec::encode_snapshot(snapshot))
}

/// Frames to append to `raft-entries`.
pub fn encode_entries(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let body = codec::encode_entry(e);
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
        out.extend_from_slice(&body);
    }
    out
}

/// The entries in `raft-entries`, the later of two at one index winning, and the
/// length of the file that holds whole frames (cut the file there: past it is a torn
/// write).
pub fn decode_entries(bytes: &[u8]) -> Result<(Vec<Entry>, usize), DiskError> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let Some(frame) = frame_at(bytes, at) else {
            // Torn if nothing after it reads as a frame: a crash cuts only the end.
            if (at + 1..bytes.len()).any(|next| frame_at(bytes, next).is_some()) {
                return Err(damaged(
                    ENTRIES_FILE,
                    format!("a bad frame at byte {at} with good ones after it"),
                ));
            }
            break;
        };
        let entry = codec::decode_entry(frame)
            .map_err(|e: CodecError| damaged(ENTRIES_FILE, format!("entry at byte {at}: {e}")))?;
        if let Some(first) = entries.first().map(|e| e.index) {
            if entry.index < first || entry.index > first + entries.len() as u64 {
                return Err(damaged(
                    ENTRIES_FILE,
                    format!(
                        "entry {} at byte {at} does not follow entries {first}..",
                        entry.index
                    ),
                ));
            }
            entries.truncate((entry.index - first) as usize);
        }
        at += FRAME_HEADER + frame.len();
        entries.push(entry);
    }
    Ok((entries, at))
}

/// The body of a whole, checked frame starting at `at`.
fn frame_at(bytes: &[u8], at: usize) -> Option<&[u8]> {
    let header = bytes.get(at..at + FRAME_HEADER)?;
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    let body = bytes.get(at + FRAME_HEADER..(at + FRAME_HEADER).checked_add(len)?)?;
    (crc32c::crc32c(body) == crc && len > 0).then_some(body)
}

/// A member's log from its files' contents (`None`: the file does not exist). No files
/// at all is a member that never ran.
pub fn load(
    voters: &[u64],
    state: Option<&[u8]>,
    snapshot: Option<&[u8]>,
    entries: Option<&[u8]>,
) -> Result<(QuorumLog, usize), DiskError> {
    let hard_state = match state {
        Some(bytes) => codec::decode_hard_state(unchecked(STATE_FILE, bytes)?)
            .map_err(|e| damaged(STATE_FILE, e.to_string()))?,
        None => HardState::default(),
    };
    let snapshot = match snapshot {
        Some(bytes) => codec::decode_snapshot(unchecked(SNAPSHOT_FILE, bytes)?)
            .map_err(|e| damaged(SNAPSHOT_FILE, e.to_string()))?,
        None => QuorumLog::new(voters).snapshot_ref().clone(),
    };
    let (mut list, valid) = match entries {
        Some(bytes) => decode_entries(bytes)?,
        None => (Vec::new(), 0),
    };
    // Entries the snapshot covers stay in the file until it is rewritten.
    let covered = snapshot.get_metadata().index;
    list.retain(|e| e.index > covered);
    if list.first().is_some_and(|e| e.index != covered + 1) {
        return Err(damaged(
            ENTRIES_FILE,
            format!(
                "entries start at {} but the snapshot ends at {covered}",
                list[0].index
            ),
        ));
    }
    Ok((QuorumLog::from_parts(hard_state, snapshot, list)?, valid))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn entry(term: u64, index: u64, data: &'static [u8]) -> Entry {
        Entry {
            term,
            index,
            data: Bytes::from_static(data),
            ..Default::default()
        }
    }

    #[test]
    fn a_later_entry_at_an_index_replaces_it_and_what_followed() {
        let mut file = encode_entries(&[entry(1, 1, b"a"), entry(1, 2, b"b"), entry(1, 3, b"c")]);
        file.extend(encode_entries(&[entry(2, 2, b"B")]));
        let (entries, valid) = decode_entries(&file).unwrap();
        assert_eq!(valid, file.len());
        let got: Vec<(u64, u64, &[u8])> = entries
            .iter()
            .map(|e| (e.term, e.index, &e.data[..]))
            .collect();
        assert_eq!(got, vec![(1, 1, &b"a"[..]), (2, 2, &b"B"[..])]);
    }

    #[test]
    fn a_torn_tail_is_cut_and_damage_before_good_frames_is_refused() {
        let whole = encode_entries(&[entry(1, 1, b"first"), entry(1, 2, b"second")]);
        let first_len = encode_entries(&[entry(1, 1, b"first")]).len();
        for cut in first_len..whole.len() {
            let (entries, valid) = decode_entries(&whole[..cut]).unwrap();
            assert_eq!((entries.len(), valid), (1, first_len), "cut at {cut}");
        }
        let mut flipped = whole.clone();
        flipped[10] ^= 0x40;
        let err = decode_entries(&flipped).unwrap_err().to_string();
        assert!(
            err.starts_with("raft-entries: a bad frame at byte 0"),
            "{err}"
        );
    }

    #[test]
    fn the_files_read_back_as_the_log_that_wrote_them() {
        let mut log = QuorumLog::new(&[1, 2, 3]);
        log.append(&[entry(1, 1, b"a"), entry(1, 2, b"b"), entry(2, 3, b"c")])
            .unwrap();
        let hard_state = HardState {
            term: 2,
            vote: 3,
            commit: 2,
            ..Default::default()
        };
        log.set_hard_state(hard_state.clone());
        log.compact(2, b"image".to_vec()).unwrap();
        let all = encode_entries(&[entry(1, 1, b"a"), entry(1, 2, b"b"), entry(2, 3, b"c")]);
        let (read, _) = load(
            &[1, 2, 3],
            Some(&encode_state(&hard_state)),
            Some(&encode_snapshot(log.snapshot_ref())),
            Some(&all),
        )
        .unwrap();
        assert_eq!(read, log);
        let (fresh, _) = load(&[1, 2, 3], None, None, None).unwrap();
        assert_eq!(fresh, QuorumLog::new(&[1, 2, 3]));
    }

    #[test]
    fn the_voters_read_back_are_those_the_committed_changes_left() {
        use raft::Storage;
        let first = QuorumLog::first_voter(1).unwrap();
        let state = encode_state(first.hard_state());
        let entries = encode_entries(first.entries_ref());
        // No voters from the config: the log names them.
        let (read, _) = load(&[], Some(&state), None, Some(&entries)).unwrap();
        assert_eq!(read.initial_state().unwrap().conf_state.voters, vec![1]);
        // A change past the commit is not applied yet.
        let mut uncommitted = read.clone();
        let mut second = first.entries_ref()[0].clone();
        second.index = 2;
        let change = crate::quorum::VoterChange::Add(2).to_raft();
        second.data = protobuf::Message::write_to_bytes(&change).unwrap().into();
        uncommitted.append(&[second.clone()]).unwrap();
        let (read, _) = load(
            &[],
            Some(&state),
            None,
            Some(&encode_entries(uncommitted.entries_ref())),
        )
        .unwrap();
        assert_eq!(read.initial_state().unwrap().conf_state.voters, vec![1]);
        let committed = encode_state(&HardState {
            term: 1,
            commit: 2,
            ..Default::default()
        });
        let (read, _) = load(
            &[],
            Some(&committed),
            None,
            Some(&encode_entries(uncommitted.entries_ref())),
        )
        .unwrap();
        assert_eq!(read.initial_state().unwrap().conf_state.voters, vec![1, 2]);
    }

    #[test]
    fn a_state_or_snapshot_file_that_does_not_check_is_named() {
        let mut state = encode_state(&HardState {
            term: 4,
            vote: 1,
            ..Default::default()
        });
        state[6] ^= 1;
        let err = load(&[1], Some(&state), None, None)
            .unwrap_err()
            .to_string();
        assert_eq!(err, "raft-state: checksum mismatch");
        let err = load(&[1], None, Some(&[0, 1]), None)
            .unwrap_err()
            .to_string();
        assert_eq!(err, "raft-snapshot: 2 bytes, too short to hold a checksum");
        let gap = encode_entries(&[entry(1, 5, b"x")]);
        let err = load(&[1], None, None, Some(&gap)).unwrap_err().to_string();
        assert_eq!(
            err,
            "raft-entries: entries start at 5 but the snapshot ends at 0"
        );
    }
}
