//! Named fault points for tests, built only with the cargo feature `failpoints` (off by
//! default, so never in a release build). A broker reads them at start from the
//! `FAILPOINTS` environment variable, in the fail crate's syntax:
//! `FAILPOINTS="name=ACTIONS;..."`, e.g. `shard::open_partition=2*off->return(60000)`.
//!
//! The points, and what `return(ARG)` does at each:
//! - `shard::open_partition`, before each partition log a shard opens while starting:
//!   `return(MS)` or `return(MS@TEXT)` waits MS milliseconds (for the partitions whose
//!   directory name contains TEXT).
//! - `produce::answer`, before a partition's produce result is answered: the same, for
//!   the topics whose name contains TEXT.
//! - `storage::fdatasync`, before a segment's fdatasync: fails it with EIO when the
//!   segment's path contains ARG (all of them without an ARG).

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

/// Where `name` is configured with `return(TEXT)` and `path` contains TEXT (or no TEXT
/// is given): an EIO error, as the failing device would give.
pub fn io_error(name: &str, path: &std::path::Path) -> std::io::Result<()> {
    #[cfg(feature = "failpoints")]
    if let Some(Some(())) = fail::eval(name, |arg| {
        let hit = arg.is_none_or(|text| path.to_string_lossy().contains(text.as_str()));
        hit.then_some(())
    }) {
        tracing::warn!(failpoint = name, path = %path.display(), "failpoint: failing with EIO");
        return Err(std::io::Error::from_raw_os_error(libc::EIO));
    }
    #[cfg(not(feature = "failpoints"))]
    let _ = (name, path);
    Ok(())
}
