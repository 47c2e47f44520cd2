//! Real-client flows with boto3 (PyPI) through the real `osprey` binary (issue 10): SigV2 header
//! and query authentication, SigV4 for comparison, tampered and expired SigV2 URLs — against the
//! embedded store and a real Ceph RGW behind the `ceph-rgw` kind. The script is
//! `tests/clients/boto3_flows.py`; every step it reports must hold.

mod common;
mod real;

use common::{Osis, Osprey, LOCAL_CONFIG};

async fn boto3_flows(o: &Osprey, prefix: &str) {
    common::run_client_flows(o, &real::python(), "boto3_flows.py", prefix, &[], 1, 12).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn boto3_sigv2_and_sigv4_on_the_embedded_store() {
    let o = Osprey::start(LOCAL_CONFIG);
    boto3_flows(&o, "b3local").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn boto3_sigv2_and_sigv4_on_ceph_rgw_kind() {
    real::ceph_rgw();
    let cfg = LOCAL_CONFIG.replace(
        "[[backends]]\nname = \"local\"\nkind = \"local\"\n",
        "[[backends]]\nname = \"ceph\"\nkind = \"ceph-rgw\"\nendpoint = \"http://127.0.0.1:7480\"\naccess_key = \"ADMINKEY\"\nsecret_key = \"ADMINSECRET\"\nregion = \"default\"\n",
    )
    .replace("backend = \"local\"", "backend = \"ceph\"");
    let o = Osprey::start(&cfg);
    boto3_flows(&o, "b3ceph").await;
}

/// `s3.sigv2 = false` (the hardened proof case) refuses SigV2 with InvalidRequest.
#[tokio::test(flavor = "multi_thread")]
async fn sigv2_can_be_switched_off() {
    let o = Osprey::start(&format!("{LOCAL_CONFIG}\n[s3]\nsigv2 = false\n"));
    let osis = Osis::new(o.osis());
    let t = osis.tenant("nov2", "nov2-org").await;
    let (_, ak, _) = osis.user(&t, "nov2-org", "alice").await;
    let r = reqwest::Client::new()
        .get(format!("{}/", o.s3()))
        .header("authorization", format!("AWS {ak}:c2lnbmF0dXJl"))
        .header(
            "date",
            httpdate::fmt_http_date(std::time::SystemTime::now()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body = r.text().await.unwrap();
    assert!(body.contains("<Code>InvalidRequest</Code>"), "{body}");
}

/// The same flows on a shared-namespace backend (`s3` kind, one service key on RGW): POST
/// policies name the tenant-prefixed backend bucket upstream, re-signed with the service key.
#[tokio::test(flavor = "multi_thread")]
async fn boto3_flows_on_the_s3_kind() {
    real::ceph_rgw();
    let cfg = LOCAL_CONFIG.replace(
        "[[backends]]\nname = \"local\"\nkind = \"local\"\n",
        "[[backends]]\nname = \"ceph\"\nkind = \"s3\"\nendpoint = \"http://127.0.0.1:7480\"\naccess_key = \"ADMINKEY\"\nsecret_key = \"ADMINSECRET\"\nregion = \"default\"\n",
    )
    .replace("backend = \"local\"", "backend = \"ceph\"");
    let o = Osprey::start(&cfg);
    boto3_flows(&o, "b3s3").await;
}
