//! Load benchmark (issue 6, part 2): what Osprey costs on the data path, measured in one run
//! against direct access to the backend and against nginx as a plain reverse proxy.
//!
//! One command:
//!
//! ```sh
//! cargo bench --bench load                 # full run (~10 min), writes docs/perf/
//! cargo bench --bench load -- --quick      # short run (~3 min), writes <target>/release/load-bench/
//! cargo bench --bench load -- --profile    # perf record of Osprey under GET 4 KiB and aws-chunked PUT
//! cargo bench --bench load -- --store      # Osprey on SQLite vs on PostgreSQL (issue 15, ~6 min)
//! cargo bench --bench load -- --store --control   # the same with SQLite twice: the noise floor
//! OSPREY_LOAD_A=/tmp/osprey-before cargo bench --bench load -- --ab   # before/after (~4 min)
//! cargo bench --bench load -- --floor      # Osprey vs a bare pingora proxy vs nginx (~4 min)
//! cargo bench --bench load -- --memory     # Osprey's RSS phase by phase (~1 min)
//! ```
//! (`OSPREY_LOAD=quick|full|profile` does the same as the flags; `OSPREY_LOAD_OUT=DIR` overrides
//! the output directory.)
//!
//! What runs, all on 127.0.0.1 and on the same cores:
//! * the **sink**: this binary re-executed as `__sink`, a hyper S3 sink/source (no auth, no
//!   storage; see `sink.rs`): the fast backend that isolates the proxy's cost;
//! * **Osprey**: the release `osprey` binary (`CARGO_BIN_EXE_osprey`) with a generated config:
//!   backend `sink` (kind `s3` → the sink) and, if a Ceph RGW answers on 127.0.0.1:7480 (keys
//!   ADMINKEY/ADMINSECRET, `backends/ceph-rgw/start.sh`), backend `ceph` (kind `s3` → RGW);
//!   a tenant, user and key created through its OSIS API;
//! * **nginx** (Debian package, `apt-get install -y nginx`): a plain reverse proxy with a
//!   generated config in a temp dir, run as a non-daemon process started and stopped by PID;
//! * the **client**: this process (tokio + hyper client connections, Osprey's own SigV4 signing).
//!
//! For each workload the same requests go `direct` (client → backend), through `osprey` and
//! through `nginx`, interleaved, and the client measures req/s, MB/s and latency percentiles while
//! /proc gives the CPU seconds and peak RSS (VmHWM, reset per run through clear_refs) of the proxy.

mod client;
mod floor;
mod procs;
#[path = "../../tests/real/mod.rs"]
mod real;
mod sink;
mod svg;

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use client::{Bodies, Measured, Op, Pace, Payload, Req, ReqBody, Target};
use osprey::s3::sigv4::{self, EMPTY_SHA256_HEX};
use procs::Group;

/// The allocator the `osprey` binary runs with (`src/main.rs`): the bare pingora proxy of
/// `--floor` (this binary re-executed, `floor.rs`) must not pay glibc's malloc where Osprey pays
/// mimalloc's. The client and the sink run on it too, the same for every target.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// (seconds, RSS MiB, CPU s, bytes moved, MB/s) sampled during a big transfer.
type RssSample = (f64, f64, f64, u64, f64);

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * 1024 * 1024;
const RGW: &str = "127.0.0.1:7480";
const RGW_AK: &str = "ADMINKEY";
const RGW_SK: &str = "ADMINSECRET";
const CHUNK: usize = 64 * 1024;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Quick,
    Full,
    Profile,
    /// The same Osprey on the SQLite and on the PostgreSQL store (issue 15: the cached hot path
    /// must not care), GET/PUT 4 KiB to the sink.
    Store,
    /// Two builds of Osprey side by side with nginx (issue 13's before/after figures).
    Ab,
    /// Osprey, a bare pingora proxy shaped like Osprey's listener, and nginx (issue 13: what is
    /// Osprey's code and what is the framework's).
    Floor,
    /// Osprey alone in front of the sink, its RSS read after each phase (issue 13: what holds
    /// memory after the 64-connection rows and during the big streams).
    Memory,
}

struct Plan {
    warmup: Duration,
    window: Duration,
    large_window: Duration,
    conc: Vec<usize>,
    large_conc: Vec<usize>,
    rgw_conc: Vec<usize>,
    rgw_window: Duration,
    big: u64,
}

impl Plan {
    fn of(mode: Mode) -> Plan {
        match mode {
            Mode::Full => Plan {
                warmup: Duration::from_secs(1),
                window: Duration::from_secs(8),
                large_window: Duration::from_secs(6),
                conc: vec![1, 4, 16, 64],
                large_conc: vec![1, 4],
                rgw_conc: vec![1, 16],
                rgw_window: Duration::from_secs(5),
                big: 5 * GIB,
            },
            Mode::Store | Mode::Ab | Mode::Floor | Mode::Memory => Plan {
                warmup: Duration::from_secs(1),
                window: Duration::from_secs(5),
                large_window: Duration::from_secs(2),
                conc: vec![1, 16, 64],
                large_conc: vec![1],
                rgw_conc: vec![16],
                rgw_window: Duration::from_secs(2),
                big: GIB,
            },
            Mode::Quick | Mode::Profile => Plan {
                warmup: Duration::from_millis(500),
                window: Duration::from_secs(2),
                large_window: Duration::from_secs(2),
                conc: vec![1, 4, 16, 64],
                large_conc: vec![1],
                rgw_conc: vec![16],
                rgw_window: Duration::from_secs(2),
                big: GIB,
            },
        }
    }
}

/// One measured run.
#[derive(Clone, Debug)]
struct Row {
    backend: &'static str,
    workload: String,
    conc: usize,
    via: &'static str,
    m: Measured,
    /// CPU seconds of the proxy (Osprey, or nginx master + workers) during the window.
    proxy_cpu: f64,
    sink_cpu: f64,
    client_cpu: f64,
    /// Context switches of the proxy's threads during the window.
    proxy_ctx: u64,
    /// Busy CPU seconds of the whole machine during the window (/proc/stat).
    machine_cpu: f64,
    /// How many times the run was made (a disturbed run is repeated).
    attempts: u32,
    /// VmHWM of the proxy at the end of the run (reset at the start of the window), MiB.
    proxy_hwm_mib: f64,
}

impl Row {
    /// CPU seconds the rest of the machine used during the window (loopback softirq work not
    /// charged to a process, plus anything else running).
    fn other_cpu(&self) -> f64 {
        (self.machine_cpu - self.client_cpu - self.sink_cpu - self.proxy_cpu).max(0.0)
    }

    fn ctx_per_req(&self) -> f64 {
        if self.m.requests == 0 {
            f64::NAN
        } else {
            self.proxy_ctx as f64 / self.m.requests as f64
        }
    }

    fn cpu_us_per_req(&self) -> f64 {
        if self.m.requests == 0 {
            f64::NAN
        } else {
            self.proxy_cpu * 1e6 / self.m.requests as f64
        }
    }
}

struct Env {
    plan: Plan,
    bodies: Arc<Bodies>,
    sink_group: Group,
    osprey_group: Group,
    nginx_group: Option<Group>,
    /// The second Osprey of a two-Osprey run: `--store`'s on PostgreSQL, `--ab`'s B.
    pg_group: Option<Group>,
    sink_targets: Vec<Target>,
    rgw_targets: Vec<Target>,
    rows: Vec<Row>,
    hwm_reset_ok: bool,
}

/// The mean of `f` over `rows` (0 for none).
fn mean(rows: &[&Row], f: impl Fn(&Row) -> f64) -> f64 {
    rows.iter().map(|r| f(r)).sum::<f64>() / rows.len().max(1) as f64
}

impl Env {
    /// The sink behind two proxies measured side by side (their PIDs: the first as `osprey`,
    /// the second as `osprey-b` / `pingora`) and nginx: `--ab`'s and `--floor`'s setup.
    fn two_proxies(
        plan: Plan,
        sink: u32,
        [first, second]: [u32; 2],
        nginx: Option<Group>,
        targets: Vec<Target>,
    ) -> Env {
        Env {
            plan,
            bodies: Arc::new(Bodies::new(&[4 * KIB], &[CHUNK])),
            sink_group: Group { pids: vec![sink] },
            hwm_reset_ok: false,
            osprey_group: Group { pids: vec![first] },
            nginx_group: nginx,
            pg_group: Some(Group { pids: vec![second] }),
            sink_targets: targets,
            rgw_targets: Vec::new(),
            rows: Vec::new(),
        }
    }

    /// The measured runs of one target, workload and connection count (one per round).
    fn rows_of(&self, via: &str, workload: &str, conc: usize) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|p| p.via == via && p.workload == workload && p.conc == conc)
            .collect()
    }

    fn proxy_group(&self, via: &str) -> Group {
        match via {
            "osprey" => self.osprey_group.clone(),
            "osprey-pg" | "osprey-b" | "pingora" => self.pg_group.clone().unwrap_or_default(),
            "nginx" => self.nginx_group.clone().unwrap_or_default(),
            _ => Group::default(),
        }
    }

    /// Runs one workload against every target of `backend`, interleaved.
    async fn scenario(
        &mut self,
        backend: &'static str,
        workload: &str,
        op: Op,
        conc: usize,
        pace: Pace,
        window: Duration,
    ) {
        let targets = if backend == "sink" {
            self.sink_targets.clone()
        } else {
            self.rgw_targets.clone()
        };
        for t in targets {
            let mut best: Option<Row> = None;
            let mut tries = 0;
            for attempt in 1..=ATTEMPTS {
                tries = attempt;
                wait_quiet().await;
                let proxy = self.proxy_group(t.via);
                let sinkg = if backend == "sink" {
                    self.sink_group.clone()
                } else {
                    Group::default()
                };
                let snaps: Arc<Mutex<Vec<RssSample>>> = Arc::new(Mutex::new(Vec::new()));
                let s2 = snaps.clone();
                let p2 = proxy.clone();
                let me = std::process::id();
                let at_window = move |start: bool| {
                    if start {
                        p2.reset_hwm();
                    }
                    s2.lock().expect("lock").push((
                        p2.cpu(),
                        sinkg.cpu(),
                        procs::cpu_secs(me),
                        p2.ctx_switches(),
                        procs::machine_busy_secs(),
                    ));
                };
                let m = client::run(
                    Arc::new(t.clone()),
                    op,
                    conc,
                    pace,
                    self.plan.warmup,
                    window,
                    self.bodies.clone(),
                    at_window,
                )
                .await;
                let s = snaps.lock().expect("lock").clone();
                let (a, b) = (s[0], s[s.len() - 1]);
                let row = Row {
                    backend,
                    workload: workload.to_string(),
                    conc,
                    via: t.via,
                    proxy_cpu: b.0 - a.0,
                    sink_cpu: b.1 - a.1,
                    client_cpu: b.2 - a.2,
                    proxy_ctx: b.3.saturating_sub(a.3),
                    machine_cpu: b.4 - a.4,
                    proxy_hwm_mib: proxy.hwm_kib() as f64 / 1024.0,
                    attempts: 1,
                    m,
                };
                let other = row.other_cpu();
                eprintln!(
                "  {:<5} {:<34} c={:<3} {:<6} {:>9.0} req/s {:>8.1} MB/s  p50 {:>7.3} ms  p99 {:>7.3} ms  other CPU {:>5.2} s  err {}{}",
                backend,
                workload,
                conc,
                t.via,
                row.m.rps(),
                row.m.mbps(),
                row.m.pct(0.5),
                row.m.pct(0.99),
                other,
                row.m.errors,
                row.m
                    .first_error
                    .as_ref()
                    .map(|e| format!(" ({})", e.chars().take(200).collect::<String>()))
                    .unwrap_or_default()
            );
                let disturbed = backend == "sink" && other > DISTURBED_CORES * row.m.secs;
                let better = best.as_ref().is_none_or(|b| other < b.other_cpu());
                if better {
                    best = Some(row);
                }
                if !disturbed {
                    break;
                }
                if attempt < ATTEMPTS {
                    eprintln!("        disturbed: {other:.2} CPU s used outside the bench during the window; running it again");
                }
            }
            if let Some(mut row) = best {
                row.attempts = tries;
                self.rows.push(row);
            }
        }
    }
}

/// A run is repeated (up to [`ATTEMPTS`] times, the least disturbed one kept) when the rest of the
/// machine used more than this many cores on average during its window.
const DISTURBED_CORES: f64 = 0.15;
const ATTEMPTS: u32 = 3;

