//! Log tests on a real glommio executor and real files.

use std::path::Path;

use kafka_protocol::records::Compression;
use proptest::prelude::*;

use super::batch::tests::encode_batch;
use super::batch::{self, BatchHeader};
use super::log::segment_path;
use super::*;

fn run<T>(future: impl std::future::Future<Output = T>) -> T {
    glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .make()
        .expect("executor")
        .run(future)
}

fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 1024,
        index_interval_bytes: 100,
        ..LogConfig::default()
    }
}

/// Appends one batch of `count` records with timestamps `ts0, ts0+1, ...`.
async fn append(log: &Log, count: usize, ts0: i64) -> Appended {
    let values: Vec<Vec<u8>> = (0..count)
        .map(|i| format!("value-{i:04}").into_bytes())
        .collect();
    let refs: Vec<&[u8]> = values.iter().map(|v| v.as_slice()).collect();
    let timestamps: Vec<i64> = (0..count as i64).map(|i| ts0 + i).collect();
    let bytes = encode_batch(&refs, &timestamps, Compression::None);
    let infos = batch::validate(&bytes, 1 << 20).expect("valid");
    log.append(&bytes, infos, 0, 1_000).await.expect("append")
}

/// Every base offset readable from `from` to the end, following batch headers.
async fn read_all(log: &Log, mut from: i64) -> Vec<i64> {
    let mut bases = Vec::new();
    while let Some(slice) = log.read(from, 1 << 20, i64::MAX).await.expect("read") {
        let bytes = slice
            .file
            .read_at(slice.position, slice.length as usize)
            .await
            .expect("read");
        batch::walk(&bytes, true, |_, header: &BatchHeader| {
            bases.push(header.base_offset.get());
            from = header.last_offset() + 1;
        });
    }
    bases
}

#[test]
fn appends_read_back_across_segment_rolls() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(async {
        let log = Log::open(dir.path(), small_config(), 0)
            .await
            .expect("open");
        let mut expected = Vec::new();
        for i in 0..30 {
            let appended = append(&log, 3, i * 10).await;
            assert_eq!(appended.base_offset, i * 3);
            expected.push(appended.base_offset);
        }
        assert!(log.segment_count() > 3, "small segments roll");
        assert_eq!(read_all(&log, 0).await, expected);
        // A fetch in the middle of a batch starts at that batch.
        assert_eq!(read_all(&log, 31).await[0], 30);
        assert!(log
            .read(log.end_offset(), 100, i64::MAX)
            .await
            .expect("at end")
            .is_none());
        assert!(matches!(
            log.read(91, 100, i64::MAX).await,
            Err(StorageError::OffsetOutOfRange { .. })
        ));
    });
}

#[test]
fn one_append_of_more_batches_than_one_pwritev_takes() {
    // Each batch is written as two buffers (its stored header, then its body), so 700
    // batches are more than one pwritev passes (1024 buffers): the append goes on where
    // the first call stopped.
    let dir = tempfile::tempdir().expect("tempdir");
    let batches: Vec<Vec<u8>> = (0..700)
        .map(|i| encode_batch(&[b"a", b"bb"], &[i, i + 1], Compression::None))
        .collect();
    let bytes = batches.concat();
    let infos = batch::validate(&bytes, 1 << 20).expect("valid");
    let expected: Vec<i64> = (0..700).map(|i| i * 2).collect();
    run(async {
        let config = LogConfig {
            segment_bytes: 1 << 20,
            ..small_config()
        };
        let log = Log::open(dir.path(), config, 0).await.expect("open");
        let appended = log.append(&bytes, infos, 3, 1_000).await.expect("append");
        assert_eq!((appended.base_offset, appended.last_offset), (0, 1399));
        assert_eq!(read_all(&log, 0).await, expected);
        log.close().await.expect("close");
        let log = Log::open(dir.path(), config, 0).await.expect("reopen");
        assert_eq!(log.end_offset(), 1400);
        assert_eq!(read_all(&log, 0).await, expected);
    });
}

