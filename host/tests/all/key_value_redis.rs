//! wasi:keyvalue on a real `redis-server` (started by each test on a free
//! loopback port): the whole `kv-ops` suite, two Switchyard processes that
//! share one Redis (each sees the other's writes, their concurrent
//! increments sum exactly), and a Redis that goes away mid-run (guests get
//! errors, other routes keep serving, service resumes when it is back).

use crate::common::redis::RedisServer;
use crate::common::*;
use crate::key_value::{exercise, op};
use std::time::{Duration, Instant};

fn config(redis: &RedisServer, prefix: &str, replica: &str) -> String {
    format!(
        "[key_value_store.shared]\ntype = \"redis\"\nurl = \"{}\"\nprefix = \"{prefix}\"\ntimeout_ms = 500\n\
         {}key_value_stores = [\"shared\"]\n\
         {}key_value_stores = [\"shared\"]\nenv = {{ KV_STORE = \"shared\" }}\nvariables = {{ replica = \"{replica}\" }}\n\
         {}",
        redis.url(),
        route("/kv/ops", "kv-ops"),
        route("/kv/counter", "kv-counter"),
        route("/hello", "hello"),
    )
}

#[tokio::test]
async fn a_redis_store_serves_every_operation() {
    let redis = RedisServer::start();
    let server = TestServer::start(&config(&redis, "app:", "a")).await;
    exercise(&http1(), &server.url("/kv/ops"), "shared").await;
    server.stop().await;
    // The keys live under the prefix: a server with another prefix on the
    // same Redis sees none of them.
    let other = TestServer::start(&config(&redis, "other:", "b")).await;
    let url = other.url("/kv/ops");
    assert_eq!(
        op(&http2(), &url, "store=shared&op=get&key=n").await,
        (404, "none\n".into())
    );
    // SCAN walks the whole keyspace, so pages of no keys may come before
    // the cursor ends; none of them lists another prefix's key.
    let mut query = "store=shared&op=list".to_string();
    for page in 0.. {
        let (status, body) = op(&http2(), &url, &query).await;
        assert_eq!(status, 200, "{body}");
        let (keys, cursor) = body
            .trim_end()
            .rsplit_once('\n')
            .unwrap_or(("", body.trim_end()));
        assert_eq!(keys, "", "page {page} lists keys of another prefix");
        match cursor.strip_prefix("cursor=").unwrap() {
            "none" => break,
            next => query = format!("store=shared&op=list&cursor={next}"),
        }
        assert!(page < 100, "the cursor never ended");
    }
    other.stop().await;
}

#[tokio::test]
async fn two_servers_sharing_one_redis_see_each_others_writes_and_sum_increments() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let spawn = |replica: &str| {
        let file = dir.path().join(format!("{replica}.toml"));
        std::fs::write(&file, config(&redis, "", replica)).unwrap();
        Process::spawn(&file, &[])
    };
    let (a, b) = (spawn("a"), spawn("b"));
    let client = http1();
    let set = post_text(
        &client,
        a.url("/kv/ops?store=shared&op=set&key=from-a"),
        "written by a",
    )
    .await;
    assert_eq!(set, (200, "ok\n".into()));
    assert_eq!(
        op(&client, &b.url("/kv/ops"), "store=shared&op=get&key=from-a").await,
        (200, "written by a".into())
    );

    let counters: Vec<_> = [&a, &b, &a, &b]
        .into_iter()
        .enumerate()
        .map(|(i, server)| {
            let url = server.url("/kv/counter?key=hits");
            let client = if i < 2 { http1() } else { http2() };
            tokio::spawn(async move {
                let mut replicas = Vec::new();
                for _ in 0..250 {
                    let (status, body) = get_text(&client, &url).await;
                    assert_eq!(status, 200, "{body}");
                    replicas.push(body.lines().nth(1).unwrap().to_string());
                }
                replicas
            })
        })
        .collect();
    let mut answered = Vec::new();
    for counter in counters {
        answered.extend(counter.await.unwrap());
    }
    assert!(answered.iter().any(|r| r == "replica=a") && answered.iter().any(|r| r == "replica=b"));
    let (_, body) = get_text(&client, b.url("/kv/counter?key=hits")).await;
    assert_eq!(
        body, "count=1001\nreplica=b\n",
        "1,000 increments through two servers, then one"
    );
}

#[tokio::test]
async fn a_redis_that_goes_away_fails_calls_not_the_server_and_service_resumes() {
    let mut redis = RedisServer::start();
    let port = redis.port;
    let server = TestServer::start(&config(&redis, "", "a")).await;
    let client = http1();
    let counter = server.url("/kv/counter?key=c");
    assert_eq!(
        get_text(&client, &counter).await,
        (200, "count=1\nreplica=a\n".into())
    );

    redis.stop();
    let started = Instant::now();
    let (status, body) = get_text(&client, &counter).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.starts_with(
            "kv-counter: cannot count 'c' in store 'shared': other: store 'shared' (redis): "
        ),
        "{body}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "bounded by the store's timeout: {:?}",
        started.elapsed()
    );
    let (status, body) = op(&client, &server.url("/kv/ops"), "store=shared&op=get&key=c").await;
    assert_eq!(status, 500);
    assert!(
        body.starts_with("error: other: store 'shared' (redis): "),
        "{body}"
    );
    // Other routes keep serving, on both protocols.
    for (protocol, client) in clients() {
        assert_eq!(
            get_text(&client, server.url("/hello")).await.0,
            200,
            "{protocol}"
        );
    }
    wait_for_log(&["key-value call failed", "store=\"shared\"", "redis"]).await;

    // Back (empty: it kept nothing): the next calls reconnect.
    let _redis = RedisServer::start_on(port);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = get_text(&client, &counter).await;
        if status == 200 {
            assert_eq!(body, "count=1\nreplica=a\n");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "service did not resume: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn a_redis_that_is_down_at_start_up_does_not_stop_the_server() {
    // Started and stopped at once: its port is free, nothing answers there.
    let redis = {
        let mut redis = RedisServer::start();
        redis.stop();
        redis
    };
    let server = TestServer::start(&config(&redis, "", "a")).await;
    let (status, body) = get_text(&http1(), server.url("/kv/counter")).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("cannot reach Redis"), "{body}");
    assert_eq!(get_text(&http2(), server.url("/hello")).await.0, 200);
    server.stop().await;
}
