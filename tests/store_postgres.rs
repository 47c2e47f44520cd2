//! The PostgreSQL identity store (issue 15) against a real PostgreSQL: a throwaway cluster from
//! Debian's `postgresql` package per test (`real::Postgres`).
//!
//! - `conformance_sqlite_and_postgres_agree`: one sequence of `Store` operations run against
//!   SQLite and PostgreSQL, every result recorded (generated ids replaced by placeholders) and
//!   the two transcripts compared line by line, so the implementations cannot drift;
//! - `serve_on_postgres`: the real binary with `[store] kind = "postgres"`: OSIS onboarding,
//!   S3 through the `local` backend, a restart, secrets sealed in the table, a newer schema
//!   refused;
//! - `store_migrate_copies_sqlite_into_postgres`: `osprey store migrate`, twice, then serving
//!   the copy; refused while `serve` holds the data directory;
//! - TLS modes, advisory locks, NOTIFY and N openers migrating at once.

mod common;
mod real;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::{Osis, Osprey, LOCAL_CONFIG};
use osprey::config::{postgres_target, PostgresConfig};
use osprey::store::postgres::PgStore;
use osprey::store::sqlite::SqliteStore;
use osprey::store::*;
use real::Postgres;

fn target(url: &str) -> PostgresConfig {
    postgres_target(url, None, Some("disable"), None, 4).unwrap_or_else(|e| panic!("{e:?}"))
}

fn key(b: u8) -> MasterKey {
    MasterKey::from_bytes([b; 32])
}

// ---------------------------------------------------------------- conformance

/// Records results with the values each store generates (tenant ids, canonical ids, access
/// keys, secrets) replaced by placeholders numbered in order of appearance, and timestamps by
/// `<ts>` after checking their millisecond precision.
#[derive(Default)]
struct Transcript {
    names: BTreeMap<String, String>,
    counts: BTreeMap<&'static str, usize>,
    lines: Vec<String>,
}

impl Transcript {
    fn name(&mut self, kind: &'static str, raw: &str) {
        if raw.is_empty() || self.names.contains_key(raw) {
            return;
        }
        let n = self.counts.entry(kind).or_default();
        *n += 1;
        self.names.insert(raw.to_string(), format!("<{kind}{n}>"));
    }

    fn ts(&mut self, t: &DateTime<Utc>) {
        assert_eq!(
            t.timestamp_subsec_nanos() % 1_000_000,
            0,
            "timestamps are kept to the millisecond: {t:?}"
        );
        assert!(
            (Utc::now() - *t).num_seconds().abs() < 3600,
            "a timestamp of now: {t:?}"
        );
        self.names.insert(format!("{t:?}"), "<ts>".into());
    }

    fn tenant(&mut self, t: &Tenant) {
        self.name("tenant", &t.tenant_id);
        self.ts(&t.created_at);
    }

    fn user(&mut self, u: &User) {
        self.name("canonical", &u.canonical_user_id);
        self.ts(&u.created_at);
    }

    fn cred(&mut self, c: &Credential) {
        self.name("ak", &c.access_key);
        self.name("sk", &c.secret_key);
        self.ts(&c.created_at);
    }

    /// Record `label: value` with every known generated value replaced (longest first).
    fn rec(&mut self, label: &str, v: impl std::fmt::Debug) {
        let mut s = format!("{v:?}");
        let mut names: Vec<(&String, &String)> = self.names.iter().collect();
        names.sort_by_key(|(raw, _)| std::cmp::Reverse(raw.len()));
        for (raw, ph) in names {
            s = s.replace(raw.as_str(), ph);
        }
        self.lines.push(format!("{label}: {s}"));
    }
}

fn page(offset: u64, limit: u64) -> Paging {
    Paging { offset, limit }
}

fn new_user(id: &str, email: Option<&str>, role: &str, cd_tenant: &str) -> NewUser {
    NewUser {
        user_id: id.into(),
        username: format!("name-{}", id.to_lowercase()),
        email: email.map(str::to_string),
        role: role.into(),
        cd_user_id: format!("cd-{id}"),
        cd_tenant_id: cd_tenant.into(),
        active: true,
    }
}

fn gen_first() -> String {
    "first-generated".into()
}

fn gen_second() -> String {
    "second-generated".into()
}

