//! Object operations of the embedded store: PUT, GET, HEAD, DELETE, copy and listings.

use super::*;

impl LocalS3 {
    pub(super) async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let input = req.input;
        check_key(&input.key)?;
        if input
            .content_length
            .is_some_and(|n| u64::try_from(n).map_or(true, |n| n > MAX_OBJECT_SIZE))
        {
            return Err(s3_error!(EntityTooLarge));
        }
        let headers = content_headers(
            input.content_type,
            input.content_encoding,
            input.content_disposition,
            input.content_language,
            input.cache_control,
            input.expires,
            input.website_redirect_location,
            input.metadata,
        )?;
        let explicit = Checksums {
            crc32: input.checksum_crc32,
            crc32c: input.checksum_crc32c,
            sha1: input.checksum_sha1,
            sha256: input.checksum_sha256,
            crc64nvme: input.checksum_crc64nvme,
        };
        let (checks, hasher) = ChecksumRequest::new(
            explicit,
            &[input.checksum_algorithm.as_ref().map(|a| a.as_str())],
            &req.headers,
        )?;
        let tags = tags_from_header(input.tagging.as_deref())?;

        // Fail fast, before receiving the body; the conditions are checked again at commit.
        let (bucket, key) = (input.bucket, input.key);
        let (cfg, sse, seal) = {
            let (store, b, k) = (self.store.clone(), bucket.clone(), key.clone());
            let (im, inm) = (input.if_match.clone(), input.if_none_match.clone());
            let (alg, sse_c, kms) = (
                input.server_side_encryption.clone(),
                input.sse_customer_algorithm.clone(),
                input.ssekms_key_id.clone(),
            );
            blocking(move || {
                let cfg = store.read_config(&b)?;
                let encrypt = wants_sse(
                    &store,
                    &cfg,
                    &SseRequest {
                        header: alg.as_ref(),
                        customer_algorithm: sse_c.as_deref(),
                        kms_key_id: kms.as_deref(),
                    },
                )?;
                if im.is_some() || inm.is_some() {
                    let current = match store.head_object(&b, &k) {
                        Ok(m) => Some(m),
                        Err(e) if *e.code() == s3s::S3ErrorCode::NoSuchKey => None,
                        Err(e) => return Err(e),
                    };
                    cond::check_write(current.as_ref(), im.as_ref(), inm.as_ref())?;
                }
                let (sse, seal) = new_cipher(&store, encrypt)?;
                Ok((cfg, sse, seal))
            })
            .await?
        };
        let lock = lock_from_headers(
            &cfg,
            input.object_lock_mode.as_ref(),
            input.object_lock_retain_until_date.as_ref(),
            input.object_lock_legal_hold_status.as_ref(),
        )?;

        let got = self
            .receive(input.body, hasher, MAX_OBJECT_SIZE, seal)
            .await?;
        let trailers = req.trailing_headers.and_then(|t| t.take());
        let checksums = checks.verify(got.checksums, trailers.as_ref())?;
        if let Some(m) = &input.content_md5 {
            content_md5_matches(m, &got.md5)?;
        }

        let mut meta = ObjectMeta::new(
            key,
            names::new_id(),
            got.size,
            hex::encode(got.md5),
            headers,
        );
        let any_checksum = checksums != Checksums::default();
        meta.checksums = checksums;
        meta.checksum_type = any_checksum.then(|| CHECKSUM_TYPE_FULL_OBJECT.to_owned());
        meta.version_id = cfg.versioning().new_version_id();
        meta.tags = tags;
        meta.lock = lock;
        meta.sse = sse;

        let store = self.store.clone();
        let (im, inm) = (input.if_match, input.if_none_match);
        let meta = blocking(move || {
            store.commit_object(&bucket, &meta, got.tmp, |cur| {
                cond::check_write(cur, im.as_ref(), inm.as_ref())
            })?;
            Ok(meta)
        })
        .await?;

