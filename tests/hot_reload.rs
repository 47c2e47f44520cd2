//! Routing tables, placement and hot reload against the real binary (issue 5).

mod common;
mod real;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use common::{Osis, Osprey};
use sha2::Digest;

const HEAD: &str = r#"
[server]
data_dir = "{data_dir}"
osis_listen = "127.0.0.1:{osis}"
s3_listen = "127.0.0.1:{s3}"
reconcile_interval_secs = 1
[osis]
admin_access_key = "test-admin"
admin_secret_key = "test-admin-secret"
[log]
level = "info"
"#;

const TWO_LOCAL: &str = r#"
[[backends]]
name = "local"
kind = "local"
[[backends]]
name = "archive"
kind = "local"
"#;

fn routing(rules: &str, assignment: Option<&str>) -> String {
    let mut s = format!(
        "[routing]\ndefault_table = \"standard\"\n[routing.tables.standard]\nrules = [ {rules} ]\n[routing.tables.flat]\nrules = [ {{ buckets = \"*\", backend = \"archive\" }} ]\n"
    );
    if let Some(cd) = assignment {
        s.push_str(&format!(
            "[[routing.tenants]]\nmatch = {{ cd_tenant_id = \"{cd}\" }}\ntable = \"flat\"\n"
        ));
    }
    s
}

const SPLIT: &str =
    r#"{ buckets = "archive-*", backend = "archive" }, { buckets = "*", backend = "local" }"#;
const SWAPPED: &str =
    r#"{ buckets = "archive-*", backend = "local" }, { buckets = "*", backend = "archive" }"#;

fn client(o: &Osprey, ak: &str, sk: &str) -> aws_sdk_s3::Client {
    let creds = aws_sdk_s3::config::Credentials::new(ak, sk, None, None, "test");
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::new()
            .behavior_version_latest()
            .endpoint_url(o.s3())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(creds)
            .force_path_style(true)
            .build(),
    )
}

