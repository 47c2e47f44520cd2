//! What `osprey store migrate` moves (src/store/copy.rs): every table of the identity store as
//! stored, the shape both sides share — `sqlite/export.rs` reads it, `postgres/import.rs` writes it.

use chrono::{DateTime, Utc};

/// A column's type (its SQLite reading and its PostgreSQL array type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    OptText,
    Bool,
    Int,
    Time,
    Bytes,
}

impl Kind {
    pub(crate) fn pg_array(self) -> &'static str {
        match self {
            Kind::Text | Kind::OptText => "text[]",
            Kind::Bool => "bool[]",
            Kind::Int => "int8[]",
            Kind::Time => "timestamptz[]",
            Kind::Bytes => "bytea[]",
        }
    }
}

/// One table of the store as the copy sees it.
#[derive(Debug)]
pub struct TableSpec {
    pub name: &'static str,
    /// The primary key: looked up by equality (an index) when verifying.
    pub key: &'static [&'static str],
    pub cols: &'static [(&'static str, Kind)],
    /// SQLite `ORDER BY`: creation order, so PostgreSQL's `seq` orders rows as SQLite's rowid.
    pub order: &'static str,
    /// PostgreSQL's conflict clause.
    pub on_conflict: &'static str,
    /// How a target row `t` matches a source row `s` (`None`: every column equal).
    pub matches: Option<&'static str>,
}

use Kind::*;

/// Every table, parents before children (foreign keys).
pub const TABLES: &[TableSpec] = &[
    TableSpec {
        name: "tenants",
        key: &["tenant_id"],
        cols: &[
            ("tenant_id", Text),
            ("name", Text),
            ("active", Bool),
            ("created_at", Time),
        ],
        order: "created_at, rowid",
        on_conflict: "ON CONFLICT DO NOTHING",
        matches: None,
    },
    TableSpec {
        name: "tenant_cd_ids",
        key: &["cd_tenant_id"],
        cols: &[
            ("cd_tenant_id", Text),
            ("tenant_id", Text),
            ("position", Int),
        ],
        order: "rowid",
        on_conflict: "ON CONFLICT DO NOTHING",
        matches: None,
    },
    TableSpec {
        name: "users",
        key: &["tenant_id", "user_id"],
        cols: &[
            ("tenant_id", Text),
            ("user_id", Text),
            ("canonical_user_id", Text),
            ("username", Text),
            ("email", OptText),
            ("role", Text),
            ("cd_user_id", Text),
            ("cd_tenant_id", Text),
            ("active", Bool),
            ("created_at", Time),
        ],
        order: "created_at, rowid",
        on_conflict: "ON CONFLICT DO NOTHING",
        matches: None,
    },
    TableSpec {
        name: "credentials",
        key: &["access_key"],
        cols: &[
            ("access_key", Text),
            ("tenant_id", Text),
            ("user_id", Text),
            ("secret", Bytes),
            ("active", Bool),
            ("created_at", Time),
        ],
        order: "created_at, rowid",
        on_conflict: "ON CONFLICT DO NOTHING",
        matches: None,
    },
    TableSpec {
        name: "placements",
        key: &["tenant_id", "bucket"],
        cols: &[
            ("tenant_id", Text),
            ("bucket", Text),
            ("backend", Text),
            ("backend_bucket", Text),
            ("owner_user_id", Text),
            ("created_at", Time),
        ],
        order: "rowid",
        on_conflict: "ON CONFLICT DO NOTHING",
        matches: None,
    },
    TableSpec {
        name: "backend_identities",
        key: &["backend", "tenant_id", "principal"],
        cols: &[
            ("backend", Text),
            ("tenant_id", Text),
            ("principal", Text),
            ("backend_user", Text),
            ("access_key", Text),
            ("secret", Bytes),
        ],
        order: "rowid",
        on_conflict: "ON CONFLICT DO NOTHING",
        matches: None,
    },
    TableSpec {
        name: "bucket_access",
        key: &["tenant_id", "bucket"],
        cols: &[
            ("tenant_id", Text),
            ("bucket", Text),
            ("acl", OptText),
            ("policy", OptText),
            ("public_access_block", OptText),
        ],
        order: "rowid",
        on_conflict: "ON CONFLICT DO NOTHING",
        matches: None,
    },
    TableSpec {
        name: "object_access",
        key: &["tenant_id", "bucket", "key"],
        cols: &[
            ("tenant_id", Text),
            ("bucket", Text),
            ("key", Text),
            ("access", Text),
        ],
        order: "rowid",
        on_conflict: "ON CONFLICT DO NOTHING",
        matches: None,
    },
    TableSpec {
        name: "pending_ops",
        key: &["id"],
        cols: &[
            ("id", Int),
            ("backend", Text),
            ("op", Text),
            ("attempts", Int),
            ("last_error", OptText),
            ("created_at", Time),
        ],
        order: "id",
        on_conflict: "ON CONFLICT DO NOTHING",
        // attempts and last_error move on as the reconciler retries; the intent is the same
        matches: Some("t.id = s.id AND t.backend = s.backend AND t.op = s.op"),
    },
    TableSpec {
        name: "stable_values",
        key: &["name"],
        cols: &[("name", Text), ("value", Text)],
        order: "rowid",
        on_conflict: "ON CONFLICT DO NOTHING",
        matches: None,
    },
    TableSpec {
        name: "counters",
        key: &["name"],
        cols: &[("name", Text), ("value", Int)],
        order: "rowid",
        // counters only grow (the OSIS token generation): the larger value wins
        on_conflict: "ON CONFLICT (name) DO UPDATE SET value = excluded.value WHERE counters.value < excluded.value",
        matches: Some("t.name = s.name AND t.value >= s.value"),
    },
];

