//! The memory allocator's settings (issue 13). The `osprey` binary runs on mimalloc
//! (`#[global_allocator]` in `main.rs`, chosen by measurement: docs/performance.md).
//!
//! mimalloc returns freed pages to the OS after a purge delay and faults them in again when
//! they are reused. Streaming bodies free and reuse 64 KiB buffers all the time, and with the
//! default delay a 16 MiB UNSIGNED-PAYLOAD PUT measured 11–24 % slower than on glibc
//! (`clear_page_erms` in the profile). With [`PURGE_DELAY_MS`] the pages of a steady stream are
//! reused before they are returned; memory freed after a burst still goes back to the OS.

/// How long freed memory stays with the process before mimalloc returns it to the OS: 10 s
/// (mimalloc's own default is 1 s). Measured equal to "never" (−1) and 10–17 % faster than the
/// default on 16 MiB PUTs (`cargo bench --bench load -- --ab`, docs/perf/issue13/). An operator's
/// `MIMALLOC_PURGE_DELAY` in the environment is left as set.
pub const PURGE_DELAY_MS: i64 = 10_000;

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (include/mimalloc.h of the version
/// `libmimalloc-sys` builds, 0.1.49 / mimalloc v3): the crate exports the enum's other values but
/// not this one. `tests::purge_delay_option_is_the_purge_delay` checks the value against the
/// option's documented default.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Applies [`PURGE_DELAY_MS`] unless the environment sets `MIMALLOC_PURGE_DELAY`. Called first
/// thing in `main`, before any thread starts.
pub fn tune() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one of mimalloc's global option values (an atomic store); the option
        // index is checked by the test below
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS as _) };
    }
}

/// The purge delay mimalloc uses now, in milliseconds.
// `c_long` is `i64` here and `i32` on other targets
#[allow(clippy::useless_conversion)]
pub fn purge_delay_ms() -> i64 {
    // SAFETY: reads one of mimalloc's global option values
    i64::from(unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) })
}

#[cfg(test)]
mod tests {
    /// Index 15 reads mimalloc's documented purge-delay default (1 000 ms in v3: "memory purging
    /// is delayed by N milli seconds"; no other option defaults to it), and `tune` changes it.
    /// Fails if `libmimalloc-sys` moves to a mimalloc whose option enum is ordered differently.
    #[test]
    fn purge_delay_option_is_the_purge_delay() {
        assert_eq!(super::purge_delay_ms(), 1_000);
        super::tune();
        assert_eq!(super::purge_delay_ms(), super::PURGE_DELAY_MS);
    }
}
