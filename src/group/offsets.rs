//! Committed offsets: OffsetCommit, OffsetFetch, OffsetDelete and DeleteGroups on the
//! shard that coordinates the group, and the replay of `__consumer_offsets` at start-up.
//! Every change is appended to the group's offsets partition through the shard's
//! writer and fdatasynced before the in-memory map changes and the client is answered.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::records::Compression;

use super::classic::State;
use super::coordinator::{Coordinator, Group};
use super::records::{self, Committed, Entry};
use super::{CommitKind, OFFSETS_TOPIC, OFFSET_METADATA_BYTES_MAX};
use crate::client::records::{encode_batch_as, NewRecord, ProducerFields};
use crate::error::ApiError;
use crate::partition::{Acks, Origin, Partition};
use crate::shard::{now_ms, on_owning_shards, Shard};
use crate::storage::{batch, StorageError};

/// Per topic, per partition: the committed offset, if any.
pub type TopicOffsets = Vec<(String, Vec<(i32, Option<Committed>)>)>;

/// A member asking to commit: `generation` -1 and no member id for admin commits.
#[derive(Debug, Clone)]
pub struct Committer {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub generation: i32,
    pub kind: CommitKind,
}

impl Committer {
    /// The answer to a generation of a group that does not exist: GROUP_ID_NOT_FOUND
    /// from OffsetCommit v9 on, ILLEGAL_GENERATION before (and for TxnOffsetCommit).
    fn no_such_group(&self) -> ResponseError {
        if self.kind.modern() {
            ResponseError::GroupIdNotFound
        } else {
            ResponseError::IllegalGeneration
        }
    }
}

/// A committed offset's place: (topic, partition).
type OffsetKey = (String, i32);

/// A group's committed offset on one partition, for the lag metrics.
#[derive(Debug, Clone)]
pub struct Position {
    pub group: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub unconsumed: Unconsumed,
}

/// What a group has left to read on a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unconsumed {
    /// The committed offset is at (or past) the log end.
    Nothing,
    /// Records from this timestamp on (the first timestamp of the batch holding the
    /// committed offset).
    Since(i64),
    /// The log could not be read.
    Unknown,
}

/// The positions of the groups `shard` coordinates on partitions that exist, each with
/// what is left to read, learnt from the shard that owns the partition.
pub async fn positions_with_age(shard: &Rc<Shard>) -> Vec<Position> {
    let snapshot = shard.snapshot();
    let mut positions = shard.groups.positions();
    positions.retain(|p| snapshot.has_partition(&p.topic, p.partition));
    let asked: Vec<(String, i32, i64)> = positions
        .iter()
        .map(|p| (p.topic.clone(), p.partition, p.offset))
        .collect();
    // Cross-shard: a partition's log is read by the shard that owns it.
    let found = on_owning_shards(
        shard,
        asked,
        |(topic, partition, _)| (topic.as_str(), *partition),
        |s, (topic, partition, offset)| async move {
            let Some(owned) = s.partition(&topic, partition) else {
                return Unconsumed::Unknown;
            };
            match owned.timestamp_at(offset).await {
                Ok(Some(timestamp)) => Unconsumed::Since(timestamp),
                Ok(None) => Unconsumed::Nothing,
                Err(_) => Unconsumed::Unknown,
            }
        },
        |_| Unconsumed::Unknown,
    )
    .await;
    for (position, unconsumed) in positions.iter_mut().zip(found) {
        position.unconsumed = unconsumed;
    }
    positions
}

/// One offset to commit.
#[derive(Debug, Clone)]
pub struct NewOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
}

/// A commit in a transaction (TxnOffsetCommit): the producer's id and epoch, and the
/// guard of the verification of the group's offsets partition in its transaction
/// (KIP-890; `None` with verification turned off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InTxn {
    pub producer_id: i64,
    pub epoch: i16,
    pub verified: Option<crate::partition::TxnGuard>,
}

