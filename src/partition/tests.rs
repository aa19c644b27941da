//! Partition tests on a real glommio executor, real files and the shard's writer.

use std::future::Future;
use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::records::Compression;

use super::*;
use crate::storage::batch::tests::encode_batch;

fn run<T>(future: impl Future<Output = T>) -> T {
    glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .make()
        .expect("executor")
        .run(future)
}

fn settings() -> Settings {
    Settings {
        log: LogConfig {
            segment_bytes: 2048,
            index_interval_bytes: 100,
            ..LogConfig::default()
        },
        max_message_bytes: 1 << 20,
        flush_interval_ms: None,
        producer_id_expiration_ms: 86_400_000,
        min_insync_replicas: 1,
        timestamp_bounds: None,
        compression: (crate::config::CompressionType::Producer, 0),
    }
}

/// Opens the partition in `dir` with a running writer.
async fn open(dir: &Path) -> Rc<Partition> {
    let writer = Rc::new(Writer::default());
    glommio::spawn_local(Rc::clone(&writer).run_appender()).detach();
    glommio::spawn_local(Rc::clone(&writer).run_syncer()).detach();
    let partition = Partition::open("t".into(), 0, dir, &settings(), writer, 0)
        .await
        .expect("open");
    Rc::new(partition)
}

fn records(count: usize) -> Bytes {
    let values: Vec<&[u8]> = (0..count).map(|_| &b"value"[..]).collect();
    let timestamps: Vec<i64> = (0..count as i64).collect();
    Bytes::from(encode_batch(&values, &timestamps, Compression::None))
}

async fn produce(partition: &Rc<Partition>, count: usize) -> Produced {
    partition
        .append(records(count), Acks::All, Origin::Client, 1_000)
        .expect("queued")
        .await
        .expect("appended")
}

#[test]
fn a_stopping_writer_answers_every_append_queued_before_it_stopped() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(async {
        let writer = Rc::new(Writer::default());
        let appender = glommio::spawn_local(Rc::clone(&writer).run_appender());
        let syncer = glommio::spawn_local(Rc::clone(&writer).run_syncer());
        let partition = Partition::open(
            "t".into(),
            0,
            dir.path(),
            &settings(),
            Rc::clone(&writer),
            0,
        )
        .await
        .expect("open");
        let partition = Rc::new(partition);
        let queued: Vec<_> = (0..2)
            .map(|_| {
                let append = partition.append(records(1), Acks::All, Origin::Client, 1_000);
                glommio::spawn_local(append.expect("queued"))
            })
            .collect();
        writer.stop();
        appender.await;
        syncer.await;
        for (offset, answer) in (0..).zip(queued) {
            assert_eq!(answer.await.map(|p| p.base_offset), Ok(offset));
        }
    });
}

#[test]
fn appends_are_answered_in_the_order_they_were_queued() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(async {
        let partition = open(dir.path()).await;
        // Queued one after another, awaited all at once in reverse: the offsets follow
        // the queueing order, not the order anything is polled in.
        let pending: Vec<_> = (1..=20)
            .map(|count| {
                partition
                    .append(records(count), Acks::All, Origin::Client, 1_000)
                    .expect("queued")
            })
            .collect();
        let mut answers = futures::future::join_all(pending.into_iter().rev()).await;
        answers.reverse();
        let mut expected = 0;
        for (i, answer) in answers.into_iter().enumerate() {
            assert_eq!(answer.expect("appended").base_offset, expected);
            expected += i as i64 + 1;
        }
        let offsets = partition.offsets();
        assert_eq!(offsets.log_end, expected);
        assert_eq!(
            offsets.high_watermark, expected,
            "one replica: all of it committed"
        );
        assert_eq!(
            partition.durable_offset(),
            expected,
            "acks=all waited for the sync"
        );
    });
}

