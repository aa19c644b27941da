//! The partition in a replicated cluster. As leader it keeps its followers' positions,
//! the ISR and the high watermark (`replication::isr::Leadership`), answers a
//! follower's fetch with where their logs part (`replication::divergence`), and holds
//! acks=all answers until the high watermark passes them. As follower it takes the
//! leader's batches as they are (`append_at`), truncates where the leader says its log
//! went astray, and takes the high watermark and log start the leader reports.

use std::time::Duration;

use kafka_protocol::error::ResponseError;

use super::Partition;
use crate::error::ApiError;
use crate::replication::divergence;
use crate::replication::isr::{AcksError, AlterAnswer, AlterIsr, Leadership};
use crate::storage::StorageError;

/// What the metadata says about a partition this broker leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lead {
    pub broker: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// Replicas on brokers the metadata has fenced or that are shutting down: kept out of
    /// the ISR.
    pub fenced: Vec<i32>,
    /// `replica.lag.time.max.ms`.
    pub lag_max_ms: i64,
}

/// How long a coordinator's acks=all append waits for the ISR at most (a client's
/// waits its Produce request's `timeout_ms`).
pub const REPLICATION_WAIT_MAX: Duration = Duration::from_secs(30);

impl Partition {
    /// Leads as the metadata says: a new leader epoch starts a new `Leadership` (its
    /// epoch starting at this log's end); within the same epoch, a newer ISR replaces
    /// the leader's. Returns whether this broker did not lead the partition before (an
    /// election here: its coordinator state is loaded).
    pub fn lead(&self, lead: Lead, now_ms: i64) -> bool {
        let elected = !self.is_leading();
        let end = self.log.end_offset();
        let min_insync = self.min_insync_replicas().max(1) as usize;
        let mut leadership = self.leadership.borrow_mut();
        let moved = match leadership.as_mut() {
            Some(l) if l.leader_epoch == lead.leader_epoch => {
                l.set_min_insync(min_insync);
                let unfenced = l.set_fenced(lead.fenced, end, now_ms);
                let (replicas, isr) = (lead.replicas, lead.isr);
                l.on_partition_change(replicas, isr, lead.partition_epoch, end, now_ms) || unfenced
            }
            _ => {
                self.lead_at(lead.leader_epoch);
                let mut l = Leadership::new(
                    lead.broker,
                    lead.leader_epoch,
                    end,
                    self.high_watermark.get(),
                    lead.replicas,
                    lead.isr,
                    lead.partition_epoch,
                    lead.lag_max_ms,
                    min_insync,
                    now_ms,
                );
                l.set_fenced(lead.fenced, end, now_ms);
                *leadership = Some(l);
                true
            }
        };
        if let Some(l) = leadership.as_ref().filter(|_| moved) {
            self.high_watermark.set(l.high_watermark());
        }
        drop(leadership);
        if moved {
            self.appended.notify();
        }
        elected
    }

    /// Follows the leader at `leader_epoch` (or waits for one): acks=all appends waiting
    /// for the ISR are answered NOT_LEADER_OR_FOLLOWER. Returns whether this broker led
    /// the partition until now (a resignation: its coordinator state goes).
    pub fn follow(&self, leader_epoch: i32) -> bool {
        self.lead_at(leader_epoch);
        let resigned = self.resign();
        self.leader_high_watermark_heard.set(false);
        resigned
    }

    /// Whether this replica may serve consumers (KIP-392): it leads, or it follows and
    /// its high watermark is the leader's.
    pub fn serves_consumers(&self) -> bool {
        self.is_leading() || self.leader_high_watermark_heard.get()
    }

    /// Stops leading (the replica follows, or leaves this broker): acks=all appends
    /// waiting for the ISR are answered NOT_LEADER_OR_FOLLOWER. Whether it led.
    pub fn resign(&self) -> bool {
        let resigned = self.leadership.borrow_mut().take().is_some();
        if resigned {
            self.appended.notify();
        }
        resigned
    }

    pub fn is_leading(&self) -> bool {
        self.leadership.borrow().is_some()
    }

    /// While leading: the followers a consumer at `offset` may read from instead
    /// (`Leadership::readers_at`).
    pub fn readers_at(&self, offset: i64) -> Option<Vec<(i32, i64, i64)>> {
        let leadership = self.leadership.borrow();
        leadership.as_ref().map(|l| l.readers_at(offset))
    }

    /// The high watermark moved on the leader: readers and acks=all waiters hear it.
    fn leader_high_watermark(&self, leadership: &Leadership) {
        self.high_watermark.set(leadership.high_watermark());
        self.appended.notify();
    }

    /// The leader's own log grew: the high watermark follows it as far as the ISR lets
    /// it (all the way with no leadership: a cluster of one).
    pub(super) fn leader_appended(&self, now_ms: i64) {
        let end = self.log.end_offset();
        match self.leadership.borrow_mut().as_mut() {
            Some(l) => {
                if l.on_leader_append(end, now_ms) {
                    self.high_watermark.set(l.high_watermark());
                }
            }
            None => self.high_watermark.set(end),
        }
    }

    /// Before a client's acks=all append: NOT_ENOUGH_REPLICAS below
    /// `min.insync.replicas`.
    pub(super) fn check_in_sync(&self) -> Result<(), ApiError> {
        let in_sync = self.in_sync_replicas();
        let min = self.min_insync_replicas();
        if in_sync < min {
            let message = format!(
                "the partition has {in_sync} in-sync replicas; min.insync.replicas is {min}"
            );
            return Err(ApiError::new(ResponseError::NotEnoughReplicas, message));
        }
        Ok(())
    }

