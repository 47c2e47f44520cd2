//! Stage 2b of a request on a backend that sees one identity (issue 11): Osprey decides, as the
//! backend would with per-user identities. The decision itself is [`crate::authz`]'s; this
//! stage loads what it needs (bucket and object access records, cached), answers the ACL,
//! policy and PublicAccessBlock operations from Osprey's store, and records the owner and ACL
//! of objects once the backend stored them.

mod answers;
mod kinds;
mod replicas;

pub use kinds::LocalKind;
pub use replicas::{upload_record_key, UPLOAD_RECORD_PREFIX};

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Method, StatusCode};
use moka::sync::Cache;

use super::directory::{CachedDirectory, KeyEntry, Placement, UserInfo, DIRECTORY_CACHE_CAPACITY};
use crate::authz::acl::{self, NamedGrant, NamedGrantee, GRANT_HEADERS};
use crate::authz::{
    self, action_for, Acl, BucketAuth, Canned, CanonicalId, Grant, Grantee, ObjectAuth, Owner,
    Policy, PublicAccessBlock, RequestContext, Requester, Role, UserFacts,
};
use crate::backend::{Backend, IdentityScope, SigningKey};
use crate::s3::op::{OpKind, S3Op};
use crate::s3::S3Error;
use crate::store::{BucketAccessRow, ObjectAccessRow};

/// How long a bucket's or object's access record is trusted from the cache (default 60 s, the
/// directory's TTL). Every change Osprey makes drops the entry at once; the TTL bounds a change
/// made behind its back (another replica, issue 15).
pub const ACCESS_CACHE_TTL: Duration = Duration::from_secs(60);

/// How long the ACL given at CreateMultipartUpload waits for its CompleteMultipartUpload (default
/// 24 h, in memory): an upload completed later, or after a restart, gets the default ACL (the
/// writer's `private`), documented in docs/authorization.md.
pub const UPLOAD_ACL_TTL: Duration = Duration::from_secs(24 * 3600);

/// Osprey is the decision point on this backend: it cannot tell one user from another.
pub fn authorizes(backend: &dyn Backend) -> bool {
    backend.identity_scope() != IdentityScope::PerUser
}

pub fn requester(k: &KeyEntry) -> Requester<'_> {
    Requester::User(UserFacts {
        tenant_id: &k.tenant_id,
        user_id: &k.user_id,
        username: &k.username,
        canonical_id: &k.canonical_user_id,
        role: Role::from_osis(&k.role),
    })
}

type BucketId = (String, String);

/// The access records, cached.
pub struct Access {
    dir: Arc<CachedDirectory>,
    buckets: Cache<BucketId, Arc<BucketAuth>>,
    objects: Cache<(String, String, String), Option<Arc<ObjectAuth>>>,
    /// (tenant, bucket, key) → the ACL a CreateMultipartUpload asked for.
    uploads: Cache<(String, String, String), Arc<ObjectAuth>>,
    /// Bumped by every forget before it removes anything: a lookup that read the store before a
    /// change and caches after it drops what it cached (as `CachedDirectory` does).
    generation: AtomicU64,
}

/// Where an object-level local operation checks that the object exists.
pub struct Probe {
    pub backend: Arc<dyn Backend>,
    pub key: Arc<SigningKey>,
    pub backend_bucket: String,
}

/// An operation to answer here, authorized.
pub struct LocalOp {
    pub kind: LocalKind,
    pub placement: Arc<Placement>,
    pub bucket: Arc<BucketAuth>,
    pub key: Option<String>,
    pub version_id: Option<String>,
    /// The request's `x-amz-acl` / `x-amz-grant-*` headers.
    pub acl_headers: Vec<(String, String)>,
    pub probe: Option<Probe>,
    /// For PutObjectAcl: the object's current record.
    pub object: Option<Arc<ObjectAuth>>,
    /// What the client signed of its body (set by the route stage; checked when read).
    pub payload: Option<crate::s3::sigv4::PayloadMode>,
}