/// Writes 20 batches of two records into a new log of small segments, closes it, and
/// returns the batches' base offsets.
fn twenty_batches_in_small_segments(dir: &std::path::Path) -> Vec<i64> {
    run(async {
        let log = Log::open(dir, small_config(), 0).await.expect("open");
        let mut bases = Vec::new();
        for i in 0..20 {
            bases.push(append(&log, 2, i).await.base_offset);
        }
        log.close().await.expect("close");
        bases
    })
}

#[test]
fn reopening_finds_everything_and_rebuilds_missing_indexes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let expected = twenty_batches_in_small_segments(dir.path());
    let index = dir.path().join(format!("{:020}.index", 0));
    std::fs::remove_file(&index).expect("an index for the first sealed segment");
    run(async {
        let log = Log::open(dir.path(), small_config(), 0)
            .await
            .expect("reopen");
        assert_eq!(log.end_offset(), 40);
        assert_eq!(read_all(&log, 0).await, expected);
        assert_eq!(read_all(&log, 17).await[0], 16);
        assert_eq!(append(&log, 1, 0).await.base_offset, 40);
    });
}

#[test]
fn finds_the_first_record_at_or_after_a_timestamp() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(async {
        let log = Log::open(dir.path(), small_config(), 0)
            .await
            .expect("open");
        for i in 0..10 {
            append(&log, 5, 1000 + i * 100).await;
        }
        // Batch 3 holds offsets 15..19 with timestamps 1300..1304.
        assert_eq!(
            log.offset_for_timestamp(1302).await.expect("lookup"),
            Some((17, 1302))
        );
        assert_eq!(
            log.offset_for_timestamp(0).await.expect("lookup"),
            Some((0, 1000))
        );
        assert_eq!(
            log.offset_for_timestamp(1350).await.expect("lookup"),
            Some((20, 1400))
        );
        assert_eq!(log.offset_for_timestamp(5000).await.expect("lookup"), None);
    });
}

#[test]
fn retention_and_delete_records_drop_whole_old_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(async {
        let config = LogConfig {
            retention_bytes: 2048,
            ..small_config()
        };
        let log = Log::open(dir.path(), config, 0).await.expect("open");
        for i in 0..40 {
            append(&log, 3, i).await;
        }
        let before = log.size_bytes();
        // Nothing at or past the high watermark goes: here it is in the first segment.
        let kept = log.enforce_retention(2_000, 1).await.expect("retention");
        assert_eq!((kept, log.start_offset()), (0, 0));
        let deleted = log
            .enforce_retention(2_000, i64::MAX)
            .await
            .expect("retention");
        assert!(deleted > 0 && log.size_bytes() < before);
        assert!(
            log.size_bytes() as i64 >= 2048 - 1024,
            "keeps at least retention.bytes minus a segment"
        );
        let start = log.start_offset();
        assert!(start > 0);
        assert!(matches!(
            log.read(start - 1, 10, i64::MAX).await,
            Err(StorageError::OffsetOutOfRange { .. })
        ));
        assert_eq!(read_all(&log, start).await[0], start);

        let cut = log.end_offset() - 4;
        assert_eq!(
            log.delete_records_before(cut)
                .await
                .expect("delete records"),
            cut
        );
        assert!(log.read(cut - 1, 10, i64::MAX).await.is_err());
        let config = LogConfig {
            retention_ms: 500,
            ..small_config()
        };
        log.set_config(config);
        log.enforce_retention(10_000, i64::MAX)
            .await
            .expect("time retention");
        assert_eq!(
            log.segment_count(),
            1,
            "one empty segment is left, at the log end"
        );
        assert_eq!(
            (log.start_offset(), log.size_bytes()),
            (log.end_offset(), 0)
        );
        assert!(log
            .read(log.end_offset(), 10, i64::MAX)
            .await
            .expect("at the end")
            .is_none());
        assert_eq!(append(&log, 1, 20_000).await.base_offset, 120);
    });
    run(async {
        let log = Log::open(dir.path(), small_config(), 0)
            .await
            .expect("reopen");
        assert_eq!(
            log.start_offset(),
            120,
            "the log start offset is checkpointed"
        );
    });
}

