//! The HTTP endpoint Prometheus scrapes, on shard 0 (`metrics.port`):
//! - `GET /metrics`: every shard's sample, as Prometheus text (`families`);
//! - `GET /health`: liveness, 200 while every shard answers a message;
//! - `GET /ready`: 200 once every shard has recovered its logs and its listener
//!   accepts, 503 before that and once the broker is stopping.
//!
//! Answers run on their own task queue with few shares, so a scrape of a big broker
//! gives way to Kafka requests on shard 0 whenever both are runnable. With
//! `metrics.ssl.enabled` every answer goes over TLS (a scraper without a certificate
//! the truststore accepts is refused when `listener.name.metrics.ssl.client.auth` asks
//! for one), and `metrics.topic.names=false` leaves out every series naming a topic.

use std::rc::Rc;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use glommio::{Latency, Shares, TaskQueueHandle};
use prometheus::core::Collector;
use prometheus::process_collector::ProcessCollector;

use super::families::{self, Broker};
use super::sample::sample;
use crate::replication::throttle::Side;
use crate::server::accept;
use crate::server::tls::{Accept, Tls};
use crate::shard::Shard;

/// A scrape request's head may be this long, at most.
const REQUEST_BYTES_MAX: usize = 8192;

/// A client has this long to send its request head, and every answer this long to be
/// ready: a silent client or a wedged shard gets dropped or a 503, not a task forever.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Answers in progress at once, at most; connections beyond it are closed at once.
const ANSWERS_MAX: usize = 64;

/// The answers' task queue shares; request work runs with glommio's default 1000.
const EXPORTER_SHARES: usize = 100;

/// The shards' summed busy time at the previous scrape, and when: the idle ratios are
/// measured from one scrape to the next (none at the first).
type LastBusy = Rc<std::cell::Cell<Option<(std::time::Instant, f64)>>>;

pub async fn serve(shard: Rc<Shard>, listener: TcpListener, mut tls: Option<Tls>) {
    let last_busy: LastBusy = Rc::default();
    let queue = glommio::executor().create_task_queue(
        Shares::Static(EXPORTER_SHARES),
        Latency::NotImportant,
        "metrics",
    );
    let answering = Rc::new(std::cell::Cell::new(0usize));
    // Accepted as the client listeners accept: spinning on a failing accept (no
    // descriptors left) starved the shard and flooded the log.
    let mut starved = false;
    while let Some(stream) = accept(&shard, &listener, &mut starved, "metrics scrapes").await {
        if answering.get() >= ANSWERS_MAX {
            drop(stream);
            continue;
        }
        spawn_answer(
            queue,
            Rc::clone(&shard),
            (stream, tls.as_mut().map(Tls::accept)),
            Rc::clone(&answering),
            Rc::clone(&last_busy),
        );
    }
}

fn spawn_answer(
    queue: TaskQueueHandle,
    shard: Rc<Shard>,
    (stream, tls): (TcpStream, Option<Accept>),
    answering: Rc<std::cell::Cell<usize>>,
    last_busy: LastBusy,
) {
    let work = async move {
        answering.set(answering.get() + 1);
        // The handshake, the request and the answer all within the bound.
        let bounded = glommio::timer::timeout(REQUEST_TIMEOUT, async {
            match tls {
                None => answer(shard, stream, &last_busy).await,
                Some(tls) => match tls.acceptor.accept(stream).await {
                    Ok(stream) => answer(shard, stream, &last_busy).await,
                    Err(error) => tracing::debug!(%error, "metrics TLS handshake failed"),
                },
            }
            Ok(())
        });
        let _ = bounded.await;
        answering.set(answering.get() - 1);
    };
    match glommio::spawn_local_into(work, queue) {
        Ok(task) => drop(task.detach()),
        Err(error) => tracing::warn!(%error, "metrics request not answered"),
    }
}

