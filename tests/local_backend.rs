//! End-to-end tests of the embedded local backend through aws-sdk-s3 (what the gateway's own
//! integration tests will do, minus the gateway).

use std::collections::BTreeSet;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_s3::config::Region;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart, Delete,
    MetadataDirective, ObjectIdentifier,
};
use aws_sdk_s3::Client;
use osprey::embedded::LocalServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const AK: &str = "osprey-local-ak";
const SK: &str = "osprey-local-secret-key-0123456789";
const REGION: &str = "osprey-1";
const MIB: usize = 1024 * 1024;

fn client(server: &LocalServer, ak: &str, sk: &str) -> Client {
    let conf = aws_sdk_s3::config::Builder::new()
        .endpoint_url(format!("http://{}", server.addr()))
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(ak, sk, None, None, "test"))
        .force_path_style(true)
        .behavior_version_latest()
        .build();
    Client::from_conf(conf)
}

struct Env {
    dir: tempfile::TempDir,
    server: LocalServer,
    s3: Client,
}

impl Env {
    async fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let server = LocalServer::start(&dir.path().join("data"), AK, SK, REGION)
            .await
            .unwrap();
        let s3 = client(&server, AK, SK);
        Env { dir, server, s3 }
    }

    fn root(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    async fn bucket(&self, name: &str) {
        self.s3.create_bucket().bucket(name).send().await.unwrap();
    }

    async fn put(&self, bucket: &str, key: &str, body: &[u8]) -> String {
        let out = self
            .s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await
            .unwrap();
        out.e_tag().unwrap().to_owned()
    }

    async fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        let out = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        out.body.collect().await.unwrap().into_bytes().to_vec()
    }

    /// A presigned GET URL, for raw requests whose exact status code and headers matter.
    async fn presigned_get(&self, bucket: &str, key: &str) -> String {
        let cfg = PresigningConfig::expires_in(Duration::from_secs(600)).unwrap();
        let req = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .presigned(cfg)
            .await
            .unwrap();
        req.uri().to_owned()
    }
}

fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> String {
    e.as_service_error()
        .and_then(|s| s.code())
        .unwrap_or("<none>")
        .to_owned()
}

fn status<E>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> u16 {
    e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0)
}

fn md5_hex(data: &[u8]) -> String {
    use s3s::crypto::Checksum as _;
    hex::encode(s3s::crypto::Md5::checksum(data))
}

/// Minimal HTTP/1.1 GET over loopback: (status, lower-cased headers, body).
async fn raw_get(url: &str, headers: &[(&str, &str)]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let rest = url.strip_prefix("http://").unwrap();
    let (authority, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = tokio::net::TcpStream::connect(authority).await.unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let body = raw[split + 4..].to_vec();
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
    (status, hdrs, body)
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[tokio::test]
async fn bucket_lifecycle() {
    let env = Env::new().await;
    env.bucket("alpha").await;
    env.bucket("beta").await;
    env.s3.head_bucket().bucket("alpha").send().await.unwrap();

    // re-creating one's own bucket succeeds (us-east-1 and RGW, the parity baseline; issue 11)
    env.s3.create_bucket().bucket("alpha").send().await.unwrap();

    let names: Vec<String> = env
        .s3
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .iter()
        .map(|b| b.name().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["alpha", "beta"]);

    env.put("alpha", "k", b"v").await;
    let err = env
        .s3
        .delete_bucket()
        .bucket("alpha")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "BucketNotEmpty");
    env.s3
        .delete_object()
        .bucket("alpha")
        .key("k")
        .send()
        .await
        .unwrap();
    env.s3.delete_bucket().bucket("alpha").send().await.unwrap();

    let err = env
        .s3
        .head_bucket()
        .bucket("alpha")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 404);
    let err = env
        .s3
        .delete_bucket()
        .bucket("alpha")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NoSuchBucket");
    let err = env
        .s3
        .list_objects_v2()
        .bucket("alpha")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NoSuchBucket");
    let err = env
        .s3
        .put_object()
        .bucket("alpha")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NoSuchBucket");

    let err = env
        .s3
        .create_bucket()
        .bucket("Bad_Name")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidBucketName");

    // A deleted bucket can be created again, empty.
    env.bucket("alpha").await;
    let listed = env
        .s3
        .list_objects_v2()
        .bucket("alpha")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.key_count(), Some(0));
    env.server.shutdown().await;
}

#[tokio::test]
async fn bucket_location() {
    let env = Env::new().await;
    env.bucket("loc").await;
    let out = env
        .s3
        .get_bucket_location()
        .bucket("loc")
        .send()
        .await
        .unwrap();
    assert_eq!(out.location_constraint().map(|c| c.as_str()), Some(REGION));
    let head = env.s3.head_bucket().bucket("loc").send().await.unwrap();
    assert_eq!(head.bucket_region(), Some(REGION));
    let err = env
        .s3
        .get_bucket_location()
        .bucket("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NoSuchBucket");
}

