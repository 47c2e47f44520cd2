//! On-disk layout and crash-safe commits for the local backend.
//!
//! ```text
//! <root>/
//!   .tmp/                          scratch for in-flight writes; emptied at start
//!   <bucket>/
//!     bucket.json                  creation time
//!     config.json                  versioning status, tags, CORS/lifecycle/encryption/object
//!                                  lock documents (format 2; absent = never configured)
//!     meta/<name>                  sidecar of each key's latest version when it is an object
//!                                  (see `names::key_to_name`)
//!     versions/<name>/<vid>.json   every other version: noncurrent objects and all delete
//!                                  markers (`null.json` for the null version; format 2)
//!     blob/<id>                    object data, immutable once written
//!     uploads/<upload-id>/
//!       upload.json                key, headers, metadata, tags, lock given at Create…Upload
//!       pNNNNN.json                one per uploaded part (ETag, size, checksums, data file)
//!       pNNNNN-<id>.data           part data
//! ```
//!
//! The sidecar is the single commit point of an object: data is streamed to `.tmp`, fsynced and
//! renamed to a fresh `blob/<id>`; then the sidecar (which names that blob) is written to `.tmp`,
//! fsynced and renamed over `meta/<name>`. A crash at any point leaves either the old object or the
//! new one, never a mix; the worst case is an unreferenced blob, which the start-up sweep removes.
//! Because blobs are never modified in place, a reader that opened one keeps a consistent view
//! even if the object is overwritten meanwhile.
//!
//! Versions (issue 11, `versions.rs`): a write that keeps the version it displaces first writes
//! that version's sidecar into `versions/<name>/` (durably), then commits `meta/<name>` as
//! above; what the commit made unneeded (a replaced null version, its blob) is removed after it.
//! A crash in between leaves a duplicate that readers drop (the current sidecar wins). Format 1
//! directories (no `versions/`, no `config.json`, sidecars without version fields) are read
//! unchanged: each object is the "null" version of an unversioned bucket.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use s3s::dto::Timestamp;
use s3s::{s3_error, S3Error, S3Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub(crate) use super::meta::{
    Checksums, ContentHeaders, LockState, ObjectMeta, PartMeta, PartSummary, UploadMeta,
    NULL_VERSION,
};
use super::names::{self, key_to_name, name_to_key, NameKey};

mod config;
mod sse;
mod versions;

pub(crate) use self::config::{from_xml, to_xml, BucketConfig};
pub(crate) use self::sse::{
    segment_offset, segment_plain_len, stored_len as sse_stored_len, ObjectCipher, Sealer, Sink,
    SseKey, SseMeta, AES256, NO_KEY_MESSAGE, TAG_LEN as SSE_TAG_LEN,
};
pub(crate) use self::versions::{check_version_id, marker_not_readable, Deleted, Versioning};

/// Scratch directory under the root. Bucket names cannot start with a dot, so it can never
/// collide with a bucket.
const TMP_DIR: &str = ".tmp";
const META_DIR: &str = "meta";
const BLOB_DIR: &str = "blob";
const UPLOADS_DIR: &str = "uploads";
const BUCKET_FILE: &str = "bucket.json";
const UPLOAD_FILE: &str = "upload.json";

/// Version written into every sidecar, so a later format can tell old files apart.
/// Format 2 (issue 11) added object versions (`versions/`), `config.json` and the sidecar
/// fields of tagging, object lock, parts and SSE; every field it added has a default, so format-1
/// data directories are read as they are (their objects are the "null" versions).
pub(super) const FORMAT_VERSION: u32 = 2;

/// Number of lock stripes serialising commits to the same object or part. Default 256; more
/// stripes only reduce false sharing between unrelated keys (a collision just serialises two
/// commits, each of which is a few renames).
const LOCK_STRIPES: usize = 256;

/// Largest sidecar JSON file read back. Default 1 MiB (real sidecars are a few KiB: user metadata
/// is capped at 2 KiB); stops a corrupted or planted file from being read whole into memory.
const MAX_SIDECAR_SIZE: u64 = 1024 * 1024;

/// How often GET/HEAD retry when the blob named by a sidecar vanished because the object was
/// overwritten between reading the sidecar and opening the blob. Default 3; bounds the work one
/// read can cause under a storm of concurrent overwrites.
const BLOB_OPEN_ATTEMPTS: usize = 3;

/// Minimum age of an unreferenced blob before the start-up sweep deletes it. Default 60 s; keeps a
/// blob written just before start (clock skew, a previous instance still finishing) from being
/// mistaken for crash debris.
const ORPHAN_MIN_AGE: Duration = Duration::from_secs(60);

/// A file under `.tmp` that is deleted when dropped unless it was moved into place.
pub(crate) struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl TempFile {
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Called once the file has been renamed away, so that drop does not try to delete it.
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            // Best effort: a leftover is removed at the next start anyway.
            let _ = fs::remove_file(&self.path);
        }
    }
}

