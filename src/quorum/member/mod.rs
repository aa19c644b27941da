//! This node's quorum member, run on shard 0 when the node takes part in a metadata
//! quorum. One task drives the `Quorum`: it ticks every `TICK`, steps what peers sent,
//! and after each round makes Raft's output durable in the member's files before it
//! sends anything. Peers are reached on their controller listeners (a broker-only
//! node's on the quorum port it registered), one outgoing connection each, with the
//! quorum codec's messages framed by a 4-byte length; this node's listener takes theirs.
//!
//! The committed records build this node's `MetadataImage`. Each broker registers
//! itself (forwarded to the leader, retried until its registration is in the image),
//! and the leader, the active controller, fences a broker it has not heard from for
//! `broker.session.timeout.ms` and unfences one it hears again once it holds the log up
//! to its registration (`cluster::rules`). A controller-only node registers no broker.
//! A broker-only node is a Raft learner (`follow_peers`), so, as a voter's, its
//! answers to the leader's appends and heartbeats are its heartbeat.
//! Once `metadata.log.max.record.bytes.between.snapshots` of records follow the last
//! snapshot, the log is cut to a snapshot of the image.
//!
//! A write of the files that fails stops the member (the broker goes on serving): a
//! member that cannot keep its vote or its entries must not take part.

mod files;
mod peers;
mod report;
mod shutdown;
mod voters;

use self::files::{committed_image, read_log};
pub use self::files::{directory_id, read_image, write_synced, DIRECTORY_ID_FILE};
use self::peers::Peer;
pub use self::report::{QuorumStatus, VoterStatus};
use self::shutdown::Rejoin;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use futures::channel::oneshot;
use glommio::io::BufferedFile;
use glommio::net::TcpListener;
use raft::eraftpb::{Message, MessageType};
use uuid::Uuid;

use super::disk::{self, DIR, ENTRIES_FILE, SNAPSHOT_FILE, STATE_FILE};
use super::{Committed, Persist, Quorum, QuorumConfig};
use crate::cluster::image::{self, MetadataImage, MetadataRecord};
use crate::cluster::rules;
use crate::config::QuorumPeers;
use crate::shard::{Event, Shard};

/// Raft's clock.
pub const TICK: Duration = Duration::from_millis(100);
/// Heartbeats every 200 ms (elections after `controller.quorum.election.timeout.ms` to
/// twice it without a leader).
const HEARTBEAT_TICKS: usize = 2;
/// How long a proposal about one broker (its registration, fence or unfence) waits to
/// show in the image before it is made again: a proposal is lost when the leader
/// changes before committing it.
const PROPOSAL_RETRY: Duration = Duration::from_secs(1);
/// The key `proposed` keeps the leader's proposal of the cluster's id under (brokers'
/// ids are never negative).
const CLUSTER_ID_PROPOSAL: i32 = -1;
/// The key `proposed` keeps the leader's preferred-leader rebalance under.
const REBALANCE_PROPOSAL: i32 = -2;
/// The key `proposed` keeps the leader's unclean elections under.
const UNCLEAN_PROPOSAL: i32 = -3;
/// The key `proposed` keeps the leader's completions of reassignments under.
const REASSIGNED_PROPOSAL: i32 = -4;
/// The largest frame a peer may send (a snapshot of the metadata image).
const FRAME_MAX: usize = 64 << 20;
/// Messages waiting for a peer's connection, at most; older ones go first (Raft sends
/// again what matters).
const PEER_QUEUE_MAX: usize = 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Connections the controller listener holds at once: each voter dials once, and a few
/// more cover reconnects whose old connection is not closed yet.
const INBOUND_MAX: usize = 32;
/// An inbound connection without a frame for this long is closed. A leader's heartbeats
/// and the answers to them keep the connections that matter busy.
const INBOUND_IDLE: Duration = Duration::from_secs(10);
/// The pause after a peer could not be reached, before the next try.
const RECONNECT_PAUSE: Duration = Duration::from_millis(200);
/// The Raft id of the first bootstrap server, the next one below it: no node has them.
const BOOTSTRAP_ID: u64 = u64::MAX;
/// The key `proposed` keeps this controller's registration under.
const CONTROLLER_PROPOSAL: i32 = -5;

