//! `osprey support-bundle`: one `.tar.gz` with what a support engineer needs first, and no
//! secrets — release signature, the configuration with every secret redacted, its validation
//! result, identity-store statistics and pending provisioning work, the live state of a running
//! Osprey (if reachable), system facts, and the tail of a log file.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Most log lines copied from `--log` (the tail): enough for an incident, bounded in size.
pub const MAX_LOG_LINES: usize = 5000;

/// Keys whose values are replaced by `<redacted>` wherever they appear in the TOML.
fn is_secret_key(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    k.contains("secret") || k.contains("password") || k == "master_key"
}

fn redact(v: &mut toml::Value) {
    match v {
        toml::Value::Table(t) => {
            for (k, val) in t.iter_mut() {
                if is_secret_key(k) && !k.ends_with("_file") && !k.ends_with("_env") {
                    *val = toml::Value::String("<redacted>".into());
                } else {
                    redact(val);
                }
            }
        }
        toml::Value::Array(a) => a.iter_mut().for_each(redact),
        _ => {}
    }
}

pub struct BundleOptions {
    pub config: PathBuf,
    pub out: PathBuf,
    pub log: Option<PathBuf>,
}

fn add(tar: &mut tar::Builder<impl Write>, name: &str, data: &[u8]) -> anyhow::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o600);
    h.set_mtime(chrono::Utc::now().timestamp().max(0) as u64);
    h.set_cksum();
    tar.append_data(&mut h, name, data)?;
    Ok(())
}

fn cmd(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_else(|e| format!("{program}: {e}"))
}

pub fn support_bundle(opts: &BundleOptions) -> anyhow::Result<Vec<String>> {
    let mut parts: Vec<(String, Vec<u8>)> = Vec::new();
    parts.push((
        "version.txt".into(),
        format!("{}\n", crate::version::signature()).into_bytes(),
    ));
    let text = std::fs::read_to_string(&opts.config)
        .map_err(|e| anyhow::anyhow!("{}: {e}", opts.config.display()))?;
    let redacted = match text.parse::<toml::Value>() {
        Ok(mut v) => {
            redact(&mut v);
            toml::to_string_pretty(&v).unwrap_or_default()
        }
        Err(e) => format!("# not valid TOML, not included: {e}\n"),
    };
    parts.push(("config.redacted.toml".into(), redacted.into_bytes()));
    let checked = crate::config::load(&opts.config);
    parts.push((
        "check-config.txt".into(),
        match &checked {
            Ok(c) => format!(
                "ok: {} backend(s), {} routing table(s), {} tenant assignment(s)\n",
                c.backends.len(),
                c.routing.tables.len(),
                c.routing.tenants.len()
            ),
            Err(e) => format!("{e}\n"),
        }
        .into_bytes(),
    ));
    parts.push((
        "system.txt".into(),
        format!(
            "uname: {}nproc: {}\n{}\n{}",
            cmd("uname", &["-a"]),
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0),
            std::fs::read_to_string("/proc/meminfo")
                .unwrap_or_default()
                .lines()
                .take(3)
                .collect::<Vec<_>>()
                .join("\n"),
            checked
                .as_ref()
                .map(|c| cmd("df", &["-h", &c.server.data_dir.display().to_string()]))
                .unwrap_or_default()
        )
        .into_bytes(),
    ));
    if let Ok(cfg) = &checked {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (store_part, live) = rt.block_on(async {
            let store_part = match super::wiring::open_store_read_only(cfg).await {
                Ok(store) => {
                    let stats = store.stats().await.map_err(|e| e.to_string());
                    let pending = store.pending().await.map_err(|e| e.to_string()).map(|p| {
                        p.into_iter()
                            .map(|p| serde_json::json!({"id": p.id, "backend": p.backend, "op": serde_json::from_str::<serde_json::Value>(&p.op).unwrap_or(serde_json::Value::String(p.op)), "attempts": p.attempts, "last_error": p.last_error, "created_at": p.created_at.to_rfc3339()}))
                            .collect::<Vec<_>>()
                    });
                    serde_json::json!({"stats": stats.map_err(|e| e.to_string()).ok(), "pending_provisioning": pending.ok()})
                }
                Err(e) => serde_json::json!({"error": e.to_string()}),
            };
            let scheme = if cfg.server.tls.is_some() { "https" } else { "http" };
            let base = format!("{scheme}://{}", cfg.server.osis_listen);
            let http = reqwest::Client::builder()
                .danger_accept_invalid_certs(true)
                .timeout(std::time::Duration::from_secs(5))
                .build()
                .unwrap_or_default();
            let mut live = serde_json::Map::new();
            for (name, path, auth) in [
                ("info", "/api/info", false),
                ("config", "/api/v1/admin/config", true),
                ("metrics", "/api/v1/admin/metrics", true),
            ] {
                let mut r = http.get(format!("{base}{path}"));
                if auth {
                    r = r.basic_auth(&cfg.osis.admin_access_key, Some(&cfg.osis.admin_secret_key));
                }
                let v = match r.send().await {
                    Ok(resp) => serde_json::Value::String(resp.text().await.unwrap_or_default()),
                    Err(e) => serde_json::Value::String(format!("not reachable: {e}")),
                };
                live.insert(name.into(), v);
            }
            (store_part, serde_json::Value::Object(live))
        });
        parts.push(("store.json".into(), serde_json::to_vec_pretty(&store_part)?));
        parts.push(("live.json".into(), serde_json::to_vec_pretty(&live)?));
    }
    if let Some(log) = &opts.log {
        let text =
            std::fs::read_to_string(log).unwrap_or_else(|e| format!("{}: {e}\n", log.display()));
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(MAX_LOG_LINES)..].join("\n");
        parts.push(("osprey.log".into(), tail.into_bytes()));
    }
    write_bundle(&opts.out, &parts)?;
    Ok(parts.into_iter().map(|(n, _)| n).collect())
}

fn write_bundle(out: &Path, parts: &[(String, Vec<u8>)]) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let f = opts
        .open(out)
        .map_err(|e| anyhow::anyhow!("{}: {e}", out.display()))?;
    let gz = flate2::write::GzEncoder::new(f, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (name, data) in parts {
        add(&mut tar, &format!("osprey-support/{name}"), data)?;
    }
    tar.into_inner()?.finish()?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_are_redacted() {
        let mut v: toml::Value = "[osis]\nadmin_access_key = \"a\"\nadmin_secret_key = \"s3cr3t\"\n[[backends]]\nsecret_key = \"x\"\nsecret_key_file = \"/etc/k\"\n".parse().unwrap();
        super::redact(&mut v);
        let s = toml::to_string(&v).unwrap();
        assert!(!s.contains("s3cr3t") && !s.contains("\"x\""), "{s}");
        assert!(s.contains("/etc/k") && s.contains("admin_access_key"));
    }
}
