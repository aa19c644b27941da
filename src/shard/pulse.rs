//! Each shard's pulse, watched from the coordinator's thread: a count the shard's own
//! timer moves every `BEAT`, and the shard thread's id. A shard whose count stands
//! still for the watch's silence is sent `SIGURG`, whose handler does nothing.
//!
//! Why: about one start in 150 was seen with both shards asleep in io_uring for good,
//! and one fuzz run with its executor asleep in glommio's main-ring wait while the
//! completion it waited for had come. A ptrace attach (which interrupts the wait) made
//! that run go on at full speed. The lost wakeup's cause is not found; a signal
//! interrupts the wait as the attach did, and the wait, restarted, finds the
//! completions. A shard that is only busy (a task that does not yield) loses nothing
//! to the signal: its threads make no blocking system call a signal could cut short.

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often a shard's timer moves its count.
const BEAT: Duration = Duration::from_millis(100);

/// How long a shard's count may stand still before the shard is woken.
pub const SILENCE: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct Pulse {
    beats: AtomicU64,
    /// The shard thread's kernel id while its executor runs, 0 before and after.
    thread: AtomicI32,
}

impl Pulse {
    /// On the shard's thread, before anything else: notes the thread, and beats until
    /// the executor ends.
    pub fn start(self: &Arc<Self>) {
        // SAFETY: gettid(2) has no preconditions.
        self.thread
            .store(unsafe { libc::gettid() }, Ordering::Release);
        let pulse = Arc::clone(self);
        glommio::spawn_local(async move {
            loop {
                pulse.beats.fetch_add(1, Ordering::Relaxed);
                glommio::timer::sleep(BEAT).await;
            }
        })
        .detach();
    }

    /// On the shard's thread, as its executor ends: no signal may reach the thread now.
    pub fn stop(&self) {
        self.thread.store(0, Ordering::Release);
    }
}

/// Makes `SIGURG` a signal that interrupts a wait and does nothing else. Nothing else
/// in the process uses it (the kernel sends it only to a socket's owner for urgent
/// data, and no socket here has one).
pub fn install_handler() -> std::io::Result<()> {
    // SAFETY: the action does nothing, which is async-signal-safe.
    unsafe { signal_hook::low_level::register(signal_hook::consts::SIGURG, || {}) }.map(|_| ())
}

/// The coordinator's view of the pulses: per shard, the count last seen, since when it
/// stands, and whether the shard was woken in this silence.
pub struct Watch {
    pulses: Vec<Arc<Pulse>>,
    silence: Duration,
    seen: Vec<(u64, Instant, bool)>,
}

impl Watch {
    pub fn new(pulses: Vec<Arc<Pulse>>, silence: Duration) -> Watch {
        let seen = vec![(0, Instant::now(), false); pulses.len()];
        Watch {
            pulses,
            silence,
            seen,
        }
    }

    /// Wakes each shard whose count stood still for the silence (again each silence
    /// while it stands), said once per silence; says when such a shard beats again.
    pub fn check(&mut self) {
        for (index, (pulse, seen)) in self.pulses.iter().zip(&mut self.seen).enumerate() {
            let beats = pulse.beats.load(Ordering::Relaxed);
            let (last, since, woken) = seen;
            if beats != *last {
                if std::mem::replace(woken, false) {
                    tracing::info!(shard = index, "the shard runs again");
                }
                (*last, *since) = (beats, Instant::now());
                continue;
            }
            let thread = pulse.thread.load(Ordering::Acquire);
            if thread == 0 || since.elapsed() < self.silence {
                continue;
            }
            if !std::mem::replace(woken, true) {
                tracing::warn!(
                    shard = index,
                    silent_ms = self.silence.as_millis() as u64,
                    thread = %thread_state(thread),
                    rings = %rings(),
                    "the shard ran no timer for this long: woken with SIGURG (an io_uring wakeup lost, or a task that does not yield)"
                );
            }
            // SAFETY: tgkill(2) to a thread of this process; a thread that has ended
            // meanwhile gives ESRCH.
            unsafe {
                libc::syscall(libc::SYS_tgkill, libc::getpid(), thread, libc::SIGURG);
            }
            *since = Instant::now();
        }
    }
}

