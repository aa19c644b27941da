//! The leader-epoch cache: for each leader epoch of a partition, the first offset
//! written in it, kept in Kafka's `leader-epoch-checkpoint` file beside the log.
//!
//! It answers OffsetForLeaderEpoch (where did epoch N end?), which is how a follower
//! that comes back finds the point where its log and the leader's part. Entries are
//! strictly increasing in both epoch and start offset. Pure apart from `load`/`save`.

use std::path::Path;

use crate::storage::{OnFile, StorageError};

pub const CHECKPOINT_FILE: &str = "leader-epoch-checkpoint";
const CHECKPOINT_VERSION: i64 = 0;
/// Entries a checkpoint may hold, at most: more is a damaged file, not a real history.
const ENTRIES_MAX: usize = 1 << 20;

/// Epoch or offset that no entry answers for (Kafka's UNDEFINED_EPOCH(_OFFSET)).
pub const UNDEFINED: (i32, i64) = (-1, -1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EpochCache {
    entries: Vec<EpochEntry>,
}

impl EpochCache {
    pub fn latest(&self) -> Option<EpochEntry> {
        self.entries.last().copied()
    }

    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    /// Records that `epoch` starts at `start_offset`. Returns whether anything changed.
    /// Entries the new one contradicts (an epoch at least as large, or a start at least
    /// as late) are dropped first, as Kafka does, so the history stays monotonic.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 || start_offset < 0 {
            return false;
        }
        let needed = self
            .latest()
            .is_none_or(|last| epoch != last.epoch || start_offset < last.start_offset);
        if !needed {
            return false;
        }
        while self
            .latest()
            .is_some_and(|last| last.epoch >= epoch || last.start_offset >= start_offset)
        {
            self.entries.pop();
        }
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
        true
    }

    /// Forgets every epoch (the log started over, empty).
    pub fn clear(&mut self) -> bool {
        let had = !self.entries.is_empty();
        self.entries.clear();
        had
    }

    /// Forgets epochs that start at or after `end_offset` (the log was truncated there).
    pub fn truncate_from_end(&mut self, end_offset: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.start_offset < end_offset);
        self.entries.len() != before
    }

    /// The log now starts at `start_offset`: epochs that ended before it go, and the one
    /// holding it starts there.
    pub fn truncate_from_start(&mut self, start_offset: i64) -> bool {
        let covering = self
            .entries
            .iter()
            .rposition(|e| e.start_offset <= start_offset);
        let Some(covering) = covering else {
            return false;
        };
        let changed = covering > 0 || self.entries[covering].start_offset != start_offset;
        self.entries.drain(..covering);
        self.entries[0].start_offset = start_offset;
        changed
    }

    /// Kafka's `endOffsetFor`: the largest epoch at or below `requested` and the offset
    /// where it ended (the start of the next epoch, or `log_end` for the latest one).
    /// `UNDEFINED` when no epoch answers.
    pub fn end_offset_for(&self, requested: i32, log_end: i64) -> (i32, i64) {
        let Some(latest) = self.latest() else {
            return UNDEFINED;
        };
        if requested < 0 {
            return UNDEFINED;
        }
        if requested == latest.epoch {
            return (requested, log_end);
        }
        let Some(higher) = self.entries.iter().find(|e| e.epoch > requested) else {
            return UNDEFINED;
        };
        match self.entries.iter().rev().find(|e| e.epoch <= requested) {
            Some(floor) => (floor.epoch, higher.start_offset),
            // Older than anything kept: its data is gone, and the next epoch's start is
            // where a follower can safely begin.
            None => (requested, higher.start_offset),
        }
    }

    /// The checkpoint in Kafka's text layout: version, count, then "epoch offset" lines.
    pub fn to_text(&self) -> String {
        let mut text = format!("{CHECKPOINT_VERSION}\n{}\n", self.entries.len());
        for entry in &self.entries {
            text.push_str(&format!("{} {}\n", entry.epoch, entry.start_offset));
        }
        text
    }

    pub fn from_text(text: &str) -> Result<EpochCache, String> {
        let mut lines = text.lines();
        let mut next = |what: &str| lines.next().ok_or(format!("missing {what}"));
        let version: i64 = parse(next("version")?)?;
        if version != CHECKPOINT_VERSION {
            return Err(format!("unknown version {version}"));
        }
        let count: usize = parse(next("entry count")?)?;
        if count > ENTRIES_MAX {
            return Err(format!("{count} entries"));
        }
        let mut cache = EpochCache::default();
        for _ in 0..count {
            let line = next("an entry")?;
            let mut fields = line.split_whitespace();
            let (Some(epoch), Some(offset), None) = (fields.next(), fields.next(), fields.next())
            else {
                return Err(format!("malformed entry {line:?}"));
            };
            let entry = EpochEntry {
                epoch: parse(epoch)?,
                start_offset: parse(offset)?,
            };
            let monotonic = cache.latest().is_none_or(|last| {
                entry.epoch > last.epoch && entry.start_offset > last.start_offset
            });
            if !monotonic || entry.epoch < 0 || entry.start_offset < 0 {
                return Err(format!("entry {line:?} breaks the epoch order"));
            }
            cache.entries.push(entry);
        }
        Ok(cache)
    }

    /// Reads the checkpoint in `dir`; `None` when there is none.
    pub fn load(dir: &Path) -> Result<Option<EpochCache>, StorageError> {
        let path = dir.join(CHECKPOINT_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error).on(&path).map_err(StorageError::from),
        };
        let checkpoint = EpochCache::from_text(&text).map(Some);
        let damaged = checkpoint
            .map_err(|reason| std::io::Error::new(std::io::ErrorKind::InvalidData, reason));
        damaged.on(&path).map_err(StorageError::from)
    }

    /// Replaces the checkpoint in `dir` atomically and durably.
    pub async fn save(&self, dir: &Path) -> std::io::Result<()> {
        crate::storage::replace_file(&dir.join(CHECKPOINT_FILE), self.to_text().into_bytes()).await
    }
}

