//! Multipart uploads of the embedded store.

use super::*;

impl LocalS3 {
    pub(super) async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        check_key(&input.key)?;
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
        let algorithm = input
            .checksum_algorithm
            .map(|a| a.as_str().to_ascii_uppercase());
        if let Some(a) = &algorithm {
            enable(&mut ChecksumHasher::default(), a)?;
        }
        let mut meta = UploadMeta::new(input.key.clone(), headers, algorithm.clone());
        meta.tags = tags_from_header(input.tagging.as_deref())?;
        let cfg = self.config(input.bucket.clone()).await?;
        meta.sse = wants_sse(
            &self.store,
            &cfg,
            &SseRequest {
                header: input.server_side_encryption.as_ref(),
                customer_algorithm: input.sse_customer_algorithm.as_deref(),
                kms_key_id: input.ssekms_key_id.as_deref(),
            },
        )?;
        let encrypted = meta.sse;
        meta.lock = lock_from_headers(
            &cfg,
            input.object_lock_mode.as_ref(),
            input.object_lock_retain_until_date.as_ref(),
            input.object_lock_legal_hold_status.as_ref(),
        )?;
        let store = self.store.clone();
        let bucket = input.bucket.clone();
        let upload_id = blocking(move || store.create_upload(&bucket, &meta)).await?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload_id),
            server_side_encryption: encrypted
                .then(|| ServerSideEncryption::from_static(ServerSideEncryption::AES256)),
            checksum_algorithm: algorithm.map(ChecksumAlgorithm::from),
            ..Default::default()
        }))
    }

    pub(super) async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let input = req.input;
        check_part_number(input.part_number)?;
        refuse_sse_c(input.sse_customer_algorithm.as_deref())?;
        if input
            .content_length
            .is_some_and(|n| u64::try_from(n).map_or(true, |n| n > MAX_OBJECT_SIZE))
        {
            return Err(s3_error!(EntityTooLarge));
        }
        let store = self.store.clone();
        let (bucket, upload_id, key) = (
            input.bucket.clone(),
            input.upload_id.clone(),
            input.key.clone(),
        );
        let upload = blocking(move || store.read_upload(&bucket, &upload_id, &key)).await?;
        let explicit = Checksums {
            crc32: input.checksum_crc32,
            crc32c: input.checksum_crc32c,
            sha1: input.checksum_sha1,
            sha256: input.checksum_sha256,
            crc64nvme: input.checksum_crc64nvme,
        };
        let (checks, hasher) = ChecksumRequest::new(
            explicit,
            &[
                input.checksum_algorithm.as_ref().map(|a| a.as_str()),
                upload.checksum_algorithm.as_deref(),
            ],
            &req.headers,
        )?;
        // Parts of an encrypted upload are stored encrypted, each under its own data key.
        let (sse, seal) = new_cipher(&self.store, upload.sse)?;
        let got = self
            .receive(input.body, hasher, MAX_OBJECT_SIZE, seal)
            .await?;
        let trailers = req.trailing_headers.and_then(|t| t.take());
        let checksums = checks.verify(got.checksums, trailers.as_ref())?;
        if let Some(m) = &input.content_md5 {
            content_md5_matches(m, &got.md5)?;
        }
        let mut part = PartMeta::new(input.part_number, got.size, hex::encode(got.md5), checksums);
        part.sse = sse;
        let store = self.store.clone();
        let (bucket, upload_id) = (input.bucket, input.upload_id);
        let part = blocking(move || {
            store.commit_part(&bucket, &upload_id, &part, got.tmp)?;
            Ok(part)
        })
        .await?;
        let c = part.checksums;
        Ok(S3Response::new(UploadPartOutput {
            server_side_encryption: sse_header(part.sse.as_ref()),
            e_tag: Some(ETag::Strong(part.etag)),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            checksum_crc64nvme: c.crc64nvme,
            ..Default::default()
        }))
    }

    pub(super) async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let input = req.input;
        check_part_number(input.part_number)?;
        let (src_bucket, src_key, src_vid) = copy_source(&input.copy_source)?;
        refuse_sse_c(input.copy_source_sse_customer_algorithm.as_deref())?;
        refuse_sse_c(input.sse_customer_algorithm.as_deref())?;
        let store = self.store.clone();
        let (bucket, upload_id, key) = (
            input.bucket.clone(),
            input.upload_id.clone(),
            input.key.clone(),
        );
        let (upload, src, file) = blocking(move || {
            let upload = store.read_upload(&bucket, &upload_id, &key)?;
            let (src, file) = store.open_version(&src_bucket, &src_key, src_vid.as_deref())?;
            Ok((upload, src, file))
        })
        .await?;
        cond::check_copy_source(
            &src,
            &Preconditions {
                if_match: input.copy_source_if_match.as_ref(),
                if_none_match: input.copy_source_if_none_match.as_ref(),
                if_modified_since: input.copy_source_if_modified_since.as_ref(),
                if_unmodified_since: input.copy_source_if_unmodified_since.as_ref(),
            },
        )?;
        let range = match &input.copy_source_range {
            Some(r) => cond::copy_source_range(r, src.size)?,
            None => 0..src.size,
        };
        let len = range.end - range.start;
        if len > MAX_OBJECT_SIZE {
            return Err(s3_error!(
                EntityTooLarge,
                "A part copied from a source may be at most {MAX_OBJECT_SIZE} bytes"
            ));
        }
        let mut hasher = ChecksumHasher::default();
        if let Some(a) = &upload.checksum_algorithm {
            enable(&mut hasher, a)?;
        }
        let store = self.store.clone();
        let (bucket, upload_id, part_number) = (input.bucket, input.upload_id, input.part_number);
        let part = blocking(move || {
            // the source's plaintext (decrypted if need be), stored as the upload asks
            let mut src_data =
                store.plain_reader(src.sse.as_ref(), file, src.size, range.start, len)?;
            let (sse, seal) = new_cipher(&store, upload.sse)?;
            let got = copy_hashing(&store, &mut src_data, len, hasher, seal)?;
            let mut part =
                PartMeta::new(part_number, got.size, hex::encode(got.md5), got.checksums);
            part.sse = sse;
            store.commit_part(&bucket, &upload_id, &part, got.tmp)?;
            Ok(part)
        })
        .await?;
        let c = part.checksums;
        Ok(S3Response::new(UploadPartCopyOutput {
            server_side_encryption: sse_header(part.sse.as_ref()),
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(ETag::Strong(part.etag)),
                last_modified: Some(ms_to_timestamp(part.last_modified_ms)),
                checksum_crc32: c.crc32,
                checksum_crc32c: c.crc32c,
                checksum_sha1: c.sha1,
                checksum_sha256: c.sha256,
                checksum_crc64nvme: c.crc64nvme,
            }),
            ..Default::default()
        }))
    }

    pub(super) async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        let max = list_limit(input.max_parts)?;
        let marker = input.part_number_marker.unwrap_or(0);
        let store = self.store.clone();
        let (bucket, upload_id, key) = (
            input.bucket.clone(),
            input.upload_id.clone(),
            input.key.clone(),
        );
        let (upload, parts) = blocking(move || {
            let upload = store.read_upload(&bucket, &upload_id, &key)?;
            Ok((upload, store.list_parts(&bucket, &upload_id)?))
        })
        .await?;
        let mut rest = parts
            .into_iter()
            .filter(|p| p.part_number > marker)
            .peekable();
        let mut page = Vec::new();
        while page.len() < max {
            let Some(p) = rest.next() else { break };
            page.push(p);
        }
        let truncated = rest.peek().is_some();
        let next = if truncated {
            page.last().map(|p| p.part_number)
        } else {
            None
        };
        let parts = page
            .into_iter()
            .map(|p| Part {
                part_number: Some(p.part_number),
                size: Some(i64::try_from(p.size).unwrap_or(i64::MAX)),
                e_tag: Some(ETag::Strong(p.etag)),
                last_modified: Some(ms_to_timestamp(p.last_modified_ms)),
                checksum_crc32: p.checksums.crc32,
                checksum_crc32c: p.checksums.crc32c,
                checksum_sha1: p.checksums.sha1,
                checksum_sha256: p.checksums.sha256,
                checksum_crc64nvme: p.checksums.crc64nvme,
            })
            .collect();
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: next,
            max_parts: Some(i32::try_from(max).unwrap_or(MAX_LIST_ENTRIES)),
            is_truncated: Some(truncated),
            parts: Some(parts),
            checksum_algorithm: upload.checksum_algorithm.map(ChecksumAlgorithm::from),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            ..Default::default()
        }))
    }

    pub(super) async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        let requested = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default();
        if requested.is_empty() {
            return Err(s3_error!(
                MalformedXML,
                "You must specify at least one part"
            ));
        }
        let store = self.store.clone();
        let (bucket, upload_id, key) = (
            input.bucket.clone(),
            input.upload_id.clone(),
            input.key.clone(),
        );
        let found = blocking(move || {
            let upload = match store.read_upload(&bucket, &upload_id, &key) {
                Ok(u) => u,
                Err(e) if *e.code() == s3s::S3ErrorCode::NoSuchUpload => {
                    // completed already? the object it made answers again
                    let done = store
                        .read_metas(&bucket, &[key.as_str()])?
                        .into_iter()
                        .find(|m| m.upload_id.as_deref() == Some(upload_id.as_str()));
                    return match done {
                        Some(m) => Ok(Err(m)),
                        None => Err(e),
                    };
                }
                Err(e) => return Err(e),
            };
            Ok(Ok((upload, store.list_parts(&bucket, &upload_id)?)))
        })
        .await?;
        let (upload, stored) = match found {
            Ok(x) => x,
            Err(meta) => {
                let vid = meta.version_id.clone();
                return Ok(S3Response::new(completed(
                    &input.bucket,
                    &input.key,
                    meta,
                    vid,
                )));
            }
        };
        let by_number: HashMap<i32, &PartMeta> =
            stored.iter().map(|p| (p.part_number, p)).collect();

        // Validate everything before touching the disk.
        let mut chosen: Vec<&PartMeta> = Vec::with_capacity(requested.len());
        let mut prev = 0;
        for rp in &requested {
            let n = rp
                .part_number
                .ok_or_else(|| s3_error!(InvalidPart, "a part has no part number"))?;
            if n <= prev {
                return Err(s3_error!(InvalidPartOrder));
            }
            prev = n;
            let part = by_number
                .get(&n)
                .ok_or_else(|| s3_error!(InvalidPart, "part {n} was not uploaded"))?;
            if rp.e_tag.as_ref().map(ETag::value) != Some(part.etag.as_str()) {
                return Err(s3_error!(
                    InvalidPart,
                    "part {n}: ETag does not match the uploaded part"
                ));
            }
            let sent = Checksums {
                crc32: rp.checksum_crc32.clone(),
                crc32c: rp.checksum_crc32c.clone(),
                sha1: rp.checksum_sha1.clone(),
                sha256: rp.checksum_sha256.clone(),
                crc64nvme: rp.checksum_crc64nvme.clone(),
            };
            for alg in ALGORITHMS {
                if let (Some(s), Some(have)) =
                    (checksum_get(&sent, alg), checksum_get(&part.checksums, alg))
                {
                    if s != have {
                        return Err(s3_error!(
                            InvalidPart,
                            "part {n}: {alg} does not match the uploaded part"
                        ));
                    }
                }
            }
            chosen.push(part);
        }
        if let Some((_, all_but_last)) = chosen.split_last() {
            if let Some(small) = all_but_last.iter().find(|p| p.size < MIN_PART_SIZE) {
                return Err(s3_error!(
                    EntityTooSmall,
                    "Part {} is {} bytes; every part but the last must be at least {MIN_PART_SIZE} bytes",
                    small.part_number,
                    small.size
                ));
            }
        }
        let total: u64 = chosen.iter().map(|p| p.size).sum();
        if total > MAX_MULTIPART_OBJECT_SIZE {
            return Err(s3_error!(EntityTooLarge));
        }

        let mut md5s = Vec::with_capacity(chosen.len() * 16);
        for p in &chosen {
            md5s.extend(hex::decode(&p.etag).map_err(internal)?);
        }
        let etag_value = format!("{}-{}", hex::encode(Md5::checksum(&md5s)), chosen.len());
        let parts_count = u32::try_from(chosen.len()).unwrap_or(u32::MAX);

        let mut meta = ObjectMeta::new(
            input.key.clone(),
            names::new_id(),
            total,
            etag_value,
            upload.headers.clone(),
        );
        meta.parts_count = Some(parts_count);
        meta.parts = chosen
            .iter()
            .map(|p| PartSummary {
                part_number: p.part_number,
                size: p.size,
                checksums: p.checksums.clone(),
            })
            .collect();
        meta.tags = upload.tags.clone();
        meta.lock = upload.lock.clone();
        meta.upload_id = Some(input.upload_id.clone());
        if let Some(alg) = &upload.checksum_algorithm {
            if let Some(v) = composite_checksum(alg, &chosen) {
                if let Some(slot) = checksum_slot(&mut meta.checksums, alg) {
                    *slot = Some(v);
                }
                meta.checksum_type = Some(CHECKSUM_TYPE_COMPOSITE.to_owned());
            }
        }
        let chosen: Vec<PartMeta> = chosen.into_iter().cloned().collect();
        let upload_sse = upload.sse;

        let store = self.store.clone();
        let (bucket, upload_id) = (input.bucket.clone(), input.upload_id.clone());
        let (im, inm) = (input.if_match, input.if_none_match);
        let (cfg, meta) = blocking(move || {
            let cfg = store.read_config(&bucket)?;
            meta.version_id = cfg.versioning().new_version_id();
            let (sse, seal) = new_cipher(&store, upload_sse)?;
            meta.sse = sse;
            let tmp = store.assemble(&bucket, &upload_id, &chosen, seal)?;
            store.commit_object(&bucket, &meta, tmp, |cur| {
                cond::check_write(cur, im.as_ref(), inm.as_ref())
            })?;
            // The object is committed; failing to tidy the upload must not fail the request.
            if let Err(e) = store.remove_upload(&bucket, &upload_id) {
                tracing::warn!(error = %e, "local backend: completed upload left behind");
            }
            Ok((cfg, meta))
        })
        .await?;

        let vid = meta
            .version_id
            .clone()
            .filter(|_| cfg.versioning().reports());
        Ok(S3Response::new(completed(
            &input.bucket,
            &input.key,
            meta,
            vid,
        )))
    }

    pub(super) async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        let store = self.store.clone();
        blocking(move || {
            store.read_upload(&input.bucket, &input.upload_id, &input.key)?;
            store.remove_upload(&input.bucket, &input.upload_id)
        })
        .await?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    pub(super) async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        let max = list_limit(input.max_uploads)?;
        let url = is_url(input.encoding_type.as_ref());
        let store = self.store.clone();
        let bucket = input.bucket.clone();
        let mut uploads = blocking(move || store.list_uploads(&bucket)).await?;
        // Sorted by key, then upload id: the order the key/upload-id markers are defined on.
        uploads.sort_by(|a, b| {
            (a.1.key.as_str(), a.0.as_str()).cmp(&(b.1.key.as_str(), b.0.as_str()))
        });

        let start = match (&input.key_marker, &input.upload_id_marker) {
            (Some(km), Some(um)) => uploads.partition_point(|u| {
                (u.1.key.as_str(), u.0.as_str()) <= (km.as_str(), um.as_str())
            }),
            (Some(km), None) => listing::start_after(&uploads, upload_key, Some(km)),
            (None, _) => 0,
        };
        let prefix = input.prefix.clone().unwrap_or_default();
        let page = listing::paginate(
            &uploads,
            upload_key,
            start,
            &prefix,
            input.delimiter.as_deref(),
            input.key_marker.as_deref(),
            max,
        );
        let (next_key_marker, next_upload_id_marker) = match (page.truncated, page.entries.last()) {
            (true, Some(Entry::Item(u))) => (Some(u.1.key.clone()), Some(u.0.clone())),
            (true, Some(Entry::Prefix(p))) => (Some(p.clone()), None),
            _ => (None, None),
        };
        let mut list = Vec::new();
        let mut prefixes = Vec::new();
        for e in page.entries {
            match e {
                Entry::Item((id, m)) => list.push(MultipartUpload {
                    key: Some(if url {
                        listing::url_encode(&m.key)
                    } else {
                        m.key.clone()
                    }),
                    upload_id: Some(id.clone()),
                    initiated: Some(ms_to_timestamp(m.initiated_ms)),
                    checksum_algorithm: m.checksum_algorithm.clone().map(ChecksumAlgorithm::from),
                    storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                    ..Default::default()
                }),
                Entry::Prefix(p) => prefixes.push(p),
            }
        }
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: encode_opt(input.prefix, url),
            delimiter: encode_opt(input.delimiter, url),
            key_marker: encode_opt(input.key_marker, url),
            upload_id_marker: input.upload_id_marker,
            next_key_marker: encode_opt(next_key_marker, url),
            next_upload_id_marker,
            max_uploads: Some(i32::try_from(max).unwrap_or(MAX_LIST_ENTRIES)),
            is_truncated: Some(page.truncated),
            uploads: Some(list),
            common_prefixes: common_prefixes(prefixes, url),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }
}

/// CompleteMultipartUpload's answer for the object it made (the first completion and any
/// repetition of it answer alike).
fn completed(
    bucket: &str,
    key: &str,
    meta: ObjectMeta,
    version_id: Option<String>,
) -> CompleteMultipartUploadOutput {
    let c = meta.checksums.clone();
    CompleteMultipartUploadOutput {
        version_id,
        bucket: Some(bucket.to_string()),
        key: Some(key.to_string()),
        location: Some(format!("/{bucket}/{key}")),
        e_tag: Some(etag(&meta)),
        server_side_encryption: sse_header(meta.sse.as_ref()),
        checksum_crc32: c.crc32,
        checksum_crc32c: c.crc32c,
        checksum_sha1: c.sha1,
        checksum_sha256: c.sha256,
        checksum_crc64nvme: c.crc64nvme,
        checksum_type: meta.checksum_type.map(ChecksumType::from),
        ..Default::default()
    }
}
