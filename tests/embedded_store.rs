//! The complete embedded store (issue 11 part 2): tagging, versioning, bucket configurations
//! (CORS with preflights, lifecycle applied by the sweep, encryption, object lock), object lock,
//! GetObjectAttributes and checksums — through aws-sdk-s3 against `LocalServer`, and the quick
//! start's real clients (aws-cli v2 `s3 cp` of 12 MiB, rclone copy/purge) through the `osprey`
//! binary.

mod common;

use std::process::Command;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_s3::config::Region;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketVersioningStatus, ChecksumAlgorithm, ChecksumMode,
    CompletedMultipartUpload, CompletedPart, CorsConfiguration, CorsRule, Delete, ExpirationStatus,
    LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, ObjectAttributes, ObjectIdentifier,
    ObjectLockLegalHold, ObjectLockLegalHoldStatus, ObjectLockMode, ObjectLockRetention,
    ObjectLockRetentionMode, Tag, Tagging, VersioningConfiguration,
};
use aws_sdk_s3::Client;
use common::{Osis, Osprey, LOCAL_CONFIG};
use osprey::embedded::{LocalOptions, LocalServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const AK: &str = "embedded-ak";
const SK: &str = "embedded-secret-key-0123456789";
const REGION: &str = "us-east-1";
const MIB: usize = 1024 * 1024;

struct Env {
    _dir: tempfile::TempDir,
    server: LocalServer,
    s3: Client,
}

async fn env_with(options: LocalOptions) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start_with(&dir.path().join("data"), AK, SK, REGION, options)
        .await
        .unwrap();
    let conf = aws_sdk_s3::config::Builder::new()
        .endpoint_url(format!("http://{}", server.addr()))
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(AK, SK, None, None, "test"))
        .force_path_style(true)
        .behavior_version_latest()
        .build();
    Env {
        _dir: dir,
        server,
        s3: Client::from_conf(conf),
    }
}

async fn env() -> Env {
    env_with(LocalOptions::default()).await
}

fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> String {
    e.as_service_error()
        .and_then(|s| s.code())
        .unwrap_or("<none>")
        .to_owned()
}

impl Env {
    async fn bucket(&self, name: &str) {
        self.s3.create_bucket().bucket(name).send().await.unwrap();
    }

    async fn versioning(&self, name: &str, status: BucketVersioningStatus) {
        self.s3
            .put_bucket_versioning()
            .bucket(name)
            .versioning_configuration(VersioningConfiguration::builder().status(status).build())
            .send()
            .await
            .unwrap();
    }

    async fn put(&self, bucket: &str, key: &str, body: &[u8]) -> Option<String> {
        let out = self
            .s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await
            .unwrap();
        out.version_id().map(str::to_owned)
    }

    async fn get(&self, bucket: &str, key: &str, vid: Option<&str>) -> Vec<u8> {
        let out = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .set_version_id(vid.map(str::to_owned))
            .send()
            .await
            .unwrap();
        out.body.collect().await.unwrap().into_bytes().to_vec()
    }

    /// A raw HTTP/1.1 request (CORS preflights are unsigned): status and lower-cased headers.
    async fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (u16, Vec<(String, String)>) {
        let mut stream = tokio::net::TcpStream::connect(self.server.addr())
            .await
            .unwrap();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.server.addr()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        stream.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        let text = String::from_utf8_lossy(&raw).to_string();
        let head = text.split("\r\n\r\n").next().unwrap().to_owned();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let hdrs = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        (status, hdrs)
    }
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn tagging(pairs: &[(&str, &str)]) -> Tagging {
    let mut t = Tagging::builder();
    for (k, v) in pairs {
        t = t.tag_set(Tag::builder().key(*k).value(*v).build().unwrap());
    }
    t.build().unwrap()
}

#[tokio::test]
async fn object_and_bucket_tagging() {
    let e = env().await;
    e.bucket("tags").await;
    e.s3.put_object()
        .bucket("tags")
        .key("k")
        .tagging("a=1&b%20c=d")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let t =
        e.s3.get_object_tagging()
            .bucket("tags")
            .key("k")
            .send()
            .await
            .unwrap();
    let got: Vec<(&str, &str)> = t.tag_set().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(got, vec![("a", "1"), ("b c", "d")]);
    let g =
        e.s3.get_object()
            .bucket("tags")
            .key("k")
            .send()
            .await
            .unwrap();
    assert_eq!(g.tag_count(), Some(2));

    e.s3.put_object_tagging()
        .bucket("tags")
        .key("k")
        .tagging(tagging(&[("only", "one")]))
        .send()
        .await
        .unwrap();
    let t =
        e.s3.get_object_tagging()
            .bucket("tags")
            .key("k")
            .send()
            .await
            .unwrap();
    assert_eq!(t.tag_set().len(), 1);

    // limits: 10 tags, key ≤ 128, value ≤ 256
    let eleven: Vec<(String, String)> = (0..11).map(|i| (format!("k{i}"), "v".into())).collect();
    let refs: Vec<(&str, &str)> = eleven
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let err =
        e.s3.put_object_tagging()
            .bucket("tags")
            .key("k")
            .tagging(tagging(&refs))
            .send()
            .await
            .unwrap_err();
    assert_eq!(code(&err), "InvalidTag");
    let long = "k".repeat(129);
    let err =
        e.s3.put_object_tagging()
            .bucket("tags")
            .key("k")
            .tagging(tagging(&[(&long, "v")]))
            .send()
            .await
            .unwrap_err();
    assert_eq!(code(&err), "InvalidTag");
    let long = "v".repeat(257);
    let err =
        e.s3.put_object_tagging()
            .bucket("tags")
            .key("k")
            .tagging(tagging(&[("k", &long)]))
            .send()
            .await
            .unwrap_err();
    assert_eq!(code(&err), "InvalidTag");

    // copy: COPY keeps the source's tags, REPLACE takes x-amz-tagging
    e.s3.copy_object()
        .bucket("tags")
        .key("c1")
        .copy_source("tags/k")
        .send()
        .await
        .unwrap();
    let t =
        e.s3.get_object_tagging()
            .bucket("tags")
            .key("c1")
            .send()
            .await
            .unwrap();
    assert_eq!(t.tag_set()[0].key(), "only");
    e.s3.copy_object()
        .bucket("tags")
        .key("c2")
        .copy_source("tags/k")
        .tagging_directive(aws_sdk_s3::types::TaggingDirective::Replace)
        .tagging("x=y")
        .send()
        .await
        .unwrap();
    let t =
        e.s3.get_object_tagging()
            .bucket("tags")
            .key("c2")
            .send()
            .await
            .unwrap();
    assert_eq!(t.tag_set()[0].key(), "x");

    e.s3.delete_object_tagging()
        .bucket("tags")
        .key("k")
        .send()
        .await
        .unwrap();
    let t =
        e.s3.get_object_tagging()
            .bucket("tags")
            .key("k")
            .send()
            .await
            .unwrap();
    assert!(t.tag_set().is_empty());
    let h =
        e.s3.head_object()
            .bucket("tags")
            .key("k")
            .send()
            .await
            .unwrap();
    assert_eq!(h.content_length(), Some(1));

    // bucket tagging
    let err =
        e.s3.get_bucket_tagging()
            .bucket("tags")
            .send()
            .await
            .unwrap_err();
    assert_eq!(code(&err), "NoSuchTagSet");
    e.s3.put_bucket_tagging()
        .bucket("tags")
        .tagging(tagging(&[("team", "osprey")]))
        .send()
        .await
        .unwrap();
    let t =
        e.s3.get_bucket_tagging()
            .bucket("tags")
            .send()
            .await
            .unwrap();
    assert_eq!(t.tag_set()[0].value(), "osprey");
    e.s3.delete_bucket_tagging()
        .bucket("tags")
        .send()
        .await
        .unwrap();
    let err =
        e.s3.get_bucket_tagging()
            .bucket("tags")
            .send()
            .await
            .unwrap_err();
    assert_eq!(code(&err), "NoSuchTagSet");
}

#[tokio::test]
async fn versions_delete_markers_and_listing() {
    let e = env().await;
    e.bucket("vers").await;
    let v =
        e.s3.get_bucket_versioning()
            .bucket("vers")
            .send()
            .await
            .unwrap();
    assert!(v.status().is_none());
    assert_eq!(e.put("vers", "k", b"null").await, None);
    e.versioning("vers", BucketVersioningStatus::Enabled).await;
    let v =
        e.s3.get_bucket_versioning()
            .bucket("vers")
            .send()
            .await
            .unwrap();
    assert_eq!(v.status(), Some(&BucketVersioningStatus::Enabled));
    let v1 = e.put("vers", "k", b"one").await.unwrap();
    let v2 = e.put("vers", "k", b"two").await.unwrap();
    assert_ne!(v1, v2);
    assert_eq!(e.get("vers", "k", None).await, b"two");
    assert_eq!(e.get("vers", "k", Some(&v1)).await, b"one");
    assert_eq!(e.get("vers", "k", Some("null")).await, b"null");
    let h =
        e.s3.head_object()
            .bucket("vers")
            .key("k")
            .version_id(&v1)
            .send()
            .await
            .unwrap();
    assert_eq!(h.version_id(), Some(v1.as_str()));

    // delete without a version id: a delete marker
    let d =
        e.s3.delete_object()
            .bucket("vers")
            .key("k")
            .send()
            .await
            .unwrap();
    assert_eq!(d.delete_marker(), Some(true));
    let marker = d.version_id().unwrap().to_owned();
    let err =
        e.s3.get_object()
            .bucket("vers")
            .key("k")
            .send()
            .await
            .unwrap_err();
    assert_eq!(code(&err), "NoSuchKey");
    let err =
        e.s3.head_object()
            .bucket("vers")
            .key("k")
            .version_id(&marker)
            .send()
            .await
            .unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 405);
    let l = e.s3.list_objects_v2().bucket("vers").send().await.unwrap();
    assert_eq!(l.key_count(), Some(0));

