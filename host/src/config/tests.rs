//! Unit tests of config parsing and validation.
use super::*;
use std::time::Duration;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("/etc/sy/switchyard.toml"), text)
}

fn error(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn routes_resolve_relative_to_the_config_file() {
    let c = parse(
        r#"
        [[route]]
        path = "/hello"
        component = "build/hello.wasm"
        env = { A = "1", B = "two" }
        "#,
    )
    .unwrap();
    let r = &c.routes[0];
    assert_eq!(r.name, "hello");
    assert_eq!(r.component, Path::new("/etc/sy/build/hello.wasm"));
    assert_eq!(
        r.env,
        vec![("A".into(), "1".into()), ("B".into(), "two".into())]
    );
    assert_eq!(r.label(), "route 'hello' (/hello)");
}

#[test]
fn absolute_component_paths_are_kept() {
    let c = parse("[[route]]\npath = \"/a\"\ncomponent = \"/srv/a.wasm\"\n").unwrap();
    assert_eq!(c.routes[0].component, Path::new("/srv/a.wasm"));
}

#[test]
fn unknown_keys_are_rejected_with_their_name() {
    let e = error("[[route]]\npath = \"/a\"\ncomponent = \"a.wasm\"\ncomponnet = \"x\"\n");
    assert!(e.contains("componnet"), "{e}");
    assert!(e.contains("/etc/sy/switchyard.toml"), "{e}");
    let e = error("lisen = \"x\"\n");
    assert!(e.contains("lisen"), "{e}");
}

#[test]
fn missing_component_is_rejected() {
    let e = error("[[route]]\npath = \"/a\"\n");
    assert!(e.contains("component"), "{e}");
}

#[test]
fn duplicate_paths_name_both_routes() {
    let e = error(
        "[[route]]\npath = \"/a\"\ncomponent = \"a.wasm\"\n\
         [[route]]\npath = \"/a\"\ncomponent = \"b.wasm\"\nname = \"b\"\n",
    );
    assert!(
        e.contains("route #2") && e.contains("route #1") && e.contains("/a"),
        "{e}"
    );
}

#[test]
fn duplicate_names_name_both_routes() {
    let e = error(
        "[[route]]\npath = \"/a\"\ncomponent = \"x/hello.wasm\"\n\
         [[route]]\npath = \"/b\"\ncomponent = \"y/hello.wasm\"\n",
    );
    assert!(
        e.contains("'hello'") && e.contains("/a") && e.contains("/b"),
        "{e}"
    );
}

#[test]
fn bad_patterns_name_the_route() {
    let e = error("[[route]]\npath = \"hello\"\ncomponent = \"a.wasm\"\n");
    assert!(
        e.contains("route #1") && e.contains("start with '/'"),
        "{e}"
    );
}

#[test]
fn bad_names_and_env_are_rejected() {
    let e = error("[[route]]\npath = \"/a\"\ncomponent = \"a.wasm\"\nname = \"../x\"\n");
    assert!(e.contains("route name"), "{e}");
    let e = error("[[route]]\npath = \"/a\"\ncomponent = \"a.wasm\"\nenv = { \"A=B\" = \"1\" }\n");
    assert!(e.contains("A=B"), "{e}");
}

#[test]
fn listen_address_is_validated() {
    assert_eq!(
        parse("listen = \"127.0.0.1:9000\"\n").unwrap().listen,
        Some("127.0.0.1:9000".parse().unwrap())
    );
    assert!(error("listen = \"localhost\"\n").contains("invalid listen address"));
}

#[test]
fn toml_syntax_errors_are_reported_on_one_line() {
    let e = error("[[route]\n");
    assert!(
        e.starts_with("invalid config file /etc/sy/switchyard.toml"),
        "{e}"
    );
    assert!(!e.contains('\n'), "{e}");
}

#[test]
fn limits_come_from_defaults_with_route_keys_on_top() {
    let c = parse(
        "[defaults]\nmemory_mb = 64\ntimeout_ms = 5000\n\
         [[route]]\npath = \"/a\"\ncomponent = \"a.wasm\"\ntimeout_ms = 2000\n\
         allowed_outbound_hosts = [\"http://127.0.0.1:*\"]\n\
         [[route]]\npath = \"/b\"\ncomponent = \"b.wasm\"\n",
    )
    .unwrap();
    let (a, b) = (&c.routes[0].limits, &c.routes[1].limits);
    assert_eq!(a.timeout, Duration::from_millis(2000));
    assert_eq!(a.memory_bytes, 64 << 20);
    assert_eq!(
        a.allowed_outbound_hosts,
        vec!["http://127.0.0.1:*".to_string()]
    );
    assert_eq!(b.timeout, Duration::from_millis(5000));
    assert!(
        b.allowed_outbound_hosts.is_empty(),
        "outbound is denied by default"
    );
    assert_eq!(b.max_concurrency, Limits::default().max_concurrency);
    assert_eq!(c.server, ServerLimits::default());
}

#[test]
fn unknown_route_and_defaults_keys_are_rejected_with_their_name() {
    let e = error("[[route]]\npath = \"/a\"\ncomponent = \"a.wasm\"\ntimeout = 5\n");
    assert!(
        e.contains("route #1") && e.contains("unknown key `timeout`"),
        "{e}"
    );
    let e = error("[defaults]\nmemory = 5\n");
    assert!(e.contains("[defaults]") && e.contains("`memory`"), "{e}");
    let e = error("[server]\nworkers = 5\n");
    assert!(e.contains("workers"), "{e}");
}

#[test]
fn out_of_range_limits_name_the_key_and_range() {
    let e = error("[defaults]\nmemory_mb = 0\n");
    assert!(
        e.contains("`memory_mb` = 0 is out of range (1 to 4096)"),
        "{e}"
    );
    let e = error("[server]\nmax_header_bytes = 100\n");
    assert!(e.contains("max_header_bytes"), "{e}");
    let e = error("[[route]]\npath = \"/a\"\ncomponent = \"a.wasm\"\nmax_concurrency = -1\n");
    assert!(
        e.contains("route #1") && e.contains("`max_concurrency` = -1"),
        "{e}"
    );
}

const MIDDLEWARE: &str = r#"
    [[middleware]]
    name = "auth"
    component = "build/auth.wasm"
    env = { REALM = "own", SHARED = "middleware" }

    [[middleware]]
    name = "add-header"
    component = "/srv/add-header.wasm"
"#;

#[test]
fn max_concurrent_requests_is_capped_at_the_instance_pool() {
    let c = parse("[server]\nmax_concurrent_requests = 1000\n").unwrap();
    assert_eq!(c.server.max_concurrent_requests, 1000);
    let e = error("[server]\nmax_concurrent_requests = 1001\n");
    assert!(
        e.contains("[server]")
            && e.contains("`max_concurrent_requests` = 1001 is out of range (1 to 1000)")
            && e.contains("the instance pool has 1000 slots"),
        "{e}"
    );
}

#[test]
fn trusted_proxies_take_cidrs_and_addresses_and_nothing_else() {
    let c = parse("[server]\ntrusted_proxies = [\"10.1.2.3/8\", \"fd00::1\"]\n").unwrap();
    let trusts = |ip: &str| c.server.trusts(ip.parse().unwrap());
    assert!(trusts("10.200.0.1") && trusts("fd00::1") && trusts("::ffff:10.0.0.9"));
    assert!(!trusts("11.0.0.1") && !trusts("fd00::2") && !trusts("127.0.0.1"));
    assert!(!parse("")
        .unwrap()
        .server
        .trusts("127.0.0.1".parse().unwrap()));
    let e = error("[server]\ntrusted_proxies = [\"10.0.0.0/33\"]\n");
    assert!(
        e.contains("[server]") && e.contains("\"10.0.0.0/33\" is neither a CIDR"),
        "{e}"
    );
}

#[test]
fn guard_pages_are_off_unless_asked_for() {
    assert!(!parse("").unwrap().server.guard_pages);
    assert!(
        parse("[server]\nguard_pages = true\n")
            .unwrap()
            .server
            .guard_pages
    );
    let e = error("[server]\nguard_pages = \"yes\"\n");
    assert!(e.contains("guard_pages"), "{e}");
}

#[test]
fn the_cache_table_is_optional_and_resolved_against_the_file() {
    let c = parse("").unwrap();
    assert_eq!(c.cache, CacheSettings::default());
    let c = parse("[cache]\ndir = \"compiled\"\nmax_mb = 64\nenabled = false\n").unwrap();
    assert_eq!(c.cache.dir.as_deref(), Some(Path::new("/etc/sy/compiled")));
    assert_eq!(c.cache.max_bytes, 64 << 20);
    assert!(!c.cache.enabled);
    let c = parse("[cache]\nmax_mb = 5\n").unwrap();
    assert!(c.cache.enabled, "a [cache] table without `enabled` caches");
    assert_eq!(c.cache.dir, None);
}

#[test]
fn bad_cache_keys_are_rejected_with_their_name() {
    let e = error("[cache]\ndirectory = \"x\"\n");
    assert!(
        e.contains("directory") && e.contains("/etc/sy/switchyard.toml"),
        "{e}"
    );
    let e = error("[cache]\nmax_mb = 0\n");
    assert!(
        e.contains("[cache]") && e.contains("`max_mb` = 0 is out of range (1 to 1048576)"),
        "{e}"
    );
    let e = error("[cache]\nenabled = \"yes\"\n");
    assert!(e.contains("enabled") || e.contains("bool"), "{e}");
    let e = error("[cache]\ndir = \"\"\n");
    assert!(e.contains("[cache]") && e.contains("`dir` is empty"), "{e}");
}

#[test]
fn instance_reuse_is_off_by_default_and_validated_per_route() {
    let route = "[[route]]\npath = \"/a\"\ncomponent = \"a.wasm\"\n";
    assert_eq!(parse(route).unwrap().routes[0].instance_reuse, 0);
    let c = parse(&format!("{route}instance_reuse = 128\n")).unwrap();
    assert_eq!(c.routes[0].instance_reuse, 128);
    let e = error(&format!("{route}instance_reuse = -1\n"));
    assert!(
        e.contains("route #1 (/a)")
            && e.contains("`instance_reuse` = -1 is out of range (0 to 1000000"),
        "{e}"
    );
    let e = error(&format!("{route}instance_reuse = \"yes\"\n"));
    assert!(
        e.contains("instance_reuse") && e.contains("invalid type"),
        "{e}"
    );
    let e = error("[defaults]\ninstance_reuse = 8\n");
    assert!(
        e.contains("[defaults]") && e.contains("`instance_reuse` is a per-route key"),
        "{e}"
    );
}

#[test]
fn instance_concurrency_is_one_by_default_and_needs_reuse() {
    let route = "[[route]]\npath = \"/a\"\ncomponent = \"a.wasm\"\n";
    assert_eq!(parse(route).unwrap().routes[0].instance_concurrency, 1);
    let c = parse(&format!(
        "{route}instance_reuse = 128\ninstance_concurrency = 16\n"
    ))
    .unwrap();
    assert_eq!(c.routes[0].instance_concurrency, 16);
    let e = error(&format!("{route}instance_concurrency = 16\n"));
    assert!(
        e.contains("route #1 (/a)") && e.contains("needs `instance_reuse`"),
        "{e}"
    );
    for bad in ["0", "1025", "-3"] {
        let e = error(&format!(
            "{route}instance_reuse = 8\ninstance_concurrency = {bad}\n"
        ));
        assert!(
            e.contains(&format!(
                "`instance_concurrency` = {bad} is out of range (1 to 1024"
            )),
            "{e}"
        );
    }
    let e = error("[defaults]\ninstance_concurrency = 8\n");
    assert!(
        e.contains("[defaults]") && e.contains("`instance_concurrency` is a per-route key"),
        "{e}"
    );
}

mod chains;
mod state;
