//! One client connection: frames in, requests handled concurrently (pipelining), and
//! responses written strictly in request order.
//!
//! Bounded: a frame over `socket.request.max.bytes` (before a SASL login, over
//! `sasl.server.max.receive.size`) or with a negative length closes the connection (as
//! Kafka does), and at most `IN_FLIGHT_MAX` requests are in flight; beyond that the
//! connection stops reading its socket. A connection idle for `connections.max.idle.ms` is closed.

use std::cell::Cell;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures::channel::oneshot;
use futures::{AsyncReadExt, AsyncWriteExt};
use glommio::channels::local_channel;
use glommio::net::TcpStream;
use kafka_protocol::messages::ApiKey;

use super::frame::{read_frame, Reserved};
use super::handlers::{self, Peer, Response};
use super::oauth::SharedJwks;
use super::sasl::{Login, Step};
use super::sendfile::{self, send_file};
use super::tls::Accept;
use crate::acl::ANONYMOUS;
use crate::metrics::RequestTimer;
use crate::protocol::{self, fetch::Chunk};
use crate::security::Mechanism;
use crate::shard::Shard;

/// Requests read but not yet answered, per connection, at most.
pub const IN_FLIGHT_MAX: usize = 64;

/// A request read and being handled: its handler, its timer, and its bytes' share of
/// the shard's request budget.
type InFlight = (glommio::Task<Response>, RequestTimer, Reserved);

/// What a connection's listener checks its clients with: the TLS handshake's config on
/// a TLS listener, and the OAUTHBEARER validator when the listener enables it.
pub struct Security {
    pub tls: Option<Accept>,
    pub oauth: Option<SharedJwks>,
}

/// Serves one connection of client listener `listener` (its security settings apply,
/// with `security`; on a TLS listener the handshake comes first), or with `None`, of a
/// replication port (other brokers', who log in as the inter-broker listener asks).
pub async fn serve(
    shard: Rc<Shard>,
    stream: TcpStream,
    listener: Option<Rc<str>>,
    security: Security,
) {
    let socket = stream.as_raw_fd();
    let _ = stream.set_nodelay(true);
    if let Err(error) = sendfile::set_nonblocking(socket) {
        tracing::warn!(%error, "connection dropped: cannot make it non-blocking");
        return;
    }
    let _open = shard.metrics.connection_opened();
    // Kafka's form of the client's address, as DescribeGroups shows it.
    let ip = stream.peer_addr().ok().map(|address| address.ip());
    let mut peer = Peer {
        ip,
        host: ip.map(|ip| format!("/{ip}")).unwrap_or_default(),
        principal: ANONYMOUS.to_string(),
        internal: listener.is_none(),
        listener: match listener {
            Some(name) => name,
            None => inter_broker_listener(&shard),
        },
    };
    let oauth = security.oauth;
    // A replication port asks for what the inter-broker listener asks for.
    let login = Login::new(
        shard.snapshot().broker.security_of(&peer.listener),
        oauth.clone(),
    );
    let activity = Activity::new();
    let Some(tls) = security.tls else {
        let wire = Wire { socket, tls: false };
        return talk(&shard, stream, wire, (peer, login, oauth), &activity).await;
    };
    let handshake = async { tls.acceptor.accept(stream).await };
    let stream = match shard
        .unless_stopping(futures_lite::future::or(
            handshake,
            activity.expiry(idle_limit(&shard)),
        ))
        .await
    {
        Some(Ok(stream)) => stream,
        Some(Err(error)) => {
            // Kafka counts a failed handshake as a failed authentication.
            shard.metrics.authentications_failed.add(1);
            tracing::debug!(%error, host = %peer.host, "TLS handshake failed; closing connection");
            return;
        }
        None => return,
    };
    if login.is_none() {
        // An SSL listener: the client certificate, if any, says who the client is.
        match tls.principal(stream.get_ref().1) {
            Ok(principal) => {
                shard.metrics.authentications_succeeded.add(1);
                if let Some(principal) = principal {
                    peer.principal = principal;
                }
            }
            Err(why) => {
                shard.metrics.authentications_failed.add(1);
                tracing::info!(host = %peer.host, "connection refused: {why}");
                failed_login(&shard, &peer);
                return;
            }
        }
    }
    let wire = Wire { socket, tls: true };
    talk(&shard, stream, wire, (peer, login, oauth), &activity).await;
}

