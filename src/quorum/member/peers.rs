//! The member's connections to its peers: one outgoing connection per voter (and, on a
//! controller, per learner: the brokers and controllers that are no voters,
//! `follow_peers`; and per bootstrap server of a dynamic quorum), fed from its queue
//! (`send`, `send_to`), and the listener that takes the peers' connections (`accept`,
//! `receive`). Messages are the quorum codec's, framed by a 4-byte length.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use futures::AsyncWriteExt;
use glommio::net::TcpListener;
use raft::eraftpb::Message;

use super::{node_id, raft_id, Member, CONNECT_TIMEOUT, FRAME_MAX, INBOUND_IDLE, INBOUND_MAX};
use super::{PEER_QUEUE_MAX, RECONNECT_PAUSE};
use crate::config::join_host_port;
use crate::quorum::{codec, VoterChange};
use crate::server::frame::{read_frame, RequestBudget};
use crate::server::stream::Stream;
use crate::shard::{Event, Shard};

/// The most peers a member follows before it takes no more addresses from hellos.
const HELLO_PEERS_MAX: usize = 256;

pub(super) struct Peer {
    pub(super) id: u64,
    address: String,
    queue: RefCell<VecDeque<Vec<u8>>>,
    queued: Event,
    /// Replaced (a learner that came back at another address): its task ends.
    retired: Cell<bool>,
}

impl Peer {
    pub(super) fn new(id: u64, address: String) -> Rc<Peer> {
        Rc::new(Peer {
            id,
            address,
            queue: RefCell::new(VecDeque::new()),
            queued: Event::default(),
            retired: Cell::new(false),
        })
    }
}

impl Member {
    /// Follows the quorum's members. The voters are peers, at the address
    /// `controller.quorum.voters` gives or, in a dynamic quorum, their registration's.
    /// The image's brokers and registered controllers that are no voters are Raft's
    /// learners (on every node, so a new leader replicates to them at once) and, on a
    /// controller, peers to send to at the quorum port or controller listener they
    /// registered.
    pub(super) fn follow_peers(&self) {
        let me = raft_id(self.registration.node);
        let (voters, learners) = {
            let image = self.image.borrow();
            let voters = self.quorum.borrow().voters();
            let address = |id: u64| -> Option<String> {
                if let Some(address) = self.static_voters.get(&id) {
                    return Some(address.clone());
                }
                let c = image.controllers.get(&node_id(id))?;
                Some(join_host_port(&c.endpoint.host, c.endpoint.port))
            };
            let brokers = image
                .brokers
                .iter()
                .map(|(&id, b)| (raft_id(id), b.quorum_port.map(|port| b.address(port))));
            let controllers = image
                .controllers
                .keys()
                .map(|&id| (raft_id(id), address(raft_id(id))));
            let learners: Vec<(u64, Option<String>)> = brokers
                .chain(controllers)
                .filter(|(id, _)| !voters.contains(id) && !self.static_voters.contains_key(id))
                .collect();
            let voters: Vec<(u64, Option<String>)> = voters
                .iter()
                .filter(|id| **id != me)
                .map(|&id| (id, address(id)))
                .collect();
            (voters, learners)
        };
        let ids = learners.iter().map(|(id, _)| *id).collect();
        if let Err(error) = self.quorum.borrow_mut().add_learners(&ids) {
            tracing::warn!(%error, "metadata quorum learners not added");
        }
        let learners = learners.into_iter().filter(|_| self.voter);
        for (id, address) in voters.into_iter().chain(learners) {
            if let Some(address) = address {
                self.follow(id, address);
            }
        }
    }

    /// Sends to peer `id` at `address` from now on.
    pub(super) fn follow(&self, id: u64, address: String) {
        let mut peers = self.peers.borrow_mut();
        let known = peers.iter().position(|p| p.id == id);
        if known.is_some_and(|i| peers[i].address == address) {
            return;
        }
        if let Some(i) = known {
            let old = peers.remove(i);
            old.retired.set(true);
            old.queued.notify();
        }
        let peer = Peer::new(id, address);
        if let Some(shard) = self.shard.borrow().clone() {
            let dial = self.dial_tls.borrow().clone();
            let hello = self.hello();
            glommio::spawn_local(send_to(Rc::clone(&peer), shard, dial, hello)).detach();
        }
        peers.push(peer);
    }

