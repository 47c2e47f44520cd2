//! Tenant isolation, table-driven: for every S3 operation Osprey routes (`OpKind`, src/s3/op.rs)
//! tenant B tries tenant A's bucket by every name and in every request style, on every backend
//! kind — the embedded `local` store, the shared-namespace `s3` kind on Ceph RGW, the `ceph-rgw`
//! kind (per-tenant RGW namespaces) and the `iam` kind (moto). Everything must be denied; afterwards
//! A's objects and upload are byte-identical and complete, and nothing of B's holds A's data.
//!
//! A new operation is one line in [`ops`]; a new way of naming a bucket one entry in [`Name`]; a new
//! request style one entry in [`Style`]. Malformed requests go through the hand-rolled requester
//! (`tests/common/raw.rs`), the normal set-up and the checks through aws-sdk-s3.
//!
//! Expected answers: signed requests for a bucket that is not the caller's → 404 `NoSuchBucket`;
//! anonymous ones → 403 `AccessDenied`; an unsigned `x-amz-*` header → 403 `AccessDenied`; a header
//! value that is not UTF-8 → 400 `InvalidArgument`; another tenant's upload id → `NoSuchUpload`.

mod common;
#[path = "common/raw.rs"]
mod raw;
mod real;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use common::{Osprey, LOCAL_CONFIG};
use raw::{onboard, s3_addr, sdk_bucket, sdk_get, sdk_keys, sdk_put, Req, Resp, Tenant};

const DOMAIN: &str = "s3.test";
const A_ONLY: &str = "iso-a-only";
const SAME: &str = "same";
const K1: &[u8] = b"A's object k1 -- must stay A's";
const K2: &[u8] = b"A's object k2 -- must stay A's";
const S1: &[u8] = b"A's object s1 in A's `same`";
const PART: &[u8] = b"A's first part";
const B1: &[u8] = b"B's own object";

// ---------------------------------------------------------------------------------------------
// the table

#[derive(Clone, Copy, Debug)]
enum Body {
    Empty,
    Bytes(&'static [u8]),
    /// DeleteObjects naming k1, k2, s1.
    DeleteXml,
    /// CompleteMultipartUpload naming part 1.
    CompleteXml,
    /// A multipart/form-data POST upload.
    Form,
    Policy,
    Versioning,
    Tagging,
}

/// One S3 operation as B would send it against a bucket (`{upload}` in the query is A's upload id,
/// `{copy}` in a header value is a copy source naming A's object by the probe's bucket name).
#[derive(Clone, Debug)]
struct Op {
    name: &'static str,
    method: &'static str,
    key: Option<&'static str>,
    query: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    body: Body,
}

fn op(
    name: &'static str,
    method: &'static str,
    key: Option<&'static str>,
    query: &'static str,
) -> Op {
    Op {
        name,
        method,
        key,
        query,
        headers: Vec::new(),
        body: Body::Empty,
    }
}

impl Op {
    fn h(mut self, n: &'static str, v: &'static str) -> Op {
        self.headers.push((n, v));
        self
    }
    fn body(mut self, b: Body) -> Op {
        self.body = b;
        self
    }
}

/// Every operation Osprey routes (OpKind), one line each. CreateBucket and ListBuckets are
/// checked separately (B may create its own bucket of any name; listings are per tenant).
#[rustfmt::skip]
fn ops() -> Vec<Op> {
    vec![
        op("DeleteBucket", "DELETE", None, ""),
        op("HeadBucket", "HEAD", None, ""),
        op("GetBucketLocation", "GET", None, "location"),
        op("ListObjects", "GET", None, ""),
        op("ListObjectsV2", "GET", None, "list-type=2"),
        op("ListObjectVersions", "GET", None, "versions"),
        op("ListMultipartUploads", "GET", None, "uploads"),
        op("DeleteObjects", "POST", None, "delete").body(Body::DeleteXml),
        op("PostObject", "POST", None, "").body(Body::Form).h("content-type", "multipart/form-data; boundary=osprey0boundary"),
        op("Bucket:acl GET", "GET", None, "acl"),
        op("Bucket:acl PUT", "PUT", None, "acl").h("x-amz-acl", "public-read-write"),
        op("Bucket:policy GET", "GET", None, "policy"),
        op("Bucket:policy PUT", "PUT", None, "policy").body(Body::Policy),
        op("Bucket:policy DELETE", "DELETE", None, "policy"),
        op("Bucket:versioning GET", "GET", None, "versioning"),
        op("Bucket:versioning PUT", "PUT", None, "versioning").body(Body::Versioning),
        op("Bucket:tagging PUT", "PUT", None, "tagging").body(Body::Tagging),
        op("Bucket:cors GET", "GET", None, "cors"),
        op("Bucket:lifecycle DELETE", "DELETE", None, "lifecycle"),
        op("PutObject", "PUT", Some("planted"), "").body(Body::Bytes(b"planted by B")),
        op("PutObject overwrite", "PUT", Some("k1"), "").body(Body::Bytes(b"overwritten by B")),
        op("CopyObject", "PUT", Some("copied"), "").h("x-amz-copy-source", "{copy}"),
        op("CopyObject onto itself", "PUT", Some("k1"), "").h("x-amz-copy-source", "{copy}").h("x-amz-metadata-directive", "REPLACE"),
        op("GetObject", "GET", Some("k1"), ""),
        op("GetObject range", "GET", Some("k1"), "").h("range", "bytes=0-3"),
        op("HeadObject", "HEAD", Some("k1"), ""),
        op("DeleteObject", "DELETE", Some("k1"), ""),
        op("CreateMultipartUpload", "POST", Some("mp-by-b"), "uploads"),
        op("UploadPart", "PUT", Some("mp"), "partNumber=1&uploadId={upload}").body(Body::Bytes(b"part by B")),
        op("UploadPartCopy", "PUT", Some("mp"), "partNumber=2&uploadId={upload}").h("x-amz-copy-source", "{copy}"),
        op("CompleteMultipartUpload", "POST", Some("mp"), "uploadId={upload}").body(Body::CompleteXml),
        op("AbortMultipartUpload", "DELETE", Some("mp"), "uploadId={upload}"),
        op("ListParts", "GET", Some("mp"), "uploadId={upload}"),
        op("Object:acl GET", "GET", Some("k1"), "acl"),
        op("Object:acl PUT", "PUT", Some("k1"), "acl").h("x-amz-acl", "public-read"),
        op("Object:tagging GET", "GET", Some("k1"), "tagging"),
        op("Object:tagging PUT", "PUT", Some("k1"), "tagging").body(Body::Tagging),
        op("Object:tagging DELETE", "DELETE", Some("k1"), "tagging"),
        op("Object:attributes GET", "GET", Some("k1"), "attributes").h("x-amz-object-attributes", "ETag"),
        op("Object:retention GET", "GET", Some("k1"), "retention"),
        op("Object:legal-hold GET", "GET", Some("k1"), "legal-hold"),
    ]
}

/// How B names A's bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Name {
    /// A's name (`iso-a-only`), which B does not have.
    Client,
    /// The name the backend knows A's bucket by (`<tenant>-iso-a-only`; `tenant:iso-a-only` on RGW).
    Backend,
    /// `<A's tenant id>:iso-a-only`, the tenant-qualified form.
    Qualified,
}

