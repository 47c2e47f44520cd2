//! The pingora `ProxyHttp` implementation: one S3 request from the client's bytes to the backend's.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use http::StatusCode;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{Error, ErrorType};

use super::directory::{CachedDirectory, KeyEntry, Placement, PrincipalMap, TenantInfo};
use super::identity::{self, Mapped};
use super::upstream;
use super::{SharedSnapshot, Snapshot};
use crate::backend::{Address, Backend, IdentityScope, SigningKey, TenantRef, UserRef};
use crate::config::Namespace;
use crate::s3::chunked::{self, ChunkedDecoder, ChunkedSigner, ChunkedStream};
use crate::s3::op::{self, OpKind, S3Op};
use crate::s3::sigv4::{self, PayloadMode, SigError, Verified};
use crate::s3::S3Error;

/// Idle upstream connections are kept this long for reuse (connection pooling). Below the embedded
/// store's 30 s header-read timeout, so a pooled connection is never one the backend just closed.
pub const UPSTREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(20);
/// Most bytes of a response body Osprey buffers to translate bucket names (listings and errors
/// from shared-namespace backends). Larger bodies pass untranslated with a warning; S3 listings
/// are capped at 1000 keys, far below this.
pub const MAX_TRANSLATED_BODY: usize = super::translate::MAX_TRANSLATED_BODY;
/// Most bytes of a PutBucketAcl/PutObjectAcl body Osprey reads to translate the principals in
/// it: 64 KiB, the size of pingora's request retry buffer the body is replayed from (a larger
/// body is refused with 400 EntityTooLarge). An S3 ACL holds at most 100 grants, about 20 KiB.
pub const MAX_ACL_BODY: usize = 64 * 1024;
/// The answer to an anonymous ListBuckets (RGW's: nobody's buckets).
const ANONYMOUS_LIST_BUCKETS: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListAllMyBucketsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Owner><ID>anonymous</ID><DisplayName></DisplayName></Owner><Buckets></Buckets></ListAllMyBucketsResult>";

pub struct Gateway {
    pub snapshot: SharedSnapshot,
    pub directory: Arc<CachedDirectory>,
    /// Connection limits; the body progress timeout is applied per request here.
    limits: crate::config::Limits,
    /// Service keys of shared-scope backends, by backend name (with the instance they came from,
    /// so a reload that replaces the backend replaces the key).
    shared_keys: dashmap::DashMap<String, (Arc<dyn Backend>, Arc<SigningKey>)>,
}

/// The authenticated principal.
#[derive(Clone)]
pub struct Caller {
    pub key: Arc<KeyEntry>,
}

/// Where the request goes.
pub struct Route {
    pub backend: Arc<dyn Backend>,
    /// The bucket's name on the backend (translated on shared-namespace backends).
    pub backend_bucket: Option<String>,
    /// `None`: anonymous, forwarded unsigned.
    pub key: Option<Arc<SigningKey>>,
}

/// How the body travels (architecture.md §3).
enum BodyPlan {
    /// No body transform: the hash the client signed is forwarded (or UNSIGNED-PAYLOAD).
    Untouched,
    /// Hex SHA-256 promised: forwarded as is, and checked here too, holding back the last piece
    /// until the hash matched, so a lying client cannot get a body stored on a backend that trusts
    /// its gateway.
    Sha256,
    /// aws-chunked: verified here, then re-chained, decoded or passed through.
    Chunked(ChunkedMode),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ChunkedMode {
    Rechain,
    Decode,
    Passthrough,
}

enum BodyCodec {
    Chunked(Box<ChunkedStream>),
    Sha256 {
        check: Option<sigv4::PayloadSha256Check>,
        held: Option<Bytes>,
    },
}

enum PlacementAction {
    None,
    Record(Placement),
    Delete { tenant_id: String, bucket: String },
}

pub struct RequestCtx {
    pub request_id: String,
    started: Instant,
    snapshot: Option<Arc<Snapshot>>,
    pub op: Option<S3Op>,
    caller: Option<Caller>,
    verified: Option<Verified>,
    route: Option<Route>,
    plan: BodyPlan,
    codec: Option<BodyCodec>,
    action: PlacementAction,
    /// (backend bucket, client bucket) when response bodies must be translated.
    translate: Option<(String, String)>,
    translating: bool,
    resp_buf: BytesMut,
    error: Option<S3Error>,
    status: u16,
    bytes_in: u64,
    /// Backends that did not answer a fan-out (ListBuckets), for `x-osprey-degraded`.
    degraded: Option<String>,
    /// `http(s)://<Host the client used>`, built only when a response carries an absolute URL
    /// to re-root (`Location`, translated XML bodies).
    origin: Option<String>,
    /// The caller's tenant's users on a backend with principals of its own (issue 10): ids in
    /// ACLs, owners and listings are translated with it.
    principals: Option<Arc<PrincipalMap>>,
    /// An ACL body to read whole and translate before forwarding.
    read_acl_body: bool,
    /// A browser POST upload's form to read (its fields name the signer, issue 10).
    read_post_form: bool,
    /// Bytes sent upstream before (or instead of) the client's next body piece: a body or form
    /// prefix Osprey read in `request_filter` and rewrote.
    body_prefix: Option<BodyPrefix>,
    /// `body_prefix` went out in this upstream attempt.
    prefix_sent: bool,
}

/// What Osprey read of the client's body in `request_filter`, rewritten for the backend.
///
/// pingora replays the body read before proxying from its retry buffer (≤ 64 KiB), but only
/// what was read after the buffer was enabled, and nothing if it overflowed. Osprey enables it
/// only once the rest of the body fits (`Content-Length` known), so either the first
/// `request_body_filter` call is that replay (`replaces_first`: swap it for `bytes`) or the
/// buffer stayed empty and the first call is new data (`bytes` go before it).
struct BodyPrefix {
    bytes: Bytes,
    replaces_first: bool,
    /// The body's length upstream.
    upstream_len: u64,
}

fn sig_error(e: SigError) -> S3Error {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::FORBIDDEN);
    let mut err = S3Error::new(status, e.s3_code(), e.to_string());
    for (n, v) in e.extra_elements() {
        err = err.with_extra(n, v);
    }
    err
}

fn store_error(e: super::directory::DirectoryError) -> S3Error {
    tracing::error!(error = %e, "identity store failure on the data path");
    S3Error::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
        "Osprey's identity store is unavailable. Please retry.",
    )
    .retryable()
}

fn perr(e: &S3Error) -> Box<Error> {
    Error::explain(ErrorType::HTTPStatus(e.status.as_u16()), e.to_string())
}

/// A header's value as text. Values are UTF-8 once [`client_headers`] accepted the request (it
/// refuses any other), so this never silently skips a header the client sent.
fn header<'a>(req: &'a RequestHeader, name: &str) -> Option<&'a str> {
    req.headers
        .get(name)
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
}

/// Every request header as `(name, value)` text, exactly as sent, for SigV4 verification.
///
/// AWS signs raw header bytes; a value that is UTF-8 is canonicalised from exactly those bytes.
/// A value that is not UTF-8 is refused (400 InvalidArgument) rather than dropped: dropping it
/// was issue 9's cross-tenant hole — the header escaped the "every x-amz-* header signed" check
/// and the copy-source translation, and was still forwarded to the backend.
fn client_headers(req: &RequestHeader) -> Result<Vec<(String, String)>, S3Error> {
    let mut out = Vec::with_capacity(req.headers.len());
    for (n, v) in req.headers.iter() {
        let v = std::str::from_utf8(v.as_bytes()).map_err(|_| {
            S3Error::invalid_argument(format!(
                "the value of header `{}` is not valid UTF-8",
                n.as_str()
            ))
        })?;
        out.push((n.as_str().to_string(), v.to_string()));
    }
    if req.headers.get_all("x-amz-copy-source").iter().count() > 1 {
        return Err(S3Error::invalid_argument(
            "more than one x-amz-copy-source header",
        ));
    }
    Ok(out)
}

/// Access key named by the request, before verification (to look its secret up).
fn access_key_of(req: &RequestHeader) -> Option<String> {
    if let Some(a) = header(req, "authorization") {
        let cred = a.split("Credential=").nth(1)?;
        return cred.split('/').next().map(str::to_string);
    }
    let q = req.uri.query()?;
    for part in q.split('&') {
        if let Some(v) = part.strip_prefix("X-Amz-Credential=") {
            let v = percent_encoding::percent_decode_str(v).decode_utf8().ok()?;
            return v.split('/').next().map(str::to_string);
        }
    }
    None
}

fn is_authenticated(req: &RequestHeader) -> bool {
    req.headers.contains_key("authorization")
        || req.uri.query().is_some_and(|q| {
            q.split('&').any(|p| {
                p.starts_with("X-Amz-Signature=")
                    || p.starts_with("X-Amz-Credential=")
                    || p.starts_with("AWSAccessKeyId=")
                    || p.starts_with("Signature=")
            })
        })
}

impl Gateway {
    pub fn new(
        snapshot: SharedSnapshot,
        directory: Arc<CachedDirectory>,
        limits: crate::config::Limits,
    ) -> Self {
        Gateway {
            snapshot,
            directory,
            limits,
            shared_keys: dashmap::DashMap::new(),
        }
    }

