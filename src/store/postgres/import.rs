//! The PostgreSQL side of `osprey store migrate`: rows written in chunks through `unnest` (one
//! statement per chunk), all in one transaction under the migration lock, then every source
//! row looked up in the target.

use super::super::table_data::{TableData, TableReport, TableSpec};
use super::super::*;
use super::rows::Param;
use super::{pg_err, schema, PgStore};
use crate::config::PostgresConfig;

/// Rows per statement: a few hundred kilobytes of parameters.
const CHUNK: usize = 500;

pub(crate) async fn import(pg: &PostgresConfig, data: &[TableData]) -> Result<Vec<TableReport>> {
    // creates or migrates the schema first (a newer one is refused there)
    let store = PgStore::open(pg, MasterKey::from_bytes([0; 32])).await?;
    let mut c = store.client().await?;
    let tx = c.transaction().await.map_err(pg_err)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1)",
        &[&schema::MIGRATION_LOCK],
    )
    .await
    .map_err(pg_err)?;
    let mut reports = Vec::with_capacity(data.len());
    for t in data {
        let mut copied = 0;
        let mut verified = 0;
        for start in (0..t.rows).step_by(CHUNK) {
            let r = start..(start + CHUNK).min(t.rows);
            let params: Vec<Param> = t.columns.iter().map(|c| c.slice(r.clone())).collect();
            let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
                .iter()
                .map(|p| &**p as &(dyn tokio_postgres::types::ToSql + Sync))
                .collect();
            copied += tx
                .execute(&insert_sql(t.spec), &refs)
                .await
                .map_err(|e| table_err(t.spec, e))?;
            let n: i64 = tx
                .query_one(&verify_sql(t.spec), &refs)
                .await
                .map_err(|e| table_err(t.spec, e))?
                .get(0);
            verified += n as u64;
        }
        if t.spec.name == "pending_ops" {
            // ids were copied: the sequence continues after the largest
            tx.batch_execute(
                "SELECT setval(pg_get_serial_sequence('pending_ops', 'id'), max(id)) FROM pending_ops HAVING max(id) IS NOT NULL",
            )
            .await
            .map_err(|e| table_err(t.spec, e))?;
        }
        let target: i64 = tx
            .query_one(&format!("SELECT count(*) FROM {}", t.spec.name), &[])
            .await
            .map_err(|e| table_err(t.spec, e))?
            .get(0);
        reports.push(TableReport {
            table: t.spec.name,
            source: t.rows as u64,
            copied,
            target: target as u64,
            verified,
        });
    }
    let missing: Vec<String> = reports
        .iter()
        .filter(|t| t.verified != t.source)
        .map(|t| {
            format!(
                "{}: {} of {} rows not found identical in PostgreSQL",
                t.table,
                t.source - t.verified,
                t.source
            )
        })
        .collect();
    if !missing.is_empty() {
        // dropped without commit: this run leaves nothing behind
        return Err(StoreError::Conflict(format!(
            "the copy is incomplete, nothing was committed (the target already holds other rows under the same keys?): {}",
            missing.join("; ")
        )));
    }
    tx.commit().await.map_err(pg_err)?;
    Ok(reports)
}

fn table_err(spec: &TableSpec, e: tokio_postgres::Error) -> StoreError {
    StoreError::Backend(format!("copying {}: {}", spec.name, super::pg_msg(&e)))
}

/// `SELECT ... FROM unnest($1::text[], ...) WITH ORDINALITY AS s(cols..., n)`: the chunk as
/// rows `s`, in source order.
fn source_rows(spec: &TableSpec) -> String {
    let arrays: Vec<String> = spec
        .cols
        .iter()
        .enumerate()
        .map(|(i, (_, k))| format!("${}::{}", i + 1, k.pg_array()))
        .collect();
    let names: Vec<&str> = spec.cols.iter().map(|(n, _)| *n).collect();
    format!(
        "unnest({}) WITH ORDINALITY AS s({}, ord__)",
        arrays.join(", "),
        names.join(", ")
    )
}

fn insert_sql(spec: &TableSpec) -> String {
    let names: Vec<&str> = spec.cols.iter().map(|(n, _)| *n).collect();
    let cols = names.join(", ");
    let picked: Vec<String> = names.iter().map(|n| format!("s.{n}")).collect();
    format!(
        "INSERT INTO {} ({cols}) SELECT {} FROM {} ORDER BY s.ord__ {}",
        spec.name,
        picked.join(", "),
        source_rows(spec),
        spec.on_conflict
    )
}

fn verify_sql(spec: &TableSpec) -> String {
    let matches = spec.matches.map(str::to_string).unwrap_or_else(|| {
        spec.cols
            .iter()
            .map(|(n, _)| {
                if spec.key.contains(n) {
                    format!("t.{n} = s.{n}")
                } else {
                    format!("t.{n} IS NOT DISTINCT FROM s.{n}")
                }
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    });
    format!(
        "SELECT count(*) FROM {} WHERE EXISTS (SELECT 1 FROM {} t WHERE {matches})",
        source_rows(spec),
        spec.name
    )
}
