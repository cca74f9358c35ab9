//! The host memory one instance may take beside its linear memory.
//!
//! `memory_mb` is enforced by wasmtime on every `memory.grow`, but what a
//! guest makes the host allocate for it is not linear memory: every
//! `fields` it creates is a header map on the host's heap (wasmtime allows
//! 128 KiB each), its resource table may hold a million entries, and each
//! outgoing body queues up to 4 MiB of writes. A guest looping
//! `fields.new()` + `append` could take gigabytes within its deadline.
//!
//! [`HostBudget`] caps all three. The table holds at most
//! [`TABLE_ENTRIES`] entries and each new header map may grow to at most
//! [`FIELD_BYTES`]. Before every `wasi:http` call (wasmtime asks the store
//! for its [`WasiHttpCtxView`] each time) it charges the store's table:
//!
//! - every header map handle the guest holds: its full [`FIELD_BYTES`],
//!   since a map made while the budget had room may still grow;
//! - the headers inside outgoing requests and responses and incoming
//!   responses: their size;
//! - every outgoing body: the writes it may queue ([`BODY_BUFFER_BYTES`]).
//!
//! Near [`HOST_BYTES_PER_INSTANCE`], new header maps may grow only into
//! what is left; over it they may not grow at all and the table takes no
//! new entries, so the guest's next allocation traps (a 500), and the
//! instance is marked so the log says why. Not
//! charged (bounded elsewhere): incoming bodies (one frame at a time),
//! `wasi:io` streams and pollables (the entry cap), the incoming request's
//! own headers (`max_header_bytes`), and a response body's writes after
//! the guest has finished it (the response's own buffer, at most 4 MiB).

use crate::config::{FIELD_BYTES, HOST_BYTES_PER_INSTANCE, TABLE_ENTRIES};
use http::HeaderMap;
use wasmtime::component::ResourceTable;
use wasmtime_wasi_http::p2::body::HostOutgoingBody;
use wasmtime_wasi_http::p2::types::{
    HostIncomingResponse, HostOutgoingRequest, HostOutgoingResponse,
};
use wasmtime_wasi_http::{FieldMap, WasiHttpCtx};

/// What one outgoing body may queue ahead of its reader: the chunks
/// `guest::outbound` lets a guest write ahead (64 of 64 KiB).
pub const BODY_BUFFER_BYTES: usize = 64 * (64 << 10);

/// One instance's host-side budget; see the module doc.
pub struct HostBudget {
    limit: usize,
    /// The charge at the last check.
    used: usize,
    /// Set when a check found the budget limiting the instance: too little
    /// left for a full header map, or none at all.
    pub exceeded: bool,
}

impl HostBudget {
    pub fn new() -> HostBudget {
        HostBudget {
            limit: HOST_BYTES_PER_INSTANCE,
            used: 0,
            exceeded: false,
        }
    }

    /// The budget in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Set a fresh store's caps.
    pub fn prepare(table: &mut ResourceTable, http: &mut WasiHttpCtx) {
        table.set_max_capacity(TABLE_ENTRIES);
        http.set_field_size_limit(FIELD_BYTES);
    }

    /// Charge what `table` holds and set the caps the next call runs with.
    pub fn check(&mut self, table: &mut ResourceTable, http: &mut WasiHttpCtx) {
        let mut entries = 0;
        let mut used = 0usize;
        for entry in table.iter_mut() {
            entries += 1;
            used = used.saturating_add(charge(entry));
        }
        self.used = used;
        let left = self.limit.saturating_sub(used);
        if left == 0 {
            self.exceeded = true;
            // Free slots below the high-water mark stay usable; nothing more.
            table.set_max_capacity(entries);
            http.set_field_size_limit(0);
        } else {
            // A map made now may grow only as far as the budget has room.
            self.exceeded |= left < FIELD_BYTES;
            table.set_max_capacity(TABLE_ENTRIES);
            http.set_field_size_limit(FIELD_BYTES.min(left));
        }
    }

    /// The charge at the last check.
    pub fn used(&self) -> usize {
        self.used
    }
}

impl Default for HostBudget {
    fn default() -> Self {
        HostBudget::new()
    }
}

