//! `osprey` command line: serve, check-config, version, support-bundle, explain-route, store migrate.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc instead of glibc's malloc: chosen by measurement (issue 13, docs/performance.md): glibc's
/// malloc/free took ~13 % of Osprey's CPU on 4 KiB requests (many small, short-lived
/// allocations spread over pingora's threads; `malloc_consolidate` alone 1.7 %).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "osprey",
    version = osprey::version::VERSION,
    long_version = long_version(),
    about = "Multi-vendor S3 gateway and OSIS adapter for VMware Cloud Director Object Storage Extension"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

fn long_version() -> &'static str {
    // clap prints "osprey <this>"
    osprey::version::signature().trim_start_matches("osprey/")
}

#[derive(Subcommand)]
enum Command {
    /// Run Osprey: the OSIS API and the S3 gateway, until SIGTERM (graceful) or SIGINT.
    Serve {
        /// Configuration file (TOML). See config/osprey.toml and docs/configuration.md.
        #[arg(long, short, default_value = "config/osprey.toml")]
        config: PathBuf,
        /// Verbose logs (debug level) regardless of `log.level`; off by default.
        #[arg(long, short)]
        verbose: bool,
        /// Accept the license non-interactively (recorded once per data directory). The environment
        /// variable OSPREY_ACCEPT_LICENSE=yes (or true, 1) does the same.
        #[arg(long)]
        accept_license: bool,
    },
    /// Validate configuration files; exits non-zero naming the file, line, column and key of the first problem.
    CheckConfig {
        /// Check secret sources exist in the file without reading secret files or variables (build hosts, CI).
        #[arg(long)]
        no_secrets: bool,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the release signature.
    Version,
    /// Write a support bundle (.tar.gz, no secrets) to attach to a support case.
    SupportBundle {
        #[arg(long, short, default_value = "config/osprey.toml")]
        config: PathBuf,
        /// Output file.
        #[arg(long, short, default_value = "osprey-support.tar.gz")]
        out: PathBuf,
        /// A log file whose tail (last 5000 lines) is included.
        #[arg(long)]
        log: Option<PathBuf>,
    },
    /// Identity store maintenance.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Which routing table, rule and backend a bucket of a tenant would get, and where it is placed
    /// today. The tenant is named by its Osprey tenant id, a Cloud Director org id, or its name.
    ExplainRoute {
        #[arg(long, short, default_value = "config/osprey.toml")]
        config: PathBuf,
        tenant: String,
        bucket: String,
    },
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Copy the configured SQLite store into PostgreSQL (created or migrated to this release's
    /// schema). Idempotent: a second run copies nothing. Every source row is then checked in
    /// PostgreSQL and the counts printed. Refused while `osprey serve` runs on the data directory.
    Migrate {
        /// The configuration of the SQLite store ([store] kind = "sqlite").
        #[arg(long, short, default_value = "config/osprey.toml")]
        config: PathBuf,
        /// Target: postgres://user[:password]@host[:port]/database
        #[arg(long)]
        to: String,
        /// File holding the target's password (the URL then has none).
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// disable, prefer (default), require or verify-full (as libpq's sslmode).
        #[arg(long)]
        sslmode: Option<String>,
        /// PEM CA certificates for --sslmode verify-full (default: the Mozilla roots).
        #[arg(long)]
        ca_file: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    // before any thread starts: mimalloc's purge delay (src/alloc.rs)
    osprey::alloc::tune();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            config,
            verbose,
            accept_license,
        } => match osprey::server::run(osprey::server::ServeOptions {
            config,
            verbose,
            accept_license: accept_license
                || std::env::var("OSPREY_ACCEPT_LICENSE").is_ok_and(|v| {
                    matches!(
                        v.trim().to_ascii_lowercase().as_str(),
                        "yes" | "y" | "true" | "1" | "on"
                    )
                }),
        }) {
            Ok(()) => {
                osprey::telemetry::flush();
                ExitCode::SUCCESS
            }
            Err(e) => {
                // what was logged before the error first, then the error
                osprey::telemetry::flush();
                eprintln!("osprey: {e:#}");
                ExitCode::from(1)
            }
        },
        Command::ExplainRoute {
            config,
            tenant,
            bucket,
        } => match osprey::server::explain::explain_route(&config, &tenant, &bucket) {
            Ok(text) => {
                println!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("osprey: {e:#}");
                ExitCode::from(2)
            }
        },
        Command::SupportBundle { config, out, log } => {
            match osprey::server::support::support_bundle(&osprey::server::support::BundleOptions {
                config,
                out: out.clone(),
                log,
            }) {
                Ok(parts) => {
                    println!("{}: {}", out.display(), parts.join(", "));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("osprey: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Store {
            command:
                StoreCommand::Migrate {
                    config,
                    to,
                    password_file,
                    sslmode,
                    ca_file,
                },
        } => match osprey::server::store_cmd::migrate(&osprey::server::store_cmd::MigrateOptions {
            config,
            to,
            password_file,
            sslmode,
            ca_file,
        }) {
            Ok(report) => {
                print!("{report}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("osprey: {e:#}");
                ExitCode::from(1)
            }
        },
        Command::Version => {
            println!("{}", osprey::version::signature());
            ExitCode::SUCCESS
        }
        Command::CheckConfig { no_secrets, files } => {
            let mut env = osprey::config::Env::from_process();
            env.skip_secrets = no_secrets;
            let mut failed = false;
            for f in &files {
                match osprey::config::load_with_env(f, &env) {
                    Ok(c) => println!(
                        "{}: ok ({} backend(s), {} routing table(s), {} tenant assignment(s))",
                        f.display(),
                        c.backends.len(),
                        c.routing.tables.len(),
                        c.routing.tenants.len()
                    ),
                    Err(e) => {
                        eprintln!("{e}");
                        failed = true;
                    }
                }
            }
            if failed {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}
