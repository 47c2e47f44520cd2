//! Where a backend's S3 endpoint is: a host and port, resolved when a request needs it.
//!
//! Issue 12 (DNS defect): the endpoint used to be resolved once, with a blocking
//! `to_socket_addrs` on the runtime, keeping only the first address, for the life of the backend
//! instance (which a reload keeps when the backend is unchanged). A name that moved, or whose
//! first address refused connections, broke the backend until a restart. Now:
//! - the name is looked up with `tokio::net::lookup_host` (no runtime thread blocks), bounded by
//!   [`DNS_LOOKUP_TIMEOUT`], one lookup at a time per backend;
//! - the answer is kept for [`DNS_TTL`] and looked up again after it, whatever reloads happen;
//! - every address of the answer is kept: [`BackendAddress::resolve`] returns the first that has
//!   not failed recently, and [`BackendAddress::mark_unreachable`] (called by the data plane's
//!   connector when a connection is refused or times out, `src/proxy/connect.rs`) moves later
//!   requests to the next one for [`UNREACHABLE_BACKOFF`];
//! - a failed lookup with a previous answer keeps serving that answer (retried after
//!   [`DNS_FAILURE_RETRY`]); without one it is a [`BackendError::Unavailable`] naming the backend,
//!   which the gateway answers with a 503 `ServiceUnavailable`.
//!
//! The lookup function is injectable ([`BackendAddress::with_lookup`]) so the behaviour above is
//! tested without a DNS server.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::time::Instant;

use super::BackendError;

/// How long the addresses of a backend host name are used before it is looked up again: 30 s
/// (the order of common DNS TTLs for service names). Stops a moved endpoint (new addresses
/// behind the same name) from being missed until a restart, while keeping lookups off the
/// per-request path.
pub const DNS_TTL: Duration = Duration::from_secs(30);

/// Longest wait for one lookup: 5 s (glibc's default resolver timeout). Stops a hung resolver from
/// holding requests longer than a connect attempt would.
pub const DNS_LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// After a failed lookup, the previous addresses are used this long before asking again: 5 s.
/// Stops a resolver outage from turning into one failing lookup per request.
pub const DNS_FAILURE_RETRY: Duration = Duration::from_secs(5);

/// An address that refused (or timed out) a connection is passed over this long: 30 s, one
/// [`DNS_TTL`]. Stops every request from first paying a failed connect to an address that is
/// down, while a recovered address is used again soon.
pub const UNREACHABLE_BACKOFF: Duration = Duration::from_secs(30);

/// Most addresses kept from one answer: 16. Stops an oversized answer from making one connect
/// try dozens of addresses.
pub const MAX_ADDRESSES: usize = 16;

/// Looks up `(host, port)`: [`system_lookup`] in production, a stub in tests.
pub type Lookup =
    Arc<dyn Fn(String, u16) -> BoxFuture<'static, std::io::Result<Vec<SocketAddr>>> + Send + Sync>;

/// The system resolver, asynchronously (`tokio::net::lookup_host`: getaddrinfo on the blocking
/// pool, so no runtime worker waits).
pub fn system_lookup() -> Lookup {
    Arc::new(|host: String, port: u16| {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), port))
                .await?
                .collect())
        })
    })
}

/// A backend's data-path address. Clones share one cache.
#[derive(Clone)]
pub struct BackendAddress {
    inner: Arc<Inner>,
}

struct Inner {
    /// Backend name, for errors and logs.
    backend: String,
    target: Target,
}

enum Target {
    /// Known when the backend starts (the embedded `local` store's loopback port).
    Fixed(SocketAddr),
    Named(Named),
}

struct Named {
    /// As looked up: an IPv6 literal without its URL brackets.
    host: String,
    port: u16,
    ttl: Duration,
    lookup: Lookup,
    state: Mutex<State>,
    /// Held by the one caller looking the name up.
    refresh: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    /// The last answer, in the resolver's order (never empty once `expires` is set).
    addrs: Vec<SocketAddr>,
    /// When to look the name up again; `None` before the first answer.
    expires: Option<Instant>,
    /// Addresses whose last connection failed, and until when they are passed over.
    unreachable: HashMap<SocketAddr, Instant>,
}

impl State {
    /// The first address not passed over; the first of all when every one is.
    fn pick(&self, now: Instant) -> Option<SocketAddr> {
        self.addrs
            .iter()
            .find(|a| self.unreachable.get(a).is_none_or(|until| *until <= now))
            .or(self.addrs.first())
            .copied()
    }
}

impl std::fmt::Debug for BackendAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner.target {
            Target::Fixed(a) => write!(f, "BackendAddress({a})"),
            Target::Named(n) => write!(f, "BackendAddress({}:{})", n.host, n.port),
        }
    }
}

impl BackendAddress {
    /// An address that never changes (no lookup).
    pub fn fixed(backend: &str, addr: SocketAddr) -> Self {
        Self::new(backend, Target::Fixed(addr))
    }

