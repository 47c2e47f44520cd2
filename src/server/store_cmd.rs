//! `osprey store migrate --to postgres://…`: copy the configured SQLite store into PostgreSQL
//! (`store::copy`), holding the data directory's lock so no `osprey serve` changes it meanwhile.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::config::{Env, PgField, StoreKind};
use crate::store::copy::CopyReport;
use crate::store::MasterKey;

pub struct MigrateOptions {
    /// The configuration whose `[store]` (kind `sqlite`) is the source.
    pub config: PathBuf,
    /// The target URL.
    pub to: String,
    pub password_file: Option<PathBuf>,
    pub sslmode: Option<String>,
    pub ca_file: Option<PathBuf>,
}

/// Run the copy; the report as printed.
pub fn migrate(opts: &MigrateOptions) -> anyhow::Result<String> {
    // OSPREY_STORE_URL names where `serve` goes; the source here is the file's SQLite store
    let mut env = Env::from_process();
    env.store_url = None;
    let cfg =
        crate::config::load_with_env(&opts.config, &env).map_err(|e| anyhow::anyhow!("{e}"))?;
    let StoreKind::Sqlite { path } = &cfg.store.kind else {
        anyhow::bail!(
            "{}: [store] is kind = \"postgres\"; `store migrate` copies the SQLite store of a kind = \"sqlite\" configuration (run it with the configuration the SQLite store was served with)",
            opts.config.display()
        );
    };
    let password = match &opts.password_file {
        None => None,
        Some(f) => match std::fs::read_to_string(f) {
            Ok(t) if !t.trim().is_empty() => Some(t.trim().to_string()),
            Ok(_) => anyhow::bail!("--password-file {}: is empty", f.display()),
            Err(e) => anyhow::bail!("--password-file {}: cannot read: {e}", f.display()),
        },
    };
    let target = crate::config::postgres_target(
        &opts.to,
        password,
        opts.sslmode.as_deref(),
        opts.ca_file.clone(),
        2,
    )
    .map_err(|(field, msg)| {
        let flag = match field {
            PgField::Url => "--to",
            PgField::PasswordFile => "--password-file",
            PgField::Sslmode => "--sslmode",
            PgField::CaFile => "--ca-file",
            PgField::PoolSize => "pool size",
        };
        anyhow::anyhow!("{flag}: {msg}")
    })?;

    let data_dir = &cfg.server.data_dir;
    if !data_dir.is_dir() {
        anyhow::bail!(
            "data directory {} does not exist (nothing to copy)",
            data_dir.display()
        );
    }
    let run_dir = data_dir.join("run");
    super::create_private_dir(&run_dir)?;
    let Some(_lock) = super::try_lock_run_dir(&run_dir)? else {
        anyhow::bail!(
            "data directory {} is in use by a running Osprey (pid {}); stop it before `osprey store migrate` (the copy must not miss its writes)",
            data_dir.display(),
            super::lock_holder(&run_dir)
        );
    };
    // checks the secrets when the key is at hand; never creates one
    let key = match std::env::var(crate::store::crypto::MASTER_KEY_ENV).ok() {
        Some(v) => Some(MasterKey::load_or_create(
            &cfg.store.master_key_file,
            Some(&v),
        )?),
        None if cfg.store.master_key_file.exists() => {
            Some(MasterKey::load_or_create(&cfg.store.master_key_file, None)?)
        }
        None => None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(crate::store::copy::sqlite_to_postgres(
        path,
        &target,
        key.as_ref(),
    ))?;
    Ok(render(path, &target.display, &report))
}

fn render(from: &std::path::Path, to: &str, r: &CopyReport) -> String {
    let mut out = format!("copied {} to {to}\n", from.display());
    let _ = writeln!(
        out,
        "{:<20} {:>10} {:>10} {:>10} {:>10}",
        "table", "sqlite", "copied", "postgres", "verified"
    );
    for t in &r.tables {
        let _ = writeln!(
            out,
            "{:<20} {:>10} {:>10} {:>10} {:>10}",
            t.table, t.source, t.copied, t.target, t.verified
        );
    }
    match r.secrets_checked {
        Some((c, i)) => {
            let _ = writeln!(
                out,
                "secrets: {c} credential(s) and {i} backend identit(ies) open with the master key; give every replica the same key (OSPREY_MASTER_KEY)"
            );
        }
        None => {
            let _ = writeln!(
                out,
                "secrets: copied sealed, not checked (no OSPREY_MASTER_KEY and no master key file); the replicas need the key this store was sealed with"
            );
        }
    }
    out
}