/// How the request is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    Path,
    VirtualHost,
    Presigned,
    Anonymous,
    AnonymousVirtualHost,
}

const NAMES: &[Name] = &[Name::Client, Name::Backend, Name::Qualified];
const STYLES: &[Style] = &[
    Style::Path,
    Style::VirtualHost,
    Style::Presigned,
    Style::Anonymous,
    Style::AnonymousVirtualHost,
];

// ---------------------------------------------------------------------------------------------
// the backends

struct Kind {
    label: &'static str,
    config: String,
    /// Whether the backend enforces its own ACLs on unsigned requests (moto does not).
    anonymous: bool,
    /// The backend-level name of tenant `tid`'s bucket `b`.
    backend_name: fn(&str, &str) -> String,
    /// moto answers 500 (HTML) to an unknown upload id: accept any refusal there.
    lenient_upload_errors: bool,
    /// Signed `tenant:bucket` names reach the backend with the caller's own identity there
    /// (issue 10: per-user-principal backends), so the backend's ACL refuses, in its words.
    cross_tenant_names: bool,
    _moto: Option<real::Moto>,
}

fn with_backend(section: &str, backend: &str, s3_extra: &str) -> String {
    LOCAL_CONFIG
        .replace(
            "[[backends]]\nname = \"local\"\nkind = \"local\"\n",
            section,
        )
        .replace("backend = \"local\"", &format!("backend = \"{backend}\""))
        .replace(
            "[log]",
            &format!("[s3]\ndomain = \"{DOMAIN}\"\n{s3_extra}[log]"),
        )
}

fn shared_name(tid: &str, b: &str) -> String {
    osprey::backend::naming::backend_bucket_name(tid, b)
}

fn rgw_name(tid: &str, b: &str) -> String {
    format!("{}:{b}", osprey::backend::ceph_rgw::rgw_tenant(tid))
}

fn local_kind() -> Kind {
    Kind {
        label: "local",
        config: with_backend(
            "[[backends]]\nname = \"local\"\nkind = \"local\"\n",
            "local",
            "",
        ),
        anonymous: true,
        backend_name: shared_name,
        lenient_upload_errors: false,
        cross_tenant_names: false,
        _moto: None,
    }
}