/// The sequence both stores run; `other_key` opens the same store under another master key.
async fn script(s: &dyn Store, other_key: &dyn Store) -> Vec<String> {
    let mut t = Transcript::default();
    t.rec("stats empty", s.stats().await);
    t.rec("ping", s.ping().await);

    // ---- tenants
    let mut tenants = Vec::new();
    for (name, active, cds) in [
        ("Acme", true, vec!["org-a", "org-a2"]),
        ("beta", true, vec!["org-b"]),
        ("Acme", false, vec![]),
        ("delta", true, vec!["org-d", "org-d", "org-d2"]),
    ] {
        let r = s
            .create_tenant(NewTenant {
                name: name.into(),
                active,
                cd_tenant_ids: cds.iter().map(|x| x.to_string()).collect(),
            })
            .await;
        if let Ok(x) = &r {
            t.tenant(x);
            tenants.push(x.clone());
        }
        t.rec("create_tenant", &r);
    }
    let (a, b, c, d) = (
        tenants[0].tenant_id.clone(),
        tenants[1].tenant_id.clone(),
        tenants[2].tenant_id.clone(),
        tenants[3].tenant_id.clone(),
    );
    let r = s
        .create_tenant(NewTenant {
            name: "dup".into(),
            active: true,
            cd_tenant_ids: vec!["org-x".into(), "org-a2".into()],
        })
        .await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    t.rec("create_tenant taken cd id", &r);
    let r = s.tenant(&a).await;
    t.rec(
        "tenant round trip",
        r.as_ref().ok().map(|x| x.as_ref() == Some(&tenants[0])),
    );
    t.rec("tenant", &r);
    t.rec("tenant missing", s.tenant("t0000000000000000").await);
    for (label, filter, p) in [
        ("all p0", vec![], page(0, 2)),
        ("all p1", vec![], page(2, 2)),
        ("all past end", vec![], page(10, 5)),
        ("all huge", vec![], page(0, u64::MAX)),
        (
            "by cd",
            vec![Term::CdTenantId("org-a2".into())],
            page(0, 10),
        ),
        (
            "by name",
            vec![Term::TenantName("Acme".into())],
            page(0, 10),
        ),
        (
            "by name active",
            vec![Term::TenantName("Acme".into()), Term::Active(true)],
            page(0, 10),
        ),
        ("inactive", vec![Term::Active(false)], page(0, 10)),
        ("by id", vec![Term::TenantId(b.clone())], page(0, 10)),
        // terms a tenant does not have are ignored (as the OSIS filter mapping expects)
        ("ignored term", vec![Term::Username("x".into())], page(0, 1)),
        (
            "name case",
            vec![Term::TenantName("acme".into())],
            page(0, 10),
        ),
    ] {
        t.rec(&format!("tenants {label}"), s.tenants(&filter, p).await);
    }
    t.rec(
        "update_tenant",
        s.update_tenant(
            &a,
            TenantUpdate {
                name: Some("Acme Corp".into()),
                active: None,
                cd_tenant_ids: Some(vec!["org-a3".into(), "org-a".into(), "org-a3".into()]),
            },
        )
        .await,
    );
    let r = s
        .update_tenant(
            &a,
            TenantUpdate {
                name: Some("must not stick".into()),
                active: Some(false),
                cd_tenant_ids: Some(vec!["org-b".into()]),
            },
        )
        .await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    t.rec("update_tenant conflict", &r);
    t.rec("after failed update (unchanged)", s.tenant(&a).await);
    t.rec(
        "update_tenant missing",
        s.update_tenant("nope", TenantUpdate::default()).await,
    );
    t.rec(
        "update_tenant active",
        s.update_tenant(
            &c,
            TenantUpdate {
                active: Some(true),
                ..Default::default()
            },
        )
        .await,
    );

    // ---- users (ids that sort differently byte-wise and by a locale's collation)
    let mut creds = Vec::new();
    for (tid, u) in [
        (
            &a,
            new_user("bob", Some("bob@example.net"), "TENANT_ADMIN", "org-a"),
        ),
        (&a, new_user("Bob", None, "TENANT_USER", "org-a")),
        (
            &a,
            new_user("a-b", Some("ab@example.net"), "TENANT_USER", "org-a"),
        ),
        (&a, new_user("ab", None, "TENANT_USER", "org-a3")),
        (&b, new_user("bob", None, "TENANT_ADMIN", "org-b")),
        (&d, new_user("zed", None, "TENANT_USER", "org-d")),
    ] {
        let r = s.create_user(tid, u).await;
        if let Ok((user, cred)) = &r {
            t.user(user);
            t.cred(cred);
            creds.push(cred.clone());
        }
        t.rec("create_user", &r);
    }
    let r = s
        .create_user(&a, new_user("bob", None, "TENANT_USER", "org-a"))
        .await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    t.rec("create_user duplicate", &r);
    let r = s
        .create_user("nope", new_user("x", None, "TENANT_USER", "org"))
        .await;
    assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
    t.rec("create_user no tenant", &r);
    let bob = s.user(&a, "bob").await.unwrap().unwrap();
    t.rec("user", &bob);
    t.rec("user missing", s.user(&a, "BOB").await);
    t.rec(
        "user_by_canonical",
        s.user_by_canonical(&bob.canonical_user_id).await,
    );
    t.rec("user_by_canonical missing", s.user_by_canonical("00").await);
    for (label, filter, p) in [
        ("all", vec![], page(0, 100)),
        ("p1", vec![], page(1, 2)),
        ("tenant a", vec![Term::TenantId(a.clone())], page(0, 100)),
        (
            "cd tenant",
            vec![Term::CdTenantId("org-a3".into())],
            page(0, 100),
        ),
        ("user id", vec![Term::UserId("bob".into())], page(0, 100)),
        (
            "cd user",
            vec![Term::CdUserId("cd-Bob".into())],
            page(0, 100),
        ),
        (
            "username",
            vec![Term::Username("name-bob".into())],
            page(0, 100),
        ),
        (
            "canonical",
            vec![Term::CanonicalUserId(bob.canonical_user_id.clone())],
            page(0, 100),
        ),
        (
            "email",
            vec![Term::Email("ab@example.net".into())],
            page(0, 100),
        ),
        (
            "role",
            vec![Term::Role("TENANT_ADMIN".into())],
            page(0, 100),
        ),
        (
            "tenant+role",
            vec![Term::TenantId(a.clone()), Term::Role("TENANT_USER".into())],
            page(1, 1),
        ),
        (
            "ignored term",
            vec![Term::AccessKey("x".into())],
            page(0, 2),
        ),
    ] {
        t.rec(&format!("users {label}"), s.users(&filter, p).await);
    }
    t.rec("set_user_active", s.set_user_active(&a, "Bob", false).await);
    t.rec(
        "users inactive",
        s.users(&[Term::Active(false)], page(0, 10)).await,
    );
    t.rec(
        "set_user_active missing",
        s.set_user_active(&a, "nobody", false).await,
    );

    // ---- credentials
    let r = s.create_credential(&a, "bob").await;
    if let Ok(c) = &r {
        t.cred(c);
        creds.push(c.clone());
    }
    t.rec("create_credential", &r);
    t.rec(
        "create_credential no user",
        s.create_credential(&a, "nobody").await,
    );
    let first = &creds[0];
    let r = s.credential(&first.access_key).await;
    t.rec(
        "credential round trip (with secret)",
        r.as_ref().ok().map(|x| x.as_ref() == Some(first)),
    );
    t.rec("credential", &r);
    t.rec("credential missing", s.credential("AKIANOTHERE").await);
    // usable: the key, its user and its tenant all active
    t.rec(
        "credential of inactive user",
        s.credential(&creds[1].access_key)
            .await
            .map(|c| c.map(|c| c.usable)),
    );
    t.rec(
        "set_credential_active",
        s.set_credential_active(&first.access_key, false).await,
    );
    t.rec(
        "set_credential_active missing",
        s.set_credential_active("AKIANOTHERE", true).await,
    );
    s.update_tenant(
        &b,
        TenantUpdate {
            active: Some(false),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    t.rec(
        "credential of inactive tenant",
        s.credential(&creds[4].access_key)
            .await
            .map(|c| c.map(|c| c.usable)),
    );
    for (label, filter, p) in [
        ("all", vec![], page(0, 100)),
        ("p", vec![], page(2, 3)),
        ("tenant", vec![Term::TenantId(a.clone())], page(0, 100)),
        ("user", vec![Term::UserId("bob".into())], page(0, 100)),
        (
            "cd tenant",
            vec![Term::CdTenantId("org-b".into())],
            page(0, 100),
        ),
        (
            "cd user",
            vec![Term::CdUserId("cd-ab".into())],
            page(0, 100),
        ),
        (
            "username",
            vec![Term::Username("name-zed".into())],
            page(0, 100),
        ),
        (
            "access key",
            vec![Term::AccessKey(creds[2].access_key.clone())],
            page(0, 100),
        ),
        ("inactive", vec![Term::Active(false)], page(0, 100)),
        (
            "tenant+user+active",
            vec![
                Term::TenantId(a.clone()),
                Term::UserId("bob".into()),
                Term::Active(true),
            ],
            page(0, 100),
        ),
        ("ignored term", vec![Term::Role("x".into())], page(0, 1)),
    ] {
        let r = s.credentials(&filter, p).await;
        // secrets open: compare them with what creation returned
        if let Ok(pg) = &r {
            for c in &pg.items {
                let made = creds.iter().find(|m| m.access_key == c.access_key).unwrap();
                assert_eq!(c.secret_key, made.secret_key);
            }
        }
        t.rec(&format!("credentials {label}"), r);
    }
    let r = other_key.credential(&first.access_key).await;
    assert!(matches!(r, Err(StoreError::Crypto(_))), "{r:?}");
    t.rec("credential under another master key", &r);
    t.rec(
        "delete_credential",
        s.delete_credential(&creds[3].access_key).await,
    );
    t.rec(
        "delete_credential again",
        s.delete_credential(&creds[3].access_key).await,
    );

    // ---- placements
    let at: DateTime<Utc> = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
    t.names.insert(format!("{:?}", at), "<fixed>".into());
    let place = |tenant: &str, bucket: &str, backend: &str, bb: &str| PlacementRow {
        tenant_id: tenant.into(),
        bucket: bucket.into(),
        backend: backend.into(),
        backend_bucket: bb.into(),
        owner_user_id: "bob".into(),
        created_at: at,
    };
    for p in [
        place(&a, "b-1", "local", "b-1"),
        place(&a, "b.2", "local", "b.2"),
        place(&a, "b1", "ceph", "b1"),
        place(&a, "B0", "local", "B0"),
        place(&b, "b-1", "local", "b-1"),
        place(&d, "b-1", "ceph", "d-b-1"),
    ] {
        t.rec("put_placement", s.put_placement(&p).await);
    }
    for (label, p) in [
        ("same bucket", place(&a, "b-1", "ceph", "other")),
        ("same backend bucket", place(&a, "b-9", "local", "b.2")),
    ] {
        let r = s.put_placement(&p).await;
        assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
        t.rec(&format!("put_placement conflict {label}"), r);
    }
    let r = s.placement(&a, "b-1").await;
    // created_at comes back truncated to the millisecond
    t.rec(
        "placement created_at ms",
        r.as_ref()
            .ok()
            .and_then(|p| p.as_ref())
            .map(|p| p.created_at.timestamp_subsec_millis()),
    );
    t.names.insert(
        format!(
            "{:?}",
            DateTime::from_timestamp(1_700_000_000, 123_000_000).unwrap()
        ),
        "<fixed-ms>".into(),
    );
    t.rec("placement", r);
    t.rec("placement missing", s.placement(&a, "zz").await);
    t.rec("placements of a", s.placements(&a).await);
    // ordered by tenant id: random ids, so the order is checked here and the rows recorded
    // in creation order
    let named = s.placements_named("b-1").await.unwrap();
    assert!(
        named.windows(2).all(|w| w[0].tenant_id < w[1].tenant_id),
        "{named:?}"
    );
    let mut named: Vec<(String, PlacementRow)> = named
        .into_iter()
        .map(|p| (t.names[&p.tenant_id].clone(), p))
        .collect();
    named.sort_by(|x, y| x.0.cmp(&y.0));
    t.rec(
        "placements named b-1",
        named.into_iter().map(|x| x.1).collect::<Vec<_>>(),
    );
    t.rec(
        "placements on local",
        s.placements_on_backend("local").await,
    );
    t.rec("placements on none", s.placements_on_backend("none").await);

    // ---- access records
    t.rec("bucket_access default", s.bucket_access(&a, "b-1").await);
    let acc = BucketAccessRow {
        acl: Some("{\"grants\":[]}".into()),
        policy: None,
        public_access_block: Some("{\"block\":true}".into()),
        object_records: true,
    };
    t.rec(
        "put_bucket_access",
        s.put_bucket_access(&a, "b-1", &acc).await,
    );
    t.rec("bucket_access", s.bucket_access(&a, "b-1").await);
    let acc2 = BucketAccessRow {
        acl: None,
        policy: Some("{\"Statement\":[]}".into()),
        ..acc.clone()
    };
    t.rec(
        "put_bucket_access again",
        s.put_bucket_access(&a, "b-1", &acc2).await,
    );
    let obj = |k: &str, v: &str| ObjectAccessRow {
        tenant_id: a.clone(),
        bucket: "b-1".into(),
        key: k.into(),
        access: v.into(),
    };
    for o in [
        obj("k/1", "{\"o\":1}"),
        obj("k/2", "{\"o\":2}"),
        obj("k/1", "{\"o\":3}"),
    ] {
        t.rec("put_object_access", s.put_object_access(&o).await);
    }
    t.rec(
        "bucket_access with objects",
        s.bucket_access(&a, "b-1").await,
    );
    t.rec("object_access", s.object_access(&a, "b-1", "k/1").await);
    t.rec(
        "object_access missing",
        s.object_access(&a, "b-1", "k/9").await,
    );
    t.rec(
        "delete_object_access",
        s.delete_object_access(&a, "b-1", "k/2").await,
    );
    t.rec(
        "delete_object_access again",
        s.delete_object_access(&a, "b-1", "k/2").await,
    );
    t.rec("delete_placement", s.delete_placement(&a, "b-1").await);
    t.rec(
        "delete_placement again",
        s.delete_placement(&a, "b-1").await,
    );
    t.rec(
        "bucket_access after delete",
        s.bucket_access(&a, "b-1").await,
    );
    t.rec(
        "object_access after delete",
        s.object_access(&a, "b-1", "k/1").await,
    );

    // ---- backend identities
    let ident = |backend: &str, tenant: &str, principal: &str, secret: &str| BackendIdentity {
        backend: backend.into(),
        tenant_id: tenant.into(),
        principal: principal.into(),
        backend_user: format!("{tenant}${principal}"),
        access_key: format!("BK-{principal}"),
        secret_key: secret.into(),
    };
    for i in [
        ident("ceph", &a, "bob", "s1"),
        ident("ceph", &a, "Bob", "s2"),
        ident("ceph", &a, &a, "tenant-level"),
        ident("local", &a, "bob", "s3"),
        ident("ceph", &b, "bob", "s4"),
        ident("ceph", &a, "bob", "s1-rotated"),
    ] {
        t.rec("put_identity", s.put_identity(&i).await);
    }
    let r = s
        .identity(IdentityRef {
            backend: "ceph",
            tenant_id: &a,
            principal: "bob",
        })
        .await;
    t.rec(
        "identity secret",
        r.as_ref()
            .ok()
            .and_then(|i| i.as_ref())
            .map(|i| i.secret_key.clone()),
    );
    t.rec("identity", &r);
    t.rec(
        "identity missing",
        s.identity(IdentityRef {
            backend: "ceph",
            tenant_id: &a,
            principal: "nobody",
        })
        .await,
    );
    let r = s.identities_of_tenant(&a).await;
    t.rec(
        "identities_of_tenant secrets",
        r.as_ref()
            .ok()
            .map(|v| v.iter().map(|i| i.secret_key.clone()).collect::<Vec<_>>()),
    );
    t.rec("identities_of_tenant", r);
    t.rec(
        "identities_on_backend",
        s.identities_on_backend("ceph").await,
    );
    t.rec("principals_on", s.principals_on("ceph", &a).await);
    t.rec(
        "identity under another master key",
        other_key
            .identity(IdentityRef {
                backend: "ceph",
                tenant_id: &a,
                principal: "bob",
            })
            .await,
    );
    t.rec(
        "delete_identity",
        s.delete_identity(IdentityRef {
            backend: "local",
            tenant_id: &a,
            principal: "bob",
        })
        .await,
    );
    t.rec(
        "delete_identity again",
        s.delete_identity(IdentityRef {
            backend: "local",
            tenant_id: &a,
            principal: "bob",
        })
        .await,
    );

    // ---- pending provisioning work
    for (b, op) in [
        ("ceph", "{\"op\":1}"),
        ("local", "{\"op\":2}"),
        ("ceph", "{\"op\":3}"),
    ] {
        t.rec("push_pending", s.push_pending(b, op).await);
    }
    let ops = s.pending().await.unwrap();
    for o in &ops {
        t.ts(&o.created_at);
    }
    t.rec("pending", &ops);
    t.rec(
        "fail_pending",
        s.fail_pending(ops[0].id, "backend down").await,
    );
    t.rec(
        "fail_pending",
        s.fail_pending(ops[0].id, "still down").await,
    );
    t.rec("fail_pending missing", s.fail_pending(999, "x").await);
    t.rec("finish_pending", s.finish_pending(ops[1].id).await);
    t.rec("finish_pending missing", s.finish_pending(999).await);
    t.rec("pending after", s.pending().await);

    // ---- counters and stable values
    t.rec("counter unset", s.counter("gen").await);
    t.rec("bump_counter", s.bump_counter("gen").await);
    t.rec("bump_counter", s.bump_counter("gen").await);
    t.rec("bump_counter other", s.bump_counter("other").await);
    t.rec("counter", s.counter("gen").await);
    t.rec("stable_value", s.stable_value("anon", gen_first).await);
    t.rec(
        "stable_value kept",
        s.stable_value("anon", gen_second).await,
    );
    t.rec(
        "stable_value other",
        s.stable_value("other", gen_second).await,
    );

    // ---- deletions
    t.rec("stats before deletes", s.stats().await);
    t.rec("delete_user", s.delete_user(&a, "bob").await);
    t.rec("delete_user again", s.delete_user(&a, "bob").await);
    t.rec(
        "credential of deleted user",
        s.credential(&first.access_key).await,
    );
    t.rec(
        "identities after delete_user",
        s.identities_of_tenant(&a).await,
    );
    t.rec("delete_tenant", s.delete_tenant(&b).await);
    t.rec("delete_tenant again", s.delete_tenant(&b).await);
    t.rec("tenant deleted", s.tenant(&b).await);
    t.rec(
        "credential of deleted tenant",
        s.credential(&creds[4].access_key).await,
    );
    t.rec("placements of deleted tenant", s.placements(&b).await);
    t.rec(
        "cd id of deleted tenant is free",
        s.create_tenant(NewTenant {
            name: "beta again".into(),
            active: true,
            cd_tenant_ids: vec!["org-b".into()],
        })
        .await
        .map(|x| x.cd_tenant_ids),
    );
    t.rec(
        "tenants final",
        s.tenants(&[], page(0, 100)).await.map(|p| p.total),
    );
    t.rec("stats final", s.stats().await);
    t.rec("ping", s.ping().await);
    t.lines
}

#[tokio::test]
async fn conformance_sqlite_and_postgres_agree() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("osprey.db");
    let sqlite = SqliteStore::open(&db, key(1)).unwrap();
    let sqlite_other = SqliteStore::open(&db, key(2)).unwrap();
    let t0 = Instant::now();
    let from_sqlite = script(&sqlite, &sqlite_other).await;
    let sqlite_time = t0.elapsed();

    let pg = Postgres::start();
    pg.create_database("conformance");
    let cfg = target(&pg.url("conformance"));
    let store = PgStore::open(&cfg, key(1)).await.unwrap();
    let other = PgStore::open(&cfg, key(2)).await.unwrap();
    let t0 = Instant::now();
    let from_pg = script(&store, &other).await;
    let pg_time = t0.elapsed();

    for (i, (x, y)) in from_sqlite.iter().zip(&from_pg).enumerate() {
        assert_eq!(x, y, "step {i} differs:\nsqlite:     {x}\npostgresql: {y}");
    }
    assert_eq!(from_sqlite.len(), from_pg.len());
    assert!(from_sqlite.len() > 150, "{}", from_sqlite.len());
    eprintln!(
        "{} steps agree (SQLite {sqlite_time:?}, PostgreSQL {pg_time:?})",
        from_sqlite.len()
    );
    // the collation trap: byte order, whatever the database's (ICU en-US here)
    assert_eq!(
        pg.psql("conformance", "SELECT datcollate || '/' || coalesce(daticulocale, '') FROM pg_database WHERE datname = current_database()"),
        "C.UTF-8/en-US"
    );
    let users = store.users(&[], page(0, 100)).await.unwrap();
    let mut ids: Vec<&str> = users.items.iter().map(|u| u.user_id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["Bob", "a-b", "ab", "zed"]);
}

// ---------------------------------------------------------------- the binary on PostgreSQL

fn pg_config(url: &str, extra: &str) -> String {
    format!("{LOCAL_CONFIG}[store]\nkind = \"postgres\"\nurl = \"{url}\"\nsslmode = \"disable\"\n{extra}")
}

/// Start `osprey serve` expecting it to refuse: its exit status and stderr.
fn serve_refused(o: &Osprey) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_osprey"))
        .arg("serve")
        .arg("--config")
        .arg(o.config_path())
        .arg("--accept-license")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test]
