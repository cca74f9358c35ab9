//! wasi:config through the `config` handler: a route's literal variables and
//! those read from Switchyard's environment, visible to that route only; a
//! missing environment variable fails the start naming the route and the
//! variable; a secret's value never appears in the log or `/admin/routes`.

use crate::common::*;

const SECRET: &str = "s3cret-value-7f0c";

fn config() -> String {
    format!(
        "{}variables = {{ greeting = \"hello from config\", api_key = {{ env = \"SWITCHYARD_TEST_API_KEY\" }} }}\n\
         {}name = \"bare\"\n",
        route("/config", "config"),
        route("/bare", "config"),
    )
}

#[tokio::test]
async fn a_route_reads_its_own_variables_and_secrets_stay_out_of_sight() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("switchyard.toml");
    std::fs::write(&file, config()).unwrap();
    let server = Process::spawn_env(
        &file,
        &["--admin-listen", "127.0.0.1:0"],
        &[
            ("SWITCHYARD_TEST_API_KEY", SECRET),
            ("SWITCHYARD_ADMIN_TOKEN", "t0ken"),
        ],
    );
    for (protocol, client) in clients() {
        let (status, body) = get_text(&client, server.url("/config")).await;
        assert_eq!(
            (status, body.as_str()),
            (200, "hello from config\n"),
            "{protocol}"
        );
        let (status, body) = get_text(&client, server.url("/config?name=api_key")).await;
        assert_eq!(
            (status, body.as_str()),
            (200, format!("{SECRET}\n").as_str()),
            "{protocol}"
        );
        let (status, body) = get_text(&client, server.url("/config?all")).await;
        assert_eq!(status, 200);
        assert_eq!(
            body,
            format!("api_key={SECRET}\ngreeting=hello from config\n")
        );
        // Another route sees none of them.
        let (status, body) = get_text(&client, server.url("/bare?name=greeting")).await;
        assert_eq!(
            (status, body.as_str()),
            (404, "no variable 'greeting'\n"),
            "{protocol}"
        );
        assert_eq!(
            get_text(&client, server.url("/bare?all")).await,
            (200, String::new())
        );
    }
    let admin = format!("http://{}/admin/routes", server.admin.unwrap());
    let routes = http1()
        .get(&admin)
        .bearer_auth("t0ken")
        .send()
        .await
        .unwrap();
    assert_eq!(routes.status(), 200);
    let routes: serde_json::Value = routes.json().await.unwrap();
    let shown = routes.to_string();
    assert!(
        !shown.contains(SECRET),
        "/admin/routes shows the secret: {shown}"
    );
    let variables = &routes["routes"][0]["variables"];
    assert_eq!(
        variables["api_key"],
        serde_json::json!({ "from": "env", "env": "SWITCHYARD_TEST_API_KEY" })
    );
    assert_eq!(
        variables["greeting"],
        serde_json::json!({ "from": "config" })
    );
    server.signal("TERM");
    let stderr = stderr_line(&server, &["shutting down"]);
    let all = server.stderr.lock().unwrap().join("\n");
    assert!(
        !all.contains(SECRET),
        "the log shows the secret:\n{all}\n{stderr}"
    );
}

#[tokio::test]
async fn a_missing_environment_variable_fails_the_start_naming_route_and_variable() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("switchyard.toml");
    std::fs::write(&file, config()).unwrap();
    let (code, stderr) = run_to_exit(&["serve", "--config", file.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "route #1 (/config): variable 'api_key': the environment variable \
             SWITCHYARD_TEST_API_KEY is not set (switchyard's own environment)"
        ),
        "{stderr}"
    );
}