impl Coordinator {
    /// OffsetCommit, and TxnOffsetCommit `in_txn`: the error per offset (in order), or
    /// `None` for committed (pending, in a transaction).
    pub async fn commit(
        &self,
        shard: &Shard,
        group_id: &str,
        partition: i32,
        committer: &Committer,
        offsets: Vec<NewOffset>,
        in_txn: Option<InTxn>,
    ) -> Vec<Option<ResponseError>> {
        let now = now_ms();
        if let Err(error) = self.check_committer(group_id, committer, now) {
            return vec![Some(error); offsets.len()];
        }
        let (results, accepted) = accept(shard, offsets, now);
        if accepted.is_empty() {
            return results;
        }
        self.write_offsets(shard, group_id, partition, accepted, results, in_txn)
            .await
    }

    /// OffsetFetch v9's member check, for a KIP-848 group (others take any fetch).
    pub fn check_fetcher(
        &self,
        group_id: &str,
        member_id: Option<&str>,
        epoch: i32,
    ) -> Result<(), ResponseError> {
        let groups = self.groups.borrow();
        match groups.get(group_id).filter(|g| g.group_type == "consumer") {
            Some(g) => g.consumer.check_fetch(member_id, epoch),
            None => Ok(()),
        }
    }

    /// Whether `committer` may commit the group's offsets. Without group management
    /// (generation -1, whatever member id comes with it: librdkafka's consumer sends its
    /// own after assign()) a commit creates the group; anything else names a generation
    /// that never was.
    fn check_committer(
        &self,
        group_id: &str,
        committer: &Committer,
        now: i64,
    ) -> Result<(), ResponseError> {
        let checked = self.with_existing(group_id, |g| {
            if !g.consumer.is_empty() {
                return g.consumer.check_commit(
                    &committer.member_id,
                    committer.instance_id.as_deref(),
                    committer.generation,
                    committer.kind,
                );
            }
            g.classic.check_commit(
                &committer.member_id,
                committer.instance_id.as_deref(),
                committer.generation,
                committer.kind,
                now,
            )
        });
        match checked {
            Some(result) => result,
            None if committer.generation < 0 => Ok(()),
            None => Err(committer.no_such_group()),
        }
    }

    /// Writes `accepted` offsets to the group's partition (in `producer`'s transaction,
    /// if given: they wait for its marker) and applies them; `results` get the write's
    /// error if it fails.
    async fn write_offsets(
        &self,
        shard: &Shard,
        group_id: &str,
        partition: i32,
        accepted: Vec<(String, i32, Committed)>,
        mut results: Vec<Option<ResponseError>>,
        in_txn: Option<InTxn>,
    ) -> Vec<Option<ResponseError>> {
        let entries = accepted
            .iter()
            .map(|(topic, p, c)| {
                (
                    records::offset_key(group_id, topic, *p),
                    Some(records::offset_value(c)),
                )
            })
            .collect();
        let base_offset = match append_as(shard, partition, entries, in_txn).await {
            Ok(base_offset) => base_offset,
            Err(error) => {
                for result in results.iter_mut().filter(|r| r.is_none()) {
                    *result = Some(error.code);
                }
                return results;
            }
        };
        self.with_group(group_id, partition, |g| {
            let target = match in_txn {
                Some(txn) => g.pending.entry(txn.producer_id).or_default(),
                None => &mut g.offsets,
            };
            for (record_offset, (topic, p, committed)) in (base_offset..).zip(accepted) {
                let committed = Committed {
                    record_offset,
                    ..committed
                };
                target.insert((topic, p), committed);
            }
        });
        results
    }
}

/// An offset a commit stores: topic, partition, what is committed.
type Accepted = (String, i32, Committed);