    /// Respond with an S3 XML error (or a bare status for HEAD, which has no body).
    async fn respond_error(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        err: &S3Error,
    ) -> pingora::Result<()> {
        ctx.status = err.status.as_u16();
        let head = session.req_header().method == http::Method::HEAD;
        let body = err.to_xml(&ctx.request_id);
        let mut h = ResponseHeader::build(err.status, Some(6))?;
        h.insert_header("content-type", "application/xml")?;
        h.insert_header("content-length", body.len().to_string())?;
        self.stamp(&mut h, ctx)?;
        if err.retryable {
            h.insert_header("retry-after", "1")?;
        }
        // the client's unread body (if any) makes the connection unusable
        if session.req_header().headers.contains_key("content-length")
            || session
                .req_header()
                .headers
                .contains_key("transfer-encoding")
        {
            session.set_keepalive(None);
        }
        session.write_response_header(Box::new(h), head).await?;
        if !head {
            session
                .write_response_body(Some(Bytes::from(body)), true)
                .await?;
        }
        Ok(())
    }

    fn stamp(&self, h: &mut ResponseHeader, ctx: &RequestCtx) -> pingora::Result<()> {
        h.insert_header("server", crate::version::signature())?;
        h.insert_header("x-amz-request-id", ctx.request_id.as_str())?;
        h.insert_header("x-request-id", ctx.request_id.as_str())?;
        Ok(())
    }

    /// Authenticate: `Ok(None)` for an anonymous request.
    async fn authenticate(
        &self,
        req: &RequestHeader,
        headers: &[(String, String)],
        vhost: Option<&str>,
        snap: &Snapshot,
    ) -> Result<Option<(Caller, Verified)>, S3Error> {
        if !is_authenticated(req) {
            return Ok(None);
        }
        let raw_query = req.uri.query().unwrap_or("");
        let v2 = crate::s3::sigv2::is_sigv2(header(req, "authorization"), raw_query);
        if v2 && !snap.config.s3.sigv2 {
            return Err(sig_error(SigError::UnsupportedAlgorithm("AWS".into())));
        }
        let ak = if v2 {
            crate::s3::sigv2::access_key(header(req, "authorization"), raw_query)
        } else {
            access_key_of(req)
        }
        .ok_or_else(|| {
            sig_error(SigError::MalformedAuth(
                "no access key in the credential".into(),
            ))
        })?;
        let entry = self.directory.key(&ak).await.map_err(store_error)?;
        let parts = sigv4::RequestParts {
            method: req.method.as_str(),
            raw_path: req.uri.path(),
            raw_query: req.uri.query().unwrap_or(""),
            headers,
        };
        let secret = entry.as_ref().map(|e| e.secret_key.clone());
        let lookup = |k: &str| (k == ak).then_some(secret).flatten();
        let now = chrono::Utc::now();
        let skew = snap.config.s3.max_clock_skew;
        let verified = if v2 {
            crate::s3::sigv2::verify(&parts, vhost, lookup, now, skew)
        } else {
            sigv4::verify(&parts, lookup, now, skew)
        }
        .map_err(sig_error)?;
        if verified.service != "s3" {
            return Err(S3Error::new(
                StatusCode::BAD_REQUEST,
                "AuthorizationHeaderMalformed",
                format!(
                    "the credential scope names service `{}`; S3 requests must be signed for `s3`",
                    verified.service
                ),
            ));
        }
        // `s3.regions`: the credential scope must name one of them (issue 9, item 6)
        if let (Some(regions), sigv4::SigVersion::V4) = (&snap.config.s3.regions, verified.version)
        {
            if !regions.contains(&verified.region) {
                return Err(S3Error::new(
                    StatusCode::BAD_REQUEST,
                    "AuthorizationHeaderMalformed",
                    format!(
                        "The authorization header is malformed; the region '{}' is wrong; expecting '{}'",
                        verified.region,
                        regions.join("' or '")
                    ),
                )
                .with_extra("Region", regions[0].clone()));
            }
        }
        let entry = entry.ok_or_else(S3Error::invalid_access_key_id)?;
        if !entry.active {
            return Err(S3Error::access_denied(
                "The access key, its user or its tenant is disabled",
            ));
        }
        Ok(Some((Caller { key: entry }, verified)))
    }

    async fn tenant(&self, tenant_id: &str) -> Result<Arc<TenantInfo>, S3Error> {
        self.directory
            .tenant(tenant_id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| S3Error::access_denied("The tenant of this key no longer exists"))
    }

    /// The key Osprey signs with on `backend` for this caller, provisioning it on first use
    /// (a backend newly added to the tenant's table gets its identity here at the latest).
    async fn signing_key(
        &self,
        backend: &Arc<dyn Backend>,
        caller: &Caller,
        tenant: &TenantInfo,
    ) -> Result<Arc<SigningKey>, S3Error> {
        if backend.identity_scope() == IdentityScope::Shared {
            // one service key, held by the driver: no store lookup on the hot path
            if let Some(k) = self.shared_keys.get(backend.name()) {
                if Arc::ptr_eq(&k.0, backend) {
                    return Ok(k.1.clone());
                }
            }
        }
        let principal = match backend.identity_scope() {
            IdentityScope::Shared => "*".to_string(),
            IdentityScope::PerTenant => caller.key.tenant_id.clone(),
            IdentityScope::PerUser => caller.key.user_id.clone(),
        };
        if let Some(k) = self
            .directory
            .identity(backend.name(), &caller.key.tenant_id, &principal)
            .await
            .map_err(store_error)?
        {
            return Ok(k);
        }
        let t = TenantRef {
            tenant_id: tenant.tenant_id.clone(),
            name: tenant.name.clone(),
        };
        let u = UserRef {
            tenant_id: tenant.tenant_id.clone(),
            user_id: caller.key.user_id.clone(),
            display_name: caller.key.username.clone(),
            email: None,
        };
        let fail = |e: crate::backend::BackendError| {
            tracing::warn!(backend = backend.name(), error = %e, "provisioning on first use failed");
            if e.retryable() {
                S3Error::service_unavailable(backend.name(), &e.to_string())
            } else {
                S3Error::access_denied(format!(
                    "backend `{}` refused to provision this user: {e}",
                    backend.name()
                ))
            }
        };
        backend.ensure_tenant(&t).await.map_err(fail)?;
        let id = backend.ensure_identity(&t, &u).await.map_err(fail)?;
        if backend.identity_scope() == IdentityScope::Shared {
            let k = Arc::new(id.key);
            self.shared_keys
                .insert(backend.name().to_string(), (backend.clone(), k.clone()));
            return Ok(k);
        }
        self.directory
            .put_identity(
                backend.name(),
                &caller.key.tenant_id,
                &principal,
                &id.backend_user,
                id.key,
            )
            .await
            .map_err(store_error)
    }

