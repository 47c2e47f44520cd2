//! Release signature: `osprey/<version> (<build date>; git <commit>)`.
//!
//! Sent as the `Server` header on every HTTP response (OSIS and S3) and carried by every log
//! line, so a support engineer can tell from any artefact exactly which build produced it.

/// Crate version from Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// UTC build day (or SOURCE_DATE_EPOCH), stamped by build.rs.
pub const BUILD_DATE: &str = env!("OSPREY_BUILD_DATE");
/// Short git commit of the build, stamped by build.rs ("unknown" outside a checkout).
pub const GIT_COMMIT: &str = env!("OSPREY_GIT_COMMIT");

/// The full release signature, e.g. `osprey/0.1.0 (2026-11-24; git abc1234)`.
pub fn signature() -> &'static str {
    static SIG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SIG.get_or_init(|| format!("osprey/{VERSION} ({BUILD_DATE}; git {GIT_COMMIT})"))
}

/// Short form used inside log lines: `0.1.0+2026-11-24.abc1234`.
pub fn short() -> &'static str {
    static S: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    S.get_or_init(|| format!("{VERSION}+{BUILD_DATE}.{GIT_COMMIT}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_has_version_date_and_commit() {
        let s = super::signature();
        assert!(
            s.starts_with(&format!("osprey/{} (", super::VERSION)),
            "{s}"
        );
        assert!(
            s.contains(super::BUILD_DATE) && s.contains(super::GIT_COMMIT),
            "{s}"
        );
        assert_eq!(
            super::BUILD_DATE.len(),
            10,
            "build date is YYYY-MM-DD: {}",
            super::BUILD_DATE
        );
    }
}
