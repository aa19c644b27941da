//! The HTTP endpoint Prometheus scrapes: `/metrics` (text format), `/health`
//! (liveness) and `/ready` (the log is recovered and listeners accept: the exporter
//! starts only after that). Runs on shard 0.

use std::rc::Rc;

use futures::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use prometheus::{Encoder, IntCounter, Registry, TextEncoder};

use super::Sample;
use crate::shard::Shard;

/// A scrape request's head may be this long, at most.
const REQUEST_BYTES_MAX: usize = 8192;

pub async fn serve(shard: Rc<Shard>, listener: TcpListener) {
    loop {
        match shard.unless_stopping(listener.accept()).await {
            Some(Ok(stream)) => glommio::spawn_local(answer(Rc::clone(&shard), stream)).detach(),
            Some(Err(error)) => {
                tracing::warn!(%error, "metrics accept failed");
                continue;
            }
            None => return,
        };
    }
}

async fn answer(shard: Rc<Shard>, mut stream: TcpStream) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < REQUEST_BYTES_MAX {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let line = String::from_utf8_lossy(&head);
    let path = line.split_whitespace().nth(1).unwrap_or("");
    let (status, body) = match path {
        "/metrics" => ("200 OK", render(&shard).await),
        "/health" | "/ready" => ("200 OK", "ok\n".to_string()),
        _ => ("404 Not Found", "not found\n".to_string()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.close().await;
}

async fn render(shard: &Rc<Shard>) -> String {
    // Cross-shard: every shard reports its own counters; they are summed here.
    let samples = shard
        .invoke_on_all(|s| async move { s.metrics.sample() })
        .await
        .unwrap_or_default();
    let total = samples.into_iter().fold(Sample::default(), |a, b| a + b);
    let registry = Registry::new();
    let counters = [
        (
            "shoal_fetch_sendfile_bytes_total",
            "Record bytes sent from segment files with sendfile",
            total.fetch_sendfile_bytes,
        ),
        (
            "shoal_fetch_framing_bytes_total",
            "Fetch response bytes written from memory (framing only)",
            total.fetch_framing_bytes,
        ),
        (
            "kafka_server_brokertopicmetrics_bytesin_total",
            "Record bytes produced",
            total.produce_bytes,
        ),
        (
            "kafka_server_brokertopicmetrics_totalproducerequests_total",
            "Produce requests",
            total.produce_requests,
        ),
        (
            "kafka_server_brokertopicmetrics_totalfetchrequests_total",
            "Fetch requests",
            total.fetch_requests,
        ),
    ];
    for (name, help, value) in counters {
        if let Ok(counter) = IntCounter::new(name, help) {
            counter.inc_by(value);
            let _ = registry.register(Box::new(counter));
        }
    }
    let mut out = Vec::new();
    let _ = TextEncoder::new().encode(&registry.gather(), &mut out);
    String::from_utf8(out).unwrap_or_default()
}