async fn serve_on_postgres() {
    let mut pg = Postgres::start();
    pg.create_database("osprey");
    let pwdir = tempfile::tempdir().unwrap();
    let pwfile = pwdir.path().join("pg.password");
    std::fs::write(&pwfile, format!("{}\n", real::PG_PASSWORD)).unwrap();
    let mut o = Osprey::start(&pg_config(
        &pg.url_without_password("osprey"),
        &format!("password_file = \"{}\"\npool_size = 4\n", pwfile.display()),
    ));
    assert!(
        o.logs().contains("identity store: PostgreSQL"),
        "{}",
        o.logs()
    );
    let osis = Osis::new(o.osis());
    let tid = osis.tenant("pg-tenant", "pg-org").await;
    let (uid, ak, sk) = osis.user(&tid, "pg-org", "alice").await;
    let s3 = common::s3_client(&o.s3(), &ak, &sk, "us-east-1");
    s3.create_bucket().bucket("pg-bucket").send().await.unwrap();
    s3.put_object()
        .bucket("pg-bucket")
        .key("hello.txt")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(
            b"stored via postgres",
        ))
        .send()
        .await
        .unwrap();

    // the rows are in PostgreSQL
    assert_eq!(pg.psql("osprey", "SELECT count(*) FROM tenants"), "1");
    assert_eq!(
        pg.psql(
            "osprey",
            &format!("SELECT user_id FROM users WHERE tenant_id = '{tid}'")
        ),
        uid
    );
    assert_eq!(
        pg.psql("osprey", "SELECT bucket || ' ' || backend FROM placements"),
        "pg-bucket local"
    );
    // the secret is sealed (format byte 1, 12-byte nonce, ciphertext, 16-byte tag), never plain
    let hex = pg.psql(
        "osprey",
        &format!("SELECT encode(secret, 'hex') FROM credentials WHERE access_key = '{ak}'"),
    );
    assert_eq!(hex.len(), 2 * (1 + 12 + sk.len() + 16), "{hex}");
    assert!(hex.starts_with("01"), "{hex}");
    let plain_hex: String = sk.bytes().map(|b| format!("{b:02x}")).collect();
    assert!(!hex.contains(&plain_hex), "secret stored in clear");
    assert_eq!(
        pg.psql(
            "osprey",
            &format!("SELECT position(convert_to('{sk}', 'UTF8') in secret) FROM credentials WHERE access_key = '{ak}'")
        ),
        "0"
    );
    let everything = pg.psql(
        "osprey",
        "SELECT string_agg(c::text, ' ') FROM credentials c",
    );
    assert!(everything.contains(&ak), "{everything}");
    assert!(
        !everything.contains(&sk),
        "plaintext secret in the credentials table"
    );

    // restart: state survives, the key still signs
    o.stop();
    o.spawn();
    let s3 = common::s3_client(&o.s3(), &ak, &sk, "us-east-1");
    let got = s3
        .get_object()
        .bucket("pg-bucket")
        .key("hello.txt")
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(&got[..], b"stored via postgres");
    let listed = s3.list_buckets().send().await.unwrap();
    assert_eq!(listed.buckets().len(), 1);
    let r = osis
        .admin("GET", &format!("/api/v1/tenants/{tid}/users/{uid}"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // a key disabled through OSIS is refused (the store's state, not a cache, after restart)
    let r = osis
        .admin(
            "PATCH",
            &format!("/api/v1/s3credentials/{ak}"),
            Some(serde_json::json!({"active": false})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        pg.psql(
            "osprey",
            &format!("SELECT active FROM credentials WHERE access_key = '{ak}'")
        ),
        "f"
    );
    let refused = s3.list_buckets().send().await;
    assert!(refused.is_err(), "a disabled key still signs");

    // readiness: the store answers and takes writes
    let r = osis.admin("GET", "/api/v1/admin/status", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!r.text.contains("identity store unreachable"), "{}", r.text);

    // a [store] change needs a restart, and a reload says so
    let text = std::fs::read_to_string(o.config_path()).unwrap();
    std::fs::write(
        o.config_path(),
        text.replace("pool_size = 4", "pool_size = 5"),
    )
    .unwrap();
    let r = osis.admin("POST", "/api/v1/admin/reload", None).await;
    assert!(r.status < 300, "{} {}", r.status, r.text);
    let t0 = Instant::now();
    while !o
        .logs()
        .contains("take effect only after a restart settings=\"[store]\"")
    {
        assert!(t0.elapsed() < Duration::from_secs(5), "{}", o.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // the read-only openers work on PostgreSQL too
    let out = Command::new(env!("CARGO_BIN_EXE_osprey"))
        .args(["explain-route", "--config"])
        .arg(o.config_path())
        .args(["pg-org", "pg-bucket"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(&tid) && text.contains("local"), "{text}");
    let bundle = o.dir.path().join("bundle.tar.gz");
    let out = Command::new(env!("CARGO_BIN_EXE_osprey"))
        .args(["support-bundle", "--config"])
        .arg(o.config_path())
        .arg("--out")
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store_json = Command::new("tar")
        .arg("-xzOf")
        .arg(&bundle)
        .arg("osprey-support/store.json")
        .output()
        .unwrap();
    let store_json: serde_json::Value = serde_json::from_slice(&store_json.stdout).unwrap();
    assert_eq!(store_json["stats"]["tenants"], 1, "{store_json}");
    assert_eq!(store_json["stats"]["schema_version"], 4, "{store_json}");
    let all = Command::new("tar")
        .arg("-xzOf")
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&all.stdout).contains(real::PG_PASSWORD),
        "the database password leaked into the bundle"
    );

    // PostgreSQL stops under a serving Osprey: not ready (within the probe's 2 s), and ready
    // again once it is back, on fresh connections
    pg.stop();
    let t0 = Instant::now();
    let r = osis.admin("GET", "/api/v1/admin/status", None).await;
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert!(r.text.contains("identity store unreachable"), "{}", r.text);
    pg.start_again();
    let t0 = Instant::now();
    loop {
        let r = osis.admin("GET", "/api/v1/admin/status", None).await;
        if !r.text.contains("identity store unreachable") {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "{}", r.text);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = osis
        .admin("GET", &format!("/api/v1/tenants/{tid}/users/{uid}"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // a schema newer than this binary's is refused at start, with SQLite's message shape
    o.stop();
    pg.psql("osprey", "UPDATE osprey_schema SET version = 99");
    let (code, err) = serve_refused(&o);
    assert_eq!(code, Some(1), "{err}");
    let port = pg.port;
    assert!(
        err.contains(&format!("osprey: identity store: postgres://osprey@127.0.0.1:{port}/osprey has schema version 99, newer than this Osprey understands (4); run the newer release")),
        "{err}"
    );
    assert!(!err.contains(real::PG_PASSWORD), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    // an unreachable server: a clean start-up error naming it
    pg.psql("osprey", "UPDATE osprey_schema SET version = 4");
    pg.stop();
    let (code, err) = serve_refused(&o);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!("osprey: identity store: PostgreSQL postgres://osprey@127.0.0.1:{port}/osprey: error connecting to server")),
        "{err}"
    );
}

#[tokio::test]
async fn a_foreign_database_and_a_wrong_password_are_refused() {
    let pg = Postgres::start();
    pg.create_database("theirs");
    pg.psql("theirs", "CREATE TABLE orders (id int)");
    let err = PgStore::open(&target(&pg.url("theirs")), key(1))
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains(
            "is not an Osprey identity store: schema public has 1 table(s) and no osprey_schema"
        ),
        "{err}"
    );
    assert_eq!(
        pg.psql(
            "theirs",
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ),
        "1"
    );
    let url = pg.url("theirs").replace(real::PG_PASSWORD, "wrong");
    let err = PgStore::open(&target(&url), key(1))
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("password authentication failed for user \"osprey\" (SQLSTATE 28P01)"),
        "{err}"
    );
    assert!(!err.contains("wrong"), "{err}");
    // a user that may not create tables: the migration fails whole (one transaction)
    pg.create_database("locked");
    pg.psql("locked", "CREATE ROLE limited LOGIN PASSWORD 'limited-pw'");
    let url = format!("postgres://limited:limited-pw@127.0.0.1:{}/locked", pg.port);
    let err = PgStore::open(&target(&url), key(1))
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains(&format!("identity store: postgres://limited@127.0.0.1:{}/locked: permission denied for schema public (SQLSTATE 42501)", pg.port)),
        "{err}"
    );
    assert_eq!(
        pg.psql(
            "locked",
            "SELECT to_regclass('osprey_schema') IS NULL AND to_regclass('tenants') IS NULL"
        ),
        "t"
    );
    // read-only openers (support bundle) do not create the schema
    pg.create_database("empty");
    let err = PgStore::open_read_only(&target(&pg.url("empty")))
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("has no Osprey schema"), "{err}");
    assert_eq!(
        pg.psql("empty", "SELECT to_regclass('osprey_schema') IS NULL"),
        "t"
    );
}

/// The readiness ping wants a store that takes writes, answers within its bound, and says why
/// not otherwise.
#[tokio::test]
async fn ping_wants_a_writable_store() {
    let mut pg = Postgres::start();
    pg.create_database("ro");
    let cfg = target(&pg.url("ro"));
    let store = PgStore::open(&cfg, key(1)).await.unwrap();
    store.ping().await.unwrap();
    pg.psql(
        "postgres",
        "ALTER DATABASE ro SET default_transaction_read_only = on",
    );
    // new connections get the setting (a store opened now; the migration had nothing to write)
    let ro = PgStore::open(&cfg, key(1)).await.unwrap();
    let e = ro.ping().await.unwrap_err().to_string();
    assert_eq!(
        e,
        format!("identity store: PostgreSQL postgres://osprey@127.0.0.1:{}/ro takes no writes: transactions are read-only (default_transaction_read_only)", pg.port)
    );
    pg.psql(
        "postgres",
        "ALTER DATABASE ro RESET default_transaction_read_only",
    );
    // a stopped server: an error well within the readiness probe's 2 s
    pg.stop();
    let t0 = Instant::now();
    let e = store.ping().await.unwrap_err().to_string();
    assert!(
        t0.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t0.elapsed()
    );
    assert!(e.contains("identity store: "), "{e}");
    pg.start_again();
    let t0 = Instant::now();
    while store.ping().await.is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the pool did not reconnect"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // a server that accepts connections but never answers: bounded by the ping timeout
    let black_hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = black_hole.local_addr().unwrap().port();
    let silent = target(&format!(
        "postgres://osprey@127.0.0.1:{port}/x?connect_timeout=1"
    ));
    let hung = PgStore::open_read_only(&silent);
    let t0 = Instant::now();
    let e = tokio::time::timeout(Duration::from_secs(20), hung)
        .await
        .expect("bounded by the pool's create timeout")
        .err()
        .expect("refused")
        .to_string();
    // connect_timeout × hosts + 5 s for TLS and authentication
    assert!(t0.elapsed() < Duration::from_secs(8), "{:?}", t0.elapsed());
    assert!(e.contains("connecting timed out"), "{e}");
}

/// N openers at once (replicas starting together) migrate once: one transaction under the
/// advisory lock; the others wait for it and find the schema current.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_openers_migrate_once() {
    let pg = Postgres::start();
    pg.create_database("race");
    let cfg = target(&pg.url("race"));
    let opens: Vec<_> = (0..6)
        .map(|i| {
            let cfg = cfg.clone();
            tokio::spawn(async move { PgStore::open(&cfg, key(i)).await.map(|_| ()) })
        })
        .collect();
    for o in opens {
        o.await.unwrap().unwrap();
    }
    assert_eq!(pg.psql("race", "SELECT version FROM osprey_schema"), "4");
    assert_eq!(pg.psql("race", "SELECT count(*) FROM osprey_schema"), "1");
}

