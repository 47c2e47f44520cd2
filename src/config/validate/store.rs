//! `[store]`: the SQLite file (relative paths under `data_dir`), or a PostgreSQL URL with its
//! password source, TLS mode and pool size. Keys of the other kind are errors, not ignored.

use std::path::{Path, PathBuf};

use toml::Spanned;

use super::{resolve_path, Source};
use crate::config::model::*;
use crate::config::toml as schema;
use crate::config::ConfigError;

/// Which `[store]` key a PostgreSQL target problem belongs to (for the message's position).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgField {
    Url,
    PasswordFile,
    Sslmode,
    CaFile,
    PoolSize,
}

/// Build a PostgreSQL target from its parts; shared by `[store]` and `osprey store migrate --to`.
/// `password`: from `password_file` (the URL must then carry none). `sslmode`: the key's value
/// (the URL's `?sslmode=` is accepted when the key is absent). Messages never show the password.
pub fn postgres_target(
    url: &str,
    password: Option<String>,
    sslmode: Option<&str>,
    ca_file: Option<PathBuf>,
    pool_size: u64,
) -> Result<PostgresConfig, (PgField, String)> {
    let url_err = |m: String| (PgField::Url, m);
    let url = url.trim();
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(url_err(
            "must be a postgres:// URL, e.g. \"postgres://osprey@db.example.net:5432/osprey\""
                .into(),
        ));
    }
    // `sslmode` is Osprey's to interpret (tokio-postgres knows no verify-full): taken out of the
    // query before the driver parses the rest
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut url_sslmode = None;
    let mut rest = Vec::new();
    for kv in query.split('&').filter(|p| !p.is_empty()) {
        match kv.split_once('=') {
            Some(("sslmode", v)) => url_sslmode = Some(v.to_string()),
            _ => rest.push(kv),
        }
    }
    let stripped = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    let mut connect: tokio_postgres::Config =
        stripped.parse().map_err(|e: tokio_postgres::Error| {
            let mut m = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                m.push_str(&format!(": {s}"));
                src = s.source();
            }
            url_err(format!("not a PostgreSQL URL: {m}"))
        })?;
    if connect.get_hosts().is_empty() {
        return Err(url_err(
            "names no host (postgres://user@HOST:5432/database)".into(),
        ));
    }
    let Some(user) = connect.get_user().map(str::to_string) else {
        return Err(url_err(
            "names no user (postgres://USER@host:5432/database)".into(),
        ));
    };
    if let Some(p) = password {
        if connect.get_password().is_some() {
            return Err((
                PgField::PasswordFile,
                "the URL already carries a password; remove it from the URL or drop password_file"
                    .into(),
            ));
        }
        connect.password(p);
    }
    let mode_text = match (sslmode, url_sslmode.as_deref()) {
        (Some(_), Some(_)) => {
            return Err((
                PgField::Sslmode,
                "sslmode is given both here and in the URL (?sslmode=); keep one".into(),
            ))
        }
        (Some(m), None) => m.to_string(),
        (None, Some(m)) => m.to_string(),
        (None, None) => "prefer".to_string(),
    };
    let field = if sslmode.is_some() {
        PgField::Sslmode
    } else {
        PgField::Url
    };
    let sslmode = match mode_text.as_str() {
        "disable" => PgSslMode::Disable,
        "prefer" => PgSslMode::Prefer,
        "require" => PgSslMode::Require,
        "verify-full" => PgSslMode::VerifyFull { ca_file: None },
        "verify-ca" | "allow" => {
            return Err((
                field,
                format!("sslmode `{mode_text}` is not supported; use disable, prefer, require or verify-full"),
            ))
        }
        other => {
            return Err((
                field,
                format!("unknown sslmode `{other}`; use disable, prefer, require or verify-full"),
            ))
        }
    };
    let sslmode = match (sslmode, ca_file) {
        (PgSslMode::VerifyFull { .. }, ca_file) => PgSslMode::VerifyFull { ca_file },
        (_, Some(_)) => {
            return Err((
                PgField::CaFile,
                "ca_file is only used with sslmode = \"verify-full\" (prefer and require do not check the certificate)".into(),
            ))
        }
        (m, None) => m,
    };
    connect.ssl_mode(match sslmode {
        PgSslMode::Disable => tokio_postgres::config::SslMode::Disable,
        PgSslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
        PgSslMode::Require | PgSslMode::VerifyFull { .. } => {
            tokio_postgres::config::SslMode::Require
        }
    });
    if !(1..=MAX_STORE_POOL_SIZE as u64).contains(&pool_size) {
        return Err((
            PgField::PoolSize,
            format!("must be between 1 and {MAX_STORE_POOL_SIZE}, got {pool_size}"),
        ));
    }
    if connect.get_connect_timeout().is_none() {
        connect.connect_timeout(DEFAULT_STORE_CONNECT_TIMEOUT);
    }
    if connect.get_application_name().is_none() {
        connect.application_name("osprey");
    }
    // a server that vanished (host down, cable cut) is noticed by the pool within a minute
    connect.keepalives_idle(std::time::Duration::from_secs(30));
    let display = display_url(&connect, &user);
    Ok(PostgresConfig {
        connect,
        sslmode,
        pool_size: pool_size as usize,
        display,
    })
}

