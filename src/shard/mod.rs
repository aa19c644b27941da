//! Shards: one glommio executor per core, each owning a set of partitions (DESIGN §1).
//!
//! A `Shard` lives on its own thread and is never shared: tasks on it hold
//! `Rc<Shard>`. Other shards reach its state only through `invoke_on`, which ships a
//! closure over the channel mesh and runs it here. The cluster snapshot is replaced
//! whole by a message from the controller.

mod binding;
mod event;
mod housekeeping;
mod pulse;
mod reply;
pub mod runtime;
pub mod writer;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use glommio::channels::channel_mesh::Senders;
use kafka_protocol::error::ResponseError;
use uuid::Uuid;

pub use self::event::{Event, Listen};
use self::reply::Reply;
use self::writer::Writer;
use crate::cluster::controller::Controller;
use crate::cluster::image::Endpoint;
use crate::cluster::snapshot::Layout;
use crate::cluster::{ShardId, Snapshot};
use crate::partition::{Lead, Partition, Settings};
use crate::replication::fetcher::Source;
use crate::server::frame::RequestBudget;
use crate::storage::{topic_id, LogConfig, StorageError};

/// Work shipped to another shard: runs there, on that shard's executor.
pub type Job = Box<dyn FnOnce(Rc<Shard>) -> Pin<Box<dyn Future<Output = ()>>> + Send>;

/// Cross-shard messages waiting in one mailbox, at most; senders wait beyond it.
pub const MAILBOX_DEPTH_MAX: usize = 1024;

/// The target shard is gone (it stopped or failed); the request cannot be served.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("{0} is not running")]
pub struct ShardGone(pub ShardId);

pub struct Shard {
    pub id: ShardId,
    senders: Senders<Job>,
    log_dir: PathBuf,
    snapshot: RefCell<Rc<Snapshot>>,
    partitions: RefCell<HashMap<(String, i32), Rc<Partition>>>,
    /// Set when start-up begins loading the coordinators' state: a partition of an
    /// internal topic opened from then on is loaded as it opens.
    pub coordinators_loading: Cell<bool>,
    /// Internal-topic partitions whose coordinator state is being read back after
    /// this broker took their lead: their group and transaction requests answer
    /// COORDINATOR_LOAD_IN_PROGRESS meanwhile, as Kafka's coordinators do.
    loading: RefCell<HashSet<(String, i32)>>,
    /// The topic id each open partition was opened for.
    partition_ids: RefCell<HashMap<(String, i32), Uuid>>,
    pub writer: Rc<Writer>,
    controller: Option<Controller>,
    /// Fired once when the broker starts shutting down.
    pub stopping: Event,
    stopped: Cell<bool>,
    /// Set once the shard's logs are open and its listener is bound.
    accepting: Cell<bool>,
    /// Each client listener's advertised address.
    advertised: Vec<Endpoint>,
    /// One snapshot applied at a time: start-up's and the controller's may overlap, and
    /// two at once would both open a partition that neither has inserted yet.
    applying: glommio::sync::Semaphore,
    /// How other brokers' replication ports are dialled when the inter-broker listener
    /// speaks TLS (set at start-up; reloaded when its files change).
    peer_tls: RefCell<Option<crate::server::tls::Dial>>,
    /// Idle connections to other brokers' replication ports (`replication::peer::call`).
    pub peer_pool: RefCell<crate::replication::peer::Pool>,
    pub metrics: crate::metrics::ShardMetrics,
    /// Incremental fetch sessions of the clients connected to this shard.
    pub fetch_sessions: RefCell<crate::server::fetch_session::FetchSessions>,
    /// The consumer groups this shard coordinates.
    pub groups: crate::group::Coordinator,
    /// The transactional ids this shard coordinates.
    pub txns: crate::txn::Coordinator,
    /// The partitions this shard follows, fetched from their leaders' shards.
    pub fetchers: crate::replication::fetcher::Fetchers,
    /// Producer ids this shard may hand out, from the controller's last block.
    producer_ids: RefCell<std::ops::Range<i64>>,
    /// How far its start has come, for the coordinator's watchdog.
    pub progress: Arc<StartProgress>,
    /// This shard's share of `queued.max.request.bytes`.
    pub request_budget: RequestBudget,
}

