//! Listeners and connections (DESIGN §2). Every shard accepts on the same port
//! (SO_REUSEPORT) and a connection stays on the shard that accepted it.

pub mod connection;
pub mod fetch_session;
pub mod frame;
pub mod handlers;
pub mod sendfile;

use std::cell::Cell;
use std::rc::Rc;

use glommio::net::TcpListener;

use crate::shard::Shard;

/// Connections one shard serves at once, at most; beyond it, new ones are closed.
pub const CONNECTIONS_MAX: usize = 10_000;

/// How long a stopping broker waits for in-flight requests.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Accepts connections until the broker stops, then waits for the open ones to finish
/// what they were doing.
pub async fn serve(shard: Rc<Shard>, listener: TcpListener) {
    let connections = glommio::sync::Gate::new();
    let open = Rc::new(Cell::new(0usize));
    loop {
        let stream = match shard.unless_stopping(listener.accept()).await {
            Some(Ok(stream)) => stream,
            Some(Err(error)) => {
                tracing::warn!(%error, "accept failed");
                continue;
            }
            None => break,
        };
        if open.get() >= CONNECTIONS_MAX {
            tracing::warn!("connection refused: {CONNECTIONS_MAX} already open on this shard");
            continue;
        }
        open.set(open.get() + 1);
        let (shard, open) = (Rc::clone(&shard), Rc::clone(&open));
        let served = connections.spawn(async move {
            connection::serve(shard, stream).await;
            open.set(open.get() - 1);
        });
        match served {
            Ok(task) => drop(task.detach()),
            Err(error) => tracing::warn!(?error, "connection not started"),
        }
    }
    drop(listener);
    let closed = async { Some(connections.close().await) };
    let deadline = async {
        glommio::timer::sleep(SHUTDOWN_GRACE).await;
        None
    };
    match futures_lite::future::or(closed, deadline).await {
        Some(Ok(())) => {}
        Some(Err(error)) => tracing::warn!(?error, "closing connections"),
        None => {
            tracing::warn!("requests still running after {SHUTDOWN_GRACE:?}; stopping without them")
        }
    }
}
