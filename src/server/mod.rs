//! Listeners and connections (DESIGN §2). Every shard accepts on the same ports (each
//! client listener's, with SO_REUSEPORT) and a connection stays on the shard that
//! accepted it.

pub mod connection;
pub mod fetch_session;
pub mod frame;
pub mod handlers;
pub mod oauth;
pub mod quotas;
pub mod sasl;
pub mod sendfile;
pub mod stream;
pub mod tls;
pub mod watch;

use std::cell::Cell;
use std::rc::Rc;

use glommio::net::TcpListener;

use crate::shard::Shard;

/// Connections one shard serves at once, at most; beyond it, new ones are closed.
pub const CONNECTIONS_MAX: usize = 10_000;

/// How long a stopping broker waits for in-flight requests.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// How long accepting pauses when it cannot go on: out of descriptors or memory, or the
/// broker holding `max.connections`.
const ACCEPT_RETRY: std::time::Duration = std::time::Duration::from_millis(100);

/// What a client listener reads its security material from: its TLS config, on an SSL
/// or SASL_SSL listener, and its OAUTHBEARER keys, when it enables OAUTHBEARER. Each
/// shard has its own copy, reloaded when the files change.
#[derive(Clone, Default)]
pub struct ListenerKeys {
    pub tls: Option<tls::Tls>,
    pub jwks: Option<oauth::Jwks>,
}

impl ListenerKeys {
    /// Reads the files `security` names: an error names the file (start-up stops).
    pub fn load(security: &crate::security::ListenerSecurity) -> anyhow::Result<ListenerKeys> {
        Ok(ListenerKeys {
            tls: security.tls.as_ref().map(tls::Tls::load).transpose()?,
            jwks: security.oauth.as_ref().map(oauth::Jwks::load).transpose()?,
        })
    }
}

/// Accepts connections until the broker stops, then waits for the open ones to finish
/// what they were doing. `name`: the client listener's, whose security settings apply,
/// with `keys`; `None` for a replication port.
pub async fn serve(
    shard: Rc<Shard>,
    listener: TcpListener,
    name: Option<Rc<str>>,
    keys: ListenerKeys,
) {
    let (mut tls, jwks) = (
        keys.tls,
        keys.jwks.map(|j| Rc::new(std::cell::RefCell::new(j))),
    );
    let connections = glommio::sync::Gate::new();
    let open = Rc::new(Cell::new(0usize));
    let mut starved = false;
    loop {
        let Some(stream) = accept(&shard, &listener, &mut starved, "connections").await else {
            break;
        };
        if open.get() >= CONNECTIONS_MAX {
            tracing::warn!("connection refused: {CONNECTIONS_MAX} already open on this shard");
            continue;
        }
        // Connection rates are client listeners' (replication ports are other brokers');
        // failed logins count wherever a login is asked for.
        if (name.is_some() && over_connection_rate(&shard, &stream))
            || over_failed_logins(&shard, &stream)
        {
            continue;
        }
        let Some(slot) = admit(&shard, &stream).await else {
            if shard.is_stopping() {
                break;
            }
            continue;
        };
        open.set(open.get() + 1);
        let (shard, open, name) = (Rc::clone(&shard), Rc::clone(&open), name.clone());
        let security = connection::Security {
            tls: tls.as_mut().map(tls::Tls::accept),
            oauth: jwks.clone(),
        };
        let served = connections.spawn(async move {
            connection::serve(shard, stream, name, security).await;
            drop(slot);
            open.set(open.get() - 1);
        });
        match served {
            Ok(task) => drop(task.detach()),
            Err(error) => tracing::warn!(?error, "connection not started"),
        }
    }
    drop(listener);
    let closed = async { Some(connections.close().await) };
    let deadline = async {
        glommio::timer::sleep(SHUTDOWN_GRACE).await;
        None
    };
    match futures_lite::future::or(closed, deadline).await {
        Some(Ok(())) => {}
        Some(Err(error)) => tracing::warn!(?error, "closing connections"),
        None => {
            tracing::warn!("requests still running after {SHUTDOWN_GRACE:?}; stopping without them")
        }
    }
}

