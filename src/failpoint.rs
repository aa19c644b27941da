//! Named fault points for tests, built only with the cargo feature `failpoints` (off by
//! default, so never in a release build). A broker reads them at start from the
//! `FAILPOINTS` environment variable, in the fail crate's syntax:
//! `FAILPOINTS="name=ACTIONS;..."`, e.g. `shard::open_partition=2*off->return(60000)`.
//!
//! Delays, `return(MS)` or `return(MS@TEXT)` (for subjects containing TEXT), wait MS
//! milliseconds while the shard runs its other tasks:
//! - `shard::open_partition`, before each partition log a shard opens while starting
//!   (the subject: the partition's directory name);
//! - `produce::answer`, before a partition's produce result is answered (the topic);
//! - `shard::load_coordinator`, before a broker that took the lead of an internal
//!   topic's partition reads its coordinator state back (the partition's name).
//!
//! Asleep, `return(TEXT)` (for subjects equal to TEXT): the thread sleeps in pause(2)
//! until a signal comes, as a shard whose io_uring wakeup was lost sleeps:
//! - `shard::start`, as a shard's executor starts (the subject: the shard's index).
//!
//! Faults, `return(eio)` or `return(die)`, each optionally `@TEXT` (only for files whose
//! path contains TEXT): `eio` fails the operation with EIO, as a failing device would;
//! `die` kills the process with SIGKILL right there, as a crash would:
//! - `storage::write`, before bytes are written to a file (segment appends, index files,
//!   a compaction's output);
//! - `storage::fdatasync`, before a segment's fdatasync;
//! - `storage::rename`, before a file replaces another (checkpoints, `cluster.json`, a
//!   compacted segment);
//! - `storage::unlink`, before a segment's file is removed (retention, DeleteRecords,
//!   truncation).

/// Reads `FAILPOINTS`; a configuration that does not parse stops the broker.
pub fn setup() {
    #[cfg(feature = "failpoints")]
    std::mem::forget(fail::FailScenario::setup());
}

/// Where `name` is configured with `return(MS)`, or `return(MS@TEXT)` and `subject`
/// contains TEXT: waits MS milliseconds (the shard runs its other tasks meanwhile).
pub async fn delay(name: &str, subject: &str) {
    #[cfg(feature = "failpoints")]
    if let Some(Some(ms)) = fail::eval(name, |arg| {
        let arg = arg.unwrap_or_default();
        let (ms, text) = arg.split_once('@').unwrap_or((arg.as_str(), ""));
        let ms = ms.parse::<u64>().ok()?;
        subject.contains(text).then_some(ms)
    }) {
        tracing::warn!(failpoint = name, ms, subject, "failpoint: waiting");
        glommio::timer::sleep(std::time::Duration::from_millis(ms)).await;
    }
    #[cfg(not(feature = "failpoints"))]
    let _ = (name, subject);
}

/// Where `name` is configured with `return(TEXT)` and `subject` is TEXT: sleeps in
/// pause(2), without running anything else, until a signal's handler has run.
pub fn asleep(name: &str, subject: &str) {
    #[cfg(feature = "failpoints")]
    if fail::eval(name, |arg| arg.as_deref() == Some(subject)) == Some(true) {
        tracing::warn!(
            failpoint = name,
            subject,
            "failpoint: asleep until a signal"
        );
        // SAFETY: pause(2) has no preconditions.
        unsafe { libc::pause() };
    }
    #[cfg(not(feature = "failpoints"))]
    let _ = (name, subject);
}

/// Where `name` is configured with a fault (see the module's doc) for `path`: EIO, or
/// the process killed.
pub fn fault(name: &str, path: &std::path::Path) -> std::io::Result<()> {
    #[cfg(feature = "failpoints")]
    if let Some(Some(die)) = fail::eval(name, |arg| {
        let arg = arg.unwrap_or_default();
        let (action, text) = arg.split_once('@').unwrap_or((arg.as_str(), ""));
        let die = match action {
            "die" => true,
            "eio" => false,
            _ => return None,
        };
        path.to_string_lossy().contains(text).then_some(die)
    }) {
        if die {
            // Two shards can reach a fault at once: only the first one says so and kills; the
            // other waits for the signal, as a thread of a crashing process stops where it is.
            static DYING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
            if !DYING.swap(true, std::sync::atomic::Ordering::SeqCst) {
                tracing::warn!(failpoint = name, path = %path.display(), "failpoint: killing the process");
                // SAFETY: kill(2) on this process.
                unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
            }
            loop {
                std::thread::park();
            }
        }
        tracing::warn!(failpoint = name, path = %path.display(), "failpoint: failing with EIO");
        return Err(std::io::Error::from_raw_os_error(libc::EIO));
    }
    #[cfg(not(feature = "failpoints"))]
    let _ = (name, path);
    Ok(())
}
