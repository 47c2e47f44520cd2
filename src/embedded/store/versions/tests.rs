//! Versions, markers, the null version, object-lock refusal and format-1 compatibility.

use super::*;

fn put(store: &Store, key: &str, body: &[u8], vid: Option<String>) -> ObjectMeta {
    let (tmp, mut f) = store.create_temp().unwrap();
    f.write_all(body).unwrap();
    drop(f);
    let mut meta = ObjectMeta::new(
        key.into(),
        names::new_id(),
        body.len() as u64,
        hex::encode(body),
        ContentHeaders::default(),
    );
    meta.version_id = vid;
    store.commit_object("bkt", &meta, tmp, |_| Ok(())).unwrap();
    meta
}

fn vids(store: &Store, key: &str) -> Vec<(String, bool, bool)> {
    store
        .versions_of("bkt", key)
        .unwrap()
        .into_iter()
        .map(|(m, latest)| (m.vid().to_owned(), m.delete_marker, latest))
        .collect()
}

fn blobs(dir: &Path) -> usize {
    fs::read_dir(dir.join("bkt").join(BLOB_DIR))
        .unwrap()
        .count()
}

#[test]
fn versions_markers_and_promotion() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .create_bucket("bkt", &BucketConfig::default())
        .unwrap();
    let null = put(&store, "k", b"zero", None);
    let v1 = put(&store, "k", b"one", Versioning::Enabled.new_version_id());
    let v2 = put(&store, "k", b"two", Versioning::Enabled.new_version_id());
    assert_eq!(
        vids(&store, "k"),
        vec![
            (v2.vid().into(), false, true),
            (v1.vid().into(), false, false),
            ("null".into(), false, false),
        ]
    );
    assert_eq!(blobs(dir.path()), 3);
    // a delete marker on top hides the key
    let d = store
        .delete_object("bkt", "k", Versioning::Enabled)
        .unwrap();
    assert!(d.delete_marker);
    let e = store.head_object("bkt", "k").unwrap_err();
    assert_eq!(e.code().as_str(), "NoSuchKey");
    assert!(e.headers().unwrap().contains_key("x-amz-delete-marker"));
    assert!(store.list_keys("bkt").unwrap().is_empty());
    // removing the marker brings v2 back
    let marker = d.version_id.unwrap();
    store
        .delete_version("bkt", "k", &marker, |_| Ok(()))
        .unwrap();
    assert_eq!(store.head_object("bkt", "k").unwrap().vid(), v2.vid());
    // removing the current version promotes the next newest
    store
        .delete_version("bkt", "k", v2.vid(), |_| Ok(()))
        .unwrap();
    let (m, mut f) = store.open_version("bkt", "k", None).unwrap();
    assert_eq!(m.vid(), v1.vid());
    let mut body = String::new();
    f.read_to_string(&mut body).unwrap();
    assert_eq!(body, "one");
    assert_eq!(blobs(dir.path()), 2);
    // the null version is still readable by id
    assert_eq!(
        store.read_version("bkt", "k", Some("null")).unwrap().blob,
        null.blob
    );
    assert_eq!(
        store
            .read_version("bkt", "k", Some(&names::new_id()))
            .unwrap_err()
            .code()
            .as_str(),
        "NoSuchVersion"
    );
    assert_eq!(
        store
            .read_version("bkt", "k", Some("../x"))
            .unwrap_err()
            .code()
            .as_str(),
        "InvalidArgument"
    );
    // the bucket is not empty while any version remains
    store
        .delete_version("bkt", "k", v1.vid(), |_| Ok(()))
        .unwrap();
    assert!(store.delete_bucket("bkt").is_err());
    store
        .delete_version("bkt", "k", "null", |_| Ok(()))
        .unwrap();
    assert!(vids(&store, "k").is_empty());
    assert_eq!(blobs(dir.path()), 0);
    store.delete_bucket("bkt").unwrap();
}

