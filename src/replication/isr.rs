//! A partition leader's view of its followers, as Kafka's `Partition` keeps it: where
//! each follower's log ends, when it was last caught up, the in-sync replica set (ISR)
//! the controller committed and the change to it in flight (AlterPartition), and the
//! high watermark they give. Pure: the caller passes the clock and its log's end, and
//! sends the ISR changes it is handed.

use std::collections::BTreeMap;

/// An offset a new leader does not know yet for a follower (Kafka's UnknownOffset).
const UNKNOWN: i64 = -1;

/// How long an ISR change waits for the controller's answer before it is sent again.
pub const ALTER_RETRY_MS: i64 = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Follower {
    log_end: i64,
    /// The last time the follower's log reached the leader's end (ms); `None` for a
    /// replica outside the ISR that has not caught up under this leader.
    caught_up_ms: Option<i64>,
    /// When the follower last fetched, and the leader's log end then.
    last_fetch: Option<(i64, i64)>,
}

impl Follower {
    /// Kafka's `isCaughtUp`: at the leader's end, or there within the lag allowed.
    fn caught_up(&self, leader_end: i64, now_ms: i64, lag_max_ms: i64) -> bool {
        self.log_end == leader_end || self.caught_up_ms.is_some_and(|t| now_ms - t <= lag_max_ms)
    }

    /// Kafka's `updateFetchState`: a fetch at the leader's end catches the follower up
    /// now; one that reaches where the leader ended at the previous fetch, then.
    fn fetched(&mut self, fetch_offset: i64, leader_end: i64, now_ms: i64) {
        let caught_up_at = if fetch_offset >= leader_end {
            Some(now_ms)
        } else {
            self.last_fetch
                .filter(|&(_, end)| fetch_offset >= end)
                .map(|(at, _)| at)
        };
        if let Some(at) = caught_up_at {
            self.caught_up_ms = Some(self.caught_up_ms.map_or(at, |t| t.max(at)));
        }
        self.log_end = fetch_offset;
        self.last_fetch = Some((now_ms, leader_end));
    }
}

/// An ISR change the leader asks the controller for (AlterPartition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterIsr {
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub isr: Vec<i32>,
}

#[derive(Debug, Clone)]
struct Pending {
    isr: Vec<i32>,
    /// When it was last sent; `None` once the controller called it stale: then only
    /// the metadata can tell whether a copy of it was committed, and it is not resent.
    sent_ms: Option<i64>,
}

/// The controller's answer to an AlterPartition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterAnswer {
    /// Committed: the new ISR and partition epoch.
    Committed { isr: Vec<i32>, partition_epoch: i32 },
    /// The leader or partition epoch is not the controller's (INVALID_UPDATE_VERSION,
    /// FENCED_LEADER_EPOCH). A copy of the same change sent earlier may have been
    /// committed, so the change stays pending until the metadata says.
    Stale,
    /// Not applied, and no copy of it was (INELIGIBLE_REPLICA: it adds a fenced
    /// broker, and a copy applied earlier would have made this one stale).
    Refused,
}

/// Why an acks=all produce may not go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcksError {
    /// Fewer in sync than `min.insync.replicas` before the append: nothing is written.
    NotEnoughReplicas,
    /// Written and replicated to the ISR, but the ISR shrank below the minimum since.
    NotEnoughReplicasAfterAppend,
}

#[derive(Debug, Clone)]
pub struct Leadership {
    pub broker: i32,
    pub leader_epoch: i32,
    /// The offset this leader's epoch starts at: its log end when it took over. A
    /// follower joins the ISR only once it holds everything before it.
    pub epoch_start_offset: i64,
    pub replicas: Vec<i32>,
    /// The ISR the controller committed, and its version (partition epoch).
    pub isr: Vec<i32>,
    pub partition_epoch: i32,
    /// The change sent and not settled: Kafka's "maximal ISR" counts both sides of it.
    pending: Option<Pending>,
    followers: BTreeMap<i32, Follower>,
    high_watermark: i64,
    lag_max_ms: i64,
    min_insync: usize,
    /// Replicas on brokers the metadata has fenced: not added to the ISR (Kafka's
    /// `isReplicaIsrEligible`; the controller would refuse them).
    fenced: Vec<i32>,
}