#[tokio::test]
async fn advisory_locks_and_notifications() {
    let pg = Postgres::start();
    pg.create_database("lock");
    let cfg = target(&pg.url("lock"));
    let a = PgStore::open(&cfg, key(1)).await.unwrap();
    let b = PgStore::open(&cfg, key(1)).await.unwrap();
    let held = a
        .try_lock("reconciler")
        .await
        .unwrap()
        .expect("free at first");
    assert!(!held.is_lost());
    assert!(
        b.try_lock("reconciler").await.unwrap().is_none(),
        "held by a"
    );
    assert!(
        a.try_lock("reconciler").await.unwrap().is_none(),
        "not re-entrant across connections"
    );
    let other = b
        .try_lock("sweeper")
        .await
        .unwrap()
        .expect("another name is free");
    drop(held);
    let t0 = Instant::now();
    let again = loop {
        if let Some(l) = b.try_lock("reconciler").await.unwrap() {
            break l;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "lock not released on drop"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(again.name(), "reconciler");
    drop(other);

    // changes are announced when they commit, and every store sharing the database hears them
    // on its change feed (issue 15: the replicas' caches follow them)
    let mut feed = b.changes().expect("a PostgreSQL store has a change feed");
    let t = a
        .create_tenant(NewTenant {
            name: "n".into(),
            active: true,
            cd_tenant_ids: vec![],
        })
        .await
        .unwrap();
    let (_, cred) = a
        .create_user(&t.tenant_id, new_user("u", None, "TENANT_USER", "org"))
        .await
        .unwrap();
    a.set_credential_active(&cred.access_key, false)
        .await
        .unwrap();
    a.put_placement(&PlacementRow {
        tenant_id: t.tenant_id.clone(),
        bucket: "b1".into(),
        backend: "x".into(),
        backend_bucket: "b1".into(),
        owner_user_id: "u".into(),
        created_at: Utc::now(),
    })
    .await
    .unwrap();
    let g = a.bump_counter("osis_token_generation").await.unwrap();
    a.announce(Change::Pending).await.unwrap();
    a.delete_user(&t.tenant_id, "u").await.unwrap();
    let ak = cred.access_key.clone();
    let tid = t.tenant_id.clone();
    let want = vec![
        Change::Tenant {
            tenant_id: tid.clone(),
        },
        Change::Credential {
            access_key: ak.clone(),
        },
        Change::User {
            tenant_id: tid.clone(),
            user_id: "u".into(),
        },
        Change::Credential {
            access_key: ak.clone(),
        },
        Change::Bucket {
            tenant_id: tid.clone(),
            bucket: "b1".into(),
        },
        Change::Counter {
            name: "osis_token_generation".into(),
            value: g,
        },
        Change::Pending,
        Change::User {
            tenant_id: tid.clone(),
            user_id: "u".into(),
        },
    ];
    let mut heard = Vec::new();
    while heard.len() < want.len() {
        let c = tokio::time::timeout(Duration::from_secs(5), feed.next())
            .await
            .expect("a change within 5 s")
            .unwrap();
        heard.push(c);
    }
    assert_eq!(heard, want);

    // the feed's connection killed by the server (as in a PostgreSQL restart): it reconnects
    // and says that changes may have been missed, then hears the next ones again
    let killed = pg.psql(
        "lock",
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'",
    );
    assert_eq!(killed, "2", "both stores' feeds listen");
    let c = tokio::time::timeout(Duration::from_secs(10), feed.next())
        .await
        .expect("a resync within 10 s of the feed's connection dying")
        .unwrap();
    assert_eq!(c, Change::Resync);
    a.set_credential_active(&ak, true).await.ok();
    a.announce(Change::Pending).await.unwrap();
    let c = tokio::time::timeout(Duration::from_secs(5), feed.next())
        .await
        .expect("changes heard again after the reconnect")
        .unwrap();
    assert_eq!(c, Change::Pending);
}

/// `sslmode`: `require` encrypts without checking the certificate, `verify-full` checks it
/// against `ca_file` (or the Mozilla roots) and the host, `disable` is refused by a server that
/// only accepts TLS (`hostssl`).
#[tokio::test]
async fn tls_modes() {
    let pg = Postgres::start_with(real::PgOptions { tls: true });
    pg.create_database("tls");
    let url = pg.url("tls");
    let open = |mode: &str, ca: Option<std::path::PathBuf>| {
        let cfg = postgres_target(&url, None, Some(mode), ca, 2).unwrap();
        async move { PgStore::open(&cfg, key(1)).await.map(|_| ()) }
    };
    let e = open("disable", None).await.unwrap_err().to_string();
    assert!(e.contains("no encryption"), "{e}");
    open("require", None).await.unwrap();
    open("prefer", None).await.unwrap();
    open("verify-full", Some(pg.ca_cert())).await.unwrap();
    let e = open("verify-full", None).await.unwrap_err().to_string();
    assert!(
        e.contains("error performing TLS handshake") && e.contains("UnknownIssuer"),
        "{e}"
    );
    // another self-signed certificate is not the server's
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.pem");
    let st = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=other",
        ])
        .arg("-keyout")
        .arg(dir.path().join("other.key"))
        .arg("-out")
        .arg(&other)
        .output()
        .unwrap();
    assert!(st.status.success());
    let e = open("verify-full", Some(other))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("error performing TLS handshake"), "{e}");
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let e = open("verify-full", Some(not_pem))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("no usable PEM certificate"), "{e}");
    // and the connection really is encrypted
    let cfg = postgres_target(&url, None, Some("require"), None, 2).unwrap();
    let store = Arc::new(PgStore::open(&cfg, key(1)).await.unwrap());
    store.ping().await.unwrap();
    assert_eq!(
        pg.psql(
            "tls",
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'osprey' AND a.datname = 'tls' AND NOT s.ssl"
        ),
        "0"
    );
    assert_ne!(
        pg.psql(
            "tls",
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'osprey' AND s.ssl"
        ),
        "0"
    );
}

