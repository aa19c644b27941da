//! Transactions (DESIGN §5): the transaction coordinator of each transactional id, on
//! the shard that owns its partition of `__transaction_state` (Kafka's formula, as for
//! groups), and the rules it follows (`state`, pure) and the records it keeps
//! (`records`, Kafka's layout).

pub mod coordinator;
pub mod records;
pub mod state;

pub use coordinator::Coordinator;

/// The compacted internal topic holding every transactional id's state.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// Transactional ids longer than this are refused: they are keys in the state topic.
pub const TRANSACTIONAL_ID_BYTES_MAX: usize = 4096;
