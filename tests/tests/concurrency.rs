//! kioskd and several kioskctl processes share one store at the same time: every submission is
//! accepted with its own code, and every one reaches the gateway exactly once.

use std::collections::HashSet;
use std::time::Duration;

use motcua_tests::{dossier_json, Gateway, Kiosk, KioskSettings};

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_writers_and_the_daemon_share_the_store() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let gateway = Gateway::start(&tmp.path().join("gateway"), None, 0)?;
    let mut kiosk = Kiosk::enrolled(&tmp.path().join("kiosk"), &KioskSettings::new(&gateway))?;
    kiosk.start_daemon()?;

    let writers: Vec<_> = (0..4)
        .map(|w| {
            let dir = tmp.path().join(format!("w{w}"));
            let config = kiosk.config.clone();
            std::thread::spawn(move || -> anyhow::Result<Vec<String>> {
                std::fs::create_dir_all(&dir)?;
                let kiosk = Kiosk::attach(&config);
                let mut codes = Vec::new();
                for i in 0..5 {
                    // Writer 0 and 1 share content, so the same blob is stored concurrently.
                    let name = format!("scan-{i}.pdf");
                    let seed = if w < 2 { 0 } else { w };
                    std::fs::write(
                        dir.join(&name),
                        format!("page {i} of writer {seed}").repeat(5000),
                    )?;
                    let json = dossier_json(&dir, "1.001193", &[&name])?;
                    codes.push(kiosk.submit(&json)?);
                    kiosk.ctl_ok(&["status"])?;
                }
                Ok(codes)
            })
        })
        .collect();
    let mut codes = Vec::new();
    for w in writers {
        codes.extend(w.join().map_err(|_| anyhow::anyhow!("writer panicked"))??);
    }
    let unique: HashSet<_> = codes.iter().collect();
    assert_eq!(
        unique.len(),
        20,
        "every submission has its own code: {codes:?}"
    );

    kiosk.wait_delivered(Duration::from_secs(60), "all 20 dossiers delivered")?;
    let stats = gateway.stats().await?;
    assert_eq!(stats["dossiers"], 20, "{stats}");
    Ok(())
}
