//! `/tenants`: create, list, query, get, update, delete.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;

use crate::osis::error::ApiError;
use crate::osis::extract::*;
use crate::osis::filter::{self, Entity};
use crate::osis::model::*;
use crate::osis::MAX_CD_TENANT_IDS;
use crate::osis::{ApiResult, OsisState, St};
use crate::store::{NewTenant, TenantUpdate};

pub(crate) fn check_cd_ids(ids: &[String]) -> ApiResult<()> {
    if ids.len() > MAX_CD_TENANT_IDS {
        return Err(ApiError::bad_request(format!(
            "cd_tenant_ids has {} entries; at most {MAX_CD_TENANT_IDS} are accepted",
            ids.len()
        )));
    }
    for (i, id) in ids.iter().enumerate() {
        check_text(&format!("cd_tenant_ids[{i}]"), id)?;
    }
    Ok(())
}

pub(crate) async fn create_tenant(
    State(st): St,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<TenantOut>)> {
    let t: TenantIn = json_body(body)?;
    let name = required("name", t.name)?;
    check_text("name", &name)?;
    let cd = t.cd_tenant_ids.unwrap_or_default();
    check_cd_ids(&cd)?;
    let tenant = st
        .store
        .create_tenant(NewTenant {
            name,
            active: t.active.unwrap_or(true),
            cd_tenant_ids: cd,
        })
        .await?;
    if let Err(e) = st.hooks.tenant_created(&tenant).await {
        // leave nothing half-made: the tenant exists only if its backends accepted it
        let _ = st.hooks.tenant_deleting(&tenant, false).await;
        st.store.delete_tenant(&tenant.tenant_id).await?;
        st.hooks.after_delete(&tenant.tenant_id, None).await;
        return Err(e.into());
    }
    tracing::info!(tenant_id = %tenant.tenant_id, "tenant created");
    Ok((StatusCode::CREATED, Json(tenant.into())))
}

pub(crate) async fn list_tenants(
    State(st): St,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult<Json<PageOf<TenantOut>>> {
    let q = query(q)?;
    let paging = filter::paging(&q)?;
    Ok(Json(page_of(st.store.tenants(&[], paging).await?, paging)))
}

pub(crate) async fn query_tenants(
    State(st): St,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult<Json<PageOf<TenantOut>>> {
    let q = query(q)?;
    let paging = filter::paging(&q)?;
    let terms = filter::parse(param(&q, "filter").unwrap_or(""), Entity::Tenant)?;
    Ok(Json(page_of(
        st.store.tenants(&terms, paging).await?,
        paging,
    )))
}

pub(crate) async fn tenant_or_404(st: &OsisState, id: &str) -> ApiResult<crate::store::Tenant> {
    st.store
        .tenant(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("tenant {id} does not exist")))
}

pub(crate) async fn get_tenant(
    State(st): St,
    p: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<TenantOut>> {
    let id = path(p)?;
    Ok(Json(tenant_or_404(&st, &id).await?.into()))
}

pub(crate) async fn update_tenant(
    State(st): St,
    p: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<TenantOut>> {
    let id = path(p)?;
    let t: TenantIn = json_body(body)?;
    if let Some(body_id) = &t.tenant_id {
        if body_id != &id {
            return Err(ApiError::bad_request(format!(
                "body tenant_id {body_id} does not match the path's tenant {id}"
            )));
        }
    }
    if let Some(cd) = &t.cd_tenant_ids {
        check_cd_ids(cd)?;
    }
    let before = tenant_or_404(&st, &id).await?;
    // The client documents that only cd_tenant_ids takes effect, the Java stub only `active`:
    // apply both (osis-api.md §7.1). `name` stays as created.
    let after = st
        .store
        .update_tenant(
            &id,
            TenantUpdate {
                name: None,
                active: t.active,
                cd_tenant_ids: t.cd_tenant_ids,
            },
        )
        .await?;
    if let Err(e) = st.hooks.tenant_changed(&after).await {
        st.store
            .update_tenant(
                &id,
                TenantUpdate {
                    name: None,
                    active: Some(before.active),
                    cd_tenant_ids: Some(before.cd_tenant_ids.clone()),
                },
            )
            .await?;
        return Err(e.into());
    }
    Ok(Json(after.into()))
}

pub(crate) async fn delete_tenant(
    State(st): St,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let id = path(p)?;
    let q = query(q)?;
    // default true, as the Java controllers' code (osis-api.md §7.1)
    let purge = bool_param(&q, "purge_data", true)?;
    // DELETE is idempotent: an unknown tenant answers 204 like the reference implementations, so
    // OSE's retries after a lost response do not fail.
    if let Some(t) = st.store.tenant(&id).await? {
        st.hooks.tenant_deleting(&t, purge).await?;
        st.store.delete_tenant(&id).await?;
        st.hooks.after_delete(&id, None).await;
        tracing::info!(tenant_id = %id, purge, "tenant deleted");
    }
    Ok(StatusCode::NO_CONTENT)
}
