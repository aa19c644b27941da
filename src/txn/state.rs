//! A transactional id's state and Kafka's rules for changing it (TransactionMetadata
//! and the TransactionCoordinator's decisions). Pure: requests and the time go in, the
//! next state (for the caller to write to `__transaction_state` before it is applied)
//! or an error comes out.
//!
//! States: Empty → Ongoing (partitions added) → PrepareCommit / PrepareAbort (EndTxn,
//! a timeout, or a new producer fencing this one) → CompleteCommit / CompleteAbort
//! (markers written) → Ongoing again with the next transaction, or Empty after
//! InitProducerId.
//!
//! Two transaction versions (Kafka's `transaction.version` feature, which a request's
//! version shows): with 1, the producer's epoch changes only at InitProducerId; with 2
//! (KIP-890's second part), every EndTxn bumps it, so the markers carry the new epoch
//! and fence whatever the producer still had in flight for the transaction they end.

use std::collections::BTreeSet;

use kafka_protocol::error::ResponseError;

/// From this epoch on a producer id is used up: InitProducerId moves to a new id.
pub const EPOCH_EXHAUSTED: i16 = i16::MAX - 1;

/// The transaction version whose EndTxn bumps the epoch (KIP-890's second part).
pub const TV2: i16 = 2;

/// Kafka's state ids, as `__transaction_state` stores them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnState {
    Empty = 0,
    Ongoing = 1,
    PrepareCommit = 2,
    PrepareAbort = 3,
    CompleteCommit = 4,
    CompleteAbort = 5,
    Dead = 6,
    PrepareEpochFence = 7,
}

impl TxnState {
    pub fn from_id(id: i8) -> Option<TxnState> {
        use TxnState::*;
        [
            Empty,
            Ongoing,
            PrepareCommit,
            PrepareAbort,
            CompleteCommit,
            CompleteAbort,
            Dead,
            PrepareEpochFence,
        ]
        .into_iter()
        .find(|state| *state as i8 == id)
    }

    /// The name DescribeTransactions and ListTransactions use.
    pub fn name(self) -> &'static str {
        use TxnState::*;
        match self {
            Empty => "Empty",
            Ongoing => "Ongoing",
            PrepareCommit => "PrepareCommit",
            PrepareAbort => "PrepareAbort",
            CompleteCommit => "CompleteCommit",
            CompleteAbort => "CompleteAbort",
            Dead => "Dead",
            PrepareEpochFence => "PrepareEpochFence",
        }
    }

    pub fn from_name(name: &str) -> Option<TxnState> {
        (0..=7)
            .filter_map(TxnState::from_id)
            .find(|state| state.name() == name)
    }

    fn is_complete(self) -> bool {
        matches!(
            self,
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
        )
    }

    fn is_preparing(self) -> bool {
        matches!(self, TxnState::PrepareCommit | TxnState::PrepareAbort)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMeta {
    pub producer_id: i64,
    /// The id before the last rotation (an exhausted epoch), -1 if none.
    pub previous_producer_id: i64,
    pub producer_epoch: i16,
    /// The epoch before the last bump, for recognising a retried InitProducerId; not
    /// stored in the log (-1 after a load), as in Kafka.
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<(String, i32)>,
    /// When the transaction began, -1 without one.
    pub start_ms: i64,
    pub last_update_ms: i64,
    /// The id the producer moves to when the prepared transaction completes (its epoch
    /// ran out at a version 2 EndTxn), -1 if none.
    pub next_producer_id: i64,
    /// The transaction version the producer speaks (Kafka's ClientTransactionVersion;
    /// 0 until a request shows it).
    pub client_version: i16,
}

/// What the coordinator answers a request with, when it is not a success.
pub type TxnError = ResponseError;

/// InitProducerId's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Init {
    /// Write this state, then answer with its producer id and epoch.
    Ready(TxnMeta),
    /// A transaction is open: write this PrepareAbort (the epoch bumped, fencing the
    /// old producer), answer CONCURRENT_TRANSACTIONS, and finish the abort.
    Fence(TxnMeta),
}

