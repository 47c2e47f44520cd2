//! Row readers and writers shared by the PostgreSQL `Store` methods (the counterpart of
//! `sqlite/rows.rs`, query for query).

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::super::*;
use super::{is_unique_violation, pg_err, q, q_opt};
use crate::store::sealing::{open_credential_secret, seal_credential};

/// A query parameter owned by a dynamically built statement (filters).
pub(super) type Param = Box<dyn ToSql + Sync + Send>;

/// LISTEN/NOTIFY channel on which every committed change that makes another replica's cached
/// answers stale is announced ([`Change`] as JSON; `feed.rs` listens). Sent inside the changing
/// transaction where there is one (heard exactly when it commits), otherwise right after the
/// write on the same connection.
pub const CHANGE_CHANNEL: &str = "osprey_changes";

pub(super) async fn notify(c: &impl GenericClient, change: Change) -> Result<()> {
    c.execute(
        "SELECT pg_notify($1, $2)",
        &[&CHANGE_CHANNEL, &change.payload()],
    )
    .await
    .map_err(pg_err)?;
    Ok(())
}

pub(super) async fn cd_ids(c: &impl GenericClient, tenant_id: &str) -> Result<Vec<String>> {
    Ok(q(
        c,
        "SELECT cd_tenant_id FROM tenant_cd_ids WHERE tenant_id = $1 ORDER BY position",
        &[&tenant_id],
    )
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect())
}

pub(super) async fn read_tenant(c: &impl GenericClient, tenant_id: &str) -> Result<Option<Tenant>> {
    let Some(r) = q_opt(
        c,
        "SELECT tenant_id, name, active, created_at FROM tenants WHERE tenant_id = $1",
        &[&tenant_id],
    )
    .await?
    else {
        return Ok(None);
    };
    let tenant_id: String = r.get(0);
    let cd_tenant_ids = cd_ids(c, &tenant_id).await?;
    Ok(Some(Tenant {
        tenant_id,
        name: r.get(1),
        active: r.get(2),
        cd_tenant_ids,
        created_at: r.get(3),
    }))
}

pub(super) const USER_COLS: &str = "u.tenant_id, u.user_id, u.canonical_user_id, u.username, u.email, u.role, u.cd_user_id, u.cd_tenant_id, u.active, u.created_at";

pub(super) fn user_from_row(r: &Row) -> User {
    User {
        tenant_id: r.get(0),
        user_id: r.get(1),
        canonical_user_id: r.get(2),
        username: r.get(3),
        email: r.get(4),
        role: r.get(5),
        cd_user_id: r.get(6),
        cd_tenant_id: r.get(7),
        active: r.get(8),
        created_at: r.get(9),
    }
}

pub(super) async fn read_user(
    c: &impl GenericClient,
    tenant_id: &str,
    user_id: &str,
) -> Result<Option<User>> {
    Ok(q_opt(
        c,
        &format!("SELECT {USER_COLS} FROM users u WHERE u.tenant_id = $1 AND u.user_id = $2"),
        &[&tenant_id, &user_id],
    )
    .await?
    .map(|r| user_from_row(&r)))
}

pub(super) const CRED_COLS: &str = "c.access_key, c.secret, c.active, c.created_at, u.tenant_id, u.user_id, u.username, u.cd_user_id, u.cd_tenant_id, (c.active AND u.active AND t.active), u.canonical_user_id, u.role";
pub(super) const CRED_FROM: &str = "credentials c JOIN users u ON u.tenant_id = c.tenant_id AND u.user_id = c.user_id JOIN tenants t ON t.tenant_id = u.tenant_id";

pub(super) fn open_cred(key: &MasterKey, r: &Row) -> Result<Credential> {
    let access_key: String = r.get(0);
    let sealed: Vec<u8> = r.get(1);
    let secret_key = open_credential_secret(key, &access_key, &sealed)?;
    Ok(Credential {
        access_key,
        secret_key,
        active: r.get(2),
        created_at: r.get(3),
        tenant_id: r.get(4),
        user_id: r.get(5),
        username: r.get(6),
        cd_user_id: r.get(7),
        cd_tenant_id: r.get(8),
        usable: r.get(9),
        canonical_user_id: r.get(10),
        role: r.get(11),
    })
}

pub(super) async fn read_cred(
    c: &impl GenericClient,
    key: &MasterKey,
    access_key: &str,
) -> Result<Option<Credential>> {
    q_opt(
        c,
        &format!("SELECT {CRED_COLS} FROM {CRED_FROM} WHERE c.access_key = $1"),
        &[&access_key],
    )
    .await?
    .map(|r| open_cred(key, &r))
    .transpose()
}

