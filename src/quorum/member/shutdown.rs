//! How a member leaves or loses the quorum: whether it is cut off from it
//! (`is_cut_off`, noted each round), and Kafka's controlled shutdown with the hand-over
//! of the quorum's lead.

use std::time::{Duration, Instant};

use futures::channel::oneshot;

use super::{node_id, now_ms, Member, ShutdownOutcome, PROPOSAL_RETRY, RECONNECT_PAUSE, TICK};
use crate::cluster::image::MetadataRecord;
use crate::cluster::rules;

/// A read of the leader's commit index asked by a member back in touch after being cut
/// off: the number it was asked with, when, and the leader's answer.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rejoin {
    number: u64,
    asked_ms: i64,
    commit: Option<u64>,
}

impl Member {
    /// Whether this node lost the quorum for longer than `broker.session.timeout.ms`: it
    /// neither leads it (a leader that loses its majority steps down, raft-rs's
    /// check-quorum) nor heard from its leader within an election timeout since. The
    /// active controller fences a broker it has not heard from for as long, so such a
    /// node must assume it is fenced (`rules::cut_off_view`). It is in touch again once
    /// it has applied what the quorum committed meanwhile (a read of the leader's commit
    /// index, Raft's ReadIndex, says how far that is).
    pub fn is_cut_off(&self) -> bool {
        self.cut_off.get()
    }

    /// Whether this member leads the quorum or heard from its leader within an election
    /// timeout (a broker-only node, which never stands, keeps naming a leader that died).
    fn in_touch(&self, now: i64) -> bool {
        let quorum = self.quorum.borrow();
        let heard = self.heard.borrow();
        quorum.is_leader()
            || quorum.leader().is_some_and(|leader| {
                heard
                    .get(&leader)
                    .is_some_and(|&(ms, _)| now - ms <= self.timing.election_timeout_ms)
            })
    }

    pub(super) fn note_contact(&self) {
        let now = now_ms();
        if self.in_touch(now) {
            self.contact_ms.set(now);
        }
        let lost = now - self.contact_ms.get() > self.timing.session_timeout_ms;
        // Back in touch, the image is what it was when the node was cut off, and would
        // have it lead partitions it leads no more: it stays cut off until it holds
        // what the quorum committed meanwhile.
        let cut_off = lost || (self.cut_off.get() && !self.caught_up_again(now));
        if self.cut_off.replace(cut_off) != cut_off {
            match cut_off {
                true => tracing::warn!(
                    "cut off from the metadata quorum for broker.session.timeout.ms: this broker stops leading partitions until it is back in touch"
                ),
                false => tracing::info!("back in touch with the metadata quorum"),
            }
            self.changed.notify();
        }
        if lost {
            self.rejoin.set(None);
        }
    }

    /// Whether this member, cut off and in touch again, has applied the leader's commit
    /// index as the leader answered it after contact came back; asks (again, once an
    /// election timeout passed unanswered) until it has.
    fn caught_up_again(&self, now: i64) -> bool {
        let rejoin = self.rejoin.get();
        if let Some(commit) = rejoin.and_then(|r| r.commit) {
            return self.quorum.borrow().applied_index() >= commit;
        }
        let unanswered = rejoin.is_none_or(|r| now - r.asked_ms > self.timing.election_timeout_ms);
        if unanswered {
            let number = self.ask_commit();
            self.rejoin.set(Some(Rejoin {
                number,
                asked_ms: now,
                commit: None,
            }));
        }
        false
    }

    /// Asks the leader for its commit index (sent on the Raft task's next round); the
    /// read's number.
    fn ask_commit(&self) -> u64 {
        let number = self.reads_asked.get() + 1;
        self.reads_asked.set(number);
        self.quorum.borrow_mut().read_commit(number);
        self.arrived.notify();
        number
    }

    /// The leader's answers to reads of its commit index.
    pub(super) fn on_reads(&self, reads: &[(u64, u64)]) {
        for &(number, index) in reads {
            if let Some(rejoin) = self.rejoin.get().filter(|r| r.number == number) {
                self.rejoin.set(Some(Rejoin {
                    commit: Some(index),
                    ..rejoin
                }));
            }
            if let Some(waiter) = self.reads_waiting.borrow_mut().remove(&number) {
                let _ = waiter.send(index);
            }
        }
    }

