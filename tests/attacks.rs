//! Issue 9: attacks that worked against a shared-namespace `s3` backend (Ceph RGW) and the
//! embedded `local` store, each reproduced with the hand-rolled requester (`tests/common/raw.rs`:
//! raw bytes on a TCP socket, a signer that signs exactly the headers named) against the real
//! binary. Every test asserts the answer expected once the hole is closed:
//!
//! | attack | expected |
//! |---|---|
//! | unsigned `x-amz-*` header (non-ASCII value smuggled past the verifier) | 403 `AccessDenied` |
//! | header value not valid UTF-8 | 400 `InvalidArgument` |
//! | body ≠ signed `x-amz-content-sha256` (also the empty-string hash) | 400 `XAmzContentSHA256Mismatch` |
//! | bucket not among the caller's | 404 `NoSuchBucket` (signed) / 403 `AccessDenied` (anonymous) |
//! | `.` / `..` key segments | 400 `InvalidArgument` |
//! | header section > `max_header_bytes` | 431, connection closed |
//! | header section not complete within `header_timeout_secs` | connection closed (a 408 allowed) |
//!
//! Each attack also checks the damage: nothing of the victim's is copied, nothing is stored.

mod common;
#[path = "common/raw.rs"]
mod raw;
mod real;

use std::time::{Duration, Instant};

use aws_sdk_s3::error::ProvideErrorMetadata;
use common::{Osis, Osprey, ADMIN_AK, ADMIN_SK, LOCAL_CONFIG};
use raw::{onboard, s3_addr, sdk_bucket, sdk_get, sdk_keys, sdk_put, Conn, Creds, Req, Resp};

const STD: &[&str] = &["host", "x-amz-content-sha256", "x-amz-date"];
const B_SECRET: &[u8] = b"tenant B's secret: never readable by A";

fn ceph_s3_config() -> String {
    real::ceph_rgw();
    LOCAL_CONFIG
        .replace(
            "[[backends]]\nname = \"local\"\nkind = \"local\"\n",
            "[[backends]]\nname = \"ceph\"\nkind = \"s3\"\nendpoint = \"http://127.0.0.1:7480\"\naccess_key = \"ADMINKEY\"\nsecret_key = \"ADMINSECRET\"\nregion = \"default\"\n",
        )
        .replace("backend = \"local\"", "backend = \"ceph\"")
}

/// Soft assertions: every mismatch of a test is collected and reported together at the end, so
/// one run shows everything that is still open.
#[derive(Default)]
struct Findings(std::cell::RefCell<Vec<String>>);

impl Findings {
    fn fail(&self, msg: String) {
        eprintln!("FINDING: {msg}");
        self.0.borrow_mut().push(msg);
    }

    /// `status` and `<Code>` as expected, with the whole answer in the message.
    fn expect(&self, r: &Resp, status: u16, code: &str, what: &str) {
        if !(r.status == status && r.code().as_deref() == Some(code)) {
            self.fail(format!(
                "{what}: want {status} {code}, got {}: {}",
                r.summary(),
                r.text()
            ));
        }
    }

    /// One of several (status, code) answers.
    fn expect_any(&self, r: &Resp, allowed: &[(u16, &str)], what: &str) {
        let code = r.code().unwrap_or_default();
        if !allowed.iter().any(|(s, c)| r.status == *s && code == *c) {
            self.fail(format!(
                "{what}: want one of {allowed:?}, got {}: {}",
                r.summary(),
                r.text()
            ));
        }
    }

    fn check(&self, ok: bool, msg: impl FnOnce() -> String) {
        if !ok {
            self.fail(msg());
        }
    }

    /// The object must not exist (GET answers NoSuchKey).
    async fn absent(&self, s3: &aws_sdk_s3::Client, bucket: &str, key: &str, what: &str) {
        match sdk_get(s3, bucket, key).await {
            Err(c) if c == "NoSuchKey" => {}
            Ok(got) => self.fail(format!(
                "{what}: {bucket}/{key} exists ({} bytes: {:?})",
                got.len(),
                String::from_utf8_lossy(&got)
            )),
            Err(c) => self.fail(format!("{what}: {bucket}/{key}: want NoSuchKey, got {c}")),
        }
    }

    #[track_caller]
    fn finish(self) {
        let all = self.0.into_inner();
        assert!(
            all.is_empty(),
            "{} finding(s):\n  {}",
            all.len(),
            all.join("\n  ")
        );
    }
}

async fn head_code(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> String {
    match s3.head_object().bucket(bucket).key(key).send().await {
        Ok(_) => "OK".into(),
        Err(e) => e.code().map(str::to_string).unwrap_or_else(|| {
            format!(
                "HTTP{}",
                e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0)
            )
        }),
    }
}

/// A with `a-bucket` (holding `own.txt`), B with `bsecret/secret.txt`.
struct Pair {
    addr: String,
    a: raw::Tenant,
    b: raw::Tenant,
    /// B's `bsecret` as the shared-namespace backend names it.
    b_backend: String,
}

async fn pair(o: &Osprey) -> Pair {
    let a = onboard(o, "attacker").await;
    let b = onboard(o, "victim").await;
    sdk_bucket(&a.s3, "a-bucket").await;
    sdk_put(&a.s3, "a-bucket", "own.txt", b"A's own object").await;
    sdk_bucket(&b.s3, "bsecret").await;
    sdk_put(&b.s3, "bsecret", "secret.txt", B_SECRET).await;
    let b_backend = osprey::backend::naming::backend_bucket_name(&b.tenant_id, "bsecret");
    Pair {
        addr: s3_addr(o),
        a,
        b,
        b_backend,
    }
}

/// Nothing of B's reached A: A's bucket holds only `own.txt` (plus `allowed`), no object there has
/// B's bytes, and B's object is intact.
async fn nothing_stolen(p: &Pair, f: &Findings) {
    let keys = sdk_keys(&p.a.s3, "a-bucket").await;
    for k in &keys {
        let got = sdk_get(&p.a.s3, "a-bucket", k).await.unwrap_or_default();
        f.check(got != B_SECRET, || {
            format!("B's secret was copied into A's a-bucket/{k}")
        });
        f.check(k == "own.txt", || {
            format!(
                "unexpected object {k} in A's bucket ({} bytes): {keys:?}",
                got.len()
            )
        });
    }
    f.check(
        sdk_get(&p.b.s3, "bsecret", "secret.txt").await.as_deref() == Ok(B_SECRET),
        || "B's secret.txt changed".into(),
    );
}

fn non_ascii_copy_source(bucket: &str) -> Vec<u8> {
    [
        format!("/{bucket}/secret.txt?x=").as_bytes(),
        b"\xc3\xa9".as_slice(),
    ]
    .concat()
}

fn upload_query(id: &str) -> String {
    format!(
        "partNumber=1&uploadId={}",
        osprey::s3::sigv4::uri_encode(id, true)
    )
}

// ---------------------------------------------------------------------------------------------
// attack 1: cross-tenant read through x-amz-copy-source

/// A's PUT signed over host;x-amz-content-sha256;x-amz-date only, plus an unsigned
/// `x-amz-copy-source: /<B's backend bucket>/secret.txt?x=é` (raw bytes C3 A9).
async fn attack1_unsigned_copy_source(o: &Osprey) {
    let f = Findings::default();
    let p = pair(o).await;
    let r = raw::send(
        &p.addr,
        &Req::new("PUT", &p.addr, "/a-bucket/stolen")
            .sign(&p.a.creds, STD, raw::EMPTY_SHA256)
            .header("x-amz-copy-source", non_ascii_copy_source(&p.b_backend)),
    );
    f.expect(
        &r,
        403,
        "AccessDenied",
        "unsigned non-ASCII x-amz-copy-source",
    );
    f.absent(&p.a.s3, "a-bucket", "stolen", "nothing of B's copied")
        .await;
    nothing_stolen(&p, &f).await;
    f.finish();
}

