//! Authorization on backends that see one identity (issue 11): the matrix of principals (owner,
//! another user of the tenant, the tenant's admin, a read-only PROVIDER_ADMIN, a user of another
//! tenant, anonymous) × operations × ACL/policy states, on the `local` kind (embedded store) and
//! the `s3` kind on a real Ceph RGW with one service key. Before issue 11 every user of a tenant
//! could read, write and delete every bucket of the tenant there (bob's column was all Y).
//!
//! Expected answers are written out per row (AWS's documented decisions, docs/authorization.md),
//! not computed: `Y` = 2xx, `N` = refused (403, or 404 for the other tenant, whose plain bucket
//! names resolve in its own namespace).

mod common;
#[path = "common/raw.rs"]
mod raw;
mod real;

use common::{Osis, Osprey, LOCAL_CONFIG};
use raw::{s3_addr, Creds, Req, Resp};

const WHO: [&str; 6] = ["alice", "bob", "admin", "prov", "carol", "anon"];

struct World {
    o: Osprey,
    addr: String,
    creds: Vec<Option<Creds>>,
    /// bob's OSIS user id and canonical id, alice's tenant id
    bob_user: String,
    bob_canonical: String,
    tenant: String,
    prefix: String,
}

async fn user(
    osis: &Osis,
    tenant: &str,
    cd: &str,
    name: &str,
    role: &str,
) -> (String, String, Creds) {
    let r = osis
        .admin(
            "POST",
            &format!("/api/v1/tenants/{tenant}/users"),
            Some(
                serde_json::json!({"tenant_id": tenant, "active": true, "username": name,
                "role": role, "cd_user_id": name, "cd_tenant_id": cd,
                "email": format!("{name}@{cd}.example")}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let j = r.json();
    let uid = j["user_id"].as_str().unwrap().to_string();
    let canonical = j["canonical_user_id"].as_str().unwrap().to_string();
    let l = osis
        .admin(
            "GET",
            &format!("/api/v1/tenants/{tenant}/users/{uid}/s3credentials"),
            None,
        )
        .await
        .json();
    let c = Creds::new(
        l["items"][0]["access_key"].as_str().unwrap(),
        l["items"][0]["secret_key"].as_str().unwrap(),
    );
    (uid, canonical, c)
}

async fn world(config: &str, prefix: &str) -> World {
    let o = Osprey::start(config);
    let osis = Osis::new(o.osis());
    let t1 = osis
        .tenant(&format!("{prefix}-one"), &format!("{prefix}-org1"))
        .await;
    let t2 = osis
        .tenant(&format!("{prefix}-two"), &format!("{prefix}-org2"))
        .await;
    let cd1 = format!("{prefix}-org1");
    let (_, _, alice) = user(&osis, &t1, &cd1, "alice", "TENANT_USER").await;
    let (bob_user, bob_canonical, bob) = user(&osis, &t1, &cd1, "bob", "TENANT_USER").await;
    let (_, _, admin) = user(&osis, &t1, &cd1, "admin", "TENANT_ADMIN").await;
    let (_, _, prov) = user(&osis, &t1, &cd1, "prov", "PROVIDER_ADMIN").await;
    let (_, _, carol) = user(
        &osis,
        &t2,
        &format!("{prefix}-org2"),
        "carol",
        "TENANT_USER",
    )
    .await;
    let addr = s3_addr(&o);
    World {
        o,
        addr,
        creds: vec![
            Some(alice),
            Some(bob),
            Some(admin),
            Some(prov),
            Some(carol),
            None,
        ],
        bob_user,
        bob_canonical,
        tenant: t1,
        prefix: prefix.to_string(),
    }
}

impl World {
    fn bucket(&self, state: &str) -> String {
        format!("{}-{state}", self.prefix)
    }

    fn send(&self, who: usize, req: Req, extra_signed: &[&str]) -> Resp {
        let req = match &self.creds[who] {
            Some(c) => req.sign_std(c, extra_signed),
            None => req,
        };
        raw::send(&self.addr, &req)
    }

    fn req(&self, method: &str, path: &str) -> Req {
        Req::new(method, &self.addr, path)
    }

    fn ok(&self, who: usize, req: Req, extra: &[&str], what: &str) -> Resp {
        let r = self.send(who, req, extra);
        assert!(
            r.is_success(),
            "{what} as {}: {}\n{}",
            WHO[who],
            r.summary(),
            r.text()
        );
        r
    }
}

/// One operation as each principal, against the expected `YNYYNN` string.
fn row(w: &World, bucket: &str, op: &str, expect: &str, failures: &mut Vec<String>) {
    for (i, want) in expect.chars().enumerate() {
        let b = w.bucket(bucket);
        let (req, extra): (Req, Vec<&str>) = match op {
            "list" => (w.req("GET", &format!("/{b}")), vec![]),
            "head" => (w.req("HEAD", &format!("/{b}/k")), vec![]),
            "get" => (w.req("GET", &format!("/{b}/k")), vec![]),
            "get-pub" => (w.req("GET", &format!("/{b}/pub/k")), vec![]),
            "get-bobs" => (w.req("GET", &format!("/{b}/by-bob")), vec![]),
            "put" => (
                w.req("PUT", &format!("/{b}/new-{}", WHO[i])).body("data"),
                vec![],
            ),
            "delete" => (w.req("DELETE", &format!("/{b}/gone-{}", WHO[i])), vec![]),
            "get-acl" => (w.req("GET", &format!("/{b}")).query("acl="), vec![]),
            "put-acl" => (
                w.req("PUT", &format!("/{b}"))
                    .query("acl=")
                    .header("x-amz-acl", bucket_canned(bucket)),
                vec!["x-amz-acl"],
            ),
            "get-object-acl" => (w.req("GET", &format!("/{b}/k")).query("acl="), vec![]),
            "get-policy" => (w.req("GET", &format!("/{b}")).query("policy="), vec![]),
            other => panic!("unknown op {other}"),
        };
        let r = w.send(i, req, &extra);
        let got = if r.is_success() { 'Y' } else { 'N' };
        let refused_right =
            r.is_success() || r.status == 403 || (WHO[i] == "carol" && r.status == 404);
        if got != want || !refused_right {
            failures.push(format!(
                "{bucket} {op} as {}: want {want}, got {}",
                WHO[i],
                r.summary()
            ));
        }
    }
}

/// PutBucketAcl in the matrix re-applies the bucket's own canned ACL, so rows stay independent.
fn bucket_canned(state: &str) -> &'static str {
    match state {
        "pubr" => "public-read",
        "pubrw" => "public-read-write",
        "authr" => "authenticated-read",
        _ => "private",
    }
}

async fn matrix(config: &str, prefix: &str) {
    let w = world(config, prefix).await;
    const ALICE: usize = 0;
    const BOB: usize = 1;
    // alice's buckets, one per state; object `k` (alice's, private) in each
    for state in ["priv", "pubr", "pubrw", "authr", "grant", "pol"] {
        let b = w.bucket(state);
        let mut req = w.req("PUT", &format!("/{b}"));
        let mut extra = vec![];
        if matches!(state, "pubr" | "pubrw" | "authr") {
            req = req.header("x-amz-acl", bucket_canned(state));
            extra.push("x-amz-acl");
        }
        w.ok(ALICE, req, &extra, &format!("create {b}"));
        w.ok(
            ALICE,
            w.req("PUT", &format!("/{b}/k")).body("alice's"),
            &[],
            "put k",
        );
    }
    let grant = format!("id=\"{}\"", w.bob_canonical);
    w.ok(
        ALICE,
        w.req("PUT", &format!("/{}", w.bucket("grant")))
            .query("acl=")
            .header("x-amz-grant-read", &grant),
        &["x-amz-grant-read"],
        "grant bob READ",
    );
    let pol = w.bucket("pol");
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{}:user/{}", w.tenant, w.bob_user)},
             "Action": ["s3:ListBucket", "s3:GetObject"],
             "Resource": [format!("arn:aws:s3:::{pol}"), format!("arn:aws:s3:::{pol}/*")]},
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
             "Resource": format!("arn:aws:s3:::{pol}/pub/*")},
            {"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject",
             "Resource": format!("arn:aws:s3:::{pol}/*")}
        ]
    })
    .to_string();
    w.ok(
        ALICE,
        w.req("PUT", &format!("/{pol}"))
            .query("policy=")
            .body(&policy),
        &[],
        "put policy",
    );
    w.ok(
        ALICE,
        w.req("PUT", &format!("/{pol}/pub/k")).body("public"),
        &[],
        "put pub/k",
    );
    // bob writes into the public-read-write bucket: his object (classic ACLs: not alice's to read)
    w.ok(
        BOB,
        w.req("PUT", &format!("/{}/by-bob", w.bucket("pubrw")))
            .body("bob's"),
        &[],
        "bob writes",
    );

    let mut failures = Vec::new();
    //            principals:       alice bob admin prov carol anon
    let table: &[(&str, &str, &str)] = &[
        ("priv", "list", "YNYYNN"),
        ("priv", "head", "YNYYNN"),
        ("priv", "get", "YNYYNN"),
        ("priv", "put", "YNYNNN"),
        ("priv", "delete", "YNYNNN"),
        ("priv", "get-acl", "YNYYNN"),
        ("priv", "put-acl", "YNYNNN"),
        ("priv", "get-object-acl", "YNYYNN"),
        ("pubr", "list", "YYYYNY"),
        ("pubr", "get", "YNYYNN"),
        ("pubr", "put", "YNYNNN"),
        ("pubr", "get-acl", "YNYYNN"),
        ("pubrw", "list", "YYYYNY"),
        ("pubrw", "put", "YYYNNY"),
        ("pubrw", "delete", "YYYNNY"),
        ("pubrw", "get", "YNYYNN"),
        ("pubrw", "get-bobs", "NYYYNN"),
        ("pubrw", "put-acl", "YNYNNN"),
        ("authr", "list", "YYYYNN"),
        ("authr", "get", "YNYYNN"),
        // grant headers replace the whole ACL: alice granted bob READ only, so she lost her own
        // READ (AWS: PutBucketAcl with x-amz-grant-*), yet keeps READ_ACP as the owner
        ("grant", "list", "NYYYNN"),
        ("grant", "get", "YNYYNN"),
        ("grant", "get-acl", "YNYYNN"),
        ("pol", "list", "YYYYNN"),
        ("pol", "get", "YYYYNN"),
        ("pol", "get-pub", "YYYYNY"),
        ("pol", "put", "YNYNNN"),
        // the explicit Deny wins over the owner's ACL and the admin's role
        ("pol", "delete", "NNNNNN"),
        ("pol", "get-policy", "YNYYNN"),
    ];
    for (bucket, op, expect) in table {
        row(&w, bucket, op, expect, &mut failures);
    }
    // answers in the backend's XML shape, naming Osprey's users, never the service identity
    let acl = w.ok(
        ALICE,
        w.req("GET", &format!("/{}", w.bucket("grant")))
            .query("acl="),
        &[],
        "acl",
    );
    let text = acl.text();
    assert!(
        text.contains(&w.bob_canonical) && text.contains("<Permission>READ</Permission>"),
        "{text}"
    );
    let listing = w.ok(
        ALICE,
        w.req("GET", &format!("/{}", w.bucket("priv")))
            .query("list-type=2&fetch-owner=true"),
        &[],
        "listing",
    );
    let listing = listing.text();
    assert!(
        !listing.contains("ADMINKEY") && !listing.contains("local-service"),
        "{listing}"
    );
    if listing.contains("<Owner>") {
        assert!(
            listing.contains("<DisplayName>alice</DisplayName>"),
            "{listing}"
        );
    }
    let got = w.ok(
        ALICE,
        w.req("GET", &format!("/{pol}")).query("policy="),
        &[],
        "get policy",
    );
    assert_eq!(got.text(), policy);
    assert!(
        failures.is_empty(),
        "{} of the matrix differ:\n{}\nlog tail:\n{}",
        failures.len(),
        failures.join("\n"),
        w.o.logs()
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_on_the_embedded_store() {
    matrix(LOCAL_CONFIG, "azl").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_on_the_s3_kind_over_ceph_rgw() {
    real::ceph_rgw();
    let config = LOCAL_CONFIG
        .replace(
            "[[backends]]\nname = \"local\"\nkind = \"local\"\n",
            "[[backends]]\nname = \"ceph\"\nkind = \"s3\"\nendpoint = \"http://127.0.0.1:7480\"\naccess_key = \"ADMINKEY\"\nsecret_key = \"ADMINSECRET\"\nregion = \"default\"\n",
        )
        .replace("backend = \"local\"", "backend = \"ceph\"");
    let prefix = format!("azs{}", std::process::id() % 100_000);
    matrix(&config, &prefix).await;
}

/// Bad ACL and policy input gets S3's own errors, and nothing stored changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_acls_and_policies_are_refused_precisely() {
    let w = world(LOCAL_CONFIG, "azb").await;
    let b = w.bucket("x");
    w.ok(0, w.req("PUT", &format!("/{b}")), &[], "create");
    let cases: Vec<(Req, Vec<&str>, u16, &str)> = vec![
        (w.req("PUT", &format!("/{b}")).query("acl=").header("x-amz-acl", "world-readable"), vec!["x-amz-acl"], 400, "InvalidArgument"),
        (w.req("PUT", &format!("/{b}")).query("acl=").header("x-amz-grant-read", "id=\"nobody-known\""), vec!["x-amz-grant-read"], 400, "InvalidArgument"),
        (w.req("PUT", &format!("/{b}")).query("acl=").header("x-amz-grant-read", "emailAddress=\"who@nowhere\""), vec!["x-amz-grant-read"], 400, "UnresolvableGrantByEmailAddress"),
        (w.req("PUT", &format!("/{b}")).query("acl=").header("x-amz-acl", "private").header("x-amz-grant-read", "uri=\"http://acs.amazonaws.com/groups/global/AllUsers\""), vec!["x-amz-acl", "x-amz-grant-read"], 400, "InvalidRequest"),
        (w.req("PUT", &format!("/{b}")).query("acl=").body("<AccessControlPolicy><broken"), vec![], 400, "MalformedACLError"),
        (w.req("PUT", &format!("/{b}")).query("policy=").body("{not json"), vec![], 400, "MalformedPolicy"),
        (w.req("PUT", &format!("/{b}")).query("policy=").body(r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::someone-else/*"}]}"#), vec![], 400, "MalformedPolicy"),
    ];
    for (req, extra, status, code) in cases {
        let r = w.send(0, req, &extra);
        assert_eq!(
            (r.status, r.code().as_deref()),
            (status, Some(code)),
            "{}",
            r.text()
        );
    }
    // still private, no policy
    let acl = w
        .ok(0, w.req("GET", &format!("/{b}")).query("acl="), &[], "acl")
        .text();
    assert!(!acl.contains("AllUsers"), "{acl}");
    let r = w.send(0, w.req("GET", &format!("/{b}")).query("policy="), &[]);
    assert_eq!(
        r.code().as_deref(),
        Some("NoSuchBucketPolicy"),
        "{}",
        r.text()
    );
}

/// s3capabilities tells OSE what the tenant's backends cannot do (issue 11): every operation a
/// configured backend's profile declares unsupported is excluded whole (the `ceph-rgw` profile:
/// RGW 16 has no GetObjectAttributes), and with `?tenant_id=` only the backends that tenant's
/// table uses count — a quick-start tenant on the embedded store is offered it. Before, only the
/// built-in list was sent, whatever the backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3capabilities_exclude_what_the_backends_cannot_do() {
    real::ceph_rgw();
    let cfg = LOCAL_CONFIG.replace(
        "[routing]\n",
        "[[backends]]\nname = \"ceph\"\nkind = \"ceph-rgw\"\nendpoint = \"http://127.0.0.1:7480\"\naccess_key = \"ADMINKEY\"\nsecret_key = \"ADMINSECRET\"\nregion = \"default\"\n[routing]\n",
    ) + "[routing.tables.rgw]\nrules = [ { buckets = \"*\", backend = \"ceph\" } ]\n[[routing.tenants]]\nmatch = { tenant_name = \"on-rgw-*\" }\ntable = \"rgw\"\n";
    let o = Osprey::start(&cfg);
    let osis = Osis::new(o.osis());
    let on_local = osis.tenant("caps-local", "caps-org-local").await;
    let on_rgw = osis.tenant("on-rgw-caps", "caps-org-rgw").await;
    let excluded = |doc: &serde_json::Value, op: &str| {
        doc["exclusions"].get(op) == Some(&serde_json::json!({"all": true}))
    };
    let get = |path: String| {
        let osis = &osis;
        async move {
            let r = osis.admin("GET", &path, None).await;
            assert_eq!(r.status, 200, "{path}: {}", r.text);
            r.json()
        }
    };
    let all = get("/api/v1/s3capabilities".into()).await;
    assert!(
        excluded(&all, "select_object_content"),
        "the built-in list stays: {all}"
    );
    assert!(
        excluded(&all, "get_object_attributes"),
        "a configured backend lacks it: {all}"
    );
    let rgw = get(format!("/api/v1/s3capabilities?tenant_id={on_rgw}")).await;
    assert!(excluded(&rgw, "get_object_attributes"), "{rgw}");
    let local = get(format!("/api/v1/s3capabilities?tenant_id={on_local}")).await;
    assert!(
        !excluded(&local, "get_object_attributes"),
        "the embedded store has it: {local}"
    );
    assert!(excluded(&local, "select_object_content"), "{local}");
    let r = osis
        .admin(
            "GET",
            "/api/v1/s3capabilities?tenant_id=no-such-tenant",
            None,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
}

/// Cross-tenant grants in a `namespace = "global"` table go through the same evaluator on a
/// backend that sees one identity (issue 11): carol (another org) names alice's bucket plainly,
/// is refused without a grant and let in by one — and by nothing else. Before, another tenant's
/// bucket on these kinds was an unknown name (404) whatever its ACL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_namespace_grants_cross_tenants_through_osprey() {
    let cfg = LOCAL_CONFIG.replace(
        "[routing.tables.standard]\n",
        "[routing.tables.standard]\nnamespace = \"global\"\n",
    );
    assert!(cfg.contains("namespace = \"global\""));
    let w = world(&cfg, "azg").await;
    const ALICE: usize = 0;
    const CAROL: usize = 4;
    let b = w.bucket("shared");
    w.ok(ALICE, w.req("PUT", &format!("/{b}")), &[], "create");
    w.ok(
        ALICE,
        w.req("PUT", &format!("/{b}/private")).body("a only"),
        &[],
        "put private",
    );
    w.ok(
        ALICE,
        w.req("PUT", &format!("/{b}/shared")).body("for carol"),
        &[],
        "put shared",
    );
    // the name is taken across the global namespace
    let r = w.send(CAROL, w.req("PUT", &format!("/{b}")), &[]);
    assert_eq!(
        r.code().as_deref(),
        Some("BucketAlreadyExists"),
        "{}",
        r.text()
    );
    for (path, query) in [
        (format!("/{b}/private"), ""),
        (format!("/{b}/shared"), ""),
        (format!("/{b}"), "list-type=2"),
    ] {
        let r = w.send(CAROL, w.req("GET", &path).query(query), &[]);
        assert_eq!(r.status, 403, "{path} without a grant: {}", r.summary());
    }
    // alice grants carol READ on one object (by carol's canonical id, from her listing owner)
    let carol_id = {
        let r = w.ok(CAROL, w.req("GET", "/"), &[], "carol's ListBuckets");
        raw::xml_value(&r.text(), "ID").expect("owner id")
    };
    let alice_id = {
        let r = w.ok(ALICE, w.req("GET", "/"), &[], "alice's ListBuckets");
        raw::xml_value(&r.text(), "ID").expect("owner id")
    };
    // grant headers replace the whole ACL (AWS): alice keeps FULL_CONTROL by granting it too
    let grant = format!("id=\"{carol_id}\"");
    let own = format!("id=\"{alice_id}\"");
    w.ok(
        ALICE,
        w.req("PUT", &format!("/{b}/shared"))
            .query("acl=")
            .header("x-amz-grant-read", &grant)
            .header("x-amz-grant-full-control", &own),
        &["x-amz-grant-full-control", "x-amz-grant-read"],
        "grant carol",
    );
    let r = w.ok(
        CAROL,
        w.req("GET", &format!("/{b}/shared")),
        &[],
        "carol reads the shared object",
    );
    assert_eq!(r.text(), "for carol");
    let r = w.send(CAROL, w.req("GET", &format!("/{b}/private")), &[]);
    assert_eq!(
        r.status,
        403,
        "the other object stays alice's: {}",
        r.summary()
    );
    let r = w.send(
        CAROL,
        w.req("PUT", &format!("/{b}/shared")).body("overwritten"),
        &[],
    );
    assert_eq!(r.status, 403, "READ is not WRITE: {}", r.summary());
    let r = w.ok(
        ALICE,
        w.req("GET", &format!("/{b}/shared")),
        &[],
        "alice reads",
    );
    assert_eq!(r.text(), "for carol");
}
