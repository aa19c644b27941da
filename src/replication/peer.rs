//! Requests one broker sends another in the Kafka protocol, on glommio: the replica
//! fetcher's fetches (on a connection it keeps), and the transaction coordinator's
//! WriteTxnMarkers and partition leaders' AddPartitionsToTxn checks (`call`, on
//! connections each shard pools per broker).

use std::collections::HashMap;
use std::io;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::AsyncWriteExt;
use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::security::scram::ScramClient;
use crate::security::{InterBrokerLogin, Mechanism};
use crate::server::frame::{read_frame, RequestBudget};
pub use crate::server::stream::Stream;
use crate::shard::Shard;

/// The largest answer frame read.
const FRAME_MAX: usize = 64 << 20;
/// How long connecting may take, and the TLS handshake after it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a call waits for its answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
const CLIENT_ID: &str = "shoal-broker";

/// Sends one request on `stream` and reads its answer.
pub async fn exchange<Q: Encodable, R: Decodable>(
    stream: &mut Stream,
    (api_key, version): (ApiKey, i16),
    correlation: i32,
    request: &Q,
) -> io::Result<R> {
    let frame = crate::client::request_frame(api_key, version, correlation, CLIENT_ID, request)?;
    stream.write_all(&frame).await?;
    stream.flush().await?;
    let socket = stream.socket();
    let budget = RequestBudget::new(None);
    let Some((frame, _reserved)) = read_frame(stream, socket, FRAME_MAX, &budget).await? else {
        return Err(io::ErrorKind::UnexpectedEof.into());
    };
    let (answered, response) = crate::client::decode_response(frame, api_key, version)?;
    if answered != correlation {
        let message = format!("correlation id {answered}, expected {correlation}");
        return Err(io::Error::new(io::ErrorKind::InvalidData, message));
    }
    Ok(response)
}

/// Connects to another broker's replication port at `address` (host:port) and does
/// what the inter-broker listener asks: a TLS handshake, a SASL login.
pub async fn connect(shard: &Shard, address: &str) -> io::Result<Stream> {
    let login = shard.snapshot().broker.inter_broker_login.clone();
    dial(address, shard.peer_tls(), login.as_ref()).await
}

/// Connects to another node at `address` (host:port), with `tls` shakes hands (see
/// `server::tls::Dial` for what it checks), with `login` logs in, each within
/// `CONNECT_TIMEOUT`.
pub async fn dial(
    address: &str,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    login: Option<&InterBrokerLogin>,
) -> io::Result<Stream> {
    let mut stream = Stream::connect(address, tls, CONNECT_TIMEOUT).await?;
    if let Some(login) = login {
        let logged_in = async { Ok(log_in(&mut stream, login).await) };
        match glommio::timer::timeout(CONNECT_TIMEOUT, logged_in).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no SASL login in time",
                ))
            }
        }
    }
    Ok(stream)
}

/// Logs in as `login` says (SaslHandshake v1, then SaslAuthenticate v2 once for PLAIN,
/// twice for SCRAM); the other broker's refusal is an error.
async fn log_in(stream: &mut Stream, login: &InterBrokerLogin) -> io::Result<()> {
    let refused = |what: String| io::Error::new(io::ErrorKind::PermissionDenied, what);
    let mechanism = login.mechanism.name();
    let handshake =
        SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism));
    let answer: SaslHandshakeResponse =
        exchange(stream, (ApiKey::SaslHandshake, 1), 1, &handshake).await?;
    if answer.error_code != 0 {
        return Err(refused(format!(
            "SASL {mechanism}: error code {}",
            answer.error_code
        )));
    }
    let mut correlation = 1;
    let mut send = async |bytes: Vec<u8>| -> io::Result<Bytes> {
        correlation += 1;
        let request = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(bytes));
        let answer: SaslAuthenticateResponse =
            exchange(stream, (ApiKey::SaslAuthenticate, 2), correlation, &request).await?;
        match answer.error_code {
            0 => Ok(answer.auth_bytes),
            code => Err(refused(format!(
                "SASL {mechanism} login as {}: error code {code} ({})",
                login.username,
                answer.error_message.as_deref().unwrap_or_default()
            ))),
        }
    };
    match login.mechanism {
        Mechanism::Scram(scram) => {
            let (client, first) = ScramClient::first(scram, &login.username)?;
            let server_first = send(first).await?;
            let (last, expected) = client
                .last(&server_first, &login.password)
                .map_err(|why| io::Error::new(io::ErrorKind::InvalidData, why))?;
            if send(last).await? != expected {
                return Err(refused(
                    "the other broker's SCRAM signature is wrong".to_string(),
                ));
            }
        }
        _ => {
            let message = format!("\0{}\0{}", login.username, login.password);
            send(message.into_bytes()).await?;
        }
    }
    Ok(())
}

