//! GetObjectAttributes (issue 11; AWS S3 API reference, GetObjectAttributes).

use super::*;

impl LocalS3 {
    pub(super) async fn get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        let input = req.input;
        if input.object_attributes.is_empty() {
            return Err(s3_error!(
                InvalidArgument,
                "x-amz-object-attributes must name at least one attribute"
            ));
        }
        let mut want = std::collections::HashSet::new();
        for a in &input.object_attributes {
            // one header may carry a comma-separated list
            for name in a.as_str().split(',').map(str::trim) {
                match name {
                    ObjectAttributes::ETAG
                    | ObjectAttributes::CHECKSUM
                    | ObjectAttributes::OBJECT_PARTS
                    | ObjectAttributes::STORAGE_CLASS
                    | ObjectAttributes::OBJECT_SIZE => {
                        want.insert(name.to_owned());
                    }
                    other => {
                        return Err(s3_error!(
                            InvalidArgument,
                            "Invalid attribute name specified: {other}"
                        ))
                    }
                }
            }
        }
        let max = list_limit(input.max_parts)?;
        let marker = input.part_number_marker.unwrap_or(0);
        let (cfg, meta) = self
            .readable_version(input.bucket, input.key, input.version_id)
            .await?;

        let checksum = want.contains(ObjectAttributes::CHECKSUM).then(|| {
            let c = meta.checksums.clone();
            Checksum {
                checksum_crc32: c.crc32,
                checksum_crc32c: c.crc32c,
                checksum_sha1: c.sha1,
                checksum_sha256: c.sha256,
                checksum_crc64nvme: c.crc64nvme,
                checksum_type: meta.checksum_type.clone().map(ChecksumType::from),
            }
        });
        let object_parts = (want.contains(ObjectAttributes::OBJECT_PARTS)
            && meta.parts_count.is_some())
        .then(|| {
            let rest: Vec<&PartSummary> = meta
                .parts
                .iter()
                .filter(|p| p.part_number > marker)
                .collect();
            let truncated = rest.len() > max;
            let page: Vec<ObjectPart> = rest
                .iter()
                .take(max)
                .map(|p| ObjectPart {
                    part_number: Some(p.part_number),
                    size: Some(i64::try_from(p.size).unwrap_or(i64::MAX)),
                    checksum_crc32: p.checksums.crc32.clone(),
                    checksum_crc32c: p.checksums.crc32c.clone(),
                    checksum_sha1: p.checksums.sha1.clone(),
                    checksum_sha256: p.checksums.sha256.clone(),
                    checksum_crc64nvme: p.checksums.crc64nvme.clone(),
                })
                .collect();
            GetObjectAttributesParts {
                is_truncated: Some(truncated),
                max_parts: Some(i32::try_from(max).unwrap_or(MAX_LIST_ENTRIES)),
                next_part_number_marker: page.last().and_then(|p| p.part_number),
                part_number_marker: Some(marker),
                total_parts_count: meta.parts_count.and_then(|n| i32::try_from(n).ok()),
                parts: (!meta.parts.is_empty()).then_some(page),
            }
        });
        Ok(S3Response::new(GetObjectAttributesOutput {
            e_tag: want
                .contains(ObjectAttributes::ETAG)
                .then(|| ETag::Strong(meta.etag.clone())),
            checksum: checksum.filter(|c| *c != Checksum::default()),
            object_parts,
            storage_class: want
                .contains(ObjectAttributes::STORAGE_CLASS)
                .then(|| StorageClass::from_static(StorageClass::STANDARD)),
            object_size: want
                .contains(ObjectAttributes::OBJECT_SIZE)
                .then(|| i64::try_from(meta.size).unwrap_or(i64::MAX)),
            last_modified: Some(ms_to_timestamp(meta.last_modified_ms)),
            version_id: reported_vid(&cfg, &meta),
            ..Default::default()
        }))
    }
}