#[test]
fn the_leader_epoch_history_is_checkpointed_and_answers_offset_for_leader_epoch() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(async {
        let partition = open(dir.path()).await;
        produce(&partition, 3).await;
        assert_eq!(partition.end_offset_for_epoch(0, -1), Ok((0, 3)));
        assert_eq!(partition.end_offset_for_epoch(1, -1), Ok(epochs::UNDEFINED));
        assert_eq!(
            partition.end_offset_for_epoch(0, 1).map_err(|e| e.code),
            Err(ResponseError::UnknownLeaderEpoch)
        );
        // A follower's copy of batches its leader wrote in epoch 4.
        let mut batch = records(2).to_vec();
        crate::storage::batch::assign_offset(&mut batch, 3, 4);
        partition.append_at(&batch, 2_000).await.expect("append");
        assert_eq!(partition.end_offset_for_epoch(0, -1), Ok((0, 3)));
        assert_eq!(partition.end_offset_for_epoch(2, -1), Ok((0, 3)));
        assert_eq!(partition.end_offset_for_epoch(4, -1), Ok((4, 5)));
        partition.close().await.expect("close");
    });
    let text = std::fs::read_to_string(dir.path().join(epochs::CHECKPOINT_FILE)).expect("file");
    assert_eq!(text, "0\n2\n0 0\n4 3\n");
    run(async {
        let partition = open(dir.path()).await;
        assert_eq!(partition.leader_epoch(), 4);
        assert_eq!(partition.end_offset_for_epoch(4, 4), Ok((4, 5)));
        assert_eq!(
            partition.end_offset_for_epoch(4, 3).map_err(|e| e.code),
            Err(ResponseError::FencedLeaderEpoch)
        );
        // Truncating below epoch 4's start forgets it.
        assert_eq!(partition.truncate_to(3, 3_000).await.expect("truncate"), 3);
        assert_eq!(partition.offsets().high_watermark, 3);
        assert_eq!(partition.end_offset_for_epoch(4, -1), Ok(epochs::UNDEFINED));
    });
    let text = std::fs::read_to_string(dir.path().join(epochs::CHECKPOINT_FILE)).expect("file");
    assert_eq!(text, "0\n1\n0 0\n");
}

#[test]
fn a_damaged_epoch_checkpoint_stops_the_open_and_names_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join(epochs::CHECKPOINT_FILE), "0\n1\nzero 0\n").expect("write");
    run(async {
        let writer = Rc::new(Writer::default());
        let opened = Partition::open("t".into(), 0, dir.path(), &settings(), writer, 0).await;
        let error = opened.err().expect("refused").to_string();
        assert!(error.contains(epochs::CHECKPOINT_FILE), "{error}");
    });
}

#[test]
fn reads_list_offsets_and_delete_records_see_the_clients_offsets() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(async {
        let partition = open(dir.path()).await;
        for _ in 0..10 {
            produce(&partition, 4).await;
        }
        let read = partition
            .read(8, 1 << 20, -1, Isolation::ReadCommitted)
            .await
            .expect("read");
        assert_eq!(read.offsets.high_watermark, 40);
        assert!(read.slice.is_some());
        let empty = partition
            .read(40, 1 << 20, 0, Isolation::ReadUncommitted)
            .await
            .expect("read at the end");
        assert!(empty.slice.is_none());
        let past = partition
            .read(41, 1 << 20, -1, Isolation::ReadUncommitted)
            .await;
        assert_eq!(
            past.err().map(|e| e.code),
            Some(ResponseError::OffsetOutOfRange)
        );
        let latest = partition
            .list_offset(OffsetQuery::Latest, -1, Isolation::ReadUncommitted)
            .await
            .expect("latest");
        assert_eq!(latest.map(|f| (f.offset, f.leader_epoch)), Some((40, 0)));
        let at = partition
            .list_offset(OffsetQuery::Timestamp(2), -1, Isolation::ReadUncommitted)
            .await
            .expect("by time");
        assert_eq!(at.map(|f| (f.offset, f.timestamp)), Some((2, 2)));
        assert_eq!(partition.delete_records(20).await, Ok(20));
        assert_eq!(
            partition.delete_records(10).await,
            Ok(20),
            "below the start: no change"
        );
        assert_eq!(
            partition.delete_records(41).await.map_err(|e| e.code),
            Err(ResponseError::OffsetOutOfRange)
        );
        let earliest = partition
            .list_offset(OffsetQuery::Earliest, -1, Isolation::ReadUncommitted)
            .await
            .expect("earliest");
        assert_eq!(earliest.map(|f| f.offset), Some(20));
    });
}

