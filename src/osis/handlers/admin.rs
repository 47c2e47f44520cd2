//! Osprey's administration endpoints (not OSIS): hot reload, its state, its metrics.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::osis::error::ApiError;
use crate::osis::hooks::ConfigControl;
use crate::osis::{ApiResult, OsisState, St};

pub(crate) fn reloader(st: &OsisState) -> ApiResult<&Arc<dyn ConfigControl>> {
    st.reloader
        .as_ref()
        .ok_or_else(|| ApiError::not_found("hot reload is not available in this process"))
}

/// `POST /api/v1/admin/reload`: reload the configuration file now (admin auth).
pub(crate) async fn admin_reload(State(st): St) -> ApiResult<Json<serde_json::Value>> {
    let r = reloader(&st)?;
    match r.reload("admin endpoint").await {
        Ok(generation) => Ok(Json(
            serde_json::json!({"generation": generation, "status": r.status_json()}),
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "E_CONFIG_REJECTED",
            e.to_string(),
        )),
    }
}

pub(crate) async fn admin_config(State(st): St) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(reloader(&st)?.status_json()))
}

/// `GET /api/v1/admin/metrics`: the same exposition as `GET /metrics` on the metrics listener,
/// behind the admin pair (for deployments that expose only the OSIS listener).
pub(crate) async fn admin_metrics(State(st): St) -> ApiResult<Response> {
    let body = crate::osis::probes::metrics_text(st.store.as_ref()).await;
    Ok(([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], body).into_response())
}

/// `GET /api/v1/admin/status`: release, readiness (and why not), configuration, the store's
/// counts and every backend's last health probe (admin auth).
pub(crate) async fn admin_status(State(st): St) -> ApiResult<Json<serde_json::Value>> {
    let ready = crate::osis::probes::readiness(st.store.as_ref(), st.reloader.as_deref()).await;
    let store = match st.store.stats().await {
        Ok(s) => serde_json::json!({"reachable": true, "counts": s}),
        Err(e) => serde_json::json!({"reachable": false, "error": e.to_string()}),
    };
    Ok(Json(serde_json::json!({
        "release": crate::version::signature(),
        "ready": ready.ready,
        "reasons": ready.reasons,
        "config": st.reloader.as_ref().map(|r| r.status_json()),
        "store": store,
        "backends": crate::metrics::health::board().snapshot(),
    })))
}
