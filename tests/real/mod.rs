//! Real backends for integration tests, started on 127.0.0.1 by the tests themselves so that
//! `cargo test` needs nothing started by hand:
//! - Ceph RGW 16 from Debian's packages via `backends/ceph-rgw/start.sh` (shared by all tests of a
//!   run; the script installs packages when missing and reuses a running cluster);
//! - moto[server] (an IAM-compatible server) from PyPI in a venv under `target/`.
#![allow(dead_code)]

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

// the same file as `common`'s module on purpose: each copy keeps its own counter over its own
// range, and the bench includes this module without `common`
#[allow(clippy::duplicate_mod)]
#[path = "../common/ports.rs"]
mod ports;

/// A free loopback port for the real servers (moto, PostgreSQL), from 26 000–31 999
/// (`tests/common/ports.rs`): a range of its own, apart from `common::free_port`'s.
pub fn free_port() -> u16 {
    static NEXT: std::sync::OnceLock<std::sync::atomic::AtomicU32> = std::sync::OnceLock::new();
    ports::pick(&NEXT, 26_000, 6_000)
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

/// Superuser of the throwaway PostgreSQL clusters, and its password.
pub const PG_USER: &str = "osprey";
pub const PG_PASSWORD: &str = "pg-test-password";

/// The server binaries of Debian's `postgresql` package (`OSPREY_TEST_PG_BIN` overrides): the
/// newest `/usr/lib/postgresql/<v>/bin` with an `initdb`.
pub fn pg_bin() -> PathBuf {
    if let Ok(p) = std::env::var("OSPREY_TEST_PG_BIN") {
        return PathBuf::from(p);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b).unwrap_or_else(|| {
        panic!("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin: install Debian's `postgresql` package (.ci/run does), or set OSPREY_TEST_PG_BIN")
    })
}

/// A throwaway PostgreSQL cluster owned by one test: `initdb` in a temp dir (as `nobody` when the
/// tests run as root: initdb refuses root), password authentication (SCRAM), listening on
/// 127.0.0.1 only on a free port, no Unix socket. The default collation is ICU `en-US`, so a
/// query that relies on the database's collation for byte order shows up. Stopped on drop.
pub struct Postgres {
    dir: tempfile::TempDir,
    pub port: u16,
    bin: PathBuf,
    run_as: Option<String>,
    tls: bool,
}

/// Options of [`Postgres::start_with`].
#[derive(Default)]
pub struct PgOptions {
    /// Serve TLS with a certificate for IP 127.0.0.1 signed by a test CA (`ca_cert()`), and refuse
    /// unencrypted connections (`hostssl` only).
    pub tls: bool,
}

impl Postgres {
    pub fn start() -> Postgres {
        Self::start_with(PgOptions::default())
    }

    pub fn start_with(opts: PgOptions) -> Postgres {
        let bin = pg_bin();
        let dir = tempfile::tempdir().unwrap();
        let root = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        let run_as = root.then(|| "nobody".to_string());
        let pg = dir.path().join("pg");
        std::fs::create_dir(&pg).unwrap();
        std::fs::write(pg.join("pwfile"), PG_PASSWORD).unwrap();
        if let Some(u) = &run_as {
            use std::os::unix::fs::PermissionsExt;
            // the unprivileged user must reach its directory
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            let st = Command::new("chown")
                .args(["-R", u])
                .arg(&pg)
                .status()
                .unwrap();
            assert!(st.success(), "chown {}", pg.display());
        }
        let mut o = Postgres {
            dir,
            port: free_port(),
            bin,
            run_as,
            tls: opts.tls,
        };
        let data = o.data_dir();
        let out = o
            .cmd("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", PG_USER, "--auth=scram-sha-256", "--no-sync"])
            .arg(format!(
                "--pwfile={}",
                o.dir.path().join("pg/pwfile").display()
            ))
            .args([
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--locale-provider=icu",
                "--icu-locale=en-US",
            ])
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if opts.tls {
            o.make_server_cert();
            std::fs::write(
                data.join("pg_hba.conf"),
                "hostssl all all 127.0.0.1/32 scram-sha-256\n",
            )
            .unwrap();
        }
        o.pg_ctl_start();
        o
    }

    /// Start the cluster again after [`Postgres::stop`] (same port, same data).
    pub fn start_again(&mut self) {
        self.pg_ctl_start();
    }

    fn cmd(&self, tool: &str) -> Command {
        match &self.run_as {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--"]).arg(self.bin.join(tool));
                c
            }
            None => Command::new(self.bin.join(tool)),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("pg/data")
    }

    fn pg_ctl_start(&mut self) {
        let tls = self.tls;
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories= -c shared_buffers=16MB -c max_connections=60{}",
            self.port,
            if tls { " -c ssl=on" } else { "" }
        );
        let out = self
            .cmd("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.dir.path().join("pg/server.log"))
            .args(["-w", "-t", "60", "-o", &opts, "start"])
            .output()
            .expect("run pg_ctl start");
        assert!(
            out.status.success(),
            "PostgreSQL did not start:\n{}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }

    /// A test CA (`ca_cert()`) and a server certificate it signed for IP 127.0.0.1 as
    /// `server.crt`/`server.key` in the data dir.
    fn make_server_cert(&self) {
        let data = self.data_dir();
        let tls = self.dir.path().join("tls");
        std::fs::create_dir_all(&tls).unwrap();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(&tls)
                .output()
                .expect("run openssl");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=osprey test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ]);
        std::fs::write(
            tls.join("ext.cnf"),
            "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "server.crt",
        ]);
        for f in ["server.key", "server.crt"] {
            std::fs::copy(tls.join(f), data.join(f)).unwrap();
            if let Some(u) = &self.run_as {
                let st = Command::new("chown")
                    .arg(u)
                    .arg(data.join(f))
                    .status()
                    .unwrap();
                assert!(st.success());
            }
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            data.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }

    /// The CA that signed the server's certificate (PEM), for `sslmode = "verify-full"`.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.path().join("tls/ca.crt")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pg/server.log")).unwrap_or_default()
    }

    /// `postgres://osprey:<password>@127.0.0.1:<port>/<db>`.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{}/{db}",
            self.port
        )
    }

    /// The same without the password (for `password_file`).
    pub fn url_without_password(&self, db: &str) -> String {
        format!("postgres://{PG_USER}@127.0.0.1:{}/{db}", self.port)
    }

    /// `psql -At` on `db`; panics with psql's message when the statement fails.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"])
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                PG_USER,
                "-d",
                db,
                "-c",
                sql,
            ])
            .env("PGPASSWORD", PG_PASSWORD)
            .env("PGSSLMODE", "prefer")
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql `{sql}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A new, empty database.
    pub fn create_database(&self, name: &str) {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""));
    }

    /// Stop the server now (`pg_ctl stop -m fast`).
    pub fn stop(&self) {
        let _ = self
            .cmd("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "fast", "-w", "-t", "30", "stop"])
            .output();
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}
