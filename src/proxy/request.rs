//! The state of one S3 request between pingora's phases, typed by phase (issue 12): what every
//! request has ([`RequestCtx`]), and what only a forwarded one has ([`Forward`]), so no phase
//! recovers an invariant with "no route" checks of its own.

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::access::{AfterWrite, LocalOp};
use super::body::{BodyCodec, BodyPlan};
use super::directory::{KeyEntry, Placement, PrincipalMap};
use super::Snapshot;
use crate::backend::{Backend, SigningKey};
use crate::s3::op::S3Op;
use crate::s3::sigv4::{SigError, Verified};
use crate::s3::S3Error;

/// The authenticated principal.
#[derive(Clone)]
pub struct Caller {
    pub key: Arc<KeyEntry>,
}

/// Where a request goes.
pub struct Route {
    pub backend: Arc<dyn Backend>,
    /// The bucket's name on the backend (translated on shared-namespace backends; `None` for
    /// requests without a bucket, and the path form for anonymous ones).
    pub backend_bucket: Option<String>,
}

/// A request Osprey signs toward the backend: who the client was, what it signed, and the key
/// Osprey signs with.
pub struct Signed {
    pub caller: Caller,
    pub verified: Verified,
    pub key: Arc<SigningKey>,
    pub plan: BodyPlan,
}

/// Placement bookkeeping a bucket operation leaves for its response.
pub enum PlacementAction {
    None,
    /// CreateBucket: the placement is written before forwarding (so a store failure refuses
    /// the request before the backend creates anything, issue 12), and removed again unless
    /// the backend answers 2xx.
    Created(Placement),
    /// DeleteBucket: removed once the backend answers 2xx.
    Delete {
        tenant_id: String,
        bucket: String,
    },
}

/// What Osprey read of the client's body in `request_filter`, rewritten for the backend.
///
/// pingora replays the body read before proxying from its retry buffer (≤ 64 KiB), but only
/// what was read after the buffer was enabled, and nothing if it overflowed. Osprey enables it
/// only once the rest of the body fits (`Content-Length` known), so either the first
/// `request_body_filter` call is that replay (`replaces_first`: swap it for `bytes`) or the
/// buffer stayed empty and the first call is new data (`bytes` go before it).
pub struct BodyPrefix {
    pub bytes: Bytes,
    pub replaces_first: bool,
    /// The body's length upstream.
    pub upstream_len: u64,
    /// The prefix is a whole translated ACL/policy body (its digests are recomputed).
    pub whole_acl: bool,
    /// Went out in this upstream attempt.
    pub sent: bool,
}

/// How the request body reaches the backend.
pub enum RequestBody {
    /// Streamed, through `codec` once `rewrite` set it up.
    Stream(Option<BodyCodec>),
    /// An ACL/policy body still to read whole in `request_filter` (principals to translate).
    ReadAcl,
    /// Read (in part) in `request_filter` and rewritten.
    Prefix(BodyPrefix),
}

impl RequestBody {
    /// One piece of the client's body on its way up (`request_body_filter`): a prefix read
    /// earlier goes first (instead of the first piece when it replaces it), a stream goes through
    /// its codec.
    pub async fn feed(&mut self, body: &mut Option<Bytes>, end: bool) -> Result<(), SigError> {
        match self {
            RequestBody::Prefix(p) if !p.sent => {
                p.sent = true;
                *body = Some(match body.take() {
                    Some(b) if !p.replaces_first && !b.is_empty() => {
                        let mut all = BytesMut::with_capacity(p.bytes.len() + b.len());
                        all.extend_from_slice(&p.bytes);
                        all.extend_from_slice(&b);
                        all.freeze()
                    }
                    _ => p.bytes.clone(),
                });
                Ok(())
            }
            RequestBody::Stream(Some(codec)) => codec.transform(body, end).await,
            _ => Ok(()),
        }
    }
}

