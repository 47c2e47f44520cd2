//! Real command-line clients through the real `osprey` binary (issue 10): aws-cli v2 (Debian),
//! aws-cli v1 (PyPI), s3cmd and rclone (Debian) with their defaults — cp/put/get, sync, listing,
//! multipart, presigned URLs (`aws s3 presign`, `s3cmd signurl`) — against the embedded store
//! (the quick start) and a real Ceph RGW behind the `ceph-rgw` kind. The script is
//! `tests/clients/cli_flows.py`; every step it reports must hold, and a client that is not
//! installed is a failed step (`.ci/run` installs them).

mod common;
mod real;

use common::{ceph_rgw_kind_config, Osprey, LOCAL_CONFIG};

/// aws-cli v1 lives in its own venv (`target/awscli1-venv`, made by `.ci/run`); override with
/// `OSPREY_TEST_AWS1`.
fn aws1() -> String {
    std::env::var("OSPREY_TEST_AWS1").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/awscli1-venv/bin/aws").to_string()
    })
}

async fn cli_flows(o: &Osprey, prefix: &str) {
    let aws1 = aws1();
    common::run_client_flows(
        o,
        &real::python(),
        "cli_flows.py",
        prefix,
        &["--aws1", &aws1],
        2,
        40,
    )
    .await;
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
