//! The validated configuration model that the rest of Osprey reads.
//!
//! Built only through [`Config::from_toml_str`] / [`super::load`], which resolve defaults and
//! environment overrides and check every reference, so request code never re-validates and never
//! sees a half-valid value.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use super::toml as schema;
use super::ConfigError;

/// Default OSIS listener: the port OSE's samples use (osis-api.md §1).
pub const DEFAULT_OSIS_LISTEN: &str = "127.0.0.1:8443";
/// Default S3 listener.
pub const DEFAULT_S3_LISTEN: &str = "127.0.0.1:9000";
/// Default allowed clock skew: AWS's 15 minutes.
pub const DEFAULT_MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);
/// Upper bound for `s3.max_clock_skew_secs`: one day. A larger window would let a captured signed
/// request be replayed for longer than any real client clock is off.
pub const MAX_CLOCK_SKEW_LIMIT: Duration = Duration::from_secs(24 * 3600);
/// Default fan-out deadline (ListBuckets over several backends).
pub const DEFAULT_FANOUT_TIMEOUT: Duration = Duration::from_millis(5000);
/// Default connect/read timeout toward a backend.
pub const DEFAULT_BACKEND_TIMEOUT: Duration = Duration::from_millis(10_000);
/// Default pause between provisioning reconciler runs.
pub const DEFAULT_RECONCILE_INTERVAL: Duration = Duration::from_secs(30);
/// Default grace period for in-flight requests on SIGTERM.
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(10);
/// Default `server.limits.max_header_bytes`: 64 KiB, nginx's `large_client_header_buffers` order of
/// magnitude. Real S3 requests send 1–4 KiB of headers (a long presigned query or many
/// `x-amz-meta-*` stay far below); stops a client from making Osprey hold up to pingora's own 1 MiB
/// per connection (issue 9: 200 × 1 MB unfinished headers grew RSS by 232 MB).
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
/// Smallest accepted `max_header_bytes`: 8 KiB (below it ordinary SigV4 requests fail).
pub const MIN_MAX_HEADER_BYTES: usize = 8 * 1024;
/// Default `server.limits.header_timeout_secs`: 30 s for a whole header section, counted from the
/// connection (first request) or from the request's first byte (keep-alive). Stops slowloris: a
/// client trickling one header line every few seconds held a connection open indefinitely.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `server.limits.idle_timeout_secs`: an idle keep-alive connection is closed after 60 s.
/// Stops idle connections from holding connection slots forever.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default `server.limits.body_timeout_secs`: 60 s without a single body byte read from (or written
/// to) the client ends the request. Stops a client that starts an upload, then stalls, from holding
/// a connection and an upstream request open.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// Default `server.limits.max_connections`, per listener: 4096. With the header limit this bounds
/// what idle or slow clients can pin to about 4096 × 64 KiB = 256 MiB worst case; further
/// connections are closed at once (a 503 is written on the S3 listener).
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// Longest backend name: it is stored in every placement row and printed in logs.
pub const MAX_BACKEND_NAME_LEN: usize = 32;

#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub osis: OsisConfig,
    pub s3: S3Config,
    pub store: StoreConfig,
    pub log: LogConfig,
    pub backends: Vec<Arc<BackendConfig>>,
    pub routing: RoutingConfig,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    pub osis_listen: SocketAddr,
    pub s3_listen: SocketAddr,
    pub public_s3_endpoint: String,
    pub tls: Option<TlsConfig>,
    pub grace_period: Duration,
    pub reconcile_interval: Duration,
    pub limits: Limits,
}

/// Connection and header limits, the same for the S3 and the OSIS listener (docs/security.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// [`DEFAULT_MAX_HEADER_BYTES`].
    pub max_header_bytes: usize,
    /// [`DEFAULT_HEADER_TIMEOUT`].
    pub header_timeout: Duration,
    /// [`DEFAULT_IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
    /// [`DEFAULT_BODY_TIMEOUT`].
    pub body_timeout: Duration,
    /// [`DEFAULT_MAX_CONNECTIONS`].
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

