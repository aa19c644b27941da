//! What a run measured and how it is shown: latency summaries from hdrhistogram, the
//! final table, the JSON report, the machine it ran on and the harness's own CPU time.
//!
//! Invariants: latencies are recorded in microseconds and reported in milliseconds;
//! MB is 10^6 bytes, as fio and iperf3 report it, so ratios against them are direct;
//! the machine description names hardware and software, never a path of the machine.

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Longest latency a histogram holds (1 hour, in µs); longer ones are clamped to it.
const LATENCY_US_MAX: u64 = 3_600_000_000;

/// A latency histogram in µs with 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    // Bounds are constants that hdrhistogram accepts (low >= 1, high >= 2 * low).
    Histogram::new_with_bounds(1, LATENCY_US_MAX, 3).unwrap_or_else(|_| unreachable!())
}

/// One histogram with the samples of all of `parts` (each made by `histogram`).
pub fn merged<'a>(
    parts: impl IntoIterator<Item = &'a Histogram<u64>>,
) -> anyhow::Result<Histogram<u64>> {
    let mut all = histogram();
    for part in parts {
        all.add(part)
            .map_err(|e| anyhow::anyhow!("merging latencies: {e}"))?;
    }
    Ok(all)
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Latency {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p99_9_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    /// None for an empty histogram: no latency was measured (e.g. acks=0).
    pub fn from_histogram(h: &Histogram<u64>) -> Option<Latency> {
        if h.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Some(Latency {
            count: h.len(),
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p99_9_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        })
    }
}

/// One direction of traffic (produce or consume).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Flow {
    pub records: u64,
    /// Key and value bytes of those records.
    pub bytes: u64,
    pub seconds: f64,
    pub mb_per_s: f64,
    pub records_per_s: f64,
    /// Produce: request sent to acknowledgement, from each record's due time.
    /// Consume: nothing (see `end_to_end_latency`).
    pub latency: Option<Latency>,
}

impl Flow {
    pub fn new(records: u64, bytes: u64, elapsed: Duration, latency: Option<Latency>) -> Flow {
        let seconds = elapsed.as_secs_f64();
        let per_s = |n: f64| if seconds > 0.0 { n / seconds } else { 0.0 };
        Flow {
            records,
            bytes,
            seconds,
            mb_per_s: per_s(bytes as f64 / 1e6),
            records_per_s: per_s(records as f64),
            latency,
        }
    }
}

/// The harness's own CPU use (getrusage of this process), so a reader can tell whether
/// the client, not the broker, was the limit.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HarnessCpu {
    pub user_seconds: f64,
    pub system_seconds: f64,
    /// CPU seconds per MB produced plus consumed.
    pub seconds_per_mb: f64,
    /// CPU seconds over wall seconds times cores: 1.0 means every core was busy with the harness.
    pub share_of_machine: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub tool: String,
    pub scenario: String,
    /// Seconds since the UNIX epoch when the run started.
    pub started_at: u64,
    pub parameters: serde_json::Value,
    pub machine: Machine,
    pub produce: Option<Flow>,
    pub consume: Option<Flow>,
    /// Produce: each request's, from its writing to its answer, as Kafka's producer
    /// reports `request-latency`. Unlike `produce.latency` it leaves out the time records
    /// wait in the producer for their batch (linger), so it is the broker's answer time
    /// plus the network's.
    pub request_latency: Option<Latency>,
    /// Transactional producers only: transactions committed, and each EndTxn's latency
    /// (records acknowledged before it is sent, so it is the commit alone).
    pub transactions: Option<Transactions>,
    /// Consume time minus the producer's timestamp in each record (end-to-end only).
    pub end_to_end_latency: Option<Latency>,
    /// Open loop only: how late records were made against their schedule (µs granularity,
    /// +1 µs). Large values mean producers could not keep the offered rate: the harness's
    /// CPU, or a full `--in-flight` window waiting on the broker (see `harness_cpu`).
    pub schedule_lag: Option<Latency>,
    pub harness_cpu: HarnessCpu,
}

#[derive(Debug, Clone, Serialize)]
pub struct Transactions {
    pub count: u64,
    pub per_s: f64,
    pub commit_latency: Option<Latency>,
}

