//! What the admin API's writes may and may not do: an upload of a `.wasm`
//! other routes share is 409 naming them; a replaced file keeps its mode
//! and owner; a symlinked target is refused and a planted temporary file is
//! never written through; a wrong token gets its 401 at once, without the
//! server waiting for the body; an upload whose body stalls gets 408.

use crate::common::*;
use std::os::unix::fs::{symlink, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const TOKEN: &str = "admin-writes-token-0123456789";
const V1: &str = "Hello from Switchyard!";

/// A folder holding a copy of `hello` (`hello.wasm`) and of `echo`.
fn copies() -> (tempfile::TempDir, PathBuf) {
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("hello.wasm");
    std::fs::copy(component("hello"), &file).unwrap();
    (folder, file)
}

fn route_named(path: &str, name: &str, file: &Path) -> String {
    format!(
        "[[route]]\npath = \"{path}\"\nname = \"{name}\"\ncomponent = \"{}\"\n\n",
        file.display()
    )
}

async fn put(server: &TestServer, name: &str, body: Vec<u8>) -> (u16, String) {
    let response = http1()
        .put(server.admin_url(&format!("/admin/routes/{name}/component")))
        .bearer_auth(TOKEN)
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn v2() -> Vec<u8> {
    std::fs::read(component("hello-v2")).unwrap()
}

/// GET `path`: status, generation and the greeting before " GET ".
async fn greeting(server: &TestServer, path: &str) -> (u16, String, String) {
    let (status, generation, body) = get_generation(&http1(), server.url(path)).await;
    let greeting = body.split(" GET ").next().unwrap().to_string();
    (status, generation, greeting)
}

async fn assert_unchanged(server: &TestServer, path: &str, file: &Path) {
    assert_eq!(
        std::fs::read(file).unwrap(),
        std::fs::read(component("hello")).unwrap(),
        "{} was rewritten",
        file.display()
    );
    let served = greeting(server, path).await;
    assert_eq!(served, (200, "1".to_string(), V1.to_string()), "{path}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_to_a_file_other_routes_run_is_409_naming_them() {
    let (_folder, file) = copies();
    let config = format!(
        "[[middleware]]\nname = \"greeter\"\ncomponent = \"{}\"\n\n{}{}\
         [[route]]\npath = \"/guarded\"\nname = \"guarded\"\nmiddleware = [\"greeter\"]\ncomponent = \"{}\"\n",
        file.display(),
        route_named("/hello", "hello", &file),
        route_named("/twin", "twin", &file),
        component("echo").display(),
    );
    let server = TestServer::start_with_admin(&config, Some(TOKEN)).await;
    let (status, body) = put(&server, "hello", v2()).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("'guarded', 'twin'"), "{body}");
    assert!(body.contains(&file.display().to_string()), "{body}");
    for path in ["/hello", "/twin"] {
        assert_unchanged(&server, path, &file).await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_component_and_config_keep_their_mode_and_owner() {
    let (folder, file) = copies();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    // Serving as root, the owner can be kept too: give the file another.
    let root = is_root();
    if root {
        std::os::unix::fs::chown(&file, Some(65534), Some(65534)).unwrap();
    }
    let config = format!(
        "{}{}",
        route_named("/hello", "hello", &file),
        route("/echo", "echo")
    );
    let server = TestServer::start_with_admin(&config, Some(TOKEN)).await;
    let (status, body) = put(&server, "hello", v2()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(std::fs::read(&file).unwrap(), v2());
    let metadata = std::fs::metadata(&file).unwrap();
    assert_eq!(metadata.mode() & 0o7777, 0o640, "the mode changed");
    if root {
        assert_eq!(
            (metadata.uid(), metadata.gid()),
            (65534, 65534),
            "the owner changed"
        );
    }

    // DELETE rewrites the config file: a 0600 config stays 0600.
    std::fs::set_permissions(&server.config_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let response = http1()
        .delete(server.admin_url("/admin/routes/echo"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let config = std::fs::metadata(&server.config_file).unwrap();
    assert_eq!(config.mode() & 0o7777, 0o600, "the config's mode changed");
    drop(folder);
    server.stop().await;
}

/// Whether the tests run as root (then `chown` to another user works).
fn is_root() -> bool {
    let probe = tempfile::NamedTempFile::new().unwrap();
    std::fs::metadata(probe.path()).unwrap().uid() == 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlinked_target_is_refused_and_a_planted_temp_file_is_not_followed() {
    let (folder, real) = copies();
    let link = folder.path().join("linked.wasm");
    symlink(&real, &link).unwrap();
    let (_other, own) = copies();
    let config = format!(
        "{}{}",
        route_named("/linked", "linked", &link),
        route_named("/hello", "hello", &own)
    );
    let server = TestServer::start_with_admin(&config, Some(TOKEN)).await;

    let (status, body) = put(&server, "linked", v2()).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("symbolic link"), "{body}");
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert_unchanged(&server, "/linked", &real).await;

    // The old temporary name was `.NAME.switchyard-PID`, beside the file:
    // a symlink planted there must not be written through.
    let victim = folder.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let planted = own
        .parent()
        .unwrap()
        .join(format!(".hello.wasm.switchyard-{}", std::process::id()));
    symlink(&victim, &planted).unwrap();
    let (status, body) = put(&server, "hello", v2()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(!std::fs::symlink_metadata(&own).unwrap().is_symlink());
    assert_eq!(std::fs::read(&own).unwrap(), v2());
    server.stop().await;
}

/// Send `head` and `body` on a raw connection to the admin listener and
/// return the response head, read within 10 s (the body is never finished).
async fn head_after_partial_body(server: &TestServer, head: &str, body: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(server.admin.unwrap())
        .await
        .unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let read = async {
        let mut answer = Vec::new();
        let mut buffer = [0u8; 4096];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buffer).await.unwrap();
            assert!(n > 0, "closed without an answer: {answer:?}");
            answer.extend_from_slice(&buffer[..n]);
        }
        String::from_utf8_lossy(&answer).into_owned()
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("no answer while the body is unfinished")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_gets_401_without_the_server_waiting_for_the_body() {
    let (_folder, file) = copies();
    let server =
        TestServer::start_with_admin(&route_named("/hello", "hello", &file), Some(TOKEN)).await;
    for auth in ["", "Authorization: Bearer wrong\r\n"] {
        let head = format!(
            "PUT /admin/routes/hello/component HTTP/1.1\r\nHost: admin\r\n{auth}\
             Content-Length: 50000000\r\n\r\n"
        );
        let answer = head_after_partial_body(&server, &head, &[0u8; 65536]).await;
        assert!(answer.starts_with("HTTP/1.1 401"), "{auth:?}: {answer}");
        assert!(
            answer
                .to_ascii_lowercase()
                .contains("www-authenticate: bearer"),
            "{answer}"
        );
    }
    assert_unchanged(&server, "/hello", &file).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_whose_body_stalls_gets_408_after_upload_timeout_ms() {
    let (_folder, file) = copies();
    let config = format!(
        "[admin]\nupload_timeout_ms = 300\n\n{}",
        route_named("/hello", "hello", &file)
    );
    let server = TestServer::start_with_admin(&config, Some(TOKEN)).await;
    let head = format!(
        "PUT /admin/routes/hello/component HTTP/1.1\r\nHost: admin\r\n\
         Authorization: Bearer {TOKEN}\r\nContent-Length: 100000\r\n\r\n"
    );
    let answer = head_after_partial_body(&server, &head, &v2()[..1000]).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_unchanged(&server, "/hello", &file).await;
    wait_for_log(&["route=hello", "did not arrive in time"]).await;
    server.stop().await;
}