#[test]
fn clients_may_not_write_internal_topics_nor_bad_batches() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(async {
        let writer = Rc::new(Writer::default());
        let internal = Partition::open(
            crate::group::OFFSETS_TOPIC.into(),
            0,
            dir.path(),
            &settings(),
            writer,
            0,
        )
        .await
        .expect("open");
        let internal = Rc::new(internal);
        let refused = internal.append(records(1), Acks::All, Origin::Client, 0);
        assert_eq!(
            refused.err().map(|e| e.code),
            Some(ResponseError::InvalidTopicException)
        );
        let mut corrupt = records(2).to_vec();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 1;
        let refused = internal.append(corrupt.into(), Acks::All, Origin::Coordinator, 0);
        assert_eq!(
            refused.err().map(|e| e.code),
            Some(ResponseError::CorruptMessage)
        );
        assert_eq!(internal.offsets().log_end, 0);
    });
}

/// A batch of `count` records from producer `id` at `epoch`, starting at `sequence`.
fn idempotent(count: usize, id: i64, epoch: i16, sequence: i32) -> Bytes {
    producer_records(count, id, epoch, sequence, false)
}

/// The same, in a transaction.
fn transactional(count: usize, id: i64, sequence: i32) -> Bytes {
    producer_records(count, id, 0, sequence, true)
}

fn producer_records(count: usize, id: i64, epoch: i16, sequence: i32, txn: bool) -> Bytes {
    use crate::storage::batch::{batch_crc, BatchHeader, HEADER_BYTES};
    use zerocopy::byteorder::big_endian::{I16, I32, I64, U32};
    use zerocopy::FromBytes;
    let mut bytes = records(count).to_vec();
    let (header, body) = bytes.split_at_mut(HEADER_BYTES);
    let header = BatchHeader::mut_from_bytes(header).expect("a header");
    header.producer_id = I64::new(id);
    header.producer_epoch = I16::new(epoch);
    header.base_sequence = I32::new(sequence);
    if txn {
        header.attributes = I16::new(header.attributes.get() | 0x10);
    }
    header.crc = U32::new(batch_crc(header, body));
    Bytes::from(bytes)
}

async fn produce_as(partition: &Rc<Partition>, records: Bytes) -> Result<Produced, ApiError> {
    partition
        .append(records, Acks::All, Origin::Client, 1_000)?
        .await
}