    /// What this member's connections start with (`codec::hello`): its id, and where
    /// it listens, as a controller's peers or a broker-only node's leader reach it.
    pub(super) fn hello(&self) -> Option<(u64, Rc<str>)> {
        let r = &self.registration;
        let address = match (&r.controller, r.quorum_port) {
            (Some(c), _) => join_host_port(&c.host, c.port),
            (None, Some(port)) => join_host_port(&r.host, port),
            (None, None) => return None,
        };
        Some((raft_id(r.node), Rc::from(address)))
    }

    /// A peer's hello: its address is taken when this member has no other for it, and
    /// follows fewer than `HELLO_PEERS_MAX` peers (a stranger's hellos cannot make it
    /// keep peers without end).
    fn hello_from(&self, from: u64, address: &str) {
        let me = raft_id(self.registration.node);
        let fresh = from != me
            && VoterChange::valid_id(from)
            && !self.peers.borrow().iter().any(|p| p.id == from);
        if fresh && self.peers.borrow().len() < HELLO_PEERS_MAX {
            tracing::info!(peer = from, %address, "metadata quorum peer found by its hello");
            self.follow(from, address.to_string());
        }
    }

    pub(super) fn send(&self, message: Message) {
        let peers = self.peers.borrow();
        let Some(peer) = peers.iter().find(|p| p.id == message.to) else {
            return;
        };
        let mut queue = peer.queue.borrow_mut();
        if queue.len() >= PEER_QUEUE_MAX {
            queue.pop_front();
        }
        queue.push_back(codec::encode_message(&message));
        peer.queued.notify();
    }

    /// Takes peers' connections, at most `INBOUND_MAX` at once: the listener is for the
    /// few voters, and anyone else who connects must not hold its descriptors or tasks.
    /// With `tls`, each connection speaks TLS first (the handshake within
    /// `CONNECT_TIMEOUT`); a SASL controller listener then asks for a login. A peer that
    /// proves no principal (no certificate the truststore signs, no login), or (with an
    /// authorizer) one that may not CLUSTER_ACTION, is closed: the quorum believes its
    /// peers' messages (`admitted`).
    pub(super) async fn accept(
        self: Rc<Self>,
        shard: Rc<Shard>,
        listener: TcpListener,
        mut tls: Option<crate::server::tls::Tls>,
    ) {
        let open = Rc::new(Cell::new(0usize));
        loop {
            match shard.unless_stopping(listener.accept()).await {
                None => return,
                Some(Ok(stream)) if open.get() >= INBOUND_MAX => {
                    tracing::warn!("metadata quorum listener: {INBOUND_MAX} connections open; refusing another");
                    drop(stream);
                }
                Some(Ok(stream)) => {
                    open.set(open.get() + 1);
                    let (member, shard, open) =
                        (Rc::clone(&self), Rc::clone(&shard), Rc::clone(&open));
                    let accept = tls.as_mut().map(|tls| tls.accept());
                    glommio::spawn_local(async move {
                        match admitted(&shard, stream, accept).await {
                            Ok(stream) => member.receive(shard, stream).await,
                            Err(why) => {
                                tracing::warn!(
                                    "metadata quorum listener: a connection refused: {why}"
                                )
                            }
                        }
                        open.set(open.get() - 1);
                    })
                    .detach();
                }
                Some(Err(error)) => {
                    tracing::debug!(%error, "metadata quorum listener: accept failed");
                    if shard.pause(RECONNECT_PAUSE).await.is_none() {
                        return;
                    }
                }
            }
        }
    }

