//! Object Lock (issue 11; AWS S3 user guide, "Locking objects with Object Lock"; API reference,
//! PutObjectLockConfiguration, PutObjectRetention, PutObjectLegalHold).

use std::time::{Duration, SystemTime};

use super::*;

/// Longest default retention in days (or 365 × years). Default 36 500 (100 years, the S3
/// limit); stops retain-until dates beyond what the timestamp format can carry.
const MAX_RETENTION_DAYS: i64 = 36_500;

const GOVERNANCE: &str = ObjectLockRetentionMode::GOVERNANCE;
const COMPLIANCE: &str = ObjectLockRetentionMode::COMPLIANCE;

fn no_lock_config() -> S3Error {
    s3_error!(
        InvalidRequest,
        "Bucket is missing Object Lock Configuration"
    )
}

/// `400 InvalidRetentionPeriod`, which s3s has no code for (AWS S3 API reference, Error codes).
fn invalid_retention_period() -> S3Error {
    let mut e = S3Error::with_message(
        s3s::S3ErrorCode::Custom("InvalidRetentionPeriod".into()),
        "Default retention period must be a positive integer value of at most 100 years",
    );
    e.set_status_code(hyper::StatusCode::BAD_REQUEST);
    e
}

fn now() -> Timestamp {
    Timestamp::from(SystemTime::now())
}

fn check_mode(mode: &str) -> S3Result<String> {
    match mode {
        GOVERNANCE | COMPLIANCE => Ok(mode.to_owned()),
        _ => Err(s3_error!(
            InvalidArgument,
            "Unknown wormMode directive: {mode}"
        )),
    }
}

fn legal_hold_on(status: &str) -> S3Result<bool> {
    match status {
        ObjectLockLegalHoldStatus::ON => Ok(true),
        ObjectLockLegalHoldStatus::OFF => Ok(false),
        _ => Err(s3_error!(
            MalformedXML,
            "Legal hold status must be ON or OFF"
        )),
    }
}

/// The object lock configuration that `CreateBucket` with `x-amz-bucket-object-lock-enabled`
/// stores (and that implies versioning).
pub(super) fn enabled_config() -> S3Result<String> {
    to_xml(&ObjectLockConfiguration {
        object_lock_enabled: Some(ObjectLockEnabled::from_static(ObjectLockEnabled::ENABLED)),
        rule: None,
    })
}

/// The lock a new object gets: from the `x-amz-object-lock-*` headers, else the bucket's
/// default retention.
pub(super) fn lock_from_headers(
    cfg: &BucketConfig,
    mode: Option<&ObjectLockMode>,
    until: Option<&Timestamp>,
    hold: Option<&ObjectLockLegalHoldStatus>,
) -> S3Result<LockState> {
    let given = mode.is_some() || until.is_some() || hold.is_some();
    let Some(xml) = cfg.object_lock.as_deref() else {
        if given {
            return Err(no_lock_config());
        }
        return Ok(LockState::default());
    };
    let mut lock = LockState::default();
    if let Some(h) = hold {
        lock.legal_hold = legal_hold_on(h.as_str())
            .map_err(|_| s3_error!(InvalidArgument, "Legal Hold must be either of ON or OFF"))?;
    }
    match (mode, until) {
        (Some(m), Some(u)) => {
            lock.retention_mode = Some(check_mode(m.as_str())?);
            if *u <= now() {
                return Err(s3_error!(
                    InvalidArgument,
                    "The retain until date must be in the future!"
                ));
            }
            lock.retain_until = Some(u.clone());
        }
        (None, None) => {
            let conf: ObjectLockConfiguration = from_xml(xml)?;
            if let Some(d) = conf.rule.and_then(|r| r.default_retention) {
                let days =
                    d.days.map(i64::from).unwrap_or(0) + d.years.map(i64::from).unwrap_or(0) * 365;
                let secs = u64::try_from(days.clamp(0, MAX_RETENTION_DAYS)).unwrap_or(0) * 86_400;
                lock.retention_mode = d.mode.map(|m| m.as_str().to_owned());
                lock.retain_until = Some(Timestamp::from(
                    SystemTime::now() + Duration::from_secs(secs),
                ));
            }
        }
        _ => {
            return Err(s3_error!(
            InvalidArgument,
            "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied"
        ))
        }
    }
    Ok(lock)
}

fn retention_active(l: &LockState) -> bool {
    l.retain_until.as_ref().is_some_and(|u| *u > now())
}

/// Refuses a permanent delete (DeleteObject with a version id) of a locked version as S3 does:
/// `AccessDenied` under a legal hold or COMPLIANCE retention, and under GOVERNANCE retention
/// unless `x-amz-bypass-governance-retention: true`.
pub(super) fn check_delete(m: &ObjectMeta, bypass: bool) -> S3Result<()> {
    let l = &m.lock;
    let locked = l.legal_hold
        || (retention_active(l) && (l.retention_mode.as_deref() == Some(COMPLIANCE) || !bypass));
    if locked {
        return Err(s3_error!(
            AccessDenied,
            "Access Denied because object protected by object lock."
        ));
    }
    Ok(())
}