#[test]
fn deduplication_survives_a_clean_close_a_crash_and_a_truncation() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(async {
        let partition = open(dir.path()).await;
        for i in 0..4 {
            let produced = produce_as(&partition, idempotent(2, 9, 0, 2 * i)).await;
            assert_eq!(produced.map(|p| p.base_offset), Ok(2 * i64::from(i)));
        }
        let retry = produce_as(&partition, idempotent(2, 9, 0, 6)).await;
        assert_eq!(
            retry.map(|p| p.base_offset),
            Ok(6),
            "a retry: its first offset"
        );
        assert_eq!(partition.offsets().log_end, 8, "and nothing written again");
        partition.close().await.expect("close");
    });
    assert!(dir.path().join("00000000000000000008.snapshot").exists());
    run(async {
        // From the snapshot written at close.
        let partition = open(dir.path()).await;
        let retry = produce_as(&partition, idempotent(2, 9, 0, 4)).await;
        assert_eq!(retry.map(|p| p.base_offset), Ok(4));
        let produced = produce_as(&partition, idempotent(1, 9, 0, 8)).await;
        assert_eq!(produced.map(|p| p.base_offset), Ok(8));
        // Dropped without a close: as after kill -9.
    });
    run(async {
        // From the snapshot at 8 and the log after it.
        let partition = open(dir.path()).await;
        let retry = produce_as(&partition, idempotent(1, 9, 0, 8)).await;
        assert_eq!(retry.map(|p| p.base_offset), Ok(8));
        let gap = produce_as(&partition, idempotent(1, 9, 0, 10)).await;
        assert_eq!(
            gap.map_err(|e| e.code),
            Err(ResponseError::OutOfOrderSequenceNumber)
        );
        // Cut back to offset 4: the batches from there are gone, and so is what the
        // producer state knew of them.
        assert_eq!(partition.truncate_to(4, 2_000).await.expect("truncate"), 4);
        let again = produce_as(&partition, idempotent(2, 9, 0, 4)).await;
        assert_eq!(again.map(|p| p.base_offset), Ok(4), "written anew");
        assert!(
            !dir.path().join("00000000000000000008.snapshot").exists(),
            "a snapshot past the new end is removed"
        );
    });
}

#[test]
fn an_unreadable_snapshot_is_replaced_by_a_replay_of_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(async {
        let partition = open(dir.path()).await;
        produce_as(&partition, idempotent(3, 4, 0, 0))
            .await
            .expect("append");
        partition.close().await.expect("close");
    });
    let snapshot = dir.path().join("00000000000000000003.snapshot");
    std::fs::write(&snapshot, b"not a snapshot").expect("damage");
    run(async {
        let partition = open(dir.path()).await;
        let retry = produce_as(&partition, idempotent(3, 4, 0, 0)).await;
        assert_eq!(retry.map(|p| p.base_offset), Ok(0));
        assert_eq!(partition.offsets().log_end, 3);
    });
    assert!(!snapshot.exists(), "the unreadable snapshot is removed");
}

async fn end_txn(partition: &Rc<Partition>, producer_id: i64, commit: bool) -> i64 {
    let marker = write::MarkerSpec {
        producer_id,
        producer_epoch: 0,
        coordinator_epoch: 0,
        commit,
        txn_number: Some(0),
    };
    let written = partition.append_marker(marker, 5_000).expect("queued");
    written.await.expect("written").base_offset
}

async fn read_committed(partition: &Partition, offset: i64) -> Read {
    partition
        .read(offset, 1 << 20, -1, Isolation::ReadCommitted)
        .await
        .expect("read")
}