/// EndTxn's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// Write this PrepareCommit or PrepareAbort, then the markers, then complete.
    Prepare(TxnMeta),
    /// The same EndTxn again after it completed: nothing to do.
    AlreadyDone,
}

impl TxnMeta {
    /// A transactional id seen for the first time.
    pub fn new(producer_id: i64, timeout_ms: i32, now_ms: i64) -> TxnMeta {
        TxnMeta {
            producer_id,
            previous_producer_id: -1,
            producer_epoch: -1,
            last_producer_epoch: -1,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            start_ms: -1,
            last_update_ms: now_ms,
            next_producer_id: -1,
            client_version: 0,
        }
    }

    /// Whether InitProducerId will move this id to a new producer id.
    pub fn needs_new_producer_id(&self) -> bool {
        self.state.is_complete() && self.producer_epoch >= EPOCH_EXHAUSTED
    }

    fn check_producer(&self, producer_id: i64, epoch: i16) -> Result<(), TxnError> {
        if producer_id != self.producer_id {
            return Err(ResponseError::InvalidProducerIdMapping);
        }
        if epoch != self.producer_epoch {
            return Err(ResponseError::ProducerFenced);
        }
        Ok(())
    }

    /// InitProducerId with this id (`expected`: the producer id and epoch the client
    /// had, KIP-360). `fresh_id` must be given when `needs_new_producer_id`.
    pub fn init_producer_id(
        &self,
        expected: Option<(i64, i16)>,
        timeout_ms: i32,
        fresh_id: Option<i64>,
        now_ms: i64,
    ) -> Result<Init, TxnError> {
        if let Some((id, epoch)) = expected {
            let known = self.producer_epoch == -1
                || id == self.producer_id
                || (id == self.previous_producer_id && epoch >= EPOCH_EXHAUSTED);
            if !known {
                return Err(ResponseError::ProducerFenced);
            }
        }
        match self.state {
            TxnState::Ongoing => Ok(Init::Fence(self.transition(
                TxnState::PrepareAbort,
                self.fence_epoch(),
                now_ms,
            ))),
            state if state.is_complete() => {
                let mut next = self.clone();
                next.timeout_ms = timeout_ms;
                next.state = TxnState::Empty;
                next.partitions.clear();
                next.start_ms = -1;
                next.last_update_ms = now_ms;
                if self.needs_new_producer_id() {
                    let stale = expected.is_some_and(|(_, epoch)| epoch != self.producer_epoch);
                    if stale {
                        return Err(ResponseError::ProducerFenced);
                    }
                    next.previous_producer_id = self.producer_id;
                    next.producer_id = fresh_id.ok_or(ResponseError::CoordinatorNotAvailable)?;
                    next.producer_epoch = 0;
                    // A producer that named its epoch may retry this request: the old
                    // epoch recognises the retry.
                    next.last_producer_epoch = match expected {
                        Some(_) => self.producer_epoch,
                        None => -1,
                    };
                    return Ok(Init::Ready(next));
                }
                match expected {
                    None => {
                        next.producer_epoch = self.producer_epoch + 1;
                        next.last_producer_epoch = -1;
                    }
                    Some((_, epoch))
                        if epoch == self.producer_epoch || self.producer_epoch == -1 =>
                    {
                        next.producer_epoch = self.producer_epoch + 1;
                        next.last_producer_epoch = self.producer_epoch;
                    }
                    // A retry of an InitProducerId that bumped the epoch already.
                    Some((_, epoch)) if epoch == self.last_producer_epoch => {}
                    Some(_) => return Err(ResponseError::ProducerFenced),
                }
                Ok(Init::Ready(next))
            }
            _ => Err(ResponseError::ConcurrentTransactions),
        }
    }

