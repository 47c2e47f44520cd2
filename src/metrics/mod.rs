//! Prometheus metrics (issue 14): one process-wide registry, recorded where things happen and
//! served by `GET /metrics` on `server.metrics_listen` (src/server/observe.rs) and, behind the
//! admin pair, by `GET /api/v1/admin/metrics`.
//!
//! The registry is `prometheus-client` (the Prometheus project's Rust client, docs/crates.md);
//! the exposition is Prometheus text format 0.0.4. Every series and its labels is listed in
//! docs/operations.md#metrics-and-health; the `tenant` label is bounded by [`MAX_TENANT_LABELS`].
//!
//! This module sits at the bottom of the crate (like `telemetry`): it imports nothing of Osprey's
//! but `version`, so every layer can record into it. Values that only the upper layers can read (pending
//! provisioning intents, open connections) are set just before each scrape by the endpoint that
//! serves it ([`Metrics::set_intents`], [`Metrics::watch_connections`]).

pub mod health;

use std::borrow::Cow;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use dashmap::DashSet;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::sync::Semaphore;

/// Most distinct values of the `tenant` label (default 1 000). Tenants past it are counted under
/// `tenant="_other"`, so a provider with many tenants (or a flood of requests naming random keys)
/// cannot grow the series without bound: with the other labels, at most about
/// 1 000 × backends × ops seen × statuses seen series. Providers with more tenants than this
/// should aggregate per backend instead.
pub const MAX_TENANT_LABELS: usize = 1_000;

/// `tenant` label of requests that never reached a tenant (anonymous, or refused before the key
/// was known).
pub const NO_TENANT: &str = "_none";

/// `tenant` label past [`MAX_TENANT_LABELS`].
pub const OTHER_TENANT: &str = "_other";

/// `backend` label of requests Osprey answered itself (refusals, ListBuckets fan-outs).
pub const NO_BACKEND: &str = "_osprey";