#[test]
fn open_transactions_hold_the_last_stable_offset_and_aborts_are_indexed() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(async {
        let partition = open(dir.path()).await;
        produce(&partition, 2).await; // 0..2, outside any transaction
        produce_as(&partition, transactional(3, 7, 0))
            .await
            .expect("2..5");
        produce_as(&partition, transactional(2, 8, 0))
            .await
            .expect("5..7");
        let offsets = partition.offsets();
        assert_eq!((offsets.last_stable, offsets.high_watermark), (2, 7));
        let read = read_committed(&partition, 0).await;
        assert_eq!(
            read.slice.map(|s| s.upper_bound),
            Some(2),
            "stops at the LSO"
        );
        assert_eq!(read.aborted, Some(Vec::new()));
        assert!(read_committed(&partition, 2).await.slice.is_none());
        let uncommitted = partition
            .read(2, 1 << 20, -1, Isolation::ReadUncommitted)
            .await
            .expect("read");
        assert!(uncommitted.slice.is_some() && uncommitted.aborted.is_none());
        // A non-transactional write of a producer in a transaction is refused.
        let stray = produce_as(&partition, idempotent(1, 7, 0, 3)).await;
        assert_eq!(
            stray.map_err(|e| e.code),
            Err(ResponseError::InvalidTxnState)
        );

        assert_eq!(end_txn(&partition, 7, false).await, 7);
        assert_eq!(
            partition.offsets().last_stable,
            5,
            "producer 8 is still open"
        );
        assert_eq!(end_txn(&partition, 8, true).await, 8);
        assert_eq!(partition.offsets().last_stable, 9);
        let read = read_committed(&partition, 0).await;
        assert_eq!(read.aborted, Some(vec![(7, 2)]));
        assert_eq!(
            read_committed(&partition, 8).await.aborted,
            Some(Vec::new())
        );
        // A marker from an older epoch is refused.
        let old = write::MarkerSpec {
            producer_id: 8,
            producer_epoch: -1,
            coordinator_epoch: 0,
            commit: true,
            txn_number: Some(0),
        };
        let refused = partition.append_marker(old, 6_000).expect("queued").await;
        assert_eq!(
            refused.map_err(|e| e.code),
            Err(ResponseError::InvalidProducerEpoch)
        );
        partition.close().await.expect("close");
    });
    assert!(dir.path().join("00000000000000000000.txnindex").exists());
    for crashed in [false, true] {
        if crashed {
            // As after kill -9 before any snapshot: the log alone tells it all.
            for file in std::fs::read_dir(dir.path()).expect("dir") {
                let path = file.expect("entry").path();
                let name = path.to_string_lossy().to_string();
                if name.ends_with(".snapshot") || name.ends_with(".txnindex") {
                    std::fs::remove_file(path).expect("remove");
                }
            }
        }
        run(async {
            let partition = open(dir.path()).await;
            assert_eq!(partition.offsets().last_stable, 9, "crashed: {crashed}");
            let read = read_committed(&partition, 3).await;
            assert_eq!(read.aborted, Some(vec![(7, 2)]), "crashed: {crashed}");
        });
    }
}

#[test]
fn an_abort_whose_records_a_crash_cut_off_leaves_the_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(async {
        let partition = open(dir.path()).await;
        produce(&partition, 1).await; // 0
        produce_as(&partition, transactional(1, 7, 0))
            .await
            .expect("1");
        assert_eq!(end_txn(&partition, 7, false).await, 2);
        partition.close().await.expect("close");
    });
    // As if the last two batches had never reached the disk, while the index file of
    // the abort had (and no snapshot vouches for anything).
    let log = dir.path().join("00000000000000000000.log");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .expect("log");
    file.set_len(records(1).len() as u64).expect("cut");
    for entry in std::fs::read_dir(dir.path()).expect("dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "snapshot") {
            std::fs::remove_file(path).expect("remove");
        }
    }
    run(async {
        let partition = open(dir.path()).await;
        assert_eq!(partition.offsets().high_watermark, 1);
        produce_as(&partition, transactional(1, 7, 0))
            .await
            .expect("1");
        assert_eq!(end_txn(&partition, 7, true).await, 2);
        assert_eq!(
            read_committed(&partition, 0).await.aborted,
            Some(Vec::new())
        );
        partition.close().await.expect("close");
    });
    run(async {
        let partition = open(dir.path()).await;
        let read = read_committed(&partition, 0).await;
        assert_eq!(
            read.aborted,
            Some(Vec::new()),
            "the committed record is not aborted"
        );
    });
}