/// The offsets a commit may store (known partitions, metadata within bounds), with the
/// error of each one it may not, in order.
fn accept(
    shard: &Shard,
    offsets: Vec<NewOffset>,
    now: i64,
) -> (Vec<Option<ResponseError>>, Vec<Accepted>) {
    {
        let snapshot = shard.snapshot();
        let results: Vec<Option<ResponseError>> = offsets
            .iter()
            .map(|o| {
                if !snapshot.has_partition(&o.topic, o.partition) {
                    Some(ResponseError::UnknownTopicOrPartition)
                } else if o.metadata.encode_utf16().count() > OFFSET_METADATA_BYTES_MAX {
                    Some(ResponseError::OffsetMetadataTooLarge)
                } else {
                    None
                }
            })
            .collect();
        let accepted: Vec<(String, i32, Committed)> = offsets
            .into_iter()
            .zip(&results)
            .filter(|(_, error)| error.is_none())
            .map(|(o, _)| {
                let committed = Committed {
                    offset: o.offset,
                    leader_epoch: o.leader_epoch,
                    metadata: o.metadata,
                    commit_timestamp_ms: now,
                    record_offset: -1,
                };
                (o.topic, o.partition, committed)
            })
            .collect();
        (results, accepted)
    }
}

impl Coordinator {
    /// OffsetFetch: the committed offsets of `topics` (all of them for `None`).
    pub fn fetch(&self, group_id: &str, topics: Option<Vec<(String, Vec<i32>)>>) -> TopicOffsets {
        let groups = self.groups.borrow();
        let offsets = groups.get(group_id).map(|g| &g.offsets);
        match topics {
            Some(topics) => topics
                .into_iter()
                .map(|(topic, partitions)| {
                    let found = partitions
                        .into_iter()
                        .map(|p| {
                            let committed =
                                offsets.and_then(|o| o.get(&(topic.clone(), p)).cloned());
                            (p, committed)
                        })
                        .collect();
                    (topic, found)
                })
                .collect(),
            None => {
                let mut by_topic: TopicOffsets = Vec::new();
                for ((topic, p), committed) in offsets.into_iter().flatten() {
                    match by_topic.last_mut() {
                        Some((last, partitions)) if last == topic => {
                            partitions.push((*p, Some(committed.clone())))
                        }
                        _ => by_topic.push((topic.clone(), vec![(*p, Some(committed.clone()))])),
                    }
                }
                by_topic
            }
        }
    }

    /// Every committed offset of the groups here.
    pub fn positions(&self) -> Vec<Position> {
        let groups = self.groups.borrow();
        groups
            .iter()
            .flat_map(|(id, g)| {
                g.offsets.iter().map(move |((topic, p), c)| Position {
                    group: id.clone(),
                    topic: topic.clone(),
                    partition: *p,
                    offset: c.offset,
                    unconsumed: Unconsumed::Unknown,
                })
            })
            .collect()
    }

    /// Removes committed offsets past `offsets.retention.minutes` by Kafka's rules (see
    /// `expiry`; tombstones first), and the metadata of groups left with neither members
    /// nor offsets, as Kafka's cleanup does. Returns how many offsets went.
    pub async fn expire_offsets(&self, shard: &Shard, now_ms: i64) -> usize {
        let retention_ms = shard
            .snapshot()
            .broker
            .offsets_retention_minutes
            .saturating_mul(60_000);
        // (group, its offsets partition, the expired offsets' keys)
        let doomed: Vec<(String, i32, Vec<OffsetKey>)> = self
            .groups
            .borrow()
            .iter()
            .filter_map(|(id, g)| {
                let keys = expired(&g.offsets, &expiry(g), now_ms, retention_ms);
                // A group with neither members nor offsets goes too (its metadata).
                let due = !keys.is_empty() || (g.offsets.is_empty() && g.has_no_members());
                due.then(|| (id.clone(), g.partition, keys))
            })
            .collect();
        let mut count = 0;
        for (group_id, partition, keys) in doomed {
            let last = self
                .with_existing(&group_id, |g| {
                    g.has_no_members() && g.offsets.len() == keys.len()
                })
                .unwrap_or(true);
            let mut tombstones = tombstones(&group_id, &keys);
            if last {
                tombstones.extend(records::group_tombstones(&group_id));
            }
            if let Err(error) = append(shard, partition, tombstones).await {
                tracing::warn!(group = %group_id, error = ?error, "expiring offsets failed");
                continue;
            }
            count += keys.len();
            self.with_existing(&group_id, |g| {
                for key in &keys {
                    g.forget_offset(key);
                }
                if last {
                    g.stored_protocol_type = None;
                    g.stored_consumer = false;
                }
            });
            self.forget_if_unused(&group_id);
        }
        count
    }

