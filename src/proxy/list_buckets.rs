//! ListBuckets: Osprey's own answer, the tenant's buckets across all its backends.

use std::sync::Arc;

use super::directory::{CachedDirectory, Placement, TenantInfo};
use super::keys::SigningKeys;
use super::request::Caller;
use super::Snapshot;
use crate::backend::Backend;
use crate::s3::S3Error;

/// The answer to an anonymous ListBuckets (RGW's: nobody's buckets).
pub const ANONYMOUS_LIST_BUCKETS: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListAllMyBucketsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Owner><ID>anonymous</ID><DisplayName></DisplayName></Owner><Buckets></Buckets></ListAllMyBucketsResult>";

/// A ListBuckets answer.
pub struct Listing {
    pub xml: String,
    /// Backends that did not answer, for `x-osprey-degraded`.
    pub degraded: Option<String>,
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
pub async fn list_buckets(
    directory: &CachedDirectory,
    keys: &SigningKeys,
    caller: &Caller,
    tenant: &TenantInfo,
    snap: &Snapshot,
) -> Result<Listing, S3Error> {
    use quick_xml::escape::escape;
    let mut ps = directory.inner().placements(&caller.key.tenant_id).await?;
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
            let key = keys
                .for_caller(b, caller, tenant)
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
                    match directory.put_placement(p.clone()).await {
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
    // A user lists the buckets it owns, as it would on the backend with an identity of its
    // own (RGW, AWS); on backends that see one identity Osprey keeps the owners (issue 11), and
    // a TENANT_ADMIN, who administers the tenant's buckets there, lists them all.
    let admin = crate::authz::Role::from_osis(&caller.key.role) == crate::authz::Role::TenantAdmin;
    ps.retain(|p| {
        p.owner_user_id == caller.key.user_id
            || (admin
                && snap
                    .backend(&p.backend)
                    .is_none_or(|b| super::access::authorizes(b.as_ref())))
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
    Ok(Listing {
        xml: x,
        degraded: (!degraded.is_empty()).then(|| degraded.join(",")),
    })
}
