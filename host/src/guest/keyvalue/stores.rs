//! The declared stores of one server ([`Stores`]), swapped whole with each
//! snapshot: a store whose settings did not change keeps its backend.

use super::store::{OpenError, Store};
use crate::config::{KeyValueStoreConfig, DEFAULT_STORE};
use arc_swap::ArcSwap;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Every declared store by name: `Some` once opened (a route grants it, or
/// the server seeds it), `None` for one declared but granted to no route.
pub type StoreMap = BTreeMap<String, Option<Arc<Store>>>;

/// The stores of one server, swapped whole on reload.
#[derive(Default)]
pub struct Stores {
    current: ArcSwap<StoreMap>,
}

impl Stores {
    /// The stores `configs` declares, opening those in `wanted`: a store
    /// `current` already has with the same settings is reused as it is.
    /// Nothing is installed.
    pub fn prepare(
        &self,
        configs: &BTreeMap<String, KeyValueStoreConfig>,
        wanted: &[&str],
    ) -> Result<StoreMap, OpenError> {
        let current = self.current.load();
        let mut map = StoreMap::new();
        for (name, config) in configs {
            let reusable = current
                .get(name)
                .and_then(Option::as_ref)
                .filter(|store| store.settings() == config)
                .cloned();
            let store = match reusable {
                Some(store) => Some(store),
                None if wanted.contains(&name.as_str()) => {
                    Some(Arc::new(Store::open(name, config)?))
                }
                None => None,
            };
            map.insert(name.clone(), store);
        }
        Ok(map)
    }

    /// Serve `map` from now on; buckets already open keep their store.
    pub fn install(&self, map: StoreMap) {
        self.current.store(Arc::new(map));
    }

    /// Set `pairs` in the `default` store (`serve --key-value`), opening it
    /// if no route is granted it. Errors name the key.
    pub async fn seed(
        &self,
        configs: &BTreeMap<String, KeyValueStoreConfig>,
        pairs: &[(String, String)],
    ) -> anyhow::Result<()> {
        let store = match self.get(DEFAULT_STORE).flatten() {
            Some(store) => store,
            None => {
                let config = configs
                    .get(DEFAULT_STORE)
                    .ok_or_else(|| anyhow::anyhow!("there is no default store"))?;
                Arc::new(Store::open(DEFAULT_STORE, config)?)
            }
        };
        for (key, value) in pairs {
            let value = value.clone().into_bytes();
            store
                .set(key.clone(), value, store.timeout())
                .await
                .map_err(|e| anyhow::anyhow!("--key-value {key}=...: {e}"))?;
        }
        Ok(())
    }

    /// The store `name`, if declared: `Some(None)` when declared but not
    /// opened (granted to no route).
    pub fn get(&self, name: &str) -> Option<Option<Arc<Store>>> {
        self.current.load().get(name).cloned()
    }
}