/// Counts a new connection against its address's `connection_creation_rate` quota
/// (KIP-612), if one applies; true when the address is over it, and the connection is
/// to be closed at once. Kafka holds such a connection for the throttle time before it
/// closes it; shoal closes it at once, so no descriptor is held for a client it refuses.
fn over_connection_rate(shard: &Shard, stream: &glommio::net::TcpStream) -> bool {
    use crate::quota::sensors::{self, Windows};
    use crate::quota::QuotaKind;

    let snapshot = shard.snapshot();
    let quotas = &snapshot.state.client_quotas;
    if quotas.is_empty() {
        return false;
    }
    let Ok(peer) = stream.peer_addr() else {
        return false;
    };
    let Some(applied) = quotas.applied_ip(&peer.ip().to_string()) else {
        return false;
    };
    let kind = QuotaKind::ConnectionCreation;
    let windows = Windows::of(&snapshot.broker, kind);
    let wait = sensors::charge(kind, &applied, 1.0, windows);
    if wait == 0 {
        return false;
    }
    tracing::debug!(ip = %peer.ip(), wait_ms = wait, "connection closed: its address is over its connection_creation_rate");
    true
}

/// Whether the connection's address failed too many logins lately
/// (`max.failed.authentication.rate.per.ip`): it is closed at once.
fn over_failed_logins(shard: &Shard, stream: &glommio::net::TcpStream) -> bool {
    let Ok(peer) = stream.peer_addr() else {
        return false;
    };
    let over = quotas::over_failed_logins(peer.ip(), &shard.snapshot().broker);
    if over {
        tracing::debug!(ip = %peer.ip(), "connection closed: its address failed too many logins lately");
    }
    over
}

/// Errors of accept(2) that last until something else frees descriptors or memory.
fn out_of_resources(error: &std::io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// The next connection `listener` takes (`what` it takes, for the log); `None` once the
/// broker stops. When accept fails for lack of descriptors or memory it says so once
/// per episode (`starved`) and retries every `ACCEPT_RETRY`, while the shard serves
/// what is open, instead of spinning; another failure (a connection gone before it was
/// taken) is skipped. The client listeners and the metrics exporter accept so.
pub(crate) async fn accept(
    shard: &Shard,
    listener: &TcpListener,
    starved: &mut bool,
    what: &str,
) -> Option<glommio::net::TcpStream> {
    loop {
        match shard.unless_stopping(listener.accept()).await? {
            Ok(stream) => {
                if std::mem::take(starved) {
                    tracing::info!(shard = shard.id.0, "accepting {what} again");
                }
                return Some(stream);
            }
            Err(glommio::GlommioError::IoError(error)) if out_of_resources(&error) => {
                if !std::mem::replace(starved, true) {
                    tracing::warn!(shard = shard.id.0, %error, "cannot accept {what}: serving the open ones and retrying every {ACCEPT_RETRY:?}");
                }
                shard.pause(ACCEPT_RETRY).await?;
            }
            Err(error) => tracing::debug!(%error, "accepting {what} failed"),
        }
    }
}

/// A place for an accepted connection under the connection quotas: `None` when its
/// address holds its limit (the connection is closed), or when the broker stops while
/// it waits for `max.connections` to leave room (as Kafka's acceptor, it accepts no
/// other connection meanwhile).
async fn admit(shard: &Shard, stream: &glommio::net::TcpStream) -> Option<quotas::Slot> {
    let ip = stream.peer_addr().ok()?.ip();
    let mut waiting = false;
    loop {
        match quotas::admit(ip, &shard.snapshot().broker) {
            Ok(slot) => return Some(slot),
            Err(quotas::Refused::AddressFull(open)) => {
                tracing::info!(%ip, open, "connection refused: its address holds max.connections.per.ip");
                return None;
            }
            Err(quotas::Refused::BrokerFull) => {
                if !std::mem::replace(&mut waiting, true) {
                    tracing::info!("the broker holds max.connections: accepting waits for a connection to close");
                }
                shard.pause(ACCEPT_RETRY).await?;
            }
        }
    }
}
