//! The processes under test (sink, Osprey, nginx): started, probed through /proc and stopped by
//! PID — nothing here looks processes up by name.

use std::io::BufRead;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

pub fn wait_port(addr: SocketAddr, child: &mut Child, what: &str, log: Option<&Path>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            let logs = log
                .map(|p| std::fs::read_to_string(p).unwrap_or_default())
                .unwrap_or_default();
            panic!("{what} exited during start ({st}):\n{logs}");
        }
        if TcpStream::connect(addr).is_ok() {
            return;
        }
        if Instant::now() > deadline {
            panic!("{what} did not listen on {addr} within 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn clk_tck() -> f64 {
    static TCK: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TCK.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Fields of /proc/<pid>/stat after the `(comm)`: index 0 = state, 1 = ppid, 11 = utime, 12 = stime.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// User + system CPU seconds of `pid` (all its threads).
pub fn cpu_secs(pid: u32) -> f64 {
    stat_fields(pid)
        .and_then(|f| {
            let u: f64 = f.get(11)?.parse().ok()?;
            let s: f64 = f.get(12)?.parse().ok()?;
            Some((u + s) / clk_tck())
        })
        .unwrap_or(0.0)
}

/// (thread name, user + system CPU seconds) of every thread of `pid`: how the S3 shards share
/// the load (`OSPREY_LOAD_FLOOR_PROFILE`).
pub fn thread_cpu_secs(pid: u32) -> Vec<(String, f64)> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut out: Vec<(String, f64)> = dir
        .flatten()
        .filter_map(|e| {
            let tid = e.file_name();
            let s = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let (open, close) = (s.find('(')?, s.rfind(')')?);
            let f: Vec<&str> = s[close + 1..].split_whitespace().collect();
            let u: f64 = f.get(11)?.parse().ok()?;
            let st: f64 = f.get(12)?.parse().ok()?;
            let name = format!("{} ({})", &s[open + 1..close], tid.to_string_lossy());
            Some((name, (u + st) / clk_tck()))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Busy CPU seconds of the whole machine (all cores) from /proc/stat: user + nice + system +
/// irq + softirq + steal.
pub fn machine_busy_secs() -> f64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            let l = s.lines().next()?.to_string();
            let f: Vec<f64> = l
                .split_whitespace()
                .skip(1)
                .filter_map(|v| v.parse().ok())
                .collect();
            // user nice system idle iowait irq softirq steal
            Some(
                (f.first()?
                    + f.get(1)?
                    + f.get(2)?
                    + f.get(5)?
                    + f.get(6)?
                    + f.get(7).unwrap_or(&0.0))
                    / clk_tck(),
            )
        })
        .unwrap_or(0.0)
}

/// Voluntary + involuntary context switches of every thread of `pid`.
pub fn ctx_switches(pid: u32) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for e in rd.flatten() {
            if let Ok(s) = std::fs::read_to_string(e.path().join("status")) {
                for l in s.lines() {
                    if l.starts_with("voluntary_ctxt_switches:")
                        || l.starts_with("nonvoluntary_ctxt_switches:")
                    {
                        total += l
                            .split_whitespace()
                            .nth(1)
                            .and_then(|v| v.parse::<u64>().ok())
                            .unwrap_or(0);
                    }
                }
            }
        }
    }
    total
}

/// Direct children of `pid` (nginx workers of the master).
pub fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            if let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) {
                if stat_fields(p).and_then(|f| f.get(1)?.parse::<u32>().ok()) == Some(pid) {
                    out.push(p);
                }
            }
        }
    }
    out
}

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

pub fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:")
}

pub fn hwm_kib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM:")
}

/// The anonymous part of the RSS (heap, stacks: what the process allocated) and the file-backed
/// part (the binary's pages read so far, shared with the page cache), in KiB.
pub fn rss_split_kib(pid: u32) -> (u64, u64) {
    (status_kib(pid, "RssAnon:"), status_kib(pid, "RssFile:"))
}

/// Resets VmHWM to the current RSS (`echo 5 > /proc/<pid>/clear_refs`, Linux ≥ 4.0).
pub fn reset_hwm(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// A set of processes measured together (nginx master + workers count as one proxy).
#[derive(Clone, Debug, Default)]
pub struct Group {
    pub pids: Vec<u32>,
}

impl Group {
    pub fn cpu(&self) -> f64 {
        self.pids.iter().map(|&p| cpu_secs(p)).sum()
    }
    pub fn ctx_switches(&self) -> u64 {
        self.pids.iter().map(|&p| ctx_switches(p)).sum()
    }
    pub fn hwm_kib(&self) -> u64 {
        self.pids.iter().map(|&p| hwm_kib(p)).sum()
    }
    pub fn rss_kib(&self) -> u64 {
        self.pids.iter().map(|&p| rss_kib(p)).sum()
    }
    pub fn reset_hwm(&self) -> bool {
        self.pids.iter().all(|&p| reset_hwm(p))
    }
}

/// Samples the RSS of a group every `every` (peak and the time series).
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    series: Arc<Mutex<Vec<(f64, u64)>>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    pub fn start(g: Group, every: Duration) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let series = Arc::new(Mutex::new(Vec::new()));
        let (s, p, ser) = (stop.clone(), peak.clone(), series.clone());
        let handle = std::thread::spawn(move || {
            let t0 = Instant::now();
            while !s.load(Ordering::Relaxed) {
                let r = g.rss_kib();
                p.fetch_max(r, Ordering::Relaxed);
                ser.lock()
                    .expect("lock")
                    .push((t0.elapsed().as_secs_f64(), r));
                std::thread::sleep(every);
            }
        });
        RssSampler {
            stop,
            peak,
            series,
            handle: Some(handle),
        }
    }

    /// Stops; returns (peak KiB, samples (seconds, KiB)).
    pub fn finish(mut self) -> (u64, Vec<(f64, u64)>) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        let s = self.series.lock().expect("lock").clone();
        (self.peak.load(Ordering::Relaxed), s)
    }
}

