//! A browser POST upload (S3 POST Object, `src/s3/post.rs`): read the form fields up to the
//! file, verify the policy's signature against Osprey's keys, route the caller's bucket, and
//! prepare the form the backend gets (same fields and policy, signed by the backend identity).
//! A form without a policy is an anonymous upload, forwarded as sent.

use bytes::{Bytes, BytesMut};
use http::StatusCode;
use pingora::proxy::Session;

use super::access::{self, Access, Facts, Gate};
use super::authn;
use super::body::{read_body_piece, MAX_ACL_BODY};
use super::directory::CachedDirectory;
use super::keys::SigningKeys;
use super::request::{BodyPrefix, Decision, Forward, RequestBody, RequestCtx, Route};
use super::route;
use super::upstream::header;
use super::Snapshot;
use crate::s3::post::{self, PostError};
use crate::s3::sigv4::SigError;
use crate::s3::{S3Error, S3Op};

impl From<PostError> for S3Error {
    fn from(e: PostError) -> Self {
        let status = match e {
            PostError::NotMultipart => StatusCode::PRECONDITION_FAILED,
            _ => StatusCode::BAD_REQUEST,
        };
        S3Error::new(status, e.s3_code(), e.to_string())
    }
}

/// Read and verify the form; the request to forward.
pub async fn take_post_form(
    dir: &CachedDirectory,
    keys: &SigningKeys,
    access: &Access,
    session: &mut Session,
    snap: &Snapshot,
    s3op: &S3Op,
    ctx: &mut RequestCtx,
) -> Result<Box<Forward>, S3Error> {
    let req = session.req_header();
    let boundary = post::boundary(header(req, "content-type").unwrap_or(""))?;
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
        if let Some(f) = post::parse_prefix(&buf, &boundary)? {
            break f;
        }
        if buf.len() as u64 >= len {
            return Err(PostError::NoFile.into());
        }
        // see BodyPrefix: buffer for pingora's replay only once the rest fits in it
        if !replay && len - buf.len() as u64 <= MAX_ACL_BODY as u64 {
            session.as_mut().enable_retry_buffering();
            replay = true;
        }
        match read_body_piece(session).await? {
            Some(b) => buf.extend_from_slice(&b),
            None => return Err(PostError::NoFile.into()),
        }
    };
    let read = buf.freeze();
    let prefix = |bytes: Bytes, upstream_len: u64| {
        RequestBody::Prefix(BodyPrefix {
            bytes,
            replaces_first: replay,
            upstream_len,
            whole_acl: false,
            sent: false,
        })
    };
    let auth = post::auth_of(&form)?;
    let query = crate::s3::op::parse_query(session.req_header().uri.query())?;
    let req = session.req_header();
    let facts = Facts::new(req, &query, ctx.client_ip, ctx.secure);
    let (ak, v2) = match &auth {
        post::PostAuth::Anonymous => {
            let Decision::Forward(mut f) =
                route::anonymous(dir, keys, access, snap, s3op, &facts).await?
            else {
                return Err(S3Error::invalid_request("a POST upload names a bucket"));
            };
            let Some(key) = f.service_key.take() else {
                // a backend that decides itself: the form goes as the browser sent it
                f.body = prefix(read, len);
                return Ok(f);
            };
            // Osprey authorized it (route::anonymous); the backend gets a form signed with its
            // service key (the HTTP request itself goes unsigned, as forms do)
            let p = f
                .placement
                .clone()
                .ok_or_else(|| S3Error::internal("anonymous form without a placement"))?;
            let bucket = s3op
                .bucket
                .clone()
                .ok_or_else(|| S3Error::invalid_request("a POST upload names a bucket"))?;
            let fields = post::anonymous_backend_fields(
                &form,
                &post::BackendSigner {
                    backend_bucket: &p.backend_bucket,
                    client_bucket: &bucket,
                    access_key: &key.access_key,
                    secret_key: &key.secret_key,
                    region: &f.route.backend.data_path().region,
                    now: chrono::Utc::now(),
                },
            )?;
            let rebuilt = post::rebuild(&boundary, &fields, &read[form.file_part..]);
            let upstream_len = len - read.len() as u64 + rebuilt.len() as u64;
            f.body = prefix(Bytes::from(rebuilt), upstream_len);
            return Ok(f);
        }
        post::PostAuth::V2 { access_key, .. } => (access_key.clone(), true),
        post::PostAuth::V4 { access_key, .. } => (access_key.clone(), false),
    };
    if v2 && !snap.config.s3.sigv2 {
        return Err(SigError::UnsupportedAlgorithm("AWS".into()).into());
    }
    let entry = dir
        .key(&ak)
        .await?
        .ok_or_else(S3Error::invalid_access_key_id)?;
    let policy = form.get("policy").unwrap_or_default();
    if !post::verify(&auth, policy, &entry.secret_key) {
        return Err(S3Error::new(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        ));
    }
    let caller = authn::active(entry)?;
    ctx.tenant = Some(caller.key.tenant_id.clone());
    let tenant = authn::tenant(dir, &caller.key.tenant_id).await?;
    let bucket = s3op
        .bucket
        .clone()
        .ok_or_else(|| S3Error::invalid_request("a POST upload names a bucket"))?;
    let p = dir
        .placement(&caller.key.tenant_id, &bucket)
        .await?
        .ok_or_else(|| S3Error::no_such_bucket(&bucket))?;
    let backend = route::placed_backend(snap, &p)?;
    let key = keys.for_caller(&backend, &caller, &tenant).await?;
    let after = if access::authorizes(backend.as_ref()) {
        let probe = access::Probe {
            backend: backend.clone(),
            key: key.clone(),
            backend_bucket: p.backend_bucket.clone(),
        };
        match access.gate(&caller.key, s3op, &facts, &p, probe).await? {
            Gate::Forward(after) => after,
            Gate::Answer(_) => return Err(S3Error::invalid_request("a POST upload is an upload")),
        }
    } else {
        None
    };
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
    )?;
    let rebuilt = post::rebuild(&boundary, &fields, &read[form.file_part..]);
    // the form carries the backend's signature: the HTTP request itself goes unsigned, and
    // names the bucket as unsigned requests must (RGW resolves a POST's bucket before it
    // reads the form: `tenant:bucket` on per-tenant namespaces)
    let path_bucket = backend.anonymous_bucket_path(&p.tenant_id, &p.backend_bucket);
    let mut f = Forward::new(Route {
        backend,
        backend_bucket: Some(path_bucket),
    });
    f.translate_names(&p.backend_bucket, &bucket);
    f.after = after;
    f.placement = Some(p.clone());
    let upstream_len = len - read.len() as u64 + rebuilt.len() as u64;
    f.body = prefix(Bytes::from(rebuilt), upstream_len);
    Ok(Box::new(f))
}