    /// Reads a peer's messages until it closes. A frame that does not decode, a message
    /// addressed to another node, or `INBOUND_IDLE` without a frame closes it (a peer
    /// with something to say dials again).
    async fn receive(self: Rc<Self>, shard: Rc<Shard>, mut stream: Stream) {
        let socket = stream.socket();
        if socket.is_some_and(|socket| crate::server::sendfile::set_nonblocking(socket).is_err()) {
            return;
        }
        let budget = RequestBudget::new(None);
        let me = raft_id(self.registration.node);
        loop {
            let read = read_frame(&mut stream, socket, FRAME_MAX, &budget);
            let idle = async {
                glommio::timer::sleep(INBOUND_IDLE).await;
                Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "idle"))
            };
            let frame = match shard
                .unless_stopping(futures_lite::future::or(read, idle))
                .await
            {
                Some(Ok(Some((frame, _reserved)))) => frame,
                Some(Err(error)) => {
                    tracing::debug!(%error, "metadata quorum peer dropped");
                    return;
                }
                _ => return,
            };
            let message = match codec::decode_message(&frame) {
                Ok(message) => message,
                Err(error) => {
                    tracing::warn!(%error, "metadata quorum peer sent a frame that does not decode: closing its connection");
                    return;
                }
            };
            if let Some(address) = codec::as_hello(&message) {
                self.hello_from(message.from, address);
                continue;
            }
            // A proposal may be addressed to this node by its address only (a bootstrap
            // server); anything else names this node.
            let proposal = message.msg_type == raft::eraftpb::MessageType::MsgPropose;
            if message.to != me && !proposal {
                tracing::warn!(
                    from = message.from,
                    to = message.to,
                    "metadata quorum message not for this node: closing its connection"
                );
                return;
            }
            if !self.stopped.get() {
                self.inbound.borrow_mut().push(message);
                self.arrived.notify();
            }
        }
    }
}

/// Sends a peer's queued messages over one connection (TLS with `tls`), made again when
/// it breaks. Messages queued while it cannot be reached are dropped: Raft sends again.
pub(super) async fn send_to(
    peer: Rc<Peer>,
    shard: Rc<Shard>,
    mut tls: Option<crate::server::tls::Dial>,
    hello: Option<(u64, Rc<str>)>,
) {
    let hello =
        hello.map(|(from, address)| codec::encode_message(&codec::hello(from, peer.id, &address)));
    let mut stream: Option<Stream> = None;
    let mut greeted = false;
    loop {
        if peer.retired.get() {
            return;
        }
        let queued = peer.queued.listen();
        if peer.queue.borrow().is_empty() {
            if shard.unless_stopping(queued).await.is_none() {
                return;
            }
            continue;
        }
        if stream.is_none() {
            let config = tls.as_mut().map(crate::server::tls::Dial::current);
            let login = shard.snapshot().broker.controller_login.clone();
            let login = login.as_ref().map(|login| &login.dial);
            let dialled = crate::replication::peer::dial(&peer.address, config, login);
            match shard.unless_stopping(dialled).await {
                None => return,
                Some(Ok(connected)) => {
                    stream = Some(connected);
                    greeted = false;
                }
                Some(Err(error)) => {
                    tracing::debug!(peer = %peer.address, %error, "metadata quorum peer unreachable");
                    peer.queue.borrow_mut().clear();
                    if shard.pause(RECONNECT_PAUSE).await.is_none() {
                        return;
                    }
                    continue;
                }
            }
        }
        let mut bytes = Vec::new();
        let mut frame = |frame: &[u8]| {
            bytes.extend_from_slice(&(frame.len() as u32).to_be_bytes());
            bytes.extend_from_slice(frame);
        };
        // A new connection says first who dialled it and where that one listens.
        if let Some(hello) = hello.as_deref().filter(|_| !greeted) {
            frame(hello);
            greeted = true;
        }
        for queued in peer.queue.borrow_mut().drain(..) {
            frame(&queued);
        }
        let Some(connection) = stream.as_mut() else {
            continue;
        };
        // Flushed: a TLS stream holds what it encrypted until then.
        let written = async {
            connection.write_all(&bytes).await?;
            connection.flush().await
        };
        match shard.unless_stopping(written).await {
            None => return,
            Some(Ok(())) => {}
            Some(Err(error)) => {
                tracing::debug!(peer = %peer.address, %error, "metadata quorum connection lost");
                stream = None;
            }
        }
    }
}