#[derive(Debug, Clone)]
pub struct TlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

#[derive(Clone)]
pub struct OsisConfig {
    pub admin_access_key: String,
    pub admin_secret_key: String,
    pub bearer: bool,
    pub console_url: Option<String>,
    pub capabilities_file: Option<PathBuf>,
    pub regions: Vec<String>,
}

impl std::fmt::Debug for OsisConfig {
    // The admin secret must never reach a log line or a support bundle.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OsisConfig")
            .field("admin_access_key", &self.admin_access_key)
            .field("admin_secret_key", &"<redacted>")
            .field("bearer", &self.bearer)
            .field("console_url", &self.console_url)
            .field("capabilities_file", &self.capabilities_file)
            .field("regions", &self.regions)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct S3Config {
    pub domain: Option<String>,
    pub max_clock_skew: Duration,
    pub region: String,
    pub fanout_timeout: Duration,
    /// Regions a credential scope may name; `None`: any (the default, as before).
    pub regions: Option<Vec<String>>,
    /// Whether SigV2 requests are verified (true) or refused with `InvalidRequest` (false).
    pub sigv2: bool,
}

#[derive(Debug, Clone)]
pub enum StoreKind {
    Sqlite { path: PathBuf },
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub kind: StoreKind,
    pub master_key_file: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub level: LogLevel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// Osprey's embedded store (in-process S3 server over the data directory).
    Local,
    /// Any S3 endpoint with one shared service key; tenant isolation enforced by Osprey.
    S3,
    /// Ceph RADOS Gateway: RGW tenants and users through the Admin Ops API.
    CephRgw,
    /// A platform with an AWS-IAM-compatible admin API (StorageGRID, Cloudian, ECS, Scality Vault, AWS).
    Iam,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Local => "local",
            BackendKind::S3 => "s3",
            BackendKind::CephRgw => "ceph-rgw",
            BackendKind::Iam => "iam",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "local" => BackendKind::Local,
            "s3" => BackendKind::S3,
            "ceph-rgw" => BackendKind::CephRgw,
            "iam" => BackendKind::Iam,
            _ => return None,
        })
    }
}

#[derive(Clone)]
pub struct BackendConfig {
    pub name: String,
    pub kind: BackendKind,
    /// Parsed endpoint (absent for `local`, whose address is known only at start).
    pub endpoint: Option<http::Uri>,
    pub region: String,
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    pub iam_endpoint: Option<http::Uri>,
    pub timeout: Duration,
    pub profile: String,
}

impl BackendConfig {
    /// Same backend, same settings: a reload keeps the running instance (its connection pool,
    /// or for `local` the embedded server) instead of building a new one.
    pub fn same_as(&self, o: &BackendConfig) -> bool {
        self.name == o.name
            && self.kind == o.kind
            && self.endpoint == o.endpoint
            && self.region == o.region
            && self.access_key == o.access_key
            && self.secret_key == o.secret_key
            && self.iam_endpoint == o.iam_endpoint
            && self.timeout == o.timeout
            && self.profile == o.profile
    }
}

impl std::fmt::Debug for BackendConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "<redacted>"),
            )
            .field("iam_endpoint", &self.iam_endpoint)
            .field("timeout", &self.timeout)
            .field("profile", &self.profile)
            .finish()
    }
}

/// Validated routing: names resolved to indices so lookups never fail at request time.
#[derive(Debug, Clone)]
pub struct RoutingConfig {
    pub default_table: String,
    pub tables: BTreeMap<String, TableConfig>,
    pub tenants: Vec<TenantAssignmentConfig>,
}

/// Whose bucket names a routing table's tenants use (issue 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Namespace {
    /// Each tenant names its buckets for itself; two tenants may both have `photos`.
    #[default]
    Tenant,
    /// Names are unique across Osprey's global tables (as on AWS): a caller of another global
    /// tenant addresses a bucket by its plain name, signed with its own identity on the
    /// bucket's backend, where the backend's ACL/policy decides.
    Global,
}

