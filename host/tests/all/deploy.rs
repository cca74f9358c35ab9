//! `deploy/`: the recipe checked without Docker or a cluster (neither runs
//! on this machine). `deploy/validate.sh` validates the Kubernetes manifests
//! against the Kubernetes schemas (strict) and lints the Dockerfile; the
//! tests here parse the manifests and the Dockerfile and check that they
//! agree with each other and with the code: ports, probe paths, flags the
//! binary knows, the drain timing, the config the pods load (which is served
//! for real by the binary, with the image's handler folder mapped to
//! `build/handlers`).

use crate::common::redis::RedisServer;
use crate::common::*;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use yaml_rust2::{Yaml, YamlLoader};

/// The admin listener's port, liveness and readiness paths (its
/// `--admin-listen` default is 127.0.0.1:9091).
const ADMIN_PORT: u16 = 9091;
const HEALTH_PATH: &str = "/healthz";
const READY_PATH: &str = "/readyz";

/// `deploy/switchyard.toml` (or the ConfigMap's `text` of it) with the values
/// it takes from the pod's environment given as the pod would have them
/// (this test process has neither variable), so it parses here.
pub fn with_pod_env(text: &str) -> String {
    let given = text
        .replace(
            "{ env = \"SWITCHYARD_REDIS_URL\" }",
            "\"redis://127.0.0.1:6379/0\"",
        )
        .replace("{ env = \"HOSTNAME\" }", "\"pod\"");
    assert!(
        !given.contains("{ env ="),
        "every environment value is given here"
    );
    given
}

fn deploy_dir() -> PathBuf {
    repo_root().join("deploy")
}

pub fn manifest(name: &str) -> Yaml {
    let text = std::fs::read_to_string(deploy_dir().join("k8s").join(name)).unwrap();
    let mut docs = YamlLoader::load_from_str(&text).unwrap();
    assert_eq!(docs.len(), 1, "{name}: one resource per file");
    docs.remove(0)
}

pub fn str_of<'a>(yaml: &'a Yaml, what: &str) -> &'a str {
    yaml.as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {yaml:?}"))
}

pub fn int_of(yaml: &Yaml, what: &str) -> i64 {
    yaml.as_i64()
        .unwrap_or_else(|| panic!("{what} is not an integer: {yaml:?}"))
}

pub fn container() -> Yaml {
    let deployment = manifest("deployment.yaml");
    let containers = deployment["spec"]["template"]["spec"]["containers"]
        .as_vec()
        .unwrap()
        .clone();
    assert_eq!(containers.len(), 1);
    containers.into_iter().next().unwrap()
}

/// The container's command-line arguments.
pub fn args() -> Vec<String> {
    container()["args"]
        .as_vec()
        .expect("the container has args")
        .iter()
        .map(|a| str_of(a, "an arg").to_string())
        .collect()
}

/// The value after `flag` in `args`.
pub fn flag<'a>(args: &'a [String], flag: &str) -> &'a str {
    let at = args
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("{flag} missing from {args:?}"));
    &args[at + 1]
}

/// The container port named `name`.
fn container_port(name: &str) -> u16 {
    let container = container();
    let port = container["ports"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no container port named {name}"))
        .clone();
    int_of(&port["containerPort"], "containerPort") as u16
}

#[test]
fn manifests_and_dockerfile_pass_the_validators() {
    let output = std::process::Command::new(deploy_dir().join("validate.sh"))
        .output()
        .expect("running deploy/validate.sh");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "deploy/validate.sh failed:\n{log}");
    for file in [
        "deployment.yaml",
        "service.yaml",
        "configmap.yaml",
        "pdb.yaml",
        "redis.yaml",
    ] {
        assert!(
            log.contains(&format!("{file} passed")),
            "{file} was not validated:\n{log}"
        );
    }
}

#[test]
fn ports_and_probes_match_the_listeners() {
    let args = args();
    let listen: SocketAddr = flag(&args, "--listen").parse().unwrap();
    let admin: SocketAddr = flag(&args, "--admin-listen").parse().unwrap();
    // Reachable from the kubelet and the Service, not only from the pod.
    assert!(listen.ip().is_unspecified() && admin.ip().is_unspecified());
    assert_eq!(container_port("http"), listen.port());
    assert_eq!(container_port("admin"), admin.port());
    assert_eq!(admin.port(), ADMIN_PORT);

    let container = container();
    for (probe, path) in [
        ("readinessProbe", READY_PATH),
        ("livenessProbe", HEALTH_PATH),
        ("startupProbe", HEALTH_PATH),
    ] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["path"].as_str(), Some(path), "{probe}");
        assert_eq!(get["port"].as_str(), Some("admin"), "{probe}");
    }

    // The Service sends traffic to the request port, never the admin one.
    let service = manifest("service.yaml");
    let ports = service["spec"]["ports"].as_vec().unwrap();
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0]["targetPort"].as_str(), Some("http"));
}

