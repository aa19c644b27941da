//! Reading request frames: a 4-byte length, then that many bytes.
//!
//! The declared length is a limit, not an allocation. A frame's buffer grows with the
//! bytes that have arrived: to what the socket holds (`FIONREAD`), and at least by as
//! much as was read so far (so a reallocation copies each byte about once), never past
//! the declared length. Bytes are received straight into the buffer's spare capacity,
//! so nothing is zero-filled first. A peer that declares 30 MiB and sends nothing
//! holds no memory for it; one that sends has its bytes counted, not its word.

use std::cell::Cell;
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;

use bytes::Bytes;
use futures::AsyncReadExt;

use crate::shard::Event;

/// The least a frame's buffer grows by (small frames come whole in one allocation).
const GROWTH_MIN: usize = 4096;

/// The most read from a stream at once: a TLS record's most plaintext, so that what is
/// zeroed before a read is about what the read brings.
const STREAM_STEP: usize = 16 * 1024;

/// A shard's budget for the bytes of requests read but not yet answered (its share of
/// `queued.max.request.bytes`). Bytes count as they arrive (the buffers they fill), not
/// as declared, so a peer that declares a large frame and sends nothing holds none of
/// it. While the bytes held reach the budget, connections read no new request (their
/// peers' bytes wait in the kernel's buffers, then in the peers); a request already
/// being read is finished, so that requests half read never wait on each other.
pub struct RequestBudget {
    /// `None`: no limit.
    budget: Option<Rc<Budget>>,
}

struct Budget {
    capacity: u64,
    used: Cell<u64>,
    freed: Event,
}

/// The bytes of one request, counted in its shard's budget until this drops (once the
/// request is answered).
pub struct Reserved {
    budget: Option<Rc<Budget>>,
    bytes: u64,
}

impl RequestBudget {
    pub fn new(capacity: Option<u64>) -> RequestBudget {
        let budget = capacity.map(|capacity| {
            Rc::new(Budget {
                capacity,
                used: Cell::new(0),
                freed: Event::default(),
            })
        });
        RequestBudget { budget }
    }

    /// Waits until the bytes held are below the budget; then a request may be read.
    pub async fn admit(&self) -> Reserved {
        if let Some(budget) = &self.budget {
            loop {
                let freed = budget.freed.listen();
                if budget.used.get() < budget.capacity {
                    break;
                }
                freed.await;
            }
        }
        Reserved {
            budget: self.budget.clone(),
            bytes: 0,
        }
    }

    /// Bytes held now (`None`: no limit).
    pub fn used(&self) -> Option<u64> {
        self.budget.as_ref().map(|budget| budget.used.get())
    }
}

impl Reserved {
    /// Counts `bytes` more (a frame's buffer grew).
    fn add(&mut self, bytes: usize) {
        if let Some(budget) = &self.budget {
            self.bytes += bytes as u64;
            budget.used.set(budget.used.get() + bytes as u64);
        }
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        if let Some(budget) = &self.budget {
            budget.used.set(budget.used.get() - self.bytes);
            if self.bytes > 0 {
                budget.freed.notify();
            }
        }
    }
}

/// Reads one frame from `reader`, whose socket is `socket`: `None` at a clean end of
/// stream between frames. A length outside `0..=frame_max` is an error (the caller
/// closes, as Kafka does). The body is read once `budget` admits it, and its bytes
/// count there until the returned `Reserved` drops. With a socket, `reader` must not
/// buffer: bytes are also received from `socket` directly, and it serves only to wait
/// until the socket has more. Without one (a TLS stream, whose socket carries records)
/// every byte comes through `reader`, a step of at most `STREAM_STEP` at a time.
pub async fn read_frame<R: futures::AsyncRead + Unpin>(
    reader: &mut R,
    socket: Option<RawFd>,
    frame_max: usize,
    budget: &RequestBudget,
) -> io::Result<Option<(Bytes, Reserved)>> {
    let mut length = [0u8; 4];
    match reader.read_exact(&mut length).await {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(error) => return Err(error),
    }
    let length = i32::from_be_bytes(length);
    if length < 0 || length as usize > frame_max {
        let message = format!("frame length {length} outside 0..={frame_max}");
        return Err(io::Error::new(io::ErrorKind::InvalidData, message));
    }
    let length = length as usize;
    let mut reserved = budget.admit().await;
    let mut frame = Vec::new();
    while frame.len() < length {
        if frame.len() == frame.capacity() {
            let held = frame.capacity();
            let queued = socket.map_or(0, queued);
            frame.reserve_exact(growth(frame.len(), length, queued));
            reserved.add(frame.capacity() - held);
        }
        let want = (length - frame.len()).min(frame.capacity() - frame.len());
        let Some(socket) = socket else {
            if read_some(reader, &mut frame, want.min(STREAM_STEP)).await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed inside a frame",
                ));
            }
            continue;
        };
        match receive(socket, &mut frame, want) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed inside a frame",
                ))
            }
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                // The reader waits until the socket is readable; the byte it reads is the
                // frame's next (there is room for it: the buffer was not full).
                let mut byte = [0u8; 1];
                reader.read_exact(&mut byte).await?;
                frame.push(byte[0]);
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(Some((Bytes::from(frame), reserved)))
}

/// Reads up to `want` bytes from `reader` onto the end of `frame`, which has the room.
/// The bytes are zeroed first (the stream writes only into initialized memory), never
/// more than `want`.
async fn read_some<R: futures::AsyncRead + Unpin>(
    reader: &mut R,
    frame: &mut Vec<u8>,
    want: usize,
) -> io::Result<usize> {
    let start = frame.len();
    frame.resize(start + want, 0);
    let read = reader.read(&mut frame[start..]).await;
    frame.truncate(start + *read.as_ref().unwrap_or(&0));
    read
}