#[tokio::test]
async fn object_round_trip_with_metadata() {
    let env = Env::new().await;
    env.bucket("bkt-b").await;
    let body = data(100_000, 7);
    let put = env
        .s3
        .put_object()
        .bucket("bkt-b")
        .key("dir/file.bin")
        .content_type("application/x-test")
        .cache_control("max-age=60")
        .content_disposition("attachment")
        .metadata("color", "blue")
        .metadata("Mixed-Case", "Value with spaces")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    let etag = format!("\"{}\"", md5_hex(&body));
    assert_eq!(put.e_tag(), Some(etag.as_str()));

    let got = env
        .s3
        .get_object()
        .bucket("bkt-b")
        .key("dir/file.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(got.e_tag(), Some(etag.as_str()));
    assert_eq!(got.content_type(), Some("application/x-test"));
    assert_eq!(got.cache_control(), Some("max-age=60"));
    assert_eq!(got.content_disposition(), Some("attachment"));
    // aws-chunked is a transfer detail and must not be stored as the object's encoding.
    assert_eq!(got.content_encoding(), None);
    assert_eq!(got.content_length(), Some(100_000));
    let meta = got.metadata().unwrap();
    assert_eq!(meta.get("color").map(String::as_str), Some("blue"));
    assert_eq!(
        meta.get("mixed-case").map(String::as_str),
        Some("Value with spaces")
    );
    assert!(got.last_modified().is_some());
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        body.as_slice()
    );

    let head = env
        .s3
        .head_object()
        .bucket("bkt-b")
        .key("dir/file.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(head.e_tag(), Some(etag.as_str()));
    assert_eq!(head.content_length(), Some(100_000));
    assert_eq!(head.content_type(), Some("application/x-test"));
    assert_eq!(
        head.metadata().unwrap().get("color").map(String::as_str),
        Some("blue")
    );

    // Overwrite replaces data and metadata.
    env.put("bkt-b", "dir/file.bin", b"short").await;
    let head = env
        .s3
        .head_object()
        .bucket("bkt-b")
        .key("dir/file.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(5));
    assert!(head.metadata().is_none_or(|m| m.is_empty()));
    // The SDK sends application/octet-stream when no type is given.
    assert_eq!(head.content_type(), Some("application/octet-stream"));

    // Empty object.
    env.put("bkt-b", "empty", b"").await;
    assert_eq!(env.get("bkt-b", "empty").await, b"");
    let head = env
        .s3
        .head_object()
        .bucket("bkt-b")
        .key("empty")
        .send()
        .await
        .unwrap();
    assert_eq!(head.e_tag(), Some("\"d41d8cd98f00b204e9800998ecf8427e\""));

    env.s3
        .delete_object()
        .bucket("bkt-b")
        .key("dir/file.bin")
        .send()
        .await
        .unwrap();
    let err = env
        .s3
        .get_object()
        .bucket("bkt-b")
        .key("dir/file.bin")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NoSuchKey");
    let err = env
        .s3
        .head_object()
        .bucket("bkt-b")
        .key("dir/file.bin")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 404);
    // Deleting a missing key succeeds, as on S3.
    env.s3
        .delete_object()
        .bucket("bkt-b")
        .key("dir/file.bin")
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn hostile_and_unusual_keys_stay_inside_root() {
    let env = Env::new().await;
    env.bucket("keys").await;
    let long = "k".repeat(1024);
    let long_unicode = "é".repeat(512);
    let keys = [
        "../../escape",
        "a/../../../b",
        "/absolute",
        "..",
        ".",
        "a//b",
        "trailing/",
        "with space+plus&amp",
        "ünïcødé/日本語",
        "UPPER",
        "upper",
        "%2e%2e",
        "back\\slash",
        long.as_str(),
        long_unicode.as_str(),
    ];
    for (i, key) in keys.iter().enumerate() {
        env.put("keys", key, format!("value-{i}").as_bytes()).await;
    }
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(
            env.get("keys", key).await,
            format!("value-{i}").as_bytes(),
            "{key}"
        );
    }
    let listed: BTreeSet<String> = env
        .s3
        .list_objects_v2()
        .bucket("keys")
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .map(|o| o.key().unwrap().to_owned())
        .collect();
    let expected: BTreeSet<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    assert_eq!(listed, expected);

    // Nothing was written next to the data directory.
    let siblings: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(siblings, [std::ffi::OsString::from("data")]);

    let too_long = "k".repeat(1025);
    let err = env
        .s3
        .put_object()
        .bucket("keys")
        .key(&too_long)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 400, "{err:?}");
}

