//! The pingora adapter (issue 12: a thin `ProxyHttp` over the pipeline stages): each phase
//! hands the request's typed state to one stage — [`route::decide`] (parse, authenticate,
//! route), [`body`] (what is read whole), [`rewrite::rewrite`] (the backend's request),
//! [`respond`] (the answer) — and turns the stage's `S3Error` into the client's XML.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{Error, ErrorType};

use super::access::Access;
use super::body::{self, check_declared_digests, check_signed_payload};
use super::directory::CachedDirectory;
use super::keys::SigningKeys;
use super::request::{Decision, Forward, RequestBody, RequestCtx};
use super::{form, principals, respond, rewrite, route, SharedSnapshot};
use crate::s3::S3Error;

/// Cloned once per S3 listener shard (`server::wiring`, issue 13): every field is shared, so
/// the shards see one set of cached keys and one set of in-flight CreateBucket names.
#[derive(Clone)]
pub struct Gateway {
    pub snapshot: SharedSnapshot,
    pub directory: Arc<CachedDirectory>,
    keys: Arc<SigningKeys>,
    /// Owners, ACLs and policies on backends that see one identity (issue 11).
    access: Arc<Access>,
    /// CreateBucket requests of new names in flight (`route::Creating`).
    creating: Arc<route::Creating>,
    /// Connection limits; the body progress timeout is applied per request here.
    limits: crate::config::Limits,
}

/// An answer Osprey gives itself.
struct Answer {
    status: http::StatusCode,
    content_type: &'static str,
    body: String,
}

impl Answer {
    fn xml(body: String) -> Self {
        Answer {
            status: http::StatusCode::OK,
            content_type: "application/xml",
            body,
        }
    }
}

fn perr(e: &S3Error) -> Box<Error> {
    Error::explain(ErrorType::HTTPStatus(e.status.as_u16()), e.to_string())
}

fn internal(what: &'static str) -> Box<Error> {
    Error::explain(ErrorType::InternalError, what)
}

/// The forwarded request's state: pingora calls the upstream phases only after
/// `request_filter` chose to forward, so its absence is a bug, answered as a 500.
fn forwarding(ctx: &mut RequestCtx) -> pingora::Result<&mut Forward> {
    ctx.forward
        .as_deref_mut()
        .ok_or_else(|| internal("upstream phase without a forward decision"))
}

impl Gateway {
    pub fn new(
        snapshot: SharedSnapshot,
        directory: Arc<CachedDirectory>,
        access: Arc<Access>,
        limits: crate::config::Limits,
    ) -> Self {
        Gateway {
            keys: Arc::new(SigningKeys::new(directory.clone())),
            access,
            creating: Arc::default(),
            snapshot,
            directory,
            limits,
        }
    }

    /// Decide, and read what must be read before forwarding (ACL bodies, POST forms).
    /// `Some(answer)`: answer here.
    async fn prepare(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Option<Answer>, S3Error> {
        let snap = self.snapshot.load_full();
        ctx.snapshot = Some(snap.clone());
        ctx.client_ip = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip());
        ctx.secure = session.digest().is_some_and(|d| d.ssl_digest.is_some());
        let req = session.req_header();
        let (dir, keys, access) = (&self.directory, &self.keys, &self.access);
        let mut f = match route::decide(dir, keys, access, &self.creating, req, &snap, ctx).await? {
            Decision::Answer(xml) => return Ok(Some(Answer::xml(xml))),
            Decision::Forward(f) => f,
            Decision::ReadForm => {
                self.continue_if_expected(session, true).await?;
                let op = ctx.op.clone().ok_or_else(|| S3Error::internal("no op"))?;
                ctx.forward =
                    Some(form::take_post_form(dir, keys, access, session, &snap, &op, ctx).await?);
                return Ok(None);
            }
            Decision::Local(op) => {
                // answered from Osprey's own records (proxy/access.rs); a body is small
                self.continue_if_expected(session, true).await?;
                let body = if op.kind.reads_body() {
                    let whole = body::read_whole(session).await?;
                    if let Some(payload) = op.payload {
                        check_signed_payload(payload, &whole)?;
                    }
                    check_declared_digests(session.req_header(), &whole)?;
                    whole
                } else {
                    Bytes::new()
                };
                let a = access.perform(*op, body).await?;
                return Ok(Some(Answer {
                    status: a.status,
                    content_type: a.content_type,
                    body: a.body,
                }));
            }
        };
        self.continue_if_expected(session, f.signed.is_some())
            .await?;
        let read = match f.body {
            RequestBody::ReadAcl => {
                principals::take_acl_body(&self.directory, session, ctx.op.as_ref(), &mut f).await
            }
            _ => Ok(()),
        };
        ctx.forward = Some(f);
        read.map(|_| None)
    }