/// What one table entry is charged.
fn charge(entry: &(dyn std::any::Any + Send)) -> usize {
    if let Some(fields) = entry.downcast_ref::<FieldMap>() {
        FIELD_BYTES.max(headers_size(fields))
    } else if let Some(request) = entry.downcast_ref::<HostOutgoingRequest>() {
        headers_size(&request.headers)
    } else if let Some(response) = entry.downcast_ref::<HostOutgoingResponse>() {
        headers_size(&response.headers)
    } else if let Some(response) = entry.downcast_ref::<HostIncomingResponse>() {
        headers_size(&response.headers)
    } else if entry.is::<HostOutgoingBody>() {
        BODY_BUFFER_BYTES
    } else {
        0
    }
}

/// A header map's size as wasmtime-wasi-http counts it against its limit:
/// each name and value's bytes plus the size of its `HeaderName` or
/// `HeaderValue`.
fn headers_size(map: &HeaderMap) -> usize {
    let names: usize = map
        .keys()
        .map(|k| k.as_str().len() + size_of::<http::HeaderName>())
        .sum();
    let values: usize = map
        .values()
        .map(|v| v.len() + size_of::<http::HeaderValue>())
        .sum();
    names + values
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_map() -> FieldMap {
        let mut map = FieldMap::new_mutable(FIELD_BYTES);
        let value = http::HeaderValue::from_static("x");
        let mut i = 0;
        while map
            .append_raw(format!("x-{i}").parse().unwrap(), value.clone())
            .is_ok()
        {
            i += 1;
        }
        map
    }

    #[test]
    fn a_fresh_store_gets_the_caps() {
        let (mut table, mut http) = (ResourceTable::new(), WasiHttpCtx::new());
        HostBudget::prepare(&mut table, &mut http);
        assert_eq!(table.max_capacity(), TABLE_ENTRIES);
        let mut map = FieldMap::new_mutable(FIELD_BYTES);
        let big = http::HeaderValue::from_bytes(&vec![b'a'; FIELD_BYTES]).unwrap();
        assert!(map.append_raw("x".parse().unwrap(), big).is_err());
    }

    #[test]
    fn every_header_map_handle_is_charged_what_it_may_grow_to() {
        let (mut table, mut http) = (ResourceTable::new(), WasiHttpCtx::new());
        let mut budget = HostBudget::new();
        table.push(FieldMap::new_mutable(FIELD_BYTES)).unwrap();
        table.push(full_map()).unwrap();
        budget.check(&mut table, &mut http);
        assert!(budget.used() >= 2 * FIELD_BYTES && budget.used() < 2 * FIELD_BYTES + 4096);
        assert!(!budget.exceeded);
    }

    #[test]
    fn past_the_budget_the_table_takes_nothing_more() {
        let (mut table, mut http) = (ResourceTable::new(), WasiHttpCtx::new());
        HostBudget::prepare(&mut table, &mut http);
        let mut budget = HostBudget::new();
        let maps = HOST_BYTES_PER_INSTANCE / FIELD_BYTES + 1;
        for _ in 0..maps {
            table.push(FieldMap::new_mutable(FIELD_BYTES)).unwrap();
        }
        budget.check(&mut table, &mut http);
        assert!(budget.exceeded);
        assert!(table.push(FieldMap::new_mutable(0)).is_err());
    }

    #[test]
    fn dropping_handles_gives_the_budget_back() {
        let (mut table, mut http) = (ResourceTable::new(), WasiHttpCtx::new());
        let mut budget = HostBudget::new();
        let maps: Vec<_> = (0..HOST_BYTES_PER_INSTANCE / FIELD_BYTES + 1)
            .map(|_| table.push(FieldMap::new_mutable(FIELD_BYTES)).unwrap())
            .collect();
        budget.check(&mut table, &mut http);
        assert_eq!(table.max_capacity(), maps.len());
        for map in maps {
            table.delete(map).unwrap();
        }
        budget.check(&mut table, &mut http);
        assert_eq!(table.max_capacity(), TABLE_ENTRIES);
        assert_eq!(budget.used(), 0);
    }
}