#[tokio::test]
async fn delete_objects_batch() {
    let env = Env::new().await;
    env.bucket("bkt-b").await;
    for k in ["a", "b", "c"] {
        env.put("bkt-b", k, b"x").await;
    }
    let ids = ["a", "b", "missing"].map(|k| ObjectIdentifier::builder().key(k).build().unwrap());
    let out = env
        .s3
        .delete_objects()
        .bucket("bkt-b")
        .delete(
            Delete::builder()
                .set_objects(Some(ids.to_vec()))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let deleted: BTreeSet<&str> = out.deleted().iter().filter_map(|d| d.key()).collect();
    assert_eq!(deleted, BTreeSet::from(["a", "b", "missing"]));
    assert!(out.errors().is_empty());
    let left: Vec<String> = env
        .s3
        .list_objects_v2()
        .bucket("bkt-b")
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .map(|o| o.key().unwrap().to_owned())
        .collect();
    assert_eq!(left, ["c"]);

    let out = env
        .s3
        .delete_objects()
        .bucket("bkt-b")
        .delete(
            Delete::builder()
                .objects(ObjectIdentifier::builder().key("c").build().unwrap())
                .quiet(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert!(out.deleted().is_empty());
    let err = env
        .s3
        .head_object()
        .bucket("bkt-b")
        .key("c")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 404);
}

const TREE: [&str; 9] = [
    "a.txt",
    "dir/1",
    "dir/2",
    "dir/sub/3",
    "dir2/x",
    "e",
    "f/g/h",
    "f/i",
    "z",
];

async fn tree(env: &Env) {
    env.bucket("tree").await;
    for k in TREE {
        env.put("tree", k, k.as_bytes()).await;
    }
}

#[tokio::test]
async fn list_objects_v1_paging() {
    let env = Env::new().await;
    tree(&env).await;

    // Plain paging with max-keys and marker.
    let mut marker: Option<String> = None;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let out = env
            .s3
            .list_objects()
            .bucket("tree")
            .max_keys(4)
            .set_marker(marker.clone())
            .send()
            .await
            .unwrap();
        pages += 1;
        seen.extend(out.contents().iter().map(|o| o.key().unwrap().to_owned()));
        if out.is_truncated() != Some(true) {
            break;
        }
        marker = Some(out.next_marker().unwrap().to_owned());
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, TREE);

    // Delimiter: common prefixes count towards max-keys, and NextMarker resumes after them.
    let out = env
        .s3
        .list_objects()
        .bucket("tree")
        .delimiter("/")
        .max_keys(2)
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = out.contents().iter().map(|o| o.key().unwrap()).collect();
    let cps: Vec<_> = out
        .common_prefixes()
        .iter()
        .map(|c| c.prefix().unwrap())
        .collect();
    assert_eq!((keys, cps), (vec!["a.txt"], vec!["dir/"]));
    assert_eq!(out.is_truncated(), Some(true));
    assert_eq!(out.next_marker(), Some("dir/"));
    let out = env
        .s3
        .list_objects()
        .bucket("tree")
        .delimiter("/")
        .marker("dir/")
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = out.contents().iter().map(|o| o.key().unwrap()).collect();
    let cps: Vec<_> = out
        .common_prefixes()
        .iter()
        .map(|c| c.prefix().unwrap())
        .collect();
    assert_eq!(keys, ["e", "z"]);
    assert_eq!(cps, ["dir2/", "f/"]);
    assert_eq!(out.is_truncated(), Some(false));

    // Prefix + delimiter.
    let out = env
        .s3
        .list_objects()
        .bucket("tree")
        .prefix("dir/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = out.contents().iter().map(|o| o.key().unwrap()).collect();
    let cps: Vec<_> = out
        .common_prefixes()
        .iter()
        .map(|c| c.prefix().unwrap())
        .collect();
    assert_eq!(keys, ["dir/1", "dir/2"]);
    assert_eq!(cps, ["dir/sub/"]);
    let first = &out.contents()[0];
    assert_eq!(first.size(), Some(5));
    assert_eq!(
        first.e_tag(),
        Some(format!("\"{}\"", md5_hex(b"dir/1")).as_str())
    );
    assert!(first.last_modified().is_some());
}

#[tokio::test]
async fn list_objects_v2_paging() {
    let env = Env::new().await;
    tree(&env).await;

    let mut token: Option<String> = None;
    let mut seen = Vec::new();
    let mut cps = Vec::new();
    loop {
        let out = env
            .s3
            .list_objects_v2()
            .bucket("tree")
            .delimiter("/")
            .max_keys(2)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        assert!(out.key_count().unwrap() <= 2);
        seen.extend(out.contents().iter().map(|o| o.key().unwrap().to_owned()));
        cps.extend(
            out.common_prefixes()
                .iter()
                .map(|c| c.prefix().unwrap().to_owned()),
        );
        if out.is_truncated() != Some(true) {
            assert!(out.next_continuation_token().is_none());
            break;
        }
        token = Some(out.next_continuation_token().unwrap().to_owned());
    }
    assert_eq!(seen, ["a.txt", "e", "z"]);
    assert_eq!(cps, ["dir/", "dir2/", "f/"]);

    let out = env
        .s3
        .list_objects_v2()
        .bucket("tree")
        .start_after("dir/2")
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = out.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(keys, ["dir/sub/3", "dir2/x", "e", "f/g/h", "f/i", "z"]);

    let out = env
        .s3
        .list_objects_v2()
        .bucket("tree")
        .prefix("f/")
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = out.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(keys, ["f/g/h", "f/i"]);
    assert_eq!(out.key_count(), Some(2));

    let out = env
        .s3
        .list_objects_v2()
        .bucket("tree")
        .prefix("nothing")
        .send()
        .await
        .unwrap();
    assert_eq!(out.key_count(), Some(0));
    assert!(out.contents().is_empty());

    let err = env
        .s3
        .list_objects_v2()
        .bucket("tree")
        .continuation_token("not-hex!")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgument");
}

#[tokio::test]
async fn multipart_upload_complete_and_abort() {
    let env = Env::new().await;
    env.bucket("bkt-mp").await;
    let part1 = data(5 * MIB, 1);
    let part2 = data(1234, 2);

    let created = env
        .s3
        .create_multipart_upload()
        .bucket("bkt-mp")
        .key("big/object")
        .content_type("video/test")
        .metadata("origin", "multipart")
        .send()
        .await
        .unwrap();
    let id = created.upload_id().unwrap().to_owned();

    let other = env
        .s3
        .create_multipart_upload()
        .bucket("bkt-mp")
        .key("other")
        .send()
        .await
        .unwrap();
    let other_id = other.upload_id().unwrap().to_owned();

    let uploads = env
        .s3
        .list_multipart_uploads()
        .bucket("bkt-mp")
        .send()
        .await
        .unwrap();
    let listed: Vec<(&str, &str)> = uploads
        .uploads()
        .iter()
        .map(|u| (u.key().unwrap(), u.upload_id().unwrap()))
        .collect();
    assert_eq!(
        listed,
        [("big/object", id.as_str()), ("other", other_id.as_str())]
    );
    let paged = env
        .s3
        .list_multipart_uploads()
        .bucket("bkt-mp")
        .max_uploads(1)
        .send()
        .await
        .unwrap();
    assert_eq!(paged.is_truncated(), Some(true));
    assert_eq!(paged.next_key_marker(), Some("big/object"));
    let rest = env
        .s3
        .list_multipart_uploads()
        .bucket("bkt-mp")
        .key_marker(paged.next_key_marker().unwrap())
        .upload_id_marker(paged.next_upload_id_marker().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.uploads().len(), 1);
    assert_eq!(rest.uploads()[0].key(), Some("other"));

    // Parts may arrive out of order.
    let up2 = env
        .s3
        .upload_part()
        .bucket("bkt-mp")
        .key("big/object")
        .upload_id(&id)
        .part_number(2)
        .body(ByteStream::from(part2.clone()))
        .send()
        .await
        .unwrap();
    let up1 = env
        .s3
        .upload_part()
        .bucket("bkt-mp")
        .key("big/object")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from(part1.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        up1.e_tag(),
        Some(format!("\"{}\"", md5_hex(&part1)).as_str())
    );

    let parts = env
        .s3
        .list_parts()
        .bucket("bkt-mp")
        .key("big/object")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    let listed: Vec<(i32, i64)> = parts
        .parts()
        .iter()
        .map(|p| (p.part_number().unwrap(), p.size().unwrap()))
        .collect();
    assert_eq!(listed, [(1, 5 * MIB as i64), (2, 1234)]);
    let page = env
        .s3
        .list_parts()
        .bucket("bkt-mp")
        .key("big/object")
        .upload_id(&id)
        .max_parts(1)
        .send()
        .await
        .unwrap();
    assert_eq!(page.is_truncated(), Some(true));
    assert_eq!(page.next_part_number_marker(), Some("1"));

    let completed = |parts: Vec<(i32, &str)>| {
        CompletedMultipartUpload::builder()
            .set_parts(Some(
                parts
                    .into_iter()
                    .map(|(n, e)| CompletedPart::builder().part_number(n).e_tag(e).build())
                    .collect(),
            ))
            .build()
    };
    let (e1, e2) = (up1.e_tag().unwrap(), up2.e_tag().unwrap());

    let err = env
        .s3
        .complete_multipart_upload()
        .bucket("bkt-mp")
        .key("big/object")
        .upload_id(&id)
        .multipart_upload(completed(vec![(2, e2), (1, e1)]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidPartOrder");
    let err = env
        .s3
        .complete_multipart_upload()
        .bucket("bkt-mp")
        .key("big/object")
        .upload_id(&id)
        .multipart_upload(completed(vec![
            (1, e1),
            (2, "\"0123456789abcdef0123456789abcdef\""),
        ]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidPart");
    let err = env
        .s3
        .complete_multipart_upload()
        .bucket("bkt-mp")
        .key("big/object")
        .upload_id(&id)
        .multipart_upload(completed(vec![(1, e1), (3, e2)]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidPart");
    let err = env
        .s3
        .complete_multipart_upload()
        .bucket("bkt-mp")
        .key("big/object")
        .upload_id("0123456789abcdef0123456789abcdef")
        .multipart_upload(completed(vec![(1, e1)]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NoSuchUpload");

    let done = env
        .s3
        .complete_multipart_upload()
        .bucket("bkt-mp")
        .key("big/object")
        .upload_id(&id)
        .multipart_upload(completed(vec![(1, e1), (2, e2)]))
        .send()
        .await
        .unwrap();
    let mut md5s = hex::decode(md5_hex(&part1)).unwrap();
    md5s.extend(hex::decode(md5_hex(&part2)).unwrap());
    let want = format!("\"{}-2\"", md5_hex(&md5s));
    assert_eq!(done.e_tag(), Some(want.as_str()));

    let got = env
        .s3
        .get_object()
        .bucket("bkt-mp")
        .key("big/object")
        .send()
        .await
        .unwrap();
    assert_eq!(got.e_tag(), Some(want.as_str()));
    assert_eq!(got.content_type(), Some("video/test"));
    assert_eq!(
        got.metadata().unwrap().get("origin").map(String::as_str),
        Some("multipart")
    );
    let body = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(body.len(), part1.len() + part2.len());
    assert!(body[..part1.len()] == part1[..] && body[part1.len()..] == part2[..]);

    // The completed upload is gone; the other one is aborted.
    let err = env
        .s3
        .list_parts()
        .bucket("bkt-mp")
        .key("big/object")
        .upload_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NoSuchUpload");
    env.s3
        .abort_multipart_upload()
        .bucket("bkt-mp")
        .key("other")
        .upload_id(&other_id)
        .send()
        .await
        .unwrap();
    let err = env
        .s3
        .abort_multipart_upload()
        .bucket("bkt-mp")
        .key("other")
        .upload_id(&other_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NoSuchUpload");
    let err = env
        .s3
        .upload_part()
        .bucket("bkt-mp")
        .key("other")
        .upload_id(&other_id)
        .part_number(1)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NoSuchUpload");
    let err = env
        .s3
        .upload_part()
        .bucket("bkt-mp")
        .key("other")
        .upload_id("../../../../etc")
        .part_number(1)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NoSuchUpload");
    let uploads = env
        .s3
        .list_multipart_uploads()
        .bucket("bkt-mp")
        .send()
        .await
        .unwrap();
    assert!(uploads.uploads().is_empty());
}

#[tokio::test]
async fn multipart_rejects_small_parts() {
    let env = Env::new().await;
    env.bucket("bkt-mp").await;
    let id = env
        .s3
        .create_multipart_upload()
        .bucket("bkt-mp")
        .key("k")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    let mut parts = Vec::new();
    for n in 1..=2 {
        let out = env
            .s3
            .upload_part()
            .bucket("bkt-mp")
            .key("k")
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(vec![b'x'; 100]))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().unwrap())
                .build(),
        );
    }
    let err = env
        .s3
        .complete_multipart_upload()
        .bucket("bkt-mp")
        .key("k")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts.clone()))
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "EntityTooSmall");
    // A single small part is fine (it is the last one).
    let out = env
        .s3
        .complete_multipart_upload()
        .bucket("bkt-mp")
        .key("k")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(parts[0].clone())
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(out.e_tag().unwrap().ends_with("-1\""));
    assert_eq!(env.get("bkt-mp", "k").await, vec![b'x'; 100]);

    let err = env
        .s3
        .upload_part()
        .bucket("bkt-mp")
        .key("k")
        .upload_id(&id)
        .part_number(10_001)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(code(&err).as_str(), "InvalidArgument" | "NoSuchUpload"),
        "{err:?}"
    );
}

#[tokio::test]
async fn upload_part_copy_with_range() {
    let env = Env::new().await;
    env.bucket("src").await;
    env.bucket("dst").await;
    let source = data(6 * MIB + 10, 9);
    env.put("src", "source", &source).await;

    let id = env
        .s3
        .create_multipart_upload()
        .bucket("dst")
        .key("assembled")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    let c1 = env
        .s3
        .upload_part_copy()
        .bucket("dst")
        .key("assembled")
        .upload_id(&id)
        .part_number(1)
        .copy_source("src/source")
        .copy_source_range(format!("bytes=0-{}", 5 * MIB - 1))
        .send()
        .await
        .unwrap();
    let e1 = c1.copy_part_result().unwrap().e_tag().unwrap().to_owned();
    assert_eq!(e1, format!("\"{}\"", md5_hex(&source[..5 * MIB])));
    let c2 = env
        .s3
        .upload_part_copy()
        .bucket("dst")
        .key("assembled")
        .upload_id(&id)
        .part_number(2)
        .copy_source("src/source")
        .copy_source_range(format!("bytes={}-{}", 5 * MIB, source.len() - 1))
        .send()
        .await
        .unwrap();
    let e2 = c2.copy_part_result().unwrap().e_tag().unwrap().to_owned();

    let err = env
        .s3
        .upload_part_copy()
        .bucket("dst")
        .key("assembled")
        .upload_id(&id)
        .part_number(3)
        .copy_source("src/source")
        .copy_source_range(format!("bytes=0-{}", source.len()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidRange");
    let err = env
        .s3
        .upload_part_copy()
        .bucket("dst")
        .key("assembled")
        .upload_id(&id)
        .part_number(3)
        .copy_source("src/missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NoSuchKey");
    let err = env
        .s3
        .upload_part_copy()
        .bucket("dst")
        .key("assembled")
        .upload_id(&id)
        .part_number(3)
        .copy_source("src/source")
        .copy_source_if_match("\"nope\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PreconditionFailed");

    env.s3
        .complete_multipart_upload()
        .bucket("dst")
        .key("assembled")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(CompletedPart::builder().part_number(1).e_tag(e1).build())
                .parts(CompletedPart::builder().part_number(2).e_tag(e2).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(env.get("dst", "assembled").await, source);
}

#[tokio::test]
async fn copy_object_directives() {
    let env = Env::new().await;
    env.bucket("bkt-a").await;
    env.bucket("bkt-b").await;
    env.s3
        .put_object()
        .bucket("bkt-a")
        .key("src key")
        .content_type("text/plain")
        .metadata("m", "1")
        .body(ByteStream::from_static(b"payload"))
        .send()
        .await
        .unwrap();
    let etag = format!("\"{}\"", md5_hex(b"payload"));

    // Default (COPY) directive keeps metadata; a key needing URL encoding works as a source.
    let out = env
        .s3
        .copy_object()
        .bucket("bkt-b")
        .key("copy")
        .copy_source("bkt-a/src%20key")
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.copy_object_result().unwrap().e_tag(),
        Some(etag.as_str())
    );
    let head = env
        .s3
        .head_object()
        .bucket("bkt-b")
        .key("copy")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("text/plain"));
    assert_eq!(
        head.metadata().unwrap().get("m").map(String::as_str),
        Some("1")
    );
    assert_eq!(env.get("bkt-b", "copy").await, b"payload");

    // REPLACE takes the request's metadata.
    env.s3
        .copy_object()
        .bucket("bkt-b")
        .key("replaced")
        .copy_source("bkt-a/src%20key")
        .metadata_directive(MetadataDirective::Replace)
        .content_type("application/json")
        .metadata("n", "2")
        .send()
        .await
        .unwrap();
    let head = env
        .s3
        .head_object()
        .bucket("bkt-b")
        .key("replaced")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("application/json"));
    let meta = head.metadata().unwrap();
    assert_eq!(
        (meta.get("m"), meta.get("n").map(String::as_str)),
        (None, Some("2"))
    );

    // Copy onto itself needs REPLACE.
    let err = env
        .s3
        .copy_object()
        .bucket("bkt-a")
        .key("src key")
        .copy_source("bkt-a/src%20key")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidRequest");
    env.s3
        .copy_object()
        .bucket("bkt-a")
        .key("src key")
        .copy_source("bkt-a/src%20key")
        .metadata_directive(MetadataDirective::Replace)
        .metadata("m", "updated")
        .send()
        .await
        .unwrap();
    let head = env
        .s3
        .head_object()
        .bucket("bkt-a")
        .key("src key")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.metadata().unwrap().get("m").map(String::as_str),
        Some("updated")
    );
    assert_eq!(env.get("bkt-a", "src key").await, b"payload");

    // Copy-source conditions.
    let err = env
        .s3
        .copy_object()
        .bucket("bkt-b")
        .key("c2")
        .copy_source("bkt-a/src%20key")
        .copy_source_if_match("\"other\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PreconditionFailed");
    let err = env
        .s3
        .copy_object()
        .bucket("bkt-b")
        .key("c2")
        .copy_source("bkt-a/src%20key")
        .copy_source_if_none_match(&etag)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PreconditionFailed");
    env.s3
        .copy_object()
        .bucket("bkt-b")
        .key("c2")
        .copy_source("bkt-a/src%20key")
        .copy_source_if_match(&etag)
        .send()
        .await
        .unwrap();

    let err = env
        .s3
        .copy_object()
        .bucket("bkt-b")
        .key("c3")
        .copy_source("bkt-a/missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NoSuchKey");
    let err = env
        .s3
        .copy_object()
        .bucket("nope")
        .key("c3")
        .copy_source("bkt-a/src%20key")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NoSuchBucket");
}

#[tokio::test]
async fn range_requests() {
    let env = Env::new().await;
    env.bucket("bkt-r").await;
    let body: Vec<u8> = (0..100u8).collect();
    env.put("bkt-r", "obj", &body).await;

    for (range, from, to) in [
        ("bytes=10-19", 10, 19),
        ("bytes=90-", 90, 99),
        ("bytes=-5", 95, 99),
        ("bytes=95-500", 95, 99),
    ] {
        let out = env
            .s3
            .get_object()
            .bucket("bkt-r")
            .key("obj")
            .range(range)
            .send()
            .await
            .unwrap();
        assert_eq!(
            out.content_range(),
            Some(format!("bytes {from}-{to}/100").as_str()),
            "{range}"
        );
        assert_eq!(out.content_length(), Some(to - from + 1));
        let got = out.body.collect().await.unwrap().into_bytes();
        assert_eq!(got.as_ref(), &body[from as usize..=to as usize]);
    }
    let err = env
        .s3
        .get_object()
        .bucket("bkt-r")
        .key("obj")
        .range("bytes=100-")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidRange");
    assert_eq!(status(&err), 416);

    // Exact status codes and headers, checked on the wire.
    let url = env.presigned_get("bkt-r", "obj").await;
    let (st, h, b) = raw_get(&url, &[("Range", "bytes=0-3")]).await;
    assert_eq!(st, 206);
    assert_eq!(header(&h, "content-range"), Some("bytes 0-3/100"));
    assert_eq!(b, &body[..4]);
    let (st, h, _) = raw_get(&url, &[("Range", "bytes=200-300")]).await;
    assert_eq!(st, 416);
    assert_eq!(header(&h, "content-range"), Some("bytes */100"));
    let (st, h, b) = raw_get(&url, &[]).await;
    assert_eq!(st, 200);
    assert_eq!(header(&h, "accept-ranges"), Some("bytes"));
    assert_eq!(b, body);
}

#[tokio::test]
async fn conditional_requests() {
    let env = Env::new().await;
    env.bucket("bkt-c").await;
    let etag = env.put("bkt-c", "obj", b"hello").await;
    let head = env
        .s3
        .head_object()
        .bucket("bkt-c")
        .key("obj")
        .send()
        .await
        .unwrap();
    let lm = *head.last_modified().unwrap();
    let earlier = DateTime::from_secs(lm.secs() - 3600);
    let later = DateTime::from_secs(lm.secs() + 3600);

    env.s3
        .get_object()
        .bucket("bkt-c")
        .key("obj")
        .if_match(&etag)
        .send()
        .await
        .unwrap();
    let err = env
        .s3
        .get_object()
        .bucket("bkt-c")
        .key("obj")
        .if_match("\"different\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 412);
    let err = env
        .s3
        .get_object()
        .bucket("bkt-c")
        .key("obj")
        .if_none_match(&etag)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 304);
    env.s3
        .get_object()
        .bucket("bkt-c")
        .key("obj")
        .if_none_match("\"different\"")
        .send()
        .await
        .unwrap();
    let err = env
        .s3
        .get_object()
        .bucket("bkt-c")
        .key("obj")
        .if_modified_since(lm)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 304);
    env.s3
        .get_object()
        .bucket("bkt-c")
        .key("obj")
        .if_modified_since(earlier)
        .send()
        .await
        .unwrap();
    let err = env
        .s3
        .get_object()
        .bucket("bkt-c")
        .key("obj")
        .if_unmodified_since(earlier)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 412);
    env.s3
        .get_object()
        .bucket("bkt-c")
        .key("obj")
        .if_unmodified_since(later)
        .send()
        .await
        .unwrap();
    // If-Match wins over If-Unmodified-Since, If-None-Match over If-Modified-Since.
    env.s3
        .get_object()
        .bucket("bkt-c")
        .key("obj")
        .if_match(&etag)
        .if_unmodified_since(earlier)
        .send()
        .await
        .unwrap();
    env.s3
        .get_object()
        .bucket("bkt-c")
        .key("obj")
        .if_none_match("\"x\"")
        .if_modified_since(later)
        .send()
        .await
        .unwrap();

    let err = env
        .s3
        .head_object()
        .bucket("bkt-c")
        .key("obj")
        .if_none_match(&etag)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 304);
    let err = env
        .s3
        .head_object()
        .bucket("bkt-c")
        .key("obj")
        .if_match("\"different\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 412);

    // On the wire: 304 carries the validators and no body.
    let url = env.presigned_get("bkt-c", "obj").await;
    let (st, h, b) = raw_get(&url, &[("If-None-Match", etag.as_str())]).await;
    assert_eq!(st, 304);
    assert_eq!(header(&h, "etag"), Some(etag.as_str()));
    assert!(header(&h, "last-modified").is_some());
    assert!(b.is_empty());

    // Conditional writes.
    let err = env
        .s3
        .put_object()
        .bucket("bkt-c")
        .key("obj")
        .if_none_match("*")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 412);
    env.s3
        .put_object()
        .bucket("bkt-c")
        .key("new")
        .if_none_match("*")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let err = env
        .s3
        .put_object()
        .bucket("bkt-c")
        .key("obj")
        .if_match("\"different\"")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 412);
    env.s3
        .put_object()
        .bucket("bkt-c")
        .key("obj")
        .if_match(&etag)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    assert_eq!(env.get("bkt-c", "obj").await, b"x");
}