#[test]
fn every_resource_selects_the_deployments_pods() {
    let deployment = manifest("deployment.yaml");
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    let matches = |selector: &Yaml, what: &str| {
        let selector = selector.as_hash().unwrap_or_else(|| panic!("{what}"));
        assert!(!selector.is_empty(), "{what}");
        for (key, value) in selector {
            assert_eq!(&labels[str_of(key, what)], value, "{what}");
        }
    };
    matches(&deployment["spec"]["selector"]["matchLabels"], "deployment");
    matches(&manifest("service.yaml")["spec"]["selector"], "service");
    matches(
        &manifest("pdb.yaml")["spec"]["selector"]["matchLabels"],
        "pdb",
    );
    // The budget leaves room to drain one pod at a time.
    let replicas = int_of(&deployment["spec"]["replicas"], "replicas");
    let min_available = int_of(
        &manifest("pdb.yaml")["spec"]["minAvailable"],
        "minAvailable",
    );
    assert!(min_available < replicas);
}

#[test]
fn the_binary_knows_every_flag_of_the_deployment() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for arg in args().iter().filter(|a| a.starts_with("--")) {
        assert!(
            help.contains(arg.as_str()),
            "switchyard serve has no {arg}:\n{help}"
        );
    }
}

#[test]
fn termination_grace_covers_the_prestop_sleep_and_the_shutdown_timeout() {
    let args = args();
    let shutdown: i64 = flag(&args, "--shutdown-timeout").parse().unwrap();
    let container = container();
    let command = container["lifecycle"]["preStop"]["exec"]["command"]
        .as_vec()
        .unwrap();
    assert_eq!(str_of(&command[0], "preStop command"), "sleep");
    let sleep: i64 = str_of(&command[1], "sleep seconds").parse().unwrap();
    let grace = int_of(
        &manifest("deployment.yaml")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"],
        "terminationGracePeriodSeconds",
    );
    assert!(
        grace > sleep + shutdown,
        "grace {grace}s must exceed preStop {sleep}s + shutdown {shutdown}s"
    );
    assert!(container["resources"]["requests"]["cpu"].as_str().is_some());
    assert!(container["resources"]["requests"]["memory"]
        .as_str()
        .is_some());
}

/// The Dockerfile's instruction lines (continuations joined).
fn dockerfile() -> Vec<String> {
    let text = std::fs::read_to_string(deploy_dir().join("Dockerfile")).unwrap();
    let mut lines = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                lines.push(std::mem::take(&mut current));
            }
        }
    }
    lines
}

fn instruction(lines: &[String], keyword: &str) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix(keyword).map(|rest| rest.trim().to_string()))
        .collect()
}

#[test]
fn the_image_runs_what_the_deployment_expects() {
    let lines = dockerfile();
    let args = args();

    let expose = instruction(&lines, "EXPOSE ");
    assert_eq!(expose.len(), 1);
    let exposed: Vec<u16> = expose[0]
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert!(
        exposed.contains(&container_port("http")) && exposed.contains(&container_port("admin"))
    );

    // The image's own command line listens where the Deployment does.
    let cmd: Vec<String> = serde_json::from_str(&instruction(&lines, "CMD ")[0]).unwrap();
    for name in ["--config", "--listen", "--admin-listen"] {
        assert_eq!(flag(&cmd, name), flag(&args, name), "{name}");
    }
    let entrypoint: Vec<String> =
        serde_json::from_str(&instruction(&lines, "ENTRYPOINT ")[0]).unwrap();
    assert_eq!(entrypoint, ["switchyard", "serve"]);

    // The user the image runs as is the one the pod insists on.
    let user = instruction(&lines, "USER ");
    let uid = manifest("deployment.yaml")["spec"]["template"]["spec"]["securityContext"]
        ["runAsUser"]
        .as_i64()
        .unwrap();
    assert_eq!(user, [format!("{uid}:{uid}")]);

    // Built with the toolchain the workspace asks for, with the lockfile.
    let workspace = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
    let rust_version = workspace
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .unwrap()
        .trim_matches('"');
    assert!(
        lines.contains(&format!("ARG RUST_VERSION={rust_version}")),
        "{lines:#?}"
    );
    assert!(lines
        .iter()
        .any(|l| l.contains("cargo build --release --locked")));
    assert!(lines.iter().any(|l| l.contains("./build-handlers.sh")));
}

