//! Validation: the TOML schema ([`super::toml`]) in, the model ([`super::model`]) out.
//!
//! One function per section, each returning its validated piece or the first error with the
//! file, line, column and key of the offending value (docs/troubleshooting.md §3 lists every
//! message). [`Config::from_toml_str`] only parses and calls them in file order, so a later
//! section may rely on an earlier one (the store on `server.data_dir`, routing on the backend
//! names) — river's `config/toml.rs` → `config/internal.rs` split, with the checks kept apart
//! from the types.

mod backends;
mod routing;
mod sections;
mod store;

pub use store::{postgres_target, PgField};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::model::{Config, Endpoint, Env};
use super::toml as schema;
use super::ConfigError;

impl Config {
    /// Parse and validate. `file` is only used in messages; `env` supplies overrides.
    pub fn from_toml_str(text: &str, file: &str, env: &Env) -> Result<Config, ConfigError> {
        let raw: schema::FileConfig = toml::from_str(text).map_err(|e| {
            let (line, col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
            ConfigError::Parse {
                file: file.to_string(),
                line,
                col,
                message: e.message().to_string(),
            }
        })?;
        let src = Source { file, text };
        let server = sections::server(&src, &raw.server, env)?;
        let osis = sections::osis(&src, &raw.osis, env)?;
        let s3 = sections::s3(&src, &raw.s3)?;
        let store = store::store(&src, &raw.store, &server.data_dir, env)?;
        let log = sections::log(&src, &raw.log, env)?;
        let backends = backends::backends(&src, &raw.backends, env)?;
        let routing = routing::routing(&src, raw.routing.as_ref(), &backends)?;
        Ok(Config {
            server,
            osis,
            s3,
            store,
            log,
            backends,
            routing,
        })
    }
}

/// The file being validated: turns byte spans into `line:column` for messages.
struct Source<'a> {
    file: &'a str,
    text: &'a str,
}

impl Source<'_> {
    fn err<T>(
        &self,
        span: std::ops::Range<usize>,
        key: &str,
        msg: impl Into<String>,
    ) -> Result<T, ConfigError> {
        let (line, col) = line_col(self.text, span.start);
        Err(ConfigError::Invalid {
            file: self.file.to_string(),
            line,
            col,
            key: key.to_string(),
            message: msg.into(),
        })
    }
    fn err_at<T, V>(
        &self,
        v: &Spanned<V>,
        key: &str,
        msg: impl Into<String>,
    ) -> Result<T, ConfigError> {
        self.err(v.span(), key, msg)
    }
    /// A key that must be present (no line: it is absent).
    fn missing<T>(&self, key: &str, msg: impl Into<String>) -> Result<T, ConfigError> {
        Err(ConfigError::Missing {
            file: self.file.to_string(),
            key: key.to_string(),
            message: msg.into(),
        })
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let upto = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = upto.matches('\n').count() + 1;
    let col = upto
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

fn parse_addr(
    src: &Source<'_>,
    v: Option<&Spanned<String>>,
    default: &str,
    key: &str,
) -> Result<SocketAddr, ConfigError> {
    match v {
        None => default
            .parse()
            .map_err(|_| ConfigError::Internal(format!("bad built-in default {default}"))),
        Some(s) => s.get_ref().parse().or_else(|e| {
            src.err_at(
                s,
                key,
                format!(
                    "`{}` is not an IP:port socket address ({e}); example: \"127.0.0.1:9000\"",
                    s.get_ref()
                ),
            )
        }),
    }
}

fn parse_url(src: &Source<'_>, v: &Spanned<String>, key: &str) -> Result<Endpoint, ConfigError> {
    v.get_ref()
        .parse::<Endpoint>()
        .or_else(|e| src.err_at(v, key, e.to_string()))
}

fn resolve_path(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}
