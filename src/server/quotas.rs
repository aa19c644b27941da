//! Connection quotas, as Kafka's: `max.connections` for the broker and
//! `max.connections.per.ip` (with `max.connections.per.ip.overrides`) per client
//! address; and shoal's limit on failed logins per address. The counts are the
//! broker's, not a shard's (SO_REUSEPORT spreads one client's connections over the
//! shards), so they sit behind locks taken only when a connection opens or closes, or
//! a login fails, never on a request.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{LazyLock, Mutex};

use crate::config::BrokerConfig;
use crate::quota::rate::Sampled;
use crate::quota::sensors::{now_ms, Windows};
use crate::quota::QuotaKind;

#[derive(Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

static OPEN: LazyLock<Mutex<Counts>> = LazyLock::new(Mutex::default);

/// Why a connection was not admitted.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The broker holds `max.connections`: wait for one to close (Kafka's acceptor
    /// blocks the same way).
    BrokerFull,
    /// Its address holds its limit: close it.
    AddressFull(usize),
}

/// One admitted connection; dropping it gives its place back.
#[derive(Debug)]
pub struct Slot {
    ip: IpAddr,
}

/// Admits a connection from `ip` under `config`'s limits.
pub fn admit(ip: IpAddr, config: &BrokerConfig) -> Result<Slot, Refused> {
    let mut open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
    let per_ip_max = config
        .max_connections_per_ip_overrides
        .iter()
        .find(|(_, address, _)| *address == ip)
        .map_or(config.max_connections_per_ip, |(_, _, count)| *count);
    let from_ip = open.per_ip.get(&ip).copied().unwrap_or(0);
    if from_ip >= per_ip_max.max(0) as usize {
        return Err(Refused::AddressFull(from_ip));
    }
    if open.total >= config.max_connections.max(0) as usize {
        return Err(Refused::BrokerFull);
    }
    open.total += 1;
    *open.per_ip.entry(ip).or_default() += 1;
    Ok(Slot { ip })
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
        open.total -= 1;
        if let Some(count) = open.per_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.per_ip.remove(&self.ip);
            }
        }
    }
}

/// Failed logins per client address (a SASL login refused, or a client certificate no
/// mapping rule takes), measured as client quotas are (Kafka's sampled rate over
/// `quota.window.*`). Only addresses that failed within the windows are kept.
static FAILED: LazyLock<Mutex<HashMap<IpAddr, Sampled>>> = LazyLock::new(Mutex::default);

/// Addresses followed at most: past it, a new one is followed once an old one's windows
/// are empty (an attacker with many addresses cannot grow the table).
const FAILED_ADDRESSES_MAX: usize = 100_000;

/// Counts a failed login from `ip`; true when it takes the address over
/// `max.failed.authentication.rate.per.ip`, from when its new connections are closed at
/// accept (`over_failed_logins`) until its rate falls back.
pub fn failed_login(ip: IpAddr, config: &BrokerConfig) -> bool {
    let limit = f64::from(config.max_failed_authentication_rate_per_ip);
    if limit <= 0.0 {
        return false;
    }
    let now = now_ms();
    let mut failed = FAILED.lock().unwrap_or_else(|e| e.into_inner());
    if !failed.contains_key(&ip) && failed.len() >= FAILED_ADDRESSES_MAX {
        failed.retain(|_, rate| rate.rate(now) > 0.0);
        if failed.len() >= FAILED_ADDRESSES_MAX {
            return false;
        }
    }
    let windows = Windows::of(config, QuotaKind::ConnectionCreation);
    let rate = failed
        .entry(ip)
        .or_insert_with(|| Sampled::new(windows.samples, windows.window_ms, now));
    let before = rate.rate(now);
    rate.record(1.0, now);
    before <= limit && rate.rate(now) > limit
}

/// Whether `ip` is over `max.failed.authentication.rate.per.ip`: its connection is to be
/// closed at once.
pub fn over_failed_logins(ip: IpAddr, config: &BrokerConfig) -> bool {
    let limit = f64::from(config.max_failed_authentication_rate_per_ip);
    if limit <= 0.0 {
        return false;
    }
    let mut failed = FAILED.lock().unwrap_or_else(|e| e.into_inner());
    let now = now_ms();
    failed
        .get_mut(&ip)
        .is_some_and(|rate| rate.rate(now) > limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_failing_logins_too_fast_is_refused_until_it_slows_down() {
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        let mut config = BrokerConfig::default();
        config.max_failed_authentication_rate_per_ip = 1;
        // 11 windows of 1 s, at least 10 s: 10 failures are 1 a second, the 11th more.
        assert!(!(0..10).any(|_| failed_login(ip, &config)));
        assert!(!over_failed_logins(ip, &config));
        assert!(failed_login(ip, &config));
        assert!(over_failed_logins(ip, &config));
        assert!(!failed_login(ip, &config), "said once, when it goes over");
        config.max_failed_authentication_rate_per_ip = 0;
        assert!(!over_failed_logins(ip, &config));
    }

    #[test]
    fn limits_per_address_with_overrides_and_for_the_broker() {
        // The counts are the process's: this test uses addresses of its own.
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let mut config = BrokerConfig::default();
        config.max_connections_per_ip = 2;
        config.max_connections_per_ip_overrides = vec![("192.0.2.2".into(), b, 3)];
        let first = admit(a, &config).unwrap();
        let _second = admit(a, &config).unwrap();
        assert_eq!(admit(a, &config).unwrap_err(), Refused::AddressFull(2));
        let from_b: Vec<Slot> = (0..3).map(|_| admit(b, &config).unwrap()).collect();
        assert_eq!(admit(b, &config).unwrap_err(), Refused::AddressFull(3));
        drop(first);
        let _third = admit(a, &config).unwrap();
        let total = OPEN.lock().unwrap().total;
        config.max_connections = total as i32;
        config.max_connections_per_ip = 10;
        assert_eq!(admit(a, &config).unwrap_err(), Refused::BrokerFull);
        drop(from_b);
        admit(a, &config).unwrap();
    }
}
