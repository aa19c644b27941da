//! Starting and stopping the broker: one pinned executor per shard, the channel mesh
//! between them, the shared listening port, and shutdown on SIGTERM/SIGINT.
//!
//! The main thread only coordinates: it loads the cluster state before any shard
//! runs, waits for every shard to listen, prints the ready line, and on a signal
//! asks every shard to stop and waits for them.

use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::path::Path;
use std::rc::Rc;
use std::sync::{mpsc, Arc};

use anyhow::Context;
use futures::channel::oneshot;
use glommio::channels::channel_mesh::MeshBuilder;
use glommio::{ExecutorJoinHandle, LocalExecutorBuilder, Placement};
use sd_notify::NotifyState;

use super::binding::{claim_client_listeners, in_use, listen, resolve, ClientPort};
use super::pulse::Pulse;
use super::{housekeeping, Shard, StartProgress, MAILBOX_DEPTH_MAX};
use crate::cluster::controller::{self, Controller};
use crate::cluster::image::Endpoint;
use crate::cluster::snapshot::Layout;
use crate::cluster::{ShardId, Snapshot};
use crate::config::BrokerConfig;

enum Event {
    /// A shard listens; shard 0 also says where its metrics endpoint is.
    Ready(usize, Option<SocketAddr>),
    Failed(usize, String),
    /// A shard's executor could not start (see `StartGuard`).
    NotStarted(usize),
    /// A shard stopped serving connections; its logs stay open until every shard has.
    Drained,
    Exited,
    Signal(i32),
    /// Shard 0's controlled shutdown is over: the shards may stop.
    LeadershipsMoved,
}

