//! Starting and stopping the broker: one pinned executor per shard, the channel mesh
//! between them, the shared listening port, and shutdown on SIGTERM/SIGINT.
//!
//! The main thread only coordinates: it loads the cluster state before any shard
//! runs, waits for every shard to listen, prints the ready line, and on a signal
//! asks every shard to stop and waits for them.

use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::sync::mpsc;

use anyhow::Context;
use futures::channel::oneshot;
use glommio::channels::channel_mesh::MeshBuilder;
use glommio::{LocalExecutorBuilder, Placement};

use super::{Shard, MAILBOX_DEPTH_MAX};
use crate::cluster::controller::{self, Controller};
use crate::cluster::{ShardId, Snapshot};
use crate::config::BrokerConfig;

enum Event {
    /// A shard listens; shard 0 also says where its metrics endpoint is.
    Ready(Option<SocketAddr>),
    Failed(usize, String),
    /// A shard stopped serving connections; its logs stay open until every shard has.
    Drained,
    Exited,
    Signal(i32),
}

/// Runs a broker until SIGTERM or SIGINT. Prints `shoal ready: listening on ADDR` once
/// every shard accepts connections.
pub fn serve(config: BrokerConfig) -> anyhow::Result<()> {
    let log_dir = config
        .log_dirs
        .first()
        .cloned()
        .context("log.dirs is empty")?;
    // glommio opens files relative to no directory, so paths must be absolute.
    std::fs::create_dir_all(&log_dir).with_context(|| format!("creating {}", log_dir.display()))?;
    let log_dir = log_dir.canonicalize()?;
    let state = controller::load_state(&log_dir, &config)?;
    let broker = config
        .with_default_overrides(&state.broker_default_overrides)?
        .with_dynamic_overrides(&state.broker_overrides)?;
    let shard_count = config.cores;
    let listener = config
        .listeners
        .first()
        .context("listeners is empty")?
        .clone();
    // Port 0 is resolved once here, so every shard binds the same port.
    let address = resolve(&listener.bind_address())?;
    let placeholder = bind_reuseport(address)?;
    let address = placeholder
        .local_addr()?
        .as_socket()
        .context("the listener has no IP address")?;
    let advertised = match config.advertised().first() {
        Some(a) if a.port != 0 => (a.host.clone(), i32::from(a.port)),
        Some(a) if !a.host.is_empty() && a.host != "0.0.0.0" => {
            (a.host.clone(), i32::from(address.port()))
        }
        _ => (address.ip().to_string(), i32::from(address.port())),
    };
    let snapshot = Snapshot::new(1, state.clone(), broker.clone(), shard_count);
    let mesh = MeshBuilder::full(shard_count, MAILBOX_DEPTH_MAX);
    let (events, events_rx) = mpsc::channel::<Event>();
    let cpus: Vec<usize> = glommio::CpuSet::online()
        .map_err(|e| anyhow::anyhow!("listing CPUs: {e}"))?
        .iter()
        .map(|l| l.cpu)
        .collect();
    let (mut stops, mut finishes) = (Vec::new(), Vec::new());
    let mut handles = Vec::new();
    for index in 0..shard_count {
        let (stop, stop_rx) = oneshot::channel::<()>();
        let (finish, finish_rx) = oneshot::channel::<()>();
        stops.push(stop);
        finishes.push(finish);
        let (mesh, snapshot, events, log_dir, advertised) = (
            mesh.clone(),
            snapshot.clone(),
            events.clone(),
            log_dir.clone(),
            advertised.clone(),
        );
        // Built on its shard: the controller is not Send.
        let controller_input = (index == 0).then(|| (state.clone(), broker.clone()));
        let placement = match cpus.get(index % cpus.len().max(1)) {
            Some(cpu) if shard_count <= cpus.len() => Placement::Fixed(*cpu),
            _ => Placement::Unbound,
        };
        let handle = LocalExecutorBuilder::new(placement)
            .name(&format!("shard-{index}"))
            .spawn(move || async move {
                let controller = controller_input
                    .map(|(state, broker)| Controller::new(&log_dir, state, broker, shard_count));
                let run = run_shard(
                    index,
                    mesh,
                    snapshot,
                    log_dir,
                    controller,
                    advertised,
                    address,
                    &events,
                    (stop_rx, finish_rx),
                );
                let _ = match run.await {
                    Ok(()) => events.send(Event::Exited),
                    Err(error) => events.send(Event::Failed(index, format!("{error:#}"))),
                };
            })
            .map_err(|e| anyhow::anyhow!("starting shard {index}: {e}"))?;
        handles.push(handle);
    }
    spawn_signal_thread(events)?;
    let result = coordinate(
        &events_rx,
        shard_count,
        placeholder,
        address,
        stops,
        finishes,
    );
    for handle in handles {
        let _ = handle.join();
    }
    result
}