    e.put("vers", "other", b"o").await;
    let all =
        e.s3.list_object_versions()
            .bucket("vers")
            .send()
            .await
            .unwrap();
    assert_eq!(all.versions().len(), 4);
    assert_eq!(all.delete_markers().len(), 1);
    assert_eq!(all.delete_markers()[0].is_latest(), Some(true));
    let latest: Vec<_> = all
        .versions()
        .iter()
        .filter(|v| v.is_latest() == Some(true))
        .collect();
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0].key(), Some("other"));
    // paging: 2 at a time, resuming with key and version-id markers
    let mut seen = 0;
    let (mut km, mut vm) = (None, None);
    loop {
        let p =
            e.s3.list_object_versions()
                .bucket("vers")
                .max_keys(2)
                .set_key_marker(km.clone())
                .set_version_id_marker(vm.clone())
                .send()
                .await
                .unwrap();
        seen += p.versions().len() + p.delete_markers().len();
        if p.is_truncated() != Some(true) {
            break;
        }
        km = p.next_key_marker().map(str::to_owned);
        vm = p.next_version_id_marker().map(str::to_owned);
    }
    assert_eq!(seen, 5);
    let p =
        e.s3.list_object_versions()
            .bucket("vers")
            .prefix("o")
            .send()
            .await
            .unwrap();
    assert_eq!(p.versions().len(), 1);

    // removing the marker restores v2; DeleteObjects with version ids removes versions
    e.s3.delete_object()
        .bucket("vers")
        .key("k")
        .version_id(&marker)
        .send()
        .await
        .unwrap();
    assert_eq!(e.get("vers", "k", None).await, b"two");
    let del = Delete::builder()
        .objects(
            ObjectIdentifier::builder()
                .key("k")
                .version_id(&v2)
                .build()
                .unwrap(),
        )
        .objects(
            ObjectIdentifier::builder()
                .key("k")
                .version_id(&v1)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let out =
        e.s3.delete_objects()
            .bucket("vers")
            .delete(del)
            .send()
            .await
            .unwrap();
    assert_eq!(out.deleted().len(), 2);
    assert_eq!(e.get("vers", "k", None).await, b"null");

    // suspended: writes replace the null version only
    e.versioning("vers", BucketVersioningStatus::Suspended)
        .await;
    let v3 = {
        e.versioning("vers", BucketVersioningStatus::Enabled).await;
        let v = e.put("vers", "k", b"three").await.unwrap();
        e.versioning("vers", BucketVersioningStatus::Suspended)
            .await;
        v
    };
    // a suspended bucket's PUT names no version (the null one), as on S3
    assert_eq!(e.put("vers", "k", b"null2").await, None);
    let all =
        e.s3.list_object_versions()
            .bucket("vers")
            .prefix("k")
            .send()
            .await
            .unwrap();
    let ids: Vec<_> = all
        .versions()
        .iter()
        .map(|v| v.version_id().unwrap().to_owned())
        .collect();
    assert_eq!(ids, vec!["null".to_owned(), v3]);
    assert_eq!(e.get("vers", "k", Some("null")).await, b"null2");

    // copy from a version
    let c =
        e.s3.copy_object()
            .bucket("vers")
            .key("copy")
            .copy_source(format!("vers/k?versionId={}", ids[1]))
            .send()
            .await
            .unwrap();
    assert_eq!(c.copy_source_version_id(), Some(ids[1].as_str()));
    assert_eq!(e.get("vers", "copy", None).await, b"three");
    let err =
        e.s3.get_object()
            .bucket("vers")
            .key("k")
            .version_id("not-a-version")
            .send()
            .await
            .unwrap_err();
    assert_eq!(code(&err), "InvalidArgument");
}

