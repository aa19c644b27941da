//! Kafka's KRaft settings: `process.roles`, `controller.listener.names`,
//! `listener.security.protocol.map`, `inter.broker.listener.name`,
//! `controller.quorum.voters` and `controller.quorum.bootstrap.servers`. They are read so
//! that a stock KRaft `server.properties` starts a broker, and checked so that one asking
//! for something shoal cannot be yet stops with a message instead of running as
//! something else.
//!
//! Invariant of a config that passed `check`: every listener speaks one of Kafka's four
//! protocols (their SASL and TLS settings checked; a SASL controller listener PLAIN); a broker
//! has at least one listener for clients, every listener that is not a controller listener
//! is one, and `inter.broker.listener.name` names one of them. A node that is both broker and controller,
//! with one voter (or none named), is a cluster of one: its controller listeners are
//! not opened, as nobody else dials them. Otherwise the node takes part in a metadata
//! quorum (`quorum_peers`): a controller is one of the voters and has exactly one
//! controller listener, where its peers reach it; a broker-only node is none of them
//! and follows the quorum's log from them. Without `controller.quorum.voters`, the
//! bootstrap servers make a quorum whose voters are the log's (KIP-853): at once for a
//! controller-only or broker-only node, and for a combined node once `shoal format` made
//! its log dir a quorum's (before, it is a cluster of one, as Kafka's quick-start file
//! runs).

use super::broker::BrokerConfig;
use super::listener::{join_host_port, parse_host_port, render_listeners};
use super::value::{invalid, split_list};
use super::ConfigError;
use crate::security::tls::TlsSettings;
use crate::security::{Mechanism, QuorumLogin, SecurityProtocol};

/// Kafka's default `listener.security.protocol.map`.
const PROTOCOL_MAP_DEFAULT: &str =
    "SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT";
const PROTOCOLS: [&str; 4] = ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];
/// The only protocol shoal speaks so far.
const PLAINTEXT: &str = "PLAINTEXT";
const ROLES: [&str; 2] = ["broker", "controller"];

/// One `controller.quorum.voters` entry: `id@host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voter {
    pub id: i32,
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kraft {
    /// `broker`, `controller`, each at most once.
    pub process_roles: Vec<String>,
    pub controller_listener_names: Vec<String>,
    /// `(listener name, security protocol)`; `None`: Kafka's default map, where a
    /// controller listener that names no protocol speaks PLAINTEXT, as in Kafka.
    pub protocol_map: Option<Vec<(String, String)>>,
    pub inter_broker_listener_name: Option<String>,
    /// `security.inter.broker.protocol`: the inter-broker listener is the one of that
    /// name (Kafka's older key; at most one of the two is set).
    pub security_inter_broker_protocol: Option<String>,
    pub quorum_voters: Vec<Voter>,
    /// `host:port` entries, as given.
    pub quorum_bootstrap_servers: Vec<String>,
}

impl Default for Kraft {
    /// A node that is broker and controller, as `shoal serve` without settings runs.
    fn default() -> Self {
        Kraft {
            process_roles: ROLES.iter().map(|r| r.to_string()).collect(),
            controller_listener_names: Vec::new(),
            protocol_map: None,
            inter_broker_listener_name: None,
            security_inter_broker_protocol: None,
            quorum_voters: Vec::new(),
            quorum_bootstrap_servers: Vec::new(),
        }
    }
}

impl Kraft {
    /// Whether the node serves clients as a broker (`process.roles` has `broker`).
    pub fn is_broker(&self) -> bool {
        self.process_roles.iter().any(|r| r == "broker")
    }

    /// Whether the node is a voter of the metadata quorum (`process.roles` has
    /// `controller`).
    pub fn is_controller(&self) -> bool {
        self.process_roles.iter().any(|r| r == "controller")
    }

    pub(crate) fn is_controller_listener(&self, name: &str) -> bool {
        self.controller_listener_names.iter().any(|n| n == name)
    }

    /// The protocol `listener` speaks (PLAINTEXT when the map does not name it; `check`
    /// refused such a config).
    pub(crate) fn security_protocol(&self, listener: &str) -> SecurityProtocol {
        self.protocol(listener)
            .and_then(|p| SecurityProtocol::parse(&p))
            .unwrap_or(SecurityProtocol::Plaintext)
    }