#[test]
fn suspended_writes_replace_only_the_null_version() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .create_bucket("bkt", &BucketConfig::default())
        .unwrap();
    let v1 = put(&store, "k", b"one", Versioning::Enabled.new_version_id());
    put(&store, "k", b"null-a", None);
    put(&store, "k", b"null-b", None);
    assert_eq!(
        vids(&store, "k"),
        vec![
            ("null".into(), false, true),
            (v1.vid().into(), false, false)
        ]
    );
    assert_eq!(blobs(dir.path()), 2);
    // a suspended delete makes the null version a delete marker
    let d = store
        .delete_object("bkt", "k", Versioning::Suspended)
        .unwrap();
    assert!(d.delete_marker && d.version_id.is_none());
    assert_eq!(
        vids(&store, "k"),
        vec![("null".into(), true, true), (v1.vid().into(), false, false)]
    );
    assert_eq!(blobs(dir.path()), 1);
    // a new null write replaces the marker
    put(&store, "k", b"null-c", None);
    assert_eq!(
        vids(&store, "k"),
        vec![
            ("null".into(), false, true),
            (v1.vid().into(), false, false)
        ]
    );
}

#[test]
fn locked_versions_stay() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .create_bucket("bkt", &BucketConfig::default())
        .unwrap();
    let v1 = put(&store, "k", b"one", Versioning::Enabled.new_version_id());
    let e = store
        .delete_version("bkt", "k", v1.vid(), |_| Err(s3_error!(AccessDenied)))
        .unwrap_err();
    assert_eq!(e.code().as_str(), "AccessDenied");
    assert_eq!(store.head_object("bkt", "k").unwrap().vid(), v1.vid());
}

/// A data directory written by format 1 (before versions): its objects are the null
/// versions, readable, listable, deletable, and a later versioned write keeps them.
#[test]
fn format_1_data_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("old");
    for sub in ["meta", "blob", "uploads"] {
        fs::create_dir_all(b.join(sub)).unwrap();
    }
    fs::write(
        b.join("bucket.json"),
        r#"{"v":1,"created_ms":1700000000000}"#,
    )
    .unwrap();
    let blob = names::new_id();
    fs::write(b.join("blob").join(&blob), b"hello").unwrap();
    fs::write(
        b.join("meta").join(key_to_name("dir/a.txt")),
        format!(
            r#"{{"v":1,"key":"dir/a.txt","blob":"{blob}","size":5,"etag":"5d41402abc4b2a76b9719d911017c592","last_modified_ms":1700000000000,"content_type":"text/plain","metadata":{{"m":"1"}},"checksums":{{"crc32":"NhCmhg=="}},"checksum_type":"FULL_OBJECT"}}"#
        ),
    )
    .unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.list_keys("old").unwrap(), vec!["dir/a.txt"]);
    let (m, mut f) = store
        .open_version("old", "dir/a.txt", Some("null"))
        .unwrap();
    assert_eq!(m.version_id, None);
    assert_eq!(m.headers.content_type.as_deref(), Some("text/plain"));
    assert_eq!(m.checksums.crc32.as_deref(), Some("NhCmhg=="));
    let mut s = String::new();
    f.read_to_string(&mut s).unwrap();
    assert_eq!(s, "hello");
    assert_eq!(store.read_config("old").unwrap(), BucketConfig::default());
    // the sweep keeps the old blob (it is referenced)
    assert_eq!(store.sweep_orphans(SystemTime::now()).unwrap(), 0);
    assert!(b.join("blob").join(&blob).exists());
    // enabling versioning and overwriting keeps it as the null version
    store
        .update_config("old", |c| {
            c.versioning = Some("Enabled".into());
            Ok(())
        })
        .unwrap();
    let (tmp, mut f) = store.create_temp().unwrap();
    f.write_all(b"new").unwrap();
    drop(f);
    let mut meta = ObjectMeta::new(
        "dir/a.txt".into(),
        names::new_id(),
        3,
        "x".into(),
        ContentHeaders::default(),
    );
    meta.version_id = Versioning::Enabled.new_version_id();
    store.commit_object("old", &meta, tmp, |_| Ok(())).unwrap();
    let all = store.versions_of("old", "dir/a.txt").unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].0.vid(), "null");
    assert_eq!(all[1].0.blob, blob);
}
