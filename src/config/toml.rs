//! The TOML file schema: exactly what an operator may write, nothing more (`deny_unknown_fields`
//! everywhere, so a typo is an error naming the key and line, not a silently ignored setting).
//!
//! This layer only describes syntax. Meaning (defaults resolved, references checked, paths and
//! addresses parsed) lives in [`super::model`] (through [`super::validate`]), which is the only model request code reads —
//! the same split as river's `config/toml.rs` vs `config/internal.rs`.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// Root of `osprey.toml`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub osis: OsisSection,
    #[serde(default)]
    pub s3: S3Section,
    #[serde(default)]
    pub store: StoreSection,
    #[serde(default)]
    pub log: LogSection,
    #[serde(default)]
    pub backends: Vec<Spanned<BackendSection>>,
    pub routing: Option<Spanned<RoutingSection>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Directory for the identity store, master key, local backend data. Env `OSPREY_DATA_DIR` wins.
    pub data_dir: Option<Spanned<String>>,
    /// OSIS REST listener (default `127.0.0.1:8443`).
    pub osis_listen: Option<Spanned<String>>,
    /// S3 listener (default `127.0.0.1:9000`).
    pub s3_listen: Option<Spanned<String>>,
    /// Prometheus `/metrics`, `/livez` and `/readyz` (no authentication: bind it privately).
    /// Absent: no metrics listener (the metrics stay readable at `/api/v1/admin/metrics`).
    pub metrics_listen: Option<Spanned<String>>,
    /// S3 endpoint URL advertised to OSE in `/api/info` `services.s3` (default derived from `s3_listen`).
    pub public_s3_endpoint: Option<Spanned<String>>,
    /// TLS for both listeners; plain HTTP when absent.
    pub tls: Option<TlsSection>,
    /// Seconds in-flight requests get to finish on SIGTERM (default 10).
    pub grace_period_secs: Option<u64>,
    /// Seconds between runs of the provisioning reconciler, which finishes backend work left by
    /// an outage or a crash (default 30; 1..=3600).
    pub reconcile_interval_secs: Option<Spanned<u64>>,
    /// Threads serving S3, one listener shard each (default: the number of cores; 1..=256).
    pub s3_threads: Option<Spanned<u64>>,
    /// Connection and header limits of both listeners (`[server.limits]`).
    #[serde(default)]
    pub limits: LimitsSection,
}

