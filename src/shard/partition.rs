//! A partition replica as its owning shard holds it: the log plus the event that wakes
//! long-poll fetches when records arrive. Only the owning shard touches it.

use std::cell::Cell;

use super::event::Event;
use crate::storage::Log;

pub struct Partition {
    pub topic: String,
    pub index: i32,
    pub log: Log,
    /// Bumped by leader changes; constant while shoal runs a single broker.
    pub leader_epoch: i32,
    /// The topic's `max.message.bytes`: the largest batch a producer may send.
    pub max_message_bytes: Cell<usize>,
    appended: Event,
}

impl Partition {
    pub fn new(topic: String, index: i32, log: Log, max_message_bytes: usize) -> Partition {
        Partition {
            topic,
            index,
            log,
            leader_epoch: 0,
            max_message_bytes: Cell::new(max_message_bytes),
            appended: Event::default(),
        }
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
