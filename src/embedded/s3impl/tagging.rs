//! Object and bucket tagging (issue 11; AWS S3 API reference, PutObjectTagging and
//! PutBucketTagging; limits from the AWS S3 user guide, "Categorizing your storage using tags").

use super::*;

/// Most tags on one object. Default 10 (the S3 limit); bounds the sidecar read on every GET.
pub(super) const MAX_OBJECT_TAGS: usize = 10;

/// Most tags on one bucket. Default 50 (the S3 limit).
pub(super) const MAX_BUCKET_TAGS: usize = 50;

/// Longest tag key, in Unicode characters. Default 128 (the S3 limit).
pub(super) const MAX_TAG_KEY: usize = 128;

/// Longest tag value, in Unicode characters. Default 256 (the S3 limit).
pub(super) const MAX_TAG_VALUE: usize = 256;

pub(super) type Tags = Vec<(String, String)>;

/// `InvalidTag` unless `tags` is a tag set S3 would accept (at most `max` tags).
pub(super) fn check_tags(tags: &Tags, max: usize) -> S3Result<()> {
    if tags.len() > max {
        return Err(s3_error!(
            InvalidTag,
            "Object tags cannot be greater than {max}"
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > MAX_TAG_KEY {
            return Err(s3_error!(
                InvalidTag,
                "The TagKey you have provided is invalid (1 to {MAX_TAG_KEY} characters)"
            ));
        }
        if v.chars().count() > MAX_TAG_VALUE {
            return Err(s3_error!(
                InvalidTag,
                "The TagValue you have provided is too long, max {MAX_TAG_VALUE}"
            ));
        }
        if k.starts_with("aws:") {
            return Err(s3_error!(
                InvalidTag,
                "Your TagKey cannot be prefixed with aws:"
            ));
        }
        if !seen.insert(k.as_str()) {
            return Err(s3_error!(
                InvalidTag,
                "Cannot provide multiple Tags with the same key"
            ));
        }
    }
    Ok(())
}

/// The `x-amz-tagging` header (URL query syntax: `k1=v1&k2=v2`), checked.
pub(super) fn tags_from_header(h: Option<&str>) -> S3Result<Tags> {
    let Some(h) = h.filter(|h| !h.is_empty()) else {
        return Ok(Vec::new());
    };
    let mut tags: Tags = form_urlencoded::parse(h.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    check_tags(&tags, MAX_OBJECT_TAGS)?;
    // kept sorted by key, as RGW returns them (S3 documents no order)
    tags.sort();
    Ok(tags)
}

/// A Tagging document's tags, checked.
pub(super) fn tags_from_dto(t: Tagging, max: usize) -> S3Result<Tags> {
    let mut tags = Vec::with_capacity(t.tag_set.len());
    for tag in t.tag_set {
        let (Some(k), Some(v)) = (tag.key, tag.value) else {
            return Err(s3_error!(MalformedXML, "every Tag needs a Key and a Value"));
        };
        tags.push((k, v));
    }
    check_tags(&tags, max)?;
    tags.sort();
    Ok(tags)
}

pub(super) fn tags_to_dto(tags: &Tags) -> TagSet {
    tags.iter()
        .map(|(k, v)| Tag {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect()
}

/// `x-amz-tagging-count`: only when the object has tags, as on S3.
pub(super) fn tag_count(tags: &Tags) -> Option<i32> {
    (!tags.is_empty()).then(|| i32::try_from(tags.len()).unwrap_or(i32::MAX))
}

impl LocalS3 {
    pub(super) async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let input = req.input;
        let tags = tags_from_dto(input.tagging, MAX_OBJECT_TAGS)?;
        let (cfg, meta) = self
            .update(input.bucket, input.key, input.version_id, move |m| {
                m.tags = tags;
                Ok(())
            })
            .await?;
        Ok(S3Response::new(PutObjectTaggingOutput {
            version_id: reported_vid(&cfg, &meta),
        }))
    }

    pub(super) async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let input = req.input;
        let (cfg, meta) = self
            .readable_version(input.bucket, input.key, input.version_id)
            .await?;
        Ok(S3Response::new(GetObjectTaggingOutput {
            tag_set: tags_to_dto(&meta.tags),
            version_id: reported_vid(&cfg, &meta),
        }))
    }

    pub(super) async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        let input = req.input;
        let (cfg, meta) = self
            .update(input.bucket, input.key, input.version_id, |m| {
                m.tags.clear();
                Ok(())
            })
            .await?;
        Ok(S3Response::new(DeleteObjectTaggingOutput {
            version_id: reported_vid(&cfg, &meta),
        }))
    }

    pub(super) async fn put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        let input = req.input;
        let tags = tags_from_dto(input.tagging, MAX_BUCKET_TAGS)?;
        self.set_config(input.bucket, move |c| {
            c.tags = Some(tags);
            Ok(())
        })
        .await?;
        Ok(S3Response::new(PutBucketTaggingOutput {}))
    }

    pub(super) async fn get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        let cfg = self.config(req.input.bucket).await?;
        let tags = cfg
            .tags
            .ok_or_else(|| s3_error!(NoSuchTagSet, "The TagSet does not exist"))?;
        Ok(S3Response::new(GetBucketTaggingOutput {
            tag_set: tags_to_dto(&tags),
        }))
    }

    pub(super) async fn delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        self.set_config(req.input.bucket, |c| {
            c.tags = None;
            Ok(())
        })
        .await?;
        Ok(S3Response::new(DeleteBucketTaggingOutput {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn code(r: S3Result<()>) -> String {
        r.err()
            .map(|e| e.code().as_str().to_owned())
            .unwrap_or_default()
    }

    #[test]
    fn limits() {
        let ten: Tags = (0..10).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(check_tags(&ten, MAX_OBJECT_TAGS).is_ok());
        let eleven: Tags = (0..11).map(|i| (format!("k{i}"), "v".into())).collect();
        assert_eq!(code(check_tags(&eleven, MAX_OBJECT_TAGS)), "InvalidTag");
        assert!(check_tags(&eleven, MAX_BUCKET_TAGS).is_ok());
        let k128 = "é".repeat(128);
        assert!(check_tags(&t(&[(&k128, "v")]), 10).is_ok());
        let k129 = "k".repeat(129);
        assert_eq!(code(check_tags(&t(&[(&k129, "v")]), 10)), "InvalidTag");
        let v257 = "v".repeat(257);
        assert_eq!(code(check_tags(&t(&[("k", &v257)]), 10)), "InvalidTag");
        assert_eq!(
            code(check_tags(&t(&[("k", "1"), ("k", "2")]), 10)),
            "InvalidTag"
        );
        assert_eq!(code(check_tags(&t(&[("aws:x", "1")]), 10)), "InvalidTag");
        assert_eq!(code(check_tags(&t(&[("", "1")]), 10)), "InvalidTag");
    }

    #[test]
    fn header_syntax() {
        assert_eq!(
            tags_from_header(Some("a=1&b%20c=d+e&empty=")).unwrap(),
            t(&[("a", "1"), ("b c", "d e"), ("empty", "")])
        );
        assert!(tags_from_header(None).unwrap().is_empty());
        let many = (0..11)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join("&");
        assert!(tags_from_header(Some(&many)).is_err());
    }
}