/// Applies one committed entry's records, whole; one that does not decode or does not
/// fit is skipped on every node alike, and logged.
/// The leader elections the entry made (all, unclean).
fn apply_entry(image: &mut MetadataImage, index: u64, data: &[u8]) -> Result<(u64, u64), String> {
    let applied = image::decode(data)
        .map_err(|e| e.to_string())
        .and_then(|records| {
            let elections = image::elections(image, &records);
            image
                .apply_batch(index, &records)
                .map(|()| elections)
                .map_err(|e| e.to_string())
        });
    if let Err(error) = &applied {
        tracing::warn!(offset = index, %error, "metadata record skipped");
        image.offset = index;
    }
    applied
}

/// Raft ids start at 1; Kafka's node ids at 0.
pub fn raft_id(node: i32) -> u64 {
    node as u64 + 1
}

fn node_id(raft: u64) -> i32 {
    raft as i32 - 1
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// What this node registers as a broker.
#[derive(Debug, Clone)]
pub struct Registration {
    pub node: i32,
    /// The inter-broker listener's advertised address.
    pub host: String,
    pub port: u16,
    /// Every client listener's advertised address.
    pub listeners: Vec<crate::cluster::image::Endpoint>,
    pub shards: u32,
    /// Each shard's replication listener port, by shard.
    pub replication_ports: Vec<u16>,
    /// A broker-only node's quorum listener, where the leader sends it the log (a
    /// voter's peers know its controller listener from their config).
    pub quorum_port: Option<u16>,
    /// A controller's listener, as its peers reach it.
    pub controller: Option<crate::cluster::image::Endpoint>,
    /// `broker.rack`.
    pub rack: Option<String>,
}

/// The member's timing, from the broker's config.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub election_timeout_ms: i64,
    pub session_timeout_ms: i64,
    /// Bytes of records between two snapshots of the image.
    pub snapshot_bytes: u64,
    /// How often the active controller gives partitions back to their preferred
    /// replicas (`auto.leader.rebalance.enable`); never when `None`.
    pub leader_rebalance: Option<Duration>,
}

/// The controller listener's TLS, when it speaks SSL: how peers' connections are
/// accepted, and how this node dials its peers.
#[derive(Clone)]
pub struct QuorumTls {
    pub accept: crate::server::tls::Tls,
    pub dial: crate::server::tls::Dial,
}

