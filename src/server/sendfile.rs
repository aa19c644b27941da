//! Zero-copy sends: log bytes go from a segment file to a socket with `sendfile(2)`,
//! never through userspace.
//!
//! glommio does not wrap sendfile, so it is issued non-blocking on the socket. When the
//! socket's buffer is full (EAGAIN), the file's next byte is written through the
//! connection's glommio writer, which waits for room with a poll on the shard's
//! io_uring (as the frame reader waits for a request's next byte); sendfile then goes on
//! after it. Nothing blocks a thread, and a consumer that reads nothing costs only its
//! pending poll.
//!
//! A TLS connection cannot take sendfile (this kernel has no TLS offload, and rustls
//! encrypts in userspace): `copy_file` reads the file's bytes from the page cache and
//! writes them through the connection's TLS stream.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;

use futures::AsyncWriteExt;
use glommio::io::BufferedFile;

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

/// Sends `length` bytes of `slice` to `socket`, whose glommio writer is `writer` (it
/// must not buffer). Fails if the file turns out shorter (the response frame already
/// announced the length, so the caller must close).
pub async fn send_file<W: futures::AsyncWrite + Unpin>(
    socket: RawFd,
    writer: &mut W,
    slice: &SendSlice,
    length: usize,
) -> io::Result<()> {
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
            return Err(file_ended());
        }
        let error = io::Error::last_os_error();
        match error.kind() {
            io::ErrorKind::WouldBlock => {
                // Full: the write of the next byte waits on the ring until there is room.
                let byte = byte_at(&slice.fd, offset)?;
                writer.write_all(&[byte]).await?;
                offset += 1;
                remaining -= 1;
            }
            io::ErrorKind::Interrupted => {}
            _ => return Err(error),
        }
    }
    Ok(())
}

/// How much of a file `copy_file` holds in memory at once.
const COPY_STEP: usize = 64 * 1024;

/// Writes `length` bytes of `slice` through `writer` (a TLS stream, which must see the
/// bytes to encrypt them), a step at a time. Fails if the file turns out shorter.
pub async fn copy_file<W: futures::AsyncWrite + Unpin>(
    writer: &mut W,
    slice: &SendSlice,
    length: usize,
) -> io::Result<()> {
    let mut buffer = vec![0u8; length.min(COPY_STEP)];
    let mut offset = slice.position as libc::off_t;
    let mut remaining = length;
    while remaining > 0 {
        let step = remaining.min(buffer.len());
        // SAFETY: reads at most `step` bytes into `buffer`, which holds at least that
        // many, from an open descriptor.
        let read = unsafe {
            libc::pread(
                slice.fd.as_raw_fd(),
                buffer.as_mut_ptr().cast(),
                step,
                offset,
            )
        };
        match read {
            0 => return Err(file_ended()),
            read if read > 0 => {
                writer.write_all(&buffer[..read as usize]).await?;
                offset += read as libc::off_t;
                remaining -= read as usize;
            }
            _ => {
                let error = io::Error::last_os_error();
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
        }
    }
    Ok(())
}

/// The byte of `file` at `offset` (from the page cache, where sendfile also reads).
fn byte_at(file: &OwnedFd, offset: libc::off_t) -> io::Result<u8> {
    let mut byte = 0u8;
    loop {
        // SAFETY: reads at most one byte into `byte`, from an open descriptor.
        let read =
            unsafe { libc::pread(file.as_raw_fd(), (&mut byte as *mut u8).cast(), 1, offset) };
        match read {
            1 => return Ok(byte),
            0 => return Err(file_ended()),
            _ => {
                let error = io::Error::last_os_error();
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
        }
    }
}

fn file_ended() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "segment file ended early")
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
