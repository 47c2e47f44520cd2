//! The single-table sections: `[server]` (with `[server.limits]`), `[osis]`, `[s3]`, `[log]`
//! (`[store]` is in `store.rs`). Each function returns its validated section or the first error.

use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;

use super::{parse_addr, parse_url, Source};
use crate::config::model::*;
use crate::config::toml as schema;
use crate::config::ConfigError;

/// `[server]`: listeners, TLS files, the advertised endpoint, timings, limits.
pub(super) fn server(
    src: &Source<'_>,
    raw: &schema::ServerSection,
    env: &Env,
) -> Result<ServerConfig, ConfigError> {
    let data_dir = match (&env.data_dir, &raw.data_dir) {
        (Some(d), _) => PathBuf::from(d),
        (None, Some(d)) if d.get_ref().trim().is_empty() => {
            return src.err_at(d, "server.data_dir", "must not be empty")
        }
        (None, Some(d)) => PathBuf::from(d.get_ref()),
        (None, None) => PathBuf::from("data"),
    };
    let osis_listen = parse_addr(
        src,
        raw.osis_listen.as_ref(),
        DEFAULT_OSIS_LISTEN,
        "server.osis_listen",
    )?;
    let s3_listen = parse_addr(
        src,
        raw.s3_listen.as_ref(),
        DEFAULT_S3_LISTEN,
        "server.s3_listen",
    )?;
    if s3_listen.port() == 0 {
        // each S3 shard binds the address on its own (server::wiring): port 0 would give every
        // shard a different port, and clients and OSE need the one in `public_s3_endpoint`
        let at = raw.s3_listen.as_ref().map(|s| s.span()).unwrap_or(0..0);
        return src.err(
            at,
            "server.s3_listen",
            "port 0 is not a port clients can be told; name one",
        );
    }
    if osis_listen == s3_listen {
        let at = raw.s3_listen.as_ref().map(|s| s.span()).unwrap_or(0..0);
        return src.err(
            at,
            "server.s3_listen",
            format!("OSIS and S3 cannot share the listener {s3_listen}"),
        );
    }
    let metrics_listen = match &raw.metrics_listen {
        None => None,
        Some(m) => {
            let a = parse_addr(src, Some(m), DEFAULT_S3_LISTEN, "server.metrics_listen")?;
            if a == osis_listen || a == s3_listen {
                return src.err(
                    m.span(),
                    "server.metrics_listen",
                    format!("the metrics listener cannot share {a} with the OSIS or S3 listener"),
                );
            }
            Some(a)
        }
    };
    let tls = match &raw.tls {
        None => None,
        Some(t) => {
            for (v, key) in [
                (&t.cert_file, "server.tls.cert_file"),
                (&t.key_file, "server.tls.key_file"),
            ] {
                if v.get_ref().trim().is_empty() {
                    return src.err_at(v, key, "must name a PEM file");
                }
            }
            Some(TlsConfig {
                cert_file: PathBuf::from(t.cert_file.get_ref()),
                key_file: PathBuf::from(t.key_file.get_ref()),
            })
        }
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let public_s3_endpoint = match &raw.public_s3_endpoint {
        Some(u) => {
            parse_url(src, u, "server.public_s3_endpoint")?;
            u.get_ref().trim_end_matches('/').to_string()
        }
        None => format!("{scheme}://{s3_listen}"),
    };
    Ok(ServerConfig {
        data_dir: data_dir.clone(),
        osis_listen,
        s3_listen,
        metrics_listen,
        public_s3_endpoint,
        tls,
        grace_period: raw
            .grace_period_secs
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_GRACE_PERIOD),
        reconcile_interval: match &raw.reconcile_interval_secs {
            None => DEFAULT_RECONCILE_INTERVAL,
            Some(v) if (1..=3600).contains(v.get_ref()) => Duration::from_secs(*v.get_ref()),
            Some(v) => {
                return src.err(
                    v.span(),
                    "server.reconcile_interval_secs",
                    format!("must be between 1 and 3600 seconds, got {}", v.get_ref()),
                )
            }
        },
        s3_threads: match &raw.s3_threads {
            None => default_s3_threads(),
            Some(v) if (1..=MAX_S3_THREADS).contains(v.get_ref()) => *v.get_ref() as usize,
            Some(v) => {
                return src.err(
                    v.span(),
                    "server.s3_threads",
                    format!(
                        "must be between 1 and {MAX_S3_THREADS}, got {}",
                        v.get_ref()
                    ),
                )
            }
        },
        limits: limits(src, &raw.limits)?,
    })
}

