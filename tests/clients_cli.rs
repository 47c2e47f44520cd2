//! Real command-line clients through the real `osprey` binary (issue 10): aws-cli v2 (Debian),
//! aws-cli v1 (PyPI), s3cmd and rclone (Debian) with their defaults — cp/put/get, sync, listing,
//! multipart, presigned URLs (`aws s3 presign`, `s3cmd signurl`) — against the embedded store
//! (the quick start) and a real Ceph RGW behind the `ceph-rgw` kind. The script is
//! `tests/clients/cli_flows.py`; every step it reports must hold, and a client that is not
//! installed is a failed step (`.ci/run` installs them).

mod common;
mod real;

use common::{ceph_rgw_kind_config, Osis, Osprey, LOCAL_CONFIG};

/// aws-cli v1 lives in its own venv (`target/awscli1-venv`, made by `.ci/run`); override with
/// `OSPREY_TEST_AWS1`.
fn aws1() -> String {
    std::env::var("OSPREY_TEST_AWS1").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/awscli1-venv/bin/aws").to_string()
    })
}

async fn cli_flows(o: &Osprey, prefix: &str) {
    let osis = Osis::new(o.osis());
    let t = osis
        .tenant(&format!("{prefix}-t"), &format!("{prefix}-org"))
        .await;
    let (_, ak, sk) = osis.user(&t, &format!("{prefix}-org"), "alice").await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/cli_flows.py");
    let out = std::process::Command::new(real::python())
        .arg(script)
        .args([
            "--endpoint",
            &o.s3(),
            "--access-key",
            &ak,
            "--secret-key",
            &sk,
        ])
        .args(["--bucket-prefix", prefix, "--aws1", &aws1()])
        .output()
        .expect("run cli_flows.py");
    assert!(
        out.status.success(),
        "cli_flows.py crashed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON from cli_flows.py");
    let steps = v["steps"].as_array().expect("steps");
    let failed: Vec<&serde_json::Value> = steps.iter().filter(|s| s[2] != true).collect();
    assert!(steps.len() >= 40, "too few steps ran: {steps:?}");
    assert!(
        failed.is_empty(),
        "failed steps: {failed:#?}\nlog:\n{}",
        o.logs()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_clients_on_the_embedded_store() {
    let o = Osprey::start(LOCAL_CONFIG);
    cli_flows(&o, "clilocal").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_clients_on_ceph_rgw_kind() {
    real::ceph_rgw();
    let o = Osprey::start(&ceph_rgw_kind_config(real::RGW_ENDPOINT));
    cli_flows(&o, "cliceph").await;
}

/// The shared-namespace `s3` kind on the same RGW (one service key; tenant-prefixed buckets).
#[tokio::test(flavor = "multi_thread")]
async fn cli_clients_on_the_s3_kind() {
    real::ceph_rgw();
    let cfg = LOCAL_CONFIG
        .replace(
            "[[backends]]\nname = \"local\"\nkind = \"local\"\n",
            "[[backends]]\nname = \"ceph\"\nkind = \"s3\"\nendpoint = \"http://127.0.0.1:7480\"\naccess_key = \"ADMINKEY\"\nsecret_key = \"ADMINSECRET\"\nregion = \"default\"\n",
        )
        .replace("backend = \"local\"", "backend = \"ceph\"");
    let o = Osprey::start(&cfg);
    cli_flows(&o, "clis3").await;
}
