//! `kioskctl provision`: the provisioning steps with the setup code read from a file (or
//! standard input), one progress line per step on standard output, the reason on standard
//! error and a failure exit code when a step fails. Running it again with the same code
//! resumes where it stopped.

use std::io::Read;
use std::path::Path;

use anyhow::Context;
use motcua_kiosk::config::BootstrapConfig;
use motcua_kiosk::provisioning::{self, Progress};

use crate::runtime;

/// `kioskctl provision --qr-file F`.
pub(crate) fn provision(config_path: &Path, qr_file: &Path) -> anyhow::Result<()> {
    let bootstrap = BootstrapConfig::load(config_path)?;
    let text = if qr_file == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context(
            "không đọc được mã từ đầu vào / cannot read the setup code from standard input",
        )?;
        text
    } else {
        std::fs::read_to_string(qr_file).with_context(|| {
            format!(
                "không đọc được tệp mã / cannot read the setup code file {}",
                qr_file.display()
            )
        })?
    };
    let started = std::time::Instant::now();
    let mut progress = |p: &Progress| match p {
        Progress::Started(step) => println!("… {}", step.label()),
        Progress::Done(step, detail) => println!("✓ {} — {detail}", step.label()),
        Progress::Failed(step, _) => println!("✗ {}", step.label()),
    };
    let report = runtime()?.block_on(provisioning::provision(
        &bootstrap,
        text.trim(),
        chrono::Utc::now().timestamp(),
        None,
        &mut progress,
    ))?;
    println!(
        "Đã cấu hình xong / provisioned in {:.1} s: {} at {} (profile {}, blocks {}), config {}",
        started.elapsed().as_secs_f64(),
        report.config.device.id,
        report.config.device.agency_code,
        report.profile,
        provisioning::blocks_text(&report.blocks),
        report.path.display()
    );
    for r in &report.self_test {
        let mark = if r.skipped {
            "–"
        } else if r.passed {
            "✓"
        } else {
            "✗"
        };
        println!("  {mark} {}: {}", r.device, r.message);
    }
    Ok(())
}
