//! One partition replicated on three brokers under a simulated network and fake clock,
//! with Kafka's rules: followers fetch from the leader naming their last epoch and
//! truncate where the leader says they diverge; the leader tracks the ISR and moves the
//! high watermark; acks=all producers are answered at the high watermark; the
//! controller's rules (`cluster::rules`, on a `MetadataImage`; the quorum that commits
//! their records has its own simulation) fence brokers it cannot hear, elect leaders
//! from the ISR only and commit ISR changes. Brokers crash as kill -9
//! does (the log and epochs stay, everything in memory goes) and come back; links drop
//! messages and are cut and healed.
//!
//! Checked throughout: a record below any leader's high watermark is never replaced,
//! and every leader holds every record below earlier leaders' high watermarks. At the
//! end, with the faults healed: every acknowledged record is in every replica's log at
//! its offset, and all logs are the same.
//!
//! Seeded as `crate::sim` says: a failure names the seed that replays it;
//! `SHOAL_SIM_TRACE` prints every decision of the run.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::divergence::{diverging_epoch, truncation};
use super::isr::{AlterAnswer, AlterIsr, Leadership};
use crate::cluster::image::{MetadataImage, MetadataRecord, Replica, NO_LEADER};
use crate::cluster::rules;
use crate::partition::epochs::EpochCache;

/// The one partition's topic.
const TOPIC: Uuid = Uuid::from_u128(1);

const BROKERS: [i32; 3] = [1, 2, 3];
/// The controller, as a network endpoint.
const CONTROLLER: i32 = 0;
const TICK_MS: i64 = 100;
const LAG_MAX_MS: i64 = 3_000;
/// Records a fetch response carries at most.
const FETCH_MAX: usize = 4;

/// What the controller publishes about the partition.
#[derive(Debug, Clone, PartialEq)]
struct PartitionState {
    leader: Option<i32>,
    leader_epoch: i32,
    isr: Vec<i32>,
    partition_epoch: i32,
}

#[derive(Debug, Clone)]
enum Msg {
    Fetch {
        id: u64,
        leader_epoch: i32,
        offset: i64,
        last_epoch: i32,
    },
    FetchAnswer {
        id: u64,
        answer: FetchAnswer,
    },
    Alter(AlterIsr),
    AlterAnswer {
        leader_epoch: i32,
        /// The partition epoch the leader asked at.
        partition_epoch: i32,
        answer: AlterAnswer,
    },
    Metadata(PartitionState),
}

#[derive(Debug, Clone)]
enum FetchAnswer {
    /// Records from the fetch offset, each (epoch, record id), and the high watermark.
    Records {
        offset: i64,
        records: Vec<(i32, u64)>,
        high_watermark: i64,
    },
    Diverging(i32, i64),
    /// Not the leader at that epoch (FENCED/UNKNOWN_LEADER_EPOCH, NOT_LEADER).
    Refused,
}

#[derive(Debug)]
struct Envelope {
    from: i32,
    to: i32,
    msg: Msg,
}

enum Role {
    Leader {
        lead: Leadership,
        waiting: Vec<(i64, u64)>,
    },
    Follower {
        leader: i32,
        leader_epoch: i32,
        in_flight: Option<(u64, i64)>,
    },
    Idle,
}

struct Broker {
    id: i32,
    alive: bool,
    /// Offset i holds (epoch, record id).
    log: Vec<(i32, u64)>,
    epochs: EpochCache,
    high_watermark: i64,
    role: Role,
    /// The newest partition state this broker has seen.
    known: Option<PartitionState>,
}

impl Broker {
    fn end(&self) -> i64 {
        self.log.len() as i64
    }

    fn truncate(&mut self, offset: i64) {
        let offset = offset.clamp(0, self.end());
        self.log.truncate(offset as usize);
        self.epochs.truncate_from_end(offset);
        self.high_watermark = self.high_watermark.min(offset);
    }

    fn append(&mut self, epoch: i32, record: u64) {
        self.epochs.assign(epoch, self.end());
        self.log.push((epoch, record));
    }
}

