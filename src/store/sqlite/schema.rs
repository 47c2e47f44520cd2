//! The schema: numbered migrations, applied in order at open (index + 1 = the version after),
//! and opening a database (refusing someone else's file and a newer schema).

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

use super::super::*;
use super::SqliteStore;

/// How long a store call waits for SQLite's write lock held by another connection (5 s, set at
/// open by `PRAGMA busy_timeout` below).
pub(super) const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(5000);

/// How long [`Store::ping`] waits for the write lock: 1 s, below the readiness check's 2 s
/// (`osis::probes::STORE_CHECK_TIMEOUT`), so a locked store reads as "unreachable" with SQLite's
/// own reason ("database is locked") rather than a timeout.
pub(super) const PING_BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1000);

/// Numbered schema migrations; index + 1 is the schema version after applying it.
pub(crate) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE tenants (
    tenant_id   TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    active      INTEGER NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE TABLE tenant_cd_ids (
    cd_tenant_id TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    position     INTEGER NOT NULL
);
CREATE INDEX tenant_cd_ids_tenant ON tenant_cd_ids(tenant_id);
CREATE TABLE users (
    tenant_id         TEXT NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    user_id           TEXT NOT NULL,
    canonical_user_id TEXT NOT NULL UNIQUE,
    username          TEXT NOT NULL,
    email             TEXT,
    role              TEXT NOT NULL,
    cd_user_id        TEXT NOT NULL,
    cd_tenant_id      TEXT NOT NULL,
    active            INTEGER NOT NULL,
    created_at        TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX users_cd ON users(cd_tenant_id, cd_user_id);
CREATE TABLE credentials (
    access_key  TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    secret      BLOB NOT NULL,
    active      INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, user_id) ON DELETE CASCADE
);
CREATE INDEX credentials_owner ON credentials(tenant_id, user_id);
CREATE TABLE placements (
    tenant_id      TEXT NOT NULL,
    bucket         TEXT NOT NULL,
    backend        TEXT NOT NULL,
    backend_bucket TEXT NOT NULL,
    owner_user_id  TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, bucket),
    UNIQUE (backend, backend_bucket)
);
CREATE INDEX placements_bucket ON placements(bucket);
CREATE TABLE backend_identities (
    backend      TEXT NOT NULL,
    tenant_id    TEXT NOT NULL,
    principal    TEXT NOT NULL,
    backend_user TEXT NOT NULL,
    access_key   TEXT NOT NULL,
    secret       BLOB NOT NULL,
    PRIMARY KEY (backend, tenant_id, principal)
);
CREATE TABLE pending_ops (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    backend    TEXT NOT NULL,
    op         TEXT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE stable_values (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"#,
    // 2: counters that only grow (e.g. the OSIS token generation, bumped to revoke every token)
    r#"
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"#,
    // 3: a backend bucket name is unique per tenant, not per backend: on per-tenant-namespace
    // backends (RGW tenants) two tenants each have their own `same` (the isolation suite found
    // the old UNIQUE (backend, backend_bucket) refusing the second tenant's placement)
    r#"
CREATE TABLE placements_v3 (
    tenant_id      TEXT NOT NULL,
    bucket         TEXT NOT NULL,
    backend        TEXT NOT NULL,
    backend_bucket TEXT NOT NULL,
    owner_user_id  TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, bucket),
    UNIQUE (backend, tenant_id, backend_bucket)
);
INSERT INTO placements_v3 SELECT tenant_id, bucket, backend, backend_bucket, owner_user_id, created_at FROM placements;
DROP TABLE placements;
ALTER TABLE placements_v3 RENAME TO placements;
CREATE INDEX placements_bucket ON placements(bucket);
"#,
    // 4: access records of shared-identity backends (issue 11): a bucket's ACL, policy and
    // PublicAccessBlock, and the owner/ACL of objects that are not the bucket owner's private
    r#"
CREATE TABLE bucket_access (
    tenant_id           TEXT NOT NULL,
    bucket              TEXT NOT NULL,
    acl                 TEXT,
    policy              TEXT,
    public_access_block TEXT,
    PRIMARY KEY (tenant_id, bucket)
);
CREATE TABLE object_access (
    tenant_id TEXT NOT NULL,
    bucket    TEXT NOT NULL,
    key       TEXT NOT NULL,
    access    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, bucket, key)
);
"#,
];

/// Application id written into the SQLite header so `osprey` never opens someone else's file.
pub(super) const APPLICATION_ID: i64 = 0x4f53_5052; // "OSPR"

impl SqliteStore {
    pub fn open(path: &Path, key: MasterKey) -> Result<Self> {
        let conn = Connection::open(path)
            .map_err(|e| StoreError::Backend(format!("cannot open {}: {e}", path.display())))?;
        // owner-only: SQLite gives the -wal and -shm files the database file's permissions
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
                |e| StoreError::Backend(format!("cannot restrict {} to 0600: {e}", path.display())),
            )?;
        }
        let conn = prepare(conn, path)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            key: Arc::new(key),
        })
    }

    /// Open an existing store for inspection only (support bundle, explain-route): no migration,
    /// no master key (nothing is decrypted), read-only, so a newer binary never upgrades it.
    pub fn open_read_only(path: &Path) -> Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| {
            StoreError::Backend(format!("cannot open {} read-only: {e}", path.display()))
        })?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            key: Arc::new(MasterKey::from_bytes([0; 32])),
        })
    }
}

/// Pragmas, the ownership and version checks, then the pending migrations (each in its own
/// transaction): what every read-write opening does (`open`, and the export of `osprey store
/// migrate`).
pub(super) fn prepare(conn: Connection, path: &Path) -> Result<Connection> {
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000;",
    )?;
    let app: i64 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if app != 0 && app != APPLICATION_ID {
        return Err(StoreError::Backend(format!(
            "{} is not an Osprey identity store (application_id {app:#x})",
            path.display()
        )));
    }
    if version as usize > MIGRATIONS.len() {
        return Err(StoreError::Backend(format!(
            "{} has schema version {version}, newer than this Osprey understands ({}); run the newer release",
            path.display(),
            MIGRATIONS.len()
        )));
    }
    let mut conn = conn;
    for (i, m) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(m)?;
        tx.execute_batch(&format!(
            "PRAGMA user_version = {}; PRAGMA application_id = {APPLICATION_ID};",
            i + 1
        ))?;
        tx.commit()?;
        tracing::info!(version = i + 1, "identity store schema migrated");
    }
    Ok(conn)
}