    /// The protocol `listener` speaks, or `None` when the map names no such listener.
    fn protocol(&self, listener: &str) -> Option<String> {
        match &self.protocol_map {
            Some(map) => map
                .iter()
                .find(|(n, _)| n == listener)
                .map(|(_, p)| p.clone()),
            None if PROTOCOLS.contains(&listener) => Some(listener.to_string()),
            None => self
                .is_controller_listener(listener)
                .then(|| PLAINTEXT.to_string()),
        }
    }
}

pub(crate) fn parse_roles(key: &str, value: &str) -> Result<Vec<String>, ConfigError> {
    let mut roles: Vec<String> = Vec::new();
    for item in split_list(value) {
        if !ROLES.contains(&item) || roles.iter().any(|r| r == item) {
            return Err(invalid(key, value, "broker, controller, or both"));
        }
        roles.push(item.to_string());
    }
    if roles.is_empty() {
        return Err(invalid(key, value, "broker, controller, or both"));
    }
    Ok(roles)
}

/// Listener names, upper-cased as Kafka normalises them.
pub(crate) fn parse_names(key: &str, value: &str) -> Result<Vec<String>, ConfigError> {
    let mut names: Vec<String> = Vec::new();
    for item in split_list(value) {
        let name = item.to_ascii_uppercase();
        if names.contains(&name) {
            return Err(invalid(key, value, "each listener name at most once"));
        }
        names.push(name);
    }
    Ok(names)
}

pub(crate) fn parse_protocol_map(
    key: &str,
    value: &str,
) -> Result<Vec<(String, String)>, ConfigError> {
    let form = "NAME:PROTOCOL pairs, the protocol one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL";
    let mut map: Vec<(String, String)> = Vec::new();
    for item in split_list(value) {
        let (name, protocol) = item
            .split_once(':')
            .ok_or_else(|| invalid(key, value, form))?;
        let (name, protocol) = (
            name.trim().to_ascii_uppercase(),
            protocol.trim().to_ascii_uppercase(),
        );
        if name.is_empty() || !PROTOCOLS.contains(&protocol.as_str()) {
            return Err(invalid(key, value, form));
        }
        if map.iter().any(|(n, _)| *n == name) {
            return Err(invalid(key, value, "each listener name at most once"));
        }
        map.push((name, protocol));
    }
    Ok(map)
}

/// `listener.security.protocol.map` as described: the configured map, else Kafka's
/// default.
pub(crate) fn render_protocol_map(k: &Kraft) -> String {
    match &k.protocol_map {
        Some(map) => {
            let items: Vec<String> = map.iter().map(|(n, p)| format!("{n}:{p}")).collect();
            items.join(",")
        }
        None => PROTOCOL_MAP_DEFAULT.to_string(),
    }
}

pub(crate) fn parse_voters(key: &str, value: &str) -> Result<Vec<Voter>, ConfigError> {
    let mut voters: Vec<Voter> = Vec::new();
    for item in split_list(value) {
        let (id, address) = item
            .split_once('@')
            .ok_or_else(|| invalid(key, value, "id@host:port entries, e.g. 1@localhost:9093"))?;
        let id = id
            .trim()
            .parse::<i32>()
            .ok()
            .filter(|id| *id >= 0)
            .ok_or_else(|| invalid(key, value, "a node id >= 0 before each '@'"))?;
        if voters.iter().any(|v| v.id == id) {
            return Err(invalid(key, value, "each node id at most once"));
        }
        let (host, port) = parse_host_port(key, value, address)?;
        voters.push(Voter { id, host, port });
    }
    Ok(voters)
}

pub(crate) fn render_voters(voters: &[Voter]) -> String {
    let items: Vec<String> = voters
        .iter()
        .map(|v| format!("{}@{}", v.id, join_host_port(&v.host, v.port)))
        .collect();
    items.join(",")
}

pub(crate) fn parse_servers(key: &str, value: &str) -> Result<Vec<String>, ConfigError> {
    let mut servers: Vec<String> = Vec::new();
    for item in split_list(value) {
        parse_host_port(key, value, item)?;
        servers.push(item.to_string());
    }
    Ok(servers)
}

