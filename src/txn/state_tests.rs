use proptest::prelude::*;

use super::*;

fn tp(topic: &str, partition: i32) -> (String, i32) {
    (topic.to_string(), partition)
}

fn ready(init: Result<Init, TxnError>) -> TxnMeta {
    match init {
        Ok(Init::Ready(meta)) => meta,
        other => panic!("not ready: {other:?}"),
    }
}

fn prepared(end: Result<End, TxnError>) -> TxnMeta {
    match end {
        Ok(End::Prepare(meta)) => meta,
        other => panic!("not prepared: {other:?}"),
    }
}

#[test]
fn a_transaction_goes_from_empty_to_complete() {
    let meta = ready(TxnMeta::new(100, 60_000, 0).init_producer_id(None, 60_000, None, 1));
    assert_eq!(
        (meta.producer_id, meta.producer_epoch, meta.state),
        (100, 0, TxnState::Empty)
    );
    let ongoing = meta
        .add_partitions(100, 0, &[tp("a", 0), tp("a", 1)], 1, 10)
        .expect("added")
        .expect("a change");
    assert_eq!((ongoing.state, ongoing.start_ms), (TxnState::Ongoing, 10));
    assert_eq!(
        ongoing.add_partitions(100, 0, &[tp("a", 1)], 1, 11),
        Ok(None)
    );
    let more = ongoing
        .add_partitions(100, 0, &[tp("b", 0)], 1, 12)
        .expect("added")
        .expect("a change");
    assert_eq!((more.partitions.len(), more.start_ms), (3, 10));
    let preparing = prepared(more.end(100, 0, true, 20));
    assert_eq!(preparing.state, TxnState::PrepareCommit);
    assert_eq!(
        preparing.end(100, 0, true, 21),
        Err(ResponseError::ConcurrentTransactions)
    );
    assert_eq!(
        preparing.add_partitions(100, 0, &[tp("a", 0)], 1, 21),
        Err(ResponseError::ConcurrentTransactions)
    );
    let done = preparing.complete(30);
    assert_eq!(
        (done.state, done.partitions.len()),
        (TxnState::CompleteCommit, 0)
    );
    assert_eq!(done.end(100, 0, true, 31), Ok(End::AlreadyDone));
    assert_eq!(
        done.end(100, 0, false, 31),
        Err(ResponseError::InvalidTxnState)
    );
    // The next transaction starts from a complete state, with a new start time.
    let next = done
        .add_partitions(100, 0, &[tp("c", 0)], 1, 40)
        .expect("added")
        .expect("a change");
    assert_eq!((next.start_ms, next.partitions.len()), (40, 1));
}

#[test]
fn a_new_producer_fences_the_old_one() {
    let meta = ready(TxnMeta::new(7, 60_000, 0).init_producer_id(None, 60_000, None, 0));
    let ongoing = meta
        .add_partitions(7, 0, &[tp("t", 0)], 1, 5)
        .expect("added")
        .expect("a change");
    let Ok(Init::Fence(fencing)) = ongoing.init_producer_id(None, 60_000, None, 6) else {
        panic!("an open transaction is fenced");
    };
    assert_eq!(
        (fencing.state, fencing.producer_epoch),
        (TxnState::PrepareAbort, 1)
    );
    assert_eq!(
        fencing.end(7, 0, true, 7),
        Err(ResponseError::ProducerFenced)
    );
    assert_eq!(
        fencing.init_producer_id(None, 60_000, None, 7),
        Err(ResponseError::ConcurrentTransactions)
    );
    let aborted = fencing.complete(8);
    let again = ready(aborted.init_producer_id(None, 60_000, None, 9));
    assert_eq!((again.producer_epoch, again.state), (2, TxnState::Empty));
    assert_eq!(
        again.add_partitions(7, 1, &[tp("t", 0)], 1, 10),
        Err(ResponseError::ProducerFenced)
    );
    assert_eq!(
        again.add_partitions(8, 2, &[tp("t", 0)], 1, 10),
        Err(ResponseError::InvalidProducerIdMapping)
    );
}

