//! Vendor profiles (`backends/<name>/profile.toml`), compiled into the binary so a deployment needs
//! no extra files. A profile states what the data path must know about a platform.

use serde::Deserialize;

use super::PayloadModes;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub kind: String,
    pub description: String,
    pub shared_namespace: bool,
    pub payload_modes: ProfileModes,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileModes {
    pub signed_chunks: bool,
    pub signed_chunks_trailer: bool,
    pub unsigned_trailer: bool,
}

impl From<ProfileModes> for PayloadModes {
    fn from(m: ProfileModes) -> Self {
        PayloadModes {
            signed_chunks: m.signed_chunks,
            signed_chunks_trailer: m.signed_chunks_trailer,
            unsigned_trailer: m.unsigned_trailer,
        }
    }
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
pub fn load(name: &str) -> Result<Profile, String> {
    let text = PROFILES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            format!(
                "no backend profile `{name}`; built-in profiles: {}",
                names().join(", ")
            )
        })?;
    toml::from_str(text).map_err(|e| format!("backend profile `{name}` is invalid: {e}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_builtin_profile_parses_and_names_its_kind() {
        for name in super::names() {
            let p = super::load(name).unwrap();
            assert_eq!(p.kind, name);
        }
        let ceph = super::load("ceph-rgw").unwrap();
        assert!(
            !ceph.payload_modes.unsigned_trailer,
            "RGW 16 rejects trailer modes"
        );
        assert!(super::load("nope")
            .unwrap_err()
            .contains("built-in profiles"));
    }
}
