//! Stage 2 of a request: where it goes. Parse it into an [`S3Op`], authenticate it, and find the
//! backend and the bucket's name there from the tenant's routing table and the bucket's
//! placement — or answer it here (ListBuckets).

use std::sync::Arc;

use http::StatusCode;
use pingora::http::RequestHeader;

use super::access::{self, Access, Facts, Gate, Probe};
use super::authn;
use super::body;
use super::directory::{
    CachedDirectory, DirectoryError, Placement, Principal, PrincipalMap, TenantInfo,
};
use super::identity;
use super::keys::SigningKeys;
use super::list_buckets::{self, ANONYMOUS_LIST_BUCKETS};
use super::request::{Caller, Decision, Forward, PlacementAction, RequestCtx, Route, Signed};
use super::upstream::header;
use super::Snapshot;
use crate::backend::Backend;
use crate::config::Namespace;
use crate::routing::Table;
use crate::s3::op::{self, OpKind, S3Op};
use crate::s3::sigv4::Verified;
use crate::s3::S3Error;

/// The CreateBucket requests of new names in flight, by (tenant, bucket), from the moment their
/// placement is written until the backend answered (issue 12). While one is in flight, another
/// CreateBucket of the name is refused with OperationAborted rather than forwarded: two creates
/// reaching the backend at once would let the loser's refusal remove the winner's placement.
pub type Creating = dashmap::DashSet<(String, String)>;

fn operation_aborted(bucket: &str) -> S3Error {
    S3Error::new(
        StatusCode::CONFLICT,
        "OperationAborted",
        "A conflicting conditional operation is currently in progress against this resource. Please try again.",
    )
    .with_resource(format!("/{bucket}"))
}