/// `[server.limits]`: each key bounded so a typo cannot switch a protection off (0) or make it
/// meaningless (a day-long header deadline).
fn limits(src: &Source<'_>, raw: &schema::LimitsSection) -> Result<Limits, ConfigError> {
    let d = Limits::default();
    let num = |v: &Option<Spanned<u64>>, key: &str, lo: u64, hi: u64, default: u64| match v {
        None => Ok(default),
        Some(x) if (lo..=hi).contains(x.get_ref()) => Ok(*x.get_ref()),
        Some(x) => src.err_at(
            x,
            key,
            format!("must be between {lo} and {hi}, got {}", x.get_ref()),
        ),
    };
    let secs = |v: &Option<Spanned<u64>>, key: &str, default: Duration| {
        num(v, key, 1, 3600, default.as_secs()).map(Duration::from_secs)
    };
    Ok(Limits {
        max_header_bytes: num(
            &raw.max_header_bytes,
            "server.limits.max_header_bytes",
            MIN_MAX_HEADER_BYTES as u64,
            1024 * 1024,
            d.max_header_bytes as u64,
        )? as usize,
        header_timeout: secs(
            &raw.header_timeout_secs,
            "server.limits.header_timeout_secs",
            d.header_timeout,
        )?,
        idle_timeout: secs(
            &raw.idle_timeout_secs,
            "server.limits.idle_timeout_secs",
            d.idle_timeout,
        )?,
        body_timeout: secs(
            &raw.body_timeout_secs,
            "server.limits.body_timeout_secs",
            d.body_timeout,
        )?,
        max_connections: num(
            &raw.max_connections,
            "server.limits.max_connections",
            1,
            1_000_000,
            d.max_connections as u64,
        )? as usize,
    })
}

/// `[osis]`: the admin pair (environment first), console URL, capabilities, regions.
pub(super) fn osis(
    src: &Source<'_>,
    raw: &schema::OsisSection,
    env: &Env,
) -> Result<OsisConfig, ConfigError> {
    let admin_access_key = match (&env.admin_access_key, &raw.admin_access_key) {
        (Some(k), _) => k.clone(),
        (None, Some(k)) => k.get_ref().clone(),
        // check-config --no-secrets: the pair is expected from the environment at start
        (None, None) if env.skip_secrets => "<from OSPREY_ADMIN_ACCESS_KEY>".to_string(),
        (None, None) => {
            return Err(ConfigError::Missing {
                file: src.file.to_string(),
                key: "osis.admin_access_key".into(),
                message: "set it in [osis] or in the environment as OSPREY_ADMIN_ACCESS_KEY".into(),
            })
        }
    };
    let admin_secret_key = match (&env.admin_secret_key, &raw.admin_secret_key) {
        (Some(k), _) => k.clone(),
        (None, Some(k)) => k.get_ref().clone(),
        // check-config --no-secrets: the pair is expected from the environment at start
        (None, None) if env.skip_secrets => "<from OSPREY_ADMIN_SECRET_KEY>".to_string(),
        (None, None) => {
            return Err(ConfigError::Missing {
                file: src.file.to_string(),
                key: "osis.admin_secret_key".into(),
                message: "set it in [osis] or in the environment as OSPREY_ADMIN_SECRET_KEY".into(),
            })
        }
    };
    if admin_access_key.is_empty() || admin_access_key.contains(':') {
        let at = raw
            .admin_access_key
            .as_ref()
            .map(|s| s.span())
            .unwrap_or(0..0);
        return src.err(
            at,
            "osis.admin_access_key",
            "must be non-empty and contain no ':' (HTTP Basic user)",
        );
    }
    if admin_secret_key.len() < 8 {
        let at = raw
            .admin_secret_key
            .as_ref()
            .map(|s| s.span())
            .unwrap_or(0..0);
        return src.err(at, "osis.admin_secret_key", "must be at least 8 characters");
    }
    if let Some(u) = &raw.console_url {
        parse_url(src, u, "osis.console_url")
            .map(|_| ())
            .or_else(|_| {
                // console URLs may carry a path; only require an absolute http(s) URL
                match u.get_ref().parse::<http::Uri>() {
                    Ok(uri) if matches!(uri.scheme_str(), Some("http") | Some("https")) => Ok(()),
                    _ => src.err_at(
                        u,
                        "osis.console_url",
                        "must be an absolute http:// or https:// URL",
                    ),
                }
            })?;
    }
    Ok(OsisConfig {
        admin_access_key,
        admin_secret_key,
        bearer: raw.bearer.unwrap_or(true),
        console_url: raw.console_url.as_ref().map(|u| u.get_ref().clone()),
        capabilities_file: raw
            .capabilities_file
            .as_ref()
            .map(|p| PathBuf::from(p.get_ref())),
        regions: raw
            .regions
            .clone()
            .unwrap_or_else(|| vec!["us-east-1".to_string()]),
    })
}

