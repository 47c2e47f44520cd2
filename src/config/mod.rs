//! Configuration: the TOML schema ([`toml`]) and the validated model ([`internal`]).
//!
//! `osprey check-config FILE` runs exactly [`load`], so what CI accepts is what `serve` accepts.

pub mod internal;
pub mod toml;

pub use internal::{
    BackendConfig, BackendKind, Config, Env, Limits, LogLevel, Namespace, TableConfig,
};

use std::path::Path;

/// Largest config file Osprey reads: 64 MiB. A routing file with 100 k tenants is ~10 MiB; anything
/// far larger is a mistake (or a symlink to a device) and must not exhaust memory.
pub const MAX_CONFIG_BYTES: u64 = 64 * 1024 * 1024;

/// Every way a configuration can be rejected. Messages name file, line, column and key so an
/// operator can fix the file without reading code (docs/troubleshooting.md lists them).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {message}")]
    Io { file: String, message: String },
    #[error("{file}:{line}:{col}: TOML error: {message}")]
    Parse {
        file: String,
        line: usize,
        col: usize,
        message: String,
    },
    #[error("{file}:{line}:{col}: `{key}`: {message}")]
    Invalid {
        file: String,
        line: usize,
        col: usize,
        key: String,
        message: String,
    },
    #[error("{file}: missing `{key}`: {message}")]
    Missing {
        file: String,
        key: String,
        message: String,
    },
    #[error("internal configuration error: {0}")]
    Internal(String),
}

/// Read, parse and validate a config file with the process environment's overrides.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_with_env(path, &Env::from_process())
}

pub fn load_with_env(path: &Path, env: &Env) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let text = read_limited(path).map_err(|message| ConfigError::Io {
        file: file.clone(),
        message,
    })?;
    Config::from_toml_str(&text, &file, env)
}

/// Read a config file (size-limited) and validate it; also returns the text (for its digest).
pub fn load_text(path: &Path, env: &Env) -> Result<(String, Config), ConfigError> {
    let file = path.display().to_string();
    let text = read_limited(path).map_err(|message| ConfigError::Io {
        file: file.clone(),
        message,
    })?;
    let cfg = Config::from_toml_str(&text, &file, env)?;
    Ok((text, cfg))
}

fn read_limited(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut buf = String::new();
    f.take(MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut buf)
        .map_err(|e| e.to_string())?;
    if buf.len() as u64 > MAX_CONFIG_BYTES {
        return Err(format!("larger than the {MAX_CONFIG_BYTES}-byte limit"));
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: &str = r#"
[osis]
admin_access_key = "admin"
admin_secret_key = "secret-secret"
[[backends]]
name = "local"
kind = "local"
"#;

    fn parse(t: &str) -> Result<Config, ConfigError> {
        Config::from_toml_str(t, "test.toml", &Env::default())
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let c = parse(MIN).unwrap();
        assert_eq!(c.server.osis_listen.to_string(), "127.0.0.1:8443");
        assert_eq!(c.server.s3_listen.to_string(), "127.0.0.1:9000");
        assert_eq!(c.server.public_s3_endpoint, "http://127.0.0.1:9000");
        assert_eq!(c.routing.tables["default"].rules[0].backend, "local");
        assert_eq!(c.log.level, LogLevel::Info);
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let t = format!("{MIN}\n[s3]\nmax_clock_skew = 5\n");
        let e = parse(&t).unwrap_err().to_string();
        assert!(e.contains("test.toml:10:1"), "{e}");
        assert!(e.contains("unknown field `max_clock_skew`"), "{e}");
    }

    #[test]
    fn unknown_backend_in_rule_is_rejected_with_line() {
        let t = format!(
            "{MIN}\n[routing]\ndefault_table = \"std\"\n[routing.tables.std]\nrules = [ {{ buckets = \"*\", backend = \"ceph\" }} ]\n"
        );
        let e = parse(&t).unwrap_err().to_string();
        assert!(e.contains("test.toml:12:38"), "{e}");
        assert!(e.contains("routing.tables.std.rules[0].backend"), "{e}");
        assert!(e.contains("unknown backend `ceph`"), "{e}");
    }

    #[test]
    fn table_namespace() {
        let t = |ns: &str| {
            format!("{MIN}\n[routing]\ndefault_table = \"std\"\n[routing.tables.std]\n{ns}rules = [ {{ buckets = \"*\", backend = \"local\" }} ]\n")
        };
        let c = parse(&t("")).unwrap();
        assert_eq!(c.routing.tables["std"].namespace, Namespace::Tenant);
        let c = parse(&t("namespace = \"global\"\n")).unwrap();
        assert_eq!(c.routing.tables["std"].namespace, Namespace::Global);
        let e = parse(&t("namespace = \"world\"\n"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown variant `world`, expected `tenant` or `global`"),
            "{e}"
        );
    }

    #[test]
    fn env_overrides_win() {
        let env = Env {
            data_dir: Some("/tmp/x".into()),
            admin_access_key: Some("envkey".into()),
            admin_secret_key: Some("envsecret1".into()),
            ..Default::default()
        };
        let c = Config::from_toml_str(MIN, "t", &env).unwrap();
        assert_eq!(c.server.data_dir, std::path::PathBuf::from("/tmp/x"));
        assert_eq!(c.osis.admin_access_key, "envkey");
        assert_eq!(c.osis.admin_secret_key, "envsecret1");
    }

    #[test]
    fn missing_admin_key_is_named() {
        let e = parse("[[backends]]\nname=\"l\"\nkind=\"local\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("osis.admin_access_key"), "{e}");
        assert!(e.contains("OSPREY_ADMIN_ACCESS_KEY"), "{e}");
    }

    #[test]
    fn bad_listen_address_is_named() {
        let t = format!("[server]\ns3_listen = \"localhost\"\n{MIN}");
        let e = parse(&t).unwrap_err().to_string();
        assert!(
            e.contains("test.toml:2:13") && e.contains("server.s3_listen"),
            "{e}"
        );
    }

    #[test]
    fn s3_backend_requires_endpoint_and_keys() {
        let t = format!("{MIN}\n[[backends]]\nname = \"ceph\"\nkind = \"s3\"\nendpoint = \"http://127.0.0.1:7480\"\n");
        let e = parse(&t).unwrap_err().to_string();
        assert!(e.contains("backends[1].access_key"), "{e}");
    }

    #[test]
    fn table_must_end_with_catch_all() {
        let t = format!(
            "{MIN}\n[routing]\ndefault_table = \"std\"\n[routing.tables.std]\nrules = [ {{ buckets = \"a-*\", backend = \"local\" }} ]\n"
        );
        let e = parse(&t).unwrap_err().to_string();
        assert!(e.contains("catch-all"), "{e}");
    }

    #[test]
    fn duplicate_backend_name_rejected() {
        let t = format!("{MIN}\n[[backends]]\nname = \"local\"\nkind = \"local\"\n");
        let e = parse(&t).unwrap_err().to_string();
        assert!(e.contains("defined twice"), "{e}");
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let c = parse(MIN).unwrap();
        let d = format!("{:?}", c.osis);
        assert!(!d.contains("secret-secret"), "{d}");
    }
}
