//! What monitoring and load balancers read (issue 14): the metrics listener
//! (`server.metrics_listen`: `GET /metrics`, `/livez`, `/readyz`) and the periodic probe of every
//! backend's S3 endpoint behind `osprey_backend_up`, `/readyz` and `GET /api/v1/admin/status`.
//!
//! The metrics listener has no authentication (Prometheus and load balancers expect none): bind
//! it to a private address. Its answers carry no tenant data beyond the bounded `tenant` label.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use crate::osis::hooks::ConfigControl;
use crate::proxy::SharedSnapshot;
use crate::store::Store;

/// Time between two probes of each backend: 10 s (a down backend shows in `osprey_backend_up`
/// within one Prometheus scrape interval of the common 15 s).
pub const PROBE_INTERVAL: Duration = Duration::from_secs(10);

/// Longest wait for one probe: 3 s. A backend slower than that to answer `GET /` is reported
/// down with "timed out"; stops a black-holed backend from holding probes of the others (they
/// run concurrently anyway).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Clone)]
struct ObserveState {
    store: Arc<dyn Store>,
    config: Option<Arc<dyn ConfigControl>>,
}

/// The metrics listener's routes.
pub fn router(store: Arc<dyn Store>, config: Option<Arc<dyn ConfigControl>>) -> axum::Router {
    axum::Router::new()
        .route("/metrics", get(metrics))
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                "not found: this listener serves /metrics, /livez and /readyz\n",
            )
        })
        .with_state(ObserveState { store, config })
}

async fn metrics(State(st): State<ObserveState>) -> Response {
    let body = crate::osis::probes::metrics_text(st.store.as_ref()).await;
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], body).into_response()
}

/// Live: the process answers HTTP (its runtime is not wedged). Nothing else is checked, so a
/// supervisor restarts only a process that is really stuck.
async fn livez() -> Response {
    ([(header::SERVER, crate::version::signature())], "ok\n").into_response()
}

/// Ready: `osis::probes::readiness` (store, configuration file, backend health known).
async fn readyz(State(st): State<ObserveState>) -> Response {
    let r = crate::osis::probes::readiness(st.store.as_ref(), st.config.as_deref()).await;
    let status = if r.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(header::SERVER, crate::version::signature())],
        axum::Json(r),
    )
        .into_response()
}

/// The metrics listener as a pingora background service (stops with the process).
pub struct MetricsService {
    pub listener: Mutex<Option<std::net::TcpListener>>,
    pub router: axum::Router,
    pub grace: Duration,
}

#[async_trait]
impl BackgroundService for MetricsService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let Some(listener) = self.listener.lock().ok().and_then(|mut l| l.take()) else {
            return;
        };
        let handle = axum_server::Handle::new();
        let h2 = handle.clone();
        let grace = self.grace;
        tokio::spawn(async move {
            let _ = shutdown.changed().await;
            h2.graceful_shutdown(Some(grace));
        });
        let app = self.router.clone().into_make_service();
        if let Err(e) = axum_server::from_tcp(listener)
            .handle(handle)
            .serve(app)
            .await
        {
            tracing::error!(error = %e, "metrics listener failed; metrics and health probes are unavailable");
        }
    }
}

/// The backend probe loop as a pingora background service.
pub struct ProbeService {
    pub snapshot: SharedSnapshot,
}

#[async_trait]
impl BackgroundService for ProbeService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let client = match reqwest::Client::builder()
            .timeout(PROBE_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the backend health probe client; backend health stays unknown");
                return;
            }
        };
        loop {
            probe_all(&self.snapshot, &client).await;
            tokio::select! {
                _ = tokio::time::sleep(PROBE_INTERVAL) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// Probe every backend of the serving configuration once, concurrently.
pub async fn probe_all(snapshot: &SharedSnapshot, client: &reqwest::Client) {
    let snap = snapshot.load_full();
    let board = crate::metrics::health::board();
    let names: Vec<&str> = snap.backends.keys().map(String::as_str).collect();
    board.retain(&names);
    let probes = snap.backends.values().map(|b| async move {
        let dp = b.data_path();
        let url = format!("{}://{}/", if dp.tls { "https" } else { "http" }, dp.host);
        let started = Instant::now();
        let outcome = probe(client, &url).await;
        if let Err(e) = &outcome {
            tracing::warn!(backend = b.name(), url, "backend health probe failed: {e}");
        }
        board.record(b.name(), outcome, started.elapsed());
    });
    futures::future::join_all(probes).await;
}

/// Up = the endpoint answered HTTP at all: an anonymous `GET /` is refused by most S3 servers
/// (403), which still proves the server is there and speaking S3's transport.
async fn probe(client: &reqwest::Client, url: &str) -> Result<(), String> {
    match client.get(url).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.is_timeout() => Err(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())),
        Err(e) if e.is_connect() => Err(format!("cannot connect: {}", root_cause(&e))),
        Err(e) => Err(root_cause(&e)),
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