/// `postgres://user@host:port[,host:port]/db`: the target without its password.
fn display_url(c: &tokio_postgres::Config, user: &str) -> String {
    let ports = c.get_ports();
    let hosts: Vec<String> = c
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let port = ports
                .get(i)
                .or_else(|| ports.first())
                .copied()
                .unwrap_or(5432);
            match h {
                tokio_postgres::config::Host::Tcp(h) if h.contains(':') => format!("[{h}]:{port}"),
                tokio_postgres::config::Host::Tcp(h) => format!("{h}:{port}"),
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(p) => format!("{}:{port}", p.display()),
            }
        })
        .collect();
    format!(
        "postgres://{user}@{}/{}",
        hosts.join(","),
        c.get_dbname().unwrap_or(user)
    )
}

fn only_for<T>(
    src: &Source<'_>,
    v: &Option<Spanned<T>>,
    key: &str,
    kind: &str,
) -> Result<(), ConfigError> {
    match v {
        Some(v) => src.err_at(
            v,
            key,
            format!("applies to kind = \"{kind}\" only; remove it or set the kind"),
        ),
        None => Ok(()),
    }
}

/// `[store]`: `kind = "sqlite"` (default; relative paths under `data_dir`) or `"postgres"`.
pub(super) fn store(
    src: &Source<'_>,
    raw: &schema::StoreSection,
    data_dir: &Path,
    env: &Env,
) -> Result<StoreConfig, ConfigError> {
    let kind = match raw.kind.as_ref() {
        None => "sqlite",
        Some(k) => k.get_ref().as_str(),
    };
    let kind_at = raw.kind.as_ref().map(|s| s.span()).unwrap_or(0..0);
    let store_kind = match kind {
        "sqlite" => {
            if env.store_url.is_some() {
                return src.err(
                    kind_at,
                    "store.kind",
                    "OSPREY_STORE_URL is set but the store kind is sqlite; set kind = \"postgres\" or unset OSPREY_STORE_URL",
                );
            }
            only_for(src, &raw.url, "store.url", "postgres")?;
            only_for(src, &raw.password_file, "store.password_file", "postgres")?;
            only_for(src, &raw.sslmode, "store.sslmode", "postgres")?;
            only_for(src, &raw.ca_file, "store.ca_file", "postgres")?;
            only_for(src, &raw.pool_size, "store.pool_size", "postgres")?;
            StoreKind::Sqlite {
                path: raw
                    .path
                    .as_ref()
                    .map(|p| resolve_path(data_dir, p.get_ref()))
                    .unwrap_or_else(|| data_dir.join("osprey.db")),
            }
        }
        "postgres" => {
            only_for(src, &raw.path, "store.path", "sqlite")?;
            StoreKind::Postgres(Box::new(postgres(src, raw, kind_at, env)?))
        }
        other => {
            return src.err(
                kind_at,
                "store.kind",
                format!("unknown store kind `{other}`; supported: sqlite, postgres"),
            );
        }
    };
    Ok(StoreConfig {
        kind: store_kind,
        master_key_file: raw
            .master_key_file
            .as_ref()
            .map(|p| resolve_path(data_dir, p.get_ref()))
            .unwrap_or_else(|| data_dir.join("master.key")),
    })
}

