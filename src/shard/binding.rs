//! Claiming and binding the broker's listening addresses: each client listener's,
//! claimed before the shards start (port 0 resolved once, so every shard binds the same
//! port) and bound by each shard with SO_REUSEPORT.

use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{FromRawFd, IntoRawFd};

use anyhow::Context;

use crate::cluster::image::Endpoint;
use crate::config::BrokerConfig;

/// A client listener as every shard binds it.
#[derive(Clone)]
pub(super) struct ClientPort {
    pub(super) name: String,
    pub(super) address: SocketAddr,
    /// Its TLS config and OAUTHBEARER keys.
    pub(super) keys: crate::server::ListenerKeys,
}

/// A client listener claimed at start-up: what the shards bind, where its clients are
/// told to connect, and the placeholder that keeps its port until the shards listen.
pub(super) struct Claimed {
    pub(super) port: ClientPort,
    pub(super) advertised: Endpoint,
    pub(super) placeholder: socket2::Socket,
}

/// Claims every client listener's address, in `listeners` order. A controller-only
/// node without one still answers admin requests (DescribeQuorum, DescribeCluster) on a
/// loopback port of the kernel's choice. Certificates and keys are read before anything
/// binds: a wrong one stops the start, named.
pub(super) fn claim_client_listeners(
    config: &BrokerConfig,
    broker: &BrokerConfig,
) -> anyhow::Result<Vec<Claimed>> {
    let mut wanted: Vec<crate::config::Listener> = config.client_listeners().cloned().collect();
    if wanted.is_empty() {
        anyhow::ensure!(!config.kraft.is_broker(), "no listener for clients");
        wanted.push(crate::config::Listener {
            name: "PLAINTEXT".to_string(),
            host: "127.0.0.1".to_string(),
            port: 0,
        });
    }
    let keys = wanted
        .iter()
        .map(|l| {
            crate::server::ListenerKeys::load(broker.security_of(&l.name))
                .with_context(|| format!("listener {}", l.name))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut claimed = Vec::new();
    for (listener, keys) in wanted.iter().zip(keys) {
        // Port 0 is resolved once here, so every shard binds the same port.
        let placeholder = claim(resolve(&listener.bind_address())?)?;
        let address = placeholder
            .local_addr()?
            .as_socket()
            .context("the listener has no IP address")?;
        let a = config.advertised_for(listener);
        let (host, port) = match a.port {
            0 if !a.host.is_empty() && a.host != "0.0.0.0" => (a.host.clone(), address.port()),
            0 => (address.ip().to_string(), address.port()),
            port => (a.host.clone(), port),
        };
        let name = listener.name.clone();
        claimed.push(Claimed {
            advertised: Endpoint {
                name: name.clone(),
                host,
                port,
            },
            port: ClientPort {
                name,
                address,
                keys,
            },
            placeholder,
        });
    }
    Ok(claimed)
}

pub(super) fn resolve(address: &str) -> anyhow::Result<SocketAddr> {
    address
        .to_socket_addrs()?
        .next()
        .with_context(|| format!("{address} resolves to no address"))
}

/// Claims a client listener's address before the shards bind it (port 0 becomes a
/// real port here). The shards listen with SO_REUSEPORT, which would let a second broker
/// share the port and split clients between two brokers' data. So the address is first
/// bound without it, which fails if another socket listens there, or holds the address
/// without SO_REUSEADDR (another broker's placeholder). What is returned is an
/// SO_REUSEPORT placeholder that keeps the port until the shards listen.
///
/// Every socket on the port but the placeholder has SO_REUSEADDR, as Kafka's listener
/// does: a broker killed with connections open leaves them closing (FIN_WAIT, TIME_WAIT),
/// and those must not refuse its restart.
pub(super) fn claim(address: SocketAddr) -> anyhow::Result<socket2::Socket> {
    let probe = new_socket(address, true, false)?;
    probe
        .bind(&address.into())
        .map_err(|e| in_use(address, "the listener", e))?;
    let address = probe
        .local_addr()?
        .as_socket()
        .context("the listener has no IP address")?;
    drop(probe);
    let placeholder = new_socket(address, false, true)?;
    placeholder
        .bind(&address.into())
        .map_err(|e| in_use(address, "the listener", e))?;
    Ok(placeholder)
}

pub(super) fn new_socket(
    address: SocketAddr,
    reuse_address: bool,
    reuse_port: bool,
) -> std::io::Result<socket2::Socket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(address),
        socket2::Type::STREAM,
        None,
    )?;
    socket.set_reuse_address(reuse_address)?;
    socket.set_reuse_port(reuse_port)?;
    Ok(socket)
}

/// A shard's listener on the claimed address: SO_REUSEPORT to share it with the other
/// shards, SO_REUSEADDR for its connections' sake (see `claim`).
pub(super) fn listen(address: SocketAddr) -> std::io::Result<glommio::net::TcpListener> {
    let socket = new_socket(address, true, true)?;
    socket.bind(&address.into())?;
    socket.listen(1024)?;
    // SAFETY: the descriptor is a bound, listening socket that nothing else owns.
    Ok(unsafe { glommio::net::TcpListener::from_raw_fd(socket.into_raw_fd()) })
}

/// The error for a listener that cannot bind, plainly so when the address is taken.
pub(super) fn in_use(address: SocketAddr, what: &str, error: std::io::Error) -> anyhow::Error {
    if error.kind() == std::io::ErrorKind::AddrInUse {
        anyhow::anyhow!(
            "{what} cannot bind {address}: address already in use (is another broker running?)"
        )
    } else {
        anyhow::anyhow!("{what} cannot bind {address}: {error}")
    }
}