    /// ListBuckets: the tenant's buckets across all its backends, merged and sorted by name.
    ///
    /// Placements are the record of every bucket created through Osprey, on every backend. On
    /// backends with a per-tenant namespace (RGW tenants) the backend's own ListBuckets is asked
    /// too, concurrently and within `s3.fanout_timeout`: buckets found there without a placement
    /// (made before the tenant came under Osprey) are adopted, so they route from then on. Shared
    /// namespaces are never listed (they hold every tenant's buckets). A backend that is down or
    /// late does not fail the listing: its buckets are listed from their placements and the
    /// response carries `x-osprey-degraded: <backend,…>` (docs/operations.md).
    async fn list_buckets(
        &self,
        caller: &Caller,
        tenant: &TenantInfo,
        snap: &Snapshot,
        ctx: &mut RequestCtx,
    ) -> Result<String, S3Error> {
        use quick_xml::escape::escape;
        let mut ps = self
            .directory
            .inner()
            .placements(&caller.key.tenant_id)
            .await
            .map_err(store_error)?;
        let (table, _) = snap.routing.table_for(crate::routing::TenantKey {
            tenant_id: &tenant.tenant_id,
            tenant_name: &tenant.name,
            cd_tenant_ids: &tenant.cd_tenant_ids,
        });
        let mut names: Vec<String> = table.backends().iter().map(|b| b.to_string()).collect();
        names.extend(ps.iter().map(|p| p.backend.clone()));
        names.sort();
        names.dedup();
        let own_namespace: Vec<Arc<dyn Backend>> = names
            .iter()
            .filter_map(|n| snap.backend(n).cloned())
            .filter(|b| !b.data_path().shared_namespace)
            .collect();
        let deadline = snap.config.s3.fanout_timeout;
        let asks = own_namespace.iter().map(|b| async move {
            let r = tokio::time::timeout(deadline, async {
                let key = self
                    .signing_key(b, caller, tenant)
                    .await
                    .map_err(|e| e.to_string())?;
                crate::backend::usage::list_buckets(b.data_path(), &key, b.config().timeout)
                    .await
                    .map_err(|e| e.to_string())
            })
            .await
            .unwrap_or_else(|_| Err("no answer within the fan-out deadline".into()));
            (b.clone(), r)
        });
        let mut degraded = Vec::new();
        for (b, r) in futures::future::join_all(asks).await {
            match r {
                Ok(found) => {
                    for (name, created) in found {
                        if ps.iter().any(|p| p.bucket == name) {
                            continue;
                        }
                        let p = Placement {
                            tenant_id: tenant.tenant_id.clone(),
                            bucket: name.clone(),
                            backend: b.name().to_string(),
                            backend_bucket: name,
                            owner_user_id: caller.key.user_id.clone(),
                            created_at: created.unwrap_or_else(chrono::Utc::now),
                        };
                        match self.directory.put_placement(p.clone()).await {
                            Ok(_) => {
                                tracing::info!(bucket = %p.bucket, backend = %p.backend, "adopted a bucket found on the backend");
                                ps.push(p);
                            }
                            Err(e) => {
                                tracing::warn!(bucket = %p.bucket, error = %e, "could not adopt bucket")
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(backend = b.name(), error = %e, "ListBuckets: backend not answering; listing its buckets from placements");
                    degraded.push(b.name().to_string());
                }
            }
        }
        if !degraded.is_empty() {
            ctx.degraded = Some(degraded.join(","));
        }
        // On backends with per-user principals a user lists the buckets it owns, as it would
        // there directly (RGW); on backends that see one identity, the tenant's.
        ps.retain(|p| {
            snap.backend(&p.backend).is_none_or(|b| !b.own_principals())
                || p.owner_user_id == caller.key.user_id
        });
        ps.sort_by(|a, b| a.bucket.cmp(&b.bucket));
        let mut x = String::with_capacity(256 + ps.len() * 128);
        x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListAllMyBucketsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Owner><ID>");
        x.push_str(&escape(caller.key.canonical_user_id.as_str()));
        x.push_str("</ID><DisplayName>");
        x.push_str(&escape(caller.key.username.as_str()));
        x.push_str("</DisplayName></Owner><Buckets>");
        for p in ps {
            x.push_str("<Bucket><Name>");
            x.push_str(&escape(p.bucket.as_str()));
            x.push_str("</Name><CreationDate>");
            x.push_str(
                &p.created_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            );
            x.push_str("</CreationDate></Bucket>");
        }
        x.push_str("</Buckets></ListAllMyBucketsResult>");
        Ok(x)
    }

    /// Everything `request_filter` decides; `Ok(Some(body))` = answer locally with this XML.
    async fn prepare(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Option<String>, S3Error> {
        let snap = self.snapshot.load_full();
        ctx.snapshot = Some(snap.clone());
        let req = session.req_header();
        let query = op::parse_query(req.uri.query())?;
        let host = header(req, "host").unwrap_or("");
        let vhost = op::virtual_host_bucket(host, snap.config.s3.domain.as_deref());
        let s3op = S3Op::parse(
            &req.method,
            req.uri.path(),
            &query,
            vhost,
            req.headers.contains_key("x-amz-copy-source"),
        )?;
        ctx.op = Some(s3op.clone());
        let headers = client_headers(req)?;
        if s3op.kind == OpKind::CorsPreflight {
            // preflights are unsigned by definition (Fetch standard, CORS-preflight request);
            // presign parameters on one (s3-tests `options` on a presigned URL) are ignored and
            // stripped, and the backend answers from the bucket's CORS rules
            return self.route_anonymous(ctx, &snap, &s3op).await;
        }
        let auth = self.authenticate(req, &headers, vhost, &snap).await?;

        let Some((caller, verified)) = auth else {
            if s3op.kind == OpKind::PostObject {
                // a browser form names its signer in its fields: read in request_filter
                ctx.read_post_form = true;
                return Ok(None);
            }
            return self.route_anonymous(ctx, &snap, &s3op).await;
        };
        ctx.caller = Some(caller.clone());
        let tenant = self.tenant(&caller.key.tenant_id).await?;

        if s3op.kind == OpKind::ListBuckets {
            // RGW's `GET /?usage` (ListBuckets with the account's usage `Summary`): the backend's
            // own answer, when the tenant's buckets can live on one per-user backend only (its
            // listing is then the caller's buckets, as Osprey's would be)
            if query.iter().any(|(k, _)| k == "usage") {
                let backends = table_of(&snap, &tenant).backends();
                if let [only] = backends.as_slice() {
                    if let Some(backend) = snap.backend(only).cloned() {
                        if backend.own_principals() {
                            let key = self.signing_key(&backend, &caller, &tenant).await?;
                            ctx.plan = self.body_plan(&verified, &backend, req)?;
                            ctx.principals = Some(
                                self.directory
                                    .principal_map(backend.name(), &caller.key.tenant_id)
                                    .await
                                    .map_err(store_error)?,
                            );
                            ctx.verified = Some(verified);
                            ctx.route = Some(Route {
                                backend,
                                backend_bucket: None,
                                key: Some(key),
                            });
                            return Ok(None);
                        }
                    }
                }
            }
            return self
                .list_buckets(&caller, &tenant, &snap, ctx)
                .await
                .map(Some);
        }
        let bucket = s3op
            .bucket
            .clone()
            .ok_or_else(|| S3Error::invalid_request("this operation needs a bucket"))?;

        let existing = if s3op.kind == OpKind::CreateBucket {
            op::validate_bucket_name(&bucket)?;
            self.directory
                .placement(&caller.key.tenant_id, &bucket)
                .await
                .map_err(store_error)?
        } else {
            None
        };
        let (backend, backend_bucket) = if let Some(p) = existing {
            // CreateBucket of a name the tenant already has goes to the bucket's backend, whose
            // answer is the client's (issue 10): RGW answers the owner 200 (us-east-1
            // behaviour), another user 409 BucketAlreadyExists. The placement stays as it is.
            let backend = placed_backend(&snap, &p)?;
            (backend, p.backend_bucket.clone())
        } else if s3op.kind == OpKind::CreateBucket {
            let table = table_of(&snap, &tenant);
            if table.namespace == Namespace::Global
                && self
                    .directory
                    .inner()
                    .placements_named(&bucket)
                    .await
                    .map_err(store_error)?
                    .iter()
                    .any(|p| p.tenant_id != tenant.tenant_id)
            {
                // a global namespace: the name is another tenant's (AWS's answer)
                return Err(S3Error::new(
                    StatusCode::CONFLICT,
                    "BucketAlreadyExists",
                    "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.",
                )
                .with_resource(format!("/{bucket}")));
            }
            let (_, rule) = table.rule_for(&bucket).ok_or_else(|| {
                S3Error::invalid_bucket_name(&bucket, "no routing rule of this tenant matches it")
            })?;
            let backend = snap
                .backend(&rule.backend)
                .cloned()
                .ok_or_else(|| S3Error::service_unavailable(&rule.backend, "not configured"))?;
            let backend_bucket = if backend.data_path().shared_namespace {
                crate::backend::naming::backend_bucket_name(&tenant.tenant_id, &bucket)
            } else {
                bucket.clone()
            };
            ctx.action = PlacementAction::Record(Placement {
                tenant_id: tenant.tenant_id.clone(),
                bucket: bucket.clone(),
                backend: backend.name().to_string(),
                backend_bucket: backend_bucket.clone(),
                owner_user_id: caller.key.user_id.clone(),
                created_at: chrono::Utc::now(),
            });
            (backend, backend_bucket)
        } else {
            // `<tenant id>:<bucket>` names another tenant's bucket (RGW's cross-tenant form).
            // Only on backends with per-user principals: the request is signed with the
            // caller's own identity there, so the backend's ACL/policy decides. Backends that see
            // one identity would let anybody in, so there the name is unknown.
            let (owner_tenant, name) = match bucket.split_once(':') {
                Some((t, n)) if !t.is_empty() && !n.is_empty() => (t.to_string(), n.to_string()),
                _ => (caller.key.tenant_id.clone(), bucket.clone()),
            };
            let mut found = self
                .directory
                .placement(&owner_tenant, &name)
                .await
                .map_err(store_error)?;
            if found.is_none()
                && owner_tenant == caller.key.tenant_id
                && table_of(&snap, &tenant).namespace == Namespace::Global
            {
                found = self.global_placement(&snap, &name).await?.map(Arc::new);
            }
            let p = found.ok_or_else(|| S3Error::no_such_bucket(&bucket))?;
            let owner_tenant = p.tenant_id.clone();
            let backend = placed_backend(&snap, &p)?;
            let cross = owner_tenant != caller.key.tenant_id;
            if cross && !backend.own_principals() {
                return Err(S3Error::no_such_bucket(&bucket));
            }
            if s3op.kind == OpKind::DeleteBucket {
                ctx.action = PlacementAction::Delete {
                    tenant_id: p.tenant_id.clone(),
                    bucket: p.bucket.clone(),
                };
            }
            let backend_bucket = if cross {
                backend.anonymous_bucket_path(&p.tenant_id, &p.backend_bucket)
            } else {
                p.backend_bucket.clone()
            };
            (backend, backend_bucket)
        };
        if backend_bucket != bucket {
            ctx.translate = Some((backend_bucket.clone(), bucket.clone()));
        }
        ctx.plan = self.body_plan(&verified, &backend, req)?;
        let key = self.signing_key(&backend, &caller, &tenant).await?;
        // the tenant's principal map only for requests that name principals (answers with
        // owners/grantees, ACL/policy bodies, grant headers): a GET/PUT of an object skips the
        // lookup and its key allocations
        let names_principals = || {
            principal_op(s3op.kind)
                || identity::GRANT_HEADERS
                    .iter()
                    .any(|h| req.headers.contains_key(*h))
        };
        if backend.own_principals() && (is_acl_upload(&s3op, req) || names_principals()) {
            ctx.principals = Some(
                self.directory
                    .principal_map(backend.name(), &caller.key.tenant_id)
                    .await
                    .map_err(store_error)?,
            );
            ctx.read_acl_body = is_acl_upload(&s3op, req);
        }
        ctx.verified = Some(verified);
        ctx.route = Some(Route {
            backend,
            backend_bucket: Some(backend_bucket),
            key: Some(key),
        });
        Ok(None)
    }

    /// In a global namespace, the one placement of `bucket` whose tenant's table is global too
    /// (a tenant-namespace tenant's names stay its own).
    async fn global_placement(
        &self,
        snap: &Snapshot,
        bucket: &str,
    ) -> Result<Option<Placement>, S3Error> {
        let mut hits = Vec::new();
        for p in self
            .directory
            .inner()
            .placements_named(bucket)
            .await
            .map_err(store_error)?
        {
            let Some(t) = self
                .directory
                .tenant(&p.tenant_id)
                .await
                .map_err(store_error)?
            else {
                continue;
            };
            if table_of(snap, &t).namespace == Namespace::Global {
                hits.push(p);
            }
        }
        Ok(if hits.len() == 1 { hits.pop() } else { None })
    }

    /// OSIS canonical ids → the backend's principals for them: the caller's tenant from `own`,
    /// any other Osprey user through the store. Ids nobody has are left out (forwarded as sent,
    /// so the backend answers an unknown grantee as it would directly).
    async fn resolve_canonical(
        &self,
        backend: &str,
        own: &PrincipalMap,
        ids: impl IntoIterator<Item = String>,
    ) -> Result<std::collections::HashMap<String, String>, S3Error> {
        let mut out = std::collections::HashMap::new();
        for id in ids {
            if out.contains_key(&id) {
                continue;
            }
            if let Some(p) = own.by_canonical(&id) {
                out.insert(id, p.backend_user.clone());
                continue;
            }
            // not a well-formed canonical id (64 hex): not worth a store round trip
            if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue;
            }
            let Some(t) = self
                .directory
                .tenant_of_canonical(&id)
                .await
                .map_err(store_error)?
            else {
                continue;
            };
            let map = self
                .directory
                .principal_map(backend, &t)
                .await
                .map_err(store_error)?;
            if let Some(p) = map.by_canonical(&id) {
                out.insert(id, p.backend_user.clone());
            }
        }
        Ok(out)
    }

    /// PutBucketAcl/PutObjectAcl on a backend with principals of its own: read the (small) body
    /// whole, check it against what the client signed or declared, and translate its principals.
    /// pingora replays the body from its retry buffer, where `request_body_filter` swaps in the
    /// translation.
    async fn take_acl_body(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<(), S3Error> {
        session.as_mut().enable_retry_buffering();
        let mut buf = BytesMut::new();
        while let Some(b) = read_body_piece(session).await? {
            if buf.len() + b.len() > MAX_ACL_BODY {
                return Err(S3Error::new(
                    StatusCode::BAD_REQUEST,
                    "EntityTooLarge",
                    format!("an ACL body may hold at most {MAX_ACL_BODY} bytes"),
                ));
            }
            buf.extend_from_slice(&b);
        }
        let body = buf.freeze();
        let verified = ctx
            .verified
            .as_ref()
            .ok_or_else(|| S3Error::internal("not verified"))?;
        match verified.payload {
            PayloadMode::Sha256(h) => {
                let mut c = sigv4::PayloadSha256Check::new(h);
                c.update(&body);
                c.finish().map_err(sig_error)?;
            }
            PayloadMode::Unsigned => {}
            _ => {
                return Err(S3Error::invalid_request(
                    "an ACL body cannot be sent aws-chunked: sign it with its SHA-256 or UNSIGNED-PAYLOAD",
                ))
            }
        }
        check_declared_digests(session.req_header(), &body)?;
        let map = ctx
            .principals
            .clone()
            .ok_or_else(|| S3Error::internal("no principals"))?;
        let backend = ctx
            .route
            .as_ref()
            .map(|r| r.backend.name().to_string())
            .unwrap_or_default();
        // a body that is not UTF-8 XML (JSON for a policy) goes on unchanged: the backend's own
        // error answers it
        let text = std::str::from_utf8(&body).ok();
        let policy = ctx
            .op
            .as_ref()
            .is_some_and(|o| o.kind == OpKind::BucketSubresource("policy"));
        if let (true, Some(text)) = (policy, text) {
            let ids = identity::policy_grant_ids(text);
            let resolved = self.resolve_canonical(&backend, &map, ids).await?;
            let out = identity::rewrite_policy_grants(text, |id| {
                resolved.get(id).map(|b| b.as_str().into())
            })
            .map(Bytes::from)
            .unwrap_or(body);
            ctx.body_prefix = Some(BodyPrefix {
                upstream_len: out.len() as u64,
                bytes: out,
                replaces_first: true,
            });
            return Ok(());
        }
        let ids = text.and_then(|t| identity::principal_ids(t).ok());
        let out = match (text, ids) {
            (Some(text), Some(ids)) => {
                let resolved = self.resolve_canonical(&backend, &map, ids).await?;
                identity::rewrite_principals(text, |id| {
                    resolved.get(id).map(|b| Mapped {
                        id: b.as_str().into(),
                        display_name: None,
                    })
                })
                .map(Bytes::from)
                .unwrap_or(body)
            }
            _ => body,
        };
        ctx.body_prefix = Some(BodyPrefix {
            upstream_len: out.len() as u64,
            bytes: out,
            replaces_first: true,
        });
        Ok(())
    }

    /// A browser POST upload (S3 POST Object, src/s3/post.rs): read the form fields up to the
    /// file, verify the policy's signature against Osprey's keys, route the caller's bucket, and
    /// prepare the form the backend gets (same fields and policy, signed by the backend identity).
    /// A form without a policy is an anonymous upload, forwarded as sent.
    async fn take_post_form(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<(), S3Error> {
        use crate::s3::post;
        let perr = |e: post::PostError| {
            let status = match e {
                post::PostError::NotMultipart => StatusCode::PRECONDITION_FAILED,
                _ => StatusCode::BAD_REQUEST,
            };
            S3Error::new(status, e.s3_code(), e.to_string())
        };
        let req = session.req_header();
        let boundary = post::boundary(header(req, "content-type").unwrap_or("")).map_err(perr)?;
        let len: u64 = header(req, "content-length")
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| {
                S3Error::new(
                    StatusCode::LENGTH_REQUIRED,
                    "MissingContentLength",
                    "You must provide the Content-Length HTTP header.",
                )
            })?;
        let mut buf = BytesMut::new();
        let mut replay = false;
        let form = loop {
            if let Some(f) = post::parse_prefix(&buf, &boundary).map_err(perr)? {
                break f;
            }
            if buf.len() as u64 >= len {
                return Err(perr(post::PostError::NoFile));
            }
            // see BodyPrefix: buffer for pingora's replay only once the rest fits in it
            if !replay && len - buf.len() as u64 <= MAX_ACL_BODY as u64 {
                session.as_mut().enable_retry_buffering();
                replay = true;
            }
            match read_body_piece(session).await? {
                Some(b) => buf.extend_from_slice(&b),
                None => return Err(perr(post::PostError::NoFile)),
            }
        };
        let read = buf.freeze();
        let snap = ctx
            .snapshot
            .clone()
            .ok_or_else(|| S3Error::internal("no snapshot"))?;
        let s3op = ctx
            .op
            .clone()
            .ok_or_else(|| S3Error::internal("no operation"))?;
        let auth = post::auth_of(&form).map_err(perr)?;
        let (ak, v2) = match &auth {
            post::PostAuth::Anonymous => {
                self.route_anonymous(ctx, &snap, &s3op).await?;
                ctx.body_prefix = Some(BodyPrefix {
                    bytes: read,
                    replaces_first: replay,
                    upstream_len: len,
                });
                return Ok(());
            }
            post::PostAuth::V2 { access_key, .. } => (access_key.clone(), true),
            post::PostAuth::V4 { access_key, .. } => (access_key.clone(), false),
        };
        if v2 && !snap.config.s3.sigv2 {
            return Err(sig_error(SigError::UnsupportedAlgorithm("AWS".into())));
        }
        let entry = self
            .directory
            .key(&ak)
            .await
            .map_err(store_error)?
            .ok_or_else(S3Error::invalid_access_key_id)?;
        let policy = form.get("policy").unwrap_or_default();
        if !post::verify(&auth, policy, &entry.secret_key) {
            return Err(S3Error::new(
                StatusCode::FORBIDDEN,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
            ));
        }
        if !entry.active {
            return Err(S3Error::access_denied(
                "The access key, its user or its tenant is disabled",
            ));
        }
        let caller = Caller { key: entry };
        let tenant = self.tenant(&caller.key.tenant_id).await?;
        let bucket = s3op
            .bucket
            .clone()
            .ok_or_else(|| S3Error::invalid_request("a POST upload names a bucket"))?;
        let p = self
            .directory
            .placement(&caller.key.tenant_id, &bucket)
            .await
            .map_err(store_error)?
            .ok_or_else(|| S3Error::no_such_bucket(&bucket))?;
        let backend = placed_backend(&snap, &p)?;
        let key = self.signing_key(&backend, &caller, &tenant).await?;
        let fields = post::backend_fields(
            &form,
            &auth,
            &post::BackendSigner {
                backend_bucket: &p.backend_bucket,
                client_bucket: &bucket,
                access_key: &key.access_key,
                secret_key: &key.secret_key,
                region: &backend.data_path().region,
                now: chrono::Utc::now(),
            },
        )
        .map_err(perr)?;
        let prefix = post::rebuild(&boundary, &fields, &read[form.file_part..]);
        if p.backend_bucket != bucket {
            ctx.translate = Some((p.backend_bucket.clone(), bucket.clone()));
        }
        ctx.caller = Some(caller);
        // the form carries the backend's signature: the HTTP request itself goes unsigned, and
        // names the bucket as unsigned requests must (RGW resolves a POST's bucket before it
        // reads the form: `tenant:bucket` on per-tenant namespaces)
        let path_bucket = backend.anonymous_bucket_path(&p.tenant_id, &p.backend_bucket);
        ctx.route = Some(Route {
            backend,
            backend_bucket: Some(path_bucket),
            key: None,
        });
        ctx.body_prefix = Some(BodyPrefix {
            upstream_len: len - read.len() as u64 + prefix.len() as u64,
            bytes: Bytes::from(prefix),
            replaces_first: replay,
        });
        Ok(())
    }

    /// Anonymous requests reach only buckets Osprey knows; the backend's own ACL/policy decides.
    async fn route_anonymous(
        &self,
        ctx: &mut RequestCtx,
        snap: &Snapshot,
        s3op: &S3Op,
    ) -> Result<Option<String>, S3Error> {
        let Some(bucket) = s3op.bucket.as_deref() else {
            // anonymous ListBuckets: an empty list owned by `anonymous`, as RGW answers (no
            // tenant is named, so no bucket is the caller's)
            return Ok(Some(ANONYMOUS_LIST_BUCKETS.to_string()));
        };
        if s3op.kind == OpKind::CreateBucket {
            return Err(S3Error::access_denied(
                "Anonymous users cannot create buckets; sign the request",
            ));
        }
        // Anonymous bucket resolution (docs/security.md, "Anonymous access"):
        // - `<tenant id>:<bucket>` names one tenant's bucket, whatever other tenants call theirs
        //   (RGW's own cross-tenant form), so no later bucket of another tenant can break it;
        // - a plain name resolves only while exactly one tenant has it.
        // Unknown and ambiguous names both answer AccessDenied, the answer a private bucket gives,
        // so anonymous callers learn nothing about which names exist.
        let denied = || S3Error::access_denied("Access Denied");
        let p = match bucket.split_once(':') {
            Some((tenant_id, name)) => self
                .directory
                .placement(tenant_id, name)
                .await
                .map_err(store_error)?
                .map(|p| (*p).clone())
                .ok_or_else(denied)?,
            None => {
                let mut ps = self
                    .directory
                    .inner()
                    .placements_named(bucket)
                    .await
                    .map_err(store_error)?;
                if ps.len() != 1 {
                    return Err(denied());
                }
                ps.remove(0)
            }
        };
        let backend = snap
            .backend(&p.backend)
            .cloned()
            .ok_or_else(|| S3Error::service_unavailable(&p.backend, "not configured"))?;
        // responses name the bucket as the client addressed it (qualified or not)
        if p.backend_bucket != bucket {
            ctx.translate = Some((p.backend_bucket.clone(), bucket.to_string()));
        }
        let path_bucket = backend.anonymous_bucket_path(&p.tenant_id, &p.backend_bucket);
        ctx.route = Some(Route {
            backend,
            backend_bucket: Some(path_bucket),
            key: None,
        });
        Ok(None)
    }

    fn body_plan(
        &self,
        v: &Verified,
        backend: &Arc<dyn Backend>,
        req: &RequestHeader,
    ) -> Result<BodyPlan, S3Error> {
        let modes = backend.data_path().payload_modes;
        Ok(match v.payload {
            PayloadMode::Unsigned => BodyPlan::Untouched,
            PayloadMode::Sha256(_) => {
                // Only a request without a body skips the check. A non-empty body is checked
                // against whatever hash was signed — the empty-payload hash included (issue 9:
                // a body under `e3b0…` reached backends that trust their gateway).
                let empty = header(req, "content-length").is_none_or(|l| l.trim() == "0")
                    && !req.headers.contains_key("transfer-encoding");
                if empty {
                    BodyPlan::Untouched
                } else {
                    BodyPlan::Sha256
                }
            }
            PayloadMode::StreamingSigned => BodyPlan::Chunked(if modes.signed_chunks {
                ChunkedMode::Rechain
            } else {
                ChunkedMode::Decode
            }),
            PayloadMode::StreamingSignedTrailer => {
                BodyPlan::Chunked(if modes.signed_chunks_trailer {
                    ChunkedMode::Rechain
                } else {
                    ChunkedMode::Decode
                })
            }
            PayloadMode::StreamingUnsignedTrailer => BodyPlan::Chunked(if modes.unsigned_trailer {
                ChunkedMode::Passthrough
            } else {
                ChunkedMode::Decode
            }),
        })
    }

    /// Rewrite the request for the backend and sign it.
    async fn rewrite(&self, req: &mut RequestHeader, ctx: &mut RequestCtx) -> Result<(), S3Error> {
        let route = ctx
            .route
            .as_ref()
            .ok_or_else(|| S3Error::internal("no route"))?;
        let s3op = ctx
            .op
            .as_ref()
            .ok_or_else(|| S3Error::internal("no operation"))?;
        let dp = route.backend.data_path().clone();
        // the client's framing facts, read before the decode path rewrites these headers
        let client_trailer = header(req, "x-amz-trailer").map(str::to_string);
        let client_decoded_len: Option<u64> = match header(req, "x-amz-decoded-content-length") {
            None => None,
            Some(v) => Some(v.trim().parse().map_err(|_| {
                S3Error::invalid_argument("x-amz-decoded-content-length is not a number")
            })?),
        };
        let target = upstream::upstream_path_and_query(
            route.backend_bucket.as_deref(),
            s3op.key.as_deref(),
            req.uri.query(),
        );
        let uri: http::Uri = target
            .parse()
            .map_err(|_| S3Error::invalid_argument("request target cannot be forwarded"))?;
        req.set_uri(uri);
        // Only what the client signed (or standard unsigned headers) travels on; Osprey's own
        // headers are set below.
        upstream::retain_forwardable(
            req,
            ctx.verified.as_ref().map(|v| v.signed_headers.as_slice()),
        );
        for h in upstream::DROPPED_HEADERS {
            req.remove_header(*h);
        }
        if route.key.is_some() || ctx.body_prefix.is_some() {
            // released by Osprey already (request_filter)
            req.remove_header("expect");
        }
        // RGW answers 411 MissingContentLength to a PUT/POST without a length (e.g. UploadPartCopy
        // from aws-sdk-rust, which sends none for an empty body)
        if (req.method == http::Method::PUT || req.method == http::Method::POST)
            && !req.headers.contains_key("content-length")
            && !req.headers.contains_key("transfer-encoding")
        {
            req.insert_header("content-length", "0")
                .map_err(|_| S3Error::internal("bad length"))?;
        }
        req.insert_header(http::header::HOST, dp.host.as_str())
            .map_err(|_| S3Error::internal("bad backend host"))?;

        if let Some(cs) = header(req, "x-amz-copy-source").map(str::to_string) {
            let caller = ctx
                .caller
                .as_ref()
                .ok_or_else(|| S3Error::access_denied("copying needs credentials"))?;
            let (src_bucket, src_key, version) = upstream::parse_copy_source(&cs)?;
            let p = self
                .directory
                .placement(&caller.key.tenant_id, &src_bucket)
                .await
                .map_err(store_error)?
                .ok_or_else(|| S3Error::no_such_bucket(&src_bucket))?;
            if p.backend != route.backend.name() {
                return Err(S3Error::not_implemented(&format!(
                    "copying between buckets on different backends (`{src_bucket}` is on `{}`, the target on `{}`)",
                    p.backend,
                    route.backend.name()
                )));
            }
            let v =
                upstream::copy_source_for_backend(&p.backend_bucket, &src_key, version.as_deref());
            // the client's form, with or without the leading `/`: backends evaluate bucket-policy
            // conditions on `s3:x-amz-copy-source` against the header as they receive it
            let v = if cs.starts_with('/') {
                v
            } else {
                v.trim_start_matches('/').to_string()
            };
            req.insert_header("x-amz-copy-source", v)
                .map_err(|_| S3Error::internal("bad copy source"))?;
        }

        if let Some(map) = ctx.principals.clone() {
            // `x-amz-grant-*: id="<canonical id>"` names the backend's principal upstream
            for h in identity::GRANT_HEADERS {
                let Some(v) = header(req, h).map(str::to_string) else {
                    continue;
                };
                let ids = identity::grant_header_ids(&v)
                    .into_iter()
                    .map(str::to_string)
                    .collect::<Vec<_>>();
                let resolved = self
                    .resolve_canonical(route.backend.name(), &map, ids)
                    .await?;
                let nv = identity::rewrite_grant_header(&v, |id| {
                    resolved.get(id).map(|b| b.as_str().into())
                });
                req.insert_header(*h, nv)
                    .map_err(|_| S3Error::invalid_argument(format!("bad {h} header")))?;
            }
        }
        ctx.prefix_sent = false;
        if let Some(p) = &ctx.body_prefix {
            req.remove_header("transfer-encoding");
            req.insert_header("content-length", p.upstream_len.to_string())
                .map_err(|_| S3Error::internal("bad length"))?;
        }
        if let (Some(p), true) = (&ctx.body_prefix, ctx.read_acl_body) {
            // the translated ACL body: its own digests
            let b = &p.bytes;
            if req.headers.contains_key("content-md5") {
                use md5::Digest as _;
                let md5 = base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    md5::Md5::digest(b),
                );
                req.insert_header("content-md5", md5)
                    .map_err(|_| S3Error::internal("bad content-md5"))?;
            }
            for alg in crate::s3::checksum::ChecksumAlgorithm::ALL {
                if req.headers.contains_key(alg.header_name()) {
                    req.insert_header(
                        alg.header_name(),
                        crate::s3::checksum::checksum_base64(alg, b),
                    )
                    .map_err(|_| S3Error::internal("bad checksum"))?;
                }
            }
        }

        let Some(key) = route.key.clone() else {
            // anonymous: forwarded unsigned
            return Ok(());
        };
        let verified = ctx
            .verified
            .as_ref()
            .ok_or_else(|| S3Error::internal("not verified"))?;
        let payload_hash: String = match (&ctx.plan, verified.payload) {
            (BodyPlan::Untouched | BodyPlan::Sha256, PayloadMode::Sha256(h)) => hex::encode(h),
            (BodyPlan::Untouched | BodyPlan::Sha256, _) => sigv4::UNSIGNED_PAYLOAD.to_string(),
            (BodyPlan::Chunked(ChunkedMode::Decode), _) => {
                // the backend gets a plain body of the decoded length
                let len = client_decoded_len.ok_or_else(|| {
                    S3Error::new(
                        StatusCode::LENGTH_REQUIRED,
                        "MissingContentLength",
                        "aws-chunked uploads need x-amz-decoded-content-length",
                    )
                })?;
                req.remove_header("x-amz-decoded-content-length");
                req.remove_header("x-amz-trailer");
                req.remove_header("transfer-encoding");
                strip_aws_chunked(req);
                req.insert_header("content-length", len.to_string())
                    .map_err(|_| S3Error::internal("bad length"))?;
                sigv4::UNSIGNED_PAYLOAD.to_string()
            }
            (BodyPlan::Chunked(ChunkedMode::Rechain), PayloadMode::StreamingSigned) => {
                sigv4::STREAMING_SIGNED.to_string()
            }
            (BodyPlan::Chunked(ChunkedMode::Rechain), _) => {
                sigv4::STREAMING_SIGNED_TRAILER.to_string()
            }
            (BodyPlan::Chunked(ChunkedMode::Passthrough), _) => {
                sigv4::STREAMING_UNSIGNED_TRAILER.to_string()
            }
        };
        let payload_hash = match (&ctx.body_prefix, ctx.read_acl_body) {
            (Some(p), true) => {
                use sha2::Digest as _;
                hex::encode(sha2::Sha256::digest(&p.bytes))
            }
            _ => payload_hash,
        };
        let headers = upstream::headers_to_sign(req);
        let path_and_query = req
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let signed = super::resign::sign_request(
            req.method.as_str(),
            &path_and_query,
            &headers,
            &payload_hash,
            &key,
            &dp.region,
            SystemTime::now(),
        )
        .map_err(|e| S3Error::internal(format!("re-signing failed: {e}")))?;
        for (n, v) in &signed.headers {
            req.insert_header(n.clone(), v.as_str())
                .map_err(|_| S3Error::internal("bad signed header"))?;
        }
        // set up the body transform now that the upstream signing context exists
        if ctx.body_prefix.is_some() {
            ctx.codec = None;
            return Ok(());
        }
        ctx.codec = match &ctx.plan {
            BodyPlan::Untouched => None,
            BodyPlan::Sha256 => match verified.payload {
                PayloadMode::Sha256(h) => Some(BodyCodec::Sha256 {
                    check: Some(sigv4::PayloadSha256Check::new(h)),
                    held: None,
                }),
                _ => None,
            },
            BodyPlan::Chunked(mode) => {
                let trailer = client_trailer
                    .as_deref()
                    .map(chunked::parse_trailer_header)
                    .transpose()
                    .map_err(sig_error)?;
                let decoded_len = client_decoded_len;
                let signed_mode = matches!(
                    verified.payload,
                    PayloadMode::StreamingSigned | PayloadMode::StreamingSignedTrailer
                );
                let decoder = ChunkedDecoder::new(
                    verified.payload,
                    signed_mode.then(|| verified.chunk_verifier()),
                    trailer,
                    decoded_len,
                )
                .map_err(sig_error)?;
                Some(BodyCodec::Chunked(Box::new(match mode {
                    ChunkedMode::Decode => ChunkedStream::decode(decoder),
                    ChunkedMode::Passthrough => ChunkedStream::passthrough(decoder),
                    ChunkedMode::Rechain => ChunkedStream::rechain(
                        decoder,
                        ChunkedSigner::from_verifier(&signed.context),
                    )
                    .map_err(sig_error)?,
                })))
            }
        };
        Ok(())
    }
}

/// A body read whole must match the `Content-MD5` and `x-amz-checksum-*` its client declared
/// (S3 answers 400 BadDigest); Osprey recomputes both for the body it forwards instead.
fn check_declared_digests(req: &RequestHeader, body: &[u8]) -> Result<(), S3Error> {
    let bad = |what: &str| {
        S3Error::new(
            StatusCode::BAD_REQUEST,
            "BadDigest",
            format!("The {what} you specified did not match the calculated checksum."),
        )
    };
    if let Some(v) = header(req, "content-md5") {
        use md5::Digest as _;
        let ours = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            md5::Md5::digest(body),
        );
        if ours != v.trim() {
            return Err(S3Error::new(
                StatusCode::BAD_REQUEST,
                "BadDigest",
                "The Content-MD5 you specified did not match what we received.",
            ));
        }
    }
    for alg in crate::s3::checksum::ChecksumAlgorithm::ALL {
        if let Some(v) = header(req, alg.header_name()) {
            if crate::s3::checksum::checksum_base64(alg, body) != v.trim() {
                return Err(bad(alg.name()));
            }
        }
    }
    Ok(())
}

/// Remove the `aws-chunked` token from `Content-Encoding` (keeping any real encoding).
fn strip_aws_chunked(req: &mut RequestHeader) {
    let Some(v) = header(req, "content-encoding").map(str::to_string) else {
        return;
    };
    let rest: Vec<&str> = v
        .split(',')
        .map(str::trim)
        .filter(|t| !t.eq_ignore_ascii_case("aws-chunked") && !t.is_empty())
        .collect();
    if rest.is_empty() {
        req.remove_header("content-encoding");
    } else {
        let _ = req.insert_header("content-encoding", rest.join(","));
    }
}

impl BodyCodec {
    fn transform(&mut self, body: &mut Option<Bytes>, end: bool) -> Result<(), SigError> {
        match self {
            BodyCodec::Chunked(stream) => {
                let mut out = BytesMut::new();
                if let Some(b) = body.as_ref() {
                    stream.push(b, &mut out)?;
                }
                if end {
                    stream.finish(&mut out)?;
                }
                // never `None`: pingora reads a `None` body as the end of the upstream body
                // (pingora-proxy `send_body_to_pipe`); an empty piece means "nothing yet"
                *body = Some(out.freeze());
                Ok(())
            }
            BodyCodec::Sha256 { check, held } => {
                // hold back the latest piece until the hash verified (zero-copy swap)
                let incoming = body.take();
                if let (Some(c), Some(b)) = (check.as_mut(), incoming.as_ref()) {
                    c.update(b);
                }
                let out = match incoming {
                    Some(b) if !b.is_empty() => held.replace(b),
                    _ => None,
                };
                if end {
                    if let Some(c) = check.take() {
                        c.finish()?;
                    }
                    let mut all = BytesMut::new();
                    if let Some(o) = out {
                        all.extend_from_slice(&o);
                    }
                    if let Some(h) = held.take() {
                        all.extend_from_slice(&h);
                    }
                    *body = Some(all.freeze());
                } else {
                    // `Some(empty)`, never `None` (which pingora takes as end of body)
                    *body = Some(out.unwrap_or_default());
                }
                Ok(())
            }
        }
    }
}

/// `http(s)://<Host>` of the request as the client addressed Osprey.
fn client_origin(req: &RequestHeader, snap: Option<&Snapshot>) -> Option<String> {
    let host = header(req, "host").filter(|h| !h.is_empty())?;
    let tls = snap.is_some_and(|s| s.config.server.tls.is_some());
    Some(format!("{}://{host}", if tls { "https" } else { "http" }))
}

/// What a backend failure is called toward the client: its kind, no address or error text.
fn upstream_failure(t: &ErrorType) -> &'static str {
    match t {
        ErrorType::ConnectRefused => "connection refused",
        ErrorType::ConnectTimedout => "connection timed out",
        ErrorType::ConnectError | ErrorType::ConnectNoRoute | ErrorType::SocketError => {
            "cannot connect"
        }
        ErrorType::TLSHandshakeFailure | ErrorType::InvalidCert => "TLS handshake failed",
        ErrorType::ConnectionClosed => "the backend closed the connection",
        ErrorType::ReadError
        | ErrorType::WriteError
        | ErrorType::ReadTimedout
        | ErrorType::WriteTimedout => "the connection to the backend broke",
        ErrorType::InvalidHTTPHeader | ErrorType::H1Error | ErrorType::H2Error => {
            "the backend sent an invalid response"
        }
        _ => "the request could not be completed",
    }
}

/// The next piece of the client's body, read in `request_filter` (ACL bodies, POST forms).
async fn read_body_piece(session: &mut Session) -> Result<Option<Bytes>, S3Error> {
    session.read_request_body().await.map_err(|e| {
        S3Error::new(
            StatusCode::BAD_REQUEST,
            "IncompleteBody",
            format!(
                "the request body could not be read ({})",
                e.etype().as_str()
            ),
        )
    })
}

/// The backend a placement names, from this request's snapshot.
fn placed_backend(snap: &Snapshot, p: &Placement) -> Result<Arc<dyn Backend>, S3Error> {
    snap.backend(&p.backend).cloned().ok_or_else(|| {
        S3Error::service_unavailable(
            &p.backend,
            "the backend holding this bucket is no longer in the configuration",
        )
    })
}

/// The routing table of a tenant.
fn table_of<'s>(snap: &'s Snapshot, t: &TenantInfo) -> &'s Arc<crate::routing::Table> {
    snap.routing
        .table_for(crate::routing::TenantKey {
            tenant_id: &t.tenant_id,
            tenant_name: &t.name,
            cd_tenant_ids: &t.cd_tenant_ids,
        })
        .0
}