/// Waits (up to 60 s) until the machine is idle apart from the processes under test, which are idle
/// between runs: less than 0.3 cores busy over half a second.
async fn wait_quiet() {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let a = procs::machine_busy_secs();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let busy = (procs::machine_busy_secs() - a) / 0.5;
        if busy < 0.3 || Instant::now() > deadline {
            return;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

fn rgw_up() -> bool {
    TcpStream::connect_timeout(&RGW.parse().expect("addr"), Duration::from_millis(500)).is_ok()
}

async fn one(t: &Target, r: Req) -> client::Resp {
    let mut c = client::connect(t.addr).await.expect("connect");
    client::send(&mut c, client::build(t, r), true)
        .await
        .expect("request")
}

fn put_req(bucket_path: &str, size: u64) -> Req {
    Req {
        method: "PUT",
        path: bucket_path.to_string(),
        query: String::new(),
        payload_hash: sigv4::UNSIGNED_PAYLOAD.into(),
        body: ReqBody::Pattern { remaining: size },
        extra: vec![("content-length", size.to_string())],
    }
}

async fn create_bucket(t: &Target) {
    let r = one(
        t,
        Req {
            method: "PUT",
            path: format!("/{}", t.bucket),
            query: String::new(),
            payload_hash: EMPTY_SHA256_HEX.into(),
            body: ReqBody::Empty,
            extra: vec![("content-length", "0".into())],
        },
    )
    .await;
    let text = r
        .body
        .as_ref()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    assert!(
        r.status < 300
            || text.contains("BucketAlreadyOwnedByYou")
            || text.contains("BucketAlreadyExists"),
        "create bucket {} via {}: {} {text}",
        t.bucket,
        t.via,
        r.status
    );
}

/// OSIS: tenant, user, and the user's first S3 credential.
async fn onboard(osis: SocketAddr) -> (String, String) {
    let http = reqwest::Client::new();
    let base = format!("http://{osis}/api/v1");
    let tenant: serde_json::Value = http
        .post(format!("{base}/tenants"))
        .basic_auth(procs::ADMIN_AK, Some(procs::ADMIN_SK))
        .json(&serde_json::json!({"name": "bench", "active": true, "cd_tenant_ids": ["bench-org"]}))
        .send()
        .await
        .expect("createTenant")
        .json()
        .await
        .expect("tenant json");
    let tid = tenant["tenant_id"].as_str().expect("tenant_id").to_string();
    let user: serde_json::Value = http
        .post(format!("{base}/tenants/{tid}/users"))
        .basic_auth(procs::ADMIN_AK, Some(procs::ADMIN_SK))
        .json(&serde_json::json!({"tenant_id": tid, "active": true, "username": "bench", "role": "TENANT_ADMIN", "cd_user_id": "bench-user", "cd_tenant_id": "bench-org"}))
        .send()
        .await
        .expect("createUser")
        .json()
        .await
        .expect("user json");
    let uid = user["user_id"].as_str().expect("user_id").to_string();
    let creds: serde_json::Value = http
        .get(format!("{base}/tenants/{tid}/users/{uid}/s3credentials"))
        .basic_auth(procs::ADMIN_AK, Some(procs::ADMIN_SK))
        .send()
        .await
        .expect("listCredentials")
        .json()
        .await
        .expect("creds json");
    (
        creds["items"][0]["access_key"]
            .as_str()
            .expect("access_key")
            .to_string(),
        creds["items"][0]["secret_key"]
            .as_str()
            .expect("secret_key")
            .to_string(),
    )
}

/// Machine facts for the report.
fn machine() -> Vec<(String, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    let flags = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .unwrap_or_default();
    let mhz = cpuinfo
        .lines()
        .find(|l| l.starts_with("cpu MHz"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|k| format!("{:.1} GiB", k as f64 / 1024.0 / 1024.0))
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let osprey = std::process::Command::new(env!("CARGO_BIN_EXE_osprey"))
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    vec![
        (
            "nproc".into(),
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0)
                .to_string(),
        ),
        (
            "CPU".into(),
            format!(
                "{model} @ {mhz} MHz (sha_ni: {}, avx2: {})",
                flags.contains(" sha_ni"),
                flags.contains(" avx2")
            ),
        ),
        ("memory".into(), mem),
        ("kernel".into(), kernel.trim().to_string()),
        (
            "load average at start (1/5/15 min)".into(),
            std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
        ),
        ("osprey".into(), osprey),
        (
            "nginx".into(),
            procs::nginx_version().unwrap_or_else(|| "not installed".into()),
        ),
    ]
}

/// The gateway's per-request signature work (as `benches/data_path.rs` `gateway_head`), timed here
/// so that one command reports every goal. Returns µs per request.
/// The goal's row: judged on criterion's median for `gateway_head` (the goal names criterion)
/// when `cargo bench --bench data_path` has left one in this target directory, with the file's
/// date so a stale figure shows; otherwise on this binary's in-process loop, marked as such.
fn verify_resign_row(in_process_us: f64) -> String {
    match criterion_gateway_us() {
        Some((us, when)) => format!(
            "| header-signed verify + re-sign ≤ 5 µs (criterion) | criterion median **{us:.2} µs** (`cargo bench --bench data_path -- gateway_head`, estimate of {when}); this binary's in-process loop {in_process_us:.2} µs | {} |",
            verdict(Some(us <= 5.0))
        ),
        None => format!(
            "| header-signed verify + re-sign ≤ 5 µs (criterion) | {in_process_us:.2} µs in this binary's in-process loop; no criterion estimate here (run `cargo bench --bench data_path -- gateway_head`) | {} |",
            verdict(Some(in_process_us <= 5.0))
        ),
    }
}

/// Criterion's median for "verify + re-sign (header-signed GET)", in µs, and the UTC date of
/// its estimate file.
fn criterion_gateway_us() -> Option<(f64, String)> {
    // <target>/release/deps/load-… → <target>/criterion/…
    let target = std::env::current_exe()
        .ok()?
        .parent()?
        .parent()?
        .parent()?
        .to_path_buf();
    let path = target
        .join("criterion/gateway_head/verify + re-sign (header-signed GET)/new/estimates.json");
    let text = std::fs::read_to_string(&path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let ns = v.get("median")?.get("point_estimate")?.as_f64()?;
    let when: chrono::DateTime<chrono::Utc> =
        std::fs::metadata(&path).ok()?.modified().ok()?.into();
    Some((ns / 1000.0, when.format("%Y-%m-%d %H:%M UTC").to_string()))
}

fn verify_resign_us() -> f64 {
    use osprey::backend::SigningKey;
    use osprey::proxy::upstream;
    use osprey::s3::sigv4::{RequestParts, SigningParams};
    let now = chrono::Utc::now();
    let amz = sigv4::format_amz_date(&now);
    let mut h: Vec<(String, String)> = vec![
        ("host".into(), "s3.osprey.example:9000".into()),
        (
            "user-agent".into(),
            "aws-sdk-rust/1.3.9 os/linux lang/rust/1.88.0".into(),
        ),
        (
            "x-amz-user-agent".into(),
            "aws-sdk-rust/1.3.9 api/s3/1.90.0 os/linux lang/rust/1.88.0 m/E".into(),
        ),
        (
            "amz-sdk-invocation-id".into(),
            "0b5c1a3e-0f0e-4a3b-9c55-3d0d4cde1f2a".into(),
        ),
        ("amz-sdk-request".into(), "attempt=1; max=3".into()),
        ("x-amz-date".into(), amz.clone()),
        ("x-amz-content-sha256".into(), EMPTY_SHA256_HEX.into()),
    ];
    let signed = [
        "amz-sdk-invocation-id",
        "amz-sdk-request",
        "host",
        "x-amz-content-sha256",
        "x-amz-date",
        "x-amz-user-agent",
    ];
    let (ak, sk) = (
        "OSPREYAKIDEXAMPLE000",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    );
    let path = "/photos/2026/03/holiday%20pic-0001.jpg";
    let (auth, _) = sigv4::authorization_header(
        &SigningParams {
            access_key: ak,
            secret_key: sk,
            region: "us-east-1",
            service: "s3",
            amz_date: &amz,
        },
        &RequestParts {
            method: "GET",
            raw_path: path,
            raw_query: "",
            headers: &h,
        },
        &signed,
        EMPTY_SHA256_HEX,
    )
    .expect("sign");
    h.push(("authorization".into(), auth));
    let mut req = pingora::http::RequestHeader::build("GET", path.as_bytes(), None).expect("head");
    for (n, v) in &h {
        req.append_header(n.clone(), v.as_str()).expect("header");
    }
    let key = SigningKey {
        access_key: "ADMINKEY".into(),
        secret_key: "ADMINSECRET".into(),
    };
    let once = || {
        let pairs: Vec<(String, String)> = req
            .headers
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let parts = RequestParts {
            method: req.method.as_str(),
            raw_path: req.uri.path(),
            raw_query: "",
            headers: &pairs,
        };
        let v = sigv4::verify(
            &parts,
            |k| (k == ak).then(|| sk.to_string()),
            now,
            sigv4::MAX_SKEW,
        )
        .expect("verify");
        let mut up = req.clone();
        let target = upstream::upstream_path_and_query(
            Some("t-0123456789abcdef-photos"),
            Some("2026/03/holiday pic-0001.jpg"),
            None,
        );
        up.set_uri(target.parse().expect("uri"));
        for d in &upstream::DROPPED_HEADERS {
            up.remove_header(d);
        }
        up.insert_header(http::header::HOST, "127.0.0.1:7480")
            .expect("host");
        let to_sign = upstream::headers_to_sign(&up);
        let pq = up
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .expect("pq");
        let s = sigv4::resign(
            &sigv4::Outgoing {
                method: "GET",
                path_and_query: &pq,
                headers: &to_sign,
                payload_hash: EMPTY_SHA256_HEX,
            },
            sigv4::Credentials {
                access_key: &key.access_key,
                secret_key: &key.secret_key,
            },
            "us-east-1",
            SystemTime::now(),
        )
        .expect("sign");
        for (n, val) in &s.headers {
            up.insert_header(*n, val.as_str()).expect("signed header");
        }
        std::hint::black_box((v, up));
    };
    for _ in 0..20_000 {
        once();
    }
    let n = 200_000;
    let t0 = Instant::now();
    for _ in 0..n {
        once();
    }
    t0.elapsed().as_secs_f64() * 1e6 / n as f64
}

/// One big transfer with the proxy's RSS sampled every 100 ms.
struct Big {
    label: String,
    via: &'static str,
    secs: f64,
    bytes: u64,
    ok: Result<(), String>,
    rss_before_mib: f64,
    peak_mib: f64,
    series: Vec<(f64, u64)>,
}

async fn big_transfer(t: &Target, op: Op, label: &str, sampled: Group, bodies: &Bodies) -> Big {
    let before = sampled.rss_kib() as f64 / 1024.0;
    let sampler = procs::RssSampler::start(sampled, Duration::from_millis(100));
    let t0 = Instant::now();
    let r = async {
        let mut c = client::connect(t.addr).await.map_err(|e| e.to_string())?;
        client::execute(&mut c, t, op, bodies, 0).await
    }
    .await;
    let secs = t0.elapsed().as_secs_f64();
    let (peak, series) = sampler.finish();
    eprintln!(
        "  big   {label:<34} {:<6} {:>8.1} MB/s  peak RSS {:.1} MiB {}",
        t.via,
        op.bytes() as f64 / secs / 1e6,
        peak as f64 / 1024.0,
        r.as_ref().err().cloned().unwrap_or_default()
    );
    Big {
        label: label.to_string(),
        via: t.via,
        secs,
        bytes: op.bytes(),
        ok: r.map(|_| ()),
        rss_before_mib: before,
        peak_mib: peak as f64 / 1024.0,
        series,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("__sink") {
        let threads = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(2);
        sink::run(threads);
    }
    if args.first().map(String::as_str) == Some("__pingora") {
        let port = args
            .get(1)
            .and_then(|s| s.parse().ok())
            .expect("backend port");
        let threads = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2);
        floor::run(port, threads);
    }
    let env_mode = std::env::var("OSPREY_LOAD").unwrap_or_default();
    let has = |f: &str| {
        args.iter()
            .any(|a| a == f || a == f.trim_start_matches('-'))
    };
    let mode = if has("--ab") || env_mode == "ab" {
        Mode::Ab
    } else if has("--floor") || env_mode == "floor" {
        Mode::Floor
    } else if has("--store") || env_mode == "store" {
        Mode::Store
    } else if has("--memory") || env_mode == "memory" {
        Mode::Memory
    } else if has("--profile") || env_mode == "profile" {
        Mode::Profile
    } else if has("--quick") || env_mode == "quick" {
        Mode::Quick
    } else {
        Mode::Full
    };
    let out = std::env::var_os("OSPREY_LOAD_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            if mode == Mode::Full {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/perf")
            } else {
                std::env::current_exe()
                    .ok()
                    .and_then(|p| Some(p.parent()?.parent()?.join("load-bench")))
                    .unwrap_or_else(|| PathBuf::from("load-bench"))
            }
        });
    std::fs::create_dir_all(&out).expect("output dir");
    // the client gets as many runtime threads as the machine has cores; so do the sink and Osprey
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .enable_all()
        .thread_name("client")
        .build()
        .expect("runtime");
    if mode == Mode::Store {
        rt.block_on(store_main(out, cores, has("--control")));
        return;
    }
    if mode == Mode::Ab {
        rt.block_on(ab_main(out, cores));
        return;
    }
    if mode == Mode::Floor {
        rt.block_on(floor_main(out, cores));
        return;
    }
    if mode == Mode::Memory {
        rt.block_on(memory_main(out, cores));
        return;
    }
    rt.block_on(real_main(mode, out, cores));
}

