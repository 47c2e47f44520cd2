//! OSIS authentication (osis-api.md §2): HTTP Basic with the admin pair OSE is given, and, when
//! `osis.bearer` is on, HS512 JWT bearer tokens from `POST /api/v1/auth/login` and
//! `POST /api/v1/auth/token` beside Basic (the verifier only speaks Basic, so Basic stays on).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use axum::Json;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::extract::json_body;
use super::model::{AccessToken, LoginIn, RefreshIn, TokenPair};
use super::OsisState;

/// Access token lifetime (the Java samples' default: 15 minutes).
pub const ACCESS_TOKEN_SECS: u64 = 15 * 60;
/// Refresh token lifetime. Shorter than the samples' six months: a leaked refresh token is an
/// admin credential, so it should not outlive a routine rotation period.
pub const REFRESH_TOKEN_SECS: u64 = 7 * 24 * 3600;
/// Longest `Authorization` header examined; longer ones are refused before decoding.
pub const MAX_AUTH_HEADER_BYTES: usize = 8 * 1024;
const ISSUER: &str = "osprey";
const ROLE_ADMIN: &str = "ROLE_ADMIN";
const ROLE_REFRESH: &str = "ROLE_REFRESH_TOKEN";
/// Store counter carried by every token as `gen`; `POST /api/v1/auth/revoke` bumps it, and a
/// token of an older generation is refused (issue 9: refresh tokens could not be revoked).
pub const TOKEN_GENERATION: &str = "osis_token_generation";

pub struct Authenticator {
    access_key: String,
    secret_key: String,
    /// `None` when bearer mode is off.
    jwt: Option<[u8; 32]>,
    /// The current token generation (see [`TOKEN_GENERATION`]).
    generation: AtomicI64,
    /// Back-off on failed logins, per client address.
    pub throttle: super::throttle::LoginThrottle,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    iat: u64,
    exp: u64,
    scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
    /// Token generation at issue time.
    #[serde(default)]
    gen: i64,
}

impl Authenticator {
    /// `jwt_key`: a key derived from the master key *and* the admin secret, so rotating the
    /// admin secret revokes every token issued under the old one.
    /// `generation`: the stored [`TOKEN_GENERATION`] at start.
    pub fn new(
        access_key: String,
        secret_key: String,
        jwt_key: Option<[u8; 32]>,
        generation: i64,
    ) -> Self {
        Authenticator {
            access_key,
            secret_key,
            jwt: jwt_key,
            generation: AtomicI64::new(generation),
            throttle: Default::default(),
        }
    }

    /// Adopt a new token generation (after the store's counter was bumped).
    pub fn set_generation(&self, g: i64) {
        self.generation.fetch_max(g, Ordering::SeqCst);
    }

    pub fn modes(&self) -> Vec<&'static str> {
        if self.jwt.is_some() {
            vec!["Basic", "Bearer"]
        } else {
            vec!["Basic"]
        }
    }

    fn pair_matches(&self, user: &str, pass: &str) -> bool {
        // both compared in full, in constant time, so timing says nothing about which half failed
        let a = user.as_bytes().ct_eq(self.access_key.as_bytes());
        let b = pass.as_bytes().ct_eq(self.secret_key.as_bytes());
        bool::from(a & b)
    }

    fn check_basic(&self, b64: &str) -> Result<(), ApiError> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| ApiError::unauthorized("malformed Basic credentials (not base64)"))?;
        let text = String::from_utf8(raw)
            .map_err(|_| ApiError::unauthorized("malformed Basic credentials (not UTF-8)"))?;
        let (user, pass) = text
            .split_once(':')
            .ok_or_else(|| ApiError::unauthorized("malformed Basic credentials (no `:`)"))?;
        if self.pair_matches(user, pass) {
            Ok(())
        } else {
            Err(ApiError::unauthorized(
                "wrong admin access key or secret key",
            ))
        }
    }

    fn issue(&self, key: &[u8; 32], scope: &str, secs: u64) -> Result<String, ApiError> {
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        let claims = Claims {
            sub: self.access_key.clone(),
            iss: ISSUER.into(),
            iat: now,
            exp: now + secs,
            scopes: vec![scope.into()],
            jti: (scope == ROLE_REFRESH).then(crate::store::ids::canonical_id),
            gen: self.generation.load(Ordering::SeqCst),
        };
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims,
            &EncodingKey::from_secret(key),
        )
        .map_err(|e| ApiError::internal(format!("cannot sign token: {e}")))
    }

    fn verify(&self, token: &str, scope: &str) -> Result<Claims, ApiError> {
        let Some(key) = &self.jwt else {
            return Err(ApiError::unauthorized(
                "bearer tokens are not enabled (osis.bearer = false)",
            ));
        };
        let mut v = Validation::new(Algorithm::HS512);
        v.set_issuer(&[ISSUER]);
        v.leeway = 5;
        let data = jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(key), &v)
            .map_err(|e| ApiError::unauthorized(format!("invalid bearer token: {e}")))?;
        if !data.claims.scopes.iter().any(|s| s == scope) {
            return Err(ApiError::unauthorized(format!("token lacks scope {scope}")));
        }
        if data.claims.sub != self.access_key {
            return Err(ApiError::unauthorized("token was issued to another admin"));
        }
        if data.claims.gen != self.generation.load(Ordering::SeqCst) {
            return Err(ApiError::unauthorized(
                "token was revoked (POST /api/v1/auth/revoke); log in again",
            ));
        }
        Ok(data.claims)
    }

    pub fn check(&self, authorization: Option<&str>) -> Result<(), ApiError> {
        let Some(h) = authorization else {
            return Err(ApiError::unauthorized(
                "missing Authorization header (Basic admin access key:secret key)",
            ));
        };
        if h.len() > MAX_AUTH_HEADER_BYTES {
            return Err(ApiError::unauthorized("Authorization header too long"));
        }
        let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            self.check_basic(rest)
        } else if scheme.eq_ignore_ascii_case("bearer") {
            self.verify(rest.trim(), ROLE_ADMIN).map(|_| ())
        } else {
            Err(ApiError::unauthorized(format!(
                "unsupported authorization scheme `{scheme}`; use {}",
                self.modes().join(" or ")
            )))
        }
    }
}