pub(crate) fn now_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

pub(crate) fn ms_to_timestamp(ms: u64) -> Timestamp {
    Timestamp::from(UNIX_EPOCH + Duration::from_millis(ms))
}

/// Logs an unexpected failure and turns it into a 500 whose message does not leak local paths.
pub(crate) fn internal(e: impl std::fmt::Display) -> S3Error {
    tracing::error!(error = %e, "local backend: internal error");
    s3_error!(InternalError, "local backend storage error")
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded value is `()`, so a panic in another holder cannot leave it inconsistent.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn read_lock(l: &RwLock<()>) -> RwLockReadGuard<'_, ()> {
    l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write_lock(l: &RwLock<()>) -> RwLockWriteGuard<'_, ()> {
    l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Creates a directory readable only by the owner (the data directory holds tenants' objects).
fn mkdir(path: &Path, recursive: bool) -> io::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(recursive);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(path)
}

/// Makes a rename or unlink inside `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

fn is_not_found(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
}

fn remove_file_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if !is_not_found(&e) => Err(e),
        _ => Ok(()),
    }
}

/// Reads and parses a sidecar; `Ok(None)` when it does not exist.
fn read_json<T: DeserializeOwned>(path: &Path) -> io::Result<Option<T>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut buf = Vec::new();
    file.take(MAX_SIDECAR_SIZE + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_SIDECAR_SIZE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} exceeds the sidecar size limit", path.display()),
        ));
    }
    serde_json::from_slice(&buf).map(Some).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {e}", path.display()),
        )
    })
}

pub(crate) struct Store {
    root: PathBuf,
    tmp: PathBuf,
    /// Taken shared by every commit into a bucket and exclusively by bucket create/delete, so a
    /// bucket cannot disappear between "bucket exists" and "object committed into it".
    buckets: RwLock<()>,
    stripes: Vec<Mutex<()>>,
    /// The store key of SSE-S3 (`store/sse.rs`); `None`: encryption at rest is not available.
    sse: Option<SseKey>,
}

