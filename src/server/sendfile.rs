//! Zero-copy sends: log bytes go from a segment file to a socket with `sendfile(2)`,
//! never through userspace.
//!
//! glommio does not wrap sendfile, so it is issued non-blocking on the socket; when
//! the socket's buffer is full (EAGAIN) the task waits for writability with a
//! `poll(2)` on glommio's blocking-thread pool, so the executor never blocks and
//! never spins.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;

use glommio::io::BufferedFile;

/// How long one readiness wait lasts before it is re-armed (a peer that reads nothing
/// for this long is still waited for; the connection's own limits end it).
const WRITABLE_WAIT_MS: i32 = 1000;

/// A run of a segment file to send, as a file descriptor of its own: it can cross
/// shards, and the segment may be deleted meanwhile without affecting the send.
#[derive(Debug)]
pub struct SendSlice {
    pub fd: OwnedFd,
    pub position: u64,
}

impl SendSlice {
    /// Duplicates the descriptor of `file` (one `dup(2)`, no bytes copied).
    pub fn of(file: &Rc<BufferedFile>, position: u64) -> io::Result<SendSlice> {
        // SAFETY: `file` is open for the duration of the call, and `dup` returns a new
        // descriptor that the OwnedFd then owns alone.
        let fd = unsafe { libc::dup(file.as_raw_fd()) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        Ok(SendSlice { fd, position })
    }
}

/// Sends `length` bytes of `slice` to `socket`. Fails if the file turns out shorter
/// (the response frame already announced the length, so the caller must close).
pub async fn send_file(socket: RawFd, slice: &SendSlice, length: usize) -> io::Result<()> {
    let mut offset = slice.position as libc::off_t;
    let mut remaining = length;
    while remaining > 0 {
        // SAFETY: both descriptors are open for the call; `offset` is a valid pointer.
        let sent = unsafe { libc::sendfile(socket, slice.fd.as_raw_fd(), &mut offset, remaining) };
        if sent > 0 {
            remaining -= sent as usize;
            continue;
        }
        if sent == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "segment file ended early",
            ));
        }
        let error = io::Error::last_os_error();
        match error.kind() {
            io::ErrorKind::WouldBlock => wait_writable(socket).await?,
            io::ErrorKind::Interrupted => {}
            _ => return Err(error),
        }
    }
    Ok(())
}

async fn wait_writable(socket: RawFd) -> io::Result<()> {
    let revents = glommio::executor()
        .spawn_blocking(move || {
            let mut poll = libc::pollfd {
                fd: socket,
                events: libc::POLLOUT,
                revents: 0,
            };
            // SAFETY: one valid pollfd; the socket stays open while the sender awaits us.
            let ready = unsafe { libc::poll(&mut poll, 1, WRITABLE_WAIT_MS) };
            if ready < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(poll.revents)
            }
        })
        .await?;
    if revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
        return Err(io::Error::new(
            io::ErrorKind::BrokenPipe,
            "peer went away during a send",
        ));
    }
    Ok(())
}

/// Makes `socket` non-blocking, so sendfile returns EAGAIN instead of blocking.
pub fn set_nonblocking(socket: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on an open descriptor with integer arguments only.
    let flags = unsafe { libc::fcntl(socket, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(socket, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Corks or uncorks the socket, so a response's framing and file runs leave in full
/// segments instead of one small packet per piece.
pub fn set_cork(socket: RawFd, cork: bool) {
    let value: libc::c_int = cork.into();
    // SAFETY: setsockopt with a pointer to a live c_int of the size given.
    unsafe {
        libc::setsockopt(
            socket,
            libc::IPPROTO_TCP,
            libc::TCP_CORK,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}