#[test]
fn a_verified_write_cannot_reopen_a_transaction_its_marker_ended() {
    // A client's batch carries sequences; a coordinator's (TxnOffsetCommit) none.
    for (origin, sequences) in [
        (Origin::Client, [0, 1, 2]),
        (Origin::Coordinator, [-1, -1, -1]),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        run(async {
            let partition = open(dir.path()).await;
            let verified = |sequence, guard| {
                let records = transactional(1, 3, sequence);
                partition
                    .append_verified(
                        records,
                        Acks::All,
                        origin,
                        Some(guard),
                        1_000,
                        REPLICATION_WAIT_MAX,
                    )
                    .expect("queued")
            };
            let first = verified(sequences[0], TxnGuard::Number(0)).await;
            assert_eq!(first.map(|p| p.base_offset), Ok(0), "{origin:?}");
            assert_eq!(end_txn(&partition, 3, true).await, 1);
            // Verified for transaction 0, which has ended here: refused.
            let late = verified(sequences[1], TxnGuard::Number(0)).await;
            assert_eq!(
                late.map_err(|e| e.code),
                Err(ResponseError::InvalidTxnState),
                "{origin:?}"
            );
            // Verified for the next one: it opens it.
            let next = verified(sequences[1], TxnGuard::Number(1)).await;
            assert_eq!(next.map(|p| p.base_offset), Ok(2), "{origin:?}");
            assert_eq!(partition.offsets().last_stable, 2);
            // Verified by a coordinator elsewhere: the guard is the markers written
            // before the question. One more since ends that transaction here.
            assert_eq!(partition.markers_written(3), 1);
            assert_eq!(end_txn(&partition, 3, true).await, 3);
            let stale = verified(sequences[2], TxnGuard::Markers(1)).await;
            assert_eq!(
                stale.map_err(|e| e.code),
                Err(ResponseError::InvalidTxnState),
                "{origin:?}"
            );
            let fresh = verified(sequences[2], TxnGuard::Markers(2)).await;
            assert_eq!(fresh.map(|p| p.base_offset), Ok(4), "{origin:?}");
        });
    }
}

#[test]
fn compaction_drops_aborted_records_keeps_markers_and_leaves_open_transactions_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut compacted = settings();
    compacted.log.compact = true;
    compacted.log.segment_bytes = 600;
    run(async {
        let writer = Rc::new(Writer::default());
        glommio::spawn_local(Rc::clone(&writer).run_appender()).detach();
        glommio::spawn_local(Rc::clone(&writer).run_syncer()).detach();
        let partition = Partition::open("t".into(), 0, dir.path(), &compacted, writer, 0)
            .await
            .expect("open");
        let partition = Rc::new(partition);
        // Every record has the key "k": compaction keeps the newest committed one.
        produce(&partition, 1).await; // 0
        produce_as(&partition, transactional(1, 7, 0))
            .await
            .expect("1"); // aborted
        assert_eq!(end_txn(&partition, 7, false).await, 2);
        produce_as(&partition, transactional(1, 7, 1))
            .await
            .expect("3"); // committed: producer 7's last batch
        assert_eq!(end_txn(&partition, 7, true).await, 4);
        for _ in 0..8 {
            produce(&partition, 1).await; // 5..=12
        }
        produce_as(&partition, transactional(1, 8, 0))
            .await
            .expect("13"); // left open
        for _ in 0..8 {
            produce(&partition, 1).await; // 14..=21, behind the open transaction
        }
        let before = batches(&partition).await;
        assert!(partition.compact(10_000, 1 << 20).await.expect("compact") > 0);
        let after = batches(&partition).await;
        assert!(after.contains(&(2, true)), "the abort marker stays");
        assert!(!after.contains(&(1, false)), "the aborted record goes");
        assert!(!after.contains(&(0, false)), "a superseded record goes");
        assert!(
            after.contains(&(3, false)),
            "a producer's last batch stays whole, superseded or not"
        );
        let open_tail: Vec<_> = before.iter().filter(|(o, _)| *o >= 13).collect();
        let kept_tail: Vec<_> = after.iter().filter(|(o, _)| *o >= 13).collect();
        assert_eq!(
            open_tail, kept_tail,
            "nothing at or past the LSO is cleaned"
        );
        assert_eq!(partition.offsets().last_stable, 13);
    });
}

