//! wasi:keyvalue on the embedded stores, through real components: every
//! operation of `kv-ops` on the SQLite `default` store (no table needed)
//! and on a `memory` store, the limits, the grants, atomic increments from
//! many instances, data that outlives the server, `--key-value`, and the
//! Python `docs` handler's REST API. Redis: `key_value_redis.rs`.

use crate::common::*;
use std::collections::BTreeSet;

/// `/kv/ops` may open `default`, `scratch` (memory) and `tiny` (memory, 16-byte
/// values); `/kv/none` is granted nothing; `secret` is declared but granted
/// to no route.
fn config(data_dir: &str) -> String {
    format!(
        "[server]\ndata_dir = \"{data_dir}\"\n\
         [key_value_store.scratch]\ntype = \"memory\"\n\
         [key_value_store.tiny]\ntype = \"memory\"\nmax_value_bytes = 16\nmax_key_bytes = 8\n\
         [key_value_store.secret]\ntype = \"memory\"\n\
         {}key_value_stores = [\"default\", \"scratch\", \"tiny\"]\n\
         {}\
         {}key_value_stores = [\"default\"]\nvariables = {{ replica = \"a\" }}\n\
         {}key_value_stores = [\"default\"]\n\
         {}",
        route("/kv/ops", "kv-ops"),
        route("/kv/none", "kv-ops").replace("kv-ops.wasm\"\n", "kv-ops.wasm\"\nname = \"none\"\n"),
        route("/kv/counter", "kv-counter"),
        route("/kv/docs/...", "docs"),
        route("/hello", "hello"),
    )
}

/// One kv-ops call: status and body.
pub async fn op(client: &reqwest::Client, url: &str, query: &str) -> (u16, String) {
    get_text(client, format!("{url}?{query}")).await
}

async fn op_body(client: &reqwest::Client, url: &str, query: &str, body: Vec<u8>) -> (u16, String) {
    post_text(client, format!("{url}?{query}"), body).await
}

