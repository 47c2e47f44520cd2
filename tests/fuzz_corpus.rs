//! Replays every seed and fuzzer-found input under `fuzz/corpus/<target>/` and every saved crash
//! under `fuzz/crashes/<target>/` through the same target functions the AFL++ binaries run
//! (`fuzz/targets.rs`), so a regression in a parser is caught by `cargo test` without AFL.
//!
//! Every saved crash must pass: one listed in `fuzz/crashes/OPEN` (a known bug, one `target/file`
//! per line) fails `replay_crashes` like any other until it is fixed. See docs/fuzzing.md.

#[path = "../fuzz/targets.rs"]
mod targets;

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.is_file()
                        && !p
                            .file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with('.') || n == "README.txt")
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Runs `f` on the file's bytes; `Err` with the panic message if it panicked.
fn replay(f: fn(&[u8]), path: &Path) -> Result<(), String> {
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    std::panic::catch_unwind(move || f(&data)).map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "non-string panic".into())
    })
}

fn open_crashes() -> Vec<String> {
    std::fs::read_to_string(fuzz_dir().join("crashes").join("OPEN"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn replay_corpora() {
    let mut failures = Vec::new();
    for (name, f) in targets::TARGETS {
        let dir = fuzz_dir().join("corpus").join(name);
        let inputs = files(&dir);
        assert!(!inputs.is_empty(), "no corpus files in {}", dir.display());
        for p in &inputs {
            if let Err(msg) = replay(*f, p) {
                failures.push(format!("{}: {msg}", p.display()));
            }
        }
        eprintln!("{name}: {} corpus inputs replayed", inputs.len());
    }
    assert!(
        failures.is_empty(),
        "{} corpus inputs panic:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn crash_results() -> Vec<(String, Result<(), String>)> {
    let mut out = Vec::new();
    for (name, f) in targets::TARGETS {
        for p in files(&fuzz_dir().join("crashes").join(name)) {
            let id = format!(
                "{name}/{}",
                p.file_name().and_then(|n| n.to_str()).unwrap_or("?")
            );
            out.push((id, replay(*f, &p)));
        }
    }
    out
}

#[test]
fn replay_crashes() {
    let open = open_crashes();
    let mut failures = Vec::new();
    for (id, r) in crash_results() {
        match (r, open.contains(&id)) {
            (Ok(()), true) => {
                eprintln!("{id}: listed in fuzz/crashes/OPEN but passes now: remove it")
            }
            (Ok(()), false) => {}
            // a known open bug fails too: CI is green only when every saved crash is fixed
            (Err(msg), true) => failures.push(format!("{id} (listed in OPEN): {msg}")),
            (Err(msg), false) => failures.push(format!("{id}: {msg}")),
        }
    }
    assert!(
        failures.is_empty(),
        "saved crashes panic again:\n{}",
        failures.join("\n")
    );
}

/// `fuzz/` is its own workspace with its own `Cargo.lock`, and it depends on osprey by path, so a
/// dependency added to osprey changes that lock file too. CI builds the fuzzers with `--locked`
/// (fuzz/run.sh); a stale lock failed CI after `libc` was added (stop 29), only after twenty
/// minutes. This catches it in `cargo test`: `--locked` makes cargo fail instead of rewriting it.
#[test]
fn fuzz_lock_file_is_current() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = std::process::Command::new(cargo)
        .args(["update", "--workspace", "--locked", "--manifest-path"])
        .arg(fuzz_dir().join("Cargo.toml"))
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "fuzz/Cargo.lock is stale: run `cargo update --workspace --manifest-path fuzz/Cargo.toml` \
         and commit it\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
