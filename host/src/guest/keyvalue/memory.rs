//! `type = "memory"`: a map in this process, shared by every request and
//! instance of every route granted the store (unlike wasmtime-wasi-keyvalue's,
//! which each `open` copies), kept across reloads while the store's settings
//! stay the same, gone at exit. For tests and demos.

use super::counter::add;
use super::LIST_PAGE;
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct Memory {
    map: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl Memory {
    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        // A panic while holding the lock cannot leave the map half-written:
        // every change is one insert or remove.
        self.map
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.map().get(key).cloned()
    }

    pub fn exists(&self, key: &str) -> bool {
        self.map().contains_key(key)
    }

    pub fn get_many(&self, keys: &[String]) -> Vec<Option<Vec<u8>>> {
        let map = self.map();
        keys.iter().map(|key| map.get(key).cloned()).collect()
    }

    /// (Never fails; a `Result` as the other backends' writes are.)
    pub fn set_many(&self, pairs: Vec<(String, Vec<u8>)>) -> Result<(), String> {
        self.map().extend(pairs);
        Ok(())
    }

    pub fn delete_many(&self, keys: &[String]) -> Result<(), String> {
        let mut map = self.map();
        for key in keys {
            map.remove(key);
        }
        Ok(())
    }

    /// Keys in order; the cursor is how many keys came before the page
    /// (keys added or removed meanwhile may shift it, as the spec allows).
    pub fn list(&self, cursor: Option<u64>) -> (Vec<String>, Option<u64>) {
        let map = self.map();
        let skip = cursor.unwrap_or(0) as usize;
        let keys: Vec<String> = map.keys().skip(skip).take(LIST_PAGE).cloned().collect();
        let next = (skip + keys.len() < map.len()).then(|| (skip + keys.len()) as u64);
        (keys, next)
    }

    pub fn increment(&self, key: &str, delta: i64) -> Result<u64, String> {
        let mut map = self.map();
        let new = add(key, map.get(key).map(Vec::as_slice), delta)?;
        map.insert(key.to_string(), new.to_string().into_bytes());
        Ok(new)
    }
}