pub struct Member {
    registration: Registration,
    /// How peers are dialled when the controller listener speaks TLS (set by `start`).
    dial_tls: RefCell<Option<crate::server::tls::Dial>>,
    /// Whether this node is a controller (`process.roles` has `controller`): a voter,
    /// or in a dynamic quorum one that may become a voter; and whether it registers as
    /// a broker (has `broker`).
    voter: bool,
    broker: bool,
    /// `controller.quorum.voters`' addresses by Raft id; empty in a dynamic quorum,
    /// whose voters' addresses are their registrations in the image.
    static_voters: BTreeMap<u64, String>,
    /// A dynamic quorum's bootstrap servers: where a node that knows no leader sends
    /// its proposals.
    bootstrap: Vec<Rc<Peer>>,
    /// This node's metadata directory's id (KIP-853's voter directory id).
    directory_id: Uuid,
    /// This process's incarnation: a restart registers anew.
    incarnation: Uuid,
    timing: Timing,
    quorum: RefCell<Quorum>,
    image: RefCell<MetadataImage>,
    /// When a proposal about a broker was last made (see `PROPOSAL_RETRY`).
    proposed: RefCell<BTreeMap<i32, Instant>>,
    /// Since when this member leads: every broker gets a session from then.
    leading_since: Cell<Option<Instant>>,
    /// When the leader last looked for partitions to give back to their preferred
    /// replicas.
    rebalanced: Cell<Option<Instant>>,
    /// When this member last knew itself in touch with the quorum (leading it, or
    /// hearing from its leader), and whether that was longer than a broker session ago.
    contact_ms: Cell<i64>,
    cut_off: Cell<bool>,
    /// Back in touch after being cut off: the read of the leader's commit index that
    /// tells when this member has caught up again (`shutdown::Rejoin`).
    rejoin: Cell<Option<Rejoin>>,
    /// Reads of the leader's commit index asked so far, and those a task waits on.
    reads_asked: Cell<u64>,
    reads_waiting: RefCell<HashMap<u64, oneshot::Sender<u64>>>,
    /// Leader elections (and of them unclean ones) applied while this member led.
    elections: Cell<u64>,
    unclean_elections: Cell<u64>,
    /// Bytes of records applied since the last snapshot (since the start, after one).
    since_snapshot: Cell<u64>,
    dir: PathBuf,
    /// The entries file, replaced when compaction rewrites it.
    entries: RefCell<Rc<BufferedFile>>,
    /// Bytes in the entries file.
    entries_len: Cell<u64>,
    inbound: RefCell<Vec<Message>>,
    arrived: Event,
    /// The voters, on a controller the learners (brokers and controllers that are no
    /// voters), the bootstrap servers, and peers found by their hellos.
    peers: RefCell<Vec<Rc<Peer>>>,
    /// The shard the member's tasks run on, once started.
    shard: RefCell<Option<Rc<Shard>>>,
    /// The voter a broker-only node sends its next proposal to while it knows no leader.
    next_voter: Cell<usize>,
    /// Per peer: when a message last came from it, and when it last held the leader's
    /// whole log.
    heard: RefCell<BTreeMap<u64, (i64, i64)>>,
    stopped: Cell<bool>,
    /// Proposals of `propose` waiting to be applied, by number.
    waiting: RefCell<HashMap<u64, oneshot::Sender<Result<u64, String>>>>,
    next_proposal: Cell<u64>,
    /// Every topic id a record removed while this process ran.
    removed: RefCell<BTreeSet<Uuid>>,
    /// Notified when committed records changed the image, or the leader changed.
    changed: Event,
    last_leader: Cell<Option<u64>>,
}

/// How a controlled shutdown ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownOutcome {
    /// This broker leads no partition another could lead.
    Moved,
    /// The quorum had no leader (the other voters stopped first): nothing can move.
    NoQuorum,
    /// Its time ran out.
    TimedOut,
}

/// Why a proposal of `Member::propose` did not take effect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposalError {
    #[error("the metadata quorum has no leader")]
    NoLeader,
    #[error("the metadata quorum did not commit the change within {0:?}")]
    TimedOut(Duration),
    /// Committed, but it did not fit the image when applied (a change made meanwhile).
    #[error("{0}")]
    Refused(String),
}

