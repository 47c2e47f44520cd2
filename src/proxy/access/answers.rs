//! The ACL, bucket-policy and PublicAccessBlock operations Osprey answers itself on backends
//! that see one identity (issue 11): from its own records, never the backend's.

use bytes::Bytes;
use http::StatusCode;

use super::*;

impl Access {
    /// Answer a [`LocalOp`]; `body` is the request's (empty when it has none).
    pub async fn perform(&self, op: LocalOp, body: Bytes) -> Result<LocalAnswer, S3Error> {
        let p = &op.placement;
        let b = &op.bucket;
        let xml = |body: String| LocalAnswer {
            status: StatusCode::OK,
            content_type: "application/xml",
            body,
        };
        let none = |status| LocalAnswer {
            status,
            content_type: "application/xml",
            body: String::new(),
        };
        let text = || {
            std::str::from_utf8(&body)
                .map(str::to_string)
                .map_err(|_| S3Error::invalid_argument("the request body is not UTF-8"))
        };
        match op.kind {
            LocalKind::GetBucketAcl => Ok(xml(acl::acl_xml(&b.owner, &b.acl)?)),
            LocalKind::PutBucketAcl => {
                let acl = self.acl_from_request(&op, &b.owner, &text()?).await?;
                self.block_public(b, Some(&acl))?;
                self.update_bucket(p, b, |r| {
                    r.acl = Some(serde_json::to_string(&acl).map_err(|e| unreadable("ACL", e))?);
                    Ok(())
                })
                .await?;
                Ok(none(StatusCode::OK))
            }
            LocalKind::GetBucketPolicy => match &b.policy {
                Some(pol) => Ok(LocalAnswer {
                    status: StatusCode::OK,
                    content_type: "application/json",
                    body: pol.text.clone(),
                }),
                None => Err(S3Error::new(
                    StatusCode::NOT_FOUND,
                    "NoSuchBucketPolicy",
                    "The bucket policy does not exist",
                )
                .with_resource(format!("/{}", b.bucket))),
            },
            LocalKind::PutBucketPolicy => {
                let t = text()?;
                let pol = Policy::parse(&t, &b.bucket)?;
                if b.public_access_block.is_some_and(|x| x.block_public_policy) && pol.is_public() {
                    return Err(S3Error::access_denied(
                        "Access Denied: the bucket's PublicAccessBlock (BlockPublicPolicy) refuses public policies",
                    ));
                }
                self.update_bucket(p, b, |r| {
                    r.policy = Some(t);
                    Ok(())
                })
                .await?;
                Ok(none(StatusCode::NO_CONTENT))
            }
            LocalKind::DeleteBucketPolicy => {
                self.update_bucket(p, b, |r| {
                    r.policy = None;
                    Ok(())
                })
                .await?;
                Ok(none(StatusCode::NO_CONTENT))
            }
            LocalKind::GetPolicyStatus => {
                // public by its policy or by a public ACL (as RGW reports it)
                let public = b.policy.as_ref().is_some_and(|x| x.is_public()) || b.acl.is_public();
                Ok(xml(format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><PolicyStatus xmlns=\"{}\"><IsPublic>{public}</IsPublic></PolicyStatus>",
                    acl::S3_XMLNS
                )))
            }
            LocalKind::GetPublicAccessBlock => match b.public_access_block {
                Some(x) => Ok(xml(pab_xml(&x))),
                None => Err(S3Error::new(
                    StatusCode::NOT_FOUND,
                    "NoSuchPublicAccessBlockConfiguration",
                    "The public access block configuration was not found",
                )
                .with_resource(format!("/{}", b.bucket))),
            },
            LocalKind::PutPublicAccessBlock => {
                let x = parse_pab(&text()?)?;
                self.update_bucket(p, b, |r| {
                    r.public_access_block =
                        Some(serde_json::to_string(&x).map_err(|e| unreadable("PAB", e))?);
                    Ok(())
                })
                .await?;
                Ok(none(StatusCode::OK))
            }
            LocalKind::DeletePublicAccessBlock => {
                self.update_bucket(p, b, |r| {
                    r.public_access_block = None;
                    Ok(())
                })
                .await?;
                Ok(none(StatusCode::NO_CONTENT))
            }
            LocalKind::GetObjectAcl | LocalKind::PutObjectAcl => {
                let key = op
                    .key
                    .clone()
                    .ok_or_else(|| S3Error::internal("object ACL without a key"))?;
                self.probe(&op, &key).await?;
                let current = op
                    .object
                    .as_deref()
                    .cloned()
                    .unwrap_or_else(|| ObjectAuth::default_for(b));
                if op.kind == LocalKind::GetObjectAcl {
                    return Ok(xml(acl::acl_xml(&current.owner, &current.acl)?));
                }
                let acl = self.acl_from_request(&op, &current.owner, &text()?).await?;
                self.block_public(b, Some(&acl))?;
                let auth = ObjectAuth {
                    owner: current.owner,
                    acl,
                };
                let after = self.object_write_as(b, key, auth);
                self.settle_now(after).await?;
                Ok(none(StatusCode::OK))
            }
        }
    }

    pub(super) fn object_write_as(
        &self,
        b: &BucketAuth,
        key: String,
        auth: ObjectAuth,
    ) -> AfterWrite {
        let default = auth == ObjectAuth::default_for(b);
        AfterWrite::Object {
            tenant_id: b.tenant_id.clone(),
            bucket: b.bucket.clone(),
            key,
            auth: (!default).then_some(auth),
            had_records: b.object_records,
            completes_upload: false,
        }
    }

    /// PutObjectAcl's record, written before answering (its failure is the client's error).
    async fn settle_now(&self, after: AfterWrite) -> Result<(), S3Error> {
        let AfterWrite::Object {
            tenant_id,
            bucket,
            key,
            auth,
            had_records,
            ..
        } = after
        else {
            return Err(S3Error::internal("unexpected record"));
        };
        self.record_object(&(tenant_id, bucket, key), auth.as_ref(), had_records)
            .await
    }

    /// Store an object's record (or remove it: `None` is the bucket owner's `private`), and
    /// drop what the caches held of it.
    pub(super) async fn record_object(
        &self,
        id: &(String, String, String),
        auth: Option<&ObjectAuth>,
        had_records: bool,
    ) -> Result<(), S3Error> {
        let (tenant_id, bucket, key) = id;
        let inner = self.dir.inner();
        match auth {
            Some(a) => {
                inner
                    .put_object_access(&ObjectAccessRow {
                        tenant_id: tenant_id.clone(),
                        bucket: bucket.clone(),
                        key: key.clone(),
                        access: serde_json::to_string(a).map_err(|e| unreadable("ACL", e))?,
                    })
                    .await?
            }
            None if had_records => inner.delete_object_access(tenant_id, bucket, key).await?,
            None => return Ok(()),
        }
        self.objects.invalidate(id);
        if auth.is_some() && !had_records {
            // the bucket has records now: its cached "none" must go
            self.forget_bucket(tenant_id, bucket);
        }
        Ok(())
    }

    /// The object exists (or NoSuchKey / NoSuchVersion), asked of the backend.
    async fn probe(&self, op: &LocalOp, key: &str) -> Result<(), S3Error> {
        let probe = op
            .probe
            .as_ref()
            .ok_or_else(|| S3Error::internal("object ACL without a probe"))?;
        match self.exists(probe, key, op.version_id.as_deref()).await? {
            Some(true) => Ok(()),
            Some(false) if op.version_id.is_some() => Err(S3Error::new(
                StatusCode::NOT_FOUND,
                "NoSuchVersion",
                "The specified version does not exist.",
            )),
            Some(false) => Err(no_such_key(&op.bucket.bucket, key)),
            None => Err(S3Error::service_unavailable(
                probe.backend.name(),
                "the object's existence check (HEAD) got no clear answer",
            )),
        }
    }

    /// PutBucketAcl / PutObjectAcl: from the headers, or else the AccessControlPolicy body.
    async fn acl_from_request(
        &self,
        op: &LocalOp,
        owner: &Owner,
        body: &str,
    ) -> Result<Acl, S3Error> {
        if let Some(acl) = self
            .acl_from_headers(&op.acl_headers, owner, &op.bucket.owner)
            .await?
        {
            if !body.trim().is_empty() {
                return Err(S3Error::new(
                    StatusCode::BAD_REQUEST,
                    "UnexpectedContent",
                    "This request does not support content when ACL headers are given",
                ));
            }
            return Ok(acl);
        }
        if body.trim().is_empty() {
            return Err(S3Error::new(
                StatusCode::BAD_REQUEST,
                "MissingSecurityHeader",
                "Your request was missing a required header: x-amz-acl, x-amz-grant-* or an AccessControlPolicy body",
            ));
        }
        if body.len() > acl::MAX_ACL_BODY {
            return Err(authz::AuthzError::MalformedAcl(format!(
                "the ACL body is larger than {} bytes",
                acl::MAX_ACL_BODY
            ))
            .into());
        }
        let parsed = acl::parse_acl_xml(body)?;
        if let Some(id) = &parsed.owner_id {
            if !id.is_empty() && id != owner.id.as_str() {
                return Err(S3Error::access_denied(
                    "Access Denied: the ACL's Owner is not the resource's owner",
                ));
            }
        }
        Ok(Acl {
            grants: self.resolve(parsed.grants).await?,
        })
    }

    /// Change the bucket's stored record and drop the cached one.
    async fn update_bucket(
        &self,
        p: &Placement,
        b: &BucketAuth,
        change: impl FnOnce(&mut BucketAccessRow) -> Result<(), S3Error>,
    ) -> Result<(), S3Error> {
        let inner = self.dir.inner();
        let mut row = inner.bucket_access(&p.tenant_id, &p.bucket).await?;
        if row.acl.is_none() {
            // the default made explicit, so the owner named in it stays who it was
            row.acl = Some(serde_json::to_string(&b.acl).map_err(|e| unreadable("ACL", e))?);
        }
        change(&mut row)?;
        inner
            .put_bucket_access(&p.tenant_id, &p.bucket, &row)
            .await?;
        self.forget_bucket(&p.tenant_id, &p.bucket);
        Ok(())
    }
}

