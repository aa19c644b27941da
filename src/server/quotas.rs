//! Connection quotas, as Kafka's: `max.connections` for the broker and
//! `max.connections.per.ip` (with `max.connections.per.ip.overrides`) per client
//! address. The counts are the broker's, not a shard's (SO_REUSEPORT spreads one
//! client's connections over the shards), so they sit behind one lock, taken only when
//! a connection opens or closes, never on a request.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{LazyLock, Mutex};

use crate::config::BrokerConfig;

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

#[cfg(test)]
mod tests {
    use super::*;

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
