//! OSIS errors: one type that knows its status, OSIS code and message (osis-api.md §3).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::model::OsisError;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn bad_request(m: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "E_BAD_REQUEST", m)
    }
    pub fn not_found(m: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "E_NOT_FOUND", m)
    }
    pub fn conflict(m: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "E_CONFLICT", m)
    }
    pub fn unauthorized(m: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "E_UNAUTHORIZED", m)
    }
    pub fn internal(m: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "E_INTERNAL", m)
    }
    /// A storage backend refused or failed a provisioning call; the message names the backend.
    pub fn backend(m: impl Into<String>, retryable: bool) -> Self {
        if retryable {
            Self::new(StatusCode::SERVICE_UNAVAILABLE, "E_BACKEND_UNAVAILABLE", m)
        } else {
            Self::new(StatusCode::BAD_GATEWAY, "E_BACKEND_REFUSED", m)
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => ApiError::not_found(m),
            StoreError::Conflict(m) => ApiError::conflict(m),
            StoreError::Invalid(m) => ApiError::bad_request(m),
            StoreError::Backend(m) => {
                tracing::error!(error = %m, "identity store failure");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "E_STORE_UNAVAILABLE",
                    format!("identity store unavailable: {m}"),
                )
            }
            e @ StoreError::Crypto(_) => {
                tracing::error!(error = %e, "secret decryption failed");
                ApiError::internal(e.to_string())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            axum::Json(OsisError {
                code: self.code,
                message: self.message,
            }),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"osprey\""),
            );
        }
        r
    }
}
