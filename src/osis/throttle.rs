//! Back-off on repeated failed admin logins (issue 9, item 6).
//!
//! The OSIS admin pair guards every tenant's identities; without a limit a client could try
//! passwords as fast as the listener accepts them. Failures are counted per client IP (Basic with
//! a wrong pair, `/api/v1/auth/login` with a wrong pair, invalid bearer or refresh tokens). After
//! [`FREE_FAILURES`] failures within [`FAILURE_WINDOW`], the address is refused with 429 and
//! `Retry-After` — even with the right pair — for [`FIRST_BACKOFF`], doubling with each further
//! failure up to [`MAX_BACKOFF`]. A success clears the address's record.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use dashmap::DashMap;

/// Failures within [`FAILURE_WINDOW`] that start the back-off: 5 (OSE retries a refused
/// call a few times; a typo'd password in `ose osis admin set` must not lock the provider out).
pub const FREE_FAILURES: u32 = 5;
/// Window in which failures are counted: 60 s; a quieter client starts afresh.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// First back-off, at the [`FREE_FAILURES`]th failure: 1 s, doubled per further failure.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Longest back-off: 5 minutes — slows guessing to a crawl, lets a provider who fixed the
/// password in OSE back in soon.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Most client addresses tracked: 10 000 (default). Stops a spray from many addresses from
/// growing the table without bound: beyond it, records out of their window are purged first.
pub const MAX_TRACKED: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    first: Instant,
    blocked_until: Option<Instant>,
}

#[derive(Default)]
pub struct LoginThrottle {
    records: DashMap<IpAddr, Record>,
}

impl LoginThrottle {
    /// `Err(wait)`: this address is backing off for `wait` more.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        match self.records.get(&ip).and_then(|r| r.blocked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Record a failed login; returns the back-off now in force, if any.
    pub fn failed(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        if self.records.len() >= MAX_TRACKED && !self.records.contains_key(&ip) {
            self.records.retain(|_, r| {
                now.duration_since(r.first) < FAILURE_WINDOW
                    || r.blocked_until.is_some_and(|u| u > now)
            });
            if self.records.len() >= MAX_TRACKED {
                // still full of live records: the new address is held to the same rule anyway
                // on its next failure; nothing is stored for it now
                return None;
            }
        }
        let mut r = self.records.entry(ip).or_insert(Record {
            failures: 0,
            first: now,
            blocked_until: None,
        });
        if now.duration_since(r.first) >= FAILURE_WINDOW && r.blocked_until.is_none_or(|u| u <= now)
        {
            *r = Record {
                failures: 0,
                first: now,
                blocked_until: None,
            };
        }
        r.failures += 1;
        if r.failures >= FREE_FAILURES {
            let doublings = (r.failures - FREE_FAILURES).min(16);
            let wait = FIRST_BACKOFF
                .saturating_mul(1u32 << doublings)
                .min(MAX_BACKOFF);
            r.blocked_until = Some(now + wait);
            // the window restarts with the block, so a blocked client stays tracked
            r.first = now;
            return Some(wait);
        }
        None
    }

    /// A successful login clears the address's record.
    pub fn succeeded(&self, ip: IpAddr) {
        self.records.remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_after_the_free_failures_and_doubles() {
        let t = LoginThrottle::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t0 = Instant::now();
        for _ in 1..FREE_FAILURES {
            assert_eq!(t.failed(ip, t0), None);
            assert!(t.check(ip, t0).is_ok());
        }
        assert_eq!(t.failed(ip, t0), Some(FIRST_BACKOFF));
        assert!(t.check(ip, t0).is_err());
        assert!(t.check(ip, t0 + FIRST_BACKOFF).is_ok());
        assert_eq!(t.failed(ip, t0 + FIRST_BACKOFF), Some(FIRST_BACKOFF * 2));
        // another address is unaffected
        assert!(t.check("192.0.2.2".parse().unwrap(), t0).is_ok());
        t.succeeded(ip);
        assert!(t.check(ip, t0 + FIRST_BACKOFF).is_ok());
    }

    #[test]
    fn failures_outside_the_window_start_afresh_and_backoff_is_capped() {
        let t = LoginThrottle::default();
        let ip: IpAddr = "192.0.2.3".parse().unwrap();
        let t0 = Instant::now();
        for _ in 1..FREE_FAILURES {
            t.failed(ip, t0);
        }
        let later = t0 + FAILURE_WINDOW;
        assert_eq!(t.failed(ip, later), None, "old failures expired");
        let mut last = None;
        for i in 0..40 {
            last = t.failed(ip, later + Duration::from_secs(i));
        }
        assert_eq!(last, Some(MAX_BACKOFF));
    }
}
