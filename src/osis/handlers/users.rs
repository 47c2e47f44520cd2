//! `/tenants/{tenant_id}/users` and `/users`.

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
use crate::store::{NewUser, StoreError, User};

pub(crate) async fn create_user(
    State(st): St,
    p: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<UserOut>)> {
    let tenant_id = path(p)?;
    let u: UserIn = json_body(body)?;
    let cd_user_id = required("cd_user_id", u.cd_user_id)?;
    check_text("cd_user_id", &cd_user_id)?;
    let cd_tenant_id = required("cd_tenant_id", u.cd_tenant_id)?;
    check_text("cd_tenant_id", &cd_tenant_id)?;
    let username = u.username.unwrap_or_else(|| cd_user_id.clone());
    check_text("username", &username)?;
    if let Some(e) = &u.email {
        if !e.is_empty() {
            check_text("email", e)?;
        }
    }
    let role = u.role.unwrap_or_else(|| "TENANT_USER".to_string());
    if !ROLES.contains(&role.as_str()) {
        return Err(ApiError::bad_request(format!(
            "field `role`: `{role}` is not one of {}",
            ROLES.join(", ")
        )));
    }
    // unknown tenant on create is a 400 (osis-api.md §3: "a referenced parent that does not exist")
    let Some(tenant) = st.store.tenant(&tenant_id).await? else {
        return Err(ApiError::bad_request(format!(
            "tenant {tenant_id} does not exist"
        )));
    };
    let new = NewUser {
        user_id: cd_user_id.clone(),
        username,
        email: u.email,
        role,
        cd_user_id,
        cd_tenant_id,
        active: u.active.unwrap_or(true),
    };
    let (user, cred) = match st.store.create_user(&tenant_id, new.clone()).await {
        Ok(made) => made,
        Err(StoreError::NotFound(m)) => return Err(ApiError::bad_request(m)),
        Err(StoreError::Conflict(m)) => {
            // the same create sent again finds its user made (see `create_tenant`): answer as
            // the first time did, without a second key; a different body stays a conflict
            let existing = st.store.user(&tenant_id, &new.user_id).await?;
            let Some(existing) = existing.filter(|e| is_replay_of_user(&new, e)) else {
                return Err(StoreError::Conflict(m).into());
            };
            st.hooks.user_created(&tenant, &existing).await?;
            tracing::info!(tenant_id = %tenant_id, user_id = %existing.user_id, "user create replayed: the same user exists");
            return Ok((StatusCode::CREATED, Json(existing.into())));
        }
        Err(e) => return Err(e.into()),
    };
    if let Err(e) = st.hooks.user_created(&tenant, &user).await {
        let _ = st.hooks.user_deleting(&user, false).await;
        st.store.delete_user(&tenant_id, &user.user_id).await?;
        st.hooks.after_delete(&tenant_id, Some(&user.user_id)).await;
        return Err(e.into());
    }
    st.hooks.credential_changed(&cred.access_key).await;
    tracing::info!(tenant_id = %tenant_id, user_id = %user.user_id, access_key = %cred.access_key, "user created with its first key");
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// A create request is a replay of `u` when it asks for exactly what `u` is.
pub(crate) fn is_replay_of_user(new: &NewUser, u: &User) -> bool {
    new.user_id == u.user_id
        && new.username == u.username
        && new.email.as_deref().unwrap_or("") == u.email.as_deref().unwrap_or("")
        && new.role == u.role
        && new.cd_user_id == u.cd_user_id
        && new.cd_tenant_id == u.cd_tenant_id
        && new.active == u.active
}

pub(crate) async fn list_users(
    State(st): St,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult<Json<PageOf<UserOut>>> {
    let tenant_id = path(p)?;
    let q = query(q)?;
    let paging = filter::paging(&q)?;
    tenant_or_404(&st, &tenant_id).await?;
    Ok(Json(page_of(
        st.store
            .users(&[crate::store::Term::TenantId(tenant_id)], paging)
            .await?,
        paging,
    )))
}

pub(crate) async fn query_users(
    State(st): St,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult<Json<PageOf<UserOut>>> {
    let q = query(q)?;
    let paging = filter::paging(&q)?;
    let terms = filter::parse(param(&q, "filter").unwrap_or(""), Entity::User)?;
    Ok(Json(page_of(st.store.users(&terms, paging).await?, paging)))
}

pub(crate) async fn user_or_404(st: &OsisState, t: &str, u: &str) -> ApiResult<crate::store::User> {
    st.store
        .user(t, u)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("user {u} does not exist in tenant {t}")))
}

pub(crate) async fn get_user(
    State(st): St,
    p: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult<Json<UserOut>> {
    let (t, u) = path(p)?;
    Ok(Json(user_or_404(&st, &t, &u).await?.into()))
}

pub(crate) async fn get_user_canonical(
    State(st): St,
    p: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<UserOut>> {
    let id = path(p)?;
    let u = st
        .store
        .user_by_canonical(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no user has canonical id {id}")))?;
    Ok(Json(u.into()))
}

pub(crate) async fn update_user(
    State(st): St,
    p: Result<Path<(String, String)>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<UserOut>> {
    let (t, u) = path(p)?;
    let b: ActiveIn = json_body(body)?;
    let active = required("active", b.active)?;
    let before = user_or_404(&st, &t, &u).await?;
    let after = st.store.set_user_active(&t, &u, active).await?;
    if let Err(e) = st.hooks.user_changed(&after).await {
        st.store.set_user_active(&t, &u, before.active).await?;
        return Err(e.into());
    }
    tracing::info!(tenant_id = %t, user_id = %u, active, "user status changed");
    Ok(Json(after.into()))
}

pub(crate) async fn delete_user(
    State(st): St,
    p: Result<Path<(String, String)>, PathRejection>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let (t, u) = path(p)?;
    let q = query(q)?;
    let purge = bool_param(&q, "purge_data", true)?;
    if let Some(user) = st.store.user(&t, &u).await? {
        st.hooks.user_deleting(&user, purge).await?;
        st.store.delete_user(&t, &u).await?;
        st.hooks.after_delete(&t, Some(&u)).await;
        tracing::info!(tenant_id = %t, user_id = %u, purge, "user deleted");
    }
    Ok(StatusCode::NO_CONTENT)
}
