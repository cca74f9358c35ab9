//! The server's worst-case memory, worked out from the config before
//! anything is loaded, and the per-instance figures it is made of.
//!
//! `memory_mb` caps one instance's linear memory, but a server runs many
//! instances at once, each with host-side state beside its linear memory
//! (header maps, body buffers: [`HOST_BYTES_PER_INSTANCE`]), and the
//! instance pool keeps some pages of every slot it has used resident
//! ([`RESIDENT_PER_POOL_SLOT`]). [`MemoryUse::of`] adds these up for the
//! most the config lets run at once, so `[server] max_memory_mb` can refuse
//! a config that could outgrow it, and start-up can warn when the budget is
//! more than the cgroup grants ([`cgroup_limit`]).

use super::limits::ServerLimits;
use super::route::RouteConfig;
use super::{Config, ConfigError};
use std::path::Path;

/// What one instance may hold in host memory beside its linear memory:
/// header maps (each charged the full [`FIELD_BYTES`] it may grow to) and
/// outgoing body buffers. `guest::budget` enforces it per store.
///
/// 32 MiB: a handler's own response body buffer (512 KiB: 8 writes of
/// 64 KiB queue ahead of the connection) plus a few outgoing request bodies,
/// and ~200 live header maps; real handlers hold a handful of each.
pub const HOST_BYTES_PER_INSTANCE: usize = 32 << 20;

/// The most one header map (`wasi:http` `fields`) may grow to, in the
/// accounting wasmtime-wasi-http uses (name and value bytes plus 32 and
/// 40 bytes of bookkeeping per name and value). 80 KiB holds a whole
/// default request head (`max_header_bytes` 64 KiB of wire bytes in at most
/// `max_header_count` 100 headers, ~71 KiB so counted) that a middleware
/// copies into its outgoing request, with room to add to it; wasmtime's
/// default is 128 KiB.
pub const FIELD_BYTES: usize = 80 << 10;

/// Entries (resources: header maps, bodies, streams, pollables, ...) one
/// instance's resource table may hold at once. A Rust handler uses ~15, one
/// more per outbound request in flight about 10 (16 at most by default);
/// 4096 leaves room for the Python and JavaScript runtimes and for
/// handlers that fan out, where wasmtime allows a million.
pub const TABLE_ENTRIES: usize = 4096;

/// Bytes a pool slot keeps resident after its instance is gone: two linear
/// memories with 2 MiB kept each and four tables with 64 KiB kept each
/// (`runtime/tuning.rs` builds the pool from the same numbers).
pub const RESIDENT_PER_POOL_SLOT: usize = 2 * (2 << 20) + 4 * (64 << 10);

/// A config's worst case, in bytes, by where it comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryUse {
    /// Instances running at once: the `max_concurrent_requests` costliest
    /// instances the routes admit, each `memory_mb` plus
    /// [`HOST_BYTES_PER_INSTANCE`].
    pub running: u64,
    /// `instance_reuse` instances kept between requests (outside
    /// admission): up to a route's `max_concurrency` of them.
    pub reused_idle: u64,
    /// Pages the instance pools keep resident: [`RESIDENT_PER_POOL_SLOT`]
    /// for each slot of the fresh pool (`max_concurrent_requests` slots)
    /// and, when a route reuses instances, of the reuse pool (twice that).
    pub pool_resident: u64,
}

impl MemoryUse {
    /// The most `routes` may use at once under `server`'s limits.
    ///
    /// A request takes one server slot per component of its chain (see
    /// [`instances_per_request`]), so a route may hold up to
    /// `max_concurrency` × that many slots, and the server
    /// `max_concurrent_requests` slots in all. The worst case fills the
    /// server's slots with the costliest instances first: the sum over
    /// routes of `memory_mb × min(max_concurrency, max_concurrent_requests)`
    /// would count slots the server never grants.
    pub fn of(routes: &[RouteConfig], server: &ServerLimits) -> MemoryUse {
        let slots = server.max_concurrent_requests as u64;
        let mut costs: Vec<(u64, u64)> = routes
            .iter()
            .map(|route| {
                let instances = instances_per_request(route) as u64;
                let cost = match route.upstream.is_some() && route.middleware.is_empty() {
                    // A slot without an instance: the upstream's buffers are hyper's.
                    true => 0,
                    false => instance_bytes(route),
                };
                (cost, instances * route.limits.max_concurrency as u64)
            })
            .collect();
        costs.sort_by_key(|&(cost, _)| std::cmp::Reverse(cost));
        let (mut running, mut left) = (0u64, slots);
        for (cost, count) in costs {
            let taken = count.min(left);
            running = running.saturating_add(cost.saturating_mul(taken));
            left -= taken;
        }
        let reusing: Vec<&RouteConfig> = routes.iter().filter(|r| r.instance_reuse > 0).collect();
        let reused_idle = reusing
            .iter()
            .map(|r| instance_bytes(r).saturating_mul((r.limits.max_concurrency as u64).min(slots)))
            .fold(0u64, u64::saturating_add);
        let pool_slots = if reusing.is_empty() { slots } else { 3 * slots };
        MemoryUse {
            running,
            reused_idle,
            pool_resident: pool_slots * RESIDENT_PER_POOL_SLOT as u64,
        }
    }