/// Every operation on `store`, as a guest sees it, through `url` (a kv-ops
/// route granted it). The store starts empty of the keys used here.
pub async fn exercise(client: &reqwest::Client, url: &str, store: &str) {
    let s = format!("store={store}");
    let call = |q: String| async move { op(client, url, &q).await };
    assert_eq!(call(format!("{s}&op=open")).await, (200, "ok\n".into()));
    // get / set / exists / delete
    assert_eq!(
        call(format!("{s}&op=get&key=a")).await,
        (404, "none\n".into())
    );
    let set = op_body(client, url, &format!("{s}&op=set&key=a"), b"one".to_vec()).await;
    assert_eq!(set, (200, "ok\n".into()), "{store}");
    assert_eq!(call(format!("{s}&op=get&key=a")).await, (200, "one".into()));
    assert_eq!(
        call(format!("{s}&op=exists&key=a")).await,
        (200, "true\n".into())
    );
    assert_eq!(
        call(format!("{s}&op=exists&key=b")).await,
        (200, "false\n".into())
    );
    let binary: Vec<u8> = (0..=255u8).collect();
    op_body(client, url, &format!("{s}&op=set&key=bin"), binary.clone()).await;
    let got = get(client, format!("{url}?{s}&op=get&key=bin")).await;
    assert_eq!(
        got.bytes().await.unwrap().as_ref(),
        binary.as_slice(),
        "values are bytes"
    );
    assert_eq!(
        call(format!("{s}&op=delete&key=a")).await,
        (200, "ok\n".into())
    );
    assert_eq!(
        call(format!("{s}&op=get&key=a")).await,
        (404, "none\n".into())
    );
    assert_eq!(
        call(format!("{s}&op=delete&key=a")).await,
        (200, "ok\n".into()),
        "deleting nothing is fine"
    );

    // batches
    let lines = "k1=v1\nk2=v2\nk3=v3\n";
    let set_many = op_body(client, url, &format!("{s}&op=set-many"), lines.into()).await;
    assert_eq!(set_many, (200, "ok\n".into()));
    assert_eq!(
        call(format!("{s}&op=get-many&keys=k1,nope,k3")).await,
        (200, "k1=v1\nnope: none\nk3=v3\n".into())
    );
    assert_eq!(
        call(format!("{s}&op=delete-many&keys=k1,k2")).await,
        (200, "ok\n".into())
    );
    assert_eq!(
        call(format!("{s}&op=get-many&keys=k1,k2,k3")).await,
        (200, "k1: none\nk2: none\nk3=v3\n".into())
    );

    // increment: decimal text, atomic, starting from 0
    assert_eq!(
        call(format!("{s}&op=increment&key=n&delta=5")).await,
        (200, "5\n".into())
    );
    assert_eq!(
        call(format!("{s}&op=increment&key=n&delta=37")).await,
        (200, "42\n".into())
    );
    assert_eq!(call(format!("{s}&op=get&key=n")).await, (200, "42".into()));
    let (status, body) = call(format!("{s}&op=increment&key=k3")).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body.starts_with("error: other: ") && body.contains("not a decimal integer"),
        "{body}"
    );

    // list-keys, page by page, following the cursor: 2,500 keys in three batches
    for batch in 0..3 {
        let pairs: String = (batch * 1000..((batch + 1) * 1000).min(2500))
            .map(|i| format!("page-{i:04}=x\n"))
            .collect();
        let (status, body) = op_body(client, url, &format!("{s}&op=set-many"), pairs.into()).await;
        assert_eq!(
            (status, body.as_str()),
            (200, "ok\n"),
            "{store} batch {batch}"
        );
    }
    let (mut seen, mut cursor, mut pages) = (BTreeSet::new(), None::<String>, 0);
    loop {
        let query = match &cursor {
            None => format!("{s}&op=list"),
            Some(c) => format!("{s}&op=list&cursor={c}"),
        };
        let (status, body) = call(query).await;
        assert_eq!(status, 200, "{body}");
        let mut lines: Vec<&str> = body.lines().collect();
        let last = lines.pop().expect("a cursor line");
        assert!(
            lines.len() <= 1000,
            "a page has at most 1000 keys, got {}",
            lines.len()
        );
        seen.extend(lines.iter().map(|k| k.to_string()));
        pages += 1;
        match last
            .strip_prefix("cursor=")
            .expect("the last line is the cursor")
        {
            "none" => break,
            next => cursor = Some(next.to_string()),
        }
        assert!(pages < 100, "list-keys never ended");
    }
    let listed = seen.iter().filter(|k| k.starts_with("page-")).count();
    assert_eq!(
        listed, 2500,
        "every key is listed once the cursor runs out ({pages} pages)"
    );
    assert!(
        pages >= 3,
        "2,500 keys take at least three pages, took {pages}"
    );
    assert!(seen.contains("k3") && seen.contains("n") && !seen.contains("k1"));
}

/// The limits every store has: key and value size, batch size.
async fn limits_are_refused_with_a_clear_message(client: &reqwest::Client, url: &str) {
    let big = vec![b'x'; (1 << 20) + 1];
    let (status, body) = op_body(client, url, "store=default&op=set&key=big", big).await;
    assert_eq!(status, 500);
    assert_eq!(
        body,
        "error: other: value of 1048577 bytes for key 'big' is over store 'default''s limit \
         of 1048576 bytes (max_value_bytes)\n"
    );
    let fits = vec![b'x'; 1 << 20];
    assert_eq!(
        op_body(client, url, "store=default&op=set&key=big", fits).await,
        (200, "ok\n".into())
    );
    let long = "k".repeat(257);
    let (status, body) = op(client, url, &format!("store=default&op=get&key={long}")).await;
    assert_eq!(status, 500);
    assert!(
        body.contains("key of 257 bytes is over store 'default''s limit of 256 bytes"),
        "{body}"
    );
    // A store's own limits.
    let (_, body) = op_body(client, url, "store=tiny&op=set&key=k", vec![b'v'; 17]).await;
    assert!(
        body.contains("over store 'tiny''s limit of 16 bytes"),
        "{body}"
    );
    let (_, body) = op(client, url, "store=tiny&op=get&key=123456789").await;
    assert!(
        body.contains("key of 9 bytes is over store 'tiny''s limit of 8 bytes"),
        "{body}"
    );
    // Batches of more than 1000 keys.
    let keys: Vec<String> = (0..1001).map(|i| i.to_string()).collect();
    let (status, body) = op(
        client,
        url,
        &format!("store=default&op=get-many&keys={}", keys.join(",")),
    )
    .await;
    assert_eq!(status, 500);
    assert!(
        body.contains("get-many of 1001 keys is over the limit of 1000 keys per call"),
        "{body}"
    );
    let line = wait_for_log(&[
        "key-value call failed",
        "route=kv-ops",
        "store=\"default\"",
        "max_value_bytes",
    ])
    .await;
    assert!(
        line.contains("request_id="),
        "the log line names the request: {line}"
    );
}