/// The table printed at the end of a run.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<16} {:>10} {:>12} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "", "records", "records/s", "MB/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"
    );
    // (count, per second, MB/s) of a row, each "-" where it means nothing.
    let counts = |flow: Option<&Flow>| match flow {
        Some(f) => (
            f.records.to_string(),
            format!("{:.0}", f.records_per_s),
            format!("{:.2}", f.mb_per_s),
        ),
        None => ("-".into(), "-".into(), "-".into()),
    };
    let mut row =
        |name: &str, (records, rate, mb): (String, String, String), latency: Option<&Latency>| {
            let cell = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
            let _ = writeln!(
                out,
                "{:<16} {:>10} {:>12} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}",
                name,
                records,
                rate,
                mb,
                cell(latency.map(|l| l.p50_ms)),
                cell(latency.map(|l| l.p90_ms)),
                cell(latency.map(|l| l.p99_ms)),
                cell(latency.map(|l| l.p99_9_ms)),
                cell(latency.map(|l| l.max_ms)),
            );
        };
    if let Some(produce) = &report.produce {
        row(
            "produce (ack)",
            counts(Some(produce)),
            produce.latency.as_ref(),
        );
    }
    if let Some(latency) = &report.request_latency {
        row("produce request", counts(None), Some(latency));
    }
    if let Some(txns) = &report.transactions {
        let commits = (
            txns.count.to_string(),
            format!("{:.0}", txns.per_s),
            "-".into(),
        );
        row("txn commit", commits, txns.commit_latency.as_ref());
    }
    if let Some(consume) = &report.consume {
        row("consume", counts(Some(consume)), None);
    }
    if let Some(latency) = &report.end_to_end_latency {
        row("end-to-end", counts(None), Some(latency));
    }
    if let Some(lag) = &report.schedule_lag {
        row("schedule lag", counts(None), Some(lag));
    }
    let cpu = &report.harness_cpu;
    let _ = writeln!(
        out,
        "harness cpu: {:.2} s user + {:.2} s system = {:.4} s per MB, {:.0}% of the machine",
        cpu.user_seconds,
        cpu.system_seconds,
        cpu.seconds_per_mb,
        cpu.share_of_machine * 100.0
    );
    out
}

/// User and system CPU time of this process so far.
pub fn process_cpu() -> (Duration, Duration) {
    // SAFETY: getrusage only writes the struct we hand it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return (Duration::ZERO, Duration::ZERO);
    }
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    (time(usage.ru_utime), time(usage.ru_stime))
}

/// The CPU spent between two `process_cpu` readings, against the MB moved and the wall time.
pub fn harness_cpu(
    before: (Duration, Duration),
    after: (Duration, Duration),
    mb: f64,
    wall: Duration,
    cores: usize,
) -> HarnessCpu {
    let user = after.0.saturating_sub(before.0).as_secs_f64();
    let system = after.1.saturating_sub(before.1).as_secs_f64();
    let capacity = wall.as_secs_f64() * cores.max(1) as f64;
    HarnessCpu {
        user_seconds: user,
        system_seconds: system,
        seconds_per_mb: if mb > 0.0 { (user + system) / mb } else { 0.0 },
        share_of_machine: if capacity > 0.0 {
            (user + system) / capacity
        } else {
            0.0
        },
    }
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Machine {
    pub cores: usize,
    pub cpu_model: Option<String>,
    pub memory_bytes: Option<u64>,
    /// `uname`: system, release and architecture.
    pub kernel: String,
    /// Block devices (not loop, ram or zram) with their model and kind.
    pub disks: Vec<Disk>,
    /// The filesystem type of `/`.
    pub root_filesystem: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Disk {
    pub name: String,
    pub model: Option<String>,
    pub rotational: Option<bool>,
    pub size_bytes: Option<u64>,
}

/// What can be read about this machine; anything unreadable is left out, not an error.
pub fn machine() -> Machine {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let cpu_model = read("/proc/cpuinfo").and_then(|info| {
        info.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    });
    let memory_bytes = read("/proc/meminfo").and_then(|info| {
        let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    });
    let root_filesystem = read("/proc/mounts").and_then(|mounts| {
        mounts.lines().find_map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            (fields.get(1) == Some(&"/")).then(|| fields.get(2).map(|s| s.to_string()))?
        })
    });
    let mut disks = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/sys/block") {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if ["loop", "ram", "zram"].iter().any(|p| name.starts_with(p)) {
                continue;
            }
            let attr = |a: &str| {
                std::fs::read_to_string(entry.path().join(a))
                    .ok()
                    .map(|s| s.trim().to_string())
            };
            disks.push(Disk {
                model: attr("device/model").filter(|m| !m.is_empty()),
                rotational: attr("queue/rotational").map(|r| r == "1"),
                // /sys/block sizes are in 512-byte sectors whatever the device's.
                size_bytes: attr("size")
                    .and_then(|s| s.parse::<u64>().ok())
                    .map(|s| s * 512),
                name,
            });
        }
    }
    disks.sort_by(|a, b| a.name.cmp(&b.name));
    Machine {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu_model,
        memory_bytes,
        kernel: kernel(),
        disks,
        root_filesystem,
    }
}

