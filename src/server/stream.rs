//! A connection between two nodes of a cluster (a replication port's, a metadata quorum
//! peer's): plain TCP, or TLS over it on either side, when the listener it belongs to
//! speaks TLS.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{AsyncRead, AsyncWrite};
use futures_rustls::{client, server, TlsAcceptor, TlsConnector};
use glommio::net::TcpStream;
use rustls::pki_types::ServerName;

pub enum Stream {
    Plain(TcpStream),
    /// This node dialled.
    TlsClient(Box<client::TlsStream<TcpStream>>),
    /// The other node dialled.
    TlsServer(Box<server::TlsStream<TcpStream>>),
}

impl Stream {
    /// Connects to the node at `address` (host:port) within `limit`, and with `tls`
    /// shakes hands within as long again.
    pub async fn connect(
        address: &str,
        tls: Option<Arc<rustls::ClientConfig>>,
        limit: Duration,
    ) -> io::Result<Stream> {
        let stream = TcpStream::connect_timeout(address, limit).await?;
        let _ = stream.set_nodelay(true);
        match tls {
            None => Ok(Stream::Plain(stream)),
            Some(tls) => Stream::dial_tls(stream, tls, address, limit).await,
        }
    }

    /// TLS over `stream` to the node at `address` (host:port), whose certificate must
    /// name its host, shaking hands within `limit`.
    pub async fn dial_tls(
        stream: TcpStream,
        config: Arc<rustls::ClientConfig>,
        address: &str,
        limit: Duration,
    ) -> io::Result<Stream> {
        let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_string()).map_err(|e| {
            let why = format!("TLS server name {host}: {e}");
            io::Error::new(io::ErrorKind::InvalidInput, why)
        })?;
        let handshake = async { Ok(TlsConnector::from(config).connect(name, stream).await) };
        match glommio::timer::timeout(limit, handshake).await {
            Ok(Ok(stream)) => Ok(Stream::TlsClient(Box::new(stream))),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(timed_out("no TLS handshake in time")),
        }
    }

    /// TLS over a connection another node made, shaking hands within `limit`.
    pub async fn accept_tls(
        stream: TcpStream,
        acceptor: TlsAcceptor,
        limit: Duration,
    ) -> io::Result<Stream> {
        let handshake = async { Ok(acceptor.accept(stream).await) };
        match glommio::timer::timeout(limit, handshake).await {
            Ok(Ok(stream)) => Ok(Stream::TlsServer(Box::new(stream))),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(timed_out("no TLS handshake in time")),
        }
    }

    /// Whether the other node has closed the connection, or sent something unasked,
    /// as far as the socket tells without waiting: a connection kept idle is used
    /// again only when neither.
    pub fn closed_or_unasked(&self) -> bool {
        let fd = match self {
            Stream::Plain(stream) => stream.as_raw_fd(),
            Stream::TlsClient(stream) => stream.get_ref().0.as_raw_fd(),
            Stream::TlsServer(stream) => stream.get_ref().0.as_raw_fd(),
        };
        // SAFETY: the descriptor belongs to the stream, open while `self` is borrowed.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let flags = rustix::net::RecvFlags::PEEK | rustix::net::RecvFlags::DONTWAIT;
        let mut byte = [0u8; 1];
        !matches!(
            rustix::net::recv(fd, &mut byte, flags),
            Err(rustix::io::Errno::AGAIN)
        )
    }

    /// The socket frames may be read from directly (`read_frame`); none under TLS.
    pub fn socket(&self) -> Option<RawFd> {
        match self {
            Stream::Plain(stream) => Some(stream.as_raw_fd()),
            Stream::TlsClient(_) | Stream::TlsServer(_) => None,
        }
    }
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what)
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Stream::TlsClient(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
            Stream::TlsServer(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Stream::TlsClient(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
            Stream::TlsServer(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Stream::TlsClient(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
            Stream::TlsServer(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(stream) => Pin::new(stream).poll_close(cx),
            Stream::TlsClient(stream) => Pin::new(stream.as_mut()).poll_close(cx),
            Stream::TlsServer(stream) => Pin::new(stream.as_mut()).poll_close(cx),
        }
    }
}