#[test]
fn an_append_waits_for_the_roll_retention_started() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(async {
        let config = LogConfig {
            retention_ms: 500,
            ..small_config()
        };
        let log = Log::open(dir.path(), config, 0).await.expect("open");
        append(&log, 3, 0).await;
        // Retention takes the append turn to roll the expired active segment and awaits
        // the new segment's files; the append comes in meanwhile and waits its turn.
        let (retention, appended) = futures::join!(
            log.enforce_retention(10_000, i64::MAX),
            append(&log, 1, 10_000)
        );
        assert_eq!(retention.expect("retention"), 1);
        assert_eq!(appended.base_offset, 3);
        assert_eq!(log.start_offset(), 3);
        assert_eq!(read_all(&log, 3).await, vec![3]);
    });
}

/// Appends `batches` batches, cuts the active segment at `cut` bytes (or flips a byte
/// there), reopens, and checks the log holds exactly the whole, sound batches before it.
fn recover_after_damage(batches: usize, cut: usize, flip: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        segment_bytes: 1 << 20,
        ..small_config()
    };
    let ends = run(async {
        let log = Log::open(dir.path(), config, 0).await.expect("open");
        let mut ends = Vec::new();
        for i in 0..batches {
            append(&log, 1 + i % 4, i as i64).await;
            ends.push((log.size_bytes(), log.end_offset()));
        }
        ends
    });
    let path = segment_path(dir.path(), 0);
    let mut bytes = std::fs::read(&path).expect("segment");
    let mut cut = cut % (bytes.len() + 1);
    if flip && cut < bytes.len() {
        // Base offset and leader epoch sit outside the CRC: damage the covered part.
        let batch_start = ends
            .iter()
            .map(|(end, _)| *end as usize)
            .filter(|end| *end <= cut)
            .max()
            .unwrap_or(0);
        if cut - batch_start < 21 {
            cut = batch_start + 21 + (cut - batch_start);
        }
        bytes[cut] ^= 0x5a;
    } else {
        bytes.truncate(cut);
    }
    std::fs::write(&path, &bytes).expect("damage");
    let survivors = ends.iter().filter(|(end, _)| *end as usize <= cut).count();
    let (expected_size, expected_end) = if survivors == 0 {
        (0, 0)
    } else {
        ends[survivors - 1]
    };
    run(async {
        let log = Log::open(dir.path(), config, 0).await.expect("recover");
        assert_eq!(
            log.end_offset(),
            expected_end,
            "damage at {cut} of {}",
            bytes.len()
        );
        assert_eq!(
            std::fs::metadata(&path).expect("segment").len(),
            expected_size
        );
        assert_eq!(read_all(&log, 0).await.len(), survivors);
        assert_eq!(append(&log, 1, 0).await.base_offset, expected_end);
    });
}

#[test]
fn a_torn_tail_is_truncated_to_the_last_whole_batch() {
    recover_after_damage(10, 300, false);
    recover_after_damage(10, 0, false);
}

#[test]
fn a_corrupt_byte_truncates_from_its_batch() {
    recover_after_damage(10, 250, true);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn random_tail_damage_recovers_to_the_last_whole_batch(batches in 1usize..12, cut in 0usize..4000, flip in any::<bool>()) {
        recover_after_damage(batches, cut, flip);
    }
}

