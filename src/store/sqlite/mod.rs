//! Embedded SQLite identity store (the default; no other service needed).
//!
//! Durability: WAL journal with `synchronous=FULL`, so a commit is on disk before the call returns
//! (SQLite docs "WAL mode": with FULL, "transactions are durable across application crashes and
//! power loss"). A single connection behind a mutex serialises writers; each call runs on tokio's
//! blocking pool so an fsync never stalls the async workers.
//!
//! Schema changes are numbered migrations applied in a transaction at open; a database written
//! by a newer Osprey is refused rather than misread.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};

use super::*;

mod access;
pub(crate) mod export;
mod rows;
pub(crate) mod schema;
mod time;

use rows::*;
use schema::{BUSY_TIMEOUT, PING_BUSY_TIMEOUT};
use time::{now, parse_ts, ts};

pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    key: Arc<MasterKey>,
}

fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        db_err(e)
    }
}

impl SqliteStore {
    pub fn master_key(&self) -> &MasterKey {
        &self.key
    }

    async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &MasterKey) -> Result<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        let key = self.key.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = conn
                .lock()
                .map_err(|_| StoreError::Backend("store lock poisoned".into()))?;
            f(&mut c, &key)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_tenant(&self, t: NewTenant) -> Result<Tenant> {
        self.run(move |c, _| {
            let tx = c.transaction()?;
            let id = loop {
                let id = ids::tenant_id();
                let exists: bool = tx.query_row(
                    "SELECT EXISTS(SELECT 1 FROM tenants WHERE tenant_id = ?)",
                    [&id],
                    |r| r.get(0),
                )?;
                if !exists {
                    break id;
                }
            };
            tx.execute(
                "INSERT INTO tenants (tenant_id, name, active, created_at) VALUES (?, ?, ?, ?)",
                params![id, t.name, t.active, ts(&now())],
            )?;
            set_cd_ids(&tx, &id, &t.cd_tenant_ids)?;
            let out = read_tenant(&tx, &id)?
                .ok_or_else(|| StoreError::Backend("tenant vanished".into()))?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    async fn tenant(&self, tenant_id: &str) -> Result<Option<Tenant>> {
        let id = tenant_id.to_string();
        self.run(move |c, _| read_tenant(c, &id)).await
    }

    async fn tenants(&self, filter: &[Term], page: Paging) -> Result<Page<Tenant>> {
        let filter = filter.to_vec();
        self.run(move |c, _| {
            let (w, vals) = where_clause(&filter, |t| match t {
                Term::TenantId(v) => Some(("t.tenant_id = ?", vec![s(v)])),
                Term::TenantName(v) => Some(("t.name = ?", vec![s(v)])),
                Term::Active(b) => Some(("t.active = ?", vec![Value::Integer(*b as i64)])),
                Term::CdTenantId(v) => Some((
                    "EXISTS (SELECT 1 FROM tenant_cd_ids x WHERE x.tenant_id = t.tenant_id AND x.cd_tenant_id = ?)",
                    vec![s(v)],
                )),
                _ => None,
            });
            let total: i64 = c.query_row(
                &format!("SELECT COUNT(*) FROM tenants t{w}"),
                params_from_iter(vals.iter()),
                |r| r.get(0),
            )?;
            let mut vals2 = vals.clone();
            vals2.push(Value::Integer(page.limit.min(i64::MAX as u64) as i64));
            vals2.push(Value::Integer(page.offset.min(i64::MAX as u64) as i64));
            let ids: Vec<String> = {
                let mut st = c.prepare(&format!(
                    "SELECT t.tenant_id FROM tenants t{w} ORDER BY t.created_at, t.rowid LIMIT ? OFFSET ?"
                ))?;
                let rows = st.query_map(params_from_iter(vals2.iter()), |r| r.get(0))?;
                rows.collect::<std::result::Result<_, _>>()?
            };
            let mut items = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(t) = read_tenant(c, &id)? {
                    items.push(t);
                }
            }
            Ok(Page { items, total: total as u64 })
        })
        .await
    }

    async fn update_tenant(&self, tenant_id: &str, u: TenantUpdate) -> Result<Tenant> {
        let id = tenant_id.to_string();
        self.run(move |c, _| {
            let tx = c.transaction()?;
            if read_tenant(&tx, &id)?.is_none() {
                return Err(StoreError::NotFound(format!("tenant {id} does not exist")));
            }
            if let Some(n) = &u.name {
                tx.execute(
                    "UPDATE tenants SET name = ? WHERE tenant_id = ?",
                    params![n, id],
                )?;
            }
            if let Some(a) = u.active {
                tx.execute(
                    "UPDATE tenants SET active = ? WHERE tenant_id = ?",
                    params![a, id],
                )?;
            }
            if let Some(ids) = &u.cd_tenant_ids {
                set_cd_ids(&tx, &id, ids)?;
            }
            let out = read_tenant(&tx, &id)?
                .ok_or_else(|| StoreError::Backend("tenant vanished".into()))?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    async fn delete_tenant(&self, tenant_id: &str) -> Result<bool> {
        let id = tenant_id.to_string();
        self.run(move |c, _| {
            let tx = c.transaction()?;
            // users and credentials go by ON DELETE CASCADE; placements and identities are
            // data-plane state the caller has already cleared from the backends
            tx.execute("DELETE FROM placements WHERE tenant_id = ?", [&id])?;
            tx.execute("DELETE FROM backend_identities WHERE tenant_id = ?", [&id])?;
            let n = tx.execute("DELETE FROM tenants WHERE tenant_id = ?", [&id])?;
            tx.commit()?;
            Ok(n > 0)
        })
        .await
    }

    async fn create_user(&self, tenant_id: &str, u: NewUser) -> Result<(User, Credential)> {
        let tid = tenant_id.to_string();
        self.run(move |c, key| {
            let tx = c.transaction()?;
            if read_tenant(&tx, &tid)?.is_none() {
                return Err(StoreError::NotFound(format!("tenant {tid} does not exist")));
            }
            if read_user(&tx, &tid, &u.user_id)?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "user {} already exists in tenant {tid}",
                    u.user_id
                )));
            }
            tx.execute(
                "INSERT INTO users (tenant_id, user_id, canonical_user_id, username, email, role, cd_user_id, cd_tenant_id, active, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                params![tid, u.user_id, ids::canonical_id(), u.username, u.email, u.role, u.cd_user_id, u.cd_tenant_id, u.active, ts(&now())],
            )?;
            let ak = insert_cred(&tx, key, &tid, &u.user_id)?;
            let user = read_user(&tx, &tid, &u.user_id)?
                .ok_or_else(|| StoreError::Backend("user vanished".into()))?;
            let cred = read_cred(&tx, key, &ak)?
                .ok_or_else(|| StoreError::Backend("credential vanished".into()))?;
            tx.commit()?;
            Ok((user, cred))
        })
        .await
    }

    async fn user(&self, tenant_id: &str, user_id: &str) -> Result<Option<User>> {
        let (t, u) = (tenant_id.to_string(), user_id.to_string());
        self.run(move |c, _| read_user(c, &t, &u)).await
    }

    async fn user_by_canonical(&self, canonical_user_id: &str) -> Result<Option<User>> {
        let id = canonical_user_id.to_string();
        self.run(move |c, _| {
            Ok(c.query_row(
                &format!("SELECT {USER_COLS} FROM users u WHERE u.canonical_user_id = ?"),
                [id],
                user_from_row,
            )
            .optional()?)
        })
        .await
    }

    async fn users(&self, filter: &[Term], page: Paging) -> Result<Page<User>> {
        let filter = filter.to_vec();
        self.run(move |c, _| {
            let (w, vals) = where_clause(&filter, |t| match t {
                Term::TenantId(v) => Some(("u.tenant_id = ?", vec![s(v)])),
                Term::CdTenantId(v) => Some(("u.cd_tenant_id = ?", vec![s(v)])),
                Term::UserId(v) => Some(("u.user_id = ?", vec![s(v)])),
                Term::CdUserId(v) => Some(("u.cd_user_id = ?", vec![s(v)])),
                Term::Username(v) => Some(("u.username = ?", vec![s(v)])),
                Term::CanonicalUserId(v) => Some(("u.canonical_user_id = ?", vec![s(v)])),
                Term::Email(v) => Some(("u.email = ?", vec![s(v)])),
                Term::Role(v) => Some(("u.role = ?", vec![s(v)])),
                Term::Active(b) => Some(("u.active = ?", vec![Value::Integer(*b as i64)])),
                _ => None,
            });
            let total: i64 = c.query_row(
                &format!("SELECT COUNT(*) FROM users u{w}"),
                params_from_iter(vals.iter()),
                |r| r.get(0),
            )?;
            let mut vals2 = vals.clone();
            vals2.push(Value::Integer(page.limit.min(i64::MAX as u64) as i64));
            vals2.push(Value::Integer(page.offset.min(i64::MAX as u64) as i64));
            let mut st = c.prepare(&format!(
                "SELECT {USER_COLS} FROM users u{w} ORDER BY u.created_at, u.rowid LIMIT ? OFFSET ?"
            ))?;
            let items = st
                .query_map(params_from_iter(vals2.iter()), user_from_row)?
                .collect::<std::result::Result<_, _>>()?;
            Ok(Page {
                items,
                total: total as u64,
            })
        })
        .await
    }

    async fn set_user_active(&self, tenant_id: &str, user_id: &str, active: bool) -> Result<User> {
        let (t, u) = (tenant_id.to_string(), user_id.to_string());
        self.run(move |c, _| {
            let tx = c.transaction()?;
            let n = tx.execute(
                "UPDATE users SET active = ? WHERE tenant_id = ? AND user_id = ?",
                params![active, t, u],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!(
                    "user {u} does not exist in tenant {t}"
                )));
            }
            let out = read_user(&tx, &t, &u)?
                .ok_or_else(|| StoreError::Backend("user vanished".into()))?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    async fn delete_user(&self, tenant_id: &str, user_id: &str) -> Result<bool> {
        let (t, u) = (tenant_id.to_string(), user_id.to_string());
        self.run(move |c, _| {
            let tx = c.transaction()?;
            tx.execute(
                "DELETE FROM backend_identities WHERE tenant_id = ? AND principal = ?",
                params![t, u],
            )?;
            let n = tx.execute(
                "DELETE FROM users WHERE tenant_id = ? AND user_id = ?",
                params![t, u],
            )?;
            tx.commit()?;
            Ok(n > 0)
        })
        .await
    }

    async fn create_credential(&self, tenant_id: &str, user_id: &str) -> Result<Credential> {
        let (t, u) = (tenant_id.to_string(), user_id.to_string());
        self.run(move |c, key| {
            let tx = c.transaction()?;
            if read_user(&tx, &t, &u)?.is_none() {
                return Err(StoreError::NotFound(format!(
                    "user {u} does not exist in tenant {t}"
                )));
            }
            let ak = insert_cred(&tx, key, &t, &u)?;
            let out = read_cred(&tx, key, &ak)?
                .ok_or_else(|| StoreError::Backend("credential vanished".into()))?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    async fn credential(&self, access_key: &str) -> Result<Option<Credential>> {
        let ak = access_key.to_string();
        self.run(move |c, key| read_cred(c, key, &ak)).await
    }

    async fn credentials(&self, filter: &[Term], page: Paging) -> Result<Page<Credential>> {
        let filter = filter.to_vec();
        self.run(move |c, key| {
            let (w, vals) = where_clause(&filter, |t| match t {
                Term::TenantId(v) => Some(("u.tenant_id = ?", vec![s(v)])),
                Term::CdTenantId(v) => Some(("u.cd_tenant_id = ?", vec![s(v)])),
                Term::UserId(v) => Some(("u.user_id = ?", vec![s(v)])),
                Term::CdUserId(v) => Some(("u.cd_user_id = ?", vec![s(v)])),
                Term::Username(v) => Some(("u.username = ?", vec![s(v)])),
                Term::AccessKey(v) => Some(("c.access_key = ?", vec![s(v)])),
                Term::Active(b) => Some(("c.active = ?", vec![Value::Integer(*b as i64)])),
                _ => None,
            });
            let total: i64 = c.query_row(
                &format!("SELECT COUNT(*) FROM {CRED_FROM}{w}"),
                params_from_iter(vals.iter()),
                |r| r.get(0),
            )?;
            let mut vals2 = vals.clone();
            vals2.push(Value::Integer(page.limit.min(i64::MAX as u64) as i64));
            vals2.push(Value::Integer(page.offset.min(i64::MAX as u64) as i64));
            let mut st = c.prepare(&format!(
                "SELECT {CRED_COLS} FROM {CRED_FROM}{w} ORDER BY c.created_at, c.rowid LIMIT ? OFFSET ?"
            ))?;
            let raws: Vec<RawCred> = st
                .query_map(params_from_iter(vals2.iter()), raw_cred)?
                .collect::<std::result::Result<_, _>>()?;
            let items = raws
                .into_iter()
                .map(|r| open_cred(key, r))
                .collect::<Result<Vec<_>>>()?;
            Ok(Page { items, total: total as u64 })
        })
        .await
    }

    async fn set_credential_active(&self, access_key: &str, active: bool) -> Result<Credential> {
        let ak = access_key.to_string();
        self.run(move |c, key| {
            let tx = c.transaction()?;
            let n = tx.execute(
                "UPDATE credentials SET active = ? WHERE access_key = ?",
                params![active, ak],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!(
                    "access key {ak} does not exist"
                )));
            }
            let out = read_cred(&tx, key, &ak)?
                .ok_or_else(|| StoreError::Backend("credential vanished".into()))?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    async fn delete_credential(&self, access_key: &str) -> Result<bool> {
        let ak = access_key.to_string();
        self.run(move |c, _| {
            Ok(c.execute("DELETE FROM credentials WHERE access_key = ?", [ak])? > 0)
        })
        .await
    }

    async fn put_placement(&self, p: &PlacementRow) -> Result<()> {
        let p = p.clone();
        self.run(move |c, _| {
            let r = c.execute(
                "INSERT INTO placements (tenant_id, bucket, backend, backend_bucket, owner_user_id, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                params![p.tenant_id, p.bucket, p.backend, p.backend_bucket, p.owner_user_id, ts(&p.created_at)],
            );
            match r {
                Ok(_) => Ok(()),
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    Err(StoreError::Conflict(format!(
                        "bucket {} is already placed (tenant {} or backend bucket {} on {})",
                        p.bucket, p.tenant_id, p.backend_bucket, p.backend
                    )))
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    async fn placement(&self, tenant_id: &str, bucket: &str) -> Result<Option<PlacementRow>> {
        let (t, b) = (tenant_id.to_string(), bucket.to_string());
        self.run(move |c, _| {
            Ok(c.query_row(
                &format!(
                    "SELECT {PLACEMENT_COLS} FROM placements WHERE tenant_id = ? AND bucket = ?"
                ),
                [t, b],
                placement_from_row,
            )
            .optional()?)
        })
        .await
    }

    async fn placements(&self, tenant_id: &str) -> Result<Vec<PlacementRow>> {
        let t = tenant_id.to_string();
        self.run(move |c, _| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {PLACEMENT_COLS} FROM placements WHERE tenant_id = ? ORDER BY bucket"
            ))?;
            let rows = st.query_map([t], placement_from_row)?;
            Ok(rows.collect::<std::result::Result<_, _>>()?)
        })
        .await
    }

    async fn placements_named(&self, bucket: &str) -> Result<Vec<PlacementRow>> {
        let b = bucket.to_string();
        self.run(move |c, _| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {PLACEMENT_COLS} FROM placements WHERE bucket = ? ORDER BY tenant_id"
            ))?;
            let rows = st.query_map([b], placement_from_row)?;
            Ok(rows.collect::<std::result::Result<_, _>>()?)
        })
        .await
    }

    async fn placements_on_backend(&self, backend: &str) -> Result<u64> {
        let b = backend.to_string();
        self.run(move |c, _| {
            Ok(c.query_row(
                "SELECT COUNT(*) FROM placements WHERE backend = ?",
                [b],
                |r| r.get::<_, i64>(0),
            )? as u64)
        })
        .await
    }

    async fn delete_placement(&self, tenant_id: &str, bucket: &str) -> Result<bool> {
        let (t, b) = (tenant_id.to_string(), bucket.to_string());
        self.run(move |c, _| {
            let tx = c.transaction()?;
            let gone = tx.execute(
                "DELETE FROM placements WHERE tenant_id = ? AND bucket = ?",
                [&t, &b],
            )? > 0;
            tx.execute(
                "DELETE FROM bucket_access WHERE tenant_id = ? AND bucket = ?",
                [&t, &b],
            )?;
            tx.execute(
                "DELETE FROM object_access WHERE tenant_id = ? AND bucket = ?",
                [&t, &b],
            )?;
            tx.commit()?;
            Ok(gone)
        })
        .await
    }

    async fn bucket_access(&self, tenant_id: &str, bucket: &str) -> Result<BucketAccessRow> {
        let (t, b) = (tenant_id.to_string(), bucket.to_string());
        self.run(move |c, _| access::bucket_access(c, &t, &b)).await
    }

    async fn put_bucket_access(
        &self,
        tenant_id: &str,
        bucket: &str,
        row: &BucketAccessRow,
    ) -> Result<()> {
        let (t, b, row) = (tenant_id.to_string(), bucket.to_string(), row.clone());
        self.run(move |c, _| access::put_bucket_access(c, &t, &b, &row))
            .await
    }

    async fn object_access(
        &self,
        tenant_id: &str,
        bucket: &str,
        key: &str,
    ) -> Result<Option<ObjectAccessRow>> {
        let (t, b, k) = (tenant_id.to_string(), bucket.to_string(), key.to_string());
        self.run(move |c, _| access::object_access(c, &t, &b, &k))
            .await
    }

    async fn put_object_access(&self, row: &ObjectAccessRow) -> Result<()> {
        let row = row.clone();
        self.run(move |c, _| access::put_object_access(c, &row))
            .await
    }

    async fn delete_object_access(&self, tenant_id: &str, bucket: &str, key: &str) -> Result<bool> {
        let (t, b, k) = (tenant_id.to_string(), bucket.to_string(), key.to_string());
        self.run(move |c, _| access::delete_object_access(c, &t, &b, &k))
            .await
    }

    async fn put_identity(&self, id: &BackendIdentity) -> Result<()> {
        let id = id.clone();
        self.run(move |c, key| {
            let sealed = key.seal(
                &identity_ctx(&id.backend, &id.tenant_id, &id.principal),
                id.secret_key.as_bytes(),
            );
            c.execute(
                "INSERT INTO backend_identities (backend, tenant_id, principal, backend_user, access_key, secret) VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT (backend, tenant_id, principal) DO UPDATE SET backend_user = excluded.backend_user, access_key = excluded.access_key, secret = excluded.secret",
                params![id.backend, id.tenant_id, id.principal, id.backend_user, id.access_key, sealed],
            )?;
            Ok(())
        })
        .await
    }

    async fn identity(&self, id: IdentityRef<'_>) -> Result<Option<BackendIdentity>> {
        let (b, t, p) = (
            id.backend.to_string(),
            id.tenant_id.to_string(),
            id.principal.to_string(),
        );
        self.run(move |c, key| {
            let row = c
                .query_row(
                    "SELECT backend_user, access_key, secret FROM backend_identities WHERE backend = ? AND tenant_id = ? AND principal = ?",
                    [&b, &t, &p],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Vec<u8>>(2)?)),
                )
                .optional()?;
            let Some((backend_user, access_key, sealed)) = row else {
                return Ok(None);
            };
            let secret_key = open_identity_secret(key, &b, &t, &p, &sealed)?;
            Ok(Some(BackendIdentity {
                backend: b,
                tenant_id: t,
                principal: p,
                backend_user,
                access_key,
                secret_key,
            }))
        })
        .await
    }

    async fn principals_on(&self, backend: &str, tenant_id: &str) -> Result<Vec<PrincipalRow>> {
        let (b, t) = (backend.to_string(), tenant_id.to_string());
        self.run(move |c, _| {
            let mut st = c.prepare(
                "SELECT u.user_id, u.canonical_user_id, u.username, i.backend_user FROM backend_identities i JOIN users u ON u.tenant_id = i.tenant_id AND u.user_id = i.principal WHERE i.backend = ? AND i.tenant_id = ? ORDER BY u.user_id",
            )?;
            let rows = st
                .query_map([&b, &t], |r| {
                    Ok(PrincipalRow {
                        tenant_id: t.clone(),
                        user_id: r.get(0)?,
                        canonical_user_id: r.get(1)?,
                        username: r.get(2)?,
                        backend_user: r.get(3)?,
                    })
                })?
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn identities_of_tenant(&self, tenant_id: &str) -> Result<Vec<BackendIdentity>> {
        let t = tenant_id.to_string();
        self.run(move |c, key| {
            let mut st = c.prepare(
                "SELECT backend, principal, backend_user, access_key, secret FROM backend_identities WHERE tenant_id = ? ORDER BY backend, principal",
            )?;
            let rows: Vec<(String, String, String, String, Vec<u8>)> = st
                .query_map([&t], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
                .collect::<std::result::Result<_, _>>()?;
            rows.into_iter()
                .map(|(b, p, backend_user, access_key, sealed)| {
                    let secret_key = open_identity_secret(key, &b, &t, &p, &sealed)?;
                    Ok(BackendIdentity {
                        backend: b,
                        tenant_id: t.clone(),
                        principal: p,
                        backend_user,
                        access_key,
                        secret_key,
                    })
                })
                .collect()
        })
        .await
    }

    async fn identities_on_backend(&self, backend: &str) -> Result<u64> {
        let b = backend.to_string();
        self.run(move |c, _| {
            Ok(c.query_row(
                "SELECT COUNT(*) FROM backend_identities WHERE backend = ?",
                [b],
                |r| r.get::<_, i64>(0),
            )? as u64)
        })
        .await
    }

    async fn delete_identity(&self, id: IdentityRef<'_>) -> Result<bool> {
        let (b, t, p) = (
            id.backend.to_string(),
            id.tenant_id.to_string(),
            id.principal.to_string(),
        );
        self.run(move |c, _| {
            Ok(c.execute(
                "DELETE FROM backend_identities WHERE backend = ? AND tenant_id = ? AND principal = ?",
                [b, t, p],
            )? > 0)
        })
        .await
    }

    async fn push_pending(&self, backend: &str, op: &str) -> Result<i64> {
        let (b, o) = (backend.to_string(), op.to_string());
        self.run(move |c, _| {
            c.execute(
                "INSERT INTO pending_ops (backend, op, created_at) VALUES (?, ?, ?)",
                params![b, o, ts(&now())],
            )?;
            Ok(c.last_insert_rowid())
        })
        .await
    }

    async fn pending(&self) -> Result<Vec<PendingOp>> {
        self.run(|c, _| {
            let mut st = c.prepare(
                "SELECT id, backend, op, attempts, last_error, created_at FROM pending_ops ORDER BY id",
            )?;
            let rows = st.query_map([], |r| {
                Ok(PendingOp {
                    id: r.get(0)?,
                    backend: r.get(1)?,
                    op: r.get(2)?,
                    attempts: r.get(3)?,
                    last_error: r.get(4)?,
                    created_at: parse_ts(&r.get::<_, String>(5)?),
                })
            })?;
            Ok(rows.collect::<std::result::Result<_, _>>()?)
        })
        .await
    }

    async fn finish_pending(&self, id: i64) -> Result<()> {
        self.run(move |c, _| {
            c.execute("DELETE FROM pending_ops WHERE id = ?", [id])?;
            Ok(())
        })
        .await
    }

    async fn fail_pending(&self, id: i64, error: &str) -> Result<()> {
        let e = error.to_string();
        self.run(move |c, _| {
            c.execute(
                "UPDATE pending_ops SET attempts = attempts + 1, last_error = ? WHERE id = ?",
                params![e, id],
            )?;
            Ok(())
        })
        .await
    }

    async fn stats(&self) -> Result<std::collections::BTreeMap<String, i64>> {
        self.run(|c, _| {
            let mut out = std::collections::BTreeMap::new();
            for t in [
                "tenants",
                "tenant_cd_ids",
                "users",
                "credentials",
                "placements",
                "backend_identities",
                "pending_ops",
            ] {
                let n: i64 = c.query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| r.get(0))?;
                out.insert(t.to_string(), n);
            }
            let v: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            out.insert("schema_version".to_string(), v);
            Ok(out)
        })
        .await
    }

    /// `BEGIN IMMEDIATE` takes SQLite's write lock: it fails when another process holds it (or
    /// the file is gone read-only), which a plain read in WAL mode would not notice. The wait for
    /// the lock is shortened to [`PING_BUSY_TIMEOUT`] so a probe does not hold the connection.
    async fn ping(&self) -> Result<()> {
        self.run(|c, _| {
            c.busy_timeout(PING_BUSY_TIMEOUT)?;
            let r = c.execute_batch("BEGIN IMMEDIATE; ROLLBACK;");
            c.busy_timeout(BUSY_TIMEOUT)?;
            r.map_err(db_err)
        })
        .await
    }

    async fn stable_value(&self, name: &str, generate: fn() -> String) -> Result<String> {
        let n = name.to_string();
        self.run(move |c, _| {
            c.execute(
                "INSERT OR IGNORE INTO stable_values (name, value) VALUES (?, ?)",
                params![n, generate()],
            )?;
            Ok(
                c.query_row("SELECT value FROM stable_values WHERE name = ?", [n], |r| {
                    r.get(0)
                })?,
            )
        })
        .await
    }

    async fn counter(&self, name: &str) -> Result<i64> {
        let n = name.to_string();
        self.run(move |c, _| {
            Ok(
                c.query_row("SELECT value FROM counters WHERE name = ?", [n], |r| {
                    r.get(0)
                })
                .optional()?
                .unwrap_or(0),
            )
        })
        .await
    }

    async fn bump_counter(&self, name: &str) -> Result<i64> {
        let n = name.to_string();
        self.run(move |c, _| {
            Ok(c.query_row(
                "INSERT INTO counters (name, value) VALUES (?1, 1)
                 ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value",
                [n],
                |r| r.get(0),
            )?)
        })
        .await
    }
}
