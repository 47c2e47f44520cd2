//! `/api/info`, the logo and console pages, `s3capabilities`, usage, bucket lists and the
//! stable ids OSE asks for.

use std::collections::BTreeMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::osis::error::ApiError;
use crate::osis::extract::*;
use crate::osis::filter::{self};
use crate::osis::handlers::*;
use crate::osis::model::*;
use crate::osis::{ApiResult, St};

pub(crate) async fn info(
    State(st): St,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Json<Information> {
    let base = base_url(&st, &headers, &uri);
    let mut services = BTreeMap::new();
    services.insert("s3", st.public_s3_endpoint.clone());
    Json(Information {
        platform_name: "osprey",
        platform_version: format!(
            "{} ({}; git {})",
            crate::version::VERSION,
            crate::version::BUILD_DATE,
            crate::version::GIT_COMMIT
        ),
        api_version: "1.0.0",
        logo_uri: format!("{base}/logo.svg"),
        status: st.hooks.status().await,
        auth_modes: st.auth.modes(),
        services,
        regions: st.regions.clone(),
        storage_classes: vec!["STANDARD"],
        // every optional API is implemented (osis-api.md §6.1)
        not_implemented: vec![],
    })
}

const LOGO_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128" viewBox="0 0 128 128"><rect width="128" height="128" rx="20" fill="#0b3d5c"/><path d="M16 70 Q40 40 64 62 Q88 40 112 70 Q88 58 64 76 Q40 58 16 70Z" fill="#f2f2f2"/><circle cx="64" cy="58" r="6" fill="#f2b705"/><text x="64" y="110" font-family="sans-serif" font-size="20" text-anchor="middle" fill="#f2f2f2">osprey</text></svg>"##;

pub(crate) async fn logo() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "image/svg+xml")], LOGO_SVG)
}

pub(crate) async fn console_page() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        format!(
            "<!doctype html><html><head><title>Osprey</title></head><body><h1>Osprey</h1>\
             <p>{}</p><p>Tenants, users and keys are managed through VMware Cloud Director Object \
             Storage Extension; routing is configured in Osprey's TOML file (see the configuration guide).</p></body></html>",
            crate::version::signature()
        ),
    )
}

/// The capabilities document (`osis.capabilities_file` or the built-in one) with every
/// operation a backend's profile cannot serve excluded whole (issue 11: OSE must never offer
/// what will fail). `?tenant_id=` answers for that tenant's backends only.
pub(crate) async fn s3capabilities(
    State(st): St,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let q = query(q)?;
    let tenant = match param(&q, "tenant_id").filter(|v| !v.is_empty()) {
        Some(t) => Some(tenant_or_404(&st, t).await?),
        None => None,
    };
    let mut doc = st.capabilities.clone();
    let unsupported = st.hooks.unsupported_s3_operations(tenant.as_ref()).await;
    if let Some(ex) = doc.get_mut("exclusions").and_then(|e| e.as_object_mut()) {
        for (op, _backends) in unsupported {
            ex.insert(op, serde_json::json!({"all": true}));
        }
    }
    Ok(Json(doc))
}

pub(crate) async fn usage(
    State(st): St,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult<Json<Usage>> {
    let q = query(q)?;
    let t = param(&q, "tenant_id").filter(|v| !v.is_empty());
    let u = param(&q, "user_id").filter(|v| !v.is_empty());
    if u.is_some() && t.is_none() {
        return Err(ApiError::bad_request("user_id requires tenant_id"));
    }
    if let Some(t) = t {
        tenant_or_404(&st, t).await?;
        if let Some(u) = u {
            user_or_404(&st, t, u).await?;
        }
    }
    Ok(Json(st.hooks.usage(t, u).await?))
}

pub(crate) async fn bucket_list(
    State(st): St,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult<Json<PageOf<BucketMeta>>> {
    let q = query(q)?;
    let paging = filter::paging(&q)?;
    let t = param(&q, "tenant_id")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad_request("query parameter tenant_id is required"))?;
    tenant_or_404(&st, t).await?;
    let all = st.hooks.bucket_list(t).await?;
    let total = all.len() as u64;
    let items = all
        .into_iter()
        .skip(paging.offset.min(usize::MAX as u64) as usize)
        .take(paging.limit.min(usize::MAX as u64) as usize)
        .collect();
    Ok(Json(PageOf {
        items,
        page_info: PageInfo {
            total,
            offset: paging.offset,
            limit: paging.limit,
        },
    }))
}

pub(crate) async fn console(
    State(st): St,
    headers: HeaderMap,
    uri: axum::http::Uri,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult<Response> {
    let q = query(q)?;
    if let Some(t) = param(&q, "tenant_id").filter(|v| !v.is_empty()) {
        tenant_or_404(&st, t).await?;
    }
    let url = st
        .console_url
        .clone()
        .unwrap_or_else(|| format!("{}/console", base_url(&st, &headers, &uri)));
    // raw text under application/json, as both Java samples answer (osis-api.md §7.4)
    Ok(([(header::CONTENT_TYPE, "application/json")], url).into_response())
}

pub(crate) fn random_canonical() -> String {
    crate::store::ids::canonical_id()
}

pub(crate) fn random_uuid() -> String {
    let h = crate::store::ids::canonical_id();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

pub(crate) async fn bucket_logging_id(State(st): St) -> ApiResult<Json<String>> {
    // The grantee id for server-access-log delivery: generated once, stable forever.
    Ok(Json(
        st.store
            .stable_value("bucket_logging_id", random_canonical)
            .await?,
    ))
}

pub(crate) async fn anonymous_user(State(st): St) -> ApiResult<Json<AnonymousUser>> {
    Ok(Json(AnonymousUser {
        id: st
            .store
            .stable_value("anonymous_user_id", random_uuid)
            .await?,
        name: "AnonymousUser",
    }))
}
