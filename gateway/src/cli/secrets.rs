//! Secrets and credential files of `gateway serve`: from an option, a file option, or a systemd
//! credential (`$CREDENTIALS_DIRECTORY/<name>`, given by `LoadCredential=`), so that no secret
//! has to be on a command line.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// Where a secret comes from, in the order tried.
pub(crate) enum Secret {
    /// The option or its environment variable.
    Given(String),
    /// A file named by an option.
    File(PathBuf),
}

/// The secret `name`: from the option, the file option, or the systemd credential `name`
/// (`$CREDENTIALS_DIRECTORY/name`); `None` when none of them is there. One trailing newline
/// is removed from files; an empty value is refused.
pub(crate) fn secret(
    given: Option<Secret>,
    name: &str,
    what: &str,
) -> anyhow::Result<Option<String>> {
    let from_file = |path: &Path| -> anyhow::Result<String> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the {what} from {}", path.display()))?;
        let value = text.strip_suffix('\n').unwrap_or(&text);
        let value = value.strip_suffix('\r').unwrap_or(value);
        anyhow::ensure!(
            !value.trim().is_empty(),
            "the {what} file {} is empty",
            path.display()
        );
        Ok(value.to_owned())
    };
    match given {
        Some(Secret::Given(value)) => {
            anyhow::ensure!(!value.trim().is_empty(), "the {what} is empty");
            Ok(Some(value))
        }
        Some(Secret::File(path)) => from_file(&path).map(Some),
        None => match std::env::var_os("CREDENTIALS_DIRECTORY") {
            Some(dir) => {
                let path = Path::new(&dir).join(name);
                if path.exists() {
                    from_file(&path).map(Some)
                } else {
                    Ok(None)
                }
            }
            None => Ok(None),
        },
    }
}

pub(crate) fn required_secret(
    value: Option<String>,
    file: Option<PathBuf>,
    name: &str,
    what: &str,
    option: &str,
) -> anyhow::Result<String> {
    let given = value.map(Secret::Given).or(file.map(Secret::File));
    secret(given, name, what)?.ok_or_else(|| {
        anyhow::anyhow!(
            "no {what}: give {option}-file FILE, or run under systemd with \
             LoadCredential={name}:FILE (the packaged unit reads /etc/motcua/gateway/{name})"
        )
    })
}

/// A file from its option, else the systemd credential `name`; an error naming both if
/// neither is there. The file is not read here (the gateway reads it, and re-reads the TLS
/// files on SIGHUP).
pub(crate) fn credential_file(
    given: Option<PathBuf>,
    name: &str,
    what: &str,
    option: &str,
) -> anyhow::Result<PathBuf> {
    if let Some(path) = given {
        return Ok(path);
    }
    if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") {
        let path = Path::new(&dir).join(name);
        if path.exists() {
            return Ok(path);
        }
    }
    anyhow::bail!(
        "no {what}: give {option} FILE, or run under systemd with LoadCredential={name}:FILE \
         (`gateway ca init` makes the files)"
    )
}

/// A file from its option, else the systemd credential `name` if it is there, else `None`
/// (for what the gateway can run without, like the provisioning key).
pub(crate) fn optional_credential_file(given: Option<PathBuf>, name: &str) -> Option<PathBuf> {
    given.or_else(|| {
        let path = Path::new(&std::env::var_os("CREDENTIALS_DIRECTORY")?).join(name);
        path.exists().then_some(path)
    })
}