    /// `Expect: 100-continue` (RFC 9110 §10.1.1): 100 only for a request that will be
    /// forwarded. Authenticated and routed, or a form Osprey must read to know its signer:
    /// released here, and the backend gets the body without the expectation. Anonymous: the
    /// backend decides (the expectation is forwarded and pingora relays its 100 or its
    /// refusal, which then comes before the body).
    async fn continue_if_expected(&self, session: &mut Session, ours: bool) -> Result<(), S3Error> {
        let expects = session
            .req_header()
            .headers
            .get(&http::header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        if expects && ours {
            session
                .write_continue_response()
                .await
                .map_err(|e| S3Error::internal(format!("100-continue: {e}")))?;
        }
        Ok(())
    }

    /// Remove a CreateBucket's provisional placement when no 2xx answer came.
    async fn abandon_placement(&self, ctx: &mut RequestCtx) {
        if let Some(f) = ctx.forward.as_deref_mut() {
            respond::settle_placement(&self.directory, &self.creating, f, false).await;
        }
    }
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::new()
    }

    /// Error log lines name the request by method and path only: pingora's default summary
    /// has the full URI, i.e. a presigned URL's `X-Amz-Credential` and `X-Amz-Signature`
    /// (issue 9).
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
            Ok(None) => Ok(false),
            Ok(Some(a)) => {
                respond::write_answer(session, ctx, a.status, a.content_type, a.body).await?;
                Ok(true)
            }
            Err(e) => {
                self.abandon_placement(ctx).await;
                respond::write_error(session, ctx, &e).await?;
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
        let backend = forwarding(ctx)?.route.backend.clone();
        match super::connect::peer(backend.as_ref()).await {
            Ok(peer) => Ok(peer),
            Err(e) => {
                // the client learns which backend, not its host name (issue 9, item 5)
                tracing::warn!(request_id = %ctx.request_id, backend = backend.name(), error = %e, "backend host name does not resolve");
                let err = S3Error::service_unavailable(
                    backend.name(),
                    "its endpoint's host name does not resolve",
                );
                let pe = perr(&err);
                ctx.error = Some(err);
                Err(pe)
            }
        }
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        // borrowed side by side, not cloned: this runs on every forwarded request
        let (Some(op), Some(f)) = (ctx.op.as_ref(), ctx.forward.as_deref_mut()) else {
            return Err(internal("upstream phase without a forward decision"));
        };
        if let Err(e) = rewrite::rewrite(&self.directory, upstream_request, op, f).await {
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
        if let Err(e) = forwarding(ctx)?.body.feed(body, end_of_stream).await {
            // the upstream request is aborted before it is complete: nothing is stored
            let err = S3Error::from(e);
            tracing::warn!(request_id = %ctx.request_id, code = err.code, "upload body rejected: {}", err.message);
            let pe = perr(&err);
            ctx.error = Some(err);
            return Err(pe);
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
        if resp.status.is_server_error() {
            if let Some(backend) = ctx.backend_name() {
                crate::metrics::global().backend_error(backend, "status_5xx");
            }
        }
        let f = ctx
            .forward
            .as_deref_mut()
            .ok_or_else(|| internal("response without a forward decision"))?;
        respond::settle_placement(&self.directory, &self.creating, f, resp.status.is_success())
            .await;
        if let Some(after) = f.after.take() {
            self.access.settle(after, resp.status.is_success()).await;
        }
        respond::response_head(
            session.req_header(),
            resp,
            &ctx.request_id,
            ctx.snapshot.as_deref(),
            ctx.op.as_ref(),
            f,
        )
    }

    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<Option<Duration>> {
        let Some(f) = ctx.forward.as_deref_mut() else {
            return Ok(None);
        };
        respond::response_body(body, end_of_stream, &ctx.request_id, ctx.op.as_ref(), f)
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        self.abandon_placement(ctx).await;
        if ctx.error.is_none() {
            if let (Some(kind), Some(backend)) =
                (respond::backend_failure_kind(e), ctx.backend_name())
            {
                crate::metrics::global().backend_error(backend, kind);
            }
        }
        let err = ctx.error.clone().unwrap_or_else(|| {
            let backend = ctx.backend_name().unwrap_or("?");
            respond::proxy_failure(e, backend, &ctx.request_id)
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
        if let Err(we) = respond::write_error(session, ctx, &err).await {
            tracing::debug!(error = %we, "could not write the error response (client gone or response started)");
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        // a CreateBucket that never got its answer (client gone, error before the response)
        self.abandon_placement(ctx).await;
        let status = session
            .response_written()
            .map(|r| r.status.as_u16())
            .unwrap_or(ctx.status);
        respond::log_line(ctx, status, e);
        respond::account(ctx, status, session.body_bytes_sent() as u64);
    }
}
