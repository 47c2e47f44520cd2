//! Bucket versioning and ListObjectVersions (issue 11; AWS S3 API reference,
//! PutBucketVersioning and ListObjectVersions).

use super::*;

impl LocalS3 {
    pub(super) async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        let input = req.input;
        let conf = input.versioning_configuration;
        if conf
            .mfa_delete
            .as_ref()
            .is_some_and(|m| m.as_str() == MFADelete::ENABLED)
        {
            return Err(s3_error!(
                NotImplemented,
                "MFA delete is not supported by the embedded store"
            ));
        }
        let status = match conf.status.as_ref().map(|s| s.as_str()) {
            Some(s @ (BucketVersioningStatus::ENABLED | BucketVersioningStatus::SUSPENDED)) => {
                s.to_owned()
            }
            Some(_) => {
                return Err(s3_error!(
                    MalformedXML,
                    "Status must be Enabled or Suspended"
                ))
            }
            // an empty configuration changes nothing
            None => return Ok(S3Response::new(PutBucketVersioningOutput {})),
        };
        self.set_config(input.bucket, move |c| {
            if c.object_lock.is_some() && status == BucketVersioningStatus::SUSPENDED {
                // AWS S3 user guide, "Object Lock": versioning cannot be suspended
                return Err(s3_error!(
                    InvalidBucketState,
                    "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed."
                ));
            }
            c.versioning = Some(status);
            Ok(())
        })
        .await?;
        Ok(S3Response::new(PutBucketVersioningOutput {}))
    }

    pub(super) async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        let cfg = self.config(req.input.bucket).await?;
        Ok(S3Response::new(GetBucketVersioningOutput {
            status: cfg.versioning.map(BucketVersioningStatus::from),
            mfa_delete: None,
        }))
    }

    pub(super) async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let input = req.input;
        let max = list_limit(input.max_keys)?;
        let url = is_url(input.encoding_type.as_ref());
        if input.version_id_marker.is_some() && input.key_marker.is_none() {
            return Err(s3_error!(
                InvalidArgument,
                "A version-id marker cannot be specified without a key marker."
            ));
        }
        if let Some(v) = &input.version_id_marker {
            check_version_id(v)?;
        }
        let store = self.store.clone();
        let bucket = input.bucket.clone();
        let prefix = input.prefix.clone().unwrap_or_default();
        let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
        let key_marker = input.key_marker.clone();
        let vid_marker = input.version_id_marker.clone();
        let page = blocking(move || {
            version_page(
                &store,
                &bucket,
                &prefix,
                delimiter.as_deref(),
                key_marker.as_deref(),
                vid_marker.as_deref(),
                max,
            )
        })
        .await?;

        let mut versions = Vec::new();
        let mut markers = Vec::new();
        for (m, latest) in page.items {
            let key = if url {
                listing::url_encode(&m.key)
            } else {
                m.key.clone()
            };
            if m.delete_marker {
                markers.push(DeleteMarkerEntry {
                    owner: Some(service_owner()),
                    is_latest: Some(latest),
                    key: Some(key),
                    last_modified: Some(ms_to_timestamp(m.last_modified_ms)),
                    version_id: Some(m.vid().to_owned()),
                });
            } else {
                versions.push(ObjectVersion {
                    owner: Some(service_owner()),
                    e_tag: Some(etag(&m)),
                    is_latest: Some(latest),
                    key: Some(key),
                    last_modified: Some(ms_to_timestamp(m.last_modified_ms)),
                    size: Some(i64::try_from(m.size).unwrap_or(i64::MAX)),
                    storage_class: Some(ObjectVersionStorageClass::from_static(
                        ObjectVersionStorageClass::STANDARD,
                    )),
                    version_id: Some(m.vid().to_owned()),
                    ..Default::default()
                });
            }
        }
        Ok(S3Response::new(ListObjectVersionsOutput {
            name: Some(input.bucket),
            prefix: Some(encode_opt(input.prefix, url).unwrap_or_default()),
            delimiter: encode_opt(input.delimiter, url),
            key_marker: Some(encode_opt(input.key_marker, url).unwrap_or_default()),
            version_id_marker: Some(input.version_id_marker.unwrap_or_default()),
            max_keys: Some(i32::try_from(max).unwrap_or(MAX_LIST_ENTRIES)),
            is_truncated: Some(page.truncated),
            next_key_marker: encode_opt(page.next_key, url),
            next_version_id_marker: page.next_vid,
            versions: Some(versions),
            delete_markers: Some(markers),
            common_prefixes: common_prefixes(page.prefixes, url),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }
}

/// One page of ListObjectVersions.
#[derive(Default)]
struct VersionPage {
    /// Versions and delete markers, by key then newest first, with "is latest".
    items: Vec<(ObjectMeta, bool)>,
    prefixes: Vec<String>,
    truncated: bool,
    next_key: Option<String>,
    next_vid: Option<String>,
}

/// Up to `max` entries (versions, delete markers and common prefixes, each counting one) after
/// the markers: `key_marker` alone resumes after every version of that key, with
/// `vid_marker` after that version of it (AWS S3 API reference, ListObjectVersions).
fn version_page(
    store: &Store,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
    key_marker: Option<&str>,
    vid_marker: Option<&str>,
    max: usize,
) -> S3Result<VersionPage> {
    let keys = store.list_version_keys(bucket)?;
    let mut page = VersionPage::default();
    if max == 0 {
        return Ok(page);
    }
    let mut count = 0;
    let start = keys.partition_point(|k| k.as_str() < prefix);
    let mut i = start;
    'keys: while i < keys.len() {
        let key = keys[i].as_str();
        if !key.starts_with(prefix) {
            break;
        }
        let resume_in_key = vid_marker.is_some() && key_marker == Some(key);
        if key_marker.is_some_and(|m| key < m || (key == m && !resume_in_key)) {
            i += 1;
            continue;
        }
        if let Some(d) = delimiter {
            if let Some(at) = key[prefix.len()..].find(d) {
                let cp = &key[..prefix.len() + at + d.len()];
                if key_marker.is_none_or(|m| cp > m) {
                    if count == max {
                        page.truncated = true;
                        break;
                    }
                    count += 1;
                    page.prefixes.push(cp.to_owned());
                    page.next_key = Some(cp.to_owned());
                    page.next_vid = None;
                }
                i += keys[i..].partition_point(|k| k.starts_with(cp));
                continue;
            }
        }
        let mut versions = store.versions_of(bucket, key)?;
        if resume_in_key {
            match versions
                .iter()
                .position(|(m, _)| Some(m.vid()) == vid_marker)
            {
                Some(p) => {
                    versions.drain(..=p);
                }
                // the marker version is gone: nothing of this key is known to follow it
                None => versions.clear(),
            }
        }
        for (m, latest) in versions {
            if count == max {
                page.truncated = true;
                break 'keys;
            }
            count += 1;
            page.next_key = Some(m.key.clone());
            page.next_vid = Some(m.vid().to_owned());
            page.items.push((m, latest));
        }
        i += 1;
    }
    if !page.truncated {
        page.next_key = None;
        page.next_vid = None;
    }
    Ok(page)
}