/// Response work of a forwarded request.
#[derive(Default)]
pub struct ResponseWork {
    /// The body is buffered (≤ `MAX_TRANSLATED_BODY`) and translated at its end.
    pub translating: bool,
    pub buf: BytesMut,
    /// `http(s)://<Host the client used>`, built only when a response carries an absolute URL
    /// to re-root (`Location`, translated XML bodies).
    pub origin: Option<String>,
}

/// A request `request_filter` decided to forward.
pub struct Forward {
    pub route: Route,
    /// `None`: anonymous, or a browser form whose fields carry the backend's signature;
    /// forwarded unsigned.
    pub signed: Option<Signed>,
    /// (backend bucket, client bucket) when names must be translated.
    pub names: Option<(String, String)>,
    /// The caller's tenant's users on a backend with principals of its own (issue 10): ids in
    /// ACLs, owners and listings are translated with it.
    pub principals: Option<Arc<PrincipalMap>>,
    pub action: PlacementAction,
    pub body: RequestBody,
    pub response: ResponseWork,
    /// The bucket's placement (requests on an existing bucket).
    pub placement: Option<Arc<Placement>>,
    /// Shared-identity backends (issue 11): what the backend's 2xx leaves Osprey to record.
    pub after: Option<AfterWrite>,
    /// Shared-identity backends: an anonymous request Osprey authorized, signed with the
    /// backend's service key (the backend itself would refuse it unsigned).
    pub service_key: Option<Arc<SigningKey>>,
    /// Shared-identity backends: ACL headers are Osprey's to keep, never the backend's (it would
    /// apply them to the one service identity).
    pub strip_acl_headers: bool,
}

impl Forward {
    pub fn new(route: Route) -> Self {
        Forward {
            route,
            signed: None,
            names: None,
            principals: None,
            action: PlacementAction::None,
            body: RequestBody::Stream(None),
            response: ResponseWork::default(),
            placement: None,
            after: None,
            service_key: None,
            strip_acl_headers: false,
        }
    }

    /// Names are translated when the backend's bucket name differs from the client's.
    pub fn translate_names(&mut self, backend_bucket: &str, bucket: &str) {
        if backend_bucket != bucket {
            self.names = Some((backend_bucket.to_string(), bucket.to_string()));
        }
    }

    pub fn backend_name(&self) -> &str {
        self.route.backend.name()
    }
}

/// What `request_filter` decided.
pub enum Decision {
    /// Answer here with this XML body (200).
    Answer(String),
    Forward(Box<Forward>),
    /// A browser POST form: its fields name the signer; read it, then decide.
    ReadForm,
    /// An ACL/policy operation Osprey answers itself on a shared-identity backend (issue 11).
    Local(Box<LocalOp>),
}

/// Per-request state (pingora's `CTX`).
pub struct RequestCtx {
    pub request_id: String,
    pub started: Instant,
    /// Loaded once in `request_filter` and kept to the end: a reload never changes a request
    /// half-way.
    pub snapshot: Option<Arc<Snapshot>>,
    pub op: Option<S3Op>,
    /// The caller's tenant, once known (for the access log).
    pub tenant: Option<String>,
    pub forward: Option<Box<Forward>>,
    pub error: Option<S3Error>,
    pub status: u16,
    pub bytes_in: u64,
    /// Backends that did not answer a fan-out (ListBuckets), for `x-osprey-degraded`.
    pub degraded: Option<String>,
    /// The client's address (bucket-policy `aws:SourceIp`).
    pub client_ip: Option<std::net::IpAddr>,
    /// The client connection is TLS (`aws:SecureTransport`).
    pub secure: bool,
}

impl RequestCtx {
    pub fn new() -> Self {
        RequestCtx {
            request_id: crate::telemetry::new_request_id(),
            started: Instant::now(),
            snapshot: None,
            op: None,
            tenant: None,
            forward: None,
            error: None,
            status: 0,
            bytes_in: 0,
            degraded: None,
            client_ip: None,
            secure: false,
        }
    }

    pub fn backend_name(&self) -> Option<&str> {
        self.forward.as_ref().map(|f| f.backend_name())
    }
}

impl Default for RequestCtx {
    fn default() -> Self {
        Self::new()
    }
}