#[derive(Debug, Clone)]
pub struct TableConfig {
    pub namespace: Namespace,
    pub rules: Vec<RuleConfig>,
}

#[derive(Debug, Clone)]
pub struct RuleConfig {
    pub buckets: String,
    pub backend: String,
}

#[derive(Debug, Clone)]
pub struct TenantAssignmentConfig {
    pub cd_tenant_id: Option<String>,
    pub tenant_name: Option<String>,
    pub tenant_id: Option<String>,
    pub table: String,
}

/// Environment overrides operators expect; read once, by [`Env::from_process`], so tests can pass their own.
#[derive(Debug, Default, Clone)]
pub struct Env {
    pub data_dir: Option<String>,
    pub admin_access_key: Option<String>,
    pub admin_secret_key: Option<String>,
    pub log_level: Option<String>,
    /// Resolves `secret_key_env` references.
    pub vars: BTreeMap<String, String>,
    /// When false (`check-config --no-secrets`), secret files and variables are checked for
    /// presence in the file only, not read: lets CI validate production configs on a build host.
    pub skip_secrets: bool,
}

impl Env {
    pub fn from_process() -> Self {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Env {
            data_dir: get("OSPREY_DATA_DIR"),
            admin_access_key: get("OSPREY_ADMIN_ACCESS_KEY"),
            admin_secret_key: get("OSPREY_ADMIN_SECRET_KEY"),
            log_level: get("OSPREY_LOG_LEVEL"),
            vars: std::env::vars().collect(),
            skip_secrets: false,
        }
    }
}

/// Turns byte spans into `line:column` for messages.
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
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
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