#[test]
fn a_producer_that_knows_its_epoch_is_bumped_and_its_retry_recognised() {
    let meta = ready(TxnMeta::new(5, 1_000, 0).init_producer_id(None, 1_000, None, 0));
    let bumped = ready(meta.init_producer_id(Some((5, 0)), 1_000, None, 1));
    assert_eq!((bumped.producer_epoch, bumped.last_producer_epoch), (1, 0));
    let retried = ready(bumped.init_producer_id(Some((5, 0)), 1_000, None, 2));
    assert_eq!(retried.producer_epoch, 1, "a retry gets the same epoch");
    assert_eq!(
        bumped.init_producer_id(Some((5, 3)), 1_000, None, 2),
        Err(ResponseError::ProducerFenced)
    );
    assert_eq!(
        bumped.init_producer_id(Some((6, 1)), 1_000, None, 2),
        Err(ResponseError::ProducerFenced)
    );
}

#[test]
fn an_exhausted_epoch_moves_to_a_new_producer_id() {
    let mut meta = TxnMeta::new(5, 1_000, 0);
    meta.producer_epoch = EPOCH_EXHAUSTED;
    meta.state = TxnState::CompleteCommit;
    assert!(meta.needs_new_producer_id());
    let rotated = ready(meta.init_producer_id(None, 1_000, Some(99), 1));
    assert_eq!(
        (
            rotated.producer_id,
            rotated.producer_epoch,
            rotated.previous_producer_id
        ),
        (99, 0, 5)
    );
    assert!(!rotated.needs_new_producer_id());
    // A producer that named its exhausted epoch retries: it gets the new id again.
    let named = ready(meta.init_producer_id(Some((5, EPOCH_EXHAUSTED)), 1_000, Some(99), 1));
    let retried = ready(named.init_producer_id(Some((5, EPOCH_EXHAUSTED)), 1_000, None, 2));
    assert_eq!((retried.producer_id, retried.producer_epoch), (99, 0));
    assert_eq!(
        named.init_producer_id(Some((5, 7)), 1_000, None, 2),
        Err(ResponseError::ProducerFenced)
    );
}

/// An id at epoch 0 with partition t-0 in an open transaction, of producer 5.
fn ongoing_v2() -> TxnMeta {
    let meta = ready(TxnMeta::new(5, 1_000, 0).init_producer_id(None, 1_000, None, 0));
    meta.add_partitions(5, 0, &[tp("t", 0)], TV2, 1)
        .expect("added")
        .expect("a change")
}

#[test]
fn a_version_2_end_bumps_the_epoch_and_recognises_its_retry() {
    let ongoing = ongoing_v2();
    assert_eq!(ongoing.client_version, TV2);
    let preparing = prepared(ongoing.end_v2(5, 0, true, None, 2));
    assert_eq!(
        (preparing.state, preparing.producer_epoch),
        (TxnState::PrepareCommit, 1)
    );
    // Retried while the markers are written: busy; the other outcome: wrong.
    assert_eq!(
        preparing.end_v2(5, 0, true, None, 3),
        Err(ResponseError::ConcurrentTransactions)
    );
    assert_eq!(
        preparing.end_v2(5, 0, false, None, 3),
        Err(ResponseError::InvalidTxnState)
    );
    assert_eq!(
        preparing.end_v2(5, 1, true, None, 3),
        Err(ResponseError::ProducerFenced)
    );
    let done = preparing.complete(4);
    assert_eq!(
        (done.state, done.producer_epoch),
        (TxnState::CompleteCommit, 1)
    );
    // Kafka's table for a completed transaction: (outcome, epoch named) → answer.
    let cases = [
        (true, 0, Ok(End::AlreadyDone)),
        (false, 0, Err(ResponseError::InvalidTxnState)),
        (true, 1, Err(ResponseError::InvalidTxnState)),
        (true, 5, Err(ResponseError::ProducerFenced)),
    ];
    for (commit, epoch, answer) in cases {
        assert_eq!(
            done.end_v2(5, epoch, commit, None, 5),
            answer,
            "{commit} at {epoch}"
        );
    }
    // An abort with nothing open still bumps the epoch.
    let aborting = prepared(done.end_v2(5, 1, false, None, 6));
    assert_eq!((aborting.producer_epoch, aborting.partitions.len()), (2, 0));
    let empty = ready(done.init_producer_id(None, 1_000, None, 7));
    assert_eq!(
        empty.end_v2(5, empty.producer_epoch, true, None, 8),
        Err(ResponseError::InvalidTxnState)
    );
    assert_eq!(
        empty.end_v2(6, empty.producer_epoch, false, None, 8),
        Err(ResponseError::InvalidProducerIdMapping)
    );
}

