//! What a route gives its instances beyond WASI's nothing-by-default: its
//! `env`, its wasi:config `variables` and the wasi:keyvalue stores of its
//! `key_value_stores`, built once per load and shared by every instance.

use super::keyvalue::{KeyValueGrant, Stores};
use crate::config::{RouteConfig, Value};
use std::sync::Arc;
use std::time::Duration;
use wasmtime_wasi_config::WasiConfigVariables;

/// One route's grants (a middleware's, for a middleware).
#[derive(Clone)]
pub struct Grants {
    /// The only environment the guest sees.
    pub env: Vec<(String, String)>,
    /// What wasi:config's `get` and `get-all` answer.
    pub config: Arc<WasiConfigVariables>,
    /// The stores wasi:keyvalue's `open` may give.
    pub key_value: KeyValueGrant,
    /// The route's deadline, bounding store calls when an instance serves
    /// several requests at once.
    pub timeout: Duration,
    /// The settings they were built from, to tell whether a reload changed them.
    variables: Vec<(String, Value)>,
    key_value_stores: Vec<String>,
}

impl Grants {
    /// `route`'s grants, its stores taken from `stores`.
    pub fn new(route: &RouteConfig, stores: &Arc<Stores>) -> Grants {
        Grants {
            env: route.env.clone(),
            config: Arc::new(
                route
                    .variables
                    .iter()
                    .map(|(name, value)| (name.as_str(), value.value()))
                    .collect(),
            ),
            key_value: KeyValueGrant::new(stores.clone(), &route.key_value_stores),
            timeout: route.limits.timeout,
            variables: route.variables.clone(),
            key_value_stores: route.key_value_stores.clone(),
        }
    }

    /// Whether `route` grants exactly these.
    pub fn matches(&self, route: &RouteConfig) -> bool {
        self.env == route.env
            && self.variables == route.variables
            && self.key_value_stores == route.key_value_stores
            && self.timeout == route.limits.timeout
    }
}
