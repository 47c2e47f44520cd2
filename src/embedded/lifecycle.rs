//! Lifecycle rules applied (issue 11; AWS S3 user guide, "Managing the lifecycle of objects"):
//! a sweep, run by [`super::LocalServer`] every [`SWEEP_INTERVAL`], expires current versions
//! (`Expiration` Days/Date, prefix/tag/size filters), noncurrent versions
//! (`NoncurrentVersionExpiration`), lone delete markers (`ExpiredObjectDeleteMarker`) and
//! aborts stale multipart uploads (`AbortIncompleteMultipartUpload`).
//!
//! Each action goes through the same store operations as the equivalent request (a delete
//! marker in a versioned bucket, a permanent delete of a noncurrent version), so the sweep
//! keeps the store's crash safety. Versions under object lock are never removed.

use std::time::{Duration, SystemTime};

use s3s::dto::{BucketLifecycleConfiguration, ExpirationStatus, LifecycleRule, Timestamp};
use s3s::S3Result;

use super::store::{from_xml, ObjectMeta, Store, Versioning};

/// How often the sweep runs. Default 1 hour: S3 applies rules about once a day, so an hour
/// makes expiry at most an hour late while keeping the cost (a read of every sidecar of every
/// bucket with rules) negligible.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(3600);

/// The length of a lifecycle "day" (rules count in days). Default 86 400 s; tests shorten it
/// (`LocalOptions::lifecycle_day`) to see expiry happen.
pub const DAY: Duration = Duration::from_secs(86_400);

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SweepStats {
    pub(crate) expired: usize,
    pub(crate) noncurrent_removed: usize,
    pub(crate) markers_removed: usize,
    pub(crate) uploads_aborted: usize,
}

fn days(n: i32, day: Duration) -> Duration {
    day.saturating_mul(u32::try_from(n.max(0)).unwrap_or(0))
}

fn ms_time(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
}

/// The rule's prefix, whichever of its three places it is given in.
fn rule_prefix(r: &LifecycleRule) -> &str {
    let f = r.filter.as_ref();
    r.prefix
        .as_deref()
        .or_else(|| f.and_then(|f| f.prefix.as_deref()))
        .or_else(|| {
            f.and_then(|f| f.and.as_ref())
                .and_then(|a| a.prefix.as_deref())
        })
        .unwrap_or("")
}

/// Whether the rule's filter selects this object version (prefix, every tag, size bounds).
fn selects(r: &LifecycleRule, m: &ObjectMeta) -> bool {
    if !m.key.starts_with(rule_prefix(r)) {
        return false;
    }
    let Some(f) = &r.filter else { return true };
    let mut tags: Vec<&s3s::dto::Tag> = f.tag.iter().collect();
    let (mut gt, mut lt) = (f.object_size_greater_than, f.object_size_less_than);
    if let Some(and) = &f.and {
        tags.extend(and.tags.iter().flatten());
        gt = gt.or(and.object_size_greater_than);
        lt = lt.or(and.object_size_less_than);
    }
    let size = i64::try_from(m.size).unwrap_or(i64::MAX);
    tags.iter().all(|t| {
        m.tags
            .iter()
            .any(|(k, v)| Some(k) == t.key.as_ref() && Some(v) == t.value.as_ref())
    }) && gt.is_none_or(|g| size > g)
        && lt.is_none_or(|l| size < l)
}

fn locked(m: &ObjectMeta, now: SystemTime) -> bool {
    m.lock.legal_hold
        || m.lock
            .retain_until
            .as_ref()
            .is_some_and(|u| *u > Timestamp::from(now))
}

/// Applies every bucket's lifecycle rules as of `now`, with days of length `day`.
pub(crate) fn sweep(store: &Store, day: Duration, now: SystemTime) -> S3Result<SweepStats> {
    let mut stats = SweepStats::default();
    for bucket in store.bucket_names()? {
        let cfg = store.read_config(&bucket)?;
        let Some(xml) = cfg.lifecycle.as_deref() else {
            continue;
        };
        let conf: BucketLifecycleConfiguration = from_xml(xml)?;
        let rules: Vec<&LifecycleRule> = conf
            .rules
            .iter()
            .filter(|r| r.status.as_str() == ExpirationStatus::ENABLED)
            .collect();
        if rules.is_empty() {
            continue;
        }
        sweep_bucket(
            store,
            &bucket,
            cfg.versioning(),
            &rules,
            day,
            now,
            &mut stats,
        )?;
    }
    Ok(stats)
}

fn sweep_bucket(
    store: &Store,
    bucket: &str,
    mode: Versioning,
    rules: &[&LifecycleRule],
    day: Duration,
    now: SystemTime,
    stats: &mut SweepStats,
) -> S3Result<()> {
    for key in store.list_version_keys(bucket)? {
        let versions = store.versions_of(bucket, &key)?;
        let Some((latest, _)) = versions.first() else {
            continue;
        };
        // the current version
        if !latest.delete_marker {
            let due = rules.iter().any(|r| {
                let Some(e) = r.expiration.as_ref().filter(|_| selects(r, latest)) else {
                    return false;
                };
                let by_days = e
                    .days
                    .is_some_and(|d| ms_time(latest.last_modified_ms) + days(d, day) <= now);
                let by_date = e.date.as_ref().is_some_and(|d| *d <= Timestamp::from(now));
                by_days || by_date
            });
            if due && (mode != Versioning::Unversioned || !locked(latest, now)) {
                store.delete_object(bucket, &key, mode)?;
                stats.expired += 1;
                continue;
            }
        }
        // noncurrent versions: noncurrent since their successor was written
        let mut kept_noncurrent = 0;
        let mut removed_any = false;
        for i in 1..versions.len() {
            let (m, _) = &versions[i];
            if m.delete_marker {
                continue;
            }
            kept_noncurrent += 1;
            let since = ms_time(versions[i - 1].0.last_modified_ms);
            let due = rules.iter().any(|r| {
                let Some(n) = r.noncurrent_version_expiration.as_ref() else {
                    return false;
                };
                let keep = usize::try_from(n.newer_noncurrent_versions.unwrap_or(0)).unwrap_or(0);
                selects(r, m)
                    && kept_noncurrent > keep
                    && n.noncurrent_days
                        .is_some_and(|d| since + days(d, day) <= now)
            });
            if due && !locked(m, now) {
                store.delete_version(bucket, &key, m.vid(), |_| Ok(()))?;
                stats.noncurrent_removed += 1;
                removed_any = true;
            }
        }
        // a delete marker left alone (all older versions gone)
        let versions = if removed_any {
            store.versions_of(bucket, &key)?
        } else {
            versions
        };
        if let [(marker, true)] = versions.as_slice() {
            let expire = marker.delete_marker
                && rules.iter().any(|r| {
                    marker.key.starts_with(rule_prefix(r))
                        && r.expiration
                            .as_ref()
                            .is_some_and(|e| e.expired_object_delete_marker == Some(true))
                });
            if expire {
                store.delete_version(bucket, &key, marker.vid(), |_| Ok(()))?;
                stats.markers_removed += 1;
            }
        }
    }
    for (id, upload) in store.list_uploads(bucket)? {
        let due = rules.iter().any(|r| {
            upload.key.starts_with(rule_prefix(r))
                && r.abort_incomplete_multipart_upload
                    .as_ref()
                    .and_then(|a| a.days_after_initiation)
                    .is_some_and(|d| ms_time(upload.initiated_ms) + days(d, day) <= now)
        });
        if due {
            store.remove_upload(bucket, &id)?;
            stats.uploads_aborted += 1;
        }
    }
    Ok(())
}