#[test]
fn log_directory_layout_is_kafkas() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(async {
        let log = Log::open(dir.path(), small_config(), 0)
            .await
            .expect("open");
        for i in 0..20 {
            append(&log, 3, i).await;
        }
    });
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&"00000000000000000000.log".to_string()));
    assert!(names.contains(&"00000000000000000000.index".to_string()));
    assert!(names.contains(&"00000000000000000000.timeindex".to_string()));
    // Beside Kafka's files, only the log's recovery point (Kafka keeps one file for
    // every log of a directory; here each shard's logs are its own).
    assert!(names
        .iter()
        .all(|n| Path::new(n).extension().is_some() || n == "recovery-point-offset"));
}

#[test]
fn reads_stop_at_the_bound_they_are_given() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(async {
        let log = Log::open(dir.path(), small_config(), 0)
            .await
            .expect("open");
        for i in 0..4 {
            append(&log, 2, i * 10).await;
        }
        // Batches start at 0, 2, 4 and 6: a bound at 4 lets two of them through.
        let slice = log.read(0, 1 << 20, 4).await.expect("read").expect("data");
        let bytes = slice
            .file
            .read_at(slice.position, slice.length as usize)
            .await
            .expect("read");
        let mut bases = Vec::new();
        let end = batch::walk(&bytes, true, |_, h| bases.push(h.base_offset.get()));
        assert_eq!((bases, end), (vec![0, 2], batch::WalkEnd::Clean));
        assert!(log.read(4, 1 << 20, 4).await.expect("read").is_none());
        assert!(log.read(5, 1 << 20, 4).await.expect("read").is_none());
    });
}

#[test]
fn truncation_cuts_at_the_batch_holding_the_offset_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(async {
        let log = Log::open(dir.path(), small_config(), 0)
            .await
            .expect("open");
        for i in 0..30 {
            append(&log, 3, i * 10).await;
        }
        let segments = log.segment_count();
        assert!(segments > 3);
        // Offset 40 lies in the batch 39..=41: that whole batch goes.
        assert_eq!(log.truncate_to(40, 5_000).await.expect("truncate"), 39);
        assert_eq!(log.end_offset(), 39);
        assert!(log.segment_count() < segments);
        assert_eq!(read_all(&log, 0).await.last(), Some(&36));
        assert_eq!(append(&log, 1, 7).await.base_offset, 39);
        // Beyond the end it changes nothing.
        assert_eq!(log.truncate_to(1_000, 5_000).await.expect("no-op"), 40);
    });
    run(async {
        let log = Log::open(dir.path(), small_config(), 0)
            .await
            .expect("reopen");
        assert_eq!(log.end_offset(), 40);
        let bases = read_all(&log, 0).await;
        assert_eq!(bases.len(), 14);
        assert_eq!(bases.last(), Some(&39));
        // Before the first offset the log starts over, empty, there.
        assert_eq!(log.truncate_to(0, 6_000).await.expect("truncate"), 0);
        assert_eq!((log.start_offset(), log.end_offset()), (0, 0));
        assert_eq!(log.segment_count(), 1);
        assert_eq!(append(&log, 2, 8).await.base_offset, 0);
    });
}

/// A batch of `count` records stored at `base` in leader epoch `epoch`, as a follower
/// receives it.
fn stored_batch(base: i64, count: usize, epoch: i32) -> Vec<u8> {
    let values: Vec<&[u8]> = (0..count).map(|_| &b"replica"[..]).collect();
    let timestamps: Vec<i64> = (0..count as i64).collect();
    let mut bytes = encode_batch(&values, &timestamps, Compression::None);
    batch::assign_offset(&mut bytes, base, epoch);
    bytes
}

