//! Named fault points for tests, built only with the cargo feature `failpoints` (off by
//! default, so never in a release build). A broker reads them at start from the
//! `FAILPOINTS` environment variable, in the fail crate's syntax:
//! `FAILPOINTS="name=ACTIONS;..."`, e.g. `shard::open_partition=2*off->return(60000)`.
//!
//! The points, and what `return(ARG)` does at each:
//! - `shard::open_partition`, before each partition log a shard opens while starting:
//!   waits ARG milliseconds (the shard keeps running its other tasks).

/// Reads `FAILPOINTS`; a configuration that does not parse stops the broker.
pub fn setup() {
    #[cfg(feature = "failpoints")]
    std::mem::forget(fail::FailScenario::setup());
}

/// Where `name` is configured with `return(MS)`: waits MS milliseconds.
pub async fn delay(name: &str) {
    #[cfg(feature = "failpoints")]
    if let Some(ms) = fail::eval(name, |arg| arg.and_then(|a| a.parse::<u64>().ok())) {
        let ms = ms.unwrap_or(0);
        tracing::warn!(failpoint = name, ms, "failpoint: waiting");
        glommio::timer::sleep(std::time::Duration::from_millis(ms)).await;
    }
    #[cfg(not(feature = "failpoints"))]
    let _ = name;
}