/// PutObjectRetention on a version that already has one: COMPLIANCE can only be extended,
/// GOVERNANCE shortened, removed or changed in mode only with the bypass header.
fn check_retention_change(old: &LockState, new: &LockState, bypass: bool) -> S3Result<()> {
    if !retention_active(old) {
        return Ok(());
    }
    let shorter = match (&old.retain_until, &new.retain_until) {
        (Some(o), Some(n)) => n < o,
        _ => true,
    };
    let denied = match old.retention_mode.as_deref() {
        Some(COMPLIANCE) => shorter || new.retention_mode.as_deref() != Some(COMPLIANCE),
        // a change of mode (to COMPLIANCE) also needs the bypass (s3-tests
        // test_object_lock_changing_mode_from_governance_without_bypass)
        _ => (shorter || new.retention_mode.as_deref() != Some(GOVERNANCE)) && !bypass,
    };
    if denied {
        return Err(s3_error!(
            AccessDenied,
            "Access Denied because object protected by object lock."
        ));
    }
    Ok(())
}

impl LocalS3 {
    pub(super) async fn put_object_lock_configuration(
        &self,
        req: S3Request<PutObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<PutObjectLockConfigurationOutput>> {
        let input = req.input;
        let conf = input
            .object_lock_configuration
            .ok_or_else(|| s3_error!(MalformedXML))?;
        if conf.object_lock_enabled.as_ref().map(|e| e.as_str()) != Some(ObjectLockEnabled::ENABLED)
        {
            return Err(s3_error!(MalformedXML, "ObjectLockEnabled must be Enabled"));
        }
        if let Some(d) = conf
            .rule
            .as_ref()
            .and_then(|r| r.default_retention.as_ref())
        {
            let mode = d.mode.as_ref().ok_or_else(|| s3_error!(MalformedXML))?;
            if !matches!(mode.as_str(), GOVERNANCE | COMPLIANCE) {
                return Err(s3_error!(MalformedXML, "unknown retention mode"));
            }
            match (d.days, d.years) {
                (Some(_), Some(_)) | (None, None) => {
                    return Err(s3_error!(
                        MalformedXML,
                        "exactly one of Days and Years must be given"
                    ))
                }
                (Some(n), None) | (None, Some(n)) if n <= 0 => {
                    return Err(invalid_retention_period())
                }
                (Some(n), None) if i64::from(n) > MAX_RETENTION_DAYS => {
                    return Err(invalid_retention_period())
                }
                (None, Some(n)) if i64::from(n) * 365 > MAX_RETENTION_DAYS => {
                    return Err(invalid_retention_period())
                }
                _ => {}
            }
        }
        let xml = to_xml(&conf)?;
        self.set_config(input.bucket, move |c| {
            if c.object_lock.is_none() && c.versioning() != Versioning::Enabled {
                return Err(s3_error!(
                    InvalidBucketState,
                    "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration"
                ));
            }
            c.object_lock = Some(xml);
            Ok(())
        })
        .await?;
        Ok(S3Response::new(PutObjectLockConfigurationOutput::default()))
    }

    pub(super) async fn get_object_lock_configuration(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
        let cfg = self.config(req.input.bucket).await?;
        let xml = cfg.object_lock.ok_or_else(|| {
            s3_error!(
                ObjectLockConfigurationNotFoundError,
                "Object Lock configuration does not exist for this bucket"
            )
        })?;
        Ok(S3Response::new(GetObjectLockConfigurationOutput {
            object_lock_configuration: Some(from_xml(&xml)?),
        }))
    }

    pub(super) async fn put_object_retention(
        &self,
        req: S3Request<PutObjectRetentionInput>,
    ) -> S3Result<S3Response<PutObjectRetentionOutput>> {
        let input = req.input;
        let bypass = input.bypass_governance_retention.unwrap_or(false);
        let r = input.retention.ok_or_else(|| s3_error!(MalformedXML))?;
        let new =
            LockState {
                retention_mode: r.mode.map(|m| check_mode(m.as_str())).transpose().map_err(
                    |_| s3_error!(MalformedXML, "Mode must be GOVERNANCE or COMPLIANCE"),
                )?,
                retain_until: r.retain_until_date,
                legal_hold: false,
            };
        if new.retention_mode.is_some() != new.retain_until.is_some() {
            return Err(s3_error!(
                MalformedXML,
                "Mode and RetainUntilDate must be given together"
            ));
        }
        if new.retain_until.as_ref().is_some_and(|u| *u <= now()) {
            return Err(s3_error!(
                InvalidArgument,
                "The retain until date must be in the future!"
            ));
        }
        let cfg = self.config(input.bucket.clone()).await?;
        if cfg.object_lock.is_none() {
            return Err(no_lock_config());
        }
        self.update(input.bucket, input.key, input.version_id, move |m| {
            check_retention_change(&m.lock, &new, bypass)?;
            m.lock.retention_mode = new.retention_mode;
            m.lock.retain_until = new.retain_until;
            Ok(())
        })
        .await?;
        Ok(S3Response::new(PutObjectRetentionOutput::default()))
    }

    pub(super) async fn get_object_retention(
        &self,
        req: S3Request<GetObjectRetentionInput>,
    ) -> S3Result<S3Response<GetObjectRetentionOutput>> {
        let input = req.input;
        let (cfg, meta) = self
            .readable_version(input.bucket, input.key, input.version_id)
            .await?;
        if cfg.object_lock.is_none() {
            return Err(no_lock_config());
        }
        let (Some(mode), Some(until)) = (meta.lock.retention_mode, meta.lock.retain_until) else {
            return Err(s3_error!(
                NoSuchObjectLockConfiguration,
                "The specified object does not have a ObjectLock configuration"
            ));
        };
        Ok(S3Response::new(GetObjectRetentionOutput {
            retention: Some(ObjectLockRetention {
                mode: Some(ObjectLockRetentionMode::from(mode)),
                retain_until_date: Some(until),
            }),
        }))
    }

    pub(super) async fn put_object_legal_hold(
        &self,
        req: S3Request<PutObjectLegalHoldInput>,
    ) -> S3Result<S3Response<PutObjectLegalHoldOutput>> {
        let input = req.input;
        let status = input
            .legal_hold
            .and_then(|h| h.status)
            .ok_or_else(|| s3_error!(MalformedXML))?;
        let on = legal_hold_on(status.as_str())?;
        let cfg = self.config(input.bucket.clone()).await?;
        if cfg.object_lock.is_none() {
            return Err(no_lock_config());
        }
        self.update(input.bucket, input.key, input.version_id, move |m| {
            m.lock.legal_hold = on;
            Ok(())
        })
        .await?;
        Ok(S3Response::new(PutObjectLegalHoldOutput::default()))
    }

    pub(super) async fn get_object_legal_hold(
        &self,
        req: S3Request<GetObjectLegalHoldInput>,
    ) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
        let input = req.input;
        let (cfg, meta) = self
            .readable_version(input.bucket, input.key, input.version_id)
            .await?;
        if cfg.object_lock.is_none() {
            return Err(no_lock_config());
        }
        let status = if meta.lock.legal_hold {
            ObjectLockLegalHoldStatus::ON
        } else {
            ObjectLockLegalHoldStatus::OFF
        };
        Ok(S3Response::new(GetObjectLegalHoldOutput {
            legal_hold: Some(ObjectLockLegalHold {
                status: Some(ObjectLockLegalHoldStatus::from_static(status)),
            }),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locked(mode: &str, secs_ahead: i64, hold: bool) -> ObjectMeta {
        let mut m = ObjectMeta::new(
            "k".into(),
            "b".into(),
            0,
            "e".into(),
            ContentHeaders::default(),
        );
        let t = if secs_ahead >= 0 {
            SystemTime::now() + Duration::from_secs(secs_ahead.unsigned_abs())
        } else {
            SystemTime::now() - Duration::from_secs(secs_ahead.unsigned_abs())
        };
        m.lock = LockState {
            retention_mode: Some(mode.into()),
            retain_until: Some(Timestamp::from(t)),
            legal_hold: hold,
        };
        m
    }

    #[test]
    fn delete_refusals() {
        assert!(check_delete(&locked(COMPLIANCE, 3600, false), true).is_err());
        assert!(check_delete(&locked(GOVERNANCE, 3600, false), false).is_err());
        assert!(check_delete(&locked(GOVERNANCE, 3600, false), true).is_ok());
        assert!(check_delete(&locked(COMPLIANCE, -3600, false), false).is_ok());
        assert!(check_delete(&locked(GOVERNANCE, -3600, true), true).is_err());
    }

    #[test]
    fn retention_changes() {
        let old = locked(COMPLIANCE, 3600, false).lock;
        let longer = locked(COMPLIANCE, 7200, false).lock;
        let shorter = locked(COMPLIANCE, 60, false).lock;
        let gov = locked(GOVERNANCE, 7200, false).lock;
        assert!(check_retention_change(&old, &longer, false).is_ok());
        assert!(check_retention_change(&old, &shorter, true).is_err());
        assert!(check_retention_change(&old, &gov, true).is_err());
        let old = locked(GOVERNANCE, 3600, false).lock;
        let shorter = locked(GOVERNANCE, 60, false).lock;
        assert!(check_retention_change(&old, &shorter, false).is_err());
        assert!(check_retention_change(&old, &shorter, true).is_ok());
    }
}
