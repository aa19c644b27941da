//! Answers to cross-shard calls, handed over on the caller's own shard.
//!
//! glommio 0.9 can free a task twice when one of the task's wakers is woken or dropped
//! on another thread. Its waker drop on a foreign thread takes the task's reference
//! count to zero and only then takes a new reference to send the waker home. If the
//! task has completed and its join handle is dropped in that moment, the task's memory
//! is freed. The waker sent home then frees it again. Under cross-shard produce load
//! this killed the broker with "free(): double free detected in tcache 2" (core:
//! `SleepNotifier::process_foreign_wakes` running a waker of a freed task).
//!
//! So a shard's task is only ever woken, and its wakers only ever dropped, on its own
//! thread. A oneshot across shards would wake the caller from the thread that sends
//! on it. Instead the answer travels home through the channel mesh, as a job, and
//! `Reply::send` runs there.

use std::thread::{self, ThreadId};

use futures::channel::oneshot;

/// The sending half of a oneshot whose receiver waits on the thread that made it. It
/// may travel to other shards, but it is used, and dropped, only on that thread.
pub struct Reply<R> {
    sender: Option<oneshot::Sender<R>>,
    home: ThreadId,
}

impl<R> Reply<R> {
    /// A reply bound to the calling thread, and the receiver to await there.
    pub fn channel() -> (Reply<R>, oneshot::Receiver<R>) {
        let (sender, receiver) = oneshot::channel();
        let reply = Reply {
            sender: Some(sender),
            home: thread::current().id(),
        };
        (reply, receiver)
    }

    /// Hands `value` to the waiting task. On the home thread only: elsewhere the value
    /// is dropped and the waiting task is left waiting (see `Drop`).
    pub fn send(mut self, value: R) {
        if self.is_home() {
            if let Some(sender) = self.sender.take() {
                let _ = sender.send(value);
            }
        }
    }

    fn is_home(&self) -> bool {
        thread::current().id() == self.home
    }
}

impl<R> Drop for Reply<R> {
    /// At home, dropping the sender tells the waiting task there will be no answer.
    /// Elsewhere that would wake the task from this thread, so the sender is leaked
    /// instead. That only happens when a shard stops with work from others still
    /// queued or running, and the waiting task then ends with its own shard's stop.
    fn drop(&mut self) {
        if let Some(sender) = self.sender.take() {
            if !self.is_home() {
                std::mem::forget(sender);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_sent_at_home_arrives() {
        let (reply, receiver) = Reply::channel();
        reply.send(7);
        assert_eq!(futures::executor::block_on(receiver), Ok(7));
    }

    #[test]
    fn a_reply_dropped_at_home_cancels_the_wait() {
        let (reply, receiver) = Reply::<u8>::channel();
        drop(reply);
        assert!(futures::executor::block_on(receiver).is_err());
    }

    #[test]
    fn away_from_home_a_reply_neither_sends_nor_cancels() {
        let (sent, mut sent_rx) = Reply::channel();
        let (dropped, mut dropped_rx) = Reply::<u8>::channel();
        thread::spawn(move || {
            sent.send(7);
            drop(dropped);
        })
        .join()
        .expect("the other thread ran");
        assert_eq!(sent_rx.try_recv(), Ok(None), "still waiting, nothing sent");
        assert_eq!(
            dropped_rx.try_recv(),
            Ok(None),
            "still waiting, not cancelled"
        );
    }
}