/// Runs a broker until SIGTERM or SIGINT. Prints `shoal ready: listening on ADDR` once
/// every shard accepts connections.
pub fn serve(config: BrokerConfig) -> anyhow::Result<()> {
    abort_on_panic();
    super::pulse::install_handler().context("installing the SIGURG handler")?;
    // First, so that a signal during start-up stops the broker cleanly too.
    let (events, events_rx) = mpsc::channel::<Event>();
    spawn_signal_thread(events.clone())?;
    let log_dir = match config.log_dirs.as_slice() {
        [dir] => dir.clone(),
        [] => anyhow::bail!("log.dirs is empty"),
        // Kafka spreads partitions over its directories (JBOD); shoal would leave all but
        // the first unused, and fill that disk while the others stay empty.
        dirs => anyhow::bail!(
            "log.dirs lists {} directories ({}): shoal keeps every log in one directory \
             and would leave the others unused; give one (for several disks, one RAID or \
             LVM volume over them)",
            dirs.len(),
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    // glommio opens files relative to no directory, so paths must be absolute.
    std::fs::create_dir_all(&log_dir).with_context(|| format!("creating {}", log_dir.display()))?;
    let log_dir = log_dir.canonicalize()?;
    let _lock = lock_log_dir(&log_dir)?;
    raise_memlock_limit()?;
    raise_descriptor_limit();
    let state = controller::load_state(&log_dir, &config)?;
    // With a quorum of several voters, topics, ACLs and the cluster-wide broker defaults
    // are the quorum's: its image as this node's files hold it, until the member runs.
    let image = match config.quorum_peers() {
        Some(peers) => Some(crate::quorum::member::read_image(&log_dir, &peers)?),
        None => None,
    };
    let (defaults, own) = controller::dynamic_configs(&state, image.as_ref(), config.node_id);
    let broker = config
        .with_default_overrides(&defaults)?
        .with_dynamic_overrides(&own)?;
    let shard_count = config.cores;
    // The controller listener's TLS, read (like the client listeners' below) before
    // anything binds.
    let mut quorum_tls = match &broker.controller_tls {
        Some(settings) => {
            let read = || -> anyhow::Result<crate::quorum::member::QuorumTls> {
                Ok(crate::quorum::member::QuorumTls {
                    accept: crate::server::tls::Tls::load(settings)?,
                    dial: crate::server::tls::dial(settings)?,
                })
            };
            Some(read().context("the controller listener's TLS")?)
        }
        None => None,
    };
    let clients = claim_client_listeners(&config, &broker)?;
    // The first client listener's address is the one the ready line names.
    let address = clients[0].port.address;
    // The metrics endpoint: on `metrics.host`, else the first client listener's address.
    let metrics_address = match broker.metrics_host.as_str() {
        "" => SocketAddr::new(address.ip(), broker.metrics_port),
        host => resolve(&crate::config::join_host_port(host, broker.metrics_port))?,
    };
    let metrics = std::net::TcpListener::bind(metrics_address)
        .map_err(|e| in_use(metrics_address, "the metrics listener", e))?;
    let metrics_tls = match &broker.metrics_tls {
        Some(settings) => Some(
            crate::server::tls::Tls::load(settings)
                .context("the metrics endpoint's TLS (listener.name.metrics.ssl.*)")?,
        ),
        None => None,
    };
    let mut metrics = Some((metrics, metrics_tls));
    let advertised: Vec<Endpoint> = clients.iter().map(|c| c.advertised.clone()).collect();
    // Other brokers reach this one on the inter-broker listener's host.
    let inter_broker = config.inter_broker_listener().map(|l| l.name.as_str());
    let inter_broker = &clients
        .iter()
        .find(|c| Some(c.port.name.as_str()) == inter_broker)
        .unwrap_or(&clients[0])
        .port;
    // With a quorum, the replication ports speak what the inter-broker listener speaks:
    // TLS with its certificates when it speaks TLS (a SASL login stays its own).
    let (replication_keys, peer_tls) = match &broker.security_of(&inter_broker.name).tls {
        Some(settings) if image.is_some() => {
            let peer_tls = crate::server::tls::dial(settings)
                .with_context(|| format!("listener {}", inter_broker.name))?;
            let keys = crate::server::ListenerKeys {
                tls: inter_broker.keys.tls.clone(),
                jwks: None,
            };
            (keys, Some(peer_tls))
        }
        _ => Default::default(),
    };
    let inter_broker = inter_broker.address;
    let layout = image
        .clone()
        .map(|image| Arc::new(Layout::at_start(broker.node_id, image)));
    let snapshot = Snapshot::new(1, state.clone(), broker.clone(), shard_count, layout);
    // With a quorum, each shard listens for its followers on a port of its own (chosen
    // by the kernel, registered in the quorum), so replication goes shard to shard.
    let mut replication = Vec::new();
    if image.is_some() {
        for _ in 0..shard_count {
            let bound = std::net::TcpListener::bind(SocketAddr::new(inter_broker.ip(), 0))
                .context("binding a replication listener")?;
            replication.push(bound);
        }
    }
    let replication_ports = replication
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<std::io::Result<Vec<u16>>>()?;
    let mut replication = replication.into_iter();
    let mesh = MeshBuilder::full(shard_count, MAILBOX_DEPTH_MAX);
    let cpus: Vec<usize> = glommio::CpuSet::online()
        .map_err(|e| anyhow::anyhow!("listing CPUs: {e}"))?
        .iter()
        .map(|l| l.cpu)
        .collect();
    let (mut stops, mut finishes) = (Vec::new(), Vec::new());
    let (controlled, controlled_rx) = oneshot::channel::<()>();
    let mut controlled_rx = Some(controlled_rx);
    let progress: Vec<Arc<StartProgress>> = (0..shard_count).map(|_| Arc::default()).collect();
    let pulses: Vec<Arc<Pulse>> = (0..shard_count).map(|_| Arc::default()).collect();
    let mut handles = Vec::new();
    for (index, shard_progress) in progress.iter().enumerate() {
        let (stop, stop_rx) = oneshot::channel::<()>();
        let (finish, finish_rx) = oneshot::channel::<()>();
        stops.push(stop);
        finishes.push(finish);
        let (mesh, snapshot, events, log_dir, advertised, shard_progress) = (
            mesh.clone(),
            snapshot.clone(),
            events.clone(),
            log_dir.clone(),
            advertised.clone(),
            Arc::clone(shard_progress),
        );
        let pulse = Arc::clone(&pulses[index]);
        // Built on its shard: the controller is not Send.
        let controller_input = (index == 0).then(|| (state.clone(), broker.clone(), image.clone()));
        let controlled = controlled_rx.take();
        let listeners = Listeners {
            clients: clients.iter().map(|c| c.port.clone()).collect(),
            metrics: if index == 0 { metrics.take() } else { None },
            replication: replication.next(),
            replication_ports: replication_ports.clone(),
            replication_keys: replication_keys.clone(),
            peer_tls: peer_tls.clone(),
            quorum_tls: if index == 0 { quorum_tls.take() } else { None },
        };
        // Dropped unused when the executor cannot start: the coordinator hears of it.
        let started = StartGuard {
            index,
            events: Some(events.clone()),
        };
        let placement = match cpus.get(index % cpus.len().max(1)) {
            Some(cpu) if shard_count <= cpus.len() => Placement::Fixed(*cpu),
            _ => Placement::Unbound,
        };
        let handle = LocalExecutorBuilder::new(placement)
            .name(&format!("shard-{index}"))
            .spawn(move || async move {
                started.ran();
                pulse.start();
                crate::failpoint::asleep("shard::start", &index.to_string());
                let controller = controller_input.map(|(state, broker, image)| {
                    Controller::new(&log_dir, state, broker, shard_count, image)
                });
                let run = run_shard(
                    index,
                    mesh,
                    snapshot,
                    log_dir,
                    controller,
                    advertised,
                    listeners,
                    &events,
                    (stop_rx, finish_rx),
                    controlled,
                    shard_progress,
                );
                let outcome = run.await;
                pulse.stop();
                SHARD_ENDED.store(true, std::sync::atomic::Ordering::Release);
                settle_blocking_work().await;
                let _ = match outcome {
                    Ok(()) => events.send(Event::Exited),
                    Err(error) => events.send(Event::Failed(index, format!("{error:#}"))),
                };
            })
            .map_err(|e| anyhow::anyhow!("starting shard {index}: {e}"))?;
        handles.push(Some(handle));
    }
    let watch = Watch {
        progress,
        stall: std::time::Duration::from_millis(broker.startup_stall_timeout_ms as u64),
        pulses: super::pulse::Watch::new(pulses, super::pulse::SILENCE),
    };
    coordinate(
        &events_rx,
        clients
            .into_iter()
            .map(|c| (c.port.name, c.port.address, c.placeholder))
            .collect(),
        handles,
        watch,
        (stops, finishes),
        controlled,
    )
}

/// Waits until the shard's blocking thread has finished what it was given. A task
/// dropped with the shard may leave a rename or a directory removal running there,
/// and glommio's thread panics if it finishes after the shard's reactor is gone (which
/// the panic hook below turns into an abort at every such stop). The thread takes its
/// work in order, so a no-op given last returns once everything before it is done.
pub(super) async fn settle_blocking_work() {
    glommio::executor().spawn_blocking(|| ()).await;
}

/// Set once a shard's run has ended: the broker is stopping (or failed and stops).
static SHARD_ENDED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A panic ends the process once it is reported. It unwinds only its own shard's
/// thread: the other shards would wait on the dead one's mailbox for ever, and the
/// broker would hang, holding its port and log directory, instead of exiting for its
/// supervisor to restart it. (A shard of a quorum member hung so until this.) The one
/// exception is an orphaned blocking result (`orphaned_blocking_result`).
fn abort_on_panic() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        let payload = info.payload().downcast_ref::<&str>().copied();
        let ended = SHARD_ENDED.load(std::sync::atomic::Ordering::Acquire);
        if orphaned_blocking_result(ended, thread.name(), payload) {
            return;
        }
        report(info);
        eprintln!("shoal: a shard panicked; the broker stops");
        std::process::abort();
    }));
}