async fn real_main(mode: Mode, out: PathBuf, cores: usize) {
    let started = Instant::now();
    let plan = Plan::of(mode);
    eprintln!("osprey load bench: mode {mode:?}, output {}", out.display());
    let machine = machine();
    for (k, v) in &machine {
        eprintln!("  {k}: {v}");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sink = procs::Sink::start(cores);
    let rgw = rgw_up();
    if !rgw {
        eprintln!("  no Ceph RGW on {RGW}: RGW workloads skipped (start it: bash backends/ceph-rgw/start.sh /tmp/ceph-rgw)");
    }
    let mut osprey = procs::Osprey::start(
        dir.path(),
        sink.addr,
        rgw.then_some((&*format!("http://{RGW}"), RGW_AK, RGW_SK)),
    );
    let (ak, sk) = onboard(osprey.osis).await;
    let mut nginx = procs::Nginx::start(dir.path(), sink.addr, rgw.then_some(RGW));
    if nginx.is_none() {
        eprintln!("  nginx not available: nginx rows skipped (apt-get install -y nginx)");
    }

    let mut sink_targets = vec![
        Target {
            via: "direct",
            addr: sink.addr,
            host: sink.addr.to_string(),
            bucket: "bench".into(),
            access_key: "SINKACCESSKEY".into(),
            secret_key: "SINKSECRETKEY".into(),
        },
        Target {
            via: "osprey",
            addr: osprey.s3,
            host: osprey.s3.to_string(),
            bucket: "bench".into(),
            access_key: ak.clone(),
            secret_key: sk.clone(),
        },
    ];
    if let Some(n) = &nginx {
        sink_targets.push(Target {
            via: "nginx",
            addr: n.sink,
            host: n.sink.to_string(),
            bucket: "bench".into(),
            access_key: "SINKACCESSKEY".into(),
            secret_key: "SINKSECRETKEY".into(),
        });
    }
    let mut rgw_targets = Vec::new();
    if rgw {
        let rgw_addr: SocketAddr = RGW.parse().expect("addr");
        rgw_targets.push(Target {
            via: "direct",
            addr: rgw_addr,
            host: RGW.into(),
            bucket: "osprey-bench-direct".into(),
            access_key: RGW_AK.into(),
            secret_key: RGW_SK.into(),
        });
        rgw_targets.push(Target {
            via: "osprey",
            addr: osprey.s3,
            host: osprey.s3.to_string(),
            bucket: "rgw-bench".into(),
            access_key: ak.clone(),
            secret_key: sk.clone(),
        });
        if let Some(a) = nginx.as_ref().and_then(|n| n.rgw) {
            rgw_targets.push(Target {
                via: "nginx",
                addr: a,
                host: RGW.into(),
                bucket: "osprey-bench-direct".into(),
                access_key: RGW_AK.into(),
                secret_key: RGW_SK.into(),
            });
        }
    }
    // buckets: through Osprey (records the placement; the sink or RGW gets `<tenant>-<bucket>`)
    create_bucket(&sink_targets[1]).await;

    let osprey_group = Group {
        pids: vec![osprey.child.id()],
    };
    let mut env = Env {
        plan,
        bodies: Arc::new(Bodies::new(&[4 * KIB], &[CHUNK])),
        sink_group: Group {
            pids: vec![sink.child.id()],
        },
        hwm_reset_ok: osprey_group.reset_hwm(),
        osprey_group,
        nginx_group: nginx.as_ref().map(|n| n.group()),
        pg_group: None,
        sink_targets,
        rgw_targets,
        rows: Vec::new(),
    };

    if mode == Mode::Profile {
        profile(&mut env, &osprey, &out).await;
    } else {
        run_all(&mut env, rgw).await;
        run_big(&env).await;
    }

    // stop everything we started, by PID
    if let Some(n) = nginx.as_mut() {
        n.stop();
    }
    let log_lines = std::fs::read_to_string(&osprey.log)
        .map(|s| s.lines().count())
        .unwrap_or(0);
    procs::stop(&mut osprey.child);
    let _ = sink.child.kill();
    let _ = sink.child.wait();
    if mode == Mode::Profile {
        return;
    }
    let micro = verify_resign_us();
    eprintln!("  verify + re-sign (in-process, header-signed GET): {micro:.2} µs");
    let report = report(
        &env,
        &machine,
        micro,
        mode,
        started.elapsed(),
        log_lines,
        cores,
    );
    std::fs::write(out.join("results.md"), &report).expect("write report");
    write_json(&env, &out.join("results.json"));
    plots(&env, &out);
    println!("{report}");
    eprintln!("report, JSON and plots written to {}", out.display());
}

async fn run_all(env: &mut Env, rgw: bool) {
    let plan_conc = env.plan.conc.clone();
    let large_conc = env.plan.large_conc.clone();
    let (w, lw) = (env.plan.window, env.plan.large_window);
    eprintln!("-- sink: 4 KiB GET / PUT");
    for &c in &plan_conc {
        env.scenario(
            "sink",
            "GET 4 KiB",
            Op::Get { size: 4 * KIB },
            c,
            Pace::Closed,
            w,
        )
        .await;
        env.scenario(
            "sink",
            "PUT 4 KiB (sha256)",
            Op::Put {
                size: 4 * KIB,
                payload: Payload::Sha256,
            },
            c,
            Pace::Closed,
            w,
        )
        .await;
    }
    eprintln!("-- sink: 64 MiB GET / PUT, multipart");
    for &c in &large_conc {
        env.scenario(
            "sink",
            "GET 64 MiB",
            Op::Get { size: 64 * MIB },
            c,
            Pace::Closed,
            lw,
        )
        .await;
        env.scenario(
            "sink",
            "PUT 64 MiB (unsigned)",
            Op::Put {
                size: 64 * MIB,
                payload: Payload::Unsigned,
            },
            c,
            Pace::Closed,
            lw,
        )
        .await;
        env.scenario(
            "sink",
            "PUT 64 MiB (aws-chunked 64 KiB)",
            Op::Put {
                size: 64 * MIB,
                payload: Payload::Chunked(CHUNK),
            },
            c,
            Pace::Closed,
            lw,
        )
        .await;
        env.scenario(
            "sink",
            "multipart 64 MiB (8 × 8 MiB)",
            Op::Multipart {
                parts: 8,
                part_size: 8 * MIB,
            },
            c,
            Pace::Closed,
            lw,
        )
        .await;
    }
    // half saturation: half of Osprey's best closed-loop 4 KiB GET rate, open loop, same rate
    // for every target
    let sat = env
        .rows
        .iter()
        .filter(|r| r.backend == "sink" && r.workload == "GET 4 KiB" && r.via == "osprey")
        .map(|r| r.m.rps())
        .fold(0.0, f64::max);
    let rate = (sat / 2.0).max(10.0);
    eprintln!("-- sink: GET 4 KiB open loop at {rate:.0} req/s (half of Osprey's saturation {sat:.0} req/s)");
    env.scenario(
        "sink",
        "GET 4 KiB @ half saturation",
        Op::Get { size: 4 * KIB },
        64,
        Pace::Rate(rate),
        w,
    )
    .await;

    if rgw {
        eprintln!("-- Ceph RGW");
        setup_rgw(env).await;
        let rw = env.plan.rgw_window;
        for &c in &env.plan.rgw_conc.clone() {
            env.scenario(
                "rgw",
                "GET 4 KiB",
                Op::Get { size: 4 * KIB },
                c,
                Pace::Closed,
                rw,
            )
            .await;
            env.scenario(
                "rgw",
                "PUT 4 KiB (sha256)",
                Op::Put {
                    size: 4 * KIB,
                    payload: Payload::Sha256,
                },
                c,
                Pace::Closed,
                rw,
            )
            .await;
        }
        env.scenario(
            "rgw",
            "GET 64 MiB",
            Op::Get { size: 64 * MIB },
            1,
            Pace::Closed,
            rw,
        )
        .await;
        env.scenario(
            "rgw",
            "PUT 64 MiB (unsigned)",
            Op::Put {
                size: 64 * MIB,
                payload: Payload::Unsigned,
            },
            1,
            Pace::Count(RGW_LARGE_PUTS),
            rw,
        )
        .await;
        env.scenario(
            "rgw",
            "PUT 64 MiB (aws-chunked 64 KiB)",
            Op::Put {
                size: 64 * MIB,
                payload: Payload::Chunked(CHUNK),
            },
            1,
            Pace::Count(RGW_LARGE_PUTS),
            rw,
        )
        .await;
        cleanup_rgw(env).await;
    }
}

/// Buckets (the Osprey one through Osprey, recording its placement) and the objects the RGW GETs
/// read, made just before the RGW runs.
async fn setup_rgw(env: &Env) {
    for t in env.rgw_targets.iter().filter(|t| t.via != "nginx") {
        create_bucket(t).await;
        for size in [4 * KIB, 64 * MIB] {
            let r = one(t, put_req(&format!("/{}/obj-{size}", t.bucket), size)).await;
            assert!(
                r.status < 300,
                "seed RGW object via {}: {}",
                t.via,
                r.status
            );
        }
    }
}

/// 64 MiB PUTs per target against the RGW: a fixed count, because RGW keeps the tail of every
/// overwritten object for garbage collection (2 h by default) and the test cluster's memstore is
/// only a few GiB.
const RGW_LARGE_PUTS: u64 = 4;

/// Deletes what the run wrote to the RGW (objects, then the buckets), then asks RGW to collect the
/// garbage now when `radosgw-admin` and the recipe's config are on this machine.
async fn cleanup_rgw(env: &Env) {
    let conc_max = env.plan.rgw_conc.iter().copied().max().unwrap_or(1);
    for t in env.rgw_targets.iter().filter(|t| t.via != "nginx") {
        let mut keys: Vec<String> = vec![format!("obj-{}", 4 * KIB), format!("obj-{}", 64 * MIB)];
        for w in 0..conc_max {
            keys.push(format!("put-w{w}-{}", 4 * KIB));
            keys.push(format!("put-w{w}-{}", 64 * MIB));
        }
        for k in keys {
            let _ = one(t, del_req(&format!("/{}/{k}", t.bucket))).await;
        }
        let r = one(t, del_req(&format!("/{}", t.bucket))).await;
        if r.status >= 300 {
            eprintln!(
                "  cleanup: DELETE bucket {} via {}: {}",
                t.bucket, t.via, r.status
            );
        }
    }
    let conf = std::path::Path::new("/tmp/ceph-rgw/ceph.conf");
    if conf.exists() {
        let st = std::process::Command::new("timeout")
            .args(["300", "radosgw-admin", "-c"])
            .arg(conf)
            .args(["gc", "process", "--include-all"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        eprintln!(
            "  cleanup: radosgw-admin gc process --include-all: {:?}",
            st.map(|s| s.code())
        );
    }
}

fn del_req(path: &str) -> Req {
    Req {
        method: "DELETE",
        path: path.to_string(),
        query: String::new(),
        payload_hash: EMPTY_SHA256_HEX.into(),
        body: ReqBody::Empty,
        extra: vec![],
    }
}

/// Big transfers (the RSS goal) are kept apart from the rows.
static BIGS: Mutex<Vec<Big>> = Mutex::new(Vec::new());

async fn run_big(env: &Env) {
    let big = env.plan.big;
    let gib = big as f64 / GIB as f64;
    eprintln!("-- {gib:.0} GiB streamed through Osprey, VmRSS sampled every 100 ms");
    let direct = env.sink_targets[0].clone();
    let osprey = env.sink_targets[1].clone();
    let bodies = Bodies::new(&[], &[CHUNK]);
    let mut res = Vec::new();
    let g = env.osprey_group.clone();
    for (label, op) in [
        (
            format!("PUT {gib:.0} GiB (unsigned)"),
            Op::Put {
                size: big,
                payload: Payload::Unsigned,
            },
        ),
        (
            format!("PUT {gib:.0} GiB (aws-chunked 64 KiB)"),
            Op::Put {
                size: big,
                payload: Payload::Chunked(CHUNK),
            },
        ),
        (format!("GET {gib:.0} GiB"), Op::Get { size: big }),
    ] {
        res.push(big_transfer(&direct, op, &label, env.sink_group.clone(), &bodies).await);
        res.push(big_transfer(&osprey, op, &label, g.clone(), &bodies).await);
    }
    BIGS.lock().expect("lock").extend(res);
}

async fn profile(env: &mut Env, osprey: &procs::Osprey, out: &std::path::Path) {
    let pid = osprey.child.id().to_string();
    let t = env.sink_targets[1].clone();
    // `OSPREY_LOAD_PROFILE_CONNS`: connections of the 4 KiB GET profile (default 16; 1 shows
    // the cold path of a request that finds its thread asleep)
    let get_conns = std::env::var("OSPREY_LOAD_PROFILE_CONNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16usize);
    for (name, op, conc, secs) in [
        ("get4k", Op::Get { size: 4 * KIB }, get_conns, 15u64),
        (
            "put64m-chunked",
            Op::Put {
                size: 64 * MIB,
                payload: Payload::Chunked(CHUNK),
            },
            2,
            15,
        ),
    ] {
        let data = out.join(format!("perf-{name}.data"));
        let mut perf = std::process::Command::new("perf");
        perf.args(["record", "-e", "cpu-clock", "-F", "499"])
            .args(["--call-graph", "dwarf,16384", "-p", &pid, "-o"])
            .arg(&data);
        let perf = spawn_perf(perf, secs, Duration::from_millis(300));
        let m = closed_load(env, &t, op, conc, secs).await;
        perf.finish();
        eprintln!(
            "  profiled {name}: {:.0} req/s, {:.1} MB/s",
            m.rps(),
            m.mbps()
        );
        for (suffix, extra) in [
            (
                "flat",
                vec!["--no-children", "--sort", "dso,symbol", "-g", "none"],
            ),
            (
                "children",
                vec!["--children", "--sort", "symbol", "-g", "none"],
            ),
        ] {
            let o = std::process::Command::new("perf")
                .args(["report", "--stdio", "--percent-limit", "0.7", "-i"])
                .arg(&data)
                .args(extra)
                .output()
                .expect("perf report");
            std::fs::write(out.join(format!("perf-{name}-{suffix}.txt")), o.stdout).expect("write");
        }
        eprintln!(
            "  wrote {}",
            out.join(format!("perf-{name}-flat.txt")).display()
        );
    }
}

fn fmt_ms(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else {
        format!("{v:.3}")
    }
}

fn find<'a>(
    env: &'a Env,
    backend: &str,
    workload: &str,
    conc: usize,
    via: &str,
) -> Option<&'a Row> {
    env.rows
        .iter()
        .find(|r| r.backend == backend && r.workload == workload && r.conc == conc && r.via == via)
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map(|v| format!("{v:.3}")).unwrap_or_else(|| "–".into())
}

/// Issue 13's goals, against nginx in the same run (after issue 6's, which compare with direct).
fn issue13_goals(o: &mut String, env: &Env, ups: &[&Big], rss_ok: Option<bool>, micro_us: f64) {
    let row = |b: &str, w: &str, c: usize, v: &str| find(env, b, w, c, v);
    let _ = writeln!(o, "## Goals of issue 13 (against nginx, same run)\n");
    let _ = writeln!(o, "| goal | measured | verdict |\n|---|---|---|");
    let (os16, ng16) = (
        row("sink", "GET 4 KiB", 16, "osprey"),
        row("sink", "GET 4 KiB", 16, "nginx"),
    );
    let cpu = ratio(os16.map(Row::cpu_us_per_req), ng16.map(Row::cpu_us_per_req));
    let _ = writeln!(o, "| GET 4 KiB c=16: Osprey CPU per request ≤ 2× nginx's (moonshot 1.5×) | {} µs vs {} µs = {} | {} |",
        os16.map(|r| format!("{:.1}", r.cpu_us_per_req())).unwrap_or_else(|| "–".into()),
        ng16.map(|r| format!("{:.1}", r.cpu_us_per_req())).unwrap_or_else(|| "–".into()),
        fmt_ratio(cpu), verdict(cpu.map(|r| r <= 2.0)));
    let rps = ratio(os16.map(|r| r.m.rps()), ng16.map(|r| r.m.rps()));
    let _ = writeln!(
        o,
        "| GET 4 KiB c=16: req/s ≥ 0.6× nginx (moonshot 0.8×) | {} | {} |",
        fmt_ratio(rps),
        verdict(rps.map(|r| r >= 0.6))
    );
    let (os1, ng1) = (
        row("sink", "GET 4 KiB", 1, "osprey"),
        row("sink", "GET 4 KiB", 1, "nginx"),
    );
    let added = os1.zip(ng1).map(|(a, n)| a.m.pct(0.5) - n.m.pct(0.5));
    let _ = writeln!(
        o,
        "| GET 4 KiB c=1: p50 ≤ nginx's + 0.1 ms | {} | {} |",
        added
            .map(|a| format!("+{a:.3} ms"))
            .unwrap_or_else(|| "–".into()),
        verdict(added.map(|a| a <= 0.1))
    );
    let _ = writeln!(o, "{}", verify_resign_row(micro_us));
    let mb = |w: &str, v: &str| row("sink", w, 1, v).map(|r| r.m.mbps());
    let chunked = ratio(
        mb("PUT 64 MiB (aws-chunked 64 KiB)", "osprey"),
        mb("PUT 64 MiB (unsigned)", "osprey"),
    );
    let _ = writeln!(
        o,
        "| aws-chunked PUT ≥ 0.8× UNSIGNED-PAYLOAD PUT through Osprey (64 MiB, c=1) | {} | {} |",
        fmt_ratio(chunked),
        verdict(chunked.map(|r| r >= 0.8))
    );
    let mut large = Vec::new();
    for w in [
        "GET 64 MiB",
        "PUT 64 MiB (unsigned)",
        "PUT 64 MiB (aws-chunked 64 KiB)",
        "multipart 64 MiB (8 × 8 MiB)",
    ] {
        for &c in &env.plan.large_conc {
            let r = ratio(
                row("sink", w, c, "osprey").map(|r| r.m.mbps()),
                row("sink", w, c, "nginx").map(|r| r.m.mbps()),
            );
            if let Some(r) = r {
                large.push((format!("{w} c={c}"), r));
            }
        }
    }
    let large_ok = (!large.is_empty()).then(|| large.iter().all(|(_, r)| *r >= 1.0));
    let _ = writeln!(
        o,
        "| large objects ≥ 1.0× nginx MB/s | {} | {} |",
        large
            .iter()
            .map(|(w, r)| format!("{w}: {r:.3}"))
            .collect::<Vec<_>>()
            .join("; "),
        verdict(large_ok)
    );
    let peak = ups.iter().map(|b| b.peak_mib).fold(f64::NAN, f64::max);
    let _ = writeln!(
        o,
        "| RSS < 64 MiB over the big streams | peak {peak:.1} MiB | {} |",
        verdict(rss_ok)
    );
    let mut rgw = Vec::new();
    let mut seen = Vec::new();
    for r in env
        .rows
        .iter()
        .filter(|r| r.backend == "rgw" && r.via == "osprey")
    {
        if seen.contains(&(&r.workload, r.conc)) {
            continue;
        }
        seen.push((&r.workload, r.conc));
        let big = r.workload.contains("MiB");
        let rate = |x: &Row| if big { x.m.mbps() } else { x.m.rps() };
        if let Some(q) = ratio(
            Some(rate(r)),
            row("rgw", &r.workload, r.conc, "direct").map(rate),
        ) {
            rgw.push((format!("{} c={}", r.workload, r.conc), q));
        }
    }
    let rgw_ok = (!rgw.is_empty()).then(|| rgw.iter().all(|(_, r)| *r >= 0.97));
    let _ = writeln!(
        o,
        "| Ceph RGW: every workload ≥ 0.97× direct | {} | {} |\n",
        rgw.iter()
            .map(|(w, r)| format!("{w}: {r:.3}"))
            .collect::<Vec<_>>()
            .join("; "),
        verdict(rgw_ok)
    );
}

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "**met**",
        Some(false) => "**NOT met**",
        None => "not measured",
    }
}

