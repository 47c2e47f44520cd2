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

pub(crate) async fn admin_metrics(State(st): St) -> ApiResult<Response> {
    let body = reloader(&st)?.metrics();
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response())
}
