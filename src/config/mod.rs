//! Configuration: the TOML schema ([`toml`]), its validation ([`validate`]) and the validated
//! model ([`model`]) the rest of Osprey reads; the built-in vendor profiles ([`profile`]) that
//! validation resolves.
//!
//! `osprey check-config FILE` runs exactly [`load`], so what CI accepts is what `serve` accepts.

pub mod model;
pub mod profile;
pub mod toml;
mod validate;

pub use model::{
    BackendConfig, BackendKind, BackendSpec, CephRgwSpec, Config, Endpoint, Env, IamSpec, Limits,
    LogConfig, LogFormat, LogLevel, Namespace, PayloadModes, PgSslMode, PostgresConfig, Profile,
    S3Spec, Secret, ServiceCredentials, StoreKind, TableConfig, TlsConfig, ACCESS_LOG_TARGET,
};
pub use validate::{postgres_target, PgField};

use std::path::Path;

/// Largest config file Osprey reads: 64 MiB. A routing file with 100 k tenants is ~10 MiB; anything
/// far larger is a mistake (or a symlink to a device) and must not exhaust memory.
pub const MAX_CONFIG_BYTES: u64 = 64 * 1024 * 1024;

/// Why a config file could not be read (before any parsing).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("larger than the {MAX_CONFIG_BYTES}-byte limit")]
    TooLarge,
}

/// Every way a configuration can be rejected. Messages name file, line, column and key so an
/// operator can fix the file without reading code (docs/troubleshooting.md lists them).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Io { file: String, source: ReadError },
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
    let text = read_limited(path).map_err(|source| ConfigError::Io {
        file: file.clone(),
        source,
    })?;
    Config::from_toml_str(&text, &file, env)
}

/// Read a config file (size-limited) and validate it; also returns the text (for its digest).
pub fn load_text(path: &Path, env: &Env) -> Result<(String, Config), ConfigError> {
    let file = path.display().to_string();
    let text = read_limited(path).map_err(|source| ConfigError::Io {
        file: file.clone(),
        source,
    })?;
    let cfg = Config::from_toml_str(&text, &file, env)?;
    Ok((text, cfg))
}