#[test]
fn a_follower_append_keeps_its_leaders_offsets_and_refuses_going_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(async {
        let log = Log::open(dir.path(), small_config(), 0)
            .await
            .expect("open");
        // Offsets 3 and 4 were compacted away on the leader: the gap is kept.
        let bytes = [stored_batch(0, 3, 1), stored_batch(5, 2, 1)].concat();
        let infos = batch::validate(&bytes, 1 << 20).expect("valid");
        let appended = log.append_at(&bytes, infos, 0).await.expect("append");
        assert_eq!((appended.base_offset, appended.last_offset), (0, 6));
        assert_eq!(log.end_offset(), 7);
        assert_eq!(read_all(&log, 0).await, vec![0, 5]);
        assert_eq!(read_all(&log, 3).await, vec![5]);
        let old = stored_batch(6, 1, 1);
        let infos = batch::validate(&old, 1 << 20).expect("valid");
        assert!(matches!(
            log.append_at(&old, infos, 0).await,
            Err(StorageError::OutOfOrder {
                offset: 6,
                expected: 7
            })
        ));
    });
    run(async {
        let log = Log::open(dir.path(), small_config(), 0)
            .await
            .expect("reopen");
        assert_eq!(log.end_offset(), 7);
        let header = {
            let slice = log.read(0, 1, i64::MAX).await.expect("read").expect("data");
            let bytes = slice.file.read_at(slice.position, 61).await.expect("read");
            BatchHeader::parse(&bytes)
                .expect("header")
                .partition_leader_epoch
                .get()
        };
        assert_eq!(
            header, 1,
            "stored byte for byte, the leader's epoch included"
        );
    });
}

#[cfg(feature = "failpoints")]
#[test]
fn a_failed_fdatasync_takes_the_log_offline_for_good() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    run(async {
        let log = Log::open(dir.path(), LogConfig::default(), 1_000)
            .await
            .expect("open");
        append(&log, 3, 0).await;
        // Only this test's directory fails: the fail crate's points are the process's.
        fail::cfg("storage::fdatasync", &format!("return(eio@{marker})")).unwrap();
        let first = log.flush().await.unwrap_err();
        fail::remove("storage::fdatasync");
        assert!(matches!(first, StorageError::Io(_)), "{first}");
        let segment = dir.path().join(super::segment_file_name(0, "log"));
        assert!(
            first.to_string().contains(&*segment.to_string_lossy()),
            "{first}"
        );
        assert!(log.is_offline());
        // The device would succeed now; the log still refuses, instead of a sync that
        // could succeed without the pages the failed one lost.
        assert!(matches!(
            log.flush().await,
            Err(StorageError::Offline { .. })
        ));
        let values: [&[u8]; 1] = [b"late"];
        let bytes = encode_batch(&values, &[1], Compression::None);
        let infos = batch::validate(&bytes, 1 << 20).expect("valid");
        let refused = log.append(&bytes, infos, 0, 1_000).await.unwrap_err();
        assert!(refused.to_string().contains("is offline: fdatasync failed"));
        assert!(matches!(
            log.read(0, 1 << 20, i64::MAX).await,
            Err(StorageError::Offline { .. })
        ));
    });
    // A restart recovers the log from disk, as after a crash.
    run(async {
        let log = Log::open(dir.path(), LogConfig::default(), 1_000)
            .await
            .expect("reopen");
        assert!(!log.is_offline());
        append(&log, 1, 10).await;
        log.flush().await.expect("flush");
    });
}

#[test]
fn a_log_start_checkpoint_that_is_not_an_offset_or_past_the_end_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let checkpoint = dir.path().join("log-start-offset");
    run(async {
        let log = Log::open(dir.path(), small_config(), 1_000)
            .await
            .expect("open");
        for i in 0..5 {
            append(&log, 3, i * 10).await;
        }
        log.flush().await.expect("flush");
    });
    for (text, says) in [
        ("seven\n", "is not an offset"),
        ("-3\n", "is not an offset"),
        ("999\n", "the log start 999 is past the log's end 15"),
    ] {
        std::fs::write(&checkpoint, text).unwrap();
        let error = run(Log::open(dir.path(), small_config(), 1_000))
            .err()
            .expect("refused")
            .to_string();
        assert!(error.contains(&checkpoint.display().to_string()), "{error}");
        assert!(error.contains(says), "{error}");
    }
    // A start below the first segment is the first segment's base, as before.
    std::fs::write(&checkpoint, "0\n").unwrap();
    let start = run(async {
        let log = Log::open(dir.path(), small_config(), 1_000)
            .await
            .expect("open");
        log.start_offset()
    });
    assert_eq!(start, 0);
}