    /// Runs `expire_offsets` every `offsets.retention.check.interval.ms` (one task per
    /// shard).
    pub async fn run_expiry(shard: Rc<Shard>) {
        loop {
            let interval = shard.snapshot().broker.offsets_retention_check_interval_ms;
            if shard.pause_ms(interval).await.is_none() {
                return;
            }
            let expired = shard.groups.expire_offsets(&shard, now_ms()).await;
            if expired > 0 {
                tracing::info!(expired, "committed offsets expired");
            }
        }
    }

    /// DeleteGroups for one group: only an empty group goes, with its offsets.
    pub async fn delete(&self, shard: &Shard, group_id: &str) -> Result<(), ApiError> {
        let (partition, keys) = {
            let groups = self.groups.borrow();
            let group = groups
                .get(group_id)
                .ok_or(ApiError::code(ResponseError::GroupIdNotFound))?;
            if !group.has_no_joined_members() {
                return Err(ApiError::code(ResponseError::NonEmptyGroup));
            }
            // The offsets of open transactions go too, as Kafka deletes them: their
            // tombstones keep a later commit marker from bringing them back on replay.
            let keys: BTreeSet<(String, i32)> = group
                .offsets
                .keys()
                .chain(group.pending.values().flat_map(BTreeMap::keys))
                .cloned()
                .collect();
            (group.partition, keys.into_iter().collect::<Vec<_>>())
        };
        let mut tombstones = tombstones(group_id, &keys);
        tombstones.extend(records::group_tombstones(group_id));
        append(shard, partition, tombstones).await?;
        let mut groups = self.groups.borrow_mut();
        if groups
            .get(group_id)
            .is_some_and(Group::has_no_joined_members)
        {
            groups.remove(group_id);
        }
        Ok(())
    }

    /// OffsetDelete: removes offsets of topics the group does not consume from.
    pub async fn delete_offsets(
        &self,
        shard: &Shard,
        group_id: &str,
        topics: Vec<(String, Vec<i32>)>,
    ) -> Result<Vec<(String, Vec<(i32, Option<ResponseError>)>)>, ApiError> {
        let snapshot = shard.snapshot();
        let (partition, results, doomed) = {
            let groups = self.groups.borrow();
            let group = groups
                .get(group_id)
                .ok_or(ApiError::code(ResponseError::GroupIdNotFound))?;
            let consumer =
                group.classic.protocol_type() == Some("consumer") || !group.consumer.is_empty();
            if !group.has_no_members() && !consumer {
                return Err(ApiError::code(ResponseError::NonEmptyGroup));
            }
            let subscribed = group.subscribed_topics();
            let mut doomed = Vec::new();
            let results = topics
                .into_iter()
                .map(|(topic, partitions)| {
                    let results = partitions
                        .into_iter()
                        .map(|p| {
                            let error = if subscribed.contains(&topic) {
                                Some(ResponseError::GroupSubscribedToTopic)
                            } else if !snapshot.has_partition(&topic, p) {
                                Some(ResponseError::UnknownTopicOrPartition)
                            } else {
                                if group.offsets.contains_key(&(topic.clone(), p)) {
                                    doomed.push((topic.clone(), p));
                                }
                                None
                            };
                            (p, error)
                        })
                        .collect();
                    (topic, results)
                })
                .collect();
            (group.partition, results, doomed)
        };
        append(shard, partition, tombstones(group_id, &doomed)).await?;
        self.with_existing(group_id, |g| {
            for key in &doomed {
                g.forget_offset(key);
            }
        });
        Ok(results)
    }