    /// `host` (as written in the endpoint URL) and `port`, looked up with the system resolver
    /// and kept for [`DNS_TTL`].
    pub fn named(backend: &str, host: &str, port: u16) -> Self {
        Self::with_lookup(backend, host, port, DNS_TTL, system_lookup())
    }

    /// As [`Self::named`], with another lookup function and TTL (tests).
    pub fn with_lookup(
        backend: &str,
        host: &str,
        port: u16,
        ttl: Duration,
        lookup: Lookup,
    ) -> Self {
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        Self::new(
            backend,
            Target::Named(Named {
                host: host.to_string(),
                port,
                ttl,
                lookup,
                state: Mutex::new(State::default()),
                refresh: tokio::sync::Mutex::new(()),
            }),
        )
    }

    fn new(backend: &str, target: Target) -> Self {
        BackendAddress {
            inner: Arc::new(Inner {
                backend: backend.to_string(),
                target,
            }),
        }
    }

    /// The address to connect to now: from the cache while it is fresh, else after a lookup.
    pub async fn resolve(&self) -> Result<SocketAddr, BackendError> {
        let n = match &self.inner.target {
            Target::Fixed(a) => return Ok(*a),
            Target::Named(n) => n,
        };
        if let Some(a) = n.fresh() {
            return Ok(a);
        }
        // One lookup at a time. While it runs, callers that have an older answer use it rather
        // than wait; only the first requests of a backend wait for the first answer.
        let _one = match n.refresh.try_lock() {
            Ok(g) => g,
            Err(_) => {
                if let Some(a) = n.state().pick(Instant::now()) {
                    return Ok(a);
                }
                n.refresh.lock().await
            }
        };
        if let Some(a) = n.fresh() {
            return Ok(a); // looked up by the caller we waited for
        }
        let looked_up =
            tokio::time::timeout(DNS_LOOKUP_TIMEOUT, (n.lookup)(n.host.clone(), n.port)).await;
        let now = Instant::now();
        let failure = match looked_up {
            Ok(Ok(mut addrs)) if !addrs.is_empty() => {
                let mut seen = std::collections::HashSet::new();
                addrs.retain(|a| seen.insert(*a));
                addrs.truncate(MAX_ADDRESSES);
                let mut st = n.state();
                st.unreachable
                    .retain(|a, until| addrs.contains(a) && *until > now);
                st.addrs = addrs;
                st.expires = Some(now + n.ttl);
                return st.pick(now).ok_or_else(|| self.unavailable("no address"));
            }
            Ok(Ok(_)) => format!("`{}` resolves to no address", n.host),
            Ok(Err(e)) => format!("cannot resolve `{}`: {e}", n.host),
            Err(_) => format!(
                "cannot resolve `{}`: no answer within {} s",
                n.host,
                DNS_LOOKUP_TIMEOUT.as_secs()
            ),
        };
        let mut st = n.state();
        match st.pick(now) {
            Some(a) => {
                st.expires = Some(now + DNS_FAILURE_RETRY);
                tracing::warn!(backend = %self.inner.backend, error = %failure, "backend host name lookup failed; using the previous addresses");
                Ok(a)
            }
            None => Err(self.unavailable(&failure)),
        }
    }

    /// A connection to `addr` was refused or timed out: pass it over for [`UNREACHABLE_BACKOFF`].
    pub fn mark_unreachable(&self, addr: SocketAddr) {
        if let Target::Named(n) = &self.inner.target {
            let mut st = n.state();
            if st.addrs.contains(&addr) {
                st.unreachable
                    .insert(addr, Instant::now() + UNREACHABLE_BACKOFF);
            }
        }
    }

    /// The other addresses of the current answer, to try after `addr` failed: those not passed
    /// over first, each group in the resolver's order.
    pub fn alternatives(&self, addr: SocketAddr) -> Vec<SocketAddr> {
        let Target::Named(n) = &self.inner.target else {
            return Vec::new();
        };
        let st = n.state();
        let now = Instant::now();
        let (mut up, down): (Vec<_>, Vec<_>) = st
            .addrs
            .iter()
            .filter(|a| **a != addr)
            .partition(|a| st.unreachable.get(a).is_none_or(|until| *until <= now));
        up.extend(down);
        up
    }

    /// Whether the address comes from a name with possibly several addresses (worth a failover
    /// connector).
    pub fn is_named(&self) -> bool {
        matches!(self.inner.target, Target::Named(_))
    }

    fn unavailable(&self, message: &str) -> BackendError {
        BackendError::Unavailable {
            backend: self.inner.backend.clone(),
            message: message.to_string(),
        }
    }
}

