//! What the periodic backend probe (src/server/observe.rs) last saw of each backend, for
//! `osprey_backend_up`, `/readyz` and OSIS `GET /api/v1/admin/status`.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use dashmap::DashMap;

/// The last probe of one backend.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BackendHealth {
    /// The S3 endpoint answered HTTP (any status: a 403 to an anonymous `GET /` is a live server).
    pub up: bool,
    pub checked_at: DateTime<Utc>,
    /// Milliseconds the probe took.
    pub took_ms: f64,
    /// Why the probe failed (connection refused, timeout, TLS …).
    pub error: Option<String>,
    /// Probes failed in a row (0 when up).
    pub consecutive_failures: u32,
}

/// The health of every configured backend, by name.
#[derive(Default)]
pub struct HealthBoard {
    map: DashMap<String, BackendHealth>,
}

/// The process's board.
pub fn board() -> &'static HealthBoard {
    static B: OnceLock<HealthBoard> = OnceLock::new();
    B.get_or_init(HealthBoard::default)
}

impl HealthBoard {
    /// Record one probe (and its `osprey_backend_up` / `osprey_backend_probe_seconds` series).
    pub fn record(&self, backend: &str, outcome: Result<(), String>, took: Duration) {
        let failures = match (&outcome, self.map.get(backend)) {
            (Ok(()), _) => 0,
            (Err(_), Some(prev)) => prev.consecutive_failures.saturating_add(1),
            (Err(_), None) => 1,
        };
        let h = BackendHealth {
            up: outcome.is_ok(),
            checked_at: Utc::now(),
            took_ms: (took.as_secs_f64() * 1_000_000.0).round() / 1000.0,
            error: outcome.err(),
            consecutive_failures: failures,
        };
        super::global().backend_health(backend, h.up, took);
        self.map.insert(backend.to_string(), h);
    }

    /// Keep only the backends named (after a reload removed some).
    pub fn retain(&self, configured: &[&str]) {
        let gone: Vec<String> = self
            .map
            .iter()
            .map(|e| e.key().clone())
            .filter(|b| !configured.contains(&b.as_str()))
            .collect();
        for b in gone {
            self.map.remove(&b);
            super::global().forget_backend(&b);
        }
    }

    /// Backends of `configured` not probed yet (health unknown).
    pub fn unknown<'a>(&self, configured: &[&'a str]) -> Vec<&'a str> {
        configured
            .iter()
            .copied()
            .filter(|b| !self.map.contains_key(*b))
            .collect()
    }

    pub fn snapshot(&self) -> BTreeMap<String, BackendHealth> {
        self.map
            .iter()
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_count_up_and_reset() {
        let b = HealthBoard::default();
        assert_eq!(b.unknown(&["a", "b"]), vec!["a", "b"]);
        b.record("a", Err("refused".into()), Duration::from_millis(1));
        b.record("a", Err("refused".into()), Duration::from_millis(1));
        assert_eq!(b.snapshot()["a"].consecutive_failures, 2);
        assert!(!b.snapshot()["a"].up);
        b.record("a", Ok(()), Duration::from_millis(1));
        assert_eq!(b.snapshot()["a"].consecutive_failures, 0);
        assert_eq!(b.unknown(&["a", "b"]), vec!["b"]);
        b.retain(&["b"]);
        assert!(b.snapshot().is_empty());
    }
}
