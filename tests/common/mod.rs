//! Starts the real `osprey` binary for integration tests (garage `tests/common/` style): a fresh
//! data directory, free loopback ports, `--accept-license`, logs captured to a file, and helpers to
//! stop it gracefully, kill it with SIGKILL and start it again on the same data.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ADMIN_AK: &str = "test-admin";
pub const ADMIN_SK: &str = "test-admin-secret";

// also included by `real` (its own copy, its own range)
#[allow(clippy::duplicate_mod)]
mod ports;

/// A free loopback port for Osprey's listeners, from 20 000–25 999 (`tests/common/ports.rs`).
pub fn free_port() -> u16 {
    static NEXT: std::sync::OnceLock<std::sync::atomic::AtomicU32> = std::sync::OnceLock::new();
    ports::pick(&NEXT, 20_000, 6_000)
}

pub struct Osprey {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub osis_port: u16,
    pub s3_port: u16,
    child: Option<Child>,
    pub extra_env: Vec<(String, String)>,
}

/// Default body of a test config: `{data_dir}`, `{osis}` and `{s3}` are filled in.
pub const LOCAL_CONFIG: &str = r#"
[server]
data_dir = "{data_dir}"
osis_listen = "127.0.0.1:{osis}"
s3_listen = "127.0.0.1:{s3}"
[osis]
admin_access_key = "test-admin"
admin_secret_key = "test-admin-secret"
bearer = true
[log]
level = "debug"
[[backends]]
name = "local"
kind = "local"
[routing]
default_table = "standard"
[routing.tables.standard]
rules = [ { buckets = "*", backend = "local" } ]
"#;

impl Osprey {
    /// Write the config (template placeholders filled) and start the binary; waits until OSIS answers.
    pub fn start(template: &str) -> Osprey {
        Self::start_with_env(template, Vec::new())
    }

    pub fn start_with_env(template: &str, env: Vec<(String, String)>) -> Osprey {
        let dir = tempfile::tempdir().unwrap();
        let osis_port = free_port();
        let s3_port = free_port();
        let data = dir.path().join("data");
        let text = template
            .replace("{data_dir}", data.to_str().unwrap())
            .replace("{osis}", &osis_port.to_string())
            .replace("{s3}", &s3_port.to_string())
            .replace("{dir}", dir.path().to_str().unwrap());
        let config = dir.path().join("osprey.toml");
        std::fs::write(&config, text).unwrap();
        let mut o = Osprey {
            dir,
            config,
            osis_port,
            s3_port,
            child: None,
            extra_env: env,
        };
        o.spawn();
        o
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("osprey.log")
    }

    /// Osprey's log so far. Osprey's log writer writes on a tick
    /// (`telemetry::LOG_FLUSH_INTERVAL`, issue 13), so a line logged just before this call
    /// reaches the file up to one tick later: three ticks are waited out first.
    pub fn logs(&self) -> String {
        std::thread::sleep(3 * osprey::telemetry::LOG_FLUSH_INTERVAL);
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        // OSPREY_TEST_BIN runs the suite against another build (e.g. the release before a fix,
        // to show a regression test failing there)
        let bin = std::env::var("OSPREY_TEST_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_osprey").to_string());
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg("--config")
            .arg(&self.config)
            .arg("--accept-license")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("start osprey"));
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    panic!("osprey exited during start ({status}):\n{}", self.logs());
                }
            }
            let osis = std::net::TcpStream::connect(("127.0.0.1", self.osis_port)).is_ok();
            let s3 = std::net::TcpStream::connect(("127.0.0.1", self.s3_port)).is_ok();
            if osis && s3 {
                return;
            }
            if Instant::now() > deadline {
                panic!("osprey did not start listening in 30 s:\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a graceful exit; returns the exit status.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(s)) = c.try_wait() {
                return Some(s);
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                return c.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status();
    }

    pub fn osis(&self) -> String {
        format!("http://127.0.0.1:{}", self.osis_port)
    }

    pub fn s3(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    pub fn config_path(&self) -> &Path {
        &self.config
    }
}

impl Drop for Osprey {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// An OSIS client with the admin pair.
pub struct Osis {
    pub base: String,
    pub http: reqwest::Client,
}

pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }
}