#[tokio::test]
async fn object_lock_refuses_deletes_of_locked_versions() {
    let e = env().await;
    e.s3.create_bucket()
        .bucket("locked")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    let v =
        e.s3.get_bucket_versioning()
            .bucket("locked")
            .send()
            .await
            .unwrap();
    assert_eq!(v.status(), Some(&BucketVersioningStatus::Enabled));
    let conf =
        e.s3.get_object_lock_configuration()
            .bucket("locked")
            .send()
            .await
            .unwrap();
    assert!(conf.object_lock_configuration().is_some());
    let err =
        e.s3.put_bucket_versioning()
            .bucket("locked")
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Suspended)
                    .build(),
            )
            .send()
            .await
            .unwrap_err();
    assert_eq!(code(&err), "InvalidBucketState");

    let until = DateTime::from_secs(DateTime::from(std::time::SystemTime::now()).secs() + 3600);
    let put =
        e.s3.put_object()
            .bucket("locked")
            .key("k")
            .object_lock_mode(ObjectLockMode::Governance)
            .object_lock_retain_until_date(until)
            .body(ByteStream::from_static(b"keep"))
            .send()
            .await
            .unwrap();
    let vid = put.version_id().unwrap().to_owned();
    let h =
        e.s3.head_object()
            .bucket("locked")
            .key("k")
            .send()
            .await
            .unwrap();
    assert_eq!(h.object_lock_mode(), Some(&ObjectLockMode::Governance));
    let r =
        e.s3.get_object_retention()
            .bucket("locked")
            .key("k")
            .send()
            .await
            .unwrap();
    assert_eq!(
        r.retention().unwrap().mode(),
        Some(&ObjectLockRetentionMode::Governance)
    );

    let err =
        e.s3.delete_object()
            .bucket("locked")
            .key("k")
            .version_id(&vid)
            .send()
            .await
            .unwrap_err();
    assert_eq!(code(&err), "AccessDenied");
    // shortening GOVERNANCE needs the bypass
    let sooner = DateTime::from_secs(until.secs() - 1800);
    let err =
        e.s3.put_object_retention()
            .bucket("locked")
            .key("k")
            .retention(
                ObjectLockRetention::builder()
                    .mode(ObjectLockRetentionMode::Governance)
                    .retain_until_date(sooner)
                    .build(),
            )
            .send()
            .await
            .unwrap_err();
    assert_eq!(code(&err), "AccessDenied");
    // a delete without version id only adds a marker, which is allowed
    e.s3.delete_object()
        .bucket("locked")
        .key("k")
        .send()
        .await
        .unwrap();
    // legal hold blocks even with the bypass
    e.s3.put_object_legal_hold()
        .bucket("locked")
        .key("k")
        .version_id(&vid)
        .legal_hold(
            ObjectLockLegalHold::builder()
                .status(ObjectLockLegalHoldStatus::On)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let err =
        e.s3.delete_object()
            .bucket("locked")
            .key("k")
            .version_id(&vid)
            .bypass_governance_retention(true)
            .send()
            .await
            .unwrap_err();
    assert_eq!(code(&err), "AccessDenied");
    e.s3.put_object_legal_hold()
        .bucket("locked")
        .key("k")
        .version_id(&vid)
        .legal_hold(
            ObjectLockLegalHold::builder()
                .status(ObjectLockLegalHoldStatus::Off)
                .build(),
        )
        .send()
        .await
        .unwrap();
    e.s3.delete_object()
        .bucket("locked")
        .key("k")
        .version_id(&vid)
        .bypass_governance_retention(true)
        .send()
        .await
        .unwrap();
    let err =
        e.s3.get_object()
            .bucket("locked")
            .key("k")
            .version_id(&vid)
            .send()
            .await
            .unwrap_err();
    assert_eq!(code(&err), "NoSuchVersion");

    // a plain bucket has no object lock
    e.bucket("plain").await;
    let err =
        e.s3.put_object()
            .bucket("plain")
            .key("k")
            .object_lock_mode(ObjectLockMode::Governance)
            .object_lock_retain_until_date(until)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap_err();
    assert_eq!(code(&err), "InvalidRequest");
    let err =
        e.s3.get_object_lock_configuration()
            .bucket("plain")
            .send()
            .await
            .unwrap_err();
    assert_eq!(code(&err), "ObjectLockConfigurationNotFoundError");
}