#[test]
fn a_well_formed_index_that_does_not_match_its_segment_is_rebuilt() {
    use super::index::OffsetIndex;
    let dir = tempfile::tempdir().expect("tempdir");
    let expected = twenty_batches_in_small_segments(dir.path());
    let path = dir.path().join(format!("{:020}.index", 0));
    let good = std::fs::read(&path).unwrap();
    let size = std::fs::metadata(segment_path(dir.path(), 0))
        .unwrap()
        .len();
    let index = OffsetIndex::from_bytes(&good, size).expect("a well-formed index");
    assert!(
        !index.entries().is_empty(),
        "the test needs an indexed sealed segment"
    );
    // Every entry points one byte into its batch: ordered, in bounds, and a seek to
    // garbage.
    let mut wrong = OffsetIndex::default();
    for (relative, position) in index.entries() {
        wrong.push(*relative, position + 1);
    }
    std::fs::write(&path, wrong.to_bytes()).unwrap();
    assert!(OffsetIndex::from_bytes(&std::fs::read(&path).unwrap(), size).is_some());
    run(async {
        let log = Log::open(dir.path(), small_config(), 0)
            .await
            .expect("reopen");
        assert_eq!(read_all(&log, 0).await, expected);
        for (i, base) in expected.iter().enumerate() {
            // Each batch holds two records: both offsets lead to it.
            assert_eq!(read_all(&log, base + 1).await[0], *base, "batch {i}");
        }
    });
    // The file is written again from the log (the rebuilt one also indexes the first
    // batch, which appends do not).
    let rebuilt = OffsetIndex::from_bytes(&std::fs::read(&path).unwrap(), size).unwrap();
    let kept: Vec<_> = rebuilt
        .entries()
        .iter()
        .filter(|e| index.entries().contains(e))
        .collect();
    assert_eq!(kept.len(), index.entries().len(), "{rebuilt:?}");
    assert!(rebuilt
        .entries()
        .iter()
        .all(|e| !wrong.entries().contains(e)));
}

/// Damage done to a sealed segment while its log is closed.
#[derive(Debug, Clone, Copy)]
enum Damage {
    /// The file ends inside a batch.
    Cut,
    /// A batch's length field is one more than it should be.
    Length,
    /// A batch's base offset grows by 64 (the CRC does not cover it).
    BaseOffset,
    /// A byte of a batch's records flips.
    Payload,
}

/// Damages the third batch of the log's first segment; returns that batch's base offset.
fn damage_first_segment(dir: &Path, damage: Damage) -> i64 {
    let path = segment_path(dir, 0);
    let mut bytes = std::fs::read(&path).unwrap();
    let mut batches = Vec::new();
    batch::walk(&bytes, true, |at, header| {
        batches.push((at, header.total_size().unwrap(), header.base_offset.get()))
    });
    assert!(batches.len() > 3, "the test needs a fuller first segment");
    let (at, size, base) = batches[2];
    match damage {
        Damage::Cut => bytes.truncate(at + size / 2),
        Damage::Length => bytes[at + 11] ^= 0x01,
        Damage::BaseOffset => bytes[at + 7] ^= 0x40,
        Damage::Payload => bytes[at + size - 1] ^= 0xff,
    }
    std::fs::write(&path, bytes).unwrap();
    base
}

const DAMAGES: [Damage; 4] = [
    Damage::Cut,
    Damage::Length,
    Damage::BaseOffset,
    Damage::Payload,
];

