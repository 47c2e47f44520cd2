//! Backend drivers against real servers: Ceph RGW 16 (Admin Ops) and moto (IAM).

mod real;

use std::sync::Arc;

use osprey::backend::ceph_rgw::CephRgwBackend;
use osprey::backend::iam::IamBackend;
use osprey::backend::{Backend, BackendError, TenantRef, UserRef};
use osprey::config::{BackendConfig, BackendSpec, Config, Env};

fn backend_config(kind: &str, endpoint: &str, ak: &str, sk: &str) -> Arc<BackendConfig> {
    let toml = format!(
        "[osis]\nadmin_access_key=\"a\"\nadmin_secret_key=\"12345678\"\n[[backends]]\nname=\"b1\"\nkind=\"{kind}\"\nendpoint=\"{endpoint}\"\naccess_key=\"{ak}\"\nsecret_key=\"{sk}\"\n"
    );
    Config::from_toml_str(&toml, "test", &Env::default())
        .unwrap()
        .backends[0]
        .clone()
}

fn ceph_rgw(endpoint: &str, ak: &str, sk: &str) -> CephRgwBackend {
    let cfg = backend_config("ceph-rgw", endpoint, ak, sk);
    let BackendSpec::CephRgw(spec) = &cfg.spec else {
        panic!("kind ceph-rgw gives a CephRgw spec: {cfg:?}")
    };
    CephRgwBackend::new(cfg.clone(), spec).unwrap()
}

fn iam(endpoint: &str, ak: &str, sk: &str) -> IamBackend {
    let cfg = backend_config("iam", endpoint, ak, sk);
    let BackendSpec::Iam(spec) = &cfg.spec else {
        panic!("kind iam gives an Iam spec: {cfg:?}")
    };
    IamBackend::new(cfg.clone(), spec).unwrap()
}

fn s3_client(endpoint: &str, ak: &str, sk: &str) -> aws_sdk_s3::Client {
    let creds = aws_sdk_s3::config::Credentials::new(ak, sk, None, None, "test");
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version_latest()
        .endpoint_url(endpoint)
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{:08x}", rand_u32())
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now()) as u32
}