/// How far a shard's start has come, read from the coordinator's thread: a count of
/// steps that moves with each stage and each partition log opened, and the stage.
#[derive(Default)]
pub struct StartProgress {
    steps: AtomicU64,
    stage: Mutex<&'static str>,
}

impl StartProgress {
    pub fn stage(&self, stage: &'static str) {
        *self.stage.lock().unwrap_or_else(|e| e.into_inner()) = stage;
        self.tick();
    }

    pub fn tick(&self) {
        self.steps.fetch_add(1, Ordering::Relaxed);
    }

    /// The step count and the current stage.
    pub fn read(&self) -> (u64, &'static str) {
        let stage = *self.stage.lock().unwrap_or_else(|e| e.into_inner());
        (self.steps.load(Ordering::Relaxed), stage)
    }
}

impl Shard {
    pub fn new(
        id: ShardId,
        senders: Senders<Job>,
        log_dir: PathBuf,
        snapshot: Snapshot,
        controller: Option<Controller>,
        advertised: Vec<Endpoint>,
        progress: Arc<StartProgress>,
    ) -> Rc<Shard> {
        let shards = senders.nr_consumers().max(1) as u64;
        let budget = u64::try_from(snapshot.broker.queued_max_request_bytes)
            .ok()
            .map(|bytes| (bytes / shards).max(1));
        Rc::new(Shard {
            id,
            request_budget: RequestBudget::new(budget),
            senders,
            log_dir,
            snapshot: RefCell::new(Rc::new(snapshot)),
            partitions: RefCell::default(),
            partition_ids: RefCell::default(),
            coordinators_loading: Cell::new(false),
            loading: RefCell::new(HashSet::new()),
            writer: Rc::default(),
            controller,
            stopping: Event::default(),
            stopped: Cell::new(false),
            accepting: Cell::new(false),
            advertised,
            applying: glommio::sync::Semaphore::new(1),
            peer_tls: Default::default(),
            peer_pool: Default::default(),
            fetch_sessions: RefCell::default(),
            metrics: Default::default(),
            groups: Default::default(),
            txns: Default::default(),
            fetchers: Default::default(),
            producer_ids: RefCell::new(0..0),
            progress,
        })
    }

    pub fn shard_count(&self) -> usize {
        self.senders.nr_consumers()
    }

    /// The host and port clients of `listener` are told to connect to (the first
    /// listener's if this broker has no such listener).
    pub fn advertised(&self, listener: &str) -> (String, i32) {
        let endpoint = self.advertised.iter().find(|e| e.name == listener);
        endpoint
            .or(self.advertised.first())
            .map_or((String::new(), 0), |e| (e.host.clone(), i32::from(e.port)))
    }

    /// The TLS other brokers' replication ports are dialled with; `None`: plaintext.
    pub fn peer_tls(&self) -> Option<Arc<rustls::ClientConfig>> {
        let mut dial = self.peer_tls.borrow_mut();
        dial.as_mut().map(crate::server::tls::Dial::current)
    }

    pub fn set_peer_tls(&self, dial: crate::server::tls::Dial) {
        *self.peer_tls.borrow_mut() = Some(dial);
    }