    /// AddPartitionsToTxn (and AddOffsetsToTxn, with the group's offsets partition; or,
    /// with transaction version 2, the write that adds its partition itself) from a
    /// producer speaking `client_version`: `None` when every partition is in the
    /// transaction already.
    pub fn add_partitions(
        &self,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
        client_version: i16,
        now_ms: i64,
    ) -> Result<Option<TxnMeta>, TxnError> {
        self.check_producer(producer_id, epoch)?;
        if !self.state.is_complete() && self.state != TxnState::Ongoing {
            return Err(ResponseError::ConcurrentTransactions);
        }
        let new = partitions.iter().any(|p| !self.partitions.contains(p));
        if self.state == TxnState::Ongoing && !new {
            return Ok(None);
        }
        let mut next = self.transition(TxnState::Ongoing, self.producer_epoch, now_ms);
        next.client_version = client_version;
        if self.state != TxnState::Ongoing {
            next.start_ms = now_ms;
            next.partitions.clear();
        }
        next.partitions.extend(partitions.iter().cloned());
        Ok(Some(next))
    }

    /// EndTxn: commit or abort the open transaction.
    pub fn end(
        &self,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        now_ms: i64,
    ) -> Result<End, TxnError> {
        self.check_producer(producer_id, epoch)?;
        use TxnState::*;
        match (self.state, commit) {
            (Ongoing, true) => Ok(End::Prepare(self.transition(PrepareCommit, epoch, now_ms))),
            (Ongoing, false) => Ok(End::Prepare(self.transition(PrepareAbort, epoch, now_ms))),
            (CompleteCommit, true) | (CompleteAbort, false) => Ok(End::AlreadyDone),
            (PrepareCommit, true) | (PrepareAbort, false) => {
                Err(ResponseError::ConcurrentTransactions)
            }
            _ => Err(ResponseError::InvalidTxnState),
        }
    }

    /// EndTxn of transaction version 2, which bumps the epoch: the prepared state
    /// carries the next epoch (the markers' epoch), and an EndTxn at an exhausted
    /// epoch moves the producer to `fresh_id` (which must be given when
    /// `epoch_exhausted`) once the transaction completes. A retry is recognised by the
    /// epoch it names being the one before the current.
    pub fn end_v2(
        &self,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        fresh_id: Option<i64>,
        now_ms: i64,
    ) -> Result<End, TxnError> {
        let retry = self.is_retry_v2(producer_id, epoch);
        if !retry && producer_id != self.producer_id {
            return Err(ResponseError::InvalidProducerIdMapping);
        }
        let current = !retry && epoch == self.producer_epoch;
        use TxnState::*;
        match (self.state, commit) {
            (PrepareCommit, true) | (PrepareAbort, false) if retry => {
                Err(ResponseError::ConcurrentTransactions)
            }
            (PrepareCommit | PrepareAbort, _) if retry => Err(ResponseError::InvalidTxnState),
            (CompleteCommit, true) | (CompleteAbort, false) if retry => Ok(End::AlreadyDone),
            (CompleteCommit | CompleteAbort, _) if retry => Err(ResponseError::InvalidTxnState),
            (Ongoing, _) | (Empty | CompleteCommit | CompleteAbort, false) if current => {
                let state = if commit { PrepareCommit } else { PrepareAbort };
                let mut next =
                    self.transition(state, self.producer_epoch.saturating_add(1), now_ms);
                next.client_version = TV2;
                if self.state != Ongoing {
                    // An abort with nothing open still bumps the epoch.
                    next.partitions.clear();
                    next.start_ms = now_ms;
                }
                if self.epoch_exhausted() {
                    next.next_producer_id =
                        fresh_id.ok_or(ResponseError::CoordinatorNotAvailable)?;
                }
                Ok(End::Prepare(next))
            }
            (CompleteCommit | CompleteAbort, true) if current => {
                Err(ResponseError::InvalidTxnState)
            }
            (Empty, true) if current => Err(ResponseError::InvalidTxnState),
            _ => Err(ResponseError::ProducerFenced),
        }
    }

