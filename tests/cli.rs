//! The `osprey` binary's command line: version signature and config checking.

use std::process::Command;

fn osprey() -> Command {
    Command::new(env!("CARGO_BIN_EXE_osprey"))
}

#[test]
fn version_prints_the_dated_release_signature() {
    let out = osprey().arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    // "osprey 0.1.0 (YYYY-MM-DD; git <commit>)"
    let re_ok = text.starts_with(&format!("osprey {} (", env!("CARGO_PKG_VERSION")))
        && text.contains("; git ")
        && text.trim_end().ends_with(')');
    assert!(re_ok, "{text}");
    let out = osprey().arg("version").output().unwrap();
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .starts_with("osprey/"));
}

#[test]
fn every_shipped_config_passes_check_config() {
    let mut files = vec![];
    for dir in ["config", "config/examples"] {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                files.push(p);
            }
        }
    }
    assert!(files.len() >= 3, "{files:?}");
    let out = osprey()
        .arg("check-config")
        .arg("--no-secrets")
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches(": ok (")
            .count(),
        files.len()
    );
}

#[test]
fn check_config_names_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.toml");
    std::fs::write(
        &f,
        "[osis]\nadmin_access_key = \"a\"\nadmin_secret_key = \"12345678\"\n[[backends]]\nname = \"local\"\nkind = \"lokal\"\n",
    )
    .unwrap();
    let out = osprey().arg("check-config").arg(&f).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml:6:8")
            && err.contains("backends[0].kind")
            && err.contains("unknown backend kind `lokal`"),
        "{err}"
    );
    // a missing file is an error too, not a panic
    let out = osprey()
        .arg("check-config")
        .arg(dir.path().join("nope.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

/// issue 12: `profile` was not checked by `check-config` — an unknown name or a profile of
/// another kind passed (exit 0) and failed only at start, or was silently used.
#[test]
fn check_config_rejects_unknown_and_mismatched_profiles() {
    let dir = tempfile::tempdir().unwrap();
    let head = "[osis]\nadmin_access_key = \"a\"\nadmin_secret_key = \"12345678\"\n[[backends]]\nname = \"gen\"\nkind = \"s3\"\nendpoint = \"http://127.0.0.1:9\"\naccess_key = \"AK\"\nsecret_key_env = \"GEN_SECRET\"\n";
    for (file, profile, want) in [
        (
            "unknown.toml",
            "stoargegrid",
            "unknown.toml:10:11: `backends[0].profile`: no backend profile `stoargegrid`; built-in profiles: local, s3, ceph-rgw, iam",
        ),
        (
            "mismatch.toml",
            "ceph-rgw",
            "mismatch.toml:10:11: `backends[0].profile`: profile `ceph-rgw` is for `ceph-rgw` backends, not `s3`; remove `profile` or name a profile of kind `s3`",
        ),
    ] {
        let f = dir.path().join(file);
        std::fs::write(&f, format!("{head}profile = \"{profile}\"\n")).unwrap();
        let out = osprey()
            .args(["check-config", "--no-secrets"])
            .arg(&f)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{file}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.trim_end().ends_with(want), "{err}");
    }
    // the kind's own profile passes
    let f = dir.path().join("ok.toml");
    std::fs::write(&f, format!("{head}profile = \"s3\"\n")).unwrap();
    let out = osprey()
        .args(["check-config", "--no-secrets"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

mod common;

/// `osprey support-bundle` against a running Osprey: every part present, no secret inside.
#[test]
fn support_bundle_has_everything_and_no_secrets() {
    let o = common::Osprey::start(common::LOCAL_CONFIG);
    let out = o.dir.path().join("bundle.tar.gz");
    let r = std::process::Command::new(env!("CARGO_BIN_EXE_osprey"))
        .args(["support-bundle", "--config"])
        .arg(o.config_path())
        .arg("--out")
        .arg(&out)
        .arg("--log")
        .arg(o.log_path())
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let list = std::process::Command::new("tar")
        .arg("-tzf")
        .arg(&out)
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&list.stdout);
    for part in [
        "version.txt",
        "config.redacted.toml",
        "check-config.txt",
        "system.txt",
        "store.json",
        "live.json",
        "osprey.log",
    ] {
        assert!(
            names.contains(&format!("osprey-support/{part}")),
            "{part} in {names}"
        );
    }
    let all = std::process::Command::new("tar")
        .arg("-xzOf")
        .arg(&out)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&all.stdout);
    assert!(
        !text.contains(common::ADMIN_SK),
        "admin secret leaked into the bundle"
    );
    assert!(text.contains("<redacted>"));
    assert!(
        text.contains("osprey_config_reloads_total"),
        "live metrics fetched from the running process"
    );
    assert!(text.contains("\"tenants\""), "store statistics");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

fn quick_config(dir: &std::path::Path, extra_server: &str) -> std::path::PathBuf {
    let text = common::LOCAL_CONFIG
        .replace(
            "s3_listen = \"127.0.0.1:{s3}\"",
            &format!("s3_listen = \"127.0.0.1:{{s3}}\"\n{extra_server}"),
        )
        .replace("{data_dir}", dir.join("data").to_str().unwrap())
        .replace("{osis}", &common::free_port().to_string())
        .replace("{s3}", &common::free_port().to_string());
    let p = dir.join("osprey.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// Start-up refusals are clean one-line errors with a non-zero exit, never panics: license not
/// accepted, unreadable or malformed TLS files. `OSPREY_ACCEPT_LICENSE=yes` accepts.
#[test]
fn start_up_refusals_are_clean() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = quick_config(dir.path(), "");
    let run = |cfg: &std::path::Path, env: Option<(&str, &str)>| {
        let mut c = osprey();
        c.args(["serve", "--config"])
            .arg(cfg)
            .stdin(std::process::Stdio::null());
        c.env_remove("OSPREY_ACCEPT_LICENSE");
        if let Some((k, v)) = env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let out = run(&cfg, None);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("license") && err.contains("not been accepted"),
        "{err}"
    );
    // bad TLS files: a clear error naming the file (after the env var accepted the license)
    std::fs::write(dir.path().join("bad.pem"), "not a certificate").unwrap();
    let tls = quick_config(
        dir.path(),
        &format!(
            "[server.tls]\ncert_file = \"{0}/bad.pem\"\nkey_file = \"{0}/bad.pem\"",
            dir.path().display()
        ),
    );
    let out = run(&tls, Some(("OSPREY_ACCEPT_LICENSE", "yes")));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("cert_file") && err.contains("bad.pem"),
        "{err}"
    );
    assert!(
        dir.path().join("data/LICENSE.accepted").exists(),
        "OSPREY_ACCEPT_LICENSE=yes accepted"
    );
}

/// The identity store and the master key are owner-only.
#[test]
fn store_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let o = common::Osprey::start(common::LOCAL_CONFIG);
    for f in ["osprey.db", "master.key"] {
        let mode = std::fs::metadata(o.data_dir().join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    let mode = std::fs::metadata(o.data_dir())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700);
}

/// `OSPREY_ACCEPT_LICENSE` (docs/install.md#license-acceptance): `yes` accepts and records it for
/// the data directory; `no` does not, and serve stops with the refusal naming the directory.
#[test]
fn license_acceptance_by_environment() {
    let run = |value: &str| {
        let d = tempfile::tempdir().unwrap();
        let port = |_| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let cfg = d.path().join("osprey.toml");
        std::fs::write(
            &cfg,
            format!(
                "[server]\ndata_dir = \"{}\"\nosis_listen = \"127.0.0.1:{}\"\ns3_listen = \"127.0.0.1:{}\"\n[osis]\nadmin_access_key = \"a\"\nadmin_secret_key = \"long-enough-secret\"\n[[backends]]\nname = \"local\"\nkind = \"local\"\n[routing]\ndefault_table = \"t\"\n[routing.tables.t]\nrules = [ {{ buckets = \"*\", backend = \"local\" }} ]\n",
                d.path().join("data").display(),
                port(0),
                port(1)
            ),
        )
        .unwrap();
        let mut child = osprey()
            .args(["serve", "--config"])
            .arg(&cfg)
            .env("OSPREY_ACCEPT_LICENSE", value)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let marker = d.path().join("data/LICENSE.accepted");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break Some(s);
            }
            if marker.exists() || std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let mut err = String::new();
        use std::io::Read;
        let _ = child.stderr.take().unwrap().read_to_string(&mut err);
        (status, std::fs::read_to_string(&marker).ok(), err, d)
    };
    let (_, record, err, _d) = run("yes");
    let record =
        record.unwrap_or_else(|| panic!("not accepted by OSPREY_ACCEPT_LICENSE=yes: {err}"));
    assert!(
        record.starts_with("accepted ") && record.contains(" with osprey/"),
        "{record}"
    );
    let (status, record, err, _d) = run("no");
    assert!(record.is_none());
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{err}");
    assert!(
        err.contains("has not been accepted for data directory"),
        "{err}"
    );
}
