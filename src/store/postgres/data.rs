//! Data-plane state of the PostgreSQL store: placements, access records, backend identities,
//! pending provisioning work, counters, stable values, statistics and the ping.

use super::super::*;
use super::rows::{ms, notify, now, placement_from_row, PLACEMENT_COLS};
use super::{exec, is_unique_violation, pg_err, q, q_opt, PgStore};
use crate::store::sealing::{identity_ctx, open_identity_secret};

fn bucket_change(tenant_id: &str, bucket: &str) -> Change {
    Change::Bucket {
        tenant_id: tenant_id.to_string(),
        bucket: bucket.to_string(),
    }
}

fn object_change(tenant_id: &str, bucket: &str, key: &str) -> Change {
    Change::Object {
        tenant_id: tenant_id.to_string(),
        bucket: bucket.to_string(),
        key: key.to_string(),
    }
}

fn identity_change(tenant_id: &str, principal: &str) -> Change {
    Change::Identity {
        tenant_id: tenant_id.to_string(),
        principal: principal.to_string(),
    }
}

pub(super) async fn put_placement(s: &PgStore, p: &PlacementRow) -> Result<()> {
    let c = s.client().await?;
    let st = c
        .prepare_cached(
            "INSERT INTO placements (tenant_id, bucket, backend, backend_bucket, owner_user_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .await
        .map_err(pg_err)?;
    let r = c
        .execute(
            &st,
            &[
                &p.tenant_id,
                &p.bucket,
                &p.backend,
                &p.backend_bucket,
                &p.owner_user_id,
                &ms(p.created_at),
            ],
        )
        .await;
    match r {
        Ok(_) => notify(&c, bucket_change(&p.tenant_id, &p.bucket)).await,
        Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(format!(
            "bucket {} is already placed (tenant {} or backend bucket {} on {})",
            p.bucket, p.tenant_id, p.backend_bucket, p.backend
        ))),
        Err(e) => Err(pg_err(e)),
    }
}

pub(super) async fn placement(
    s: &PgStore,
    tenant_id: &str,
    bucket: &str,
) -> Result<Option<PlacementRow>> {
    let c = s.client().await?;
    Ok(q_opt(
        &c,
        &format!("SELECT {PLACEMENT_COLS} FROM placements WHERE tenant_id = $1 AND bucket = $2"),
        &[&tenant_id, &bucket],
    )
    .await?
    .map(|r| placement_from_row(&r)))
}

/// Placements whose `column` is `value`, ordered by `order` (both fixed names, not input).
pub(super) async fn placements(
    s: &PgStore,
    column: &'static str,
    value: &str,
    order: &'static str,
) -> Result<Vec<PlacementRow>> {
    let c = s.client().await?;
    Ok(q(
        &c,
        &format!("SELECT {PLACEMENT_COLS} FROM placements WHERE {column} = $1 ORDER BY {order}"),
        &[&value],
    )
    .await?
    .iter()
    .map(placement_from_row)
    .collect())
}

/// Rows of `table` (a fixed name) on `backend`.
pub(super) async fn count(s: &PgStore, table: &'static str, backend: &str) -> Result<u64> {
    let c = s.client().await?;
    let n: i64 = q(
        &c,
        &format!("SELECT COUNT(*) FROM {table} WHERE backend = $1"),
        &[&backend],
    )
    .await?[0]
        .get(0);
    Ok(n as u64)
}

pub(super) async fn delete_placement(s: &PgStore, tenant_id: &str, bucket: &str) -> Result<bool> {
    let mut c = s.client().await?;
    let tx = c.transaction().await.map_err(pg_err)?;
    let gone = exec(
        &tx,
        "DELETE FROM placements WHERE tenant_id = $1 AND bucket = $2",
        &[&tenant_id, &bucket],
    )
    .await?
        > 0;
    for sql in [
        "DELETE FROM bucket_access WHERE tenant_id = $1 AND bucket = $2",
        "DELETE FROM object_access WHERE tenant_id = $1 AND bucket = $2",
    ] {
        exec(&tx, sql, &[&tenant_id, &bucket]).await?;
    }
    notify(&tx, bucket_change(tenant_id, bucket)).await?;
    tx.commit().await.map_err(pg_err)?;
    Ok(gone)
}