    /// Replays the offsets topic's partitions this shard leads (start-up; in a cluster,
    /// a partition whose leadership comes here later is loaded then).
    pub async fn load(&self, shard: &Shard) -> Result<usize, StorageError> {
        let mut loaded = 0;
        for partition in shard.led_partitions() {
            if partition.topic == OFFSETS_TOPIC {
                loaded += self.load_partition(&partition).await?;
            }
        }
        Ok(loaded)
    }

    /// Replays one partition of the offsets topic: at start-up, and when one comes to
    /// this shard later (its leadership moved here, or a cluster of one's topics were
    /// carried into a quorum). Replaying a partition twice leaves the same groups.
    pub async fn load_partition(&self, partition: &Partition) -> Result<usize, StorageError> {
        let index = partition.index;
        let loaded = partition.replay(|raw| self.replay(index, raw)).await?;
        // A group record without offsets or members is nothing to keep. The others come
        // back without members: emptied now, as far as offset retention is concerned.
        let now = now_ms();
        let mut groups = self.groups.borrow_mut();
        groups.retain(|_, g| g.partition != index || !g.is_forgotten());
        groups
            .values_mut()
            .filter(|g| g.partition == index)
            .for_each(|g| g.note_membership(now));
        Ok(loaded)
    }

    /// Applies one stored batch; returns how many records it held. A transaction's
    /// offsets wait for its marker, which commits or drops them.
    fn replay(&self, partition: i32, raw: &[u8]) -> usize {
        let Ok(header) = batch::BatchHeader::parse(raw) else {
            return 0;
        };
        let producer_id = header.producer_id.get();
        if header.is_control() {
            if let Some((commit, _)) = batch::marker_record(raw) {
                self.complete_txn(partition, producer_id, commit);
            }
            return 1;
        }
        let in_txn = header.is_transactional().then_some(producer_id);
        let set = match crate::storage::decode::decode(raw) {
            Ok(set) => set,
            Err(error) => {
                tracing::error!(partition, %error, "undecodable batch in the offsets topic");
                return 0;
            }
        };
        let count = set.records.len();
        for record in set.records {
            let key = record.key.unwrap_or_default();
            match records::decode(&key, record.value.as_deref()) {
                Some(Entry::Offset {
                    group,
                    topic,
                    partition: p,
                    committed,
                }) => {
                    let mut groups = self.groups.borrow_mut();
                    let entry = groups
                        .entry(group.clone())
                        .or_insert_with(|| Group::new(partition));
                    let committed = committed.map(|c| Committed {
                        record_offset: record.offset,
                        ..c
                    });
                    match (committed, in_txn) {
                        (Some(committed), Some(producer_id)) => {
                            let pending = entry.pending.entry(producer_id).or_default();
                            pending.insert((topic, p), committed);
                        }
                        (Some(committed), None) => {
                            entry.offsets.insert((topic, p), committed);
                        }
                        (None, _) => {
                            entry.forget_offset(&(topic, p));
                            if entry.is_forgotten() {
                                groups.remove(&group);
                            }
                        }
                    }
                }
                Some(Entry::Group {
                    group,
                    protocol_type,
                }) => {
                    let mut groups = self.groups.borrow_mut();
                    let entry = groups
                        .entry(group.clone())
                        .or_insert_with(|| Group::new(partition));
                    if let Some(protocol_type) = &protocol_type {
                        entry.classic.restore_protocol_type(protocol_type.clone());
                        entry.group_type = "classic";
                        entry.stored_consumer = false;
                    }
                    entry.stored_protocol_type = protocol_type;
                    if entry.is_forgotten() {
                        groups.remove(&group);
                    }
                }
                Some(Entry::ConsumerGroup { group, epoch }) => {
                    let mut groups = self.groups.borrow_mut();
                    let entry = groups
                        .entry(group.clone())
                        .or_insert_with(|| Group::new(partition));
                    entry.stored_consumer = epoch.is_some();
                    if epoch.is_some() {
                        entry.group_type = "consumer";
                        entry.stored_protocol_type = None;
                    } else if entry.group_type == "consumer" {
                        entry.group_type = "classic";
                    }
                    if entry.is_forgotten() {
                        groups.remove(&group);
                    }
                }
                None => tracing::warn!(partition, "unknown record in the offsets topic"),
            }
        }
        count
    }
}