fn read_limited(path: &Path) -> Result<String, ReadError> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    let mut buf = String::new();
    f.take(MAX_CONFIG_BYTES + 1).read_to_string(&mut buf)?;
    if buf.len() as u64 > MAX_CONFIG_BYTES {
        return Err(ReadError::TooLarge);
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

    /// `server.s3_threads` (issue 13): a number of threads, bounded, named at its line.
    #[test]
    fn s3_threads_default_and_bounds() {
        assert_eq!(
            parse(MIN).unwrap().server.s3_threads,
            model::default_s3_threads()
        );
        let t = |n: &str| format!("[server]\ns3_threads = {n}\n{MIN}");
        assert_eq!(parse(&t("1")).unwrap().server.s3_threads, 1);
        let port0 = parse(&format!("[server]\ns3_listen = \"127.0.0.1:0\"\n{MIN}"));
        let e = port0.unwrap_err().to_string();
        assert!(
            e.contains("server.s3_listen`: port 0 is not a port clients can be told"),
            "{e}"
        );
        for bad in ["0", "257"] {
            let e = parse(&t(bad)).unwrap_err().to_string();
            assert!(
                e.contains("test.toml:2:14")
                    && e.contains(&format!(
                        "server.s3_threads`: must be between 1 and 256, got {bad}"
                    )),
                "{e}"
            );
        }
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
        let t = format!("{MIN}\n[[backends]]\nname = \"ceph\"\nkind = \"ceph-rgw\"\nendpoint = \"http://127.0.0.1:7480\"\naccess_key = \"AK\"\nsecret_key = \"backend-secret\"\n[routing]\ndefault_table = \"t\"\n[routing.tables.t]\nrules = [ {{ buckets = \"*\", backend = \"ceph\" }} ]\n");
        let c = parse(&t).unwrap();
        let d = format!("{:?}", c.backends);
        assert!(
            !d.contains("backend-secret") && d.contains("<redacted>") && d.contains("AK"),
            "{d}"
        );
    }

    /// Each kind's spec holds exactly its parts (issue 12): endpoint split into host/port/TLS,
    /// the key, and for `iam` the IAM endpoint defaulting to `endpoint`.
    #[test]
    fn backend_spec_is_typed_per_kind() {
        let t = format!(
            "{MIN}\n[[backends]]\nname = \"gen\"\nkind = \"s3\"\nendpoint = \"https://s3.example.net\"\naccess_key = \"AK1\"\nsecret_key = \"sk1\"\n\
             [[backends]]\nname = \"ceph\"\nkind = \"ceph-rgw\"\nendpoint = \"http://[::1]:7480/\"\naccess_key = \"AK2\"\nsecret_key = \"sk2\"\n\
             [[backends]]\nname = \"vault\"\nkind = \"iam\"\nendpoint = \"http://127.0.0.1:5000\"\naccess_key = \"AK3\"\nsecret_key = \"sk3\"\n\
             [routing]\ndefault_table = \"t\"\n[routing.tables.t]\nrules = [ {{ buckets = \"*\", backend = \"local\" }} ]\n"
        );
        let c = parse(&t).unwrap();
        assert_eq!(c.backends[0].spec, BackendSpec::Local);
        let BackendSpec::S3(s3) = &c.backends[1].spec else {
            panic!("{:?}", c.backends[1])
        };
        assert_eq!(
            (s3.endpoint.host(), s3.endpoint.port(), s3.endpoint.tls()),
            ("s3.example.net", 443, true)
        );
        assert_eq!(s3.endpoint.host_header(), "s3.example.net");
        assert_eq!(
            (
                s3.service.access_key.as_str(),
                s3.service.secret_key.expose()
            ),
            ("AK1", "sk1")
        );
        let BackendSpec::CephRgw(rgw) = &c.backends[2].spec else {
            panic!("{:?}", c.backends[2])
        };
        assert_eq!(rgw.endpoint.host_header(), "[::1]:7480");
        assert_eq!(rgw.endpoint.base_url(), "http://[::1]:7480");
        let BackendSpec::Iam(iam) = &c.backends[3].spec else {
            panic!("{:?}", c.backends[3])
        };
        assert_eq!(iam.iam_endpoint, iam.endpoint);
        assert_eq!(iam.admin.access_key, "AK3");
        for b in &c.backends {
            assert_eq!(b.profile.kind, b.kind(), "{b:?}");
            assert_eq!(b.profile.name, b.kind().as_str());
        }
        // same_as: equal settings, and nothing else
        let again = parse(&t).unwrap();
        assert!(c.backends[1].same_as(&again.backends[1]));
        assert!(!c.backends[1].same_as(&c.backends[2]));
    }

    /// issue 12: `profile` was accepted whatever it named (and failed only at start).
    #[test]
    fn unknown_profile_is_rejected_at_its_key() {
        let t = format!("{MIN}profile = \"ceph\"\n");
        let e = parse(&t).unwrap_err().to_string();
        assert_eq!(
            e,
            "test.toml:8:11: `backends[0].profile`: no backend profile `ceph`; built-in profiles: local, s3, ceph-rgw, iam"
        );
    }

    /// issue 12: a profile of another kind was accepted and silently used.
    #[test]
    fn profile_of_another_kind_is_rejected_at_its_key() {
        let t = format!("{MIN}profile = \"s3\"\n");
        let e = parse(&t).unwrap_err().to_string();
        assert_eq!(
            e,
            "test.toml:8:11: `backends[0].profile`: profile `s3` is for `s3` backends, not `local`; remove `profile` or name a profile of kind `local`"
        );
        // the kind's own profile, named explicitly, is what the default resolves to
        let c = parse(&format!("{MIN}profile = \"local\"\n")).unwrap();
        assert_eq!(
            c.backends[0].profile,
            parse(MIN).unwrap().backends[0].profile
        );
    }

    #[test]
    fn endpoint_errors_keep_their_text() {
        let bad = |ep: &str| {
            let t = format!(
                "{MIN}\n[[backends]]\nname = \"gen\"\nkind = \"s3\"\nendpoint = \"{ep}\"\n"
            );
            parse(&t).unwrap_err().to_string()
        };
        let e = bad("s3.example.net");
        assert!(e.contains("test.toml:12:12: `backends[1].endpoint`: `s3.example.net` must be an absolute http:// or https:// URL"), "{e}");
        let e = bad("http://h/path");
        assert!(
            e.contains("`http://h/path`: endpoint URLs must not carry a path"),
            "{e}"
        );
        let e = bad("http://a b");
        assert!(e.contains("`http://a b` is not a URL ("), "{e}");
    }

    #[test]
    fn unreadable_file_is_a_typed_read_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = load(&dir.path().join("nope.toml")).unwrap_err();
        assert!(
            matches!(&e, ConfigError::Io { source: ReadError::Io(io), .. } if io.kind() == std::io::ErrorKind::NotFound),
            "{e:?}"
        );
        assert!(e.to_string().contains("nope.toml: cannot read: "), "{e}");
        assert_eq!(
            ReadError::TooLarge.to_string(),
            "larger than the 67108864-byte limit"
        );
    }
}
