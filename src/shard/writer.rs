//! The shard's sequential writer (DESIGN §3): appends from all of the shard's
//! partitions are written one after another in arrival order, and made durable by
//! group commit: one fdatasync of a log covers every acks=all append to it that
//! arrived while its previous sync ran.
//!
//! Two tasks on the owning shard: the appender (writes to the page cache, wakes
//! fetches, answers acks=0/1) and the syncer (fdatasync, answers acks=all). Both
//! queues are bounded by the callers' in-flight limits; the writer adds none.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use bytes::Bytes;
use futures::channel::oneshot;
use futures::future::Either;
use futures::stream::{FuturesUnordered, StreamExt};

use super::event::Event;
use crate::error::ApiError;
use crate::metrics::{Counter, DurationHistogram};
use crate::partition::{Job, Partition};
use crate::storage::{Appended, StorageError};

pub type AppendResult = Result<Appended, ApiError>;

struct AppendJob {
    partition: Rc<Partition>,
    bytes: Bytes,
    job: Job,
    durable: bool,
    reply: oneshot::Sender<AppendResult>,
}

struct SyncJob {
    partition: Rc<Partition>,
    appended: Appended,
    reply: oneshot::Sender<AppendResult>,
}

#[derive(Default)]
pub struct Writer {
    appends: RefCell<VecDeque<AppendJob>>,
    append_ready: Event,
    syncs: RefCell<Vec<SyncJob>>,
    sync_ready: Event,
    stopped: Cell<bool>,
    /// The appender has returned: nothing more comes for the syncer.
    appender_done: Cell<bool>,
    /// Each group-commit fdatasync of one log.
    pub fdatasync: DurationHistogram,
    /// Group commits (one fdatasync of one log each), and the acks=all appends they
    /// answered.
    pub group_commits: Counter,
    pub group_committed_appends: Counter,
}

impl Writer {
    /// Queues `bytes` (validated batches) for `partition`, behind every append queued
    /// before it. The returned future resolves once they are in the page cache, or,
    /// with `durable` (acks=all), once they are fdatasynced.
    pub(crate) fn enqueue(
        &self,
        partition: Rc<Partition>,
        bytes: Bytes,
        job: Job,
        durable: bool,
    ) -> impl std::future::Future<Output = AppendResult> + 'static {
        let (reply, result) = oneshot::channel();
        self.appends.borrow_mut().push_back(AppendJob {
            partition,
            bytes,
            job,
            durable,
            reply,
        });
        self.append_ready.notify();
        async move { result.await.unwrap_or_else(|_| Err(stopped())) }
    }

    /// Appends waiting to be written, and written acks=all appends waiting for a sync.
    pub fn queued(&self) -> (usize, usize) {
        (self.appends.borrow().len(), self.syncs.borrow().len())
    }

    /// Runs the appender until `stop`; spawn it once per shard.
    pub async fn run_appender(self: Rc<Self>) {
        loop {
            let ready = self.append_ready.listen();
            let job = self.appends.borrow_mut().pop_front();
            let Some(job) = job else {
                if self.stopped.get() {
                    self.appender_done.set(true);
                    self.sync_ready.notify();
                    return;
                }
                ready.await;
                continue;
            };
            let AppendJob {
                partition,
                bytes,
                job,
                durable,
                reply,
            } = job;
            match partition.write(&bytes, job).await {
                Ok(appended) if durable => {
                    // The disk starts on the bytes now, not when the log's sync comes
                    // round (which may wait for the log's running one).
                    partition.start_writeback();
                    self.syncs.borrow_mut().push(SyncJob {
                        partition,
                        appended,
                        reply,
                    });
                    self.sync_ready.notify();
                }
                other => {
                    let _ = reply.send(other);
                }
            }
        }
    }

    /// Runs the syncer until `stop`. Each log is synced on its own: when a log has
    /// written acks=all appends waiting and no sync running, one fdatasync starts and
    /// answers all of them; appends that arrive meanwhile wait for the log's next one.
    /// A slow sync of one log so never holds up the answers of another.
    pub async fn run_syncer(self: Rc<Self>) {
        let mut running = FuturesUnordered::new();
        let mut syncing: Vec<Rc<Partition>> = Vec::new();
        loop {
            let ready = self.sync_ready.listen();
            for (partition, jobs) in self.take_startable(&syncing) {
                syncing.push(Rc::clone(&partition));
                let this = &self;
                running.push(async move {
                    let result = this.sync(&partition).await;
                    (partition, jobs, result)
                });
            }
            if running.is_empty() {
                if self.appender_done.get() && self.syncs.borrow().is_empty() {
                    return;
                }
                ready.await;
                continue;
            }
            let finished = match futures::future::select(ready, running.next()).await {
                Either::Left(_) | Either::Right((None, _)) => continue,
                Either::Right((Some(finished), _)) => finished,
            };
            let (partition, jobs, result) = finished;
            syncing.retain(|p| !Rc::ptr_eq(p, &partition));
            self.group_commits.add(1);
            self.group_committed_appends.add(jobs.len() as u64);
            let failure = result.err().map(ApiError::from);
            for job in jobs {
                let answer = failure.clone().map_or(Ok(job.appended), Err);
                let _ = job.reply.send(answer);
            }
        }
    }

    /// Takes the waiting appends of every log not in `syncing`, grouped by log; those of
    /// logs being synced stay queued, in order.
    fn take_startable(&self, syncing: &[Rc<Partition>]) -> Vec<(Rc<Partition>, Vec<SyncJob>)> {
        let mut groups: Vec<(Rc<Partition>, Vec<SyncJob>)> = Vec::new();
        let mut queue = self.syncs.borrow_mut();
        let mut held = Vec::new();
        for job in queue.drain(..) {
            if syncing.iter().any(|p| Rc::ptr_eq(p, &job.partition)) {
                held.push(job);
            } else if let Some((_, jobs)) = groups
                .iter_mut()
                .find(|(p, _)| Rc::ptr_eq(p, &job.partition))
            {
                jobs.push(job);
            } else {
                groups.push((Rc::clone(&job.partition), vec![job]));
            }
        }
        *queue = held;
        groups
    }

    /// fdatasyncs `partition`'s log, timing the sync when there was one to do.
    async fn sync(&self, partition: &Partition) -> Result<(), StorageError> {
        let dirty = partition.is_dirty();
        let started = std::time::Instant::now();
        let result = partition.flush().await;
        if dirty {
            self.fdatasync.observe(started.elapsed());
        }
        result
    }

    /// Lets both tasks finish the work already queued, then return (the appender
    /// first, then the syncer once it has answered all it wrote).
    pub fn stop(&self) {
        self.stopped.set(true);
        self.append_ready.notify();
        self.sync_ready.notify();
    }
}

fn stopped() -> ApiError {
    ApiError::from(StorageError::Io(std::io::Error::other(
        "the shard's writer has stopped",
    )))
}
