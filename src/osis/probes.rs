//! What probes ask (issue 14): readiness — whether this process should receive traffic — for
//! `GET /readyz` on the metrics listener and `GET /api/v1/admin/status`, and the metrics text for
//! `GET /metrics` and `GET /api/v1/admin/metrics`.
//!
//! Ready means all of:
//! - the identity store answers, and would take a write, within [`STORE_CHECK_TIMEOUT`]
//!   ([`Store::ping`]); without it no key can be verified that is not cached, and nothing OSE asks
//!   can be stored;
//! - the configuration file on disk is the one serving (its last reload was not rejected): a
//!   replica whose file is broken would serve a different configuration than its peers after a
//!   restart, so a balancer should prefer the others;
//! - every configured backend has been probed at least once (its health is known).
//!
//! A backend that is *down* does not make the process unready: every replica sees the same
//! backend, so taking them all out of a balancer would turn one backend's outage into a full one;
//! its buckets answer 503 and `osprey_backend_up` says why.

use std::time::Duration;

use serde::Serialize;

use crate::metrics::health;
use crate::osis::hooks::ConfigControl;
use crate::store::Store;

/// Longest wait for the store check: 2 s. A store slower than that is treated as unreachable
/// (load balancers commonly probe every 1–5 s with a 2–3 s timeout).
pub const STORE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    pub ready: bool,
    /// What is not ready, one sentence each (empty when ready).
    pub reasons: Vec<String>,
}

pub async fn readiness(store: &dyn Store, config: Option<&dyn ConfigControl>) -> Readiness {
    let mut reasons = Vec::new();
    match tokio::time::timeout(STORE_CHECK_TIMEOUT, store.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => reasons.push(format!("identity store unreachable: {e}")),
        Err(_) => reasons.push(format!(
            "identity store did not answer within {} s",
            STORE_CHECK_TIMEOUT.as_secs()
        )),
    }
    if let Some(c) = config {
        if let Some(e) = c.last_error() {
            reasons.push(format!(
                "configuration file rejected (the previous one serves): {e}"
            ));
        }
        let names = c.backend_names();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let unknown = health::board().unknown(&names);
        if !unknown.is_empty() {
            reasons.push(format!(
                "backend health not known yet: {}",
                unknown.join(", ")
            ));
        }
    }
    Readiness {
        ready: reasons.is_empty(),
        reasons,
    }
}

/// The metrics exposition with the values read at scrape time (provisioning intents) refreshed.
pub async fn metrics_text(store: &dyn crate::store::Store) -> String {
    let m = crate::metrics::global();
    match store.pending().await {
        Ok(p) => {
            let failed = p.iter().filter(|o| o.last_error.is_some()).count();
            m.set_intents(
                i64::try_from(p.len() - failed).unwrap_or(i64::MAX),
                i64::try_from(failed).unwrap_or(i64::MAX),
            );
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read pending provisioning intents"),
    }
    m.render()
}
