use proptest::prelude::*;

use super::*;

fn batch(producer_id: i64, epoch: i16, base_sequence: i32, records: i32) -> ProducerBatch {
    ProducerBatch {
        producer_id,
        epoch,
        base_sequence,
        last_offset_delta: records - 1,
        transactional: false,
        max_timestamp: 1_000,
    }
}

/// Checks `b` and, when it is to be appended, records it at `offset`.
fn offer(
    state: &mut ProducerState,
    b: &ProducerBatch,
    offset: i64,
) -> Result<Verdict, ProducerError> {
    let verdict = state.check(b)?;
    if verdict == Verdict::Append {
        state.record(b, offset);
    }
    Ok(verdict)
}

#[test]
fn sequences_continue_duplicates_are_found_and_gaps_refused() {
    let mut state = ProducerState::default();
    // Unknown producers may start anywhere (KIP-360).
    assert_eq!(
        offer(&mut state, &batch(7, 0, 40, 10), 100),
        Ok(Verdict::Append)
    );
    assert_eq!(
        offer(&mut state, &batch(7, 0, 50, 5), 110),
        Ok(Verdict::Append)
    );
    let duplicate = offer(&mut state, &batch(7, 0, 40, 10), 999).expect("a retry");
    let Verdict::Duplicate(stored) = duplicate else {
        panic!("not found as a duplicate: {duplicate:?}");
    };
    assert_eq!((stored.first_offset(), stored.last_offset), (100, 109));
    assert_eq!(
        offer(&mut state, &batch(7, 0, 56, 1), 115),
        Err(ProducerError::OutOfOrder {
            producer_id: 7,
            epoch: 0,
            got: 56,
            expected: 55
        })
    );
    // A batch overlapping a stored one without matching it is out of order too.
    assert!(matches!(
        offer(&mut state, &batch(7, 0, 45, 10), 115),
        Err(ProducerError::OutOfOrder { .. })
    ));
}

#[test]
fn only_the_last_five_batches_are_remembered() {
    let mut state = ProducerState::default();
    for i in 0..7 {
        offer(&mut state, &batch(1, 0, i, 1), i64::from(i)).expect("in order");
    }
    for i in 2..7 {
        assert!(matches!(
            state.check(&batch(1, 0, i, 1)),
            Ok(Verdict::Duplicate(_))
        ));
    }
    assert!(matches!(
        state.check(&batch(1, 0, 1, 1)),
        Err(ProducerError::OutOfOrder { expected: 7, .. })
    ));
}

#[test]
fn epochs_fence_older_writers_and_a_new_epoch_starts_at_zero() {
    let mut state = ProducerState::default();
    offer(&mut state, &batch(3, 2, 0, 4), 0).expect("first");
    assert_eq!(
        state.check(&batch(3, 1, 4, 1)),
        Err(ProducerError::InvalidEpoch {
            producer_id: 3,
            epoch: 1,
            current: 2
        })
    );
    assert!(matches!(
        state.check(&batch(3, 3, 4, 1)),
        Err(ProducerError::OutOfOrder { expected: 0, .. })
    ));
    assert_eq!(
        offer(&mut state, &batch(3, 3, 0, 1), 4),
        Ok(Verdict::Append)
    );
    assert_eq!(
        state.get(3).map(|e| (e.epoch, e.batches.len())),
        Some((3, 1))
    );
}

#[test]
fn sequences_wrap_after_the_largest_int() {
    let mut state = ProducerState::default();
    let near_end = batch(9, 0, i32::MAX - 1, 2);
    assert_eq!(near_end.last_sequence(), i32::MAX);
    offer(&mut state, &near_end, 0).expect("first");
    let wrapped = batch(9, 0, 0, 3);
    assert_eq!(offer(&mut state, &wrapped, 2), Ok(Verdict::Append));
    let across = batch(9, 0, i32::MAX, 2);
    assert_eq!(across.last_sequence(), 0);
    assert_eq!(
        BatchMeta {
            last_sequence: 0,
            last_offset: 10,
            offset_delta: 1,
            timestamp: 0
        }
        .first_sequence(),
        i32::MAX
    );
}

#[test]
fn transactions_open_with_their_first_batch_and_close_with_a_marker() {
    let mut state = ProducerState::default();
    let txn = ProducerBatch {
        transactional: true,
        ..batch(5, 0, 0, 2)
    };
    offer(&mut state, &txn, 10).expect("opens");
    offer(&mut state, &batch(6, 0, 0, 1), 12).expect("another producer");
    let txn2 = ProducerBatch {
        transactional: true,
        ..batch(6, 0, 1, 1)
    };
    offer(&mut state, &txn2, 13).expect("opens a second");
    assert_eq!(state.first_unstable_offset(), Some(10));
    assert_eq!(
        state.check(&batch(5, 0, 2, 1)),
        Err(ProducerError::NotTransactional { producer_id: 5 })
    );
    let marker = Marker {
        producer_id: 5,
        epoch: 0,
        coordinator_epoch: 3,
        commit: false,
        offset: 14,
        timestamp: 2_000,
    };
    assert_eq!(state.check_marker(&marker), Ok(()));
    assert_eq!(
        state.record_marker(&marker),
        Some(CompletedTxn {
            producer_id: 5,
            first_offset: 10,
            last_offset: 14,
            aborted: true
        })
    );
    assert_eq!(state.first_unstable_offset(), Some(13));
    // The same marker again ends nothing; an older coordinator is fenced.
    assert_eq!(state.record_marker(&marker), None);
    let stale = Marker {
        coordinator_epoch: 2,
        ..marker
    };
    assert!(matches!(
        state.check_marker(&stale),
        Err(ProducerError::CoordinatorFenced { .. })
    ));
    // Expiry spares the producer whose transaction is open.
    assert_eq!(state.expire(1_000_000, 10), 1);
    assert!(state.get(6).is_some() && state.get(5).is_none());
}