/// SIGTERM by PID, wait up to 15 s, then SIGKILL.
pub fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The fast backend: this bench binary re-executed as `__sink`.
pub struct Sink {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Sink {
    pub fn start(threads: usize) -> Sink {
        let (child, addr) = spawn_self(&["__sink".into(), threads.to_string()], "sink", true);
        Sink { child, addr }
    }
}

/// This bench binary re-executed with `args`; it prints the port it listens on as its first line.
fn spawn_self(args: &[String], what: &str, stderr: bool) -> (Child, SocketAddr) {
    let exe = std::env::current_exe().expect("current exe");
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(if stderr {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .unwrap_or_else(|e| panic!("{what}'s port: {e}"));
    let port: u16 = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{what} printed no port: {line:?}"));
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    wait_port(addr, &mut child, what, None);
    (child, addr)
}

/// A bare pingora proxy in front of the sink: this bench binary re-executed as `__pingora`
/// (`floor.rs`).
pub struct Floor {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Floor {
    pub fn start(backend: SocketAddr, threads: usize) -> Floor {
        let args = [
            "__pingora".to_string(),
            backend.port().to_string(),
            threads.to_string(),
        ];
        let (child, addr) = spawn_self(&args, "bare pingora proxy", false);
        Floor { child, addr }
    }
}

pub const ADMIN_AK: &str = "bench-admin";
pub const ADMIN_SK: &str = "bench-admin-secret";

pub struct Osprey {
    pub child: Child,
    pub s3: SocketAddr,
    pub osis: SocketAddr,
    pub log: PathBuf,
}

impl Osprey {
    /// Starts the release binary with a generated config: backend `sink` (kind s3 → the sink),
    /// and `ceph` (kind s3 → the RGW) when `rgw` is given; buckets `rgw-*` route to `ceph`.
    pub fn start(dir: &Path, sink: SocketAddr, rgw: Option<(&str, &str, &str)>) -> Osprey {
        Self::start_with(dir, sink, rgw, "")
    }

    /// [`Osprey::start`] with `extra` TOML appended (the `--store` run's `[store]` section).
    pub fn start_with(
        dir: &Path,
        sink: SocketAddr,
        rgw: Option<(&str, &str, &str)>,
        extra: &str,
    ) -> Osprey {
        Self::start_bin(
            Path::new(env!("CARGO_BIN_EXE_osprey")),
            dir,
            sink,
            rgw,
            extra,
        )
    }

    /// [`Osprey::start_with`] for another build of Osprey (the `--ab` run's before and after).
    pub fn start_bin(
        bin: &Path,
        dir: &Path,
        sink: SocketAddr,
        rgw: Option<(&str, &str, &str)>,
        extra: &str,
    ) -> Osprey {
        Self::start_env(bin, dir, sink, rgw, extra, &[])
    }

    /// [`Osprey::start_bin`] with environment variables set for this Osprey only.
    pub fn start_env(
        bin: &Path,
        dir: &Path,
        sink: SocketAddr,
        rgw: Option<(&str, &str, &str)>,
        extra: &str,
        env: &[(String, String)],
    ) -> Osprey {
        let s3: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let osis: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let mut cfg = format!(
            r#"# generated by benches/load
[server]
data_dir = "{data}"
osis_listen = "{osis}"
s3_listen = "{s3}"
[osis]
admin_access_key = "{ADMIN_AK}"
admin_secret_key = "{ADMIN_SK}"
{log}[[backends]]
name = "sink"
kind = "s3"
endpoint = "http://{sink}"
region = "us-east-1"
access_key = "SINKACCESSKEY"
secret_key = "SINKSECRETKEY"
"#,
            data = dir.join("data").display(),
            // an `extra` with its own `[log]` table replaces this one (TOML opens a table once)
            log = if extra.contains("[log]") {
                ""
            } else {
                "[log]\nlevel = \"info\"\n"
            }
        );
        let rules = if let Some((endpoint, ak, sk)) = rgw {
            cfg.push_str(&format!(
                "[[backends]]\nname = \"ceph\"\nkind = \"s3\"\nendpoint = \"{endpoint}\"\nregion = \"us-east-1\"\naccess_key = \"{ak}\"\nsecret_key = \"{sk}\"\n"
            ));
            r#"[ { buckets = "rgw-*", backend = "ceph" }, { buckets = "*", backend = "sink" } ]"#
        } else {
            r#"[ { buckets = "*", backend = "sink" } ]"#
        };
        cfg.push_str(&format!(
            "[routing]\ndefault_table = \"standard\"\n[routing.tables.standard]\nrules = {rules}\n"
        ));
        let (server_keys, extra) = split_server_keys(extra);
        cfg = cfg.replacen("[server]\n", &format!("[server]\n{server_keys}"), 1);
        cfg.push_str(&extra);
        let path = dir.join("osprey.toml");
        std::fs::write(&path, cfg).expect("write config");
        // the log lives outside the config's directory: Osprey watches that directory (inotify)
        // for config changes, so a log written there wakes its watcher on every request
        let logs = dir.join("logs");
        std::fs::create_dir_all(&logs).expect("log dir");
        let log = logs.join("osprey.log");
        let f = std::fs::File::create(&log).expect("log file");
        let mut child = Command::new(bin)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .arg("serve")
            .arg("--config")
            .arg(&path)
            .arg("--accept-license")
            .stdin(Stdio::null())
            .stdout(f.try_clone().expect("log"))
            .stderr(f)
            .spawn()
            .expect("start osprey");
        wait_port(osis, &mut child, "osprey", Some(&log));
        wait_port(s3, &mut child, "osprey", Some(&log));
        Osprey {
            child,
            s3,
            osis,
            log,
        }
    }
}

/// An `extra` config's own `[server]` keys (e.g. `s3_threads = 1`), which must go into the
/// generated `[server]` table (TOML opens a table once), and the rest of `extra`.
fn split_server_keys(extra: &str) -> (String, String) {
    let (mut keys, mut rest, mut in_server) = (String::new(), String::new(), false);
    for line in extra.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            in_server = t == "[server]";
            if in_server {
                continue;
            }
        }
        let to = if in_server { &mut keys } else { &mut rest };
        to.push_str(line);
        to.push('\n');
    }
    (keys, rest)
}

pub struct Nginx {
    pub child: Child,
    /// Listener proxying to the sink.
    pub sink: SocketAddr,
    /// Listener proxying to the RGW (if any).
    pub rgw: Option<SocketAddr>,
}

pub fn nginx_version() -> Option<String> {
    let o = Command::new("nginx").arg("-v").output().ok()?;
    Some(String::from_utf8_lossy(&o.stderr).trim().to_string())
}

impl Nginx {
    /// nginx as a plain reverse proxy: no signing, no buffering of bodies (streams both ways like
    /// Osprey), HTTP/1.1 keep-alive to the upstream, access log on (Osprey logs every request too).
    pub fn start(dir: &Path, sink: SocketAddr, rgw: Option<&str>) -> Option<Nginx> {
        nginx_version()?;
        let d = dir.join("nginx");
        std::fs::create_dir_all(d.join("logs")).ok()?;
        let sink_port = free_port();
        let rgw_port = rgw.map(|_| free_port());
        let mut conf = format!(
            r#"# generated by benches/load
daemon off;
master_process on;
user root;
worker_processes 2;
pid {d}/nginx.pid;
error_log {d}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log {d}/logs/access.log;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    client_max_body_size 0;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    proxy_http_version 1.1;
    proxy_request_buffering off;
    proxy_buffering off;
    proxy_read_timeout 120s;
    proxy_send_timeout 120s;
    upstream sink {{ server {sink}; keepalive 256; }}
    server {{
        listen 127.0.0.1:{sink_port};
        location / {{ proxy_pass http://sink; proxy_set_header Connection ""; proxy_set_header Host $http_host; }}
    }}
"#,
            d = d.display()
        );
        if let (Some(rgw), Some(port)) = (rgw, rgw_port) {
            conf.push_str(&format!(
                r#"    upstream rgw {{ server {rgw}; keepalive 256; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{ proxy_pass http://rgw; proxy_set_header Connection ""; proxy_set_header Host {rgw}; }}
    }}
"#
            ));
        }
        conf.push_str("}\n");
        let path = d.join("nginx.conf");
        std::fs::write(&path, conf).ok()?;
        let mut child = Command::new("nginx")
            .arg("-p")
            .arg(&d)
            .arg("-c")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .ok()?;
        let sink_addr: SocketAddr = ([127, 0, 0, 1], sink_port).into();
        wait_port(
            sink_addr,
            &mut child,
            "nginx",
            Some(&d.join("logs/error.log")),
        );
        let rgw_addr = rgw_port.map(|p| SocketAddr::from(([127, 0, 0, 1], p)));
        Some(Nginx {
            child,
            sink: sink_addr,
            rgw: rgw_addr,
        })
    }

    pub fn group(&self) -> Group {
        let mut pids = vec![self.child.id()];
        pids.extend(children(self.child.id()));
        Group { pids }
    }

    /// SIGQUIT (graceful) by PID, then wait.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg("-QUIT")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