/// (base offset, is a control batch) of every stored batch.
async fn batches(partition: &Partition) -> Vec<(i64, bool)> {
    let mut found = Vec::new();
    partition
        .for_each_batch(|bytes| {
            if let Ok(header) = crate::storage::batch::BatchHeader::parse(bytes) {
                found.push((header.base_offset.get(), header.is_control()));
            }
        })
        .await
        .expect("scan");
    found
}

/// Broker 1 leading at epoch 1, with broker 2 following in the ISR.
fn lead_of_broker_1() -> Lead {
    Lead {
        broker: 1,
        leader_epoch: 1,
        partition_epoch: 0,
        replicas: vec![1, 2],
        isr: vec![1, 2],
        fenced: Vec::new(),
        lag_max_ms: 30_000,
    }
}

/// Leads as broker 1, with broker 2 following in the ISR.
fn lead_with_follower(partition: &Partition) {
    partition.lead(lead_of_broker_1(), 0);
}

#[test]
fn an_append_whose_leadership_goes_before_it_is_replicated_is_not_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(async {
        let partition = open(dir.path()).await;
        lead_with_follower(&partition);
        let append = partition
            .append(records(1), Acks::All, Origin::Client, 1_000)
            .expect("queued");
        // The leadership moves while the append waits for its fsync: the ISR never
        // confirmed it, so it must not be acknowledged (the broker used to, once it no
        // longer led).
        partition.follow(2);
        let answer = append.await.map(|_| ()).map_err(|e| e.code);
        assert_eq!(answer, Err(ResponseError::NotLeaderOrFollower));
    });
}

#[test]
fn an_acks_all_append_waits_its_request_timeout_for_the_isr_and_no_longer() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(async {
        let partition = open(dir.path()).await;
        lead_with_follower(&partition);
        // The follower never fetches: the request's 50 ms run out.
        let wait = std::time::Duration::from_millis(50);
        let append = partition
            .append_verified(records(1), Acks::All, Origin::Client, None, 1_000, wait)
            .expect("queued");
        let answer = append.await.map(|_| ()).map_err(|e| e.code);
        assert_eq!(answer, Err(ResponseError::RequestTimedOut));
        // What the ISR holds already is answered even with a timeout of 0.
        partition.on_follower_fetch(2, 1, 1_000).expect("a replica");
        let done = partition.replicated(1, std::time::Duration::ZERO).await;
        assert!(done.is_ok(), "{done:?}");
    });
}

#[test]
fn a_new_leader_behind_its_epochs_start_cannot_list_the_latest_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(async {
        let partition = open(dir.path()).await;
        lead_with_follower(&partition);
        partition
            .append(records(3), Acks::Leader, Origin::Client, 1_000)
            .expect("queued")
            .await
            .expect("appended");
        // The follower never fetched: the high watermark stays at 0. A new epoch
        // starts at 3, past it.
        partition.follow(2);
        partition.lead(
            Lead {
                leader_epoch: 2,
                ..lead_of_broker_1()
            },
            2_000,
        );
        let latest = partition
            .list_offset(OffsetQuery::Latest, -1, Isolation::ReadUncommitted)
            .await
            .map_err(|e| e.code);
        assert_eq!(latest.err(), Some(ResponseError::OffsetNotAvailable));
        // The earliest offset needs no high watermark.
        let earliest = partition
            .list_offset(OffsetQuery::Earliest, -1, Isolation::ReadUncommitted)
            .await
            .expect("earliest");
        assert_eq!(earliest.map(|f| f.offset), Some(0));
        partition.on_follower_fetch(2, 3, 3_000).expect("a replica");
        let latest = partition
            .list_offset(OffsetQuery::Latest, -1, Isolation::ReadUncommitted)
            .await
            .expect("latest");
        assert_eq!(latest.map(|f| f.offset), Some(3));
    });
}