impl Member {
    /// Reads the member's files under `log_dir` (creating the directory on the first
    /// start) and starts its Raft state from them.
    pub async fn open(
        log_dir: &Path,
        registration: Registration,
        timing: Timing,
        peers: &QuorumPeers,
    ) -> anyhow::Result<Rc<Member>> {
        let node = registration.node;
        let dir = log_dir.join(DIR);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let voters: Vec<u64> = peers.voters.iter().map(|v| raft_id(v.id)).collect();
        let (log, valid, entries_len) = read_log(&dir, &voters)?;
        let file = glommio::io::OpenOptions::new()
            .write(true)
            .create(true)
            .buffered_open(dir.join(ENTRIES_FILE))
            .await
            .map_err(std::io::Error::from)
            .with_context(|| format!("opening {}", dir.join(ENTRIES_FILE).display()))?;
        if entries_len > valid {
            tracing::warn!(file = %dir.join(ENTRIES_FILE).display(), at = valid, "cutting a torn write off the metadata quorum's entries");
            file.truncate(valid as u64)
                .await
                .map_err(std::io::Error::from)?;
            file.fdatasync().await.map_err(std::io::Error::from)?;
        }
        let image = committed_image(&log, &dir)?;
        let election_ticks = (timing.election_timeout_ms / TICK.as_millis() as i64).max(2) as usize;
        let config = QuorumConfig {
            id: raft_id(node),
            voters,
            election_ticks,
            heartbeat_ticks: HEARTBEAT_TICKS,
            seed: fastrand::u64(..),
        };
        let quorum = Quorum::open_applied(&config, log, image.offset)?;
        let (voter, broker) = (peers.voter, peers.broker);
        let static_voters: BTreeMap<u64, String> = peers
            .voters
            .iter()
            .map(|v| {
                let address = crate::config::Listener {
                    name: String::new(),
                    host: v.host.clone(),
                    port: v.port,
                }
                .bind_address();
                (raft_id(v.id), address)
            })
            .collect();
        let directory_id = directory_id(&dir)?;
        // A dynamic quorum's bootstrap servers, known by address only: ids no node has.
        let bootstrap: Vec<Rc<Peer>> = peers
            .bootstrap
            .iter()
            .enumerate()
            .map(|(i, address)| Peer::new(BOOTSTRAP_ID - i as u64, address.clone()))
            .collect();
        let peers = static_voters
            .iter()
            .filter(|(id, _)| **id != raft_id(node))
            .map(|(id, address)| Peer::new(*id, address.clone()))
            .chain(bootstrap.iter().cloned())
            .collect();
        Ok(Rc::new(Member {
            registration,
            voter,
            broker,
            static_voters,
            bootstrap,
            directory_id,
            incarnation: Uuid::new_v4(),
            timing,
            quorum: RefCell::new(quorum),
            image: RefCell::new(image),
            proposed: RefCell::new(BTreeMap::new()),
            leading_since: Cell::new(None),
            rebalanced: Cell::new(None),
            contact_ms: Cell::new(now_ms()),
            cut_off: Cell::new(false),
            rejoin: Cell::new(None),
            reads_asked: Cell::new(0),
            reads_waiting: RefCell::new(HashMap::new()),
            elections: Cell::new(0),
            unclean_elections: Cell::new(0),
            since_snapshot: Cell::new(0),
            dir,
            entries: RefCell::new(Rc::new(file)),
            entries_len: Cell::new(valid as u64),
            inbound: RefCell::new(Vec::new()),
            arrived: Event::default(),
            peers: RefCell::new(peers),
            dial_tls: RefCell::new(None),
            shard: RefCell::new(None),
            next_voter: Cell::new(0),
            heard: RefCell::new(BTreeMap::new()),
            stopped: Cell::new(false),
            waiting: RefCell::new(HashMap::new()),
            next_proposal: Cell::new(0),
            removed: RefCell::new(BTreeSet::new()),
            changed: Event::default(),
            last_leader: Cell::new(None),
        }))
    }

    /// Starts the member's tasks on this shard: Raft's, the listener's, and one per peer.
    pub fn start(
        self: &Rc<Self>,
        shard: &Rc<Shard>,
        listener: TcpListener,
        tls: Option<QuorumTls>,
    ) {
        *self.shard.borrow_mut() = Some(Rc::clone(shard));
        let (accept, dial) = match tls {
            Some(tls) => (Some(tls.accept), Some(tls.dial)),
            None => (None, None),
        };
        *self.dial_tls.borrow_mut() = dial.clone();
        glommio::spawn_local(Rc::clone(self).run(Rc::clone(shard))).detach();
        glommio::spawn_local(Rc::clone(self).accept(Rc::clone(shard), listener, accept)).detach();
        for peer in self.peers.borrow().iter() {
            let sending = peers::send_to(
                Rc::clone(peer),
                Rc::clone(shard),
                dial.clone(),
                self.hello(),
            );
            glommio::spawn_local(sending).detach();
        }
    }

