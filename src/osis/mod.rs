//! OSIS control plane: the REST API VMware OSE calls (osis-api.md). axum on hyper.
//!
//! Every endpoint of the OpenAPI document, required and optional, is implemented: `not_implemented`
//! in `/api/info` is empty. Handlers validate input, write the identity store, then call the
//! [`hooks::ControlHooks`] (backend provisioning, cache invalidation).

pub mod auth;
pub mod error;
mod extract;
pub mod filter;
mod handlers;
pub mod hooks;
pub mod model;
pub mod probes;
pub mod throttle;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use tracing::Instrument;

use crate::store::Store;
use error::ApiError;
use hooks::ControlHooks;

/// Largest OSIS request body. OSIS bodies are a few hundred bytes; this stops a client from making
/// Osprey buffer megabytes per request (axum's default is 2 MiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest id, name or e-mail accepted in a body. Ids end up in backend user names and log lines.
pub const MAX_FIELD_BYTES: usize = 256;
/// Most Cloud Director org ids mapped onto one tenant.
pub const MAX_CD_TENANT_IDS: usize = 256;

/// Built-in S3 capabilities document (`config/s3capabilities.json`), used unless
/// `osis.capabilities_file` names another.
pub const DEFAULT_CAPABILITIES: &str = include_str!("../../config/s3capabilities.json");

/// Everything the handlers share.
pub struct OsisState {
    pub store: Arc<dyn Store>,
    pub hooks: Arc<dyn ControlHooks>,
    pub auth: auth::Authenticator,
    /// The `s3capabilities` document, validated at start-up.
    pub capabilities: serde_json::Value,
    pub public_s3_endpoint: String,
    pub regions: Vec<String>,
    pub console_url: Option<String>,
    pub tls: bool,
    /// Configuration hot reload (absent in unit setups without a config file).
    pub reloader: Option<Arc<dyn hooks::ConfigControl>>,
}

type St = State<Arc<OsisState>>;
type ApiResult<T> = Result<T, ApiError>;

use handlers::*;

/// A capabilities document Osprey refuses (at start).
#[derive(Debug, thiserror::Error)]
pub enum CapabilitiesError {
    #[error("{origin}: not valid JSON: {source}")]
    NotJson {
        origin: String,
        source: serde_json::Error,
    },
    #[error(
        "{0}: `exclusions` must list at least one operation (OSE's verifier rejects an empty map)"
    )]
    EmptyExclusions(String),
    #[error("{0}: missing object `exclusions`")]
    NoExclusions(String),
}

/// Parses and checks the capabilities document: an object `exclusions` with at least one entry
/// (osis-api.md §6.2: the verifier requires a non-empty map).
pub fn load_capabilities(text: &str, origin: &str) -> Result<serde_json::Value, CapabilitiesError> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|source| CapabilitiesError::NotJson {
            origin: origin.to_string(),
            source,
        })?;
    match v.get("exclusions").and_then(|e| e.as_object()) {
        Some(m) if !m.is_empty() => Ok(v),
        Some(_) => Err(CapabilitiesError::EmptyExclusions(origin.to_string())),
        None => Err(CapabilitiesError::NoExclusions(origin.to_string())),
    }
}

pub fn router(state: Arc<OsisState>) -> Router {
    let v1 = Router::new()
        .route("/s3capabilities", get(s3capabilities))
        .route("/tenants", post(create_tenant).get(list_tenants))
        .route("/tenants/query", get(query_tenants))
        .route(
            "/tenants/{tenant_id}",
            get(get_tenant).patch(update_tenant).delete(delete_tenant),
        )
        .route(
            "/tenants/{tenant_id}/users",
            post(create_user).get(list_users),
        )
        .route(
            "/tenants/{tenant_id}/users/{user_id}",
            get(get_user).patch(update_user).delete(delete_user),
        )
        .route(
            "/tenants/{tenant_id}/users/{user_id}/s3credentials",
            post(create_credential).get(list_credentials),
        )
        .route("/users/query", get(query_users))
        .route("/users/{canonical_user_id}", get(get_user_canonical))
        .route("/s3credentials/query", get(query_credentials))
        .route(
            "/s3credentials/{access_key}",
            get(get_credential)
                .patch(update_credential)
                .delete(delete_credential),
        )
        .route("/usage", get(usage))
        .route("/bucket-list", get(bucket_list))
        .route("/console", get(console))
        .route("/bucket-logging-id", get(bucket_logging_id))
        .route("/anonymous-user", get(anonymous_user))
        // Osprey administration (not OSIS): hot reload and its state, metrics
        .route("/admin/reload", post(admin_reload))
        .route("/admin/config", get(admin_config))
        .route("/admin/metrics", get(admin_metrics))
        .route("/admin/status", get(admin_status))
        .route("/auth/revoke", post(auth::revoke))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_admin,
        ))
        // token endpoints authenticate by their bodies
        .route("/auth/login", post(auth::login))
        .route("/auth/token", post(auth::refresh))
        .route_layer(middleware::from_fn(tag_route));

    Router::new()
        .route("/api/info", get(info))
        .route("/logo.svg", get(logo))
        .route("/console", get(console_page))
        .route_layer(middleware::from_fn(tag_route))
        .nest("/api/v1", v1)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::throttle_logins,
        ))
        .layer(middleware::from_fn(signature))
        .with_state(state)
}

/// The route template a request matched (`/api/v1/tenants/{tenant_id}`), handed from the
/// routed layer to [`signature`] for the bounded `route` label of `osprey_osis_requests_total`.
#[derive(Clone)]
struct MatchedRoute(String);

async fn tag_route(
    path: axum::extract::MatchedPath,
    req: Request<axum::body::Body>,
    next: Next,
) -> Response {
    let route = path.as_str().to_string();
    let mut resp = next.run(req).await;
    resp.extensions_mut().insert(MatchedRoute(route));
    resp
}

/// Outermost layer: request id, release signature, one log line per request.
async fn signature(req: Request<axum::body::Body>, next: Next) -> Response {
    let id = crate::telemetry::new_request_id();
    let span = tracing::info_span!("osis", request_id = %id);
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = std::time::Instant::now();
    let mut resp = next.run(req).instrument(span.clone()).await;
    let h = resp.headers_mut();
    h.insert(
        header::SERVER,
        HeaderValue::from_static(crate::version::signature()),
    );
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert("x-request-id", v);
    }
    let route = resp
        .extensions()
        .get::<MatchedRoute>()
        .map(|r| r.0.as_str())
        .unwrap_or("unmatched");
    crate::metrics::global().osis_request(
        route,
        method.as_str(),
        resp.status().as_u16(),
        started.elapsed(),
    );
    span.in_scope(|| {
        tracing::info!(
            target: crate::telemetry::ACCESS_LOG_TARGET,
            %method,
            path,
            status = resp.status().as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "osis request"
        )
    });
    resp
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such OSIS endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "E_METHOD_NOT_ALLOWED",
        "method not allowed on this OSIS endpoint",
    )
}
