//! Kafka's replication, decided without I/O: the leader's view of its followers, the
//! ISR and the high watermark (`isr`), and where a follower's log parts from its
//! leader's (`divergence`). The partition's owning shard feeds them fetches, appends
//! and the clock, and carries out what they decide. Replication throttles (`throttle`)
//! bound what replicas outside the ISR take; `read_replica` chooses the replica a
//! consumer reads from (KIP-392).

pub mod divergence;
pub mod fetcher;
pub mod isr;
pub mod leader;
pub mod peer;
pub mod read_replica;
pub mod throttle;

#[cfg(test)]
mod sim_tests;
