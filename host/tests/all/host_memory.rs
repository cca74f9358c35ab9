//! Host memory a guest can take outside `memory_mb`, and the instance pool
//! under chains: a guest flooding the host with header maps is stopped with
//! a 500 and bounded RSS while other routes answer; a three-element chain
//! at a full pool gets 503s, never an instantiation failure's 500; the
//! shipped deploy config's worst case fits in the pod's memory limit.

use crate::common::*;
use switchyard::Config;
use yaml_rust2::YamlLoader;

/// What the process itself needs beside its instances (compiled code,
/// the runtime, connections): the margin the deploy config must leave.
const PROCESS_HEADROOM: u64 = 128 << 20;

#[tokio::test]
async fn a_guest_flooding_the_host_with_header_maps_gets_500_and_rss_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchyard.toml");
    let text = format!(
        "{}timeout_ms = 20000\n{}",
        route("/misbehave", "misbehave"),
        route("/hello", "hello")
    );
    std::fs::write(&config, text).unwrap();
    let server = Process::spawn(&config, &[]);
    let client = http1();
    let (status, _) = get_text(&client, server.url("/hello")).await;
    assert_eq!(status, 200);
    let (_, peak_before) = server.rss_kib();

    let (status, body) = get_text(&client, server.url("/misbehave?mode=fields-flood")).await;
    assert_eq!(
        (status, body.as_str()),
        (500, "internal server error: the handler failed\n"),
        "the guest was let hold its header maps"
    );
    let (_, peak_after) = server.rss_kib();
    let growth_mib = peak_after.saturating_sub(peak_before) / 1024;
    assert!(
        growth_mib < 256,
        "peak RSS grew by {growth_mib} MiB while a guest made header maps"
    );
    let line = stderr_line(
        &server,
        &[
            "route=misbehave",
            "ran out of host memory",
            "32 MiB per instance",
        ],
    );
    assert!(line.contains("request_id="), "{line}");
    let (status, body) = get_text(&client, server.url("/hello")).await;
    assert_eq!(status, 200, "/hello after the flood: {body}");
}

/// `[[middleware]]` tag-a and tag-b (add-header) in front of `stream`.
fn three_element_chain(server: &str) -> String {
    let add_header = component("add-header");
    format!(
        "{server}\
         [[middleware]]\nname = \"tag-a\"\ncomponent = \"{a}\"\nenv = {{ ADD_HEADER_VALUE = \"a\" }}\n\
         [[middleware]]\nname = \"tag-b\"\ncomponent = \"{a}\"\nenv = {{ ADD_HEADER_VALUE = \"b\" }}\n\
         [[route]]\npath = \"/chain\"\nname = \"chain\"\nmiddleware = [\"tag-a\", \"tag-b\"]\ncomponent = \"{}\"\n",
        component("stream").display(),
        a = add_header.display(),
    )
}

#[tokio::test]
async fn a_three_element_chain_at_a_full_pool_gets_503_never_500() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchyard.toml");
    // Three slots (and pool slots) for chains of three: one request at a time.
    let server = "[server]\nmax_concurrent_requests = 3\nqueue_timeout_ms = 50\n";
    std::fs::write(&config, three_element_chain(server)).unwrap();
    let server = Process::spawn(&config, &[]);
    let client = http1();
    // Eight bytes, one every 100 ms: each request holds its chain ~0.8 s.
    let url = server.url("/chain?bytes=8&chunk=1&delay_ms=100");
    let requests = (0..8).map(|_| {
        let (client, url) = (client.clone(), url.clone());
        tokio::spawn(async move {
            let response = get(&client, url).await;
            let status = response.status().as_u16();
            let tags = response
                .headers()
                .get_all("x-middleware")
                .iter()
                .map(|v| v.to_str().unwrap().to_string())
                .collect::<Vec<_>>();
            (status, tags, response.text().await.unwrap())
        })
    });
    let requests: Vec<_> = requests.collect();
    let mut statuses = Vec::new();
    for request in requests {
        let (status, tags, body) = request.await.unwrap();
        match status {
            200 => {
                assert_eq!(body, "abcdefgh");
                assert_eq!(tags, ["add-header(b)", "add-header(a)"]);
            }
            503 => assert_eq!(
                body,
                "service unavailable: too many requests, retry later\n"
            ),
            other => panic!(
                "a chain at a full pool got {other}: {body:?}; log: {:#?}",
                server.stderr.lock().unwrap()
            ),
        }
        statuses.push(status);
    }
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(statuses.contains(&503), "{statuses:?}");
    assert!(
        server
            .stderr
            .lock()
            .unwrap()
            .iter()
            .all(|l| !l.contains("instantiat")),
        "no instantiation failed"
    );
    // Once the load is gone, the chain is served again.
    let (status, body) = get_text(&client, server.url("/chain?bytes=3")).await;
    assert_eq!((status, body.as_str()), (200, "abc"));
}

