//! Compaction over a real log on disk.

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::records::{Compression, RecordBatchDecoder};

use super::batch;
use super::*;
use crate::client::records::{encode_batch, NewRecord};

fn run<T>(future: impl std::future::Future<Output = T>) -> T {
    glommio::LocalExecutorBuilder::default()
        .make()
        .expect("executor")
        .run(future)
}

async fn put(log: &Log, records: &[(&str, Option<&str>, i64)], compression: Compression) {
    let records: Vec<NewRecord> = records
        .iter()
        .map(|(key, value, timestamp)| NewRecord {
            key: Some(Bytes::from(key.to_string())),
            value: value.map(|v| Bytes::from(v.to_string())),
            timestamp: *timestamp,
            headers: Vec::new(),
        })
        .collect();
    let bytes = encode_batch(&records, compression)
        .expect("encode")
        .to_vec();
    let infos = batch::validate(&bytes, 1 << 20).expect("valid");
    log.append(&bytes, infos, 0, 1_000).await.expect("append");
}

/// (offset, key, value) of every record in the log, in order.
async fn records(log: &Log) -> Vec<(i64, String, Option<String>)> {
    let mut out = Vec::new();
    let mut next = log.start_offset();
    while let Some(slice) = log.read(next, 1 << 20, i64::MAX).await.expect("read") {
        let bytes = slice
            .file
            .read_at(slice.position, slice.length as usize)
            .await
            .expect("read_at");
        let mut buf = Bytes::copy_from_slice(&bytes);
        let sets = RecordBatchDecoder::decode_all(&mut buf).expect("whole batches");
        for record in sets.into_iter().flat_map(|s| s.records) {
            let text =
                |b: &Option<Bytes>| b.as_ref().map(|b| String::from_utf8_lossy(b).to_string());
            out.push((
                record.offset,
                text(&record.key).unwrap_or_default(),
                text(&record.value),
            ));
            next = record.offset + 1;
        }
        if next >= log.end_offset() {
            break;
        }
    }
    out
}

/// A compact-only log with segments of a few batches each.
fn compacted() -> LogConfig {
    LogConfig {
        segment_bytes: 300,
        compact: true,
        delete: false,
        ..LogConfig::default()
    }
}

#[test]
fn compaction_keeps_the_last_value_per_key_in_offset_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(async {
        let config = LogConfig {
            delete_retention_ms: 1_000,
            ..compacted()
        };
        let log = Log::open(dir.path(), config, 0).await.expect("open");
        let mut expected: BTreeMap<String, (i64, Option<String>)> = BTreeMap::new();
        let codecs = [Compression::None, Compression::Gzip, Compression::Lz4];
        for round in 0..12i64 {
            let key_a = format!("k{}", round % 3);
            let key_b = format!("k{}", (round + 1) % 5);
            // k4 is deleted by a tombstone in the last round; its tombstone is recent.
            let value_b = (round == 11)
                .then_some(())
                .map_or(Some(format!("v{round}b")), |_| None);
            let batch = [
                (key_a.as_str(), Some(format!("v{round}a")), 10 + round),
                (key_b.as_str(), value_b.clone(), 10 + round),
            ];
            let refs: Vec<(&str, Option<&str>, i64)> = batch
                .iter()
                .map(|(k, v, t)| (*k, v.as_deref(), *t))
                .collect();
            let end = log.end_offset();
            put(&log, &refs, codecs[round as usize % 3]).await;
            expected.insert(key_a.clone(), (end, Some(format!("v{round}a"))));
            expected.insert(key_b.clone(), (end + 1, value_b));
        }
        assert!(log.segment_count() > 3, "the test needs sealed segments");
        let before = records(&log).await;
        let end = log.end_offset();
        let removed = log
            .compact(12, usize::MAX, &log::Stable::all())
            .await
            .expect("compact");
        let after = records(&log).await;
        assert_eq!(removed, before.len() - after.len());
        assert!(removed > 0);
        assert_eq!(log.end_offset(), end, "compaction never renumbers");
        assert!(
            after.windows(2).all(|w| w[0].0 < w[1].0),
            "offsets stay in order"
        );
        for (offset, key, value) in &after {
            let original = before
                .iter()
                .find(|r| r.0 == *offset)
                .expect("offset existed");
            assert_eq!(
                (key, value),
                (&original.1, &original.2),
                "record {offset} changed"
            );
        }
        // Every key's last record survives (those in the active segment included).
        for (key, (offset, value)) in &expected {
            assert!(
                after.contains(&(*offset, key.clone(), value.clone())),
                "{key} lost its last record"
            );
        }
        // Nothing superseded survives in the cleaned (sealed) part.
        let sealed_end = log.cleaned_up_to();
        for (offset, key, _) in after.iter().filter(|r| r.0 < sealed_end) {
            assert_eq!(
                expected[key].0, *offset,
                "superseded record {offset} of {key} kept"
            );
        }
        // Reopening finds the same records (indexes rebuilt from the cleaned files).
        drop(log);
        let log = Log::open(dir.path(), config, 0).await.expect("reopen");
        assert_eq!(records(&log).await, after);
        // Once old enough, the tombstone goes as well.
        put(&log, &[("k0", Some("late"), 5_000)], Compression::None).await;
        put(&log, &[("k1", Some("late"), 5_000)], Compression::None).await;
        log.compact(10_000, usize::MAX, &log::Stable::all())
            .await
            .expect("compact again");
        let tombstones: Vec<_> = records(&log)
            .await
            .into_iter()
            .filter(|r| r.2.is_none() && r.0 < log.cleaned_up_to())
            .collect();
        assert!(
            tombstones.is_empty(),
            "expired tombstones kept: {tombstones:?}"
        );
    });
}

