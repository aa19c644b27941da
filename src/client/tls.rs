//! The tools' TLS: rustls's client over a blocking socket, for SSL and SASL_SSL
//! listeners. A session may be shared by handles on two threads (the bench writes
//! requests on one and reads the answers on another): one thread reads the socket, one
//! writes it, and the session itself is only held while bytes are sealed or opened.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, MutexGuard};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};

/// A connection's byte stream: the socket itself, or TLS over it.
pub enum Stream {
    Plain(TcpStream),
    Tls(Session),
}

/// A TLS session over a socket, any handle of which may read or write.
pub struct Session {
    connection: Arc<Mutex<ClientConnection>>,
    /// Held from sealing bytes to writing them, so that records reach the socket in the
    /// order they were sealed when two handles write.
    writing: Arc<Mutex<()>>,
    socket: TcpStream,
    /// This handle's buffer for what it reads from the socket.
    incoming: Box<[u8]>,
}

/// The most read from the socket at once: a TLS record and its header.
const READ_CHUNK: usize = 16 * 1024 + 512;

impl Stream {
    /// Starts TLS over `socket` with the broker `host` (a name or an address, which its
    /// certificate must name), and completes the handshake, so that a refused
    /// certificate is an error here.
    pub fn start_tls(
        mut socket: TcpStream,
        config: &Arc<ClientConfig>,
        host: &str,
    ) -> io::Result<Stream> {
        let name = ServerName::try_from(
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
        )
        .map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("TLS server name {host}: {e}"),
            )
        })?;
        let mut connection = ClientConnection::new(Arc::clone(config), name)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        while connection.is_handshaking() {
            connection.complete_io(&mut socket)?;
        }
        Ok(Stream::Tls(Session {
            connection: Arc::new(Mutex::new(connection)),
            writing: Arc::new(Mutex::new(())),
            socket,
            incoming: vec![0; READ_CHUNK].into(),
        }))
    }

    /// The socket under the stream.
    pub fn socket(&self) -> &TcpStream {
        match self {
            Stream::Plain(socket) => socket,
            Stream::Tls(session) => &session.socket,
        }
    }

    /// A second handle on the same connection (a TLS one shares its session).
    pub fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Plain(socket) => Stream::Plain(socket.try_clone()?),
            Stream::Tls(session) => Stream::Tls(Session {
                connection: Arc::clone(&session.connection),
                writing: Arc::clone(&session.writing),
                socket: session.socket.try_clone()?,
                incoming: vec![0; READ_CHUNK].into(),
            }),
        })
    }
}

impl Session {
    fn connection(&self) -> MutexGuard<'_, ClientConnection> {
        // A handle that panicked left nothing half-done that matters to a tool.
        self.connection.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Seals `plaintext` (as much as the session takes) with whatever the session has
    /// to send besides, and writes it all; returns how much of `plaintext` went.
    fn send(&self, plaintext: &[u8]) -> io::Result<usize> {
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let mut sealed = Vec::with_capacity(plaintext.len() + 64);
        let taken = {
            let mut connection = self.connection();
            let taken = connection.writer().write(plaintext)?;
            while connection.wants_write() {
                connection.write_tls(&mut sealed)?;
            }
            taken
        };
        (&self.socket).write_all(&sealed)?;
        Ok(taken)
    }

    fn receive(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.connection().reader().read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                done => return done,
            }
            let read = self.socket.read(&mut self.incoming)?;
            let mut rest = &self.incoming[..read];
            let mut connection = self.connection.lock().unwrap_or_else(|e| e.into_inner());
            // An empty read tells the session the socket has closed.
            loop {
                connection.read_tls(&mut rest)?;
                connection
                    .process_new_packets()
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                if rest.is_empty() {
                    break;
                }
            }
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(socket) => socket.read(buf),
            Stream::Tls(session) => session.receive(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(socket) => socket.write(buf),
            Stream::Tls(session) => session.send(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(socket) => socket.flush(),
            // Whatever is sealed is written at once; this sends what the session made
            // of its own (an answer to a key update).
            Stream::Tls(session) => session.send(&[]).map(|_| ()),
        }
    }
}