/// Waits for readiness, then for a signal or a shard's failure.
fn coordinate(
    events: &mpsc::Receiver<Event>,
    shard_count: usize,
    placeholder: socket2::Socket,
    address: SocketAddr,
    stops: Vec<oneshot::Sender<()>>,
    finishes: Vec<oneshot::Sender<()>>,
) -> anyhow::Result<()> {
    let mut placeholder = Some(placeholder);
    let (mut ready, mut drained, mut exited) = (0, 0, 0);
    let mut failure = None;
    let mut stops = Some(stops);
    let mut finishes = Some(finishes);
    while exited < shard_count {
        let Ok(event) = events.recv() else { break };
        match event {
            Event::Ready(metrics) => {
                if let Some(metrics) = metrics {
                    println!("shoal metrics: listening on {metrics}");
                }
                ready += 1;
                if ready == shard_count {
                    // The placeholder must not take connections meant for the shards.
                    drop(placeholder.take());
                    println!("shoal ready: listening on {address}");
                    use std::io::Write;
                    let _ = std::io::stdout().flush();
                }
            }
            Event::Failed(index, error) => {
                tracing::error!(shard = index, %error, "shard failed");
                failure.get_or_insert(anyhow::anyhow!("shard {index} failed: {error}"));
                exited += 1;
                drained += 1;
                stop_all(&mut stops);
            }
            Event::Drained => drained += 1,
            Event::Exited => exited += 1,
            Event::Signal(signal) => {
                tracing::info!(signal, "stopping");
                stop_all(&mut stops);
            }
        }
        // Logs close only once no shard serves requests that could still reach them.
        if drained == shard_count {
            stop_all(&mut finishes);
        }
    }
    failure.map_or(Ok(()), Err)
}

fn stop_all(stops: &mut Option<Vec<oneshot::Sender<()>>>) {
    for stop in stops.take().into_iter().flatten() {
        let _ = stop.send(());
    }
}

/// SIGTERM and SIGINT become events for the coordinator (a plain thread: signal
/// handling has no place on a shard).
fn spawn_signal_thread(events: mpsc::Sender<Event>) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if events.send(Event::Signal(signal)).is_err() {
                    return;
                }
            }
        })?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn run_shard(
    index: usize,
    mesh: MeshBuilder<super::Job, glommio::channels::channel_mesh::Full>,
    snapshot: Snapshot,
    log_dir: std::path::PathBuf,
    controller: Option<Controller>,
    advertised: (String, i32),
    address: SocketAddr,
    events: &mpsc::Sender<Event>,
    (stop, finish): (oneshot::Receiver<()>, oneshot::Receiver<()>),
) -> anyhow::Result<()> {
    let (senders, receivers) = mesh
        .join()
        .await
        .map_err(|_| anyhow::anyhow!("the shard mesh did not form"))?;
    let shard = Shard::new(
        ShardId(index),
        senders,
        log_dir,
        snapshot.clone(),
        controller,
        advertised,
    );
    spawn_mailboxes(&shard, receivers);
    let appender = glommio::spawn_local(Rc::clone(&shard.writer).run_appender());
    let syncer = glommio::spawn_local(Rc::clone(&shard.writer).run_syncer());
    shard
        .apply_snapshot(snapshot)
        .await
        .context("opening partition logs")?;
    let loaded = shard
        .groups
        .load(&shard)
        .await
        .context("loading committed offsets")?;
    if loaded > 0 {
        tracing::info!(shard = index, records = loaded, "committed offsets loaded");
    }
    let loaded = shard
        .txns
        .load(&shard)
        .await
        .context("loading transaction states")?;
    if loaded > 0 {
        tracing::info!(shard = index, records = loaded, "transaction states loaded");
    }
    let listener = glommio::net::TcpListener::bind(address)
        .map_err(|e| anyhow::anyhow!("binding {address}: {e}"))?;
    shard.set_accepting();
    let metrics = if index == 0 {
        let at = SocketAddr::new(address.ip(), shard.snapshot().broker.metrics_port);
        let listener = glommio::net::TcpListener::bind(at)
            .map_err(|e| anyhow::anyhow!("binding metrics {at}: {e}"))?;
        let bound = listener
            .local_addr()
            .map_err(|e| anyhow::anyhow!("metrics address: {e}"))?;
        glommio::spawn_local(crate::metrics::serve(Rc::clone(&shard), listener)).detach();
        Some(bound)
    } else {
        None
    };
    let _ = events.send(Event::Ready(metrics));
    glommio::spawn_local(enforce_retention(Rc::clone(&shard))).detach();
    glommio::spawn_local(flush_on_interval(Rc::clone(&shard))).detach();
    glommio::spawn_local(crate::group::Coordinator::run_timers(Rc::clone(&shard))).detach();
    glommio::spawn_local(crate::group::Coordinator::run_expiry(Rc::clone(&shard))).detach();
    glommio::spawn_local(crate::txn::Coordinator::run_timers(Rc::clone(&shard))).detach();
    let finished = Rc::new(super::Event::default());
    let finishing = finished.listen();
    let stopper = Rc::clone(&shard);
    relay(stop, move || stopper.stop());
    let finisher = Rc::clone(&finished);
    relay(finish, move || finisher.notify());
    crate::server::serve(Rc::clone(&shard), listener).await;
    let _ = events.send(Event::Drained);
    finishing.await;
    shard.writer.stop();
    appender.await;
    syncer.await;
    shard.flush_all().await;
    Ok(())
}