    /// Every client listener's advertised address, as this broker registers them.
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.advertised
    }

    pub fn snapshot(&self) -> Rc<Snapshot> {
        Rc::clone(&self.snapshot.borrow())
    }

    /// The controller; only shard 0 has one, so callers reach it with
    /// `invoke_on(ShardId(0), ..)`.
    pub fn controller(&self) -> &Controller {
        self.controller
            .as_ref()
            .expect("the controller lives on shard 0; reach it with invoke_on")
    }

    /// A partition this shard owns.
    pub fn partition(&self, topic: &str, index: i32) -> Option<Rc<Partition>> {
        self.partitions
            .borrow()
            .get(&(topic.to_string(), index))
            .cloned()
    }

    /// Whether this shard hosts the controller (shard 0 does).
    pub fn has_controller(&self) -> bool {
        self.controller.is_some()
    }

    /// The log directory this shard's partitions live in (absolute).
    pub fn log_dir(&self) -> &std::path::Path {
        &self.log_dir
    }

    /// The partitions this shard leads: every one in a cluster of one.
    pub fn led_partitions(&self) -> Vec<Rc<Partition>> {
        let clustered = self.snapshot().layout().is_some();
        let mut led = self.local_partitions();
        led.retain(|p| !clustered || p.is_leading());
        led
    }

    pub fn local_partitions(&self) -> Vec<Rc<Partition>> {
        self.partitions.borrow().values().cloned().collect()
    }

    pub fn is_stopping(&self) -> bool {
        self.stopped.get()
    }

    /// The shard's logs are recovered and its listener accepts connections.
    pub fn set_accepting(&self) {
        self.accepting.set(true);
    }

    /// Ready for clients: accepting, and not stopping.
    pub fn is_accepting(&self) -> bool {
        self.accepting.get() && !self.is_stopping()
    }

    pub fn stop(&self) {
        self.stopped.set(true);
        self.stopping.notify();
    }

    /// Runs `work` unless the broker is stopping, or starts to before `work` ends:
    /// `None` then. Every wait that must not hold up a shutdown goes through here.
    pub async fn unless_stopping<T>(&self, work: impl Future<Output = T>) -> Option<T> {
        let stopping = self.stopping.listen();
        if self.is_stopping() {
            return None;
        }
        let stopped = async {
            stopping.await;
            None
        };
        futures_lite::future::or(async { Some(work.await) }, stopped).await
    }

    /// Waits `wait` unless the broker is stopping, or starts to meanwhile: `None` then.
    pub async fn pause(&self, wait: std::time::Duration) -> Option<()> {
        self.unless_stopping(glommio::timer::sleep(wait)).await
    }

    /// `pause` for an interval of the config, in milliseconds (at least one).
    pub async fn pause_ms(&self, ms: i64) -> Option<()> {
        self.pause(std::time::Duration::from_millis(ms.max(1) as u64))
            .await
    }

    /// Runs `work` on shard `target` and returns its result. On this shard it runs
    /// inline; otherwise it travels through the mesh (bounded mailbox), and its result
    /// comes back the same way, as a job that hands it over here.
    pub async fn invoke_on<R, F, Fut>(
        self: &Rc<Self>,
        target: ShardId,
        work: F,
    ) -> Result<R, ShardGone>
    where
        R: Send + 'static,
        F: FnOnce(Rc<Shard>) -> Fut + Send + 'static,
        Fut: Future<Output = R> + 'static,
    {
        self.dispatch_on(target, work).await?.await
    }

    /// The first stage of `invoke_on`: returns once `work` is called on `target` (here,
    /// at once) or sits in its mailbox, with a future for its result. The target calls
    /// the `work` of its mailbox's jobs in the order they were put there, before it runs
    /// any of their futures, so a caller that dispatches one piece of work after
    /// another has them start on the target in that order (what keeps pipelined
    /// produce requests in order).
    pub async fn dispatch_on<R, F, Fut>(
        self: &Rc<Self>,
        target: ShardId,
        work: F,
    ) -> Result<impl Future<Output = Result<R, ShardGone>> + 'static, ShardGone>
    where
        R: Send + 'static,
        F: FnOnce(Rc<Shard>) -> Fut + Send + 'static,
        Fut: Future<Output = R> + 'static,
    {
        if target == self.id {
            let started = work(Rc::clone(self));
            return Ok(futures::future::Either::Left(
                async move { Ok(started.await) },
            ));
        }
        let (reply, result) = Reply::channel();
        let home = self.id;
        let job: Job = Box::new(move |shard| {
            let started = work(Rc::clone(&shard));
            Box::pin(async move {
                let value = started.await;
                // Handed over at home, never from here (see `reply`).
                let answer: Job = Box::new(move |_| Box::pin(async move { reply.send(value) }));
                let _ = shard.ship(home, answer).await;
            })
        });
        self.ship(target, job).await?;
        Ok(futures::future::Either::Right(async move {
            result.await.map_err(|_| ShardGone(target))
        }))
    }

    /// Puts `job` in shard `target`'s mailbox, waiting while it is full.
    async fn ship(&self, target: ShardId, job: Job) -> Result<(), ShardGone> {
        self.senders
            .send_to(target.0, job)
            .await
            .map_err(|_| ShardGone(target))?;
        self.metrics.cross_shard_sent.add(1);
        Ok(())
    }

    /// Runs `work` on every shard at once and gathers the results in shard order.
    pub async fn invoke_on_all<R, F, Fut>(self: &Rc<Self>, work: F) -> Result<Vec<R>, ShardGone>
    where
        R: Send + 'static,
        F: FnOnce(Rc<Shard>) -> Fut + Send + Clone + 'static,
        Fut: Future<Output = R> + 'static,
    {
        let calls = (0..self.shard_count()).map(|i| self.invoke_on(ShardId(i), work.clone()));
        futures::future::join_all(calls).await.into_iter().collect()
    }

    /// A producer id no one else has: from this shard's block, and when that is used
    /// up, from a new block the controller hands out.
    pub async fn new_producer_id(self: &Rc<Self>) -> Result<i64, crate::error::ApiError> {
        if let Some(id) = self.producer_ids.borrow_mut().next() {
            return Ok(id);
        }
        // Cross-shard: producer id blocks come from the controller on shard 0.
        let block = self
            .invoke_on(ShardId(0), |s| async move {
                s.controller().allocate_producer_ids().await
            })
            .await??;
        let mut ids = self.producer_ids.borrow_mut();
        // Another task may have fetched a block meanwhile: the newer one is kept.
        if ids.is_empty() || block.start > ids.start {
            *ids = block;
        }
        ids.next().ok_or_else(|| {
            crate::error::ApiError::new(
                kafka_protocol::error::ResponseError::UnknownServerError,
                "no producer id left",
            )
        })
    }

    /// Installs a newer snapshot: opens the logs of partitions this shard now owns,
    /// deletes those of removed topics, and applies changed topic configs. With a
    /// metadata quorum, a partition the snapshot no longer lists here is deleted only
    /// when a record removed its topic or reassigned its replica to other brokers;
    /// otherwise (the image does not list it yet) it is closed and its files kept.
    pub async fn apply_snapshot(self: &Rc<Self>, snapshot: Snapshot) -> Result<(), StorageError> {
        let _turn = self.applying.acquire_permit(1).await;
        if snapshot.version < self.snapshot.borrow().version {
            return Ok(());
        }
        let snapshot = Rc::new(snapshot);
        let now = now_ms();
        let owned: HashMap<(String, i32), (Uuid, Settings)> = snapshot
            .topics()
            .flat_map(|(name, meta)| {
                let settings = partition_settings(&snapshot, meta);
                (0..meta.partitions).map(move |p| ((name.clone(), p), (meta.id, settings.clone())))
            })
            .filter(|((name, p), _)| {
                snapshot.is_local(name, *p) && snapshot.shard_for(name, *p) == self.id
            })
            .collect();
        // Internal topics' partitions whose coordinator state is to be read back.
        let mut to_load = Vec::new();
        let gone: Vec<(Rc<Partition>, bool)> = {
            let ids = self.partition_ids.borrow();
            self.partitions
                .borrow()
                .iter()
                .filter_map(|(key, partition)| {
                    let opened_for = ids.get(key);
                    let delete = match (owned.get(key), snapshot.layout()) {
                        (Some((id, _)), _) if opened_for.is_none_or(|o| o == id) => return None,
                        // The name is a new topic's now.
                        (Some(_), _) => true,
                        (None, None) => true,
                        // Its topic removed, or the replica reassigned away: the image
                        // holds the partition, without this broker.
                        (None, Some(layout)) => opened_for.is_some_and(|id| {
                            layout.removed.contains(id)
                                || layout
                                    .image
                                    .partition(*id, key.1)
                                    .is_some_and(|p| p.replica_on(layout.node).is_none())
                        }),
                    };
                    Some((Rc::clone(partition), delete))
                })
                .collect()
        };
        for (partition, delete) in gone {
            let key = (partition.topic.clone(), partition.index);
            self.fetchers.unfollow(&key);
            self.unload_coordinator_state(&partition);
            self.done_loading(&partition);
            self.partitions.borrow_mut().remove(&key);
            self.partition_ids.borrow_mut().remove(&key);
            // Long-poll fetches waiting on it wake up and find it gone; acks=all appends
            // waiting for its ISR are answered NOT_LEADER_OR_FOLLOWER.
            partition.resign();
            partition.appended().notify();
            if delete {
                partition.delete().await?;
            } else {
                tracing::warn!(topic = %partition.topic, partition = partition.index, "the metadata no longer places this partition here: closed, its files kept");
                partition.close().await?;
            }
        }
        for ((topic, index), (id, settings)) in &owned {
            let partition = match self.partition(topic, *index) {
                Some(partition) => {
                    partition.apply(settings);
                    partition
                }
                None => {
                    let name = format!("{topic}-{index}");
                    crate::failpoint::delay("shard::open_partition", &name).await;
                    let dir = self.log_dir.join(name);
                    topic_id::settle(&dir, *id)?;
                    let writer = Rc::clone(&self.writer);
                    let partition =
                        Partition::open(topic.clone(), *index, &dir, settings, writer, now).await?;
                    topic_id::record(&dir, *id).await;
                    let key = (topic.clone(), *index);
                    let partition = Rc::new(partition);
                    self.partitions
                        .borrow_mut()
                        .insert(key.clone(), Rc::clone(&partition));
                    self.partition_ids.borrow_mut().insert(key, *id);
                    self.progress.tick();
                    // In a cluster, taking the lead loads it (below).
                    if self.coordinators_loading.get() && snapshot.layout().is_none() {
                        self.to_load(&partition, &mut to_load);
                    }
                    partition
                }
            };
            if let Some(layout) = snapshot.layout() {
                let lag = snapshot.broker.replica_lag_time_max_ms;
                match self.take_role(&partition, layout, lag, now) {
                    // Kafka's coordinator onElection: the state is read afresh from
                    // the log (the start-up load reads the partitions led then).
                    Some(true) if self.coordinators_loading.get() => {
                        self.unload_coordinator_state(&partition);
                        self.to_load(&partition, &mut to_load);
                    }
                    // onResignation.
                    Some(false) => {
                        self.unload_coordinator_state(&partition);
                        self.done_loading(&partition);
                    }
                    // A load that failed before is tried again.
                    _ if partition.is_leading()
                        && self.coordinator_loading(&partition.topic, partition.index) =>
                    {
                        self.unload_coordinator_state(&partition);
                        self.to_load(&partition, &mut to_load);
                    }
                    _ => {}
                }
            }
        }
        *self.snapshot.borrow_mut() = snapshot;
        // The coordinators' state is read back once the new layout is in force, so a
        // request meanwhile finds this broker the coordinator and is told
        // COORDINATOR_LOAD_IN_PROGRESS, as Kafka's coordinators answer. A partition
        // whose load fails (and those after it) stays so until a later snapshot reads
        // it back: never is a half-read state served.
        for partition in to_load {
            self.load_coordinator_state(&partition).await?;
            self.done_loading(&partition);
        }
        Ok(())
    }

    fn done_loading(&self, partition: &Partition) {
        let key = (partition.topic.clone(), partition.index);
        self.loading.borrow_mut().remove(&key);
    }

    /// Marks an internal topic's partition as loading, to be read back once the
    /// snapshot is in force.
    fn to_load(&self, partition: &Rc<Partition>, to_load: &mut Vec<Rc<Partition>>) {
        if crate::group::is_internal_topic(&partition.topic) {
            let key = (partition.topic.clone(), partition.index);
            self.loading.borrow_mut().insert(key);
            to_load.push(Rc::clone(partition));
        }
    }

    /// Leads or follows `partition` as the layout says: a leader keeps its followers'
    /// state, a follower fetches from the leader's shard (or waits while there is no
    /// leader). Returns `Some(true)` when this broker just took the lead, `Some(false)`
    /// when it just gave it up.
    fn take_role(
        self: &Rc<Self>,
        partition: &Rc<Partition>,
        layout: &Layout,
        lag: i64,
        now: i64,
    ) -> Option<bool> {
        let key = (partition.topic.clone(), partition.index);
        let p = layout.partition(&key.0, key.1)?;
        if p.leader == layout.node {
            self.fetchers.unfollow(&key);
            let lead = Lead {
                broker: layout.node,
                leader_epoch: p.leader_epoch,
                partition_epoch: p.partition_epoch,
                replicas: p.replicas.iter().map(|r| r.broker).collect(),
                isr: p.isr.clone(),
                fenced: p
                    .replicas
                    .iter()
                    .map(|r| r.broker)
                    .filter(|&b| !layout.image.is_eligible(b))
                    .collect(),
                lag_max_ms: lag,
            };
            return partition.lead(lead, now).then_some(true);
        }
        let resigned = partition.follow(p.leader_epoch);
        match p.replica_on(p.leader) {
            Some(leader) => {
                let source = Source {
                    broker: leader.broker,
                    shard: leader.shard,
                };
                self.fetchers.follow(self, key, source, p.leader_epoch);
            }
            None => self.fetchers.unfollow(&key),
        }
        resigned.then_some(false)
    }

    /// Forgets what a coordinator kept from `partition`, when it is an internal topic's.
    fn unload_coordinator_state(&self, partition: &Partition) {
        match partition.topic.as_str() {
            crate::group::OFFSETS_TOPIC => self.groups.unload_partition(partition.index),
            crate::txn::TRANSACTION_STATE_TOPIC => self.txns.unload_partition(partition.index),
            _ => {}
        }
    }

    /// Loads what a coordinator keeps in `partition`, when it is one of the internal
    /// topics' (opened after start-up: carried into a quorum, or moved here).
    async fn load_coordinator_state(&self, partition: &Partition) -> Result<(), StorageError> {
        let subject = format!("{}-{}", partition.topic, partition.index);
        crate::failpoint::delay("shard::load_coordinator", &subject).await;
        let loaded = match partition.topic.as_str() {
            crate::group::OFFSETS_TOPIC => self.groups.load_partition(partition).await?,
            crate::txn::TRANSACTION_STATE_TOPIC => self.txns.load_partition(partition).await?,
            _ => return Ok(()),
        };
        if loaded > 0 {
            tracing::info!(topic = %partition.topic, partition = partition.index, records = loaded, "coordinator state loaded");
        }
        Ok(())
    }

    /// Whether any partition of the internal `topic` is being read back on this shard
    /// (a listing of its groups or transactions would miss some).
    pub fn coordinator_loading_any(&self, topic: &str) -> bool {
        self.loading.borrow().iter().any(|(t, _)| t == topic)
    }

    /// Whether the coordinator state of an internal topic's partition is being read
    /// back on this shard.
    pub fn coordinator_loading(&self, topic: &str, partition: i32) -> bool {
        self.loading
            .borrow()
            .contains(&(topic.to_string(), partition))
    }

    /// The partition, when this broker leads it: clients produce to and fetch from the
    /// leader only. NOT_LEADER_OR_FOLLOWER when the cluster has it elsewhere, or has it
    /// here without this broker leading it (fenced, or not yet unfenced).
    pub fn led(&self, topic: &str, index: i32) -> Result<Rc<Partition>, ResponseError> {
        let partition = self.held(topic, index)?;
        self.leads(topic, index)?;
        Ok(partition)
    }

    /// The replica of a partition this shard holds, led here or not.
    pub fn held(&self, topic: &str, index: i32) -> Result<Rc<Partition>, ResponseError> {
        self.partition(topic, index)
            .ok_or_else(|| self.not_here(topic, index))
    }

    /// Whether this broker leads the partition (always, in a cluster of one).
    pub fn leads(&self, topic: &str, index: i32) -> Result<(), ResponseError> {
        let snapshot = self.snapshot();
        match snapshot.layout() {
            Some(layout) if snapshot.leader_of(topic, index) != Some(layout.node) => {
                Err(ResponseError::NotLeaderOrFollower)
            }
            _ => Ok(()),
        }
    }

    /// The error for a partition this shard does not hold: NOT_LEADER_OR_FOLLOWER when
    /// the cluster has it elsewhere (the client asks the metadata again), else
    /// UNKNOWN_TOPIC_OR_PARTITION.
    fn not_here(&self, topic: &str, index: i32) -> ResponseError {
        if self.snapshot().has_partition(topic, index) {
            ResponseError::NotLeaderOrFollower
        } else {
            ResponseError::UnknownTopicOrPartition
        }
    }

    /// Flushes every log this shard owns (shutdown).
    pub async fn flush_all(&self) {
        for partition in self.local_partitions() {
            if let Err(error) = partition.close().await {
                tracing::error!(topic = %partition.topic, partition = partition.index, %error, "flush at shutdown failed");
            }
        }
    }
}

