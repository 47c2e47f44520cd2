//! Input helpers of the OSIS handlers: bodies, paths, queries and field checks, each refused
//! with a precise `E_BAD_REQUEST` message.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query};
use axum::http::{header, HeaderMap, StatusCode};

use crate::osis::error::ApiError;

use crate::osis::model::*;
use crate::osis::{ApiResult, OsisState};
use crate::osis::{MAX_BODY_BYTES, MAX_FIELD_BYTES};
use serde::de::DeserializeOwned;

pub(crate) fn json_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> ApiResult<T> {
    let body = body.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(_) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "E_BAD_REQUEST",
            format!("request body larger than {MAX_BODY_BYTES} bytes or unreadable"),
        ),
        other => ApiError::bad_request(other.body_text()),
    })?;
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ApiError::bad_request(
            "request body is required: a JSON object",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(&body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() || path == "." || path.is_empty() || path == "?" {
            ApiError::bad_request(format!("malformed JSON body: {inner}"))
        } else {
            ApiError::bad_request(format!("field `{path}`: {inner}"))
        }
    })
}

pub(crate) fn path<T>(p: Result<Path<T>, PathRejection>) -> ApiResult<T> {
    p.map(|Path(v)| v)
        .map_err(|e| ApiError::bad_request(format!("bad path parameter: {}", e.body_text())))
}

pub(crate) fn query(
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult<Vec<(String, String)>> {
    q.map(|Query(v)| v)
        .map_err(|e| ApiError::bad_request(format!("bad query string: {}", e.body_text())))
}

pub(crate) fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

pub(crate) fn bool_param(q: &[(String, String)], name: &str, default: bool) -> ApiResult<bool> {
    match param(q, name) {
        None => Ok(default),
        Some("true") | Some("True") | Some("1") => Ok(true),
        Some("false") | Some("False") | Some("0") => Ok(false),
        Some(v) => Err(ApiError::bad_request(format!(
            "{name} must be true or false, got `{v}`"
        ))),
    }
}

/// A non-empty id or name without control characters, at most [`MAX_FIELD_BYTES`].
pub(crate) fn check_text(field: &str, v: &str) -> ApiResult<()> {
    if v.trim().is_empty() {
        return Err(ApiError::bad_request(format!(
            "field `{field}` must not be empty"
        )));
    }
    if v.len() > MAX_FIELD_BYTES {
        return Err(ApiError::bad_request(format!(
            "field `{field}` is {} bytes; at most {MAX_FIELD_BYTES} are accepted",
            v.len()
        )));
    }
    if v.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "field `{field}` contains control characters"
        )));
    }
    Ok(())
}

pub(crate) fn required<T>(field: &str, v: Option<T>) -> ApiResult<T> {
    v.ok_or_else(|| ApiError::bad_request(format!("field `{field}` is required")))
}

pub(crate) fn page_of<T, U: From<T>>(
    p: crate::store::Page<T>,
    paging: crate::store::Paging,
) -> PageOf<U> {
    PageOf {
        items: p.items.into_iter().map(U::from).collect(),
        page_info: PageInfo {
            total: p.total,
            offset: paging.offset,
            limit: paging.limit,
        },
    }
}

pub(crate) fn base_url(st: &OsisState, headers: &HeaderMap, uri: &axum::http::Uri) -> String {
    // HTTP/2 carries the host in `:authority` (the URI), HTTP/1.1 in `Host`
    let host = uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| headers.get(header::HOST).and_then(|h| h.to_str().ok()))
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    format!("{}://{host}", if st.tls { "https" } else { "http" })
}
