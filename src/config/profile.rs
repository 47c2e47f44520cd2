//! Vendor profiles (`backends/<name>/profile.toml`), compiled into the binary so a deployment needs
//! no extra files. A profile states what the data path must know about a platform: whether its
//! bucket namespace is shared by all tenants and which aws-chunked payload modes it accepts
//! (architecture.md §3).
//!
//! The catalogue lives in `config` (not `backend`) because validation resolves `profile =` of
//! each `[[backends]]` entry: the validated config carries the profile itself, so an unknown name
//! or a profile of another kind is a `check-config` error with a line and column (issue 12), and
//! drivers read `shared_namespace` and the payload modes from it instead of hard-coding them.
//! `config` stays a leaf: nothing here knows the drivers.

use serde::Deserialize;

use super::model::BackendKind;

/// Which aws-chunked payload modes a backend accepts (architecture.md §3). A mode it lacks is decoded
/// by Osprey into a plain body before the request is forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayloadModes {
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`
    pub signed_chunks: bool,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`
    pub signed_chunks_trailer: bool,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`
    pub unsigned_trailer: bool,
}

impl PayloadModes {
    /// Ceph RGW 16 (Pacific): chunk signatures yes, trailer modes no
    /// (shared/recipes/ceph-rgw/README.md "Gotchas": 400 XAmzContentSHA256Mismatch).
    pub const NO_TRAILERS: PayloadModes = PayloadModes {
        signed_chunks: true,
        signed_chunks_trailer: false,
        unsigned_trailer: false,
    };
    pub const ALL: PayloadModes = PayloadModes {
        signed_chunks: true,
        signed_chunks_trailer: true,
        unsigned_trailer: true,
    };
}

/// A compiled, checked profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Folder name under `backends/` (what `profile =` names).
    pub name: String,
    /// The backend kind the profile describes; a backend may only use a profile of its own kind.
    pub kind: BackendKind,
    pub description: String,
    /// Buckets of all tenants share one namespace on the platform: Osprey derives backend bucket
    /// names from tenant + bucket and enforces ownership through placements.
    pub shared_namespace: bool,
    pub payload_modes: PayloadModes,
    /// S3 operations the platform does not support, by OSIS s3capabilities name (boto3's
    /// snake_case, e.g. `get_object_attributes`): OSE is told not to offer them to a tenant
    /// whose buckets may live there (issue 11, `GET /api/v1/s3capabilities`).
    pub unsupported_operations: Vec<String>,
}

/// `profile.toml` as written (the schema; [`Profile`] is the checked form).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    kind: String,
    description: String,
    shared_namespace: bool,
    payload_modes: PayloadModes,
    #[serde(default)]
    unsupported_operations: Vec<String>,
}

/// Why a profile cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("no backend profile `{name}`; built-in profiles: {}", names().join(", "))]
    Unknown { name: String },
    /// A built-in profile does not parse: a build defect, caught by this module's tests.
    #[error("backend profile `{name}` is invalid: {message}")]
    Invalid { name: String, message: String },
}

/// Built-in profiles by folder name.
const PROFILES: &[(&str, &str)] = &[
    ("local", include_str!("../../backends/local/profile.toml")),
    ("s3", include_str!("../../backends/s3/profile.toml")),
    (
        "ceph-rgw",
        include_str!("../../backends/ceph-rgw/profile.toml"),
    ),
    ("iam", include_str!("../../backends/iam/profile.toml")),
];

/// Names of the built-in profiles (for error messages).
pub fn names() -> Vec<&'static str> {
    PROFILES.iter().map(|(n, _)| *n).collect()
}

/// Load a built-in profile; the error says which profiles exist.
pub fn load(name: &str) -> Result<Profile, ProfileError> {
    let text = PROFILES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .ok_or_else(|| ProfileError::Unknown {
            name: name.to_string(),
        })?;
    let invalid = |message: String| ProfileError::Invalid {
        name: name.to_string(),
        message,
    };
    let f: ProfileFile = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
    let kind =
        BackendKind::parse(&f.kind).ok_or_else(|| invalid(format!("unknown kind `{}`", f.kind)))?;
    if let Some(bad) = f.unsupported_operations.iter().find(|o| {
        o.is_empty()
            || !o.starts_with(|c: char| c.is_ascii_lowercase())
            || !o.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    }) {
        return Err(invalid(format!(
            "unsupported_operations: `{bad}` is not an s3capabilities operation name (snake_case, e.g. get_object_attributes)"
        )));
    }
    Ok(Profile {
        name: name.to_string(),
        kind,
        description: f.description,
        shared_namespace: f.shared_namespace,
        payload_modes: f.payload_modes,
        unsupported_operations: f.unsupported_operations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_profile_parses_and_names_its_kind() {
        for name in names() {
            let p = load(name).unwrap();
            assert_eq!(p.kind.as_str(), name);
            assert_eq!(p.name, name);
        }
        let ceph = load("ceph-rgw").unwrap();
        assert!(
            !ceph.payload_modes.unsigned_trailer,
            "RGW 16 rejects trailer modes"
        );
        assert!(!ceph.shared_namespace, "RGW tenants are namespaces");
        assert!(load("s3").unwrap().shared_namespace);
        assert_eq!(
            load("nope").unwrap_err().to_string(),
            "no backend profile `nope`; built-in profiles: local, s3, ceph-rgw, iam"
        );
    }
}
