//! Unit tests of what a route may keep and read: the key-value stores it
//! is granted (`[key_value_store.NAME]`, `key_value_stores`, `data_dir`) and
//! its wasi:config `variables`, secrets from the environment included; and
//! how its component is built (`[route.build]`).
use super::*;

const ROUTE: &str = "[[route]]\npath = \"/kv\"\ncomponent = \"kv.wasm\"\n";

#[test]
fn default_is_sqlite_in_the_data_dir_with_no_table_at_all() {
    let c = parse(&format!(
        "[server]\ndata_dir = \"state\"\n{ROUTE}key_value_stores = [\"default\"]\n"
    ))
    .unwrap();
    assert_eq!(c.data_dir, Path::new("/etc/sy/state"));
    let default = &c.key_value_stores["default"];
    assert_eq!(
        default.backend,
        Backend::Sqlite {
            path: "/etc/sy/state/kv-default.sqlite3".into()
        }
    );
    assert_eq!(default.max_key_bytes, 256);
    assert_eq!(default.max_value_bytes, 1 << 20);
    assert_eq!(c.routes[0].key_value_stores, ["default"]);
    // Without the key, a route is granted nothing.
    let c = parse(ROUTE).unwrap();
    assert!(c.routes[0].key_value_stores.is_empty());
    assert!(c.data_dir.ends_with("switchyard") || c.data_dir.ends_with(".switchyard"));
}

#[test]
fn the_empty_name_is_the_default_store() {
    let c = parse(&format!("{ROUTE}key_value_stores = [\"\", \"default\"]\n")).unwrap();
    assert_eq!(c.routes[0].key_value_stores, ["default"]);
}

#[test]
fn stores_of_each_type_resolve_with_their_keys() {
    let c = parse(&format!(
        "{ROUTE}key_value_stores = [\"files\", \"shared\", \"scratch\"]\n\
         [key_value_store.files]\ntype = \"sqlite\"\npath = \"db/files.sqlite3\"\nmax_key_bytes = 64\n\
         [key_value_store.shared]\ntype = \"redis\"\nurl = \"redis://:pw@10.0.0.5:6379/2\"\nprefix = \"app:\"\ntimeout_ms = 250\n\
         [key_value_store.scratch]\ntype = \"memory\"\nmax_value_bytes = 10\n"
    ))
    .unwrap();
    let stores = &c.key_value_stores;
    assert_eq!(
        stores["files"].backend,
        Backend::Sqlite {
            path: "/etc/sy/db/files.sqlite3".into()
        }
    );
    assert_eq!(stores["files"].max_key_bytes, 64);
    let Backend::Redis { url, prefix } = &stores["shared"].backend else {
        panic!("shared is redis: {:?}", stores["shared"]);
    };
    assert_eq!(
        (url.value(), prefix.as_str()),
        ("redis://:pw@10.0.0.5:6379/2", "app:")
    );
    assert_eq!(stores["shared"].timeout, Duration::from_millis(250));
    assert_eq!(stores["scratch"].backend, Backend::Memory);
    assert_eq!(stores["scratch"].max_value_bytes, 10);
    assert_eq!(c.routes[0].key_value_stores, ["files", "shared", "scratch"]);
    assert!(stores.contains_key("default"), "default is always declared");
}

#[test]
fn an_undeclared_store_is_an_error_naming_the_route_and_the_store() {
    let e = error(&format!("{ROUTE}key_value_stores = [\"sessions\"]\n"));
    assert_eq!(
        e,
        "/etc/sy/switchyard.toml: route #1 (/kv): `key_value_stores` names 'sessions', which no \
         [key_value_store.sessions] table declares (declared: default)"
    );
}

#[test]
fn bad_store_tables_name_the_table_and_the_key() {
    let table = |body: &str| error(&format!("[key_value_store.s]\n{body}\n"));
    assert!(table("type = \"etcd\"").contains("[key_value_store.s]: unknown store type \"etcd\""));
    assert!(table("type = \"redis\"").contains("needs `url`"));
    assert!(table("type = \"sqlite\"").contains("needs `path`"));
    assert!(table("type = \"memory\"\npath = \"x\"").contains("`path` does not apply"));
    assert!(table("type = \"redis\"\nurl = \"http://x\"").contains("must start with redis://"));
    assert!(table("type = \"memory\"\nmax_key_bytes = 0")
        .contains("`max_key_bytes` = 0 is out of range"));
    assert!(table("type = \"memory\"\nttl = 3").contains("unknown field `ttl`"));
    // A password in a bad URL is never repeated.
    let e = table("type = \"redis\"\nurl = \"rediss://:hunter2@h/0\"");
    assert!(e.contains("rediss://") && !e.contains("hunter2"), "{e}");
    let e = error(
        "[key_value_store.a]\ntype = \"sqlite\"\npath = \"kv.db\"\n\
         [key_value_store.b]\ntype = \"sqlite\"\npath = \"kv.db\"\n",
    );
    assert!(
        e.contains("[key_value_store.b]") && e.contains("also store 'a''s"),
        "{e}"
    );
}

