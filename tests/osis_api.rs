//! OSIS API against the real binary: every endpoint, the verifier's checks in its order
//! (osis-api.md §10), bad inputs, and durability across `kill -9`.

mod common;

use common::{Osis, Osprey, ADMIN_AK, ADMIN_SK, LOCAL_CONFIG};
use serde_json::{json, Value};

fn uuid_hex() -> String {
    let mut b = [0u8; 16];
    getrandom_fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn getrandom_fill(b: &mut [u8]) {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(b)
        .unwrap();
}

fn check_tenant(t: &Value, cd: &str) {
    assert!(t["name"].is_string(), "{t}");
    assert!(t["tenant_id"].is_string(), "{t}");
    assert!(
        t["cd_tenant_ids"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == cd),
        "{t}"
    );
}

fn check_user(u: &Value, active: bool, cd_tenant: &str, cd_user: &str) {
    assert_eq!(u["active"], active, "{u}");
    assert_eq!(u["cd_tenant_id"], cd_tenant, "{u}");
    assert_eq!(u["cd_user_id"], cd_user, "{u}");
    for f in ["canonical_user_id", "tenant_id", "user_id", "username"] {
        assert!(u[f].is_string(), "{f} missing: {u}");
    }
    let role = u["role"].as_str().unwrap();
    assert!([
        "PROVIDER_ADMIN",
        "TENANT_ADMIN",
        "TENANT_USER",
        "ANONYMOUS",
        "UNKNOWN"
    ]
    .contains(&role));
    assert!(
        !u.as_object().unwrap().values().any(|v| v.is_null()),
        "no nulls: {u}"
    );
}

fn check_cred(
    c: &Value,
    cd_tenant: &str,
    cd_user: &str,
    tenant: &str,
    user: &str,
    ak: Option<&str>,
) {
    assert_eq!(c["cd_tenant_id"], cd_tenant, "{c}");
    assert_eq!(c["cd_user_id"], cd_user, "{c}");
    assert_eq!(c["tenant_id"], tenant, "{c}");
    assert_eq!(c["user_id"], user, "{c}");
    let a = c["access_key"].as_str().unwrap();
    let s = c["secret_key"].as_str().unwrap();
    assert_eq!(a.len(), 20, "{c}");
    assert!(a
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
    assert_eq!(s.len(), 40, "{c}");
    if let Some(ak) = ak {
        assert_eq!(a, ak);
    }
    assert!(
        !c.as_object().unwrap().values().any(|v| v.is_null()),
        "no nulls: {c}"
    );
}

fn total(v: &Value) -> u64 {
    v["page_info"]["total"].as_u64().expect("integer total")
}

async fn new_user_body(t: &str, c: &str, d: &str, name: &str) -> Value {
    json!({"tenant_id": t, "active": true, "username": name, "role": "TENANT_ADMIN", "cd_user_id": d, "cd_tenant_id": c})
}

#[tokio::test]
async fn verifier_items_in_order_and_every_endpoint() {
    let o = Osprey::start(LOCAL_CONFIG);
    let api = Osis::new(o.osis());

    // ---- 1. verify_capability_api
    let r = api.admin("GET", "/api/v1/s3capabilities", None).await;
    assert_eq!(r.status, 200);
    assert!(!r.json()["exclusions"].as_object().unwrap().is_empty());

    // ---- 2. verify_credential_api
    let (c, d) = (uuid_hex(), uuid_hex());
    let r = api
        .admin(
            "POST",
            "/api/v1/tenants",
            Some(json!({"name": "brave-teal", "active": true, "cd_tenant_ids": [c]})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let t = r.json();
    check_tenant(&t, &c);
    let tid = t["tenant_id"].as_str().unwrap().to_string();
    let r = api
        .admin(
            "POST",
            &format!("/api/v1/tenants/{tid}/users"),
            Some(new_user_body(&tid, &c, &d, "otter").await),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let u = r.json();
    check_user(&u, true, &c, &d);
    let uid = u["user_id"].as_str().unwrap().to_string();
    let q = format!(
        "/api/v1/s3credentials/query?filter={}",
        urlenc(&format!(
            "cd_tenant_id=={c};cd_user_id=={d};tenant_id=={tid};user_id=={uid};"
        ))
    );
    let r = api.admin("GET", &q, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(total(&r.json()), 1);
    check_cred(&r.json()["items"][0], &c, &d, &tid, &uid, None);
    let r = api
        .admin(
            "GET",
            &format!("/api/v1/tenants/{tid}/users/{uid}/s3credentials"),
            None,
        )
        .await;
    assert_eq!(total(&r.json()), 1);
    check_cred(&r.json()["items"][0], &c, &d, &tid, &uid, None);
    let r = api
        .admin(
            "POST",
            &format!("/api/v1/tenants/{tid}/users/{uid}/s3credentials"),
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let ak = r.json()["access_key"].as_str().unwrap().to_string();
    check_cred(&r.json(), &c, &d, &tid, &uid, Some(&ak));
    let q2 = format!(
        "/api/v1/s3credentials/query?filter={}",
        urlenc(&format!(
            "cd_tenant_id=={c};cd_user_id=={d};tenant_id=={tid};user_id=={uid};access_key=={ak}"
        ))
    );
    let r = api.admin("GET", &q2, None).await;
    assert_eq!(total(&r.json()), 1);
    check_cred(&r.json()["items"][0], &c, &d, &tid, &uid, Some(&ak));
    let r = api
        .admin("GET", &format!("/api/v1/s3credentials/{ak}"), None)
        .await;
    assert_eq!(r.status, 200);
    check_cred(&r.json(), &c, &d, &tid, &uid, Some(&ak));
    // optional credential endpoints: status update (body with only `active`) and delete
    let r = api
        .admin(
            "PATCH",
            &format!("/api/v1/s3credentials/{ak}"),
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["active"], false);
    check_cred(&r.json(), &c, &d, &tid, &uid, Some(&ak));
    let r = api
        .admin(
            "PATCH",
            &format!("/api/v1/s3credentials/{ak}?tenant_id=other&user_id={uid}"),
            Some(json!({"active": true})),
        )
        .await;
    assert_eq!(r.status, 404, "hint mismatch: {}", r.text);
    let r = api
        .admin(
            "DELETE",
            &format!("/api/v1/s3credentials/{ak}?tenant_id={tid}&user_id={uid}"),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    assert!(r.text.is_empty());
    let r = api
        .admin("GET", &format!("/api/v1/s3credentials/{ak}"), None)
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["code"], "E_NOT_FOUND");
    assert_eq!(
        api.admin(
            "DELETE",
            &format!("/api/v1/tenants/{tid}/users/{uid}"),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        api.admin("DELETE", &format!("/api/v1/tenants/{tid}"), None)
            .await
            .status,
        204
    );

    // ---- 3. verify_info_api (anonymous)
    let r = api.call("GET", "/api/info", None, None).await;
    assert_eq!(r.status, 200);
    let i = r.json();
    for f in [
        "platform_name",
        "platform_version",
        "api_version",
        "logo_uri",
        "status",
    ] {
        assert!(i[f].is_string(), "{f}: {i}");
    }
    assert!(!i["auth_modes"].as_array().unwrap().is_empty());
    assert_eq!(i["not_implemented"], json!([]));
    assert!(["NORMAL", "WARNING", "ERROR", "UNKNOWN"].contains(&i["status"].as_str().unwrap()));
    assert!(i["platform_version"]
        .as_str()
        .unwrap()
        .starts_with(env!("CARGO_PKG_VERSION")));
    assert_eq!(
        i["services"]["s3"].as_str().unwrap(),
        format!("http://127.0.0.1:{}", o.s3_port)
    );
    // the logo is fetchable without credentials
    let logo = i["logo_uri"].as_str().unwrap().to_string();
    let lr = reqwest::get(&logo).await.unwrap();
    assert_eq!(lr.status(), 200);
    assert!(lr.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("image/"));

    // ---- 4. verify_tenant_api
    let (c1, c2) = (uuid_hex(), uuid_hex());
    let qt = |cd: &str| {
        format!(
            "/api/v1/tenants/query?filter={}",
            urlenc(&format!("cd_tenant_id=={cd}"))
        )
    };
    assert_eq!(total(&api.admin("GET", &qt(&c1), None).await.json()), 0);
    let r = api
        .admin(
            "POST",
            "/api/v1/tenants",
            Some(json!({"name": "n4", "active": true, "cd_tenant_ids": [c1]})),
        )
        .await;
    assert_eq!(r.status, 201);
    let tid = r.json()["tenant_id"].as_str().unwrap().to_string();
    let h = api
        .admin("HEAD", &format!("/api/v1/tenants/{tid}"), None)
        .await;
    assert_eq!(h.status, 200);
    assert!(h.text.is_empty());
    assert_eq!(
        api.admin("HEAD", "/api/v1/tenants/tnope", None)
            .await
            .status,
        404
    );
    let r = api
        .admin(
            "PATCH",
            &format!("/api/v1/tenants/{tid}"),
            Some(json!({"name": "n4", "active": true, "cd_tenant_ids": [c1, c2]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    check_tenant(&r.json(), &c1);
    check_tenant(&r.json(), &c2);
    let r = api.admin("GET", "/api/v1/tenants", None).await;
    assert_eq!(r.status, 200);
    assert!(r.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["name"].is_string()));
    assert_eq!(total(&api.admin("GET", &qt(&c1), None).await.json()), 1);
    assert_eq!(total(&api.admin("GET", &qt(&c2), None).await.json()), 1);
    // optional getTenant
    let r = api
        .admin("GET", &format!("/api/v1/tenants/{tid}"), None)
        .await;
    assert_eq!(r.status, 200);
    check_tenant(&r.json(), &c2);
    assert_eq!(
        api.admin("DELETE", &format!("/api/v1/tenants/{tid}"), None)
            .await
            .status,
        204
    );
    assert_eq!(
        api.admin("GET", &format!("/api/v1/tenants/{tid}"), None)
            .await
            .status,
        404
    );

    // ---- 5. verify_user_api
    let (c, d) = (uuid_hex(), uuid_hex());
    let tid = api.tenant("t5", &c).await;
    let r = api
        .admin(
            "GET",
            &format!(
                "/api/v1/users/query?filter={}",
                urlenc(&format!("tenant_id=={tid};cd_tenant_id=={c}"))
            ),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    let r = api
        .admin(
            "POST",
            &format!("/api/v1/tenants/{tid}/users"),
            Some(new_user_body(&tid, &c, &d, "user-five").await),
        )
        .await;
    assert_eq!(r.status, 201);
    let u = r.json();
    let uid = u["user_id"].as_str().unwrap().to_string();
    let canonical = u["canonical_user_id"].as_str().unwrap().to_string();
    assert_eq!(canonical.len(), 64);
    assert_eq!(
        total(
            &api.admin("GET", &format!("/api/v1/tenants/{tid}/users"), None)
                .await
                .json()
        ),
        1
    );
    let r = api
        .admin("GET", &format!("/api/v1/tenants/{tid}/users/{uid}"), None)
        .await;
    check_user(&r.json(), true, &c, &d);
    let mut body = u.clone();
    body["active"] = json!(false);
    let r = api
        .admin(
            "PATCH",
            &format!("/api/v1/tenants/{tid}/users/{uid}"),
            Some(body),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    check_user(&r.json(), false, &c, &d);
    let r = api
        .admin("GET", &format!("/api/v1/users/{canonical}"), None)
        .await;
    assert_eq!(r.status, 200);
    check_user(&r.json(), false, &c, &d);
    let r = api.admin("GET", &format!("/api/v1/users/query?filter={}", urlenc(&format!("tenant_id=={tid};cd_tenant_id=={c};user_id=={uid};cd_user_id=={d};username==user-five"))), None).await;
    assert_eq!(total(&r.json()), 1);
    // display_name is the same key as username; unknown keys are ignored
    let r = api
        .admin(
            "GET",
            &format!(
                "/api/v1/users/query?filter={}",
                urlenc(&format!(
                    "cd_tenant_id=={c};display_name==user-five;colour==red"
                ))
            ),
            None,
        )
        .await;
    assert_eq!(total(&r.json()), 1);
    // optional headUser
    assert_eq!(
        api.admin("HEAD", &format!("/api/v1/tenants/{tid}/users/{uid}"), None)
            .await
            .status,
        200
    );
    assert_eq!(
        api.admin("HEAD", &format!("/api/v1/tenants/{tid}/users/nobody"), None)
            .await
            .status,
        404
    );
    assert_eq!(
        api.admin(
            "DELETE",
            &format!("/api/v1/tenants/{tid}/users/{uid}"),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        api.admin("HEAD", &format!("/api/v1/tenants/{tid}/users/{uid}"), None)
            .await
            .status,
        404
    );
    // deleting again is idempotent, as in the reference implementations
    assert_eq!(
        api.admin(
            "DELETE",
            &format!("/api/v1/tenants/{tid}/users/{uid}"),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        api.admin("DELETE", &format!("/api/v1/tenants/{tid}"), None)
            .await
            .status,
        204
    );

    // ---- 6. onboard_and_s3 (OSIS part; the S3 GET / is in tests/s3_gateway.rs)
    let (c, d) = (uuid_hex(), uuid_hex());
    let tid = api.tenant("t6", &c).await;
    assert_eq!(
        total(
            &api.admin(
                "GET",
                &format!(
                    "/api/v1/tenants/query?filter={}",
                    urlenc(&format!("cd_tenant_id=={c}"))
                ),
                None
            )
            .await
            .json()
        ),
        1
    );
    let uq = format!(
        "/api/v1/users/query?filter={}",
        urlenc(&format!(
            "tenant_id=={tid};cd_tenant_id=={c};cd_user_id=={d}"
        ))
    );
    assert_eq!(total(&api.admin("GET", &uq, None).await.json()), 0);
    let (uid, _, _) = api.user(&tid, &c, &d).await;
    assert_eq!(total(&api.admin("GET", &uq, None).await.json()), 1);
    assert_eq!(
        api.admin(
            "POST",
            &format!("/api/v1/tenants/{tid}/users/{uid}/s3credentials"),
            None
        )
        .await
        .status,
        201
    );
    assert_eq!(
        total(
            &api.admin(
                "GET",
                &format!("/api/v1/tenants/{tid}/users/{uid}/s3credentials"),
                None
            )
            .await
            .json()
        ),
        2
    );

    // ---- optional platform endpoints
    let r = api.admin("GET", "/api/v1/usage", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    for f in [
        "bucket_count",
        "object_count",
        "total_bytes",
        "available_bytes",
        "used_bytes",
    ] {
        assert!(r.json()[f].is_i64(), "{f} integer: {}", r.text);
    }
    assert_eq!(
        api.admin("GET", &format!("/api/v1/usage?tenant_id={tid}"), None)
            .await
            .status,
        200
    );
    assert_eq!(
        api.admin(
            "GET",
            &format!("/api/v1/usage?tenant_id={tid}&user_id={uid}"),
            None
        )
        .await
        .status,
        200
    );
    assert_eq!(
        api.admin("GET", &format!("/api/v1/usage?user_id={uid}"), None)
            .await
            .status,
        400
    );
    assert_eq!(
        api.admin("GET", "/api/v1/usage?tenant_id=tnope", None)
            .await
            .status,
        404
    );
    let r = api
        .admin("GET", &format!("/api/v1/bucket-list?tenant_id={tid}"), None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(total(&r.json()), 0);
    assert_eq!(
        api.admin("GET", "/api/v1/bucket-list", None).await.status,
        400
    );
    let r = api.admin("GET", "/api/v1/console", None).await;
    assert_eq!(r.status, 200);
    assert!(r.text.starts_with("http"), "{}", r.text);
    let r = api.admin("GET", "/api/v1/bucket-logging-id", None).await;
    assert_eq!(r.status, 200);
    let id1 = r.json();
    assert!(id1.is_string());
    assert_eq!(
        api.admin("GET", "/api/v1/bucket-logging-id", None)
            .await
            .json(),
        id1,
        "stable"
    );
    let r = api.admin("GET", "/api/v1/anonymous-user", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["name"], "AnonymousUser");
    assert!(r.json()["id"].is_string());

    // ---- signature headers on every response, including errors
    for r in [
        api.call("GET", "/api/info", None, None).await,
        api.call("GET", "/api/v1/tenants", None, None).await,
        api.admin("GET", "/no/such/path", None).await,
    ] {
        let server = r.headers["server"].to_str().unwrap();
        assert!(
            server.starts_with(&format!("osprey/{} (", env!("CARGO_PKG_VERSION"))),
            "{server}"
        );
        assert_eq!(r.headers["x-request-id"].to_str().unwrap().len(), 16);
    }
    // every log line carries the release signature
    let logs = o.logs();
    assert!(logs.lines().count() > 10);
    assert!(
        logs.lines()
            .filter(|l| !l.trim().is_empty())
            .all(|l| l.contains(&format!("osprey/{}", env!("CARGO_PKG_VERSION")))),
        "{logs}"
    );
    assert!(logs.contains("request_id="), "request ids in log lines");
}

fn urlenc(s: &str) -> String {
    // the client percent-encodes every query value with no safe characters
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn bad_inputs_get_precise_errors() {
    let o = Osprey::start(LOCAL_CONFIG);
    let api = Osis::new(o.osis());
    // auth
    let r = api.call("GET", "/api/v1/tenants", None, None).await;
    assert_eq!(r.status, 401);
    assert!(r.headers["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic realm="));
    assert_eq!(r.json()["code"], "E_UNAUTHORIZED");
    assert_eq!(
        api.call("GET", "/api/v1/tenants", None, Some((ADMIN_AK, "wrong")))
            .await
            .status,
        401
    );
    assert_eq!(
        api.call("GET", "/api/v1/tenants", None, Some(("wrong", ADMIN_SK)))
            .await
            .status,
        401
    );
    let r = api
        .http
        .get(format!("{}/api/v1/tenants", o.osis()))
        .header("authorization", "Basic !!!notbase64")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = api
        .http
        .get(format!("{}/api/v1/tenants", o.osis()))
        .bearer_auth("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // malformed JSON, wrong types, missing fields
    let r = api.raw("POST", "/api/v1/tenants", "{not json").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["code"], "E_BAD_REQUEST");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("malformed JSON"),
        "{}",
        r.text
    );
    let r = api
        .raw(
            "POST",
            "/api/v1/tenants",
            r#"{"name": "x", "active": "yes"}"#,
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.json()["message"].as_str().unwrap().contains("active"),
        "{}",
        r.text
    );
    let r = api
        .raw(
            "POST",
            "/api/v1/tenants",
            r#"{"name": "x", "cd_tenant_ids": "abc"}"#,
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("cd_tenant_ids"),
        "{}",
        r.text
    );
    let r = api
        .raw("POST", "/api/v1/tenants", r#"{"active": true}"#)
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.json()["message"].as_str().unwrap().contains("name"),
        "{}",
        r.text
    );
    let r = api.raw("POST", "/api/v1/tenants", "").await;
    assert_eq!(r.status, 400);
    // unknown fields are ignored (the client may send more than we know)
    let r = api
        .raw(
            "POST",
            "/api/v1/tenants",
            r#"{"name": "x", "cd_tenant_ids": ["dup"], "colour": 3}"#,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let tid = r.json()["tenant_id"].as_str().unwrap().to_string();
    // the same create again (a retry after a lost answer; issue 15's drill met it behind HAProxy)
    // finds its tenant made and answers as the first time did, with no second tenant
    let r = api
        .raw(
            "POST",
            "/api/v1/tenants",
            r#"{"name": "x", "cd_tenant_ids": ["dup"]}"#,
        )
        .await;
    assert_eq!(r.status, 201, "a replayed create: {}", r.text);
    assert_eq!(r.json()["tenant_id"], json!(tid), "{}", r.text);
    let r = api
        .admin(
            "GET",
            "/api/v1/tenants/query?filter=cd_tenant_id%3D%3Ddup",
            None,
        )
        .await;
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 1, "{}", r.text);
    // a create that differs (here: inactive) is not a replay
    let r = api
        .raw(
            "POST",
            "/api/v1/tenants",
            r#"{"name": "x", "active": false, "cd_tenant_ids": ["dup"]}"#,
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    // duplicate cd_tenant_id
    let r = api
        .raw(
            "POST",
            "/api/v1/tenants",
            r#"{"name": "y", "cd_tenant_ids": ["dup"]}"#,
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.json()["message"].as_str().unwrap().contains("dup"));
    let other = api.tenant("z", "other-org").await;
    let r = api
        .raw(
            "PATCH",
            &format!("/api/v1/tenants/{other}"),
            r#"{"cd_tenant_ids": ["other-org", "dup"]}"#,
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    // the failed PATCH changed nothing
    let r = api
        .admin("GET", &format!("/api/v1/tenants/{other}"), None)
        .await;
    assert_eq!(r.json()["cd_tenant_ids"], json!(["other-org"]));
    // unknown tenant / user / key
    assert_eq!(
        api.admin("GET", "/api/v1/tenants/tnope", None).await.status,
        404
    );
    assert_eq!(
        api.raw("PATCH", "/api/v1/tenants/tnope", r#"{"active": false}"#)
            .await
            .status,
        404
    );
    let r = api
        .raw(
            "POST",
            "/api/v1/tenants/tnope/users",
            r#"{"cd_user_id": "u", "cd_tenant_id": "c"}"#,
        )
        .await;
    assert_eq!(
        r.status, 400,
        "unknown parent tenant is a 400 per spec: {}",
        r.text
    );
    assert!(r.json()["message"].as_str().unwrap().contains("tnope"));
    assert_eq!(
        api.admin("GET", "/api/v1/tenants/tnope/users", None)
            .await
            .status,
        404
    );
    assert_eq!(
        api.admin("GET", &format!("/api/v1/tenants/{tid}/users/nobody"), None)
            .await
            .status,
        404
    );
    assert_eq!(
        api.raw(
            "PATCH",
            &format!("/api/v1/tenants/{tid}/users/nobody"),
            r#"{"active": false}"#
        )
        .await
        .status,
        404
    );
    assert_eq!(
        api.admin(
            "POST",
            &format!("/api/v1/tenants/{tid}/users/nobody/s3credentials"),
            None
        )
        .await
        .status,
        400
    );
    assert_eq!(
        api.admin(
            "GET",
            &format!("/api/v1/tenants/{tid}/users/nobody/s3credentials"),
            None
        )
        .await
        .status,
        404
    );
    assert_eq!(
        api.admin("GET", "/api/v1/s3credentials/AKNOPE", None)
            .await
            .status,
        404
    );
    assert_eq!(
        api.raw(
            "PATCH",
            "/api/v1/s3credentials/AKNOPE",
            r#"{"active": false}"#
        )
        .await
        .status,
        404
    );
    assert_eq!(
        api.admin("GET", "/api/v1/users/nocanonical", None)
            .await
            .status,
        404
    );
    // users: missing required fields, bad role, duplicate, PATCH without active
    let r = api
        .raw(
            "POST",
            &format!("/api/v1/tenants/{tid}/users"),
            r#"{"cd_tenant_id": "dup"}"#,
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].as_str().unwrap().contains("cd_user_id"));
    let r = api
        .raw(
            "POST",
            &format!("/api/v1/tenants/{tid}/users"),
            r#"{"cd_user_id": "u1", "cd_tenant_id": "dup", "role": "BOSS"}"#,
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].as_str().unwrap().contains("role"));
    let ok =
        r#"{"cd_user_id": "u1", "cd_tenant_id": "dup", "username": "u1", "role": "TENANT_USER"}"#;
    assert_eq!(
        api.raw("POST", &format!("/api/v1/tenants/{tid}/users"), ok)
            .await
            .status,
        201
    );
    // the same create again finds its user made: 201 with the same user, and still one key
    let r = api
        .raw("POST", &format!("/api/v1/tenants/{tid}/users"), ok)
        .await;
    assert_eq!(r.status, 201, "a replayed create: {}", r.text);
    assert_eq!(r.json()["user_id"], json!("u1"), "{}", r.text);
    let r = api
        .admin(
            "GET",
            &format!("/api/v1/tenants/{tid}/users/u1/s3credentials"),
            None,
        )
        .await;
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 1, "{}", r.text);
    // the same cd_user_id with another name is a conflict
    let r = api
        .raw(
            "POST",
            &format!("/api/v1/tenants/{tid}/users"),
            r#"{"cd_user_id": "u1", "cd_tenant_id": "dup", "username": "u1-other", "role": "TENANT_USER"}"#,
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    let r = api
        .raw(
            "PATCH",
            &format!("/api/v1/tenants/{tid}/users/u1"),
            r#"{"username": "u1"}"#,
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].as_str().unwrap().contains("active"));
    // filters and paging
    let r = api
        .admin(
            "GET",
            "/api/v1/tenants/query?filter=cd_tenant_id%3Ddup",
            None,
        )
        .await;
    assert_eq!(r.status, 400, "single = is a syntax error: {}", r.text);
    assert_eq!(
        api.admin("GET", "/api/v1/users/query?filter=active%3D%3Dmaybe", None)
            .await
            .status,
        400
    );
    assert_eq!(
        api.admin("GET", "/api/v1/tenants?offset=-1", None)
            .await
            .status,
        400
    );
    assert_eq!(
        api.admin("GET", "/api/v1/tenants?limit=abc", None)
            .await
            .status,
        400
    );
    let r = api
        .admin("GET", "/api/v1/tenants?offset=1&limit=1", None)
        .await;
    assert_eq!(r.status, 200);
    let j = r.json();
    assert_eq!(j["page_info"], json!({"total": 2, "offset": 1, "limit": 1}));
    assert_eq!(j["items"].as_array().unwrap().len(), 1);
    let r = api.admin("GET", "/api/v1/tenants?offset=50", None).await;
    assert_eq!(r.json()["items"], json!([]));
    assert_eq!(total(&r.json()), 2);
    // percent-decoded path parameters: `$` arrives as %24
    let r = api
        .raw(
            "POST",
            &format!("/api/v1/tenants/{tid}/users"),
            r#"{"cd_user_id": "a$b", "cd_tenant_id": "dup"}"#,
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        api.admin("GET", &format!("/api/v1/tenants/{tid}/users/a%24b"), None)
            .await
            .status,
        200
    );
    // body too large
    let big = format!(r#"{{"name": "{}"}}"#, "x".repeat(100_000));
    assert_eq!(api.raw("POST", "/api/v1/tenants", &big).await.status, 413);
    // a too-long name is refused with its limit
    let long = format!(r#"{{"name": "{}"}}"#, "x".repeat(300));
    let r = api.raw("POST", "/api/v1/tenants", &long).await;
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].as_str().unwrap().contains("256"));
    // wrong method
    assert_eq!(api.admin("PUT", "/api/v1/tenants", None).await.status, 405);
    // nothing panicked: the server still answers
    assert_eq!(api.admin("GET", "/api/v1/tenants", None).await.status, 200);
    assert!(!o.logs().contains("panicked"), "{}", o.logs());
}

#[tokio::test]
async fn bearer_tokens() {
    let o = Osprey::start(LOCAL_CONFIG);
    let api = Osis::new(o.osis());
    let r = api
        .call(
            "POST",
            "/api/v1/auth/login",
            Some(json!({"username": ADMIN_AK, "password": "nope"})),
            None,
        )
        .await;
    assert_eq!(r.status, 401);
    let r = api
        .call(
            "POST",
            "/api/v1/auth/login",
            Some(json!({"username": ADMIN_AK, "password": ADMIN_SK})),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let access = r.json()["access_token"].as_str().unwrap().to_string();
    let refresh = r.json()["refresh_token"].as_str().unwrap().to_string();
    let get = |tok: String| {
        let http = api.http.clone();
        let url = format!("{}/api/v1/tenants", o.osis());
        async move {
            http.get(url)
                .bearer_auth(tok)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(get(access.clone()).await, 200);
    // a refresh token is not an access token
    assert_eq!(get(refresh.clone()).await, 401);
    let r = api
        .call(
            "POST",
            "/api/v1/auth/token",
            Some(json!({"refresh_token": refresh})),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let access2 = r.json()["access_token"].as_str().unwrap().to_string();
    assert_eq!(get(access2).await, 200);
    let r = api
        .call(
            "POST",
            "/api/v1/auth/token",
            Some(json!({"refresh_token": access})),
            None,
        )
        .await;
    assert_eq!(r.status, 401, "an access token cannot refresh");
    let info = api.call("GET", "/api/info", None, None).await.json();
    assert_eq!(info["auth_modes"], json!(["Basic", "Bearer"]));
}

#[tokio::test]
async fn state_survives_kill_9_and_secrets_are_encrypted() {
    let mut o = Osprey::start(LOCAL_CONFIG);
    let api = Osis::new(o.osis());
    let mut made = Vec::new();
    for i in 0..20 {
        let cd = format!("org-{i}");
        let tid = api.tenant(&format!("tenant-{i}"), &cd).await;
        let (uid, ak, sk) = api.user(&tid, &cd, &format!("user-{i}")).await;
        made.push((tid, uid, ak, sk));
    }
    // the last acknowledged write, then SIGKILL with no pause
    let r = api
        .admin(
            "PATCH",
            &format!("/api/v1/s3credentials/{}", made[19].2),
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(r.status, 200);
    o.kill9();
    // secrets are not readable in the database files
    let mut raw = Vec::new();
    for f in std::fs::read_dir(o.data_dir()).unwrap() {
        let p = f.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("osprey.db")
        {
            raw.extend(std::fs::read(&p).unwrap());
        }
    }
    assert!(!raw.is_empty());
    for (_, _, ak, sk) in &made {
        assert!(
            raw.windows(ak.len()).any(|w| w == ak.as_bytes()),
            "access keys are stored (in clear, they are identifiers)"
        );
        assert!(
            !raw.windows(sk.len()).any(|w| w == sk.as_bytes()),
            "secret {sk} readable on disk"
        );
    }
    o.spawn();
    let api = Osis::new(o.osis());
    for (i, (tid, uid, ak, sk)) in made.iter().enumerate() {
        let r = api
            .admin("GET", &format!("/api/v1/s3credentials/{ak}"), None)
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json()["secret_key"], sk.as_str());
        assert_eq!(r.json()["tenant_id"], tid.as_str());
        assert_eq!(r.json()["user_id"], uid.as_str());
        assert_eq!(r.json()["active"], i != 19);
    }
    assert_eq!(
        total(&api.admin("GET", "/api/v1/tenants", None).await.json()),
        20
    );
    // a different master key cannot read the secrets: clear error, nothing lost
    let key_file = o.data_dir().join("master.key");
    let good = std::fs::read_to_string(&key_file).unwrap();
    o.stop();
    o.extra_env = vec![("OSPREY_MASTER_KEY".into(), "11".repeat(32))];
    o.spawn();
    let api = Osis::new(o.osis());
    let r = api
        .admin("GET", &format!("/api/v1/s3credentials/{}", made[0].2), None)
        .await;
    assert_eq!(r.status, 500);
    assert!(
        r.json()["message"].as_str().unwrap().contains("master key"),
        "{}",
        r.text
    );
    o.stop();
    o.extra_env = vec![("OSPREY_MASTER_KEY".into(), good.trim().to_string())];
    o.spawn();
    let api = Osis::new(o.osis());
    let r = api
        .admin("GET", &format!("/api/v1/s3credentials/{}", made[0].2), None)
        .await;
    assert_eq!(r.json()["secret_key"], made[0].3.as_str());
}