    /// Whether a version 2 EndTxn needs a fresh producer id: the epoch it would bump
    /// is used up.
    pub fn epoch_exhausted(&self) -> bool {
        self.producer_epoch >= EPOCH_EXHAUSTED
    }

    /// A version 2 EndTxn that names the epoch before the current: the producer's
    /// retry of the EndTxn that bumped it (or moved it to a new producer id).
    fn is_retry_v2(&self, producer_id: i64, epoch: i16) -> bool {
        let bumped =
            producer_id == self.producer_id && epoch < i16::MAX && self.producer_epoch == epoch + 1;
        let moved = self.previous_producer_id >= 0
            && producer_id == self.previous_producer_id
            && producer_id != self.producer_id
            && self.producer_epoch == 0
            && epoch >= EPOCH_EXHAUSTED;
        bumped || moved
    }

    /// The markers are written: PrepareCommit becomes CompleteCommit, PrepareAbort
    /// CompleteAbort, the transaction's partitions are forgotten, and a producer whose
    /// epoch ran out moves to its next producer id, at epoch 0.
    pub fn complete(&self, now_ms: i64) -> TxnMeta {
        let state = match self.state {
            TxnState::PrepareCommit => TxnState::CompleteCommit,
            _ => TxnState::CompleteAbort,
        };
        let mut next = self.transition(state, self.producer_epoch, now_ms);
        next.partitions.clear();
        if self.next_producer_id >= 0 {
            next.previous_producer_id = self.producer_id;
            next.producer_id = self.next_producer_id;
            next.next_producer_id = -1;
            next.producer_epoch = 0;
            next.last_producer_epoch = -1;
        }
        next
    }

    /// KIP-890's check that a producer writing to `partition` in a transaction added it
    /// first.
    pub fn verify(
        &self,
        producer_id: i64,
        epoch: i16,
        partition: &(String, i32),
    ) -> Result<(), TxnError> {
        self.check_producer(producer_id, epoch)?;
        if self.state.is_preparing() {
            return Err(ResponseError::ConcurrentTransactions);
        }
        if self.state == TxnState::Ongoing && self.partitions.contains(partition) {
            Ok(())
        } else {
            Err(ResponseError::TransactionAbortable)
        }
    }

    /// An open transaction past `transaction.timeout.ms`: the coordinator aborts it with
    /// the epoch bumped, fencing the producer that left it.
    pub fn timed_out(&self, now_ms: i64) -> Option<TxnMeta> {
        let due = self.start_ms.saturating_add(i64::from(self.timeout_ms));
        (self.state == TxnState::Ongoing && due < now_ms)
            .then(|| self.transition(TxnState::PrepareAbort, self.fence_epoch(), now_ms))
    }

    /// The epoch of an abort the coordinator starts (a timeout, a new producer): one
    /// past the producer's, to fence it; with transaction version 2 one more, the
    /// bump every end of a transaction makes, so the producer's retry of an EndTxn
    /// is never taken for a success.
    fn fence_epoch(&self) -> i16 {
        let bump = if self.client_version >= TV2 { 2 } else { 1 };
        self.producer_epoch.saturating_add(bump)
    }

    /// Whether the id may be forgotten: no transaction open, unused for `expiration_ms`.
    pub fn expired(&self, now_ms: i64, expiration_ms: i64) -> bool {
        self.state.is_complete() && now_ms.saturating_sub(self.last_update_ms) >= expiration_ms
    }

    fn transition(&self, state: TxnState, epoch: i16, now_ms: i64) -> TxnMeta {
        let mut next = self.clone();
        if epoch != self.producer_epoch {
            next.last_producer_epoch = self.producer_epoch;
        }
        next.producer_epoch = epoch;
        next.state = state;
        next.last_update_ms = now_ms;
        next
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