#[tokio::test]
async fn checksums_are_verified_stored_and_returned() {
    let env = Env::new().await;
    env.bucket("bkt-ck").await;
    let body = b"checksum me".to_vec();

    // The SDK computes SHA-256 and sends it in an aws-chunked trailer.
    let put = env
        .s3
        .put_object()
        .bucket("bkt-ck")
        .key("sha")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    let sha = put.checksum_sha256().unwrap().to_owned();
    let got = env
        .s3
        .get_object()
        .bucket("bkt-ck")
        .key("sha")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(got.checksum_sha256(), Some(sha.as_str()));
    let head = env
        .s3
        .head_object()
        .bucket("bkt-ck")
        .key("sha")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(head.checksum_sha256(), Some(sha.as_str()));
    // Not returned unless asked.
    let head = env
        .s3
        .head_object()
        .bucket("bkt-ck")
        .key("sha")
        .send()
        .await
        .unwrap();
    assert_eq!(head.checksum_sha256(), None);

    // The SDK's default CRC32.
    env.put("bkt-ck", "default", &body).await;
    let head = env
        .s3
        .head_object()
        .bucket("bkt-ck")
        .key("default")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert!(head.checksum_crc32().is_some(), "{head:?}");

    // A wrong checksum is refused and nothing is stored.
    let err = env
        .s3
        .put_object()
        .bucket("bkt-ck")
        .key("bad")
        .checksum_crc32("AAAAAA==")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "BadDigest");
    let err = env
        .s3
        .put_object()
        .bucket("bkt-ck")
        .key("bad")
        .content_md5("1B2M2Y8AsgTpgAmY7PhCfg==")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "BadDigest");
    let err = env
        .s3
        .head_object()
        .bucket("bkt-ck")
        .key("bad")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 404);

    // Multipart with a checksum algorithm gets a composite checksum.
    let id = env
        .s3
        .create_multipart_upload()
        .bucket("bkt-ck")
        .key("mp")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    let part = env
        .s3
        .upload_part()
        .bucket("bkt-ck")
        .key("mp")
        .upload_id(&id)
        .part_number(1)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    let done = env
        .s3
        .complete_multipart_upload()
        .bucket("bkt-ck")
        .key("mp")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap())
                        .checksum_sha256(part.checksum_sha256().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(done.checksum_sha256().unwrap().ends_with("-1"), "{done:?}");
}

