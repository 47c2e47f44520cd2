//! The validated configuration model that the rest of Osprey reads.
//!
//! Built only by [`super::validate`] (through [`Config::from_toml_str`] / [`super::load`]), which
//! resolves defaults and environment overrides and checks every reference, so request code never
//! re-validates and never sees a half-valid value. Backends are typed per kind ([`BackendSpec`]):
//! an `s3` backend without an endpoint or a key cannot be written down, so drivers have no
//! "not configured" branch (issue 12).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use super::profile::{PayloadModes, Profile};

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
    /// Prometheus metrics and health probes; none when absent.
    pub metrics_listen: Option<SocketAddr>,
    pub public_s3_endpoint: String,
    pub tls: Option<TlsConfig>,
    pub grace_period: Duration,
    pub reconcile_interval: Duration,
    /// Threads serving S3, each a single-threaded shard with its own listening socket
    /// (`server::wiring`; [`default_s3_threads`] unless set).
    pub s3_threads: usize,
    pub limits: Limits,
}

/// Most `server.s3_threads`: 256. More threads than that only add scheduling on any machine
/// Osprey runs on; the bound stops a typo (`s3_threads = 20000`) from starting thousands.
pub const MAX_S3_THREADS: u64 = 256;

/// Default `server.s3_threads`: one shard per core, so Osprey can use every core.
pub fn default_s3_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
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

/// Default `store.pool_size`: connections one Osprey opens to PostgreSQL at most. OSIS calls and
/// data-plane cache misses each hold one for a few milliseconds; 16 per replica keeps three
/// replicas (48) well under PostgreSQL's default `max_connections` of 100.
pub const DEFAULT_STORE_POOL_SIZE: usize = 16;
/// How long opening one PostgreSQL connection may take unless the URL says (`connect_timeout`).
pub const DEFAULT_STORE_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest accepted `store.pool_size`.
pub const MAX_STORE_POOL_SIZE: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    Sqlite { path: PathBuf },
    Postgres(Box<PostgresConfig>),
}

/// `store.sslmode`, with libpq's meaning (PostgreSQL docs §34.19.1): `prefer` and `require`
/// encrypt without checking the server's certificate, `verify-full` checks the chain (against
/// `ca_file`, else the Mozilla roots) and that the certificate names the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgSslMode {
    Disable,
    Prefer,
    Require,
    VerifyFull { ca_file: Option<PathBuf> },
}

impl PgSslMode {
    pub fn as_str(&self) -> &'static str {
        match self {
            PgSslMode::Disable => "disable",
            PgSslMode::Prefer => "prefer",
            PgSslMode::Require => "require",
            PgSslMode::VerifyFull { .. } => "verify-full",
        }
    }
}

/// A PostgreSQL identity store: where, how encrypted, how many connections.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresConfig {
    /// Host, port, user, database and the password (from the URL or `password_file`). Its
    /// `Debug` redacts the password.
    pub connect: tokio_postgres::Config,
    pub sslmode: PgSslMode,
    /// [`DEFAULT_STORE_POOL_SIZE`].
    pub pool_size: usize,
    /// The URL without its password (`postgres://user@host:port/db`), for logs and messages.
    pub display: String,
}

impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &self.display)
            .field("sslmode", &self.sslmode)
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
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
    pub format: LogFormat,
    /// Whether the per-request lines (target [`ACCESS_LOG_TARGET`]) are written.
    pub access: bool,
}

/// The `target` of every per-request log line (S3 and OSIS), so operators can route or silence
/// them apart from the rest (`log.access = false`, or a filter on the target in their pipeline).
pub const ACCESS_LOG_TARGET: &str = "access";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `<time> <LEVEL> osprey/<release> <fields>: <message>` — for people and journald.
    #[default]
    Text,
    /// One JSON object per line with `time`, `level`, `release`, `target`, span and event fields.
    Json,
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
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "local" => BackendKind::Local,
            "s3" => BackendKind::S3,
            "ceph-rgw" => BackendKind::CephRgw,
            "iam" => BackendKind::Iam,
            _ => return None,
        })
    }
}

/// An absolute `http://` or `https://` URL without a path: what `endpoint` and `iam_endpoint`
/// hold once validated. Host and port are split out here, once, so the data path never
/// re-parses the URL (and has no "endpoint has no host" failure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    uri: http::Uri,
    host: String,
    port: u16,
    tls: bool,
}

/// Why a text is not an [`Endpoint`]; each message names the value (docs/troubleshooting.md §3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("`{value}` is not a URL ({reason})")]
    NotUrl { value: String, reason: String },
    #[error("`{value}` must be an absolute http:// or https:// URL")]
    NotAbsolute { value: String },
    #[error("`{value}`: endpoint URLs must not carry a path")]
    HasPath { value: String },
}

