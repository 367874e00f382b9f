//! The provisioned config file, `<data_dir>/kiosk.toml`: composed from the setup code (who
//! and where), the bootstrap (`[store]`, and the peripheral tables the profile does not set:
//! the serial port of this box's code reader is the box's, not the province's) and the
//! profile's text; validated with the kiosk's own parser before it replaces anything, and
//! written atomically (temporary file, fsync, rename, folder fsync), so kioskd never reads a
//! half-written or invalid config.
//!
//! Its first lines say which profile it was made from (`# motcua-profile: NAME SHA256`), so a
//! re-run of provisioning recognises a config already written for the same device and profile.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::config::{BootstrapConfig, ConfigError, KioskConfig};

const PROFILE_MARK: &str = "# motcua-profile: ";
const DEVICE_MARK: &str = "# motcua-device: ";

/// Who the config is for and what it is made of.
#[derive(Debug, Clone)]
pub struct ConfigParts<'a> {
    /// The device id.
    pub device_id: &'a str,
    /// The site (agency code).
    pub site: &'a str,
    /// The gateway's `https://` address.
    pub gateway_url: &'a str,
    /// The profile's name.
    pub profile_name: &'a str,
    /// Its SHA-256.
    pub profile_sha256: &'a str,
    /// Its TOML text.
    pub profile_toml: &'a str,
}

/// Why the config could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The profile's text is not a valid part of a kiosk config.
    #[error("hồ sơ cấu hình {profile} không hợp lệ, dòng {line} / the profile {profile} is not valid at its line {line}: {message}")]
    InvalidProfile {
        /// The profile's name.
        profile: String,
        /// 1-based line in the profile's text.
        line: usize,
        /// What the kiosk's parser said.
        message: String,
    },
    /// The composed config is invalid outside the profile (the bootstrap's tables).
    #[error(
        "cấu hình ghép từ phiếu và hồ sơ không hợp lệ / the composed config is not valid: {0}"
    )]
    Invalid(ConfigError),
    /// The file cannot be written.
    #[error("không ghi được cấu hình / cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The peripheral tables whose device addresses belong to the box: when the bootstrap sets one,
/// it wins over the profile's (the code reader that just read the setup code must keep working,
/// whatever port the province's profile names).
const BOX_TABLES: [&str; 3] = ["printer", "code_reader", "scanner"];

/// The config text for `parts`, and the line (0-based) where the profile's text begins.
pub fn compose(bootstrap: &BootstrapConfig, parts: &ConfigParts<'_>) -> (String, usize) {
    let box_tables = bootstrap.box_tables();
    // The profile's text is kept as it is (its comments, and its line numbers in errors) unless
    // it sets a table the box sets too; then it is written again without that table.
    let profile_text = match parts.profile_toml.parse::<toml::Table>() {
        Ok(mut table) if box_tables.iter().any(|t| table.contains_key(*t)) => {
            for name in &box_tables {
                table.remove(*name);
            }
            toml::to_string(&table).unwrap_or_else(|_| parts.profile_toml.to_owned())
        }
        _ => parts.profile_toml.to_owned(),
    };
    let quoted = |s: &str| toml::Value::String(s.to_owned()).to_string();
    let mut text = format!(
        "# Ghi bởi bước cấu hình ban đầu, đừng sửa tay / written by provisioning, do not edit:\n\
         # scan a new setup code (kioskctl provision) or ask for refresh_config instead.\n\
         {PROFILE_MARK}{} {}\n\
         {DEVICE_MARK}{}\n\n\
         [device]\nid = {}\nagency_code = {}\n\n[gateway]\nurl = {}\n\n",
        parts.profile_name,
        parts.profile_sha256,
        parts.device_id,
        quoted(parts.device_id),
        quoted(parts.site),
        quoted(parts.gateway_url),
    );
    // `[store]` always, and the box's peripheral tables; the profile's own peripheral tables
    // are used where the box has none.
    let profile_sets: Vec<String> = profile_text
        .parse::<toml::Table>()
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default();
    let skip: Vec<&str> = BOX_TABLES
        .into_iter()
        .filter(|t| profile_sets.iter().any(|p| p == t))
        .collect();
    text.push_str(&bootstrap.carried_tables(&skip));
    text.push_str(&format!(
        "# --- hồ sơ / profile {} ---\n",
        parts.profile_name
    ));
    let offset = text.lines().count();
    text.push_str(&profile_text);
    if !text.ends_with('\n') {
        text.push('\n');
    }
    (text, offset)
}

