//! Two real shards (glommio executors joined by the channel mesh) calling each other.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context, Wake, Waker};
use std::thread::{self, ThreadId};

use glommio::channels::channel_mesh::MeshBuilder;
use glommio::{LocalExecutorBuilder, Placement};

use super::{runtime, Job, Shard, MAILBOX_DEPTH_MAX};
use crate::cluster::{ClusterState, ShardId, Snapshot};
use crate::config::BrokerConfig;

/// Forwards wakes to the task's own waker and notes the thread each came from.
struct Witness {
    task: Waker,
    wakes: Arc<Mutex<Vec<ThreadId>>>,
}

impl Wake for Witness {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes
            .lock()
            .expect("no thread panicked holding it")
            .push(thread::current().id());
        self.task.wake_by_ref();
    }
}

/// Runs `caller` on shard 0 of two; shard 1 serves its mailboxes until shard 0 is done.
fn on_two_shards<F, Fut>(caller: F)
where
    F: FnOnce(std::rc::Rc<Shard>) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let mesh = MeshBuilder::full(2, MAILBOX_DEPTH_MAX);
    let dir = tempfile::tempdir().expect("tempdir");
    let caller = Arc::new(Mutex::new(Some(caller)));
    let shards: Vec<_> = (0..2)
        .map(|index| {
            let (mesh, log_dir, caller) = (mesh.clone(), dir.path().to_path_buf(), caller.clone());
            LocalExecutorBuilder::new(Placement::Unbound)
                .spawn(move || async move {
                    let (senders, receivers) = mesh.join().await.expect("the mesh forms");
                    let snapshot =
                        Snapshot::new(1, ClusterState::default(), BrokerConfig::default(), 2, None);
                    let advertised = vec![crate::cluster::image::Endpoint {
                        name: "PLAINTEXT".to_string(),
                        host: "127.0.0.1".to_string(),
                        port: 9092,
                    }];
                    let shard = Shard::new(
                        ShardId(index),
                        senders,
                        log_dir,
                        snapshot,
                        None,
                        advertised,
                        Default::default(),
                    );
                    runtime::spawn_mailboxes(&shard, receivers);
                    if index == 0 {
                        let caller = caller.lock().expect("unpoisoned").take();
                        caller.expect("one caller")(std::rc::Rc::clone(&shard)).await;
                        let stop: Job = Box::new(|s| Box::pin(async move { s.stop() }));
                        shard.ship(ShardId(1), stop).await.expect("shard 1 runs");
                    } else {
                        shard
                            .unless_stopping(futures::future::pending::<()>())
                            .await;
                    }
                })
                .expect("a shard starts")
        })
        .collect();
    for shard in shards {
        shard.join().expect("a shard ends");
    }
}

#[test]
fn invoke_on_runs_the_work_on_the_target_and_wakes_the_caller_only_on_its_own_thread() {
    on_two_shards(|shard| async move {
        let home = thread::current().id();
        let wakes = Arc::new(Mutex::new(Vec::new()));
        let mut call =
            pin!(shard.invoke_on(
                ShardId(1),
                |s| async move { (s.id, thread::current().id()) }
            ));
        let (ran_on, ran_by) = futures::future::poll_fn(|cx| {
            let witness = Waker::from(Arc::new(Witness {
                task: cx.waker().clone(),
                wakes: wakes.clone(),
            }));
            call.as_mut().poll(&mut Context::from_waker(&witness))
        })
        .await
        .expect("shard 1 answers");
        assert_eq!(ran_on, ShardId(1));
        assert_ne!(ran_by, home, "the work ran on shard 1's thread");
        let wakes = wakes.lock().expect("unpoisoned");
        assert!(!wakes.is_empty(), "the call waited for its answer");
        assert!(
            wakes.iter().all(|&thread| thread == home),
            "woken from another thread: {wakes:?} (home {home:?})"
        );
    });
}

#[test]
fn invoke_on_all_gathers_every_shards_answer_in_order() {
    on_two_shards(|shard| async move {
        let ids = shard
            .invoke_on_all(|s| async move { s.id })
            .await
            .expect("both shards answer");
        assert_eq!(ids, vec![ShardId(0), ShardId(1)]);
    });
}

