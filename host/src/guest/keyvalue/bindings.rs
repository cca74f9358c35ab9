//! The wasi:keyvalue@0.2.0-draft imports (`store`, `atomics`, `batch`),
//! generated from `wit/deps/keyvalue` and answered from the instance's
//! [`KeyValueAccess`].
//!
//! The functions are synchronous in WIT and `async` here (Redis is network
//! I/O; SQLite runs on the blocking pool), which wasmtime links with
//! `func_wrap_async` on both engines. Each call is bounded by
//! [`KeyValueAccess::budget`]; on a concurrently reused 0.3 instance it
//! holds the store for its duration, as any host call does.

use super::{KeyValueAccess, KvError, Store};
use crate::config::DEFAULT_STORE;
use std::sync::Arc;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

mod generated {
    wasmtime::component::bindgen!({
        path: "../wit/deps/keyvalue",
        world: "wasi:keyvalue/imports",
        imports: { default: async | trappable },
        with: { "wasi:keyvalue/store.bucket": super::Bucket },
    });
}

use generated::wasi::keyvalue::{atomics, batch, store};

/// An opened store, as the guest's `bucket` resource.
pub struct Bucket {
    store: Arc<Store>,
}

/// The view the generated traits are implemented on.
pub struct KeyValueView<'a> {
    pub access: &'a KeyValueAccess,
    pub table: &'a mut ResourceTable,
}

struct HasKeyValue;

impl HasData for HasKeyValue {
    type Data<'a> = KeyValueView<'a>;
}

/// Link wasi:keyvalue's three interfaces into `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> KeyValueView<'_>,
) -> wasmtime::Result<()> {
    store::add_to_linker::<T, HasKeyValue>(linker, view)?;
    atomics::add_to_linker::<T, HasKeyValue>(linker, view)?;
    batch::add_to_linker::<T, HasKeyValue>(linker, view)?;
    Ok(())
}

type Answer<T> = wasmtime::Result<Result<T, store::Error>>;

impl KeyValueView<'_> {
    fn store(&self, bucket: &Resource<Bucket>) -> wasmtime::Result<Arc<Store>> {
        Ok(self.table.get(bucket)?.store.clone())
    }

    /// The guest's answer for `result`, and a log line when it failed.
    fn answer<T>(&self, store: &Store, op: &str, result: Result<T, KvError>) -> Answer<T> {
        Ok(result.map_err(|error| {
            let tag = &self.access.tag;
            tracing::warn!(
                route = %tag.route,
                request_id = %tag.request_id, trace_id = tag.trace_id(),
                store = store.name(),
                op,
                "key-value call failed: {error}"
            );
            store::Error::Other(error.to_string())
        }))
    }

    fn refuse_open(&self, identifier: &str, error: store::Error) -> Answer<Resource<Bucket>> {
        let tag = &self.access.tag;
        let why = match error {
            store::Error::AccessDenied => "the route's key_value_stores does not grant it",
            _ => "no [key_value_store] table declares it",
        };
        tracing::warn!(
            route = %tag.route,
            request_id = %tag.request_id, trace_id = tag.trace_id(),
            store = identifier,
            "the guest may not open store '{}': {why}",
            identifier.escape_debug()
        );
        Ok(Err(error))
    }
}

impl store::Host for KeyValueView<'_> {
    async fn open(&mut self, identifier: String) -> Answer<Resource<Bucket>> {
        // `""` is the default store (wasmtime's own tests open it).
        let name = if identifier.is_empty() {
            DEFAULT_STORE
        } else {
            identifier.as_str()
        };
        let granted = self.access.grant.granted.iter().any(|g| g == name);
        match self.access.grant.stores.get(name) {
            None => self.refuse_open(name, store::Error::NoSuchStore),
            Some(Some(store)) if granted => Ok(Ok(self.table.push(Bucket { store })?)),
            Some(_) => self.refuse_open(name, store::Error::AccessDenied),
        }
    }
}

impl store::HostBucket for KeyValueView<'_> {
    async fn get(&mut self, bucket: Resource<Bucket>, key: String) -> Answer<Option<Vec<u8>>> {
        let store = self.store(&bucket)?;
        let result = store.get(key, self.access.budget(&store)).await;
        self.answer(&store, "get", result)
    }

    async fn set(&mut self, bucket: Resource<Bucket>, key: String, value: Vec<u8>) -> Answer<()> {
        let store = self.store(&bucket)?;
        let result = store.set(key, value, self.access.budget(&store)).await;
        self.answer(&store, "set", result)
    }

    async fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> Answer<()> {
        let store = self.store(&bucket)?;
        let result = store.delete(key, self.access.budget(&store)).await;
        self.answer(&store, "delete", result)
    }

    async fn exists(&mut self, bucket: Resource<Bucket>, key: String) -> Answer<bool> {
        let store = self.store(&bucket)?;
        let result = store.exists(key, self.access.budget(&store)).await;
        self.answer(&store, "exists", result)
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<u64>,
    ) -> Answer<store::KeyResponse> {
        let store = self.store(&bucket)?;
        let result = store.list_keys(cursor, self.access.budget(&store)).await;
        let result = result.map(|(keys, cursor)| store::KeyResponse { keys, cursor });
        self.answer(&store, "list-keys", result)
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for KeyValueView<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: u64,
    ) -> Answer<u64> {
        let store = self.store(&bucket)?;
        let result = store
            .increment(key, delta, self.access.budget(&store))
            .await;
        self.answer(&store, "increment", result)
    }
}

impl batch::Host for KeyValueView<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Answer<Vec<Option<(String, Vec<u8>)>>> {
        let store = self.store(&bucket)?;
        let result = store.get_many(keys, self.access.budget(&store)).await;
        self.answer(&store, "get-many", result)
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        pairs: Vec<(String, Vec<u8>)>,
    ) -> Answer<()> {
        let store = self.store(&bucket)?;
        let result = store.set_many(pairs, self.access.budget(&store)).await;
        self.answer(&store, "set-many", result)
    }

    async fn delete_many(&mut self, bucket: Resource<Bucket>, keys: Vec<String>) -> Answer<()> {
        let store = self.store(&bucket)?;
        let result = store.delete_many(keys, self.access.budget(&store)).await;
        self.answer(&store, "delete-many", result)
    }
}
