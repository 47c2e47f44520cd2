//! Issue 15: several Osprey replicas on one PostgreSQL store, with real parts only — a throwaway
//! PostgreSQL 15 cluster (Debian's server binaries, as a non-root user), Ceph RGW as the backend
//! every replica provisions, the real `osprey` binary, and HAProxy (Debian) in front of both
//! listeners for the drill.
//!
//! - `two_replicas_share_one_store`: a user created on replica 1 signs S3 on replica 2 at once, a
//!   bucket made on 2 is listed on 1, a key disabled on 2 is refused on 1 within 2 s (the change
//!   feed; the caches' TTL is 60 s), bearer tokens cross replicas and so does their revocation,
//!   the reconciler runs on exactly one replica and moves when that one is killed with -9, and
//!   replica 2 keeps serving.
//! - `drill_behind_haproxy`: 3 replicas behind HAProxy, 8 clients for 60 s (OSE's flow on OSIS,
//!   S3 objects) while one replica is killed with -9 and restarted, then PostgreSQL restarted:
//!   OSIS 0 failed after retry-once, S3 failures only for requests in flight on the killed
//!   replica (counted), then 0 intents left and 0 orphans on RGW.

mod common;
#[path = "common/raw.rs"]
mod raw;
mod real;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{free_port, Osis, Osprey, ADMIN_AK, ADMIN_SK};
use raw::{Creds, Req};
use real::Postgres;

/// The same master key on every replica (`OSPREY_MASTER_KEY`): secrets sealed by one are opened
/// by the others.
const MASTER_KEY: &str = "5f3a9c1e7b2d4068a1c3e5f7092b4d6f8a0c2e4f6a8b0d2f4e6a8c0e2a4c6e8f";

/// A replica's config: the `ceph-rgw` kind on the test RGW, the shared PostgreSQL store, a
/// metrics listener (the balancer's readiness check) and a 2 s reconcile interval.
fn replica_config(pg_url: &str) -> String {
    common::ceph_rgw_kind_config(real::ceph_rgw())
        .replace(
            "s3_listen = \"127.0.0.1:{s3}\"",
            "s3_listen = \"127.0.0.1:{s3}\"\nmetrics_listen = \"127.0.0.1:{metrics}\"\nreconcile_interval_secs = 2",
        )
        .replace("level = \"debug\"", "level = \"info\"")
        + &format!("[store]\nkind = \"postgres\"\nurl = \"{pg_url}\"\nsslmode = \"disable\"\npool_size = 4\n")
}

fn start_replica(cfg: &str) -> Osprey {
    Osprey::start_with_env(
        &cfg.replace("{metrics}", &free_port().to_string()),
        vec![("OSPREY_MASTER_KEY".to_string(), MASTER_KEY.to_string())],
    )
}

/// The replica's metrics listener address (from its config file).
fn metrics_addr(o: &Osprey) -> String {
    let text = std::fs::read_to_string(o.config_path()).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("metrics_listen"))
        .expect("metrics_listen");
    line.split('"').nth(1).unwrap().to_string()
}