#[test]
fn a_version_2_end_at_an_exhausted_epoch_moves_to_a_new_producer_id() {
    let mut ongoing = ongoing_v2();
    ongoing.producer_epoch = EPOCH_EXHAUSTED;
    assert!(ongoing.epoch_exhausted());
    assert_eq!(
        ongoing.end_v2(5, EPOCH_EXHAUSTED, true, None, 2),
        Err(ResponseError::CoordinatorNotAvailable),
        "the caller must bring a fresh id"
    );
    let preparing = prepared(ongoing.end_v2(5, EPOCH_EXHAUSTED, true, Some(9), 2));
    // The markers still go out under the old id, at the last epoch.
    assert_eq!(
        (preparing.producer_id, preparing.producer_epoch),
        (5, i16::MAX)
    );
    let done = preparing.complete(3);
    assert_eq!(
        (
            done.producer_id,
            done.producer_epoch,
            done.previous_producer_id
        ),
        (9, 0, 5)
    );
    assert_eq!(
        done.end_v2(5, EPOCH_EXHAUSTED, true, None, 4),
        Ok(End::AlreadyDone),
        "a retry"
    );
    assert_eq!(
        done.end_v2(5, 3, true, None, 4),
        Err(ResponseError::InvalidProducerIdMapping)
    );
}

#[test]
fn a_coordinator_abort_of_a_version_2_transaction_fences_its_producer() {
    let ongoing = ongoing_v2();
    let aborting = ongoing.timed_out(10_000).expect("timed out");
    assert_eq!(
        aborting.producer_epoch, 2,
        "one bump to fence, one for the end"
    );
    let done = aborting.complete(10_001);
    // The producer's EndTxn at its epoch is neither current nor a retry.
    assert_eq!(
        done.end_v2(5, 0, false, None, 10_002),
        Err(ResponseError::ProducerFenced)
    );
    let Ok(Init::Fence(fenced)) = ongoing.init_producer_id(None, 1_000, None, 3) else {
        panic!("not fenced");
    };
    assert_eq!(fenced.producer_epoch, 2);
}

#[test]
fn timeouts_verification_and_expiry() {
    let meta = ready(TxnMeta::new(3, 1_000, 0).init_producer_id(None, 1_000, None, 0));
    assert_eq!(meta.timed_out(1_000_000), None, "nothing open");
    assert_eq!(
        meta.verify(3, 0, &tp("t", 0)),
        Err(ResponseError::TransactionAbortable)
    );
    let ongoing = meta
        .add_partitions(3, 0, &[tp("t", 0)], 1, 100)
        .expect("added")
        .expect("a change");
    assert_eq!(ongoing.verify(3, 0, &tp("t", 0)), Ok(()));
    assert_eq!(
        ongoing.verify(3, 0, &tp("t", 1)),
        Err(ResponseError::TransactionAbortable)
    );
    assert_eq!(
        ongoing.verify(3, 1, &tp("t", 0)),
        Err(ResponseError::ProducerFenced)
    );
    assert_eq!(ongoing.timed_out(1_100), None);
    let aborting = ongoing.timed_out(1_101).expect("past its timeout");
    assert_eq!(
        (aborting.state, aborting.producer_epoch),
        (TxnState::PrepareAbort, 1)
    );
    assert!(
        !ongoing.expired(10_000_000, 1_000),
        "an open transaction never expires"
    );
    let done = aborting.complete(2_000);
    assert!(!done.expired(2_999, 1_000));
    assert!(done.expired(3_000, 1_000));
}