pub(super) async fn insert_cred(
    c: &impl GenericClient,
    key: &MasterKey,
    tenant_id: &str,
    user_id: &str,
) -> Result<String> {
    // as SQLite: a collision of 103-bit keys is retried rather than failed
    for _ in 0..4 {
        let ak = ids::access_key();
        let sk = ids::secret_key();
        let sealed = seal_credential(key, &ak, &sk);
        let st = c
            .prepare_cached(
                "INSERT INTO credentials (access_key, tenant_id, user_id, secret, active, created_at) VALUES ($1, $2, $3, $4, TRUE, $5) ON CONFLICT (access_key) DO NOTHING",
            )
            .await
            .map_err(pg_err)?;
        let n = c
            .execute(&st, &[&ak, &tenant_id, &user_id, &sealed, &now()])
            .await
            .map_err(pg_err)?;
        if n == 1 {
            notify(
                c,
                Change::Credential {
                    access_key: ak.clone(),
                },
            )
            .await?;
            return Ok(ak);
        }
    }
    Err(StoreError::Backend(
        "could not mint a unique access key".into(),
    ))
}

/// `WHERE` for the terms that apply to an entity: each clause has one `$?`, numbered here.
pub(super) fn where_clause(
    terms: &[Term],
    map: impl Fn(&Term) -> Option<(&'static str, Param)>,
) -> (String, Vec<Param>) {
    let mut sql = Vec::new();
    let mut vals = Vec::new();
    for t in terms {
        if let Some((clause, v)) = map(t) {
            vals.push(v);
            sql.push(clause.replace("$?", &format!("${}", vals.len())));
        }
    }
    if sql.is_empty() {
        (String::new(), vals)
    } else {
        (format!(" WHERE {}", sql.join(" AND ")), vals)
    }
}

pub(super) fn text(clause: &'static str, v: &str) -> Option<(&'static str, Param)> {
    Some((clause, Box::new(v.to_string())))
}

pub(super) fn flag(clause: &'static str, v: bool) -> Option<(&'static str, Param)> {
    Some((clause, Box::new(v)))
}

/// Borrow owned parameters (plus `extra`) as the driver takes them.
pub(super) fn refs<'a>(
    vals: &'a [Param],
    extra: &'a [&'a (dyn ToSql + Sync)],
) -> Vec<&'a (dyn ToSql + Sync)> {
    vals.iter()
        .map(|v| &**v as &(dyn ToSql + Sync))
        .chain(extra.iter().copied())
        .collect()
}

pub(super) async fn set_cd_ids(
    c: &impl GenericClient,
    tenant_id: &str,
    ids: &[String],
) -> Result<()> {
    for cd in ids {
        let owner: Option<String> = q_opt(
            c,
            "SELECT tenant_id FROM tenant_cd_ids WHERE cd_tenant_id = $1",
            &[cd],
        )
        .await?
        .map(|r| r.get(0));
        if let Some(o) = owner {
            if o != tenant_id {
                return Err(StoreError::Conflict(format!(
                    "cd_tenant_id {cd} is already mapped to tenant {o}"
                )));
            }
        }
    }
    c.execute(
        "DELETE FROM tenant_cd_ids WHERE tenant_id = $1",
        &[&tenant_id],
    )
    .await
    .map_err(pg_err)?;
    let mut seen = std::collections::HashSet::new();
    for (i, cd) in ids.iter().enumerate() {
        if seen.insert(cd) {
            let r = c
                .execute(
                    "INSERT INTO tenant_cd_ids (cd_tenant_id, tenant_id, position) VALUES ($1, $2, $3)",
                    &[cd, &tenant_id, &(i as i64)],
                )
                .await;
            match r {
                Ok(_) => {}
                // another tenant took it since the check above (a concurrent OSIS call)
                Err(e) if is_unique_violation(&e) => {
                    return Err(StoreError::Conflict(format!(
                        "cd_tenant_id {cd} is already mapped to another tenant"
                    )))
                }
                Err(e) => return Err(pg_err(e)),
            }
        }
    }
    Ok(())
}

pub(super) fn placement_from_row(r: &Row) -> PlacementRow {
    PlacementRow {
        tenant_id: r.get(0),
        bucket: r.get(1),
        backend: r.get(2),
        backend_bucket: r.get(3),
        owner_user_id: r.get(4),
        created_at: r.get(5),
    }
}

pub(super) const PLACEMENT_COLS: &str =
    "tenant_id, bucket, backend, backend_bucket, owner_user_id, created_at";

/// Now, to the millisecond (what SQLite keeps): what is stored is exactly what is returned.
pub(super) fn now() -> chrono::DateTime<chrono::Utc> {
    ms(chrono::Utc::now())
}

/// `d` truncated to whole milliseconds.
pub(super) fn ms(d: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    use chrono::Timelike;
    d.with_nanosecond(d.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(d)
}
