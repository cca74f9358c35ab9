//! What the serving process sets up for itself before it serves: enough
//! open files for its connections, and the signals that end it gracefully.

/// Raise the soft open-file limit to the hard one: every connection is a
/// descriptor, and the usual soft default (1024) would let a few hundred
/// idle clients exhaust them. `[server] max_connections` is sized to the
/// result, less a reserve (`serve/limit.rs`).
pub fn raise_open_file_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    // No hard limit: Linux still caps descriptors at `fs.nr_open` (1 Mi by default).
    let target = limit.maximum.unwrap_or(1 << 20);
    let Some(current) = limit.current.filter(|&current| current < target) else {
        tracing::debug!(open_files = ?limit.current, "open-file limit");
        return;
    };
    let raised = Rlimit {
        current: Some(target),
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => tracing::info!(from = current, to = target, "open-file limit raised"),
        Err(error) => tracing::warn!(
            soft = current,
            hard = target,
            "cannot raise the open-file limit: {error}"
        ),
    }
}

/// Install SIGINT and SIGTERM handlers now; the future resolves on the
/// first of them.
pub fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("SIGINT received"),
            _ = terminate.recv() => tracing::info!("SIGTERM received"),
        }
    })
}
