//! Real backends for integration tests, started on 127.0.0.1 by the tests themselves so that
//! `cargo test` needs nothing started by hand:
//! - Ceph RGW 16 from Debian's packages via `backends/ceph-rgw/start.sh` (shared by all tests of a
//!   run; the script installs packages when missing and reuses a running cluster);
//! - moto[server] (an IAM-compatible server) from PyPI in a venv under `target/`.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const RGW_ENDPOINT: &str = "http://127.0.0.1:7480";
pub const RGW_ADMIN_KEY: &str = "ADMINKEY";
pub const RGW_ADMIN_SECRET: &str = "ADMINSECRET";
/// The recipe's default directory: a cluster already running there (e.g. from .ci/run) is reused.
pub const CEPH_DIR: &str = "/tmp/ceph-rgw";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Start (or reuse) the Ceph RGW cluster; panics with the script's output if it cannot.
pub fn ceph_rgw() -> &'static str {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        let script = repo().join("backends/ceph-rgw/start.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg(CEPH_DIR)
            .output()
            .expect("run backends/ceph-rgw/start.sh");
        assert!(
            out.status.success(),
            "Ceph RGW did not start:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    });
    RGW_ENDPOINT
}

/// `radosgw-admin` against the test cluster.
pub fn radosgw_admin(args: &[&str]) -> std::process::Output {
    Command::new("radosgw-admin")
        .arg("-c")
        .arg(format!("{CEPH_DIR}/ceph.conf"))
        .args(args)
        .output()
        .expect("radosgw-admin")
}

/// Python with boto3 and moto: `OSPREY_TEST_PYTHON`, else a venv made once under target/.
pub fn python() -> PathBuf {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        if let Ok(p) = std::env::var("OSPREY_TEST_PYTHON") {
            return PathBuf::from(p);
        }
        let venv = repo().join("target/test-venv");
        let py = venv.join("bin/python");
        let ok = Command::new(&py)
            .args(["-c", "import boto3, moto, requests"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            let st = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .expect("python3 -m venv");
            assert!(st.success(), "cannot create {}", venv.display());
            let st = Command::new(venv.join("bin/pip"))
                .args(["install", "-q", "boto3", "moto[server]", "requests"])
                .status()
                .expect("pip install");
            assert!(
                st.success(),
                "pip install boto3 moto[server] requests failed"
            );
        }
        py
    })
    .clone()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A moto server (IAM + S3) owned by one test; killed on drop.
pub struct Moto {
    pub endpoint: String,
    child: Child,
}

impl Moto {
    pub fn start() -> Moto {
        Self::start_on(free_port())
    }

    /// Start on a given port (to bring a stopped backend "back" where Osprey expects it).
    pub fn start_on(port: u16) -> Moto {
        let py = python();
        let child = Command::new(&py)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto");
        let endpoint = format!("http://127.0.0.1:{port}");
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "moto did not start on {endpoint}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto { endpoint, child }
    }
}

impl Moto {
    pub fn port(&self) -> u16 {
        self.endpoint.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// Stop the server (a backend outage).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let port = self.port();
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && t.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