/// Whether a panic is glommio's blocking thread finding no shard to hand a finished
/// operation's result to ("failed to send response", on its unnamed thread) after a
/// shard ended. A task still running while the shard settled its blocking work
/// (`settle_blocking_work`) can give the thread work after that wait began; when the
/// work ends after the shard's executor is gone, nothing waits for its result any
/// more. The thread ends quietly and the broker stops as it was stopping.
pub(super) fn orphaned_blocking_result(
    shard_ended: bool,
    thread: Option<&str>,
    payload: Option<&str>,
) -> bool {
    shard_ended && thread.is_none() && payload == Some("failed to send response")
}

/// The start-up watchdog: each shard's progress, and how long one may go without any;
/// and the shards' pulses, watched while they run.
struct Watch {
    progress: Vec<Arc<StartProgress>>,
    stall: std::time::Duration,
    pulses: super::pulse::Watch,
}

/// How often the coordinator looks at the shards' start-up progress.
const WATCH_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// Waits for readiness, then for a signal or a shard's failure, then for every shard
/// to exit.
fn coordinate(
    events: &mpsc::Receiver<Event>,
    clients: Vec<(String, SocketAddr, socket2::Socket)>,
    mut handles: Vec<Option<ExecutorJoinHandle<()>>>,
    mut watch: Watch,
    (stops, finishes): (Vec<oneshot::Sender<()>>, Vec<oneshot::Sender<()>>),
    controlled: oneshot::Sender<()>,
) -> anyhow::Result<()> {
    let mut controlled = Some(controlled);
    let shard_count = handles.len();
    let (listening, placeholders): (Vec<_>, Vec<_>) = clients
        .into_iter()
        .map(|(name, address, placeholder)| ((name, address), placeholder))
        .unzip();
    let mut placeholders = Some(placeholders);
    let (mut drained, mut exited) = (0, 0);
    let mut ready = vec![false; shard_count];
    // Per shard: the progress last seen, and when it was first seen.
    let mut seen: Vec<(u64, std::time::Instant)> =
        vec![(0, std::time::Instant::now()); shard_count];
    let mut failure = None;
    let mut stops = Some(stops);
    let mut finishes = Some(finishes);
    while exited < shard_count {
        if stops.is_some() {
            check_progress(&watch, &ready, &mut seen)?;
            watch.pulses.check();
        }
        let event = match events.recv_timeout(WATCH_INTERVAL) {
            Ok(event) => event,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        match event {
            Event::Ready(index, metrics) => {
                if let Some(metrics) = metrics {
                    println!("shoal metrics: listening on {metrics}");
                }
                ready[index] = true;
                // A broker told to stop while starting never says it is ready.
                if ready.iter().all(|r| *r) && stops.is_some() {
                    // The placeholders must not take connections meant for the shards.
                    drop(placeholders.take());
                    // With several client listeners, each is named; the ready line
                    // names the first.
                    if listening.len() > 1 {
                        for (name, address) in &listening {
                            println!("shoal listener {name}: listening on {address}");
                        }
                    }
                    let address = listening[0].1;
                    println!("shoal ready: listening on {address}");
                    use std::io::Write;
                    let _ = std::io::stdout().flush();
                    let status = format!("listening on {address}");
                    tell_service_manager(&[NotifyState::Ready, NotifyState::Status(&status)]);
                }
            }
            Event::NotStarted(index) => {
                let error = match handles[index].take().map(ExecutorJoinHandle::join) {
                    Some(Err(error)) => error.to_string(),
                    _ => "its executor did not run".to_string(),
                };
                // No shard gets past joining the mesh without this one, so none has
                // touched a log: the others end with the process.
                anyhow::bail!("shard {index} could not start: {error}");
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
                tell_service_manager(&[NotifyState::Stopping]);
                // A serving broker first has its leaderships moved (shard 0 answers
                // `LeadershipsMoved`); a second signal, or one during start-up, stops it
                // at once.
                match controlled.take() {
                    Some(c) if ready.iter().all(|r| *r) && stops.is_some() => {
                        let _ = c.send(());
                    }
                    _ => stop_all(&mut stops),
                }
            }
            Event::LeadershipsMoved => stop_all(&mut stops),
        }
        // Logs close only once no shard serves requests that could still reach them.
        if drained == shard_count {
            stop_all(&mut finishes);
        }
    }
    for handle in handles.into_iter().flatten() {
        let _ = handle.join();
    }
    failure.map_or(Ok(()), Err)
}

/// Fails the start when a shard that is not ready has made no progress for the
/// watchdog's whole stall time: a shard asleep for good (a lost wakeup) would
/// otherwise leave a broker that never serves and never says why.
fn check_progress(
    watch: &Watch,
    ready: &[bool],
    seen: &mut [(u64, std::time::Instant)],
) -> anyhow::Result<()> {
    for (index, progress) in watch.progress.iter().enumerate() {
        if ready[index] {
            continue;
        }
        let (steps, stage) = progress.read();
        let (last, since) = &mut seen[index];
        if steps != *last {
            (*last, *since) = (steps, std::time::Instant::now());
        } else if since.elapsed() >= watch.stall {
            // The stalled shard cannot be stopped; it ends with the process, as in a crash.
            anyhow::bail!(
                "shard {index} made no start-up progress for {} ms while {stage} \
                 (startup.stall.timeout.ms): stopping",
                watch.stall.as_millis()
            );
        }
    }
    Ok(())
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

/// What a shard listens on: the client listeners' shared addresses, shard 0's metrics
/// listener, and with a quorum its own replication listener (and every shard's port,
/// which shard 0 registers).
struct Listeners {
    clients: Vec<ClientPort>,
    /// Shard 0's: the metrics listener, and its TLS when `metrics.ssl.enabled`.
    metrics: Option<(std::net::TcpListener, Option<crate::server::tls::Tls>)>,
    replication: Option<std::net::TcpListener>,
    replication_ports: Vec<u16>,
    /// The replication listener's TLS, when the inter-broker listener speaks TLS.
    replication_keys: crate::server::ListenerKeys,
    /// How this shard dials other brokers' replication ports over TLS.
    peer_tls: Option<crate::server::tls::Dial>,
    /// Shard 0's: the controller listener's TLS, when it speaks SSL or SASL_SSL.
    quorum_tls: Option<crate::quorum::member::QuorumTls>,
}

#[allow(clippy::too_many_arguments)]
async fn run_shard(
    index: usize,
    mesh: MeshBuilder<super::Job, glommio::channels::channel_mesh::Full>,
    snapshot: Snapshot,
    log_dir: std::path::PathBuf,
    controller: Option<Controller>,
    advertised: Vec<Endpoint>,
    listeners: Listeners,
    events: &mpsc::Sender<Event>,
    (stop, finish): (oneshot::Receiver<()>, oneshot::Receiver<()>),
    controlled: Option<oneshot::Receiver<()>>,
    progress: Arc<StartProgress>,
) -> anyhow::Result<()> {
    progress.stage("joining the shard mesh");
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
        progress,
    );
    spawn_mailboxes(&shard, receivers);
    if let Some(dial) = listeners.peer_tls.clone() {
        shard.set_peer_tls(dial);
    }
    let appender = glommio::spawn_local(Rc::clone(&shard.writer).run_appender());
    let syncer = glommio::spawn_local(Rc::clone(&shard.writer).run_syncer());
    let finished = Rc::new(super::Event::default());
    let finishing = finished.listen();
    let stopper = Rc::clone(&shard);
    relay(stop, move || stopper.stop());
    let finisher = Rc::clone(&finished);
    relay(finish, move || finisher.notify());
    if let Some(controlled) = controlled {
        // Detached, as `relay`'s tasks are: the coordinator's thread wakes it.
        let (shard, events) = (Rc::clone(&shard), events.clone());
        glommio::spawn_local(async move {
            if controlled.await.is_ok() {
                shard.controller().controlled_shutdown().await;
                let _ = events.send(Event::LeadershipsMoved);
            }
        })
        .detach();
    }
    // A stop during recovery ends it between two awaits, as a crash there would, and
    // the next start recovers again.
    let quorum_tls = listeners.quorum_tls.clone();
    let started = start(&shard, snapshot, &listeners.replication_ports, quorum_tls);
    if let Some(started) = shard.unless_stopping(started).await {
        started?;
        listen_and_serve(&shard, listeners, events).await?;
    }
    let _ = events.send(Event::Drained);
    finishing.await;
    shard.writer.stop();
    appender.await;
    syncer.await;
    shard.flush_all().await;
    Ok(())
}

/// Opens the shard's logs and loads the coordinators' state from them.
async fn start(
    shard: &Rc<Shard>,
    snapshot: Snapshot,
    replication_ports: &[u16],
    quorum_tls: Option<crate::quorum::member::QuorumTls>,
) -> anyhow::Result<()> {
    let index = shard.id.0;
    if index == 0 {
        shard.controller().set_aside_space().await;
        if let Some(peers) = snapshot.broker.quorum_peers() {
            shard.progress.stage("starting the metadata quorum member");
            start_quorum(shard, &peers, replication_ports, quorum_tls).await?;
        }
    }
    shard.progress.stage("opening partition logs");
    shard
        .apply_snapshot(snapshot)
        .await
        .context("opening partition logs")?;
    shard.coordinators_loading.set(true);
    shard.progress.stage("loading committed offsets");
    let loaded = shard
        .groups
        .load(shard)
        .await
        .context("loading committed offsets")?;
    if loaded > 0 {
        tracing::info!(shard = index, records = loaded, "committed offsets loaded");
    }
    shard.progress.stage("loading transaction states");
    let loaded = shard
        .txns
        .load(shard)
        .await
        .context("loading transaction states")?;
    if loaded > 0 {
        tracing::info!(shard = index, records = loaded, "transaction states loaded");
    }
    Ok(())
}

/// Opens this node's quorum member and its controller listener, where the other
/// voters reach it (bound without SO_REUSEPORT: a second broker on the port fails).
async fn start_quorum(
    shard: &Rc<Shard>,
    peers: &crate::config::QuorumPeers,
    replication_ports: &[u16],
    tls: Option<crate::quorum::member::QuorumTls>,
) -> anyhow::Result<()> {
    let address = resolve(&peers.listen)?;
    let bound = std::net::TcpListener::bind(address)
        .map_err(|e| in_use(address, "the controller listener", e))?;
    // A broker-only node's port is the kernel's choice, registered for the leader.
    let quorum_port = (!peers.voter)
        .then(|| bound.local_addr().map(|a| a.port()))
        .transpose()?;
    // SAFETY: the descriptor is a bound, listening socket that nothing else owns.
    let listener = unsafe { glommio::net::TcpListener::from_raw_fd(bound.into_raw_fd()) };
    let broker = &shard.snapshot().broker;
    let inter_broker = broker.inter_broker_listener().map(|l| l.name.as_str());
    let (host, port) = shard.advertised(inter_broker.unwrap_or_default());
    let registration = crate::quorum::member::Registration {
        node: broker.node_id,
        host,
        port: u16::try_from(port).unwrap_or(0),
        listeners: shard.endpoints().to_vec(),
        shards: shard.shard_count() as u32,
        replication_ports: replication_ports.to_vec(),
        quorum_port,
        controller: broker.controller_endpoint(),
        rack: broker.broker_rack.clone(),
    };
    let timing = crate::quorum::member::Timing {
        election_timeout_ms: broker.quorum_election_timeout_ms,
        session_timeout_ms: broker.broker_session_timeout_ms,
        snapshot_bytes: broker.metadata_snapshot_bytes.max(1) as u64,
        leader_rebalance: broker.auto_leader_rebalance_enable.then(|| {
            std::time::Duration::from_secs(broker.leader_imbalance_check_interval_seconds as u64)
        }),
    };
    let member =
        crate::quorum::member::Member::open(&shard.log_dir, registration, timing, peers).await?;
    member.start(shard, listener, tls);
    shard.controller().set_quorum(shard, member);
    match peers.voters.len() {
        0 => {
            tracing::info!(listener = %address, bootstrap = %peers.bootstrap.join(","), "metadata quorum member started; its log names the voters")
        }
        voters => tracing::info!(listener = %address, voters, "metadata quorum member started"),
    }
    Ok(())
}

/// Listens, runs the shard's background tasks, and serves connections until the
/// broker stops.
async fn listen_and_serve(
    shard: &Rc<Shard>,
    listeners: Listeners,
    events: &mpsc::Sender<Event>,
) -> anyhow::Result<()> {
    shard.progress.stage("binding its listeners");
    let mut clients = Vec::new();
    for port in listeners.clients {
        let address = port.address;
        let listener = listen(address).map_err(|e| anyhow::anyhow!("binding {address}: {e}"))?;
        let name: Rc<str> = Rc::from(port.name.as_str());
        clients.push(crate::server::serve(
            Rc::clone(shard),
            listener,
            Some(name),
            port.keys,
        ));
    }
    shard.set_accepting();
    if let Some(replication) = listeners.replication {
        // SAFETY: the descriptor is a bound, listening socket that nothing else owns.
        let replication =
            unsafe { glommio::net::TcpListener::from_raw_fd(replication.into_raw_fd()) };
        let serving = crate::server::serve(
            Rc::clone(shard),
            replication,
            None,
            listeners.replication_keys,
        );
        glommio::spawn_local(serving).detach();
        glommio::spawn_local(crate::replication::leader::run_isr_checks(Rc::clone(shard))).detach();
    }
    let metrics = match listeners.metrics {
        Some((metrics, tls)) => {
            let bound = metrics.local_addr()?;
            // SAFETY: the descriptor is a bound, listening socket that nothing else owns.
            let listener = unsafe { glommio::net::TcpListener::from_raw_fd(metrics.into_raw_fd()) };
            glommio::spawn_local(crate::metrics::serve(Rc::clone(shard), listener, tls)).detach();
            Some(bound)
        }
        None => None,
    };
    let _ = events.send(Event::Ready(shard.id.0, metrics));
    glommio::spawn_local(housekeeping::enforce_retention(Rc::clone(shard))).detach();
    glommio::spawn_local(housekeeping::flush_on_interval(Rc::clone(shard))).detach();
    glommio::spawn_local(housekeeping::checkpoint_high_watermarks(Rc::clone(shard))).detach();
    glommio::spawn_local(crate::group::Coordinator::run_timers(Rc::clone(shard))).detach();
    glommio::spawn_local(crate::group::Coordinator::run_expiry(Rc::clone(shard))).detach();
    glommio::spawn_local(crate::txn::Coordinator::run_timers(Rc::clone(shard))).detach();
    futures::future::join_all(clients).await;
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

/// Tells systemd (a `Type=notify` unit, through `NOTIFY_SOCKET`) how start and stop
/// go; without `NOTIFY_SOCKET` it does nothing. A failure only costs the unit's view.
fn tell_service_manager(states: &[NotifyState]) {
    if let Err(error) = sd_notify::notify(false, states) {
        tracing::warn!(%error, "cannot tell the service manager (NOTIFY_SOCKET)");
    }
}

/// Locks the log directory as Kafka does, with an flock on its `.lock` file, which also
/// names the process holding it. Held until the returned file is dropped.
fn lock_log_dir(log_dir: &Path) -> anyhow::Result<std::fs::File> {
    use std::io::Read;
    use std::os::unix::fs::FileExt;
    let path = log_dir.join(".lock");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = match holder.trim() {
                "" => String::new(),
                pid => format!(" (process {pid})"),
            };
            anyhow::bail!(
                "{} is locked: another broker{holder} uses this log directory",
                path.display()
            );
        }
        Err(std::fs::TryLockError::Error(error)) => {
            return Err(error).with_context(|| format!("locking {}", path.display()));
        }
    }
    let pid = format!("{}\n", std::process::id());
    file.write_all_at(pid.as_bytes(), 0)
        .and_then(|()| file.set_len(pid.len() as u64))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(file)
}