pub(super) async fn bucket_access(
    s: &PgStore,
    tenant_id: &str,
    bucket: &str,
) -> Result<BucketAccessRow> {
    let c = s.client().await?;
    let mut row = q_opt(
        &c,
        "SELECT acl, policy, public_access_block FROM bucket_access WHERE tenant_id = $1 AND bucket = $2",
        &[&tenant_id, &bucket],
    )
    .await?
    .map(|r| BucketAccessRow {
        acl: r.get(0),
        policy: r.get(1),
        public_access_block: r.get(2),
        object_records: false,
    })
    .unwrap_or_default();
    row.object_records = q(
        &c,
        "SELECT EXISTS (SELECT 1 FROM object_access WHERE tenant_id = $1 AND bucket = $2)",
        &[&tenant_id, &bucket],
    )
    .await?[0]
        .get(0);
    Ok(row)
}

pub(super) async fn put_bucket_access(
    s: &PgStore,
    tenant_id: &str,
    bucket: &str,
    row: &BucketAccessRow,
) -> Result<()> {
    let c = s.client().await?;
    exec(
        &c,
        "INSERT INTO bucket_access (tenant_id, bucket, acl, policy, public_access_block) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (tenant_id, bucket) DO UPDATE SET acl = excluded.acl, policy = excluded.policy, public_access_block = excluded.public_access_block",
        &[&tenant_id, &bucket, &row.acl, &row.policy, &row.public_access_block],
    )
    .await?;
    notify(&c, bucket_change(tenant_id, bucket)).await
}

pub(super) async fn object_access(
    s: &PgStore,
    tenant_id: &str,
    bucket: &str,
    key: &str,
) -> Result<Option<ObjectAccessRow>> {
    let c = s.client().await?;
    Ok(q_opt(
        &c,
        "SELECT access FROM object_access WHERE tenant_id = $1 AND bucket = $2 AND key = $3",
        &[&tenant_id, &bucket, &key],
    )
    .await?
    .map(|r| ObjectAccessRow {
        tenant_id: tenant_id.to_string(),
        bucket: bucket.to_string(),
        key: key.to_string(),
        access: r.get(0),
    }))
}

pub(super) async fn put_object_access(s: &PgStore, row: &ObjectAccessRow) -> Result<()> {
    let c = s.client().await?;
    exec(
        &c,
        "INSERT INTO object_access (tenant_id, bucket, key, access) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id, bucket, key) DO UPDATE SET access = excluded.access",
        &[&row.tenant_id, &row.bucket, &row.key, &row.access],
    )
    .await?;
    notify(&c, object_change(&row.tenant_id, &row.bucket, &row.key)).await
}

pub(super) async fn delete_object_access(
    s: &PgStore,
    tenant_id: &str,
    bucket: &str,
    key: &str,
) -> Result<bool> {
    let c = s.client().await?;
    let gone = exec(
        &c,
        "DELETE FROM object_access WHERE tenant_id = $1 AND bucket = $2 AND key = $3",
        &[&tenant_id, &bucket, &key],
    )
    .await?
        > 0;
    if gone {
        notify(&c, object_change(tenant_id, bucket, key)).await?;
    }
    Ok(gone)
}

pub(super) async fn put_identity(s: &PgStore, id: &BackendIdentity) -> Result<()> {
    let sealed = s.key.seal(
        &identity_ctx(&id.backend, &id.tenant_id, &id.principal),
        id.secret_key.as_bytes(),
    );
    let c = s.client().await?;
    exec(
        &c,
        "INSERT INTO backend_identities (backend, tenant_id, principal, backend_user, access_key, secret) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (backend, tenant_id, principal) DO UPDATE SET backend_user = excluded.backend_user, access_key = excluded.access_key, secret = excluded.secret",
        &[&id.backend, &id.tenant_id, &id.principal, &id.backend_user, &id.access_key, &sealed],
    )
    .await?;
    notify(&c, identity_change(&id.tenant_id, &id.principal)).await
}