/// A peer's connection as the controller listener takes it: plain, or over TLS from a
/// peer with a certificate, or after a SASL login, by a peer whose principal (its
/// login's, else its certificate's) may CLUSTER_ACTION (anyone's without an
/// authorizer); why not otherwise.
async fn admitted(
    shard: &Shard,
    stream: glommio::net::TcpStream,
    accept: Option<crate::server::tls::Accept>,
) -> Result<Stream, String> {
    let login = shard.snapshot().broker.controller_login.clone();
    let ip = stream.peer_addr().map(|a| a.ip()).ok();
    let host = ip.map(|ip| ip.to_string()).unwrap_or_default();
    let broker = &shard.snapshot().broker;
    if login.is_some() && ip.is_some_and(|ip| crate::server::quotas::over_failed_logins(ip, broker))
    {
        return Err(format!(
            "{host} is over max.failed.authentication.rate.per.ip"
        ));
    }
    let (mut stream, certified) = match accept {
        None if login.is_none() => return Ok(Stream::Plain(stream)),
        None => (Stream::Plain(stream), None),
        Some(accept) => {
            let acceptor = accept.acceptor.clone();
            let stream = Stream::accept_tls(stream, acceptor, CONNECT_TIMEOUT)
                .await
                .map_err(|error| format!("TLS handshake failed from {host}: {error}"))?;
            let Stream::TlsServer(session) = &stream else {
                return Err("not a TLS session".to_string());
            };
            let principal = accept.principal(session.get_ref().1)?;
            (stream, principal)
        }
    };
    let principal = match login {
        Some(login) => {
            let logged_in = log_in(shard, &mut stream, &login.accept);
            let logged_in = glommio::timer::timeout(CONNECT_TIMEOUT, async { Ok(logged_in.await) });
            match logged_in.await {
                Ok(Ok(principal)) => principal,
                Ok(Err(why)) => {
                    if let Some(ip) = ip {
                        crate::server::quotas::failed_login(ip, &shard.snapshot().broker);
                    }
                    return Err(format!("{host}: {why}"));
                }
                Err(_) => return Err(format!("{host} did not log in in time")),
            }
        }
        None => certified.ok_or_else(|| format!("{host} showed no certificate"))?,
    };
    let snapshot = shard.snapshot();
    let allowed = snapshot.authorizer().is_none_or(|authorizer| {
        use crate::acl::{Operation, ResourceType, CLUSTER_NAME};
        let (operation, cluster) = (Operation::ClusterAction, ResourceType::Cluster);
        authorizer.authorize(&principal, &host, operation, cluster, CLUSTER_NAME)
    });
    match allowed {
        true => Ok(stream),
        false => Err(format!(
            "{principal} from {host} may not CLUSTER_ACTION on the cluster"
        )),
    }
}

/// The largest frame of a login.
const LOGIN_FRAME_MAX: usize = 64 << 10;

/// Serves a peer's SASL login on a SASL controller listener, as a client listener
/// serves one (`server::sasl::Login`: SaslHandshake, then SaslAuthenticate); the
/// principal it proved, or why not. Nothing but the login is served before it.
async fn log_in(
    shard: &Shard,
    stream: &mut Stream,
    security: &crate::security::ListenerSecurity,
) -> Result<String, String> {
    use crate::server::sasl::{Login, Step};
    let Some(mut login) = Login::new(security, None) else {
        return Err("the controller listener asks for no login".to_string());
    };
    let socket = stream.socket();
    if socket.is_some_and(|socket| crate::server::sendfile::set_nonblocking(socket).is_err()) {
        return Err("its socket cannot be read".to_string());
    }
    let budget = RequestBudget::new(None);
    loop {
        let frame = match read_frame(stream, socket, LOGIN_FRAME_MAX, &budget).await {
            Ok(Some((frame, _reserved))) => frame,
            Ok(None) => return Err("closed before logging in".to_string()),
            Err(error) => return Err(format!("a login frame not read: {error}")),
        };
        let answer = match login.read(shard, frame) {
            Step::Answer(_, answer) => answer,
            Step::Last(_, answer, delay) => {
                glommio::timer::sleep(delay).await;
                let _ = stream.write_all(&answer).await;
                let _ = stream.flush().await;
                return Err("its login was refused".to_string());
            }
            Step::Fail(delay) => {
                glommio::timer::sleep(delay).await;
                return Err("its login was refused".to_string());
            }
            Step::Serve(_) | Step::Close => {
                return Err("it sent something other than a login".to_string())
            }
        };
        let written = async {
            stream.write_all(&answer).await?;
            stream.flush().await
        };
        written
            .await
            .map_err(|error| format!("a login answer not sent: {error}"))?;
        if let Some(principal) = login.principal() {
            return Ok(principal.to_string());
        }
    }
}
