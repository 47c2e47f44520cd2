//! Issue 10 (through Osprey = the backend): through the `ceph-rgw` kind a client sees and writes the OSIS canonical ids OSE knows
//! its users by, never RGW's `tenant$uid` principals; and CreateBucket is the backend's answer.
//! The real binary against a real Ceph RGW (tests/real), driven by aws-sdk-rust.

mod common;
#[path = "common/raw.rs"]
mod raw;
mod real;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    AccessControlPolicy, Grant, Grantee, Owner, Permission, Type as GranteeType,
};
use common::{ceph_rgw_kind_config, Osis, Osprey};

struct User {
    s3: aws_sdk_s3::Client,
    canonical: String,
    name: String,
}

fn client(endpoint: &str, ak: &str, sk: &str) -> aws_sdk_s3::Client {
    common::s3_client(endpoint, ak, sk, "us-east-1")
}

async fn user(o: &Osprey, api: &Osis, tid: &str, cd: &str, name: &str) -> User {
    let (uid, ak, sk) = api.user(tid, cd, name).await;
    let r = api
        .admin("GET", &format!("/api/v1/tenants/{tid}/users/{uid}"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    User {
        s3: client(&o.s3(), &ak, &sk),
        canonical: r.json()["canonical_user_id"].as_str().unwrap().to_string(),
        name: name.to_string(),
    }
}

fn code<T, E: ProvideErrorMetadata + std::fmt::Debug>(
    r: Result<T, aws_sdk_s3::error::SdkError<E>>,
) -> String {
    match r {
        Ok(_) => "OK".into(),
        Err(e) => e
            .code()
            .map(str::to_string)
            .unwrap_or_else(|| format!("{e:?}")),
    }
}

fn grant(id: &str, p: Permission) -> Grant {
    Grant::builder()
        .grantee(
            Grantee::builder()
                .r#type(GranteeType::CanonicalUser)
                .id(id)
                .build()
                .unwrap(),
        )
        .permission(p)
        .build()
}

#[tokio::test(flavor = "multi_thread")]
async fn canonical_ids_both_ways_and_create_bucket_is_the_backends() {
    real::ceph_rgw();
    let o = Osprey::start(&ceph_rgw_kind_config(real::RGW_ENDPOINT));
    let api = Osis::new(o.osis());
    let tid = api.tenant("ids", "org-ids").await;
    let main = user(&o, &api, &tid, "org-ids", "ids-main").await;
    let alt = user(&o, &api, &tid, "org-ids", "ids-alt").await;
    let b = "ids-bucket";

    // ---- CreateBucket: RGW's answers (owner re-creates: 200; another user: 409)
    assert_eq!(code(main.s3.create_bucket().bucket(b).send().await), "OK");
    main.s3
        .put_object()
        .bucket(b)
        .key("kept")
        .body(ByteStream::from_static(b"still here"))
        .send()
        .await
        .unwrap();
    assert_eq!(code(main.s3.create_bucket().bucket(b).send().await), "OK");
    assert_eq!(
        code(alt.s3.create_bucket().bucket(b).send().await),
        "BucketAlreadyExists"
    );
    let listed = main.s3.list_buckets().send().await.unwrap();
    let names: Vec<_> = listed.buckets().iter().filter_map(|x| x.name()).collect();
    assert_eq!(names, vec![b], "one placement, nothing lost");
    let kept = main.s3.get_object().bucket(b).key("kept").send().await;
    assert_eq!(code(kept), "OK");

    // ---- out: owners and grantees are canonical ids with the OSIS display name
    let acl = main.s3.get_bucket_acl().bucket(b).send().await.unwrap();
    let owner = acl.owner().unwrap();
    assert_eq!(owner.id(), Some(main.canonical.as_str()));
    assert_eq!(owner.display_name(), Some(main.name.as_str()));
    let ids: Vec<_> = acl
        .grants()
        .iter()
        .filter_map(|g| g.grantee().and_then(|g| g.id()))
        .collect();
    assert_eq!(ids, vec![main.canonical.as_str()]);
    let list = main
        .s3
        .list_objects_v2()
        .bucket(b)
        .fetch_owner(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        list.contents()[0].owner().and_then(|o| o.id()),
        Some(main.canonical.as_str())
    );

    // ---- in: an AccessControlPolicy naming the canonical ids (owner and alt)
    assert_eq!(
        code(alt.s3.list_objects_v2().bucket(b).send().await),
        "AccessDenied"
    );
    let policy = AccessControlPolicy::builder()
        .owner(Owner::builder().id(&main.canonical).build())
        .grants(grant(&main.canonical, Permission::FullControl))
        .grants(grant(&alt.canonical, Permission::Read))
        .build();
    main.s3
        .put_bucket_acl()
        .bucket(b)
        .access_control_policy(policy)
        .send()
        .await
        .unwrap();
    assert_eq!(code(alt.s3.list_objects_v2().bucket(b).send().await), "OK");
    let acl = main.s3.get_bucket_acl().bucket(b).send().await.unwrap();
    let alt_grant = acl
        .grants()
        .iter()
        .find(|g| g.permission() == Some(&Permission::Read))
        .and_then(|g| g.grantee())
        .unwrap();
    assert_eq!(alt_grant.id(), Some(alt.canonical.as_str()));
    assert_eq!(alt_grant.display_name(), Some(alt.name.as_str()));

    // ---- in: x-amz-grant-read with a canonical id
    assert_eq!(
        code(alt.s3.get_object().bucket(b).key("kept").send().await),
        "AccessDenied"
    );
    main.s3
        .put_object()
        .bucket(b)
        .key("shared")
        .grant_read(format!("id=\"{}\"", alt.canonical))
        .body(ByteStream::from_static(b"for alt"))
        .send()
        .await
        .unwrap();
    let got = alt.s3.get_object().bucket(b).key("shared").send().await;
    assert_eq!(code(got), "OK");
    let oacl = main
        .s3
        .get_object_acl()
        .bucket(b)
        .key("shared")
        .send()
        .await
        .unwrap();
    // grant headers replace the default ACL (S3 semantics): alt's grant only, by canonical id
    let ids: Vec<_> = oacl
        .grants()
        .iter()
        .filter_map(|g| g.grantee().and_then(|g| g.id()))
        .collect();
    assert_eq!(ids, vec![alt.canonical.as_str()]);
    assert_eq!(
        oacl.owner().and_then(|o| o.id()),
        Some(main.canonical.as_str())
    );

    // ---- an id nobody has: RGW's own answer for an unknown grantee
    let unknown = "0".repeat(64);
    let r = main
        .s3
        .put_object_acl()
        .bucket(b)
        .key("shared")
        .access_control_policy(
            AccessControlPolicy::builder()
                .owner(Owner::builder().id(&main.canonical).build())
                .grants(grant(&unknown, Permission::Read))
                .build(),
        )
        .send()
        .await;
    assert_eq!(code(r), "InvalidArgument");
    // nothing changed by the refused request
    let got = alt.s3.get_object().bucket(b).key("shared").send().await;
    assert_eq!(code(got), "OK");

    // ---- a bucket policy whose condition names a grantee by canonical id (s3-tests
    // test_bucket_policy_put_obj_grant): the backend compares it with the translated header
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"*"}},"Action":"s3:PutObject","Resource":"arn:aws:s3:::{b}/*","Condition":{{"StringEquals":{{"s3:x-amz-grant-full-control":"id={}"}}}}}}]}}"#,
        main.canonical
    );
    main.s3
        .put_bucket_policy()
        .bucket(b)
        .policy(&policy)
        .send()
        .await
        .unwrap();
    let r = alt
        .s3
        .put_object()
        .bucket(b)
        .key("by-alt")
        .grant_full_control(format!("id={}", main.canonical))
        .body(ByteStream::from_static(b"alt's"))
        .send()
        .await;
    assert_eq!(code(r), "OK");
    let r = alt
        .s3
        .put_object()
        .bucket(b)
        .key("by-alt-2")
        .body(ByteStream::from_static(b"no grant"))
        .send()
        .await;
    assert_eq!(code(r), "AccessDenied", "the policy's condition holds");
    let back = main.s3.get_bucket_policy().bucket(b).send().await.unwrap();
    let back = back.policy().unwrap_or_default();
    assert!(
        back.contains(&format!("id={}", main.canonical)) && !back.contains('$'),
        "{back}"
    );
    main.s3
        .delete_bucket_policy()
        .bucket(b)
        .send()
        .await
        .unwrap();

    // ---- another OSE org: kept apart, until a grant by its canonical id shares an object;
    // it names the bucket `<tenant id>:<bucket>` and RGW decides with its own identity
    let tid2 = api.tenant("ids-other", "org-ids-other").await;
    let other = user(&o, &api, &tid2, "org-ids-other", "ids-other").await;
    let qualified = format!("{tid}:{b}");
    let r = other
        .s3
        .get_object()
        .bucket(&qualified)
        .key("kept")
        .send()
        .await;
    assert_eq!(code(r), "AccessDenied");
    let r = other.s3.get_object().bucket(b).key("kept").send().await;
    assert_eq!(
        code(r),
        "NoSuchBucket",
        "a plain name is the caller's tenant's"
    );
    main.s3
        .put_object()
        .bucket(b)
        .key("cross")
        .grant_read(format!("id=\"{}\"", other.canonical))
        .body(ByteStream::from_static(b"for another org"))
        .send()
        .await
        .unwrap();
    let got = other
        .s3
        .get_object()
        .bucket(&qualified)
        .key("cross")
        .send()
        .await
        .unwrap();
    let body = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], b"for another org");
    let r = other
        .s3
        .put_object()
        .bucket(&qualified)
        .key("cross")
        .body(ByteStream::from_static(b"overwritten"))
        .send()
        .await;
    assert_eq!(code(r), "AccessDenied", "READ does not let it write");

    for k in ["kept", "shared", "cross", "by-alt"] {
        main.s3
            .delete_object()
            .bucket(b)
            .key(k)
            .send()
            .await
            .unwrap();
    }
    main.s3.delete_bucket().bucket(b).send().await.unwrap();
    assert!(!o.logs().contains("panicked"));
}

