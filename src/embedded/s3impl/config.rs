//! Bucket configurations stored and returned as given (issue 11): CORS, lifecycle and default
//! encryption. The documents are kept as the XML s3s serialises them (`store::config`); the CORS
//! rules are applied by `embedded::cors`, lifecycle rules by `embedded::lifecycle`.

use super::*;

/// Most CORS rules per bucket. Default 100 (the S3 limit, AWS S3 user guide, "CORS
/// configuration"); bounds the rule matching done on every request that carries `Origin`.
const MAX_CORS_RULES: usize = 100;

/// Most lifecycle rules per bucket. Default 1000 (the S3 limit); bounds the sweep's work per
/// object.
const MAX_LIFECYCLE_RULES: usize = 1000;

/// Longest lifecycle rule ID. Default 255 characters (the S3 limit).
const MAX_RULE_ID: usize = 255;

/// The methods a CORS rule may allow (AWS S3 API reference, CORSRule `AllowedMethods`).
const CORS_METHODS: [&str; 5] = ["GET", "PUT", "HEAD", "POST", "DELETE"];

fn check_cors(conf: &CORSConfiguration) -> S3Result<()> {
    if conf.cors_rules.is_empty() {
        return Err(s3_error!(MalformedXML, "a CORS configuration needs a rule"));
    }
    if conf.cors_rules.len() > MAX_CORS_RULES {
        return Err(s3_error!(
            InvalidRequest,
            "A CORS configuration can have at most {MAX_CORS_RULES} rules"
        ));
    }
    for rule in &conf.cors_rules {
        if rule.allowed_methods.is_empty() || rule.allowed_origins.is_empty() {
            return Err(s3_error!(
                MalformedXML,
                "a CORS rule needs AllowedMethod and AllowedOrigin"
            ));
        }
        if let Some(m) = rule
            .allowed_methods
            .iter()
            .find(|m| !CORS_METHODS.contains(&m.as_str()))
        {
            return Err(s3_error!(
                InvalidRequest,
                "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
            ));
        }
        if let Some(o) = rule
            .allowed_origins
            .iter()
            .find(|o| o.matches('*').count() > 1)
        {
            return Err(s3_error!(
                InvalidRequest,
                "AllowedOrigin \"{o}\" can not have more than one wildcard."
            ));
        }
    }
    Ok(())
}

fn check_lifecycle(conf: &BucketLifecycleConfiguration) -> S3Result<()> {
    if conf.rules.is_empty() {
        return Err(s3_error!(
            MalformedXML,
            "a lifecycle configuration needs a rule"
        ));
    }
    if conf.rules.len() > MAX_LIFECYCLE_RULES {
        return Err(s3_error!(
            InvalidRequest,
            "A lifecycle configuration can have at most {MAX_LIFECYCLE_RULES} rules"
        ));
    }
    let mut ids = std::collections::HashSet::new();
    for rule in &conf.rules {
        if let Some(id) = &rule.id {
            if id.chars().count() > MAX_RULE_ID {
                return Err(s3_error!(
                    InvalidArgument,
                    "ID length should not exceed allowed limit of {MAX_RULE_ID}"
                ));
            }
            if !ids.insert(id.as_str()) {
                return Err(s3_error!(
                    InvalidArgument,
                    "Rule ID must be unique. Found same ID for more than one rule"
                ));
            }
        }
        if !matches!(
            rule.status.as_str(),
            ExpirationStatus::ENABLED | ExpirationStatus::DISABLED
        ) {
            return Err(s3_error!(
                MalformedXML,
                "Status must be Enabled or Disabled"
            ));
        }
        if rule.prefix.is_some() && rule.filter.is_some() {
            return Err(s3_error!(
                MalformedXML,
                "a rule has either Prefix or Filter, not both"
            ));
        }
        let no_action = rule.expiration.is_none()
            && rule.noncurrent_version_expiration.is_none()
            && rule.abort_incomplete_multipart_upload.is_none()
            && rule.transitions.as_ref().is_none_or(Vec::is_empty)
            && rule
                .noncurrent_version_transitions
                .as_ref()
                .is_none_or(Vec::is_empty);
        if no_action {
            return Err(s3_error!(
                InvalidRequest,
                "At least one action needs to be specified in a rule"
            ));
        }
        if let Some(e) = &rule.expiration {
            let given = usize::from(e.days.is_some())
                + usize::from(e.date.is_some())
                + usize::from(e.expired_object_delete_marker.is_some());
            if given != 1 {
                return Err(s3_error!(
                    MalformedXML,
                    "Expiration needs exactly one of Days, Date and ExpiredObjectDeleteMarker"
                ));
            }
            if e.days.is_some_and(|d| d <= 0) {
                return Err(s3_error!(
                    InvalidArgument,
                    "'Days' for Expiration action must be a positive integer"
                ));
            }
        }
        if rule
            .noncurrent_version_expiration
            .as_ref()
            .is_some_and(|n| n.noncurrent_days.is_none_or(|d| d <= 0))
        {
            return Err(s3_error!(
                InvalidArgument,
                "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer"
            ));
        }
        if rule
            .abort_incomplete_multipart_upload
            .as_ref()
            .is_some_and(|a| a.days_after_initiation.is_none_or(|d| d <= 0))
        {
            return Err(s3_error!(
                InvalidArgument,
                "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer"
            ));
        }
        let transitions = rule.transitions.as_ref().is_some_and(|t| !t.is_empty())
            || rule
                .noncurrent_version_transitions
                .as_ref()
                .is_some_and(|t| !t.is_empty());
        if transitions {
            // one storage class: there is nowhere to transition to
            return Err(s3_error!(
                InvalidStorageClass,
                "The embedded store has one storage class (STANDARD); transitions are not supported"
            ));
        }
    }
    Ok(())
}