    pub fn total(&self) -> u64 {
        self.running
            .saturating_add(self.reused_idle)
            .saturating_add(self.pool_resident)
    }
}

impl std::fmt::Display for MemoryUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} MiB (instances running at once {} MiB, reused instances between requests {} MiB, pool pages kept resident {} MiB)",
            mib(self.total()),
            mib(self.running),
            mib(self.reused_idle),
            mib(self.pool_resident)
        )
    }
}

/// One instance of `route`: its linear memory and its host-side budget.
fn instance_bytes(route: &RouteConfig) -> u64 {
    (route.limits.memory_bytes + HOST_BYTES_PER_INSTANCE) as u64
}

/// Server slots one request on `route` takes: one per component of its
/// chain (middleware and its own component), and one for a route that is
/// an upstream alone, so `max_concurrent_requests` still bounds it.
pub fn instances_per_request(route: &RouteConfig) -> usize {
    (route.middleware.len() + usize::from(route.upstream.is_none())).max(1)
}

/// Whole MiB, rounded up.
pub fn mib(bytes: u64) -> u64 {
    bytes.div_ceil(1 << 20)
}

/// The memory limit of the cgroup this process runs in, if it has one:
/// cgroup v2's `memory.max`, else v1's `memory.limit_in_bytes` (whose
/// "no limit" is a huge number, treated as none).
pub fn cgroup_limit() -> Option<u64> {
    cgroup_limit_in(Path::new("/sys/fs/cgroup"))
}

fn cgroup_limit_in(root: &Path) -> Option<u64> {
    let read = |name: &str| std::fs::read_to_string(root.join(name)).ok();
    let limit = match read("memory.max") {
        Some(text) => text.trim().parse::<u64>().ok()?, // "max": no limit
        None => read("memory/memory.limit_in_bytes")?
            .trim()
            .parse::<u64>()
            .ok()?,
    };
    (limit < 1 << 60).then_some(limit)
}

/// The start-up warning for a config whose memory budget (its
/// `max_memory_mb`, else its worst case) is more than `cgroup` bytes.
pub fn cgroup_warning(budget: u64, worst: &MemoryUse, cgroup: Option<u64>) -> Option<String> {
    let cgroup = cgroup?;
    (budget > cgroup).then(|| {
        format!(
            "the routes may use up to {worst}, with a budget of {} MiB, but this process's cgroup allows {} MiB (memory.max): \
             the kernel may kill the server before a guest hits its limit; lower memory_mb, max_concurrency or \
             max_concurrent_requests, or set [server] max_memory_mb below the cgroup's limit",
            mib(budget),
            mib(cgroup)
        )
    })
}

impl Config {
    /// The most this config's routes may use at once (see [`MemoryUse::of`]).
    pub fn memory_use(&self) -> MemoryUse {
        MemoryUse::of(&self.routes, &self.server)
    }

    /// The start-up warning when the memory budget (`max_memory_mb`, else
    /// the worst case) is more than this process's cgroup allows.
    pub fn memory_warning(&self) -> Option<String> {
        let worst = self.memory_use();
        let budget = self.server.max_memory.unwrap_or(worst.total());
        cgroup_warning(budget, &worst, cgroup_limit())
    }
}