/// Operations whose answers name principals (`Owner`, `Grantee`, `Initiator`).
fn principal_op(kind: OpKind) -> bool {
    matches!(
        kind,
        OpKind::ListBuckets
            | OpKind::ListObjects
            | OpKind::ListObjectsV2
            | OpKind::ListObjectVersions
            | OpKind::ListMultipartUploads
            | OpKind::ListParts
            | OpKind::BucketSubresource("acl")
            | OpKind::ObjectSubresource("acl")
            | OpKind::BucketSubresource("policy")
    )
}

/// PutBucketAcl / PutObjectAcl / PutBucketPolicy with a body (naming principals).
fn is_acl_upload(op: &S3Op, req: &RequestHeader) -> bool {
    let acl = matches!(
        op.kind,
        OpKind::BucketSubresource("acl")
            | OpKind::ObjectSubresource("acl")
            | OpKind::BucketSubresource("policy")
    );
    let body = header(req, "content-length").is_some_and(|l| l.trim() != "0")
        || req.headers.contains_key("transfer-encoding");
    acl && req.method == http::Method::PUT && body
}

fn translated_op(kind: OpKind) -> bool {
    matches!(
        kind,
        OpKind::ListObjects
            | OpKind::ListObjectsV2
            | OpKind::ListObjectVersions
            | OpKind::ListMultipartUploads
            | OpKind::CreateMultipartUpload
            | OpKind::CompleteMultipartUpload
            | OpKind::ListParts
            | OpKind::DeleteObjects
            | OpKind::CopyObject
            | OpKind::UploadPartCopy
            | OpKind::PostObject
    )
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx {
            request_id: crate::telemetry::new_request_id(),
            started: Instant::now(),
            snapshot: None,
            op: None,
            caller: None,
            verified: None,
            route: None,
            plan: BodyPlan::Untouched,
            codec: None,
            action: PlacementAction::None,
            translate: None,
            translating: false,
            resp_buf: BytesMut::new(),
            error: None,
            status: 0,
            bytes_in: 0,
            degraded: None,
            origin: None,
            principals: None,
            read_acl_body: false,
            read_post_form: false,
            body_prefix: None,
            prefix_sent: false,
        }
    }

    /// Error log lines name the request by method and path only: pingora's default summary has
    /// the full URI, i.e. a presigned URL's `X-Amz-Credential` and `X-Amz-Signature` (issue 9).
    fn request_summary(&self, session: &Session, _ctx: &RequestCtx) -> String {
        let req = session.req_header();
        format!("{} {}", req.method, req.uri.path())
    }

    async fn early_request_filter(
        &self,
        session: &mut Session,
        _ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        // `server.limits.body_timeout_secs`: a body that makes no progress ends the request
        session.set_read_timeout(Some(self.limits.body_timeout));
        session.set_write_timeout(Some(self.limits.body_timeout));
        Ok(())
    }

    async fn request_filter(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<bool> {
        match self.prepare(session, ctx).await {
            Ok(None) => {
                // `Expect: 100-continue` (RFC 9110 §10.1.1): 100 only for a request that will be
                // forwarded. Authenticated and routed, or a form Osprey must read to know its
                // signer: released here, and the backend gets the body without the expectation.
                // Anonymous: the backend decides (the expectation is forwarded and pingora
                // relays its 100 or its refusal, which then comes before the body).
                let expects = session
                    .req_header()
                    .headers
                    .get("expect")
                    .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
                let signed = ctx.route.as_ref().is_some_and(|r| r.key.is_some());
                if expects && (signed || ctx.read_post_form) {
                    session.write_continue_response().await?;
                }
                let taken = if ctx.read_acl_body {
                    self.take_acl_body(session, ctx).await
                } else if ctx.read_post_form {
                    self.take_post_form(session, ctx).await
                } else {
                    Ok(())
                };
                {
                    if let Err(e) = taken {
                        self.respond_error(session, ctx, &e).await?;
                        ctx.error = Some(e);
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Ok(Some(xml)) => {
                ctx.status = 200;
                let mut h = ResponseHeader::build(StatusCode::OK, Some(5))?;
                h.insert_header("content-type", "application/xml")?;
                h.insert_header("content-length", xml.len().to_string())?;
                if let Some(d) = &ctx.degraded {
                    h.insert_header("x-osprey-degraded", d.as_str())?;
                }
                self.stamp(&mut h, ctx)?;
                let head = session.req_header().method == http::Method::HEAD;
                session.write_response_header(Box::new(h), head).await?;
                if !head {
                    session
                        .write_response_body(Some(Bytes::from(xml)), true)
                        .await?;
                }
                Ok(true)
            }
            Err(e) => {
                self.respond_error(session, ctx, &e).await?;
                ctx.error = Some(e);
                Ok(true)
            }
        }
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<Box<HttpPeer>> {
        let route = ctx
            .route
            .as_ref()
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no route"))?;
        let dp = route.backend.data_path();
        let sni = dp.host.split(':').next().unwrap_or("").to_string();
        let mut peer = match &dp.address {
            Address::Tcp(a) => HttpPeer::new(*a, dp.tls, sni),
            Address::Unix(p) => HttpPeer::new_uds(&p.to_string_lossy(), dp.tls, sni)?,
        };
        let timeout = route.backend.config().timeout;
        peer.options.connection_timeout = Some(timeout.min(Duration::from_secs(5)));
        peer.options.total_connection_timeout = Some(timeout);
        peer.options.read_timeout = Some(timeout);
        peer.options.write_timeout = Some(timeout);
        peer.options.idle_timeout = Some(UPSTREAM_IDLE_TIMEOUT);
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        if let Err(e) = self.rewrite(upstream_request, ctx).await {
            let pe = perr(&e);
            ctx.error = Some(e);
            return Err(pe);
        }
        Ok(())
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        if let Some(b) = body.as_ref() {
            ctx.bytes_in += b.len() as u64;
        }
        if let (Some(p), false) = (&ctx.body_prefix, ctx.prefix_sent) {
            ctx.prefix_sent = true;
            let out = match body.take() {
                Some(b) if !p.replaces_first && !b.is_empty() => {
                    let mut all = BytesMut::with_capacity(p.bytes.len() + b.len());
                    all.extend_from_slice(&p.bytes);
                    all.extend_from_slice(&b);
                    all.freeze()
                }
                _ => p.bytes.clone(),
            };
            *body = Some(out);
            return Ok(());
        }
        if ctx.body_prefix.is_some() {
            return Ok(());
        }
        if let Some(codec) = ctx.codec.as_mut() {
            if let Err(e) = codec.transform(body, end_of_stream) {
                // the upstream request is aborted before it is complete: nothing is stored
                let err = sig_error(e);
                tracing::warn!(request_id = %ctx.request_id, code = err.code, "upload body rejected: {}", err.message);
                let pe = perr(&err);
                ctx.error = Some(err);
                return Err(pe);
            }
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        ctx.status = resp.status.as_u16();
        // One request id per response, the same in headers and body: a backend's answer keeps
        // the backend's `x-amz-request-id` (its error bodies carry that id as `<RequestId>`);
        // Osprey's own id is `x-request-id` and the log line's (issue 10).
        let upstream_id = resp.headers.get("x-amz-request-id").cloned();
        self.stamp(resp, ctx)?;
        if let Some(up) = upstream_id {
            resp.insert_header("x-osprey-upstream-request-id", up.clone())?;
            resp.insert_header("x-amz-request-id", up)?;
        }
        let ok = resp.status.is_success();
        match std::mem::replace(&mut ctx.action, PlacementAction::None) {
            PlacementAction::Record(p) if ok => {
                if let Err(e) = self.directory.put_placement(p.clone()).await {
                    tracing::error!(bucket = %p.bucket, error = %e, "bucket created on the backend but its placement could not be recorded");
                }
            }
            PlacementAction::Delete { tenant_id, bucket } if ok => {
                if let Err(e) = self.directory.delete_placement(&tenant_id, &bucket).await {
                    tracing::error!(%bucket, error = %e, "bucket deleted on the backend but its placement could not be removed");
                }
            }
            _ => {}
        }
        // `Location` (CompleteMultipartUpload, redirects): the client's bucket name at Osprey's
        // address, never the backend's bucket name or host (issue 9, item 5)
        let needs_origin = resp.headers.contains_key("location") || ctx.translate.is_some();
        if needs_origin && ctx.origin.is_none() {
            ctx.origin = client_origin(session.req_header(), ctx.snapshot.as_deref());
        }
        if let Some(loc) = resp.headers.get("location").and_then(|v| v.to_str().ok()) {
            let (bb, b) = match (
                &ctx.translate,
                ctx.op.as_ref().and_then(|o| o.bucket.as_deref()),
            ) {
                (Some((bb, b)), _) => (bb.as_str(), b.as_str()),
                (None, Some(b)) => (b, b),
                (None, None) => ("", ""),
            };
            let backend_host = ctx
                .route
                .as_ref()
                .map(|r| r.backend.data_path().host.clone());
            let foreign = backend_host
                .as_deref()
                .is_some_and(|h| !super::translate::url_is_at_host(loc, h));
            if foreign {
                // a browser POST's `success_action_redirect`: the client's own URL, with the
                // bucket named as the backend knows it in `?bucket=` (S3 POST Object)
                if let (Some(r), Some(b)) = (
                    ctx.route.as_ref(),
                    ctx.op.as_ref().and_then(|o| o.bucket.as_deref()),
                ) {
                    let l = super::translate::translate_query_bucket(
                        loc,
                        r.backend_bucket.as_deref().unwrap_or(b),
                        b,
                    );
                    resp.insert_header("location", l)?;
                }
            } else if !b.is_empty() {
                let l = super::translate::translate_url(loc, bb, b, ctx.origin.as_deref());
                resp.insert_header("location", l)?;
            }
        }
        let names = ctx.translate.is_some()
            && (ctx.op.as_ref().is_some_and(|o| translated_op(o.kind)) || !ok);
        let ids =
            ctx.principals.is_some() && ok && ctx.op.as_ref().is_some_and(|o| principal_op(o.kind));
        if names || ids {
            let xml = resp
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|c| c.contains("xml"));
            let small = resp
                .headers
                .get("content-length")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok())
                .is_none_or(|n| n <= MAX_TRANSLATED_BODY);
            let policy = ctx
                .op
                .as_ref()
                .is_some_and(|o| o.kind == OpKind::BucketSubresource("policy"));
            // only answers that have a body: a 204/304 (PutBucketPolicy, DeleteBucketPolicy)
            // given `Transfer-Encoding: chunked` would leave the client waiting for a body
            let has_body = !matches!(resp.status.as_u16(), 204 | 304 | 100..=199);
            let get_policy = ids && policy && session.req_header().method == http::Method::GET;
            if (xml || get_policy)
                && has_body
                && small
                && session.req_header().method != http::Method::HEAD
            {
                ctx.translating = true;
                resp.remove_header("content-length");
                resp.insert_header("transfer-encoding", "chunked")?;
            }
        }
        Ok(())
    }

    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<Option<Duration>> {
        if !ctx.translating {
            return Ok(None);
        }
        if let Some(b) = body.take() {
            if ctx.resp_buf.len() + b.len() > MAX_TRANSLATED_BODY {
                return Err(Error::explain(
                    ErrorType::InternalError,
                    "response too large to translate",
                ));
            }
            ctx.resp_buf.extend_from_slice(&b);
        }
        if end_of_stream {
            let text = String::from_utf8_lossy(&ctx.resp_buf);
            let mut out = match &ctx.translate {
                Some((backend_bucket, bucket)) => super::translate::translate_xml_at(
                    &text,
                    backend_bucket,
                    bucket,
                    ctx.origin.as_deref(),
                ),
                None => text.into_owned(),
            };
            let policy = ctx
                .op
                .as_ref()
                .is_some_and(|o| o.kind == OpKind::BucketSubresource("policy"));
            if let (Some(map), true) = (&ctx.principals, policy) {
                // GetBucketPolicy: grant conditions read back as the client wrote them
                if let Some(x) = identity::rewrite_policy_grants(&out, |id| {
                    map.by_backend_user(id)
                        .map(|p| p.canonical_user_id.as_str().into())
                }) {
                    out = x;
                }
            } else if let Some(map) = &ctx.principals {
                match identity::rewrite_principals(&out, |id| {
                    map.by_backend_user(id).map(|p| Mapped {
                        id: p.canonical_user_id.as_str().into(),
                        display_name: Some(p.display_name.as_str().into()),
                    })
                }) {
                    Ok(x) => out = x,
                    Err(e) => {
                        tracing::warn!(request_id = %ctx.request_id, error = %e, "backend answer not translated (principal ids)")
                    }
                }
            }
            *body = Some(Bytes::from(out));
        }
        Ok(None)
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let err = ctx.error.clone().unwrap_or_else(|| {
            let backend = ctx
                .route
                .as_ref()
                .map(|r| r.backend.name().to_string())
                .unwrap_or_else(|| "?".into());
            // The client learns the backend's name and what went wrong, never pingora's error
            // text, which carries the peer's address (issue 9, item 5); the detail is logged.
            tracing::warn!(request_id = %ctx.request_id, backend, error = ?e.etype(), source = ?e.esource(), "proxying failed");
            match e.etype() {
                ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout
                    if e.esource() != &pingora::ErrorSource::Downstream =>
                {
                    S3Error::slow_down(&backend)
                }
                ErrorType::HTTPStatus(code) if *code < 500 => S3Error::new(
                    StatusCode::from_u16(*code).unwrap_or(StatusCode::BAD_REQUEST),
                    "InvalidRequest",
                    "The request could not be processed.",
                ),
                _ if e.esource() == &pingora::ErrorSource::Downstream => S3Error::new(
                    StatusCode::BAD_REQUEST,
                    "IncompleteBody",
                    "The request body could not be read completely (the client stopped sending, or sent less than it announced).",
                ),
                _ => S3Error::service_unavailable(&backend, upstream_failure(e.etype())),
            }
        });
        let code = err.status.as_u16();
        if session.response_written().is_some() {
            // The response began (e.g. the backend's body broke off after its header): nothing
            // may be appended to it; closing the connection tells the client it is incomplete.
            ctx.status = code;
            ctx.error = Some(err);
            return FailToProxy {
                error_code: 0,
                can_reuse_downstream: false,
            };
        }
        if let Err(we) = self.respond_error(session, ctx, &err).await {
            tracing::debug!(error = %we, "could not write the error response (client gone or response started)");
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        let status = session
            .response_written()
            .map(|r| r.status.as_u16())
            .unwrap_or(ctx.status);
        let op = ctx
            .op
            .as_ref()
            .map(|o| o.kind.name().into_owned())
            .unwrap_or_else(|| "-".into());
        let bucket = ctx
            .op
            .as_ref()
            .and_then(|o| o.bucket.clone())
            .unwrap_or_default();
        let backend = ctx
            .route
            .as_ref()
            .map(|r| r.backend.name().to_string())
            .unwrap_or_default();
        let tenant = ctx
            .caller
            .as_ref()
            .map(|c| c.key.tenant_id.clone())
            .unwrap_or_default();
        let generation = ctx.snapshot.as_ref().map(|s| s.generation).unwrap_or(0);
        let span = tracing::info_span!("s3", request_id = %ctx.request_id);
        let _g = span.enter();
        let ms = (ctx.started.elapsed().as_secs_f64() * 1_000_000.0).round() / 1000.0;
        match (e, &ctx.error) {
            (_, Some(err)) => tracing::info!(
                op,
                bucket,
                tenant,
                backend,
                status,
                code = err.code,
                ms,
                bytes_in = ctx.bytes_in,
                generation,
                "s3 request refused: {}",
                err.message
            ),
            (Some(e), None) => tracing::warn!(
                op,
                bucket,
                tenant,
                backend,
                status,
                ms,
                generation,
                "s3 request failed: {e}"
            ),
            (None, None) => tracing::info!(
                op,
                bucket,
                tenant,
                backend,
                status,
                ms,
                bytes_in = ctx.bytes_in,
                generation,
                "s3 request"
            ),
        }
    }
}