/// One request to the broker at `address`, answered within `CALL_TIMEOUT`, on a
/// connection this shard made to it before and that is idle, else on a new one. A
/// connection goes back to the shard's pool once answered; one that failed is dropped.
/// A pooled connection the other broker has closed in the meantime is no answer: the
/// request goes again on a new one (the callers' requests, WriteTxnMarkers and
/// AddPartitionsToTxn, may be sent twice, as their callers retry them anyway).
pub async fn call<Q: Encodable, R: Decodable>(
    shard: &Shard,
    address: &str,
    api: (ApiKey, i16),
    request: &Q,
) -> io::Result<R> {
    let answered = glommio::timer::timeout(CALL_TIMEOUT, async {
        let pooled = shard.peer_pool.borrow_mut().take(address);
        if let Some(mut idle) = pooled {
            if let Ok(response) = idle.exchange(api, request).await {
                shard.peer_pool.borrow_mut().put(address, idle);
                return Ok(Ok(response));
            }
        }
        let mut fresh = Pooled {
            stream: connect(shard, address).await?,
            correlation: 0,
            since: Instant::now(),
        };
        let response = fresh.exchange(api, request).await;
        if response.is_ok() {
            shard.peer_pool.borrow_mut().put(address, fresh);
        }
        Ok(response)
    })
    .await;
    answered.map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer in time"))?
}

/// Connections idle at most this long are used again; older ones are closed (the other
/// broker may close them itself after `connections.max.idle.ms`).
const POOLED_IDLE_MAX: Duration = Duration::from_secs(60);
/// Idle connections kept per broker address.
const POOLED_PER_ADDRESS: usize = 4;

/// A shard's idle connections to other brokers' replication ports, for `call`.
#[derive(Default)]
pub struct Pool {
    idle: HashMap<String, Vec<Pooled>>,
}

/// A connection, the correlation id it last used, and since when it has been idle.
pub struct Pooled {
    stream: Stream,
    correlation: i32,
    since: Instant,
}

impl Pooled {
    async fn exchange<Q: Encodable, R: Decodable>(
        &mut self,
        api: (ApiKey, i16),
        request: &Q,
    ) -> io::Result<R> {
        self.correlation = self.correlation.wrapping_add(1);
        exchange(&mut self.stream, api, self.correlation, request).await
    }
}

impl Pool {
    /// The most recently idle connection to `address` still young enough, and still
    /// open as far as its socket tells.
    fn take(&mut self, address: &str) -> Option<Pooled> {
        self.sweep();
        let idle = self.idle.get_mut(address)?;
        while let Some(connection) = idle.pop() {
            if !connection.stream.closed_or_unasked() {
                return Some(connection);
            }
        }
        None
    }

    fn put(&mut self, address: &str, mut connection: Pooled) {
        connection.since = Instant::now();
        let idle = self.idle.entry(address.to_string()).or_default();
        if idle.len() < POOLED_PER_ADDRESS {
            idle.push(connection);
        }
    }

    /// Closes connections idle too long, whatever their address (a broker that moved
    /// leaves its old address behind).
    fn sweep(&mut self) {
        for idle in self.idle.values_mut() {
            idle.retain(|c| c.since.elapsed() < POOLED_IDLE_MAX);
        }
        self.idle.retain(|_, idle| !idle.is_empty());
    }
}