    async fn run(self: Rc<Self>, shard: Rc<Shard>) {
        let mut next_tick = Instant::now() + TICK;
        loop {
            let arrived = self.arrived.listen();
            if self.inbound.borrow().is_empty() {
                let wait = next_tick.saturating_duration_since(Instant::now());
                let woken = futures_lite::future::or(arrived, glommio::timer::sleep(wait));
                if shard.unless_stopping(woken).await.is_none() {
                    return;
                }
            }
            let now = Instant::now();
            while now >= next_tick {
                self.quorum.borrow_mut().tick();
                next_tick += TICK;
            }
            let messages = std::mem::take(&mut *self.inbound.borrow_mut());
            for message in messages {
                self.heard_from(&message);
                if let Err(error) = self.quorum.borrow_mut().step(message) {
                    tracing::debug!(%error, "metadata quorum message refused");
                }
            }
            self.follow_peers();
            if let Err(error) = self.round().await {
                tracing::error!(dir = %self.dir.display(), %error, "the metadata quorum member stops: its files cannot be written");
                self.stopped.set(true);
                return;
            }
            self.act();
            self.note_contact();
            let leader = self.quorum.borrow().leader();
            if self.last_leader.replace(leader) != leader {
                self.changed.notify();
            }
            if let Err(error) = self.compact().await {
                tracing::error!(dir = %self.dir.display(), %error, "the metadata quorum member stops: its snapshot cannot be written");
                self.stopped.set(true);
                return;
            }
        }
    }

    /// The node the quorum's leader is, as far as this member knows.
    pub fn leader(&self) -> Option<i32> {
        self.quorum.borrow().leader().map(node_id)
    }

    /// Whether broker `id` has registered, as this node's image has it (no copy of the
    /// image, which `image` makes).
    pub fn has_broker(&self, id: i32) -> bool {
        self.image.borrow().brokers.contains_key(&id)
    }

    /// The metadata as this node has applied it.
    pub fn image(&self) -> MetadataImage {
        self.image.borrow().clone()
    }