/// The first status line a server writes after the head of `req` (its body is never sent).
fn first_status_line(s3: &str, req: &raw::Req) -> String {
    use std::io::{Read, Write};
    let addr = s3.trim_start_matches("http://");
    let mut sock = std::net::TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let bytes = req.to_bytes();
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    sock.write_all(&bytes[..head_end]).unwrap();
    let mut buf = [0u8; 256];
    let n = sock.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

/// Issue 10: `Expect: 100-continue` is answered 100 only for a request that will be forwarded;
/// an anonymous PUT to a private bucket gets the backend's 403 before sending its body.
#[tokio::test(flavor = "multi_thread")]
async fn expect_continue_only_for_requests_that_go_through() {
    use raw::{Creds, Req};
    real::ceph_rgw();
    let o = Osprey::start(&ceph_rgw_kind_config(real::RGW_ENDPOINT));
    let api = Osis::new(o.osis());
    let tid = api.tenant("expect", "org-expect").await;
    let (_uid, ak, sk) = api.user(&tid, "org-expect", "expect-main").await;
    let s3 = client(&o.s3(), &ak, &sk);
    let b = "expect-private";
    s3.create_bucket().bucket(b).send().await.unwrap();
    let host = o.s3().trim_start_matches("http://").to_string();

    let anon = Req::new("PUT", &host, &format!("/{b}/k"))
        .set_header("content-length", "5")
        .header("expect", "100-continue");
    let line = first_status_line(&o.s3(), &anon);
    assert!(line.starts_with("HTTP/1.1 403"), "anonymous: {line}");
    // made public-read-write, the backend lets the same anonymous PUT go on: 100 from RGW
    s3.put_bucket_acl()
        .bucket(b)
        .acl(aws_sdk_s3::types::BucketCannedAcl::PublicReadWrite)
        .send()
        .await
        .unwrap();
    let line = first_status_line(&o.s3(), &anon);
    assert!(
        line.starts_with("HTTP/1.1 100"),
        "anonymous, public bucket: {line}"
    );

    let signed = Req::new("PUT", &host, &format!("/{b}/k"))
        .header("expect", "100-continue")
        .body("hello")
        .sign_std(&Creds::new(&ak, &sk), &[]);
    let line = first_status_line(&o.s3(), &signed);
    assert!(line.starts_with("HTTP/1.1 100"), "signed: {line}");
    // PutBucketPolicy / DeleteBucketPolicy answer 204: on a kept-alive connection the next
    // answer must follow it directly (a 204 once went out with `Transfer-Encoding: chunked` and
    // a stray last-chunk, which stalled the next request of s3-tests' boto3 for 60 s)
    let creds = Creds::new(&ak, &sk);
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"*"}},"Action":"s3:GetObject","Resource":"arn:aws:s3:::{b}/*"}}]}}"#
    );
    let mut conn = raw::Conn::connect(&host).unwrap();
    for _ in 0..2 {
        let put = Req::new("PUT", &host, &format!("/{b}"))
            .query("policy")
            .body(policy.as_bytes())
            .sign_std(&creds, &[]);
        let r = conn.send(&put).unwrap();
        assert_eq!(r.status, 204, "{}", r.text());
        assert!(r.header("transfer-encoding").is_none());
    }
    let head = Req::new("HEAD", &host, &format!("/{b}")).sign_std(&creds, &[]);
    let r = conn.send(&head).unwrap();
    assert_eq!(r.status, 200, "the answer after two 204s on one connection");

    // RGW's `GET /?usage`: the backend's own ListBuckets with the usage Summary, owner
    // translated to the canonical id
    let usage = Req::new("GET", &host, "/")
        .query("usage")
        .sign_std(&Creds::new(&ak, &sk), &[]);
    let r = raw::send(&host, &usage);
    let text = r.text();
    assert_eq!(r.status, 200, "{text}");
    assert!(text.contains("<Summary>") && text.contains(b), "{text}");
    assert!(!text.contains('$'), "RGW principal leaked: {text}");
    s3.delete_bucket().bucket(b).send().await.unwrap();
}