#[tokio::test]
async fn the_configmap_is_the_images_config_and_it_serves() {
    let configmap = manifest("configmap.yaml");
    let text = str_of(&configmap["data"]["switchyard.toml"], "switchyard.toml");
    let image_config = std::fs::read_to_string(deploy_dir().join("switchyard.toml")).unwrap();
    assert_eq!(
        text, image_config,
        "k8s/configmap.yaml and deploy/switchyard.toml differ"
    );

    // Mounted where --config looks, and baked into the image at the same place.
    let args = args();
    let config_path = Path::new(flag(&args, "--config"));
    let container = container();
    let mount = container["volumeMounts"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|m| m["name"].as_str() == Some("config"))
        .expect("the config volume is mounted")
        .clone();
    assert_eq!(
        Path::new(str_of(&mount["mountPath"], "mountPath")),
        config_path.parent().unwrap()
    );
    let lines = dockerfile();
    assert!(lines.contains(&format!(
        "COPY deploy/switchyard.toml {}",
        config_path.display()
    )));

    // Every component is in the image's handler folder, which the Dockerfile
    // fills from build/handlers.
    let image_handlers = "/opt/switchyard/handlers/";
    assert!(lines.contains(&format!(
        "COPY --from=build /src/build/handlers/ {image_handlers}"
    )));
    // (The process below gets the pod's environment values as variables.)
    let config = switchyard::Config::parse(config_path, &with_pod_env(text))
        .expect("the ConfigMap's config is valid");
    assert!(!config.routes.is_empty());
    for route in &config.routes {
        let name = route
            .component
            .strip_prefix(image_handlers)
            .unwrap_or_else(|_| {
                panic!("{} is outside {image_handlers}", route.component.display())
            });
        component(name.file_stem().unwrap().to_str().unwrap());
    }

    // And it serves: the real binary on that config, the image's folder
    // mapped to build/handlers (start-up fails if any route cannot load).
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("switchyard.toml");
    let built = format!("{}/", repo_root().join("build/handlers").display());
    std::fs::write(&local, text.replace(image_handlers, &built)).unwrap();
    // Its `default` store is the Redis the replicas share; here, a real one.
    let redis = RedisServer::start();
    let spawn = |pod: &str| {
        let env = [
            ("SWITCHYARD_REDIS_URL", redis.url()),
            ("HOSTNAME", pod.to_string()),
        ];
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Process::spawn_env(
            &local,
            &["--no-watch", "--admin-listen", "127.0.0.1:0"],
            &env,
        )
    };
    let server = spawn("pod-a");
    let body = expect_text(get(&http1(), server.url("/hello")).await, 200, "/hello").await;
    assert_eq!(body, "Hello from Switchyard! GET /hello\n");
    let (_, count) = get_text(&http1(), server.url("/kv/counter")).await;
    assert_eq!(count, "count=1\nreplica=pod-a\n");
    let other = spawn("pod-b");
    let (_, count) = get_text(&http2(), other.url("/kv/counter")).await;
    assert_eq!(
        count, "count=2\nreplica=pod-b\n",
        "a second replica counts on"
    );
    // The probes' paths answer on the admin listener.
    let admin = server.admin.expect("an admin listener");
    for path in [HEALTH_PATH, READY_PATH] {
        let probe = get(&http1(), format!("http://{admin}{path}")).await;
        assert_eq!(probe.status(), 200, "{path}");
    }
}

#[test]
fn every_replica_and_the_image_point_the_default_store_at_redis() {
    let env = container()["env"].as_vec().unwrap().clone();
    let url = env
        .iter()
        .find(|e| e["name"].as_str() == Some("SWITCHYARD_REDIS_URL"))
        .map(|e| str_of(&e["value"], "SWITCHYARD_REDIS_URL").to_string())
        .expect("the Deployment sets SWITCHYARD_REDIS_URL");
    let redis: Vec<Yaml> = std::fs::read_to_string(deploy_dir().join("k8s/redis.yaml"))
        .map(|text| YamlLoader::load_from_str(&text).unwrap())
        .unwrap();
    let service = redis
        .iter()
        .find(|doc| doc["kind"].as_str() == Some("Service"))
        .expect("k8s/redis.yaml has a Service");
    let name = str_of(&service["metadata"]["name"], "the Redis Service's name");
    let port = int_of(
        &service["spec"]["ports"][0]["port"],
        "the Redis Service's port",
    );
    assert_eq!(url, format!("redis://{name}:{port}/0"));
    let deployment = redis
        .iter()
        .find(|doc| doc["kind"].as_str() == Some("Deployment"))
        .expect("k8s/redis.yaml has a Deployment");
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    for (key, value) in service["spec"]["selector"].as_hash().unwrap() {
        assert_eq!(
            &labels[key.as_str().unwrap()],
            value,
            "the Service selects Redis's pod"
        );
    }
    let config = std::fs::read_to_string(deploy_dir().join("switchyard.toml")).unwrap();
    assert!(config.contains("url = { env = \"SWITCHYARD_REDIS_URL\" }"));
    assert!(dockerfile()
        .iter()
        .any(|l| l.starts_with("ENV SWITCHYARD_REDIS_URL=redis://")));
}
