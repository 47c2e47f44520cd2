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
    /// `Retry-After` seconds (429 answers).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
    /// 429: this client address is backing off after repeated failed logins.
    pub fn too_many_attempts(wait: std::time::Duration) -> Self {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "E_TOO_MANY_ATTEMPTS",
            format!("too many failed logins from this address; retry in {secs} s"),
        );
        e.retry_after = Some(secs.max(1));
        e
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
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"osprey\""),
            );
        }
        r
    }
}