/// Appends records (key, value or tombstone) to an offsets-topic partition this shard
/// owns, and returns once they are durable.
pub(super) async fn append(
    shard: &Shard,
    partition: i32,
    entries: Vec<(Bytes, Option<Bytes>)>,
) -> Result<(), ApiError> {
    append_as(shard, partition, entries, None).await.map(drop)
}

/// `append`, in a producer's transaction when given; returns the first record's offset.
async fn append_as(
    shard: &Shard,
    partition: i32,
    entries: Vec<(Bytes, Option<Bytes>)>,
    in_txn: Option<InTxn>,
) -> Result<i64, ApiError> {
    if entries.is_empty() {
        return Ok(-1);
    }
    let Some(partition) = shard.partition(OFFSETS_TOPIC, partition) else {
        return Err(ApiError::code(ResponseError::NotCoordinator));
    };
    let now = now_ms();
    let new: Vec<NewRecord> = entries
        .into_iter()
        .map(|(key, value)| NewRecord {
            key: Some(key),
            value,
            timestamp: now,
            headers: Vec::new(),
        })
        .collect();
    // A coordinator's batch in a transaction carries no sequence.
    let producer = in_txn.map(|txn| ProducerFields {
        id: txn.producer_id,
        epoch: txn.epoch,
        base_sequence: -1,
        transactional: true,
    });
    let bytes = encode_batch_as(&new, Compression::None, producer)
        .map_err(|e| ApiError::new(ResponseError::UnknownServerError, e.to_string()))?;
    let verified = in_txn.and_then(|txn| txn.verified);
    // Durable whatever the topic's flush settings: a commit is answered after fdatasync.
    let wait = crate::partition::REPLICATION_WAIT_MAX;
    let written =
        partition.append_verified(bytes, Acks::All, Origin::Coordinator, verified, now, wait)?;
    Ok(written.await?.base_offset)
}

/// Records deleting `group`'s committed offsets at `keys`.
fn tombstones(group: &str, keys: &[OffsetKey]) -> Vec<(Bytes, Option<Bytes>)> {
    keys.iter()
        .map(|(topic, p)| (records::offset_key(group, topic, *p), None))
        .collect()
}

/// When a group's committed offsets expire (Kafka's offset expiration conditions).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expiry {
    /// Never while the group is as it is (a classic group with members, rebalancing or
    /// not speaking the consumer protocol).
    Never,
    /// All of them, once the retention has passed since this time (a classic group
    /// that has been Empty since then).
    AllFrom(i64),
    /// Each one once the retention has passed since its commit, except on these topics,
    /// which members consume (standalone commits, KIP-848 groups, stable consumer groups).
    ByCommit { kept_topics: Vec<String> },
}

fn expiry(group: &Group) -> Expiry {
    if group.group_type == "consumer" {
        return Expiry::ByCommit {
            kept_topics: group.consumer.subscribed_topics(),
        };
    }
    let protocol_type = group
        .classic
        .protocol_type()
        .or(group.stored_protocol_type.as_deref());
    let Some(protocol_type) = protocol_type else {
        return Expiry::ByCommit {
            kept_topics: Vec::new(),
        };
    };
    match (group.has_no_members(), group.empty_since_ms) {
        (true, Some(since)) => Expiry::AllFrom(since),
        (true, None) => Expiry::ByCommit {
            kept_topics: Vec::new(),
        },
        (false, _) if protocol_type == "consumer" && group.classic.state() == State::Stable => {
            Expiry::ByCommit {
                kept_topics: group.subscribed_topics(),
            }
        }
        (false, _) => Expiry::Never,
    }
}

