//! A partition replica as its owning shard holds it: the log plus the event that wakes
//! long-poll fetches when records arrive. Only the owning shard touches it.

use std::cell::Cell;

use super::event::Event;
use crate::storage::{Log, LogConfig};

/// What a partition takes from its topic's config, besides the log's own settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub log: LogConfig,
    /// `max.message.bytes`: the largest batch a producer may send.
    pub max_message_bytes: usize,
    /// `flush.ms` when set: acks=all is answered once records are in the page cache,
    /// and the shard syncs the log this often. Unset (the default): every acks=all
    /// append is fdatasynced before it is answered.
    pub flush_interval_ms: Option<i64>,
}

pub struct Partition {
    pub topic: String,
    pub index: i32,
    pub log: Log,
    /// Bumped by leader changes; constant while shoal runs a single broker.
    pub leader_epoch: i32,
    pub max_message_bytes: Cell<usize>,
    pub flush_interval_ms: Cell<Option<i64>>,
    /// When the log was last synced by the periodic flusher (ms since the epoch).
    pub flushed_at_ms: Cell<i64>,
    appended: Event,
}

impl Partition {
    pub fn new(topic: String, index: i32, log: Log, settings: &Settings, now_ms: i64) -> Partition {
        let partition = Partition {
            topic,
            index,
            log,
            leader_epoch: 0,
            max_message_bytes: Cell::new(0),
            flush_interval_ms: Cell::new(None),
            flushed_at_ms: Cell::new(now_ms),
            appended: Event::default(),
        };
        partition.apply(settings);
        partition
    }

    pub fn apply(&self, settings: &Settings) {
        self.log.set_config(settings.log);
        self.max_message_bytes.set(settings.max_message_bytes);
        self.flush_interval_ms.set(settings.flush_interval_ms);
    }

    /// Whether an acks=all append waits for its fdatasync.
    pub fn syncs_every_append(&self) -> bool {
        self.flush_interval_ms.get().is_none()
    }

    /// Readable records reach at most here (Kafka's high watermark; with one replica,
    /// the log end).
    pub fn high_watermark(&self) -> i64 {
        self.log.end_offset()
    }

    /// Fires after every append; long-poll fetches listen to it.
    pub fn appended(&self) -> &Event {
        &self.appended
    }
}