/// Runs `op` for every item on the shard that owns the item's partition: one
/// `invoke_on` per owning shard, all shards at once, items of one shard concurrently.
/// Results come back in the order of `items`; an item whose shard is gone gets
/// `gone(error)`.
pub async fn on_owning_shards<T, R, F, Fut>(
    shard: &Rc<Shard>,
    items: Vec<T>,
    key: impl Fn(&T) -> (&str, i32),
    op: F,
    gone: impl Fn(ShardGone) -> R + 'static,
) -> Vec<R>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(Rc<Shard>, T) -> Fut + Send + Clone + 'static,
    Fut: Future<Output = R> + 'static,
{
    dispatch_to_owners(shard, items, key, op, gone).await.await
}

/// The first stage of `on_owning_shards`: returns once `op` has been called for every
/// item, in the order of `items`, on the owning shards (on this shard at once; on
/// another, when its mailbox reaches the job shipped there, before anything shipped
/// later), with a future for the results. `op`'s synchronous part is where a
/// partition takes its place in line.
pub async fn dispatch_to_owners<T, R, F, Fut>(
    shard: &Rc<Shard>,
    items: Vec<T>,
    key: impl Fn(&T) -> (&str, i32),
    op: F,
    gone: impl Fn(ShardGone) -> R + 'static,
) -> impl Future<Output = Vec<R>> + 'static
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(Rc<Shard>, T) -> Fut + Send + Clone + 'static,
    Fut: Future<Output = R> + 'static,
{
    let snapshot = shard.snapshot();
    let count = items.len();
    let mut groups: Vec<(ShardId, Vec<(usize, T)>)> = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let (topic, partition) = key(&item);
        let owner = snapshot.shard_for(topic, partition);
        match groups.iter_mut().find(|(id, _)| *id == owner) {
            Some((_, group)) => group.push((i, item)),
            None => groups.push((owner, vec![(i, item)])),
        }
    }
    let mut calls = Vec::with_capacity(groups.len());
    for (owner, group) in groups {
        let indexes: Vec<usize> = group.iter().map(|(i, _)| *i).collect();
        let op = op.clone();
        let dispatched = shard
            .dispatch_on(owner, move |s| {
                let started: Vec<_> = group
                    .into_iter()
                    .map(|(i, item)| {
                        let work = op(Rc::clone(&s), item);
                        async move { (i, work.await) }
                    })
                    .collect();
                futures::future::join_all(started)
            })
            .await;
        calls.push((indexes, dispatched));
    }
    async move {
        let mut slots: Vec<Option<R>> = (0..count).map(|_| None).collect();
        let results = calls.into_iter().map(|(indexes, dispatched)| async move {
            let result = match dispatched {
                Ok(pending) => pending.await,
                Err(error) => Err(error),
            };
            (indexes, result)
        });
        for (indexes, result) in futures::future::join_all(results).await {
            match result {
                Ok(results) => results.into_iter().for_each(|(i, r)| slots[i] = Some(r)),
                Err(error) => indexes
                    .into_iter()
                    .for_each(|i| slots[i] = Some(gone(error))),
            }
        }
        slots
            .into_iter()
            .map(|slot| slot.expect("every item has a result"))
            .collect()
    }
}