fn kernel() -> String {
    // SAFETY: uname fills the struct; its fields are NUL-terminated C strings.
    let mut name: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut name) } != 0 {
        return "unknown".into();
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    format!(
        "{} {} {}",
        field(&name.sysname),
        field(&name.release),
        field(&name.machine)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latency_of(values: &[u64]) -> Latency {
        let mut h = histogram();
        for &v in values {
            h.record(v).unwrap();
        }
        Latency::from_histogram(&h).unwrap()
    }

    #[test]
    fn latency_percentiles_in_ms() {
        let values: Vec<u64> = (1..=1000).map(|i| i * 1000).collect(); // 1..1000 ms
        let l = latency_of(&values);
        assert_eq!(l.count, 1000);
        assert!((l.p50_ms - 500.0).abs() < 1.0, "{l:?}");
        assert!((l.p99_ms - 990.0).abs() < 1.0, "{l:?}");
        assert!((l.max_ms - 1000.0).abs() < 1.0, "{l:?}");
        assert!(Latency::from_histogram(&histogram()).is_none());
    }

    #[test]
    fn flows_and_cpu_are_per_second_and_per_mb() {
        let f = Flow::new(2000, 4_000_000, Duration::from_secs(2), None);
        assert_eq!((f.mb_per_s, f.records_per_s), (2.0, 1000.0));
        let idle = Flow::new(0, 0, Duration::ZERO, None);
        assert_eq!(idle.mb_per_s, 0.0);
        let cpu = harness_cpu(
            (Duration::from_secs(1), Duration::ZERO),
            (Duration::from_secs(3), Duration::from_secs(1)),
            100.0,
            Duration::from_secs(2),
            2,
        );
        assert_eq!(cpu.user_seconds, 2.0);
        assert_eq!(cpu.seconds_per_mb, 0.03);
        assert_eq!(cpu.share_of_machine, 0.75);
    }

    #[test]
    fn the_table_has_a_row_per_measurement() {
        let report = Report {
            tool: "shoal bench".into(),
            scenario: "end-to-end".into(),
            started_at: 0,
            parameters: serde_json::json!({}),
            machine: Machine::default(),
            produce: Some(Flow::new(
                10,
                10_000,
                Duration::from_secs(1),
                Some(latency_of(&[1500, 2000])),
            )),
            request_latency: Some(latency_of(&[700])),
            transactions: Some(Transactions {
                count: 4,
                per_s: 4.0,
                commit_latency: Some(latency_of(&[1200])),
            }),
            consume: Some(Flow::new(10, 10_000, Duration::from_secs(1), None)),
            // Below 2048 µs a 3-digit histogram is exact.
            end_to_end_latency: Some(latency_of(&[1000])),
            schedule_lag: None,
            harness_cpu: harness_cpu(
                (Duration::ZERO, Duration::ZERO),
                (Duration::from_millis(500), Duration::ZERO),
                0.02,
                Duration::from_secs(1),
                1,
            ),
        };
        let text = table(&report);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 7, "{text}");
        assert!(lines[0].contains("p99.9 ms"));
        let produce: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(produce[..5], ["produce", "(ack)", "10", "10", "0.01"]);
        assert_eq!(produce[5], "1.500");
        let request: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(request[..6], ["produce", "request", "-", "-", "-", "0.700"]);
        let commit: Vec<&str> = lines[3].split_whitespace().collect();
        assert_eq!(commit[..6], ["txn", "commit", "4", "4", "-", "1.200"]);
        assert!(lines[4].starts_with("consume") && lines[4].ends_with('-'));
        assert!(lines[5].starts_with("end-to-end") && lines[5].contains("1.000"));
        assert!(lines[6].contains("25.0000 s per MB"), "{}", lines[6]);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["produce"]["latency"]["max_ms"], 2.0);
        assert_eq!(json["request_latency"]["p50_ms"], 0.7);
        assert!(json["consume"]["latency"].is_null());
        assert_eq!(json["transactions"]["commit_latency"]["p50_ms"], 1.2);
    }

    #[test]
    fn the_machine_is_described() {
        let m = machine();
        assert!(m.cores >= 1);
        assert!(!m.kernel.is_empty());
        let json = serde_json::to_string(&m).unwrap();
        assert!(!json.contains("/sys") && !json.contains("/proc"), "{json}");
    }
}