/// Every route's chain must fit in the server's slots (a request takes one
/// per component, all at once), and the worst case in `max_memory_mb`.
pub(super) fn check(
    file: &Path,
    routes: &[RouteConfig],
    server: &ServerLimits,
) -> Result<(), ConfigError> {
    for (i, route) in routes.iter().enumerate() {
        let needed = instances_per_request(route);
        if needed > server.max_concurrent_requests {
            return Err(ConfigError::Route {
                file: file.to_path_buf(),
                index: i + 1,
                path: route.pattern.to_string(),
                message: format!(
                    "its chain runs {needed} instances per request, more than [server] \
                     max_concurrent_requests = {}: no request could ever be admitted",
                    server.max_concurrent_requests
                ),
            });
        }
    }
    match server.max_memory {
        Some(budget) if MemoryUse::of(routes, server).total() > budget => {
            Err(ConfigError::Section {
                file: file.to_path_buf(),
                section: "server".into(),
                message: format!(
                    "`max_memory_mb` = {} is less than the routes may use at once: {}; lower \
                     memory_mb, max_concurrency or max_concurrent_requests, or raise max_memory_mb",
                    budget >> 20,
                    MemoryUse::of(routes, server)
                ),
            })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn config(text: &str) -> Config {
        Config::parse(Path::new("/srv/switchyard.toml"), text).unwrap()
    }

    const MIB: u64 = 1 << 20;

    #[test]
    fn the_costliest_routes_fill_the_servers_slots_first() {
        let c = config(
            "[server]\nmax_concurrent_requests = 10\n\
             [[route]]\npath = \"/big\"\ncomponent = \"big.wasm\"\nmemory_mb = 100\nmax_concurrency = 4\n\
             [[route]]\npath = \"/small\"\ncomponent = \"small.wasm\"\nmemory_mb = 10\nmax_concurrency = 100\n",
        );
        let used = MemoryUse::of(&c.routes, &c.server);
        let host = HOST_BYTES_PER_INSTANCE as u64;
        assert_eq!(used.running, 4 * (100 * MIB + host) + 6 * (10 * MIB + host));
        assert_eq!(used.reused_idle, 0);
        assert_eq!(used.pool_resident, 10 * RESIDENT_PER_POOL_SLOT as u64);
    }

    #[test]
    fn a_chain_takes_a_slot_per_component_and_an_upstream_none_of_memory() {
        let c = config(
            "[server]\nmax_concurrent_requests = 7\n\
             [[middleware]]\nname = \"a\"\ncomponent = \"a.wasm\"\n\
             [[route]]\npath = \"/chain\"\nmiddleware = [\"a\", \"a\"]\ncomponent = \"h.wasm\"\nmemory_mb = 8\nmax_concurrency = 2\n\
             [[route]]\npath = \"/up\"\nname = \"up\"\nupstream = \"http://127.0.0.1:9\"\nmemory_mb = 4000\n",
        );
        assert_eq!(instances_per_request(&c.routes[0]), 3);
        assert_eq!(instances_per_request(&c.routes[1]), 1);
        let used = MemoryUse::of(&c.routes, &c.server);
        assert_eq!(used.running, 6 * (8 * MIB + HOST_BYTES_PER_INSTANCE as u64));
    }

    #[test]
    fn reused_instances_count_between_requests() {
        let c = config(
            "[server]\nmax_concurrent_requests = 4\n\
             [[route]]\npath = \"/r\"\ncomponent = \"r.wasm\"\ninstance_reuse = 10\nmemory_mb = 16\nmax_concurrency = 100\n",
        );
        let used = MemoryUse::of(&c.routes, &c.server);
        let one = 16 * MIB + HOST_BYTES_PER_INSTANCE as u64;
        assert_eq!(used.running, 4 * one);
        assert_eq!(used.reused_idle, 4 * one);
        assert_eq!(used.pool_resident, 12 * RESIDENT_PER_POOL_SLOT as u64);
    }

    #[test]
    fn cgroup_limits_are_read_from_v2_then_v1() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(cgroup_limit_in(dir.path()), None);
        std::fs::create_dir(dir.path().join("memory")).unwrap();
        std::fs::write(
            dir.path().join("memory/memory.limit_in_bytes"),
            "9223372036854771712\n",
        )
        .unwrap();
        assert_eq!(cgroup_limit_in(dir.path()), None, "v1's no limit");
        std::fs::write(
            dir.path().join("memory/memory.limit_in_bytes"),
            "1073741824\n",
        )
        .unwrap();
        assert_eq!(cgroup_limit_in(dir.path()), Some(1 << 30));
        std::fs::write(dir.path().join("memory.max"), "max\n").unwrap();
        assert_eq!(cgroup_limit_in(dir.path()), None, "v2's no limit wins");
        std::fs::write(dir.path().join("memory.max"), "536870912\n").unwrap();
        assert_eq!(cgroup_limit_in(dir.path()), Some(512 << 20));
    }

    #[test]
    fn the_warning_names_both_figures_only_when_over() {
        let worst = MemoryUse {
            running: 3 << 30,
            reused_idle: 0,
            pool_resident: 0,
        };
        assert_eq!(cgroup_warning(3 << 30, &worst, None), None);
        assert_eq!(cgroup_warning(3 << 30, &worst, Some(4 << 30)), None);
        let warning = cgroup_warning(3 << 30, &worst, Some(1 << 30)).unwrap();
        assert!(
            warning.contains("3072 MiB") && warning.contains("allows 1024 MiB"),
            "{warning}"
        );
    }
}