fn pab_xml(x: &PublicAccessBlock) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><PublicAccessBlockConfiguration xmlns=\"{}\"><BlockPublicAcls>{}</BlockPublicAcls><IgnorePublicAcls>{}</IgnorePublicAcls><BlockPublicPolicy>{}</BlockPublicPolicy><RestrictPublicBuckets>{}</RestrictPublicBuckets></PublicAccessBlockConfiguration>",
        acl::S3_XMLNS,
        x.block_public_acls,
        x.ignore_public_acls,
        x.block_public_policy,
        x.restrict_public_buckets
    )
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PabXml {
    #[serde(default)]
    block_public_acls: Option<bool>,
    #[serde(default)]
    ignore_public_acls: Option<bool>,
    #[serde(default)]
    block_public_policy: Option<bool>,
    #[serde(default)]
    restrict_public_buckets: Option<bool>,
}

fn parse_pab(body: &str) -> Result<PublicAccessBlock, S3Error> {
    let x: PabXml = quick_xml::de::from_str(body).map_err(|e| {
        S3Error::new(
            StatusCode::BAD_REQUEST,
            "MalformedXML",
            format!("PublicAccessBlockConfiguration: {e}"),
        )
    })?;
    Ok(PublicAccessBlock {
        block_public_acls: x.block_public_acls.unwrap_or(false),
        ignore_public_acls: x.ignore_public_acls.unwrap_or(false),
        block_public_policy: x.block_public_policy.unwrap_or(false),
        restrict_public_buckets: x.restrict_public_buckets.unwrap_or(false),
    })
}