/// The answer to a [`LocalOp`].
pub struct LocalAnswer {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: String,
}

/// What the backend's 2xx leaves Osprey to record.
pub enum AfterWrite {
    /// An object written (PutObject, CopyObject, PostObject, CompleteMultipartUpload): its
    /// record, or none when it is the bucket owner's `private` default.
    Object {
        tenant_id: String,
        bucket: String,
        key: String,
        auth: Option<ObjectAuth>,
        /// The bucket has records already (a default write must clear an old one).
        had_records: bool,
        /// A CompleteMultipartUpload: its upload's stored ACL record goes too.
        completes_upload: bool,
    },
    /// CreateMultipartUpload: the ACL the completed object gets.
    Upload {
        id: (String, String, String),
        auth: Arc<ObjectAuth>,
        /// An ACL was asked for: it is also stored ([`upload_record_key`]), so a replica
        /// other than this one can complete the upload with it (issue 15).
        durable: bool,
    },
    /// DeleteObject: the record goes with the object.
    Deleted {
        tenant_id: String,
        bucket: String,
        key: String,
    },
    /// DeleteBucket: cached records dropped (the store removes them with the placement).
    BucketGone { tenant_id: String, bucket: String },
}

/// The request facts the evaluator reads.
pub struct Facts<'a> {
    pub method: &'a Method,
    pub headers: &'a HeaderMap,
    pub query: &'a [(String, String)],
    pub client_ip: Option<IpAddr>,
    pub secure: bool,
}

impl<'a> Facts<'a> {
    pub fn new(
        req: &'a pingora::http::RequestHeader,
        query: &'a [(String, String)],
        client_ip: Option<IpAddr>,
        secure: bool,
    ) -> Self {
        Facts {
            method: &req.method,
            headers: &req.headers,
            query,
            client_ip,
            secure,
        }
    }

    fn context<'s>(&'s self, tags: Option<&'s [(String, String)]>) -> RequestContext<'s> {
        RequestContext {
            source_ip: self.client_ip,
            secure: self.secure,
            headers: self.headers,
            query: self.query,
            object_tags: tags,
        }
    }

    fn version_id(&self) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == "versionId")
            .map(|(_, v)| v.as_str())
    }

    fn acl_headers(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for name in std::iter::once("x-amz-acl").chain(GRANT_HEADERS.iter().map(|(h, _)| *h)) {
            for v in self.headers.get_all(name) {
                if let Ok(v) = v.to_str() {
                    out.push((name.to_string(), v.to_string()));
                }
            }
        }
        out
    }
}

/// What [`Access::gate`] decided for an authorized request.
pub enum Gate {
    Forward(Option<AfterWrite>),
    Answer(Box<LocalOp>),
}

fn unreadable(what: &str, e: impl std::fmt::Display) -> S3Error {
    tracing::error!(what, error = %e, "stored access record unreadable");
    S3Error::internal(format!("Osprey's stored {what} cannot be read"))
}

fn owner_of(u: Option<UserInfo>) -> Owner {
    match u {
        Some(u) => Owner {
            id: CanonicalId(u.canonical_user_id),
            display_name: u.username,
        },
        // the owner's user was deleted: nobody is the owner any more (the tenant's admin
        // still administers the bucket)
        None => Owner {
            id: CanonicalId(String::new()),
            display_name: String::new(),
        },
    }
}

fn caller_owner(k: &KeyEntry) -> Owner {
    Owner {
        id: CanonicalId(k.canonical_user_id.clone()),
        display_name: k.username.clone(),
    }
}

