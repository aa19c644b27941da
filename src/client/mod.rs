//! A small Kafka client on kafka-protocol, for shoal's own tools and bench harness.
//! Blocking std I/O: tools run outside the shards, and one thread per connection is
//! plenty for them. It speaks the Kafka protocol, so it works against any broker.
//!
//! Layers: `Connection` (frames, correlation ids) < `broker::Broker` (negotiated versions)
//! < `cluster::Cluster` (bootstrap, metadata, a connection per broker id, leader routing).
//! `admin`, `produce`, `fetch`, `group` and `consumer_group` are the requests the tools make; `records`,
//! `partitioner` and `assignor` are pure.

pub mod acls;
pub mod admin;
pub mod assignor;
pub mod broker;
pub mod cluster;
pub mod consumer_group;
pub mod error;
pub mod fetch;
pub mod group;
pub mod partitioner;
pub mod produce;
pub mod quotas;
pub mod records;
pub mod scram;
pub mod tls;
pub mod transactions;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// Largest response frame accepted.
pub const RESPONSE_BYTES_MAX: usize = 256 << 20;

pub struct Connection {
    stream: tls::Stream,
    next_correlation_id: i32,
    client_id: String,
}

impl Connection {
    pub fn connect(address: impl ToSocketAddrs, client_id: &str) -> io::Result<Connection> {
        let stream = TcpStream::connect(address)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(Connection {
            stream: tls::Stream::Plain(stream),
            next_correlation_id: 1,
            client_id: client_id.to_string(),
        })
    }

    /// Connects to HOST:PORT, trying each address it resolves to for at most `timeout`
    /// each; reads and writes time out after `timeout` too, so a dead broker is an error
    /// rather than a hang.
    pub fn connect_timeout(
        address: &str,
        client_id: &str,
        timeout: Duration,
    ) -> io::Result<Connection> {
        let addresses: Vec<SocketAddr> = address.to_socket_addrs()?.collect();
        let mut last_error = io::Error::new(io::ErrorKind::NotFound, "no address resolved");
        for socket_address in addresses {
            match TcpStream::connect_timeout(&socket_address, timeout) {
                Ok(stream) => {
                    stream.set_nodelay(true)?;
                    stream.set_read_timeout(Some(timeout))?;
                    stream.set_write_timeout(Some(timeout))?;
                    return Ok(Connection {
                        stream: tls::Stream::Plain(stream),
                        next_correlation_id: 1,
                        client_id: client_id.to_string(),
                    });
                }
                Err(error) => last_error = error,
            }
        }
        Err(last_error)
    }

    /// Starts TLS on the connection with the broker `host` (see `tls::Stream::start_tls`).
    pub fn start_tls(
        self,
        config: &std::sync::Arc<rustls::ClientConfig>,
        host: &str,
    ) -> io::Result<Connection> {
        let tls::Stream::Plain(socket) = self.stream else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "TLS already started",
            ));
        };
        Ok(Connection {
            stream: tls::Stream::start_tls(socket, config, host)?,
            ..self
        })
    }

    /// A second handle on the same connection (the bench writes on one thread and reads
    /// the responses on another).
    pub fn try_clone(&self) -> io::Result<Connection> {
        Ok(Connection {
            stream: self.stream.try_clone()?,
            next_correlation_id: self.next_correlation_id,
            client_id: self.client_id.clone(),
        })
    }

    /// How long a read may wait (`None`: forever).
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.stream.socket().read_timeout()
    }

    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.stream.socket().set_read_timeout(timeout)
    }

    /// Writes one request; returns its correlation id.
    pub fn send<R: Encodable>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        request: &R,
    ) -> io::Result<i32> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let buf = request_frame(api_key, version, correlation_id, &self.client_id, request)?;
        self.stream.write_all(&buf)?;
        self.stream.flush()?;
        Ok(correlation_id)
    }

    /// Reads the next response; returns its correlation id and body.
    pub fn receive<R: Decodable>(&mut self, api_key: ApiKey, version: i16) -> io::Result<(i32, R)> {
        let frame = self.receive_frame()?;
        decode_response(frame, api_key, version)
    }

    /// Reads one whole response frame (after its length prefix).
    pub fn receive_frame(&mut self) -> io::Result<Bytes> {
        let mut length = [0u8; 4];
        self.stream.read_exact(&mut length)?;
        let length = i32::from_be_bytes(length);
        if length < 0 || length as usize > RESPONSE_BYTES_MAX {
            return Err(invalid(format!("response frame of {length} bytes")));
        }
        let mut frame = vec![0u8; length as usize];
        self.stream.read_exact(&mut frame)?;
        Ok(Bytes::from(frame))
    }

    /// Sends a request and waits for its response.
    pub fn call<Q: Encodable, R: Decodable>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        request: &Q,
    ) -> io::Result<R> {
        let sent = self.send(api_key, version, request)?;
        let (received, response) = self.receive(api_key, version)?;
        if sent != received {
            return Err(invalid(format!(
                "correlation id {received}, expected {sent}"
            )));
        }
        Ok(response)
    }
}

/// A response frame (after its length prefix): its correlation id and body.
pub fn decode_response<R: Decodable>(
    mut frame: Bytes,
    api_key: ApiKey,
    version: i16,
) -> io::Result<(i32, R)> {
    let header = ResponseHeader::decode(&mut frame, api_key.response_header_version(version))
        .map_err(invalid)?;
    let body = R::decode(&mut frame, version).map_err(invalid)?;
    Ok((header.correlation_id, body))
}

/// One request as it goes on the wire: length prefix, header, body.
pub fn request_frame<R: Encodable>(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    client_id: &str,
    request: &R,
) -> io::Result<BytesMut> {
    let header = RequestHeader::default()
        .with_request_api_key(api_key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_string(client_id.to_string())));
    let header_version = api_key.request_header_version(version);
    // Sized up front: a Produce request grown as it is encoded would be copied again
    // and again.
    let size = header.compute_size(header_version).map_err(invalid)?
        + request.compute_size(version).map_err(invalid)?;
    let mut buf = BytesMut::with_capacity(4 + size);
    buf.put_i32(0);
    header.encode(&mut buf, header_version).map_err(invalid)?;
    request.encode(&mut buf, version).map_err(invalid)?;
    let length = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&length.to_be_bytes());
    Ok(buf)
}

fn invalid(error: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error.to_string())
}

pub(crate) use crate::protocol::str_bytes;

/// A response that leaves out what the request asked about.
pub(crate) fn missing(broker: &broker::Broker, api: &str, name: &str) -> error::Error {
    error::Error::Protocol {
        address: broker.address().to_string(),
        message: format!("{api} response does not mention '{name}'"),
    }
}