/// Runs `then` once the coordinator sends `signal` (or drops it). The coordinator's
/// thread wakes the task that waits for it, so that task is a detached one: glommio
/// frees a task twice only when it completes and its handle is dropped while another
/// thread drops its last waker (see `shard::reply`), and a detached task has no handle.
fn relay(signal: oneshot::Receiver<()>, then: impl FnOnce() + 'static) {
    glommio::spawn_local(async move {
        let _ = signal.await;
        then();
    })
    .detach();
}

/// Every `log.retention.check.interval.ms`, compacts this shard's compacted partitions,
/// forgets producer ids past `producer.id.expiration.ms` and deletes the segments that
/// retention no longer keeps.
async fn enforce_retention(shard: Rc<Shard>) {
    loop {
        let interval = shard
            .snapshot()
            .broker
            .log_retention_check_interval_ms
            .max(1) as u64;
        let wait = glommio::timer::sleep(std::time::Duration::from_millis(interval));
        if shard.unless_stopping(wait).await.is_none() {
            return;
        }
        // Kafka's cleaner threads share the dedupe buffer; here the shards do.
        let map_entries_max = (shard.snapshot().broker.log_cleaner_dedupe_buffer_size as usize)
            / shard.shard_count().max(1)
            / crate::storage::log::MAP_ENTRY_BYTES;
        for partition in shard.local_partitions() {
            match partition.compact(super::now_ms(), map_entries_max).await {
                Ok(0) => {}
                Ok(removed) => {
                    tracing::info!(topic = %partition.topic, partition = partition.index, removed, "compaction removed records")
                }
                Err(error) => {
                    tracing::error!(topic = %partition.topic, partition = partition.index, %error, "compaction failed")
                }
            }
            let expired = partition.expire_producers(super::now_ms());
            if expired > 0 {
                tracing::debug!(topic = %partition.topic, partition = partition.index, expired, "producer ids expired");
            }
            match partition.enforce_retention(super::now_ms()).await {
                Ok(0) => {}
                Ok(deleted) => {
                    tracing::info!(topic = %partition.topic, partition = partition.index, deleted, "retention deleted segments")
                }
                Err(error) => {
                    tracing::error!(topic = %partition.topic, partition = partition.index, %error, "retention failed")
                }
            }
        }
    }
}

/// How often the periodic flusher looks for logs due a sync when none is configured
/// (a topic may gain `flush.ms` at any time).
const FLUSH_CHECK_MS: i64 = 1000;

/// Syncs the logs of topics with `flush.ms` set (whose acks=all appends did not wait
/// for a sync) once their interval has passed since their last sync.
async fn flush_on_interval(shard: Rc<Shard>) {
    loop {
        let now = super::now_ms();
        let mut next_due = now + FLUSH_CHECK_MS;
        for partition in shard.local_partitions() {
            let (Some(interval), flushed_at) = partition.flush_schedule() else {
                continue;
            };
            let due = flushed_at.saturating_add(interval);
            if due > now {
                next_due = next_due.min(due);
                continue;
            }
            if let Err(error) = partition.flush_on_schedule(now).await {
                tracing::error!(topic = %partition.topic, partition = partition.index, %error, "periodic flush failed");
            }
            next_due = next_due.min(now.saturating_add(interval));
        }
        let wait = std::time::Duration::from_millis((next_due - now).max(1) as u64);
        if shard
            .unless_stopping(glommio::timer::sleep(wait))
            .await
            .is_none()
        {
            return;
        }
    }
}

/// One task per peer shard runs the work it ships here: each job is called at once,
/// in mailbox order (its synchronous part runs here, before the next job's), and the
/// future it returns runs as its own task.
pub(super) fn spawn_mailboxes(
    shard: &Rc<Shard>,
    mut receivers: glommio::channels::channel_mesh::Receivers<super::Job>,
) {
    for (_, receiver) in receivers.streams() {
        let shard = Rc::clone(shard);
        glommio::spawn_local(async move {
            while let Some(job) = receiver.recv().await {
                shard.metrics.cross_shard_received.add(1);
                shard.metrics.cross_shard_running.add(1);
                let work = job(Rc::clone(&shard));
                let shard = Rc::clone(&shard);
                glommio::spawn_local(async move {
                    work.await;
                    shard.metrics.cross_shard_running.add(-1);
                })
                .detach();
            }
        })
        .detach();
    }
}

fn resolve(address: &str) -> anyhow::Result<SocketAddr> {
    address
        .to_socket_addrs()?
        .next()
        .with_context(|| format!("{address} resolves to no address"))
}

/// Binds the listening address with SO_REUSEPORT (as glommio's listeners do) to fix
/// the port before the shards bind it.
fn bind_reuseport(address: SocketAddr) -> anyhow::Result<socket2::Socket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(address),
        socket2::Type::STREAM,
        None,
    )?;
    socket.set_reuse_port(true)?;
    socket
        .bind(&address.into())
        .with_context(|| format!("binding {address}"))?;
    Ok(socket)
}