impl Access {
    pub fn new(dir: Arc<CachedDirectory>) -> Self {
        Access {
            dir,
            buckets: Cache::builder()
                .max_capacity(DIRECTORY_CACHE_CAPACITY)
                .time_to_live(ACCESS_CACHE_TTL)
                .support_invalidation_closures()
                .build(),
            objects: Cache::builder()
                .max_capacity(DIRECTORY_CACHE_CAPACITY)
                .time_to_live(ACCESS_CACHE_TTL)
                .support_invalidation_closures()
                .build(),
            uploads: Cache::builder()
                .max_capacity(DIRECTORY_CACHE_CAPACITY)
                .time_to_live(UPLOAD_ACL_TTL)
                .build(),
            generation: AtomicU64::new(0),
        }
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub fn forget_bucket(&self, tenant_id: &str, bucket: &str) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.buckets
            .invalidate(&(tenant_id.to_string(), bucket.to_string()));
    }

    /// The bucket's access record (the owner's `private` default when none was set).
    pub async fn bucket(&self, p: &Placement) -> Result<Arc<BucketAuth>, S3Error> {
        let id = (p.tenant_id.clone(), p.bucket.clone());
        if let Some(b) = self.buckets.get(&id) {
            return Ok(b);
        }
        let g = self.generation();
        let inner = self.dir.inner();
        let row = inner.bucket_access(&p.tenant_id, &p.bucket).await?;
        let owner = owner_of(inner.user(&p.tenant_id, &p.owner_user_id).await?);
        let acl = match &row.acl {
            Some(j) => serde_json::from_str(j).map_err(|e| unreadable("bucket ACL", e))?,
            None => Acl::private(&owner),
        };
        let policy = match &row.policy {
            Some(t) => Some(Arc::new(
                Policy::parse(t, &p.bucket).map_err(|e| unreadable("bucket policy", e))?,
            )),
            None => None,
        };
        let public_access_block = match &row.public_access_block {
            Some(j) => {
                Some(serde_json::from_str(j).map_err(|e| unreadable("PublicAccessBlock", e))?)
            }
            None => None,
        };
        let b = Arc::new(BucketAuth {
            tenant_id: p.tenant_id.clone(),
            bucket: p.bucket.clone(),
            owner,
            acl,
            policy,
            public_access_block,
            object_records: row.object_records,
        });
        self.buckets.insert(id.clone(), b.clone());
        if self.generation() != g {
            self.buckets.invalidate(&id);
        }
        Ok(b)
    }

    /// The object's record, `None` for the bucket owner's `private` default.
    pub async fn object(
        &self,
        b: &BucketAuth,
        key: &str,
    ) -> Result<Option<Arc<ObjectAuth>>, S3Error> {
        if !b.object_records {
            return Ok(None);
        }
        let id = (b.tenant_id.clone(), b.bucket.clone(), key.to_string());
        if let Some(o) = self.objects.get(&id) {
            return Ok(o);
        }
        let g = self.generation();
        let row = self
            .dir
            .inner()
            .object_access(&b.tenant_id, &b.bucket, key)
            .await?;
        let o = match row {
            Some(r) => Some(Arc::new(
                serde_json::from_str::<ObjectAuth>(&r.access)
                    .map_err(|e| unreadable("object ACL", e))?,
            )),
            None => None,
        };
        self.objects.insert(id.clone(), o.clone());
        if self.generation() != g {
            self.objects.invalidate(&id);
        }
        Ok(o)
    }