fn report(
    env: &Env,
    machine: &[(String, String)],
    micro_us: f64,
    mode: Mode,
    took: Duration,
    log_lines: usize,
    cores: usize,
) -> String {
    let bigs = BIGS.lock().expect("lock");
    let mut o = String::new();
    let _ = writeln!(o, "# Osprey load bench results ({mode:?} run)\n");
    let _ = writeln!(o, "Generated by `cargo bench --bench load{}` in {:.0} s. Client, sink, Osprey and nginx all ran on this machine and shared its {cores} cores (the RGW too).\n", if mode == Mode::Quick { " -- --quick" } else { "" }, took.as_secs_f64());
    for (k, v) in machine {
        let _ = writeln!(o, "- {k}: {v}");
    }
    let _ = writeln!(
        o,
        "- VmHWM reset per run via /proc/<pid>/clear_refs: {}",
        env.hwm_reset_ok
    );
    let _ = writeln!(o, "- Osprey log lines written during the run (log level info, one line per request): {log_lines}\n");

    // goals
    let rps = |b: &str, w: &str, c: usize, v: &str| find(env, b, w, c, v).map(|r| r.m.rps());
    let mbps = |b: &str, w: &str, c: usize, v: &str| find(env, b, w, c, v).map(|r| r.m.mbps());
    let _ = writeln!(o, "## Goals\n");
    let _ = writeln!(o, "| goal | measured | verdict |\n|---|---|---|");
    // G1 large throughput
    let mut g1 = Vec::new();
    for w in [
        "GET 64 MiB",
        "PUT 64 MiB (unsigned)",
        "PUT 64 MiB (aws-chunked 64 KiB)",
        "multipart 64 MiB (8 × 8 MiB)",
    ] {
        for &c in &env.plan.large_conc {
            if let Some(r) = ratio(mbps("sink", w, c, "osprey"), mbps("sink", w, c, "direct")) {
                g1.push((format!("{w} c={c}"), r));
            }
        }
    }
    let g1_ok = (!g1.is_empty()).then(|| g1.iter().all(|(_, r)| *r >= 0.97));
    let _ = writeln!(
        o,
        "| large objects ≥ 0.97× direct MB/s (sink) | {} | {} |",
        g1.iter()
            .map(|(w, r)| format!("{w}: {r:.3}"))
            .collect::<Vec<_>>()
            .join("; "),
        verdict(g1_ok)
    );
    // G2 4 KiB GET req/s
    let mut g2 = Vec::new();
    let mut g2n = Vec::new();
    for &c in &env.plan.conc {
        if let Some(r) = ratio(
            rps("sink", "GET 4 KiB", c, "osprey"),
            rps("sink", "GET 4 KiB", c, "direct"),
        ) {
            g2.push((c, r));
        }
        if let Some(r) = ratio(
            rps("sink", "GET 4 KiB", c, "osprey"),
            rps("sink", "GET 4 KiB", c, "nginx"),
        ) {
            g2n.push((c, r));
        }
    }
    let best = |v: &str| {
        env.rows
            .iter()
            .filter(|r| r.backend == "sink" && r.workload == "GET 4 KiB" && r.via == v)
            .map(|r| r.m.rps())
            .fold(f64::NAN, f64::max)
    };
    let peak_ratio = best("osprey") / best("direct");
    let peak_vs_nginx = best("osprey") / best("nginx");
    let _ = writeln!(o, "| 4 KiB GET req/s ≥ 0.85× direct (peak over concurrencies; per c) | peak {:.0} vs {:.0} = {peak_ratio:.3}; {} | {} |", best("osprey"), best("direct"), g2.iter().map(|(c, r)| format!("c={c}: {r:.3}")).collect::<Vec<_>>().join(", "), verdict((!peak_ratio.is_nan()).then_some(peak_ratio >= 0.85)));
    let _ = writeln!(o, "| 4 KiB GET req/s ≥ nginx pass-through | peak {:.0} vs {:.0} = {peak_vs_nginx:.3}; {} | {} |", best("osprey"), best("nginx"), g2n.iter().map(|(c, r)| format!("c={c}: {r:.3}")).collect::<Vec<_>>().join(", "), verdict((!peak_vs_nginx.is_nan()).then_some(peak_vs_nginx >= 1.0)));
    // G3 added latency at half saturation
    let hs = |v: &str| find(env, "sink", "GET 4 KiB @ half saturation", 64, v);
    let (g3_text, g3_ok) = match (hs("osprey"), hs("direct")) {
        (Some(os), Some(d)) => {
            let a50 = os.m.pct(0.5) - d.m.pct(0.5);
            let a99 = os.m.pct(0.99) - d.m.pct(0.99);
            (format!("at {:.0} req/s: p50 +{a50:.3} ms, p99 +{a99:.3} ms (Osprey {:.3}/{:.3} ms, direct {:.3}/{:.3} ms)", os.m.rps(), os.m.pct(0.5), os.m.pct(0.99), d.m.pct(0.5), d.m.pct(0.99)), Some(a50 <= 0.5 && a99 <= 2.0))
        }
        _ => ("–".into(), None),
    };
    let _ = writeln!(
        o,
        "| added latency p50 ≤ 0.5 ms, p99 ≤ 2 ms at half saturation | {g3_text} | {} |",
        verdict(g3_ok)
    );
    // G4 RSS
    let ups: Vec<&Big> = bigs.iter().filter(|b| b.via == "osprey").collect();
    let g4_ok = (!ups.is_empty()).then(|| ups.iter().all(|b| b.peak_mib < 64.0 && b.ok.is_ok()));
    let _ = writeln!(
        o,
        "| RSS flat (< 64 MiB) while streaming {:.0} GiB | {} | {} |",
        env.plan.big as f64 / GIB as f64,
        ups.iter()
            .map(|b| format!(
                "{}: {:.1} → peak {:.1} MiB{}",
                b.label,
                b.rss_before_mib,
                b.peak_mib,
                if b.ok.is_err() { " (FAILED)" } else { "" }
            ))
            .collect::<Vec<_>>()
            .join("; "),
        verdict(g4_ok)
    );
    let _ = writeln!(o, "{}\n", verify_resign_row(micro_us));

    issue13_goals(&mut o, env, &ups, g4_ok, micro_us);

    // ratio table
    let _ = writeln!(o, "## Ratios (Osprey ÷ direct, Osprey ÷ nginx)\n");
    let _ = writeln!(o, "| backend | workload | c | Osprey/direct req/s | Osprey/nginx req/s | Osprey/direct MB/s |\n|---|---|---:|---:|---:|---:|");
    let mut seen = Vec::new();
    for r in &env.rows {
        let k = (r.backend, r.workload.clone(), r.conc);
        if seen.contains(&k) {
            continue;
        }
        seen.push(k);
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} |",
            r.backend,
            r.workload,
            r.conc,
            fmt_ratio(ratio(
                rps(r.backend, &r.workload, r.conc, "osprey"),
                rps(r.backend, &r.workload, r.conc, "direct")
            )),
            fmt_ratio(ratio(
                rps(r.backend, &r.workload, r.conc, "osprey"),
                rps(r.backend, &r.workload, r.conc, "nginx")
            )),
            fmt_ratio(ratio(
                mbps(r.backend, &r.workload, r.conc, "osprey"),
                mbps(r.backend, &r.workload, r.conc, "direct")
            )),
        );
    }

    let _ = writeln!(o, "\n## All runs\n");
    let _ = writeln!(o, "Latencies in ms, measured by the client from sending the request to the last body byte. Proxy CPU = Osprey's (or nginx master + workers') utime+stime during the measured window; RSS = VmHWM of the proxy for that run. Other CPU = busy CPU of the whole machine (/proc/stat) minus client, sink and proxy: kernel softirq work of loopback networking that is not charged to a process, plus anything else running — a large value means the run was disturbed (sink runs only).\n");
    let _ = writeln!(o, "| backend | workload | c | via | req/s | MB/s | p50 | p99 | p99.9 | errors | proxy CPU s | proxy CPU µs/req | proxy ctx switches/req | proxy peak RSS MiB | sink CPU s | client CPU s | other CPU s |\n|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &env.rows {
        let proxied = r.via != "direct";
        let _ =
            writeln!(
            o,
            "| {} | {} | {} | {} | {:.0} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} | {} |",
            r.backend,
            r.workload,
            r.conc,
            r.via,
            r.m.rps(),
            r.m.mbps(),
            fmt_ms(r.m.pct(0.5)),
            fmt_ms(r.m.pct(0.99)),
            fmt_ms(r.m.pct(0.999)),
            r.m.errors,
            if proxied { format!("{:.2}", r.proxy_cpu) } else { "–".into() },
            if proxied { format!("{:.1}", r.cpu_us_per_req()) } else { "–".into() },
            if proxied { format!("{:.2}", r.ctx_per_req()) } else { "–".into() },
            if proxied { format!("{:.1}", r.proxy_hwm_mib) } else { "–".into() },
            if r.backend == "sink" { format!("{:.2}", r.sink_cpu) } else { "–".into() },
            r.client_cpu,
            if r.backend == "sink" {
                format!("{:.2}{}", r.other_cpu(), if r.attempts > 1 { format!(" ({} runs)", r.attempts) } else { String::new() })
            } else {
                "–".into()
            },
        );
    }
    let _ = writeln!(
        o,
        "\n## Streaming {:.0} GiB (one request, c=1)\n",
        env.plan.big as f64 / GIB as f64
    );
    let _ = writeln!(o, "RSS of the process in the data path (Osprey for `osprey`, the sink for `direct`), sampled every 100 ms.\n");
    let _ = writeln!(o, "| transfer | via | seconds | MB/s | RSS before MiB | peak RSS MiB | result |\n|---|---|---:|---:|---:|---:|---|");
    for b in bigs.iter() {
        let _ = writeln!(
            o,
            "| {} | {} | {:.1} | {:.0} | {:.1} | {:.1} | {} |",
            b.label,
            b.via,
            b.secs,
            b.bytes as f64 / b.secs / 1e6,
            b.rss_before_mib,
            b.peak_mib,
            b.ok.as_ref()
                .map(|_| "ok".to_string())
                .unwrap_or_else(|e| e.chars().take(120).collect())
        );
    }
    o
}