#[test]
fn a_chain_longer_than_the_servers_slots_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("switchyard.toml");
    let text = three_element_chain("[server]\nmax_concurrent_requests = 2\n");
    std::fs::write(&file, text).unwrap();
    let error = Config::load(&file).unwrap_err().to_string();
    assert!(
        error.contains("route #1 (/chain)")
            && error.contains(
                "runs 3 instances per request, more than [server] max_concurrent_requests = 2"
            ),
        "{error}"
    );
}

#[test]
fn a_config_that_could_outgrow_max_memory_mb_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("switchyard.toml");
    // 4 × (64 MiB + 32 MiB host) + 4 × 4.25 MiB of pool pages = 401 MiB.
    let text = format!(
        "[server]\nmax_concurrent_requests = 4\nmax_memory_mb = 400\n{}memory_mb = 64\n",
        route("/hello", "hello")
    );
    std::fs::write(&file, &text).unwrap();
    let error = Config::load(&file).unwrap_err().to_string();
    assert!(
        error.contains(
            "[server]: `max_memory_mb` = 400 is less than the routes may use at once: 401 MiB"
        ),
        "{error}"
    );
    std::fs::write(&file, text.replace("= 400", "= 401")).unwrap();
    Config::load(&file).unwrap();
}

/// A Kubernetes quantity (`1Gi`, `768Mi`, `1G`, bytes) in bytes.
fn quantity(text: &str) -> u64 {
    let units = [
        ("Gi", 1u64 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
        ("G", 1_000_000_000),
        ("M", 1_000_000),
        ("k", 1000),
    ];
    for (suffix, unit) in units {
        if let Some(n) = text.strip_suffix(suffix) {
            return n.parse::<u64>().unwrap() * unit;
        }
    }
    text.parse().unwrap()
}

#[test]
fn the_shipped_config_fits_in_the_pods_memory_limit() {
    let deploy = repo_root().join("deploy");
    let file = deploy.join("switchyard.toml");
    let text = crate::deploy::with_pod_env(&std::fs::read_to_string(&file).unwrap());
    let config = Config::parse(&file, &text).unwrap();
    let text = std::fs::read_to_string(deploy.join("k8s/deployment.yaml")).unwrap();
    let deployment = YamlLoader::load_from_str(&text).unwrap().remove(0);
    let containers = deployment["spec"]["template"]["spec"]["containers"]
        .as_vec()
        .unwrap();
    let limit = containers[0]["resources"]["limits"]["memory"]
        .as_str()
        .expect("the container has a memory limit");
    let limit = quantity(limit);

    let worst = config.memory_use();
    let budget = config
        .server
        .max_memory
        .expect("the shipped config sets [server] max_memory_mb");
    assert!(worst.total() <= budget, "{worst} over the budget");
    assert!(
        budget + PROCESS_HEADROOM <= limit,
        "max_memory_mb ({} MiB) + {} MiB for the process is over the pod's limit of {} MiB",
        budget >> 20,
        PROCESS_HEADROOM >> 20,
        limit >> 20
    );
}

#[test]
fn quantities_read_as_kubernetes_does() {
    assert_eq!(quantity("1Gi"), 1 << 30);
    assert_eq!(quantity("768Mi"), 768 << 20);
    assert_eq!(quantity("2G"), 2_000_000_000);
    assert_eq!(quantity("1048576"), 1 << 20);
}