    /// The decision for `who` (signed or anonymous) on `s3op`, with what it needs: the object's
    /// record, its tags when the policy reads them, and (AWS: a caller who may list the bucket
    /// learns that an object is missing) a 404 instead of the refusal of a read of an object
    /// that is not there.
    async fn decide(
        &self,
        who: &Requester<'_>,
        s3op: &S3Op,
        facts: &Facts<'_>,
        b: &BucketAuth,
        probe: &Probe,
    ) -> Result<Option<Arc<ObjectAuth>>, S3Error> {
        let versioned = facts.version_id().is_some();
        let action = action_for(s3op.kind, facts.method, versioned)
            .ok_or_else(|| S3Error::access_denied("Access Denied"))?;
        let key = s3op.key.as_deref();
        let object = match (action.target, key) {
            (authz::Target::Object, Some(k)) => self.object(b, k).await?,
            _ => None,
        };
        let tags = match (&b.policy, key) {
            (Some(p), Some(k)) if p.uses_object_tags() => Some(
                crate::backend::usage::object_tags(
                    probe.backend.data_path(),
                    &probe.key,
                    &probe.backend_bucket,
                    k,
                    facts.version_id(),
                    probe.backend.config().timeout,
                )
                .await
                .map_err(|e| S3Error::service_unavailable(probe.backend.name(), &e.to_string()))?,
            ),
            _ => None,
        };
        let resource = authz::resource_arn(&b.bucket, key);
        let ctx = facts.context(tags.as_deref());
        let denied = match authz::authorize(who, &action, b, object.as_deref(), &resource, &ctx) {
            Ok(()) => return Ok(object),
            Err(d) => d,
        };
        if let (OpKind::GetObject | OpKind::HeadObject, Some(k)) = (s3op.kind, key) {
            let list = action_for(OpKind::ListObjects, &Method::GET, false)
                .ok_or_else(|| S3Error::internal("no action for ListObjects"))?;
            let bucket_arn = authz::resource_arn(&b.bucket, None);
            if authz::authorize(who, &list, b, None, &bucket_arn, &ctx).is_ok()
                && self.exists(probe, k, facts.version_id()).await? == Some(false)
            {
                return Err(no_such_key(&b.bucket, k));
            }
        }
        Err(if matches!(who, Requester::Anonymous) {
            S3Error::access_denied("Access Denied")
        } else {
            denied.into()
        })
    }