impl Named {
    /// The cache is a plain value; a panic elsewhere while it was held leaves it usable.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn fresh(&self) -> Option<SocketAddr> {
        let now = Instant::now();
        let st = self.state();
        match st.expires {
            Some(t) if t > now => st.pick(now),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// A lookup answering `answers[i]` on its i-th call (the last one repeated), counting calls.
    fn scripted(answers: Vec<std::io::Result<Vec<SocketAddr>>>) -> (Lookup, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let answers: Vec<Result<Vec<SocketAddr>, String>> = answers
            .into_iter()
            .map(|a| a.map_err(|e| e.to_string()))
            .collect();
        let f: Lookup = Arc::new(move |_host, _port| {
            let i = c.fetch_add(1, Ordering::SeqCst).min(answers.len() - 1);
            let a = answers[i].clone().map_err(std::io::Error::other);
            Box::pin(async move { a })
        });
        (f, calls)
    }

    #[tokio::test]
    async fn answer_is_cached_within_the_ttl() {
        let (lookup, calls) = scripted(vec![
            Ok(vec![addr("192.0.2.1:80")]),
            Ok(vec![addr("192.0.2.2:80")]),
        ]);
        let a = BackendAddress::with_lookup("b1", "s3.test", 80, Duration::from_secs(3600), lookup);
        assert_eq!(a.resolve().await.unwrap(), addr("192.0.2.1:80"));
        assert_eq!(a.resolve().await.unwrap(), addr("192.0.2.1:80"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_changed_answer_is_picked_up_after_the_ttl() {
        let (lookup, calls) = scripted(vec![
            Ok(vec![addr("192.0.2.1:80")]),
            Ok(vec![addr("192.0.2.2:80")]),
        ]);
        // TTL zero: every resolve is past the TTL of the previous answer
        let a = BackendAddress::with_lookup("b1", "s3.test", 80, Duration::ZERO, lookup);
        assert_eq!(a.resolve().await.unwrap(), addr("192.0.2.1:80"));
        assert_eq!(a.resolve().await.unwrap(), addr("192.0.2.2:80"));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn every_address_is_kept_and_an_unreachable_one_is_passed_over() {
        let (lookup, _) = scripted(vec![Ok(vec![
            addr("[::1]:7480"),
            addr("127.0.0.1:7480"),
            addr("[::1]:7480"),
        ])]);
        let a = BackendAddress::with_lookup("b1", "localhost", 7480, DNS_TTL, lookup);
        assert_eq!(a.resolve().await.unwrap(), addr("[::1]:7480"));
        assert_eq!(
            a.alternatives(addr("[::1]:7480")),
            vec![addr("127.0.0.1:7480")]
        );
        a.mark_unreachable(addr("[::1]:7480"));
        assert_eq!(a.resolve().await.unwrap(), addr("127.0.0.1:7480"));
        // the one passed over is still an alternative, after those that are not
        assert_eq!(
            a.alternatives(addr("127.0.0.1:7480")),
            vec![addr("[::1]:7480")]
        );
        // every address down: the first is tried again rather than none
        a.mark_unreachable(addr("127.0.0.1:7480"));
        assert_eq!(a.resolve().await.unwrap(), addr("[::1]:7480"));
    }

    #[tokio::test]
    async fn failed_lookup_names_the_backend_or_keeps_the_previous_answer() {
        let (lookup, _) = scripted(vec![Err(std::io::Error::other("no such host"))]);
        let a = BackendAddress::with_lookup("ceph-a", "gone.test", 80, DNS_TTL, lookup);
        match a.resolve().await {
            Err(e @ BackendError::Unavailable { .. }) => {
                assert!(e.retryable());
                assert_eq!(
                    e.to_string(),
                    "backend `ceph-a` unavailable: cannot resolve `gone.test`: no such host"
                );
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
        let (lookup, calls) = scripted(vec![
            Ok(vec![addr("192.0.2.1:80")]),
            Err(std::io::Error::other("no such host")),
        ]);
        let a = BackendAddress::with_lookup("ceph-a", "flaky.test", 80, Duration::ZERO, lookup);
        assert_eq!(a.resolve().await.unwrap(), addr("192.0.2.1:80"));
        assert_eq!(a.resolve().await.unwrap(), addr("192.0.2.1:80"));
        // and the failure is not asked again at once
        assert_eq!(a.resolve().await.unwrap(), addr("192.0.2.1:80"));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn empty_answer_and_ipv6_literals() {
        let (lookup, _) = scripted(vec![Ok(vec![])]);
        let a = BackendAddress::with_lookup("b1", "empty.test", 80, DNS_TTL, lookup);
        let e = a.resolve().await.unwrap_err().to_string();
        assert!(e.contains("`empty.test` resolves to no address"), "{e}");
        // the URL's brackets are not part of the name looked up
        let a = BackendAddress::named("b1", "[::1]", 9000);
        assert_eq!(a.resolve().await.unwrap(), addr("[::1]:9000"));
        let a = BackendAddress::fixed("b1", addr("127.0.0.1:1"));
        assert_eq!(a.resolve().await.unwrap(), addr("127.0.0.1:1"));
        assert!(a.alternatives(addr("127.0.0.1:1")).is_empty());
    }
}
