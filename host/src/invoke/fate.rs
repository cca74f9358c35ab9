//! How a pooled instance ended, announced to the responses it outlived.
//!
//! A wasi:http 0.3 guest writes its response body after `handle` returned,
//! and wasmtime-wasi-http ends such a body *cleanly* when the instance's
//! store is dropped, trap or not. So the instance's worker announces how it
//! ended ([`Fate`]) before it drops the store, and each body reads that at
//! its end (see `guarded`): a failure cuts the response short.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How an instance ended, once it has: what a 0.3 body that outlived its
/// call checks at its end.
#[derive(Clone)]
pub enum Ended {
    Ok,
    /// Dropped at a request's deadline (the epoch trap or the expiration),
    /// the route's timeout.
    TimedOut(Duration),
    Failed(Arc<anyhow::Error>),
}

/// Where an instance's end is announced: set by the worker before it drops
/// the store (which is what ends the instance's bodies), so a body that
/// ends sees it.
#[derive(Clone)]
pub struct Fate(pub(super) watch::Receiver<Option<Ended>>);

impl Fate {
    /// A fate that never comes: the instance's end is not known.
    pub(super) fn unknown() -> Fate {
        Fate(watch::channel(None).1)
    }

    /// How the instance ended, if it has.
    pub fn now(&self) -> Option<Ended> {
        self.0.borrow().clone()
    }

    /// Wait for the instance to end.
    pub(super) async fn ended(mut self) -> Ended {
        match self.0.wait_for(Option::is_some).await {
            Ok(ended) => ended.clone().unwrap_or(Ended::Ok),
            Err(_) => Ended::Failed(Arc::new(anyhow::anyhow!("the instance's worker panicked"))),
        }
    }
}

/// A shared instance failure as one request's error: shows as the original.
pub(super) struct Shared(pub(super) Arc<anyhow::Error>);

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}

impl std::fmt::Display for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&*self.0, f)
    }
}

impl std::error::Error for Shared {}

/// The sending side, one per instance.
pub(super) fn channel() -> (watch::Sender<Option<Ended>>, Fate) {
    let (sender, receiver) = watch::channel(None);
    (sender, Fate(receiver))
}