#[test]
fn snapshots_in_kafkas_layout_read_back() {
    // One entry written as Kafka writes it: producer 42, epoch 3, last sequence 9, last
    // offset 19 with delta 4, timestamp 77, coordinator epoch 1, no transaction.
    let mut entry = Vec::new();
    entry.extend_from_slice(&42i64.to_be_bytes());
    entry.extend_from_slice(&3i16.to_be_bytes());
    entry.extend_from_slice(&9i32.to_be_bytes());
    entry.extend_from_slice(&19i64.to_be_bytes());
    entry.extend_from_slice(&4i32.to_be_bytes());
    entry.extend_from_slice(&77i64.to_be_bytes());
    entry.extend_from_slice(&1i32.to_be_bytes());
    entry.extend_from_slice(&(-1i64).to_be_bytes());
    let mut body = 1i32.to_be_bytes().to_vec();
    body.extend_from_slice(&entry);
    let mut file = 1i16.to_be_bytes().to_vec();
    file.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
    file.extend_from_slice(&body);
    let state = ProducerState::from_snapshot(&file).expect("Kafka's file");
    let loaded = state.get(42).expect("the producer");
    assert_eq!(loaded.epoch, 3);
    assert_eq!(loaded.batches[0].first_sequence(), 5);
    assert_eq!(loaded.batches[0].first_offset(), 15);
    assert_eq!(state.to_snapshot(), file, "and shoal writes the same bytes");
}

#[test]
fn damaged_snapshots_are_refused() {
    let mut state = ProducerState::default();
    offer(&mut state, &batch(1, 0, 0, 3), 0).expect("first");
    let good = state.to_snapshot();
    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    let mut short_count = good.clone();
    short_count[9] = 2;
    let mut version = good.clone();
    version[1] = 2;
    for bad in [
        &good[..5],
        &good[..good.len() - 1],
        &flipped,
        &short_count,
        &version,
    ] {
        assert!(ProducerState::from_snapshot(bad).is_err());
    }
}

/// What a client does next with its in-flight batches.
#[derive(Debug, Clone)]
enum Step {
    /// Sends its next batch of this many records.
    Send(i32),
    /// Sends again the batch this many back among those in flight (0: the newest).
    Retry(usize),
    /// Sends a batch that skips this many sequences.
    Skip(i32),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1i32..20).prop_map(Step::Send),
        3 => (0usize..BATCHES_RETAINED).prop_map(Step::Retry),
        1 => (1i32..5).prop_map(Step::Skip),
    ]
}

proptest! {
    /// A producer that retries any of its last five batches any number of times gets
    /// each batch stored once, answered with the offsets it first got; a batch that
    /// skips sequences is refused and changes nothing; and the state survives a
    /// snapshot whole.
    #[test]
    fn retries_are_answered_with_their_first_offsets(steps in proptest::collection::vec(step(), 1..80)) {
        let mut state = ProducerState::default();
        let mut next_sequence = 0;
        let mut log_end = 0i64;
        // (batch, first offset) of what was stored, newest last.
        let mut stored: Vec<(ProducerBatch, i64)> = Vec::new();
        for step in steps {
            match step {
                Step::Send(records) => {
                    let b = batch(11, 0, next_sequence, records);
                    prop_assert_eq!(offer(&mut state, &b, log_end), Ok(Verdict::Append));
                    stored.push((b, log_end));
                    next_sequence += records;
                    log_end += i64::from(records);
                }
                Step::Retry(back) if back < stored.len() => {
                    let (b, first) = stored[stored.len() - 1 - back];
                    let verdict = offer(&mut state, &b, log_end);
                    let Ok(Verdict::Duplicate(meta)) = verdict else {
                        return Err(TestCaseError::fail(format!("{verdict:?}")));
                    };
                    prop_assert_eq!(meta.first_offset(), first);
                }
                Step::Retry(_) => {}
                Step::Skip(gap) => {
                    let b = batch(11, 0, next_sequence + gap, 1);
                    let refused = matches!(
                        offer(&mut state, &b, log_end),
                        Err(ProducerError::OutOfOrder { .. })
                    );
                    prop_assert!(refused || stored.is_empty());
                    if stored.is_empty() {
                        // A new producer may start anywhere: it started here.
                        stored.push((b, log_end));
                        next_sequence += gap + 1;
                        log_end += 1;
                    }
                }
            }
        }
        let reloaded = ProducerState::from_snapshot(&state.to_snapshot());
        prop_assert_eq!(reloaded, Ok(state));
    }
}
