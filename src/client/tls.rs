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
    /// This handle's buffer for what it reads from the socket, and the part of it not
    /// yet given to the session.
    incoming: Box<[u8]>,
    unfed: (usize, usize),
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
            unfed: (0, 0),
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
                unfed: (0, 0),
            }),
        })
    }
}

/// A lock of the session's, taken even when a handle panicked while holding it: that
/// left nothing half-done that matters to a tool.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Session {
    /// Seals `plaintext` (as much as the session takes) with whatever the session has
    /// to send besides, and writes it all; returns how much of `plaintext` went.
    fn send(&self, plaintext: &[u8]) -> io::Result<usize> {
        let _writing = lock(&self.writing);
        let mut sealed = Vec::with_capacity(plaintext.len() + 64);
        let taken = {
            let mut connection = lock(&self.connection);
            let taken = connection.writer().write(plaintext)?;
            while connection.wants_write() {
                connection.write_tls(&mut sealed)?;
            }
            taken
        };
        (&self.socket).write_all(&sealed)?;
        Ok(taken)
    }

    /// Reads plaintext, feeding the session from the socket only once what it opened
    /// is all read (rustls refuses more TLS bytes while it holds over 16 KiB of
    /// plaintext), and keeping what it has not taken for the next time.
    fn receive(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match lock(&self.connection).reader().read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                done => return done,
            }
            let (start, end) = self.unfed;
            let closed = start == end && {
                let read = self.socket.read(&mut self.incoming)?;
                self.unfed = (0, read);
                read == 0
            };
            let (start, end) = self.unfed;
            let mut rest = &self.incoming[start..end];
            let mut connection = lock(&self.connection);
            // An empty slice tells the session the socket has closed; after the other
            // side's close_notify it takes nothing more, and what follows is dropped.
            let fed = connection.read_tls(&mut rest)?;
            self.unfed = match fed == 0 && !closed {
                true => (end, end),
                false => (start + fed, end),
            };
            connection
                .process_new_packets()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
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

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;
    use crate::security::tls::{self, Material, TlsSettings};

    const CA: &[u8] = include_bytes!("../../tests/fixtures/tls/ca.pem");
    /// A certificate for 127.0.0.1 the CA signed, then its key.
    const SERVER: &[u8] = include_bytes!("../../tests/fixtures/tls/server.pem");

    fn server_config() -> Arc<rustls::ServerConfig> {
        let settings = TlsSettings::plain_tls13();
        let material = Material {
            chain: SERVER.to_vec(),
            key: SERVER.to_vec(),
            trust: None,
        };
        Arc::new(tls::server_config(&settings, &material).unwrap())
    }

    #[test]
    fn a_shared_session_reads_what_came_in_many_records_while_another_handle_writes() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        // 64 full records, all in the client's socket buffer before it reads: each read
        // of the socket ends mid-record, at every place in a record in turn, and the
        // session is fed a record at a time from what each read left.
        let payload: Vec<u8> = (0..64 * 16_384u32).map(|i| (i % 251) as u8).collect();
        let sent = payload.clone();
        let config = server_config();
        let (written, all_written) = std::sync::mpsc::channel();
        let server = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let mut session = rustls::ServerConnection::new(config).unwrap();
            let mut hello = [0u8; 5];
            let mut stream = rustls::Stream::new(&mut session, &mut socket);
            stream.read_exact(&mut hello).unwrap();
            stream.write_all(&sent).unwrap();
            session.send_close_notify();
            while session.wants_write() {
                session.write_tls(&mut socket).unwrap();
            }
            written.send(()).unwrap();
            hello
        });
        let client = tls::client_config(Some(CA), true, None).unwrap();
        let socket = TcpStream::connect(address).unwrap();
        rustix::net::sockopt::set_socket_recv_buffer_size(&socket, 4 << 20).unwrap();
        let mut reader = Stream::start_tls(socket, &Arc::new(client), "127.0.0.1").unwrap();
        let mut writer = reader.try_clone().unwrap();
        writer.write_all(b"hello").unwrap();
        all_written.recv().unwrap();
        let mut got = Vec::new();
        reader.read_to_end(&mut got).unwrap();
        assert_eq!(got.len(), payload.len());
        assert!(got == payload, "the bytes read differ from those sent");
        assert_eq!(&server.join().unwrap(), b"hello");
    }
}