/// How much room to add to a frame of `length` bytes of which `read` are in: what the
/// socket holds now, at least `read` and `GROWTH_MIN`, at most what is still missing.
fn growth(read: usize, length: usize, queued: usize) -> usize {
    queued.max(read).max(GROWTH_MIN).min(length - read)
}

/// Bytes waiting in the socket's receive queue (0 if the kernel will not say).
fn queued(socket: RawFd) -> usize {
    let mut queued: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer given.
    let result = unsafe { libc::ioctl(socket, libc::FIONREAD, &mut queued) };
    if result < 0 {
        0
    } else {
        queued.max(0) as usize
    }
}

/// Receives up to `want` bytes, without blocking, into `frame`'s spare capacity.
fn receive(socket: RawFd, frame: &mut Vec<u8>, want: usize) -> io::Result<usize> {
    let spare = frame.spare_capacity_mut();
    let want = want.min(spare.len());
    // SAFETY: recv writes at most `want` bytes at the start of the spare capacity, which
    // is at least that long.
    let received =
        unsafe { libc::recv(socket, spare.as_mut_ptr().cast(), want, libc::MSG_DONTWAIT) };
    if received < 0 {
        return Err(io::Error::last_os_error());
    }
    let received = received as usize;
    // SAFETY: recv initialized exactly `received` bytes past the old length.
    unsafe { frame.set_len(frame.len() + received) };
    Ok(received)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_grows_with_what_arrived_never_past_its_length() {
        // Nothing queued: a small step, however much the peer declared.
        assert_eq!(growth(0, 30 << 20, 0), GROWTH_MIN);
        // A frame that arrived whole is allocated once, exactly.
        assert_eq!(growth(0, 100_000, 100_000), 100_000);
        assert_eq!(growth(0, 100, 5000), 100);
        // Later steps at least double what was read, bounded by what is missing.
        assert_eq!(growth(8192, 30 << 20, 10), 8192);
        assert_eq!(growth(1 << 20, (1 << 20) + 10, 0), 10);
    }

    /// Reads up to `count` frames (stopping at the first error) from a loopback peer that
    /// writes `pieces` one by one, then closes.
    fn frames_read(
        pieces: Vec<Vec<u8>>,
        max: usize,
        count: usize,
    ) -> Vec<io::Result<Option<Bytes>>> {
        let budget = RequestBudget::new(None);
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            for piece in pieces {
                socket.write_all(&piece).unwrap();
                socket.flush().unwrap();
            }
        });
        let results = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .make()
            .expect("executor")
            .run(async move {
                let mut stream = glommio::net::TcpStream::connect(address).await.unwrap();
                let socket = stream.as_raw_fd();
                let mut results = Vec::new();
                while results.len() < count {
                    let result = read_frame(&mut stream, Some(socket), max, &budget)
                        .await
                        .map(|frame| frame.map(|(bytes, _)| bytes));
                    let failed = result.is_err();
                    results.push(result);
                    if failed {
                        break;
                    }
                }
                results
            });
        peer.join().unwrap();
        results
    }

    #[test]
    fn frames_arriving_in_pieces_are_read_whole() {
        let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut frames = Vec::new();
        frames.extend_from_slice(&(body.len() as u32).to_be_bytes());
        frames.extend_from_slice(&body);
        frames.extend_from_slice(&3u32.to_be_bytes());
        frames.extend_from_slice(b"abc");
        frames.extend_from_slice(&0u32.to_be_bytes());
        // Odd pieces, so that lengths and bodies are cut anywhere; then a last frame that
        // declares more than it brings before the end.
        let mut pieces: Vec<Vec<u8>> = frames.chunks(7919).map(<[u8]>::to_vec).collect();
        pieces.push(1000u32.to_be_bytes().to_vec());
        pieces.push(b"short".to_vec());
        let mut results = frames_read(pieces, 1 << 20, 4).into_iter();
        let mut next = || results.next().unwrap();
        assert!(
            next().unwrap().unwrap()[..] == body[..],
            "the first frame came back whole"
        );
        assert_eq!(&next().unwrap().unwrap()[..], b"abc");
        assert!(next().unwrap().unwrap().is_empty());
        assert_eq!(next().unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn past_the_budget_no_new_request_is_admitted_until_bytes_are_given_back() {
        use futures::FutureExt;
        glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .make()
            .expect("executor")
            .run(async {
                let budget = RequestBudget::new(Some(10));
                let mut first = budget.admit().await;
                // Admitted below the budget, a request grows past it as its bytes come.
                first.add(8);
                let mut second = budget.admit().await;
                second.add(7);
                assert_eq!(budget.used(), Some(15));
                let mut third = Box::pin(budget.admit());
                assert!((&mut third).now_or_never().is_none(), "15 of 10 bytes held");
                drop(first);
                assert!((&mut third).now_or_never().is_some(), "7 of 10 bytes held");
                drop(second);
                assert_eq!(budget.used(), Some(0));
                let mut free = RequestBudget::new(None).admit().await;
                free.add(1 << 30);
            });
    }

    #[test]
    fn a_length_outside_the_limit_is_refused() {
        let results = frames_read(vec![(-1i32).to_be_bytes().to_vec()], 100, 1);
        let error = results.into_iter().next().unwrap().unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }
}
