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
/// not this one. `tests::option_indices_are_purge_delay_and_allow_thp` checks the value against the
/// option's documented default.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Whether Osprey's memory may be backed by transparent huge pages: no (default; mimalloc's own
/// default is yes). mimalloc v3 calls `madvise(MADV_HUGEPAGE)` on the arenas it maps, and with
/// the kernel's THP in `madvise` mode (Debian's default) every arena it touched was backed by
/// 2 MiB pages: an idle Osprey held 23.8 MiB of anonymous memory instead of 4.9, and 38–40 MiB
/// instead of 13.8–18.2 after the 64-connection rows, for no measured gain in CPU per request
/// (`cargo bench --bench load -- --memory` and `-- --ab`, docs/perf/issue13/30-thp-off). Stops
/// the footprint from growing in 2 MiB steps. An operator's `MIMALLOC_ALLOW_THP` is left as set.
pub const ALLOW_THP: bool = false;

/// `mi_option_allow_thp` in the same enum (see [`MI_OPTION_PURGE_DELAY`]); checked by
/// `tests::option_indices_are_purge_delay_and_allow_thp`.
const MI_OPTION_ALLOW_THP: libmimalloc_sys::mi_option_t = 43;

/// Applies [`PURGE_DELAY_MS`] and [`ALLOW_THP`] unless the environment sets
/// `MIMALLOC_PURGE_DELAY` / `MIMALLOC_ALLOW_THP`. Called first thing in `main`, before any
/// thread starts.
pub fn tune() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one of mimalloc's global option values (an atomic store); the option
        // index is checked by the test below
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS as _) };
    }
    if !ALLOW_THP && std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // mimalloc stops advising huge pages on the arenas it maps from now on ...
        // SAFETY: as above; index checked by `tests::option_indices_are_purge_delay_and_allow_thp`
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_ALLOW_THP, 0) };
        // ... and the kernel stops backing the one it mapped before `main` (the runtime's
        // first allocations) with them: the option alone left the idle RSS at 40.2 MiB
        disable_thp();
    }
}

/// Sets the process's "THP disable" flag (`prctl(PR_SET_THP_DISABLE)`, Linux ≥ 3.15): no page
/// of the process is backed by a transparent huge page from now on, `madvise` or not. Returns
/// whether the kernel took it (an older kernel or a seccomp filter may refuse; nothing else
/// changes then).
#[cfg(target_os = "linux")]
fn disable_thp() -> bool {
    // SAFETY: prctl with integer arguments only; changes a flag of this process's memory map
    unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0 }
}

#[cfg(not(target_os = "linux"))]
fn disable_thp() -> bool {
    false
}

/// Whether the kernel's "THP disable" flag is set for this process.
#[cfg(target_os = "linux")]
pub fn thp_disabled() -> bool {
    // SAFETY: prctl with integer arguments only; reads a flag
    unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) == 1 }
}

/// Whether mimalloc may ask for transparent huge pages now.
#[allow(clippy::useless_conversion)]
pub fn allow_thp() -> bool {
    // SAFETY: reads one of mimalloc's global option values
    i64::from(unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_ALLOW_THP) }) != 0
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
    /// is delayed by N milli seconds"; no other option defaults to it) and index 43 is
    /// `mi_option_allow_thp`: it reads THP allowed (mimalloc's Linux default) and its neighbours
    /// read their documented defaults (`minimal_purge_size` 0, `arena_max_object_size` 2 GiB in
    /// KiB, a value no other option has); `tune` changes both. Fails if `libmimalloc-sys` moves
    /// to a mimalloc whose option enum is ordered differently. One test: `tune` sets global
    /// options, so the defaults are read before any other test could have called it.
    #[test]
    // `c_long` is `i64` here and `i32` on other targets
    #[allow(clippy::useless_conversion)]
    fn option_indices_are_purge_delay_and_allow_thp() {
        // SAFETY: reads mimalloc's global option values
        let get = |o| i64::from(unsafe { libmimalloc_sys::mi_option_get(o) });
        assert_eq!(super::purge_delay_ms(), 1_000);
        assert!(super::allow_thp());
        assert_eq!(get(super::MI_OPTION_ALLOW_THP + 1), 0);
        assert_eq!(get(super::MI_OPTION_ALLOW_THP + 2), 2 * 1024 * 1024);
        super::tune();
        assert_eq!(super::purge_delay_ms(), super::PURGE_DELAY_MS);
        assert!(!super::allow_thp());
        #[cfg(target_os = "linux")]
        assert!(super::thp_disabled());
    }
}