/// glommio refuses to start a shard's io_uring below this locked-memory limit.
const MEMLOCK_MIN: u64 = 512 * 1024;

/// Raises the soft locked-memory limit to the hard one when it is below what io_uring
/// needs (the old Docker and systemd default is 64 KiB); fails, naming the limit and
/// the fix, when the hard limit is below it too.
fn raise_memlock_limit() -> anyhow::Result<()> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Memlock);
    // `None` is unlimited.
    let soft = limit.current.unwrap_or(u64::MAX);
    if soft >= MEMLOCK_MIN {
        return Ok(());
    }
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    if limit.maximum.is_none_or(|hard| hard >= MEMLOCK_MIN)
        && setrlimit(Resource::Memlock, raised).is_ok()
    {
        tracing::info!(from = soft, to = ?limit.maximum, "raised the locked-memory limit (RLIMIT_MEMLOCK) for io_uring");
        return Ok(());
    }
    anyhow::bail!(
        "the locked-memory limit (RLIMIT_MEMLOCK, `ulimit -l`) is {} KiB; io_uring needs at least {} KiB. \
         Raise it: `ulimit -l 8192` in the shell, LimitMEMLOCK=8M in a systemd unit, \
         `--ulimit memlock=8388608` for docker run",
        soft / 1024,
        MEMLOCK_MIN / 1024
    )
}