/// Everything `request_filter` decides. Sets `ctx.op` and `ctx.tenant` as soon as they are
/// known (the access log names them even for a refused request).
pub async fn decide(
    dir: &CachedDirectory,
    keys: &SigningKeys,
    access: &Access,
    creating: &Creating,
    req: &RequestHeader,
    snap: &Arc<Snapshot>,
    ctx: &mut RequestCtx,
) -> Result<Decision, S3Error> {
    let query = op::parse_query(req.uri.query())?;
    let host = header(req, &http::header::HOST).unwrap_or("");
    let vhost = op::virtual_host_bucket(host, snap.config.s3.domain.as_deref());
    let s3op = S3Op::parse(
        &req.method,
        req.uri.path(),
        &query,
        vhost,
        req.headers
            .contains_key(&super::upstream::names::X_AMZ_COPY_SOURCE),
    )?;
    ctx.op = Some(s3op.clone());
    let facts = Facts::new(req, &query, ctx.client_ip, ctx.secure);
    let headers = authn::client_headers(req)?;
    if s3op.kind == OpKind::CorsPreflight {
        // preflights are unsigned by definition (Fetch standard, CORS-preflight request);
        // presign parameters on one (s3-tests `options` on a presigned URL) are ignored and
        // stripped, and the backend answers from the bucket's CORS rules
        return anonymous(dir, keys, access, snap, &s3op, &facts).await;
    }
    let Some((caller, verified)) = authn::authenticate(dir, req, &headers, vhost, snap).await?
    else {
        if s3op.kind == OpKind::PostObject {
            // a browser form names its signer in its fields: read in request_filter
            return Ok(Decision::ReadForm);
        }
        return anonymous(dir, keys, access, snap, &s3op, &facts).await;
    };
    ctx.tenant = Some(caller.key.tenant_id.clone());
    let tenant = authn::tenant(dir, &caller.key.tenant_id).await?;

    if s3op.kind == OpKind::ListBuckets {
        if query.iter().any(|(k, _)| k == "usage") {
            if let Some(f) =
                usage_listing(dir, keys, req, snap, &caller, &tenant, &verified).await?
            {
                return Ok(Decision::Forward(Box::new(f)));
            }
        }
        let listing = list_buckets::list_buckets(dir, keys, &caller, &tenant, snap).await?;
        ctx.degraded = listing.degraded;
        return Ok(Decision::Answer(listing.xml));
    }
    let bucket = s3op
        .bucket
        .clone()
        .ok_or_else(|| S3Error::invalid_request("this operation needs a bucket"))?;
    let mut f = if s3op.kind == OpKind::CreateBucket {
        create_bucket(
            dir, access, &facts, creating, snap, &caller, &tenant, &bucket,
        )
        .await?
    } else {
        existing_bucket(dir, snap, &caller, &tenant, &s3op, &bucket).await?
    };
    let backend = f.route.backend.clone();
    let key = keys.for_caller(&backend, &caller, &tenant).await?;
    if access::authorizes(backend.as_ref()) {
        // Osprey is the decision point (issue 11): authorized here, or answered here
        f.strip_acl_headers = true;
        if let Some(p) = f.placement.clone() {
            let probe = Probe {
                backend: backend.clone(),
                key: key.clone(),
                backend_bucket: f.route.backend_bucket.clone().unwrap_or_default(),
            };
            match access.gate(&caller.key, &s3op, &facts, &p, probe).await? {
                Gate::Forward(after) => f.after = after,
                Gate::Answer(mut op) => {
                    op.payload = Some(verified.payload);
                    return Ok(Decision::Local(op));
                }
            }
            if principal_op(s3op.kind) {
                // the backend names its one service identity as every owner and initiator:
                // clients see the bucket's owner instead
                let b = access.bucket(&p).await?;
                f.principals = Some(Arc::new(PrincipalMap::everyone_as(Principal {
                    tenant_id: p.tenant_id.clone(),
                    canonical_user_id: b.owner.id.as_str().to_string(),
                    display_name: b.owner.display_name.clone(),
                    backend_user: String::new(),
                })));
            }
        } else if s3op.kind == OpKind::CreateBucket {
            let role = crate::authz::Role::from_osis(&caller.key.role);
            if matches!(
                role,
                crate::authz::Role::ProviderAdmin | crate::authz::Role::ReadOnly
            ) {
                return Err(S3Error::access_denied(
                    "Access Denied: this user's OSIS role is read-only",
                ));
            }
        }
    }
    // the tenant's principal map only for requests that name principals (answers with
    // owners/grantees, ACL/policy bodies, grant headers): a GET/PUT of an object skips the
    // lookup and its key allocations
    let acl_upload = is_acl_upload(&s3op, req);
    let names_principals = || {
        principal_op(s3op.kind)
            || identity::GRANT_HEADER_NAMES
                .iter()
                .any(|h| req.headers.contains_key(h))
    };
    if backend.own_principals() && (acl_upload || names_principals()) {
        f.principals = Some(
            dir.principal_map(backend.name(), &caller.key.tenant_id)
                .await?,
        );
        if acl_upload {
            f.body = super::request::RequestBody::ReadAcl;
        }
    }
    f.signed = Some(Signed {
        plan: body::plan(&verified, backend.as_ref(), req),
        caller,
        verified,
        key,
    });
    if let PlacementAction::Created(p) = &f.action {
        // last, so nothing after it in this stage can fail and strand the placement
        let id = (p.tenant_id.clone(), p.bucket.clone());
        if !creating.insert(id.clone()) {
            return Err(operation_aborted(&bucket));
        }
        if let Err(e) = dir.put_placement(p.clone()).await {
            creating.remove(&id);
            return Err(match e {
                // a concurrent CreateBucket of the same name recorded it first (AWS's answer
                // to concurrent bucket creation); a retry takes the existing-name path
                DirectoryError::Conflict(_) => operation_aborted(&bucket),
                e => e.into(),
            });
        }
        if access::authorizes(backend.as_ref()) {
            // the ACL `x-amz-acl`/grants ask for, recorded with the placement: a bad one (or a
            // store that cannot record it) refuses the request with nothing created
            let caller = &f.signed.as_ref().map(|s| s.caller.clone());
            let recorded = match caller {
                Some(c) => access.create_bucket_acl(&c.key, &facts, p).await,
                None => Ok(()),
            };
            if let Err(e) = recorded {
                creating.remove(&id);
                if let Err(de) = dir.delete_placement(&p.tenant_id, &p.bucket).await {
                    tracing::error!(bucket = %p.bucket, error = %de, "provisional placement not removed");
                }
                return Err(e);
            }
        }
    }
    Ok(Decision::Forward(Box::new(f)))
}

