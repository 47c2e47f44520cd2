//! A bucket's configuration (`<bucket>/config.json`): versioning status, tags and the
//! sub-resource documents (CORS, lifecycle, encryption, object lock) kept as the XML s3s
//! serialises them, so what GET returns is what PUT stored (issue 11).

use super::*;

pub(super) const CONFIG_FILE: &str = "config.json";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BucketConfig {
    #[serde(default)]
    pub v: u32,
    /// `Enabled` or `Suspended`; absent for a bucket whose versioning was never configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versioning: Option<String>,
    /// The bucket's tag set (PutBucketTagging); `None` is "no tag set" (`NoSuchTagSet`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<(String, String)>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_lock: Option<String>,
}

impl BucketConfig {
    /// What writes do in this bucket.
    pub(crate) fn versioning(&self) -> Versioning {
        match self.versioning.as_deref() {
            Some("Enabled") => Versioning::Enabled,
            Some(_) => Versioning::Suspended,
            None => Versioning::Unversioned,
        }
    }
}

impl Store {
    /// The bucket's configuration (the default one for a bucket that never had any).
    pub(crate) fn read_config(&self, bucket: &str) -> S3Result<BucketConfig> {
        let bdir = self.bucket_dir(bucket)?;
        Ok(read_json(&bdir.join(CONFIG_FILE))
            .map_err(internal)?
            .unwrap_or_default())
    }

    /// Changes the bucket's configuration atomically; `f` may refuse the change.
    pub(crate) fn update_config<T>(
        &self,
        bucket: &str,
        f: impl FnOnce(&mut BucketConfig) -> S3Result<T>,
    ) -> S3Result<T> {
        let _b = read_lock(&self.buckets);
        let bdir = self.bucket_dir(bucket)?;
        // The empty key cannot be an object's, so this stripe serialises only config changes
        // (and, by collision, some unrelated commit).
        let _k = lock(self.stripe(bucket, ""));
        let path = bdir.join(CONFIG_FILE);
        let mut config: BucketConfig = read_json(&path).map_err(internal)?.unwrap_or_default();
        let out = f(&mut config)?;
        config.v = FORMAT_VERSION;
        self.write_json(&path, &config).map_err(internal)?;
        Ok(out)
    }

    /// All buckets' names, for the lifecycle sweep.
    pub(crate) fn bucket_names(&self) -> S3Result<Vec<String>> {
        Ok(self.list_buckets()?.into_iter().map(|(n, _)| n).collect())
    }
}

/// A configuration document as s3s writes it (the XML GET answers with).
pub(crate) fn to_xml<T: s3s::xml::Serialize>(value: &T) -> S3Result<String> {
    let mut buf = Vec::new();
    value
        .serialize(&mut s3s::xml::Serializer::new(&mut buf))
        .map_err(internal)?;
    String::from_utf8(buf).map_err(internal)
}

/// A stored configuration document read back.
pub(crate) fn from_xml<T: for<'x> s3s::xml::Deserialize<'x>>(xml: &str) -> S3Result<T> {
    let mut d = s3s::xml::Deserializer::new(xml.as_bytes());
    let v = T::deserialize(&mut d).map_err(|e| internal(format!("stored configuration: {e:?}")))?;
    d.expect_eof()
        .map_err(|e| internal(format!("stored configuration: {e:?}")))?;
    Ok(v)
}