async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
    shard: Rc<Shard>,
    mut stream: S,
    last_busy: &LastBusy,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < REQUEST_BYTES_MAX {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let mut words = head.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (status, body) = match (method, path) {
        ("GET", "/metrics") => match metrics(&shard, last_busy).await {
            Some(text) => ("200 OK", text),
            None => ("503 Service Unavailable", "a shard is not running\n".into()),
        },
        ("GET", "/health") if alive(&shard).await => ("200 OK", "ok\n".into()),
        ("GET", "/health") => ("503 Service Unavailable", "a shard is not running\n".into()),
        ("GET", "/ready") if ready(&shard).await => ("200 OK", "ready\n".into()),
        ("GET", "/ready") => ("503 Service Unavailable", "not ready\n".into()),
        ("GET", _) => ("404 Not Found", "not found\n".into()),
        _ => ("405 Method Not Allowed", "only GET\n".into()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.close().await;
}

async fn metrics(shard: &Rc<Shard>, last_busy: &LastBusy) -> Option<String> {
    // Cross-shard: every shard samples its own probes (its groups' positions read the
    // owning shards' logs); the families are built here.
    let samples = shard
        .invoke_on_all(|s| async move {
            let mut sample = sample(&s);
            let now = crate::shard::now_ms();
            sample.consumer_groups = crate::group::offsets::positions_with_age(&s)
                .await
                .into_iter()
                .map(|p| super::sample::GroupOffsets::new(p, now))
                .collect();
            sample
        })
        .await
        .ok()?;
    let snapshot = shard.snapshot();
    let listener = snapshot
        .broker
        .client_listeners()
        .next()
        .map_or("", |l| l.name.as_str());
    let broker = Broker {
        listener,
        node_id: snapshot.broker.node_id,
    };
    let mut families = families::build(&samples, &broker);
    // process_* (CPU, resident memory, open descriptors, start time): small reads of
    // /proc/self on this shard's thread, once per scrape.
    families.extend(ProcessCollector::for_self().collect());
    if !snapshot.broker.metrics_topic_names {
        families::without_topics(&mut families);
    }
    // Client quota sensors are the broker's, not a shard's: read once here.
    families.extend(families::quota_families(&crate::quota::sensors::sample()));
    // So are replication throttles' rates.
    families.extend(families::throttle_families(
        Side::Leader.byte_rate(&snapshot.broker),
        Side::Follower.byte_rate(&snapshot.broker),
    ));
    families.extend(families::log_dir_families(&log_dir_space(
        &snapshot.broker.log_dirs,
    )));
    // Each configured directory by its name, and as the shards opened it (canonical).
    let dirs: Vec<(String, String)> = snapshot
        .broker
        .log_dirs
        .iter()
        .map(|d| {
            let opened = std::fs::canonicalize(d).unwrap_or_else(|_| d.clone());
            (d.display().to_string(), opened.display().to_string())
        })
        .collect();
    families.extend(families::offline_dir_families(&dirs, &samples));
    // A shard both reads its connections and handles their requests: Kafka's network
    // processors' and request handlers' idle ratios are both its idle time, averaged.
    let now = std::time::Instant::now();
    let busy: f64 = samples.iter().map(|s| s.runtime.busy_seconds).sum();
    if let Some((then, busy_then)) = last_busy.replace(Some((now, busy))) {
        let elapsed = now.duration_since(then).as_secs_f64() * samples.len() as f64;
        if elapsed > 0.0 {
            let idle = (1.0 - (busy - busy_then) / elapsed).clamp(0.0, 1.0);
            families.extend(families::idle_families(idle));
        }
    }
    Some(families::encode(&families))
}

/// `(dir, available bytes, capacity bytes)` of each log directory's file system; a
/// directory that cannot be read is left out (its logs' errors say why).
fn log_dir_space(dirs: &[std::path::PathBuf]) -> Vec<(String, u64, u64)> {
    dirs.iter()
        .filter_map(|dir| {
            let (available, capacity) = crate::storage::file_system_space(dir)?;
            Some((dir.display().to_string(), available, capacity))
        })
        .collect()
}

async fn alive(shard: &Rc<Shard>) -> bool {
    // Cross-shard: a shard that answers a message is running its executor.
    shard.invoke_on_all(|_| async {}).await.is_ok()
}

async fn ready(shard: &Rc<Shard>) -> bool {
    // Cross-shard: each shard says whether its logs are open and its listener accepts.
    let accepting = shard.invoke_on_all(|s| async move { s.is_accepting() });
    accepting.await.is_ok_and(|all| all.into_iter().all(|a| a))
}