/// Refuses a KRaft layout shoal cannot run yet, naming the key and what it takes.
pub(crate) fn check(c: &BrokerConfig) -> Result<(), ConfigError> {
    let k = &c.kraft;
    let roles = k.process_roles.join(",");
    if k.process_roles.len() != ROLES.len()
        && k.quorum_voters.is_empty()
        && k.quorum_bootstrap_servers.is_empty()
    {
        return Err(invalid(
            "process.roles",
            &roles,
            "broker,controller, unless controller.quorum.voters or \
             controller.quorum.bootstrap.servers names the controllers",
        ));
    }
    // The map's protocols are Kafka's four, each of which every listener serves.
    for listener in &c.listeners {
        k.protocol(&listener.name).ok_or_else(|| {
            invalid(
                "listener.security.protocol.map",
                &render_protocol_map(k),
                format!("a security protocol for listener {}", listener.name),
            )
        })?;
    }
    let controller_names = k.controller_listener_names.join(",");
    if !k.controller_listener_names.is_empty()
        && k.is_controller()
        && !c
            .listeners
            .iter()
            .any(|l| k.is_controller_listener(&l.name))
    {
        return Err(invalid(
            "controller.listener.names",
            &controller_names,
            "at least one name that listeners uses (this node is the controller)",
        ));
    }
    if k.is_broker() && c.client_listeners().next().is_none() {
        return Err(invalid(
            "listeners",
            &render_listeners(&c.listeners),
            format!(
                "a listener for clients besides the controller listeners ({controller_names}): \
                 this node is a broker"
            ),
        ));
    }
    let named = match (
        &k.inter_broker_listener_name,
        &k.security_inter_broker_protocol,
    ) {
        (Some(_), Some(protocol)) => {
            return Err(invalid(
                "security.inter.broker.protocol",
                protocol,
                "unset: inter.broker.listener.name is set, and Kafka takes only one of them",
            ))
        }
        (Some(name), None) => Some(("inter.broker.listener.name", name)),
        (None, Some(protocol)) => Some(("security.inter.broker.protocol", protocol)),
        (None, None) => None,
    };
    if let Some((key, name)) = named {
        if k.is_controller_listener(name) || !c.listeners.iter().any(|l| l.name == *name) {
            return Err(invalid(
                key,
                name,
                "a listener that listeners uses and that is not a controller listener",
            ));
        }
    }
    let voters = render_voters(&k.quorum_voters);
    let voting = k.quorum_voters.iter().any(|v| v.id == c.node_id);
    if !k.is_controller() {
        // A broker-only node follows the controllers' quorum.
        if voting {
            return Err(invalid(
                "controller.quorum.voters",
                &voters,
                format!(
                    "the controllers: this node (node.id={}) has process.roles=broker and is not one",
                    c.node_id
                ),
            ));
        }
        return Ok(());
    }
    let split = k.process_roles.len() != ROLES.len();
    match k.quorum_voters.as_slice() {
        [] if k.quorum_bootstrap_servers.is_empty() => {}
        // Unformatted, a combined node is a cluster of one (`quorum_peers`): a list of
        // several servers means a quorum it is not part of yet.
        [] if !split && !formatted(c) => {
            if k.quorum_bootstrap_servers.len() > 1 {
                return Err(invalid(
                    "controller.quorum.bootstrap.servers",
                    &k.quorum_bootstrap_servers.join(","),
                    "one server, this node, unless `shoal format` made this node's log dir a \
                     quorum's (--standalone starts one, --no-initial-controllers joins one)",
                ));
            }
        }
        [] => check_one_controller_listener(c)?,
        [voter] if voter.id == c.node_id && !split => {}
        [voter] if !split => {
            return Err(invalid(
                "controller.quorum.voters",
                &voters,
                format!(
                    "this node (node.id={}) as the voter, not node {}",
                    c.node_id, voter.id
                ),
            ))
        }
        _ => {
            if !voting {
                return Err(invalid(
                    "controller.quorum.voters",
                    &voters,
                    format!(
                        "this node (node.id={}) among the voters: it has process.roles={roles}",
                        c.node_id
                    ),
                ));
            }
            check_one_controller_listener(c)?;
        }
    }
    Ok(())
}

/// A controller of a quorum of several has exactly one controller listener: its peers
/// reach it there.
fn check_one_controller_listener(c: &BrokerConfig) -> Result<(), ConfigError> {
    let k = &c.kraft;
    let controllers = c
        .listeners
        .iter()
        .filter(|l| k.is_controller_listener(&l.name))
        .count();
    if controllers != 1 {
        return Err(invalid(
            "controller.listener.names",
            &k.controller_listener_names.join(","),
            "exactly one controller listener in listeners: the quorum's peers reach this node there",
        ));
    }
    Ok(())
}