struct Sim {
    seed: u64,
    rng: fastrand::Rng,
    now_ms: i64,
    brokers: Vec<Broker>,
    /// The controller's metadata, changed only by the records its rules return.
    image: MetadataImage,
    min_insync: usize,
    in_flight: Vec<Envelope>,
    cut: BTreeSet<(i32, i32)>,
    /// Every offset ever below a leader's high watermark, with its record.
    committed: BTreeMap<i64, u64>,
    /// Acknowledged records and their offsets.
    acked: BTreeMap<u64, i64>,
    next_record: u64,
    next_fetch: u64,
    elections: usize,
    restarts: u32,
    /// `SHOAL_SIM_TRACE` set: every decision is printed, to follow a failing seed.
    trace: bool,
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut rng = fastrand::Rng::with_seed(seed);
        let min_insync = rng.usize(1..=2);
        let brokers = BROKERS
            .iter()
            .map(|&id| Broker {
                id,
                alive: true,
                log: Vec::new(),
                epochs: EpochCache::default(),
                high_watermark: 0,
                role: Role::Idle,
                known: None,
            })
            .collect();
        let mut sim = Sim {
            seed,
            rng,
            now_ms: 0,
            brokers,
            image: MetadataImage::default(),
            min_insync,
            in_flight: Vec::new(),
            cut: BTreeSet::new(),
            committed: BTreeMap::new(),
            acked: BTreeMap::new(),
            next_record: 0,
            next_fetch: 0,
            elections: 0,
            restarts: 0,
            trace: std::env::var_os("SHOAL_SIM_TRACE").is_some(),
        };
        let mut records = Vec::new();
        for id in BROKERS {
            let incarnation = Uuid::from_u128(id as u128);
            let (host, port, shards) = ("sim".to_string(), 9092, 1);
            records.push(MetadataRecord::RegisterBroker {
                broker: id,
                incarnation,
                host,
                port,
                shards,
                replication_ports: Vec::new(),
                quorum_port: None,
                listeners: Vec::new(),
                rack: None,
            });
        }
        sim.commit(records);
        for id in BROKERS {
            sim.commit(rules::unfence(&sim.image, id));
        }
        let replicas = BROKERS
            .iter()
            .map(|&broker| Replica { broker, shard: 0 })
            .collect();
        sim.commit(vec![
            MetadataRecord::Topic {
                name: "sim".into(),
                id: TOPIC,
                configs: Default::default(),
            },
            MetadataRecord::Partition {
                topic: TOPIC,
                partition: 0,
                replicas,
                isr: BROKERS.to_vec(),
                leader: 1,
            },
        ]);
        sim
    }

    /// What the metadata says of the partition, as brokers are told it.
    fn state(&self) -> PartitionState {
        let p = self
            .image
            .partition(TOPIC, 0)
            .expect("the partition exists");
        PartitionState {
            leader: (p.leader != NO_LEADER).then_some(p.leader),
            leader_epoch: p.leader_epoch,
            isr: p.isr.clone(),
            partition_epoch: p.partition_epoch,
        }
    }

    /// Commits records as the quorum would, and tells every broker the partition's new
    /// state when it changed. A new leader must hold every committed record.
    fn commit(&mut self, records: Vec<MetadataRecord>) {
        if records.is_empty() {
            return;
        }
        let before = self.image.partition(TOPIC, 0).map(|p| p.leader_epoch);
        for record in &records {
            let offset = self.image.offset + 1;
            if let Err(e) = self.image.apply(offset, record) {
                self.fail(format!("the controller's own record does not apply: {e}"));
            }
        }
        self.trace(|| format!("controller commits {records:?}"));
        let Some(p) = self.image.partition(TOPIC, 0) else {
            return;
        };
        if before.is_some_and(|epoch| epoch != p.leader_epoch) {
            self.elections += 1;
            if p.leader != NO_LEADER {
                self.check_leader_log(p.leader);
            }
        }
        self.publish();
    }

    fn trace(&self, what: impl FnOnce() -> String) {
        if self.trace {
            eprintln!("t={} {}", self.now_ms, what());
        }
    }

    fn fail(&self, what: String) -> ! {
        panic!("replication simulation, seed {}: {what}", self.seed)
    }

    fn broker(&mut self, id: i32) -> &mut Broker {
        &mut self.brokers[id as usize - 1]
    }

    fn send(&mut self, from: i32, to: i32, msg: Msg) {
        self.in_flight.push(Envelope { from, to, msg });
    }

    /// The controller's new partition state goes to every broker, in order.
    fn publish(&mut self) {
        let state = self.state();
        for id in BROKERS {
            self.send(CONTROLLER, id, Msg::Metadata(state.clone()));
        }
    }

    /// A broker the controller cannot hear is fenced (`rules::fence`).
    fn fence(&mut self, id: i32) {
        self.commit(rules::fence(&self.image, id, false));
    }

    fn unfence(&mut self, id: i32) {
        self.commit(rules::unfence(&self.image, id));
    }

    /// The controller's AlterPartition (`rules::alter_partition`).
    fn alter(&mut self, from: i32, change: AlterIsr) {
        let (answer, record) = rules::alter_partition(&self.image, from, TOPIC, 0, &change);
        self.trace(|| format!("controller: {change:?} from {from}: {answer:?}"));
        self.commit(record.into_iter().collect());
        self.send(
            CONTROLLER,
            from,
            Msg::AlterAnswer {
                leader_epoch: change.leader_epoch,
                partition_epoch: change.partition_epoch,
                answer,
            },
        );
    }

    /// A broker takes the controller's word: it leads, follows, or waits.
    fn on_metadata(&mut self, id: i32, state: PartitionState) {
        let now = self.now_ms;
        let b = self.broker(id);
        if b.known
            .as_ref()
            .is_some_and(|k| k.partition_epoch >= state.partition_epoch)
        {
            return;
        }
        let new_epoch = b
            .known
            .as_ref()
            .is_none_or(|k| k.leader_epoch != state.leader_epoch);
        b.known = Some(state.clone());
        let end = b.end();
        self.trace(|| format!("broker {id} (log end {end}) takes {state:?}"));
        let b = self.broker(id);
        match (state.leader, &mut b.role) {
            (Some(l), Role::Leader { lead, .. }) if l == id && !new_epoch => {
                // Same leadership, a committed ISR change.
                let end = b.log.len() as i64;
                let replicas = lead.replicas.clone();
                if lead.on_partition_change(replicas, state.isr, state.partition_epoch, end, now) {
                    self.on_high_watermark(id);
                }
            }
            (Some(l), _) if l == id => {
                // Kafka's makeLeader: the new epoch starts at the log end.
                let end = b.end();
                b.epochs.assign(state.leader_epoch, end);
                let lead = Leadership::new(
                    id,
                    state.leader_epoch,
                    end,
                    b.high_watermark,
                    BROKERS.to_vec(),
                    state.isr.clone(),
                    state.partition_epoch,
                    LAG_MAX_MS,
                    self.min_insync,
                    now,
                );
                let b = self.broker(id);
                b.role = Role::Leader {
                    lead,
                    waiting: Vec::new(),
                };
            }
            (Some(l), _) => {
                b.role = Role::Follower {
                    leader: l,
                    leader_epoch: state.leader_epoch,
                    in_flight: None,
                };
            }
            (None, _) => b.role = Role::Idle,
        }
    }

    /// A leader the controller picks must hold every record any earlier leader had
    /// committed. (A broker may still act on an older leadership until the metadata
    /// reaches it; it commits nothing, since its followers follow the new leader.)
    fn check_leader_log(&self, id: i32) {
        let b = &self.brokers[id as usize - 1];
        for (&offset, &record) in &self.committed {
            if b.log.get(offset as usize).map(|e| e.1) != Some(record) {
                self.fail(format!(
                    "broker {id} leads without committed record {record} at {offset} (its log ends at {})",
                    b.end()
                ));
            }
        }
    }

    /// The leader's high watermark moved: what is below it is committed for good, and
    /// the acks=all appends it reached are answered.
    fn on_high_watermark(&mut self, id: i32) {
        let b = &self.brokers[id as usize - 1];
        let Role::Leader { lead, .. } = &b.role else {
            return;
        };
        let hw = lead.high_watermark();
        let below: Vec<(i64, u64)> = (0..hw).map(|o| (o, b.log[o as usize].1)).collect();
        for (offset, record) in below {
            match self.committed.insert(offset, record) {
                Some(old) if old != record => self.fail(format!(
                    "offset {offset} was committed as {old} and is now {record} at broker {id}"
                )),
                _ => {}
            }
        }
        self.trace(|| format!("leader {id} high watermark {hw}"));
        let b = self.broker(id);
        b.high_watermark = hw;
        let Role::Leader { lead, waiting } = &mut b.role else {
            return;
        };
        let mut acked = Vec::new();
        waiting.retain(|&(end, record)| match lead.acks_all_done(end) {
            None => true,
            Some(Ok(())) => {
                acked.push((record, end - 1));
                false
            }
            Some(Err(_)) => false,
        });
        self.acked.extend(acked);
    }

    fn produce(&mut self) {
        let Some(id) = self.state().leader else {
            return;
        };
        let record = self.next_record;
        self.next_record += 1;
        let now = self.now_ms;
        let b = self.broker(id);
        if !b.alive {
            return;
        }
        let Role::Leader { lead, .. } = &b.role else {
            return;
        };
        if lead.check_acks_all().is_err() {
            return;
        }
        let epoch = lead.leader_epoch;
        b.append(epoch, record);
        let end = b.end();
        let Role::Leader { lead, waiting } = &mut b.role else {
            return;
        };
        waiting.push((end, record));
        if lead.on_leader_append(end, now) {
            self.on_high_watermark(id);
        }
    }

    /// A follower with no fetch outstanding sends one; a leader checks its ISR.
    fn tick(&mut self, id: i32) {
        let now = self.now_ms;
        let next_fetch = self.next_fetch;
        let b = self.broker(id);
        if !b.alive {
            return;
        }
        let end = b.end();
        let last_epoch = b.log.last().map_or(-1, |e| e.0);
        match &mut b.role {
            Role::Follower {
                leader,
                leader_epoch,
                in_flight,
            } => {
                // A fetch unanswered for a while is given up, as a request times out.
                if in_flight.is_some_and(|(_, sent)| now - sent < 10 * TICK_MS) {
                    return;
                }
                *in_flight = Some((next_fetch, now));
                let (to, epoch) = (*leader, *leader_epoch);
                self.next_fetch += 1;
                let fetch = Msg::Fetch {
                    id: next_fetch,
                    leader_epoch: epoch,
                    offset: end,
                    last_epoch,
                };
                self.send(id, to, fetch);
            }
            Role::Leader { lead, .. } => {
                if let Some(change) = lead.check_lag(end, now).or_else(|| lead.resend(now)) {
                    self.send(id, CONTROLLER, Msg::Alter(change));
                }
            }
            Role::Idle => {}
        }
    }

    fn on_fetch(
        &mut self,
        leader: i32,
        from: i32,
        id: u64,
        leader_epoch: i32,
        offset: i64,
        last_epoch: i32,
    ) {
        let now = self.now_ms;
        let b = self.broker(leader);
        let answer = match &mut b.role {
            Role::Leader { lead, .. } if lead.leader_epoch == leader_epoch => {
                let end = b.log.len() as i64;
                if let Some((epoch, at)) = diverging_epoch(&b.epochs, end, offset, last_epoch) {
                    // A diverging follower's position says nothing of what it holds.
                    FetchAnswer::Diverging(epoch, at)
                } else if offset > end {
                    FetchAnswer::Diverging(-1, end)
                } else {
                    let (moved, expand) = lead.on_follower_fetch(from, offset, end, now);
                    let records: Vec<(i32, u64)> = b.log[offset as usize..]
                        .iter()
                        .take(FETCH_MAX)
                        .copied()
                        .collect();
                    let high_watermark = lead.high_watermark();
                    if let Some(change) = expand {
                        self.send(leader, CONTROLLER, Msg::Alter(change));
                    }
                    if moved {
                        self.on_high_watermark(leader);
                    }
                    FetchAnswer::Records {
                        offset,
                        records,
                        high_watermark,
                    }
                }
            }
            _ => FetchAnswer::Refused,
        };
        self.send(leader, from, Msg::FetchAnswer { id, answer });
    }

    fn on_fetch_answer(&mut self, id: i32, fetch: u64, answer: FetchAnswer) {
        let b = self.broker(id);
        let Role::Follower { in_flight, .. } = &mut b.role else {
            return;
        };
        if in_flight.is_none_or(|(f, _)| f != fetch) {
            return;
        }
        *in_flight = None;
        match answer {
            FetchAnswer::Records {
                offset,
                records,
                high_watermark,
            } => {
                if offset != b.end() {
                    return;
                }
                for (epoch, record) in records {
                    b.append(epoch, record);
                }
                b.high_watermark = b.high_watermark.max(high_watermark.min(b.end()));
            }
            FetchAnswer::Diverging(epoch, end) => {
                let t = truncation(&b.epochs, b.end(), b.high_watermark, (epoch, end));
                let from = b.end();
                b.truncate(t.offset);
                self.trace(|| {
                    format!(
                        "broker {id} diverges at ({epoch}, {end}): truncated from {from} to {t:?}"
                    )
                });
            }
            FetchAnswer::Refused => {}
        }
    }

    fn on_alter_answer(&mut self, id: i32, leader_epoch: i32, asked_at: i32, answer: AlterAnswer) {
        let now = self.now_ms;
        let b = self.broker(id);
        let end = b.end();
        let Role::Leader { lead, .. } = &mut b.role else {
            return;
        };
        if lead.leader_epoch != leader_epoch {
            return;
        }
        if lead.on_alter_answer(asked_at, answer, end, now) {
            self.on_high_watermark(id);
        }
    }

    fn deliver(&mut self, pick: usize) {
        let Envelope { from, to, msg } = self.in_flight.remove(pick);
        if self.cut.contains(&(from, to)) {
            // The metadata log is replicated, not sent: a cut only delays it.
            if let Msg::Metadata(_) = msg {
                self.in_flight.push(Envelope { from, to, msg });
            }
            return;
        }
        if to == CONTROLLER {
            if let Msg::Alter(change) = msg {
                self.alter(from, change);
            }
            return;
        }
        if !self.brokers[to as usize - 1].alive {
            return;
        }
        match msg {
            Msg::Fetch {
                id,
                leader_epoch,
                offset,
                last_epoch,
            } => self.on_fetch(to, from, id, leader_epoch, offset, last_epoch),
            Msg::FetchAnswer { id, answer } => self.on_fetch_answer(to, id, answer),
            Msg::AlterAnswer {
                leader_epoch,
                partition_epoch,
                answer,
            } => self.on_alter_answer(to, leader_epoch, partition_epoch, answer),
            Msg::Metadata(state) => self.on_metadata(to, state),
            Msg::Alter(_) => {}
        }
    }

    fn crash(&mut self, id: i32) {
        self.trace(|| format!("broker {id} crashes"));
        // Its connections die with it: what was on the way to it is lost.
        self.in_flight.retain(|e| e.to != id);
        let b = self.broker(id);
        b.alive = false;
        b.role = Role::Idle;
        b.known = None;
    }

    fn restart(&mut self, id: i32) {
        self.trace(|| format!("broker {id} restarts"));
        self.broker(id).alive = true;
        // The broker registers as a new incarnation, fenced. If the controller had not
        // fenced the last one, it handles its unclean shutdown as Kafka does: the old
        // incarnation's leaderships move and it leaves the ISRs (`rules::leave`), so a
        // new leader epoch fences what the broker believed before it crashed.
        self.restarts += 1;
        let incarnation = Uuid::from_u128(((id as u128) << 32) | self.restarts as u128);
        self.commit(vec![MetadataRecord::RegisterBroker {
            broker: id,
            incarnation,
            host: "sim".to_string(),
            port: 9092,
            shards: 1,
            replication_ports: Vec::new(),
            quorum_port: None,
            listeners: Vec::new(),
            rack: None,
        }]);
        self.commit(rules::leave(&self.image, id, false));
        // Then the controller sends it the state as it is, and unfences it.
        self.send(CONTROLLER, id, Msg::Metadata(self.state()));
        self.unfence(id);
    }

    fn step_randomly(&mut self) {
        let id = BROKERS[self.rng.usize(0..BROKERS.len())];
        match self.rng.u32(0..100) {
            0..=39 if !self.in_flight.is_empty() => {
                // Mostly in order, as a connection delivers; sometimes another first.
                let pick = if self.rng.u32(0..4) == 0 {
                    self.rng.usize(0..self.in_flight.len())
                } else {
                    0
                };
                let metadata = matches!(self.in_flight[pick].msg, Msg::Metadata(_));
                if self.rng.u32(0..50) == 0 && !metadata {
                    self.in_flight.remove(pick);
                } else {
                    self.deliver(pick);
                }
            }
            0..=69 => {
                self.now_ms += TICK_MS / 2;
                self.tick(id);
            }
            70..=84 => self.produce(),
            85 if self.brokers[id as usize - 1].alive => self.crash(id),
            86..=87 => {
                let down: Vec<i32> = BROKERS
                    .iter()
                    .copied()
                    .filter(|&b| !self.brokers[b as usize - 1].alive)
                    .collect();
                if let Some(&b) = down.first() {
                    self.restart(b);
                }
            }
            // The controller notices who is dead or unreachable.
            88..=90 => {
                for b in BROKERS {
                    if !self.brokers[b as usize - 1].alive || self.cut.contains(&(b, CONTROLLER)) {
                        self.fence(b);
                    }
                }
            }
            91..=92 => {
                let other = [CONTROLLER, 1, 2, 3][self.rng.usize(0..4)];
                if other != id {
                    self.cut.insert((id, other));
                    self.cut.insert((other, id));
                }
            }
            93..=96 => {
                if let Some(&link) = self
                    .cut
                    .iter()
                    .nth(self.rng.usize(0..self.cut.len().max(1)))
                {
                    self.cut.remove(&link);
                    self.cut.remove(&(link.1, link.0));
                }
            }
            _ => {}
        }
    }

    /// Heals everything and runs until every replica is in the ISR with the leader's
    /// log and a new record is acknowledged.
    fn heal_and_converge(&mut self) {
        self.cut.clear();
        for id in BROKERS {
            if !self.brokers[id as usize - 1].alive {
                self.restart(id);
            }
        }
        for id in BROKERS {
            self.unfence(id);
        }
        let before = self.acked.len();
        for round in 0..20_000 {
            while !self.in_flight.is_empty() {
                self.deliver(0);
            }
            let leader = self.state().leader;
            let same_logs = self.brokers.iter().all(|b| b.log == self.brokers[0].log);
            if self.state().isr.len() == BROKERS.len()
                && same_logs
                && self.acked.len() > before
                && leader.is_some()
            {
                return;
            }
            if round % 10 == 0 {
                self.produce();
            }
            self.now_ms += TICK_MS;
            for id in BROKERS {
                self.tick(id);
            }
        }
        self.fail(format!(
            "no convergence after healing: state {:?}, log ends {:?}",
            self.state(),
            self.brokers.iter().map(Broker::end).collect::<Vec<_>>()
        ));
    }

    fn check_acked(&self) {
        for (&record, &offset) in &self.acked {
            for b in &self.brokers {
                if b.log.get(offset as usize).map(|e| e.1) != Some(record) {
                    self.fail(format!(
                        "acknowledged record {record} at {offset} is not in broker {}'s log",
                        b.id
                    ));
                }
            }
        }
    }
}

fn run(seed: u64, steps: usize) {
    let mut sim = Sim::new(seed);
    for _ in 0..steps {
        sim.step_randomly();
    }
    let during_faults = sim.acked.len();
    sim.heal_and_converge();
    sim.check_acked();
    if crate::sim::replaying() {
        eprintln!(
            "seed {seed}: min.insync.replicas {}; {during_faults} records acknowledged during the faults \
             ({} produced), {} in all; {} elections; final log end {}",
            sim.min_insync,
            sim.next_record,
            sim.acked.len(),
            sim.elections,
            sim.brokers[0].end()
        );
    }
}

#[test]
fn no_acknowledged_record_is_lost_and_replicas_converge_after_faults() {
    crate::sim::for_each_seed("replication", 100, |seed| run(seed, 5000));
}