/// The socket under a connection's stream, and whether the stream is TLS: then bytes
/// are read and written only through the stream (no `recv` or `sendfile` on the
/// socket, which carries records, not requests).
#[derive(Clone, Copy)]
struct Wire {
    socket: RawFd,
    tls: bool,
}

/// Reads requests and writes their responses until either side ends.
async fn talk<S: futures::AsyncRead + futures::AsyncWrite + Unpin>(
    shard: &Rc<Shard>,
    stream: S,
    wire: Wire,
    (peer, login, oauth): (Peer, Option<Login>, Option<SharedJwks>),
    activity: &Activity,
) {
    // Unbuffered: frames are read partly from the socket itself (`frame`).
    let (reader, writer) = stream.split();
    let (queue, responses) = local_channel::new_bounded(IN_FLIGHT_MAX);
    let reading = read_requests(
        Rc::clone(shard),
        (peer, login, oauth),
        (reader, wire),
        queue,
        activity,
    );
    let writing = write_responses(shard, wire, writer, responses, activity);
    futures::future::join(reading, writing).await;
}

/// `connections.max.idle.ms`, or `None` for no limit.
fn idle_limit(shard: &Shard) -> Option<Duration> {
    super::sasl::limit_ms(shard.snapshot().broker.connections_max_idle_ms)
}

/// When the connection last read a request or wrote a response, and how many requests
/// it holds: `connections.max.idle.ms` closes it once it has been idle that long. And
/// until when a client quota has it muted.
struct Activity {
    last: Cell<Instant>,
    in_flight: Cell<usize>,
    muted_until: Cell<Option<Instant>>,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            last: Cell::new(Instant::now()),
            in_flight: Cell::new(0),
            muted_until: Cell::new(None),
        }
    }

    /// A client over its quota: no request of the connection is served for `wait`
    /// (Kafka mutes the channel; a client since KIP-219 also holds back by the answer's
    /// throttle time).
    fn mute(&self, wait: Duration) {
        let until = Instant::now() + wait;
        self.muted_until
            .set(Some(self.muted_until.get().map_or(until, |u| u.max(until))));
    }

    /// Returns once the connection is not muted.
    async fn unmuted(&self) {
        while let Some(until) = self.muted_until.get() {
            let now = Instant::now();
            if now >= until {
                self.muted_until.set(None);
                return;
            }
            glommio::timer::sleep(until - now).await;
        }
    }

    fn request_read(&self) {
        self.last.set(Instant::now());
        self.in_flight.set(self.in_flight.get() + 1);
    }

    fn answered(&self) {
        self.last.set(Instant::now());
        self.in_flight.set(self.in_flight.get().saturating_sub(1));
    }

    /// Completes (with an error, to close the connection) once the connection has
    /// been idle for `idle`: nothing read or written, no request in flight. Never when
    /// `idle` is `None`.
    async fn expiry<T>(&self, idle: Option<Duration>) -> io::Result<T> {
        let Some(idle) = idle else {
            return futures::future::pending().await;
        };
        loop {
            let due = self.last.get() + idle;
            let now = Instant::now();
            if now >= due && self.in_flight.get() == 0 {
                let message = format!("idle for {} ms (connections.max.idle.ms)", idle.as_millis());
                return Err(io::Error::new(io::ErrorKind::TimedOut, message));
            }
            glommio::timer::sleep(due.saturating_duration_since(now).max(idle / 10)).await;
        }
    }
}

/// Counts a failed login against the client's address
/// (`max.failed.authentication.rate.per.ip`), saying so when it takes the address over.
fn failed_login(shard: &Shard, peer: &Peer) {
    let Some(ip) = peer.ip else {
        return;
    };
    if super::quotas::failed_login(ip, &shard.snapshot().broker) {
        tracing::info!(%ip, "failed logins from this address are over max.failed.authentication.rate.per.ip: its connections are closed at accept until they slow down");
    }
}