        let c = meta.checksums.clone();
        Ok(S3Response::new(PutObjectOutput {
            // S3 names the new version only when it has an id: not in never-versioned or
            // suspended buckets (s3-tests test_versioning_bucket_atomic_upload_return_version_id)
            version_id: meta.version_id.clone(),
            e_tag: Some(etag(&meta)),
            server_side_encryption: sse_header(meta.sse.as_ref()),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            checksum_crc64nvme: c.crc64nvme,
            checksum_type: meta.checksum_type.map(ChecksumType::from),
            ..Default::default()
        }))
    }

    pub(super) async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        refuse_sse_c(input.sse_customer_algorithm.as_deref())?;
        let store = self.store.clone();
        let (bucket, key, vid) = (
            input.bucket.clone(),
            input.key.clone(),
            input.version_id.clone(),
        );
        let (cfg, meta, file) = blocking(move || {
            let cfg = store.read_config(&bucket)?;
            let (meta, file) = store.open_version(&bucket, &key, vid.as_deref())?;
            Ok((cfg, meta, file))
        })
        .await?;
        cond::check_read(
            &meta,
            &Preconditions {
                if_match: input.if_match.as_ref(),
                if_none_match: input.if_none_match.as_ref(),
                if_modified_since: input.if_modified_since.as_ref(),
                if_unmodified_since: input.if_unmodified_since.as_ref(),
            },
        )?;
        if input.part_number.is_some() && input.range.is_some() {
            return Err(s3_error!(
                InvalidRequest,
                "Cannot specify both Range header and partNumber query parameter"
            ));
        }
        let (start, len, content_range) = match input.range {
            None if input.part_number.is_some() => {
                let (start, len) = part_range(&meta, input.part_number.unwrap_or(1))?;
                let range = (meta.parts_count.is_some() && meta.size > 0)
                    .then(|| format!("bytes {start}-{}/{}", start + len - 1, meta.size));
                (start, len, range)
            }
            None => (0, meta.size, None),
            Some(range) => {
                let r = range.check(meta.size).map_err(|_| {
                    let mut e = s3_error!(InvalidRange, "The requested range is not satisfiable");
                    // These replace the error response's headers, so restate its content type.
                    let mut h = HeaderMap::new();
                    h.insert(
                        hyper::header::CONTENT_TYPE,
                        hyper::header::HeaderValue::from_static("application/xml"),
                    );
                    if let Ok(v) = format!("bytes */{}", meta.size).parse() {
                        h.insert(hyper::header::CONTENT_RANGE, v);
                    }
                    e.set_headers(h);
                    e
                })?;
                (
                    r.start,
                    r.end - r.start,
                    Some(format!("bytes {}-{}/{}", r.start, r.end - 1, meta.size)),
                )
            }
        };
        let body = match &meta.sse {
            Some(sse) => sealed_body(&self.store, sse, file, meta.size, start, len).await?,
            None => {
                let mut file = tokio::fs::File::from_std(file);
                if start > 0 {
                    file.seek(SeekFrom::Start(start)).await.map_err(internal)?;
                }
                file_body(file, len)
            }
        };
        // S3 returns the stored checksum only for the whole object, and only when asked.
        let c = if checksum_mode_enabled(input.checksum_mode.as_ref()) && content_range.is_none() {
            meta.checksums.clone()
        } else {
            Checksums::default()
        };
        let h = meta.headers.clone();
        let lock = lock_headers(&meta);
        Ok(S3Response::new(GetObjectOutput {
            version_id: reported_vid(&cfg, &meta),
            tag_count: tag_count(&meta.tags),
            object_lock_mode: lock.0,
            object_lock_retain_until_date: lock.1,
            object_lock_legal_hold_status: lock.2,
            body: Some(body),
            server_side_encryption: sse_header(meta.sse.as_ref()),
            content_length: Some(i64::try_from(len).unwrap_or(i64::MAX)),
            content_range,
            accept_ranges: Some("bytes".to_owned()),
            e_tag: Some(etag(&meta)),
            last_modified: Some(ms_to_timestamp(meta.last_modified_ms)),
            content_type: Some(
                h.content_type
                    .unwrap_or_else(|| "binary/octet-stream".to_owned()),
            ),
            content_encoding: h.content_encoding,
            content_disposition: h.content_disposition,
            content_language: h.content_language,
            cache_control: h.cache_control,
            expires: h.expires,
            website_redirect_location: h.website_redirect_location,
            metadata: Some(h.metadata.into_iter().collect()),
            parts_count: meta.parts_count.and_then(|n| i32::try_from(n).ok()),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            checksum_crc64nvme: c.crc64nvme,
            checksum_type: meta
                .checksum_type
                .filter(|_| checksum_mode_enabled(input.checksum_mode.as_ref()))
                .map(ChecksumType::from),
            ..Default::default()
        }))
    }

    pub(super) async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        refuse_sse_c(input.sse_customer_algorithm.as_deref())?;
        let store = self.store.clone();
        let (bucket, key, vid) = (
            input.bucket.clone(),
            input.key.clone(),
            input.version_id.clone(),
        );
        let (cfg, meta) = blocking(move || {
            let cfg = store.read_config(&bucket)?;
            let meta = store.read_version(&bucket, &key, vid.as_deref())?;
            if meta.delete_marker {
                return Err(marker_not_readable(&meta));
            }
            Ok((cfg, meta))
        })
        .await?;
        cond::check_read(
            &meta,
            &Preconditions {
                if_match: input.if_match.as_ref(),
                if_none_match: input.if_none_match.as_ref(),
                if_modified_since: input.if_modified_since.as_ref(),
                if_unmodified_since: input.if_unmodified_since.as_ref(),
            },
        )?;
        let mode = checksum_mode_enabled(input.checksum_mode.as_ref());
        let c = if mode {
            meta.checksums.clone()
        } else {
            Checksums::default()
        };
        let h = meta.headers.clone();
        let lock = lock_headers(&meta);
        let length = match input.part_number {
            Some(n) => part_range(&meta, n)?.1,
            None => meta.size,
        };
        let tags = tag_count(&meta.tags);
        let mut resp = S3Response::new(HeadObjectOutput {
            version_id: reported_vid(&cfg, &meta),
            object_lock_mode: lock.0,
            object_lock_retain_until_date: lock.1,
            object_lock_legal_hold_status: lock.2,
            content_length: Some(i64::try_from(length).unwrap_or(i64::MAX)),
            server_side_encryption: sse_header(meta.sse.as_ref()),
            accept_ranges: Some("bytes".to_owned()),
            e_tag: Some(etag(&meta)),
            last_modified: Some(ms_to_timestamp(meta.last_modified_ms)),
            content_type: Some(
                h.content_type
                    .unwrap_or_else(|| "binary/octet-stream".to_owned()),
            ),
            content_encoding: h.content_encoding,
            content_disposition: h.content_disposition,
            content_language: h.content_language,
            cache_control: h.cache_control,
            expires: h.expires,
            website_redirect_location: h.website_redirect_location,
            metadata: Some(h.metadata.into_iter().collect()),
            parts_count: meta.parts_count.and_then(|n| i32::try_from(n).ok()),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            checksum_crc64nvme: c.crc64nvme,
            checksum_type: meta.checksum_type.filter(|_| mode).map(ChecksumType::from),
            ..Default::default()
        });
        // s3s's HeadObjectOutput has no TagCount; S3 sends the header on HEAD as on GET
        if let Some(n) = tags {
            resp.headers.insert("x-amz-tagging-count", n.into());
        }
        Ok(resp)
    }

    pub(super) async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let input = req.input;
        check_key(&input.key)?;
        let bypass = input.bypass_governance_retention.unwrap_or(false);
        let store = self.store.clone();
        let (cfg, d) = blocking(move || {
            let cfg = store.read_config(&input.bucket)?;
            let d = delete_one(
                &store,
                &cfg,
                &input.bucket,
                &input.key,
                input.version_id.as_deref(),
                bypass,
            )?;
            Ok((cfg, d))
        })
        .await?;
        Ok(S3Response::new(DeleteObjectOutput {
            delete_marker: d.delete_marker.then_some(true),
            version_id: (cfg.versioning().reports() || d.version_id.is_some())
                .then(|| d.version_id.unwrap_or_else(|| NULL_VERSION.to_owned())),
            ..Default::default()
        }))
    }

    pub(super) async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        if input.delete.objects.len() > MAX_DELETE_OBJECTS {
            return Err(s3_error!(
                MalformedXML,
                "DeleteObjects accepts at most {MAX_DELETE_OBJECTS} keys"
            ));
        }
        let quiet = input.delete.quiet.unwrap_or(false);
        let bypass = input.bypass_governance_retention.unwrap_or(false);
        let store = self.store.clone();
        let bucket = input.bucket;
        let objects = input.delete.objects;
        let (deleted, errors) = blocking(move || {
            let cfg = store.read_config(&bucket)?;
            let mut deleted = Vec::new();
            let mut errors = Vec::new();
            for obj in objects {
                let vid = obj.version_id.as_deref();
                match check_key(&obj.key)
                    .and_then(|()| delete_one(&store, &cfg, &bucket, &obj.key, vid, bypass))
                {
                    Ok(d) => deleted.push(DeletedObject {
                        delete_marker: d.delete_marker.then_some(true),
                        delete_marker_version_id: (d.delete_marker && obj.version_id.is_none())
                            .then(|| d.version_id.unwrap_or_else(|| NULL_VERSION.to_owned())),
                        key: Some(obj.key),
                        version_id: obj.version_id,
                    }),
                    Err(e) => errors.push(Error {
                        code: Some(e.code().as_str().to_owned()),
                        message: e.message().map(str::to_owned),
                        key: Some(obj.key),
                        version_id: obj.version_id,
                    }),
                }
            }
            Ok((deleted, errors))
        })
        .await?;
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: (!quiet).then_some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            ..Default::default()
        }))
    }

    pub(super) async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let input = req.input;
        check_key(&input.key)?;
        let (src_bucket, src_key, src_vid) = copy_source(&input.copy_source)?;
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str().eq_ignore_ascii_case(MetadataDirective::REPLACE));
        let replace_tags = input
            .tagging_directive
            .as_ref()
            .is_some_and(|d| d.as_str().eq_ignore_ascii_case(TaggingDirective::REPLACE));
        let new_tags = if replace_tags {
            Some(tags_from_header(input.tagging.as_deref())?)
        } else {
            None
        };
        refuse_sse_c(input.copy_source_sse_customer_algorithm.as_deref())?;
        // Changing the encryption is a change: S3 allows such an in-place copy.
        let changes_sse = input.server_side_encryption.is_some();
        if src_bucket == input.bucket
            && src_key == input.key
            && src_vid.is_none()
            && !replace
            && !changes_sse
        {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
            ));
        }
        let new_headers = if replace {
            Some(content_headers(
                input.content_type,
                input.content_encoding,
                input.content_disposition,
                input.content_language,
                input.cache_control,
                input.expires,
                input.website_redirect_location,
                input.metadata,
            )?)
        } else {
            None
        };

        let store = self.store.clone();
        let dest_bucket = input.bucket.clone();
        let (alg, sse_c, kms) = (
            input.server_side_encryption,
            input.sse_customer_algorithm,
            input.ssekms_key_id,
        );
        let (src_cfg, cfg, src, mut file, encrypt) = blocking(move || {
            let src_cfg = store.read_config(&src_bucket)?;
            let cfg = store.read_config(&dest_bucket)?;
            // the destination's setting decides, never the source's (AWS S3 user guide,
            // "Encrypting copied objects")
            let encrypt = wants_sse(
                &store,
                &cfg,
                &SseRequest {
                    header: alg.as_ref(),
                    customer_algorithm: sse_c.as_deref(),
                    kms_key_id: kms.as_deref(),
                },
            )?;
            let (src, file) = store.open_version(&src_bucket, &src_key, src_vid.as_deref())?;
            Ok((src_cfg, cfg, src, file, encrypt))
        })
        .await?;
        let lock = lock_from_headers(
            &cfg,
            input.object_lock_mode.as_ref(),
            input.object_lock_retain_until_date.as_ref(),
            input.object_lock_legal_hold_status.as_ref(),
        )?;
        let copy_source_version_id = reported_vid(&src_cfg, &src);
        let version_id = cfg.versioning().new_version_id();
        cond::check_copy_source(
            &src,
            &Preconditions {
                if_match: input.copy_source_if_match.as_ref(),
                if_none_match: input.copy_source_if_none_match.as_ref(),
                if_modified_since: input.copy_source_if_modified_since.as_ref(),
                if_unmodified_since: input.copy_source_if_unmodified_since.as_ref(),
            },
        )?;
        if src.size > MAX_OBJECT_SIZE {
            return Err(s3_error!(
                InvalidRequest,
                "The specified copy source is larger than the maximum allowable size for a copy source: {MAX_OBJECT_SIZE}"
            ));
        }

        let store = self.store.clone();
        let bucket = input.bucket;
        let key = input.key;
        let meta = blocking(move || {
            // The plaintext is the source's, so its ETag and checksums stay valid. Between
            // unencrypted objects the kernel copies (copy_file_range where available); otherwise
            // the source is decrypted and/or the copy sealed under a fresh data key.
            let (sse, seal) = new_cipher(&store, encrypt)?;
            let (tmp, out) = store.create_temp().map_err(internal)?;
            let mut sink = Sink::new(out, seal);
            let n = match (sink.as_plain(), &src.sse) {
                (Some(out), None) => io::copy(&mut file, out).map_err(internal)?,
                _ => {
                    let mut r =
                        store.plain_reader(src.sse.as_ref(), file, src.size, 0, src.size)?;
                    io::copy(&mut r, &mut sink).map_err(internal)?
                }
            };
            if n != src.size {
                return Err(internal("copy source changed size while being copied"));
            }
            sink.finish()
                .map_err(internal)?
                .sync_all()
                .map_err(internal)?;
            let headers = new_headers.unwrap_or_else(|| src.headers.clone());
            let mut meta =
                ObjectMeta::new(key, names::new_id(), src.size, src.etag.clone(), headers);
            meta.checksums = src.checksums.clone();
            meta.checksum_type = src.checksum_type.clone();
            meta.parts_count = src.parts_count;
            meta.parts = src.parts.clone();
            meta.tags = new_tags.unwrap_or_else(|| src.tags.clone());
            meta.lock = lock;
            meta.version_id = version_id;
            meta.sse = sse;
            store.commit_object(&bucket, &meta, tmp, |_| Ok(()))?;
            Ok(meta)
        })
        .await?;

        Ok(S3Response::new(CopyObjectOutput {
            server_side_encryption: sse_header(meta.sse.as_ref()),
            copy_source_version_id,
            version_id: reported_vid(&cfg, &meta),
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag(&meta)),
                last_modified: Some(ms_to_timestamp(meta.last_modified_ms)),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    pub(super) async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        let max = list_limit(input.max_keys)?;
        let url = is_url(input.encoding_type.as_ref());
        let page = self
            .list_page(
                input.bucket.clone(),
                input.prefix.clone().unwrap_or_default(),
                input.delimiter.clone(),
                input.marker.clone(),
                max,
            )
            .await?;
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(encode_opt(input.prefix, url).unwrap_or_default()),
            // always present in v1 (empty when none), as S3 and RGW answer
            marker: Some(encode_opt(input.marker, url).unwrap_or_default()),
            // an empty delimiter is no delimiter, and is not echoed
            delimiter: encode_opt(input.delimiter.filter(|d| !d.is_empty()), url),
            max_keys: Some(i32::try_from(max).unwrap_or(MAX_LIST_ENTRIES)),
            is_truncated: Some(page.truncated),
            next_marker: encode_opt(page.next_marker, url),
            contents: Some(
                page.objects
                    .iter()
                    .map(|m| list_object(m, url, true))
                    .collect(),
            ),
            common_prefixes: common_prefixes(page.prefixes, url),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    pub(super) async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let fetch_owner = input.fetch_owner == Some(true);
        let max = list_limit(input.max_keys)?;
        let url = is_url(input.encoding_type.as_ref());
        // The token is the hex of the last key or common prefix returned: opaque to clients,
        // and it takes precedence over start-after, as in S3.
        let marker = match &input.continuation_token {
            Some(t) => {
                let raw = hex::decode(t).map_err(|_| {
                    s3_error!(
                        InvalidArgument,
                        "The continuation token provided is incorrect"
                    )
                })?;
                Some(String::from_utf8(raw).map_err(|_| {
                    s3_error!(
                        InvalidArgument,
                        "The continuation token provided is incorrect"
                    )
                })?)
            }
            None => input.start_after.clone(),
        };
        let page = self
            .list_page(
                input.bucket.clone(),
                input.prefix.clone().unwrap_or_default(),
                input.delimiter.clone(),
                marker,
                max,
            )
            .await?;
        let key_count = page.objects.len() + page.prefixes.len();
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(encode_opt(input.prefix, url).unwrap_or_default()),
            delimiter: encode_opt(input.delimiter.filter(|d| !d.is_empty()), url),
            start_after: encode_opt(input.start_after, url),
            continuation_token: input.continuation_token,
            max_keys: Some(i32::try_from(max).unwrap_or(MAX_LIST_ENTRIES)),
            key_count: Some(i32::try_from(key_count).unwrap_or(MAX_LIST_ENTRIES)),
            is_truncated: Some(page.truncated),
            next_continuation_token: page.next_marker.map(hex::encode),
            contents: Some(
                page.objects
                    .iter()
                    .map(|m| list_object(m, url, fetch_owner))
                    .collect(),
            ),
            common_prefixes: common_prefixes(page.prefixes, url),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }
}