/// `[s3]`: clock skew, virtual-host domain, regions, fan-out deadline, SigV2.
pub(super) fn s3(src: &Source<'_>, raw: &schema::S3Section) -> Result<S3Config, ConfigError> {
    let max_clock_skew = raw
        .max_clock_skew_secs
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_MAX_CLOCK_SKEW);
    if max_clock_skew.is_zero() || max_clock_skew > MAX_CLOCK_SKEW_LIMIT {
        return Err(ConfigError::Invalid {
            file: src.file.to_string(),
            line: 0,
            col: 0,
            key: "s3.max_clock_skew_secs".into(),
            message: format!("must be between 1 and {}", MAX_CLOCK_SKEW_LIMIT.as_secs()),
        });
    }
    if let Some(d) = &raw.domain {
        let ok = !d.get_ref().is_empty()
            && d.get_ref().split('.').all(|l| {
                !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !ok {
            return src.err_at(
                d,
                "s3.domain",
                format!("`{}` is not a DNS name", d.get_ref()),
            );
        }
    }
    Ok(S3Config {
        domain: raw
            .domain
            .as_ref()
            .map(|d| d.get_ref().to_ascii_lowercase()),
        max_clock_skew,
        region: raw.region.clone().unwrap_or_else(|| "us-east-1".into()),
        fanout_timeout: raw
            .fanout_timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(DEFAULT_FANOUT_TIMEOUT),
        regions: match &raw.regions {
            None => None,
            Some(r) if r.get_ref().is_empty() || r.get_ref().iter().any(|x| x.is_empty()) => {
                return src.err_at(
                    r,
                    "s3.regions",
                    "must list at least one region, none empty (remove the key to accept any)",
                )
            }
            Some(r) => Some(r.get_ref().clone()),
        },
        sigv2: raw.sigv2.unwrap_or(true),
    })
}

/// `[log]`: `OSPREY_LOG_LEVEL` wins over the file.
pub(super) fn log(
    src: &Source<'_>,
    raw: &schema::LogSection,
    env: &Env,
) -> Result<LogConfig, ConfigError> {
    let level_text = env
        .log_level
        .clone()
        .or_else(|| raw.level.as_ref().map(|l| l.get_ref().clone()))
        .unwrap_or_else(|| "info".into());
    let level = match level_text.as_str() {
        "error" => LogLevel::Error,
        "warn" => LogLevel::Warn,
        "info" => LogLevel::Info,
        "debug" => LogLevel::Debug,
        "trace" => LogLevel::Trace,
        other => {
            let at = raw.level.as_ref().map(|s| s.span()).unwrap_or(0..0);
            return src.err(
                at,
                "log.level",
                format!("unknown level `{other}`; use error, warn, info, debug or trace"),
            );
        }
    };
    let format = match raw.format.as_ref().map(|f| f.get_ref().as_str()) {
        None | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(other) => {
            let at = raw.format.as_ref().map(|s| s.span()).unwrap_or(0..0);
            return src.err(
                at,
                "log.format",
                format!("unknown format `{other}`; use text or json"),
            );
        }
    };
    Ok(LogConfig {
        level,
        format,
        access: raw.access.unwrap_or(true),
    })
}
