//! Row readers and writers shared by the `Store` methods.

use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::super::*;
use super::time::{now, parse_ts, ts};
use crate::store::sealing::{open_credential_secret, seal_credential};

pub(super) fn cd_ids(c: &Connection, tenant_id: &str) -> Result<Vec<String>> {
    let mut st = c.prepare_cached(
        "SELECT cd_tenant_id FROM tenant_cd_ids WHERE tenant_id = ? ORDER BY position",
    )?;
    let rows = st.query_map([tenant_id], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<std::result::Result<_, _>>()?)
}

pub(super) fn read_tenant(c: &Connection, tenant_id: &str) -> Result<Option<Tenant>> {
    let row = c
        .query_row(
            "SELECT tenant_id, name, active, created_at FROM tenants WHERE tenant_id = ?",
            [tenant_id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, bool>(2)?,
                    r.get::<_, String>(3)?,
                ))
            },
        )
        .optional()?;
    let Some((tenant_id, name, active, created)) = row else {
        return Ok(None);
    };
    let cd_tenant_ids = cd_ids(c, &tenant_id)?;
    Ok(Some(Tenant {
        tenant_id,
        name,
        active,
        cd_tenant_ids,
        created_at: parse_ts(&created),
    }))
}

pub(super) const USER_COLS: &str = "u.tenant_id, u.user_id, u.canonical_user_id, u.username, u.email, u.role, u.cd_user_id, u.cd_tenant_id, u.active, u.created_at";

pub(super) fn user_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        tenant_id: r.get(0)?,
        user_id: r.get(1)?,
        canonical_user_id: r.get(2)?,
        username: r.get(3)?,
        email: r.get(4)?,
        role: r.get(5)?,
        cd_user_id: r.get(6)?,
        cd_tenant_id: r.get(7)?,
        active: r.get(8)?,
        created_at: parse_ts(&r.get::<_, String>(9)?),
    })
}

pub(super) fn read_user(c: &Connection, tenant_id: &str, user_id: &str) -> Result<Option<User>> {
    Ok(c.query_row(
        &format!("SELECT {USER_COLS} FROM users u WHERE u.tenant_id = ? AND u.user_id = ?"),
        [tenant_id, user_id],
        user_from_row,
    )
    .optional()?)
}

pub(super) const CRED_COLS: &str = "c.access_key, c.secret, c.active, c.created_at, u.tenant_id, u.user_id, u.username, u.cd_user_id, u.cd_tenant_id, (c.active AND u.active AND t.active), u.canonical_user_id, u.role";
pub(super) const CRED_FROM: &str = "credentials c JOIN users u ON u.tenant_id = c.tenant_id AND u.user_id = c.user_id JOIN tenants t ON t.tenant_id = u.tenant_id";

pub(super) struct RawCred {
    access_key: String,
    secret: Vec<u8>,
    active: bool,
    created: String,
    tenant_id: String,
    user_id: String,
    username: String,
    cd_user_id: String,
    cd_tenant_id: String,
    usable: bool,
    canonical: String,
    role: String,
}