    /// Waits until this node has applied what the quorum's leader had committed when
    /// it answered a read of its commit index (asked again each election timeout while
    /// unanswered); false when `deadline` passes first.
    pub(super) async fn catch_up_with_leader(&self, deadline: Instant) -> bool {
        let election = Duration::from_millis(self.timing.election_timeout_ms.max(0) as u64);
        let commit = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let (sender, receiver) = oneshot::channel();
            let number = self.ask_commit();
            self.reads_waiting.borrow_mut().insert(number, sender);
            let answer =
                glommio::timer::timeout(left.min(election), async { Ok(receiver.await.ok()) })
                    .await;
            self.reads_waiting.borrow_mut().remove(&number);
            if let Ok(Some(index)) = answer {
                break index;
            }
        };
        // Raft's own entries change no image, so nothing tells of them: looked at each
        // tick.
        while self.quorum.borrow().applied_index() < commit {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            glommio::timer::sleep(left.min(TICK)).await;
        }
        true
    }

    /// Kafka's controlled shutdown: marks this broker as stopping in the metadata, so the
    /// active controller moves its leaderships away and takes it out of the ISRs (as it
    /// would on a fence, `rules::leave`), and waits until the image shows it holds none,
    /// at most `timeout`. Then, if this member leads the quorum, it hands the lead to a
    /// voter that holds its log, so the others need not wait out an election.
    pub async fn controlled_shutdown(&self, timeout: Duration) -> ShutdownOutcome {
        let node = self.registration.node;
        let deadline = Instant::now() + timeout;
        let election = Duration::from_millis(self.timing.election_timeout_ms.max(0) as u64);
        let mut leaderless_since = None;
        let moved = loop {
            // Without a quorum (the other voters stopped first) nothing can move: no
            // point waiting once an election had time to find a leader.
            match self.in_touch(now_ms()) {
                true => leaderless_since = None,
                false => {
                    let since = *leaderless_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > 2 * election {
                        break ShutdownOutcome::NoQuorum;
                    }
                }
            }
            let (marked, left) = {
                let image = self.image.borrow();
                match image
                    .brokers
                    .get(&node)
                    .filter(|b| b.incarnation == self.incarnation && !b.fenced)
                {
                    // Fenced (or never registered): it leads nothing clients can reach.
                    None => break ShutdownOutcome::Moved,
                    Some(b) if !b.shutting_down => (
                        Some(MetadataRecord::ControlledShutdown {
                            broker: node,
                            epoch: b.epoch,
                        }),
                        true,
                    ),
                    Some(_) => (None, !rules::leave(&image, node, false).is_empty()),
                }
            };
            if !left {
                break ShutdownOutcome::Moved;
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break ShutdownOutcome::TimedOut;
            }
            let changed = self.changed();
            match marked {
                Some(record) => {
                    let wait = remaining.min(PROPOSAL_RETRY);
                    if let Err(error) = self.propose(&[record], wait).await {
                        tracing::debug!(%error, "controlled shutdown not recorded yet");
                        glommio::timer::sleep(wait.min(RECONNECT_PAUSE)).await;
                    }
                }
                None => {
                    let _ = glommio::timer::timeout(remaining.min(PROPOSAL_RETRY), async {
                        changed.await;
                        Ok(())
                    })
                    .await;
                }
            }
        };
        self.hand_over_lead(deadline).await;
        moved
    }

    /// Hands the quorum's lead to the voter that holds most of the log, and waits (until
    /// `deadline`, at most two election timeouts) for the lead to move.
    async fn hand_over_lead(&self, deadline: Instant) {
        let Some(to) = self.quorum.borrow_mut().hand_over() else {
            return;
        };
        self.arrived.notify();
        let election = Duration::from_millis(self.timing.election_timeout_ms.max(0) as u64);
        let deadline = deadline.min(Instant::now() + 2 * election);
        while self.quorum.borrow().is_leader() && Instant::now() < deadline {
            let changed = self.changed();
            let remaining = deadline.saturating_duration_since(Instant::now());
            let _ = glommio::timer::timeout(remaining, async {
                changed.await;
                Ok(())
            })
            .await;
        }
        tracing::info!(
            to = node_id(to),
            moved = !self.quorum.borrow().is_leader(),
            "metadata quorum lead handed over"
        );
    }
}
