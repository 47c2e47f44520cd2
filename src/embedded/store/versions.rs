//! Object versions (issue 11; AWS S3 user guide, "Using versioning in S3 buckets"): where each
//! version lives and the order in which a change is made durable.
//!
//! The latest version of a key, when it is an object, is `meta/<name>` (so ListObjects and plain
//! GETs read one file, as before versioning). Every other version — noncurrent objects and all
//! delete markers — is `versions/<name>/<version-id>.json` (`null.json` for the null version).
//! A key whose latest version is a delete marker has no `meta/<name>`.
//!
//! Each change writes the sidecars it keeps *before* its commit point (the write or removal of
//! `meta/<name>`) and removes what it replaced only after it, so a crash leaves the state before
//! or after the request, plus at worst a duplicate: a version that is both current and in
//! `versions/` (the current one wins; readers drop the copy) or, for a delete without version
//! id, a delete marker older-than-visible that stays as a noncurrent version.

use super::*;

pub(crate) const VERSIONS_DIR: &str = "versions";

/// What a bucket does with writes (its versioning status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Versioning {
    /// Versioning never configured: one (null) version per key, replaced by each write.
    Unversioned,
    Enabled,
    /// Writes replace the null version; older versions are kept.
    Suspended,
}

impl Versioning {
    /// The version id a new write gets.
    pub(crate) fn new_version_id(self) -> Option<String> {
        (self == Versioning::Enabled).then(names::new_id)
    }

    /// Whether responses report version ids (`x-amz-version-id`): not for never-versioned
    /// buckets, as on S3.
    pub(crate) fn reports(self) -> bool {
        self != Versioning::Unversioned
    }
}

/// What a delete did.
#[derive(Debug, Clone, Default)]
pub(crate) struct Deleted {
    /// The version removed or the delete marker created (`None`: the null version).
    pub version_id: Option<String>,
    /// A delete marker was created, or the version removed was one.
    pub delete_marker: bool,
}

/// A key's versions: the current object (if its latest version is one) and the others, newest
/// first.
pub(crate) struct KeyVersions {
    pub current: Option<ObjectMeta>,
    pub noncurrent: Vec<ObjectMeta>,
}

impl KeyVersions {
    /// All versions, newest first, each with "is latest".
    pub(crate) fn all(self) -> Vec<(ObjectMeta, bool)> {
        let mut out = Vec::with_capacity(self.noncurrent.len() + 1);
        let has_current = self.current.is_some();
        if let Some(c) = self.current {
            out.push((c, true));
        }
        for (i, m) in self.noncurrent.into_iter().enumerate() {
            out.push((m, i == 0 && !has_current));
        }
        out
    }

    /// The latest version when it is a delete marker.
    fn latest_marker(&self) -> Option<&ObjectMeta> {
        match (&self.current, self.noncurrent.first()) {
            (None, Some(m)) if m.delete_marker => Some(m),
            _ => None,
        }
    }
}

/// `InvalidArgument` for a version id this store cannot have issued.
pub(crate) fn check_version_id(vid: &str) -> S3Result<()> {
    if vid == NULL_VERSION || names::is_valid_id(vid) {
        Ok(())
    } else {
        Err(s3_error!(InvalidArgument, "Invalid version id specified"))
    }
}

/// The 404 of a key whose latest version is a delete marker carries the marker's headers
/// (AWS S3 API reference, GetObject: "x-amz-delete-marker").
fn marker_headers(mut e: S3Error, marker: &ObjectMeta) -> S3Error {
    let mut h = hyper::HeaderMap::new();
    h.insert(
        "x-amz-delete-marker",
        hyper::header::HeaderValue::from_static("true"),
    );
    if let Ok(v) = marker.vid().parse() {
        h.insert("x-amz-version-id", v);
    }
    e.set_headers(h);
    e
}

/// GET or HEAD of a delete marker by version id: 405 (AWS S3 user guide, "Working with delete
/// markers").
pub(crate) fn marker_not_readable(marker: &ObjectMeta) -> S3Error {
    marker_headers(
        s3_error!(
            MethodNotAllowed,
            "The specified method is not allowed against this resource."
        ),
        marker,
    )
}

impl Store {
    fn versions_dir(bdir: &Path, key: &str) -> PathBuf {
        bdir.join(VERSIONS_DIR).join(key_to_name(key))
    }

