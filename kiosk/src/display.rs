//! Which display the touch screen draws on.
//!
//! A kiosk runs no X server: it draws straight on the console's DRM/KMS device with Slint's
//! software renderer and reads touches through libinput (`kms`). A technician's laptop, a
//! desktop and Xvfb use an X11 window (`x11`). `auto`, the default, takes X11 when an X server
//! is there (`DISPLAY`) and KMS otherwise. Before Slint is asked for
//! the console, the devices it needs are checked, so a missing graphics device or a missing
//! permission is told in words a technician can act on instead of a backend's error.

use std::path::{Path, PathBuf};

/// `[ui] display` in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DisplayChoice {
    /// X11 when a display server is there, else the console (KMS).
    #[default]
    Auto,
    /// The console's DRM/KMS device, touch through libinput.
    Kms,
    /// An X11 window.
    X11,
}

impl DisplayChoice {
    /// Parses the config value.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "auto" => Some(Self::Auto),
            "kms" => Some(Self::Kms),
            "x11" => Some(Self::X11),
            _ => None,
        }
    }
}

/// Why the touch screen cannot be shown.
#[derive(Debug, thiserror::Error)]
pub enum DisplayError {
    /// No DRM device node at all.
    #[error("không có thiết bị hiển thị DRM trong {0} / no DRM display device in {0}: this machine has no graphics output the kiosk can draw on without X (check that the graphics driver is loaded: `ls /dev/dri`), or set [ui] display = \"x11\" on a desktop")]
    NoDrmDevice(PathBuf),
    /// A DRM device the service may not open.
    #[error("không mở được {path} / cannot open {path}: {source}; the motcua user needs the video group (the package's udev rules grant it) and the unit must allow /dev/dri")]
    DrmNotAccessible {
        /// The device node.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// No input device can be read: touches would not arrive.
    #[error("không đọc được thiết bị cảm ứng trong {0} / no readable input device in {0}: touches would not reach the kiosk; the motcua user needs the input group (the package's udev rules grant it)")]
    NoInput(PathBuf),
    /// X11 was asked for but there is no display server.
    #[error("không có màn hình X / no X display: DISPLAY is not set; on a kiosk without X set [ui] display = \"kms\" (or \"auto\")")]
    NoX11Display,
    /// Slint could not start the backend.
    #[error("không khởi động được màn hình / cannot start the {backend} display: {detail}")]
    Backend {
        /// `linuxkms` or `winit`.
        backend: &'static str,
        /// Slint's error.
        detail: String,
    },
}

/// What was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chosen {
    /// The console (KMS).
    Kms,
    /// An X11 window.
    X11,
}

/// Whether an X server is there (only the X11 window backend is built in: a Wayland-only
/// session without Xwayland gets the console, which then says what it lacks).
fn display_server_present() -> bool {
    std::env::var_os("DISPLAY").is_some()
}

/// Resolves `auto` for this machine.
pub fn resolve(choice: DisplayChoice) -> Chosen {
    match choice {
        DisplayChoice::Kms => Chosen::Kms,
        DisplayChoice::X11 => Chosen::X11,
        DisplayChoice::Auto if display_server_present() => Chosen::X11,
        DisplayChoice::Auto => Chosen::Kms,
    }
}

fn nodes(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    found.sort();
    found
}

/// Checks that the console can be drawn on and touched: a DRM card under `dri` that opens
/// read-write, and an input event device under `input` that opens for reading.
pub fn check_kms_devices(dri: &Path, input: &Path) -> Result<(), DisplayError> {
    let cards = nodes(dri, "card");
    let Some(first) = cards.first() else {
        return Err(DisplayError::NoDrmDevice(dri.to_owned()));
    };
    let mut last_error = None;
    let opened = cards.iter().any(|card| {
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(card)
        {
            Ok(_) => true,
            Err(e) => {
                last_error = Some(e);
                false
            }
        }
    });
    if !opened {
        return Err(DisplayError::DrmNotAccessible {
            path: first.clone(),
            source: last_error
                .unwrap_or_else(|| std::io::Error::other("no card device could be opened")),
        });
    }
    let readable = nodes(input, "event")
        .iter()
        .any(|dev| std::fs::File::open(dev).is_ok());
    if !readable {
        return Err(DisplayError::NoInput(input.to_owned()));
    }
    Ok(())
}

/// Selects Slint's backend for `choice` (before the first window is made), checking the
/// devices first. Always the software renderer: kiosk boards have no GPU worth the risk, and
/// it gives the same pixels as the headless and Xvfb tests.
pub fn select(choice: DisplayChoice) -> Result<Chosen, DisplayError> {
    let chosen = resolve(choice);
    let backend = match chosen {
        Chosen::Kms => {
            check_kms_devices(Path::new("/dev/dri"), Path::new("/dev/input"))?;
            "linuxkms"
        }
        Chosen::X11 => {
            if !display_server_present() {
                return Err(DisplayError::NoX11Display);
            }
            "winit"
        }
    };
    slint::BackendSelector::new()
        .backend_name(backend.into())
        .renderer_name("software".into())
        .select()
        .map_err(|e| DisplayError::Backend {
            backend,
            detail: e.to_string(),
        })?;
    tracing::info!(backend, "display selected");
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_machine_without_a_drm_device_is_told_so() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dri = tmp.path().join("dri");
        let input = tmp.path().join("input");
        std::fs::create_dir_all(&dri).expect("dri");
        std::fs::create_dir_all(&input).expect("input");
        let e = check_kms_devices(&dri, &input).expect_err("no card");
        assert!(matches!(e, DisplayError::NoDrmDevice(_)), "{e}");
        assert!(e.to_string().contains("no DRM display device"), "{e}");
        // A card node that cannot be opened (a plain file stands in for one the service may
        // not open: here it is read-only) names the permission to grant.
        let card = dri.join("card0");
        std::fs::write(&card, b"").expect("card");
        let mut perms = std::fs::metadata(&card).expect("meta").permissions();
        perms.set_readonly(true);
        std::fs::set_permissions(&card, perms).expect("chmod");
        let e = check_kms_devices(&dri, &input).expect_err("unopenable card");
        // As root a read-only file still opens for writing; then the missing input speaks.
        match e {
            DisplayError::DrmNotAccessible { .. } => {
                assert!(e.to_string().contains("video group"), "{e}")
            }
            DisplayError::NoInput(_) => assert!(e.to_string().contains("input group"), "{e}"),
            other => panic!("unexpected: {other}"),
        }
    }

    #[test]
    fn config_values_parse_and_auto_follows_the_environment() {
        assert_eq!(DisplayChoice::parse("kms"), Some(DisplayChoice::Kms));
        assert_eq!(DisplayChoice::parse("x11"), Some(DisplayChoice::X11));
        assert_eq!(DisplayChoice::parse("auto"), Some(DisplayChoice::Auto));
        assert_eq!(DisplayChoice::parse("wayland"), None);
        assert_eq!(resolve(DisplayChoice::Kms), Chosen::Kms);
        assert_eq!(resolve(DisplayChoice::X11), Chosen::X11);
        let expected = if display_server_present() {
            Chosen::X11
        } else {
            Chosen::Kms
        };
        assert_eq!(resolve(DisplayChoice::Auto), expected);
    }
}