    /// Proposes what the image lacks: this broker's registration, and on the leader the
    /// fences and unfences the brokers' sessions call for.
    fn act(&self) {
        let now = Instant::now();
        let mut quorum = self.quorum.borrow_mut();
        match (quorum.is_leader(), self.leading_since.get()) {
            (true, None) => self.leading_since.set(Some(now)),
            (false, Some(_)) => self.leading_since.set(None),
            _ => {}
        }
        let image = self.image.borrow();
        let node = self.registration.node;
        let mut records = Vec::new();
        let registered = image
            .brokers
            .get(&node)
            .is_some_and(|b| b.incarnation == self.incarnation);
        if !registered && self.broker {
            records.push((node, vec![self.register_record()]));
        }
        // A controller of a dynamic quorum says where it is reached.
        if let (Some(endpoint), false) = (&self.registration.controller, self.bootstrap.is_empty())
        {
            let current = image
                .controllers
                .get(&node)
                .is_some_and(|c| c.directory_id == self.directory_id && c.endpoint == *endpoint);
            if !current {
                let record = MetadataRecord::RegisterController {
                    node,
                    directory_id: self.directory_id,
                    endpoint: endpoint.clone(),
                };
                records.push((CONTROLLER_PROPOSAL, vec![record]));
            }
        }
        if self.leading_since.get().is_some() && image.cluster_id.is_none() {
            let id = Uuid::new_v4().simple().to_string();
            records.push((CLUSTER_ID_PROPOSAL, vec![MetadataRecord::ClusterId { id }]));
        }
        if let Some(since) = self.leading_since.get() {
            // Topics that allow unclean elections do not wait for their ISR to return.
            let unclean = rules::unclean_elections(&image, false);
            if !unclean.is_empty() {
                records.push((UNCLEAN_PROPOSAL, unclean));
            }
            // Reassignments whose new replicas all joined the ISR.
            let done = crate::cluster::reassign::completions(&image);
            if !done.is_empty() {
                records.push((REASSIGNED_PROPOSAL, done));
            }
            if let Some(every) = self.timing.leader_rebalance {
                // The first check an interval after this member took the lead.
                let last = self.rebalanced.get().unwrap_or(since).max(since);
                if now.duration_since(last) >= every {
                    self.rebalanced.set(Some(now));
                    let balance = rules::rebalance(&image);
                    if !balance.is_empty() {
                        tracing::info!(
                            partitions = balance.len(),
                            "giving partitions back to their preferred leaders"
                        );
                        records.push((REBALANCE_PROPOSAL, balance));
                    }
                }
            }
            let session = Duration::from_millis(self.timing.session_timeout_ms.max(0) as u64);
            let heard = self.heard.borrow();
            for (&broker, b) in &image.brokers {
                let last = heard.get(&raft_id(broker)).map(|&(ms, _)| ms);
                let alive = broker == node
                    || now.duration_since(since) < session
                    || last.is_some_and(|ms| now_ms() - ms < session.as_millis() as i64);
                // Unfenced once it holds the log up to its own registration, as Kafka's
                // controller waits for a broker to catch up.
                let caught_up = broker == node
                    || quorum
                        .matched(raft_id(broker))
                        .is_some_and(|m| m >= b.epoch);
                // A new incarnation registered while its last one still led or shared
                // an ISR (an unclean shutdown, quicker than the session): those move
                // first, so a new leader epoch fences what the old one believed.
                // So do the places of a broker in controlled shutdown, before it goes.
                let leave = match b.fenced || b.shutting_down {
                    true => rules::leave(&image, broker, false),
                    false => Vec::new(),
                };
                let change = match (b.fenced, alive) {
                    _ if !leave.is_empty() => leave,
                    (true, true) if caught_up && !b.shutting_down => rules::unfence(&image, broker),
                    (false, false) => rules::fence(&image, broker, false),
                    _ => Vec::new(),
                };
                if !change.is_empty() {
                    records.push((broker, change));
                }
            }
        }
        let mut proposed = self.proposed.borrow_mut();
        for (broker, change) in records {
            if proposed
                .get(&broker)
                .is_some_and(|at| now.duration_since(*at) < PROPOSAL_RETRY)
            {
                continue;
            }
            // One entry per decision, applied whole (`MetadataImage::apply_batch`).
            let data = image::encode(&change);
            if quorum.propose_anywhere(Vec::new(), data.clone()).is_err() {
                // No leader known: a node that is no voter asks a voter (in turn, or a
                // bootstrap server while it knows none) to take it; a voter tries again
                // next round.
                let voters = quorum.voters();
                if voters.contains(&quorum.id()) {
                    return;
                }
                let targets: Vec<u64> = match voters.is_empty() {
                    true => self.bootstrap.iter().map(|p| p.id).collect(),
                    false => voters.into_iter().collect(),
                };
                if targets.is_empty() {
                    return;
                }
                let at = self.next_voter.get() % targets.len();
                self.next_voter.set(at + 1);
                let message = quorum.propose_to(targets[at], Vec::new(), data);
                self.send(message);
            }
            proposed.insert(broker, now);
        }
    }

    fn register_record(&self) -> MetadataRecord {
        let r = &self.registration;
        MetadataRecord::RegisterBroker {
            broker: r.node,
            incarnation: self.incarnation,
            host: r.host.clone(),
            port: r.port,
            shards: r.shards,
            replication_ports: r.replication_ports.clone(),
            quorum_port: r.quorum_port,
            listeners: r.listeners.clone(),
            rack: r.rack.clone(),
        }
    }

    /// Applies committed entries to the image, in order, each entry's records whole; one
    /// that does not decode or does not fit is skipped on every node alike, and logged.
    fn apply(&self, committed: Vec<Committed>) {
        if committed.is_empty() {
            return;
        }
        let mut image = self.image.borrow_mut();
        for c in committed {
            if let Some(voters) = &c.voters {
                // Past it, as on a restart (`committed_image`): a snapshot taken at the
                // image's offset holds the configuration this change made.
                image.offset = c.index;
                let voters: Vec<i32> = voters.iter().map(|&v| node_id(v)).collect();
                tracing::info!(
                    offset = c.index,
                    ?voters,
                    "the metadata quorum's voters changed"
                );
                if let Some(number) = self.own_proposal(&c.context) {
                    if let Some(waiter) = self.waiting.borrow_mut().remove(&number) {
                        let _ = waiter.send(Ok(c.index));
                    }
                }
                continue;
            }
            self.since_snapshot
                .set(self.since_snapshot.get() + c.data.len() as u64);
            let before: BTreeSet<Uuid> = image.topics.keys().copied().collect();
            let applied = apply_entry(&mut image, c.index, &c.data);
            // Counted by the active controller, as Kafka's controller counts the
            // elections it makes.
            if let (Ok((all, unclean)), true) = (&applied, self.quorum.borrow().is_leader()) {
                self.elections.set(self.elections.get() + all);
                self.unclean_elections
                    .set(self.unclean_elections.get() + unclean);
            }
            let applied = applied.map(|_| ());
            self.removed.borrow_mut().extend(
                before
                    .into_iter()
                    .filter(|id| !image.topics.contains_key(id)),
            );
            if let Some(number) = self.own_proposal(&c.context) {
                if let Some(waiter) = self.waiting.borrow_mut().remove(&number) {
                    let _ = waiter.send(applied.map(|()| c.index));
                }
            }
        }
        self.changed.notify();
    }