fn explain(o: &Osprey, tenant: &str, bucket: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_osprey"))
        .args(["explain-route", "--config"])
        .arg(o.config_path())
        .args([tenant, bucket])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Write the config as editors and config management do (temp file + rename).
fn write_config(o: &Osprey, body: &str) -> String {
    let text = format!(
        "{}{}",
        HEAD.replace("{data_dir}", o.data_dir().to_str().unwrap())
            .replace("{osis}", &o.osis_port.to_string())
            .replace("{s3}", &o.s3_port.to_string()),
        body
    );
    let tmp = o.config_path().with_extension("tmp");
    std::fs::write(&tmp, &text).unwrap();
    std::fs::rename(&tmp, o.config_path()).unwrap();
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

async fn admin_config(api: &Osis) -> serde_json::Value {
    api.admin("GET", "/api/v1/admin/config", None).await.json()
}

/// `archive-*` to Ceph RGW, everything else to the embedded store: buckets land where the rules
/// say, ListBuckets shows both, usage sums both; placement survives a rule change.
#[tokio::test(flavor = "multi_thread")]
async fn rules_place_buckets_and_usage_sums_real_backends() {
    real::ceph_rgw();
    let backends = "[[backends]]\nname = \"local\"\nkind = \"local\"\n[[backends]]\nname = \"archive\"\nkind = \"s3\"\nendpoint = \"http://127.0.0.1:7480\"\naccess_key = \"ADMINKEY\"\nsecret_key = \"ADMINSECRET\"\nregion = \"default\"\n";
    let o = Osprey::start(&format!("{HEAD}{backends}{}", routing(SPLIT, None)));
    let api = Osis::new(o.osis());
    let tid = api.tenant("rules", "org-rules").await;
    let (_, ak, sk) = api.user(&tid, "org-rules", "u-rules").await;
    let s3 = client(&o, &ak, &sk);
    s3.create_bucket()
        .bucket("archive-2026")
        .send()
        .await
        .unwrap();
    s3.create_bucket().bucket("photos").send().await.unwrap();
    s3.put_object()
        .bucket("archive-2026")
        .key("a")
        .body(ByteStream::from(vec![1u8; 1000]))
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket("archive-2026")
        .key("b")
        .body(ByteStream::from(vec![2u8; 24]))
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket("photos")
        .key("p")
        .body(ByteStream::from(vec![3u8; 300]))
        .send()
        .await
        .unwrap();
    let e = explain(&o, &tid, "archive-2026");
    assert!(
        e.contains("backend `archive`") && e.contains("placement  exists"),
        "{e}"
    );
    let e = explain(&o, "org-rules", "photos");
    assert!(
        e.contains("-> backend `local`") && e.contains("placement  exists: backend `local`"),
        "{e}"
    );
    // the archive bucket really is on Ceph (under its translated name)
    let backend_name = osprey::backend::naming::backend_bucket_name(&tid, "archive-2026");
    let out = real::radosgw_admin(&["bucket", "stats", "--bucket", &backend_name]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names: Vec<String> = s3
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_string))
        .collect();
    assert_eq!(names, vec!["archive-2026", "photos"]);
    let u = api
        .admin("GET", &format!("/api/v1/usage?tenant_id={tid}"), None)
        .await
        .json();
    assert_eq!(u["bucket_count"], 2, "{u}");
    assert_eq!(u["object_count"], 3, "{u}");
    assert_eq!(u["used_bytes"], 1324, "{u}");
    let bl = api
        .admin("GET", &format!("/api/v1/bucket-list?tenant_id={tid}"), None)
        .await
        .json();
    assert_eq!(bl["page_info"]["total"], 2);

    // swap the rules: existing buckets stay where they are, new ones follow the new rules
    let d = write_config(&o, &format!("{backends}{}", routing(SWAPPED, None)));
    let t = Instant::now();
    while admin_config(&api).await["digest"] != d.as_str() {
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "reload did not happen"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        s3.get_object()
            .bucket("archive-2026")
            .key("a")
            .send()
            .await
            .unwrap()
            .content_length(),
        Some(1000)
    );
    s3.create_bucket()
        .bucket("archive-2027")
        .send()
        .await
        .unwrap();
    assert!(explain(&o, &tid, "archive-2027").contains("placement  exists: backend `local`"));
    let e = explain(&o, &tid, "archive-2026");
    assert!(
        e.contains("-> backend `local`") && e.contains("placement  exists: backend `archive`"),
        "rule says local, placement stays: {e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_triggers_rejections_and_stranding() {
    let mut o = Osprey::start(&format!("{HEAD}{TWO_LOCAL}{}", routing(SPLIT, None)));
    let api = Osis::new(o.osis());
    let tid = api.tenant("strand", "org-strand").await;
    let (_, ak, sk) = api.user(&tid, "org-strand", "u-strand").await;
    client(&o, &ak, &sk)
        .create_bucket()
        .bucket("archive-keep")
        .send()
        .await
        .unwrap();

    // a file with an error: rejected with file, line and key; the old table keeps serving
    let before = admin_config(&api).await;
    write_config(
        &o,
        &format!(
            "{TWO_LOCAL}{}",
            routing(r#"{ buckets = "*", backend = "nowhere" }"#, None)
        ),
    );
    let t = Instant::now();
    loop {
        let c = admin_config(&api).await;
        if c["reloads_rejected"].as_u64().unwrap() >= 1 {
            assert_eq!(c["digest"], before["digest"], "old config still serving");
            let err = c["last_error"].as_str().unwrap();
            assert!(
                err.contains("osprey.toml:") && err.contains("nowhere"),
                "{err}"
            );
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "rejection not recorded: {c}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // the admin endpoint reports the same precise error
    let r = api.admin("POST", "/api/v1/admin/reload", None).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.json()["message"].as_str().unwrap().contains("nowhere"));
    // SIGHUP triggers another attempt
    let n = admin_config(&api).await["reloads_rejected"]
        .as_u64()
        .unwrap();
    o.signal("HUP");
    let t = Instant::now();
    while admin_config(&api).await["reloads_rejected"]
        .as_u64()
        .unwrap()
        <= n
    {
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "SIGHUP did not reload"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // removing a backend that holds a placement is refused, naming what it would strand
    write_config(
        &o,
        &format!(
            "[[backends]]\nname = \"local\"\nkind = \"local\"\n{}",
            routing(r#"{ buckets = "*", backend = "local" }"#, None).replace(
                "[routing.tables.flat]\nrules = [ { buckets = \"*\", backend = \"archive\" } ]\n",
                ""
            )
        ),
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    let r = api.admin("POST", "/api/v1/admin/reload", None).await;
    assert_eq!(r.status, 422, "{}", r.text);
    let m = r.json()["message"].as_str().unwrap().to_string();
    assert!(
        m.contains("`archive`") && m.contains("1 bucket placement"),
        "{m}"
    );
    // a valid file is taken; metrics count every attempt
    let d = write_config(&o, &format!("{TWO_LOCAL}{}", routing(SWAPPED, None)));
    let r = api.admin("POST", "/api/v1/admin/reload", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(admin_config(&api).await["digest"], d.as_str());
    let m = api.admin("GET", "/api/v1/admin/metrics", None).await.text;
    assert!(
        m.contains("osprey_config_reloads_total{result=\"rejected\"}"),
        "{m}"
    );
    assert!(o.logs().contains("configuration rejected"), "logged");
    assert!(o.logs().contains("configuration reloaded"), "logged");
    // the process survived it all and still serves the bucket
    assert!(client(&o, &ak, &sk)
        .head_bucket()
        .bucket("archive-keep")
        .send()
        .await
        .is_ok());
    assert!(o.stop().unwrap().success(), "graceful stop");
}

/// 8 clients doing PUT/GET/LIST (and bucket create/delete) for 60 s while the file is rewritten
/// 50 times (rule changes, tenant moves, invalid versions in between): zero failed requests,
/// every valid version in effect within 1 s, every invalid one rejected and logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_rewrites_under_load() {
    let o = Osprey::start(&format!("{HEAD}{TWO_LOCAL}{}", routing(SPLIT, None)));
    let api = Osis::new(o.osis());
    let tid = api.tenant("load", "org-load").await;
    let (_, ak, sk) = api.user(&tid, "org-load", "u-load").await;
    let setup = client(&o, &ak, &sk);
    setup
        .create_bucket()
        .bucket("archive-held")
        .send()
        .await
        .unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for i in 0..8 {
        let s3 = client(&o, &ak, &sk);
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        let bucket = if i % 2 == 0 {
            format!("archive-load-{i}")
        } else {
            format!("load-{i}")
        };
        setup.create_bucket().bucket(&bucket).send().await.unwrap();
        clients.push(tokio::spawn(async move {
            let mut n = 0u64;
            let record = |r: bool, what: &str| {
                if r {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    eprintln!("client {i}: {what} failed");
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            };
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let key = format!("k{}", n % 16);
                let body = format!("client {i} write {n}");
                record(
                    s3.put_object()
                        .bucket(&bucket)
                        .key(&key)
                        .body(ByteStream::from(body.clone().into_bytes()))
                        .send()
                        .await
                        .is_ok(),
                    "PUT",
                );
                let got = match s3.get_object().bucket(&bucket).key(&key).send().await {
                    Ok(g) => g
                        .body
                        .collect()
                        .await
                        .map(|b| b.into_bytes() == body.as_bytes())
                        .unwrap_or(false),
                    Err(_) => false,
                };
                record(got, "GET");
                record(
                    s3.list_objects_v2().bucket(&bucket).send().await.is_ok(),
                    "LIST",
                );
                if n.is_multiple_of(25) {
                    let b = format!(
                        "{}tmp-{i}-{n}",
                        if n.is_multiple_of(50) { "archive-" } else { "" }
                    );
                    record(
                        s3.create_bucket().bucket(&b).send().await.is_ok(),
                        "CreateBucket",
                    );
                    record(
                        s3.delete_bucket().bucket(&b).send().await.is_ok(),
                        "DeleteBucket",
                    );
                }
            }
        }));
    }

    let started = Instant::now();
    let mut worst = Duration::ZERO;
    let (mut valid, mut invalid) = (0, 0);
    for v in 0..50 {
        let body = match v % 5 {
            0 => format!("# v{v}\n{TWO_LOCAL}{}", routing(SWAPPED, None)),
            1 => format!("# v{v}\n{TWO_LOCAL}{}", routing(SPLIT, Some("org-load"))),
            2 => format!("# v{v}\n{TWO_LOCAL}{}", routing(SPLIT, None)),
            3 => format!("# v{v}\n{TWO_LOCAL}{}\nrules = [ {{", routing(SPLIT, None)),
            _ => format!("# v{v}\n[[backends]]\nname = \"local\"\nkind = \"local\"\n{}", routing(r#"{ buckets = "*", backend = "local" }"#, None).replace("[routing.tables.flat]\nrules = [ { buckets = \"*\", backend = \"archive\" } ]\n", "")),
        };
        let rejected_before = admin_config(&api).await["reloads_rejected"]
            .as_u64()
            .unwrap();
        let before = admin_config(&api).await["digest"].clone();
        let t = Instant::now();
        let d = write_config(&o, &body);
        if v % 5 < 3 {
            valid += 1;
            loop {
                if admin_config(&api).await["digest"] == d.as_str() {
                    break;
                }
                assert!(
                    t.elapsed() < Duration::from_secs(1),
                    "version {v} not in effect within 1 s"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            worst = worst.max(t.elapsed());
        } else {
            invalid += 1;
            loop {
                let c = admin_config(&api).await;
                if c["reloads_rejected"].as_u64().unwrap() > rejected_before {
                    assert_eq!(c["digest"], before, "invalid version {v} must not serve");
                    break;
                }
                assert!(
                    t.elapsed() < Duration::from_secs(1),
                    "invalid version {v} not rejected within 1 s"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(1100).saturating_sub(t.elapsed())).await;
    }
    let remaining = Duration::from_secs(60).saturating_sub(started.elapsed());
    tokio::time::sleep(remaining).await;
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    eprintln!("fifty_rewrites_under_load: {ok} requests ok, {failed} failed, {valid} valid / {invalid} invalid versions, worst time to effect {worst:?}");
    assert_eq!(failed, 0, "zero failed requests");
    assert!(ok > 1000, "load was applied: {ok}");
    let logs = o.logs();
    assert!(
        logs.matches("configuration rejected").count() >= invalid,
        "every invalid version logged"
    );
    assert!(logs.matches("configuration reloaded").count() >= valid);
}