#[tokio::test]
async fn sqlite_default_and_memory_stores_serve_every_operation() {
    let server = TestServer::start(&config("data")).await;
    let client = http1();
    let url = server.url("/kv/ops");
    exercise(&client, &url, "default").await;
    exercise(&http2(), &url, "scratch").await;
    // `""` is the default store.
    assert_eq!(
        op(&client, &url, "store=&op=get&key=n").await,
        (200, "42".into())
    );
    limits_are_refused_with_a_clear_message(&client, &url).await;
    // The default store is a SQLite file in data_dir, next to the config file.
    let file = server.path("data/kv-default.sqlite3");
    assert!(file.exists(), "{} holds the default store", file.display());
    server.stop().await;
}

#[tokio::test]
async fn a_route_opens_only_what_it_is_granted() {
    let server = TestServer::start(&config("data")).await;
    let client = http1();
    // Declared but not granted to this route: access-denied.
    let (status, body) = op(&client, &server.url("/kv/ops"), "store=secret&op=open").await;
    assert_eq!((status, body.as_str()), (500, "error: access-denied\n"));
    let (status, body) = op(
        &client,
        &server.url("/kv/none"),
        "store=default&op=get&key=a",
    )
    .await;
    assert_eq!((status, body.as_str()), (500, "error: access-denied\n"));
    // Declared nowhere: no-such-store.
    let (status, body) = op(&client, &server.url("/kv/ops"), "store=nowhere&op=open").await;
    assert_eq!((status, body.as_str()), (500, "error: no-such-store\n"));
    let line = wait_for_log(&["may not open store 'secret'", "route=kv-ops"]).await;
    assert!(line.contains("does not grant it"), "{line}");
    // A store granted to no route is never opened.
    assert!(!server.path("data/secret").exists());
    server.stop().await;
}

#[tokio::test]
async fn concurrent_increments_from_many_instances_never_lose_an_update() {
    let server = TestServer::start(&config("data")).await;
    let url = server.url("/kv/counter?key=race");
    let clients: Vec<_> = (0..8)
        .map(|i| {
            let client = if i % 2 == 0 { http1() } else { http2() };
            let url = url.clone();
            tokio::spawn(async move {
                let mut last = 0u64;
                for _ in 0..500 {
                    let (status, body) = get_text(&client, &url).await;
                    assert_eq!(status, 200, "{body}");
                    let n: u64 = body
                        .lines()
                        .next()
                        .unwrap()
                        .strip_prefix("count=")
                        .unwrap()
                        .parse()
                        .unwrap();
                    assert!(n > last, "one client's counts only grow: {last} then {n}");
                    last = n;
                }
            })
        })
        .collect();
    for client in clients {
        client.await.unwrap();
    }
    let (status, body) = get_text(&http1(), &url).await;
    assert_eq!((status, body.as_str()), (200, "count=4001\nreplica=a\n"));
    server.stop().await;
}

#[tokio::test]
async fn the_default_store_survives_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().display().to_string();
    let server = TestServer::start(&config(&data_dir)).await;
    let url = server.url("/kv/ops");
    let set = op_body(
        &http1(),
        &url,
        "op=set&key=kept",
        b"across restarts".to_vec(),
    )
    .await;
    assert_eq!(set, (200, "ok\n".into()));
    get_text(&http1(), server.url("/kv/counter?key=visits")).await;
    server.stop().await;

    let server = TestServer::start(&config(&data_dir)).await;
    let url = server.url("/kv/ops");
    assert_eq!(
        op(&http2(), &url, "op=get&key=kept").await,
        (200, "across restarts".into())
    );
    let (_, body) = get_text(&http1(), server.url("/kv/counter?key=visits")).await;
    assert!(body.starts_with("count=2\n"), "{body}");
    // The memory store did not survive.
    assert_eq!(
        op(&http1(), &url, "store=scratch&op=get&key=n").await,
        (404, "none\n".into())
    );
    server.stop().await;
}

