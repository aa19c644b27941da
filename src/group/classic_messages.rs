//! What the classic group machine takes and gives: JoinGroup's arguments, the replies it
//! owes to JoinGroup and SyncGroup requests, and whether an answer comes now or later.

use bytes::Bytes;
use kafka_protocol::error::ResponseError;

/// A JoinGroup request, as the machine needs it.
#[derive(Debug, Clone)]
pub struct JoinArgs {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i64,
    pub rebalance_timeout_ms: i64,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+: a new dynamic member must first learn its id (KIP-394).
    pub require_known_member_id: bool,
    /// The id to give this member if it is new (the shell makes it unique).
    pub new_member_id: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct JoinedMember {
    pub id: String,
    pub instance_id: Option<String>,
    pub metadata: Bytes,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct JoinReply {
    pub error: Option<ResponseError>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Filled for the leader only: every member and its metadata.
    pub members: Vec<JoinedMember>,
}

impl JoinReply {
    pub fn error(error: ResponseError, member_id: &str) -> JoinReply {
        JoinReply {
            error: Some(error),
            generation: -1,
            member_id: member_id.to_string(),
            ..JoinReply::default()
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncReply {
    pub error: Option<ResponseError>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncReply {
    pub fn error(error: ResponseError) -> SyncReply {
        SyncReply {
            error: Some(error),
            ..SyncReply::default()
        }
    }
}

/// A reply owed to a request that was left waiting.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Join(String, JoinReply),
    Sync(String, SyncReply),
}

/// The answer to one request: now, or later as a `Reply` to the named member.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer<T> {
    Now(T),
    Later(String),
}

/// What one input produced.
#[derive(Debug)]
pub struct Step<T> {
    pub answer: Answer<T>,
    pub replies: Vec<Reply>,
}
