//! Stage 5 of a request: the answer. Placement bookkeeping once the backend answered, the
//! backend's names and principals translated back to the client's, backend failures named
//! without their addresses, and the access-log line.

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::Session;
use pingora::{Error, ErrorSource, ErrorType};

use super::directory::CachedDirectory;
use super::principals;
use super::request::{Forward, PlacementAction, RequestCtx};
use super::route::{principal_op, Creating};
use super::translate::{self, MAX_TRANSLATED_BODY};
use super::upstream::header;
use super::Snapshot;
use crate::s3::op::{OpKind, S3Op};
use crate::s3::S3Error;

/// Headers Osprey puts on every answer: its release signature and the request id.
pub fn stamp(h: &mut ResponseHeader, request_id: &str) -> pingora::Result<()> {
    stamp_with(h, request_id, None)
}

/// [`stamp`], with `amz_id` as `x-amz-request-id` when the backend gave one (its error bodies
/// name it as `<RequestId>`); `x-request-id` is always Osprey's.
fn stamp_with(
    h: &mut ResponseHeader,
    request_id: &str,
    amz_id: Option<http::HeaderValue>,
) -> pingora::Result<()> {
    // the signature is one value for the process, and the id one value for two headers:
    // validated and copied once, then shared (issue 13: this runs on every answer)
    static SERVER: std::sync::LazyLock<http::HeaderValue> = std::sync::LazyLock::new(|| {
        // build.rs stamps printable ASCII; a value that is not one still names the product
        http::HeaderValue::from_str(crate::version::signature())
            .unwrap_or_else(|_| http::HeaderValue::from_static("osprey"))
    });
    let id = http::HeaderValue::from_str(request_id).map_err(|_| {
        pingora::Error::explain(
            pingora::ErrorType::InternalError,
            "request id is not a header value",
        )
    })?;
    h.insert_header("server", SERVER.clone())?;
    h.insert_header("x-amz-request-id", amz_id.unwrap_or_else(|| id.clone()))?;
    h.insert_header("x-request-id", id)?;
    Ok(())
}

/// Write an XML answer (Osprey's own: errors, ListBuckets) with its length and Osprey's headers;
/// HEAD gets the head alone.
async fn write_xml_answer(
    session: &mut Session,
    ctx: &mut RequestCtx,
    mut h: ResponseHeader,
    body: String,
    content_type: &'static str,
) -> pingora::Result<()> {
    ctx.status = h.status.as_u16();
    h.insert_header("content-type", content_type)?;
    h.insert_header("content-length", body.len().to_string())?;
    stamp(&mut h, &ctx.request_id)?;
    let head = session.req_header().method == http::Method::HEAD;
    session.write_response_header(Box::new(h), head).await?;
    if !head {
        session
            .write_response_body(Some(Bytes::from(body)), true)
            .await?;
    }
    Ok(())
}

/// Respond with an S3 XML error (or a bare status for HEAD, which has no body).
pub async fn write_error(
    session: &mut Session,
    ctx: &mut RequestCtx,
    err: &S3Error,
) -> pingora::Result<()> {
    let mut h = ResponseHeader::build(err.status, Some(6))?;
    if err.retryable {
        h.insert_header("retry-after", "1")?;
    }
    // the client's unread body (if any) makes the connection unusable
    let req = session.req_header();
    if req.headers.contains_key(&http::header::CONTENT_LENGTH)
        || req.headers.contains_key(&http::header::TRANSFER_ENCODING)
    {
        session.set_keepalive(None);
    }
    let body = err.to_xml(&ctx.request_id);
    write_xml_answer(session, ctx, h, body, "application/xml").await
}

/// Answer here (ListBuckets; ACL, policy and PublicAccessBlock operations on shared-identity
/// backends, issue 11): `status`, and the body unless the status has none.
pub async fn write_answer(
    session: &mut Session,
    ctx: &mut RequestCtx,
    status: StatusCode,
    content_type: &'static str,
    body: String,
) -> pingora::Result<()> {
    let mut h = ResponseHeader::build(status, Some(5))?;
    if let Some(d) = &ctx.degraded {
        h.insert_header("x-osprey-degraded", d.as_str())?;
    }
    if status == StatusCode::NO_CONTENT {
        ctx.status = status.as_u16();
        stamp(&mut h, &ctx.request_id)?;
        return session.write_response_header(Box::new(h), true).await;
    }
    write_xml_answer(session, ctx, h, body, content_type).await
}

/// The placement bookkeeping of a bucket operation, once the backend answered (`ok` = 2xx).
pub async fn settle_placement(
    dir: &CachedDirectory,
    creating: &Creating,
    f: &mut Forward,
    ok: bool,
) {
    match std::mem::replace(&mut f.action, PlacementAction::None) {
        PlacementAction::Created(p) => {
            if !ok {
                if let Err(e) = dir.delete_placement(&p.tenant_id, &p.bucket).await {
                    tracing::error!(bucket = %p.bucket, error = %e, "the backend did not create the bucket, and its provisional placement could not be removed");
                }
            }
            creating.remove(&(p.tenant_id, p.bucket));
        }
        PlacementAction::Delete { tenant_id, bucket } if ok => {
            if let Err(e) = dir.delete_placement(&tenant_id, &bucket).await {
                tracing::error!(%bucket, error = %e, "bucket deleted on the backend but its placement could not be removed");
            }
        }
        _ => {}
    }
}

