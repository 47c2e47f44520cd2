//! What operators watch (issue 14): `/metrics` after a short mixed load carries every series with
//! its labels, `/readyz` follows the store, the JSON log format and the access-log switch, one
//! process per data directory with its pid file, and `last_error` cleared when a rejected edit is
//! undone. Before issue 14 none of these existed (no metrics listener, 5 reload series behind
//! admin auth, no pid file, a second process on the same data directory started).

mod common;
#[path = "common/raw.rs"]
mod raw;

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use common::{free_port, Osis, Osprey, LOCAL_CONFIG};

/// [`LOCAL_CONFIG`] with a metrics listener on `port`, the reconciler every second, and a second
/// backend `dead` (an `s3` endpoint on a port nobody listens on) for buckets named `dead-*`.
fn config(port: u16, dead_port: u16) -> String {
    LOCAL_CONFIG
        .replace(
            "s3_listen = \"127.0.0.1:{s3}\"",
            &format!(
                "s3_listen = \"127.0.0.1:{{s3}}\"\nmetrics_listen = \"127.0.0.1:{port}\"\nreconcile_interval_secs = 1"
            ),
        )
        .replace(
            "[routing]",
            &format!(
                "[[backends]]\nname = \"dead\"\nkind = \"s3\"\nendpoint = \"http://127.0.0.1:{dead_port}\"\naccess_key = \"AK\"\nsecret_key = \"SK\"\nregion = \"us-east-1\"\n[routing]"
            ),
        )
        .replace(
            "rules = [ { buckets = \"*\", backend = \"local\" } ]",
            "rules = [ { buckets = \"dead-*\", backend = \"dead\" }, { buckets = \"*\", backend = \"local\" } ]",
        )
}

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.expect("metrics listener answers");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