/// The listener another broker's requests are answered for (their Metadata lists
/// brokers at their inter-broker listeners' addresses).
fn inter_broker_listener(shard: &Shard) -> Rc<str> {
    let snapshot = shard.snapshot();
    let name = snapshot
        .broker
        .inter_broker_listener()
        .map(|l| l.name.as_str());
    Rc::from(name.unwrap_or_default())
}

/// How soon after one login again another may begin (Kafka's one second).
const REAUTH_INTERVAL_MIN: Duration = Duration::from_secs(1);

/// A connection's SASL login: its mechanism, which a login again must use, and when it
/// expires (`connections.max.reauth.ms`).
struct Session {
    mechanism: Mechanism,
    expires: Option<Instant>,
}

async fn read_requests<R: futures::AsyncRead + Unpin>(
    shard: Rc<Shard>,
    (peer, mut login, oauth): (Peer, Option<Login>, Option<SharedJwks>),
    (mut reader, wire): (R, Wire),
    queue: local_channel::LocalSender<InFlight>,
    activity: &Activity,
) {
    let frame_max = shard.snapshot().broker.socket_request_max_bytes.max(0) as usize;
    let sasl_frame_max = shard.snapshot().broker.sasl_server_max_receive_size.max(0) as usize;
    let idle = idle_limit(&shard);
    // Under TLS the socket carries records: frames are read through the stream.
    let socket = (!wire.tls).then_some(wire.socket);
    let mut peer = Rc::new(peer);
    // The SASL login in force, and how long one may hold (KIP-368).
    let reauth = super::sasl::reauth_limit(&shard.snapshot());
    let mut session: Option<Session> = None;
    // When the last login again began: a handshake sooner than a second after it is
    // served as any request (ILLEGAL_SASL_STATE), as Kafka bounds logins again.
    let mut last_again: Option<Instant> = None;
    // The turn of the last produce request read: the next one waits for it.
    let mut last_produce: Option<oneshot::Receiver<()>> = None;
    loop {
        // Before the login, a frame is a SASL message, at most
        // `sasl.server.max.receive.size`.
        let frame_max = match login {
            Some(_) => frame_max.min(sasl_frame_max),
            None => frame_max,
        };
        let next = read_frame(&mut reader, socket, frame_max, &shard.request_budget);
        let (frame, reserved) = match shard
            .unless_stopping(futures_lite::future::or(next, activity.expiry(idle)))
            .await
        {
            Some(Ok(Some(frame))) => frame,
            Some(Ok(None)) | None => return,
            Some(Err(error)) => {
                tracing::debug!(%error, "closing connection");
                return;
            }
        };
        // A muted connection's next request waits, read or not, until the mute ends.
        if shard.unless_stopping(activity.unmuted()).await.is_none() {
            return;
        }
        // `login` is `Some` until the client has logged in, and again while it logs in
        // again (KIP-368).
        let step = match login.as_mut() {
            Some(pending) => pending.read(&shard, frame),
            None => match protocol::parse_request(frame) {
                Ok(request) => match &session {
                    Some(current)
                        if request.api_key == ApiKey::SaslHandshake
                            && current.expires.is_some()
                            && last_again.is_none_or(|at| at.elapsed() >= REAUTH_INTERVAL_MIN) =>
                    {
                        last_again = Some(Instant::now());
                        let snapshot = shard.snapshot();
                        let security = snapshot.broker.security_of(&peer.listener);
                        let principal = (peer.principal.as_str(), current.mechanism);
                        let again = Login::again(security, oauth.clone(), principal);
                        login.insert(again).step(&shard, request)
                    }
                    Some(current) if current.expires.is_some_and(|at| Instant::now() >= at) => {
                        tracing::debug!("closing connection: its SASL login expired (connections.max.reauth.ms)");
                        return;
                    }
                    _ => Step::Serve(request),
                },
                Err(error) => {
                    tracing::debug!(%error, "closing connection");
                    return;
                }
            },
        };
        if let Some((principal, mechanism)) = login.as_ref().and_then(Login::completed) {
            if session.is_some() && principal != peer.principal {
                tracing::info!(was = %peer.principal, now = %principal, "closing connection: a login again as another principal");
                return;
            }
            peer = Rc::new(Peer {
                ip: peer.ip,
                host: peer.host.clone(),
                principal,
                internal: peer.internal,
                listener: Rc::clone(&peer.listener),
            });
            let lifetime = login.as_ref().and_then(|l| l.lifetime(reauth));
            session = Some(Session {
                mechanism,
                expires: lifetime.map(|lifetime| Instant::now() + lifetime),
            });
            login = None;
        }
        let request = match step {
            Step::Serve(request) => request,
            Step::Answer(api, frame) => {
                let answer = ready(Response::Frame(frame));
                if !queue_answer(&shard, &queue, activity, api, answer, reserved).await {
                    return;
                }
                continue;
            }
            Step::Last(api, frame, delay) => {
                failed_login(&shard, &peer);
                let answer = delayed(Response::Last(frame), delay);
                queue_answer(&shard, &queue, activity, api, answer, reserved).await;
                return;
            }
            Step::Fail(delay) => {
                failed_login(&shard, &peer);
                shard.pause(delay).await;
                return;
            }
            Step::Close => return,
        };
        // Versions outside what the API serves (answered UNSUPPORTED_VERSION or closed)
        // share one label, so a client cannot mint metric series at will.
        let served =
            handlers::versions(request.api_key).is_some_and(|v| v.contains(&request.version));
        let version = if served { request.version } else { -1 };
        let timer = RequestTimer::start(&shard, request.api_key, version);
        let turn = (request.api_key == ApiKey::Produce).then(|| Turn::after(&mut last_produce));
        activity.request_read();
        let task = glommio::spawn_local(handlers::handle(
            Rc::clone(&shard),
            Rc::clone(&peer),
            request,
            timer.handler(),
            turn,
        ));
        if queue.send((task, timer, reserved)).await.is_err() {
            return;
        }
    }
}