fn parse<T: std::str::FromStr>(field: &str) -> Result<T, String> {
    field
        .trim()
        .parse()
        .map_err(|_| format!("{field:?} is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cache(entries: &[(i32, i64)]) -> EpochCache {
        let mut cache = EpochCache::default();
        for (epoch, offset) in entries {
            assert!(cache.assign(*epoch, *offset));
        }
        cache
    }

    #[test]
    fn end_offsets_follow_kafkas_rules() {
        let c = cache(&[(1, 0), (3, 10), (6, 25)]);
        assert_eq!(c.end_offset_for(6, 40), (6, 40));
        assert_eq!(c.end_offset_for(3, 40), (3, 25));
        // An epoch this partition never had answers with the epoch before it.
        assert_eq!(c.end_offset_for(4, 40), (3, 25));
        assert_eq!(c.end_offset_for(0, 40), (0, 0));
        assert_eq!(c.end_offset_for(7, 40), UNDEFINED);
        assert_eq!(c.end_offset_for(-1, 40), UNDEFINED);
        assert_eq!(EpochCache::default().end_offset_for(0, 5), UNDEFINED);
    }

    #[test]
    fn assign_keeps_the_history_monotonic() {
        let mut c = cache(&[(1, 0), (3, 10)]);
        assert!(
            !c.assign(3, 12),
            "a later start of the same epoch changes nothing"
        );
        assert!(
            c.assign(3, 8),
            "an earlier start of the latest epoch replaces it"
        );
        assert!(
            c.assign(2, 5),
            "an older epoch replaces what it contradicts"
        );
        assert_eq!(c.entries(), &cache(&[(1, 0), (2, 5)]).entries);
    }

    #[test]
    fn truncation_from_either_end() {
        let mut c = cache(&[(1, 0), (3, 10), (6, 25)]);
        assert!(c.truncate_from_end(25));
        assert_eq!(
            c.latest(),
            Some(EpochEntry {
                epoch: 3,
                start_offset: 10
            })
        );
        assert!(c.truncate_from_start(12));
        assert_eq!(
            c.entries(),
            &[EpochEntry {
                epoch: 3,
                start_offset: 12
            }]
        );
        assert!(
            !c.truncate_from_start(5),
            "nothing starts that early any more"
        );
    }

    #[test]
    fn damaged_checkpoints_are_refused() {
        for text in [
            "",
            "1\n0\n",
            "0\n2\n0 0\n",
            "0\n1\n0\n",
            "0\n2\n3 10\n1 20\n",
            "0\n99999999999\n",
            "0\n1\n0 x\n",
        ] {
            assert!(EpochCache::from_text(text).is_err(), "{text:?}");
        }
    }

    proptest! {
        /// Whatever is assigned, the history stays strictly increasing and its text
        /// form reads back the same.
        #[test]
        fn assignments_round_trip(steps in proptest::collection::vec((0i32..20, 0i64..1000), 0..40)) {
            let mut c = EpochCache::default();
            for (epoch, offset) in steps {
                c.assign(epoch, offset);
                for pair in c.entries().windows(2) {
                    prop_assert!(pair[0].epoch < pair[1].epoch);
                    prop_assert!(pair[0].start_offset < pair[1].start_offset);
                }
            }
            prop_assert_eq!(EpochCache::from_text(&c.to_text()), Ok(c));
        }
    }
}