#[tokio::test]
async fn the_binary_seeds_the_default_store_with_key_value() {
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("switchyard.toml");
    std::fs::write(&config_file, config("data")).unwrap();
    let server = Process::spawn(
        &config_file,
        &["--key-value", "greeting=hello=world", "--key-value", "n=41"],
    );
    let client = http1();
    assert_eq!(
        op(&client, &server.url("/kv/ops"), "op=get&key=greeting").await,
        (200, "hello=world".into())
    );
    let (_, body) = get_text(&client, server.url("/kv/counter?key=n")).await;
    assert!(body.starts_with("count=42\n"), "{body}");
    drop(server);
    let (code, stderr) = run_to_exit(&[
        "serve",
        "--config",
        config_file.to_str().unwrap(),
        "--key-value",
        "novalue",
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("expected KEY=VALUE, got \"novalue\""),
        "{stderr}"
    );
}

#[tokio::test]
async fn an_unusable_data_dir_fails_the_start_naming_the_store() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the data folder should be.
    std::fs::write(dir.path().join("blocked"), "").unwrap();
    let config_file = dir.path().join("switchyard.toml");
    std::fs::write(&config_file, config("blocked/data")).unwrap();
    let (code, stderr) = run_to_exit(&["serve", "--config", config_file.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stderr}");
    let expected = format!(
        "error: key_value_store 'default' (sqlite {}): cannot create the folder {}",
        dir.path().join("blocked/data/kv-default.sqlite3").display(),
        dir.path().join("blocked/data").display()
    );
    assert!(
        stderr.contains(&expected),
        "expected {expected:?} in:\n{stderr}"
    );
}

#[tokio::test]
async fn the_docs_handler_stores_json_documents_over_rest() {
    let server = TestServer::start(&config("data")).await;
    for (protocol, client) in clients() {
        let base = server.url("/kv/docs/");
        let put = client
            .put(format!("{base}intro"))
            .body(r#"{"title": "hello"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 201, "{protocol}");
        assert_eq!(put.headers()["content-type"], "application/json");
        let put = client
            .put(format!("{base}intro"))
            .body(r#"{"title": "again"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 200, "{protocol}: a replace");
        let (status, body) = get_text(&client, format!("{base}intro")).await;
        assert_eq!(status, 200);
        let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(doc["title"], "again");
        let posted = client.post(&base).body(r#"{"n": 1}"#).send().await.unwrap();
        assert_eq!(posted.status(), 201);
        let id = posted.json::<serde_json::Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let (_, listing) = get_text(&client, &base).await;
        let listing: serde_json::Value = serde_json::from_str(&listing).unwrap();
        let ids: Vec<&str> = listing["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(
            ids.contains(&"intro") && ids.contains(&id.as_str()),
            "{listing}"
        );
        let bad = client
            .put(format!("{base}broken"))
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 400);
        let deleted = client.delete(format!("{base}intro")).send().await.unwrap();
        assert_eq!(deleted.status(), 204);
        let (status, body) = get_text(&client, format!("{base}intro")).await;
        assert_eq!(status, 404, "{body}");
        assert!(body.contains("no document 'intro'"), "{body}");
    }
    // Other routes never noticed.
    assert_eq!(get_text(&http1(), server.url("/hello")).await.0, 200);
    server.stop().await;
}

/// Poll `query` on `url` until it answers `expected` (a reload is picked up
/// asynchronously).
async fn until(url: &str, query: &str, expected: (u16, &str)) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let got = op(&http1(), url, query).await;
        if (got.0, got.1.as_str()) == expected {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{query}: still {got:?}, expected {expected:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn reloads_add_and_remove_stores_and_grants_and_keep_unchanged_stores() {
    let server = TestServer::start_watching(&config("data")).await;
    let url = server.url("/kv/ops");
    let set = op_body(
        &http1(),
        &url,
        "store=scratch&op=set&key=kept",
        b"still here".to_vec(),
    )
    .await;
    assert_eq!(set, (200, "ok\n".into()));
    assert_eq!(
        op(&http1(), &url, "store=extra&op=open").await,
        (500, "error: no-such-store\n".into())
    );

    // A new store, granted; `scratch` unchanged.
    let added = config("data")
        .replace(
            "[key_value_store.scratch]",
            "[key_value_store.extra]\ntype = \"memory\"\n[key_value_store.scratch]",
        )
        .replace(
            "[\"default\", \"scratch\", \"tiny\"]",
            "[\"default\", \"scratch\", \"tiny\", \"extra\"]",
        );
    std::fs::write(&server.config_file, added).unwrap();
    until(&url, "store=extra&op=open", (200, "ok\n")).await;
    // The memory store whose settings did not change is the same store.
    assert_eq!(
        op(&http1(), &url, "store=scratch&op=get&key=kept").await,
        (200, "still here".into())
    );

    // The grant taken away: access-denied, with no restart.
    std::fs::write(
        &server.config_file,
        config("data").replace(
            "\"default\", \"scratch\", \"tiny\"",
            "\"default\", \"tiny\"",
        ),
    )
    .unwrap();
    until(
        &url,
        "store=scratch&op=open",
        (500, "error: access-denied\n"),
    )
    .await;
    // The grant back, and `tiny`'s limit raised: `scratch` was kept open
    // (no route held it, its settings did not change), `tiny` is a new store.
    let raised = config("data").replace("max_value_bytes = 16", "max_value_bytes = 32");
    std::fs::write(&server.config_file, raised).unwrap();
    until(&url, "store=scratch&op=get&key=kept", (200, "still here")).await;
    let set = op_body(&http1(), &url, "store=tiny&op=set&key=k", vec![b'v'; 20]).await;
    assert_eq!(set, (200, "ok\n".into()), "the new limit applies");
    // A reload that names an undeclared store fails and changes nothing.
    std::fs::write(
        &server.config_file,
        config("data").replace("[\"default\", \"scratch\", \"tiny\"]", "[\"nope\"]"),
    )
    .unwrap();
    wait_for_log(&["reload failed", "names 'nope'"]).await;
    assert_eq!(
        op(&http1(), &url, "store=scratch&op=get&key=kept").await,
        (200, "still here".into())
    );
    server.stop().await;
}

#[tokio::test]
async fn a_wasi_http_0_3_guest_keeps_state_in_its_stores_too() {
    let config = format!(
        "[key_value_store.scratch]\ntype = \"memory\"\n\
         {}key_value_stores = [\"scratch\", \"default\"]\n[key_value_store.default]\ntype = \"memory\"\n\
         {}name = \"p3-bare\"\n",
        route("/p3", "hello-p3"),
        route("/p3-bare", "hello-p3"),
    );
    // `""` opens `default`, here a memory store.
    let server = TestServer::start(&config).await;
    for (i, (protocol, client)) in clients().into_iter().enumerate() {
        let (status, body) = get_text(&client, server.url("/p3?kv=visits")).await;
        assert_eq!(
            (status, body),
            (200, format!("count={}\n", i + 1)),
            "{protocol}"
        );
    }
    let (status, body) = get_text(&http1(), server.url("/p3-bare?kv=visits")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body,
        "hello-p3: cannot count 'visits' in store '': access-denied\n"
    );
    server.stop().await;
}

#[tokio::test]
async fn metrics_count_store_calls_by_store_operation_and_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("switchyard.toml");
    std::fs::write(&config_file, config("data")).unwrap();
    let server = Process::spawn(&config_file, &["--admin-listen", "127.0.0.1:0"]);
    let client = http1();
    for _ in 0..3 {
        assert_eq!(get_text(&client, server.url("/kv/counter")).await.0, 200);
    }
    let url = server.url("/kv/ops");
    op_body(&client, &url, "store=tiny&op=set&key=k", vec![b'v'; 17]).await;
    op(&client, &url, "store=scratch&op=get&key=k").await;
    let metrics = format!("http://{}/metrics", server.admin.unwrap());
    let text = get(&client, metrics).await.text().await.unwrap();
    let count = |labels: &[(&str, &str)]| {
        crate::metrics::sample(&text, "switchyard_kv_operations_total", labels)
    };
    assert_eq!(
        count(&[("store", "default"), ("op", "increment"), ("outcome", "ok")]),
        3.0,
        "{text}"
    );
    assert_eq!(
        count(&[("store", "tiny"), ("op", "set"), ("outcome", "refused")]),
        1.0
    );
    assert_eq!(
        count(&[("store", "scratch"), ("op", "get"), ("outcome", "ok")]),
        1.0
    );
    let timed = crate::metrics::sample(
        &text,
        "switchyard_kv_operation_duration_seconds_count",
        &[("store", "default"), ("op", "increment")],
    );
    assert_eq!(timed, 3.0, "each call's time is in the histogram");
}
