//! PostgreSQL identity store (`[store] kind = "postgres"`): the store several Osprey replicas
//! share (issue 15). Same tables, same semantics and the same sealed secrets as the SQLite store
//! (`tests/store_postgres.rs` runs one sequence of operations against both and compares).
//!
//! Connections come from a deadpool pool of `store.pool_size`; each connection's I/O task runs
//! on the runtime that opened the store (`connect.rs`), so it outlives none of the per-service
//! runtimes it is used from. Durability is PostgreSQL's: a call returns after its transaction
//! committed. Changes of tenants, users and credentials are announced on
//! [`rows::CHANGE_CHANNEL`] (NOTIFY) and heard by every replica's `feed.rs`.

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Pool};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::*;
use crate::config::PostgresConfig;

mod connect;
mod data;
mod feed;
pub(crate) mod import;
mod lock;
mod rows;
pub(crate) mod schema;

pub use feed::{FEED_CHECK_INTERVAL, FEED_CHECK_TIMEOUT, FEED_RETRY_MAX};
pub use lock::AdvisoryLock;
pub use rows::CHANGE_CHANNEL;
use rows::*;

/// How long [`Store::ping`] may take in all: 1 s, under the readiness check's 2 s
/// (`osis::probes::STORE_CHECK_TIMEOUT`), so an unreachable server reads as PostgreSQL's reason.
pub const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1000);

pub struct PgStore {
    pool: Pool,
    key: std::sync::Arc<MasterKey>,
    /// `postgres://user@host:port/db`, for messages.
    target: String,
    pool_size: usize,
    /// The change feed (not for read-only inspection, which caches nothing).
    feed: Option<feed::Feed>,
}

/// A driver error as one line: PostgreSQL's own message and SQLSTATE, or the cause chain.
pub(crate) fn pg_msg(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut m = format!("{} (SQLSTATE {})", db.message(), db.code().code());
        if let Some(d) = db.detail() {
            m.push_str(&format!("; {d}"));
        }
        return m;
    }
    let mut m = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        m.push_str(&format!(": {s}"));
        src = s.source();
    }
    m
}

pub(crate) fn pg_err(e: tokio_postgres::Error) -> StoreError {
    StoreError::Backend(pg_msg(&e))
}

pub(crate) fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
}