thread_local! {
    /// The order in which work started on this thread's shard.
    static STARTED: std::cell::RefCell<Vec<usize>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[test]
fn dispatched_work_starts_on_the_target_in_dispatch_order_whatever_order_it_ends_in() {
    on_two_shards(|shard| async move {
        let count = 50;
        let mut pending = Vec::new();
        for i in 0..count {
            let answer = shard
                .dispatch_on(ShardId(1), move |_| {
                    STARTED.with(|started| started.borrow_mut().push(i));
                    // Later work ends first.
                    let wait = std::time::Duration::from_micros(((count - i) * 50) as u64);
                    async move {
                        glommio::timer::sleep(wait).await;
                        i
                    }
                })
                .await
                .expect("shard 1 runs");
            pending.push(answer);
        }
        let answers: Vec<usize> = futures::future::join_all(pending)
            .await
            .into_iter()
            .map(|a| a.expect("answered"))
            .collect();
        assert_eq!(answers, (0..count).collect::<Vec<_>>());
        let started = shard
            .invoke_on(ShardId(1), |_| async { STARTED.with(|s| s.take()) })
            .await
            .expect("shard 1 answers");
        assert_eq!(started, (0..count).collect::<Vec<_>>());
    });
}

#[test]
fn a_stopping_shard_waits_for_the_blocking_work_a_dropped_task_left_running() {
    let (go, gate) = std::sync::mpsc::channel::<()>();
    let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    LocalExecutorBuilder::new(Placement::Unbound)
        .spawn(move || async move {
            let (started_in_op, done_in_op) = (started.clone(), done.clone());
            glommio::spawn_local(glommio::executor().spawn_blocking(move || {
                started_in_op.store(true, Ordering::SeqCst);
                gate.recv().expect("the test lets the work end");
                done_in_op.store(true, Ordering::SeqCst);
            }))
            .detach();
            while !started.load(Ordering::SeqCst) {
                glommio::executor().yield_task_queue_now().await;
            }
            go.send(()).expect("the work waits");
            runtime::settle_blocking_work().await;
            assert!(
                done.load(Ordering::SeqCst),
                "the shard ended before the work it left"
            );
        })
        .expect("the executor starts")
        .join()
        .expect("the executor ends");
}

type PanicHook = Box<dyn Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync>;

/// The panic hook that was there, put back when the test ends, however it ends.
struct RestoreHook(Arc<PanicHook>);

impl Drop for RestoreHook {
    fn drop(&mut self) {
        let previous = Arc::clone(&self.0);
        std::panic::set_hook(Box::new(move |info| previous(info)));
    }
}

#[test]
fn the_panic_of_a_blocking_result_left_without_its_shard_is_the_one_the_hook_lets_go() {
    // What glommio's blocking thread panics with when the work it finished has lost its
    // shard: the hook's predicate is checked against the real thing. Every other panic
    // (other tests run beside this one) goes to the hook that was there.
    const ORPHANED: &str = "failed to send response";
    let previous = Arc::new(std::panic::take_hook());
    let _restore = RestoreHook(Arc::clone(&previous));
    let (seen_tx, seen) = std::sync::mpsc::channel::<(Option<String>, Option<String>)>();
    let seen_tx = Mutex::new(seen_tx);
    std::panic::set_hook(Box::new(move |info| {
        let thread = thread::current();
        let payload = info.payload().downcast_ref::<&str>().copied();
        if payload != Some(ORPHANED) {
            return previous(info);
        }
        let seen = (thread.name().map(String::from), payload.map(String::from));
        let _ = seen_tx.lock().expect("not poisoned").send(seen);
    }));
    let (go, gate) = std::sync::mpsc::channel::<()>();
    let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let started_in_op = Arc::clone(&started);
    LocalExecutorBuilder::new(Placement::Unbound)
        .spawn(move || async move {
            glommio::spawn_local(glommio::executor().spawn_blocking(move || {
                started_in_op.store(true, Ordering::SeqCst);
                let _ = gate.recv();
            }))
            .detach();
            while !started.load(Ordering::SeqCst) {
                glommio::executor().yield_task_queue_now().await;
            }
            // The shard ends with the work still running.
        })
        .expect("the executor starts")
        .join()
        .expect("the executor ends");
    go.send(()).expect("the work waits");
    let (thread, payload) = seen
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the blocking thread panicked");
    assert!(
        runtime::orphaned_blocking_result(true, thread.as_deref(), payload.as_deref()),
        "{thread:?} {payload:?}"
    );
    assert!(!runtime::orphaned_blocking_result(
        false,
        thread.as_deref(),
        payload.as_deref()
    ));
    assert!(!runtime::orphaned_blocking_result(
        true,
        Some("shard-0"),
        payload.as_deref()
    ));
}