/// Raises the soft limit on open descriptors to the hard one, as the JVM does for
/// Kafka: segments and connections each hold one, and the usual soft default (1024) is
/// far below what a broker needs.
fn raise_descriptor_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            tracing::debug!(from = ?limit.current, to = ?limit.maximum, "raised the descriptor limit (RLIMIT_NOFILE)");
        }
    }
}

/// Sends `NotStarted` when dropped before `ran`: glommio drops a shard's closure unrun
/// when its executor cannot start (io_uring refused, for one), and the thread ends with
/// nobody told.
struct StartGuard {
    index: usize,
    events: Option<mpsc::Sender<Event>>,
}

impl StartGuard {
    fn ran(mut self) {
        self.events = None;
    }
}

impl Drop for StartGuard {
    fn drop(&mut self) {
        if let Some(events) = self.events.take() {
            let _ = events.send(Event::NotStarted(self.index));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_whose_executor_never_ran_is_reported() {
        let (events, received) = mpsc::channel();
        drop(StartGuard {
            index: 3,
            events: Some(events.clone()),
        });
        assert!(matches!(received.try_recv(), Ok(Event::NotStarted(3))));
        StartGuard {
            index: 1,
            events: Some(events),
        }
        .ran();
        assert!(received.try_recv().is_err());
    }

    #[test]
    fn a_locked_log_dir_names_the_process_holding_it() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock_log_dir(dir.path()).unwrap();
        let error = lock_log_dir(dir.path()).unwrap_err().to_string();
        let expected = format!(
            "{} is locked: another broker (process {}) uses this log directory",
            dir.path().join(".lock").display(),
            std::process::id()
        );
        assert_eq!(error, expected);
        drop(held);
        lock_log_dir(dir.path()).unwrap();
    }
}