/// RGW's `GET /?usage` (ListBuckets with the account's usage `Summary`): the backend's own
/// answer, when the tenant's buckets can live on one per-user backend only (its listing is then
/// the caller's buckets, as Osprey's would be). `None`: Osprey answers ListBuckets itself.
async fn usage_listing(
    dir: &CachedDirectory,
    keys: &SigningKeys,
    req: &RequestHeader,
    snap: &Snapshot,
    caller: &Caller,
    tenant: &TenantInfo,
    verified: &Verified,
) -> Result<Option<Forward>, S3Error> {
    let backends = table_of(snap, tenant).backends();
    let [only] = backends.as_slice() else {
        return Ok(None);
    };
    let Some(backend) = snap.backend(only).cloned() else {
        return Ok(None);
    };
    if !backend.own_principals() {
        return Ok(None);
    }
    let key = keys.for_caller(&backend, caller, tenant).await?;
    let mut f = Forward::new(Route {
        backend: backend.clone(),
        backend_bucket: None,
    });
    f.principals = Some(
        dir.principal_map(backend.name(), &caller.key.tenant_id)
            .await?,
    );
    f.signed = Some(Signed {
        plan: body::plan(verified, backend.as_ref(), req),
        caller: caller.clone(),
        verified: verified.clone(),
        key,
    });
    Ok(Some(f))
}

/// CreateBucket: a name the tenant already has goes to the bucket's backend, whose answer is
/// the client's (issue 10: RGW answers the owner 200, us-east-1 behaviour, another user 409
/// BucketAlreadyExists; the placement stays as it is). A new name goes where the tenant's
/// routing table says, and its placement is written (at the end of [`decide`]) **before** the
/// backend creates the bucket:
/// a store that cannot record it refuses the request with nothing created (issue 12: the
/// placement used to be written after the backend's 2xx, and a failed write left an orphan
/// bucket no request could reach).
#[allow(clippy::too_many_arguments)]
async fn create_bucket(
    dir: &CachedDirectory,
    access: &Access,
    facts: &Facts<'_>,
    creating: &Creating,
    snap: &Snapshot,
    caller: &Caller,
    tenant: &TenantInfo,
    bucket: &str,
) -> Result<Forward, S3Error> {
    op::validate_bucket_name(bucket)?;
    if let Some(p) = dir.placement(&caller.key.tenant_id, bucket).await? {
        if creating.contains(&(p.tenant_id.clone(), p.bucket.clone())) {
            return Err(operation_aborted(bucket));
        }
        let backend = placed_backend(snap, &p)?;
        if access::authorizes(backend.as_ref()) {
            if p.owner_user_id != caller.key.user_id {
                // the backend sees one identity and would answer "yours": another user's name
                // is taken (AWS's answer to a name someone else owns)
                return Err(S3Error::bucket_name_taken(bucket));
            }
            // the owner re-creating it with another ACL (RGW: 409 BucketAlreadyExists; the
            // backend never sees the ACL here, Osprey keeps it)
            access.check_recreate(&caller.key, facts, &p).await?;
        }
        let mut f = Forward::new(Route {
            backend,
            backend_bucket: Some(p.backend_bucket.clone()),
        });
        f.translate_names(&p.backend_bucket, bucket);
        return Ok(f);
    }
    let table = table_of(snap, tenant);
    if table.namespace == Namespace::Global
        && dir
            .inner()
            .placements_named(bucket)
            .await?
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
    let (_, rule) = table.rule_for(bucket).ok_or_else(|| {
        S3Error::invalid_bucket_name(bucket, "no routing rule of this tenant matches it")
    })?;
    let backend = snap
        .backend(&rule.backend)
        .cloned()
        .ok_or_else(|| S3Error::service_unavailable(&rule.backend, "not configured"))?;
    let backend_bucket = if backend.data_path().shared_namespace {
        crate::backend::naming::backend_bucket_name(&tenant.tenant_id, bucket)
    } else {
        bucket.to_string()
    };
    let placement = Placement {
        tenant_id: tenant.tenant_id.clone(),
        bucket: bucket.to_string(),
        backend: backend.name().to_string(),
        backend_bucket: backend_bucket.clone(),
        owner_user_id: caller.key.user_id.clone(),
        created_at: chrono::Utc::now(),
    };
    let mut f = Forward::new(Route {
        backend,
        backend_bucket: Some(backend_bucket.clone()),
    });
    f.translate_names(&backend_bucket, bucket);
    f.action = PlacementAction::Created(placement);
    Ok(f)
}