/// Composes, validates and writes the config; returns it parsed, its path, and whether the
/// file already held exactly this config (a re-run with the same code and profile: nothing is
/// written). Any difference (another site, gateway, device or profile, or a changed bootstrap)
/// writes the file again.
pub fn write(
    bootstrap: &BootstrapConfig,
    parts: &ConfigParts<'_>,
) -> Result<(KioskConfig, PathBuf, bool), ConfigFileError> {
    let path = bootstrap.provisioned_path();
    let (text, offset) = compose(bootstrap, parts);
    let config = match KioskConfig::parse(&text, &path.display().to_string()) {
        Ok(c) => c,
        Err(ConfigError::Invalid { line, message, .. }) if line > offset => {
            return Err(ConfigFileError::InvalidProfile {
                profile: parts.profile_name.to_owned(),
                line: line - offset,
                message,
            })
        }
        Err(e) => return Err(ConfigFileError::Invalid(e)),
    };
    if std::fs::read_to_string(&path).is_ok_and(|old| old == text) {
        return Ok((config, path, true));
    }
    write_atomically(&path, text.as_bytes()).map_err(|source| ConfigFileError::Write {
        path: path.clone(),
        source,
    })?;
    Ok((config, path, false))
}

/// The device and profile hash a provisioned config was written for, if it is one.
pub fn written_for(path: &Path) -> Option<(String, String)> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut device = None;
    let mut profile = None;
    for line in text.lines().take(6) {
        if let Some(rest) = line.strip_prefix(DEVICE_MARK) {
            device = Some(rest.trim().to_owned());
        }
        if let Some(rest) = line.strip_prefix(PROFILE_MARK) {
            profile = rest.split_whitespace().nth(1).map(str::to_owned);
        }
    }
    Some((device?, profile?))
}

/// The owner of `dir` when it is not the caller (`kioskctl` run as root writes into the data
/// folder of the service user `motcua`): what new files there must be given to.
fn folder_owner(dir: &Path) -> Option<(u32, u32)> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(dir).ok()?;
    let me = std::fs::metadata("/proc/self").ok()?;
    (meta.uid() != me.uid()).then_some((meta.uid(), meta.gid()))
}

/// Writes `bytes` to `path` through a temporary file in the same folder: given to the folder's
/// owner, fsynced, renamed, the folder fsynced. A crash leaves the old file or the new one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".provisioning.")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    if let Some((uid, gid)) = folder_owner(dir) {
        std::os::unix::fs::fchown(tmp.as_file(), Some(uid), Some(gid))?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