/// Run `sql` as a cached prepared statement (one round trip after the first use per connection).
pub(crate) async fn q(
    c: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>> {
    let st = c.prepare_cached(sql).await.map_err(pg_err)?;
    c.query(&st, params).await.map_err(pg_err)
}

/// Run a statement built from a filter, unprepared: filters come in many shapes (any terms, in
/// any order, repeated), which must not fill the per-connection statement cache.
pub(crate) async fn q_dyn(
    c: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>> {
    c.query(sql, params).await.map_err(pg_err)
}

pub(crate) async fn q_opt(
    c: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<Row>> {
    let st = c.prepare_cached(sql).await.map_err(pg_err)?;
    c.query_opt(&st, params).await.map_err(pg_err)
}

pub(crate) async fn exec(
    c: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64> {
    let st = c.prepare_cached(sql).await.map_err(pg_err)?;
    c.execute(&st, params).await.map_err(pg_err)
}

impl PgStore {
    /// Connect, then bring the schema to this build's version (refusing a newer one).
    pub async fn open(cfg: &PostgresConfig, key: MasterKey) -> Result<Self> {
        let mut store = Self::connect(cfg, key)?;
        let mut c = store.client().await?;
        schema::migrate(&mut c, &store.target).await?;
        drop(c);
        store.feed = Some(feed::Feed::start(cfg, store.target.clone())?);
        Ok(store)
    }

    /// For inspection only (support bundle, explain-route): no migration, no master key (nothing
    /// is decrypted), every transaction read-only. A database without Osprey's schema, or with a
    /// newer one, is refused.
    pub async fn open_read_only(cfg: &PostgresConfig) -> Result<Self> {
        let mut cfg = cfg.clone();
        let options = match cfg.connect.get_options() {
            Some(o) if !o.trim().is_empty() => format!("{o} -c default_transaction_read_only=on"),
            _ => "-c default_transaction_read_only=on".to_string(),
        };
        cfg.connect.options(&options);
        let store = Self::connect(&cfg, MasterKey::from_bytes([0; 32]))?;
        let c = store.client().await?;
        match schema::version(&c).await? {
            None => Err(StoreError::Backend(format!(
                "{} has no Osprey schema (no osprey_schema table); `osprey serve` creates it",
                store.target
            ))),
            Some(v) if v > schema::SCHEMA_VERSION => Err(schema::newer_message(&store.target, v)),
            Some(_) => Ok(store),
        }
    }

    fn connect(cfg: &PostgresConfig, key: MasterKey) -> Result<Self> {
        Ok(PgStore {
            pool: connect::pool(cfg)?,
            key: std::sync::Arc::new(key),
            target: cfg.display.clone(),
            pool_size: cfg.pool_size,
            feed: None,
        })
    }

    pub fn master_key(&self) -> &MasterKey {
        &self.key
    }

    /// `postgres://user@host:port/db` (no password).
    pub fn target(&self) -> &str {
        &self.target
    }

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Client> {
        self.pool
            .get()
            .await
            .map_err(|e| connect::pool_err(e, self))
    }

    /// Take the session-level advisory lock `name` if it is free (singleton work across
    /// replicas); held until the returned guard is dropped or this process dies.
    pub async fn try_lock(&self, name: &str) -> Result<Option<AdvisoryLock>> {
        lock::try_lock(self, name).await
    }
}

#[async_trait]
impl Store for PgStore {
    fn changes(&self) -> Option<ChangeFeed> {
        self.feed.as_ref().map(feed::Feed::subscribe)
    }

    async fn announce(&self, change: Change) -> Result<()> {
        notify(&self.client().await?, change).await
    }

    async fn job_lock(&self, name: &str) -> Result<Option<JobLock>> {
        Ok(self
            .try_lock(name)
            .await?
            .map(|l| JobLock::new(name, Box::new(l))))
    }

    async fn create_tenant(&self, t: NewTenant) -> Result<Tenant> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        let id = loop {
            let id = ids::tenant_id();
            let n = exec(
                &tx,
                "INSERT INTO tenants (tenant_id, name, active, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id) DO NOTHING",
                &[&id, &t.name, &t.active, &now()],
            )
            .await?;
            if n == 1 {
                break id;
            }
        };
        set_cd_ids(&tx, &id, &t.cd_tenant_ids).await?;
        notify(
            &tx,
            Change::Tenant {
                tenant_id: id.clone(),
            },
        )
        .await?;
        let out = read_tenant(&tx, &id)
            .await?
            .ok_or_else(|| StoreError::Backend("tenant vanished".into()))?;
        tx.commit().await.map_err(pg_err)?;
        Ok(out)
    }

    async fn tenant(&self, tenant_id: &str) -> Result<Option<Tenant>> {
        let c = self.client().await?;
        read_tenant(&c, tenant_id).await
    }

    async fn tenants(&self, filter: &[Term], page: Paging) -> Result<Page<Tenant>> {
        let (w, vals) = where_clause(filter, |t| {
            match t {
            Term::TenantId(v) => text("t.tenant_id = $?", v),
            Term::TenantName(v) => text("t.name = $?", v),
            Term::Active(b) => flag("t.active = $?", *b),
            Term::CdTenantId(v) => text(
                "EXISTS (SELECT 1 FROM tenant_cd_ids x WHERE x.tenant_id = t.tenant_id AND x.cd_tenant_id = $?)",
                v,
            ),
            _ => None,
        }
        });
        let c = self.client().await?;
        let (total, rows) = paged(
            &c,
            "t.tenant_id",
            "tenants t",
            &w,
            "t.created_at, t.seq",
            &vals,
            page,
        )
        .await?;
        let ids: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        let mut items = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(t) = read_tenant(&c, &id).await? {
                items.push(t);
            }
        }
        Ok(Page {
            items,
            total: total as u64,
        })
    }

    async fn update_tenant(&self, tenant_id: &str, u: TenantUpdate) -> Result<Tenant> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        // the row lock orders concurrent updates of one tenant as SQLite's single writer does
        if q_opt(
            &tx,
            "SELECT 1 FROM tenants WHERE tenant_id = $1 FOR UPDATE",
            &[&tenant_id],
        )
        .await?
        .is_none()
        {
            return Err(StoreError::NotFound(format!(
                "tenant {tenant_id} does not exist"
            )));
        }
        if let Some(n) = &u.name {
            exec(
                &tx,
                "UPDATE tenants SET name = $1 WHERE tenant_id = $2",
                &[n, &tenant_id],
            )
            .await?;
        }
        if let Some(a) = u.active {
            exec(
                &tx,
                "UPDATE tenants SET active = $1 WHERE tenant_id = $2",
                &[&a, &tenant_id],
            )
            .await?;
        }
        if let Some(ids) = &u.cd_tenant_ids {
            set_cd_ids(&tx, tenant_id, ids).await?;
        }
        notify(
            &tx,
            Change::Tenant {
                tenant_id: tenant_id.to_string(),
            },
        )
        .await?;
        let out = read_tenant(&tx, tenant_id)
            .await?
            .ok_or_else(|| StoreError::Backend("tenant vanished".into()))?;
        tx.commit().await.map_err(pg_err)?;
        Ok(out)
    }

    async fn delete_tenant(&self, tenant_id: &str) -> Result<bool> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        // users and credentials go by ON DELETE CASCADE; placements and identities are
        // data-plane state the caller has already cleared from the backends
        exec(
            &tx,
            "DELETE FROM placements WHERE tenant_id = $1",
            &[&tenant_id],
        )
        .await?;
        exec(
            &tx,
            "DELETE FROM backend_identities WHERE tenant_id = $1",
            &[&tenant_id],
        )
        .await?;
        let n = exec(
            &tx,
            "DELETE FROM tenants WHERE tenant_id = $1",
            &[&tenant_id],
        )
        .await?;
        if n > 0 {
            notify(
                &tx,
                Change::Tenant {
                    tenant_id: tenant_id.to_string(),
                },
            )
            .await?;
        }
        tx.commit().await.map_err(pg_err)?;
        Ok(n > 0)
    }

    async fn create_user(&self, tenant_id: &str, u: NewUser) -> Result<(User, Credential)> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        // FOR SHARE: the tenant cannot be deleted under the new user
        if q_opt(
            &tx,
            "SELECT 1 FROM tenants WHERE tenant_id = $1 FOR SHARE",
            &[&tenant_id],
        )
        .await?
        .is_none()
        {
            return Err(StoreError::NotFound(format!(
                "tenant {tenant_id} does not exist"
            )));
        }
        let exists = || {
            StoreError::Conflict(format!(
                "user {} already exists in tenant {tenant_id}",
                u.user_id
            ))
        };
        if read_user(&tx, tenant_id, &u.user_id).await?.is_some() {
            return Err(exists());
        }
        let st = tx
            .prepare_cached(
                "INSERT INTO users (tenant_id, user_id, canonical_user_id, username, email, role, cd_user_id, cd_tenant_id, active, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .await
            .map_err(pg_err)?;
        let r = tx
            .execute(
                &st,
                &[
                    &tenant_id,
                    &u.user_id,
                    &ids::canonical_id(),
                    &u.username,
                    &u.email,
                    &u.role,
                    &u.cd_user_id,
                    &u.cd_tenant_id,
                    &u.active,
                    &now(),
                ],
            )
            .await;
        match r {
            Ok(_) => {}
            // created by a concurrent call since the check
            Err(e) if is_unique_violation(&e) => return Err(exists()),
            Err(e) => return Err(pg_err(e)),
        }
        let ak = insert_cred(&tx, &self.key, tenant_id, &u.user_id).await?;
        notify(
            &tx,
            Change::User {
                tenant_id: tenant_id.to_string(),
                user_id: u.user_id.clone(),
            },
        )
        .await?;
        let user = read_user(&tx, tenant_id, &u.user_id)
            .await?
            .ok_or_else(|| StoreError::Backend("user vanished".into()))?;
        let cred = read_cred(&tx, &self.key, &ak)
            .await?
            .ok_or_else(|| StoreError::Backend("credential vanished".into()))?;
        tx.commit().await.map_err(pg_err)?;
        Ok((user, cred))
    }

    async fn user(&self, tenant_id: &str, user_id: &str) -> Result<Option<User>> {
        let c = self.client().await?;
        read_user(&c, tenant_id, user_id).await
    }

    async fn user_by_canonical(&self, canonical_user_id: &str) -> Result<Option<User>> {
        let c = self.client().await?;
        Ok(q_opt(
            &c,
            &format!("SELECT {USER_COLS} FROM users u WHERE u.canonical_user_id = $1"),
            &[&canonical_user_id],
        )
        .await?
        .map(|r| user_from_row(&r)))
    }

    async fn users(&self, filter: &[Term], page: Paging) -> Result<Page<User>> {
        let (w, vals) = where_clause(filter, |t| match t {
            Term::TenantId(v) => text("u.tenant_id = $?", v),
            Term::CdTenantId(v) => text("u.cd_tenant_id = $?", v),
            Term::UserId(v) => text("u.user_id = $?", v),
            Term::CdUserId(v) => text("u.cd_user_id = $?", v),
            Term::Username(v) => text("u.username = $?", v),
            Term::CanonicalUserId(v) => text("u.canonical_user_id = $?", v),
            Term::Email(v) => text("u.email = $?", v),
            Term::Role(v) => text("u.role = $?", v),
            Term::Active(b) => flag("u.active = $?", *b),
            _ => None,
        });
        let c = self.client().await?;
        let (total, rows) = paged(
            &c,
            USER_COLS,
            "users u",
            &w,
            "u.created_at, u.seq",
            &vals,
            page,
        )
        .await?;
        let items = rows.iter().map(user_from_row).collect();
        Ok(Page {
            items,
            total: total as u64,
        })
    }

    async fn set_user_active(&self, tenant_id: &str, user_id: &str, active: bool) -> Result<User> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        let n = exec(
            &tx,
            "UPDATE users SET active = $1 WHERE tenant_id = $2 AND user_id = $3",
            &[&active, &tenant_id, &user_id],
        )
        .await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!(
                "user {user_id} does not exist in tenant {tenant_id}"
            )));
        }
        notify(
            &tx,
            Change::User {
                tenant_id: tenant_id.to_string(),
                user_id: user_id.to_string(),
            },
        )
        .await?;
        let out = read_user(&tx, tenant_id, user_id)
            .await?
            .ok_or_else(|| StoreError::Backend("user vanished".into()))?;
        tx.commit().await.map_err(pg_err)?;
        Ok(out)
    }

    async fn delete_user(&self, tenant_id: &str, user_id: &str) -> Result<bool> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        exec(
            &tx,
            "DELETE FROM backend_identities WHERE tenant_id = $1 AND principal = $2",
            &[&tenant_id, &user_id],
        )
        .await?;
        let n = exec(
            &tx,
            "DELETE FROM users WHERE tenant_id = $1 AND user_id = $2",
            &[&tenant_id, &user_id],
        )
        .await?;
        if n > 0 {
            notify(
                &tx,
                Change::User {
                    tenant_id: tenant_id.to_string(),
                    user_id: user_id.to_string(),
                },
            )
            .await?;
        }
        tx.commit().await.map_err(pg_err)?;
        Ok(n > 0)
    }

    async fn create_credential(&self, tenant_id: &str, user_id: &str) -> Result<Credential> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        // FOR SHARE: the user cannot be deleted under its new key
        if q_opt(
            &tx,
            "SELECT 1 FROM users WHERE tenant_id = $1 AND user_id = $2 FOR SHARE",
            &[&tenant_id, &user_id],
        )
        .await?
        .is_none()
        {
            return Err(StoreError::NotFound(format!(
                "user {user_id} does not exist in tenant {tenant_id}"
            )));
        }
        let ak = insert_cred(&tx, &self.key, tenant_id, user_id).await?;
        let out = read_cred(&tx, &self.key, &ak)
            .await?
            .ok_or_else(|| StoreError::Backend("credential vanished".into()))?;
        tx.commit().await.map_err(pg_err)?;
        Ok(out)
    }

    async fn credential(&self, access_key: &str) -> Result<Option<Credential>> {
        let c = self.client().await?;
        read_cred(&c, &self.key, access_key).await
    }

    async fn credentials(&self, filter: &[Term], page: Paging) -> Result<Page<Credential>> {
        let (w, vals) = where_clause(filter, |t| match t {
            Term::TenantId(v) => text("u.tenant_id = $?", v),
            Term::CdTenantId(v) => text("u.cd_tenant_id = $?", v),
            Term::UserId(v) => text("u.user_id = $?", v),
            Term::CdUserId(v) => text("u.cd_user_id = $?", v),
            Term::Username(v) => text("u.username = $?", v),
            Term::AccessKey(v) => text("c.access_key = $?", v),
            Term::Active(b) => flag("c.active = $?", *b),
            _ => None,
        });
        let c = self.client().await?;
        let (total, rows) = paged(
            &c,
            CRED_COLS,
            CRED_FROM,
            &w,
            "c.created_at, c.seq",
            &vals,
            page,
        )
        .await?;
        let items = rows
            .iter()
            .map(|r| open_cred(&self.key, r))
            .collect::<Result<Vec<_>>>()?;
        Ok(Page {
            items,
            total: total as u64,
        })
    }

    async fn set_credential_active(&self, access_key: &str, active: bool) -> Result<Credential> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        let n = exec(
            &tx,
            "UPDATE credentials SET active = $1 WHERE access_key = $2",
            &[&active, &access_key],
        )
        .await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!(
                "access key {access_key} does not exist"
            )));
        }
        notify(
            &tx,
            Change::Credential {
                access_key: access_key.to_string(),
            },
        )
        .await?;
        let out = read_cred(&tx, &self.key, access_key)
            .await?
            .ok_or_else(|| StoreError::Backend("credential vanished".into()))?;
        tx.commit().await.map_err(pg_err)?;
        Ok(out)
    }

    async fn delete_credential(&self, access_key: &str) -> Result<bool> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        let n = exec(
            &tx,
            "DELETE FROM credentials WHERE access_key = $1",
            &[&access_key],
        )
        .await?;
        if n > 0 {
            notify(
                &tx,
                Change::Credential {
                    access_key: access_key.to_string(),
                },
            )
            .await?;
        }
        tx.commit().await.map_err(pg_err)?;
        Ok(n > 0)
    }

    async fn put_placement(&self, p: &PlacementRow) -> Result<()> {
        data::put_placement(self, p).await
    }

    async fn placement(&self, tenant_id: &str, bucket: &str) -> Result<Option<PlacementRow>> {
        data::placement(self, tenant_id, bucket).await
    }

    async fn placements(&self, tenant_id: &str) -> Result<Vec<PlacementRow>> {
        data::placements(self, "tenant_id", tenant_id, "bucket").await
    }

    async fn placements_named(&self, bucket: &str) -> Result<Vec<PlacementRow>> {
        data::placements(self, "bucket", bucket, "tenant_id").await
    }

    async fn placements_on_backend(&self, backend: &str) -> Result<u64> {
        data::count(self, "placements", backend).await
    }

    async fn delete_placement(&self, tenant_id: &str, bucket: &str) -> Result<bool> {
        data::delete_placement(self, tenant_id, bucket).await
    }

    async fn bucket_access(&self, tenant_id: &str, bucket: &str) -> Result<BucketAccessRow> {
        data::bucket_access(self, tenant_id, bucket).await
    }

    async fn put_bucket_access(
        &self,
        tenant_id: &str,
        bucket: &str,
        row: &BucketAccessRow,
    ) -> Result<()> {
        data::put_bucket_access(self, tenant_id, bucket, row).await
    }

    async fn object_access(
        &self,
        tenant_id: &str,
        bucket: &str,
        key: &str,
    ) -> Result<Option<ObjectAccessRow>> {
        data::object_access(self, tenant_id, bucket, key).await
    }

    async fn put_object_access(&self, row: &ObjectAccessRow) -> Result<()> {
        data::put_object_access(self, row).await
    }

    async fn delete_object_access(&self, tenant_id: &str, bucket: &str, key: &str) -> Result<bool> {
        data::delete_object_access(self, tenant_id, bucket, key).await
    }

    async fn put_identity(&self, id: &BackendIdentity) -> Result<()> {
        data::put_identity(self, id).await
    }

    async fn identity(&self, id: IdentityRef<'_>) -> Result<Option<BackendIdentity>> {
        data::identity(self, id).await
    }

    async fn identities_of_tenant(&self, tenant_id: &str) -> Result<Vec<BackendIdentity>> {
        data::identities_of_tenant(self, tenant_id).await
    }

    async fn identities_on_backend(&self, backend: &str) -> Result<u64> {
        data::count(self, "backend_identities", backend).await
    }

    async fn principals_on(&self, backend: &str, tenant_id: &str) -> Result<Vec<PrincipalRow>> {
        data::principals_on(self, backend, tenant_id).await
    }

    async fn delete_identity(&self, id: IdentityRef<'_>) -> Result<bool> {
        data::delete_identity(self, id).await
    }

    async fn push_pending(&self, backend: &str, op: &str) -> Result<i64> {
        data::push_pending(self, backend, op).await
    }

    async fn pending(&self) -> Result<Vec<PendingOp>> {
        data::pending(self).await
    }

    async fn finish_pending(&self, id: i64) -> Result<()> {
        data::finish_pending(self, id).await
    }

    async fn fail_pending(&self, id: i64, error: &str) -> Result<()> {
        data::fail_pending(self, id, error).await
    }

    async fn stats(&self) -> Result<std::collections::BTreeMap<String, i64>> {
        data::stats(self).await
    }

    /// A write-capable check bounded by [`PING_TIMEOUT`]: a pooled connection, then a
    /// transaction with a short statement timeout on a server that is not a standby
    /// (`pg_is_in_recovery()`) and whose transactions are not read-only, rolled back.
    async fn ping(&self) -> Result<()> {
        match tokio::time::timeout(PING_TIMEOUT, data::ping(self)).await {
            Ok(r) => r,
            Err(_) => Err(StoreError::Backend(format!(
                "PostgreSQL {} did not answer within {} ms",
                self.target,
                PING_TIMEOUT.as_millis()
            ))),
        }
    }

    async fn stable_value(&self, name: &str, generate: fn() -> String) -> Result<String> {
        data::stable_value(self, name, generate).await
    }

    async fn counter(&self, name: &str) -> Result<i64> {
        data::counter(self, name).await
    }

    async fn bump_counter(&self, name: &str) -> Result<i64> {
        data::bump_counter(self, name).await
    }
}

/// One page of a filtered listing and the filter's total: `COUNT(*)` of `from` + `where_sql`,
/// and `SELECT cols … ORDER BY order LIMIT … OFFSET …` (LIMIT and OFFSET as PostgreSQL's
/// `bigint`, clamped the way SQLite clamps them).
async fn paged(
    c: &impl GenericClient,
    cols: &str,
    from: &str,
    where_sql: &str,
    order: &str,
    vals: &[rows::Param],
    page: Paging,
) -> Result<(i64, Vec<Row>)> {
    let total: i64 = q_dyn(
        c,
        &format!("SELECT COUNT(*) FROM {from}{where_sql}"),
        &refs(vals, &[]),
    )
    .await?[0]
        .get(0);
    let limit = page.limit.min(i64::MAX as u64) as i64;
    let offset = page.offset.min(i64::MAX as u64) as i64;
    let n = vals.len();
    let rows = q_dyn(
        c,
        &format!(
            "SELECT {cols} FROM {from}{where_sql} ORDER BY {order} LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        ),
        &refs(vals, &[&limit, &offset]),
    )
    .await?;
    Ok((total, rows))
}