    /// The number of a proposal this process made, from a committed entry's context.
    fn own_proposal(&self, context: &[u8]) -> Option<u64> {
        let (incarnation, number) = context.split_at_checked(16)?;
        (incarnation == self.incarnation.as_bytes().as_slice())
            .then(|| number.try_into().ok().map(u64::from_be_bytes))
            .flatten()
    }

    /// Proposes one decision's records from this node (a follower forwards them to the
    /// leader) and waits until they are committed and applied here: the image's offset
    /// then, or why they did not take effect. A proposal lost to a change of leader
    /// times out; the caller may ask again.
    pub async fn propose(
        &self,
        records: &[MetadataRecord],
        timeout: Duration,
    ) -> Result<u64, ProposalError> {
        let (number, context) = self.proposal_context();
        self.quorum
            .borrow_mut()
            .propose_anywhere(context, image::encode(records))
            .map_err(|_| ProposalError::NoLeader)?;
        match self.outcome(number, timeout).await {
            Some(applied) => applied.map_err(ProposalError::Refused),
            None => Err(ProposalError::TimedOut(timeout)),
        }
    }

    /// The number of this process's next proposal, and the context that names it in
    /// the committed entry (`own_proposal`).
    fn proposal_context(&self) -> (u64, Vec<u8>) {
        let number = self.next_proposal.get();
        self.next_proposal.set(number + 1);
        let mut context = self.incarnation.as_bytes().to_vec();
        context.extend_from_slice(&number.to_be_bytes());
        (number, context)
    }

    /// Waits for proposal `number`, just made, to be applied here: the image's offset
    /// then or why it did not fit; `None` when `timeout` passed first.
    async fn outcome(&self, number: u64, timeout: Duration) -> Option<Result<u64, String>> {
        let (sender, receiver) = oneshot::channel();
        self.waiting.borrow_mut().insert(number, sender);
        // The Raft task sends the proposal on its next round.
        self.arrived.notify();
        let answer = glommio::timer::timeout(timeout, async { Ok(receiver.await.ok()) }).await;
        self.waiting.borrow_mut().remove(&number);
        answer.ok().flatten()
    }

    /// Topic ids removed by records applied while this process ran.
    pub fn removed_topics(&self) -> BTreeSet<Uuid> {
        self.removed.borrow().clone()
    }