#[test]
fn a_follower_serves_consumers_only_once_its_leader_reported_the_high_watermark() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(async {
        let partition = open(dir.path()).await;
        // Opened with records and following: its high watermark is only its log end.
        produce(&partition, 3).await;
        partition.follow(1);
        assert!(!partition.serves_consumers());
        partition.follower_offsets(2, 0).await.expect("applied");
        assert!(partition.serves_consumers());
        assert_eq!(partition.offsets().high_watermark, 2);
        // A new leader has not reported yet.
        partition.follow(2);
        assert!(!partition.serves_consumers());
        lead_with_follower(&partition);
        assert!(partition.serves_consumers());
    });
}

#[test]
fn a_restarted_replica_starts_from_its_checkpointed_high_watermark() {
    let dir = tempfile::tempdir().expect("tempdir");
    let checkpoint = dir.path().join("high-watermark");
    run(async {
        let partition = open(dir.path()).await;
        produce(&partition, 3).await;
        // In a cluster of one the high watermark is the log end, and is not written.
        assert_eq!(partition.offsets().high_watermark, 3);
        partition.checkpoint_high_watermark().await;
        assert!(!checkpoint.exists());
        // Joining the cluster without a checkpoint: from the log start.
        partition.follow(1);
        assert_eq!(partition.offsets().high_watermark, 0);
        partition.follower_offsets(2, 0).await.expect("applied");
        partition.checkpoint_high_watermark().await;
        assert_eq!(
            std::fs::read_to_string(&checkpoint).ok().as_deref(),
            Some("2\n")
        );
        partition.close().await.expect("close");

        // Restarted, leading with a follower in the ISR: the third record was never
        // committed as far as this replica knows, and stays unread until the follower
        // has it.
        let partition = open(dir.path()).await;
        assert_eq!(
            partition.offsets().high_watermark,
            3,
            "alone until it joins"
        );
        lead_with_follower(&partition);
        assert_eq!(partition.offsets().high_watermark, 2);
        // Alone in the ISR at the next epoch, it commits its whole log at once.
        let alone = Lead {
            leader_epoch: 2,
            isr: vec![1],
            ..lead_of_broker_1()
        };
        partition.lead(alone, 0);
        assert_eq!(partition.offsets().high_watermark, 3);
        partition.close().await.expect("close");
        assert_eq!(
            std::fs::read_to_string(&checkpoint).ok().as_deref(),
            Some("3\n")
        );

        // A checkpoint that is not an offset stops the open, naming the file.
        std::fs::write(&checkpoint, "three\n").expect("write");
        let writer = Rc::new(Writer::default());
        let error = Partition::open("t".into(), 0, dir.path(), &settings(), writer, 0)
            .await
            .err()
            .map(|e| e.to_string());
        assert!(
            error.as_ref().is_some_and(|e| e.contains("high-watermark")),
            "{error:?}"
        );
    });
}

#[test]
fn a_checkpoint_past_the_log_end_is_rewritten_and_a_deleted_partition_writes_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let checkpoint = dir.path().join("high-watermark");
    run(async {
        // A crash cut the log's tail after the checkpoint was written.
        std::fs::create_dir_all(dir.path()).expect("dir");
        std::fs::write(&checkpoint, "10\n").expect("write");
        let partition = open(dir.path()).await;
        produce(&partition, 3).await;
        partition.follow(1);
        assert_eq!(partition.offsets().high_watermark, 3);
        // The file is rewritten though the high watermark did not move: left at 10, a
        // later start with a longer log would count records never committed.
        partition.checkpoint_high_watermark().await;
        assert_eq!(
            std::fs::read_to_string(&checkpoint).ok().as_deref(),
            Some("3\n")
        );

        partition.follower_offsets(2, 0).await.expect("applied");
        partition.delete().await.expect("delete");
        // The directory again, as a topic created anew under the name would have it.
        std::fs::create_dir_all(dir.path()).expect("dir");
        partition.checkpoint_high_watermark().await;
        assert!(
            !checkpoint.exists(),
            "the deleted partition wrote its checkpoint"
        );
    });
}
