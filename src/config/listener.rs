//! `listeners` / `advertised.listeners`: comma-separated `NAME://host:port`.
//!
//! Invariants of a parsed list: non-empty, names unique, upper-case letters, digits and
//! `_`. Which security protocol a name speaks is `listener.security.protocol.map`'s
//! business (`kraft.rs`). Hosts are stored without IPv6 brackets; an empty host means
//! every interface. Port 0 means "pick a free port at start-up"; the server substitutes
//! the real one.

use std::fmt;

use super::value::{invalid, split_list};
use super::ConfigError;

/// One endpoint the broker listens on or tells clients to connect to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Listener {
    pub name: String,
    /// Without brackets (`::1`); empty means all interfaces.
    pub host: String,
    pub port: u16,
}

impl Listener {
    /// The address to bind, in a form `std::net::ToSocketAddrs` accepts.
    pub fn bind_address(&self) -> String {
        let host = if self.host.is_empty() {
            "0.0.0.0"
        } else {
            &self.host
        };
        join_host_port(host, self.port)
    }
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}",
            self.name,
            join_host_port(&self.host, self.port)
        )
    }
}

pub fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Renders a list back to the form `parse_listeners` reads.
pub(crate) fn render_listeners(listeners: &[Listener]) -> String {
    let items: Vec<String> = listeners.iter().map(Listener::to_string).collect();
    items.join(",")
}

/// Parses a whole `listeners`-style value.
pub(crate) fn parse_listeners(key: &str, value: &str) -> Result<Vec<Listener>, ConfigError> {
    let mut listeners: Vec<Listener> = Vec::new();
    for item in split_list(value) {
        let listener = parse_one(key, value, item)?;
        if listeners.iter().any(|l| l.name == listener.name) {
            return Err(invalid(key, value, "each listener name at most once"));
        }
        listeners.push(listener);
    }
    if listeners.is_empty() {
        return Err(invalid(key, value, "at least one NAME://host:port"));
    }
    Ok(listeners)
}

fn parse_one(key: &str, value: &str, item: &str) -> Result<Listener, ConfigError> {
    let (name, address) = item.split_once("://").ok_or_else(|| {
        invalid(
            key,
            value,
            "NAME://host:port, e.g. PLAINTEXT://127.0.0.1:9092",
        )
    })?;
    let name = name.trim().to_ascii_uppercase();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(invalid(
            key,
            value,
            "listener names of letters, digits and '_'",
        ));
    }
    let (host, port) = parse_host_port(key, value, address)?;
    Ok(Listener { name, host, port })
}

/// Parses `host:port` (`[v6]:port` for IPv6; an empty host is allowed) out of `value`,
/// the whole value of `key`, for the error message.
pub(crate) fn parse_host_port(
    key: &str,
    value: &str,
    address: &str,
) -> Result<(String, u16), ConfigError> {
    let (host, port) = if let Some(rest) = address.strip_prefix('[') {
        rest.split_once("]:")
            .ok_or_else(|| invalid(key, value, "an IPv6 host in brackets: [::1]:port"))?
    } else {
        let (host, port) = address
            .rsplit_once(':')
            .ok_or_else(|| invalid(key, value, "host:port"))?;
        if host.contains(':') {
            return Err(invalid(key, value, "an IPv6 host in brackets: [::1]:port"));
        }
        (host, port)
    };
    // Kafka's own pattern; '%' allows an IPv6 zone such as fe80::1%eth0.
    let host_ok = host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '%' | ':'));
    if !host_ok {
        return Err(invalid(
            key,
            value,
            "a host of letters, digits, '-', '.', '_', '%' or ':'",
        ));
    }
    let port = port
        .parse::<u16>()
        .map_err(|_| invalid(key, value, "a port from 0 to 65535"))?;
    Ok((host.to_string(), port))
}

/// Extra rules for `advertised.listeners`, which clients dial.
pub(crate) fn check_advertised(
    key: &str,
    advertised: &[Listener],
    listeners: &[Listener],
) -> Result<(), ConfigError> {
    let value = render_listeners(advertised);
    for a in advertised {
        if a.host.is_empty() || a.host == "0.0.0.0" || a.host == "::" {
            return Err(invalid(
                key,
                &value,
                "a routable host, not a wildcard address",
            ));
        }
        if !listeners.iter().any(|l| l.name == a.name) {
            return Err(invalid(key, &value, "only names that listeners also uses"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn one(value: &str) -> Result<Listener, ConfigError> {
        let mut list = parse_listeners("listeners", value)?;
        assert_eq!(list.len(), 1);
        Ok(list.remove(0))
    }

    #[test]
    fn parses_hosts_ports_and_wildcards() {
        let l = one("PLAINTEXT://127.0.0.1:9092").unwrap();
        assert_eq!(
            (l.name.as_str(), l.host.as_str(), l.port),
            ("PLAINTEXT", "127.0.0.1", 9092)
        );
        let l = one("plaintext://:0").unwrap();
        assert_eq!((l.host.as_str(), l.port), ("", 0));
        assert_eq!(l.bind_address(), "0.0.0.0:0");
        let l = one("PLAINTEXT://[::1]:9093").unwrap();
        assert_eq!((l.host.as_str(), l.port), ("::1", 9093));
        assert_eq!(l.bind_address(), "[::1]:9093");
        assert_eq!(l.to_string(), "PLAINTEXT://[::1]:9093");
        let l = one(" PLAINTEXT://broker-1.example.com:19092 ").unwrap();
        assert_eq!(l.host, "broker-1.example.com");
    }

    #[test]
    fn refuses_malformed_and_unsupported() {
        for bad in [
            "",
            "127.0.0.1:9092",
            "PLAINTEXT://host",
            "PLAINTEXT://host:65536",
            "PLAINTEXT://host:-1",
            "PLAINTEXT://::1:9092",
            "PLAINTEXT://[::1:9092",
            "PLAINTEXT://ho st:9092",
            "PLAINTEXT://a:1,PLAINTEXT://b:2",
            "PLAIN TEXT://host:9092",
            "://host:9092",
        ] {
            assert!(one(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(one("controller://host:9093").unwrap().name, "CONTROLLER");
    }

    #[test]
    fn advertised_must_be_routable_and_named_in_listeners() {
        let listeners = parse_listeners("listeners", "PLAINTEXT://:9092").unwrap();
        let good = parse_listeners("a", "PLAINTEXT://broker:9092").unwrap();
        assert!(check_advertised("a", &good, &listeners).is_ok());
        let wildcard = parse_listeners("a", "PLAINTEXT://0.0.0.0:9092").unwrap();
        assert!(check_advertised("a", &wildcard, &listeners).is_err());
    }

    proptest! {
        #[test]
        fn render_then_parse_is_identity(
            host in prop_oneof![
                Just(String::new()),
                "[a-z][a-z0-9-]{0,20}(\\.[a-z][a-z0-9-]{0,10}){0,3}",
                any::<std::net::Ipv4Addr>().prop_map(|a| a.to_string()),
                any::<std::net::Ipv6Addr>().prop_map(|a| a.to_string()),
            ],
            port in any::<u16>(),
        ) {
            let l = Listener { name: "PLAINTEXT".to_string(), host, port };
            let parsed = parse_listeners("listeners", &render_listeners(std::slice::from_ref(&l)));
            prop_assert_eq!(parsed.ok(), Some(vec![l]));
        }
    }
}