/// One metric's value on a replica, `None` when unreachable.
fn metric(o: &Osprey, name: &str) -> Option<f64> {
    let r = raw::Conn::connect(&metrics_addr(o))
        .ok()?
        .send(&Req::new("GET", "x", "/metrics"))
        .ok()?;
    r.text()
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !ok() {
        assert!(t0.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    t0.elapsed()
}

fn host(addr: &str) -> String {
    addr.trim_start_matches("http://").to_string()
}

/// A signed S3 request on a fresh connection: (status, S3 error code) or the I/O error.
fn s3(
    addr: &str,
    c: &Creds,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<(u16, String), String> {
    let h = host(addr);
    let req = Req::new(method, &h, path).body(body).sign_std(c, &[]);
    let mut conn = raw::Conn::connect(&h).map_err(|e| e.to_string())?;
    let r = conn.send(&req).map_err(|e| e.to_string())?;
    Ok((r.status, r.code().unwrap_or_default()))
}

fn rgw_users() -> BTreeSet<String> {
    let out = real::radosgw_admin(&["user", "list"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<String>>(&out.stdout)
        .expect("radosgw-admin user list JSON")
        .into_iter()
        .collect()
}

fn rgw_uid(tenant_id: &str, user_id: &str) -> String {
    format!(
        "{}${}",
        osprey::backend::ceph_rgw::rgw_tenant(tenant_id),
        osprey::backend::ceph_rgw::rgw_uid(user_id)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_share_one_store() {
    let pg = Postgres::start();
    pg.create_database("osprey");
    let cfg = replica_config(&pg.url("osprey"));
    let mut r1 = start_replica(&cfg);
    let r2 = start_replica(&cfg);
    let (o1, o2) = (Osis::new(r1.osis()), Osis::new(r2.osis()));

    // a user created on replica 1 signs S3 on replica 2 at once
    let t = o1.tenant("rep-t", "rep-org").await;
    let (uid, ak, sk) = o1.user(&t, "rep-org", "alice").await;
    let c = Creds::new(&ak, &sk);
    let (a1, a2) = (r1.s3(), r2.s3());
    let r = tokio::task::block_in_place(|| s3(&a2, &c, "PUT", "/rep-bucket", b"")).unwrap();
    assert_eq!(
        r.0, 200,
        "CreateBucket on replica 2 with a key made on replica 1: {r:?}"
    );
    // a bucket made on 2 is listed on 1, and an object written on 1 is read on 2
    let listed = tokio::task::block_in_place(|| {
        let h = host(&a1);
        raw::send(&h, &Req::new("GET", &h, "/").sign_std(&c, &[])).text()
    });
    assert!(listed.contains("<Name>rep-bucket</Name>"), "{listed}");
    tokio::task::block_in_place(|| {
        assert_eq!(
            s3(&a1, &c, "PUT", "/rep-bucket/k", b"hello").unwrap().0,
            200
        );
        let h = host(&a2);
        let got = raw::send(&h, &Req::new("GET", &h, "/rep-bucket/k").sign_std(&c, &[]));
        assert_eq!(got.body, b"hello");
    });

    // a key disabled on 2 is refused on 1 within 2 s (replica 1 has it cached: it just served it)
    assert_eq!(
        tokio::task::block_in_place(|| s3(&a1, &c, "GET", "/rep-bucket", b""))
            .unwrap()
            .0,
        200
    );
    let t0 = Instant::now();
    let r = o2
        .admin(
            "PATCH",
            &format!("/api/v1/s3credentials/{ak}"),
            Some(serde_json::json!({"active": false})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let refused = tokio::task::block_in_place(|| {
        wait_for(
            "disabled key refused on replica 1",
            Duration::from_secs(2),
            || s3(&a1, &c, "GET", "/rep-bucket", b"").unwrap().0 == 403,
        )
    });
    let since_patch = t0.elapsed();
    println!("key disabled on replica 2: refused on replica 1 {} ms after the PATCH was sent ({} ms after it returned)", since_patch.as_millis(), refused.as_millis());
    // ... and enabled again on 1, usable on 2 at once
    let r = o1
        .admin(
            "PATCH",
            &format!("/api/v1/s3credentials/{ak}"),
            Some(serde_json::json!({"active": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    tokio::task::block_in_place(|| {
        wait_for(
            "re-enabled key accepted on replica 2",
            Duration::from_secs(2),
            || s3(&a2, &c, "GET", "/rep-bucket", b"").unwrap().0 == 200,
        )
    });

    // bearer tokens issued by one replica are accepted by the other; revocation on one ends
    // them on both (the token generation moves through the feed)
    let login = o1
        .call(
            "POST",
            "/api/v1/auth/login",
            Some(serde_json::json!({"username": ADMIN_AK, "password": ADMIN_SK})),
            None,
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.text);
    let token = login.json()["access_token"].as_str().unwrap().to_string();
    let bearer = |o: &Osis| {
        let (http, base, token) = (o.http.clone(), o.base.clone(), token.clone());
        async move {
            http.get(format!("{base}/api/v1/tenants"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(bearer(&o2).await, 200, "replica 1's token on replica 2");
    // tokens carry whole-second times: keep revocation and issuance in different seconds
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = o2.admin("POST", "/api/v1/auth/revoke", None).await;
    assert!(
        r.status == 200 || r.status == 204,
        "{} {}",
        r.status,
        r.text
    );
    let t0 = Instant::now();
    loop {
        if bearer(&o1).await == 401 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "revocation on 2 not seen by 1 within 2 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "bearer tokens revoked on replica 2: refused on replica 1 after {} ms",
        t0.elapsed().as_millis()
    );

    // the reconciler runs on exactly one replica: the first one started
    let leaders = || {
        (
            metric(&r1, "osprey_reconciler_leader"),
            metric(&r2, "osprey_reconciler_leader"),
        )
    };
    tokio::task::block_in_place(|| {
        wait_for("one reconciler leader", Duration::from_secs(5), || {
            leaders() == (Some(1.0), Some(0.0))
        })
    });

    // replica 1 killed with -9: replica 2 keeps serving S3 and OSIS, and takes over the
    // reconciler, which completes a deletion (deletions run in the reconciler)
    r1.kill9();
    tokio::task::block_in_place(|| {
        assert_eq!(s3(&a2, &c, "GET", "/rep-bucket/k", b"").unwrap().0, 200);
        let took = wait_for(
            "replica 2 runs the reconciler",
            Duration::from_secs(10),
            || metric(&r2, "osprey_reconciler_leader") == Some(1.0),
        );
        println!(
            "reconciler moved to replica 2 {} ms after replica 1 was killed",
            took.as_millis()
        );
    });
    let (uid2, _, _) = o2.user(&t, "rep-org", "bob").await;
    assert!(
        rgw_users().contains(&rgw_uid(&t, &uid2)),
        "bob provisioned on RGW"
    );
    let r = o2
        .admin("DELETE", &format!("/api/v1/tenants/{t}/users/{uid2}"), None)
        .await;
    assert!(
        r.status == 200 || r.status == 204,
        "{} {}",
        r.status,
        r.text
    );
    tokio::task::block_in_place(|| {
        wait_for(
            "bob removed from RGW by replica 2's reconciler",
            Duration::from_secs(15),
            || !rgw_users().contains(&rgw_uid(&t, &uid2)),
        )
    });
    assert!(rgw_users().contains(&rgw_uid(&t, &uid)), "alice untouched");
    assert_eq!(pg.psql("osprey", "SELECT count(*) FROM pending_ops"), "0");

    // replica 1 restarted on the same store: it serves again, and the reconciler stays on 2
    r1.spawn();
    tokio::task::block_in_place(|| {
        assert_eq!(s3(&a1, &c, "GET", "/rep-bucket/k", b"").unwrap().0, 200);
        wait_for("replica 1 ready", Duration::from_secs(5), || {
            metric(&r1, "osprey_reconciler_leader") == Some(0.0)
        });
    });
    assert_eq!(metric(&r2, "osprey_reconciler_leader"), Some(1.0));
}

// ---------------------------------------------------------------------------------------------
// the drill

struct Haproxy {
    child: Child,
    _dir: tempfile::TempDir,
    pub s3: String,
    pub osis: String,
}

impl Haproxy {
    /// HAProxy in front of the replicas' S3 and OSIS listeners: round robin, a replica taken
    /// out when its `/readyz` fails twice (checked every 500 ms), a request whose connection
    /// to a dead replica fails redispatched to another (the settings docs/operations.md gives).
    fn start(replicas: &[&Osprey]) -> Haproxy {
        let bin = ["/usr/sbin/haproxy", "/usr/bin/haproxy"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("haproxy (Debian package `haproxy`; .ci/run installs it)");
        let dir = tempfile::tempdir().unwrap();
        let (s3_port, osis_port) = (free_port(), free_port());
        let mut cfg = format!(
            "global\n  maxconn 2000\ndefaults\n  mode http\n  timeout connect 1s\n  timeout client 30s\n  timeout server 30s\n  retries 3\n  option redispatch 1\n  retry-on conn-failure empty-response\n\
             frontend s3\n  bind 127.0.0.1:{s3_port}\n  default_backend s3\n\
             frontend osis\n  bind 127.0.0.1:{osis_port}\n  default_backend osis\n"
        );
        for (name, port_of) in [("s3", 0usize), ("osis", 1)] {
            cfg += &format!("backend {name}\n  balance roundrobin\n  option httpchk GET /readyz\n");
            for (i, r) in replicas.iter().enumerate() {
                let port = if port_of == 0 { r.s3_port } else { r.osis_port };
                let m = metrics_addr(r);
                let mport = m.rsplit(':').next().unwrap();
                cfg += &format!(
                    "  server r{i} 127.0.0.1:{port} check port {mport} inter 500ms fall 2 rise 2\n"
                );
            }
        }
        let file = dir.path().join("haproxy.cfg");
        std::fs::write(&file, cfg).unwrap();
        let log = std::fs::File::create(dir.path().join("haproxy.log")).unwrap();
        let child = Command::new(bin)
            .arg("-db")
            .arg("-f")
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start haproxy");
        let s3 = format!("127.0.0.1:{s3_port}");
        let osis = format!("127.0.0.1:{osis_port}");
        let t0 = Instant::now();
        while std::net::TcpStream::connect(&s3).is_err()
            || std::net::TcpStream::connect(&osis).is_err()
        {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "haproxy did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Haproxy {
            child,
            _dir: dir,
            s3,
            osis,
        }
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One S3 request's outcome in the drill.
#[derive(Debug, Clone)]
struct Outcome {
    started: Instant,
    ended: Instant,
    /// Shown when the test fails.
    #[allow(dead_code)]
    what: String,
    ok: bool,
}

/// OSIS calls of the drill that needed their retry.
static OSIS_RETRIED: AtomicU64 = AtomicU64::new(0);

/// The OSIS side of OSE's flow, each call retried once (after 1 s) when it failed with a 5xx
/// or no answer, as OSE does. A create that reached a replica which died before answering is
/// re-sent (by HAProxy's `retry-on empty-response` or by this retry) and must answer 201 again:
/// Osprey treats an identical create as a replay (the CI run of stop 19 failed here with 409).
async fn osis_retry_once(
    http: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> Result<(u16, serde_json::Value), String> {
    let mut last = String::new();
    for attempt in 0..2 {
        if attempt == 1 {
            OSIS_RETRIED.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let mut r = http
            .request(method.clone(), format!("http://{base}{path}"))
            .basic_auth(ADMIN_AK, Some(ADMIN_SK))
            .timeout(Duration::from_secs(20));
        if let Some(b) = &body {
            r = r.json(b);
        }
        match r.send().await {
            Ok(resp) if resp.status().is_server_error() => {
                last = format!(
                    "{} {}",
                    resp.status(),
                    resp.text().await.unwrap_or_default()
                );
            }
            Ok(resp) => {
                let status = resp.status().as_u16();
                let v = resp.json().await.unwrap_or(serde_json::Value::Null);
                return Ok((status, v));
            }
            Err(e) => last = e.to_string(),
        }
    }
    Err(format!("{method} {path}: {last}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drill_behind_haproxy() {
    let mut pg = Postgres::start();
    pg.create_database("osprey");
    let cfg = replica_config(&pg.url("osprey"));
    let mut replicas: Vec<Osprey> = (0..3).map(|_| start_replica(&cfg)).collect();
    let lb = Haproxy::start(&replicas.iter().collect::<Vec<_>>());
    let http = reqwest::Client::new();
    let base = lb.osis.clone();

    // a tenant for the S3 clients, made before the drill (through the balancer)
    let osis = Osis::new(format!("http://{base}"));
    let t = osis.tenant("drill-t", "drill-org").await;
    let mut s3_creds = Vec::new();
    for i in 0..6 {
        let (_, ak, sk) = osis.user(&t, "drill-org", &format!("s3-{i}")).await;
        s3_creds.push(Creds::new(&ak, &sk));
    }
    for (i, c) in s3_creds.iter().enumerate() {
        let r = s3(&lb.s3, c, "PUT", &format!("/drill-{i}"), b"").unwrap();
        assert_eq!(r.0, 200, "{r:?}");
    }

    let stop = Arc::new(AtomicBool::new(false));
    let outcomes = Arc::new(Mutex::new(Vec::<Outcome>::new()));
    let osis_ok = Arc::new(AtomicU64::new(0));
    let osis_failed = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut clients = Vec::new();
    // 6 S3 clients: PUT, GET, LIST, DELETE of their own objects, paced at ~20 requests/s each
    for (i, c) in s3_creds.iter().cloned().enumerate() {
        let (stop, outcomes, addr) = (stop.clone(), outcomes.clone(), lb.s3.clone());
        clients.push(tokio::task::spawn_blocking(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let key = format!("/drill-{i}/o{}", n % 16);
                for (method, path, body) in [
                    ("PUT", key.as_str(), &b"drill payload"[..]),
                    ("GET", key.as_str(), &b""[..]),
                    ("GET", &format!("/drill-{i}")[..], &b""[..]),
                    ("DELETE", key.as_str(), &b""[..]),
                ] {
                    let started = Instant::now();
                    let r = s3(&addr, &c, method, path, body);
                    let ok = matches!(r, Ok((s, _)) if (200..300).contains(&s));
                    outcomes.lock().unwrap().push(Outcome {
                        started,
                        ended: Instant::now(),
                        what: format!("{method} {path}: {r:?}"),
                        ok,
                    });
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }));
    }
    // 2 OSIS clients: OSE's onboarding flow in a loop (tenant, users, keys, disable, delete)
    let made_tenants = Arc::new(Mutex::new(Vec::<String>::new()));
    for k in 0..2 {
        let (stop, ok, failed, http, base, made) = (
            stop.clone(),
            osis_ok.clone(),
            osis_failed.clone(),
            http.clone(),
            base.clone(),
            made_tenants.clone(),
        );
        clients.push(tokio::spawn(async move {
            let mut n = 0;
            let record = |r: &Result<(u16, serde_json::Value), String>, want: &[u16]| match r {
                Ok((s, _)) if want.contains(s) => {
                    ok.fetch_add(1, Ordering::Relaxed);
                    true
                }
                other => {
                    failed.lock().unwrap().push(format!("{other:?}"));
                    false
                }
            };
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let cd = format!("drill-org-{k}-{n}");
                let r = osis_retry_once(&http, &base, reqwest::Method::POST, "/api/v1/tenants",
                    Some(serde_json::json!({"name": format!("drill-{k}-{n}"), "active": true, "cd_tenant_ids": [cd]}))).await;
                if !record(&r, &[201]) {
                    continue;
                }
                let tid = r.unwrap().1["tenant_id"].as_str().unwrap().to_string();
                made.lock().unwrap().push(tid.clone());
                for u in 0..2 {
                    let name = format!("u{u}");
                    let body = serde_json::json!({"tenant_id": tid, "active": true, "username": name, "role": "TENANT_USER", "cd_user_id": name, "cd_tenant_id": cd});
                    let r = osis_retry_once(&http, &base, reqwest::Method::POST, &format!("/api/v1/tenants/{tid}/users"), Some(body)).await;
                    // a retried create that already happened is a replay: 201 again
                    if !record(&r, &[201]) {
                        continue;
                    }
                    let r = osis_retry_once(&http, &base, reqwest::Method::POST, &format!("/api/v1/tenants/{tid}/users/{name}/s3credentials"), None).await;
                    record(&r, &[201]);
                    if let Ok((_, v)) = &r {
                        if let Some(ak) = v["access_key"].as_str() {
                            let r = osis_retry_once(&http, &base, reqwest::Method::PATCH, &format!("/api/v1/s3credentials/{ak}"), Some(serde_json::json!({"active": false}))).await;
                            record(&r, &[200]);
                        }
                    }
                }
                // the second user leaves again (its RGW user must go too)
                let r = osis_retry_once(&http, &base, reqwest::Method::DELETE, &format!("/api/v1/tenants/{tid}/users/u1"), None).await;
                record(&r, &[200, 204, 404]);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
    }

    // the drill: 60 s; replica 0 killed with -9 at 15 s and restarted at 30 s; PostgreSQL
    // restarted at 45 s
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    tokio::time::sleep_until(at(15).into()).await;
    let killed_at = Instant::now();
    replicas[0].kill9();
    tokio::time::sleep_until(at(30).into()).await;
    tokio::task::block_in_place(|| replicas[0].spawn());
    tokio::time::sleep_until(at(45).into()).await;
    let pg_restart_at = Instant::now();
    tokio::task::block_in_place(|| {
        pg.stop();
        pg.start_again();
    });
    let pg_back_at = Instant::now();
    tokio::time::sleep_until(at(60).into()).await;
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }

    let outcomes = outcomes.lock().unwrap().clone();
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.ok).collect();
    // in flight on the killed replica: started before the kill and answered after it
    let in_flight_at_kill = |o: &&Outcome| o.started <= killed_at && o.ended >= killed_at;
    let during_pg_restart =
        |o: &&Outcome| o.ended >= pg_restart_at && o.started <= pg_back_at + Duration::from_secs(2);
    let kill_failures = failed.iter().filter(|o| in_flight_at_kill(o)).count();
    let pg_failures = failed.iter().filter(|o| during_pg_restart(o)).count();
    let other: Vec<&&Outcome> = failed
        .iter()
        .filter(|o| !in_flight_at_kill(o) && !during_pg_restart(o))
        .collect();
    let osis_failed = osis_failed.lock().unwrap().clone();
    println!(
        "drill: {} S3 requests, {} failed ({} in flight on the killed replica, {} during the PostgreSQL restart of {} ms, {} other); OSIS {} ok ({} after a retry), {} failed after retry-once",
        outcomes.len(),
        failed.len(),
        kill_failures,
        pg_failures,
        (pg_back_at - pg_restart_at).as_millis(),
        other.len(),
        osis_ok.load(Ordering::Relaxed),
        OSIS_RETRIED.load(Ordering::Relaxed),
        osis_failed.len()
    );
    assert!(outcomes.len() > 1000, "the clients ran: {}", outcomes.len());
    assert!(osis_ok.load(Ordering::Relaxed) > 50, "the OSIS clients ran");
    assert!(
        other.is_empty(),
        "S3 requests failed outside the kill and the restart: {other:#?}"
    );
    assert!(
        osis_failed.is_empty(),
        "OSIS requests failed after retry-once: {osis_failed:#?}"
    );

    // 0 provisioning intents lost: the store drains, and RGW holds exactly the store's users
    tokio::task::block_in_place(|| {
        wait_for("every intent completed", Duration::from_secs(60), || {
            pg.psql("osprey", "SELECT count(*) FROM pending_ops") == "0"
        })
    });
    let mut tenants = made_tenants.lock().unwrap().clone();
    tenants.push(t.clone());
    let mut want = BTreeSet::new();
    for tid in &tenants {
        let r = osis
            .admin(
                "GET",
                &format!("/api/v1/tenants/{tid}/users?limit=100"),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        for u in r.json()["items"].as_array().unwrap() {
            want.insert(rgw_uid(tid, u["user_id"].as_str().unwrap()));
        }
    }
    let prefixes: BTreeSet<String> = tenants
        .iter()
        .map(|t| format!("{}$", osprey::backend::ceph_rgw::rgw_tenant(t)))
        .collect();
    let have: BTreeSet<String> = rgw_users()
        .into_iter()
        .filter(|u| prefixes.iter().any(|p| u.starts_with(p.as_str())))
        .collect();
    let orphans: Vec<&String> = have.difference(&want).collect();
    let missing: Vec<&String> = want.difference(&have).collect();
    println!(
        "after the drill: {} tenants, {} users in the store, {} on RGW, {} orphans, {} missing",
        tenants.len(),
        want.len(),
        have.len(),
        orphans.len(),
        missing.len()
    );
    if !orphans.is_empty() {
        // what each replica logged about the orphans' tenants, to tell which path made them
        for o in &orphans {
            let rgw_tenant = o.split('$').next().unwrap();
            let tid = tenants
                .iter()
                .find(|t| osprey::backend::ceph_rgw::rgw_tenant(t) == rgw_tenant)
                .unwrap();
            for (i, r) in replicas.iter().enumerate() {
                for line in r.logs().lines().filter(|l| l.contains(tid.as_str())) {
                    println!("r{i}: {line}");
                }
            }
        }
    }
    assert!(
        orphans.is_empty(),
        "RGW users the store does not have: {orphans:?}"
    );
    assert!(
        missing.is_empty(),
        "store users RGW does not have: {missing:?}"
    );
    // exactly one replica runs the reconciler at the end
    let leaders: f64 = replicas
        .iter()
        .map(|r| metric(r, "osprey_reconciler_leader").unwrap_or(0.0))
        .sum();
    assert_eq!(leaders, 1.0);
    replicas.clear();
}

// ---------------------------------------------------------------------------------------------
// the two reconciler races the drill found, reproduced deterministically (library level, one
// process, the real RGW)

/// Before the drill's fixes a reconciler pass (1) applied an intent its OSIS call was still
/// applying — two concurrent writes to one RGW user, answered `500 UnknownError` — and (2) ran a
/// deletion's intent while the deleted user was still in the store: it made RGW match the row
/// (re-created the user), finished the intent, and the row's removal a moment later left an
/// orphan. With the lane's two checks (`inline_claimed`, `deletion_pending`) taken out this test
/// fails: the pass runs both intents (`both intents wait`: left 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciler_leaves_inline_and_uncommitted_deletion_intents_alone() {
    use osprey::provision::{Intent, Provisioner};
    use osprey::proxy::directory::{CachedDirectory, StoreDirectory};
    use osprey::proxy::{SharedSnapshot, Snapshot};
    use osprey::store::{NewTenant, NewUser};

    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[server]\ndata_dir = \"{}\"\nosis_listen = \"127.0.0.1:1\"\ns3_listen = \"127.0.0.1:2\"\n[osis]\nadmin_access_key = \"test-admin\"\nadmin_secret_key = \"test-admin-secret\"\n[[backends]]\nname = \"ceph\"\nkind = \"ceph-rgw\"\nendpoint = \"{}\"\naccess_key = \"ADMINKEY\"\nsecret_key = \"ADMINSECRET\"\nregion = \"default\"\ntimeout_ms = 2000\n[routing]\ndefault_table = \"standard\"\n[routing.tables.standard]\nrules = [ {{ buckets = \"*\", backend = \"ceph\" }} ]\n",
        dir.path().join("data").display(),
        real::ceph_rgw()
    );
    let cfg =
        osprey::config::Config::from_toml_str(&text, "t.toml", &osprey::config::Env::default())
            .unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(&cfg.server.data_dir).unwrap();
    let (store, _) = osprey::server::wiring::open_store(&cfg).await.unwrap();
    let backends = osprey::backend::factory::build_backends(&cfg)
        .await
        .unwrap();
    let snapshot: SharedSnapshot = Arc::new(arc_swap::ArcSwap::from_pointee(Snapshot {
        config: Arc::new(cfg.clone()),
        routing: osprey::routing::Routing::compile(&cfg.routing),
        backends,
        generation: 1,
    }));
    let directory = Arc::new(CachedDirectory::new(Arc::new(StoreDirectory {
        store: store.clone(),
    })));
    let p = Provisioner::new(store.clone(), snapshot, directory);
    let t = store
        .create_tenant(NewTenant {
            name: "races".into(),
            active: true,
            cd_tenant_ids: vec!["races-org".into()],
        })
        .await
        .unwrap();
    let tid = t.tenant_id.clone();
    for u in ["early", "claimed"] {
        store
            .create_user(
                &tid,
                NewUser {
                    user_id: u.into(),
                    username: u.into(),
                    email: None,
                    role: "TENANT_USER".into(),
                    cd_user_id: u.into(),
                    cd_tenant_id: "races-org".into(),
                    active: true,
                },
            )
            .await
            .unwrap();
    }
    let user_intent = |u: &str, delete: bool| Intent::User {
        tenant_id: tid.clone(),
        user_id: u.into(),
        display_name: u.into(),
        purge: delete,
        backend_user: delete.then(|| rgw_uid(&tid, u)),
        access_key: None,
        delete,
    };
    // (2) the deletion of `early` wrote its intent; the user row is still there
    store
        .push_pending(
            "ceph",
            &serde_json::to_string(&user_intent("early", true)).unwrap(),
        )
        .await
        .unwrap();
    // (1) an OSIS call is applying the creation of `claimed` itself (fan_out marks it inline)
    let mut inline = serde_json::to_value(user_intent("claimed", false)).unwrap();
    inline["inline"] = serde_json::Value::Bool(true);
    store
        .push_pending("ceph", &inline.to_string())
        .await
        .unwrap();

    let left = p.reconcile().await.unwrap();
    assert_eq!(left, 2, "both intents wait");
    let users = rgw_users();
    assert!(
        !users.contains(&rgw_uid(&tid, "early")),
        "the pass re-created the user being deleted"
    );
    assert!(
        !users.contains(&rgw_uid(&tid, "claimed")),
        "the pass ran the OSIS call's own intent"
    );
    for op in store.pending().await.unwrap() {
        assert_eq!(op.attempts, 0, "waiting is not failing: {op:?}");
    }

    // the deletion commits: the next pass completes it (nothing to remove on RGW: 404 is done)
    store.delete_user(&tid, "early").await.unwrap();
    assert_eq!(
        p.reconcile().await.unwrap(),
        1,
        "only the claimed intent is left"
    );
    assert!(!rgw_users().contains(&rgw_uid(&tid, "early")));
    // a failed inline attempt hands the intent to the reconciler at once
    let claimed = store.pending().await.unwrap().remove(0);
    store.fail_pending(claimed.id, "RGW down").await.unwrap();
    assert_eq!(p.reconcile().await.unwrap(), 0);
    assert!(
        rgw_users().contains(&rgw_uid(&tid, "claimed")),
        "created by the reconciler"
    );
    // clean up RGW
    let _ = real::radosgw_admin(&["user", "rm", "--uid", &rgw_uid(&tid, "claimed")]);
}

/// A multipart upload created through one replica with an ACL and completed through another
/// gets that ACL (issue 15: the ACL used to wait in the creating replica's memory, so the object
/// came out `private`). On the `s3` kind, where Osprey is the decision point for one service
/// identity on RGW.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_acl_survives_another_replica() {
    let pg = Postgres::start();
    pg.create_database("osprey");
    real::ceph_rgw();
    let cfg = common::LOCAL_CONFIG
        .replace(
            "[[backends]]\nname = \"local\"\nkind = \"local\"\n",
            "[[backends]]\nname = \"ceph\"\nkind = \"s3\"\nendpoint = \"http://127.0.0.1:7480\"\naccess_key = \"ADMINKEY\"\nsecret_key = \"ADMINSECRET\"\nregion = \"default\"\n",
        )
        .replace("backend = \"local\"", "backend = \"ceph\"")
        .replace("level = \"debug\"", "level = \"info\"")
        + &format!(
            "[store]\nkind = \"postgres\"\nurl = \"{}\"\nsslmode = \"disable\"\npool_size = 4\n",
            pg.url("osprey")
        );
    let env = vec![("OSPREY_MASTER_KEY".to_string(), MASTER_KEY.to_string())];
    let r1 = Osprey::start_with_env(&cfg, env.clone());
    let r2 = Osprey::start_with_env(&cfg, env);
    let osis = Osis::new(r1.osis());
    let t = osis.tenant("mpu-t", "mpu-org").await;
    let (_, ak, sk) = osis.user(&t, "mpu-org", "alice").await;
    let s1 = common::s3_client(&r1.s3(), &ak, &sk, "us-east-1");
    let s2 = common::s3_client(&r2.s3(), &ak, &sk, "us-east-1");
    let bucket = format!("mpu-{}", &t[1..9]);
    s1.create_bucket().bucket(&bucket).send().await.unwrap();
    let up = s1
        .create_multipart_upload()
        .bucket(&bucket)
        .key("obj")
        .acl(aws_sdk_s3::types::ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let part = s2
        .upload_part()
        .bucket(&bucket)
        .key("obj")
        .upload_id(id)
        .part_number(1)
        .body(aws_sdk_s3::primitives::ByteStream::from_static(
            b"through two replicas",
        ))
        .send()
        .await
        .unwrap();
    s2.complete_multipart_upload()
        .bucket(&bucket)
        .key("obj")
        .upload_id(id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .parts(
                    aws_sdk_s3::types::CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let acl = s1
        .get_object_acl()
        .bucket(&bucket)
        .key("obj")
        .send()
        .await
        .unwrap();
    let public = acl.grants().iter().any(|g| {
        g.grantee().and_then(|e| e.uri()) == Some("http://acs.amazonaws.com/groups/global/AllUsers")
            && g.permission() == Some(&aws_sdk_s3::types::Permission::Read)
    });
    assert!(
        public,
        "public-read asked at CreateMultipartUpload on replica 1, completed on replica 2: {acl:?}"
    );
    // and anonymous GET works on either replica
    let h = host(&r1.s3());
    let got = raw::send(&h, &Req::new("GET", &h, &format!("/{bucket}/obj")));
    assert_eq!(got.status, 200, "{}", got.summary());
    assert_eq!(got.body, b"through two replicas");
    // the upload's record is gone with the completion
    assert_eq!(
        pg.psql(
            "osprey",
            "SELECT count(*) FROM object_access WHERE key LIKE '../upload/%'"
        ),
        "0"
    );
    for k in ["obj"] {
        let _ = s1.delete_object().bucket(&bucket).key(k).send().await;
    }
    let _ = s1.delete_bucket().bucket(&bucket).send().await;
}
