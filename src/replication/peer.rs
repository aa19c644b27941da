//! Requests one broker sends another in the Kafka protocol, on glommio: the replica
//! fetcher's fetches (on a connection it keeps) and the transaction coordinator's
//! WriteTxnMarkers to partition leaders elsewhere (a connection per call).

use std::io;
use std::time::Duration;

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
/// How long a one-off call waits for its answer.
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
/// what the inter-broker listener asks: a TLS handshake (the broker's certificate must
/// name `host`), a SASL login, each within `CONNECT_TIMEOUT`.
pub async fn connect(shard: &Shard, address: &str) -> io::Result<Stream> {
    let mut stream = Stream::connect(address, shard.peer_tls(), CONNECT_TIMEOUT).await?;
    let login = shard.snapshot().broker.inter_broker_login.clone();
    if let Some(login) = login {
        let logged_in = async { Ok(log_in(&mut stream, &login).await) };
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

/// One request to the broker at `address` on a connection of its own, answered within
/// `CALL_TIMEOUT`.
pub async fn call<Q: Encodable, R: Decodable>(
    shard: &Shard,
    address: &str,
    api: (ApiKey, i16),
    request: &Q,
) -> io::Result<R> {
    let answered = glommio::timer::timeout(CALL_TIMEOUT, async {
        let mut stream = connect(shard, address).await?;
        Ok(exchange(&mut stream, api, 1, request).await)
    })
    .await;
    answered.map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer in time"))?
}