pub async fn require_admin(
    State(st): State<Arc<OsisState>>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let h = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("\u{0}"));
    if let Err(e) = st.auth.check(h) {
        tracing::warn!(reason = %e.message, "OSIS request refused");
        return Err(e);
    }
    Ok(next.run(req).await)
}

/// Back-off on failed logins around every OSIS route (see [`super::throttle`]): a client address
/// in back-off gets 429 with `Retry-After` before its credentials are looked at; a 401 answered
/// to a request that presented credentials (an `Authorization` header, or a token endpoint's
/// body) counts as a failure; a success clears the record.
pub async fn throttle_logins(
    State(st): State<Arc<OsisState>>,
    req: Request,
    next: Next,
) -> Response {
    use axum::response::IntoResponse;
    let ip = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let Some(ip) = ip else {
        return next.run(req).await;
    };
    let now = std::time::Instant::now();
    if let Err(wait) = st.auth.throttle.check(ip, now) {
        return ApiError::too_many_attempts(wait).into_response();
    }
    let presented = req.headers().contains_key(header::AUTHORIZATION)
        || req.uri().path().starts_with("/api/v1/auth/");
    let resp = next.run(req).await;
    if presented {
        if resp.status() == axum::http::StatusCode::UNAUTHORIZED {
            if let Some(wait) = st.auth.throttle.failed(ip, now) {
                tracing::warn!(client = %ip, backoff_secs = wait.as_secs_f64(), "repeated failed OSIS logins; backing off");
            }
        } else if resp.status().is_success() {
            st.auth.throttle.succeeded(ip);
        }
    }
    resp
}

/// `POST /api/v1/auth/revoke` (admin): every access and refresh token issued so far stops
/// working at once; Basic and new logins are unaffected.
pub async fn revoke(State(st): State<Arc<OsisState>>) -> Result<axum::http::StatusCode, ApiError> {
    let g = st.store.bump_counter(TOKEN_GENERATION).await?;
    st.auth.set_generation(g);
    tracing::info!(generation = g, "OSIS bearer tokens revoked");
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// `POST /api/v1/auth/login` `{"username","password"}` → access + refresh token (samples' shape).
pub async fn login(
    State(st): State<Arc<OsisState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<TokenPair>, ApiError> {
    let Some(key) = st.auth.jwt else {
        return Err(ApiError::new(
            axum::http::StatusCode::NOT_IMPLEMENTED,
            "E_NOT_IMPLEMENTED",
            "bearer tokens are disabled; enable osis.bearer or use Basic",
        ));
    };
    let b: LoginIn = json_body(body)?;
    let (Some(u), Some(p)) = (b.username, b.password) else {
        return Err(ApiError::bad_request(
            "fields `username` and `password` are required",
        ));
    };
    if !st.auth.pair_matches(&u, &p) {
        return Err(ApiError::unauthorized(
            "wrong admin access key or secret key",
        ));
    }
    Ok(Json(TokenPair {
        access_token: st.auth.issue(&key, ROLE_ADMIN, ACCESS_TOKEN_SECS)?,
        refresh_token: st.auth.issue(&key, ROLE_REFRESH, REFRESH_TOKEN_SECS)?,
        token_type: "Bearer",
        expires_in: ACCESS_TOKEN_SECS,
    }))
}

/// `POST /api/v1/auth/token` (`refreshToken`): `{"refresh_token"}` → `{"access_token"}`.
pub async fn refresh(
    State(st): State<Arc<OsisState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<AccessToken>, ApiError> {
    let Some(key) = st.auth.jwt else {
        return Err(ApiError::new(
            axum::http::StatusCode::NOT_IMPLEMENTED,
            "E_NOT_IMPLEMENTED",
            "bearer tokens are disabled; enable osis.bearer or use Basic",
        ));
    };
    let b: RefreshIn = json_body(body)?;
    let Some(t) = b.refresh_token else {
        return Err(ApiError::bad_request("field `refresh_token` is required"));
    };
    st.auth.verify(&t, ROLE_REFRESH)?;
    Ok(Json(AccessToken {
        access_token: st.auth.issue(&key, ROLE_ADMIN, ACCESS_TOKEN_SECS)?,
        token_type: "Bearer",
        expires_in: ACCESS_TOKEN_SECS,
    }))
}