/// Any other operation on a bucket: its placement decides.
///
/// `<tenant id>:<bucket>` names another tenant's bucket (RGW's cross-tenant form). Only on
/// backends with per-user principals: the request is signed with the caller's own identity
/// there, so the backend's ACL/policy decides. Backends that see one identity would let anybody
/// in, so there the name is unknown.
async fn existing_bucket(
    dir: &CachedDirectory,
    snap: &Snapshot,
    caller: &Caller,
    tenant: &TenantInfo,
    s3op: &S3Op,
    bucket: &str,
) -> Result<Forward, S3Error> {
    let (owner_tenant, name) = match bucket.split_once(':') {
        Some((t, n)) if !t.is_empty() && !n.is_empty() => (t, n),
        _ => (caller.key.tenant_id.as_str(), bucket),
    };
    let mut found = dir
        .placement_of((owner_tenant.to_string(), name.to_string()))
        .await?;
    let mut via_global = false;
    if found.is_none()
        && owner_tenant == caller.key.tenant_id
        && table_of(snap, tenant).namespace == Namespace::Global
    {
        found = global_placement(dir, snap, name).await?.map(Arc::new);
        via_global = found.is_some();
    }
    let p = found.ok_or_else(|| S3Error::no_such_bucket(bucket))?;
    let backend = placed_backend(snap, &p)?;
    let cross = p.tenant_id != caller.key.tenant_id;
    // another tenant's bucket: on backends with per-user principals the backend decides; on
    // backends that see one identity Osprey does (issue 11), for names of the global namespace
    if cross && !backend.own_principals() && !(via_global && access::authorizes(backend.as_ref())) {
        return Err(S3Error::no_such_bucket(bucket));
    }
    let backend_bucket = if cross {
        backend.anonymous_bucket_path(&p.tenant_id, &p.backend_bucket)
    } else {
        p.backend_bucket.clone()
    };
    let mut f = Forward::new(Route {
        backend,
        backend_bucket: Some(backend_bucket.clone()),
    });
    f.translate_names(&backend_bucket, bucket);
    f.placement = Some(p.clone());
    if s3op.kind == OpKind::DeleteBucket {
        f.action = PlacementAction::Delete {
            tenant_id: p.tenant_id.clone(),
            bucket: p.bucket.clone(),
        };
    }
    Ok(f)
}