impl Leadership {
    /// Takes the lead at `leader_epoch` with the controller's replicas and ISR. The high
    /// watermark starts at the one this broker had, and advances at once if the ISR
    /// allows (Kafka's `makeLeader`); followers' positions are unknown until they
    /// fetch, and those in the ISR count as caught up now (Kafka's `resetReplicaState`
    /// for a new leader).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        broker: i32,
        leader_epoch: i32,
        log_end: i64,
        high_watermark: i64,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        partition_epoch: i32,
        lag_max_ms: i64,
        min_insync: usize,
        now_ms: i64,
    ) -> Leadership {
        let followers = replicas
            .iter()
            .filter(|&&r| r != broker)
            .map(|&r| {
                let state = Follower {
                    log_end: UNKNOWN,
                    caught_up_ms: isr.contains(&r).then_some(now_ms),
                    last_fetch: None,
                };
                (r, state)
            })
            .collect();
        let mut leadership = Leadership {
            broker,
            leader_epoch,
            epoch_start_offset: log_end,
            replicas,
            isr,
            partition_epoch,
            pending: None,
            followers,
            high_watermark: high_watermark.min(log_end),
            lag_max_ms,
            min_insync,
            fenced: Vec::new(),
        };
        // Alone in the ISR, the leader commits its whole log at once.
        leadership.advance_high_watermark(log_end, now_ms);
        leadership
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    /// The followers a consumer at `offset` may be sent to (KIP-392): those in the ISR
    /// whose log holds the offset, with their log end and when they were last caught
    /// up, as Kafka's leader offers them to its replica selector.
    pub fn readers_at(&self, offset: i64) -> Vec<(i32, i64, i64)> {
        self.followers
            .iter()
            .filter(|(broker, f)| {
                self.isr.contains(broker) && f.log_end != UNKNOWN && f.log_end >= offset
            })
            .map(|(&broker, f)| (broker, f.log_end, f.caught_up_ms.unwrap_or(0)))
            .collect()
    }

    /// `min.insync.replicas` changed (a topic config).
    pub fn set_min_insync(&mut self, min_insync: usize) {
        self.min_insync = min_insync;
    }

    /// The replicas on brokers the metadata has fenced now. Returns whether the high
    /// watermark moved: it no longer waits for a fenced replica about to join the ISR.
    pub fn set_fenced(&mut self, fenced: Vec<i32>, leader_end: i64, now_ms: i64) -> bool {
        self.fenced = fenced;
        self.advance_high_watermark(leader_end, now_ms)
    }

    pub fn is_replica(&self, broker: i32) -> bool {
        self.replicas.contains(&broker)
    }

    pub fn pending_isr(&self) -> Option<&[i32]> {
        self.pending.as_ref().map(|p| p.isr.as_slice())
    }

    /// The committed ISR and any replica a pending change adds (Kafka's maximal ISR):
    /// the high watermark waits for all of them, so neither a shrink nor an expansion
    /// in flight can let it pass a record some future ISR member lacks.
    fn maximal_isr(&self) -> impl Iterator<Item = i32> + '_ {
        let added = self
            .pending
            .iter()
            .flat_map(|p| &p.isr)
            .filter(|r| !self.isr.contains(r));
        self.isr.iter().chain(added).copied()
    }

    /// Before an acks=all append: the committed ISR must hold `min.insync.replicas`.
    pub fn check_acks_all(&self) -> Result<(), AcksError> {
        if self.isr.len() < self.min_insync {
            return Err(AcksError::NotEnoughReplicas);
        }
        Ok(())
    }

    /// Whether an acks=all append that ends at `end_offset` may be answered: `None`
    /// while the high watermark is short of it, then success, or
    /// NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR shrank below the minimum meanwhile
    /// (Kafka's `checkEnoughReplicasReachOffset`).
    pub fn acks_all_done(&self, end_offset: i64) -> Option<Result<(), AcksError>> {
        if self.high_watermark < end_offset {
            return None;
        }
        if self.isr.len() < self.min_insync {
            return Some(Err(AcksError::NotEnoughReplicasAfterAppend));
        }
        Some(Ok(()))
    }

    /// The leader's own log grew (or was written): with no follower in the ISR the
    /// high watermark follows it. Returns whether the high watermark moved.
    pub fn on_leader_append(&mut self, leader_end: i64, now_ms: i64) -> bool {
        self.advance_high_watermark(leader_end, now_ms)
    }

    /// A follower fetched from `fetch_offset`: everything before it is in its log.
    /// Returns whether the high watermark moved, and an ISR expansion to send when the
    /// follower has caught up and nothing else is in flight.
    pub fn on_follower_fetch(
        &mut self,
        replica: i32,
        fetch_offset: i64,
        leader_end: i64,
        now_ms: i64,
    ) -> (bool, Option<AlterIsr>) {
        let Some(f) = self.followers.get_mut(&replica) else {
            return (false, None);
        };
        f.fetched(fetch_offset, leader_end, now_ms);
        let expand = self.expansion(replica, now_ms);
        let moved = self.advance_high_watermark(leader_end, now_ms);
        (moved, expand)
    }

    /// Kafka's `isFollowerInSync`, for a replica outside the ISR: it has reached the
    /// high watermark and the start of this leader's epoch.
    fn expansion(&mut self, replica: i32, now_ms: i64) -> Option<AlterIsr> {
        if self.pending.is_some() || self.isr.contains(&replica) || self.fenced.contains(&replica) {
            return None;
        }
        let f = self.followers.get(&replica)?;
        let in_sync = f.log_end >= self.high_watermark && f.log_end >= self.epoch_start_offset;
        if !in_sync {
            return None;
        }
        let mut isr = self.isr.clone();
        isr.push(replica);
        self.propose(isr, now_ms)
    }

    /// Followers in the ISR that have not caught up for `replica.lag.time.max.ms` leave
    /// it (Kafka's `maybeShrinkIsr`); the change to send, if any.
    pub fn check_lag(&mut self, leader_end: i64, now_ms: i64) -> Option<AlterIsr> {
        if self.pending.is_some() {
            return None;
        }
        let out_of_sync: Vec<i32> = self
            .isr
            .iter()
            .filter(|&&r| r != self.broker)
            .filter(|r| {
                self.followers
                    .get(r)
                    .is_some_and(|f| !f.caught_up(leader_end, now_ms, self.lag_max_ms))
            })
            .copied()
            .collect();
        if out_of_sync.is_empty() {
            return None;
        }
        let isr = self
            .isr
            .iter()
            .copied()
            .filter(|r| !out_of_sync.contains(r))
            .collect();
        self.propose(isr, now_ms)
    }

    fn propose(&mut self, isr: Vec<i32>, now_ms: i64) -> Option<AlterIsr> {
        self.pending = Some(Pending {
            isr: isr.clone(),
            sent_ms: Some(now_ms),
        });
        Some(self.change(isr))
    }

    fn change(&self, isr: Vec<i32>) -> AlterIsr {
        AlterIsr {
            leader_epoch: self.leader_epoch,
            partition_epoch: self.partition_epoch,
            isr,
        }
    }

    /// The pending change again, if it has waited `ALTER_RETRY_MS` for an answer: the
    /// request or its answer may have been lost with a connection, and Kafka's leader
    /// keeps asking until it hears.
    pub fn resend(&mut self, now_ms: i64) -> Option<AlterIsr> {
        let pending = self.pending.as_mut()?;
        let sent_ms = pending.sent_ms.as_mut()?;
        if now_ms - *sent_ms < ALTER_RETRY_MS {
            return None;
        }
        *sent_ms = now_ms;
        let isr = pending.isr.clone();
        Some(self.change(isr))
    }

    /// The controller's answer to the change this leader asked for at partition epoch
    /// `asked_at`. Returns whether the high watermark moved. An answer to a request
    /// made before the partition moved on is ignored, as Kafka does: the change it
    /// answers is no longer the pending one (taking its "stale" for the new one's left
    /// that one unsent for good).
    pub fn on_alter_answer(
        &mut self,
        asked_at: i32,
        answer: AlterAnswer,
        leader_end: i64,
        now_ms: i64,
    ) -> bool {
        if asked_at != self.partition_epoch {
            return false;
        }
        match answer {
            AlterAnswer::Committed {
                isr,
                partition_epoch,
            } => {
                let replicas = self.replicas.clone();
                self.on_partition_change(replicas, isr, partition_epoch, leader_end, now_ms)
            }
            AlterAnswer::Stale => {
                if let Some(p) = self.pending.as_mut() {
                    p.sent_ms = None;
                }
                false
            }
            AlterAnswer::Refused => {
                self.pending = None;
                self.advance_high_watermark(leader_end, now_ms)
            }
        }
    }

    /// The metadata log changed the partition within this leader's epoch: an ISR the
    /// controller committed (in answer to this leader or on its own, fencing a broker),
    /// or its replicas (a reassignment: a replica added is followed from now, its
    /// position unknown until it fetches; one removed is forgotten). One newer than the
    /// leader's replaces it and ends any change in flight, as in Kafka; an older one is
    /// ignored. Returns whether the high watermark moved.
    pub fn on_partition_change(
        &mut self,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        partition_epoch: i32,
        leader_end: i64,
        now_ms: i64,
    ) -> bool {
        if partition_epoch <= self.partition_epoch {
            return false;
        }
        let broker = self.broker;
        self.followers.retain(|r, _| replicas.contains(r));
        for &r in replicas.iter().filter(|&&r| r != broker) {
            self.followers.entry(r).or_insert(Follower {
                log_end: UNKNOWN,
                caught_up_ms: None,
                last_fetch: None,
            });
        }
        self.replicas = replicas;
        self.isr = isr;
        self.partition_epoch = partition_epoch;
        self.pending = None;
        self.advance_high_watermark(leader_end, now_ms)
    }

    /// Kafka's `maybeIncrementLeaderHW`: the smallest log end among the leader, the
    /// maximal ISR, and replicas caught up enough that they are about to join it (not
    /// a fenced one: it cannot join). Never moves back.
    fn advance_high_watermark(&mut self, leader_end: i64, now_ms: i64) -> bool {
        let mut candidate = leader_end;
        for (&replica, f) in &self.followers {
            let in_isr = self.maximal_isr().any(|r| r == replica);
            let joining =
                !self.fenced.contains(&replica) && f.caught_up(leader_end, now_ms, self.lag_max_ms);
            if f.log_end < candidate && (in_isr || joining) {
                candidate = f.log_end;
            }
        }
        if candidate > self.high_watermark {
            self.high_watermark = candidate;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAG: i64 = 30_000;

    fn committed(isr: Vec<i32>, partition_epoch: i32) -> AlterAnswer {
        AlterAnswer::Committed {
            isr,
            partition_epoch,
        }
    }

    fn leader(isr: Vec<i32>, min_insync: usize) -> Leadership {
        Leadership::new(
            1,
            5,
            100,
            100,
            vec![1, 2, 3],
            isr,
            10,
            LAG,
            min_insync,
            1_000,
        )
    }

    #[test]
    fn a_new_leader_alone_in_the_isr_commits_its_log_and_one_with_followers_waits() {
        let alone = Leadership::new(1, 5, 150, 100, vec![1, 2, 3], vec![1], 10, LAG, 1, 0);
        assert_eq!(alone.high_watermark(), 150);
        let with_follower =
            Leadership::new(1, 5, 150, 100, vec![1, 2, 3], vec![1, 2], 10, LAG, 1, 0);
        assert_eq!(with_follower.high_watermark(), 100);
    }

    #[test]
    fn the_high_watermark_waits_for_every_isr_member() {
        let mut l = leader(vec![1, 2, 3], 2);
        assert!(!l.on_leader_append(150, 1_000));
        assert_eq!(l.on_follower_fetch(2, 150, 150, 1_010), (false, None));
        assert_eq!(
            l.high_watermark(),
            100,
            "replica 3 has not fetched since the election"
        );
        assert_eq!(l.on_follower_fetch(3, 120, 150, 1_020), (true, None));
        assert_eq!(l.high_watermark(), 120);
        assert_eq!(l.acks_all_done(150), None);
        assert_eq!(l.acks_all_done(120), Some(Ok(())));
    }

    #[test]
    fn a_fenced_replica_that_was_caught_up_neither_holds_the_high_watermark_nor_joins() {
        let mut l = leader(vec![1, 2, 3], 2);
        l.on_follower_fetch(2, 100, 100, 1_000);
        l.on_follower_fetch(3, 100, 100, 1_000);
        // The controller fenced broker 2 and took it out of the ISR; caught up a moment
        // ago, it would count as about to join again, and hold the high watermark.
        l.on_leader_append(150, 1_100);
        l.on_partition_change(l.replicas.clone(), vec![1, 3], 11, 150, 1_100);
        l.on_follower_fetch(3, 150, 150, 1_200);
        assert_eq!(l.high_watermark(), 100);
        // Known as fenced, it holds nothing (Kafka's isReplicaIsrEligible), and a fetch
        // of its does not ask to add it.
        assert!(l.set_fenced(vec![2], 150, 1_300));
        assert_eq!(l.high_watermark(), 150);
        assert_eq!(l.on_follower_fetch(2, 150, 150, 1_400), (false, None));
    }

    #[test]
    fn a_replica_a_reassignment_adds_is_followed_and_asked_into_the_isr_once_caught_up() {
        let mut l = leader(vec![1, 2, 3], 2);
        l.on_follower_fetch(2, 100, 100, 1_000);
        l.on_follower_fetch(3, 100, 100, 1_000);
        // Broker 4 is added and 3 stays until the move completes.
        l.on_partition_change(vec![4, 1, 2, 3], vec![1, 2, 3], 11, 100, 1_100);
        assert!(l.is_replica(4));
        assert_eq!(l.on_follower_fetch(4, 50, 100, 1_200), (false, None));
        let (_, change) = l.on_follower_fetch(4, 100, 100, 1_300);
        assert_eq!(change.map(|c| c.isr), Some(vec![1, 2, 3, 4]));
        // The move completes: 3 is no replica any more, and no longer followed.
        l.on_partition_change(vec![4, 1, 2], vec![1, 2, 4], 13, 100, 1_400);
        assert!(!l.is_replica(3) && !l.followers.contains_key(&3));
    }

    #[test]
    fn a_follower_that_stops_fetching_leaves_the_isr_after_the_lag_time() {
        let mut l = leader(vec![1, 2, 3], 2);
        l.on_follower_fetch(2, 100, 100, 1_000);
        l.on_follower_fetch(3, 100, 100, 1_000);
        l.on_leader_append(200, 2_000);
        // Replica 2 keeps up; replica 3 is silent.
        l.on_follower_fetch(2, 200, 200, 20_000);
        assert_eq!(l.check_lag(200, 20_000), None);
        let shrink = l.check_lag(200, 1_000 + LAG + 1).unwrap();
        assert_eq!(shrink.isr, vec![1, 2]);
        assert_eq!((shrink.leader_epoch, shrink.partition_epoch), (5, 10));
        // Until the controller commits it, the high watermark still waits for 3.
        assert_eq!(l.high_watermark(), 100);
        assert!(l.on_alter_answer(l.partition_epoch, committed(vec![1, 2], 11), 200, 31_002));
        assert_eq!(l.high_watermark(), 200);
    }

    #[test]
    fn a_follower_behind_but_fetching_to_the_end_each_time_stays_in_sync() {
        let mut l = leader(vec![1, 2], 1);
        let mut now = 1_000;
        let mut end = 100;
        // Every fetch reaches the leader's end as it was at the previous fetch.
        for _ in 0..100 {
            l.on_follower_fetch(2, end, end + 10, now);
            end += 10;
            now += 1_000;
        }
        assert_eq!(l.check_lag(end, now), None);
    }

    #[test]
    fn a_caught_up_follower_joins_the_isr_from_the_high_watermark_and_epoch_start() {
        let mut l = leader(vec![1], 1);
        assert!(l.on_leader_append(130, 1_000));
        // Below the high watermark (130) replica 2 is not in sync yet.
        assert_eq!(l.on_follower_fetch(2, 90, 130, 1_001).1, None);
        let expand = l.on_follower_fetch(2, 130, 130, 1_002).1.unwrap();
        assert_eq!(expand.isr, vec![1, 2]);
        // While it is pending the high watermark counts replica 2.
        l.on_leader_append(160, 1_003);
        assert_eq!(l.high_watermark(), 130);
        assert!(!l.on_alter_answer(l.partition_epoch, committed(vec![1, 2], 11), 160, 1_004));
        assert_eq!(l.on_follower_fetch(2, 160, 160, 1_005), (true, None));
        assert_eq!(l.high_watermark(), 160);
    }

    #[test]
    fn acks_all_is_refused_below_min_insync_before_and_after_the_append() {
        let mut l = leader(vec![1, 2], 2);
        assert_eq!(l.check_acks_all(), Ok(()));
        l.on_follower_fetch(2, 100, 100, 1_000);
        l.on_leader_append(120, 1_000);
        l.check_lag(120, 1_000 + LAG + 1).unwrap();
        l.on_alter_answer(
            l.partition_epoch,
            committed(vec![1], 11),
            120,
            1_000 + LAG + 2,
        );
        assert_eq!(l.check_acks_all(), Err(AcksError::NotEnoughReplicas));
        assert_eq!(
            l.acks_all_done(120),
            Some(Err(AcksError::NotEnoughReplicasAfterAppend))
        );
    }

    #[test]
    fn an_unanswered_change_is_sent_again_and_metadata_settles_it() {
        let mut l = leader(vec![1, 2, 3], 1);
        l.on_follower_fetch(2, 100, 100, 1_000);
        let shrink = l.check_lag(100, 1_000 + LAG + 1).unwrap();
        assert_eq!(l.resend(1_000 + LAG + 2), None);
        assert_eq!(l.resend(1_000 + LAG + 1 + ALTER_RETRY_MS), Some(shrink));
        // The controller committed it; the answer was lost, the metadata arrives.
        l.on_partition_change(l.replicas.clone(), vec![1, 2], 11, 100, 1_000 + LAG + 1_100);
        assert_eq!(l.pending_isr(), None);
        assert_eq!(l.isr, vec![1, 2]);
    }

    #[test]
    fn a_refused_change_is_dropped_and_an_older_commit_changes_nothing() {
        let mut l = leader(vec![1, 2, 3], 1);
        l.on_follower_fetch(2, 100, 100, 1_000);
        let shrink = l.check_lag(100, 1_000 + LAG + 1).unwrap();
        assert_eq!(shrink.isr, vec![1, 2]);
        l.on_alter_answer(
            l.partition_epoch,
            AlterAnswer::Refused,
            100,
            1_000 + LAG + 2,
        );
        assert_eq!(l.isr, vec![1, 2, 3]);
        assert_eq!(l.pending_isr(), None);
        l.on_alter_answer(
            l.partition_epoch,
            committed(vec![1], 9),
            100,
            1_000 + LAG + 3,
        );
        assert_eq!(
            l.isr,
            vec![1, 2, 3],
            "a commit older than the ISR held is ignored"
        );
    }

    #[test]
    fn an_answer_to_a_request_from_before_the_partition_moved_on_is_ignored() {
        let mut l = leader(vec![1], 1);
        l.on_leader_append(120, 1_000);
        let first = l.on_follower_fetch(2, 120, 120, 1_001).1.unwrap();
        // The metadata moves on before the answer (the controller changed the partition
        // on its own), and the leader asks again from there.
        l.on_partition_change(
            l.replicas.clone(),
            vec![1],
            first.partition_epoch + 1,
            120,
            1_002,
        );
        let second = l.on_follower_fetch(2, 120, 120, 1_003).1.unwrap();
        assert_eq!(second.partition_epoch, first.partition_epoch + 1);
        assert!(!l.on_alter_answer(first.partition_epoch, AlterAnswer::Stale, 120, 1_004));
        assert_eq!(
            l.resend(1_003 + ALTER_RETRY_MS).map(|c| c.isr),
            Some(second.isr),
            "the new request is still resent"
        );
    }

    #[test]
    fn a_stale_answer_keeps_the_change_pending_until_the_metadata_settles_it() {
        // A copy of an expansion was committed; the answer to the resent copy is stale.
        let mut l = leader(vec![1], 1);
        l.on_leader_append(120, 1_000);
        let expand = l.on_follower_fetch(2, 120, 120, 1_001).1.unwrap();
        assert_eq!(expand.isr, vec![1, 2]);
        assert!(l.resend(1_001 + ALTER_RETRY_MS).is_some());
        assert!(!l.on_alter_answer(l.partition_epoch, AlterAnswer::Stale, 120, 2_100));
        assert_eq!(l.pending_isr(), Some(&[1, 2][..]));
        assert_eq!(
            l.resend(10_000),
            None,
            "nothing is resent once the controller moved on"
        );
        // The high watermark still waits for replica 2, which may be in the ISR.
        l.on_leader_append(150, 2_200);
        assert_eq!(l.high_watermark(), 120);
        l.on_partition_change(l.replicas.clone(), vec![1, 2], 11, 150, 2_300);
        assert_eq!((l.pending_isr(), l.isr.clone()), (None, vec![1, 2]));
    }
}