/// Queues a login exchange's answer to a request of `api` (its key and version); false
/// when the connection is closing.
async fn queue_answer(
    shard: &Rc<Shard>,
    queue: &local_channel::LocalSender<InFlight>,
    activity: &Activity,
    (api, version): (ApiKey, i16),
    answer: glommio::Task<Response>,
    reserved: Reserved,
) -> bool {
    let timer = RequestTimer::start(shard, api, version);
    activity.request_read();
    queue.send((answer, timer, reserved)).await.is_ok()
}

/// A task that answers `response` at once.
fn ready(response: Response) -> glommio::Task<Response> {
    glommio::spawn_local(async move { response })
}

/// A task that answers `response` after `delay`.
fn delayed(response: Response, delay: Duration) -> glommio::Task<Response> {
    glommio::spawn_local(async move {
        glommio::timer::sleep(delay).await;
        response
    })
}

/// A produce request's place in its connection's order. Its handler waits for the
/// produce request read before it to have queued its appends (`wait`) before queueing
/// its own, and lets the next one go when it has (`pass`, or by being dropped, however
/// the handler ends). Each partition queues appends in the order they come, so a
/// connection's pipelined produce requests reach each log in the order they were sent,
/// whatever order their tasks run in.
pub struct Turn {
    after: Option<oneshot::Receiver<()>>,
    done: Option<oneshot::Sender<()>>,
}

impl Turn {
    /// The turn after the one `last` waits for; `last` then waits for this one.
    fn after(last: &mut Option<oneshot::Receiver<()>>) -> Turn {
        let (done, next) = oneshot::channel();
        Turn {
            after: last.replace(next),
            done: Some(done),
        }
    }

    /// Returns once every earlier produce request of the connection has queued its
    /// appends (or ended without any).
    pub async fn wait(&mut self) {
        if let Some(earlier) = self.after.take() {
            let _ = earlier.await;
        }
    }

    /// This request's appends are queued: the next produce request may queue its own.
    pub fn pass(mut self) {
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
    }
}

