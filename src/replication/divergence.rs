//! Where a follower's log parts from its leader's, by leader epoch (KIP-101, KIP-279,
//! and the diverging epoch of Fetch v12+ from KIP-595). A follower fetches from its log
//! end and names the epoch of its last batch; the leader answers with the epoch's end
//! on its own log when the follower went past it; the follower truncates there, and
//! asks again if it did not know that epoch. Pure: both sides read an `EpochCache`.

use crate::partition::epochs::EpochCache;

/// Leader side (Kafka's `validateFetchOffsetAndMaybeGetDivergingEpoch`): a follower at
/// `fetch_offset` whose last batch was written in `last_fetched_epoch`. `Some((epoch,
/// end))` when its log holds what the leader's does not: the largest epoch the leader
/// has at or below the follower's, and where it ends on the leader.
pub fn diverging_epoch(
    leader: &EpochCache,
    leader_end: i64,
    fetch_offset: i64,
    last_fetched_epoch: i32,
) -> Option<(i32, i64)> {
    if last_fetched_epoch < 0 {
        return None;
    }
    let (epoch, end) = leader.end_offset_for(last_fetched_epoch, leader_end);
    (epoch < last_fetched_epoch || end < fetch_offset).then_some((epoch, end))
}

/// Where a follower truncates after the leader named a diverging epoch, and whether
/// that is final or it must fetch again with its new last epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncation {
    pub offset: i64,
    pub done: bool,
}

/// Follower side (Kafka's `getOffsetTruncationState`), given the follower's epochs, log
/// end and high watermark and the leader's `(epoch, end offset)`.
pub fn truncation(
    own: &EpochCache,
    own_end: i64,
    own_high_watermark: i64,
    (leader_epoch, leader_end): (i32, i64),
) -> Truncation {
    if leader_end < 0 {
        // The leader has no epoch that old: what the follower knows to be committed is
        // all it may keep.
        return Truncation {
            offset: own_high_watermark.min(own_end),
            done: true,
        };
    }
    let (own_epoch, own_epoch_end) = own.end_offset_for(leader_epoch, own_end);
    if leader_epoch < 0 || own_epoch_end < 0 {
        return Truncation {
            offset: leader_end.min(own_end),
            done: true,
        };
    }
    if own_epoch != leader_epoch {
        // The follower never had the leader's epoch: cut back to where its own largest
        // epoch below that ends, and ask again from there.
        return Truncation {
            offset: own_epoch_end.min(own_end),
            done: false,
        };
    }
    Truncation {
        offset: own_epoch_end.min(leader_end).min(own_end),
        done: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> EpochCache {
        let mut c = EpochCache::default();
        for &(epoch, start) in entries {
            c.assign(epoch, start);
        }
        c
    }

    #[test]
    fn a_follower_in_step_with_its_leader_does_not_diverge() {
        let leader = cache(&[(0, 0), (3, 50)]);
        assert_eq!(diverging_epoch(&leader, 80, 80, 3), None);
        assert_eq!(diverging_epoch(&leader, 80, 50, 0), None);
        assert_eq!(diverging_epoch(&leader, 80, 10, -1), None);
    }

    #[test]
    fn a_tail_written_by_a_deposed_leader_is_cut_where_the_epoch_ended() {
        // The follower led epoch 3 and wrote 50..70; the new leader (epoch 4) only had
        // 50..60 of epoch 3.
        let leader = cache(&[(0, 0), (3, 50), (4, 60)]);
        let follower = cache(&[(0, 0), (3, 50)]);
        let diverging = diverging_epoch(&leader, 90, 70, 3).unwrap();
        assert_eq!(diverging, (3, 60));
        assert_eq!(
            truncation(&follower, 70, 55, diverging),
            Truncation {
                offset: 60,
                done: true
            }
        );
    }

    #[test]
    fn an_epoch_the_follower_never_had_takes_two_rounds() {
        // The follower wrote epoch 2 alone after epoch 0; the leader went from epoch 1
        // (from offset 0) to 3. The follower's epoch-0 records are not the leader's.
        let leader = cache(&[(1, 0), (3, 40)]);
        let mut follower = cache(&[(0, 0), (2, 30)]);
        let first = diverging_epoch(&leader, 70, 45, 2).unwrap();
        assert_eq!(first, (1, 40));
        let t = truncation(&follower, 45, 20, first);
        assert_eq!(
            t,
            Truncation {
                offset: 30,
                done: false
            }
        );
        follower.truncate_from_end(30);
        let second = diverging_epoch(&leader, 70, 30, 0).unwrap();
        assert_eq!(second, (0, 0));
        assert_eq!(
            truncation(&follower, 30, 20, second),
            Truncation {
                offset: 0,
                done: true
            }
        );
    }

    #[test]
    fn a_follower_that_knows_the_answered_epoch_truncates_once() {
        let leader = cache(&[(1, 0), (3, 40)]);
        let follower = cache(&[(1, 0), (2, 30)]);
        let diverging = diverging_epoch(&leader, 70, 45, 2).unwrap();
        assert_eq!(diverging, (1, 40));
        assert_eq!(
            truncation(&follower, 45, 20, diverging),
            Truncation {
                offset: 30,
                done: true
            }
        );
    }

    #[test]
    fn an_epoch_older_than_the_leader_keeps_ends_where_its_history_starts() {
        let leader = cache(&[(5, 100)]);
        let follower = cache(&[(2, 0)]);
        assert_eq!(diverging_epoch(&leader, 120, 90, 2), None);
        let diverging = diverging_epoch(&leader, 120, 110, 2).unwrap();
        assert_eq!(diverging, (2, 100));
        assert_eq!(
            truncation(&follower, 110, 80, diverging),
            Truncation {
                offset: 100,
                done: true
            }
        );
        // No epoch at all on the leader's side: back to the high watermark.
        assert_eq!(
            truncation(&follower, 110, 80, (-1, -1)),
            Truncation {
                offset: 80,
                done: true
            }
        );
    }
}