#[tokio::test]
async fn cors_rules_answer_preflights_and_decorate_responses() {
    let e = env().await;
    e.bucket("cors").await;
    let (status, _) = e
        .raw(
            "OPTIONS",
            "/cors/k",
            &[
                ("origin", "https://a.example"),
                ("access-control-request-method", "GET"),
            ],
        )
        .await;
    assert_eq!(status, 403);
    let err =
        e.s3.get_bucket_cors()
            .bucket("cors")
            .send()
            .await
            .unwrap_err();
    assert_eq!(code(&err), "NoSuchCORSConfiguration");
    let rule = CorsRule::builder()
        .allowed_origins("https://*.example")
        .allowed_methods("GET")
        .allowed_methods("PUT")
        .allowed_headers("x-amz-*")
        .expose_headers("ETag")
        .max_age_seconds(600)
        .build()
        .unwrap();
    e.s3.put_bucket_cors()
        .bucket("cors")
        .cors_configuration(
            CorsConfiguration::builder()
                .cors_rules(rule)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let got = e.s3.get_bucket_cors().bucket("cors").send().await.unwrap();
    assert_eq!(got.cors_rules()[0].max_age_seconds(), Some(600));

    let (status, h) = e
        .raw(
            "OPTIONS",
            "/cors/k",
            &[
                ("origin", "https://a.example"),
                ("access-control-request-method", "PUT"),
                ("access-control-request-headers", "X-Amz-Meta-A"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&h, "access-control-allow-origin"),
        Some("https://a.example")
    );
    assert_eq!(header(&h, "access-control-allow-methods"), Some("GET, PUT"));
    assert_eq!(
        header(&h, "access-control-allow-headers"),
        Some("x-amz-meta-a")
    );
    assert_eq!(header(&h, "access-control-max-age"), Some("600"));
    let (status, _) = e
        .raw(
            "OPTIONS",
            "/cors/k",
            &[
                ("origin", "https://a.example"),
                ("access-control-request-method", "DELETE"),
            ],
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = e
        .raw(
            "OPTIONS",
            "/cors/k",
            &[
                ("origin", "https://evil.test"),
                ("access-control-request-method", "GET"),
            ],
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = e
        .raw(
            "OPTIONS",
            "/cors/k",
            &[("access-control-request-method", "GET")],
        )
        .await;
    assert_eq!(status, 400);

    // an ordinary (here: refused, unsigned) response to a request with Origin carries the headers
    let (_, h) = e
        .raw("GET", "/cors/k", &[("origin", "https://b.example")])
        .await;
    assert_eq!(
        header(&h, "access-control-allow-origin"),
        Some("https://b.example")
    );
    assert_eq!(header(&h, "access-control-expose-headers"), Some("ETag"));

    e.s3.delete_bucket_cors()
        .bucket("cors")
        .send()
        .await
        .unwrap();
    let (status, _) = e
        .raw(
            "OPTIONS",
            "/cors/k",
            &[
                ("origin", "https://a.example"),
                ("access-control-request-method", "GET"),
            ],
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn lifecycle_rules_expire_objects_and_uploads() {
    // one "day" is a second, the sweep runs every 200 ms
    let e = env_with(LocalOptions {
        lifecycle_interval: Duration::from_millis(200),
        lifecycle_day: Duration::from_secs(1),
    })
    .await;
    e.bucket("life").await;
    let rule = |id: &str, prefix: &str| {
        LifecycleRule::builder()
            .id(id)
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
            .expiration(LifecycleExpiration::builder().days(1).build())
            .abort_incomplete_multipart_upload(
                aws_sdk_s3::types::AbortIncompleteMultipartUpload::builder()
                    .days_after_initiation(1)
                    .build(),
            )
            .build()
            .unwrap()
    };
    e.s3.put_bucket_lifecycle_configuration()
        .bucket("life")
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .rules(rule("tmp", "tmp/"))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let got =
        e.s3.get_bucket_lifecycle_configuration()
            .bucket("life")
            .send()
            .await
            .unwrap();
    assert_eq!(got.rules()[0].id(), Some("tmp"));
    let bad = LifecycleRule::builder()
        .id("bad")
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("").build())
        .expiration(LifecycleExpiration::builder().days(0).build())
        .build()
        .unwrap();
    let err =
        e.s3.put_bucket_lifecycle_configuration()
            .bucket("life")
            .lifecycle_configuration(
                BucketLifecycleConfiguration::builder()
                    .rules(bad)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap_err();
    assert_eq!(code(&err), "InvalidArgument");

    e.put("life", "tmp/a", b"a").await;
    e.put("life", "keep/b", b"b").await;
    e.s3.create_multipart_upload()
        .bucket("life")
        .key("tmp/up")
        .send()
        .await
        .unwrap();
    let mut gone = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let l = e.s3.list_objects_v2().bucket("life").send().await.unwrap();
        let u =
            e.s3.list_multipart_uploads()
                .bucket("life")
                .send()
                .await
                .unwrap();
        if l.key_count() == Some(1) && u.uploads().is_empty() {
            gone = true;
            break;
        }
    }
    assert!(gone, "tmp/a and the upload should have expired");
    assert_eq!(e.get("life", "keep/b", None).await, b"b");
    e.s3.delete_bucket_lifecycle()
        .bucket("life")
        .send()
        .await
        .unwrap();
    let err =
        e.s3.get_bucket_lifecycle_configuration()
            .bucket("life")
            .send()
            .await
            .unwrap_err();
    assert_eq!(code(&err), "NoSuchLifecycleConfiguration");
}

#[tokio::test]
async fn encryption_configuration_is_stored() {
    let e = env().await;
    e.bucket("enc").await;
    let err =
        e.s3.get_bucket_encryption()
            .bucket("enc")
            .send()
            .await
            .unwrap_err();
    assert_eq!(code(&err), "ServerSideEncryptionConfigurationNotFoundError");
    use aws_sdk_s3::types::{
        ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
        ServerSideEncryptionRule,
    };
    let conf = ServerSideEncryptionConfiguration::builder()
        .rules(
            ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(
                    ServerSideEncryptionByDefault::builder()
                        .sse_algorithm(ServerSideEncryption::Aes256)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .build()
        .unwrap();
    e.s3.put_bucket_encryption()
        .bucket("enc")
        .server_side_encryption_configuration(conf)
        .send()
        .await
        .unwrap();
    let got =
        e.s3.get_bucket_encryption()
            .bucket("enc")
            .send()
            .await
            .unwrap();
    let rule = &got.server_side_encryption_configuration().unwrap().rules()[0];
    assert_eq!(
        rule.apply_server_side_encryption_by_default()
            .unwrap()
            .sse_algorithm(),
        &ServerSideEncryption::Aes256
    );
    e.s3.delete_bucket_encryption()
        .bucket("enc")
        .send()
        .await
        .unwrap();
    let err =
        e.s3.get_bucket_encryption()
            .bucket("enc")
            .send()
            .await
            .unwrap_err();
    assert_eq!(code(&err), "ServerSideEncryptionConfigurationNotFoundError");
}

#[tokio::test]
async fn attributes_parts_and_checksums() {
    let e = env().await;
    e.bucket("attrs").await;
    let up =
        e.s3.create_multipart_upload()
            .bucket("attrs")
            .key("mp")
            .checksum_algorithm(ChecksumAlgorithm::Crc32C)
            .send()
            .await
            .unwrap();
    let id = up.upload_id().unwrap();
    let mut parts = Vec::new();
    for (n, size) in [(1, 5 * MIB), (2, 1000)] {
        let p =
            e.s3.upload_part()
                .bucket("attrs")
                .key("mp")
                .upload_id(id)
                .part_number(n)
                .checksum_algorithm(ChecksumAlgorithm::Crc32C)
                .body(ByteStream::from(vec![n as u8; size]))
                .send()
                .await
                .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(p.e_tag().unwrap())
                .checksum_crc32_c(p.checksum_crc32_c().unwrap())
                .build(),
        );
    }
    e.s3.complete_multipart_upload()
        .bucket("attrs")
        .key("mp")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let a =
        e.s3.get_object_attributes()
            .bucket("attrs")
            .key("mp")
            .object_attributes(ObjectAttributes::Etag)
            .object_attributes(ObjectAttributes::Checksum)
            .object_attributes(ObjectAttributes::ObjectParts)
            .object_attributes(ObjectAttributes::StorageClass)
            .object_attributes(ObjectAttributes::ObjectSize)
            .send()
            .await
            .unwrap();
    assert_eq!(a.object_size(), Some((5 * MIB + 1000) as i64));
    assert!(a.e_tag().unwrap().trim_matches('"').ends_with("-2"));
    assert!(a
        .checksum()
        .unwrap()
        .checksum_crc32_c()
        .unwrap()
        .ends_with("-2"));
    let p = a.object_parts().unwrap();
    assert_eq!(p.total_parts_count(), Some(2));
    assert_eq!(p.parts()[1].size(), Some(1000));
    assert!(p.parts()[0].checksum_crc32_c().is_some());
    // GET ?partNumber= serves that part's bytes
    let g =
        e.s3.get_object()
            .bucket("attrs")
            .key("mp")
            .part_number(2)
            .send()
            .await
            .unwrap();
    assert_eq!(g.content_length(), Some(1000));
    assert_eq!(g.parts_count(), Some(2));

    // every algorithm is stored and returned with x-amz-checksum-mode: ENABLED (the SDK sends
    // them as aws-chunked trailers)
    for alg in [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32C,
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ] {
        let key = format!("ck-{}", alg.as_str());
        let put =
            e.s3.put_object()
                .bucket("attrs")
                .key(&key)
                .checksum_algorithm(alg.clone())
                .body(ByteStream::from(vec![7u8; 300_000]))
                .send()
                .await
                .unwrap();
        let h =
            e.s3.head_object()
                .bucket("attrs")
                .key(&key)
                .checksum_mode(ChecksumMode::Enabled)
                .send()
                .await
                .unwrap();
        let (sent, got) = match alg {
            ChecksumAlgorithm::Crc32 => (put.checksum_crc32(), h.checksum_crc32()),
            ChecksumAlgorithm::Crc32C => (put.checksum_crc32_c(), h.checksum_crc32_c()),
            ChecksumAlgorithm::Crc64Nvme => (put.checksum_crc64_nvme(), h.checksum_crc64_nvme()),
            ChecksumAlgorithm::Sha1 => (put.checksum_sha1(), h.checksum_sha1()),
            _ => (put.checksum_sha256(), h.checksum_sha256()),
        };
        assert!(sent.is_some(), "{key}: no checksum in the PUT response");
        assert_eq!(sent, got, "{key}");
        let a =
            e.s3.get_object_attributes()
                .bucket("attrs")
                .key(&key)
                .object_attributes(ObjectAttributes::Checksum)
                .send()
                .await
                .unwrap();
        assert!(
            a.checksum().is_some(),
            "{key}: GetObjectAttributes has no checksum"
        );
    }
}

// ----- the quick start with real clients -------------------------------------------------------

fn ready(bin: &str) {
    assert!(
        Command::new(bin).arg("--version").output().is_ok(),
        "{bin} is not installed (.ci/run installs it)"
    );
}

/// `aws s3 cp` of a 12 MiB object (multipart; aws-cli then reads tagging for the copy back)
/// and rclone copy/purge (which reads bucket versioning) through the quick start.
#[tokio::test(flavor = "multi_thread")]
async fn aws_cli_and_rclone_on_the_quick_start() {
    ready("/usr/bin/aws");
    ready("rclone");
    let o = Osprey::start(LOCAL_CONFIG);
    let osis = Osis::new(o.osis());
    let t = osis.tenant("clis-t", "clis-org").await;
    let (_, ak, sk) = osis.user(&t, "clis-org", "alice").await;
    let work = tempfile::tempdir().unwrap();
    let big = work.path().join("big.bin");
    let data: Vec<u8> = (0..12 * MIB).map(|i| (i % 251) as u8).collect();
    std::fs::write(&big, &data).unwrap();
    let aws = |args: &[&str]| {
        let out = Command::new("/usr/bin/aws")
            .args(["--endpoint-url", &o.s3()])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", &ak)
            .env("AWS_SECRET_ACCESS_KEY", &sk)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", work.path().join("none"))
            .env("AWS_SHARED_CREDENTIALS_FILE", work.path().join("none"))
            .env("AWS_PAGER", "")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "aws {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            o.logs()
        );
        out.stdout
    };
    aws(&["s3", "mb", "s3://clis-bkt"]);
    aws(&["s3", "cp", big.to_str().unwrap(), "s3://clis-bkt/big.bin"]);
    // a server-side copy of a > 8 MiB object reads GetObjectTagging (issue 11's report)
    aws(&[
        "s3",
        "cp",
        "s3://clis-bkt/big.bin",
        "s3://clis-bkt/big-copy.bin",
    ]);
    let back = work.path().join("back.bin");
    aws(&[
        "s3",
        "cp",
        "s3://clis-bkt/big-copy.bin",
        back.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&back).unwrap(), data);

    let rc = |args: &[&str]| {
        let out = Command::new("rclone")
            .args(["--retries", "1", "--low-level-retries", "1"])
            .args(args)
            .env_remove("AWS_CA_BUNDLE")
            .env("RCLONE_CONFIG", work.path().join("rclone.conf"))
            .env("RCLONE_CONFIG_OSP_TYPE", "s3")
            .env("RCLONE_CONFIG_OSP_PROVIDER", "Other")
            .env("RCLONE_CONFIG_OSP_ACCESS_KEY_ID", &ak)
            .env("RCLONE_CONFIG_OSP_SECRET_ACCESS_KEY", &sk)
            .env("RCLONE_CONFIG_OSP_ENDPOINT", o.s3())
            .env("RCLONE_CONFIG_OSP_REGION", "us-east-1")
            .env("RCLONE_CONFIG_OSP_FORCE_PATH_STYLE", "true")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(
            out.status.success(),
            "rclone {args:?}: {stderr}\n{}",
            o.logs()
        );
        stderr
    };
    std::fs::write(work.path().join("rclone.conf"), "").unwrap();
    rc(&["copy", big.to_str().unwrap(), "osp:clis-rclone/"]);
    let log = rc(&["purge", "-v", "osp:clis-rclone"]);
    assert!(!log.contains("not implemented"), "{log}");
    let out = aws(&["s3api", "list-buckets", "--query", "Buckets[].Name"]);
    assert!(!String::from_utf8_lossy(&out).contains("clis-rclone"));
}

/// A repeated CompleteMultipartUpload answers as the first did (S3 and RGW do; s3-tests
/// `test_multipart_upload` completes twice): before, the second got NoSuchUpload. Another
/// upload id still gets NoSuchUpload.
#[tokio::test]
async fn repeated_complete_multipart_upload_answers_again() {
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
    let env = env().await;
    env.s3.create_bucket().bucket("mpu").send().await.unwrap();
    let up = env
        .s3
        .create_multipart_upload()
        .bucket("mpu")
        .key("big")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap().to_string();
    let part = env
        .s3
        .upload_part()
        .bucket("mpu")
        .key("big")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from(vec![7u8; 1024]))
        .send()
        .await
        .unwrap();
    let done = CompletedMultipartUpload::builder()
        .parts(
            CompletedPart::builder()
                .part_number(1)
                .e_tag(part.e_tag().unwrap())
                .build(),
        )
        .build();
    let complete = || {
        env.s3
            .complete_multipart_upload()
            .bucket("mpu")
            .key("big")
            .upload_id(&id)
            .multipart_upload(done.clone())
            .send()
    };
    let first = complete().await.unwrap();
    let again = complete().await.unwrap();
    assert_eq!(first.e_tag(), again.e_tag());
    let other = env
        .s3
        .complete_multipart_upload()
        .bucket("mpu")
        .key("big")
        .upload_id("0123456789abcdef0123456789abcdef")
        .multipart_upload(done.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&other), "NoSuchUpload");
}

// ----- SSE-S3 at rest (issue 11) -------------------------------------------------------------

const SSE_KEY: [u8; 32] = [42; 32];
/// Segment size of the encrypted layout (store/sse.rs `SEGMENT_SIZE`).
const SEG: usize = 64 * 1024;

async fn env_keyed(key: Option<[u8; 32]>) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start_with_key(
        &dir.path().join("data"),
        AK,
        SK,
        REGION,
        LocalOptions::default(),
        key,
    )
    .await
    .unwrap();
    let conf = aws_sdk_s3::config::Builder::new()
        .endpoint_url(format!("http://{}", server.addr()))
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(AK, SK, None, None, "test"))
        .force_path_style(true)
        .behavior_version_latest()
        .build();
    Env {
        _dir: dir,
        server,
        s3: Client::from_conf(conf),
    }
}

/// Recognisable plaintext: a marker and a counter, so any plaintext run on disk is found.
fn sse_plaintext(len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len + 64);
    let mut i = 0u64;
    while v.len() < len {
        v.extend_from_slice(format!("PLAINTEXT-MARKER-{i:08}|").as_bytes());
        i += 1;
    }
    v.truncate(len);
    v
}

