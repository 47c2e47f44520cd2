//! SQL of the access records of shared-identity backends (issue 11): a bucket's ACL, policy
//! and PublicAccessBlock (`bucket_access`), objects' owners and ACLs (`object_access`).

use rusqlite::{params, Connection, OptionalExtension};

use super::super::*;

pub(super) fn bucket_access(c: &Connection, t: &str, b: &str) -> Result<BucketAccessRow> {
    let mut row = c
        .query_row(
            "SELECT acl, policy, public_access_block FROM bucket_access WHERE tenant_id = ? AND bucket = ?",
            [t, b],
            |r| {
                Ok(BucketAccessRow {
                    acl: r.get(0)?,
                    policy: r.get(1)?,
                    public_access_block: r.get(2)?,
                    object_records: false,
                })
            },
        )
        .optional()?
        .unwrap_or_default();
    row.object_records = c.query_row(
        "SELECT EXISTS (SELECT 1 FROM object_access WHERE tenant_id = ? AND bucket = ?)",
        [t, b],
        |r| r.get(0),
    )?;
    Ok(row)
}

pub(super) fn put_bucket_access(
    c: &Connection,
    t: &str,
    b: &str,
    row: &BucketAccessRow,
) -> Result<()> {
    c.execute(
        "INSERT INTO bucket_access (tenant_id, bucket, acl, policy, public_access_block) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (tenant_id, bucket) DO UPDATE SET acl = excluded.acl, policy = excluded.policy, public_access_block = excluded.public_access_block",
        params![t, b, row.acl, row.policy, row.public_access_block],
    )?;
    Ok(())
}

pub(super) fn object_access(
    c: &Connection,
    t: &str,
    b: &str,
    k: &str,
) -> Result<Option<ObjectAccessRow>> {
    Ok(c.query_row(
        "SELECT access FROM object_access WHERE tenant_id = ? AND bucket = ? AND key = ?",
        [t, b, k],
        |r| r.get::<_, String>(0),
    )
    .optional()?
    .map(|access| ObjectAccessRow {
        tenant_id: t.to_string(),
        bucket: b.to_string(),
        key: k.to_string(),
        access,
    }))
}

pub(super) fn put_object_access(c: &Connection, row: &ObjectAccessRow) -> Result<()> {
    c.execute(
        "INSERT INTO object_access (tenant_id, bucket, key, access) VALUES (?, ?, ?, ?)
         ON CONFLICT (tenant_id, bucket, key) DO UPDATE SET access = excluded.access",
        params![row.tenant_id, row.bucket, row.key, row.access],
    )?;
    Ok(())
}

pub(super) fn delete_object_access(c: &Connection, t: &str, b: &str, k: &str) -> Result<bool> {
    Ok(c.execute(
        "DELETE FROM object_access WHERE tenant_id = ? AND bucket = ? AND key = ?",
        [t, b, k],
    )? > 0)
}