pub(super) async fn identity(s: &PgStore, id: IdentityRef<'_>) -> Result<Option<BackendIdentity>> {
    let c = s.client().await?;
    let Some(r) = q_opt(
        &c,
        "SELECT backend_user, access_key, secret FROM backend_identities WHERE backend = $1 AND tenant_id = $2 AND principal = $3",
        &[&id.backend, &id.tenant_id, &id.principal],
    )
    .await?
    else {
        return Ok(None);
    };
    let sealed: Vec<u8> = r.get(2);
    let secret_key = open_identity_secret(&s.key, id.backend, id.tenant_id, id.principal, &sealed)?;
    Ok(Some(BackendIdentity {
        backend: id.backend.to_string(),
        tenant_id: id.tenant_id.to_string(),
        principal: id.principal.to_string(),
        backend_user: r.get(0),
        access_key: r.get(1),
        secret_key,
    }))
}

pub(super) async fn principals_on(
    s: &PgStore,
    backend: &str,
    tenant_id: &str,
) -> Result<Vec<PrincipalRow>> {
    let c = s.client().await?;
    Ok(q(
        &c,
        "SELECT u.user_id, u.canonical_user_id, u.username, i.backend_user FROM backend_identities i JOIN users u ON u.tenant_id = i.tenant_id AND u.user_id = i.principal WHERE i.backend = $1 AND i.tenant_id = $2 ORDER BY u.user_id",
        &[&backend, &tenant_id],
    )
    .await?
    .iter()
    .map(|r| PrincipalRow {
        tenant_id: tenant_id.to_string(),
        user_id: r.get(0),
        canonical_user_id: r.get(1),
        username: r.get(2),
        backend_user: r.get(3),
    })
    .collect())
}

pub(super) async fn identities_of_tenant(
    s: &PgStore,
    tenant_id: &str,
) -> Result<Vec<BackendIdentity>> {
    let c = s.client().await?;
    q(
        &c,
        "SELECT backend, principal, backend_user, access_key, secret FROM backend_identities WHERE tenant_id = $1 ORDER BY backend, principal",
        &[&tenant_id],
    )
    .await?
    .iter()
    .map(|r| {
        let (backend, principal): (String, String) = (r.get(0), r.get(1));
        let sealed: Vec<u8> = r.get(4);
        let secret_key = open_identity_secret(&s.key, &backend, tenant_id, &principal, &sealed)?;
        Ok(BackendIdentity {
            backend,
            tenant_id: tenant_id.to_string(),
            principal,
            backend_user: r.get(2),
            access_key: r.get(3),
            secret_key,
        })
    })
    .collect()
}

pub(super) async fn delete_identity(s: &PgStore, id: IdentityRef<'_>) -> Result<bool> {
    let c = s.client().await?;
    let gone = exec(
        &c,
        "DELETE FROM backend_identities WHERE backend = $1 AND tenant_id = $2 AND principal = $3",
        &[&id.backend, &id.tenant_id, &id.principal],
    )
    .await?
        > 0;
    if gone {
        notify(&c, identity_change(id.tenant_id, id.principal)).await?;
    }
    Ok(gone)
}

pub(super) async fn push_pending(s: &PgStore, backend: &str, op: &str) -> Result<i64> {
    let c = s.client().await?;
    Ok(q(
        &c,
        "INSERT INTO pending_ops (backend, op, created_at) VALUES ($1, $2, $3) RETURNING id",
        &[&backend, &op, &now()],
    )
    .await?[0]
        .get(0))
}

pub(super) async fn pending(s: &PgStore) -> Result<Vec<PendingOp>> {
    let c = s.client().await?;
    Ok(q(
        &c,
        "SELECT id, backend, op, attempts, last_error, created_at FROM pending_ops ORDER BY id",
        &[],
    )
    .await?
    .iter()
    .map(|r| PendingOp {
        id: r.get(0),
        backend: r.get(1),
        op: r.get(2),
        attempts: r.get(3),
        last_error: r.get(4),
        created_at: r.get(5),
    })
    .collect())
}

