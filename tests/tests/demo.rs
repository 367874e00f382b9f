//! The README's run command: `kioskd demo` starts a kiosk with an embedded gateway, accepts a
//! sample dossier and delivers it.

use std::process::Command;

use motcua_tests::bin;

#[test]
fn the_demo_delivers_its_sample_dossier() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let out = Command::new(bin("kioskd"))
        .args(["demo", "--no-window", "--seconds", "4", "--data-dir"])
        .arg(tmp.path())
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("sample dossier 000.17.22.H56-"), "{stdout}");
    assert!(stdout.contains("1 delivered, 0 pending"), "{stdout}");

    // The config it wrote works with kioskctl.
    let status = Command::new(bin("kioskctl"))
        .arg("--config")
        .arg(tmp.path().join("kiosk.toml"))
        .arg("dossiers")
        .output()?;
    assert!(status.status.success());
    assert!(String::from_utf8_lossy(&status.stdout).contains("đã gửi/delivered"));
    Ok(())
}