pub(super) fn raw_cred(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawCred> {
    Ok(RawCred {
        access_key: r.get(0)?,
        secret: r.get(1)?,
        active: r.get(2)?,
        created: r.get(3)?,
        tenant_id: r.get(4)?,
        user_id: r.get(5)?,
        username: r.get(6)?,
        cd_user_id: r.get(7)?,
        cd_tenant_id: r.get(8)?,
        usable: r.get(9)?,
        canonical: r.get(10)?,
        role: r.get(11)?,
    })
}

pub(super) fn open_cred(key: &MasterKey, r: RawCred) -> Result<Credential> {
    let secret = open_credential_secret(key, &r.access_key, &r.secret)?;
    Ok(Credential {
        access_key: r.access_key,
        secret_key: secret,
        active: r.active,
        created_at: parse_ts(&r.created),
        tenant_id: r.tenant_id,
        user_id: r.user_id,
        username: r.username,
        cd_user_id: r.cd_user_id,
        cd_tenant_id: r.cd_tenant_id,
        usable: r.usable,
        canonical_user_id: r.canonical,
        role: r.role,
    })
}

pub(super) fn read_cred(
    c: &Connection,
    key: &MasterKey,
    access_key: &str,
) -> Result<Option<Credential>> {
    let raw = c
        .query_row(
            &format!("SELECT {CRED_COLS} FROM {CRED_FROM} WHERE c.access_key = ?"),
            [access_key],
            raw_cred,
        )
        .optional()?;
    raw.map(|r| open_cred(key, r)).transpose()
}

pub(super) fn insert_cred(
    tx: &Transaction<'_>,
    key: &MasterKey,
    tenant_id: &str,
    user_id: &str,
) -> Result<String> {
    // A 20-character key from 36 symbols has 103 bits: a collision is astronomically unlikely, but
    // the primary key would turn one into an error, so retry rather than fail the OSIS call.
    for _ in 0..4 {
        let ak = ids::access_key();
        let sk = ids::secret_key();
        let sealed = seal_credential(key, &ak, &sk);
        let n = tx.execute(
            "INSERT OR IGNORE INTO credentials (access_key, tenant_id, user_id, secret, active, created_at) VALUES (?, ?, ?, ?, 1, ?)",
            params![ak, tenant_id, user_id, sealed, ts(&now())],
        )?;
        if n == 1 {
            return Ok(ak);
        }
    }
    Err(StoreError::Backend(
        "could not mint a unique access key".into(),
    ))
}

/// Builds `WHERE` clauses for the terms that apply to an entity; returns clause + parameters.
pub(super) fn where_clause(
    terms: &[Term],
    map: impl Fn(&Term) -> Option<(&'static str, Vec<Value>)>,
) -> (String, Vec<Value>) {
    let mut sql = Vec::new();
    let mut vals = Vec::new();
    for t in terms {
        if let Some((clause, v)) = map(t) {
            sql.push(clause);
            vals.extend(v);
        }
    }
    if sql.is_empty() {
        (String::new(), vals)
    } else {
        (format!(" WHERE {}", sql.join(" AND ")), vals)
    }
}

pub(super) fn s(v: &str) -> Value {
    Value::Text(v.to_string())
}

pub(super) fn set_cd_ids(tx: &Transaction<'_>, tenant_id: &str, ids: &[String]) -> Result<()> {
    for cd in ids {
        let owner: Option<String> = tx
            .query_row(
                "SELECT tenant_id FROM tenant_cd_ids WHERE cd_tenant_id = ?",
                [cd],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(o) = owner {
            if o != tenant_id {
                return Err(StoreError::Conflict(format!(
                    "cd_tenant_id {cd} is already mapped to tenant {o}"
                )));
            }
        }
    }
    tx.execute("DELETE FROM tenant_cd_ids WHERE tenant_id = ?", [tenant_id])?;
    let mut seen = std::collections::HashSet::new();
    for (i, cd) in ids.iter().enumerate() {
        if seen.insert(cd) {
            tx.execute(
                "INSERT INTO tenant_cd_ids (cd_tenant_id, tenant_id, position) VALUES (?, ?, ?)",
                params![cd, tenant_id, i as i64],
            )?;
        }
    }
    Ok(())
}

pub(super) fn placement_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PlacementRow> {
    Ok(PlacementRow {
        tenant_id: r.get(0)?,
        bucket: r.get(1)?,
        backend: r.get(2)?,
        backend_bucket: r.get(3)?,
        owner_user_id: r.get(4)?,
        created_at: parse_ts(&r.get::<_, String>(5)?),
    })
}
pub(super) const PLACEMENT_COLS: &str =
    "tenant_id, bucket, backend, backend_bucket, owner_user_id, created_at";

pub(super) use crate::store::sealing::{identity_ctx, open_identity_secret};