/// One column of values, all rows of a table.
#[derive(Debug, Clone)]
pub enum Column {
    Text(Vec<String>),
    OptText(Vec<Option<String>>),
    Bool(Vec<bool>),
    Int(Vec<i64>),
    Time(Vec<DateTime<Utc>>),
    Bytes(Vec<Vec<u8>>),
}

impl Column {
    pub fn new(kind: Kind) -> Column {
        match kind {
            Kind::Text => Column::Text(Vec::new()),
            Kind::OptText => Column::OptText(Vec::new()),
            Kind::Bool => Column::Bool(Vec::new()),
            Kind::Int => Column::Int(Vec::new()),
            Kind::Time => Column::Time(Vec::new()),
            Kind::Bytes => Column::Bytes(Vec::new()),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Column::Text(v) => v.len(),
            Column::OptText(v) => v.len(),
            Column::Bool(v) => v.len(),
            Column::Int(v) => v.len(),
            Column::Time(v) => v.len(),
            Column::Bytes(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rows `r` as one PostgreSQL array parameter.
    pub(crate) fn slice(
        &self,
        r: std::ops::Range<usize>,
    ) -> Box<dyn tokio_postgres::types::ToSql + Sync + Send> {
        match self {
            Column::Text(v) => Box::new(v[r].to_vec()),
            Column::OptText(v) => Box::new(v[r].to_vec()),
            Column::Bool(v) => Box::new(v[r].to_vec()),
            Column::Int(v) => Box::new(v[r].to_vec()),
            Column::Time(v) => Box::new(v[r].to_vec()),
            Column::Bytes(v) => Box::new(v[r].to_vec()),
        }
    }
}

/// A table's rows read from the source.
#[derive(Debug)]
pub struct TableData {
    pub spec: &'static TableSpec,
    pub rows: usize,
    pub columns: Vec<Column>,
}

impl TableData {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.spec
            .cols
            .iter()
            .position(|(c, _)| *c == name)
            .map(|i| &self.columns[i])
    }
}

/// What one table's copy did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    pub table: &'static str,
    /// Rows in the SQLite store.
    pub source: u64,
    /// Rows this run wrote (0 on a second run).
    pub copied: u64,
    /// Rows in PostgreSQL afterwards.
    pub target: u64,
    /// Source rows found identical in PostgreSQL (must equal `source`).
    pub verified: u64,
}

#[derive(Debug, Clone)]
pub struct CopyReport {
    pub tables: Vec<TableReport>,
    /// `(credentials, backend identities)` whose secrets opened with the master key; `None`
    /// when no master key was available to check with.
    pub secrets_checked: Option<(usize, usize)>,
}
