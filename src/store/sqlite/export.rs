//! The SQLite side of `osprey store migrate`: every table of [`table_data::TABLES`](super::super::table_data::TABLES) read as stored,
//! in one read transaction (a consistent snapshot), after the same checks and migrations as
//! `open` — never creating a store that is not there.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::super::table_data::{Column, TableData, TABLES};
use super::super::*;
use super::time::parse_ts;

pub fn export(path: &Path) -> Result<Vec<TableData>> {
    if !path.is_file() {
        return Err(StoreError::NotFound(format!(
            "no SQLite store at {} (is [store] the one `osprey serve` uses?)",
            path.display()
        )));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::Backend(format!("cannot open {}: {e}", path.display())))?;
    let mut conn = super::schema::prepare(conn, path)?;
    let tx = conn.transaction()?;
    let mut out = Vec::with_capacity(TABLES.len());
    for spec in TABLES {
        let names: Vec<&str> = spec.cols.iter().map(|(n, _)| *n).collect();
        let mut st = tx.prepare(&format!(
            "SELECT {} FROM {} ORDER BY {}",
            names.join(", "),
            spec.name,
            spec.order
        ))?;
        let mut columns: Vec<Column> = spec.cols.iter().map(|(_, k)| Column::new(*k)).collect();
        let mut rows = st.query([])?;
        let mut n = 0;
        while let Some(r) = rows.next()? {
            for (i, col) in columns.iter_mut().enumerate() {
                match col {
                    Column::Text(v) => v.push(r.get(i)?),
                    Column::OptText(v) => v.push(r.get(i)?),
                    Column::Bool(v) => v.push(r.get(i)?),
                    Column::Int(v) => v.push(r.get(i)?),
                    Column::Time(v) => v.push(parse_ts(&r.get::<_, String>(i)?)),
                    Column::Bytes(v) => v.push(r.get(i)?),
                }
            }
            n += 1;
        }
        out.push(TableData {
            spec,
            rows: n,
            columns,
        });
    }
    Ok(out)
}