    fn version_file(vdir: &Path, vid: &str) -> PathBuf {
        vdir.join(format!("{vid}.json"))
    }

    /// Noncurrent versions of `key` in `vdir`, newest first.
    fn read_noncurrent(vdir: &Path, key: &str) -> S3Result<Vec<ObjectMeta>> {
        let entries = match fs::read_dir(vdir) {
            Ok(e) => e,
            Err(e) if is_not_found(&e) => return Ok(Vec::new()),
            Err(e) => return Err(internal(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(internal)?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let Some(vid) = name.strip_suffix(".json") else {
                continue;
            };
            if let Some(m) = read_json::<ObjectMeta>(&entry.path()).map_err(internal)? {
                if !blob_ok(&m) {
                    return Err(internal(format!("version {name} names an invalid blob")));
                }
                if m.key == key && m.vid() == vid {
                    out.push(m);
                }
            }
        }
        out.sort_by_key(|m| std::cmp::Reverse(m.order()));
        Ok(out)
    }

    fn key_versions(bdir: &Path, key: &str) -> S3Result<KeyVersions> {
        let current = Self::read_meta(bdir, key)?;
        let mut noncurrent = Self::read_noncurrent(&Self::versions_dir(bdir, key), key)?;
        if let Some(c) = &current {
            // a copy left by a crash just before or after a commit
            noncurrent.retain(|m| m.vid() != c.vid());
        }
        Ok(KeyVersions {
            current,
            noncurrent,
        })
    }

    /// Keeps `m` as a noncurrent version (durably) before a commit replaces it.
    fn archive(&self, bdir: &Path, m: &ObjectMeta) -> io::Result<()> {
        let vdir = Self::versions_dir(bdir, &m.key);
        if !vdir.is_dir() {
            mkdir(&vdir, true)?;
            sync_dir(&bdir.join(VERSIONS_DIR))?;
        }
        self.write_json(&Self::version_file(&vdir, m.vid()), m)
    }

    /// Removes a noncurrent sidecar (after the commit that made it unneeded) and, if it was the
    /// key's last, the key's directory.
    fn drop_noncurrent(bdir: &Path, key: &str, vid: &str) -> io::Result<()> {
        let vdir = Self::versions_dir(bdir, key);
        remove_file_if_exists(&Self::version_file(&vdir, vid))?;
        sync_dir(&vdir)?;
        // fails (and is meant to) while other versions remain
        if fs::remove_dir(&vdir).is_ok() {
            let _ = sync_dir(&bdir.join(VERSIONS_DIR));
        }
        Ok(())
    }

    fn drop_blob(bdir: &Path, m: &ObjectMeta) {
        if m.delete_marker || m.blob.is_empty() {
            return;
        }
        if let Err(e) = remove_file_if_exists(&bdir.join(BLOB_DIR).join(&m.blob)) {
            tracing::warn!(error = %e, "local backend: could not remove a blob (swept at next start)");
        }
    }

    /// Whether any noncurrent version or delete marker exists (DeleteBucket's `BucketNotEmpty`).
    pub(super) fn has_versions(bdir: &Path) -> io::Result<bool> {
        let entries = match fs::read_dir(bdir.join(VERSIONS_DIR)) {
            Ok(e) => e,
            Err(e) if is_not_found(&e) => return Ok(false),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            if fs::read_dir(entry.path())?.next().is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Every noncurrent sidecar of the bucket (orphan sweep).
    pub(super) fn all_noncurrent(bdir: &Path) -> io::Result<Vec<ObjectMeta>> {
        let mut out = Vec::new();
        let entries = match fs::read_dir(bdir.join(VERSIONS_DIR)) {
            Ok(e) => e,
            Err(e) if is_not_found(&e) => return Ok(out),
            Err(e) => return Err(e),
        };
        for entry in entries {
            for file in fs::read_dir(entry?.path())? {
                if let Some(m) = read_json::<ObjectMeta>(&file?.path())? {
                    out.push(m);
                }
            }
        }
        Ok(out)
    }

    // ----- reads ---------------------------------------------------------------------------

    /// One version's sidecar: the latest object (`vid` `None`), or the version named. Errors:
    /// `NoSuchKey` (with the delete-marker headers when the latest version is one),
    /// `NoSuchVersion`, `InvalidArgument` for a malformed id. A delete marker named by id is
    /// returned: callers decide (GET and HEAD refuse it, DeleteObject removes it).
    pub(crate) fn read_version(
        &self,
        bucket: &str,
        key: &str,
        vid: Option<&str>,
    ) -> S3Result<ObjectMeta> {
        let bdir = self.bucket_dir(bucket)?;
        Self::find_version(&bdir, key, vid)
    }

    fn find_version(bdir: &Path, key: &str, vid: Option<&str>) -> S3Result<ObjectMeta> {
        match vid {
            None => match Self::read_meta(bdir, key)? {
                Some(m) => Ok(m),
                None => {
                    let vs = Self::key_versions(bdir, key)?;
                    Err(match vs.latest_marker() {
                        Some(m) => marker_headers(s3_error!(NoSuchKey), m),
                        None => s3_error!(NoSuchKey),
                    })
                }
            },
            Some(vid) => {
                check_version_id(vid)?;
                if let Some(m) = Self::read_meta(bdir, key)?.filter(|m| m.vid() == vid) {
                    return Ok(m);
                }
                let path = Self::version_file(&Self::versions_dir(bdir, key), vid);
                match read_json::<ObjectMeta>(&path).map_err(internal)? {
                    Some(m) if m.key == key && m.vid() == vid => {
                        if !blob_ok(&m) {
                            return Err(internal(format!("version {vid} names an invalid blob")));
                        }
                        Ok(m)
                    }
                    _ => Err(s3_error!(NoSuchVersion)),
                }
            }
        }
    }

    /// The object's latest sidecar, or `NoSuchBucket` / `NoSuchKey`.
    pub(crate) fn head_object(&self, bucket: &str, key: &str) -> S3Result<ObjectMeta> {
        self.read_version(bucket, key, None)
    }

    /// A version's sidecar and its data, opened; delete markers answer 405.
    pub(crate) fn open_version(
        &self,
        bucket: &str,
        key: &str,
        vid: Option<&str>,
    ) -> S3Result<(ObjectMeta, File)> {
        let bdir = self.bucket_dir(bucket)?;
        for _ in 0..BLOB_OPEN_ATTEMPTS {
            let meta = Self::find_version(&bdir, key, vid)?;
            if meta.delete_marker {
                return Err(marker_not_readable(&meta));
            }
            match File::open(bdir.join(BLOB_DIR).join(&meta.blob)) {
                Ok(file) => {
                    let len = file.metadata().map_err(internal)?.len();
                    if len != meta.stored_len() {
                        return Err(internal(format!(
                            "object {bucket}/{key}: data is {len} bytes, sidecar says {}",
                            meta.stored_len()
                        )));
                    }
                    return Ok((meta, file));
                }
                // Overwritten or deleted between reading the sidecar and opening the blob.
                Err(e) if is_not_found(&e) => continue,
                Err(e) => return Err(internal(e)),
            }
        }
        Err(s3_error!(NoSuchKey))
    }

    /// All versions of `key`, newest first, each with "is latest".
    pub(crate) fn versions_of(&self, bucket: &str, key: &str) -> S3Result<Vec<(ObjectMeta, bool)>> {
        let bdir = self.bucket_dir(bucket)?;
        Ok(Self::key_versions(&bdir, key)?.all())
    }

    /// Every key with at least one version (current or not), sorted (ListObjectVersions).
    pub(crate) fn list_version_keys(&self, bucket: &str) -> S3Result<Vec<String>> {
        let bdir = self.bucket_dir(bucket)?;
        let mut keys = self.list_keys(bucket)?;
        let entries = match fs::read_dir(bdir.join(VERSIONS_DIR)) {
            Ok(e) => Some(e),
            Err(e) if is_not_found(&e) => None,
            Err(e) => return Err(internal(e)),
        };
        for entry in entries.into_iter().flatten() {
            let entry = entry.map_err(internal)?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            match name_to_key(&name) {
                Some(NameKey::Direct(k)) => keys.push(k),
                Some(NameKey::Hashed) => {
                    let Ok(files) = fs::read_dir(entry.path()) else {
                        continue;
                    };
                    for file in files {
                        let file = file.map_err(internal)?;
                        if let Some(m) = read_json::<ObjectMeta>(&file.path()).map_err(internal)? {
                            keys.push(m.key);
                            break;
                        }
                    }
                }
                None => {}
            }
        }
        keys.sort_unstable();
        keys.dedup();
        Ok(keys)
    }

    // ----- writes --------------------------------------------------------------------------

    /// Moves `data` into place as the new latest version described by `meta` (its `version_id`
    /// says which: `None` replaces the null version) after `check` approved the current latest
    /// object (conditional writes), all under the key's lock. The version it displaces is kept
    /// unless it is the null version being replaced.
    pub(crate) fn commit_object(
        &self,
        bucket: &str,
        meta: &ObjectMeta,
        data: TempFile,
        check: impl FnOnce(Option<&ObjectMeta>) -> S3Result<()>,
    ) -> S3Result<()> {
        let _b = read_lock(&self.buckets);
        let bdir = self.bucket_dir(bucket)?;
        let _k = lock(self.stripe(bucket, &meta.key));
        let old = Self::read_meta(&bdir, &meta.key)?;
        check(old.as_ref())?;
        // an older null version that is not current (versioning was suspended and re-enabled,
        // or it is a delete marker) is replaced too
        let old_null = if meta.version_id.is_none() {
            let vdir = Self::versions_dir(&bdir, &meta.key);
            read_json::<ObjectMeta>(&Self::version_file(&vdir, NULL_VERSION))
                .map_err(internal)?
                .filter(|m| m.key == meta.key && m.version_id.is_none())
        } else {
            None
        };

        let blob_dir = bdir.join(BLOB_DIR);
        let blob = blob_dir.join(&meta.blob);
        fs::rename(data.path(), &blob).map_err(internal)?;
        data.disarm();
        let keep_old = old
            .as_ref()
            .filter(|o| o.version_id.is_some() || meta.version_id.is_some());
        let commit = || -> io::Result<()> {
            // The blob's name must be durable before a durable sidecar can point at it.
            sync_dir(&blob_dir)?;
            if let Some(o) = keep_old {
                self.archive(&bdir, o)?;
            }
            self.write_json(&Self::meta_path(&bdir, &meta.key), meta)
        };
        if let Err(e) = commit() {
            let _ = fs::remove_file(&blob);
            return Err(internal(e));
        }
        // after the commit point: what the new version replaced
        if let Some(n) = old_null {
            if let Err(e) = Self::drop_noncurrent(&bdir, &meta.key, NULL_VERSION) {
                tracing::warn!(error = %e, "local backend: could not remove a replaced null version");
            }
            if n.blob != meta.blob {
                Self::drop_blob(&bdir, &n);
            }
        }
        if let Some(o) = old.filter(|o| o.version_id.is_none() && meta.version_id.is_none()) {
            if o.blob != meta.blob {
                Self::drop_blob(&bdir, &o);
            }
        }
        Ok(())
    }

    /// DeleteObject without a version id: removes the object (never-versioned bucket) or puts a
    /// delete marker on top (AWS S3 user guide, "Deleting object versions"). Deleting a missing
    /// key is not an error (S3 semantics); in a versioned bucket it still adds a marker.
    pub(crate) fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        mode: Versioning,
    ) -> S3Result<Deleted> {
        let _b = read_lock(&self.buckets);
        let bdir = self.bucket_dir(bucket)?;
        let _k = lock(self.stripe(bucket, key));
        let old = Self::read_meta(&bdir, key)?;
        let meta_path = Self::meta_path(&bdir, key);
        if mode == Versioning::Unversioned {
            let Some(old) = old else {
                return Ok(Deleted::default());
            };
            remove_file_if_exists(&meta_path).map_err(internal)?;
            sync_dir(&bdir.join(META_DIR)).map_err(internal)?;
            Self::drop_blob(&bdir, &old);
            return Ok(Deleted::default());
        }
        let marker = ObjectMeta::delete_marker(key.to_owned(), mode.new_version_id());
        let vdir = Self::versions_dir(&bdir, key);
        let old_null = if marker.version_id.is_none() {
            read_json::<ObjectMeta>(&Self::version_file(&vdir, NULL_VERSION))
                .map_err(internal)?
                .filter(|m| m.key == key)
        } else {
            None
        };
        let keep_old = old
            .as_ref()
            .filter(|o| o.version_id.is_some() || marker.version_id.is_some());
        let commit = || -> io::Result<()> {
            if let Some(o) = keep_old {
                self.archive(&bdir, o)?;
            }
            self.archive(&bdir, &marker)?;
            if old.is_some() {
                remove_file_if_exists(&meta_path)?;
                sync_dir(&bdir.join(META_DIR))?;
            }
            Ok(())
        };
        commit().map_err(internal)?;
        if let Some(n) = old_null {
            Self::drop_blob(&bdir, &n);
        }
        if let Some(o) = old.filter(|o| o.version_id.is_none() && marker.version_id.is_none()) {
            Self::drop_blob(&bdir, &o);
        }
        Ok(Deleted {
            version_id: marker.version_id,
            delete_marker: true,
        })
    }

    /// DeleteObject with a version id: removes that version for good, after `check` (object
    /// lock) approved it. When it was the latest, the next newest becomes current. A version
    /// that does not exist is not an error (S3 semantics).
    pub(crate) fn delete_version(
        &self,
        bucket: &str,
        key: &str,
        vid: &str,
        check: impl FnOnce(&ObjectMeta) -> S3Result<()>,
    ) -> S3Result<Deleted> {
        check_version_id(vid)?;
        let _b = read_lock(&self.buckets);
        let bdir = self.bucket_dir(bucket)?;
        let _k = lock(self.stripe(bucket, key));
        let vs = Self::key_versions(&bdir, key)?;
        let meta_path = Self::meta_path(&bdir, key);
        let gone = Deleted {
            version_id: (vid != NULL_VERSION).then(|| vid.to_owned()),
            delete_marker: false,
        };
        if let Some(cur) = vs.current.as_ref().filter(|c| c.vid() == vid) {
            check(cur)?;
            match vs.noncurrent.first() {
                // the next newest object becomes current: writing it over `meta/<name>` is the
                // commit point, its copy in `versions/` goes after
                Some(next) if !next.delete_marker => {
                    self.write_json(&meta_path, next).map_err(internal)?;
                    if let Err(e) = Self::drop_noncurrent(&bdir, key, next.vid()) {
                        tracing::warn!(error = %e, "local backend: promoted version left in versions/");
                    }
                }
                _ => {
                    remove_file_if_exists(&meta_path).map_err(internal)?;
                    sync_dir(&bdir.join(META_DIR)).map_err(internal)?;
                }
            }
            Self::drop_blob(&bdir, cur);
            return Ok(gone);
        }
        let Some(pos) = vs.noncurrent.iter().position(|m| m.vid() == vid) else {
            return Ok(gone);
        };
        let victim = &vs.noncurrent[pos];
        check(victim)?;
        let was_latest_marker = vs.current.is_none() && pos == 0 && victim.delete_marker;
        let promote = vs
            .noncurrent
            .get(1)
            .filter(|n| was_latest_marker && !n.delete_marker);
        if let Some(next) = promote {
            self.write_json(&meta_path, next).map_err(internal)?;
        }
        Self::drop_noncurrent(&bdir, key, vid).map_err(internal)?;
        if let Some(next) = promote {
            if let Err(e) = Self::drop_noncurrent(&bdir, key, next.vid()) {
                tracing::warn!(error = %e, "local backend: promoted version left in versions/");
            }
        }
        Self::drop_blob(&bdir, victim);
        Ok(Deleted {
            delete_marker: victim.delete_marker,
            ..gone
        })
    }

    /// Rewrites one version's sidecar in place (tagging, retention, legal hold): `f` changes it
    /// or refuses. Delete markers answer 405.
    pub(crate) fn update_version<T>(
        &self,
        bucket: &str,
        key: &str,
        vid: Option<&str>,
        f: impl FnOnce(&mut ObjectMeta) -> S3Result<T>,
    ) -> S3Result<(ObjectMeta, T)> {
        let _b = read_lock(&self.buckets);
        let bdir = self.bucket_dir(bucket)?;
        let _k = lock(self.stripe(bucket, key));
        let mut meta = Self::find_version(&bdir, key, vid)?;
        if meta.delete_marker {
            return Err(marker_not_readable(&meta));
        }
        let current = Self::read_meta(&bdir, key)?;
        let is_current = current.is_some_and(|c| c.vid() == meta.vid());
        let out = f(&mut meta)?;
        let path = if is_current {
            Self::meta_path(&bdir, key)
        } else {
            Self::version_file(&Self::versions_dir(&bdir, key), meta.vid())
        };
        self.write_json(&path, &meta).map_err(internal)?;
        Ok((meta, out))
    }
}

#[cfg(test)]
mod tests;