#[test]
fn a_bounded_key_map_cleans_in_several_runs_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(async {
        let config = compacted();
        let log = Log::open(dir.path(), config, 0).await.expect("open");
        for round in 0..30i64 {
            let (a, b) = (format!("k{}", round % 10), format!("k{}", (round * 7) % 10));
            let (va, vb) = (format!("v{round}a"), format!("v{round}b"));
            let batch = [
                (a.as_str(), Some(va.as_str()), round),
                (b.as_str(), Some(vb.as_str()), round),
            ];
            put(&log, &batch, Compression::None).await;
        }
        let before = records(&log).await;
        // Room for a few segments' keys, not for all ten keys at once.
        let map_entries_max = 6;
        let mut runs = 0;
        while log.cleaned_up_to() < log.active_base_offset() {
            let reached = log.cleaned_up_to();
            log.compact(100, map_entries_max, &log::Stable::all())
                .await
                .expect("compact");
            runs += 1;
            assert!(log.cleaned_up_to() > reached, "run {runs} made no progress");
        }
        assert!(runs > 1);
        let after = records(&log).await;
        let cleaned_up_to = log.cleaned_up_to();
        // Each key's newest record survives, and in the cleaned part nothing older.
        let mut newest: BTreeMap<String, i64> = BTreeMap::new();
        for (offset, key, _) in &before {
            newest.insert(key.clone(), *offset);
        }
        for (key, offset) in &newest {
            assert!(
                after.iter().any(|r| r.0 == *offset && &r.1 == key),
                "{key} lost its last record"
            );
        }
        let mut newest_cleaned: BTreeMap<String, i64> = BTreeMap::new();
        for (offset, key, _) in before.iter().filter(|r| r.0 < cleaned_up_to) {
            newest_cleaned.insert(key.clone(), *offset);
        }
        for (offset, key, _) in after.iter().filter(|r| r.0 < cleaned_up_to) {
            assert_eq!(
                newest_cleaned[key], *offset,
                "superseded record {offset} of {key} kept"
            );
        }
    });
}

#[test]
fn segments_compaction_emptied_do_not_move_the_log_start_under_time_retention() {
    // Every record but the last supersedes an older one, so cleaning leaves the first
    // sealed segments without records. Kafka dates such a segment by its file, not as
    // older than any retention: the log start stays where it was.
    let dir = tempfile::tempdir().expect("tempdir");
    run(async {
        let now = 1_000_000_000;
        let config = LogConfig {
            delete: true,
            retention_ms: 60_000,
            ..compacted()
        };
        let log = Log::open(dir.path(), config, now).await.expect("open");
        for i in 0..20 {
            let value = format!("v{i}");
            put(&log, &[("k", Some(value.as_str()), now)], Compression::None).await;
        }
        assert!(log.segment_count() > 3, "small segments roll");
        assert!(
            log.compact(now, 1 << 20, &log::Stable::all())
                .await
                .expect("compact")
                > 0
        );
        assert_eq!(
            log.enforce_retention(now, i64::MAX)
                .await
                .expect("retention"),
            0
        );
        assert_eq!(log.start_offset(), 0);
        // Read from offset 0: what stays is the active segment, never rewritten.
        let kept = records(&log).await;
        assert_eq!(kept.last(), Some(&(19, "k".into(), Some("v19".into()))));
        assert!(kept
            .iter()
            .all(|(at, _, _)| *at >= log.active_base_offset()));
    });
}
