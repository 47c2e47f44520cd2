//! Stamps the release signature (build date + git commit) into the binary.
//! The partner-program guide requires a dated release signature on every response and log line,
//! so these values must come from the build, not from run time.
use std::process::Command;

fn main() {
    let commit = std::env::var("OSPREY_GIT_COMMIT").ok().unwrap_or_else(|| {
        Command::new("git")
            .args(["rev-parse", "--short=7", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "unknown".to_string())
    });
    // SOURCE_DATE_EPOCH (reproducible-builds.org) wins; else the build day in UTC.
    let date = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
        .unwrap_or_else(chrono::Utc::now)
        .format("%Y-%m-%d")
        .to_string();
    println!("cargo:rustc-env=OSPREY_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=OSPREY_BUILD_DATE={date}");
    println!("cargo:rerun-if-env-changed=OSPREY_GIT_COMMIT");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
}