// ---------------------------------------------------------------- osprey store migrate

fn migrate(config: &std::path::Path, to: &str) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_osprey"))
        .args(["store", "migrate", "--config"])
        .arg(config)
        .args(["--to", to, "--sslmode", "disable"])
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// The report's numbers: table → [sqlite, copied, postgres, verified].
fn counts(report: &str) -> BTreeMap<String, Vec<u64>> {
    report
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 5 && f[1].parse::<u64>().is_ok()).then(|| {
                (
                    f[0].to_string(),
                    f[1..].iter().map(|x| x.parse().unwrap()).collect(),
                )
            })
        })
        .collect()
}

#[tokio::test]
async fn store_migrate_copies_sqlite_into_postgres() {
    // an SQLite-backed Osprey with state: tenants, users, keys, a bucket, an object, a token
    // generation bump
    let mut o = Osprey::start(LOCAL_CONFIG);
    let osis = Osis::new(o.osis());
    let tid = osis.tenant("mig-tenant", "mig-org").await;
    let (uid, ak, sk) = osis.user(&tid, "mig-org", "alice").await;
    let (_, ak2, _) = osis.user(&tid, "mig-org", "bob").await;
    let tid2 = osis.tenant("mig-tenant-2", "mig-org-2").await;
    let s3 = common::s3_client(&o.s3(), &ak, &sk, "us-east-1");
    s3.create_bucket()
        .bucket("mig-bucket")
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket("mig-bucket")
        .key("k")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"copied"))
        .send()
        .await
        .unwrap();
    let r = osis.admin("GET", "/api/v1/anonymous-user", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = osis.admin("POST", "/api/v1/auth/revoke", None).await;
    assert_eq!(r.status, 204, "{}", r.text);

    let pg = Postgres::start();
    pg.create_database("target");
    let to = pg.url("target");

    // refused while serve holds the data directory
    let (code, _, err) = migrate(o.config_path(), &to);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "is in use by a running Osprey (pid {}); stop it before `osprey store migrate`",
            o.pid()
        )),
        "{err}"
    );
    assert_eq!(
        pg.psql("target", "SELECT to_regclass('tenants') IS NULL"),
        "t"
    );
    o.stop();

    let t0 = Instant::now();
    let (code, out, err) = migrate(o.config_path(), &to);
    assert_eq!(code, Some(0), "{out}\n{err}");
    eprintln!("first run ({:?}):\n{out}", t0.elapsed());
    assert!(!out.contains(real::PG_PASSWORD), "{out}");
    let first = counts(&out);
    assert_eq!(first.len(), 11, "{out}");
    for (table, n) in &first {
        assert_eq!(n[0], n[3], "{table}: every row verified: {out}");
        assert_eq!(
            n[0], n[1],
            "{table}: all copied into an empty database: {out}"
        );
        assert_eq!(n[0], n[2], "{table}: {out}");
    }
    assert_eq!(first["tenants"][0], 2);
    assert_eq!(first["users"][0], 2);
    assert_eq!(first["credentials"][0], 2);
    assert_eq!(first["placements"][0], 1);
    assert_eq!(first["stable_values"][0], 1, "{out}");
    assert_eq!(first["counters"][0], 1, "{out}");
    assert!(
        out.contains(
            "secrets: 2 credential(s) and 0 backend identit(ies) open with the master key"
        ),
        "{out}"
    );

    // idempotent: nothing new, no duplicates
    let (code, out2, err) = migrate(o.config_path(), &to);
    assert_eq!(code, Some(0), "{out2}\n{err}");
    let second = counts(&out2);
    for (table, n) in &second {
        assert_eq!(n[1], 0, "{table}: a second run copies nothing: {out2}");
        assert_eq!(n[2], first[table][2], "{table}: no duplicates: {out2}");
        assert_eq!(n[0], n[3], "{table}: {out2}");
    }
    // the copy is row for row: same ids, same timestamps, same sealed bytes
    let sqlite_db = o.data_dir().join("osprey.db");
    let sqlite = SqliteStore::open_read_only(&sqlite_db).unwrap();
    let pgs = PgStore::open(&target(&to), key(0)).await.unwrap();
    assert_eq!(
        sqlite.tenants(&[], page(0, 10)).await.unwrap().items,
        pgs.tenants(&[], page(0, 10)).await.unwrap().items
    );
    assert_eq!(
        sqlite.users(&[], page(0, 10)).await.unwrap().items,
        pgs.users(&[], page(0, 10)).await.unwrap().items
    );
    assert_eq!(
        sqlite.placements(&tid).await.unwrap(),
        pgs.placements(&tid).await.unwrap()
    );
    assert_eq!(sqlite.stats().await.unwrap(), pgs.stats().await.unwrap());

    // serve the copy: same data directory (master key, embedded blobs), the PostgreSQL store
    let cfg = std::fs::read_to_string(o.config_path()).unwrap();
    std::fs::write(
        o.config_path(),
        format!("{cfg}[store]\nkind = \"postgres\"\nurl = \"{to}\"\nsslmode = \"disable\"\n"),
    )
    .unwrap();
    // OSPREY_STORE_URL would win; `store migrate` ignores it (its source is the file's SQLite)
    o.spawn();
    let s3 = common::s3_client(&o.s3(), &ak, &sk, "us-east-1");
    let got = s3
        .get_object()
        .bucket("mig-bucket")
        .key("k")
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(&got[..], b"copied");
    let r = osis
        .admin("GET", &format!("/api/v1/s3credentials/{ak2}"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = osis
        .admin("GET", &format!("/api/v1/tenants/{tid2}"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = osis
        .admin("GET", &format!("/api/v1/tenants/{tid}/users/{uid}"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    o.stop();

    // with a postgres configuration there is no SQLite source
    let (code, _, err) = migrate(o.config_path(), &to);
    assert_eq!(code, Some(1));
    assert!(err.contains("[store] is kind = \"postgres\""), "{err}");
    // a bad target is named by its flag, without its password
    std::fs::write(o.config_path(), &cfg).unwrap();
    let (code, _, err) = migrate(o.config_path(), "mysql://u:topsecret@h/db");
    assert_eq!(code, Some(1));
    assert!(
        err.contains("osprey: --to: must be a postgres:// URL"),
        "{err}"
    );
    assert!(!err.contains("topsecret"), "{err}");
    // a target holding other rows under the same keys is reported, not silently accepted
    pg.psql(
        "target",
        &format!("UPDATE credentials SET active = NOT active WHERE access_key = '{ak2}'"),
    );
    let (code, _, err) = migrate(o.config_path(), &to);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("credentials: 1 of 2 rows not found identical in PostgreSQL"),
        "{err}"
    );
}