fn postgres(
    src: &Source<'_>,
    raw: &schema::StoreSection,
    kind_at: std::ops::Range<usize>,
    env: &Env,
) -> Result<PostgresConfig, ConfigError> {
    let (url, from_env) = match (&env.store_url, &raw.url) {
        (Some(u), _) => (u.clone(), true),
        (None, Some(u)) => (u.get_ref().clone(), false),
        // check-config --no-secrets: the URL is expected from the environment at start
        (None, None) if env.skip_secrets => ("postgres://from-OSPREY_STORE_URL@-/-".into(), true),
        (None, None) => {
            return src.missing(
                "store.url",
                "kind = \"postgres\" needs url = \"postgres://user@host:5432/database\" (or OSPREY_STORE_URL)",
            )
        }
    };
    let password = match &raw.password_file {
        None => None,
        Some(f) if env.skip_secrets => Some(format!("<from {}>", f.get_ref())),
        Some(f) => match std::fs::read_to_string(f.get_ref()) {
            Ok(t) if !t.trim().is_empty() => Some(t.trim().to_string()),
            Ok(_) => {
                return src.err_at(
                    f,
                    "store.password_file",
                    format!("`{}` is empty", f.get_ref()),
                )
            }
            Err(e) => {
                return src.err_at(
                    f,
                    "store.password_file",
                    format!("cannot read `{}`: {e}", f.get_ref()),
                )
            }
        },
    };
    let pool_size = raw
        .pool_size
        .as_ref()
        .map(|p| *p.get_ref())
        .unwrap_or(DEFAULT_STORE_POOL_SIZE as u64);
    postgres_target(
        &url,
        password,
        raw.sslmode.as_ref().map(|s| s.get_ref().as_str()),
        raw.ca_file.as_ref().map(|p| PathBuf::from(p.get_ref())),
        pool_size,
    )
    .or_else(|(field, msg)| {
        let span = |v: &Option<Spanned<String>>| v.as_ref().map(|s| s.span());
        let (key, at) = match field {
            PgField::Url => ("store.url", span(&raw.url)),
            PgField::PasswordFile => ("store.password_file", span(&raw.password_file)),
            PgField::Sslmode => ("store.sslmode", span(&raw.sslmode)),
            PgField::CaFile => ("store.ca_file", span(&raw.ca_file)),
            PgField::PoolSize => ("store.pool_size", raw.pool_size.as_ref().map(|s| s.span())),
        };
        let msg = if from_env && field == PgField::Url {
            format!("OSPREY_STORE_URL: {msg}")
        } else {
            msg
        };
        // a URL from the environment has no place in the file: point at `kind`
        let at = if from_env && field == PgField::Url {
            kind_at.clone()
        } else {
            at.unwrap_or(kind_at.clone())
        };
        src.err(at, key, msg)
    })
}

#[cfg(test)]
mod tests {
    use crate::config::model::*;
    use crate::config::{Config, ConfigError};

    const MIN: &str = "[osis]\nadmin_access_key = \"admin\"\nadmin_secret_key = \"secret-secret\"\n[[backends]]\nname = \"local\"\nkind = \"local\"\n";

    fn parse_env(store: &str, env: &Env) -> Result<Config, ConfigError> {
        // [store] first: its keys are on lines 2.. of the file
        Config::from_toml_str(&format!("[store]\n{store}{MIN}"), "t.toml", env)
    }

    fn parse(store: &str) -> Result<Config, ConfigError> {
        parse_env(store, &Env::default())
    }

    fn err(store: &str) -> String {
        parse(store).unwrap_err().to_string()
    }