/// What a silent shard's thread is doing, as /proc shows it: `running`, or the system
/// call it waits in (426 is io_uring_enter, its first argument the ring's descriptor).
fn thread_state(thread: i32) -> String {
    let syscall =
        std::fs::read_to_string(format!("/proc/self/task/{thread}/syscall")).unwrap_or_default();
    let mut fields = syscall.split_whitespace();
    match (fields.next(), fields.next()) {
        (Some("426"), Some(fd)) => {
            let fd = i64::from_str_radix(fd.trim_start_matches("0x"), 16).unwrap_or(-1);
            format!("in io_uring_enter on fd {fd}")
        }
        (Some("running"), _) => "running".to_owned(),
        (Some(call), _) => format!("in system call {call}"),
        (None, _) => "gone".to_owned(),
    }
}

/// Each io_uring of the process, as its fdinfo shows it: the submission and completion
/// heads and tails, and the polls armed. A completion ring whose tail is past its head
/// while its thread waits in it holds completions that did not wake the wait.
fn rings() -> String {
    let Ok(entries) = std::fs::read_dir("/proc/self/fdinfo") else {
        return String::new();
    };
    let mut rings = Vec::new();
    for entry in entries.flatten() {
        let Ok(info) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        let field = |name: &str| {
            info.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                .map_or("?", str::trim)
        };
        if field("SqHead") == "?" {
            continue;
        }
        let polls = info
            .lines()
            .skip_while(|line| !line.starts_with("PollList"))
            .skip(1)
            .take_while(|line| line.starts_with(' '))
            .count();
        rings.push(format!(
            "fd {} sq {}/{} cq {}/{} polls {polls}",
            entry.file_name().to_string_lossy(),
            field("SqHead"),
            field("SqTail"),
            field("CqHead"),
            field("CqTail"),
        ));
    }
    rings.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    /// A thread asleep in a system call only a signal ends (pause(2)), as a shard asleep
    /// in io_uring with its wakeup lost, is woken; one that beats is left alone.
    #[test]
    fn a_shard_that_stops_beating_is_woken_by_a_signal() {
        install_handler().expect("handler");
        let (asleep, beating) = (Arc::new(Pulse::default()), Arc::new(Pulse::default()));
        let woke = Arc::new(AtomicBool::new(false));
        let sleeper = {
            let (asleep, woke) = (Arc::clone(&asleep), Arc::clone(&woke));
            std::thread::spawn(move || {
                // SAFETY: gettid(2) and pause(2) have no preconditions.
                asleep
                    .thread
                    .store(unsafe { libc::gettid() }, Ordering::Release);
                unsafe { libc::pause() };
                woke.store(true, Ordering::Release);
            })
        };
        beating.thread.store(-1, Ordering::Release);
        let mut watch = Watch::new(
            vec![Arc::clone(&asleep), Arc::clone(&beating)],
            Duration::from_millis(20),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while !woke.load(Ordering::Acquire) {
            assert!(
                Instant::now() < deadline,
                "the sleeping thread was never woken"
            );
            beating.beats.fetch_add(1, Ordering::Relaxed);
            watch.check();
            std::thread::sleep(Duration::from_millis(5));
        }
        sleeper.join().expect("the sleeper ends");
        assert!(thread_state(0).starts_with("gone"), "no thread 0");
        assert!(watch.seen[0].2, "the silent shard was marked woken");
        assert!(!watch.seen[1].2, "the beating shard was left alone");
    }

    /// A shard asleep is described by the ring it waits on, and that ring is listed
    /// with its heads, tails and armed polls.
    #[test]
    fn a_waiting_shard_s_ring_is_named_and_described() {
        let thread = Arc::new(AtomicI32::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let executor = {
            let (thread, stop) = (Arc::clone(&thread), Arc::clone(&stop));
            glommio::LocalExecutorBuilder::default()
                .spawn(move || async move {
                    // SAFETY: gettid(2) has no preconditions.
                    thread.store(unsafe { libc::gettid() }, Ordering::Release);
                    while !stop.load(Ordering::Acquire) {
                        glommio::timer::sleep(Duration::from_millis(10)).await;
                    }
                })
                .expect("an executor")
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let state = loop {
            let state = thread_state(thread.load(Ordering::Acquire));
            if state.starts_with("in io_uring_enter on fd ") {
                break state;
            }
            assert!(Instant::now() < deadline, "never seen waiting: {state}");
            std::thread::yield_now();
        };
        let fd = state.rsplit(' ').next().expect("a descriptor");
        let rings = rings();
        stop.store(true, Ordering::Release);
        executor.join().expect("the executor ends");
        assert!(
            rings.contains(&format!("fd {fd} sq ")),
            "ring {fd} not in {rings}"
        );
    }
}