#[tokio::test(flavor = "multi_thread")]
async fn ceph_rgw_identity_lifecycle() {
    let ep = real::ceph_rgw();
    let rgw = ceph_rgw(ep, real::RGW_ADMIN_KEY, real::RGW_ADMIN_SECRET);
    let tenant = TenantRef {
        tenant_id: unique("t"),
        name: "Acme".into(),
    };
    let user = UserRef {
        tenant_id: tenant.tenant_id.clone(),
        user_id: "4f1c-22aa-user".into(),
        display_name: "alice".into(),
        email: None,
    };

    rgw.ensure_tenant(&tenant).await.unwrap();
    let id = rgw.ensure_identity(&tenant, &user).await.unwrap();
    assert_eq!(
        id.backend_user,
        format!("{}$4f1c-22aa-user", tenant.tenant_id)
    );
    // idempotent: re-running finds what exists (same key)
    let again = rgw.ensure_identity(&tenant, &user).await.unwrap();
    assert_eq!(again.key.access_key, id.key.access_key);
    // visible on the backend with radosgw-admin
    let out = real::radosgw_admin(&["user", "info", "--uid", &id.backend_user]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // the key works for S3 in the tenant's own namespace
    let s3 = s3_client(ep, &id.key.access_key, &id.key.secret_key);
    s3.create_bucket().bucket("same").send().await.unwrap();
    let names: Vec<_> = s3
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_string))
        .collect();
    assert_eq!(names, vec!["same".to_string()]);

    // suspended users are refused by RGW
    rgw.set_identity_active(&id, false).await.unwrap();
    assert_eq!(rgw.is_suspended(&id).await.unwrap(), Some(true));
    assert!(s3.list_buckets().send().await.is_err());
    rgw.set_identity_active(&id, true).await.unwrap();
    assert_eq!(rgw.is_suspended(&id).await.unwrap(), Some(false));

    // delete with purge leaves nothing on the backend; deleting again is fine
    rgw.delete_tenant(&tenant, true).await.unwrap();
    let out = real::radosgw_admin(&["user", "info", "--uid", &id.backend_user]);
    assert!(!out.status.success(), "user still exists after purge");
    let out = real::radosgw_admin(&[
        "bucket",
        "stats",
        "--bucket",
        &format!("{}/same", tenant.tenant_id),
    ]);
    assert!(!out.status.success(), "bucket still exists after purge");
    rgw.delete_identity(&id, true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn ceph_rgw_bad_admin_key_is_refused_with_backend_name() {
    let ep = real::ceph_rgw();
    let rgw = ceph_rgw(ep, real::RGW_ADMIN_KEY, "wrong-secret");
    let tenant = TenantRef {
        tenant_id: unique("t"),
        name: "x".into(),
    };
    let user = UserRef {
        tenant_id: tenant.tenant_id.clone(),
        user_id: "u".into(),
        display_name: "u".into(),
        email: None,
    };
    match rgw.ensure_identity(&tenant, &user).await {
        Err(e @ BackendError::Refused { .. }) => {
            assert!(e.to_string().contains("backend `b1`"), "{e}")
        }
        other => panic!("expected Refused, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_backend_is_unavailable_and_retryable() {
    let port = real::free_port();
    let rgw = ceph_rgw(&format!("http://127.0.0.1:{port}"), "a", "b");
    let tenant = TenantRef {
        tenant_id: "t1".into(),
        name: "x".into(),
    };
    let user = UserRef {
        tenant_id: "t1".into(),
        user_id: "u".into(),
        display_name: "u".into(),
        email: None,
    };
    let e = rgw.ensure_identity(&tenant, &user).await.unwrap_err();
    assert!(e.retryable(), "{e}");
    // the message names the cause under reqwest's "error sending request for url (…)", so an
    // operator can tell a refused connection from a reset or a TLS failure (troubleshooting.md)
    let m = e.to_string();
    assert!(m.contains("admin API unreachable"), "{m}");
    assert!(m.to_lowercase().contains("connection refused"), "{m}");
}

#[tokio::test(flavor = "multi_thread")]
async fn iam_identity_lifecycle_against_moto() {
    let moto = real::Moto::start();
    let iam = iam(&moto.endpoint, "AKIDADMIN000000000000", "admin-secret");
    let tenant = TenantRef {
        tenant_id: "t0123456789abcdef".into(),
        name: "Acme".into(),
    };
    let user = UserRef {
        tenant_id: tenant.tenant_id.clone(),
        user_id: "alice".into(),
        display_name: "alice".into(),
        email: None,
    };
    let id = iam.ensure_identity(&tenant, &user).await.unwrap();
    assert_eq!(id.backend_user, "t0123456789abcdef.alice");
    assert_eq!(id.key.access_key.len(), 20);
    // a retry after a crash (secret unknown to Osprey) replaces the key instead of failing
    let again = iam.ensure_identity(&tenant, &user).await.unwrap();
    assert_ne!(again.key.access_key, id.key.access_key);
    iam.set_identity_active(&again, false).await.unwrap();
    iam.set_identity_active(&again, true).await.unwrap();
    // the old key was deleted: changing it is refused
    assert!(matches!(
        iam.set_identity_active(&id, false).await,
        Err(BackendError::Refused { .. })
    ));
    iam.delete_tenant(&tenant, true).await.unwrap();
    // gone: ensure creates it anew
    let fresh = iam.ensure_identity(&tenant, &user).await.unwrap();
    iam.delete_identity(&fresh, true).await.unwrap();
}

/// RGW lists at most 1 000 users per call: the driver follows `marker` until `truncated` is
/// false (deleting a tenant read only the first page before; on an RGW with more users, the
/// tenant's users were left behind). Walked here with 3 users per page against radosgw-admin's
/// own full list. The test makes its own 10 users, so a fresh RGW (CI's) has several pages too.
#[tokio::test]
async fn ceph_rgw_user_listing_follows_every_page() {
    let ep = real::ceph_rgw();
    let rgw = ceph_rgw(ep, real::RGW_ADMIN_KEY, real::RGW_ADMIN_SECRET);
    let tenant = TenantRef {
        tenant_id: unique("t"),
        name: "Pages".into(),
    };
    rgw.ensure_tenant(&tenant).await.unwrap();
    for i in 0..10 {
        let user = UserRef {
            tenant_id: tenant.tenant_id.clone(),
            user_id: format!("u{i}"),
            display_name: format!("u{i}"),
            email: None,
        };
        rgw.ensure_identity(&tenant, &user).await.unwrap();
    }
    // other tests of this binary add and remove users meanwhile: compare what is stable
    let out = real::radosgw_admin(&["user", "list"]);
    assert!(out.status.success());
    let before: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        before.len() > 9,
        "more users than three pages: {}",
        before.len()
    );
    let got = rgw.users_in_pages(3).await.unwrap();
    let unique: std::collections::BTreeSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), got.len(), "a user listed twice across pages");
    for i in 0..10 {
        let uid = format!("{}$u{i}", tenant.tenant_id);
        assert!(got.contains(&uid), "{uid} missing from the paged listing");
    }
    assert!(
        got.len() + 20 >= before.len(),
        "pages stopped early: {} of about {}",
        got.len(),
        before.len()
    );
    rgw.delete_tenant(&tenant, true).await.unwrap();
    let left = rgw.users_in_pages(3).await.unwrap();
    assert!(!left
        .iter()
        .any(|u| u.starts_with(&format!("{}$", tenant.tenant_id))));
}