fn check_encryption(conf: &ServerSideEncryptionConfiguration) -> S3Result<()> {
    if conf.rules.is_empty() {
        return Err(s3_error!(
            MalformedXML,
            "an encryption configuration needs a rule"
        ));
    }
    for rule in &conf.rules {
        let Some(d) = &rule.apply_server_side_encryption_by_default else {
            return Err(s3_error!(
                MalformedXML,
                "ApplyServerSideEncryptionByDefault is missing"
            ));
        };
        if d.sse_algorithm.as_str() != ServerSideEncryption::AES256 {
            return Err(s3_error!(
                NotImplemented,
                "The embedded store supports SSE-S3 (AES256) only, not {}",
                d.sse_algorithm.as_str()
            ));
        }
    }
    Ok(())
}

impl LocalS3 {
    pub(super) async fn put_bucket_cors(
        &self,
        req: S3Request<PutBucketCorsInput>,
    ) -> S3Result<S3Response<PutBucketCorsOutput>> {
        let input = req.input;
        check_cors(&input.cors_configuration)?;
        let xml = to_xml(&input.cors_configuration)?;
        self.set_config(input.bucket, move |c| {
            c.cors = Some(xml);
            Ok(())
        })
        .await?;
        Ok(S3Response::new(PutBucketCorsOutput {}))
    }

    pub(super) async fn get_bucket_cors(
        &self,
        req: S3Request<GetBucketCorsInput>,
    ) -> S3Result<S3Response<GetBucketCorsOutput>> {
        let cfg = self.config(req.input.bucket).await?;
        let xml = cfg.cors.ok_or_else(|| {
            s3_error!(
                NoSuchCORSConfiguration,
                "The CORS configuration does not exist"
            )
        })?;
        let conf: CORSConfiguration = from_xml(&xml)?;
        Ok(S3Response::new(GetBucketCorsOutput {
            cors_rules: Some(conf.cors_rules),
        }))
    }

    pub(super) async fn delete_bucket_cors(
        &self,
        req: S3Request<DeleteBucketCorsInput>,
    ) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        self.set_config(req.input.bucket, |c| {
            c.cors = None;
            Ok(())
        })
        .await?;
        Ok(S3Response::new(DeleteBucketCorsOutput {}))
    }

    pub(super) async fn put_bucket_lifecycle_configuration(
        &self,
        req: S3Request<PutBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
        let input = req.input;
        let conf = input
            .lifecycle_configuration
            .ok_or_else(|| s3_error!(MalformedXML))?;
        check_lifecycle(&conf)?;
        let xml = to_xml(&conf)?;
        self.set_config(input.bucket, move |c| {
            c.lifecycle = Some(xml);
            Ok(())
        })
        .await?;
        Ok(S3Response::new(
            PutBucketLifecycleConfigurationOutput::default(),
        ))
    }

    pub(super) async fn get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        let cfg = self.config(req.input.bucket).await?;
        let xml = cfg.lifecycle.ok_or_else(|| {
            s3_error!(
                NoSuchLifecycleConfiguration,
                "The lifecycle configuration does not exist"
            )
        })?;
        let conf: BucketLifecycleConfiguration = from_xml(&xml)?;
        Ok(S3Response::new(GetBucketLifecycleConfigurationOutput {
            rules: Some(conf.rules),
            ..Default::default()
        }))
    }

    pub(super) async fn delete_bucket_lifecycle(
        &self,
        req: S3Request<DeleteBucketLifecycleInput>,
    ) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
        self.set_config(req.input.bucket, |c| {
            c.lifecycle = None;
            Ok(())
        })
        .await?;
        Ok(S3Response::new(DeleteBucketLifecycleOutput {}))
    }

    pub(super) async fn put_bucket_encryption(
        &self,
        req: S3Request<PutBucketEncryptionInput>,
    ) -> S3Result<S3Response<PutBucketEncryptionOutput>> {
        let input = req.input;
        check_encryption(&input.server_side_encryption_configuration)?;
        let xml = to_xml(&input.server_side_encryption_configuration)?;
        self.set_config(input.bucket, move |c| {
            c.encryption = Some(xml);
            Ok(())
        })
        .await?;
        Ok(S3Response::new(PutBucketEncryptionOutput {}))
    }

    pub(super) async fn get_bucket_encryption(
        &self,
        req: S3Request<GetBucketEncryptionInput>,
    ) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
        let cfg = self.config(req.input.bucket).await?;
        let xml = cfg.encryption.ok_or_else(|| {
            s3_error!(
                ServerSideEncryptionConfigurationNotFoundError,
                "The server side encryption configuration was not found"
            )
        })?;
        Ok(S3Response::new(GetBucketEncryptionOutput {
            server_side_encryption_configuration: Some(from_xml(&xml)?),
        }))
    }

    pub(super) async fn delete_bucket_encryption(
        &self,
        req: S3Request<DeleteBucketEncryptionInput>,
    ) -> S3Result<S3Response<DeleteBucketEncryptionOutput>> {
        self.set_config(req.input.bucket, |c| {
            c.encryption = None;
            Ok(())
        })
        .await?;
        Ok(S3Response::new(DeleteBucketEncryptionOutput {}))
    }
}