/// DeleteObject of one key: a version for good (`vid`, refused for locked versions), or the
/// latest version as the bucket's versioning status says.
fn delete_one(
    store: &Store,
    cfg: &BucketConfig,
    bucket: &str,
    key: &str,
    vid: Option<&str>,
    bypass: bool,
) -> S3Result<Deleted> {
    match vid {
        Some(v) => store.delete_version(bucket, key, v, |m| check_delete(m, bypass)),
        None => store.delete_object(bucket, key, cfg.versioning()),
    }
}

/// `x-amz-object-lock-*` response headers of a version.
fn lock_headers(
    m: &ObjectMeta,
) -> (
    Option<ObjectLockMode>,
    Option<Timestamp>,
    Option<ObjectLockLegalHoldStatus>,
) {
    (
        m.lock.retention_mode.clone().map(ObjectLockMode::from),
        m.lock.retain_until.clone(),
        m.lock
            .legal_hold
            .then(|| ObjectLockLegalHoldStatus::from_static(ObjectLockLegalHoldStatus::ON)),
    )
}

/// Offset and length of part `n` (GET/HEAD `?partNumber=`): any single-part object is its own
/// part 1; multipart objects written before format 2 have no part table.
fn part_range(meta: &ObjectMeta, n: i32) -> S3Result<(u64, u64)> {
    let unsatisfiable = || s3_error!(InvalidPart, "The requested partnumber is not satisfiable");
    check_part_number(n)?;
    if meta.parts_count.is_none() {
        return if n == 1 {
            Ok((0, meta.size))
        } else {
            Err(unsatisfiable())
        };
    }
    if meta.parts.is_empty() {
        return Err(s3_error!(
            NotImplemented,
            "this object was completed before part boundaries were stored; GET by partNumber is not available for it"
        ));
    }
    let mut start = 0;
    for p in &meta.parts {
        if p.part_number == n {
            return Ok((start, p.size));
        }
        start += p.size;
    }
    Err(unsatisfiable())
}