    /// Waits until the ISR holds everything before `end_offset` (acks=all). In a
    /// cluster of one that is at once; a leadership lost meanwhile (even before this
    /// call: the append's fsync is awaited first) answers NOT_LEADER_OR_FOLLOWER, an ISR
    /// that shrank below the minimum NOT_ENOUGH_REPLICAS_AFTER_APPEND, and `wait_max`
    /// without it REQUEST_TIMED_OUT (as Kafka's DelayedProduce expires; a wait of 0
    /// still answers what the ISR holds already).
    pub async fn replicated(&self, end_offset: i64, wait_max: Duration) -> Result<(), ApiError> {
        if !self.in_cluster.get() {
            return Ok(());
        }
        let wait = async {
            loop {
                let changed = self.appended.listen();
                let done = match self.leadership.borrow().as_ref() {
                    None => Some(Err(ApiError::code(ResponseError::NotLeaderOrFollower))),
                    // The ISR's size was checked before the append: only a shrink
                    // since can fail it now.
                    Some(l) => l.acks_all_done(end_offset).map(|done| {
                        done.map_err(|_: AcksError| {
                            ApiError::code(ResponseError::NotEnoughReplicasAfterAppend)
                        })
                    }),
                };
                if let Some(done) = done {
                    return done;
                }
                changed.await;
            }
        };
        // The wait is polled first: what is done already is answered so.
        let expired = async {
            glommio::timer::sleep(wait_max).await;
            None
        };
        let waited = futures_lite::future::or(async { Some(wait.await) }, expired).await;
        waited.unwrap_or_else(|| {
            let leadership = self.leadership.borrow();
            tracing::warn!(topic = %self.topic, partition = self.index, end_offset, high_watermark = self.high_watermark.get(), leadership = ?leadership.as_ref(), "acks=all append not replicated in time");
            Err(ApiError::code(ResponseError::RequestTimedOut))
        })
    }

    /// A follower's fetch reached `fetch_offset`: it holds everything before it.
    /// Returns an ISR change to send to the controller, if it caught up.
    pub fn on_follower_fetch(
        &self,
        replica: i32,
        fetch_offset: i64,
        now_ms: i64,
    ) -> Result<Option<AlterIsr>, ApiError> {
        let mut leadership = self.leadership.borrow_mut();
        let Some(l) = leadership.as_mut().filter(|l| l.is_replica(replica)) else {
            return Err(ApiError::code(ResponseError::NotLeaderOrFollower));
        };
        let (moved, expand) =
            l.on_follower_fetch(replica, fetch_offset, self.log.end_offset(), now_ms);
        if moved {
            self.leader_high_watermark(l);
        }
        Ok(expand)
    }

    /// The leader's periodic look at its followers: an ISR change to send (a follower
    /// lagging too long leaves, or an unanswered change is sent again), with the
    /// partition epoch it is asked at.
    pub fn isr_check(&self, now_ms: i64) -> Option<AlterIsr> {
        let mut leadership = self.leadership.borrow_mut();
        let l = leadership.as_mut()?;
        let end = self.log.end_offset();
        l.check_lag(end, now_ms).or_else(|| l.resend(now_ms))
    }

    /// The controller's answer to an ISR change asked at partition epoch `asked_at`.
    pub fn on_alter_answer(&self, asked_at: i32, answer: AlterAnswer, now_ms: i64) {
        let mut leadership = self.leadership.borrow_mut();
        let Some(l) = leadership.as_mut() else {
            return;
        };
        if l.on_alter_answer(asked_at, answer, self.log.end_offset(), now_ms) {
            self.leader_high_watermark(l);
        }
    }

    /// Leader side of a follower's fetch from `fetch_offset` whose last batch was
    /// written in `last_fetched_epoch`: the epoch and end offset where its log parts
    /// from this one, if it does.
    pub fn diverging(&self, fetch_offset: i64, last_fetched_epoch: i32) -> Option<(i32, i64)> {
        divergence::diverging_epoch(
            &self.epochs.borrow(),
            self.log.end_offset(),
            fetch_offset,
            last_fetched_epoch,
        )
    }

    /// The epoch of the last batch in the log, -1 for an empty history.
    pub fn last_epoch(&self) -> i32 {
        self.epochs.borrow().latest().map_or(-1, |e| e.epoch)
    }

    /// Follower side: cuts the log where the leader's `(epoch, end offset)` says it went
    /// astray. The next fetch names the new last epoch, and the leader answers again if
    /// the cut was not far enough (the follower never had the leader's epoch).
    pub async fn truncate_diverging(
        &self,
        leader: (i32, i64),
        now_ms: i64,
    ) -> Result<(), StorageError> {
        let end = self.log.end_offset();
        let cut = divergence::truncation(
            &self.epochs.borrow(),
            end,
            self.high_watermark.get(),
            leader,
        );
        if cut.offset < end {
            tracing::info!(topic = %self.topic, partition = self.index, from = cut.offset, end, "truncating where the leader's log parts from this one");
            self.truncate_to(cut.offset, now_ms).await?;
        }
        Ok(())
    }

    /// Follower side: what the leader's fetch answer says of the committed records. The
    /// high watermark is the leader's, within this log; records before the leader's log
    /// start go as they went there (once this replica holds them committed).
    pub async fn follower_offsets(
        &self,
        high_watermark: i64,
        log_start: i64,
    ) -> Result<(), ApiError> {
        let end = self.log.end_offset();
        self.fetch_lag.set((high_watermark - end).max(0));
        self.leader_high_watermark_heard.set(true);
        let high_watermark = high_watermark.min(end).max(0);
        if high_watermark != self.high_watermark.get() {
            self.high_watermark.set(high_watermark);
            self.appended.notify();
        }
        if log_start > self.log.start_offset() && log_start <= high_watermark {
            self.delete_records(log_start).await?;
        }
        Ok(())
    }
}