/// `http(s)://<Host>` of the request as the client addressed Osprey.
fn client_origin(req: &RequestHeader, snap: Option<&Snapshot>) -> Option<String> {
    let host = header(req, &http::header::HOST).filter(|h| !h.is_empty())?;
    let tls = snap.is_some_and(|s| s.config.server.tls.is_some());
    Some(format!("{}://{host}", if tls { "https" } else { "http" }))
}

fn is_policy(op: &S3Op) -> bool {
    op.kind == OpKind::BucketSubresource("policy")
}

/// Operations whose answers name the backend's bucket (listings, uploads, copies, errors).
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

/// The backend's response head for the client: one request id (the backend's, its error
/// bodies carry it as `<RequestId>`; Osprey's own is `x-request-id` and the log line's, issue
/// 10), `Location` re-rooted, and whether the body must be buffered and translated.
pub fn response_head(
    req: &RequestHeader,
    resp: &mut ResponseHeader,
    request_id: &str,
    snap: Option<&Snapshot>,
    s3op: Option<&S3Op>,
    f: &mut Forward,
) -> pingora::Result<()> {
    let upstream_id = resp
        .headers
        .get(&super::upstream::names::X_AMZ_REQUEST_ID)
        .cloned();
    if let Some(up) = &upstream_id {
        resp.insert_header("x-osprey-upstream-request-id", up.clone())?;
    }
    stamp_with(resp, request_id, upstream_id)?;
    let ok = resp.status.is_success();
    let bucket = s3op.and_then(|o| o.bucket.as_deref());
    // `Location` (CompleteMultipartUpload, redirects): the client's bucket name at Osprey's
    // address, never the backend's bucket name or host (issue 9, item 5). The origin is
    // formatted only for an answer that is translated (this runs on every answer).
    let has_location = resp.headers.contains_key(&http::header::LOCATION);
    if has_location && f.response.origin.is_none() {
        f.response.origin = client_origin(req, snap);
    }
    if let Some(loc) = resp
        .headers
        .get(&http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
    {
        let (bb, b) = match (&f.names, bucket) {
            (Some((bb, b)), _) => (bb.as_str(), b.as_str()),
            (None, Some(b)) => (b, b),
            (None, None) => ("", ""),
        };
        let foreign = !translate::url_is_at_host(loc, &f.route.backend.data_path().host);
        if foreign {
            // a browser POST's `success_action_redirect`: the client's own URL, with the
            // bucket named as the backend knows it in `?bucket=` (S3 POST Object)
            if let Some(b) = bucket {
                let l = translate::translate_query_bucket(
                    loc,
                    f.route.backend_bucket.as_deref().unwrap_or(b),
                    b,
                );
                resp.insert_header("location", l)?;
            }
        } else if !b.is_empty() {
            let l = translate::translate_url(loc, bb, b, f.response.origin.as_deref());
            resp.insert_header("location", l)?;
        }
    }
    let names = f.names.is_some() && (s3op.is_some_and(|o| translated_op(o.kind)) || !ok);
    let ids = f.principals.is_some() && ok && s3op.is_some_and(|o| principal_op(o.kind));
    if !(names || ids) {
        return Ok(());
    }
    let xml = resp
        .headers
        .get(&http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.contains("xml"));
    let small = resp
        .headers
        .get(&http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_none_or(|n| n <= MAX_TRANSLATED_BODY);
    // only answers that have a body: a 204/304 (PutBucketPolicy, DeleteBucketPolicy) given
    // `Transfer-Encoding: chunked` would leave the client waiting for a body
    let has_body = !matches!(resp.status.as_u16(), 204 | 304 | 100..=199);
    let get_policy = ids && s3op.is_some_and(is_policy) && req.method == http::Method::GET;
    if (xml || get_policy) && has_body && small && req.method != http::Method::HEAD {
        f.response.translating = true;
        if f.names.is_some() && f.response.origin.is_none() {
            f.response.origin = client_origin(req, snap);
        }
        resp.remove_header(&http::header::CONTENT_LENGTH);
        resp.insert_header("transfer-encoding", "chunked")?;
    }
    Ok(())
}

/// The response body: buffered while translating, translated at its end.
pub fn response_body(
    body: &mut Option<Bytes>,
    end: bool,
    request_id: &str,
    s3op: Option<&S3Op>,
    f: &mut Forward,
) -> pingora::Result<Option<Duration>> {
    if !f.response.translating {
        return Ok(None);
    }
    if let Some(b) = body.take() {
        if f.response.buf.len() + b.len() > MAX_TRANSLATED_BODY {
            return Err(Error::explain(
                ErrorType::InternalError,
                "response too large to translate",
            ));
        }
        f.response.buf.extend_from_slice(&b);
    }
    if end {
        let text = String::from_utf8_lossy(&f.response.buf);
        let mut out = match &f.names {
            Some((backend_bucket, bucket)) => translate::translate_xml_at(
                &text,
                backend_bucket,
                bucket,
                f.response.origin.as_deref(),
            ),
            None => text.into_owned(),
        };
        if let Some(map) = &f.principals {
            out = principals::translate_answer(out, map, s3op.is_some_and(is_policy), request_id);
        }
        *body = Some(Bytes::from(out));
    }
    Ok(None)
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

/// The `kind` label of `osprey_backend_errors_total` for a failure on the backend's side of
/// the proxy; `None` when the client's side failed (its body broke off, it went away).
pub fn backend_failure_kind(e: &Error) -> Option<&'static str> {
    if e.esource() == &ErrorSource::Downstream {
        return None;
    }
    Some(match e.etype() {
        ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout => {
            "timeout"
        }
        ErrorType::ConnectRefused
        | ErrorType::ConnectError
        | ErrorType::ConnectNoRoute
        | ErrorType::SocketError
        | ErrorType::TLSHandshakeFailure
        | ErrorType::InvalidCert => "connect",
        ErrorType::HTTPStatus(_) | ErrorType::InternalError => return None,
        _ => "io",
    })
}

/// The request's series in `osprey_s3_*` (src/metrics), at its end.
pub fn account(ctx: &RequestCtx, status: u16, bytes_out: u64) {
    crate::metrics::global().s3_request(&crate::metrics::S3Request {
        tenant: ctx.tenant.as_deref(),
        backend: ctx.backend_name().unwrap_or_default(),
        op: ctx
            .op
            .as_ref()
            .map(|o| o.kind.name())
            .unwrap_or(std::borrow::Cow::Borrowed("-")),
        status,
        elapsed: ctx.started.elapsed(),
        bytes_in: ctx.bytes_in,
        bytes_out,
    });
}

/// The S3 error for a request pingora could not proxy. The client learns the backend's name
/// and what went wrong, never pingora's error text, which carries the peer's address (issue 9,
/// item 5); the detail is logged.
pub fn proxy_failure(e: &Error, backend: &str, request_id: &str) -> S3Error {
    tracing::warn!(request_id, backend, error = ?e.etype(), source = ?e.esource(), "proxying failed");
    match e.etype() {
        ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout
            if e.esource() != &ErrorSource::Downstream =>
        {
            S3Error::slow_down(backend)
        }
        ErrorType::HTTPStatus(code) if *code < 500 => S3Error::new(
            StatusCode::from_u16(*code).unwrap_or(StatusCode::BAD_REQUEST),
            "InvalidRequest",
            "The request could not be processed.",
        ),
        _ if e.esource() == &ErrorSource::Downstream => S3Error::new(
            StatusCode::BAD_REQUEST,
            "IncompleteBody",
            "The request body could not be read completely (the client stopped sending, or sent less than it announced).",
        ),
        _ => S3Error::service_unavailable(backend, upstream_failure(e.etype())),
    }
}

/// The access-log line of a request.
pub fn log_line(ctx: &RequestCtx, status: u16, e: Option<&Error>) {
    // borrowed, not copied into a `String` per line (issue 13)
    let name = ctx.op.as_ref().map(|o| o.kind.name());
    let op: &str = name.as_deref().unwrap_or("-");
    let bucket = ctx
        .op
        .as_ref()
        .and_then(|o| o.bucket.as_deref())
        .unwrap_or_default();
    let backend = ctx.backend_name().unwrap_or_default();
    let tenant = ctx.tenant.as_deref().unwrap_or_default();
    let generation = ctx.snapshot.as_ref().map(|s| s.generation).unwrap_or(0);
    let ms = (ctx.started.elapsed().as_secs_f64() * 1_000_000.0).round() / 1000.0;
    if let (None, None) = (e, &ctx.error) {
        // the answered request's line: written directly in the text format (issue 13)
        let line = crate::telemetry::AccessLine {
            request_id: &ctx.request_id,
            op,
            bucket,
            tenant,
            backend,
            status,
            ms,
            bytes_in: ctx.bytes_in,
            generation,
        };
        if !crate::telemetry::access_line(&line) {
            crate::telemetry::access_line_event(&line);
        }
        return;
    }
    let span = tracing::info_span!("s3", request_id = %ctx.request_id);
    let _g = span.enter();
    match (e, &ctx.error) {
        (_, Some(err)) => tracing::info!(
            target: crate::telemetry::ACCESS_LOG_TARGET,
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
            target: crate::telemetry::ACCESS_LOG_TARGET,
            op,
            bucket,
            tenant,
            backend,
            status,
            ms,
            generation,
            "s3 request failed: {e}"
        ),
        // written above, without tracing
        (None, None) => {}
    }
}
