//! Requests one broker sends another in the Kafka protocol, on glommio: the replica
//! fetcher's fetches (on a connection it keeps) and the transaction coordinator's
//! WriteTxnMarkers to partition leaders elsewhere (a connection per call).

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use futures::AsyncWriteExt;
use glommio::net::TcpStream;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::{Decodable, Encodable};

use crate::server::frame::{read_frame, RequestBudget};

/// The largest answer frame read.
const FRAME_MAX: usize = 64 << 20;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a one-off call waits for its answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
const CLIENT_ID: &str = "shoal-broker";

/// Sends one request on `stream` and reads its answer.
pub async fn exchange<Q: Encodable, R: Decodable>(
    stream: &mut TcpStream,
    (api_key, version): (ApiKey, i16),
    correlation: i32,
    request: &Q,
) -> io::Result<R> {
    let frame = crate::client::request_frame(api_key, version, correlation, CLIENT_ID, request)?;
    stream.write_all(&frame).await?;
    let socket = stream.as_raw_fd();
    let budget = RequestBudget::new(None);
    let Some((frame, _reserved)) = read_frame(stream, Some(socket), FRAME_MAX, &budget).await?
    else {
        return Err(io::ErrorKind::UnexpectedEof.into());
    };
    let (answered, response) = crate::client::decode_response(frame, api_key, version)?;
    if answered != correlation {
        let message = format!("correlation id {answered}, expected {correlation}");
        return Err(io::Error::new(io::ErrorKind::InvalidData, message));
    }
    Ok(response)
}

/// Connects to `address` (host:port) within `CONNECT_TIMEOUT`.
pub async fn connect(address: &str) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(address, CONNECT_TIMEOUT)
        .await
        .map_err(io::Error::from)?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// One request to the broker at `address` on a connection of its own, answered within
/// `CALL_TIMEOUT`.
pub async fn call<Q: Encodable, R: Decodable>(
    address: &str,
    api: (ApiKey, i16),
    request: &Q,
) -> io::Result<R> {
    let answered = glommio::timer::timeout(CALL_TIMEOUT, async {
        let mut stream = connect(address).await?;
        Ok(exchange(&mut stream, api, 1, request).await)
    })
    .await;
    answered.map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer in time"))?
}