#[test]
fn variables_are_literals_or_read_from_the_environment() {
    // cargo sets CARGO_PKG_NAME in the environment of the tests it runs.
    let c = parse(&format!(
        "{ROUTE}variables = {{ greeting = \"hello\", package = {{ env = \"CARGO_PKG_NAME\" }} }}\n"
    ))
    .unwrap();
    let vars = &c.routes[0].variables;
    assert_eq!(vars[0], ("greeting".to_string(), Value::literal("hello")));
    assert_eq!(
        (vars[1].0.as_str(), vars[1].1.value()),
        ("package", "switchyard")
    );
    assert_eq!(vars[1].1.env(), Some("CARGO_PKG_NAME"));
    // A value from the environment is a secret: Debug shows its source only.
    let shown = format!("{:?}", c.routes[0]);
    assert!(
        shown.contains("CARGO_PKG_NAME") && !shown.contains("\"switchyard\""),
        "{shown}"
    );
}

#[test]
fn a_missing_environment_variable_names_the_route_and_the_variable() {
    let e = error(&format!(
        "{ROUTE}variables = {{ api_key = {{ env = \"SWITCHYARD_TEST_SURELY_UNSET\" }} }}\n"
    ));
    assert_eq!(
        e,
        "/etc/sy/switchyard.toml: route #1 (/kv): variable 'api_key': the environment variable \
         SWITCHYARD_TEST_SURELY_UNSET is not set (switchyard's own environment)"
    );
    assert!(error(&format!("{ROUTE}variables = {{ n = 3 }}\n"))
        .contains("variable 'n': expected a string"));
    assert!(
        error(&format!("{ROUTE}variables = {{ \"a b\" = \"x\" }}\n"))
            .contains("variable name \"a b\" is invalid")
    );
}

#[test]
fn middleware_lays_its_variables_over_the_routes_and_keeps_its_own_grants() {
    let c = parse(
        "[key_value_store.limits]\ntype = \"memory\"\n\
         [[middleware]]\nname = \"auth\"\ncomponent = \"auth.wasm\"\n\
         variables = { realm = \"mw\", own = \"1\" }\nkey_value_stores = [\"limits\"]\n\
         [[route]]\npath = \"/p\"\ncomponent = \"p.wasm\"\nmiddleware = [\"auth\"]\n\
         variables = { realm = \"route\", shared = \"2\" }\nkey_value_stores = [\"default\"]\n",
    )
    .unwrap();
    let route = &c.routes[0];
    let auth = route.for_middleware(&route.middleware[0]);
    let names: Vec<(&str, &str)> = auth
        .variables
        .iter()
        .map(|(n, v)| (n.as_str(), v.value()))
        .collect();
    assert_eq!(names, [("own", "1"), ("realm", "mw"), ("shared", "2")]);
    assert_eq!(auth.key_value_stores, ["limits"]);
    assert_eq!(route.key_value_stores, ["default"]);
    let e = error(
        "[[middleware]]\nname = \"auth\"\ncomponent = \"auth.wasm\"\nkey_value_stores = [\"nope\"]\n",
    );
    assert!(
        e.contains("[[middleware]] #1 ('auth'): `key_value_stores` names 'nope'"),
        "{e}"
    );
}

#[test]
fn build_tables_resolve_their_workdir_and_refuse_what_cannot_build() {
    let c = parse(&format!(
        "{ROUTE}[route.build]\ncommand = \"make\"\nworkdir = \"src\"\nwatch = [\"*.rs\"]\n"
    ))
    .unwrap();
    let build = c.routes[0].build.as_ref().unwrap();
    assert_eq!(
        (build.command.as_str(), build.workdir.as_path()),
        ("make", Path::new("/etc/sy/src"))
    );
    assert_eq!(build.watch, ["*.rs"]);
    let c = parse(&format!("{ROUTE}[route.build]\ncommand = \"make\"\n")).unwrap();
    assert_eq!(
        c.routes[0].build.as_ref().unwrap().workdir,
        Path::new("/etc/sy")
    );
    assert!(error(&format!("{ROUTE}[route.build]\ncommand = \" \"\n"))
        .contains("`build.command` is empty"));
    assert!(error(&format!(
        "{ROUTE}[route.build]\ncommand = \"x\"\nshell = 1\n"
    ))
    .contains("unknown field `shell`"));
    let upstream = "[[route]]\npath = \"/u\"\nname = \"u\"\nupstream = \"http://127.0.0.1:9\"\n[route.build]\ncommand = \"x\"\n";
    assert!(error(upstream).contains("a `build` table needs a `component`"));
}
