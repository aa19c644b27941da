//! Incremental fetch sessions (KIP-227), kept by the shard that serves the client's
//! connection (a client's connection stays on one shard). A client that reconnects
//! to another shard gets FETCH_SESSION_ID_NOT_FOUND and starts a new session, which
//! Kafka clients do by themselves.
//!
//! A session remembers the partitions a client fetches and what the last response
//! told it, so an incremental response carries only what changed.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use kafka_protocol::error::ResponseError;
use uuid::Uuid;

/// Sessions one shard keeps at most (Kafka's max.incremental.fetch.session.cache.slots).
pub const SESSIONS_MAX: usize = 1000;
/// A session unused this long may be evicted to make room.
const IDLE_EVICTABLE: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPartition {
    pub topic_id: Uuid,
    pub fetch_offset: i64,
    pub max_bytes: i32,
    pub current_leader_epoch: i32,
    /// The epoch of the fetcher's last batch (Fetch v12+; -1 when unknown): a
    /// follower's log that went past that epoch on the leader is told where it parts.
    pub last_fetched_epoch: i32,
    /// What was last sent without records; None before the first.
    pub last_sent: Option<Summary>,
}

/// A partition's answer without its records: error, high watermark, last stable
/// offset, log start offset. An incremental response leaves out a partition without
/// records whose summary has not changed.
pub type Summary = (i16, i64, i64, i64);

pub type PartitionKey = (String, i32);

pub struct Session {
    pub id: i32,
    next_epoch: i32,
    pub partitions: IndexMap<PartitionKey, SessionPartition>,
    used: Instant,
}

#[derive(Default)]
pub struct FetchSessions {
    sessions: HashMap<i32, Session>,
}

/// What a fetch request asks of the session cache.
#[derive(Debug, PartialEq, Eq)]
pub enum Mode {
    /// No session: fetch exactly the request's partitions.
    Sessionless,
    /// Start a session with the request's partitions (a full response).
    New,
    /// Continue session `id`: the response may leave out unchanged partitions.
    Incremental(i32),
}

/// Kafka's rules for (session id, epoch); closing a session (epoch -1) also happens here.
pub fn mode(
    sessions: &mut FetchSessions,
    session_id: i32,
    epoch: i32,
) -> Result<Mode, ResponseError> {
    match (session_id, epoch) {
        (0, -1) => Ok(Mode::Sessionless),
        (0, 0) => Ok(Mode::New),
        (0, _) => Err(ResponseError::InvalidFetchSessionEpoch),
        (id, -1) => {
            sessions.sessions.remove(&id);
            Ok(Mode::Sessionless)
        }
        (id, 0) => {
            sessions.sessions.remove(&id);
            Ok(Mode::New)
        }
        (id, epoch) => {
            let session = sessions
                .sessions
                .get_mut(&id)
                .ok_or(ResponseError::FetchSessionIdNotFound)?;
            if session.next_epoch != epoch {
                return Err(ResponseError::InvalidFetchSessionEpoch);
            }
            session.next_epoch = epoch.wrapping_add(1).max(1);
            session.used = Instant::now();
            Ok(Mode::Incremental(id))
        }
    }
}

impl FetchSessions {
    /// Opens a session, evicting the least recently used idle one when full. `None`
    /// when every slot is busy: the client then fetches without a session.
    pub fn create(
        &mut self,
        shard: usize,
        partitions: IndexMap<PartitionKey, SessionPartition>,
    ) -> Option<i32> {
        if self.sessions.len() >= SESSIONS_MAX {
            let oldest = self
                .sessions
                .values()
                .min_by_key(|s| s.used)
                .map(|s| (s.id, s.used))?;
            if oldest.1.elapsed() < IDLE_EVICTABLE {
                return None;
            }
            self.sessions.remove(&oldest.0);
        }
        let id = loop {
            // The shard's number in the low bits keeps ids unique across shards.
            let id = ((fastrand::u32(..) << 8) | (shard as u32 & 0xff)) as i32 & i32::MAX;
            if id != 0 && !self.sessions.contains_key(&id) {
                break id;
            }
        };
        self.sessions.insert(
            id,
            Session {
                id,
                next_epoch: 1,
                partitions,
                used: Instant::now(),
            },
        );
        Some(id)
    }

    pub fn get_mut(&mut self, id: i32) -> Option<&mut Session> {
        self.sessions.get_mut(&id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_follow_kafkas_rules() {
        let mut sessions = FetchSessions::default();
        assert_eq!(mode(&mut sessions, 0, -1), Ok(Mode::Sessionless));
        assert_eq!(mode(&mut sessions, 0, 0), Ok(Mode::New));
        assert_eq!(
            mode(&mut sessions, 0, 3),
            Err(ResponseError::InvalidFetchSessionEpoch)
        );
        assert_eq!(
            mode(&mut sessions, 77, 1),
            Err(ResponseError::FetchSessionIdNotFound)
        );
        let id = sessions.create(1, IndexMap::new()).expect("room");
        assert_eq!(id & 0xff, 1);
        assert_eq!(mode(&mut sessions, id, 1), Ok(Mode::Incremental(id)));
        assert_eq!(
            mode(&mut sessions, id, 1),
            Err(ResponseError::InvalidFetchSessionEpoch)
        );
        assert_eq!(mode(&mut sessions, id, 2), Ok(Mode::Incremental(id)));
        assert_eq!(mode(&mut sessions, id, -1), Ok(Mode::Sessionless));
        assert_eq!(
            mode(&mut sessions, id, 3),
            Err(ResponseError::FetchSessionIdNotFound)
        );
    }
}
