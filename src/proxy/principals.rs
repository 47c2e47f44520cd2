//! OSIS canonical ids ↔ a backend's own principals (issue 10), for backends with per-user
//! identities: the store lookups behind the plain text functions of [`super::identity`].

use std::collections::HashMap;

use bytes::Bytes;

use pingora::proxy::Session;

use super::body;
use super::directory::{CachedDirectory, PrincipalMap};
use super::identity::{self, Mapped};
use super::request::{BodyPrefix, Forward, RequestBody};
use crate::s3::op::{OpKind, S3Op};
use crate::s3::S3Error;

/// OSIS canonical ids → the backend's principals for them: the caller's tenant from `own`,
/// any other Osprey user through the store. Ids nobody has are left out (forwarded as sent,
/// so the backend answers an unknown grantee as it would directly).
pub async fn resolve_canonical(
    directory: &CachedDirectory,
    backend: &str,
    own: &PrincipalMap,
    ids: impl IntoIterator<Item = String>,
) -> Result<HashMap<String, String>, S3Error> {
    let mut out = HashMap::new();
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
        let Some(t) = directory.tenant_of_canonical(&id).await? else {
            continue;
        };
        let map = directory.principal_map(backend, &t).await?;
        if let Some(p) = map.by_canonical(&id) {
            out.insert(id, p.backend_user.clone());
        }
    }
    Ok(out)
}

/// PutBucketAcl/PutObjectAcl/PutBucketPolicy on a backend with principals of its own: read
/// the (small) body whole, check it against what the client signed or declared, and
/// translate its principals. pingora replays the body from its retry buffer, where
/// `request_body_filter` swaps in the translation.
pub async fn take_acl_body(
    directory: &CachedDirectory,
    session: &mut Session,
    op: Option<&S3Op>,
    f: &mut Forward,
) -> Result<(), S3Error> {
    let whole = body::read_whole(session).await?;
    let (Some(signed), Some(map)) = (&f.signed, &f.principals) else {
        return Err(S3Error::internal("ACL body without signer or principals"));
    };
    body::check_signed_payload(signed.verified.payload, &whole)?;
    body::check_declared_digests(session.req_header(), &whole)?;
    let policy = op.is_some_and(|o| o.kind == OpKind::BucketSubresource("policy"));
    let out = translate_acl_body(directory, f.backend_name(), map, whole, policy).await?;
    f.body = RequestBody::Prefix(BodyPrefix {
        upstream_len: out.len() as u64,
        bytes: out,
        replaces_first: true,
        whole_acl: true,
        sent: false,
    });
    Ok(())
}

/// A PutBucketAcl/PutObjectAcl/PutBucketPolicy body with the backend's principals in place of
/// canonical ids. A body that is not UTF-8 XML (JSON for a policy) goes on unchanged: the
/// backend's own error answers it.
pub async fn translate_acl_body(
    directory: &CachedDirectory,
    backend: &str,
    own: &PrincipalMap,
    body: Bytes,
    policy: bool,
) -> Result<Bytes, S3Error> {
    let Ok(text) = std::str::from_utf8(&body) else {
        return Ok(body);
    };
    if policy {
        let ids = identity::policy_grant_ids(text);
        let resolved = resolve_canonical(directory, backend, own, ids).await?;
        return Ok(identity::rewrite_policy_grants(text, |id| {
            resolved.get(id).map(|b| b.as_str().into())
        })
        .map(Bytes::from)
        .unwrap_or(body));
    }
    let Ok(ids) = identity::principal_ids(text) else {
        return Ok(body);
    };
    let resolved = resolve_canonical(directory, backend, own, ids).await?;
    Ok(identity::rewrite_principals(text, |id| {
        resolved.get(id).map(|b| Mapped {
            id: b.as_str().into(),
            display_name: None,
        })
    })
    .map(Bytes::from)
    .unwrap_or(body))
}

/// An `x-amz-grant-*` value with the backend's principal for every `id="<canonical id>"`.
pub async fn translate_grant_header(
    directory: &CachedDirectory,
    backend: &str,
    own: &PrincipalMap,
    value: &str,
) -> Result<String, S3Error> {
    let ids = identity::grant_header_ids(value)
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>();
    let resolved = resolve_canonical(directory, backend, own, ids).await?;
    Ok(identity::rewrite_grant_header(value, |id| {
        resolved.get(id).map(|b| b.as_str().into())
    }))
}

/// A backend answer with OSIS canonical ids (and display names) in place of the backend's
/// principals; for GetBucketPolicy, grant conditions read back as the client wrote them.
pub fn translate_answer(
    text: String,
    map: &PrincipalMap,
    policy: bool,
    request_id: &str,
) -> String {
    if policy {
        return identity::rewrite_policy_grants(&text, |id| {
            map.by_backend_user(id)
                .map(|p| p.canonical_user_id.as_str().into())
        })
        .unwrap_or(text);
    }
    match identity::rewrite_principals(&text, |id| {
        map.by_backend_user(id).map(|p| Mapped {
            id: p.canonical_user_id.as_str().into(),
            display_name: Some(p.display_name.as_str().into()),
        })
    }) {
        Ok(x) => x,
        Err(e) => {
            tracing::warn!(request_id, error = %e, "backend answer not translated (principal ids)");
            text
        }
    }
}