/// Gives what a root `kioskctl provision` created in the data folder (the database and its
/// `-wal`/`-shm`, folders the store made) to the folder's owner, so the service user can open
/// it. Two levels deep, symbolic links themselves (never their targets), only entries owned
/// by the caller. Nothing to do when the caller owns the folder.
pub fn give_back_to_owner(data_dir: &Path) -> std::io::Result<usize> {
    use std::os::unix::fs::MetadataExt as _;
    let Some((uid, gid)) = folder_owner(data_dir) else {
        return Ok(0);
    };
    let me = std::fs::metadata("/proc/self")?.uid();
    let mut given = 0;
    let mut dirs = vec![(data_dir.to_path_buf(), 0)];
    while let Some((dir, depth)) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let meta = entry.path().symlink_metadata()?;
            if meta.uid() == me {
                std::os::unix::fs::lchown(entry.path(), Some(uid), Some(gid))?;
                given += 1;
            }
            if meta.is_dir() && depth < 1 {
                dirs.push((entry.path(), depth + 1));
            }
        }
    }
    Ok(given)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bootstrap(dir: &Path) -> BootstrapConfig {
        let text = format!(
            "[store]\ndata_dir = {:?}\n[provisioning]\nkey = \"ed25519:11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"\n[printer]\ntransport = \"tcp\"\naddress = \"127.0.0.1:9100\"\n",
            dir.display()
        );
        BootstrapConfig::parse(&text, &dir.join("boot.toml")).unwrap()
    }

    fn parts(profile: &str) -> ConfigParts<'_> {
        ConfigParts {
            device_id: "000.17.22.H56-K001",
            site: "000.17.22.H56",
            gateway_url: "https://gw.example:8700",
            profile_name: "commune-desk",
            profile_sha256: "ab12",
            profile_toml: profile,
        }
    }

    #[test]
    fn the_config_is_composed_validated_and_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let b = bootstrap(dir.path());
        let (config, path, already) = write(&b, &parts("[rating]\nlevels = 3\n")).unwrap();
        assert!(!already);
        assert_eq!(config.device.id, "000.17.22.H56-K001");
        assert_eq!(config.device.agency_code, "000.17.22.H56");
        assert!(config.device.sequence.is_none());
        assert!(
            config.peripherals.printer.is_some(),
            "carried from the bootstrap"
        );
        assert_eq!(config.store.data_dir, dir.path());
        assert_eq!(
            written_for(&path),
            Some(("000.17.22.H56-K001".into(), "ab12".into()))
        );
        // The same code and profile again: recognised, nothing written.
        let (_, _, already) = write(&b, &parts("[rating]\nlevels = 3\n")).unwrap();
        assert!(already);
        // The same device id and profile for another site: written again with that site.
        let mut elsewhere = parts("[rating]\nlevels = 3\n");
        elsewhere.site = "000.17.22.H57";
        let (config, _, already) = write(&b, &elsewhere).unwrap();
        assert!(!already);
        assert_eq!(config.device.agency_code, "000.17.22.H57");
        assert_eq!(
            KioskConfig::load(&path).unwrap().device.agency_code,
            "000.17.22.H57"
        );
    }

    #[test]
    fn the_gateways_example_profile_makes_a_valid_config() {
        let dir = tempfile::tempdir().unwrap();
        let b = bootstrap(dir.path());
        let profile = include_str!("../../../deploy/gateway/profiles/commune-desk.toml");
        let (config, _, _) = write(&b, &parts(profile)).unwrap();
        assert!(config.peripherals.code_reader.is_some());
        assert!(config.device.sequence.is_none());
    }

    #[test]
    fn an_invalid_profile_is_named_with_its_line_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let b = bootstrap(dir.path());
        let err = write(
            &b,
            &parts("[rating]\nlevels = 3\n\n[uplink]\nchunk_kib = 1\n"),
        )
        .unwrap_err();
        match &err {
            ConfigFileError::InvalidProfile { profile, line, .. } => {
                assert_eq!((profile.as_str(), *line), ("commune-desk", 5), "{err}");
            }
            other => panic!("expected an invalid profile, got {other}"),
        }
        assert!(!b.provisioned_path().exists());
        // The box's own [printer] wins over the profile's (its address is the box's); the
        // profile's [scanner] is used, the bootstrap having none.
        let (config, _, _) = write(
            &b,
            &parts("[printer]\ntransport = \"usb\"\npath = \"/tmp/p\"\n\n[scanner]\nkind = \"sane\"\ndevice = \"test:profile\"\n"),
        )
        .unwrap();
        let printer = format!("{:?}", config.peripherals.printer);
        assert!(printer.contains("127.0.0.1:9100"), "{printer}");
        assert!(!printer.contains("/tmp/p"), "{printer}");
        assert!(
            format!("{:?}", config.peripherals.scanner).contains("test:profile"),
            "{:?}",
            config.peripherals.scanner
        );
    }

    /// `kioskctl provision` as root in the service user's data folder: what it created there
    /// is given to the folder's owner, so kioskd (user motcua) can open it.
    #[test]
    fn files_made_by_another_user_are_given_to_the_folders_owner() {
        use std::os::unix::fs::MetadataExt as _;
        let dir = tempfile::tempdir().unwrap();
        let me = std::fs::metadata("/proc/self").unwrap().uid();
        std::fs::write(dir.path().join("kiosk.db"), b"x").unwrap();
        if me != 0 {
            // Not root: the caller owns the folder, nothing to give.
            assert_eq!(give_back_to_owner(dir.path()).unwrap(), 0);
            return;
        }
        let (uid, gid) = (65534, 65534);
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        std::fs::create_dir(dir.path().join("blobs")).unwrap();
        std::fs::write(dir.path().join("blobs/part"), b"y").unwrap();
        assert_eq!(give_back_to_owner(dir.path()).unwrap(), 3);
        for f in ["kiosk.db", "blobs", "blobs/part"] {
            assert_eq!(
                std::fs::metadata(dir.path().join(f)).unwrap().uid(),
                uid,
                "{f}"
            );
        }
        write_atomically(&dir.path().join("kiosk.toml"), b"[rating]\n").unwrap();
        assert_eq!(
            std::fs::metadata(dir.path().join("kiosk.toml"))
                .unwrap()
                .uid(),
            uid
        );
    }

    /// The data key a root `kioskctl provision` made with the store goes to the folder's owner
    /// too, still readable by that owner only.
    #[test]
    fn the_data_key_is_given_to_the_folders_owner_and_stays_private() {
        use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
        let dir = tempfile::tempdir().unwrap();
        if std::fs::metadata("/proc/self").unwrap().uid() != 0 {
            return;
        }
        let (uid, gid) = (65534, 65534);
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        drop(motcua_store::Store::open(dir.path(), 0).unwrap());
        give_back_to_owner(dir.path()).unwrap();
        let key = std::fs::metadata(dir.path().join("data.key")).unwrap();
        assert_eq!(key.uid(), uid);
        assert_eq!(key.permissions().mode() & 0o777, 0o600);
    }
}