fn write_json(env: &Env, path: &std::path::Path) {
    let rows: Vec<serde_json::Value> = env
        .rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "backend": r.backend, "workload": r.workload, "concurrency": r.conc, "via": r.via,
                "requests": r.m.requests, "errors": r.m.errors, "seconds": r.m.secs,
                "req_per_s": r.m.rps(), "mb_per_s": r.m.mbps(),
                "p50_ms": r.m.pct(0.5), "p99_ms": r.m.pct(0.99), "p999_ms": r.m.pct(0.999),
                "proxy_cpu_s": r.proxy_cpu, "proxy_cpu_us_per_req": r.cpu_us_per_req(),
                "proxy_peak_rss_mib": r.proxy_hwm_mib, "proxy_ctx_switches_per_req": r.ctx_per_req(), "sink_cpu_s": r.sink_cpu, "client_cpu_s": r.client_cpu, "machine_busy_cpu_s": r.machine_cpu,
            })
        })
        .collect();
    let bigs: Vec<serde_json::Value> = BIGS
        .lock()
        .expect("lock")
        .iter()
        .map(|b| serde_json::json!({"transfer": b.label, "via": b.via, "seconds": b.secs, "bytes": b.bytes, "rss_before_mib": b.rss_before_mib, "peak_rss_mib": b.peak_mib, "ok": b.ok.is_ok()}))
        .collect();
    let _ = std::fs::write(
        path,
        serde_json::to_string_pretty(&serde_json::json!({"runs": rows, "big": bigs}))
            .unwrap_or_default(),
    );
}

fn color(via: &str) -> &'static str {
    match via {
        "direct" => "#2a7ab9",
        "osprey" => "#d9480f",
        _ => "#2b8a3e",
    }
}

fn plots(env: &Env, out: &std::path::Path) {
    let vias = ["direct", "osprey", "nginx"];
    for (file, workload, title) in [
        (
            "latency-get4k.svg",
            "GET 4 KiB",
            "GET 4 KiB (sink backend): latency vs concurrency",
        ),
        (
            "latency-put4k.svg",
            "PUT 4 KiB (sha256)",
            "PUT 4 KiB (sink backend): latency vs concurrency",
        ),
    ] {
        let mut series = Vec::new();
        for v in vias {
            let rows: Vec<&Row> = env
                .rows
                .iter()
                .filter(|r| r.backend == "sink" && r.workload == workload && r.via == v)
                .collect();
            if rows.is_empty() {
                continue;
            }
            series.push(svg::Series {
                label: format!("{v} p50"),
                color: color(v),
                dashed: false,
                points: rows.iter().map(|r| (r.conc as f64, r.m.pct(0.5))).collect(),
            });
            series.push(svg::Series {
                label: format!("{v} p99"),
                color: color(v),
                dashed: true,
                points: rows
                    .iter()
                    .map(|r| (r.conc as f64, r.m.pct(0.99)))
                    .collect(),
            });
        }
        let chart = svg::Chart {
            title: title.into(),
            x_label: "concurrent connections (closed loop)".into(),
            y_label: "latency, ms (log scale)".into(),
            log_x: true,
            log_y: true,
            series,
            hline: None,
        };
        let _ = std::fs::write(out.join(file), chart.render());
        let mut series = Vec::new();
        for v in vias {
            let rows: Vec<&Row> = env
                .rows
                .iter()
                .filter(|r| r.backend == "sink" && r.workload == workload && r.via == v)
                .collect();
            if !rows.is_empty() {
                series.push(svg::Series {
                    label: v.into(),
                    color: color(v),
                    dashed: false,
                    points: rows.iter().map(|r| (r.conc as f64, r.m.rps())).collect(),
                });
            }
        }
        let chart = svg::Chart {
            title: title.replace("latency", "throughput"),
            x_label: "concurrent connections (closed loop)".into(),
            y_label: "requests per second".into(),
            log_x: true,
            log_y: false,
            series,
            hline: None,
        };
        let _ = std::fs::write(
            out.join(file.replace("latency", "throughput")),
            chart.render(),
        );
    }
    let bigs = BIGS.lock().expect("lock");
    let series: Vec<svg::Series> = bigs
        .iter()
        .filter(|b| b.via == "osprey")
        .zip(["#d9480f", "#862e9c", "#1864ab"])
        .map(|(b, c)| svg::Series {
            label: b.label.clone(),
            color: c,
            dashed: false,
            points: b
                .series
                .iter()
                .map(|&(t, k)| (t, k as f64 / 1024.0))
                .collect(),
        })
        .collect();
    if !series.is_empty() {
        let chart = svg::Chart {
            title: format!(
                "Osprey RSS while streaming {:.0} GiB (sampled every 100 ms)",
                env.plan.big as f64 / GIB as f64
            ),
            x_label: "seconds since the request started".into(),
            y_label: "VmRSS, MiB".into(),
            log_x: false,
            log_y: false,
            series,
            hline: Some((64.0, "64 MiB goal".into())),
        };
        let _ = std::fs::write(out.join("rss-big.svg"), chart.render());
    }
}

/// Measurements per store and workload in the `--store` run, alternating which goes first.
/// A target through one of the two Ospreys of `--store` and `--ab`.
fn osprey_target(via: &'static str, o: &procs::Osprey, ak: &str, sk: &str, bucket: &str) -> Target {
    Target {
        via,
        addr: o.s3,
        host: o.s3.to_string(),
        bucket: bucket.into(),
        access_key: ak.into(),
        secret_key: sk.into(),
    }
}

const STORE_ROUNDS: usize = 4;

