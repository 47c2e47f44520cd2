//! OSIS query filters and paging (osis-api.md §4).
//!
//! `key==value` terms joined by `;` and ANDed. Empty terms are skipped (the verifier sends a
//! trailing `;`). Keys an endpoint does not know are ignored, as Ceph RI does (§4.2) — the verifier
//! relies on that. A term that is not `key==value` is a 400: silently dropping a mistyped term
//! (`cd_tenant_id=X`) would widen the query to everything, which is worse than an error.

use super::error::ApiError;
use crate::store::{Paging, Term};

/// Default page size (Java controllers' default, §4.1).
pub const DEFAULT_LIMIT: u64 = 100;
/// Largest page served; larger `limit`s are clamped (and echoed clamped in `page_info`). Stops
/// one request from making Osprey decrypt and serialise an unbounded number of secrets.
pub const MAX_PAGE_LIMIT: u64 = 1000;
/// Longest filter accepted, so a hostile filter cannot make the store build a huge query.
pub const MAX_FILTER_BYTES: usize = 4096;

#[derive(Debug, Clone, Copy)]
pub enum Entity {
    Tenant,
    User,
    Credential,
}

pub fn paging(query: &[(String, String)]) -> Result<Paging, ApiError> {
    let mut p = Paging {
        offset: 0,
        limit: DEFAULT_LIMIT,
    };
    for (k, v) in query {
        match k.as_str() {
            "offset" => {
                p.offset = v.trim().parse().map_err(|_| {
                    ApiError::bad_request(format!(
                        "offset must be a non-negative integer, got `{v}`"
                    ))
                })?
            }
            "limit" => {
                let l: u64 = v.trim().parse().map_err(|_| {
                    ApiError::bad_request(format!(
                        "limit must be a non-negative integer, got `{v}`"
                    ))
                })?;
                p.limit = l.min(MAX_PAGE_LIMIT);
            }
            _ => {}
        }
    }
    Ok(p)
}

pub fn parse(filter: &str, entity: Entity) -> Result<Vec<Term>, ApiError> {
    if filter.len() > MAX_FILTER_BYTES {
        return Err(ApiError::bad_request(format!(
            "filter is {} bytes; at most {MAX_FILTER_BYTES} are accepted",
            filter.len()
        )));
    }
    let mut terms = Vec::new();
    for raw in filter.split(';') {
        let t = raw.trim();
        if t.is_empty() {
            continue;
        }
        let mut parts = t.split("==");
        let (Some(key), Some(value), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(ApiError::bad_request(format!(
                "filter term `{t}` is not of the form key==value (terms are joined by `;`)"
            )));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(ApiError::bad_request(format!(
                "filter term `{t}` has no key"
            )));
        }
        let v = value.to_string();
        let term = match (entity, key) {
            (_, "tenant_id") => Some(Term::TenantId(v)),
            (_, "cd_tenant_id") => Some(Term::CdTenantId(v)),
            (Entity::Tenant, "name") => Some(Term::TenantName(v)),
            (Entity::User | Entity::Credential, "user_id") => Some(Term::UserId(v)),
            (Entity::User | Entity::Credential, "cd_user_id") => Some(Term::CdUserId(v)),
            // OSE sends display_name for the user's name (§4.2): same key as username
            (Entity::User | Entity::Credential, "username" | "display_name") => {
                Some(Term::Username(v))
            }
            (Entity::User, "canonical_user_id") => Some(Term::CanonicalUserId(v)),
            (Entity::User, "email") => Some(Term::Email(v)),
            (Entity::User, "role") => Some(Term::Role(v)),
            (Entity::Credential, "access_key") => Some(Term::AccessKey(v)),
            (_, "active") => match value.trim() {
                "true" => Some(Term::Active(true)),
                "false" => Some(Term::Active(false)),
                other => {
                    return Err(ApiError::bad_request(format!(
                        "filter term `{t}`: active must be true or false, got `{other}`"
                    )))
                }
            },
            _ => None,
        };
        terms.extend(term);
    }
    Ok(terms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifier_filters() {
        let t = parse(
            "cd_tenant_id==C;cd_user_id==D;tenant_id==T;user_id==U;access_key==AK;",
            Entity::Credential,
        )
        .unwrap();
        assert_eq!(t.len(), 5);
        let t = parse(
            "tenant_id==T;cd_tenant_id==C;user_id==U;cd_user_id==D;username==N",
            Entity::User,
        )
        .unwrap();
        assert!(t.contains(&Term::Username("N".into())));
        assert_eq!(parse("", Entity::Tenant).unwrap(), vec![]);
        // unknown keys are ignored
        assert_eq!(parse("colour==red;", Entity::Tenant).unwrap(), vec![]);
    }

    #[test]
    fn bad_terms_are_400() {
        assert!(parse("cd_tenant_id=C", Entity::Tenant).is_err());
        assert!(parse("a==b==c", Entity::Tenant).is_err());
        assert!(parse("==x", Entity::Tenant).is_err());
        assert!(parse("active==maybe", Entity::User).is_err());
        let q = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        assert!(paging(&q("offset", "-1")).is_err());
        assert!(paging(&q("limit", "ten")).is_err());
        assert_eq!(paging(&q("limit", "99999")).unwrap().limit, MAX_PAGE_LIMIT);
    }
}