/// `[server.limits]`: what one client may hold of Osprey (docs/security.md). Each key's default
/// is the named constant in `config::model`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    /// Most bytes of one request's header section (request line + headers); larger → 431.
    pub max_header_bytes: Option<Spanned<u64>>,
    /// Seconds a client has to send a whole header section once it started (or once connected).
    pub header_timeout_secs: Option<Spanned<u64>>,
    /// Seconds an idle keep-alive connection is kept open between requests.
    pub idle_timeout_secs: Option<Spanned<u64>>,
    /// Seconds a request or response body may make no progress before the connection is closed.
    pub body_timeout_secs: Option<Spanned<u64>>,
    /// Most connections open at once on each listener; more are refused.
    pub max_connections: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    pub cert_file: Spanned<String>,
    pub key_file: Spanned<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct OsisSection {
    /// Basic-auth user OSE is given (`ose osis admin set`). Env `OSPREY_ADMIN_ACCESS_KEY` wins.
    pub admin_access_key: Option<Spanned<String>>,
    /// Basic-auth password. Env `OSPREY_ADMIN_SECRET_KEY` wins.
    pub admin_secret_key: Option<Spanned<String>>,
    /// Offer JWT bearer tokens beside Basic (default true).
    pub bearer: Option<bool>,
    /// Management console URL answered by `GET /api/v1/console`.
    pub console_url: Option<Spanned<String>>,
    /// JSON document of OSIS s3capabilities exclusions (default: the built-in list).
    pub capabilities_file: Option<Spanned<String>>,
    /// Regions advertised in `/api/info` (default `["us-east-1"]`).
    pub regions: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct S3Section {
    /// Base domain for virtual-host style requests (`bucket.<domain>`); path style only when absent.
    pub domain: Option<Spanned<String>>,
    /// Allowed client clock skew in seconds (default 900 = AWS's 15 minutes).
    pub max_clock_skew_secs: Option<u64>,
    /// Region Osprey reports (GetBucketLocation, default `us-east-1`). Clients may sign with any region.
    pub region: Option<String>,
    /// Deadline in milliseconds for fan-out calls (ListBuckets over several backends; default 5000).
    pub fanout_timeout_ms: Option<u64>,
    /// Regions a client may name in its credential scope (default: any).
    pub regions: Option<Spanned<Vec<String>>>,
    /// Accept legacy SigV2 (header, presigned query; default true, for clients that default to it).
    pub sigv2: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// `sqlite` (embedded, default) or `postgres`.
    pub kind: Option<Spanned<String>>,
    /// SQLite file (default `<data_dir>/osprey.db`; kind `sqlite` only).
    pub path: Option<Spanned<String>>,
    /// `postgres://user[:password]@host[:port]/database` (kind `postgres` only). Env
    /// `OSPREY_STORE_URL` wins.
    pub url: Option<Spanned<String>>,
    /// File holding the PostgreSQL password (read at start, trimmed); the URL then has none.
    pub password_file: Option<Spanned<String>>,
    /// `disable`, `prefer` (default), `require` or `verify-full`, as libpq's `sslmode`.
    pub sslmode: Option<Spanned<String>>,
    /// PEM CA certificates that sign the server's certificate (`sslmode = "verify-full"` only;
    /// default: the Mozilla roots).
    pub ca_file: Option<Spanned<String>>,
    /// Most connections this Osprey opens to PostgreSQL (default `DEFAULT_STORE_POOL_SIZE`).
    pub pool_size: Option<Spanned<u64>>,
    /// Master key file for secrets at rest (default `<data_dir>/master.key`). Env `OSPREY_MASTER_KEY` wins.
    pub master_key_file: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// `error`, `warn`, `info` (default), `debug` (verbose), `trace`. `--verbose` forces `debug`.
    pub level: Option<Spanned<String>>,
    /// `text` (default: one signed line per event) or `json` (one JSON object per line).
    pub format: Option<Spanned<String>>,
    /// The per-request lines of both planes (target `access`): `true` (default) or `false`.
    pub access: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendSection {
    /// Unique name used by routing rules and stored in placements: `[a-z0-9-]{1,32}`.
    pub name: Spanned<String>,
    /// `local`, `s3`, `ceph-rgw`, `iam`.
    pub kind: Spanned<String>,
    /// S3 endpoint URL (not for `local`).
    pub endpoint: Option<Spanned<String>>,
    /// Region the backend signs with (default `us-east-1`).
    pub region: Option<String>,
    /// Service / admin access key (s3: the shared service key; ceph-rgw: the Admin Ops key; iam: the IAM admin key).
    pub access_key: Option<Spanned<String>>,
    /// Secret for `access_key`; prefer `secret_key_env` or `secret_key_file` in production.
    pub secret_key: Option<Spanned<String>>,
    /// Name of an environment variable holding the secret.
    pub secret_key_env: Option<Spanned<String>>,
    /// File holding the secret (first line).
    pub secret_key_file: Option<Spanned<String>>,
    /// IAM endpoint (kind `iam`; default = `endpoint`).
    pub iam_endpoint: Option<Spanned<String>>,
    /// Connect/read timeout toward the backend in milliseconds (default 10000).
    pub timeout_ms: Option<u64>,
    /// Vendor profile under `backends/` (default: the kind's own).
    pub profile: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingSection {
    pub default_table: Spanned<String>,
    #[serde(default)]
    pub tables: BTreeMap<String, Spanned<TableSection>>,
    #[serde(default)]
    pub tenants: Vec<Spanned<TenantAssignment>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSection {
    /// Whose bucket names: `tenant` (default; each tenant its own) or `global` (unique across
    /// Osprey, as on AWS; docs/configuration.md).
    #[serde(default)]
    pub namespace: Option<NamespaceSection>,
    pub rules: Vec<Spanned<RuleSection>>,
}

#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum NamespaceSection {
    Tenant,
    Global,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSection {
    /// Bucket-name pattern: `*` matches any run of characters, everything else literally.
    pub buckets: Spanned<String>,
    pub backend: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantAssignment {
    #[serde(rename = "match")]
    pub matcher: TenantMatch,
    pub table: Spanned<String>,
}

/// How providers know their tenants: by Cloud Director org id, by tenant name, or by Osprey tenant id.
/// Values may use `*` patterns.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantMatch {
    pub cd_tenant_id: Option<Spanned<String>>,
    pub tenant_name: Option<Spanned<String>>,
    pub tenant_id: Option<Spanned<String>>,
}