/// What each partition of a topic takes from the topic's effective config.
pub fn partition_settings(snapshot: &Snapshot, meta: &crate::cluster::TopicMeta) -> Settings {
    let effective = meta.config.resolve(&snapshot.broker);
    Settings {
        log: LogConfig {
            segment_bytes: effective.segment_bytes.max(1) as u64,
            segment_ms: effective.segment_ms,
            retention_ms: effective.retention_ms,
            retention_bytes: effective.retention_bytes,
            index_interval_bytes: effective.index_interval_bytes.max(1) as u64,
            log_append_time: effective.message_timestamp_type
                == crate::config::TimestampType::LogAppendTime,
            delete: effective.cleanup_policy.delete,
            compact: effective.cleanup_policy.compact,
            delete_retention_ms: effective.delete_retention_ms,
        },
        max_message_bytes: effective.max_message_bytes.max(0) as usize,
        // flush.ms=0 asks for a sync after every append: that is the strict mode.
        flush_interval_ms: effective.flush_ms.filter(|ms| *ms > 0),
        producer_id_expiration_ms: snapshot.broker.producer_id_expiration_ms,
        min_insync_replicas: effective.min_insync_replicas,
        timestamp_bounds: (effective.message_timestamp_type
            == crate::config::TimestampType::CreateTime)
            .then_some((
                effective.message_timestamp_before_max_ms,
                effective.message_timestamp_after_max_ms,
            )),
        compression: (effective.compression_type, effective.compression_level),
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests;