#[tokio::test(flavor = "multi_thread")]
async fn attack1_unsigned_copy_source_local() {
    attack1_unsigned_copy_source(&Osprey::start(LOCAL_CONFIG)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn attack1_unsigned_copy_source_ceph_s3() {
    attack1_unsigned_copy_source(&Osprey::start(&ceph_s3_config())).await;
}

/// (a) the same through UploadPartCopy into an upload A created.
async fn attack1a_upload_part_copy(o: &Osprey) {
    let f = Findings::default();
    let p = pair(o).await;
    let up =
        p.a.s3
            .create_multipart_upload()
            .bucket("a-bucket")
            .key("k")
            .send()
            .await
            .unwrap();
    let id = up.upload_id().unwrap().to_string();
    let r = raw::send(
        &p.addr,
        &Req::new("PUT", &p.addr, "/a-bucket/k")
            .query(&upload_query(&id))
            .sign(&p.a.creds, STD, raw::EMPTY_SHA256)
            .header("x-amz-copy-source", non_ascii_copy_source(&p.b_backend)),
    );
    f.expect(
        &r,
        403,
        "AccessDenied",
        "UploadPartCopy, unsigned non-ASCII x-amz-copy-source",
    );
    let parts =
        p.a.s3
            .list_parts()
            .bucket("a-bucket")
            .key("k")
            .upload_id(&id)
            .send()
            .await
            .unwrap();
    f.check(parts.parts().is_empty(), || {
        format!(
            "a part was copied from B into A's upload: {:?}",
            parts.parts()
        )
    });
    p.a.s3
        .abort_multipart_upload()
        .bucket("a-bucket")
        .key("k")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    nothing_stolen(&p, &f).await;
    f.finish();
}

#[tokio::test(flavor = "multi_thread")]
async fn attack1a_upload_part_copy_local() {
    attack1a_upload_part_copy(&Osprey::start(LOCAL_CONFIG)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn attack1a_upload_part_copy_ceph_s3() {
    attack1a_upload_part_copy(&Osprey::start(&ceph_s3_config())).await;
}

/// (b) a presigned PUT URL (only `host` signed) with the header added.
async fn attack1b_presigned(o: &Osprey) {
    let f = Findings::default();
    let p = pair(o).await;
    let r = raw::send(
        &p.addr,
        &Req::new("PUT", &p.addr, "/a-bucket/stolen-presigned")
            .presign(&p.a.creds, &["host"], 300)
            .header("x-amz-copy-source", non_ascii_copy_source(&p.b_backend)),
    );
    f.expect(
        &r,
        403,
        "AccessDenied",
        "presigned PUT + unsigned non-ASCII x-amz-copy-source",
    );
    f.absent(&p.a.s3, "a-bucket", "stolen-presigned", "nothing copied")
        .await;
    // the ASCII form (refused today already)
    let r = raw::send(
        &p.addr,
        &Req::new("PUT", &p.addr, "/a-bucket/stolen-presigned-ascii")
            .presign(&p.a.creds, &["host"], 300)
            .header("x-amz-copy-source", format!("/{}/secret.txt", p.b_backend)),
    );
    f.expect(
        &r,
        403,
        "AccessDenied",
        "presigned PUT + unsigned ASCII x-amz-copy-source",
    );
    f.absent(
        &p.a.s3,
        "a-bucket",
        "stolen-presigned-ascii",
        "nothing copied",
    )
    .await;
    nothing_stolen(&p, &f).await;
    f.finish();
}

#[tokio::test(flavor = "multi_thread")]
async fn attack1b_presigned_local() {
    attack1b_presigned(&Osprey::start(LOCAL_CONFIG)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn attack1b_presigned_ceph_s3() {
    attack1b_presigned(&Osprey::start(&ceph_s3_config())).await;
}

/// (c) a copy source that is not UTF-8, even signed: 400 InvalidArgument.
/// (d) signed copy sources naming B's bucket in every spelling: refused, nothing copied.
async fn attack1cd_signed_copy_sources(o: &Osprey) {
    let f = Findings::default();
    let p = pair(o).await;
    let with_cs = [
        "host",
        "x-amz-content-sha256",
        "x-amz-copy-source",
        "x-amz-date",
    ];
    let copy = |dest: &str, cs: &[u8]| {
        raw::send(
            &p.addr,
            &Req::new("PUT", &p.addr, &format!("/a-bucket/{dest}"))
                .header("x-amz-copy-source", cs)
                .sign(&p.a.creds, &with_cs, raw::EMPTY_SHA256),
        )
    };
    let refused: &[(u16, &str)] = &[(404, "NoSuchBucket"), (400, "InvalidArgument")];
    let pct_backend: String = p.b_backend.bytes().map(|b| format!("%{b:02X}")).collect();
    let bk = &p.b_backend;
    // (dest key, copy source, allowed answers)
    type Case<'a> = (&'a str, Vec<u8>, &'a [(u16, &'a str)]);
    let cases: Vec<Case> = vec![
        // (c)
        (
            "stolen-ff",
            [format!("/{bk}/secret.txt?x=").as_bytes(), b"\xff"].concat(),
            &[(400, "InvalidArgument")],
        ),
        (
            "stolen-ff-own",
            b"/a-bucket/own\xff.txt".to_vec(),
            &[(400, "InvalidArgument")],
        ),
        // (d)
        (
            "stolen-utf8",
            non_ascii_copy_source(bk),
            &[(404, "NoSuchBucket")],
        ),
        (
            "stolen-ascii",
            format!("/{bk}/secret.txt").into_bytes(),
            &[(404, "NoSuchBucket")],
        ),
        (
            "stolen-client",
            b"/bsecret/secret.txt".to_vec(),
            &[(404, "NoSuchBucket")],
        ),
        (
            "stolen-client-noslash",
            b"bsecret/secret.txt".to_vec(),
            &[(404, "NoSuchBucket")],
        ),
        (
            "stolen-pct-client",
            b"/%62secret/secret.txt".to_vec(),
            refused,
        ),
        (
            "stolen-pct-backend",
            format!("/{pct_backend}/secret.txt").into_bytes(),
            refused,
        ),
        (
            "stolen-dotdot",
            format!("/a-bucket/../{bk}/secret.txt").into_bytes(),
            refused,
        ),
        (
            "stolen-dotdot-noslash",
            format!("a-bucket/../{bk}/secret.txt").into_bytes(),
            refused,
        ),
        (
            "stolen-dotdot-pct",
            format!("/a-bucket/%2E%2E/{bk}/secret.txt").into_bytes(),
            refused,
        ),
        (
            "stolen-dotdot-pct-slash",
            format!("/a-bucket%2F..%2F{bk}%2Fsecret.txt").into_bytes(),
            refused,
        ),
        (
            "stolen-dotdot-deep",
            format!("/a-bucket/x/../../{bk}/secret.txt").into_bytes(),
            refused,
        ),
        (
            "stolen-dot",
            format!("/a-bucket/./../{bk}/secret.txt").into_bytes(),
            refused,
        ),
    ];
    for (dest, cs, want) in &cases {
        let r = copy(dest, cs);
        f.expect_any(
            &r,
            want,
            &format!("signed copy source {}", String::from_utf8_lossy(cs)),
        );
        f.check(!r.text().contains("tenant B's secret"), || {
            format!("{dest}: the answer carries B's secret: {}", r.text())
        });
        f.absent(&p.a.s3, "a-bucket", dest, "nothing copied").await;
    }
    nothing_stolen(&p, &f).await;
    f.finish();
}

#[tokio::test(flavor = "multi_thread")]
async fn attack1cd_signed_copy_sources_local() {
    attack1cd_signed_copy_sources(&Osprey::start(LOCAL_CONFIG)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn attack1cd_signed_copy_sources_ceph_s3() {
    attack1cd_signed_copy_sources(&Osprey::start(&ceph_s3_config())).await;
}

// ---------------------------------------------------------------------------------------------
// attack 2: unsigned non-ASCII x-amz-meta-* / x-amz-acl on a PUT

async fn attack2_unsigned_meta_and_acl(o: &Osprey) {
    let f = Findings::default();
    let p = pair(o).await;
    let body = b"object body".as_slice();
    // (key, header, value, presigned)
    let cases: Vec<(&str, &str, &[u8], bool)> = vec![
        ("meta-signed-req", "x-amz-meta-note", b"caf\xc3\xa9", false),
        ("acl-signed-req", "x-amz-acl", b"public-read\xc3\xa9", false),
        ("meta-presigned", "x-amz-meta-note", b"caf\xc3\xa9", true),
        ("acl-presigned", "x-amz-acl", b"public-read\xc3\xa9", true),
        // ASCII controls: refused today already
        ("meta-ascii", "x-amz-meta-note", b"cafe", false),
        ("acl-ascii-presigned", "x-amz-acl", b"public-read", true),
    ];
    for (key, name, value, presigned) in &cases {
        let req = Req::new("PUT", &p.addr, &format!("/a-bucket/{key}")).body(body);
        let req = if *presigned {
            req.presign(&p.a.creds, &["host"], 300)
        } else {
            req.sign_std(&p.a.creds, &[])
        };
        let r = raw::send(&p.addr, &req.header(name, value));
        let what = format!("{key}: unsigned {name}: {}", String::from_utf8_lossy(value));
        f.expect(&r, 403, "AccessDenied", &what);
        let head = head_code(&p.a.s3, "a-bucket", key).await;
        f.check(head == "NotFound", || {
            format!("{what}: object stored (HEAD {head})")
        });
    }
    nothing_stolen(&p, &f).await;
    f.finish();
}

#[tokio::test(flavor = "multi_thread")]
async fn attack2_unsigned_meta_and_acl_local() {
    attack2_unsigned_meta_and_acl(&Osprey::start(LOCAL_CONFIG)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn attack2_unsigned_meta_and_acl_ceph_s3() {
    attack2_unsigned_meta_and_acl(&Osprey::start(&ceph_s3_config())).await;
}

// ---------------------------------------------------------------------------------------------
// attack 3: a body under the empty-string hash

async fn attack3_body_under_empty_hash(o: &Osprey) {
    let f = Findings::default();
    let p = pair(o).await;
    let body = b"this body is not empty, whatever the header says";
    let with_len = [
        "content-length",
        "host",
        "x-amz-content-sha256",
        "x-amz-date",
    ];
    for (key, signed) in [("lying", STD), ("lying-len-signed", &with_len[..])] {
        let r = raw::send(
            &p.addr,
            &Req::new("PUT", &p.addr, &format!("/a-bucket/{key}"))
                .body(body)
                .sign(&p.a.creds, signed, raw::EMPTY_SHA256),
        );
        let what = format!("{key}: non-empty body under the empty hash");
        f.expect(&r, 400, "XAmzContentSHA256Mismatch", &what);
        let head = head_code(&p.a.s3, "a-bucket", key).await;
        f.check(head == "NotFound", || {
            format!("{what}: object stored (HEAD {head})")
        });
    }
    // an UploadPart too
    let up =
        p.a.s3
            .create_multipart_upload()
            .bucket("a-bucket")
            .key("lying-mp")
            .send()
            .await
            .unwrap();
    let id = up.upload_id().unwrap().to_string();
    let r = raw::send(
        &p.addr,
        &Req::new("PUT", &p.addr, "/a-bucket/lying-mp")
            .query(&upload_query(&id))
            .body(body)
            .sign(&p.a.creds, STD, raw::EMPTY_SHA256),
    );
    f.expect(
        &r,
        400,
        "XAmzContentSHA256Mismatch",
        "UploadPart under the empty hash",
    );
    let parts =
        p.a.s3
            .list_parts()
            .bucket("a-bucket")
            .key("lying-mp")
            .upload_id(&id)
            .send()
            .await
            .unwrap();
    f.check(parts.parts().is_empty(), || {
        format!(
            "UploadPart under the empty hash stored a part: {:?}",
            parts.parts()
        )
    });
    nothing_stolen(&p, &f).await;
    f.finish();
}

#[tokio::test(flavor = "multi_thread")]
async fn attack3_body_under_empty_hash_local() {
    attack3_body_under_empty_hash(&Osprey::start(LOCAL_CONFIG)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn attack3_body_under_empty_hash_ceph_s3() {
    attack3_body_under_empty_hash(&Osprey::start(&ceph_s3_config())).await;
}

// ---------------------------------------------------------------------------------------------
// attack 4: header flood, slowloris, idle keep-alive, connection cap (both listeners)

const HEADER_TIMEOUT: u64 = 2;
const IDLE_TIMEOUT: u64 = 3;
const MAX_HEADER: usize = 8192;
const MAX_CONNS: usize = 20;

/// S3 listener shards in the limits tests: more than the cores CI has, so the cap below is
/// checked across shards (issue 13: one connection-slot pool for all of them, not one each).
const S3_SHARDS: usize = 3;

fn limits_config(header_timeout: u64, idle: u64) -> String {
    LOCAL_CONFIG.replace(
        "[osis]",
        &format!(
            "s3_threads = {S3_SHARDS}\n[server.limits]\nmax_header_bytes = {MAX_HEADER}\nheader_timeout_secs = {header_timeout}\nidle_timeout_secs = {idle}\nbody_timeout_secs = 3\nmax_connections = {MAX_CONNS}\n[osis]"
        ),
    )
}

#[derive(Clone, Copy, Debug)]
enum Listener {
    S3,
    Osis,
}

fn addr_of(o: &Osprey, l: Listener) -> String {
    match l {
        Listener::S3 => raw::s3_addr(o),
        Listener::Osis => raw::osis_addr(o),
    }
}

/// A complete, harmless request for the listener (S3: anonymous ListBuckets, an empty list; OSIS: info).
fn probe(l: Listener, host: &str) -> Vec<u8> {
    let path = match l {
        Listener::S3 => "/",
        Listener::Osis => "/api/info",
    };
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes()
}

fn probe_answered(addr: &str, l: Listener) -> Result<Resp, String> {
    let mut c = Conn::connect(addr).map_err(|e| e.to_string())?;
    c.stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    c.write_raw(&probe(l, addr)).map_err(|e| e.to_string())?;
    c.read_response(false).map_err(|e| e.to_string())
}

fn header_flood(l: Listener) {
    let o = Osprey::start(&limits_config(HEADER_TIMEOUT, IDLE_TIMEOUT));
    let addr = addr_of(&o, l);
    let mut c = Conn::connect(&addr).unwrap();
    let mut req = probe(l, &addr);
    req.truncate(req.len() - 2); // drop the final CRLF
    for i in 0..40 {
        req.extend_from_slice(format!("X-Flood-{i}: {}\r\n", "a".repeat(400)).as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    assert!(req.len() > 2 * MAX_HEADER);
    let _ = c.write_raw(&req); // the server may close before reading it all
    let closed = c.wait_closed(Duration::from_secs(10));
    assert_eq!(
        closed.status(),
        Some(431),
        "{l:?}: header section of {} bytes > {MAX_HEADER}: {:?}",
        req.len(),
        String::from_utf8_lossy(&closed.received)
    );
    assert!(closed.closed, "{l:?}: connection closed after the 431");
    // the listener still serves
    assert!(probe_answered(&addr, l).is_ok());
}

#[test]
fn attack4_header_flood_431_s3() {
    header_flood(Listener::S3);
}

#[test]
fn attack4_header_flood_431_osis() {
    header_flood(Listener::Osis);
}

fn slowloris(l: Listener) {
    let o = Osprey::start(&limits_config(HEADER_TIMEOUT, IDLE_TIMEOUT));
    let addr = addr_of(&o, l);
    let started = Instant::now();
    let mut c = Conn::connect(&addr).unwrap();
    let first = match l {
        Listener::S3 => "GET / HTTP/1.1\r\n",
        Listener::Osis => "GET /api/info HTTP/1.1\r\n",
    };
    c.write_raw(format!("{first}Host: {addr}\r\n").as_bytes())
        .unwrap();
    let limit = Duration::from_secs(HEADER_TIMEOUT + 2);
    let mut closed = None;
    for i in 0..15 {
        let w = c.wait_closed(Duration::from_secs(1));
        if w.closed {
            closed = Some(w);
            break;
        }
        if c.write_raw(format!("X-Slow-{i}: a\r\n").as_bytes())
            .is_err()
        {
            closed = Some(raw::Closed {
                after: Duration::ZERO,
                closed: true,
                received: Vec::new(),
            });
            break;
        }
    }
    let took = started.elapsed();
    let closed = closed.unwrap_or_else(|| {
        panic!(
            "{l:?}: a connection trickling one header line per second is still open after {took:?}"
        )
    });
    assert!(
        took <= limit,
        "{l:?}: closed after {took:?}, want within header_timeout {HEADER_TIMEOUT} s + 2 s"
    );
    assert!(
        matches!(closed.status(), None | Some(408)),
        "{l:?}: only a 408 (or nothing) may be written: {:?}",
        String::from_utf8_lossy(&closed.received)
    );
}

#[test]
fn attack4_slowloris_closed_s3() {
    slowloris(Listener::S3);
}

#[test]
fn attack4_slowloris_closed_osis() {
    slowloris(Listener::Osis);
}

fn idle_keepalive(l: Listener) {
    let o = Osprey::start(&limits_config(HEADER_TIMEOUT, IDLE_TIMEOUT));
    let addr = addr_of(&o, l);
    let mut c = Conn::connect(&addr).unwrap();
    for round in 0..2 {
        c.write_raw(&probe(l, &addr)).unwrap();
        let r = c.read_response(false).unwrap();
        assert!(
            r.status == 200 || r.status == 403,
            "{l:?} round {round}: {}",
            r.summary()
        );
        assert_ne!(
            r.header("connection").as_deref(),
            Some("close"),
            "{l:?}: keep-alive expected"
        );
    }
    let w = c.wait_closed(Duration::from_secs(IDLE_TIMEOUT + 3));
    assert!(
        w.closed,
        "{l:?}: idle keep-alive connection still open {:?} after its last response (idle_timeout {IDLE_TIMEOUT} s)",
        w.after
    );
}

#[test]
fn attack4_idle_keepalive_closed_s3() {
    idle_keepalive(Listener::S3);
}

#[test]
fn attack4_idle_keepalive_closed_osis() {
    idle_keepalive(Listener::Osis);
}

/// Listening sockets in state LISTEN on `port` (IPv4), from /proc/net/tcp.
fn listening_sockets(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let local = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && f[1].ends_with(&local) && f[3] == "0A"
        })
        .count()
}

/// `server.s3_threads` shards (issue 13): one listening socket per shard, and every one of them
/// has an acceptor — the kernel spreads new connections over the sockets, so a socket nobody
/// accepts on would leave about one connection in four unanswered here.
#[test]
fn every_s3_shard_listens_and_answers() {
    let o = Osprey::start(&LOCAL_CONFIG.replace("[osis]", "s3_threads = 4\n[osis]"));
    // Osprey answers once its first shard listens; pingora starts each shard's listener on that
    // shard's own thread, so the others may bind a moment later (a client meanwhile reaches the
    // ones already bound: the kernel spreads connections only over bound sockets)
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut listening = listening_sockets(o.s3_port);
    while listening < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        listening = listening_sockets(o.s3_port);
    }
    assert_eq!(listening, 4, "one listening socket per shard");
    let addr = raw::s3_addr(&o);
    for i in 0..48 {
        let r = probe_answered(&addr, Listener::S3)
            .unwrap_or_else(|e| panic!("new connection {i} unanswered: {e}"));
        assert_eq!(r.status, 200, "connection {i}: {}", r.summary());
    }
}

fn connection_cap(l: Listener) {
    // long header/idle timeouts so the held connections stay open for the whole test
    let o = Osprey::start(&limits_config(30, 30));
    let addr = addr_of(&o, l);
    let mut held: Vec<Conn> = (0..MAX_CONNS)
        .map(|i| Conn::connect(&addr).unwrap_or_else(|e| panic!("connection {i}: {e}")))
        .collect();
    // one answered request on each (kept alive) proves the server accepted all of them before
    // the extra connection is made: on a loaded machine the accept order is otherwise a race
    for (i, c) in held.iter_mut().enumerate() {
        // `Osprey::start`'s readiness probes connect and drop at once; on a loaded machine the
        // server may not have seen such a probe's EOF yet and still count it, so a held
        // connection can be one too many and be closed unanswered. Such a connection is made
        // again (for up to 5 s): the server must then serve all MAX_CONNS at the same time.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let r = loop {
            let answer = c
                .write_raw(&probe(l, &addr))
                .map_err(|e| e.to_string())
                .and_then(|()| c.read_response(false).map_err(|e| e.to_string()));
            match answer {
                Ok(r) => break r,
                Err(e) if std::time::Instant::now() < deadline => {
                    eprintln!(
                        "{l:?}: held connection {i} closed unanswered ({e}); connecting again"
                    );
                    std::thread::sleep(Duration::from_millis(100));
                    *c = Conn::connect(&addr).unwrap_or_else(|e| panic!("connection {i}: {e}"));
                }
                Err(e) => panic!("held connection {i}: {e}"),
            }
        };
        assert!(
            r.status == 200 || r.status == 403,
            "held connection {i}: {}",
            r.summary()
        );
    }
    // number max_connections + 1: refused, closed, or at least not served
    let extra = match Conn::connect(&addr) {
        Err(_) => "connect refused".to_string(),
        Ok(mut c) => {
            c.stream
                .set_read_timeout(Some(Duration::from_secs(3)))
                .unwrap();
            match c.write_raw(&probe(l, &addr)) {
                Err(e) => format!("write failed: {e}"),
                Ok(()) => match c.read_response(false) {
                    Ok(r) if r.status == 503 => "503".to_string(),
                    Ok(r) => panic!(
                        "{l:?}: connection {} was served while {MAX_CONNS} are held open: {}",
                        MAX_CONNS + 1,
                        r.summary()
                    ),
                    Err(e) => format!("not served: {e}"),
                },
            }
        }
    };
    eprintln!("{l:?}: connection {}: {extra}", MAX_CONNS + 1);
    // the held ones are still open and usable
    let c0 = &mut held[0];
    c0.write_raw(&probe(l, &addr)).unwrap();
    let r = c0.read_response(false).unwrap();
    assert!(
        r.status == 200 || r.status == 403,
        "{l:?}: a held connection still works: {}",
        r.summary()
    );
    drop(held);
    // after they close, new connections work again
    let t = Instant::now();
    loop {
        match probe_answered(&addr, l) {
            Ok(r) if r.status == 200 || r.status == 403 => break,
            other => {
                assert!(
                    t.elapsed() < Duration::from_secs(10),
                    "{l:?}: new connections still refused 10 s after the others closed: {other:?}"
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

#[test]
fn attack4_connection_cap_s3() {
    connection_cap(Listener::S3);
}

#[test]
fn attack4_connection_cap_osis() {
    connection_cap(Listener::Osis);
}

// ---------------------------------------------------------------------------------------------
// attack 5: leaks of backend names, backend addresses and signatures

/// (a) The multipart flow (Create, UploadPart, ListParts, Complete), a NoSuchKey error and a
/// CopyObject through raw requests; returns every answer as the client saw it.
async fn multipart_answers(o: &Osprey, a: &raw::Tenant, bucket: &str) -> Vec<(String, Resp)> {
    let addr = s3_addr(o);
    let mut out = Vec::new();
    let r = raw::send(
        &addr,
        &Req::new("POST", &addr, &format!("/{bucket}/mp"))
            .query("uploads")
            .sign_std(&a.creds, &[]),
    );
    assert_eq!(r.status, 200, "CreateMultipartUpload: {}", r.text());
    let id = raw::xml_value(&r.text(), "UploadId").unwrap();
    let idq = osprey::s3::sigv4::uri_encode(&id, true);
    out.push(("CreateMultipartUpload".to_string(), r));
    let r = raw::send(
        &addr,
        &Req::new("PUT", &addr, &format!("/{bucket}/mp"))
            .query(&format!("partNumber=1&uploadId={idq}"))
            .body(b"the only part")
            .sign_std(&a.creds, &[]),
    );
    assert_eq!(r.status, 200, "UploadPart: {}", r.text());
    let etag = r.header("etag").unwrap_or_else(|| "\"x\"".into());
    out.push(("UploadPart".to_string(), r));
    let r = raw::send(
        &addr,
        &Req::new("GET", &addr, &format!("/{bucket}/mp"))
            .query(&format!("uploadId={idq}"))
            .sign_std(&a.creds, &[]),
    );
    out.push(("ListParts".to_string(), r));
    let xml = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part></CompleteMultipartUpload>"
    );
    let r = raw::send(
        &addr,
        &Req::new("POST", &addr, &format!("/{bucket}/mp"))
            .query(&format!("uploadId={idq}"))
            .body(xml.as_bytes())
            .sign_std(&a.creds, &[]),
    );
    assert_eq!(r.status, 200, "CompleteMultipartUpload: {}", r.text());
    eprintln!("CompleteMultipartUpload answer:\n{}", r.everything());
    out.push(("CompleteMultipartUpload".to_string(), r));
    let r = raw::send(
        &addr,
        &Req::new("GET", &addr, &format!("/{bucket}/missing")).sign_std(&a.creds, &[]),
    );
    out.push(("GET of a missing key".to_string(), r));
    let r = raw::send(
        &addr,
        &Req::new("PUT", &addr, &format!("/{bucket}/copy"))
            .header("x-amz-copy-source", format!("/{bucket}/mp"))
            .sign_std(&a.creds, &["x-amz-copy-source"]),
    );
    out.push(("CopyObject".to_string(), r));
    out
}

/// No answer names the backend bucket (`<tenant id>-<bucket>`) or the tenant id.
async fn attack5a_names_no_backend_bucket(o: &Osprey) {
    let f = Findings::default();
    let a = onboard(o, "leaky").await;
    sdk_bucket(&a.s3, "leak-bucket").await;
    let backend = osprey::backend::naming::backend_bucket_name(&a.tenant_id, "leak-bucket");
    for (what, r) in multipart_answers(o, &a, "leak-bucket").await {
        let all = r.everything();
        f.check(
            !all.contains(&a.tenant_id) && !all.contains(&backend),
            || format!("{what} names the backend bucket ({backend}):\n{all}"),
        );
    }
    assert_eq!(
        sdk_get(&a.s3, "leak-bucket", "mp").await.unwrap(),
        b"the only part"
    );
    f.finish();
}

#[tokio::test(flavor = "multi_thread")]
async fn attack5a_multipart_names_no_backend_bucket_ceph_s3() {
    attack5a_names_no_backend_bucket(&Osprey::start(&ceph_s3_config())).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn attack5a_multipart_names_no_backend_bucket_local() {
    attack5a_names_no_backend_bucket(&Osprey::start(LOCAL_CONFIG)).await;
}

/// (a, beyond the brief) nor the backend's endpoint: RGW's `<Location>` is
/// `http://127.0.0.1:7480/<bucket>/<key>` — the path is translated, the backend host is not.
#[tokio::test(flavor = "multi_thread")]
async fn attack5a_multipart_names_no_backend_endpoint_ceph_s3() {
    let o = Osprey::start(&ceph_s3_config());
    let f = Findings::default();
    let a = onboard(&o, "leaky").await;
    sdk_bucket(&a.s3, "leak-bucket").await;
    for (what, r) in multipart_answers(&o, &a, "leak-bucket").await {
        let all = r.everything();
        f.check(!all.contains("127.0.0.1:7480"), || {
            format!("{what} names the backend endpoint 127.0.0.1:7480:\n{all}")
        });
    }
    f.finish();
}

/// A fake S3 backend that names buckets in virtual-host form, as platforms with a configured DNS
/// name do: `Location: http://<bucket>.<host>/` on CreateBucket, `<Location>` in the
/// CompleteMultipartUpload XML and `<Resource>` in errors.
fn vhost_location_backend() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            std::thread::spawn(move || serve_vhost_location(c, port));
        }
    });
    port
}

fn serve_vhost_location(mut s: std::net::TcpStream, port: u16) {
    use std::io::{Read, Write};
    let mut buf = Vec::new();
    loop {
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut tmp = [0u8; 4096];
            match s.read(&mut tmp) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        buf.drain(..end);
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        while buf.len() < len {
            let mut tmp = [0u8; 4096];
            match s.read(&mut tmp) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        }
        buf.drain(..len);
        let mut parts = head.split(' ');
        let method = parts.next().unwrap_or("");
        let target = parts.next().unwrap_or("/");
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut segs = path.trim_start_matches('/').splitn(2, '/');
        let bucket = segs.next().unwrap_or("");
        let key = segs.next().unwrap_or("");
        let vhost = format!("http://{bucket}.127.0.0.1:{port}/{key}");
        let (status, body) = match method {
            "POST" if query.contains("uploads") => (
                "200 OK",
                format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><InitiateMultipartUploadResult><Bucket>{bucket}</Bucket><Key>{key}</Key><UploadId>fake-upload</UploadId></InitiateMultipartUploadResult>"),
            ),
            "POST" => (
                "200 OK",
                format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><CompleteMultipartUploadResult><Location>{vhost}</Location><Bucket>{bucket}</Bucket><Key>{key}</Key><ETag>\"e\"</ETag></CompleteMultipartUploadResult>"),
            ),
            "GET" if query.contains("uploadId") => (
                "200 OK",
                format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListPartsResult><Bucket>{bucket}</Bucket><Key>{key}</Key><UploadId>fake-upload</UploadId></ListPartsResult>"),
            ),
            "GET" => (
                "404 Not Found",
                format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchKey</Code><Resource>{vhost}</Resource><BucketName>{bucket}</BucketName></Error>"),
            ),
            "PUT" if !key.is_empty() && head.to_ascii_lowercase().contains("x-amz-copy-source") => (
                "200 OK",
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><CopyObjectResult><ETag>\"e\"</ETag></CopyObjectResult>".to_string(),
            ),
            _ => ("200 OK", String::new()),
        };
        let ctype = if body.is_empty() {
            ""
        } else {
            "Content-Type: application/xml\r\n"
        };
        // CreateBucket answers with the bucket's URL (AWS: `Location: http://bucket.host/`)
        let location = if method == "PUT" && key.is_empty() {
            format!("Location: {vhost}\r\n")
        } else {
            String::new()
        };
        let resp = format!(
            "HTTP/1.1 {status}\r\n{ctype}{location}ETag: \"e\"\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if s.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

/// (a) backend answers naming the bucket in virtual-host form (`http://<backend-bucket>.host/key`,
/// header and XML): nothing the client sees names the backend bucket.
#[tokio::test(flavor = "multi_thread")]
async fn attack5a_virtual_host_location_names_no_backend_bucket() {
    let port = vhost_location_backend();
    let cfg = LOCAL_CONFIG.replace(
        "[[backends]]\nname = \"local\"\nkind = \"local\"\n",
        &format!("[[backends]]\nname = \"vhost\"\nkind = \"s3\"\nendpoint = \"http://127.0.0.1:{port}\"\naccess_key = \"AK\"\nsecret_key = \"SECRET\"\ntimeout_ms = 2000\n"),
    )
    .replace("backend = \"local\"", "backend = \"vhost\"");
    let o = Osprey::start(&cfg);
    let f = Findings::default();
    let a = onboard(&o, "vhosted").await;
    let addr = s3_addr(&o);
    let r = raw::send(
        &addr,
        &Req::new("PUT", &addr, "/leak-bucket").sign_std(&a.creds, &[]),
    );
    assert_eq!(r.status, 200, "CreateBucket: {}", r.text());
    let backend = osprey::backend::naming::backend_bucket_name(&a.tenant_id, "leak-bucket");
    let mut answers = vec![("CreateBucket".to_string(), r)];
    answers.extend(multipart_answers(&o, &a, "leak-bucket").await);
    for (what, r) in answers {
        let all = r.everything();
        f.check(
            !all.contains(&a.tenant_id) && !all.contains(&backend),
            || format!("{what} names the backend bucket ({backend}):\n{all}"),
        );
    }
    f.finish();
}

/// A fake S3 backend: PUT/POST/DELETE → 200 empty; HEAD → 200 with length 100; GET → 200 with
/// `Content-Length: 100`, 10 bytes, then the connection is closed.
fn truncating_backend() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            std::thread::spawn(move || serve_truncating(c));
        }
    });
    port
}

fn serve_truncating(mut s: std::net::TcpStream) {
    use std::io::{Read, Write};
    let mut buf = Vec::new();
    loop {
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut tmp = [0u8; 4096];
            match s.read(&mut tmp) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        buf.drain(..end);
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        while buf.len() < len {
            let mut tmp = [0u8; 4096];
            match s.read(&mut tmp) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        }
        buf.drain(..len);
        let method = head.split(' ').next().unwrap_or("");
        match method {
            "GET" => {
                // `.../big`: announces 100 000 bytes, so anything appended after the 10 real ones
                // is not hidden by the announced length
                let path = head.split(' ').nth(1).unwrap_or("");
                let len = if path.ends_with("/big") { 100_000 } else { 100 };
                let _ = s.write_all(
                    format!("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {len}\r\nx-amz-request-id: fake-1\r\n\r\n0123456789").as_bytes(),
                );
                let _ = s.flush();
                return; // closes mid-body
            }
            "HEAD" => {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
            }
            _ => {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            }
        }
    }
}

/// Osprey on the truncating fake backend, with a tenant and its bucket `cut-bucket` there.
async fn on_truncating_backend() -> (Osprey, raw::Tenant, u16) {
    let port = truncating_backend();
    let cfg = LOCAL_CONFIG.replace(
        "[[backends]]\nname = \"local\"\nkind = \"local\"\n",
        &format!("[[backends]]\nname = \"trunc\"\nkind = \"s3\"\nendpoint = \"http://127.0.0.1:{port}\"\naccess_key = \"AK\"\nsecret_key = \"SECRET\"\ntimeout_ms = 2000\n"),
    )
    .replace("backend = \"local\"", "backend = \"trunc\"");
    let o = Osprey::start(&cfg);
    let a = onboard(&o, "cut").await;
    let addr = s3_addr(&o);
    let r = raw::send(
        &addr,
        &Req::new("PUT", &addr, "/cut-bucket").sign_std(&a.creds, &[]),
    );
    assert_eq!(
        r.status,
        200,
        "CreateBucket on the fake backend: {}",
        r.text()
    );
    (o, a, port)
}

/// GET on a fresh connection, everything the client receives until the connection ends.
fn get_until_closed(addr: &str, creds: &Creds, path: &str) -> Vec<u8> {
    let mut c = Conn::connect(addr).unwrap();
    c.write_raw(&Req::new("GET", addr, path).sign_std(creds, &[]).to_bytes())
        .unwrap();
    c.wait_closed(Duration::from_secs(15)).received
}

/// (b) an upstream body that ends early: the client never sees the backend's address.
#[tokio::test(flavor = "multi_thread")]
async fn attack5b_truncated_upstream_body_names_no_backend_address() {
    let f = Findings::default();
    let (o, a, port) = on_truncating_backend().await;
    let addr = s3_addr(&o);
    let needle = format!("127.0.0.1:{port}");
    for path in ["/cut-bucket/obj", "/cut-bucket/big", "/cut-bucket/obj"] {
        let seen = String::from_utf8_lossy(&get_until_closed(&addr, &a.creds, path)).to_string();
        eprintln!("GET {path} over a truncated upstream body: {seen:?}");
        f.check(!seen.contains(&needle), || {
            format!("GET {path}: the client sees the backend address {needle}: {seen}")
        });
    }
    let r = raw::send(
        &addr,
        &Req::new("HEAD", &addr, "/cut-bucket/obj").sign_std(&a.creds, &[]),
    );
    f.check(!r.everything().contains(&needle), || r.everything());
    f.finish();
}

/// (b, beyond the brief) after the response head went out, a broken upstream body must end the
/// client's body too — not be continued with an S3 error document, which a client would read as
/// object data.
#[tokio::test(flavor = "multi_thread")]
async fn attack5b_truncated_upstream_body_is_not_continued_with_an_error_document() {
    let (o, a, _port) = on_truncating_backend().await;
    let addr = s3_addr(&o);
    for path in ["/cut-bucket/obj", "/cut-bucket/big"] {
        let seen = get_until_closed(&addr, &a.creds, path);
        let text = String::from_utf8_lossy(&seen).to_string();
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        assert!(
            "0123456789".starts_with(body),
            "GET {path}: the body is the backend's bytes and nothing else, got {body:?}"
        );
    }
}

/// (b, beyond the brief) a refused backend: the 503 names the backend, not its address.
#[tokio::test(flavor = "multi_thread")]
async fn attack5b_refused_backend_error_names_no_backend_address() {
    let port = common::free_port();
    let cfg = LOCAL_CONFIG.replace(
        "[[backends]]\nname = \"local\"\nkind = \"local\"\n",
        &format!("[[backends]]\nname = \"gone\"\nkind = \"s3\"\nendpoint = \"http://127.0.0.1:{port}\"\naccess_key = \"AK\"\nsecret_key = \"SECRET\"\ntimeout_ms = 2000\n"),
    )
    .replace("backend = \"local\"", "backend = \"gone\"");
    let o = Osprey::start(&cfg);
    let a = onboard(&o, "gone").await;
    let addr = s3_addr(&o);
    let r = raw::send(
        &addr,
        &Req::new("PUT", &addr, "/gone-bucket").sign_std(&a.creds, &[]),
    );
    assert_eq!(r.status, 503, "refused backend: {}", r.everything());
    let needle = format!("127.0.0.1:{port}");
    assert!(
        !r.everything().contains(&needle),
        "the 503 names the backend address: {}",
        r.everything()
    );
}

/// (c) no signature or credential from a presigned URL or an Authorization header in the log.
#[tokio::test(flavor = "multi_thread")]
async fn attack5c_log_has_no_signatures_or_credentials() {
    // the embedded store, plus the truncating fake backend for `cut-*` (upstream failures are
    // where proxies log request summaries)
    let port = truncating_backend();
    let cfg = LOCAL_CONFIG
        .replace(
            "[[backends]]\nname = \"local\"\nkind = \"local\"\n",
            &format!("[[backends]]\nname = \"local\"\nkind = \"local\"\n[[backends]]\nname = \"trunc\"\nkind = \"s3\"\nendpoint = \"http://127.0.0.1:{port}\"\naccess_key = \"AK\"\nsecret_key = \"SECRET\"\ntimeout_ms = 2000\n"),
        )
        .replace(
            "rules = [ { buckets = \"*\", backend = \"local\" } ]",
            "rules = [ { buckets = \"cut-*\", backend = \"trunc\" }, { buckets = \"*\", backend = \"local\" } ]",
        );
    let o = Osprey::start(&cfg);
    let a = onboard(&o, "logged").await;
    let addr = s3_addr(&o);
    sdk_bucket(&a.s3, "logged").await;
    sdk_put(&a.s3, "logged", "obj", b"logged object").await;
    sdk_bucket(&a.s3, "cut-logged").await;
    let mut signatures = Vec::new();
    let mut sig_of = |r: &Req| {
        let from_query = r
            .query
            .split('&')
            .find_map(|p| p.strip_prefix("X-Amz-Signature="))
            .map(str::to_string);
        let from_header = r.header_values("authorization").first().and_then(|v| {
            String::from_utf8_lossy(v)
                .split("Signature=")
                .nth(1)
                .map(str::to_string)
        });
        if let Some(s) = from_query.or(from_header) {
            signatures.push(s);
        }
    };
    let bad_key = Creds::new("AKIANOSUCHKEY0000000", &a.creds.sk);
    let wrong_secret = Creds::new(&a.creds.ak, "0000000000000000000000000000000000000000");
    let mut cases: Vec<(Req, u16)> = vec![
        // valid presigned GET
        (
            Req::new("GET", &addr, "/logged/obj").presign(&a.creds, &["host"], 300),
            200,
        ),
        // presigned, signature tampered
        (
            {
                let mut r = Req::new("GET", &addr, "/logged/obj").presign(&a.creds, &["host"], 300);
                let last = r.query.pop().unwrap();
                r.query.push(if last == '0' { '1' } else { '0' });
                r
            },
            403,
        ),
        // presigned, expired
        (
            Req::new("GET", &addr, "/logged/obj").presign_at(
                &a.creds,
                &["host"],
                60,
                chrono::Utc::now() - chrono::Duration::hours(2),
            ),
            403,
        ),
        // presigned, unknown key
        (
            Req::new("GET", &addr, "/logged/obj").presign(&bad_key, &["host"], 300),
            403,
        ),
        // presigned with an unsigned x-amz header added
        (
            Req::new("GET", &addr, "/logged/obj")
                .presign(&a.creds, &["host"], 300)
                .header("x-amz-meta-x", "y"),
            403,
        ),
        // header auth: valid, wrong secret, unknown key, skewed
        (
            Req::new("GET", &addr, "/logged/obj").sign_std(&a.creds, &[]),
            200,
        ),
        (
            Req::new("GET", &addr, "/logged/obj").sign_std(&wrong_secret, &[]),
            403,
        ),
        (
            Req::new("GET", &addr, "/logged/obj").sign_std(&bad_key, &[]),
            403,
        ),
        (
            Req::new("GET", &addr, "/logged/obj").sign_at(
                &a.creds,
                STD,
                raw::EMPTY_SHA256,
                chrono::Utc::now() - chrono::Duration::hours(3),
            ),
            403,
        ),
    ];
    // upstream failures (body cut short), a bucket nobody has
    cases.push((
        Req::new("GET", &addr, "/cut-logged/obj").presign(&a.creds, &["host"], 300),
        200,
    ));
    cases.push((
        Req::new("GET", &addr, "/cut-logged/big").presign(&a.creds, &["host"], 300),
        200,
    ));
    cases.push((
        Req::new("GET", &addr, "/cut-logged/obj").sign_std(&a.creds, &[]),
        200,
    ));
    cases.push((
        Req::new("GET", &addr, "/no-such-bucket-here/obj").presign(&a.creds, &["host"], 300),
        404,
    ));
    // header auth and a presign parameter at once
    let both = Req::new("GET", &addr, "/logged/obj")
        .presign(&a.creds, &["host"], 300)
        .sign_std(&a.creds, &[]);
    cases.push((both, 400));
    for (req, want) in &cases {
        sig_of(req);
        let r = raw::send(&addr, req);
        assert_eq!(
            r.status,
            *want,
            "{} {}: {}",
            req.method,
            req.target(),
            r.text()
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    let logs = o.logs();
    assert!(logs.contains("s3 request"), "request lines are logged");
    for needle in ["X-Amz-Signature=", "Signature=", "X-Amz-Credential="] {
        let line = logs.lines().find(|l| l.contains(needle));
        assert!(line.is_none(), "log contains {needle}: {line:?}");
    }
    for ak in [&a.creds.ak, &bad_key.ak] {
        let needle = format!("Credential={ak}");
        let line = logs.lines().find(|l| l.contains(&needle));
        assert!(line.is_none(), "log contains {needle}: {line:?}");
    }
    for s in &signatures {
        let line = logs.lines().find(|l| l.contains(s.as_str()));
        assert!(line.is_none(), "log contains a signature {s}: {line:?}");
    }
    assert!(!logs.contains(&a.creds.sk), "log contains the secret key");
}

// ---------------------------------------------------------------------------------------------
// attack 6

/// (a) anonymous squatting: B creating `photos` too must not make A's public object unreachable
/// by its tenant-qualified name, and the unqualified name answers like a name nobody has.
async fn attack6a_anonymous_squatting(o: &Osprey) {
    let f = Findings::default();
    let addr = s3_addr(o);
    let a = onboard(o, "owner").await;
    let b = onboard(o, "squatter").await;
    sdk_bucket(&a.s3, "photos").await;
    sdk_put(&a.s3, "photos", "obj", b"A's public photo").await;
    let acl =
        a.s3.put_object_acl()
            .bucket("photos")
            .key("obj")
            .acl(aws_sdk_s3::types::ObjectCannedAcl::PublicRead)
            .send()
            .await;
    // the embedded store has no ACLs (NotImplemented): there every anonymous read is 403
    let public = acl.is_ok();
    if let Err(e) = &acl {
        eprintln!(
            "put_object_acl not supported here ({:?}): anonymous reads are 403 whatever the name",
            e.code()
        );
    }
    let anon = |path: &str| raw::send(&addr, &Req::new("GET", &addr, path));
    if public {
        let r = anon("/photos/obj");
        f.check(r.status == 200, || {
            format!("before B squats, /photos/obj: {}", r.summary())
        });
    }
    sdk_bucket(&b.s3, "photos").await;
    sdk_put(&b.s3, "photos", "obj", b"B's photo").await;
    for path in [
        format!("/{}:photos/obj", a.tenant_id),
        format!("/{}%3Aphotos/obj", a.tenant_id),
        format!("/{}%3aphotos/obj", a.tenant_id),
    ] {
        let r = anon(&path);
        if public {
            f.check(r.status == 200 && r.body == b"A's public photo", || {
                format!(
                    "anonymous {path}: want 200 with A's object, got {}: {}",
                    r.summary(),
                    r.text()
                )
            });
        } else {
            f.expect(&r, 403, "AccessDenied", &format!("anonymous {path}"));
        }
    }
    // B's is private: its qualified name does not give it away
    let r = anon(&format!("/{}:photos/obj", b.tenant_id));
    f.expect(&r, 403, "AccessDenied", "B's private object, qualified");
    // the ambiguous name and a name nobody has answer alike: no existence oracle
    let amb = anon("/photos/obj");
    f.expect(
        &amb,
        403,
        "AccessDenied",
        "ambiguous unqualified /photos/obj",
    );
    let none = anon("/nobody-has-this/obj");
    f.expect(
        &none,
        403,
        "AccessDenied",
        "/nobody-has-this/obj (no tenant has it)",
    );
    let none_q = anon("/t0000000000000000:nobody-has-this/obj");
    f.expect(
        &none_q,
        403,
        "AccessDenied",
        "a qualified name no tenant has",
    );
    f.check(
        amb.body != b"A's public photo" && amb.body != b"B's photo",
        || "the ambiguous name served an object".into(),
    );
    f.finish();
}

#[tokio::test(flavor = "multi_thread")]
async fn attack6a_anonymous_squatting_local() {
    attack6a_anonymous_squatting(&Osprey::start(LOCAL_CONFIG)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn attack6a_anonymous_squatting_ceph_s3() {
    attack6a_anonymous_squatting(&Osprey::start(&ceph_s3_config())).await;
}

/// (b) `.` and `..` key segments are refused, never forwarded (a backend that normalises the path
/// would otherwise leave the caller's bucket).
async fn attack6b_dot_segments(o: &Osprey) {
    let f = Findings::default();
    let p = pair(o).await;
    sdk_bucket(&p.a.s3, "dots").await;
    sdk_put(&p.a.s3, "dots", "b", b"plain b").await;
    sdk_put(&p.a.s3, "dots", "x", b"plain x").await;
    let addr = &p.addr;
    let paths: Vec<String> = vec![
        "/dots/a/../b".into(),
        "/dots/..%2Fb".into(),
        "/dots/./x".into(),
        "/dots/a/%2E%2E/b".into(),
        "/dots/a/%2e/x".into(),
        "/dots/..".into(),
        "/dots/.".into(),
        "/dots/a/..".into(),
        format!("/a-bucket/../{}/secret.txt", p.b_backend),
        format!("/a-bucket/..%2F{}%2Fsecret.txt", p.b_backend),
    ];
    for path in &paths {
        for method in ["GET", "HEAD", "DELETE"] {
            let r = raw::send(
                addr,
                &Req::new(method, addr, path).sign_std(&p.a.creds, &[]),
            );
            if method == "HEAD" {
                f.check(r.status == 400, || {
                    format!("HEAD {path}: want 400, got {}", r.status)
                });
            } else {
                f.expect(&r, 400, "InvalidArgument", &format!("{method} {path}"));
            }
            f.check(!r.text().contains("tenant B's secret"), || {
                format!("{method} {path} returned B's secret")
            });
        }
        let r = raw::send(
            addr,
            &Req::new("PUT", addr, path)
                .body(b"overwritten")
                .sign_std(&p.a.creds, &[]),
        );
        f.expect(&r, 400, "InvalidArgument", &format!("PUT {path}"));
        let r = raw::send(addr, &Req::new("GET", addr, path));
        f.expect(&r, 400, "InvalidArgument", &format!("anonymous GET {path}"));
    }
    for (k, want) in [("b", b"plain b"), ("x", b"plain x")] {
        let got = sdk_get(&p.a.s3, "dots", k).await;
        f.check(got.as_deref() == Ok(want.as_slice()), || {
            format!("dots/{k} changed: {got:?}")
        });
    }
    let keys = sdk_keys(&p.a.s3, "dots").await;
    f.check(keys == vec!["b", "x"], || format!("dots holds {keys:?}"));
    let bk = sdk_keys(&p.b.s3, "bsecret").await;
    f.check(bk == vec!["secret.txt"], || {
        format!("B's bsecret holds {bk:?}")
    });
    nothing_stolen(&p, &f).await;
    f.finish();
}

#[tokio::test(flavor = "multi_thread")]
async fn attack6b_dot_segments_local() {
    attack6b_dot_segments(&Osprey::start(LOCAL_CONFIG)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn attack6b_dot_segments_ceph_s3() {
    attack6b_dot_segments(&Osprey::start(&ceph_s3_config())).await;
}

/// (c) with `[s3] regions`, a request signed for another region is malformed.
#[tokio::test(flavor = "multi_thread")]
async fn attack6c_region_allow_list() {
    let o = Osprey::start(&LOCAL_CONFIG.replace("[log]", "[s3]\nregions = [\"us-east-1\"]\n[log]"));
    let f = Findings::default();
    let a = onboard(&o, "regional").await;
    let addr = s3_addr(&o);
    let other = a.creds.clone().region("eu-west-9");
    let r = raw::send(&addr, &Req::new("GET", &addr, "/").sign_std(&other, &[]));
    f.expect(
        &r,
        400,
        "AuthorizationHeaderMalformed",
        "header auth for eu-west-9",
    );
    let r = raw::send(
        &addr,
        &Req::new("GET", &addr, "/").presign(&other, &["host"], 300),
    );
    f.expect(
        &r,
        400,
        "AuthorizationHeaderMalformed",
        "presigned for eu-west-9",
    );
    let r = raw::send(&addr, &Req::new("GET", &addr, "/").sign_std(&a.creds, &[]));
    f.check(r.status == 200, || format!("us-east-1: {}", r.summary()));
    f.finish();
}

/// (c) without `[s3] regions` any region is accepted, as before.
#[tokio::test(flavor = "multi_thread")]
async fn attack6c_any_region_without_allow_list() {
    let o = Osprey::start(LOCAL_CONFIG);
    let a = onboard(&o, "anywhere").await;
    let addr = s3_addr(&o);
    for region in ["eu-west-9", "us", "us-east-1"] {
        let c = a.creds.clone().region(region);
        let r = raw::send(&addr, &Req::new("GET", &addr, "/").sign_std(&c, &[]));
        assert_eq!(r.status, 200, "{region}: {}", r.text());
    }
}

async fn login(api: &Osis, password: &str) -> common::Resp {
    api.call(
        "POST",
        "/api/v1/auth/login",
        Some(serde_json::json!({"username": ADMIN_AK, "password": password})),
        None,
    )
    .await
}

async fn bearer(api: &Osis, token: &str) -> u16 {
    api.http
        .get(format!("{}/api/v1/tenants", api.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn refresh(api: &Osis, token: &str) -> common::Resp {
    api.call(
        "POST",
        "/api/v1/auth/token",
        Some(serde_json::json!({"refresh_token": token})),
        None,
    )
    .await
}

/// (d) `POST /api/v1/auth/revoke` ends every earlier access and refresh token; new logins work.
#[tokio::test(flavor = "multi_thread")]
async fn attack6d_osis_tokens_revocable() {
    let o = Osprey::start(LOCAL_CONFIG);
    let api = Osis::new(o.osis());
    let r = login(&api, ADMIN_SK).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let j = r.json();
    let access = j["access_token"].as_str().unwrap().to_string();
    let refresh_token = j["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(bearer(&api, &access).await, 200);
    let r = refresh(&api, &refresh_token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let refreshed = r.json()["access_token"].as_str().unwrap().to_string();
    assert_eq!(bearer(&api, &refreshed).await, 200);
    // tokens carry whole-second times: keep revocation and issuance in different seconds
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = api.admin("POST", "/api/v1/auth/revoke", None).await;
    assert!(
        r.status == 200 || r.status == 204,
        "revoke: {} {}",
        r.status,
        r.text
    );
    assert_eq!(bearer(&api, &access).await, 401, "old access token");
    assert_eq!(
        bearer(&api, &refreshed).await,
        401,
        "refreshed access token"
    );
    let r = refresh(&api, &refresh_token).await;
    assert_eq!(r.status, 401, "old refresh token: {}", r.text);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = login(&api, ADMIN_SK).await;
    assert_eq!(r.status, 200, "a new login after revocation: {}", r.text);
    let j = r.json();
    let access = j["access_token"].as_str().unwrap().to_string();
    assert_eq!(bearer(&api, &access).await, 200, "new access token");
    let r = refresh(&api, j["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status, 200, "new refresh token: {}", r.text);
    // Basic is unaffected
    assert_eq!(api.admin("GET", "/api/v1/tenants", None).await.status, 200);
}

/// Waits out a 429 by its `Retry-After` until `attempt` succeeds (at most `limit`).
async fn recovers<F, Fut>(limit: Duration, mut attempt: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (u16, Option<String>)>,
{
    let t = Instant::now();
    loop {
        let (status, retry_after) = attempt().await;
        if status == 200 {
            return;
        }
        assert_eq!(status, 429, "while backing off");
        assert!(
            t.elapsed() < limit,
            "still refused after {:?} (Retry-After {retry_after:?})",
            t.elapsed()
        );
        let secs: f64 = retry_after
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(1.0);
        tokio::time::sleep(Duration::from_secs_f64(secs) + Duration::from_millis(200)).await;
    }
}

/// (e) five failed Basic attempts within a minute: the sixth gets 429 + Retry-After even with the
/// right password, until the back-off elapses.
#[tokio::test(flavor = "multi_thread")]
async fn attack6e_basic_auth_backoff() {
    let o = Osprey::start(LOCAL_CONFIG);
    let api = Osis::new(o.osis());
    assert_eq!(api.admin("GET", "/api/v1/tenants", None).await.status, 200);
    for i in 0..5 {
        let r = api
            .call(
                "GET",
                "/api/v1/tenants",
                None,
                Some((ADMIN_AK, "wrong-password")),
            )
            .await;
        assert_eq!(r.status, 401, "failure {i}: {}", r.text);
    }
    let r = api.admin("GET", "/api/v1/tenants", None).await;
    assert_eq!(r.status, 429, "sixth attempt, right password: {}", r.text);
    assert!(r.headers.contains_key("retry-after"), "{:?}", r.headers);
    recovers(Duration::from_secs(15), || async {
        let r = api.admin("GET", "/api/v1/tenants", None).await;
        (
            r.status,
            r.headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        )
    })
    .await;
}

/// (e) the same through `POST /api/v1/auth/login` with a wrong password.
#[tokio::test(flavor = "multi_thread")]
async fn attack6e_login_backoff() {
    let o = Osprey::start(LOCAL_CONFIG);
    let api = Osis::new(o.osis());
    for i in 0..5 {
        let r = login(&api, "wrong-password").await;
        assert_eq!(r.status, 401, "failure {i}: {}", r.text);
    }
    let r = login(&api, ADMIN_SK).await;
    assert_eq!(r.status, 429, "sixth attempt, right password: {}", r.text);
    assert!(r.headers.contains_key("retry-after"), "{:?}", r.headers);
    recovers(Duration::from_secs(15), || async {
        let r = login(&api, ADMIN_SK).await;
        (
            r.status,
            r.headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        )
    })
    .await;
}