#[test]
fn the_recovery_point_follows_rolls_and_a_clean_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    let point = dir.path().join("recovery-point-offset");
    let read_point = || {
        std::fs::read_to_string(&point)
            .unwrap()
            .trim()
            .parse::<i64>()
            .unwrap()
    };
    run(async {
        let log = Log::open(dir.path(), small_config(), 0)
            .await
            .expect("open");
        for i in 0..20 {
            append(&log, 2, i).await;
        }
        // Rolled segments are durable: the point is the active segment's base.
        assert!(log.segment_count() > 1);
        assert_eq!(read_point(), log.active_base_offset());
        log.close().await.expect("close");
        assert_eq!(read_point(), 40);
        // Cutting the log back lowers it to the base of the segment that is cut.
        let bases = log.segment_bases();
        let end = log.truncate_to(bases[1] + 1, 0).await.expect("truncate");
        assert!(end <= bases[1] + 1);
        assert_eq!(read_point(), bases[1]);
    });
}

#[test]
fn damage_in_an_older_segment_takes_the_log_offline_naming_the_file_and_offset() {
    // A clean close leaves the recovery point at the end: the damaged segment is checked
    // when a read first reaches it. After a crash (a point below it, or none yet) it is
    // checked at start-up.
    for damage in DAMAGES {
        for point in ["clean", "0", "none"] {
            let case = format!("{damage:?}, recovery point {point}");
            let dir = tempfile::tempdir().expect("tempdir");
            twenty_batches_in_small_segments(dir.path());
            let base = damage_first_segment(dir.path(), damage);
            let point_file = dir.path().join("recovery-point-offset");
            match point {
                "0" => std::fs::write(&point_file, "0\n").unwrap(),
                "none" => std::fs::remove_file(&point_file).unwrap(),
                _ => {}
            }
            let error = run(async {
                let log = Log::open(dir.path(), small_config(), 0).await.expect(&case);
                assert_eq!(log.is_offline(), point != "clean", "{case}");
                let error = log.read(0, 1 << 20, i64::MAX).await.err().expect(&case);
                assert!(log.is_offline(), "{case}");
                // Nothing of the log is served any more, nor appended.
                let later = log.read(log.end_offset() - 1, 1 << 20, i64::MAX).await;
                assert!(matches!(later, Err(StorageError::Offline { .. })), "{case}");
                error.to_string()
            });
            let file = segment_path(dir.path(), 0).display().to_string();
            assert!(error.contains(&file), "{case}: {error}");
            if !matches!(damage, Damage::BaseOffset) {
                assert!(
                    error.contains(&format!("(offset {base})")),
                    "{case}: {error}"
                );
            }
        }
    }
}

#[test]
fn an_intact_log_behind_its_recovery_point_reads_whole_once_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let expected = twenty_batches_in_small_segments(dir.path());
    run(async {
        let log = Log::open(dir.path(), small_config(), 0)
            .await
            .expect("open");
        assert_eq!(read_all(&log, 0).await, expected);
        assert_eq!(read_all(&log, 0).await, expected);
        assert!(!log.is_offline());
    });
}

#[test]
fn an_io_error_names_its_file_and_keeps_its_kind_and_os_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("gone").join("partition.metadata");
    run(async {
        let error = super::replace_file(&missing, b"x".to_vec())
            .await
            .unwrap_err();
        let text = error.to_string();
        assert!(text.contains("gone/partition.metadata"), "{text}");
        assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
        // A file named once is not named again by a caller further up.
        let again = super::on_file(error, dir.path()).to_string();
        assert_eq!(again, text);
        // A full disk is still seen as one through the name (appends log it once).
        let full = std::io::Error::from_raw_os_error(libc::ENOSPC);
        let full = super::on_file(full, &missing);
        assert_eq!(super::os_error(&full), Some(libc::ENOSPC));
        assert_eq!(full.kind(), std::io::ErrorKind::StorageFull);
        let error = super::sync_dir(&dir.path().join("gone")).await.unwrap_err();
        assert!(error.to_string().contains("gone"), "{error}");
    });
}