/// Issue 10, `namespace = "global"`: bucket names are unique across the tenants of global
/// tables; a user of another OSE org names a shared bucket plainly, is kept out by the backend
/// without a grant and let in with one (its own RGW identity signs).
#[tokio::test(flavor = "multi_thread")]
async fn global_namespace_shares_by_grant_and_keeps_apart_without() {
    real::ceph_rgw();
    let cfg = ceph_rgw_kind_config(real::RGW_ENDPOINT).replace(
        "[routing.tables.standard]\n",
        "[routing.tables.standard]\nnamespace = \"global\"\n",
    );
    assert!(cfg.contains("namespace = \"global\""));
    let o = Osprey::start(&cfg);
    let api = Osis::new(o.osis());
    let ta = api.tenant("glob-a", "org-glob-a").await;
    let tb = api.tenant("glob-b", "org-glob-b").await;
    let a = user(&o, &api, &ta, "org-glob-a", "glob-a").await;
    let b = user(&o, &api, &tb, "org-glob-b", "glob-b").await;
    let bucket = "glob-shared";
    assert_eq!(code(a.s3.create_bucket().bucket(bucket).send().await), "OK");
    assert_eq!(
        code(b.s3.create_bucket().bucket(bucket).send().await),
        "BucketAlreadyExists",
        "the name is taken across Osprey"
    );
    a.s3.put_object()
        .bucket(bucket)
        .key("private")
        .body(ByteStream::from_static(b"a only"))
        .send()
        .await
        .unwrap();
    let r = b.s3.get_object().bucket(bucket).key("private").send().await;
    assert_eq!(code(r), "AccessDenied", "kept apart without a grant");
    let r = b.s3.list_objects_v2().bucket(bucket).send().await;
    assert_eq!(code(r), "AccessDenied");
    a.s3.put_object()
        .bucket(bucket)
        .key("shared")
        .grant_read(format!("id={}", b.canonical))
        .body(ByteStream::from_static(b"for b"))
        .send()
        .await
        .unwrap();
    let got =
        b.s3.get_object()
            .bucket(bucket)
            .key("shared")
            .send()
            .await
            .unwrap();
    assert_eq!(
        &got.body.collect().await.unwrap().into_bytes()[..],
        b"for b"
    );
    let r = b.s3.get_object().bucket(bucket).key("private").send().await;
    assert_eq!(code(r), "AccessDenied", "the grant covers its object only");
    // B's own listing does not show A's bucket
    let names: Vec<String> =
        b.s3.list_buckets()
            .send()
            .await
            .unwrap()
            .buckets()
            .iter()
            .filter_map(|x| x.name().map(str::to_string))
            .collect();
    assert!(names.is_empty(), "{names:?}");
    for k in ["private", "shared"] {
        a.s3.delete_object()
            .bucket(bucket)
            .key(k)
            .send()
            .await
            .unwrap();
    }
    a.s3.delete_bucket().bucket(bucket).send().await.unwrap();
}