impl Env {
    fn blob_files(&self, bucket: &str) -> Vec<Vec<u8>> {
        let dir = self._dir.path().join("data").join(bucket).join("blob");
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| std::fs::read(e.unwrap().path()).unwrap())
            .collect()
    }

    fn plaintext_on_disk(&self, bucket: &str) -> bool {
        self.blob_files(bucket)
            .iter()
            .any(|b| b.windows(16).any(|w| w == b"PLAINTEXT-MARKER"))
    }

    async fn default_sse(&self, bucket: &str) {
        use aws_sdk_s3::types::{
            ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
            ServerSideEncryptionRule,
        };
        let conf = ServerSideEncryptionConfiguration::builder()
            .rules(
                ServerSideEncryptionRule::builder()
                    .apply_server_side_encryption_by_default(
                        ServerSideEncryptionByDefault::builder()
                            .sse_algorithm(ServerSideEncryption::Aes256)
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .build()
            .unwrap();
        self.s3
            .put_bucket_encryption()
            .bucket(bucket)
            .server_side_encryption_configuration(conf)
            .send()
            .await
            .unwrap();
    }

    async fn range(&self, bucket: &str, key: &str, range: &str) -> Vec<u8> {
        let out = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .range(range)
            .send()
            .await
            .unwrap();
        assert_eq!(
            out.server_side_encryption(),
            Some(&aws_sdk_s3::types::ServerSideEncryption::Aes256)
        );
        out.body.collect().await.unwrap().into_bytes().to_vec()
    }
}

#[tokio::test]
async fn sse_s3_objects_are_encrypted_at_rest() {
    use aws_sdk_s3::types::ServerSideEncryption;
    let e = env_keyed(Some(SSE_KEY)).await;
    e.bucket("sse").await;
    let data = sse_plaintext(3 * SEG + 1234);
    let put =
        e.s3.put_object()
            .bucket("sse")
            .key("obj")
            .server_side_encryption(ServerSideEncryption::Aes256)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
    assert_eq!(
        put.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    let md5 = format!(
        "\"{}\"",
        hex::encode(<md5::Md5 as md5::Digest>::digest(&data))
    );
    assert_eq!(
        put.e_tag(),
        Some(md5.as_str()),
        "ETag is the plaintext's MD5"
    );
    assert!(!e.plaintext_on_disk("sse"), "blob holds plaintext");

    let got =
        e.s3.get_object()
            .bucket("sse")
            .key("obj")
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
    assert_eq!(
        got.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    assert_eq!(got.content_length(), Some(data.len() as i64));
    assert!(got.checksum_crc32().is_some());
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().to_vec(),
        data
    );
    let head =
        e.s3.head_object()
            .bucket("sse")
            .key("obj")
            .send()
            .await
            .unwrap();
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    assert_eq!(head.content_length(), Some(data.len() as i64));

    let n = data.len();
    for (range, want) in [
        ("bytes=0-0".to_owned(), &data[..1]),
        (format!("bytes={}-{}", SEG - 1, SEG), &data[SEG - 1..=SEG]),
        (
            format!("bytes={}-{}", SEG, 2 * SEG - 1),
            &data[SEG..2 * SEG],
        ),
        (
            format!("bytes=10-{}", 2 * SEG + 10),
            &data[10..=2 * SEG + 10],
        ),
        (format!("bytes={}-", n - 1), &data[n - 1..]),
        ("bytes=-1300".to_owned(), &data[n - 1300..]),
        (
            format!("bytes={}-{}", 3 * SEG - 5, n + 100),
            &data[3 * SEG - 5..],
        ),
    ] {
        assert_eq!(e.range("sse", "obj", &range).await, want, "{range}");
    }
    let etag = head.e_tag().unwrap().to_owned();
    let err =
        e.s3.get_object()
            .bucket("sse")
            .key("obj")
            .if_none_match(&etag)
            .send()
            .await
            .unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(304));

    // the bucket's default encryption, no header
    e.bucket("dflt").await;
    e.default_sse("dflt").await;
    let put =
        e.s3.put_object()
            .bucket("dflt")
            .key("k")
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
    assert_eq!(
        put.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    assert!(!e.plaintext_on_disk("dflt"));
    assert_eq!(e.get("dflt", "k", None).await, data);
    // empty objects too
    e.put("dflt", "empty", b"").await;
    assert_eq!(e.get("dflt", "empty", None).await, b"");

    // an unencrypted bucket stays plaintext, and reports no encryption
    e.bucket("plain").await;
    e.put("plain", "k", &data).await;
    assert!(e.plaintext_on_disk("plain"));
    let got =
        e.s3.get_object()
            .bucket("plain")
            .key("k")
            .send()
            .await
            .unwrap();
    assert_eq!(got.server_side_encryption(), None);

    // versions keep their encryption
    e.versioning("dflt", BucketVersioningStatus::Enabled).await;
    let v1 = e.put("dflt", "v", b"first version").await.unwrap();
    e.put("dflt", "v", b"second version").await;
    assert_eq!(e.get("dflt", "v", Some(&v1)).await, b"first version");
    assert_eq!(e.get("dflt", "v", None).await, b"second version");
    let attrs =
        e.s3.get_object_attributes()
            .bucket("dflt")
            .key("k")
            .object_attributes(ObjectAttributes::ObjectSize)
            .object_attributes(ObjectAttributes::Etag)
            .send()
            .await
            .unwrap();
    assert_eq!(attrs.object_size(), Some(data.len() as i64));
}

#[tokio::test]
async fn sse_s3_copies_follow_the_destination() {
    use aws_sdk_s3::types::ServerSideEncryption;
    let e = env_keyed(Some(SSE_KEY)).await;
    e.bucket("enc").await;
    e.default_sse("enc").await;
    e.bucket("plain").await;
    let data = sse_plaintext(2 * SEG + 99);
    e.put("enc", "src", &data).await;

    let out =
        e.s3.copy_object()
            .bucket("plain")
            .key("copy")
            .copy_source("enc/src")
            .send()
            .await
            .unwrap();
    assert_eq!(out.server_side_encryption(), None);
    assert!(
        e.plaintext_on_disk("plain"),
        "decrypted into the plain bucket"
    );
    assert_eq!(e.get("plain", "copy", None).await, data);

    let out =
        e.s3.copy_object()
            .bucket("enc")
            .key("back")
            .copy_source("plain/copy")
            .send()
            .await
            .unwrap();
    assert_eq!(
        out.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    assert_eq!(e.get("enc", "back", None).await, data);
    assert!(!e.plaintext_on_disk("enc"));

    // an explicit header encrypts into a plain bucket, also copying an object onto itself
    let out =
        e.s3.copy_object()
            .bucket("plain")
            .key("copy")
            .copy_source("plain/copy")
            .server_side_encryption(ServerSideEncryption::Aes256)
            .send()
            .await
            .unwrap();
    assert_eq!(
        out.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    assert_eq!(
        e.range("plain", "copy", "bytes=100-70000").await,
        &data[100..=70000]
    );
}

#[tokio::test]
async fn sse_s3_multipart_upload() {
    use aws_sdk_s3::types::ServerSideEncryption;
    let e = env_keyed(Some(SSE_KEY)).await;
    e.bucket("mpu-sse").await;
    e.default_sse("mpu-sse").await;
    let src = sse_plaintext(3 * SEG + 5);
    e.put("mpu-sse", "src", &src).await;
    let up =
        e.s3.create_multipart_upload()
            .bucket("mpu-sse")
            .key("big")
            .server_side_encryption(ServerSideEncryption::Aes256)
            .send()
            .await
            .unwrap();
    assert_eq!(
        up.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    let id = up.upload_id().unwrap().to_owned();
    let part1 = sse_plaintext(5 * MIB + 3);
    let p1 =
        e.s3.upload_part()
            .bucket("mpu-sse")
            .key("big")
            .upload_id(&id)
            .part_number(1)
            .body(ByteStream::from(part1.clone()))
            .send()
            .await
            .unwrap();
    assert_eq!(
        p1.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    // part 2 copied from an encrypted source, across its segment boundaries
    let (a, b) = (SEG - 10, 2 * SEG + 20);
    let p2 =
        e.s3.upload_part_copy()
            .bucket("mpu-sse")
            .key("big")
            .upload_id(&id)
            .part_number(2)
            .copy_source("mpu-sse/src")
            .copy_source_range(format!("bytes={a}-{b}"))
            .send()
            .await
            .unwrap();
    let part2 = &src[a..=b];
    let uploads = e._dir.path().join("data/mpu-sse/uploads").join(&id);
    for f in std::fs::read_dir(&uploads).unwrap() {
        let bytes = std::fs::read(f.unwrap().path()).unwrap();
        assert!(
            !bytes.windows(16).any(|w| w == b"PLAINTEXT-MARKER"),
            "part stored in plaintext"
        );
    }
    let done =
        e.s3.complete_multipart_upload()
            .bucket("mpu-sse")
            .key("big")
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .parts(
                        CompletedPart::builder()
                            .part_number(1)
                            .e_tag(p1.e_tag().unwrap())
                            .build(),
                    )
                    .parts(
                        CompletedPart::builder()
                            .part_number(2)
                            .e_tag(p2.copy_part_result().unwrap().e_tag().unwrap())
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
    assert_eq!(
        done.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    assert!(!e.plaintext_on_disk("mpu-sse"));
    let mut whole = part1.clone();
    whole.extend_from_slice(part2);
    assert_eq!(e.get("mpu-sse", "big", None).await, whole);
    for (n, want) in [(1, &part1[..]), (2, part2)] {
        let got =
            e.s3.get_object()
                .bucket("mpu-sse")
                .key("big")
                .part_number(n)
                .send()
                .await
                .unwrap();
        assert_eq!(
            got.server_side_encryption(),
            Some(&ServerSideEncryption::Aes256)
        );
        assert_eq!(
            got.body.collect().await.unwrap().into_bytes().to_vec(),
            want,
            "part {n}"
        );
    }
    let cross = format!("bytes={}-{}", part1.len() - 7, part1.len() + 7);
    assert_eq!(
        e.range("mpu-sse", "big", &cross).await,
        &whole[part1.len() - 7..=part1.len() + 7]
    );
}

#[tokio::test]
async fn sse_requests_without_a_key_or_other_kinds_are_refused() {
    use aws_sdk_s3::types::ServerSideEncryption;
    let e = env().await;
    e.bucket("nokey").await;
    let err =
        e.s3.put_object()
            .bucket("nokey")
            .key("k")
            .server_side_encryption(ServerSideEncryption::Aes256)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap_err();
    assert_eq!(code(&err), "NotImplemented");
    let msg = err
        .as_service_error()
        .and_then(|s| s.message())
        .unwrap_or("");
    assert!(msg.contains("without an encryption key"), "{msg}");
    // a default encryption is stored, but no plaintext is written under it
    e.default_sse("nokey").await;
    let err =
        e.s3.put_object()
            .bucket("nokey")
            .key("k")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap_err();
    assert_eq!(code(&err), "NotImplemented");

    let e = env_keyed(Some(SSE_KEY)).await;
    e.bucket("kms").await;
    let err =
        e.s3.put_object()
            .bucket("kms")
            .key("k")
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap_err();
    assert_eq!(code(&err), "NotImplemented");
    let msg = err
        .as_service_error()
        .and_then(|s| s.message())
        .unwrap_or("");
    assert!(msg.contains("SSE-KMS"), "{msg}");
}

#[tokio::test]
async fn sse_tampered_blobs_never_return_wrong_bytes() {
    use aws_sdk_s3::types::ServerSideEncryption;
    let e = env_keyed(Some(SSE_KEY)).await;
    e.bucket("tamper").await;
    e.default_sse("tamper").await;
    e.put("tamper", "small", b"a small secret").await;
    let blob_dir = e._dir.path().join("data/tamper/blob");
    let flip = |offset: usize| {
        let path = std::fs::read_dir(&blob_dir)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[offset] ^= 0x01;
        std::fs::write(&path, bytes).unwrap();
    };
    flip(3);
    let err =
        e.s3.get_object()
            .bucket("tamper")
            .key("small")
            .send()
            .await
            .unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(500));

    e.s3.delete_object()
        .bucket("tamper")
        .key("small")
        .send()
        .await
        .unwrap();
    let data = sse_plaintext(3 * SEG);
    e.s3.put_object()
        .bucket("tamper")
        .key("big")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    flip(SEG + 100); // in the second segment
                     // the first segment is intact: the body starts, then fails instead of sending bad bytes
    match e.s3.get_object().bucket("tamper").key("big").send().await {
        Err(_) => {}
        Ok(out) => assert!(
            out.body.collect().await.is_err(),
            "tampered data was returned"
        ),
    }
    // a range within the intact segment still reads
    assert_eq!(e.range("tamper", "big", "bytes=0-99").await, &data[..100]);
    let err =
        e.s3.get_object()
            .bucket("tamper")
            .key("big")
            .range(format!("bytes={}-{}", SEG + 1, SEG + 2))
            .send()
            .await
            .unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(500));
}

fn client_for(addr: std::net::SocketAddr) -> Client {
    let conf = aws_sdk_s3::config::Builder::new()
        .endpoint_url(format!("http://{addr}"))
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(AK, SK, None, None, "test"))
        .force_path_style(true)
        .behavior_version_latest()
        .build();
    Client::from_conf(conf)
}

#[tokio::test]
async fn sse_data_directories_across_restarts() {
    use aws_sdk_s3::types::ServerSideEncryption;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let start = |key: Option<[u8; 32]>| {
        let root = root.clone();
        async move {
            LocalServer::start_with_key(&root, AK, SK, REGION, LocalOptions::default(), key)
                .await
                .unwrap()
        }
    };
    let body = |c: Client, key: &'static str| async move {
        let out = c.get_object().bucket("keep").key(key).send().await?;
        Ok::<_, SdkError<_, _>>(out.body.collect().await.unwrap().into_bytes().to_vec())
    };

    // written before the store had a key: read unchanged once it has one
    let s = start(None).await;
    let c = client_for(s.addr());
    c.create_bucket().bucket("keep").send().await.unwrap();
    c.put_object()
        .bucket("keep")
        .key("old")
        .body(ByteStream::from_static(b"written before SSE"))
        .send()
        .await
        .unwrap();
    s.shutdown().await;

    let s = start(Some(SSE_KEY)).await;
    let c = client_for(s.addr());
    assert_eq!(body(c.clone(), "old").await.unwrap(), b"written before SSE");
    c.put_object()
        .bucket("keep")
        .key("new")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from_static(b"written under SSE"))
        .send()
        .await
        .unwrap();
    s.shutdown().await;

    // without the key: plain objects still read, encrypted ones answer 500 with the reason
    let s = start(None).await;
    let c = client_for(s.addr());
    assert_eq!(body(c.clone(), "old").await.unwrap(), b"written before SSE");
    let head = c
        .head_object()
        .bucket("keep")
        .key("new")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    let err = body(c.clone(), "new").await.unwrap_err();
    assert_eq!(code(&err), "InternalError");
    let msg = err
        .as_service_error()
        .and_then(|s| s.message())
        .unwrap_or("");
    assert!(msg.contains("without its encryption key"), "{msg}");
    s.shutdown().await;

    // under another key: refused, never garbage
    let s = start(Some([7; 32])).await;
    let c = client_for(s.addr());
    let err = body(c.clone(), "new").await.unwrap_err();
    assert_eq!(code(&err), "InternalError");
    s.shutdown().await;

    let s = start(Some(SSE_KEY)).await;
    assert_eq!(
        body(client_for(s.addr()), "new").await.unwrap(),
        b"written under SSE"
    );
    s.shutdown().await;
}

/// Every file under `dir`, recursively.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Through the gateway: the local backend has a store key (`<data_dir>/local/sse.key`, 0600),
/// PUT with `x-amz-server-side-encryption: AES256` is stored encrypted and GET answers with the
/// header and the plaintext.
#[tokio::test(flavor = "multi_thread")]
async fn sse_s3_through_the_gateway() {
    use aws_sdk_s3::types::ServerSideEncryption;
    let o = Osprey::start(LOCAL_CONFIG);
    let osis = Osis::new(o.osis());
    let t = osis.tenant("sse-t", "sse-org").await;
    let (_, ak, sk) = osis.user(&t, "sse-org", "alice").await;
    let c = common::s3_client(&o.s3(), &ak, &sk, REGION);
    c.create_bucket().bucket("sse-gw").send().await.unwrap();
    let data = sse_plaintext(2 * SEG + 7);
    let put = c
        .put_object()
        .bucket("sse-gw")
        .key("k")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        put.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256),
        "{}",
        o.logs()
    );
    let got = c
        .get_object()
        .bucket("sse-gw")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().to_vec(),
        data
    );

    // the bucket default through the gateway, too
    use aws_sdk_s3::types::{
        ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    };
    let conf = ServerSideEncryptionConfiguration::builder()
        .rules(
            ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(
                    ServerSideEncryptionByDefault::builder()
                        .sse_algorithm(ServerSideEncryption::Aes256)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .build()
        .unwrap();
    c.put_bucket_encryption()
        .bucket("sse-gw")
        .server_side_encryption_configuration(conf)
        .send()
        .await
        .unwrap();
    let put = c
        .put_object()
        .bucket("sse-gw")
        .key("dflt")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        put.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );

    let local = o.data_dir().join("local");
    let key_file = local.join("sse.key");
    assert_eq!(std::fs::metadata(&key_file).unwrap().len(), 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let blobs: Vec<_> = files_under(&local)
        .into_iter()
        .filter(|p| p.parent().is_some_and(|d| d.ends_with("blob")))
        .collect();
    assert!(!blobs.is_empty());
    for b in blobs {
        let bytes = std::fs::read(&b).unwrap();
        assert!(
            !bytes.windows(16).any(|w| w == b"PLAINTEXT-MARKER"),
            "{b:?}"
        );
    }
}

/// Lifecycle expiry removes encrypted objects (sidecar and blob) like any other.
#[tokio::test]
async fn sse_objects_expire_by_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let options = LocalOptions {
        lifecycle_interval: Duration::from_millis(200),
        lifecycle_day: Duration::from_secs(1),
    };
    let server = LocalServer::start_with_key(
        &dir.path().join("data"),
        AK,
        SK,
        REGION,
        options,
        Some(SSE_KEY),
    )
    .await
    .unwrap();
    let e = Env {
        s3: client_for(server.addr()),
        _dir: dir,
        server,
    };
    e.bucket("life-sse").await;
    e.default_sse("life-sse").await;
    e.s3.put_bucket_lifecycle_configuration()
        .bucket("life-sse")
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .rules(
                    LifecycleRule::builder()
                        .id("all")
                        .status(ExpirationStatus::Enabled)
                        .filter(LifecycleRuleFilter::builder().prefix("").build())
                        .expiration(LifecycleExpiration::builder().days(1).build())
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    e.put("life-sse", "k", &sse_plaintext(SEG + 1)).await;
    assert_eq!(e.blob_files("life-sse").len(), 1);
    assert!(!e.plaintext_on_disk("life-sse"));
    let mut gone = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let l =
            e.s3.list_objects_v2()
                .bucket("life-sse")
                .send()
                .await
                .unwrap();
        if l.key_count() == Some(0) && e.blob_files("life-sse").is_empty() {
            gone = true;
            break;
        }
    }
    assert!(
        gone,
        "the encrypted object should have expired with its blob"
    );
}
