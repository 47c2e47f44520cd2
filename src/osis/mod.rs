//! OSIS control plane: the REST API VMware OSE calls (osis-api.md). axum on hyper.
//!
//! Every endpoint of the OpenAPI document, required and optional, is implemented: `not_implemented`
//! in `/api/info` is empty. Handlers validate input, write the identity store, then call the
//! [`hooks::ControlHooks`] (backend provisioning, cache invalidation).

pub mod auth;
pub mod error;
pub mod filter;
pub mod hooks;
pub mod model;
pub mod throttle;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Request, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::store::{NewTenant, NewUser, Store, TenantUpdate};
use error::ApiError;
use filter::Entity;
use hooks::ControlHooks;
use model::*;

/// Largest OSIS request body. OSIS bodies are a few hundred bytes; this stops a client from making
/// Osprey buffer megabytes per request (axum's default is 2 MiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest id, name or e-mail accepted in a body. Ids end up in backend user names and log lines.
pub const MAX_FIELD_BYTES: usize = 256;
/// Most Cloud Director org ids mapped onto one tenant.
pub const MAX_CD_TENANT_IDS: usize = 256;

/// Built-in S3 capabilities document (`config/s3capabilities.json`), used unless
/// `osis.capabilities_file` names another.
pub const DEFAULT_CAPABILITIES: &str = include_str!("../../config/s3capabilities.json");

/// Everything the handlers share.
pub struct OsisState {
    pub store: Arc<dyn Store>,
    pub hooks: Arc<dyn ControlHooks>,
    pub auth: auth::Authenticator,
    /// The `s3capabilities` document, validated at start-up.
    pub capabilities: serde_json::Value,
    pub public_s3_endpoint: String,
    pub regions: Vec<String>,
    pub console_url: Option<String>,
    pub tls: bool,
    /// Configuration hot reload (absent in unit setups without a config file).
    pub reloader: Option<Arc<crate::reload::Reloader>>,
}

type St = State<Arc<OsisState>>;
type ApiResult<T> = Result<T, ApiError>;

/// Parses and checks the capabilities document: an object `exclusions` with at least one entry
/// (osis-api.md §6.2: the verifier requires a non-empty map).
pub fn load_capabilities(text: &str, origin: &str) -> Result<serde_json::Value, String> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("{origin}: not valid JSON: {e}"))?;
    match v.get("exclusions").and_then(|e| e.as_object()) {
        Some(m) if !m.is_empty() => Ok(v),
        Some(_) => Err(format!(
            "{origin}: `exclusions` must list at least one operation (OSE's verifier rejects an empty map)"
        )),
        None => Err(format!("{origin}: missing object `exclusions`")),
    }
}

pub fn router(state: Arc<OsisState>) -> Router {
    let v1 = Router::new()
        .route("/s3capabilities", get(s3capabilities))
        .route("/tenants", post(create_tenant).get(list_tenants))
        .route("/tenants/query", get(query_tenants))
        .route(
            "/tenants/{tenant_id}",
            get(get_tenant).patch(update_tenant).delete(delete_tenant),
        )
        .route(
            "/tenants/{tenant_id}/users",
            post(create_user).get(list_users),
        )
        .route(
            "/tenants/{tenant_id}/users/{user_id}",
            get(get_user).patch(update_user).delete(delete_user),
        )
        .route(
            "/tenants/{tenant_id}/users/{user_id}/s3credentials",
            post(create_credential).get(list_credentials),
        )
        .route("/users/query", get(query_users))
        .route("/users/{canonical_user_id}", get(get_user_canonical))
        .route("/s3credentials/query", get(query_credentials))
        .route(
            "/s3credentials/{access_key}",
            get(get_credential)
                .patch(update_credential)
                .delete(delete_credential),
        )
        .route("/usage", get(usage))
        .route("/bucket-list", get(bucket_list))
        .route("/console", get(console))
        .route("/bucket-logging-id", get(bucket_logging_id))
        .route("/anonymous-user", get(anonymous_user))
        // Osprey administration (not OSIS): hot reload and its state, metrics
        .route("/admin/reload", post(admin_reload))
        .route("/admin/config", get(admin_config))
        .route("/admin/metrics", get(admin_metrics))
        .route("/auth/revoke", post(auth::revoke))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_admin,
        ))
        // token endpoints authenticate by their bodies
        .route("/auth/login", post(auth::login))
        .route("/auth/token", post(auth::refresh));

    Router::new()
        .route("/api/info", get(info))
        .route("/logo.svg", get(logo))
        .route("/console", get(console_page))
        .nest("/api/v1", v1)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::throttle_logins,
        ))
        .layer(middleware::from_fn(signature))
        .with_state(state)
}