/// The value of the series `line_prefix` (`name{labels}`) in a text exposition.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn wait_until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_after_mixed_load_carry_every_series() {
    let port = free_port();
    let o = Osprey::start(&config(port, free_port()));
    let metrics = format!("http://127.0.0.1:{port}/metrics");
    let t = raw::onboard(&o, "acme").await;

    // S3: a bucket, a 4 KiB object up and down, a listing, an unknown key, a dead backend
    t.s3.create_bucket().bucket("photos").send().await.unwrap();
    let body = vec![7u8; 4096];
    t.s3.put_object()
        .bucket("photos")
        .key("a.jpg")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    let got =
        t.s3.get_object()
            .bucket("photos")
            .key("a.jpg")
            .send()
            .await
            .unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().len(), 4096);
    t.s3.list_objects_v2()
        .bucket("photos")
        .send()
        .await
        .unwrap();
    let stranger = raw::sdk_client(&o.s3(), "AKIDNOBODY0000000000", "nothing");
    // twice: the second is answered from the negative cache
    assert!(stranger.list_buckets().send().await.is_err());
    assert!(stranger.list_buckets().send().await.is_err());
    assert!(t
        .s3
        .create_bucket()
        .bucket("dead-bucket")
        .send()
        .await
        .is_err());
    // a reload that changes the file (a comment), so the reload series move
    let text = std::fs::read_to_string(o.config_path()).unwrap();
    std::fs::write(o.config_path(), format!("{text}\n# touched\n")).unwrap();
    let api = Osis::new(o.osis());
    assert_eq!(
        api.admin("POST", "/api/v1/admin/reload", None).await.status,
        200
    );

    // the reconciler and the backend probe run in the background: wait for both
    wait_until("a reconciler pass and both backends probed", || async {
        let (_, m) = get(&metrics).await;
        m.contains("osprey_reconciler_runs_total{result=\"done\"}")
            && m.contains("osprey_backend_up{backend=\"dead\"} 0")
            && m.contains("osprey_backend_up{backend=\"local\"} 1")
    })
    .await;
    let (status, m) = get(&metrics).await;
    assert_eq!(status, 200);
    // the `tenant` label is the OSIS tenant id
    let sub = |series: &str| series.replace("{tid}", &t.tenant_id);
    for series in [
        "osprey_s3_requests_total{tenant=\"{tid}\",backend=\"local\",op=\"CreateBucket\",status=\"200\"}",
        "osprey_s3_requests_total{tenant=\"{tid}\",backend=\"local\",op=\"PutObject\",status=\"200\"}",
        "osprey_s3_requests_total{tenant=\"{tid}\",backend=\"local\",op=\"GetObject\",status=\"200\"}",
        "osprey_s3_requests_total{tenant=\"{tid}\",backend=\"local\",op=\"ListObjectsV2\",status=\"200\"}",
        "osprey_s3_requests_total{tenant=\"_none\",backend=\"_osprey\",op=\"ListBuckets\",status=\"403\"}",
        "osprey_s3_requests_total{tenant=\"{tid}\",backend=\"dead\",op=\"CreateBucket\",status=\"503\"}",
        "osprey_s3_request_duration_seconds_count{backend=\"local\",op=\"GetObject\"}",
        "osprey_s3_received_bytes_total{tenant=\"{tid}\",backend=\"local\"}",
        "osprey_s3_sent_bytes_total{tenant=\"{tid}\",backend=\"local\"}",
        "osprey_backend_errors_total{backend=\"dead\",kind=\"connect\"}",
        "osprey_osis_requests_total{route=\"/api/v1/tenants\",method=\"POST\",status=\"201\"}",
        "osprey_osis_requests_total{route=\"/api/v1/tenants/{tenant_id}/users\",method=\"POST\",status=\"201\"}",
        "osprey_osis_request_duration_seconds_count{route=\"/api/v1/admin/reload\"}",
        "osprey_provisioning_intents{state=\"pending\"}",
        "osprey_provisioning_intents{state=\"failed\"}",
        "osprey_reconciler_runs_total{result=\"done\"}",
        "osprey_cache_hits_total{cache=\"keys\"}",
        "osprey_cache_misses_total{cache=\"keys\"}",
        "osprey_cache_hits_total{cache=\"unknown_keys\"}",
        "osprey_config_reloads_total{result=\"ok\"}",
        "osprey_config_generation",
        "osprey_config_last_reload_seconds",
        "osprey_connections_open{listener=\"s3\"}",
        "osprey_connections_open{listener=\"osis\"}",
        "osprey_backend_up{backend=\"local\"}",
        "osprey_backend_probe_seconds{backend=\"dead\"}",
    ] {
        let series = sub(series);
        assert!(
            value(&m, &series).is_some(),
            "missing series {series} in\n{m}"
        );
    }
    assert_eq!(value(&m, "osprey_config_generation"), Some(2.0));
    // SQLite: one process, so it leads the reconciler and has no change feed (issue 15); no log
    // line was dropped (issue 13: the writer thread keeps up)
    assert_eq!(value(&m, "osprey_reconciler_leader"), Some(1.0));
    assert_eq!(value(&m, "osprey_store_change_feed_up"), Some(0.0));
    assert_eq!(value(&m, "osprey_store_changes_heard_total"), Some(0.0));
    assert_eq!(value(&m, "osprey_log_lines_dropped_total"), Some(0.0));
    assert!(
        value(
            &m,
            &sub("osprey_s3_received_bytes_total{tenant=\"{tid}\",backend=\"local\"}")
        )
        .unwrap()
            >= 4096.0
    );
    assert!(
        value(
            &m,
            &sub("osprey_s3_sent_bytes_total{tenant=\"{tid}\",backend=\"local\"}")
        )
        .unwrap()
            >= 4096.0
    );
    assert!(m.contains("# TYPE osprey_s3_request_duration_seconds histogram"));
    assert!(m.contains("osprey_build_info{version=\""));
    // the admin endpoint serves the same registry (behind the admin pair)
    let admin = api.admin("GET", "/api/v1/admin/metrics", None).await;
    assert_eq!(admin.status, 200);
    assert!(admin
        .text
        .contains(&sub("osprey_s3_requests_total{tenant=\"{tid}\"")));
    // and the status endpoint shows each backend's probe
    let s = api.admin("GET", "/api/v1/admin/status", None).await.json();
    assert_eq!(s["backends"]["local"]["up"], true, "{s}");
    assert_eq!(s["backends"]["dead"]["up"], false, "{s}");
    assert!(
        s["backends"]["dead"]["error"]
            .as_str()
            .unwrap()
            .contains("connect"),
        "{s}"
    );
    assert_eq!(
        s["ready"], true,
        "a down backend does not make Osprey unready: {s}"
    );
    let (live, _) = get(&format!("http://127.0.0.1:{port}/livez")).await;
    assert_eq!(live, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_follows_the_store() {
    let port = free_port();
    let o = Osprey::start(&config(port, free_port()));
    let readyz = format!("http://127.0.0.1:{port}/readyz");
    wait_until("ready", || async { get(&readyz).await.0 == 200 }).await;

    // another process takes SQLite's write lock: the store cannot take a write
    let db = rusqlite::Connection::open(o.data_dir().join("osprey.db")).unwrap();
    db.execute_batch("BEGIN IMMEDIATE;").unwrap();
    wait_until("not ready while the store is locked", || async {
        let (s, body) = get(&readyz).await;
        s == 503 && body.contains("identity store")
    })
    .await;
    let (_, body) = get(&readyz).await;
    let j: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(j["ready"], false);
    assert!(j["reasons"][0].as_str().unwrap().contains("locked"), "{j}");
    db.execute_batch("ROLLBACK;").unwrap();
    wait_until("ready again", || async { get(&readyz).await.0 == 200 }).await;

    // a rejected configuration file makes it unready too, until the good file is back
    let good = std::fs::read_to_string(o.config_path()).unwrap();
    std::fs::write(o.config_path(), format!("{good}\n[nonsense]\n")).unwrap();
    let api = Osis::new(o.osis());
    assert_eq!(
        api.admin("POST", "/api/v1/admin/reload", None).await.status,
        422
    );
    let (s, body) = get(&readyz).await;
    assert_eq!(s, 503, "{body}");
    assert!(body.contains("configuration file rejected"), "{body}");
    // the good file restored: the earlier rejection is cleared (it used to stay in last_error)
    std::fs::write(o.config_path(), &good).unwrap();
    assert_eq!(
        api.admin("POST", "/api/v1/admin/reload", None).await.status,
        200
    );
    let c = api.admin("GET", "/api/v1/admin/config", None).await.json();
    assert!(c["last_error"].is_null(), "{c}");
    assert_eq!(get(&readyz).await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_and_access_switch() {
    let json_cfg = LOCAL_CONFIG.replace("level = \"debug\"", "level = \"info\"\nformat = \"json\"");
    let o = Osprey::start(&json_cfg);
    let t = raw::onboard(&o, "jsonco").await;
    t.s3.create_bucket()
        .bucket("bucket-one")
        .send()
        .await
        .unwrap();
    // the access line is written when the request is done, which may be after its answer
    let deadline = Instant::now() + Duration::from_secs(10);
    while !o.logs().contains("\"message\":\"s3 request\"") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let logs = o.logs();
    let mut access = 0;
    for line in logs.lines().filter(|l| l.starts_with('{')) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["release"]
            .as_str()
            .unwrap()
            .starts_with(env!("CARGO_PKG_VERSION")));
        assert!(v["time"].is_string() && v["level"].is_string(), "{line}");
        if v["target"] == "access" && v["message"] == "s3 request" {
            access += 1;
            assert_eq!(v["op"], "CreateBucket", "{line}");
            assert_eq!(v["tenant"].as_str().map(|s| !s.is_empty()), Some(true));
            assert_eq!(v["status"], 200);
            assert_eq!(v["request_id"].as_str().map(str::len), Some(16), "{line}");
        }
    }
    assert_eq!(access, 1, "one access line for the CreateBucket:\n{logs}");
    assert!(
        logs.lines()
            .all(|l| l.trim().is_empty() || l.starts_with('{')),
        "every line is JSON:\n{logs}"
    );

    let quiet = LOCAL_CONFIG.replace("level = \"debug\"", "level = \"info\"\naccess = false");
    let q = Osprey::start(&quiet);
    let t = raw::onboard(&q, "quietco").await;
    t.s3.create_bucket()
        .bucket("bucket-two")
        .send()
        .await
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let logs = q.logs();
    assert!(
        !logs.contains("s3 request") && !logs.contains("osis request"),
        "{logs}"
    );
    assert!(logs.contains("osprey serving"), "other lines stay: {logs}");
}

#[test]
fn one_process_per_data_directory_with_a_pid_file() {
    let mut o = Osprey::start(LOCAL_CONFIG);
    let pid = std::fs::read_to_string(o.data_dir().join("run/osprey.pid")).unwrap();
    assert_eq!(pid.trim(), o.pid().to_string());

    // a second process on the same data directory (other ports) is refused, naming the first
    let text = std::fs::read_to_string(o.config_path())
        .unwrap()
        .replace(&o.osis_port.to_string(), &free_port().to_string())
        .replace(&o.s3_port.to_string(), &free_port().to_string());
    let second = o.dir.path().join("second.toml");
    std::fs::write(&second, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_osprey"))
        .args(["serve", "--accept-license", "--config"])
        .arg(&second)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is in use by another Osprey") && err.contains(pid.trim()),
        "{err}"
    );
    // the first one still serves, and a clean stop removes the pid file
    assert!(std::net::TcpStream::connect(("127.0.0.1", o.s3_port)).is_ok());
    o.stop();
    assert!(!o.data_dir().join("run/osprey.pid").exists());
}