impl Store {
    /// Opens (creating if needed, mode 0700) the data directory and empties its scratch area.
    pub(crate) fn open(root: &Path) -> io::Result<Self> {
        mkdir(root, true)?;
        let tmp = root.join(TMP_DIR);
        // Whatever is in `.tmp` belongs to writes that never committed (a crash, a kill): the
        // sidecar is the commit point, so none of it is referenced.
        match fs::remove_dir_all(&tmp) {
            Err(e) if !is_not_found(&e) => return Err(e),
            _ => {}
        }
        mkdir(&tmp, false)?;
        let stripes = (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect();
        Ok(Self {
            root: root.to_owned(),
            tmp,
            buckets: RwLock::new(()),
            stripes,
            sse: None,
        })
    }

    /// Gives the store its SSE-S3 store key (before it is shared).
    pub(crate) fn with_sse_key(mut self, key: Option<&[u8; 32]>) -> Self {
        self.sse = key.map(SseKey::new);
        self
    }

    /// The SSE-S3 store key, if the store was given one.
    pub(crate) fn sse_key(&self) -> Option<&SseKey> {
        self.sse.as_ref()
    }

    fn stripe(&self, a: &str, b: &str) -> &Mutex<()> {
        let mut h = DefaultHasher::new();
        (a, b).hash(&mut h);
        let idx = usize::try_from(h.finish() % LOCK_STRIPES as u64).unwrap_or(0);
        &self.stripes[idx]
    }

    fn tmp_path(&self) -> PathBuf {
        self.tmp.join(names::new_id())
    }

    /// A new empty file under `.tmp`, opened for writing (mode 0600).
    pub(crate) fn create_temp(&self) -> io::Result<(TempFile, File)> {
        let path = self.tmp_path();
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts.open(&path)?;
        Ok((TempFile { path, armed: true }, file))
    }

    /// Writes `bytes` to `dest` atomically and durably: temp file, fsync, rename, fsync directory.
    fn write_atomic(&self, dest: &Path, bytes: &[u8]) -> io::Result<()> {
        let (tmp, mut file) = self.create_temp()?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(tmp.path(), dest)?;
        tmp.disarm();
        match dest.parent() {
            Some(dir) => sync_dir(dir),
            None => Ok(()),
        }
    }

    fn write_json<T: Serialize>(&self, dest: &Path, value: &T) -> io::Result<()> {
        let bytes = serde_json::to_vec(value).map_err(io::Error::other)?;
        self.write_atomic(dest, &bytes)
    }

    // ----- buckets -------------------------------------------------------------------------

    /// Path of a bucket's directory; `NoSuchBucket` for names that cannot be buckets.
    fn bucket_path(&self, bucket: &str) -> S3Result<PathBuf> {
        if !names::is_valid_bucket_name(bucket) {
            return Err(s3_error!(NoSuchBucket));
        }
        Ok(self.root.join(bucket))
    }

    fn exists(bdir: &Path) -> bool {
        bdir.join(META_DIR).is_dir()
    }

    /// The bucket's directory, or `NoSuchBucket`.
    pub(crate) fn bucket_dir(&self, bucket: &str) -> S3Result<PathBuf> {
        let bdir = self.bucket_path(bucket)?;
        if Self::exists(&bdir) {
            Ok(bdir)
        } else {
            Err(s3_error!(NoSuchBucket))
        }
    }

    /// Creates a bucket with its initial configuration (object lock must be there from the
    /// start: AWS S3 user guide, "Object Lock considerations").
    pub(crate) fn create_bucket(&self, bucket: &str, config: &BucketConfig) -> S3Result<()> {
        if !names::is_valid_bucket_name(bucket) {
            return Err(s3_error!(InvalidBucketName));
        }
        let _g = write_lock(&self.buckets);
        let bdir = self.root.join(bucket);
        if Self::exists(&bdir) {
            return Err(s3_error!(BucketAlreadyOwnedByYou));
        }
        // Build the whole bucket in `.tmp` and rename it in, so a crash never leaves half a bucket.
        let staging = self.tmp_path();
        let build = || -> io::Result<()> {
            mkdir(&staging, false)?;
            for sub in [META_DIR, BLOB_DIR, UPLOADS_DIR] {
                mkdir(&staging.join(sub), false)?;
            }
            let mut f = File::create(staging.join(BUCKET_FILE))?;
            f.write_all(&serde_json::to_vec(&BucketMeta {
                v: FORMAT_VERSION,
                created_ms: now_ms(),
            })?)?;
            f.sync_all()?;
            if *config != BucketConfig::default() {
                let mut f = File::create(staging.join(config::CONFIG_FILE))?;
                f.write_all(&serde_json::to_vec(config)?)?;
                f.sync_all()?;
            }
            sync_dir(&staging)?;
            fs::rename(&staging, &bdir)?;
            sync_dir(&self.root)
        };
        build().map_err(|e| {
            let _ = fs::remove_dir_all(&staging);
            internal(e)
        })
    }

    pub(crate) fn delete_bucket(&self, bucket: &str) -> S3Result<()> {
        let _g = write_lock(&self.buckets);
        let bdir = self.bucket_dir(bucket)?;
        let mut entries = fs::read_dir(bdir.join(META_DIR)).map_err(internal)?;
        if entries.next().is_some() || Self::has_versions(&bdir).map_err(internal)? {
            return Err(s3_error!(BucketNotEmpty));
        }
        // Rename first so the bucket vanishes atomically; unfinished multipart uploads go with it.
        let grave = self.tmp_path();
        fs::rename(&bdir, &grave).map_err(internal)?;
        sync_dir(&self.root).map_err(internal)?;
        if let Err(e) = fs::remove_dir_all(&grave) {
            tracing::warn!(error = %e, "local backend: could not remove deleted bucket's files (removed at next start)");
        }
        Ok(())
    }

    /// All buckets with their creation time (ms), sorted by name.
    pub(crate) fn list_buckets(&self) -> S3Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.root).map_err(internal)? {
            let entry = entry.map_err(internal)?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if !names::is_valid_bucket_name(&name) || !Self::exists(&entry.path()) {
                continue;
            }
            let created = match read_json::<BucketMeta>(&entry.path().join(BUCKET_FILE)) {
                Ok(Some(m)) => m.created_ms,
                _ => 0,
            };
            out.push((name, created));
        }
        out.sort();
        Ok(out)
    }

    // ----- objects -------------------------------------------------------------------------

    fn meta_path(bdir: &Path, key: &str) -> PathBuf {
        bdir.join(META_DIR).join(key_to_name(key))
    }

    /// Reads an object's sidecar, checking that it really is `key`'s (hashed names).
    fn read_meta(bdir: &Path, key: &str) -> S3Result<Option<ObjectMeta>> {
        let meta: Option<ObjectMeta> = read_json(&Self::meta_path(bdir, key)).map_err(internal)?;
        match meta {
            // The blob name is joined to a path: never trust one that is not ours.
            Some(m) if !blob_ok(&m) => Err(internal(format!(
                "sidecar of {key:?} names an invalid blob"
            ))),
            m => Ok(m.filter(|m| m.key == key)),
        }
    }

    /// Every key in the bucket, sorted by UTF-8 bytes (S3 listing order).
    pub(crate) fn list_keys(&self, bucket: &str) -> S3Result<Vec<String>> {
        let bdir = self.bucket_dir(bucket)?;
        let meta_dir = bdir.join(META_DIR);
        let mut keys = Vec::new();
        for entry in fs::read_dir(&meta_dir).map_err(internal)? {
            let entry = entry.map_err(internal)?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            match name_to_key(&name) {
                Some(NameKey::Direct(k)) => keys.push(k),
                Some(NameKey::Hashed) => {
                    // Deleted since `read_dir`: simply not listed.
                    if let Some(m) = read_json::<ObjectMeta>(&entry.path()).map_err(internal)? {
                        keys.push(m.key);
                    }
                }
                None => {}
            }
        }
        keys.sort_unstable();
        Ok(keys)
    }

    /// Sidecars for `keys` (from [`Store::list_keys`]); keys deleted in between are skipped.
    pub(crate) fn read_metas(&self, bucket: &str, keys: &[&str]) -> S3Result<Vec<ObjectMeta>> {
        let bdir = self.bucket_dir(bucket)?;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(m) = Self::read_meta(&bdir, key)? {
                out.push(m);
            }
        }
        Ok(out)
    }

    // ----- multipart uploads ---------------------------------------------------------------

    fn upload_path(bdir: &Path, upload_id: &str) -> S3Result<PathBuf> {
        if !names::is_valid_id(upload_id) {
            return Err(s3_error!(NoSuchUpload));
        }
        Ok(bdir.join(UPLOADS_DIR).join(upload_id))
    }

    pub(crate) fn create_upload(&self, bucket: &str, meta: &UploadMeta) -> S3Result<String> {
        let _b = read_lock(&self.buckets);
        let bdir = self.bucket_dir(bucket)?;
        let id = names::new_id();
        let staging = self.tmp_path();
        let build = || -> io::Result<()> {
            mkdir(&staging, false)?;
            let mut f = File::create(staging.join(UPLOAD_FILE))?;
            f.write_all(&serde_json::to_vec(meta)?)?;
            f.sync_all()?;
            sync_dir(&staging)?;
            let uploads = bdir.join(UPLOADS_DIR);
            fs::rename(&staging, uploads.join(&id))?;
            sync_dir(&uploads)
        };
        build().map_err(|e| {
            let _ = fs::remove_dir_all(&staging);
            internal(e)
        })?;
        Ok(id)
    }

    /// The upload's `upload.json`; `NoSuchUpload` if it does not exist or is for another key.
    pub(crate) fn read_upload(
        &self,
        bucket: &str,
        upload_id: &str,
        key: &str,
    ) -> S3Result<UploadMeta> {
        let bdir = self.bucket_dir(bucket)?;
        let udir = Self::upload_path(&bdir, upload_id)?;
        let meta: Option<UploadMeta> = read_json(&udir.join(UPLOAD_FILE)).map_err(internal)?;
        meta.filter(|m| m.key == key)
            .ok_or_else(|| s3_error!(NoSuchUpload))
    }

    pub(crate) fn commit_part(
        &self,
        bucket: &str,
        upload_id: &str,
        part: &PartMeta,
        data: TempFile,
    ) -> S3Result<()> {
        let _b = read_lock(&self.buckets);
        let bdir = self.bucket_dir(bucket)?;
        let udir = Self::upload_path(&bdir, upload_id)?;
        let _k = lock(self.stripe(upload_id, &part.part_number.to_string()));
        if !udir.join(UPLOAD_FILE).is_file() {
            return Err(s3_error!(NoSuchUpload));
        }
        let json = udir.join(format!("p{:05}.json", part.part_number));
        let old: Option<PartMeta> = read_json(&json).map_err(internal)?;
        let dest = udir.join(&part.data);
        fs::rename(data.path(), &dest).map_err(internal)?;
        data.disarm();
        let commit = || -> io::Result<()> {
            sync_dir(&udir)?;
            self.write_json(&json, part)
        };
        if let Err(e) = commit() {
            let _ = fs::remove_file(&dest);
            return Err(internal(e));
        }
        if let Some(old) = old.filter(|o| o.data != part.data) {
            let _ = remove_file_if_exists(&udir.join(&old.data));
        }
        Ok(())
    }

    /// The upload's parts, sorted by part number.
    pub(crate) fn list_parts(&self, bucket: &str, upload_id: &str) -> S3Result<Vec<PartMeta>> {
        let bdir = self.bucket_dir(bucket)?;
        let udir = Self::upload_path(&bdir, upload_id)?;
        let entries = match fs::read_dir(&udir) {
            Ok(e) => e,
            Err(e) if is_not_found(&e) => return Err(s3_error!(NoSuchUpload)),
            Err(e) => return Err(internal(e)),
        };
        let mut parts = Vec::new();
        for entry in entries {
            let entry = entry.map_err(internal)?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.starts_with('p') && name.ends_with(".json") {
                if let Some(p) = read_json::<PartMeta>(&entry.path()).map_err(internal)? {
                    // The data name is joined to a path: never trust one that is not ours.
                    if !is_part_data_name(&p.data) {
                        return Err(internal(format!("part sidecar {name} names invalid data")));
                    }
                    parts.push(p);
                }
            }
        }
        parts.sort_by_key(|p| p.part_number);
        Ok(parts)
    }

    /// Concatenates the parts' plaintext into a new temp file, sealed under `seal` if given (one
    /// segment stream, so ranges need no part table); without SSE the kernel copies
    /// (`copy_file_range`). `NoSuchUpload` if the upload is aborted meanwhile.
    pub(crate) fn assemble(
        &self,
        bucket: &str,
        upload_id: &str,
        parts: &[PartMeta],
        seal: Option<ObjectCipher>,
    ) -> S3Result<TempFile> {
        let bdir = self.bucket_dir(bucket)?;
        let udir = Self::upload_path(&bdir, upload_id)?;
        let (tmp, out) = self.create_temp().map_err(internal)?;
        let mut sink = Sink::new(out, seal);
        for part in parts {
            let mut src = match File::open(udir.join(&part.data)) {
                Ok(f) => f,
                Err(e) if is_not_found(&e) => return Err(s3_error!(NoSuchUpload)),
                Err(e) => return Err(internal(e)),
            };
            let on_disk = src.metadata().map_err(internal)?.len();
            let n = match (sink.as_plain(), &part.sse) {
                (Some(out), None) => io::copy(&mut src, out).map_err(internal)?,
                _ => {
                    let mut r =
                        self.plain_reader(part.sse.as_ref(), src, part.size, 0, part.size)?;
                    io::copy(&mut r, &mut sink).map_err(internal)?
                }
            };
            if n != part.size || on_disk != part.stored_len() {
                return Err(internal(format!(
                    "part {} data is {on_disk} bytes ({n} read), sidecar says {}",
                    part.part_number, part.size
                )));
            }
        }
        let out = sink.finish().map_err(internal)?;
        out.sync_all().map_err(internal)?;
        Ok(tmp)
    }

    /// Removes an upload and all its parts (abort, or after completion).
    pub(crate) fn remove_upload(&self, bucket: &str, upload_id: &str) -> S3Result<()> {
        let _b = read_lock(&self.buckets);
        let bdir = self.bucket_dir(bucket)?;
        let udir = Self::upload_path(&bdir, upload_id)?;
        let grave = self.tmp_path();
        match fs::rename(&udir, &grave) {
            Err(e) if is_not_found(&e) => return Err(s3_error!(NoSuchUpload)),
            Err(e) => return Err(internal(e)),
            Ok(()) => {}
        }
        sync_dir(&bdir.join(UPLOADS_DIR)).map_err(internal)?;
        let _ = fs::remove_dir_all(&grave);
        Ok(())
    }

    /// All uploads in progress in the bucket, as `(upload id, upload.json)`.
    pub(crate) fn list_uploads(&self, bucket: &str) -> S3Result<Vec<(String, UploadMeta)>> {
        let bdir = self.bucket_dir(bucket)?;
        let mut out = Vec::new();
        for entry in fs::read_dir(bdir.join(UPLOADS_DIR)).map_err(internal)? {
            let entry = entry.map_err(internal)?;
            let Ok(id) = entry.file_name().into_string() else {
                continue;
            };
            if !names::is_valid_id(&id) {
                continue;
            }
            if let Some(m) =
                read_json::<UploadMeta>(&entry.path().join(UPLOAD_FILE)).map_err(internal)?
            {
                out.push((id, m));
            }
        }
        Ok(out)
    }

    // ----- maintenance ---------------------------------------------------------------------

    /// Deletes blobs no sidecar references (left by a crash between the blob rename and the
    /// sidecar commit) that are older than `started - ORPHAN_MIN_AGE`. Blobs written by this
    /// instance are newer than that, so the sweep can run concurrently with requests.
    pub(crate) fn sweep_orphans(&self, started: SystemTime) -> io::Result<usize> {
        let cutoff = started.checked_sub(ORPHAN_MIN_AGE).unwrap_or(UNIX_EPOCH);
        let mut removed = 0;
        for (bucket, _) in self
            .list_buckets()
            .map_err(|e| io::Error::other(e.to_string()))?
        {
            let bdir = self.root.join(&bucket);
            let blob_dir = bdir.join(BLOB_DIR);
            // Old blobs first, then sidecars: a blob committed after this listing is new (kept by
            // the age check), and one committed before it is referenced by a sidecar read below.
            let mut candidates = Vec::new();
            for entry in fs::read_dir(&blob_dir)? {
                let entry = entry?;
                let old = entry.metadata()?.modified()? < cutoff;
                if old {
                    candidates.push(entry.file_name());
                }
            }
            if candidates.is_empty() {
                continue;
            }
            let mut referenced = HashSet::new();
            for entry in fs::read_dir(bdir.join(META_DIR))? {
                if let Some(m) = read_json::<ObjectMeta>(&entry?.path())? {
                    referenced.insert(m.blob);
                }
            }
            for m in Self::all_noncurrent(&bdir)? {
                referenced.insert(m.blob);
            }
            for name in candidates {
                let Some(s) = name.to_str() else { continue };
                if !referenced.contains(s) {
                    remove_file_if_exists(&blob_dir.join(&name))?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

/// A sidecar's blob name is joined to a path: never trust one that is not ours. Delete markers
/// have none.
fn blob_ok(m: &ObjectMeta) -> bool {
    if m.delete_marker {
        m.blob.is_empty()
    } else {
        names::is_valid_id(&m.blob)
    }
}

/// True for names [`PartMeta::new`] produces: `pNNNNN-<id>.data`.
fn is_part_data_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('p').and_then(|r| r.strip_suffix(".data")) else {
        return false;
    };
    match rest.split_once('-') {
        Some((num, id)) => {
            num.len() == 5 && num.bytes().all(|b| b.is_ascii_digit()) && names::is_valid_id(id)
        }
        None => false,
    }
}

#[derive(Serialize, Deserialize)]
struct BucketMeta {
    v: u32,
    created_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_removes_only_old_unreferenced_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .create_bucket("bkt", &BucketConfig::default())
            .unwrap();
        let (tmp, mut f) = store.create_temp().unwrap();
        f.write_all(b"hello").unwrap();
        drop(f);
        let meta = ObjectMeta::new(
            "k".into(),
            names::new_id(),
            5,
            "x".into(),
            ContentHeaders::default(),
        );
        store.commit_object("bkt", &meta, tmp, |_| Ok(())).unwrap();

        let blob_dir = dir.path().join("bkt").join(BLOB_DIR);
        let old = SystemTime::now() - Duration::from_secs(3600);
        for name in ["orphan-old", "orphan-new"] {
            File::create(blob_dir.join(name)).unwrap();
        }
        File::options()
            .write(true)
            .open(blob_dir.join("orphan-old"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        File::options()
            .write(true)
            .open(blob_dir.join(&meta.blob))
            .unwrap()
            .set_modified(old)
            .unwrap();

        assert_eq!(store.sweep_orphans(SystemTime::now()).unwrap(), 1);
        assert!(!blob_dir.join("orphan-old").exists());
        assert!(blob_dir.join("orphan-new").exists());
        assert!(blob_dir.join(&meta.blob).exists());
    }

    #[test]
    fn part_data_names() {
        let p = PartMeta::new(42, 1, "x".into(), Checksums::default());
        assert!(is_part_data_name(&p.data));
        assert!(!is_part_data_name("p00042-../../etc.data"));
        assert!(!is_part_data_name("../p00001-x.data"));
    }

    #[test]
    fn reopen_clears_scratch() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (tmp, _f) = store.create_temp().unwrap();
        let leftover = tmp.path().to_owned();
        std::mem::forget(tmp); // as if the process died mid-write
        drop(store);
        assert!(leftover.exists());
        let _store = Store::open(dir.path()).unwrap();
        assert!(!leftover.exists());
    }

    #[cfg(unix)]
    #[test]
    fn root_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("a/b");
        let _store = Store::open(&root).unwrap();
        assert_eq!(
            fs::metadata(&root).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }
}
