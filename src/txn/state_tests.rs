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
        .add_partitions(100, 0, &[tp("a", 0), tp("a", 1)], 10)
        .expect("added")
        .expect("a change");
    assert_eq!((ongoing.state, ongoing.start_ms), (TxnState::Ongoing, 10));
    assert_eq!(ongoing.add_partitions(100, 0, &[tp("a", 1)], 11), Ok(None));
    let more = ongoing
        .add_partitions(100, 0, &[tp("b", 0)], 12)
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
        preparing.add_partitions(100, 0, &[tp("a", 0)], 21),
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
        .add_partitions(100, 0, &[tp("c", 0)], 40)
        .expect("added")
        .expect("a change");
    assert_eq!((next.start_ms, next.partitions.len()), (40, 1));
}

#[test]
fn a_new_producer_fences_the_old_one() {
    let meta = ready(TxnMeta::new(7, 60_000, 0).init_producer_id(None, 60_000, None, 0));
    let ongoing = meta
        .add_partitions(7, 0, &[tp("t", 0)], 5)
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
        again.add_partitions(7, 1, &[tp("t", 0)], 10),
        Err(ResponseError::ProducerFenced)
    );
    assert_eq!(
        again.add_partitions(8, 2, &[tp("t", 0)], 10),
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

#[test]
fn timeouts_verification_and_expiry() {
    let meta = ready(TxnMeta::new(3, 1_000, 0).init_producer_id(None, 1_000, None, 0));
    assert_eq!(meta.timed_out(1_000_000), None, "nothing open");
    assert_eq!(
        meta.verify(3, 0, &tp("t", 0)),
        Err(ResponseError::TransactionAbortable)
    );
    let ongoing = meta
        .add_partitions(3, 0, &[tp("t", 0)], 100)
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
                    .add_partitions(meta.producer_id, meta.producer_epoch, &[tp("t", p)], now)
                    .ok()
                    .flatten(),
                Op::End(commit) => match meta.end(meta.producer_id, meta.producer_epoch, commit, now) {
                    Ok(End::Prepare(m)) => Some(m),
                    _ => None,
                },
                Op::Complete if meta.state.is_preparing() => Some(meta.complete(now)),
                Op::Complete => None,
                Op::Tick(ms) => {
                    now += ms;
                    meta.timed_out(now)
                }
                Op::Stale(p) => {
                    let stale = meta.producer_epoch - 1;
                    prop_assert!(meta.add_partitions(meta.producer_id, stale, &[tp("t", p)], now).is_err());
                    prop_assert!(meta.end(meta.producer_id, stale, true, now).is_err());
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
                _ => prop_assert!(!meta.partitions.is_empty()),
            }
        }
    }
}