fn ceph_s3_kind() -> Kind {
    real::ceph_rgw();
    Kind {
        label: "s3 on Ceph RGW",
        config: with_backend(
            "[[backends]]\nname = \"ceph\"\nkind = \"s3\"\nendpoint = \"http://127.0.0.1:7480\"\naccess_key = \"ADMINKEY\"\nsecret_key = \"ADMINSECRET\"\nregion = \"default\"\n",
            "ceph",
            "",
        ),
        anonymous: true,
        backend_name: shared_name,
        lenient_upload_errors: false,
        cross_tenant_names: false,
        _moto: None,
    }
}

fn ceph_rgw_kind() -> Kind {
    real::ceph_rgw();
    Kind {
        label: "ceph-rgw",
        config: with_backend(
            "[[backends]]\nname = \"ceph\"\nkind = \"ceph-rgw\"\nendpoint = \"http://127.0.0.1:7480\"\naccess_key = \"ADMINKEY\"\nsecret_key = \"ADMINSECRET\"\nregion = \"default\"\ntimeout_ms = 5000\n",
            "ceph",
            "fanout_timeout_ms = 3000\n",
        ),
        anonymous: true,
        backend_name: rgw_name,
        lenient_upload_errors: false,
        cross_tenant_names: true,
        _moto: None,
    }
}

