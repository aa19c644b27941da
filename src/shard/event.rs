//! A one-shard wake-up: tasks wait for the next `notify`, which wakes all of them.
//! Used for "data was appended", "the writer has work", and "the broker is stopping".
//!
//! Single-threaded by construction (`!Send`): only tasks of the owning shard wait on
//! it. A waiting future that is dropped removes its waker, so idle waits leave nothing
//! behind.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

#[derive(Default)]
pub struct Event {
    generation: Cell<u64>,
    next_id: Cell<u64>,
    waiters: RefCell<Vec<(u64, Waker)>>,
}

impl Event {
    /// Wakes every task listening now.
    pub fn notify(&self) {
        self.generation.set(self.generation.get() + 1);
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        for (_, waker) in waiters {
            waker.wake();
        }
    }

    /// A future that completes at the first `notify` after this call. Create it before
    /// checking the condition it guards, so a notify in between is not missed.
    pub fn listen(&self) -> Listen<'_> {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        Listen {
            event: self,
            generation: self.generation.get(),
            id,
        }
    }
}

pub struct Listen<'a> {
    event: &'a Event,
    generation: u64,
    id: u64,
}

impl Future for Listen<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.event.generation.get() != self.generation {
            return Poll::Ready(());
        }
        let mut waiters = self.event.waiters.borrow_mut();
        match waiters.iter_mut().find(|(id, _)| *id == self.id) {
            Some((_, waker)) => waker.clone_from(cx.waker()),
            None => waiters.push((self.id, cx.waker().clone())),
        }
        Poll::Pending
    }
}

impl Drop for Listen<'_> {
    fn drop(&mut self) {
        self.event
            .waiters
            .borrow_mut()
            .retain(|(id, _)| *id != self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[test]
    fn a_notify_after_listen_completes_it_and_drops_clean_up() {
        let event = Event::default();
        let mut early = Box::pin(event.listen());
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(early.poll_unpin(&mut cx).is_pending());
        {
            let mut dropped = Box::pin(event.listen());
            assert!(dropped.poll_unpin(&mut cx).is_pending());
        }
        assert_eq!(event.waiters.borrow().len(), 1);
        event.notify();
        assert!(early.poll_unpin(&mut cx).is_ready());
        let mut late = Box::pin(event.listen());
        assert!(late.poll_unpin(&mut cx).is_pending());
    }
}