fn parse_url(src: &Source<'_>, v: &Spanned<String>, key: &str) -> Result<http::Uri, ConfigError> {
    let uri: http::Uri = match v.get_ref().parse() {
        Ok(u) => u,
        Err(e) => return src.err_at(v, key, format!("`{}` is not a URL ({e})", v.get_ref())),
    };
    match (uri.scheme_str(), uri.authority()) {
        (Some("http") | Some("https"), Some(_)) => {}
        _ => {
            return src.err_at(
                v,
                key,
                format!(
                    "`{}` must be an absolute http:// or https:// URL",
                    v.get_ref()
                ),
            )
        }
    }
    if uri.path() != "/" && !uri.path().is_empty() {
        return src.err_at(
            v,
            key,
            format!("`{}`: endpoint URLs must not carry a path", v.get_ref()),
        );
    }
    Ok(uri)
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

fn resolve_path(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// Whether `name` is a legal backend name.
pub fn valid_backend_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_BACKEND_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
}

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

        // ---- server
        let data_dir = match (&env.data_dir, &raw.server.data_dir) {
            (Some(d), _) => PathBuf::from(d),
            (None, Some(d)) if d.get_ref().trim().is_empty() => {
                return src.err_at(d, "server.data_dir", "must not be empty")
            }
            (None, Some(d)) => PathBuf::from(d.get_ref()),
            (None, None) => PathBuf::from("data"),
        };
        let osis_listen = parse_addr(
            &src,
            raw.server.osis_listen.as_ref(),
            DEFAULT_OSIS_LISTEN,
            "server.osis_listen",
        )?;
        let s3_listen = parse_addr(
            &src,
            raw.server.s3_listen.as_ref(),
            DEFAULT_S3_LISTEN,
            "server.s3_listen",
        )?;
        if osis_listen == s3_listen {
            let at = raw
                .server
                .s3_listen
                .as_ref()
                .map(|s| s.span())
                .unwrap_or(0..0);
            return src.err(
                at,
                "server.s3_listen",
                format!("OSIS and S3 cannot share the listener {s3_listen}"),
            );
        }
        let tls = match &raw.server.tls {
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
        let public_s3_endpoint = match &raw.server.public_s3_endpoint {
            Some(u) => {
                parse_url(&src, u, "server.public_s3_endpoint")?;
                u.get_ref().trim_end_matches('/').to_string()
            }
            None => format!("{scheme}://{s3_listen}"),
        };
        let server = ServerConfig {
            data_dir: data_dir.clone(),
            osis_listen,
            s3_listen,
            public_s3_endpoint,
            tls,
            grace_period: raw
                .server
                .grace_period_secs
                .map(Duration::from_secs)
                .unwrap_or(DEFAULT_GRACE_PERIOD),
            reconcile_interval: match &raw.server.reconcile_interval_secs {
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
            limits: limits(&src, &raw.server.limits)?,
        };

        // ---- osis
        let admin_access_key = match (&env.admin_access_key, &raw.osis.admin_access_key) {
            (Some(k), _) => k.clone(),
            (None, Some(k)) => k.get_ref().clone(),
            // check-config --no-secrets: the pair is expected from the environment at start
            (None, None) if env.skip_secrets => "<from OSPREY_ADMIN_ACCESS_KEY>".to_string(),
            (None, None) => {
                return Err(ConfigError::Missing {
                    file: file.to_string(),
                    key: "osis.admin_access_key".into(),
                    message: "set it in [osis] or in the environment as OSPREY_ADMIN_ACCESS_KEY"
                        .into(),
                })
            }
        };
        let admin_secret_key = match (&env.admin_secret_key, &raw.osis.admin_secret_key) {
            (Some(k), _) => k.clone(),
            (None, Some(k)) => k.get_ref().clone(),
            // check-config --no-secrets: the pair is expected from the environment at start
            (None, None) if env.skip_secrets => "<from OSPREY_ADMIN_SECRET_KEY>".to_string(),
            (None, None) => {
                return Err(ConfigError::Missing {
                    file: file.to_string(),
                    key: "osis.admin_secret_key".into(),
                    message: "set it in [osis] or in the environment as OSPREY_ADMIN_SECRET_KEY"
                        .into(),
                })
            }
        };
        if admin_access_key.is_empty() || admin_access_key.contains(':') {
            let at = raw
                .osis
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
                .osis
                .admin_secret_key
                .as_ref()
                .map(|s| s.span())
                .unwrap_or(0..0);
            return src.err(at, "osis.admin_secret_key", "must be at least 8 characters");
        }
        if let Some(u) = &raw.osis.console_url {
            parse_url(&src, u, "osis.console_url").or_else(|_| {
                // console URLs may carry a path; only require an absolute http(s) URL
                match u.get_ref().parse::<http::Uri>() {
                    Ok(uri) if matches!(uri.scheme_str(), Some("http") | Some("https")) => Ok(uri),
                    _ => src.err_at(
                        u,
                        "osis.console_url",
                        "must be an absolute http:// or https:// URL",
                    ),
                }
            })?;
        }
        let osis = OsisConfig {
            admin_access_key,
            admin_secret_key,
            bearer: raw.osis.bearer.unwrap_or(true),
            console_url: raw.osis.console_url.as_ref().map(|u| u.get_ref().clone()),
            capabilities_file: raw
                .osis
                .capabilities_file
                .as_ref()
                .map(|p| PathBuf::from(p.get_ref())),
            regions: raw
                .osis
                .regions
                .clone()
                .unwrap_or_else(|| vec!["us-east-1".to_string()]),
        };

        // ---- s3
        let max_clock_skew = raw
            .s3
            .max_clock_skew_secs
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_MAX_CLOCK_SKEW);
        if max_clock_skew.is_zero() || max_clock_skew > MAX_CLOCK_SKEW_LIMIT {
            return Err(ConfigError::Invalid {
                file: file.to_string(),
                line: 0,
                col: 0,
                key: "s3.max_clock_skew_secs".into(),
                message: format!("must be between 1 and {}", MAX_CLOCK_SKEW_LIMIT.as_secs()),
            });
        }
        if let Some(d) = &raw.s3.domain {
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
        let s3 = S3Config {
            domain: raw
                .s3
                .domain
                .as_ref()
                .map(|d| d.get_ref().to_ascii_lowercase()),
            max_clock_skew,
            region: raw.s3.region.clone().unwrap_or_else(|| "us-east-1".into()),
            fanout_timeout: raw
                .s3
                .fanout_timeout_ms
                .map(Duration::from_millis)
                .unwrap_or(DEFAULT_FANOUT_TIMEOUT),
            regions: match &raw.s3.regions {
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
            sigv2: raw.s3.sigv2.unwrap_or(true),
        };

        // ---- store
        let kind = match raw.store.kind.as_ref() {
            None => "sqlite",
            Some(k) => k.get_ref().as_str(),
        };
        let store_kind = match kind {
            "sqlite" => StoreKind::Sqlite {
                path: raw
                    .store
                    .path
                    .as_ref()
                    .map(|p| resolve_path(&data_dir, p.get_ref()))
                    .unwrap_or_else(|| data_dir.join("osprey.db")),
            },
            other => {
                let at = raw.store.kind.as_ref().map(|s| s.span()).unwrap_or(0..0);
                return src.err(
                    at,
                    "store.kind",
                    format!("unknown store kind `{other}`; supported: sqlite"),
                );
            }
        };
        let store = StoreConfig {
            kind: store_kind,
            master_key_file: raw
                .store
                .master_key_file
                .as_ref()
                .map(|p| resolve_path(&data_dir, p.get_ref()))
                .unwrap_or_else(|| data_dir.join("master.key")),
        };

        // ---- log
        let level_text = env
            .log_level
            .clone()
            .or_else(|| raw.log.level.as_ref().map(|l| l.get_ref().clone()))
            .unwrap_or_else(|| "info".into());
        let level = match level_text.as_str() {
            "error" => LogLevel::Error,
            "warn" => LogLevel::Warn,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            "trace" => LogLevel::Trace,
            other => {
                let at = raw.log.level.as_ref().map(|s| s.span()).unwrap_or(0..0);
                return src.err(
                    at,
                    "log.level",
                    format!("unknown level `{other}`; use error, warn, info, debug or trace"),
                );
            }
        };
        let log = LogConfig { level };

        // ---- backends
        let mut backends = Vec::with_capacity(raw.backends.len());
        let mut names = HashSet::new();
        for (i, b) in raw.backends.iter().enumerate() {
            let b = b.get_ref();
            let key = |f: &str| format!("backends[{i}].{f}");
            let name = b.name.get_ref();
            if !valid_backend_name(name) {
                return src.err_at(
                    &b.name,
                    &key("name"),
                    format!("`{name}`: backend names are 1-{MAX_BACKEND_NAME_LEN} of [a-z0-9-], not starting with '-'"),
                );
            }
            if !names.insert(name.clone()) {
                return src.err_at(
                    &b.name,
                    &key("name"),
                    format!("backend `{name}` is defined twice"),
                );
            }
            let Some(kind) = BackendKind::parse(b.kind.get_ref()) else {
                return src.err_at(
                    &b.kind,
                    &key("kind"),
                    format!(
                        "unknown backend kind `{}`; supported: local, s3, ceph-rgw, iam",
                        b.kind.get_ref()
                    ),
                );
            };
            let endpoint = b
                .endpoint
                .as_ref()
                .map(|e| parse_url(&src, e, &key("endpoint")))
                .transpose()?;
            let iam_endpoint = b
                .iam_endpoint
                .as_ref()
                .map(|e| parse_url(&src, e, &key("iam_endpoint")))
                .transpose()?;
            let secret_sources = [
                b.secret_key.is_some(),
                b.secret_key_env.is_some(),
                b.secret_key_file.is_some(),
            ];
            if secret_sources.iter().filter(|x| **x).count() > 1 {
                return src.err_at(
                    &b.name,
                    &key("secret_key"),
                    "give at most one of secret_key, secret_key_env, secret_key_file",
                );
            }
            let secret_key = if let Some(s) = &b.secret_key {
                Some(s.get_ref().clone())
            } else if env.skip_secrets {
                None
            } else if let Some(var) = &b.secret_key_env {
                match env.vars.get(var.get_ref()) {
                    Some(v) if !v.is_empty() => Some(v.clone()),
                    _ => {
                        return src.err_at(
                            var,
                            &key("secret_key_env"),
                            format!("environment variable `{}` is not set", var.get_ref()),
                        )
                    }
                }
            } else if let Some(f) = &b.secret_key_file {
                match std::fs::read_to_string(f.get_ref()) {
                    Ok(t) => match t.lines().next().map(str::trim) {
                        Some(l) if !l.is_empty() => Some(l.to_string()),
                        _ => {
                            return src.err_at(
                                f,
                                &key("secret_key_file"),
                                format!("`{}` is empty", f.get_ref()),
                            )
                        }
                    },
                    Err(e) => {
                        return src.err_at(
                            f,
                            &key("secret_key_file"),
                            format!("cannot read `{}`: {e}", f.get_ref()),
                        )
                    }
                }
            } else {
                None
            };
            let access_key = b.access_key.as_ref().map(|a| a.get_ref().clone());
            match kind {
                BackendKind::Local => {
                    if let Some(e) = &b.endpoint {
                        return src.err_at(
                            e,
                            &key("endpoint"),
                            "a `local` backend is in-process and takes no endpoint",
                        );
                    }
                }
                BackendKind::S3 | BackendKind::CephRgw | BackendKind::Iam => {
                    if endpoint.is_none() {
                        return src.err_at(
                            &b.kind,
                            &key("endpoint"),
                            format!("a `{}` backend needs `endpoint`", kind.as_str()),
                        );
                    }
                    let has_secret = secret_key.as_deref().is_some_and(|s| !s.is_empty())
                        || (env.skip_secrets && secret_sources.iter().any(|x| *x));
                    if access_key.as_deref().unwrap_or("").is_empty() || !has_secret {
                        return src.err_at(
                            &b.kind,
                            &key("access_key"),
                            format!(
                                "a `{}` backend needs `access_key` and a secret (secret_key, secret_key_env or secret_key_file)",
                                kind.as_str()
                            ),
                        );
                    }
                }
            }
            backends.push(Arc::new(BackendConfig {
                name: name.clone(),
                kind,
                endpoint,
                region: b.region.clone().unwrap_or_else(|| "us-east-1".into()),
                access_key,
                secret_key,
                iam_endpoint,
                timeout: b
                    .timeout_ms
                    .map(Duration::from_millis)
                    .unwrap_or(DEFAULT_BACKEND_TIMEOUT),
                profile: b
                    .profile
                    .as_ref()
                    .map(|p| p.get_ref().clone())
                    .unwrap_or_else(|| kind.as_str().to_string()),
            }));
        }
        if backends.is_empty() {
            return Err(ConfigError::Missing {
                file: file.to_string(),
                key: "backends".into(),
                message: "define at least one [[backends]] entry (e.g. name = \"local\", kind = \"local\")".into(),
            });
        }

        // ---- routing
        let routing = match &raw.routing {
            None => {
                // One backend and no routing section: everything goes there.
                if backends.len() == 1 {
                    let name = backends[0].name.clone();
                    RoutingConfig {
                        default_table: "default".into(),
                        tables: BTreeMap::from([(
                            "default".to_string(),
                            TableConfig {
                                namespace: Namespace::Tenant,
                                rules: vec![RuleConfig {
                                    buckets: "*".into(),
                                    backend: name,
                                }],
                            },
                        )]),
                        tenants: Vec::new(),
                    }
                } else {
                    return Err(ConfigError::Missing {
                        file: file.to_string(),
                        key: "routing".into(),
                        message:
                            "with several backends, a [routing] section must say where buckets go"
                                .into(),
                    });
                }
            }
            Some(r) => validate_routing(&src, r, &names)?,
        };

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

    pub fn backend(&self, name: &str) -> Option<&Arc<BackendConfig>> {
        self.backends.iter().find(|b| b.name == name)
    }
}

fn validate_routing(
    src: &Source<'_>,
    r: &Spanned<schema::RoutingSection>,
    backends: &HashSet<String>,
) -> Result<RoutingConfig, ConfigError> {
    let r = r.get_ref();
    let mut tables = BTreeMap::new();
    for (tname, t) in &r.tables {
        if t.get_ref().rules.is_empty() {
            return src.err_at(
                t,
                &format!("routing.tables.{tname}.rules"),
                "a table needs at least one rule",
            );
        }
        let mut rules = Vec::new();
        for (i, rule) in t.get_ref().rules.iter().enumerate() {
            let rule = rule.get_ref();
            let key = format!("routing.tables.{tname}.rules[{i}]");
            if !backends.contains(rule.backend.get_ref()) {
                let mut known: Vec<_> = backends.iter().cloned().collect();
                known.sort();
                return src.err_at(
                    &rule.backend,
                    &format!("{key}.backend"),
                    format!(
                        "unknown backend `{}`; defined backends: {}",
                        rule.backend.get_ref(),
                        known.join(", ")
                    ),
                );
            }
            let pat = rule.buckets.get_ref();
            if pat.is_empty()
                || !pat
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.*".contains(&b))
            {
                return src.err_at(
                    &rule.buckets,
                    &format!("{key}.buckets"),
                    format!(
                        "`{pat}`: a bucket pattern is bucket-name characters [a-z0-9.-] and `*`"
                    ),
                );
            }
            rules.push(RuleConfig {
                buckets: pat.clone(),
                backend: rule.backend.get_ref().clone(),
            });
        }
        // A table whose last rule is not a catch-all would make CreateBucket fail for some names.
        if rules.last().map(|r| r.buckets.as_str()) != Some("*") {
            return src.err_at(
                t,
                &format!("routing.tables.{tname}.rules"),
                "the last rule of a table must be the catch-all `buckets = \"*\"` so every bucket name has a backend",
            );
        }
        let namespace = match t.get_ref().namespace {
            Some(super::toml::NamespaceSection::Global) => Namespace::Global,
            Some(super::toml::NamespaceSection::Tenant) | None => Namespace::Tenant,
        };
        tables.insert(tname.clone(), TableConfig { namespace, rules });
    }
    if !tables.contains_key(r.default_table.get_ref()) {
        return src.err_at(
            &r.default_table,
            "routing.default_table",
            format!(
                "no table named `{}` under [routing.tables]",
                r.default_table.get_ref()
            ),
        );
    }
    let mut tenants = Vec::new();
    for (i, a) in r.tenants.iter().enumerate() {
        let a = a.get_ref();
        let key = format!("routing.tenants[{i}]");
        if !tables.contains_key(a.table.get_ref()) {
            return src.err_at(
                &a.table,
                &format!("{key}.table"),
                format!("no table named `{}`", a.table.get_ref()),
            );
        }
        let m = &a.matcher;
        if m.cd_tenant_id.is_none() && m.tenant_name.is_none() && m.tenant_id.is_none() {
            return src.err_at(
                &a.table,
                &format!("{key}.match"),
                "match needs cd_tenant_id, tenant_name or tenant_id",
            );
        }
        tenants.push(TenantAssignmentConfig {
            cd_tenant_id: m.cd_tenant_id.as_ref().map(|v| v.get_ref().clone()),
            tenant_name: m.tenant_name.as_ref().map(|v| v.get_ref().clone()),
            tenant_id: m.tenant_id.as_ref().map(|v| v.get_ref().clone()),
            table: a.table.get_ref().clone(),
        });
    }
    Ok(RoutingConfig {
        default_table: r.default_table.get_ref().clone(),
        tables,
        tenants,
    })
}