#[test]
fn state_ids_and_names_are_kafkas() {
    for id in 0..=7 {
        let state = TxnState::from_id(id).expect("known");
        assert_eq!(state as i8, id);
        assert_eq!(TxnState::from_name(state.name()), Some(state));
    }
    assert_eq!(TxnState::from_id(8), None);
    assert_eq!(TxnState::from_name("Ongoing"), Some(TxnState::Ongoing));
}

/// What happens next to one transactional id: requests from the producer holding the
/// current epoch or a stale one, and the clock.
#[derive(Debug, Clone)]
enum Op {
    Init,
    Add(i32),
    End(bool),
    /// EndTxn of transaction version 2.
    EndV2(bool),
    /// The markers were written.
    Complete,
    Tick(i64),
    /// A request from a producer with an older epoch.
    Stale(i32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => Just(Op::Init),
        4 => (0i32..4).prop_map(Op::Add),
        2 => any::<bool>().prop_map(Op::End),
        2 => any::<bool>().prop_map(Op::EndV2),
        2 => Just(Op::Complete),
        1 => (0i64..3_000).prop_map(Op::Tick),
        1 => (0i32..4).prop_map(Op::Stale),
    ]
}

proptest! {
    /// Whatever the requests and the clock, the epoch never goes back; an open
    /// transaction has partitions and a start; a completed one has neither; and a
    /// producer holding an older epoch never changes anything.
    #[test]
    fn the_state_machine_keeps_kafkas_invariants(ops in proptest::collection::vec(op(), 1..60)) {
        let mut now = 0;
        let mut meta = TxnMeta::new(1, 1_000, now);
        for op in ops {
            now += 1;
            let before = meta.clone();
            let next = match op {
                Op::Init => match meta.init_producer_id(None, 1_000, Some(2), now) {
                    Ok(Init::Ready(m)) | Ok(Init::Fence(m)) => Some(m),
                    Err(_) => None,
                },
                Op::Add(p) => meta
                    .add_partitions(meta.producer_id, meta.producer_epoch, &[tp("t", p)], 1, now)
                    .ok()
                    .flatten(),
                Op::End(commit) => match meta.end(meta.producer_id, meta.producer_epoch, commit, now) {
                    Ok(End::Prepare(m)) => Some(m),
                    _ => None,
                },
                Op::EndV2(commit) => {
                    let fresh = meta.producer_id + 1;
                    match meta.end_v2(meta.producer_id, meta.producer_epoch, commit, Some(fresh), now) {
                        Ok(End::Prepare(m)) => Some(m),
                        _ => None,
                    }
                }
                Op::Complete if meta.state.is_preparing() => Some(meta.complete(now)),
                Op::Complete => None,
                Op::Tick(ms) => {
                    now += ms;
                    meta.timed_out(now)
                }
                Op::Stale(p) => {
                    let stale = meta.producer_epoch - 1;
                    prop_assert!(meta.add_partitions(meta.producer_id, stale, &[tp("t", p)], 1, now).is_err());
                    prop_assert!(meta.end(meta.producer_id, stale, true, now).is_err());
                    // One epoch back is a version 2 retry; two back is stale.
                    let older = meta.producer_epoch - 2;
                    prop_assert!(meta.end_v2(meta.producer_id, older, false, Some(9), now).is_err());
                    None
                }
            };
            if let Some(next) = next {
                meta = next;
            }
            prop_assert!(meta.producer_epoch >= before.producer_epoch || meta.producer_id != before.producer_id);
            match meta.state {
                TxnState::Ongoing => prop_assert!(!meta.partitions.is_empty() && meta.start_ms >= 0),
                TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                    prop_assert!(meta.partitions.is_empty())
                }
                // Transaction version 2 aborts with nothing open too.
                TxnState::PrepareAbort => {}
                _ => prop_assert!(!meta.partitions.is_empty()),
            }
        }
    }
}