pub(super) async fn finish_pending(s: &PgStore, id: i64) -> Result<()> {
    let c = s.client().await?;
    exec(&c, "DELETE FROM pending_ops WHERE id = $1", &[&id]).await?;
    Ok(())
}

pub(super) async fn fail_pending(s: &PgStore, id: i64, error: &str) -> Result<()> {
    let c = s.client().await?;
    exec(
        &c,
        "UPDATE pending_ops SET attempts = attempts + 1, last_error = $1 WHERE id = $2",
        &[&error, &id],
    )
    .await?;
    Ok(())
}

/// The tables `stats` counts (the same as SQLite's).
pub(crate) const STATS_TABLES: &[&str] = &[
    "tenants",
    "tenant_cd_ids",
    "users",
    "credentials",
    "placements",
    "backend_identities",
    "pending_ops",
];

pub(super) async fn stats(s: &PgStore) -> Result<std::collections::BTreeMap<String, i64>> {
    let c = s.client().await?;
    let mut out = std::collections::BTreeMap::new();
    for t in STATS_TABLES {
        let n: i64 = q(&c, &format!("SELECT COUNT(*) FROM {t}"), &[]).await?[0].get(0);
        out.insert(t.to_string(), n);
    }
    let v = super::schema::version(&c).await?.unwrap_or(0);
    out.insert("schema_version".to_string(), v);
    Ok(out)
}

pub(super) async fn ping(s: &PgStore) -> Result<()> {
    let mut c = s.client().await?;
    // a plain transaction: on a standby `BEGIN READ WRITE` itself would fail, less clearly
    let tx = c.transaction().await.map_err(pg_err)?;
    tx.batch_execute(&format!(
        "SET LOCAL statement_timeout = {}",
        super::PING_TIMEOUT.as_millis()
    ))
    .await
    .map_err(pg_err)?;
    let r = tx
        .query_one(
            "SELECT pg_is_in_recovery(), current_setting('transaction_read_only') = 'on'",
            &[],
        )
        .await
        .map_err(pg_err)?;
    let (standby, read_only): (bool, bool) = (r.get(0), r.get(1));
    tx.rollback().await.map_err(pg_err)?;
    if standby {
        return Err(StoreError::Backend(format!(
            "PostgreSQL {} is a read-only standby (pg_is_in_recovery); point store.url at the primary",
            s.target
        )));
    }
    if read_only {
        return Err(StoreError::Backend(format!(
            "PostgreSQL {} takes no writes: transactions are read-only (default_transaction_read_only)",
            s.target
        )));
    }
    Ok(())
}

pub(super) async fn stable_value(
    s: &PgStore,
    name: &str,
    generate: fn() -> String,
) -> Result<String> {
    let c = s.client().await?;
    exec(
        &c,
        "INSERT INTO stable_values (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        &[&name, &generate()],
    )
    .await?;
    Ok(q(
        &c,
        "SELECT value FROM stable_values WHERE name = $1",
        &[&name],
    )
    .await?[0]
        .get(0))
}

pub(super) async fn counter(s: &PgStore, name: &str) -> Result<i64> {
    let c = s.client().await?;
    Ok(
        q_opt(&c, "SELECT value FROM counters WHERE name = $1", &[&name])
            .await?
            .map(|r| r.get(0))
            .unwrap_or(0),
    )
}

pub(super) async fn bump_counter(s: &PgStore, name: &str) -> Result<i64> {
    let c = s.client().await?;
    let value = q(
        &c,
        "INSERT INTO counters (name, value) VALUES ($1, 1)
         ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value",
        &[&name],
    )
    .await?[0]
        .get(0);
    notify(
        &c,
        Change::Counter {
            name: name.to_string(),
            value,
        },
    )
    .await?;
    Ok(value)
}