impl std::str::FromStr for Endpoint {
    type Err = EndpointError;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let uri: http::Uri =
            value
                .parse()
                .map_err(|e: http::uri::InvalidUri| EndpointError::NotUrl {
                    value: value.to_string(),
                    reason: e.to_string(),
                })?;
        let not_absolute = || EndpointError::NotAbsolute {
            value: value.to_string(),
        };
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(not_absolute()),
        };
        // `host()` is present exactly when the URL has an authority (what "absolute" means here)
        let host = uri.host().ok_or_else(not_absolute)?.to_string();
        if uri.path() != "/" && !uri.path().is_empty() {
            return Err(EndpointError::HasPath {
                value: value.to_string(),
            });
        }
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Ok(Endpoint {
            uri,
            host,
            port,
            tls,
        })
    }
}

impl Endpoint {
    pub fn uri(&self) -> &http::Uri {
        &self.uri
    }
    /// The host as written in the URL (an IPv6 literal keeps its brackets).
    pub fn host(&self) -> &str {
        &self.host
    }
    /// The explicit port, or 443 / 80 by scheme.
    pub fn port(&self) -> u16 {
        self.port
    }
    pub fn tls(&self) -> bool {
        self.tls
    }
    /// `Host` header value the backend expects (the port is part of what SigV4 signs, so it is
    /// written exactly when it is not the scheme's default).
    pub fn host_header(&self) -> String {
        let default_port = if self.tls { 443 } else { 80 };
        if self.port == default_port {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
    /// `scheme://authority`, no trailing slash: the base admin API paths are appended to.
    pub fn base_url(&self) -> String {
        self.uri.to_string().trim_end_matches('/').to_string()
    }
}

/// A secret from the configuration. `Debug` never shows it (logs, support bundles).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret text, for signing only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The one key Osprey itself holds for a platform: the shared service key (`s3`) or the admin
/// key (`ceph-rgw` Admin Ops, `iam` administrator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCredentials {
    pub access_key: String,
    /// Under `check-config --no-secrets` a placeholder naming the unread source; that
    /// configuration is only printed, never served.
    pub secret_key: Secret,
}

/// `s3`: any S3 endpoint with one shared service key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Spec {
    pub endpoint: Endpoint,
    pub service: ServiceCredentials,
}

/// `ceph-rgw`: the RGW endpoint serves S3 and the Admin Ops API (`/admin/...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CephRgwSpec {
    pub endpoint: Endpoint,
    pub admin: ServiceCredentials,
}

/// `iam`: S3 on `endpoint`, the IAM query API on `iam_endpoint` (the file's `iam_endpoint`, or
/// `endpoint` when absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamSpec {
    pub endpoint: Endpoint,
    pub iam_endpoint: Endpoint,
    pub admin: ServiceCredentials,
}

/// What each kind needs, and nothing else: a variant exists only with all its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendSpec {
    /// In-process; its address and key are known only once the embedded store has started.
    Local,
    S3(S3Spec),
    CephRgw(CephRgwSpec),
    Iam(IamSpec),
}

impl BackendSpec {
    pub fn kind(&self) -> BackendKind {
        match self {
            BackendSpec::Local => BackendKind::Local,
            BackendSpec::S3(_) => BackendKind::S3,
            BackendSpec::CephRgw(_) => BackendKind::CephRgw,
            BackendSpec::Iam(_) => BackendKind::Iam,
        }
    }
    /// The S3 endpoint (none for `local`).
    pub fn endpoint(&self) -> Option<&Endpoint> {
        match self {
            BackendSpec::Local => None,
            BackendSpec::S3(s) => Some(&s.endpoint),
            BackendSpec::CephRgw(s) => Some(&s.endpoint),
            BackendSpec::Iam(s) => Some(&s.endpoint),
        }
    }
    /// The key from the configuration (none for `local`, whose key is minted at start).
    pub fn credentials(&self) -> Option<&ServiceCredentials> {
        match self {
            BackendSpec::Local => None,
            BackendSpec::S3(s) => Some(&s.service),
            BackendSpec::CephRgw(s) => Some(&s.admin),
            BackendSpec::Iam(s) => Some(&s.admin),
        }
    }
}

/// One validated `[[backends]]` entry. `profile.kind == spec.kind()` always holds (validation
/// rejects a profile of another kind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendConfig {
    /// Checked by [`valid_backend_name`]; stored in placements.
    pub name: String,
    pub region: String,
    pub timeout: Duration,
    pub profile: Profile,
    pub spec: BackendSpec,
}

impl BackendConfig {
    pub fn kind(&self) -> BackendKind {
        self.spec.kind()
    }
    /// Same backend, same settings: a reload keeps the running instance (its connection pool,
    /// or for `local` the embedded server) instead of building a new one.
    pub fn same_as(&self, o: &BackendConfig) -> bool {
        self == o
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
    /// `OSPREY_STORE_URL`: the PostgreSQL URL, over `store.url`.
    pub store_url: Option<String>,
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
            store_url: get("OSPREY_STORE_URL"),
            vars: std::env::vars().collect(),
            skip_secrets: false,
        }
    }
}

impl Config {
    pub fn backend(&self, name: &str) -> Option<&Arc<BackendConfig>> {
        self.backends.iter().find(|b| b.name == name)
    }
}
