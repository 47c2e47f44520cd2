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
use crate::store::{NewTenant, Paging, StoreError, Tenant, TenantUpdate, Term};

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
    let new = NewTenant {
        name,
        active: t.active.unwrap_or(true),
        cd_tenant_ids: cd,
    };
    let tenant = match st.store.create_tenant(new.clone()).await {
        Ok(tenant) => tenant,
        Err(StoreError::Conflict(m)) => {
            // The same create sent again (a client's retry after a lost answer, or the load
            // balancer's `retry-on empty-response` after a replica died between commit and
            // answer: the drill of issue 15 met it) finds its tenant made: answer as the first
            // time did. Anything that differs from the stored tenant stays a conflict.
            let Some(existing) = replayed_tenant(&st, &new).await? else {
                return Err(StoreError::Conflict(m).into());
            };
            // the first attempt may have stopped before its backends had the tenant; the fan-out
            // is idempotent, and a tenant that already exists is never deleted here
            st.hooks.tenant_created(&existing).await?;
            tracing::info!(tenant_id = %existing.tenant_id, "tenant create replayed: the same tenant exists");
            return Ok((StatusCode::CREATED, Json(existing.into())));
        }
        Err(e) => return Err(e.into()),
    };
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

/// The stored tenant a create request repeats exactly (same name, active flag and set of
/// `cd_tenant_ids`), if there is one.
async fn replayed_tenant(st: &OsisState, new: &NewTenant) -> ApiResult<Option<Tenant>> {
    let Some(first) = new.cd_tenant_ids.first() else {
        return Ok(None);
    };
    let found = st
        .store
        .tenants(
            &[Term::CdTenantId(first.clone())],
            Paging {
                offset: 0,
                limit: 2,
            },
        )
        .await?;
    Ok(found
        .items
        .into_iter()
        .find(|t| is_replay_of_tenant(new, t)))
}

/// A create request is a replay of `t` when it asks for exactly what `t` is.
pub(crate) fn is_replay_of_tenant(new: &NewTenant, t: &Tenant) -> bool {
    fn set(v: &[String]) -> std::collections::BTreeSet<&str> {
        v.iter().map(String::as_str).collect()
    }
    new.name == t.name && new.active == t.active && set(&new.cd_tenant_ids) == set(&t.cd_tenant_ids)
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
