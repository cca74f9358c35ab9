//! The admin API on the admin listener: off without a token; 401 for a
//! missing or wrong token with nothing changed; `GET /admin/routes`; `PUT` of
//! a good component swaps it live and on disk, of garbage is 422 and of an
//! oversize one 413, both changing nothing; hostile route names are 400;
//! `DELETE` removes a route live and from the config file, comments kept.

use crate::common::*;
use sha2::Digest as _;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "test-admin-token-0123456789";
const V1: &str = "Hello from Switchyard!";
const V2: &str = "Hello again from Switchyard (v2)!";

/// A server with its own copy of `hello` at /hello (name `hello`) and `echo`
/// at /echo, an admin listener, and the API on when `token` is set; `extra`
/// goes at the top of the config. Returns the server, the copy, and the
/// folder holding it (keep it alive).
async fn server(token: Option<&str>, extra: &str) -> (TestServer, PathBuf, tempfile::TempDir) {
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("hello.wasm");
    std::fs::copy(component("hello"), &file).unwrap();
    let config = format!(
        "# operators' notes: keep this comment\n{extra}\n[[route]]\npath = \"/hello\"\ncomponent = \"{}\"\n\n# the echo route\n{}",
        file.display(),
        route("/echo", "echo")
    );
    let server = TestServer::start_with_admin(&config, token).await;
    (server, file, folder)
}