/// `--store`: one Osprey on SQLite and one on a throwaway PostgreSQL 15 cluster (initdb in a temp
/// dir, as in `tests/real`), same sink, same workloads, interleaved; the table gives PostgreSQL's
/// req/s and CPU per request as a ratio of SQLite's. Every request after the first few is served
/// from the caches (key, tenant, placement, identity), so the store should not show.
async fn store_main(out: PathBuf, cores: usize, control: bool) {
    let started = Instant::now();
    let plan = Plan::of(Mode::Store);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sink = procs::Sink::start(cores);
    let pg = real::Postgres::start();
    pg.create_database("bench");
    let sq_dir = dir.path().join("sqlite");
    let pg_dir = dir.path().join("postgres");
    std::fs::create_dir_all(&sq_dir).expect("dir");
    std::fs::create_dir_all(&pg_dir).expect("dir");
    let mut sq = procs::Osprey::start(&sq_dir, sink.addr, None);
    // --control: the second Osprey on SQLite too, so the table shows how far two identical
    // instances differ on this machine (the noise the PostgreSQL comparison must be read against)
    let second_store = if control {
        String::new()
    } else {
        format!(
            "[store]\nkind = \"postgres\"\nurl = \"{}\"\nsslmode = \"disable\"\n",
            pg.url("bench")
        )
    };
    let mut po = procs::Osprey::start_with(&pg_dir, sink.addr, None, &second_store);
    let (ak1, sk1) = onboard(sq.osis).await;
    let (ak2, sk2) = onboard(po.osis).await;
    let target = osprey_target;
    let targets = vec![
        target("osprey", &sq, &ak1, &sk1, "bench"),
        target("osprey-pg", &po, &ak2, &sk2, "benchpg"),
    ];
    for t in &targets {
        create_bucket(t).await;
    }
    let mut env = Env {
        plan,
        bodies: Arc::new(Bodies::new(&[4 * KIB], &[CHUNK])),
        sink_group: Group {
            pids: vec![sink.child.id()],
        },
        hwm_reset_ok: false,
        osprey_group: Group {
            pids: vec![sq.child.id()],
        },
        nginx_group: None,
        pg_group: Some(Group {
            pids: vec![po.child.id()],
        }),
        sink_targets: targets,
        rgw_targets: Vec::new(),
        rows: Vec::new(),
    };
    let xacts = || {
        pg.psql(
            "bench",
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'bench'",
        )
        .parse::<i64>()
        .unwrap_or(-1)
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let xacts_before = xacts();
    let w = env.plan.window;
    // A-B, B-A, A-B, B-A: each store is measured first as often as second (a first run with a
    // fixed order measured PG/SQLite 0.80-1.13; one A-B B-A pair 0.86-1.11), and the table
    // reports the mean
    for c in [1, 16, 64] {
        for round in 0..STORE_ROUNDS {
            if round % 2 == 1 {
                env.sink_targets.reverse();
            }
            env.scenario(
                "sink",
                "GET 4 KiB",
                Op::Get { size: 4 * KIB },
                c,
                Pace::Closed,
                w,
            )
            .await;
            let put = Op::Put {
                size: 4 * KIB,
                payload: Payload::Sha256,
            };
            env.scenario("sink", "PUT 4 KiB (sha256)", put, c, Pace::Closed, w)
                .await;
            if round % 2 == 1 {
                env.sink_targets.reverse();
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    // the change feed's check (one empty query every 2 s) and pool upkeep are all the store
    // should see: the hot path reads nothing from it
    let store_xacts = xacts() - xacts_before - 2;
    let pg_requests: u64 = env
        .rows
        .iter()
        .filter(|r| r.via == "osprey-pg")
        .map(|r| r.m.requests)
        .sum();
    procs::stop(&mut sq.child);
    procs::stop(&mut po.child);
    let _ = sink.child.kill();
    let _ = sink.child.wait();
    pg.stop();

    let mut o = String::new();
    let _ = writeln!(
        o,
        "# Osprey on SQLite vs on PostgreSQL (issue 15){}\n",
        if control {
            " — control run: SQLite twice"
        } else {
            ""
        }
    );
    let _ = writeln!(o, "Generated by `cargo bench --bench load -- --store` in {:.0} s on {cores} cores: the same release binary twice, {}, both to the same S3 sink, runs interleaved A-B, B-A, A-B, B-A ({} s windows, mean of the four). Goal: PostgreSQL within 10 % of SQLite.\n", started.elapsed().as_secs_f64(), if control { "both on the SQLite store (control)" } else { "one on the SQLite store and one on a local PostgreSQL 15 cluster" }, w.as_secs());
    let _ = writeln!(o, "| workload | conns | SQLite req/s | PostgreSQL req/s | PG/SQLite | SQLite CPU/req | PG CPU/req | PG p50 ms | SQLite p50 ms | errors |");
    let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut worst: f64 = f64::INFINITY;
    let mut best: f64 = 0.0;
    let mut log_sum = 0.0;
    let mut n = 0;
    let mut seen = std::collections::BTreeSet::new();
    for r in env.rows.iter() {
        if !seen.insert((r.workload.clone(), r.conc)) {
            continue;
        }
        // the mean of the A-B and B-A measurements of each store
        let of = |via: &str| -> Vec<&Row> {
            env.rows
                .iter()
                .filter(|p| p.via == via && p.workload == r.workload && p.conc == r.conc)
                .collect()
        };
        let (sq, pg) = (of("osprey"), of("osprey-pg"));
        if sq.is_empty() || pg.is_empty() {
            continue;
        }
        let (sq_rps, pg_rps) = (mean(&sq, |r| r.m.rps()), mean(&pg, |r| r.m.rps()));
        let ratio = pg_rps / sq_rps;
        worst = worst.min(ratio);
        best = best.max(ratio);
        log_sum += ratio.ln();
        n += 1;
        let _ = writeln!(
            o,
            "| {} | {} | {:.0} | {:.0} | {:.2} | {:.0} µs | {:.0} µs | {:.3} | {:.3} | {} |",
            r.workload,
            r.conc,
            sq_rps,
            pg_rps,
            ratio,
            mean(&sq, |r| r.cpu_us_per_req()),
            mean(&pg, |r| r.cpu_us_per_req()),
            mean(&pg, |r| r.m.pct(0.5)),
            mean(&sq, |r| r.m.pct(0.5)),
            sq.iter().chain(pg.iter()).map(|r| r.m.errors).sum::<u64>()
        );
    }
    let geo = (log_sum / f64::from(n.max(1))).exp();
    let _ = writeln!(
        o,
        "\n{} throughput: geometric mean of the ratios **{geo:.3}**, rows {worst:.2}–{best:.2}. Verdict on the mean: {}.",
        if control { "Control run (SQLite both times; the `PostgreSQL` columns are the second SQLite Osprey)" } else { "PostgreSQL/SQLite" },
        if (0.9..=1.1).contains(&geo) { "within 10 %" } else { "more than 10 % apart" }
    );
    let _ = writeln!(
        o,
        "\nPostgreSQL transactions during the runs (pg_stat_database, the two reads excluded): {store_xacts} for {pg_requests} S3 requests through the PostgreSQL Osprey in the measured windows (warm-ups not counted)."
    );
    let name = if control {
        "results-store-control.md"
    } else {
        "results-store.md"
    };
    std::fs::write(out.join(name), &o).expect("write report");
    println!("{o}");
    eprintln!("written to {}", out.join(name).display());
}

/// Rounds of `--ab`: A-B-nginx, then nginx-B-A, … (each build measured first as often as last).
const AB_ROUNDS: usize = 2;

/// Stops the two proxies, nginx and the sink of `--ab` and `--floor` (by PID, the ones this run
/// started).
fn stop_all(
    proxies: [&mut std::process::Child; 2],
    nginx: Option<&mut procs::Nginx>,
    sink: &mut procs::Sink,
) {
    for p in proxies {
        procs::stop(p);
    }
    if let Some(n) = nginx {
        n.stop();
    }
    let _ = sink.child.kill();
    let _ = sink.child.wait();
}

/// The `NAME=value` pairs (space-separated) of environment variable `var`: the environment one
/// Osprey of `--ab` or `--memory` gets.
fn env_pairs(var: &str) -> Vec<(String, String)> {
    std::env::var(var)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.split_once('=').map(|(k, v)| (k.into(), v.into())))
        .collect()
}

/// `--ab`: build A (`OSPREY_LOAD_A`, default this build) and build B (`OSPREY_LOAD_B`, default
/// this build) of Osprey, each with its own TOML appended (`OSPREY_LOAD_A_CONFIG`,
/// `OSPREY_LOAD_B_CONFIG`), and nginx, all in front of the same sink, interleaved: issue 13's
/// one-change-at-a-time before/after figures, with nginx as the reference of the same run.
async fn ab_main(out: PathBuf, cores: usize) {
    let started = Instant::now();
    let plan = Plan::of(Mode::Ab);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sink = procs::Sink::start(cores);
    let this = PathBuf::from(env!("CARGO_BIN_EXE_osprey"));
    let bin = |v: &str| {
        std::env::var_os(v)
            .map(PathBuf::from)
            .unwrap_or(this.clone())
    };
    let extra = |v: &str| std::env::var(v).unwrap_or_default();
    let (bin_a, bin_b) = (bin("OSPREY_LOAD_A"), bin("OSPREY_LOAD_B"));
    let (dir_a, dir_b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&dir_a).expect("dir");
    std::fs::create_dir_all(&dir_b).expect("dir");
    // `OSPREY_LOAD_A_ENV` / `OSPREY_LOAD_B_ENV`: `NAME=value` pairs, space-separated, for one of them
    let (conf_a, conf_b) = (extra("OSPREY_LOAD_A_CONFIG"), extra("OSPREY_LOAD_B_CONFIG"));
    let (env_a, env_b) = (
        env_pairs("OSPREY_LOAD_A_ENV"),
        env_pairs("OSPREY_LOAD_B_ENV"),
    );
    let mut a = procs::Osprey::start_env(&bin_a, &dir_a, sink.addr, None, &conf_a, &env_a);
    let mut b = procs::Osprey::start_env(&bin_b, &dir_b, sink.addr, None, &conf_b, &env_b);
    let mut nginx = procs::Nginx::start(dir.path(), sink.addr, None);
    let (ak1, sk1) = onboard(a.osis).await;
    let (ak2, sk2) = onboard(b.osis).await;
    let target = osprey_target;
    let mut targets = vec![
        target("osprey", &a, &ak1, &sk1, "bench"),
        target("osprey-b", &b, &ak2, &sk2, "benchb"),
    ];
    for t in &targets {
        create_bucket(t).await;
    }
    if let Some(n) = &nginx {
        targets.push(Target {
            via: "nginx",
            addr: n.sink,
            host: n.sink.to_string(),
            bucket: "bench".into(),
            access_key: "SINKACCESSKEY".into(),
            secret_key: "SINKSECRETKEY".into(),
        });
    }
    let mut env = Env::two_proxies(
        plan,
        sink.child.id(),
        [a.child.id(), b.child.id()],
        nginx.as_ref().map(|n| n.group()),
        targets,
    );
    let (w, lw) = (env.plan.window, env.plan.large_window);
    let big = 16 * MIB;
    for round in 0..AB_ROUNDS {
        if round % 2 == 1 {
            env.sink_targets.reverse();
        }
        for c in [1, 16] {
            env.scenario(
                "sink",
                "GET 4 KiB",
                Op::Get { size: 4 * KIB },
                c,
                Pace::Closed,
                w,
            )
            .await;
        }
        let put = Op::Put {
            size: 4 * KIB,
            payload: Payload::Sha256,
        };
        env.scenario("sink", "PUT 4 KiB (sha256)", put, 16, Pace::Closed, w)
            .await;
        for (label, payload) in [
            ("PUT 16 MiB unsigned", Payload::Unsigned),
            ("PUT 16 MiB aws-chunked", Payload::Chunked(CHUNK)),
        ] {
            let op = Op::Put { size: big, payload };
            env.scenario("sink", label, op, 1, Pace::Closed, lw).await;
        }
        // four streams at once: how a change spreads large transfers over the cores (the
        // listener shards of issue 13's fifth session place connections when they open)
        let op = Op::Put {
            size: big,
            payload: Payload::Unsigned,
        };
        env.scenario("sink", "PUT 16 MiB unsigned", op, 4, Pace::Closed, lw)
            .await;
        let op = Op::Get { size: big };
        env.scenario("sink", "GET 16 MiB", op, 4, Pace::Closed, lw)
            .await;
        if round % 2 == 1 {
            env.sink_targets.reverse();
        }
    }
    stop_all([&mut a.child, &mut b.child], nginx.as_mut(), &mut sink);

    let of = |via: &str, workload: &str, conc: usize| env.rows_of(via, workload, conc);
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# Osprey A vs Osprey B, nginx as the reference (issue 13)\n"
    );
    let with_env = |v: &str| {
        if extra(v).is_empty() {
            String::new()
        } else {
            format!(" (environment `{}`)", extra(v))
        }
    };
    let _ = writeln!(o, "Generated by `cargo bench --bench load -- --ab` in {:.0} s on {cores} cores. A = `{}`{}{}, B = `{}`{}{}; both and nginx in front of the same sink, interleaved (A-B-nginx, then the reverse; {AB_ROUNDS} rounds, {} s windows, large objects {} s; the mean of the rounds).\n",
        started.elapsed().as_secs_f64(), bin_a.display(),
        if extra("OSPREY_LOAD_A_CONFIG").is_empty() { String::new() } else { format!(" with `{}`", extra("OSPREY_LOAD_A_CONFIG").replace('\n', " ")) },
        with_env("OSPREY_LOAD_A_ENV"),
        bin_b.display(),
        if extra("OSPREY_LOAD_B_CONFIG").is_empty() { String::new() } else { format!(" with `{}`", extra("OSPREY_LOAD_B_CONFIG").replace('\n', " ")) },
        with_env("OSPREY_LOAD_B_ENV"), w.as_secs(), lw.as_secs());
    let _ = writeln!(o, "| workload | conns | A req/s | B req/s | B/A | A CPU/req | B CPU/req | B/A CPU | nginx req/s | nginx CPU/req | B/nginx CPU | A p50 ms | B p50 ms | nginx p50 ms | A ctx/req | B ctx/req | errors |");
    let _ = writeln!(
        o,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let mut seen = std::collections::BTreeSet::new();
    let (mut log_rps, mut log_cpu, mut n) = (0.0, 0.0, 0);
    for r in env.rows.iter() {
        if !seen.insert((r.workload.clone(), r.conc)) {
            continue;
        }
        let (ra, rb, rn) = (
            of("osprey", &r.workload, r.conc),
            of("osprey-b", &r.workload, r.conc),
            of("nginx", &r.workload, r.conc),
        );
        if ra.is_empty() || rb.is_empty() {
            continue;
        }
        let big = r.workload.contains("MiB");
        let rate = |rows: &[&Row]| {
            if big {
                mean(rows, |r| r.m.mbps())
            } else {
                mean(rows, |r| r.m.rps())
            }
        };
        let cpu = |rows: &[&Row]| mean(rows, |r| r.cpu_us_per_req());
        let (a_rate, b_rate, a_cpu, b_cpu) = (rate(&ra), rate(&rb), cpu(&ra), cpu(&rb));
        let (n_rate, n_cpu) = if rn.is_empty() {
            (f64::NAN, f64::NAN)
        } else {
            (rate(&rn), cpu(&rn))
        };
        if !big {
            log_rps += (b_rate / a_rate).ln();
            log_cpu += (b_cpu / a_cpu).ln();
            n += 1;
        }
        let unit = if big { " MB/s" } else { "" };
        let _ = writeln!(o, "| {} | {} | {a_rate:.0}{unit} | {b_rate:.0}{unit} | {:.3} | {a_cpu:.0} µs | {b_cpu:.0} µs | {:.3} | {n_rate:.0}{unit} | {n_cpu:.0} µs | {:.2} | {:.3} | {:.3} | {:.3} | {:.2} | {:.2} | {} |",
            r.workload, r.conc, b_rate / a_rate, b_cpu / a_cpu, b_cpu / n_cpu,
            mean(&ra, |r| r.m.pct(0.5)), mean(&rb, |r| r.m.pct(0.5)), if rn.is_empty() { f64::NAN } else { mean(&rn, |r| r.m.pct(0.5)) },
            mean(&ra, |r| r.ctx_per_req()), mean(&rb, |r| r.ctx_per_req()),
            ra.iter().chain(rb.iter()).map(|r| r.m.errors).sum::<u64>());
    }
    let nf = f64::from(n.max(1));
    let _ = writeln!(
        o,
        "\n4 KiB rows, B/A geometric means: req/s **{:.3}**, CPU per request **{:.3}**.",
        (log_rps / nf).exp(),
        (log_cpu / nf).exp()
    );
    for (via, name) in [("osprey", "A"), ("osprey-b", "B")] {
        let mb = |w: &str| mean(&of(via, w, 1), |r| r.m.mbps());
        let (u, c) = (mb("PUT 16 MiB unsigned"), mb("PUT 16 MiB aws-chunked"));
        let _ = writeln!(o, "\n{name}: aws-chunked PUT / UNSIGNED-PAYLOAD PUT through Osprey = {c:.0} / {u:.0} MB/s = **{:.3}** (issue 13 goal ≥ 0.8).", c / u);
    }
    std::fs::write(out.join("results-ab.md"), &o).expect("write report");
    println!("{o}");
    eprintln!("written to {}", out.join("results-ab.md").display());
}

/// Rounds of `--floor`: Osprey-pingora-nginx, then the reverse.
const FLOOR_ROUNDS: usize = 2;

/// `--floor`: the same sink behind Osprey (the bench's release build), behind a bare pingora
/// proxy shaped as Osprey's listener (`floor.rs`) and behind nginx, interleaved. Osprey's CPU
/// per request minus the bare proxy's is what Osprey's own code costs; the bare proxy's against
/// nginx's is the framework's share, which no change inside Osprey's request path removes
/// (issue 13, "the profile that shows what is left and why").
async fn floor_main(out: PathBuf, cores: usize) {
    let started = Instant::now();
    let plan = Plan::of(Mode::Floor);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sink = procs::Sink::start(cores);
    let bin = std::env::var_os("OSPREY_LOAD_B")
        .map(PathBuf::from)
        .unwrap_or(PathBuf::from(env!("CARGO_BIN_EXE_osprey")));
    let mut osprey = procs::Osprey::start_bin(&bin, dir.path(), sink.addr, None, "");
    let mut bare = procs::Floor::start(sink.addr, cores);
    let mut nginx = procs::Nginx::start(dir.path(), sink.addr, None);
    let (ak, sk) = onboard(osprey.osis).await;
    let mut targets = vec![osprey_target("osprey", &osprey, &ak, &sk, "bench")];
    create_bucket(&targets[0]).await;
    let plain = |via: &'static str, addr: SocketAddr| Target {
        via,
        addr,
        host: addr.to_string(),
        bucket: "bench".into(),
        access_key: "SINKACCESSKEY".into(),
        secret_key: "SINKSECRETKEY".into(),
    };
    targets.push(plain("pingora", bare.addr));
    if let Some(n) = &nginx {
        targets.push(plain("nginx", n.sink));
    }
    let mut env = Env::two_proxies(
        plan,
        sink.child.id(),
        [osprey.child.id(), bare.child.id()],
        nginx.as_ref().map(|n| n.group()),
        targets,
    );
    if std::env::var_os("OSPREY_LOAD_FLOOR_PROFILE").is_some() {
        let pids = [("osprey", osprey.child.id()), ("pingora", bare.child.id())];
        floor_profile(&env, pids, &out).await;
        stop_all(
            [&mut osprey.child, &mut bare.child],
            nginx.as_mut(),
            &mut sink,
        );
        return;
    }
    let (w, lw) = (env.plan.window, env.plan.large_window);
    for round in 0..FLOOR_ROUNDS {
        if round % 2 == 1 {
            env.sink_targets.reverse();
        }
        for c in [1, 16] {
            let op = Op::Get { size: 4 * KIB };
            env.scenario("sink", "GET 4 KiB", op, c, Pace::Closed, w)
                .await;
        }
        let put = Op::Put {
            size: 4 * KIB,
            payload: Payload::Sha256,
        };
        env.scenario("sink", "PUT 4 KiB (sha256)", put, 16, Pace::Closed, w)
            .await;
        let op = Op::Put {
            size: 16 * MIB,
            payload: Payload::Unsigned,
        };
        env.scenario("sink", "PUT 16 MiB unsigned", op, 1, Pace::Closed, lw)
            .await;
        let op = Op::Get { size: 16 * MIB };
        env.scenario("sink", "GET 16 MiB", op, 1, Pace::Closed, lw)
            .await;
        if round % 2 == 1 {
            env.sink_targets.reverse();
        }
    }
    stop_all(
        [&mut osprey.child, &mut bare.child],
        nginx.as_mut(),
        &mut sink,
    );

    let of = |via: &str, workload: &str, conc: usize| env.rows_of(via, workload, conc);
    let mut o = String::new();
    let _ = writeln!(o, "# Osprey, a bare pingora proxy and nginx (issue 13)\n");
    let _ = writeln!(o, "Generated by `cargo bench --bench load -- --floor` in {:.0} s on {cores} cores. Osprey = `{}`; \"pingora\" = the same pingora as Osprey, one single-threaded shard per core with its own SO_REUSEPORT socket and backend pool, mimalloc, and nothing else (benches/load/floor.rs); nginx as in every run. All three in front of the same sink, interleaved ({FLOOR_ROUNDS} rounds, {} s windows, large objects {} s; the mean of the rounds).\n",
        started.elapsed().as_secs_f64(), bin.display(), w.as_secs(), lw.as_secs());
    let _ = writeln!(o, "| workload | conns | Osprey | pingora | nginx | Osprey CPU/req | pingora CPU/req | nginx CPU/req | Osprey's own (Osprey − pingora) | pingora / nginx CPU | Osprey / nginx CPU | Osprey p50 ms | pingora p50 ms | nginx p50 ms | ctx/req O / p / n | errors |");
    let _ = writeln!(
        o,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"
    );
    let mut seen = std::collections::BTreeSet::new();
    for r in env.rows.iter() {
        if !seen.insert((r.workload.clone(), r.conc)) {
            continue;
        }
        let (ro, rp, rn) = (
            of("osprey", &r.workload, r.conc),
            of("pingora", &r.workload, r.conc),
            of("nginx", &r.workload, r.conc),
        );
        let big = r.workload.contains("MiB");
        let rate = |rows: &[&Row]| {
            if rows.is_empty() {
                f64::NAN
            } else if big {
                mean(rows, |r| r.m.mbps())
            } else {
                mean(rows, |r| r.m.rps())
            }
        };
        let cpu = |rows: &[&Row]| {
            if rows.is_empty() {
                f64::NAN
            } else {
                mean(rows, |r| r.cpu_us_per_req())
            }
        };
        let p50 = |rows: &[&Row]| {
            if rows.is_empty() {
                f64::NAN
            } else {
                mean(rows, |r| r.m.pct(0.5))
            }
        };
        let ctx = |rows: &[&Row]| {
            if rows.is_empty() {
                f64::NAN
            } else {
                mean(rows, |r| r.ctx_per_req())
            }
        };
        let (co, cp, cn) = (cpu(&ro), cpu(&rp), cpu(&rn));
        let unit = if big { " MB/s" } else { " req/s" };
        let _ = writeln!(o, "| {} | {} | {:.0}{unit} | {:.0}{unit} | {:.0}{unit} | {co:.1} µs | {cp:.1} µs | {cn:.1} µs | {:.1} µs | {:.2} | {:.2} | {:.3} | {:.3} | {:.3} | {:.2} / {:.2} / {:.2} | {} |",
            r.workload, r.conc, rate(&ro), rate(&rp), rate(&rn), co - cp, cp / cn, co / cn,
            p50(&ro), p50(&rp), p50(&rn), ctx(&ro), ctx(&rp), ctx(&rn),
            ro.iter().chain(rp.iter()).chain(rn.iter()).map(|r| r.m.errors).sum::<u64>());
    }
    let g16 = |via: &str| mean(&of(via, "GET 4 KiB", 16), |r| r.cpu_us_per_req());
    let (o16, p16, n16) = (g16("osprey"), g16("pingora"), g16("nginx"));
    let _ = writeln!(o, "\nGET 4 KiB at 16 connections: Osprey {o16:.1} µs = bare pingora {p16:.1} µs + Osprey's own {:.1} µs; nginx {n16:.1} µs. Issue 13's goal (≤ 2× nginx = {:.1} µs) leaves Osprey's code {:.1} µs on top of this pingora; the bare proxy alone is {:.2}× nginx.", o16 - p16, 2.0 * n16, 2.0 * n16 - p16, p16 / n16);
    std::fs::write(out.join("results-floor.md"), &o).expect("write report");
    println!("{o}");
    eprintln!("written to {}", out.join("results-floor.md").display());
}

/// A perf command (`record` or `trace`, its target and output set) running for `secs` around a
/// load window that starts `settle` after it (perf attaches first).
struct PerfRun(std::process::Child);

fn spawn_perf(mut perf: std::process::Command, secs: u64, settle: Duration) -> PerfRun {
    let child = perf
        .args(["--", "sleep", &secs.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("perf (apt-get install -y linux-perf)");
    std::thread::sleep(settle);
    PerfRun(child)
}

impl PerfRun {
    /// Waits until perf has written its output.
    fn finish(mut self) {
        let _ = self.0.wait();
    }
}

/// `conc` closed-loop clients of `op` against `t` for `secs`, no warm-up: a profiled window.
async fn closed_load(env: &Env, t: &Target, op: Op, conc: usize, secs: u64) -> Measured {
    client::run(
        Arc::new(t.clone()),
        op,
        conc,
        Pace::Closed,
        Duration::ZERO,
        Duration::from_secs(secs),
        env.bodies.clone(),
        |_| {},
    )
    .await
}

/// `OSPREY_LOAD_FLOOR_PROFILE=1` with `--floor`: instead of the rounds, perf-samples Osprey and
/// the bare pingora proxy one after the other under the same GET 4 KiB at 16 connections and
/// writes `floor-profile.md`, every symbol's CPU in µs per request for both and the difference,
/// largest first. Samples are scaled to the process's own CPU time from /proc over the same
/// window, so the two columns add up to the CPU/request of the table (issue 13: where Osprey's
/// own ~40 µs over pingora go).
async fn floor_profile(env: &Env, procs_: [(&str, u32); 2], out: &std::path::Path) {
    let secs = 10u64;
    let mut per: Vec<(String, f64, std::collections::HashMap<String, f64>)> = Vec::new();
    for (i, (name, pid)) in procs_.iter().enumerate() {
        let t = &env.sink_targets[i];
        let data = out.join(format!("perf-floor-{name}.data"));
        // `OSPREY_LOAD_FLOOR_PROFILE=trace`: `perf trace -s` instead, the syscalls of each
        // (counts per request in the summary's header line)
        let trace = std::env::var("OSPREY_LOAD_FLOOR_PROFILE").is_ok_and(|v| v == "trace");
        let mut perf = std::process::Command::new("perf");
        if trace {
            perf.args(["trace", "-s", "-p"]).arg(pid.to_string());
            perf.arg("-o")
                .arg(out.join(format!("trace-floor-{name}.txt")));
        } else if let Some(ev) = std::env::var_os("OSPREY_LOAD_FLOOR_EVENT") {
            // `OSPREY_LOAD_FLOOR_EVENT=syscalls:sys_enter_write` (say): who makes that event,
            // with call graphs (`perf report -i` the data file)
            perf.args(["record", "--call-graph", "dwarf,16384", "-e"])
                .arg(ev);
            perf.arg("-p").arg(pid.to_string()).arg("-o").arg(&data);
        } else {
            perf.args(["record", "-e", "cpu-clock", "-F", "1999", "-p"]);
            perf.arg(pid.to_string()).arg("-o").arg(&data);
        }
        let perf = spawn_perf(perf, secs + 1, Duration::from_millis(500));
        let cpu0 = procs::cpu_secs(*pid);
        let threads0 = procs::thread_cpu_secs(*pid);
        let m = closed_load(env, t, Op::Get { size: 4 * KIB }, 16, secs).await;
        let cpu = procs::cpu_secs(*pid) - cpu0;
        // per thread: how evenly SO_REUSEPORT spread the 16 connections over the shards
        let busy: Vec<String> = procs::thread_cpu_secs(*pid)
            .into_iter()
            .filter_map(|(t, c)| {
                let c0 = threads0
                    .iter()
                    .find(|(t0, _)| *t0 == t)
                    .map_or(0.0, |x| x.1);
                // threads busy more than 0.5 % of the window
                ((c - c0) / secs as f64 > 0.005).then(|| format!("{t} {:.2} s", c - c0))
            })
            .collect();
        eprintln!("  {name} threads over {secs} s: {}", busy.join(", "));
        perf.finish();
        if trace {
            eprintln!(
                "  traced {name}: {} requests ({:.0} req/s)",
                m.requests,
                m.rps()
            );
            continue;
        }
        let rep = std::process::Command::new("perf")
            .args([
                "report",
                "--stdio",
                "-n",
                "--no-children",
                "--sort",
                "dso,symbol",
            ])
            .args(["-g", "none", "--percent-limit", "0", "-i"])
            .arg(&data)
            .output()
            .expect("perf report");
        let text = String::from_utf8_lossy(&rep.stdout);
        let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
        let mut samples = std::collections::HashMap::<String, f64>::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            // `    12.34%  1234  osprey  [.] symbol name` (-n: the sample count)
            let mut it = line.split_whitespace();
            let (Some(pct), Some(n), Some(dso)) = (it.next(), it.next(), it.next()) else {
                continue;
            };
            let (true, Ok(n)) = (pct.ends_with('%'), n.parse::<f64>()) else {
                continue;
            };
            let sym = it.skip(1).collect::<Vec<_>>().join(" ");
            // The same code under two binary names (osprey, a copy such as osprey-before, or
            // the bench's own load-<hash>) must meet in one row.
            let dso = if Some(dso) == exe.as_deref() {
                "<exe>"
            } else {
                dso
            };
            *samples.entry(format!("{dso} {sym}")).or_default() += n;
        }
        let total: f64 = samples.values().sum::<f64>().max(1.0);
        let us_per_req = cpu * 1e6 / m.requests.max(1) as f64;
        let rows = samples
            .into_iter()
            .map(|(k, n)| (k, n / total * us_per_req))
            .collect();
        eprintln!(
            "  profiled {name}: {:.0} req/s, {us_per_req:.1} µs CPU/req, {total:.0} samples",
            m.rps()
        );
        per.push((name.to_string(), us_per_req, rows));
    }
    let [a, b] = &per[..] else {
        return;
    };
    let mut keys: Vec<&String> = a.2.keys().chain(b.2.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut rows: Vec<(&String, f64, f64)> = keys
        .into_iter()
        .map(|k| {
            let x = a.2.get(k).copied().unwrap_or(0.0);
            let y = b.2.get(k).copied().unwrap_or(0.0);
            (k, x, y)
        })
        .collect();
    rows.sort_by(|l, r| (r.1 - r.2).abs().total_cmp(&(l.1 - l.2).abs()));
    let mut o = String::new();
    let _ = writeln!(o, "# Where Osprey's own CPU goes: symbols of Osprey vs bare pingora, GET 4 KiB at 16 connections\n");
    let _ = writeln!(o, "Generated by `OSPREY_LOAD_FLOOR_PROFILE=1 cargo bench --bench load -- --floor`: `perf record -e cpu-clock -F 1999` of each proxy for {secs} s of the same load, one after the other; samples scaled to each process's CPU time from /proc. {} {:.1} µs/req, {} {:.1} µs/req, difference {:.1} µs/req. Rows: the 60 largest differences (`<exe>` = the proxy's own binary).\n", a.0, a.1, b.0, b.1, a.1 - b.1);
    let _ = writeln!(
        o,
        "| symbol | {} µs/req | {} µs/req | difference |",
        a.0, b.0
    );
    let _ = writeln!(o, "|---|---:|---:|---:|");
    for (k, x, y) in rows.iter().take(60) {
        let k = k.replace('|', "\\|");
        let k: String = k.chars().take(140).collect();
        let _ = writeln!(o, "| `{k}` | {x:.2} | {y:.2} | {:+.2} |", x - y);
    }
    // Groups by shared object: what is the kernel's, libc's, the binary's.
    let mut by_dso = std::collections::BTreeMap::<String, (f64, f64)>::new();
    for (k, x, y) in &rows {
        let d = k.split(' ').next().unwrap_or("?").to_string();
        let e = by_dso.entry(d).or_default();
        e.0 += x;
        e.1 += y;
    }
    let _ = writeln!(
        o,
        "\n| shared object | {} µs/req | {} µs/req | difference |",
        a.0, b.0
    );
    let _ = writeln!(o, "|---|---:|---:|---:|");
    for (d, (x, y)) in &by_dso {
        let _ = writeln!(o, "| `{d}` | {x:.2} | {y:.2} | {:+.2} |", x - y);
    }
    std::fs::write(out.join("floor-profile.md"), &o).expect("write");
    println!("{o}");
    eprintln!("written to {}", out.join("floor-profile.md").display());
}

/// `--memory`: one Osprey (`OSPREY_LOAD_A`, default this build; `OSPREY_LOAD_A_ENV` and
/// `OSPREY_LOAD_A_CONFIG` as for `--ab`) in front of the sink, and its VmRSS / VmHWM after each
/// phase: idle, 4 KiB GET and PUT at 64 connections, 12 s idle (past mimalloc's purge delay,
/// `src/alloc.rs`), then the 1 GiB streams with RSS sampled every 100 ms. Writes `memory.md`.
/// Issue 13: the quick runs' peaks came from what the 64-connection rows left behind, not from
/// the streams; this shows each phase on its own in a minute.
async fn memory_main(out: PathBuf, cores: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sink = procs::Sink::start(cores);
    let bin = std::env::var_os("OSPREY_LOAD_A")
        .map(PathBuf::from)
        .unwrap_or(PathBuf::from(env!("CARGO_BIN_EXE_osprey")));
    let extra = std::env::var("OSPREY_LOAD_A_CONFIG").unwrap_or_default();
    let envs = env_pairs("OSPREY_LOAD_A_ENV");
    let mut osprey = procs::Osprey::start_env(&bin, dir.path(), sink.addr, None, &extra, &envs);
    let (ak, sk) = onboard(osprey.osis).await;
    let t = osprey_target("osprey", &osprey, &ak, &sk, "bench");
    create_bucket(&t).await;
    let g = Group {
        pids: vec![osprey.child.id()],
    };
    // `closed_load` takes its bodies from an `Env`; nothing else of it is used here
    let env = Env::two_proxies(
        Plan::of(Mode::Memory),
        sink.child.id(),
        [osprey.child.id(), osprey.child.id()],
        None,
        vec![t.clone()],
    );
    g.reset_hwm();
    let mib = |k: u64| k as f64 / 1024.0;
    let mut report = format!(
        "# Osprey's memory phase by phase (`cargo bench --bench load -- --memory`)\n\n\
         - osprey: {}\n- environment: `{}`\n- extra config: `{}`\n\n\
         | phase | result | VmHWM during MiB | VmRSS after MiB | anon / file after MiB |\n\
         |---|---|---:|---:|---:|\n",
        bin.display(),
        std::env::var("OSPREY_LOAD_A_ENV").unwrap_or_default(),
        extra.replace('\n', " "),
    );
    let row = |report: &mut String, phase: &str, result: String, g: &Group| {
        let (hwm, rss) = (mib(g.hwm_kib()), mib(g.rss_kib()));
        let (anon, file) = procs::rss_split_kib(g.pids[0]);
        let (anon, file) = (mib(anon), mib(file));
        eprintln!("  {phase:<36} {result:<28} VmHWM {hwm:>6.1} MiB  VmRSS {rss:>6.1} MiB (anon {anon:.1}, file {file:.1})");
        let _ = writeln!(
            report,
            "| {phase} | {result} | {hwm:.1} | {rss:.1} | {anon:.1} / {file:.1} |"
        );
        g.reset_hwm();
    };
    row(
        &mut report,
        "started, one bucket created",
        String::new(),
        &g,
    );
    let put4k = Op::Put {
        size: 4 * KIB,
        payload: Payload::Sha256,
    };
    for (name, op, conc) in [
        ("GET 4 KiB c=16, 5 s", Op::Get { size: 4 * KIB }, 16),
        ("GET 4 KiB c=64, 5 s", Op::Get { size: 4 * KIB }, 64),
        ("PUT 4 KiB c=64, 5 s", put4k, 64),
    ] {
        let m = closed_load(&env, &t, op, conc, 5).await;
        row(&mut report, name, format!("{:.0} req/s", m.rps()), &g);
    }
    tokio::time::sleep(Duration::from_secs(12)).await;
    row(&mut report, "idle 12 s", String::new(), &g);
    let bodies = Bodies::new(&[], &[CHUNK]);
    for (label, op) in [
        (
            "PUT 1 GiB (unsigned)",
            Op::Put {
                size: GIB,
                payload: Payload::Unsigned,
            },
        ),
        (
            "PUT 1 GiB (aws-chunked 64 KiB)",
            Op::Put {
                size: GIB,
                payload: Payload::Chunked(CHUNK),
            },
        ),
        ("GET 1 GiB", Op::Get { size: GIB }),
    ] {
        let b = big_transfer(&t, op, label, g.clone(), &bodies).await;
        let result = format!(
            "{:.0} MB/s, {:.1} → peak {:.1} MiB{}",
            b.bytes as f64 / b.secs / 1e6,
            b.rss_before_mib,
            b.peak_mib,
            b.ok.err().map(|e| format!(" ({e})")).unwrap_or_default()
        );
        row(&mut report, label, result, &g);
    }
    procs::stop(&mut osprey.child);
    let _ = sink.child.kill();
    let _ = sink.child.wait();
    std::fs::write(out.join("memory.md"), &report).expect("write report");
    println!("{report}");
}