/// Whether the node's first log dir holds a metadata quorum's directory: the node was
/// formatted (`shoal format`), or has run as a member of a quorum.
fn formatted(c: &BrokerConfig) -> bool {
    c.log_dirs
        .first()
        .is_some_and(|d| d.join(crate::quorum::disk::DIR).is_dir())
}

/// The metadata quorum this node takes part in, when it is not a cluster of one: where
/// it listens for its peers (a voter's controller listener; a broker-only node's port
/// is the kernel's choice, on its client listener's host, and registered with the
/// broker), the voters, and the node's roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumPeers {
    pub listen: String,
    /// `controller.quorum.voters`; empty when the voters are the log's (KIP-853's
    /// dynamic quorum, found through `bootstrap`).
    pub voters: Vec<Voter>,
    /// `controller.quorum.bootstrap.servers`, where a node of a dynamic quorum asks
    /// to be taken in before it knows the voters.
    pub bootstrap: Vec<String>,
    /// This node votes (`process.roles` has `controller`).
    pub voter: bool,
    /// This node registers as a broker (`process.roles` has `broker`).
    pub broker: bool,
}

/// Where a controller's peers reach it: its controller listener's
/// `advertised.listeners` entry, else the listener, a wildcard host read as `localhost`.
pub(crate) fn controller_endpoint(c: &BrokerConfig) -> Option<crate::cluster::image::Endpoint> {
    let k = &c.kraft;
    if !k.is_controller() {
        return None;
    }
    let listener = c
        .listeners
        .iter()
        .find(|l| k.is_controller_listener(&l.name))?;
    let advertised = c
        .advertised_listeners
        .iter()
        .flatten()
        .find(|l| l.name == listener.name)
        .unwrap_or(listener);
    let host = match advertised.host.as_str() {
        "" | "0.0.0.0" | "::" => "localhost".to_string(),
        host => host.to_string(),
    };
    Some(crate::cluster::image::Endpoint {
        name: listener.name.clone(),
        host,
        port: advertised.port,
    })
}

/// The quorum of a config that passed `check`; `None` for a cluster of one.
pub(crate) fn quorum_peers(c: &BrokerConfig) -> Option<QuorumPeers> {
    let k = &c.kraft;
    let combined = k.is_broker() && k.is_controller();
    if k.quorum_voters.is_empty() {
        // A combined node takes part in a quorum whose voters its log names once `shoal
        // format` made its log dir one's, as Kafka's nodes are formatted first; before,
        // it is a cluster of one (Kafka's quick-start file names only itself).
        let alone = k.quorum_bootstrap_servers.is_empty() || (combined && !formatted(c));
        if alone {
            return None;
        }
    } else if k.quorum_voters.len() < 2 && combined {
        return None;
    }
    let listen = match k.is_controller() {
        true => c
            .listeners
            .iter()
            .find(|l| k.is_controller_listener(&l.name))?
            .bind_address(),
        false => {
            let client = c.inter_broker_listener()?;
            super::listener::Listener {
                name: String::new(),
                host: client.host.clone(),
                port: 0,
            }
            .bind_address()
        }
    };
    let bootstrap = match k.quorum_voters.is_empty() {
        true => k.quorum_bootstrap_servers.clone(),
        false => Vec::new(),
    };
    Some(QuorumPeers {
        listen,
        voters: k.quorum_voters.clone(),
        bootstrap,
        voter: k.is_controller(),
        broker: k.is_broker(),
    })
}