/// In a global namespace, the one placement of `bucket` whose tenant's table is global too
/// (a tenant-namespace tenant's names stay its own).
async fn global_placement(
    dir: &CachedDirectory,
    snap: &Snapshot,
    bucket: &str,
) -> Result<Option<Placement>, S3Error> {
    let mut hits = Vec::new();
    for p in dir.inner().placements_named(bucket).await? {
        let Some(t) = dir.tenant(&p.tenant_id).await? else {
            continue;
        };
        if table_of(snap, &t).namespace == Namespace::Global {
            hits.push(p);
        }
    }
    Ok(if hits.len() == 1 { hits.pop() } else { None })
}

/// Anonymous requests reach only buckets Osprey knows; the backend's own ACL/policy decides.
pub async fn anonymous(
    dir: &CachedDirectory,
    keys: &SigningKeys,
    access: &Access,
    snap: &Snapshot,
    s3op: &S3Op,
    facts: &Facts<'_>,
) -> Result<Decision, S3Error> {
    let Some(bucket) = s3op.bucket.as_deref() else {
        // anonymous ListBuckets: an empty list owned by `anonymous`, as RGW answers (no
        // tenant is named, so no bucket is the caller's)
        return Ok(Decision::Answer(ANONYMOUS_LIST_BUCKETS.to_string()));
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
        Some((tenant_id, name)) => dir
            .placement(tenant_id, name)
            .await?
            .map(|p| (*p).clone())
            .ok_or_else(denied)?,
        None => {
            let mut ps = dir.inner().placements_named(bucket).await?;
            if ps.len() != 1 {
                return Err(denied());
            }
            ps.remove(0)
        }
    };
    let backend = placed_backend(snap, &p)?;
    let service_key = if access::authorizes(backend.as_ref()) {
        // the backend would refuse anything unsigned (its buckets are its service user's):
        // Osprey decides, then signs with that key (issue 11); preflights are answered by the
        // bucket's CORS rules, so they pass
        let key = keys.service_key(&backend, &p.tenant_id).await?;
        if s3op.kind != OpKind::CorsPreflight {
            let probe = Probe {
                backend: backend.clone(),
                key: key.clone(),
                backend_bucket: p.backend_bucket.clone(),
            };
            access.gate_anonymous(s3op, facts, &p, &probe).await?;
        }
        Some(key)
    } else {
        None
    };
    let path_bucket = backend.anonymous_bucket_path(&p.tenant_id, &p.backend_bucket);
    let mut f = Forward::new(Route {
        backend,
        backend_bucket: Some(path_bucket),
    });
    f.strip_acl_headers = service_key.is_some();
    f.service_key = service_key;
    f.placement = Some(Arc::new(p.clone()));
    // responses name the bucket as the client addressed it (qualified or not)
    f.translate_names(&p.backend_bucket, bucket);
    Ok(Decision::Forward(Box::new(f)))
}

/// The backend a placement names, from this request's snapshot.
pub fn placed_backend(snap: &Snapshot, p: &Placement) -> Result<Arc<dyn Backend>, S3Error> {
    snap.backend(&p.backend).cloned().ok_or_else(|| {
        S3Error::service_unavailable(
            &p.backend,
            "the backend holding this bucket is no longer in the configuration",
        )
    })
}

/// The routing table of a tenant.
fn table_of<'s>(snap: &'s Snapshot, t: &TenantInfo) -> &'s Arc<Table> {
    snap.routing
        .table_for(crate::routing::TenantKey {
            tenant_id: &t.tenant_id,
            tenant_name: &t.name,
            cd_tenant_ids: &t.cd_tenant_ids,
        })
        .0
}

/// Operations whose answers name principals (`Owner`, `Grantee`, `Initiator`).
pub fn principal_op(kind: OpKind) -> bool {
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
    // the header lookups only for an ACL/policy PUT (this runs on every request)
    acl && req.method == http::Method::PUT && {
        header(req, &http::header::CONTENT_LENGTH).is_some_and(|l| l.trim() != "0")
            || req.headers.contains_key(&http::header::TRANSFER_ENCODING)
    }
}