    fn pg(c: &Config) -> &PostgresConfig {
        match &c.store.kind {
            StoreKind::Postgres(p) => p,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sqlite_stays_the_default() {
        let c = parse("").unwrap();
        assert!(
            matches!(&c.store.kind, StoreKind::Sqlite { path } if path.ends_with("osprey.db")),
            "{:?}",
            c.store
        );
    }

    #[test]
    fn postgres_url_with_defaults() {
        let c =
            parse("kind = \"postgres\"\nurl = \"postgres://osp:pw@db.example.net/ids\"\n").unwrap();
        let p = pg(&c);
        assert_eq!(p.display, "postgres://osp@db.example.net:5432/ids");
        assert_eq!(p.sslmode, PgSslMode::Prefer);
        assert_eq!(p.pool_size, DEFAULT_STORE_POOL_SIZE);
        assert_eq!(p.connect.get_password(), Some(&b"pw"[..]));
        assert_eq!(p.connect.get_user(), Some("osp"));
        assert_eq!(p.connect.get_dbname(), Some("ids"));
        assert_eq!(
            p.connect.get_connect_timeout(),
            Some(&DEFAULT_STORE_CONNECT_TIMEOUT)
        );
        // neither the model's Debug nor the display shows the password
        let d = format!("{:?}", c.store);
        assert!(!d.contains("pw@") && !d.contains("\"pw\""), "{d}");
        assert_eq!(
            c.store.master_key_file,
            std::path::PathBuf::from("data/master.key")
        );
    }

    #[test]
    fn env_url_wins_over_the_file() {
        let env = Env {
            store_url: Some("postgresql://envuser@10.0.0.5:6543/envdb".into()),
            ..Default::default()
        };
        let c = parse_env(
            "kind = \"postgres\"\nurl = \"postgres://fileuser@h/filedb\"\n",
            &env,
        )
        .unwrap();
        assert_eq!(pg(&c).display, "postgres://envuser@10.0.0.5:6543/envdb");
        // and is enough on its own
        let c = parse_env("kind = \"postgres\"\n", &env).unwrap();
        assert_eq!(pg(&c).connect.get_user(), Some("envuser"));
        // a bad one is named as the variable, at `kind`, without echoing it
        let env = Env {
            store_url: Some("mysql://u:topsecret@h/db".into()),
            ..Default::default()
        };
        let e = parse_env("kind = \"postgres\"\n", &env)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "t.toml:2:8: `store.url`: OSPREY_STORE_URL: must be a postgres:// URL, e.g. \"postgres://osprey@db.example.net:5432/osprey\""
        );
        // and refused beside an SQLite store rather than ignored
        let e = parse_env("", &env).unwrap_err().to_string();
        assert!(
            e.contains("`store.kind`: OSPREY_STORE_URL is set but the store kind is sqlite"),
            "{e}"
        );
    }

    #[test]
    fn password_file_is_read_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "  s3cret \n").unwrap();
        let c = parse(&format!(
            "kind = \"postgres\"\nurl = \"postgres://osp@db/ids\"\npassword_file = \"{}\"\n",
            f.display()
        ))
        .unwrap();
        assert_eq!(pg(&c).connect.get_password(), Some(&b"s3cret"[..]));
        // not read under check-config --no-secrets
        let env = Env {
            skip_secrets: true,
            ..Default::default()
        };
        let c = parse_env(
            "kind = \"postgres\"\nurl = \"postgres://osp@db/ids\"\npassword_file = \"/nonexistent/pw\"\n",
            &env,
        )
        .unwrap();
        assert_eq!(
            pg(&c).connect.get_password(),
            Some(&b"<from /nonexistent/pw>"[..])
        );
        let e = err(&format!(
            "kind = \"postgres\"\nurl = \"postgres://osp:inline@db/ids\"\npassword_file = \"{}\"\n",
            f.display()
        ));
        assert_eq!(
            e,
            "t.toml:4:17: `store.password_file`: the URL already carries a password; remove it from the URL or drop password_file"
        );
        std::fs::write(&f, " \n").unwrap();
        let e = err(&format!(
            "kind = \"postgres\"\nurl = \"postgres://osp@db/ids\"\npassword_file = \"{}\"\n",
            f.display()
        ));
        assert_eq!(
            e,
            format!(
                "t.toml:4:17: `store.password_file`: `{}` is empty",
                f.display()
            )
        );
        let e = err("kind = \"postgres\"\nurl = \"postgres://osp@db/ids\"\npassword_file = \"/nonexistent/pw\"\n");
        assert!(
            e.starts_with("t.toml:4:17: `store.password_file`: cannot read `/nonexistent/pw`: "),
            "{e}"
        );
    }

    #[test]
    fn sslmodes() {
        let mode = |extra: &str, url_q: &str| {
            parse(&format!(
                "kind = \"postgres\"\nurl = \"postgres://osp@db/ids{url_q}\"\n{extra}"
            ))
            .map(|c| pg(&c).sslmode.clone())
        };
        assert_eq!(
            mode("sslmode = \"disable\"\n", "").unwrap(),
            PgSslMode::Disable
        );
        assert_eq!(
            mode("sslmode = \"require\"\n", "").unwrap(),
            PgSslMode::Require
        );
        assert_eq!(
            mode("sslmode = \"verify-full\"\n", "").unwrap(),
            PgSslMode::VerifyFull { ca_file: None }
        );
        assert_eq!(
            mode(
                "sslmode = \"verify-full\"\nca_file = \"/etc/ssl/pg.pem\"\n",
                ""
            )
            .unwrap(),
            PgSslMode::VerifyFull {
                ca_file: Some("/etc/ssl/pg.pem".into())
            }
        );
        // the URL's ?sslmode= counts when the key is absent (verify-full too, which
        // tokio-postgres alone would refuse), other parameters still reach the driver
        assert_eq!(
            mode("", "?sslmode=verify-full&connect_timeout=3").unwrap(),
            PgSslMode::VerifyFull { ca_file: None }
        );
        let c = parse("kind = \"postgres\"\nurl = \"postgres://osp@db/ids?sslmode=require&connect_timeout=3\"\n").unwrap();
        assert_eq!(
            pg(&c).connect.get_connect_timeout(),
            Some(&std::time::Duration::from_secs(3))
        );
        let e = mode("sslmode = \"require\"\n", "?sslmode=disable")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "t.toml:4:11: `store.sslmode`: sslmode is given both here and in the URL (?sslmode=); keep one"
        );
        let e = mode("sslmode = \"always\"\n", "").unwrap_err().to_string();
        assert_eq!(
            e,
            "t.toml:4:11: `store.sslmode`: unknown sslmode `always`; use disable, prefer, require or verify-full"
        );
        let e = mode("sslmode = \"verify-ca\"\n", "")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "t.toml:4:11: `store.sslmode`: sslmode `verify-ca` is not supported; use disable, prefer, require or verify-full"
        );
        let e = mode("", "?sslmode=allow").unwrap_err().to_string();
        assert!(
            e.starts_with("t.toml:3:7: `store.url`: sslmode `allow` is not supported"),
            "{e}"
        );
        let e = mode("sslmode = \"require\"\nca_file = \"/x.pem\"\n", "")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "t.toml:5:11: `store.ca_file`: ca_file is only used with sslmode = \"verify-full\" (prefer and require do not check the certificate)"
        );
    }

    #[test]
    fn bad_urls_and_pool_sizes() {
        let e = err("kind = \"postgres\"\n");
        assert_eq!(
            e,
            "t.toml: missing `store.url`: kind = \"postgres\" needs url = \"postgres://user@host:5432/database\" (or OSPREY_STORE_URL)"
        );
        let e = err("kind = \"postgres\"\nurl = \"db.example.net:5432\"\n");
        assert!(
            e.starts_with("t.toml:3:7: `store.url`: must be a postgres:// URL"),
            "{e}"
        );
        let e = err("kind = \"postgres\"\nurl = \"postgres:///ids\"\n");
        assert_eq!(
            e,
            "t.toml:3:7: `store.url`: names no host (postgres://user@HOST:5432/database)"
        );
        let e = err("kind = \"postgres\"\nurl = \"postgres://db.example.net/ids\"\n");
        assert_eq!(
            e,
            "t.toml:3:7: `store.url`: names no user (postgres://USER@host:5432/database)"
        );
        let e = err("kind = \"postgres\"\nurl = \"postgres://u:hunter2@db:notaport/ids\"\n");
        assert!(
            e.starts_with("t.toml:3:7: `store.url`: not a PostgreSQL URL: "),
            "{e}"
        );
        assert!(!e.contains("hunter2"), "{e}");
        let e = err("kind = \"postgres\"\nurl = \"postgres://u@db/ids?bogus=1\"\n");
        assert!(e.contains("not a PostgreSQL URL: "), "{e}");
        for n in ["0", "513"] {
            let e = err(&format!(
                "kind = \"postgres\"\nurl = \"postgres://u@db/ids\"\npool_size = {n}\n"
            ));
            assert_eq!(
                e,
                format!("t.toml:4:13: `store.pool_size`: must be between 1 and 512, got {n}")
            );
        }
        let c =
            parse("kind = \"postgres\"\nurl = \"postgres://u@db/ids\"\npool_size = 3\n").unwrap();
        assert_eq!(pg(&c).pool_size, 3);
    }

    #[test]
    fn keys_of_the_other_kind_are_refused() {
        for (key, value) in [
            ("url", "\"postgres://u@db/ids\""),
            ("password_file", "\"/pw\""),
            ("sslmode", "\"require\""),
            ("ca_file", "\"/ca.pem\""),
            ("pool_size", "4"),
        ] {
            let e = err(&format!("{key} = {value}\n"));
            assert_eq!(
                e,
                format!(
                    "t.toml:2:{}: `store.{key}`: applies to kind = \"postgres\" only; remove it or set the kind",
                    key.len() + 4
                )
            );
        }
        let e = err("kind = \"postgres\"\nurl = \"postgres://u@db/ids\"\npath = \"x.db\"\n");
        assert_eq!(
            e,
            "t.toml:4:8: `store.path`: applies to kind = \"sqlite\" only; remove it or set the kind"
        );
        let e = err("kind = \"mysql\"\n");
        assert_eq!(
            e,
            "t.toml:2:8: `store.kind`: unknown store kind `mysql`; supported: sqlite, postgres"
        );
    }
}