fn iam_kind() -> Kind {
    let moto = real::Moto::start();
    Kind {
        label: "iam on moto",
        config: with_backend(
            &format!("[[backends]]\nname = \"iam\"\nkind = \"iam\"\nendpoint = \"{}\"\naccess_key = \"AKIDADMIN000000000000\"\nsecret_key = \"admin-secret\"\ntimeout_ms = 5000\n", moto.endpoint),
            "iam",
            "",
        ),
        // moto serves S3 without checking signatures or ACLs: an unsigned request Osprey
        // forwards would be answered as if authorised, so anonymous probes say nothing there
        anonymous: false,
        backend_name: shared_name,
        lenient_upload_errors: true,
        cross_tenant_names: false,
        _moto: Some(moto),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn isolation_local() {
    isolation(local_kind()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn isolation_s3_kind_on_ceph_rgw() {
    isolation(ceph_s3_kind()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn isolation_ceph_rgw_kind() {
    isolation(ceph_rgw_kind()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn isolation_iam_kind_on_moto() {
    isolation(iam_kind()).await;
}

// ---------------------------------------------------------------------------------------------
// the run

struct World {
    addr: String,
    port: u16,
    a: Tenant,
    b: Tenant,
    /// A's upload on `iso-a-only/mp` (one part) and on `same/mp` (one part).
    a_upload: String,
    a_upload_same: String,
    a_backend: String,
}

fn enc(s: &str) -> String {
    osprey::s3::sigv4::uri_encode(s, true)
}

fn body_bytes(b: Body) -> Vec<u8> {
    match b {
        Body::Empty => Vec::new(),
        Body::Bytes(x) => x.to_vec(),
        Body::DeleteXml => b"<Delete><Object><Key>k1</Key></Object><Object><Key>k2</Key></Object><Object><Key>s1</Key></Object></Delete>".to_vec(),
        Body::CompleteXml => b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"0123456789abcdef0123456789abcdef\"</ETag></Part></CompleteMultipartUpload>".to_vec(),
        Body::Form => b"--osprey0boundary\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nposted-by-b\r\n--osprey0boundary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\nContent-Type: text/plain\r\n\r\nposted by B\r\n--osprey0boundary--\r\n".to_vec(),
        Body::Policy => br#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}"#.to_vec(),
        Body::Versioning => b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>".to_vec(),
        Body::Tagging => b"<Tagging><TagSet><Tag><Key>by</Key><Value>B</Value></Tag></TagSet></Tagging>".to_vec(),
    }
}

impl World {
    fn bucket_name(&self, n: Name) -> String {
        match n {
            Name::Client => A_ONLY.to_string(),
            Name::Backend => self.a_backend.clone(),
            Name::Qualified => format!("{}:{A_ONLY}", self.a.tenant_id),
        }
    }

    /// B's request for `op` on bucket `bucket` in `style`.
    fn request(&self, op: &Op, bucket: &str, style: Style, upload: &str) -> Option<Req> {
        let vhost = matches!(style, Style::VirtualHost | Style::AnonymousVirtualHost);
        if vhost && bucket.contains(':') {
            return None; // not a host name
        }
        let (host, path) = if vhost {
            (
                format!("{bucket}.{DOMAIN}:{}", self.port),
                format!("/{}", op.key.unwrap_or("")),
            )
        } else {
            let b = bucket.replace(':', "%3A");
            (
                self.addr.clone(),
                match op.key {
                    Some(k) => format!("/{b}/{k}"),
                    None => format!("/{b}"),
                },
            )
        };
        let query = op.query.replace("{upload}", &enc(upload));
        let mut r = Req::new(op.method, &host, &path).query(&query);
        let body = body_bytes(op.body);
        if !body.is_empty() {
            r = r.body(&body);
        }
        let mut amz = Vec::new();
        for (n, v) in &op.headers {
            let v = v.replace("{copy}", &format!("/{bucket}/k2"));
            r = r.header(n, v);
            if n.starts_with("x-amz-") {
                amz.push(*n);
            }
        }
        Some(match style {
            Style::Path | Style::VirtualHost => r.sign_std(&self.b.creds, &amz),
            Style::Presigned => {
                let mut signed = vec!["host"];
                signed.extend(&amz);
                r.presign(&self.b.creds, &signed, 300)
            }
            Style::Anonymous | Style::AnonymousVirtualHost => r,
        })
    }
}

/// The answers a denied probe may get.
fn allowed(name: Name, style: Style, op: &Op, cross_tenant: bool) -> Vec<(u16, &'static str)> {
    let anonymous = matches!(style, Style::Anonymous | Style::AnonymousVirtualHost);
    let mut v = if anonymous {
        vec![(403, "AccessDenied")]
    } else {
        vec![(404, "NoSuchBucket")]
    };
    if name == Name::Qualified && !anonymous {
        // not a valid bucket name for a signed request
        v.extend([(400, "InvalidBucketName"), (400, "InvalidArgument")]);
    }
    if cross_tenant && !anonymous && name != Name::Client {
        // the backend decides with B's own identity: any refusal (RGW: 403 AccessDenied; 501
        // for a header-signed form upload); `leaks_a` still checks nothing of A's came back
        v.push(REFUSED);
    }
    if anonymous && op.name == "PostObject" {
        // an anonymous form upload without policy fields may be refused as malformed first
        v.extend([(400, "InvalidArgument"), (400, "MalformedPOSTRequest")]);
    }
    v
}

/// `(status, code)` pairs; [`REFUSED`] matches any error answer (status ≥ 400).
fn matches(r: &Resp, want: &[(u16, &str)], head: bool) -> bool {
    let code = r.code().unwrap_or_default();
    want.iter().any(|&(s, c)| {
        if (s, c) == REFUSED {
            r.status >= 400
        } else {
            // HEAD answers carry no body, hence no code
            s == r.status && (head || code == c)
        }
    })
}

/// Any refusal (status ≥ 400): where the backend, not Osprey, decides how to say no.
const REFUSED: (u16, &str) = (0, "*");

/// An SDK error as `code (HTTP status): body excerpt`, for failure lists.
fn sdk_err<E: ProvideErrorMetadata + std::fmt::Debug>(
    e: &aws_sdk_s3::error::SdkError<E>,
) -> String {
    let raw = e.raw_response();
    let status = raw.map(|r| r.status().as_u16()).unwrap_or(0);
    let body = raw
        .and_then(|r| r.body().bytes())
        .map(|b| {
            String::from_utf8_lossy(b)
                .chars()
                .take(200)
                .collect::<String>()
        })
        .unwrap_or_else(|| format!("{e:?}").chars().take(200).collect());
    format!("{} (HTTP {status}): {body}", e.code().unwrap_or("-"))
}

/// The `<Message>` of an error answer (or the start of the body), for failure lists.
fn brief(r: &Resp) -> String {
    let t = r.text();
    let m = raw::xml_value(&t, "Message").unwrap_or_else(|| t.chars().take(120).collect());
    m.chars().take(160).collect()
}

/// Whether a response body carries any of A's object bytes.
fn leaks_a(r: &Resp) -> bool {
    [K1, K2, S1, PART]
        .iter()
        .any(|d| r.body.windows(d.len()).any(|w| w == *d))
}

async fn isolation(kind: Kind) {
    let o = Osprey::start(&kind.config);
    let label = kind.label;
    let kind_cross_tenant = kind.cross_tenant_names;
    let a = onboard(&o, "iso-a").await;
    let b = onboard(&o, "iso-b").await;

    // ---- A's data: two buckets, objects, an upload in progress in each
    sdk_bucket(&a.s3, A_ONLY).await;
    sdk_put(&a.s3, A_ONLY, "k1", K1).await;
    sdk_put(&a.s3, A_ONLY, "k2", K2).await;
    sdk_bucket(&a.s3, SAME).await;
    sdk_put(&a.s3, SAME, "s1", S1).await;
    let mut uploads = Vec::new();
    for bucket in [A_ONLY, SAME] {
        let up =
            a.s3.create_multipart_upload()
                .bucket(bucket)
                .key("mp")
                .send()
                .await
                .unwrap();
        let id = up.upload_id().unwrap().to_string();
        a.s3.upload_part()
            .bucket(bucket)
            .key("mp")
            .upload_id(&id)
            .part_number(1)
            .body(aws_sdk_s3::primitives::ByteStream::from_static(PART))
            .send()
            .await
            .unwrap();
        uploads.push(id);
    }
    // ---- B's: its own `same`
    sdk_bucket(&b.s3, SAME).await;
    let mut failures: Vec<String> = Vec::new();
    // B's own `same` must work although A has one too (on ceph-rgw both are `same` on the backend)
    let b_same_ok = match b
        .s3
        .put_object()
        .bucket(SAME)
        .key("b1")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(B1))
        .send()
        .await
    {
        Ok(_) => true,
        Err(e) => {
            failures.push(format!(
                "set-up: B's own `{SAME}` (CreateBucket answered 2xx) is unusable: {:?}; the probes that need it are skipped",
                sdk_err(&e)
            ));
            false
        }
    };

    let w = World {
        addr: s3_addr(&o),
        port: o.s3_port,
        a_backend: (kind.backend_name)(&a.tenant_id, A_ONLY),
        a_upload: uploads[0].clone(),
        a_upload_same: uploads[1].clone(),
        a,
        b,
    };
    let mut probes = 0;

    // ---- every op × every name × every style
    for op in ops() {
        for &name in NAMES {
            for &style in STYLES {
                let anonymous = matches!(style, Style::Anonymous | Style::AnonymousVirtualHost);
                if anonymous && !kind.anonymous {
                    continue;
                }
                let bucket = w.bucket_name(name);
                let Some(req) = w.request(&op, &bucket, style, &w.a_upload) else {
                    continue;
                };
                probes += 1;
                let r = raw::send(&w.addr, &req);
                let want = allowed(name, style, &op, kind_cross_tenant);
                if !matches(&r, &want, op.method == "HEAD") || leaks_a(&r) {
                    failures.push(format!(
                        "{} on {bucket} ({name:?}, {style:?}): want {want:?}, got {} {}",
                        op.name,
                        r.summary(),
                        brief(&r)
                    ));
                }
            }
        }
    }

    if b_same_ok {
        // ---- copy sources: B copies into its own `same` from A's buckets
        let bmp =
            w.b.s3
                .create_multipart_upload()
                .bucket(SAME)
                .key("bmp")
                .send()
                .await
                .unwrap();
        let b_upload = bmp.upload_id().unwrap().to_string();
        let pct_backend: String = w.a_backend.bytes().map(|c| format!("%{c:02X}")).collect();
        let refused = vec![(404, "NoSuchBucket"), (400, "InvalidArgument")];
        let denied = vec![(403, "AccessDenied")];
        let nosuch = vec![(404, "NoSuchBucket")];
        let bad_utf8 = vec![(400, "InvalidArgument")];
        let utf8 = |s: &str| [format!("{s}?x=").as_bytes(), b"\xc3\xa9".as_slice()].concat();
        // on shared namespaces the backend name is a plain bucket name: strictly NoSuchBucket
        let backend_want = if w.a_backend.contains(':') {
            &refused
        } else {
            &nosuch
        };
        #[rustfmt::skip]
    type Source<'a> = (&'a str, Vec<u8>, bool, &'a Vec<(u16, &'a str)>);
        let sources: Vec<Source> = vec![
            (
                "client",
                format!("/{A_ONLY}/k1").into_bytes(),
                true,
                &nosuch,
            ),
            (
                "client-noslash",
                format!("{A_ONLY}/k1").into_bytes(),
                true,
                &nosuch,
            ),
            (
                "backend",
                format!("/{}/k1", w.a_backend).into_bytes(),
                true,
                backend_want,
            ),
            (
                "backend-pct-colon",
                format!("/{}/k1", w.a_backend.replace(':', "%3A")).into_bytes(),
                true,
                backend_want,
            ),
            (
                "qualified",
                format!("/{}:{A_ONLY}/k1", w.a.tenant_id).into_bytes(),
                true,
                &refused,
            ),
            (
                "qualified-pct",
                format!("/{}%3A{A_ONLY}/k1", w.a.tenant_id).into_bytes(),
                true,
                &refused,
            ),
            (
                "backend-utf8-signed",
                utf8(&format!("/{}/k1", w.a_backend)),
                true,
                backend_want,
            ),
            (
                "backend-utf8-unsigned",
                utf8(&format!("/{}/k1", w.a_backend)),
                false,
                &denied,
            ),
            (
                "client-utf8-unsigned",
                utf8(&format!("/{A_ONLY}/k1")),
                false,
                &denied,
            ),
            (
                "backend-ascii-unsigned",
                format!("/{}/k1", w.a_backend).into_bytes(),
                false,
                &denied,
            ),
            (
                "backend-0xff-signed",
                [format!("/{}/k1", w.a_backend).as_bytes(), b"\xff"].concat(),
                true,
                &bad_utf8,
            ),
            (
                "pct-client",
                "/%69so-a-only/k1".as_bytes().to_vec(),
                true,
                &refused,
            ),
            (
                "pct-backend",
                format!("/{pct_backend}/k1").into_bytes(),
                true,
                &refused,
            ),
            (
                "dotdot-backend",
                format!("/{SAME}/../{}/k1", w.a_backend).into_bytes(),
                true,
                &refused,
            ),
            (
                "dotdot-client",
                format!("/{SAME}/../{A_ONLY}/k1").into_bytes(),
                true,
                &refused,
            ),
            (
                "dotdot-pct",
                format!("/{SAME}/%2E%2E/{}/k1", w.a_backend).into_bytes(),
                true,
                &refused,
            ),
            (
                "dotdot-slash-pct",
                format!("/{SAME}%2F..%2F{}%2Fk1", w.a_backend).into_bytes(),
                true,
                &refused,
            ),
            (
                "dotdot-deep",
                format!("/{SAME}/x/../../{}/k1", w.a_backend).into_bytes(),
                true,
                &refused,
            ),
        ];
        let mut n = 0;
        for (label_cs, value, signed, want) in &sources {
            for upc in [false, true] {
                n += 1;
                let (path, query) = if upc {
                    (
                        "/same/bmp".to_string(),
                        format!("partNumber={n}&uploadId={}", enc(&b_upload)),
                    )
                } else {
                    (format!("/same/copy-{label_cs}"), String::new())
                };
                let mut req = Req::new("PUT", &w.addr, &path).query(&query);
                let extra: &[&str] = if *signed {
                    req = req.header("x-amz-copy-source", value);
                    &["x-amz-copy-source"]
                } else {
                    &[]
                };
                req = req.sign_std(&w.b.creds, extra);
                if !*signed {
                    req = req.header("x-amz-copy-source", value);
                }
                probes += 1;
                let r = raw::send(&w.addr, &req);
                let what = if upc { "UploadPartCopy" } else { "CopyObject" };
                if !matches(&r, want, false) || leaks_a(&r) {
                    failures.push(format!(
                        "{what} from {} ({label_cs}, signed={signed}): want {want:?}, got {} {}",
                        String::from_utf8_lossy(value),
                        r.summary(),
                        brief(&r)
                    ));
                }
            }
        }
        // presigned and virtual-host copies
        let presigned = Req::new("PUT", &w.addr, "/same/copy-presigned")
            .presign(&w.b.creds, &["host"], 300)
            .header("x-amz-copy-source", utf8(&format!("/{}/k1", w.a_backend)));
        let vhost = Req::new("PUT", &format!("{SAME}.{DOMAIN}:{}", w.port), "/copy-vhost")
            .header("x-amz-copy-source", format!("/{}/k1", w.a_backend))
            .sign_std(&w.b.creds, &["x-amz-copy-source"]);
        for (what, req, want) in [
            (
                "presigned CopyObject, unsigned copy source",
                presigned,
                &denied,
            ),
            ("virtual-host CopyObject", vhost, &refused),
        ] {
            probes += 1;
            let r = raw::send(&w.addr, &req);
            if !matches(&r, want, false) || leaks_a(&r) {
                failures.push(format!(
                    "{what}: want {want:?}, got {} {}",
                    r.summary(),
                    brief(&r)
                ));
            }
        }

        // ---- A's upload ids on B's own same-named bucket
        let id = enc(&w.a_upload_same);
        // UploadPart names the upload directly: NoSuchUpload; the others may be refused as the
        // backend words it (RGW: ListParts NoSuchKey, Complete 500). moto answers 500 HTML throughout.
        let nosuchupload = if kind.lenient_upload_errors {
            vec![(404, "NoSuchUpload"), REFUSED]
        } else {
            vec![(404, "NoSuchUpload")]
        };
        let refused_any = vec![REFUSED];
        type Probe<'a> = (&'a str, Req, &'a Vec<(u16, &'a str)>);
        let upload_probes: Vec<Probe> = vec![
            (
                "UploadPart",
                Req::new("PUT", &w.addr, "/same/mp")
                    .query(&format!("partNumber=1&uploadId={id}"))
                    .body(b"part by B")
                    .sign_std(&w.b.creds, &[]),
                &nosuchupload,
            ),
            (
                "UploadPartCopy",
                Req::new("PUT", &w.addr, "/same/mp")
                    .query(&format!("partNumber=2&uploadId={id}"))
                    .header("x-amz-copy-source", "/same/b1")
                    .sign_std(&w.b.creds, &["x-amz-copy-source"]),
                &nosuchupload,
            ),
            (
                "ListParts",
                Req::new("GET", &w.addr, "/same/mp")
                    .query(&format!("uploadId={id}"))
                    .sign_std(&w.b.creds, &[]),
                &refused_any,
            ),
            (
                "CompleteMultipartUpload",
                Req::new("POST", &w.addr, "/same/mp")
                    .query(&format!("uploadId={id}"))
                    .body(body_bytes(Body::CompleteXml))
                    .sign_std(&w.b.creds, &[]),
                &refused_any,
            ),
            (
                "AbortMultipartUpload",
                Req::new("DELETE", &w.addr, "/same/mp")
                    .query(&format!("uploadId={id}"))
                    .sign_std(&w.b.creds, &[]),
                &refused_any,
            ),
        ];
        for (what, req, want) in upload_probes {
            probes += 1;
            let r = raw::send(&w.addr, &req);
            if !matches(&r, want, false) || leaks_a(&r) {
                failures.push(format!(
                    "{what} with A's upload id on B's `same`: want {want:?}, got {} {}",
                    r.summary(),
                    brief(&r)
                ));
            }
        }
        let b_uploads =
            w.b.s3
                .list_multipart_uploads()
                .bucket(SAME)
                .send()
                .await
                .unwrap();
        let ids: Vec<&str> = b_uploads
            .uploads()
            .iter()
            .filter_map(|u| u.upload_id())
            .collect();
        if ids.contains(&w.a_upload_same.as_str()) || ids.contains(&w.a_upload.as_str()) {
            failures.push(format!(
                "B's ListMultipartUploads shows A's upload: {ids:?}"
            ));
        }

        // ---- DeleteObjects in B's `same` naming A's keys: B's own bucket, A's untouched
        let del =
            w.b.s3
                .delete_objects()
                .bucket(SAME)
                .delete(
                    Delete::builder()
                        .objects(ObjectIdentifier::builder().key("s1").build().unwrap())
                        .objects(ObjectIdentifier::builder().key("k1").build().unwrap())
                        .build()
                        .unwrap(),
                )
                .send()
                .await;
        if let Err(e) = &del {
            failures.push(format!(
                "B's DeleteObjects on its own `same` failed: {:?}",
                sdk_err(e)
            ));
        }

        b_same_probes_end(&w, &b_upload, &mut failures).await;
    }

    // ---- ListBuckets: B never sees A's buckets
    let names = |t: &Tenant| {
        let s3 = t.s3.clone();
        async move {
            s3.list_buckets()
                .send()
                .await
                .unwrap()
                .buckets()
                .iter()
                .filter_map(|b| b.name().map(str::to_string))
                .collect::<Vec<_>>()
        }
    };
    let b_names = names(&w.b).await;
    if b_names != vec![SAME.to_string()] {
        failures.push(format!("B's ListBuckets: {b_names:?}"));
    }
    let r = raw::send(
        &w.addr,
        &Req::new("GET", &w.addr, "/").presign(&w.b.creds, &["host"], 300),
    );
    if r.status != 200 || r.text().contains(A_ONLY) || r.text().contains(&w.a.tenant_id) {
        failures.push(format!(
            "B's presigned ListBuckets: {} {}",
            r.summary(),
            r.text()
        ));
    }
    // anonymous ListBuckets: RGW's answer, an empty list (issue 10) — nobody's bucket named
    let r = raw::send(&w.addr, &Req::new("GET", &w.addr, "/"));
    if r.status != 200 || r.text().contains("<Bucket>") || r.text().contains(A_ONLY) {
        failures.push(format!(
            "anonymous ListBuckets: {} {}",
            r.summary(),
            r.text()
        ));
    }

    // ---- CreateBucket with A's name: B gets its own, empty bucket
    match w.b.s3.create_bucket().bucket(A_ONLY).send().await {
        Ok(_) => {
            match w.b.s3.list_objects_v2().bucket(A_ONLY).send().await {
                Ok(l) => {
                    let keys: Vec<&str> = l.contents().iter().filter_map(|o| o.key()).collect();
                    if !keys.is_empty() {
                        failures.push(format!("B's new `{A_ONLY}` shows A's keys: {keys:?}"));
                    }
                }
                Err(e) => failures.push(format!(
                    "B's new `{A_ONLY}` (CreateBucket answered 2xx) is unusable: {:?}",
                    sdk_err(&e)
                )),
            }
            if let Ok(got) = sdk_get(&w.b.s3, A_ONLY, "k1").await {
                failures.push(format!(
                    "B reads A's k1 through its own `{A_ONLY}`: {got:?}"
                ));
            }
            let _ = w.b.s3.delete_bucket().bucket(A_ONLY).send().await;
        }
        Err(e) => failures.push(format!(
            "B cannot create its own `{A_ONLY}`: {:?}",
            sdk_err(&e)
        )),
    }

    // ---- afterwards: A's data complete and byte-identical
    let a_names = names(&w.a).await;
    if a_names != vec![A_ONLY.to_string(), SAME.to_string()] {
        failures.push(format!("A's ListBuckets: {a_names:?}"));
    }
    let keys = sdk_keys(&w.a.s3, A_ONLY).await;
    if keys != vec!["k1", "k2"] {
        failures.push(format!("A's `{A_ONLY}` keys: {keys:?}"));
    }
    for (bucket, key, want) in [(A_ONLY, "k1", K1), (A_ONLY, "k2", K2), (SAME, "s1", S1)] {
        match sdk_get(&w.a.s3, bucket, key).await {
            Ok(got) if got == want => {}
            other => failures.push(format!("A's {bucket}/{key}: {other:?}")),
        }
    }
    let keys = sdk_keys(&w.a.s3, SAME).await;
    if keys != vec!["s1"] {
        failures.push(format!("A's `same` keys: {keys:?}"));
    }
    for (bucket, id) in [(A_ONLY, &w.a_upload), (SAME, &w.a_upload_same)] {
        // raw ListParts: moto's answer has the root `ListPartsResponse`, which aws-sdk-s3 refuses
        let parts = list_parts(&w, &w.a.creds, bucket, "mp", id);
        if parts.len() != 1 || parts[0].0 != 1 || parts[0].1 != PART.len() as u64 {
            failures.push(format!("A's upload on {bucket}: parts {parts:?}"));
            continue;
        }
        let done =
            w.a.s3
                .complete_multipart_upload()
                .bucket(bucket)
                .key("mp")
                .upload_id(id)
                .multipart_upload(
                    aws_sdk_s3::types::CompletedMultipartUpload::builder()
                        .parts(
                            aws_sdk_s3::types::CompletedPart::builder()
                                .part_number(1)
                                .e_tag(&parts[0].2)
                                .build(),
                        )
                        .build(),
                )
                .send()
                .await;
        match done {
            Ok(_) => match sdk_get(&w.a.s3, bucket, "mp").await {
                Ok(got) if got == PART => {}
                other => failures.push(format!("A's completed {bucket}/mp: {other:?}")),
            },
            Err(e) => failures.push(format!(
                "A cannot complete its upload on {bucket}: {}",
                sdk_err(&e)
            )),
        }
    }

    // ---- nothing of B's holds A's data
    for bucket in names(&w.b).await {
        for key in sdk_keys(&w.b.s3, &bucket).await {
            let got = sdk_get(&w.b.s3, &bucket, &key).await.unwrap_or_default();
            if [K1, K2, S1, PART].iter().any(|d| got == *d) {
                failures.push(format!(
                    "B's {bucket}/{key} holds A's data: {:?}",
                    String::from_utf8_lossy(&got)
                ));
            } else if key != "b1" {
                failures.push(format!(
                    "B's {bucket}/{key} ({} bytes) should not exist",
                    got.len()
                ));
            }
        }
    }
    // Osprey's own account of refused placements (e.g. a store constraint), for the report
    for line in o
        .logs()
        .lines()
        .filter(|l| l.contains("placement could not be recorded"))
    {
        failures.push(format!("osprey log: {line}"));
    }
    eprintln!("{label}: {probes} probes, {} failures", failures.len());
    assert!(
        failures.is_empty(),
        "{label}: {} of {probes} isolation probes failed:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

/// B's own upload (the target of the UploadPartCopy probes) got no part; then it is aborted.
async fn b_same_probes_end(w: &World, b_upload: &str, failures: &mut Vec<String>) {
    let parts = list_parts(w, &w.b.creds, SAME, "bmp", b_upload);
    if !parts.is_empty() {
        failures.push(format!("B's own upload got parts copied from A: {parts:?}"));
    }
    let _ =
        w.b.s3
            .abort_multipart_upload()
            .bucket(SAME)
            .key("bmp")
            .upload_id(b_upload)
            .send()
            .await;
}

/// ListParts through the raw requester: `(part number, size, etag)` of every part; panics unless
/// the answer is 200.
fn list_parts(
    w: &World,
    creds: &raw::Creds,
    bucket: &str,
    key: &str,
    upload: &str,
) -> Vec<(u32, u64, String)> {
    let r = raw::send(
        &w.addr,
        &Req::new("GET", &w.addr, &format!("/{bucket}/{key}"))
            .query(&format!("uploadId={}", enc(upload)))
            .sign_std(creds, &[]),
    );
    assert_eq!(r.status, 200, "ListParts {bucket}: {}", r.text());
    raw::xml_values(&r.text(), "Part")
        .iter()
        .map(|p| {
            (
                raw::xml_value(p, "PartNumber")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0),
                raw::xml_value(p, "Size")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0),
                raw::xml_value(p, "ETag")
                    .unwrap_or_default()
                    .replace("&quot;", "\""),
            )
        })
        .collect()
}