    /// Completes when committed records change the image after this call.
    pub fn changed(&self) -> crate::shard::Listen<'_> {
        self.changed.listen()
    }

    /// Cuts the log to a snapshot of the image once enough records follow the last one
    /// (`Timing::snapshot_bytes`), and rewrites the entries file with what remains.
    async fn compact(&self) -> anyhow::Result<()> {
        let (at, data) = {
            let image = self.image.borrow();
            let quorum = self.quorum.borrow();
            let snapshot_at = quorum.log().snapshot_ref().get_metadata().index;
            if self.since_snapshot.get() < self.timing.snapshot_bytes || image.offset <= snapshot_at
            {
                return Ok(());
            }
            (image.offset, serde_json::to_vec(&*image)?)
        };
        let (snapshot, rest) = {
            let mut quorum = self.quorum.borrow_mut();
            quorum.compact(at, data)?;
            let log = quorum.log();
            (
                disk::encode_snapshot(log.snapshot_ref()),
                disk::encode_entries(log.entries_ref()),
            )
        };
        crate::storage::replace_file(&self.dir.join(SNAPSHOT_FILE), snapshot).await?;
        let length = rest.len() as u64;
        crate::storage::replace_file(&self.dir.join(ENTRIES_FILE), rest).await?;
        // The entries file was replaced: appends go to the new one.
        let file = glommio::io::OpenOptions::new()
            .write(true)
            .buffered_open(self.dir.join(ENTRIES_FILE))
            .await
            .map_err(std::io::Error::from)?;
        self.since_snapshot.set(0);
        tracing::info!(offset = at, "metadata log cut to a snapshot of the image");
        let old = self.entries.replace(Rc::new(file));
        if let Ok(old) = Rc::try_unwrap(old) {
            let _ = old.close().await;
        }
        self.entries_len.set(length);
        Ok(())
    }

    /// Notes when a member was last heard from and, on a leader, last caught up.
    fn heard_from(&self, message: &Message) {
        let now = now_ms();
        let quorum = self.quorum.borrow();
        // Members only: anyone can claim any id.
        if !quorum.is_member(message.from) {
            return;
        }
        let caught_up = quorum.is_leader()
            && message.msg_type == MessageType::MsgAppendResponse
            && !message.reject
            && message.index >= quorum.last_index();
        let mut heard = self.heard.borrow_mut();
        let entry = heard.entry(message.from).or_insert((-1, -1));
        entry.0 = now;
        if caught_up {
            entry.1 = now;
        }
    }

    /// Takes Raft's output until it has none: written, then sent.
    async fn round(&self) -> anyhow::Result<()> {
        loop {
            let out = self.quorum.borrow_mut().poll()?;
            if out.is_empty() {
                return Ok(());
            }
            self.on_reads(&out.reads);
            self.persist(&out.persist).await?;
            for message in out.messages {
                self.send(message);
            }
            let changed = out.restored.is_some() || !out.committed.is_empty();
            if let Some((index, data)) = out.restored {
                let restored: MetadataImage = serde_json::from_slice(&data).with_context(|| {
                    format!("the metadata image of the leader's snapshot at {index}")
                })?;
                {
                    let mut image = self.image.borrow_mut();
                    let removed = image
                        .topics
                        .keys()
                        .filter(|id| !restored.topics.contains_key(id));
                    self.removed.borrow_mut().extend(removed);
                    *image = restored;
                }
                self.changed.notify();
                self.since_snapshot.set(0);
                tracing::info!(
                    offset = index,
                    "installed the leader's snapshot of the metadata image"
                );
            }
            self.apply(out.committed);
            if changed {
                // A new member learns where the voters are from what it just applied,
                // and answers them at once.
                self.follow_peers();
            }
        }
    }

    async fn persist(&self, persist: &Persist) -> anyhow::Result<()> {
        let entries = Rc::clone(&self.entries.borrow());
        if let Some(snapshot) = &persist.snapshot {
            crate::storage::replace_file(
                &self.dir.join(SNAPSHOT_FILE),
                disk::encode_snapshot(snapshot),
            )
            .await?;
            entries.truncate(0).await.map_err(std::io::Error::from)?;
            self.entries_len.set(0);
        }
        if !persist.entries.is_empty() {
            let bytes = disk::encode_entries(&persist.entries);
            let length = bytes.len();
            let written = entries
                .write_at(bytes, self.entries_len.get())
                .await
                .map_err(std::io::Error::from)?;
            anyhow::ensure!(written == length, "short write to {ENTRIES_FILE}");
            entries.fdatasync().await.map_err(std::io::Error::from)?;
            self.entries_len.set(self.entries_len.get() + length as u64);
        }
        if let Some(hard_state) = &persist.hard_state {
            crate::storage::replace_file(
                &self.dir.join(STATE_FILE),
                disk::encode_state(hard_state),
            )
            .await?;
        }
        Ok(())
    }
}