/// Upper bounds of the request-duration histograms, in seconds: 1 ms to 60 s, roughly ×2.5 per
/// step (S3 requests range from sub-millisecond cached refusals to minute-long uploads).
const DURATION_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0, 60.0,
];

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct S3RequestLabels {
    pub tenant: String,
    pub backend: String,
    pub op: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BackendOpLabels {
    pub backend: String,
    pub op: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TrafficLabels {
    pub tenant: String,
    pub backend: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BackendErrorLabels {
    pub backend: String,
    /// `connect`, `timeout`, `io` (the connection broke), `status_5xx` (the backend answered 5xx).
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OsisLabels {
    /// The matched route template (`/api/v1/tenants/{tenant_id}`), never the raw path: bounded.
    pub route: String,
    pub method: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    pub cache: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ListenerLabels {
    pub listener: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BackendLabels {
    pub backend: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: String,
    pub signature: String,
}

/// Every series Osprey exports.
pub struct Metrics {
    registry: Registry,
    s3_requests: Family<S3RequestLabels, Counter>,
    s3_duration: Family<BackendOpLabels, Histogram>,
    s3_received: Family<TrafficLabels, Counter>,
    s3_sent: Family<TrafficLabels, Counter>,
    backend_errors: Family<BackendErrorLabels, Counter>,
    osis_requests: Family<OsisLabels, Counter>,
    osis_duration: Family<RouteLabels, Histogram>,
    intents: Family<StateLabels, Gauge>,
    reconciler_runs: Family<ResultLabels, Counter>,
    cache_hits: Family<CacheLabels, Counter>,
    cache_misses: Family<CacheLabels, Counter>,
    reloads: Family<ResultLabels, Counter>,
    generation: Gauge,
    last_reload: Gauge<f64, AtomicU64>,
    connections: Family<ListenerLabels, Gauge>,
    backend_up: Family<BackendLabels, Gauge>,
    backend_probe: Family<BackendLabels, Gauge<f64, AtomicU64>>,
    tenant_overflow: Counter,
    feed_up: Gauge,
    log_dropped: Counter,
    changes_heard: Counter,
    leader: Gauge,
    /// Tenants that have a label of their own (at most [`MAX_TENANT_LABELS`]).
    tenants: DashSet<String>,
    /// This registry among the process's (tests make several): the key of the per-thread
    /// series cache ([`SERIES_PER_THREAD`]).
    id: u64,
    /// The hit and miss counters of each [`CACHE_NAMES`] entry, resolved at its first use.
    cache_series: [[OnceLock<Counter>; 2]; CACHE_NAMES.len()],
    /// Connection limits to read at scrape time: (listener, its permits, its maximum).
    pools: Mutex<Vec<(&'static str, Arc<Semaphore>, usize)>>,
}

/// Source of [`Metrics`]' `id`s.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// The directory caches whose hit and miss counters are kept resolved (the `cache` label of
/// every lookup on the data path); another name goes through its family.
const CACHE_NAMES: [&str; 6] = [
    "keys",
    "unknown_keys",
    "placements",
    "identities",
    "principal_maps",
    "tenants",
];

/// Label sets of S3 requests whose series each thread keeps resolved: 16 (default). An answered
/// request finds its counters and histogram here by comparing its labels, instead of building
/// three label `String`s and hashing four label sets under the families' locks (issue 13: ~0.3
/// µs per request); a label set not among them is resolved through the families and replaces
/// the least recently used one. Stops the cache from growing with the label sets a thread sees.
pub const SERIES_PER_THREAD: usize = 16;

/// The series one S3 request label set counts into.
struct Resolved {
    metrics: u64,
    tenant: Option<String>,
    backend: String,
    op: String,
    status: u16,
    /// The tenant is counted under [`OTHER_TENANT`] (each request also counts an overflow).
    overflow: bool,
    requests: Counter,
    duration: Histogram,
    traffic: TrafficLabels,
    /// Resolved at the first request with a body that way: a series appears in the
    /// exposition only once it counted something, as through the families.
    received: Option<Counter>,
    sent: Option<Counter>,
}

/// The process's registry.
pub fn global() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(Metrics::new)
}

impl Metrics {
    fn new() -> Self {
        let mut r = Registry::default();
        let m = Metrics {
            s3_requests: Family::default(),
            s3_duration: Family::new_with_constructor(duration_histogram),
            s3_received: Family::default(),
            s3_sent: Family::default(),
            backend_errors: Family::default(),
            osis_requests: Family::default(),
            osis_duration: Family::new_with_constructor(duration_histogram),
            intents: Family::default(),
            reconciler_runs: Family::default(),
            cache_hits: Family::default(),
            cache_misses: Family::default(),
            reloads: Family::default(),
            generation: Gauge::default(),
            last_reload: Gauge::default(),
            connections: Family::default(),
            backend_up: Family::default(),
            backend_probe: Family::default(),
            tenant_overflow: Counter::default(),
            feed_up: Gauge::default(),
            log_dropped: Counter::default(),
            changes_heard: Counter::default(),
            leader: Gauge::default(),
            tenants: DashSet::new(),
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            cache_series: Default::default(),
            pools: Mutex::new(Vec::new()),
            registry: Registry::default(),
        };
        // counters get `_total` from the encoder
        r.register(
            "osprey_s3_requests",
            "S3 requests answered, by tenant, backend, operation and HTTP status",
            m.s3_requests.clone(),
        );
        r.register(
            "osprey_s3_request_duration_seconds",
            "Time from the request's first byte to the end of its answer, by backend and operation",
            m.s3_duration.clone(),
        );
        r.register(
            "osprey_s3_received_bytes",
            "Request body bytes read from S3 clients, by tenant and backend",
            m.s3_received.clone(),
        );
        r.register(
            "osprey_s3_sent_bytes",
            "Response body bytes sent to S3 clients, by tenant and backend",
            m.s3_sent.clone(),
        );
        r.register(
            "osprey_backend_errors",
            "Backend failures on the data path, by backend and kind (connect, timeout, io, status_5xx)",
            m.backend_errors.clone(),
        );
        r.register(
            "osprey_osis_requests",
            "OSIS (control plane) requests, by route template, method and HTTP status",
            m.osis_requests.clone(),
        );
        r.register(
            "osprey_osis_request_duration_seconds",
            "Time to answer an OSIS request, by route template",
            m.osis_duration.clone(),
        );
        r.register(
            "osprey_provisioning_intents",
            "Backend provisioning intents not finished yet: pending (not failed yet) or failed (failed at least once, retried by the reconciler)",
            m.intents.clone(),
        );
        r.register(
            "osprey_reconciler_runs",
            "Reconciler passes, by result (done, work_left, error)",
            m.reconciler_runs.clone(),
        );
        r.register(
            "osprey_cache_hits",
            "Directory cache lookups answered from the cache, by cache",
            m.cache_hits.clone(),
        );
        r.register(
            "osprey_cache_misses",
            "Directory cache lookups that read the store, by cache",
            m.cache_misses.clone(),
        );
        r.register(
            "osprey_config_reloads",
            "Configuration reload attempts that changed the file, by result (ok, rejected)",
            m.reloads.clone(),
        );
        r.register(
            "osprey_config_generation",
            "Generation of the serving configuration snapshot (1 at start, +1 per applied reload)",
            m.generation.clone(),
        );
        r.register(
            "osprey_config_last_reload_seconds",
            "Duration of the last reload attempt",
            m.last_reload.clone(),
        );
        r.register(
            "osprey_connections_open",
            "Client connections open, by listener (s3, osis)",
            m.connections.clone(),
        );
        r.register(
            "osprey_backend_up",
            "1 when the backend's S3 endpoint answered its last health probe, 0 when not",
            m.backend_up.clone(),
        );
        r.register(
            "osprey_backend_probe_seconds",
            "Duration of the backend's last health probe",
            m.backend_probe.clone(),
        );
        r.register(
            "osprey_metrics_tenant_overflow",
            "Requests counted under tenant=\"_other\" because MAX_TENANT_LABELS tenants already have a label",
            m.tenant_overflow.clone(),
        );
        r.register(
            "osprey_log_lines_dropped",
            "Log lines dropped because LOG_BUFFER_BYTES of lines were waiting for the log writer thread (standard error too slow)",
            m.log_dropped.clone(),
        );
        r.register(
            "osprey_store_change_feed_up",
            "1 while this replica hears the shared store's change feed (PostgreSQL LISTEN), 0 while it reconnects; always 0 on SQLite",
            m.feed_up.clone(),
        );
        r.register(
            "osprey_store_changes_heard",
            "Changes announced on the shared store's change feed (by any replica, this one included) and applied to this replica's caches",
            m.changes_heard.clone(),
        );
        r.register(
            "osprey_reconciler_leader",
            "1 while this replica holds the reconciler's lock (exactly one replica should)",
            m.leader.clone(),
        );
        let build: Family<BuildLabels, Gauge> = Family::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_string(),
                signature: crate::version::short().to_string(),
            })
            .set(1);
        r.register("osprey_build_info", "The running release (always 1)", build);
        // series whose label values are known up front start at 0, so `rate()` and alerts on
        // them work from the first scrape rather than from their first event
        for result in ["ok", "rejected"] {
            let _ = m.reloads.get_or_create(&ResultLabels { result });
        }
        for result in ["done", "work_left", "error"] {
            let _ = m.reconciler_runs.get_or_create(&ResultLabels { result });
        }
        Metrics { registry: r, ..m }
    }

    /// The `tenant` label for `tenant`, bounded by [`MAX_TENANT_LABELS`].
    pub fn tenant_label(&self, tenant: Option<&str>) -> String {
        let (label, overflow) = self.label_of(tenant);
        if overflow {
            self.tenant_overflow.inc();
        }
        label
    }

    /// The `tenant` label for `tenant`, and whether it is [`OTHER_TENANT`] for the bound (not
    /// counted here).
    fn label_of(&self, tenant: Option<&str>) -> (String, bool) {
        let Some(t) = tenant.filter(|t| !t.is_empty()) else {
            return (NO_TENANT.to_string(), false);
        };
        if self.tenants.contains(t) {
            return (t.to_string(), false);
        }
        if self.tenants.len() < MAX_TENANT_LABELS {
            self.tenants.insert(t.to_string());
            return (t.to_string(), false);
        }
        (OTHER_TENANT.to_string(), true)
    }

    /// One S3 request, at its end.
    pub fn s3_request(&self, r: &S3Request<'_>) {
        use std::cell::RefCell;
        thread_local! {
            static SERIES: RefCell<Vec<Resolved>> = const { RefCell::new(Vec::new()) };
        }
        let tenant = r.tenant.filter(|t| !t.is_empty());
        let backend = if r.backend.is_empty() {
            NO_BACKEND
        } else {
            r.backend
        };
        SERIES.with_borrow_mut(|cache| {
            let found = cache.iter().position(|e| {
                e.metrics == self.id
                    && e.status == r.status
                    && e.op == r.op
                    && e.backend == backend
                    && e.tenant.as_deref() == tenant
            });
            let i = match found {
                Some(i) => i,
                None => {
                    if cache.len() >= SERIES_PER_THREAD {
                        cache.pop();
                    }
                    cache.push(self.resolve(tenant, backend, r));
                    cache.len() - 1
                }
            };
            // the most recent first: the next request of this label set finds it at once
            cache[..=i].rotate_right(1);
            let e = &mut cache[0];
            e.requests.inc();
            e.duration.observe(r.elapsed.as_secs_f64());
            if e.overflow {
                self.tenant_overflow.inc();
            }
            if r.bytes_in > 0 {
                e.received
                    .get_or_insert_with(|| self.s3_received.get_or_create(&e.traffic).clone())
                    .inc_by(r.bytes_in);
            }
            if r.bytes_out > 0 {
                e.sent
                    .get_or_insert_with(|| self.s3_sent.get_or_create(&e.traffic).clone())
                    .inc_by(r.bytes_out);
            }
        });
    }

    /// The series of a label set, from the families (creating them).
    fn resolve(&self, tenant: Option<&str>, backend: &str, r: &S3Request<'_>) -> Resolved {
        // the overflow is counted by `s3_request`, for every request of the label set
        let (tenant_label, overflow) = self.label_of(tenant);
        let labels = S3RequestLabels {
            tenant: tenant_label,
            backend: backend.to_string(),
            op: r.op.to_string(),
            status: r.status,
        };
        let requests = self.s3_requests.get_or_create(&labels).clone();
        let duration = self
            .s3_duration
            .get_or_create(&BackendOpLabels {
                backend: labels.backend.clone(),
                op: labels.op.clone(),
            })
            .clone();
        Resolved {
            metrics: self.id,
            tenant: tenant.map(str::to_string),
            op: labels.op,
            status: r.status,
            overflow,
            requests,
            duration,
            traffic: TrafficLabels {
                tenant: labels.tenant,
                backend: labels.backend.clone(),
            },
            backend: labels.backend,
            received: None,
            sent: None,
        }
    }

    pub fn backend_error(&self, backend: &str, kind: &'static str) {
        self.backend_errors
            .get_or_create(&BackendErrorLabels {
                backend: backend.to_string(),
                kind,
            })
            .inc();
    }

    pub fn osis_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        self.osis_requests
            .get_or_create(&OsisLabels {
                route: route.to_string(),
                method: method.to_string(),
                status,
            })
            .inc();
        self.osis_duration
            .get_or_create(&RouteLabels {
                route: route.to_string(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Provisioning intents left (set before each scrape from the store).
    pub fn set_intents(&self, pending: i64, failed: i64) {
        self.intents
            .get_or_create(&StateLabels { state: "pending" })
            .set(pending);
        self.intents
            .get_or_create(&StateLabels { state: "failed" })
            .set(failed);
    }

    pub fn reconciler_run(&self, result: &'static str) {
        self.reconciler_runs
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    pub fn cache(&self, cache: &'static str, hit: bool) {
        let family = if hit {
            &self.cache_hits
        } else {
            &self.cache_misses
        };
        // the data path's caches: the counter kept resolved (issue 13: a family lookup hashes
        // the label under the family's lock, on every directory lookup)
        match CACHE_NAMES.iter().position(|c| *c == cache) {
            Some(i) => self.cache_series[i][usize::from(!hit)]
                .get_or_init(|| family.get_or_create(&CacheLabels { cache }).clone())
                .inc(),
            None => family.get_or_create(&CacheLabels { cache }).inc(),
        };
    }

    /// A reload attempt that changed the file: `ok` or `rejected`.
    pub fn reload(&self, result: &'static str, took: Duration) {
        self.reloads.get_or_create(&ResultLabels { result }).inc();
        self.last_reload.set(took.as_secs_f64());
    }

    pub fn change_feed_up(&self, up: bool) {
        self.feed_up.set(i64::from(up));
    }

    pub fn change_heard(&self) {
        self.changes_heard.inc();
    }

    pub fn reconciler_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    pub fn set_generation(&self, generation: u64) {
        self.generation
            .set(i64::try_from(generation).unwrap_or(i64::MAX));
    }

    /// Count the connections of `listener` at each scrape as its limit minus the free permits.
    pub fn watch_connections(&self, listener: &'static str, permits: Arc<Semaphore>, max: usize) {
        if let Ok(mut p) = self.pools.lock() {
            p.retain(|(l, _, _)| *l != listener);
            p.push((listener, permits, max));
        }
    }

    pub fn backend_health(&self, backend: &str, up: bool, took: Duration) {
        let l = BackendLabels {
            backend: backend.to_string(),
        };
        self.backend_up.get_or_create(&l).set(i64::from(up));
        self.backend_probe.get_or_create(&l).set(took.as_secs_f64());
    }

    /// Drop the health series of a backend no longer configured.
    pub fn forget_backend(&self, backend: &str) {
        let l = BackendLabels {
            backend: backend.to_string(),
        };
        self.backend_up.remove(&l);
        self.backend_probe.remove(&l);
    }

    /// The exposition, Prometheus text format 0.0.4 ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let dropped = crate::telemetry::dropped_lines();
        let seen = self.log_dropped.get();
        if dropped > seen {
            self.log_dropped.inc_by(dropped - seen);
        }
        if let Ok(pools) = self.pools.lock() {
            for (listener, permits, max) in pools.iter() {
                let open = max.saturating_sub(permits.available_permits());
                self.connections
                    .get_or_create(&ListenerLabels { listener })
                    .set(i64::try_from(open).unwrap_or(i64::MAX));
            }
        }
        let mut out = String::with_capacity(16 * 1024);
        if prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry).is_err() {
            // encoding into a String cannot fail; an empty answer is still valid text format
            out.clear();
        }
        out
    }
}

/// `Content-Type` of [`Metrics::render`].
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// What [`Metrics::s3_request`] records.
pub struct S3Request<'a> {
    pub tenant: Option<&'a str>,
    /// Empty when Osprey answered itself.
    pub backend: &'a str,
    pub op: Cow<'a, str>,
    pub status: u16,
    pub elapsed: Duration,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_label_is_bounded() {
        let m = Metrics::new();
        for i in 0..MAX_TENANT_LABELS {
            assert_eq!(m.tenant_label(Some(&format!("t{i}"))), format!("t{i}"));
        }
        assert_eq!(m.tenant_label(Some("one-too-many")), OTHER_TENANT);
        // known tenants keep their label after the bound is reached
        assert_eq!(m.tenant_label(Some("t7")), "t7");
        assert_eq!(m.tenant_label(None), NO_TENANT);
        assert!(m
            .render()
            .contains("osprey_metrics_tenant_overflow_total 1"));
    }

    /// The per-thread series cache (issue 13) counts every request into its own registry's
    /// series, also after its label set was evicted, and counts each overflowed request.
    #[test]
    fn resolved_series_count_every_request_of_their_registry() {
        let (a, b) = (Metrics::new(), Metrics::new());
        fn req(tenant: &str, status: u16, bytes_out: u64) -> S3Request<'_> {
            S3Request {
                tenant: Some(tenant).filter(|t| !t.is_empty()),
                backend: "ceph",
                op: "GetObject".into(),
                status,
                elapsed: Duration::from_millis(1),
                bytes_in: 0,
                bytes_out,
            }
        }
        for _ in 0..3 {
            a.s3_request(&req("acme", 200, 10));
        }
        a.s3_request(&req("acme", 404, 0));
        b.s3_request(&req("acme", 200, 0));
        for i in 0..SERIES_PER_THREAD + 2 {
            a.s3_request(&req(&format!("t{i}"), 200, 0));
        }
        a.s3_request(&req("acme", 200, 10));
        let (ta, tb) = (a.render(), b.render());
        let series =
            r#"osprey_s3_requests_total{tenant="acme",backend="ceph",op="GetObject",status="#;
        assert!(ta.contains(&format!("{series}\"200\"}} 4")), "{ta}");
        assert!(ta.contains(&format!("{series}\"404\"}} 1")), "{ta}");
        assert!(ta.contains("osprey_s3_sent_bytes_total{tenant=\"acme\",backend=\"ceph\"} 40"));
        assert!(tb.contains(&format!("{series}\"200\"}} 1")), "{tb}");
        // no bytes sent: no series, as through the families
        assert!(!tb.contains("osprey_s3_sent_bytes_total{"), "{tb}");
        assert!(
            ta.contains(
                "osprey_s3_request_duration_seconds_count{backend=\"ceph\",op=\"GetObject\"} 23"
            ),
            "{ta}"
        );

        let m = Metrics::new();
        for i in 0..MAX_TENANT_LABELS {
            m.tenant_label(Some(&format!("t{i}")));
        }
        for _ in 0..3 {
            m.s3_request(&req("late", 200, 0));
        }
        let t = m.render();
        assert!(t.contains("osprey_metrics_tenant_overflow_total 3"), "{t}");
        assert!(t.contains(r#"osprey_s3_requests_total{tenant="_other",backend="ceph",op="GetObject",status="200"} 3"#));
    }

    /// Cache lookups count into their `cache` label, resolved or not.
    #[test]
    fn cache_lookups_are_counted_by_cache() {
        let m = Metrics::new();
        m.cache("keys", true);
        m.cache("keys", true);
        m.cache("keys", false);
        m.cache("buckets", true);
        let t = m.render();
        assert!(
            t.contains(r#"osprey_cache_hits_total{cache="keys"} 2"#),
            "{t}"
        );
        assert!(
            t.contains(r#"osprey_cache_misses_total{cache="keys"} 1"#),
            "{t}"
        );
        assert!(
            t.contains(r#"osprey_cache_hits_total{cache="buckets"} 1"#),
            "{t}"
        );
        assert!(
            !t.contains(r#"osprey_cache_misses_total{cache="buckets"}"#),
            "{t}"
        );
        assert!(!t.contains(r#"cache="tenants""#), "{t}");
    }

    #[test]
    fn request_series_carry_their_labels() {
        let m = Metrics::new();
        m.s3_request(&S3Request {
            tenant: Some("acme"),
            backend: "ceph",
            op: "GetObject".into(),
            status: 200,
            elapsed: Duration::from_millis(3),
            bytes_in: 0,
            bytes_out: 4096,
        });
        m.s3_request(&S3Request {
            tenant: None,
            backend: "",
            op: "ListBuckets".into(),
            status: 403,
            elapsed: Duration::from_micros(200),
            bytes_in: 0,
            bytes_out: 0,
        });
        let text = m.render();
        assert!(text.contains(
            "osprey_s3_requests_total{tenant=\"acme\",backend=\"ceph\",op=\"GetObject\",status=\"200\"} 1"
        ));
        assert!(text.contains(
            "osprey_s3_requests_total{tenant=\"_none\",backend=\"_osprey\",op=\"ListBuckets\",status=\"403\"} 1"
        ));
        assert!(text.contains("osprey_s3_sent_bytes_total{tenant=\"acme\",backend=\"ceph\"} 4096"));
        assert!(text.contains(
            "osprey_s3_request_duration_seconds_bucket{le=\"0.005\",backend=\"ceph\",op=\"GetObject\"} 1"
        ) || text.contains(
            "osprey_s3_request_duration_seconds_bucket{backend=\"ceph\",op=\"GetObject\",le=\"0.005\"} 1"
        ));
        assert!(text.contains("# TYPE osprey_s3_request_duration_seconds histogram"));
        assert!(text.contains("osprey_build_info{"));
    }

    #[test]
    fn connections_are_read_at_scrape() {
        let m = Metrics::new();
        let permits = Arc::new(Semaphore::new(10));
        m.watch_connections("s3", permits.clone(), 10);
        let _held = permits.clone().try_acquire_many_owned(3).unwrap();
        assert!(m
            .render()
            .contains("osprey_connections_open{listener=\"s3\"} 3"));
    }
}