impl Osis {
    pub fn new(base: String) -> Osis {
        Osis {
            base,
            http: reqwest::Client::new(),
        }
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        auth: Option<(&str, &str)>,
    ) -> Resp {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut r = self.http.request(m, format!("{}{}", self.base, path));
        if let Some((u, p)) = auth {
            r = r.basic_auth(u, Some(p));
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.expect("OSIS request");
        Resp {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            text: resp.text().await.unwrap_or_default(),
        }
    }

    pub async fn admin(&self, method: &str, path: &str, body: Option<serde_json::Value>) -> Resp {
        self.call(method, path, body, Some((ADMIN_AK, ADMIN_SK)))
            .await
    }

    pub async fn raw(&self, method: &str, path: &str, body: &str) -> Resp {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let resp = self
            .http
            .request(m, format!("{}{}", self.base, path))
            .basic_auth(ADMIN_AK, Some(ADMIN_SK))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        Resp {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            text: resp.text().await.unwrap_or_default(),
        }
    }

    /// createTenant → tenant_id
    pub async fn tenant(&self, name: &str, cd: &str) -> String {
        let r = self
            .admin(
                "POST",
                "/api/v1/tenants",
                Some(serde_json::json!({"name": name, "active": true, "cd_tenant_ids": [cd]})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.json()["tenant_id"].as_str().unwrap().to_string()
    }

    /// createUser → (user_id, access_key, secret_key) of its first credential
    pub async fn user(
        &self,
        tenant: &str,
        cd_tenant: &str,
        cd_user: &str,
    ) -> (String, String, String) {
        let r = self
            .admin(
                "POST",
                &format!("/api/v1/tenants/{tenant}/users"),
                Some(serde_json::json!({"tenant_id": tenant, "active": true, "username": cd_user, "role": "TENANT_ADMIN", "cd_user_id": cd_user, "cd_tenant_id": cd_tenant})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let uid = r.json()["user_id"].as_str().unwrap().to_string();
        let l = self
            .admin(
                "GET",
                &format!("/api/v1/tenants/{tenant}/users/{uid}/s3credentials"),
                None,
            )
            .await;
        let j = l.json();
        (
            uid,
            j["items"][0]["access_key"].as_str().unwrap().to_string(),
            j["items"][0]["secret_key"].as_str().unwrap().to_string(),
        )
    }
}

/// [`LOCAL_CONFIG`] with every bucket routed to a Ceph RGW through the `ceph-rgw` kind (one RGW
/// user per OSIS user, per-tenant namespaces).
pub fn ceph_rgw_kind_config(endpoint: &str) -> String {
    LOCAL_CONFIG
        .replace(
            "[[backends]]\nname = \"local\"\nkind = \"local\"\n",
            &format!("[[backends]]\nname = \"ceph\"\nkind = \"ceph-rgw\"\nendpoint = \"{endpoint}\"\naccess_key = \"ADMINKEY\"\nsecret_key = \"ADMINSECRET\"\nregion = \"default\"\ntimeout_ms = 2000\n"),
        )
        .replace("backend = \"local\"", "backend = \"ceph\"")
        .replace("[log]", "[s3]\nfanout_timeout_ms = 1500\n[log]")
}

/// Runs a client-flow script of `tests/clients/` (`--endpoint`, `--access-key`, `--secret-key`,
/// `--bucket-prefix` and `extra`) for a fresh tenant and user, and asserts that at least
/// `min_steps` steps ran and every one held: steps are JSON arrays whose `ok_at`-th element is
/// `true`.
pub async fn run_client_flows(
    o: &Osprey,
    python: &Path,
    script: &str,
    prefix: &str,
    extra: &[&str],
    ok_at: usize,
    min_steps: usize,
) {
    let osis = Osis::new(o.osis());
    let t = osis
        .tenant(&format!("{prefix}-t"), &format!("{prefix}-org"))
        .await;
    let (_, ak, sk) = osis.user(&t, &format!("{prefix}-org"), "alice").await;
    let path = format!("{}/tests/clients/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(python)
        .arg(&path)
        .args([
            "--endpoint",
            &o.s3(),
            "--access-key",
            &ak,
            "--secret-key",
            &sk,
        ])
        .args(["--bucket-prefix", prefix])
        .args(extra)
        .output()
        .unwrap_or_else(|e| panic!("run {script}: {e}"));
    assert!(
        out.status.success(),
        "{script} crashed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("JSON from {script}: {e}"));
    let steps = v["steps"].as_array().expect("steps");
    let failed: Vec<&serde_json::Value> = steps.iter().filter(|s| s[ok_at] != true).collect();
    assert!(steps.len() >= min_steps, "too few steps ran: {steps:?}");
    assert!(
        failed.is_empty(),
        "failed steps: {failed:#?}\nlog:\n{}",
        o.logs()
    );
}

/// An aws-sdk-rust S3 client for Osprey's S3 listener: path style, static credentials.
pub fn s3_client(endpoint: &str, ak: &str, sk: &str, region: &str) -> aws_sdk_s3::Client {
    let creds = aws_sdk_s3::config::Credentials::new(ak, sk, None, None, "test");
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version_latest()
        .endpoint_url(endpoint)
        .region(aws_sdk_s3::config::Region::new(region.to_string()))
        .credentials_provider(creds)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}