/// Outermost layer: request id, release signature, one log line per request.
async fn signature(req: Request<axum::body::Body>, next: Next) -> Response {
    let id = crate::telemetry::new_request_id();
    let span = tracing::info_span!("osis", request_id = %id);
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = std::time::Instant::now();
    let mut resp = next.run(req).instrument(span.clone()).await;
    let h = resp.headers_mut();
    h.insert(
        header::SERVER,
        HeaderValue::from_static(crate::version::signature()),
    );
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert("x-request-id", v);
    }
    span.in_scope(|| {
        tracing::info!(
            %method,
            path,
            status = resp.status().as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "osis request"
        )
    });
    resp
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such OSIS endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "E_METHOD_NOT_ALLOWED",
        "method not allowed on this OSIS endpoint",
    )
}

// ---------------------------------------------------------------- input helpers

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

fn path<T>(p: Result<Path<T>, PathRejection>) -> ApiResult<T> {
    p.map(|Path(v)| v)
        .map_err(|e| ApiError::bad_request(format!("bad path parameter: {}", e.body_text())))
}

fn query(
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult<Vec<(String, String)>> {
    q.map(|Query(v)| v)
        .map_err(|e| ApiError::bad_request(format!("bad query string: {}", e.body_text())))
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn bool_param(q: &[(String, String)], name: &str, default: bool) -> ApiResult<bool> {
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
fn check_text(field: &str, v: &str) -> ApiResult<()> {
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

fn required<T>(field: &str, v: Option<T>) -> ApiResult<T> {
    v.ok_or_else(|| ApiError::bad_request(format!("field `{field}` is required")))
}

fn page_of<T, U: From<T>>(p: crate::store::Page<T>, paging: crate::store::Paging) -> PageOf<U> {
    PageOf {
        items: p.items.into_iter().map(U::from).collect(),
        page_info: PageInfo {
            total: p.total,
            offset: paging.offset,
            limit: paging.limit,
        },
    }
}

fn base_url(st: &OsisState, headers: &HeaderMap, uri: &axum::http::Uri) -> String {
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

// ---------------------------------------------------------------- platform

async fn info(State(st): St, headers: HeaderMap, uri: axum::http::Uri) -> Json<Information> {
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

async fn logo() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "image/svg+xml")], LOGO_SVG)
}

async fn console_page() -> impl IntoResponse {
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

async fn s3capabilities(State(st): St) -> Json<serde_json::Value> {
    Json(st.capabilities.clone())
}

// ---------------------------------------------------------------- tenants

fn check_cd_ids(ids: &[String]) -> ApiResult<()> {
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

async fn create_tenant(
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
        return Err(e);
    }
    tracing::info!(tenant_id = %tenant.tenant_id, "tenant created");
    Ok((StatusCode::CREATED, Json(tenant.into())))
}

async fn list_tenants(
    State(st): St,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult<Json<PageOf<TenantOut>>> {
    let q = query(q)?;
    let paging = filter::paging(&q)?;
    Ok(Json(page_of(st.store.tenants(&[], paging).await?, paging)))
}

async fn query_tenants(
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

async fn tenant_or_404(st: &OsisState, id: &str) -> ApiResult<crate::store::Tenant> {
    st.store
        .tenant(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("tenant {id} does not exist")))
}

async fn get_tenant(
    State(st): St,
    p: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<TenantOut>> {
    let id = path(p)?;
    Ok(Json(tenant_or_404(&st, &id).await?.into()))
}

async fn update_tenant(
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
        return Err(e);
    }
    Ok(Json(after.into()))
}

async fn delete_tenant(
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

// ---------------------------------------------------------------- users

async fn create_user(
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
    let (user, cred) = st
        .store
        .create_user(
            &tenant_id,
            NewUser {
                user_id: cd_user_id.clone(),
                username,
                email: u.email,
                role,
                cd_user_id,
                cd_tenant_id,
                active: u.active.unwrap_or(true),
            },
        )
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound(m) => ApiError::bad_request(m),
            other => other.into(),
        })?;
    if let Err(e) = st.hooks.user_created(&tenant, &user).await {
        let _ = st.hooks.user_deleting(&user, false).await;
        st.store.delete_user(&tenant_id, &user.user_id).await?;
        st.hooks.after_delete(&tenant_id, Some(&user.user_id)).await;
        return Err(e);
    }
    st.hooks.credential_changed(&cred.access_key).await;
    tracing::info!(tenant_id = %tenant_id, user_id = %user.user_id, access_key = %cred.access_key, "user created with its first key");
    Ok((StatusCode::CREATED, Json(user.into())))
}

async fn list_users(
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

async fn query_users(
    State(st): St,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult<Json<PageOf<UserOut>>> {
    let q = query(q)?;
    let paging = filter::paging(&q)?;
    let terms = filter::parse(param(&q, "filter").unwrap_or(""), Entity::User)?;
    Ok(Json(page_of(st.store.users(&terms, paging).await?, paging)))
}

async fn user_or_404(st: &OsisState, t: &str, u: &str) -> ApiResult<crate::store::User> {
    st.store
        .user(t, u)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("user {u} does not exist in tenant {t}")))
}

async fn get_user(
    State(st): St,
    p: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult<Json<UserOut>> {
    let (t, u) = path(p)?;
    Ok(Json(user_or_404(&st, &t, &u).await?.into()))
}

async fn get_user_canonical(
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

async fn update_user(
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
        return Err(e);
    }
    tracing::info!(tenant_id = %t, user_id = %u, active, "user status changed");
    Ok(Json(after.into()))
}

async fn delete_user(
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

// ---------------------------------------------------------------- credentials

async fn create_credential(
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

async fn list_credentials(
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

async fn query_credentials(
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
async fn credential_checked(
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

async fn get_credential(
    State(st): St,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult<Json<CredentialOut>> {
    let ak = path(p)?;
    let q = query(q)?;
    Ok(Json(credential_checked(&st, &ak, &q).await?.into()))
}

async fn update_credential(
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

async fn delete_credential(
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

// ---------------------------------------------------------------- statistics and extras

async fn usage(
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

async fn bucket_list(
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

async fn console(
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

fn random_canonical() -> String {
    crate::store::ids::canonical_id()
}

fn random_uuid() -> String {
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

async fn bucket_logging_id(State(st): St) -> ApiResult<Json<String>> {
    // The grantee id for server-access-log delivery: generated once, stable forever.
    Ok(Json(
        st.store
            .stable_value("bucket_logging_id", random_canonical)
            .await?,
    ))
}

async fn anonymous_user(State(st): St) -> ApiResult<Json<AnonymousUser>> {
    Ok(Json(AnonymousUser {
        id: st
            .store
            .stable_value("anonymous_user_id", random_uuid)
            .await?,
        name: "AnonymousUser",
    }))
}

// ---------------------------------------------------------------- Osprey administration

fn reloader(st: &OsisState) -> ApiResult<&Arc<crate::reload::Reloader>> {
    st.reloader
        .as_ref()
        .ok_or_else(|| ApiError::not_found("hot reload is not available in this process"))
}

/// `POST /api/v1/admin/reload`: reload the configuration file now (admin auth).
async fn admin_reload(State(st): St) -> ApiResult<Json<serde_json::Value>> {
    let r = reloader(&st)?;
    match r.reload("admin endpoint").await {
        Ok(generation) => Ok(Json(
            serde_json::json!({"generation": generation, "status": r.status_json()}),
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "E_CONFIG_REJECTED",
            e,
        )),
    }
}

async fn admin_config(State(st): St) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(reloader(&st)?.status_json()))
}

async fn admin_metrics(State(st): St) -> ApiResult<Response> {
    let body = reloader(&st)?.metrics();
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response())
}