#[tokio::test]
async fn wrong_credentials_are_forbidden() {
    let env = Env::new().await;
    env.bucket("secure").await;
    env.put("secure", "k", b"v").await;

    let wrong_secret = client(&env.server, AK, "not-the-secret");
    let err = wrong_secret
        .get_object()
        .bucket("secure")
        .key("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 403);
    assert_eq!(code(&err), "SignatureDoesNotMatch");
    let err = wrong_secret
        .put_object()
        .bucket("secure")
        .key("k2")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 403);

    let unknown = client(&env.server, "someone-else", SK);
    let err = unknown.list_buckets().send().await.unwrap_err();
    assert_eq!(status(&err), 403);
    assert!(
        matches!(code(&err).as_str(), "InvalidAccessKeyId" | "NotSignedUp"),
        "{err:?}"
    );

    // Anonymous requests are refused too.
    let (st, _, _) = raw_get(&format!("http://{}/secure/k", env.server.addr()), &[]).await;
    assert_eq!(st, 403);

    let err = env
        .s3
        .head_object()
        .bucket("secure")
        .key("k2")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 404);
}

#[tokio::test]
async fn data_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("nested/data");
    let server = LocalServer::start(&root, AK, SK, REGION).await.unwrap();
    let s3 = client(&server, AK, SK);
    s3.create_bucket().bucket("persist").send().await.unwrap();
    s3.put_object()
        .bucket("persist")
        .key("doc")
        .content_type("text/markdown")
        .metadata("k", "v")
        .body(ByteStream::from_static(b"kept"))
        .send()
        .await
        .unwrap();
    let id = s3
        .create_multipart_upload()
        .bucket("persist")
        .key("pending")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    s3.upload_part()
        .bucket("persist")
        .key("pending")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from_static(b"part"))
        .send()
        .await
        .unwrap();
    server.shutdown().await;

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&root).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    let server = LocalServer::start(&root, AK, SK, REGION).await.unwrap();
    let s3 = client(&server, AK, SK);
    let got = s3
        .get_object()
        .bucket("persist")
        .key("doc")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("text/markdown"));
    assert_eq!(
        got.metadata().unwrap().get("k").map(String::as_str),
        Some("v")
    );
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"kept"
    );
    let parts = s3
        .list_parts()
        .bucket("persist")
        .key("pending")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(parts.parts().len(), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_is_prompt_and_stops_serving() {
    let env = Env::new().await;
    env.bucket("bkt-b").await;
    let addr = env.server.addr();
    let t0 = std::time::Instant::now();
    env.server.shutdown().await;
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn rejects_empty_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let err = LocalServer::start(dir.path(), "", SK, REGION)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_overwrites_stay_consistent() {
    let env = Env::new().await;
    env.bucket("race").await;
    let mut tasks = Vec::new();
    for i in 0..16u8 {
        let s3 = env.s3.clone();
        tasks.push(tokio::spawn(async move {
            let body = vec![i; 64 * 1024];
            s3.put_object()
                .bucket("race")
                .key("same")
                .body(ByteStream::from(body))
                .send()
                .await
                .unwrap();
            let got = s3
                .get_object()
                .bucket("race")
                .key("same")
                .send()
                .await
                .unwrap();
            let etag = got.e_tag().unwrap().to_owned();
            let bytes = got.body.collect().await.unwrap().into_bytes();
            // Whatever version was read, its body and ETag belong together.
            assert_eq!(etag, format!("\"{}\"", md5_hex(&bytes)));
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // Exactly one blob is left for the one object: replaced blobs were removed.
    let blobs = std::fs::read_dir(env.root().join("race/blob"))
        .unwrap()
        .count();
    assert_eq!(blobs, 1);
}

#[tokio::test]
async fn listing_edge_cases_and_limits() {
    let env = Env::new().await;
    env.bucket("edge").await;
    env.put("edge", "a b/c+d", b"1").await;
    env.put("edge", "plain", b"2").await;

    // encoding-type=url: keys and prefixes come back percent-encoded.
    let out = env
        .s3
        .list_objects_v2()
        .bucket("edge")
        .delimiter("/")
        .encoding_type(aws_sdk_s3::types::EncodingType::Url)
        .send()
        .await
        .unwrap();
    let cps: Vec<_> = out
        .common_prefixes()
        .iter()
        .map(|c| c.prefix().unwrap())
        .collect();
    assert_eq!(cps, ["a%20b/"]);
    let out = env
        .s3
        .list_objects()
        .bucket("edge")
        .encoding_type(aws_sdk_s3::types::EncodingType::Url)
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = out.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(keys, ["a%20b/c%2Bd", "plain"]);

    // max-keys=0 returns nothing and is not "truncated" (a marker-following client would spin).
    let out = env
        .s3
        .list_objects_v2()
        .bucket("edge")
        .max_keys(0)
        .send()
        .await
        .unwrap();
    assert_eq!(out.key_count(), Some(0));
    assert_eq!(out.is_truncated(), Some(false));

    // User metadata is capped at 2 KiB, as on S3.
    let err = env
        .s3
        .put_object()
        .bucket("edge")
        .key("meta")
        .metadata("big", "x".repeat(2100))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "MetadataTooLarge");
}
