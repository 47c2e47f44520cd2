//! `osprey store migrate`: an SQLite store copied into PostgreSQL, row for row.
//!
//! Rows are copied as stored — ids, timestamps and the sealed secrets byte for byte (their
//! associated data is the row's id, which does not change, so the same master key opens them;
//! the copy itself needs no key). The copy is one PostgreSQL transaction under the migration
//! lock, with `ON CONFLICT DO NOTHING` (counters: keep the larger value), so a second run copies
//! nothing and a failed run leaves nothing behind. Afterwards every source row must be found,
//! identical, in PostgreSQL, table by table.

use std::path::Path;

pub use super::table_data::{Column, CopyReport, TableData, TableReport, TableSpec, TABLES};
use super::{MasterKey, Result, StoreError};
use crate::config::PostgresConfig;

/// Copy the SQLite store at `sqlite` into the PostgreSQL store `pg` (created or migrated to this
/// build's schema first). `key`, when given, must open every secret of the source.
pub async fn sqlite_to_postgres(
    sqlite: &Path,
    pg: &PostgresConfig,
    key: Option<&MasterKey>,
) -> Result<CopyReport> {
    let path = sqlite.to_path_buf();
    let data = tokio::task::spawn_blocking(move || super::sqlite::export::export(&path))
        .await
        .map_err(|e| StoreError::Backend(format!("export task failed: {e}")))??;
    let secrets_checked = match key {
        None => None,
        Some(k) => Some(check_secrets(&data, k)?),
    };
    let tables = super::postgres::import::import(pg, &data).await?;
    Ok(CopyReport {
        tables,
        secrets_checked,
    })
}

/// Open every sealed secret of the source with `key` (nothing is kept).
fn check_secrets(data: &[TableData], key: &MasterKey) -> Result<(usize, usize)> {
    let text = |t: &TableData, c: &str| match t.column(c) {
        Some(Column::Text(v)) => Ok(v.clone()),
        _ => Err(StoreError::Backend(format!(
            "{}.{c}: not read",
            t.spec.name
        ))),
    };
    let bytes = |t: &TableData, c: &str| match t.column(c) {
        Some(Column::Bytes(v)) => Ok(v.clone()),
        _ => Err(StoreError::Backend(format!(
            "{}.{c}: not read",
            t.spec.name
        ))),
    };
    let (mut creds, mut idents) = (0, 0);
    for t in data {
        match t.spec.name {
            "credentials" => {
                for (ak, sealed) in text(t, "access_key")?.iter().zip(bytes(t, "secret")?) {
                    super::sealing::open_credential_secret(key, ak, &sealed)?;
                    creds += 1;
                }
            }
            "backend_identities" => {
                let (b, tn, p) = (
                    text(t, "backend")?,
                    text(t, "tenant_id")?,
                    text(t, "principal")?,
                );
                for (i, sealed) in bytes(t, "secret")?.iter().enumerate() {
                    super::sealing::open_identity_secret(key, &b[i], &tn[i], &p[i], sealed)?;
                    idents += 1;
                }
            }
            _ => {}
        }
    }
    Ok((creds, idents))
}
