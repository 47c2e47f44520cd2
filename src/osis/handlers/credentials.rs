//! `/s3credentials` and a user's credentials.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;

use crate::osis::error::ApiError;
use crate::osis::extract::*;
use crate::osis::filter::{self, Entity};
use crate::osis::handlers::*;
use crate::osis::model::*;
use crate::osis::{ApiResult, OsisState, St};

pub(crate) async fn create_credential(
    State(st): St,
    p: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult<(StatusCode, Json<CredentialOut>)> {
    let (t, u) = path(p)?;
    let cred = st
        .store
        .create_credential(&t, &u)
        .await
        .map_err(|e| match e {
            // unknown user on create is a 400 (osis-api.md §7.3)
            crate::store::StoreError::NotFound(m) => ApiError::bad_request(m),
            other => other.into(),
        })?;
    st.hooks.credential_changed(&cred.access_key).await;
    tracing::info!(tenant_id = %t, user_id = %u, access_key = %cred.access_key, "credential created");
    Ok((StatusCode::CREATED, Json(cred.into())))
}

pub(crate) async fn list_credentials(
    State(st): St,
    p: Result<Path<(String, String)>, PathRejection>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult<Json<PageOf<CredentialOut>>> {
    let (t, u) = path(p)?;
    let q = query(q)?;
    let paging = filter::paging(&q)?;
    user_or_404(&st, &t, &u).await?;
    Ok(Json(page_of(
        st.store
            .credentials(
                &[
                    crate::store::Term::TenantId(t),
                    crate::store::Term::UserId(u),
                ],
                paging,
            )
            .await?,
        paging,
    )))
}

pub(crate) async fn query_credentials(
    State(st): St,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult<Json<PageOf<CredentialOut>>> {
    let q = query(q)?;
    let paging = filter::paging(&q)?;
    let terms = filter::parse(param(&q, "filter").unwrap_or(""), Entity::Credential)?;
    Ok(Json(page_of(
        st.store.credentials(&terms, paging).await?,
        paging,
    )))
}

/// The key by access key alone; `tenant_id`/`user_id` query parameters, when given, must match
/// its owner (osis-api.md §7.3: "use the parameters only as hints or checks").
pub(crate) async fn credential_checked(
    st: &OsisState,
    ak: &str,
    q: &[(String, String)],
) -> ApiResult<crate::store::Credential> {
    let c = st
        .store
        .credential(ak)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("access key {ak} does not exist")))?;
    let t = param(q, "tenant_id").filter(|v| !v.is_empty());
    let u = param(q, "user_id").filter(|v| !v.is_empty());
    if t.is_some_and(|t| t != c.tenant_id) || u.is_some_and(|u| u != c.user_id) {
        return Err(ApiError::not_found(format!(
            "access key {ak} does not belong to the given tenant_id/user_id"
        )));
    }
    Ok(c)
}

pub(crate) async fn get_credential(
    State(st): St,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult<Json<CredentialOut>> {
    let ak = path(p)?;
    let q = query(q)?;
    Ok(Json(credential_checked(&st, &ak, &q).await?.into()))
}

pub(crate) async fn update_credential(
    State(st): St,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<CredentialOut>> {
    let ak = path(p)?;
    let q = query(q)?;
    let b: ActiveIn = json_body(body)?;
    let active = required("active", b.active)?;
    credential_checked(&st, &ak, &q).await?;
    let c = st.store.set_credential_active(&ak, active).await?;
    st.hooks.credential_changed(&ak).await;
    tracing::info!(access_key = %ak, active, "credential status changed");
    Ok(Json(c.into()))
}

pub(crate) async fn delete_credential(
    State(st): St,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let ak = path(p)?;
    let q = query(q)?;
    match credential_checked(&st, &ak, &q).await {
        Ok(_) => {
            st.store.delete_credential(&ak).await?;
            st.hooks.credential_changed(&ak).await;
            tracing::info!(access_key = %ak, "credential deleted");
        }
        // idempotent, like deleteUser: Ceph RI answers 204 for an unknown key (§7.3)
        Err(e) if e.status == StatusCode::NOT_FOUND && param(&q, "tenant_id").is_none() => {}
        Err(e) => return Err(e),
    }
    Ok(StatusCode::NO_CONTENT)
}
