//! Loopback ports for the servers the tests start (a module of `common`, and included by `real`, each with its
//! own range, so the two never hand out the same port).
//!
//! The ranges lie below Linux's ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`,
//! 32 768–60 999 by default), so neither another test's `bind(":0")` nor an outgoing
//! connection's source port can take a port between this pick and the server's own bind.
//! Picking with `bind(":0")` did: CI once handed the same port to OSIS and S3 ("OSIS and S3
//! cannot share the listener", stop 19).

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// A port of `first..first + span` nobody listens on, never the same twice per `next` (one per
/// process and range). Each process starts at its own offset (from its pid), so test binaries
/// run side by side rarely meet; a port something already listens on is skipped.
pub fn pick(next: &OnceLock<AtomicU32>, first: u32, span: u32) -> u16 {
    let next = next.get_or_init(|| AtomicU32::new(std::process::id().wrapping_mul(7919) % span));
    loop {
        let port = (first + next.fetch_add(1, Ordering::Relaxed) % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}