    /// Whether the object exists on the backend (`None`: the backend gave no clear answer).
    async fn exists(
        &self,
        probe: &Probe,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Option<bool>, S3Error> {
        let status = crate::backend::usage::head_object(
            probe.backend.data_path(),
            &probe.key,
            &probe.backend_bucket,
            key,
            version_id,
            probe.backend.config().timeout,
        )
        .await
        .map_err(|e| S3Error::service_unavailable(probe.backend.name(), &e.to_string()))?;
        Ok(match status {
            200..=299 => Some(true),
            404 => Some(false),
            _ => None,
        })
    }

    /// Authorize a signed request on a bucket of a shared-identity backend.
    pub async fn gate(
        &self,
        who: &KeyEntry,
        s3op: &S3Op,
        facts: &Facts<'_>,
        placement: &Arc<Placement>,
        probe: Probe,
    ) -> Result<Gate, S3Error> {
        let requester = requester(who);
        let b = self.bucket(placement).await?;
        let key = s3op.key.as_deref();
        let object = self.decide(&requester, s3op, facts, &b, &probe).await?;
        if let Some(kind) = LocalKind::of(s3op, facts.method) {
            return Ok(Gate::Answer(Box::new(LocalOp {
                kind,
                placement: placement.clone(),
                bucket: b,
                key: key.map(str::to_string),
                version_id: facts.version_id().map(str::to_string),
                acl_headers: facts.acl_headers(),
                probe: Some(probe),
                object,
                payload: None,
            })));
        }
        if let Some(src) = facts
            .headers
            .get(&crate::proxy::upstream::names::X_AMZ_COPY_SOURCE)
        {
            // UTF-8 (not only ASCII: keys may hold any character); bytes that are not name no
            // bucket at all
            let src = std::str::from_utf8(src.as_bytes())
                .map_err(|_| S3Error::no_such_bucket(&String::from_utf8_lossy(src.as_bytes())))?;
            self.check_copy_source(who, &requester, facts, src).await?;
        }
        self.after_write(who, s3op, facts, &b)
            .await
            .map(Gate::Forward)
    }

    /// CopyObject / UploadPartCopy read their source: GetObject on it, by the same rules.
    async fn check_copy_source(
        &self,
        who: &KeyEntry,
        requester: &Requester<'_>,
        facts: &Facts<'_>,
        src: &str,
    ) -> Result<(), S3Error> {
        let (bucket, key, version) = super::upstream::parse_copy_source(src)?;
        let Some(p) = self.dir.placement(&who.tenant_id, &bucket).await? else {
            return Err(S3Error::no_such_bucket(&bucket));
        };
        let b = self.bucket(&p).await?;
        let action = action_for(OpKind::GetObject, &Method::GET, version.is_some())
            .ok_or_else(|| S3Error::internal("no action for GetObject"))?;
        let o = self.object(&b, &key).await?;
        let empty = HeaderMap::new();
        let ctx = RequestContext {
            source_ip: facts.client_ip,
            secure: facts.secure,
            headers: &empty,
            query: &[],
            object_tags: None,
        };
        authz::authorize(
            requester,
            &action,
            &b,
            o.as_deref(),
            &authz::resource_arn(&b.bucket, Some(&key)),
            &ctx,
        )?;
        Ok(())
    }

    /// What a write leaves to record, decided before forwarding (the ACL it asks for is
    /// checked now, so a bad one is refused with nothing stored).
    async fn after_write(
        &self,
        who: &KeyEntry,
        s3op: &S3Op,
        facts: &Facts<'_>,
        b: &BucketAuth,
    ) -> Result<Option<AfterWrite>, S3Error> {
        // what a write records is built in its arm: a read (most requests) allocates nothing
        // here (issue 13: the ACL headers were gathered for every object request)
        let Some(key) = s3op.key.as_deref() else {
            return Ok(match s3op.kind {
                OpKind::DeleteBucket => Some(AfterWrite::BucketGone {
                    tenant_id: b.tenant_id.clone(),
                    bucket: b.bucket.clone(),
                }),
                _ => None,
            });
        };
        let id = || (b.tenant_id.clone(), b.bucket.clone(), key.to_string());
        Ok(match s3op.kind {
            OpKind::PutObject | OpKind::CopyObject => {
                let writer = caller_owner(who);
                let acl = self
                    .acl_from_headers(&facts.acl_headers(), &writer, &b.owner)
                    .await?;
                self.block_public(b, acl.as_ref())?;
                Some(self.object_write(b, key.to_string(), writer, acl))
            }
            OpKind::CreateMultipartUpload => {
                let writer = caller_owner(who);
                let acl = self
                    .acl_from_headers(&facts.acl_headers(), &writer, &b.owner)
                    .await?;
                self.block_public(b, acl.as_ref())?;
                let durable = acl.is_some();
                let acl = acl.unwrap_or_else(|| Acl::private(&writer));
                Some(AfterWrite::Upload {
                    id: id(),
                    auth: Arc::new(ObjectAuth { owner: writer, acl }),
                    durable,
                })
            }
            OpKind::CompleteMultipartUpload => {
                let (acl, stored) = match self.uploads.get(&id()) {
                    Some(a) => (Some(a.acl.clone()), false),
                    // created through another replica (or before a restart): its stored record
                    None => match self.upload_record(b, key).await? {
                        Some(a) => (Some(a.acl), true),
                        None => (None, false),
                    },
                };
                let mut w = self.object_write(b, key.to_string(), caller_owner(who), acl);
                if let AfterWrite::Object {
                    completes_upload, ..
                } = &mut w
                {
                    *completes_upload = stored || b.object_records;
                }
                Some(w)
            }
            OpKind::DeleteObject if b.object_records && facts.version_id().is_none() => {
                Some(AfterWrite::Deleted {
                    tenant_id: b.tenant_id.clone(),
                    bucket: b.bucket.clone(),
                    key: key.to_string(),
                })
            }
            _ => None,
        })
    }

    fn object_write(
        &self,
        b: &BucketAuth,
        key: String,
        writer: Owner,
        acl: Option<Acl>,
    ) -> AfterWrite {
        let acl = acl.unwrap_or_else(|| Acl::private(&writer));
        self.object_write_as(b, key, ObjectAuth { owner: writer, acl })
    }

    /// BlockPublicAcls: a public ACL is refused (S3 user guide, "Blocking public access").
    fn block_public(&self, b: &BucketAuth, acl: Option<&Acl>) -> Result<(), S3Error> {
        let blocked = b.public_access_block.is_some_and(|p| p.block_public_acls);
        if blocked && acl.is_some_and(Acl::is_public) {
            return Err(S3Error::access_denied(
                "Access Denied: the bucket's PublicAccessBlock (BlockPublicAcls) refuses public ACLs",
            ));
        }
        Ok(())
    }

    /// Record what the backend's 2xx made true (`ok`); failures are logged, never lost
    /// silently: the object stays its bucket owner's.
    pub async fn settle(&self, after: AfterWrite, ok: bool) {
        if !ok {
            return;
        }
        let inner = self.dir.inner();
        match after {
            AfterWrite::Object {
                tenant_id,
                bucket,
                key,
                auth,
                had_records,
                completes_upload,
            } => {
                let id = (tenant_id, bucket, key);
                if let Err(e) = self.record_object(&id, auth.as_ref(), had_records).await {
                    tracing::error!(bucket = id.1, key = id.2, error = %e.message, "the object's owner/ACL could not be recorded; it stays the bucket owner's");
                }
                self.uploads.invalidate(&id);
                if completes_upload {
                    let _ = inner
                        .delete_object_access(&id.0, &id.1, &upload_record_key(&id.2))
                        .await;
                }
            }
            AfterWrite::Upload { id, auth, durable } => {
                if durable {
                    let rec = (id.0.clone(), id.1.clone(), upload_record_key(&id.2));
                    if let Err(e) = self.record_object(&rec, Some(&auth), false).await {
                        tracing::warn!(bucket = id.1, key = id.2, error = %e.message, "the upload's ACL could not be stored; only this replica will apply it at completion");
                    }
                }
                self.uploads.insert(id, auth);
            }
            AfterWrite::Deleted {
                tenant_id,
                bucket,
                key,
            } => {
                let id = (tenant_id.clone(), bucket.clone(), key.clone());
                if let Err(e) = inner.delete_object_access(&tenant_id, &bucket, &key).await {
                    tracing::warn!(bucket, key, error = %e, "a deleted object's access record stays (replaced by its next write)");
                }
                self.objects.invalidate(&id);
            }
            AfterWrite::BucketGone { tenant_id, bucket } => self.forget_bucket(&tenant_id, &bucket),
        }
    }

    /// The ACL a request's `x-amz-acl` or `x-amz-grant-*` headers ask for (`None`: neither).
    pub async fn acl_from_headers(
        &self,
        headers: &[(String, String)],
        owner: &Owner,
        bucket_owner: &Owner,
    ) -> Result<Option<Acl>, S3Error> {
        let canned: Vec<&str> = headers
            .iter()
            .filter(|(n, _)| n == "x-amz-acl")
            .map(|(_, v)| v.as_str())
            .collect();
        let mut named = Vec::new();
        for (n, v) in headers {
            if let Some((_, p)) = GRANT_HEADERS.iter().find(|(h, _)| h == n) {
                named.extend(acl::parse_grant_header(v, *p)?);
            }
        }
        match (canned.as_slice(), named.is_empty()) {
            ([], true) => Ok(None),
            ([c], true) => Ok(Some(Canned::parse(c)?.acl(owner, bucket_owner))),
            ([], false) => Ok(Some(Acl {
                grants: self.resolve(named).await?,
            })),
            _ => Err(S3Error::invalid_request(
                "Specifying both Canned ACLs and Header Grants is not allowed",
            )),
        }
    }

    /// Grantees by id or e-mail checked against the identity store.
    async fn resolve(&self, named: Vec<NamedGrant>) -> Result<Vec<Grant>, S3Error> {
        let inner = self.dir.inner();
        let mut out = Vec::with_capacity(named.len());
        for g in named {
            let grantee = match g.grantee {
                NamedGrantee::Group(gr) => Grantee::Group(gr),
                NamedGrantee::Id(id) => {
                    let u = inner
                        .user_by_canonical(&id)
                        .await?
                        .ok_or_else(|| S3Error::invalid_argument("Invalid id"))?;
                    Grantee::User {
                        id: CanonicalId(u.canonical_user_id),
                        display_name: u.username,
                        email: None,
                    }
                }
                NamedGrantee::Email(e) => {
                    let u = inner.user_by_email(&e).await?.ok_or_else(|| {
                        S3Error::new(
                            StatusCode::BAD_REQUEST,
                            "UnresolvableGrantByEmailAddress",
                            "The e-mail address you provided does not match any account on record.",
                        )
                    })?;
                    Grantee::User {
                        id: CanonicalId(u.canonical_user_id),
                        display_name: u.username,
                        email: Some(e),
                    }
                }
            };
            if !out
                .iter()
                .any(|x: &Grant| x.grantee == grantee && x.permission == g.permission)
            {
                out.push(Grant {
                    grantee,
                    permission: g.permission,
                });
            }
        }
        Ok(out)
    }

    /// CreateBucket with `x-amz-acl` / grants: the bucket's ACL, recorded with its placement.
    pub async fn create_bucket_acl(
        &self,
        who: &KeyEntry,
        facts: &Facts<'_>,
        placement: &Placement,
    ) -> Result<(), S3Error> {
        let owner = caller_owner(who);
        self.forget_bucket(&placement.tenant_id, &placement.bucket);
        let Some(acl) = self
            .acl_from_headers(&facts.acl_headers(), &owner, &owner)
            .await?
        else {
            return Ok(());
        };
        let row = BucketAccessRow {
            acl: Some(serde_json::to_string(&acl).map_err(|e| unreadable("ACL", e))?),
            ..Default::default()
        };
        self.dir
            .inner()
            .put_bucket_access(&placement.tenant_id, &placement.bucket, &row)
            .await?;
        Ok(())
    }

    /// CreateBucket by the owner of an existing bucket: an ACL other than the bucket's is a
    /// conflict (RGW, the parity baseline, answers 409 BucketAlreadyExists).
    pub async fn check_recreate(
        &self,
        who: &KeyEntry,
        facts: &Facts<'_>,
        placement: &Placement,
    ) -> Result<(), S3Error> {
        let owner = caller_owner(who);
        // no ACL header asks for `private`, the ACL every CreateBucket gives by default
        let asked = self
            .acl_from_headers(&facts.acl_headers(), &owner, &owner)
            .await?
            .unwrap_or_else(|| Acl::private(&owner));
        let b = self.bucket(placement).await?;
        if asked != b.acl {
            return Err(S3Error::bucket_name_taken(&placement.bucket));
        }
        Ok(())
    }

    /// An anonymous request on a bucket of a shared-identity backend.
    pub async fn gate_anonymous(
        &self,
        s3op: &S3Op,
        facts: &Facts<'_>,
        placement: &Placement,
        probe: &Probe,
    ) -> Result<(), S3Error> {
        if LocalKind::of(s3op, facts.method).is_some() {
            // ACL and policy documents are never shown to or changed by anonymous callers here
            return Err(S3Error::access_denied("Access Denied"));
        }
        let b = self.bucket(placement).await?;
        self.decide(&Requester::Anonymous, s3op, facts, &b, probe)
            .await
            .map(|_| ())
    }
}

fn no_such_key(bucket: &str, key: &str) -> S3Error {
    S3Error::new(
        StatusCode::NOT_FOUND,
        "NoSuchKey",
        "The specified key does not exist.",
    )
    .with_resource(format!("/{bucket}/{key}"))
}