async fn list(server: &TestServer) -> serde_json::Value {
    let response = http1()
        .get(server.admin_url("/admin/routes"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// (status, generation, greeting) of GET /hello on the main listener.
async fn hello(server: &TestServer) -> (u16, String, String) {
    let (status, generation, body) = get_generation(&http1(), server.url("/hello")).await;
    // The greeting, without the " GET /hello" echo after it.
    let greeting = body.split(" GET ").next().unwrap().to_string();
    (status, generation, greeting)
}

/// The copy of `hello` still holds its bytes and serves them, as
/// generation 1.
async fn assert_hello_unchanged(server: &TestServer, file: &Path) {
    assert_eq!(
        std::fs::read(file).unwrap(),
        std::fs::read(component("hello")).unwrap()
    );
    let (status, generation, body) = hello(server).await;
    assert_eq!((status, generation.as_str(), body.as_str()), (200, "1", V1));
}

/// `PUT /admin/routes/hello/component` with the token.
async fn put_hello(server: &TestServer, body: impl Into<reqwest::Body>) -> reqwest::Response {
    http1()
        .put(server.admin_url("/admin/routes/hello/component"))
        .bearer_auth(TOKEN)
        .body(body)
        .send()
        .await
        .unwrap()
}

/// `DELETE /admin/routes/hello` with the token.
async fn delete_hello(server: &TestServer) -> reqwest::Response {
    http1()
        .delete(server.admin_url("/admin/routes/hello"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Send raw request bytes to the admin listener; the status code.
async fn raw_status(server: &TestServer, request: &str) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(server.admin.unwrap())
        .await
        .unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_the_api_is_off_but_metrics_are_served() {
    let (server, file, _folder) = server(None, "").await;
    let client = http1();
    for request in [
        client.get(server.admin_url("/admin/routes")),
        client.delete(server.admin_url("/admin/routes/hello")),
        client
            .put(server.admin_url("/admin/routes/hello/component"))
            .body(std::fs::read(component("hello-v2")).unwrap()),
    ] {
        let response = request.bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(response.status(), 403);
        let body = response.text().await.unwrap();
        assert!(body.contains("SWITCHYARD_ADMIN_TOKEN"), "{body}");
        assert!(body.contains("token_file"), "{body}");
    }
    assert_eq!(
        std::fs::read(&file).unwrap(),
        std::fs::read(component("hello")).unwrap()
    );
    assert_eq!(hello(&server).await.2, V1);
    let metrics = get(&client, server.admin_url("/metrics")).await;
    assert_eq!(metrics.status(), 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_wrong_token_is_401_and_changes_nothing() {
    let (server, file, _folder) = server(Some(TOKEN), "").await;
    let config_before = std::fs::read_to_string(&server.config_file).unwrap();
    let v2 = std::fs::read(component("hello-v2")).unwrap();
    let client = http1();
    for auth in [
        None,
        Some("Bearer wrong"),
        Some(&format!("Bearer {TOKEN}x")[..]),
        Some(TOKEN),
    ] {
        let with = |request: reqwest::RequestBuilder| match auth {
            Some(value) => request.header("authorization", value),
            None => request,
        };
        for request in [
            with(client.get(server.admin_url("/admin/routes"))),
            with(client.put(server.admin_url("/admin/routes/hello/component"))).body(v2.clone()),
            with(client.delete(server.admin_url("/admin/routes/hello"))),
        ] {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 401, "authorization {auth:?}");
            assert_eq!(response.headers()["www-authenticate"], "Bearer");
        }
    }
    assert_eq!(
        std::fs::read_to_string(&server.config_file).unwrap(),
        config_before
    );
    assert_hello_unchanged(&server, &file).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_routes_lists_file_digest_generation_and_limits() {
    let (server, file, _folder) = server(Some(TOKEN), "[defaults]\ntimeout_ms = 1500\n").await;
    let routes = list(&server).await;
    let routes = routes["routes"].as_array().unwrap();
    assert_eq!(routes.len(), 2);
    let hello = &routes[0];
    assert_eq!(hello["name"], "hello");
    assert_eq!(hello["path"], "/hello");
    assert_eq!(hello["component"], file.display().to_string());
    assert_eq!(hello["sha256"], sha256(&std::fs::read(&file).unwrap()));
    assert_eq!(hello["generation"], 1);
    assert!(hello["loaded_at_unix"].as_u64().unwrap() > 1_600_000_000);
    assert!(hello["load_ms"].as_u64().is_some());
    assert_eq!(hello["limits"]["timeout_ms"], 1500);
    assert_eq!(hello["limits"]["memory_mb"], 128);
    assert_eq!(routes[1]["name"], "echo");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_good_component_swaps_it_live_and_on_disk_once() {
    let (server, file, _folder) = server(Some(TOKEN), "").await;
    let v2 = std::fs::read(component("hello-v2")).unwrap();
    let response = put_hello(&server, v2.clone()).await;
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["generation"], 2);
    assert_eq!(answer["sha256"], sha256(&v2));
    assert_eq!(answer["changed"], true);

    let (status, generation, body) = hello(&server).await;
    assert_eq!((status, generation.as_str(), body.as_str()), (200, "2", V2));
    assert_eq!(
        std::fs::read(&file).unwrap(),
        v2,
        "the file on disk is replaced"
    );
    let leftovers: Vec<_> = std::fs::read_dir(file.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".switchyard-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // The watcher saw the rename: once a later config edit has been served,
    // that event has been handled too, and it must not have bumped hello.
    let config = std::fs::read_to_string(&server.config_file).unwrap();
    std::fs::write(
        &server.config_file,
        format!("{config}\n{}name = \"probe\"\n", route("/probe", "hello")),
    )
    .unwrap();
    wait_for_log(&["route=probe", "route added"]).await;
    let (_, generation, body) = hello(&server).await;
    assert_eq!((generation.as_str(), body.as_str()), ("2", V2));
    assert!(log_lines_with(&["route=hello", "reload failed"]).is_empty());

    // Uploading the same bytes again changes nothing.
    let again: serde_json::Value = put_hello(&server, v2).await.json().await.unwrap();
    assert_eq!(
        (again["generation"].as_u64(), again["changed"].as_bool()),
        (Some(2), Some(false))
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_garbage_is_422_with_the_reason_and_changes_nothing() {
    let (server, file, _folder) = server(Some(TOKEN), "").await;
    let original = std::fs::read(&file).unwrap();
    for (garbage, reason) in [
        (
            b"this is not a component".to_vec(),
            "not a WebAssembly file",
        ),
        (
            original[..original.len() / 2].to_vec(),
            "not a valid component",
        ),
        (
            // A component header alone: an empty, valid component.
            std::fs::read(component("hello")).unwrap()[..8].to_vec(),
            "exports neither wasi:http/handler@0.3.0 nor wasi:http/incoming-handler@0.2.x",
        ),
    ] {
        let body = expect_text(put_hello(&server, garbage).await, 422, "").await;
        assert!(
            body.contains("route 'hello'") && body.contains("cannot load") && body.contains(reason),
            "expected the reason {reason:?}: {body}"
        );
    }
    assert_hello_unchanged(&server, &file).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_over_the_upload_limit_is_413_and_changes_nothing() {
    let (server, file, _folder) = server(Some(TOKEN), "[admin]\nmax_upload_mb = 1\n").await;
    let original = std::fs::read(&file).unwrap();
    let big = vec![0u8; (1 << 20) + 1];
    let declared = put_hello(&server, big.clone()).await;
    let body = expect_text(declared, 413, "declared").await;
    assert!(body.contains("max_upload_mb"));
    // Chunked, with no Content-Length: cut off while streaming.
    let streamed = put_hello(&server, chunked(big.chunks(64 << 10).map(<[u8]>::to_vec))).await;
    assert_eq!(streamed.status(), 413);
    assert_eq!(std::fs::read(&file).unwrap(), original);
    assert_eq!(hello(&server).await.1, "1");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_route_names_are_400_and_touch_nothing() {
    let (server, file, _folder) = server(Some(TOKEN), "").await;
    let config_before = std::fs::read_to_string(&server.config_file).unwrap();
    let auth = format!("Authorization: Bearer {TOKEN}\r\n");
    for target in [
        "/admin/routes/..%2F..%2Fetc/component",
        "/admin/routes/../hello.wasm/component",
        "/admin/routes/..",
        "/admin/routes/.hidden",
        "/admin/routes/a%00b",
        "/admin/routes/hello%20x",
    ] {
        for method in ["PUT", "DELETE"] {
            let target = match method {
                "PUT" if !target.ends_with("/component") => format!("{target}/component"),
                _ => target.trim_end_matches("/component").to_string(),
            };
            let status = raw_status(
                &server,
                &format!("{method} {target} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 4\r\nConnection: close\r\n\r\nnope"),
            )
            .await;
            assert_eq!(status, 400, "{method} {target}");
        }
    }
    // Without the token the same requests are 401: the token comes first.
    let status = raw_status(
        &server,
        "DELETE /admin/routes/..%2Fx HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        std::fs::read(&file).unwrap(),
        std::fs::read(component("hello")).unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(&server.config_file).unwrap(),
        config_before
    );
    assert_eq!(list(&server).await["routes"].as_array().unwrap().len(), 2);
    // A valid name that is not a route: 404.
    for request in [
        http1().delete(server.admin_url("/admin/routes/nosuch")),
        http1()
            .put(server.admin_url("/admin/routes/nosuch/component"))
            .body("x"),
    ] {
        let response = request.bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(response.status(), 404);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_removes_the_route_live_and_from_the_config_file() {
    let (server, _file, _folder) = server(Some(TOKEN), "").await;
    let response = delete_hello(&server).await;
    assert_eq!(response.status(), 200);
    assert_eq!(hello(&server).await.0, 404);
    let (_, echo) = post_text(&http1(), server.url("/echo"), "still here").await;
    assert_eq!(echo, "still here");

    let text = std::fs::read_to_string(&server.config_file).unwrap();
    assert!(
        text.contains("# operators' notes: keep this comment"),
        "{text}"
    );
    assert!(text.contains("# the echo route"), "{text}");
    assert!(!text.contains("hello.wasm"), "{text}");
    let config = switchyard::Config::load(&server.config_file).unwrap();
    let names: Vec<_> = config.routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["echo"]);
    let routes = list(&server).await;
    assert_eq!(routes["routes"].as_array().unwrap().len(), 1);

    let again = delete_hello(&server).await;
    assert_eq!(again.status(), 404);
    server.stop().await;
}

#[test]
fn an_unreadable_or_empty_token_file_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchyard.toml");
    std::fs::write(
        &config,
        format!(
            "[admin]\ntoken_file = \"admin.token\"\n\n{}",
            route("/hello", "hello")
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let (code, stderr) = run_to_exit(&["serve", "--config", config, "--listen", "127.0.0.1:0"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("admin.token") && stderr.contains("cannot read"),
        "{stderr}"
    );

    std::fs::write(dir.path().join("admin.token"), "\n").unwrap();
    let (code, stderr) = run_to_exit(&["serve", "--config", config, "--listen", "127.0.0.1:0"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("admin.token") && stderr.contains("empty"),
        "{stderr}"
    );
}

#[test]
fn the_real_binary_takes_its_token_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchyard.toml");
    std::fs::write(&config, route("/hello", "hello")).unwrap();
    let process = Process::spawn_env(
        &config,
        &["--admin-listen", "127.0.0.1:0"],
        &[("SWITCHYARD_ADMIN_TOKEN", TOKEN)],
    );
    let admin = process.admin.expect("an admin listening line");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let url = format!("http://{admin}/admin/routes");
        let denied = http1().get(&url).bearer_auth("nope").send().await.unwrap();
        assert_eq!(denied.status(), 401);
        let listed = http1().get(&url).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(listed.status(), 200);
        let routes: serde_json::Value = listed.json().await.unwrap();
        assert_eq!(routes["routes"][0]["name"], "hello");
        let ready = get(&http1(), format!("http://{admin}/readyz")).await;
        assert_eq!(ready.status(), 200);
    });
}
