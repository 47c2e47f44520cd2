//! Bucket operations of the embedded store.

use super::*;

impl LocalS3 {
    pub(super) async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        // The location constraint is not checked: there is one region, and the gateway owns
        // region semantics towards its clients.
        let bucket = req.input.bucket;
        let mut config = BucketConfig::default();
        if req.input.object_lock_enabled_for_bucket == Some(true) {
            // object lock implies versioning (AWS S3 API reference, CreateBucket)
            config.versioning = Some(BucketVersioningStatus::ENABLED.to_owned());
            config.object_lock = Some(lock::enabled_config()?);
        }
        let store = self.store.clone();
        let b = bucket.clone();
        match blocking(move || store.create_bucket(&b, &config)).await {
            Ok(()) => {}
            // the one identity re-creating its bucket: 200, as us-east-1 and RGW (the parity
            // baseline) answer an owner, the bucket and its configuration unchanged (the
            // gateway answers another user 409 BucketAlreadyExists)
            Err(e) if *e.code() == s3s::S3ErrorCode::BucketAlreadyOwnedByYou => {}
            Err(e) => return Err(e),
        }
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{bucket}")),
        }))
    }

    pub(super) async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let store = self.store.clone();
        blocking(move || store.delete_bucket(&req.input.bucket)).await?;
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    pub(super) async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let store = self.store.clone();
        blocking(move || store.bucket_dir(&req.input.bucket).map(drop)).await?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(self.region.clone()),
            ..Default::default()
        }))
    }

    pub(super) async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let store = self.store.clone();
        blocking(move || store.bucket_dir(&req.input.bucket).map(drop)).await?;
        // S3 reports us-east-1 as an empty constraint.
        let location_constraint = (self.region != "us-east-1")
            .then(|| BucketLocationConstraint::from(self.region.clone()));
        Ok(S3Response::new(GetBucketLocationOutput {
            location_constraint,
        }))
    }

    pub(super) async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let store = self.store.clone();
        let all = blocking(move || store.list_buckets()).await?;
        let prefix = req.input.prefix.unwrap_or_default();
        let buckets = all
            .into_iter()
            .filter(|(name, _)| name.starts_with(&prefix))
            .map(|(name, created)| Bucket {
                name: Some(name),
                creation_date: Some(ms_to_timestamp(created)),
                bucket_region: Some(self.region.clone()),
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            ..Default::default()
        }))
    }
}
