//! License acceptance at install (partner-program guide): Osprey refuses to serve until the license
//! has been accepted once for a data directory; the acceptance is recorded with date and version.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

/// The license text shipped in the binary, so the prompt can show it on any machine.
pub const LICENSE_TEXT: &str = include_str!("../../LICENSE");
/// File recording the acceptance inside the data directory.
pub const ACCEPTED_FILE: &str = "LICENSE.accepted";

/// Why Osprey does not start for a data directory.
#[derive(Debug, thiserror::Error)]
pub enum LicenseError {
    #[error(
        "the Osprey license (LICENSE) has not been accepted for data directory {}; \
         start once with --accept-license (or OSPREY_ACCEPT_LICENSE=yes) to accept it",
        .0.display()
    )]
    NotAccepted(std::path::PathBuf),
    #[error("cannot record license acceptance in {}: {source}", .file.display())]
    Record {
        file: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// Ensure the license is accepted: already recorded, accepted by flag/env, or at an interactive prompt.
pub fn ensure_accepted(data_dir: &Path, accept_flag: bool) -> Result<(), LicenseError> {
    let marker = data_dir.join(ACCEPTED_FILE);
    if marker.exists() {
        return Ok(());
    }
    let accepted = if accept_flag {
        true
    } else if std::io::stdin().is_terminal() {
        println!("{LICENSE_TEXT}");
        print!("Do you accept the Osprey license? Type \"yes\" to accept: ");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        line.trim().eq_ignore_ascii_case("yes")
    } else {
        false
    };
    if !accepted {
        return Err(LicenseError::NotAccepted(data_dir.to_path_buf()));
    }
    let record = format!(
        "accepted {} with {}\n",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"),
        crate::version::signature()
    );
    std::fs::write(&marker, record).map_err(|source| LicenseError::Record {
        file: marker.clone(),
        source,
    })?;
    tracing::info!(file = %marker.display(), "license accepted");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn refuses_without_acceptance_and_records_it() {
        let d = tempfile::tempdir().unwrap();
        // tests run without a terminal on stdin, so no prompt
        assert!(super::ensure_accepted(d.path(), false).is_err());
        super::ensure_accepted(d.path(), true).unwrap();
        assert!(d.path().join(super::ACCEPTED_FILE).exists());
        super::ensure_accepted(d.path(), false).unwrap();
    }
}