impl Drop for Turn {
    /// A handler that ends before its turn came (a refused request) still holds the
    /// next one back until the earlier ones have queued.
    fn drop(&mut self) {
        let (Some(earlier), Some(done)) = (self.after.take(), self.done.take()) else {
            return;
        };
        glommio::spawn_local(async move {
            let _ = earlier.await;
            let _ = done.send(());
        })
        .detach();
    }
}

async fn write_responses<W: futures::AsyncWrite + Unpin>(
    shard: &Shard,
    wire: Wire,
    mut writer: W,
    responses: local_channel::LocalReceiver<InFlight>,
    activity: &Activity,
) {
    // The request's bytes count against the shard's budget until it is answered.
    while let Some((task, mut timer, _reserved)) = responses.recv().await {
        let response = task.await;
        timer.sending();
        let written = match response {
            Response::Frame(frame) => writer.write_all(&frame).await,
            Response::Last(frame) => match writer.write_all(&frame).await {
                // The refusal must leave before the connection shuts (a TLS stream holds
                // it until flushed).
                Ok(()) => writer.flush().await.and(Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "login failed",
                ))),
                Err(error) => Err(error),
            },
            Response::Chunks(chunks) => write_chunks(shard, wire, &mut writer, chunks).await,
            Response::Nothing => Ok(()),
            Response::Close => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request refused",
            )),
        };
        // A TLS stream holds what it encrypted until flushed.
        let written = match written {
            Ok(()) if wire.tls => writer.flush().await,
            other => other,
        };
        if let Err(error) = written {
            tracing::debug!(%error, "closing connection");
            break;
        }
        let throttle = timer.throttle();
        if !throttle.is_zero() {
            activity.mute(throttle);
        }
        timer.answered();
        activity.answered();
    }
    // Wakes the reader if it is still waiting for a frame.
    // SAFETY: shutdown on the connection's own open socket.
    unsafe { libc::shutdown(wire.socket, libc::SHUT_RDWR) };
    // Requests read but not answered still run to their end (a coordinator's write
    // stopped halfway would leave its state behind its log), unanswered.
    while let Some((task, _, _)) = responses.recv().await {
        task.detach();
    }
}

async fn write_chunks<W: futures::AsyncWrite + Unpin>(
    shard: &Shard,
    wire: Wire,
    writer: &mut W,
    chunks: Vec<Chunk<sendfile::SendSlice>>,
) -> io::Result<()> {
    sendfile::set_cork(wire.socket, true);
    let mut result = Ok(());
    for chunk in chunks {
        result = match chunk {
            Chunk::Bytes(bytes) => {
                shard.metrics.fetch_framing_bytes.add(bytes.len() as u64);
                writer.write_all(&bytes).await
            }
            Chunk::File { file, length } if wire.tls => {
                // TLS encrypts in userspace: the file's bytes go through it.
                shard.metrics.fetch_copied_bytes.add(u64::from(length));
                sendfile::copy_file(writer, &file, length as usize).await
            }
            Chunk::File { file, length } => {
                shard.metrics.fetch_sendfile_bytes.add(u64::from(length));
                // Framing written so far must reach the socket before the file's bytes.
                match writer.flush().await {
                    Ok(()) => send_file(wire.socket, writer, &file, length as usize).await,
                    Err(error) => Err(error),
                }
            }
        };
        if result.is_err() {
            break;
        }
    }
    sendfile::set_cork(wire.socket, false);
    result
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::*;

    #[test]
    fn a_turn_dropped_before_it_came_still_holds_the_next_back() {
        glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .make()
            .expect("executor")
            .run(async {
                let mut last = None;
                let first = Turn::after(&mut last);
                let refused = Turn::after(&mut last);
                let mut third = Turn::after(&mut last);
                let order = Rc::new(RefCell::new(Vec::new()));
                let seen = Rc::clone(&order);
                let waiting = glommio::spawn_local(async move {
                    third.wait().await;
                    seen.borrow_mut().push("third");
                });
                drop(refused);
                glommio::executor().yield_now().await;
                order.borrow_mut().push("first");
                first.pass();
                waiting.await;
                assert_eq!(*order.borrow(), ["first", "third"]);
            });
    }
}