/// The offsets `expiry` lets go at `now_ms`.
fn expired(
    offsets: &BTreeMap<(String, i32), Committed>,
    expiry: &Expiry,
    now_ms: i64,
    retention_ms: i64,
) -> Vec<(String, i32)> {
    let past = |from: i64| now_ms.saturating_sub(from) >= retention_ms;
    offsets
        .iter()
        .filter(|((topic, _), c)| match expiry {
            Expiry::Never => false,
            Expiry::AllFrom(since) => past(*since),
            Expiry::ByCommit { kept_topics } => {
                !kept_topics.contains(topic) && past(c.commit_timestamp_ms)
            }
        })
        .map(|(key, _)| key.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(at: i64) -> Committed {
        Committed {
            offset: 1,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp_ms: at,
            record_offset: -1,
        }
    }

    fn offsets(commits: &[(&str, i32, i64)]) -> BTreeMap<(String, i32), Committed> {
        commits
            .iter()
            .map(|(topic, p, at)| ((topic.to_string(), *p), commit(*at)))
            .collect()
    }

    fn by_commit(kept: &[&str]) -> Expiry {
        Expiry::ByCommit {
            kept_topics: kept.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn standalone_offsets_expire_a_retention_after_their_commit() {
        let offsets = offsets(&[("t", 0, 1_000), ("t", 1, 5_000)]);
        let none = by_commit(&[]);
        assert_eq!(
            expired(&offsets, &none, 6_000, 5_000),
            vec![("t".to_string(), 0)]
        );
        assert_eq!(
            expired(&offsets, &none, 6_000, 5_001),
            Vec::<OffsetKey>::new()
        );
        assert_eq!(expired(&offsets, &none, 20_000, 0).len(), 2);
    }

    #[test]
    fn an_empty_groups_offsets_expire_a_retention_after_it_emptied_however_old() {
        // Committed long ago, but the group emptied only at 90_000.
        let offsets = offsets(&[("t", 0, 1_000), ("u", 0, 2_000)]);
        let emptied = Expiry::AllFrom(90_000);
        assert!(expired(&offsets, &emptied, 99_999, 10_000).is_empty());
        assert_eq!(expired(&offsets, &emptied, 100_000, 10_000).len(), 2);
    }

    #[test]
    fn consumed_topics_keep_their_offsets() {
        let offsets = offsets(&[("t", 0, 1_000), ("gone", 0, 1_000), ("gone", 1, 9_000)]);
        let stable = by_commit(&["t"]);
        assert_eq!(
            expired(&offsets, &stable, 10_000, 5_000),
            vec![("gone".to_string(), 0)]
        );
        assert!(expired(&offsets, &Expiry::Never, i64::MAX, 0).is_empty());
    }

    #[test]
    fn the_group_decides_which_rule_applies() {
        let mut group = Group::new(0);
        assert_eq!(
            expiry(&group),
            by_commit(&[]),
            "no protocol type: standalone"
        );
        group.classic.restore_protocol_type("consumer".to_string());
        assert_eq!(
            expiry(&group),
            by_commit(&[]),
            "empty since an unknown time"
        );
        group.note_membership(7_000);
        group.note_membership(8_000);
        assert_eq!(
            expiry(&group),
            Expiry::AllFrom(7_000),
            "empty since it emptied"
        );
        group.group_type = "consumer";
        assert_eq!(
            expiry(&group),
            by_commit(&[]),
            "a KIP-848 group with no members"
        );
    }
}