/// One line for each KRaft setting that is accepted but changes nothing here, and one
/// saying where a node of a quorum of several voters listens.
pub(crate) fn notices(c: &BrokerConfig) -> Vec<String> {
    let k = &c.kraft;
    if let Some(peers) = quorum_peers(c) {
        let role = match (peers.voter, peers.broker) {
            (true, true) => "broker and controller",
            (true, false) => "a controller only: it serves no clients and holds no partitions",
            (false, _) => "a broker only: it follows the controllers' log as a learner",
        };
        let listens = match peers.voter {
            true => format!("listens for them on {}", peers.listen),
            false => "listens for the leader on a port of the kernel's choice".to_string(),
        };
        let quorum = match peers.voters.len() {
            0 => format!(
                "a metadata quorum whose voters its log names (found through {})",
                peers.bootstrap.join(",")
            ),
            n => format!("a metadata quorum of {n} voters"),
        };
        return vec![format!(
            "this node is {role}, in {quorum}, and {listens}; \
             topics live in the quorum, and their replicas are placed over the brokers",
        )];
    }
    let mut notices: Vec<String> = c
        .listeners
        .iter()
        .filter(|l| k.is_controller_listener(&l.name))
        .map(|l| {
            format!(
                "controller listener {l} is not opened: this node is the only controller, \
                 and its controller runs inside the broker"
            )
        })
        .collect();
    if !k.quorum_bootstrap_servers.is_empty() && k.quorum_voters.is_empty() {
        notices.push(format!(
            "controller.quorum.bootstrap.servers={} is not used: this node's log dir was not \
             formatted for a quorum whose voters can change (shoal format --standalone starts \
             one, --no-initial-controllers joins one), so it is a cluster of one",
            k.quorum_bootstrap_servers.join(",")
        ));
    }
    let inter_broker = [
        ("inter.broker.listener.name", &k.inter_broker_listener_name),
        (
            "security.inter.broker.protocol",
            &k.security_inter_broker_protocol,
        ),
    ];
    for (key, value) in inter_broker {
        if let Some(value) = value {
            notices.push(format!(
                "{key}={value} has no effect: a cluster of one has no other broker"
            ));
        }
    }
    notices
}

/// With a quorum, how the quorum's nodes meet on the controller listener (the first of
/// `controller.listener.names`, as the protocol map names it, on a broker-only node
/// too): its TLS settings when it speaks SSL or SASL_SSL, and the login it asks for and
/// makes when it speaks SASL. The peers' connections to this node and this node's to
/// them use them.
pub(crate) fn controller_security(
    c: &BrokerConfig,
) -> Result<(Option<TlsSettings>, Option<QuorumLogin>), ConfigError> {
    let k = &c.kraft;
    let Some(name) = k.controller_listener_names.first() else {
        return Ok((None, None));
    };
    if c.quorum_peers().is_none() {
        return Ok((None, None));
    }
    let protocol = k.security_protocol(name);
    if let Some(other) = k
        .controller_listener_names
        .iter()
        .find(|n| k.security_protocol(n) != protocol)
    {
        return Err(invalid(
            "listener.security.protocol.map",
            &render_protocol_map(k),
            format!("the same protocol for every controller listener ({name} and {other} differ)"),
        ));
    }
    let listener = super::listener::Listener {
        name: name.clone(),
        host: String::new(),
        port: 0,
    };
    let tls = match protocol.is_tls() {
        true => Some(super::ssl::listener_tls(c, &listener, protocol.is_sasl())?),
        false => None,
    };
    let login = match protocol.is_sasl() {
        true => Some(controller_login(c, &listener, protocol)?),
        false => None,
    };
    // The quorum believes its peers' messages: each must prove who it is, with a login
    // or else a certificate.
    if let Some(settings) = tls.as_ref().filter(|_| login.is_none()) {
        if settings.client_auth != crate::security::tls::ClientAuth::Required {
            let key = format!(
                "listener.name.{}.ssl.client.auth",
                name.to_ascii_lowercase()
            );
            return Err(invalid(
                &key,
                &format!("{:?}", settings.client_auth).to_ascii_lowercase(),
                "required: the quorum's nodes believe each other's messages, so each must show a certificate",
            ));
        }
    }
    Ok((tls, login))
}

/// A SASL controller listener's logins: its mechanisms and PLAIN users as any SASL
/// listener's, and `sasl.mechanism.controller.protocol` with the `username` and
/// `password` of the listener's login module for this node's own. PLAIN only: SCRAM's
/// credentials live in the quorum's metadata, which a node cannot read before it has
/// reached the quorum (Kafka writes them when it formats the storage, which shoal has
/// no step for).
fn controller_login(
    c: &BrokerConfig,
    listener: &super::listener::Listener,
    protocol: SecurityProtocol,
) -> Result<QuorumLogin, ConfigError> {
    const KEY: &str = "sasl.mechanism.controller.protocol";
    let accept = super::sasl::listener_security(c, listener, protocol)?;
    let mechanism = c.sasl_mechanism_controller;
    if mechanism != Mechanism::Plain || !accept.mechanisms.contains(&Mechanism::Plain) {
        return Err(invalid(
            KEY,
            mechanism.name(),
            format!(
                "PLAIN, enabled on controller listener {}: the quorum's nodes log in to \
                 each other with it, before they can read SCRAM credentials from the quorum",
                listener.name
            ),
        ));
    }
    let dial = super::sasl::node_login(c, listener, mechanism)?;
    Ok(QuorumLogin { accept, dial })
}
