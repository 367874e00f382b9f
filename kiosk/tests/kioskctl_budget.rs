//! `kioskctl status` tells a technician about the daily upload budget of a metered link: what
//! is used today, and once it is used up, that documents wait and when they resume, Vietnamese
//! first; `--json` carries the same. The count is the one the uplink keeps in the kiosk's real
//! SQLite store.

use std::path::Path;
use std::process::Command;

fn write_config(dir: &Path, budget: Option<u64>) -> std::path::PathBuf {
    let path = dir.join("kiosk.toml");
    let budget = budget.map_or_else(String::new, |mib| {
        format!("\n[uplink]\ndaily_upload_budget_mib = {mib}\n")
    });
    std::fs::write(
        &path,
        format!(
            "[device]\nid = \"KIOSK-LAB-02\"\nagency_code = \"000.17.22.H56\"\nsequence_first = 1\nsequence_last = 99\n\n[store]\ndata_dir = \"{}\"\n\n[gateway]\nurl = \"https://127.0.0.1:9\"\n{budget}",
            dir.join("kiosk").display()
        ),
    )
    .unwrap();
    path
}

fn status(config: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kioskctl"))
        .arg("--config")
        .arg(config)
        .arg("status")
        .args(args)
        .output()
        .expect("kioskctl runs");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn status_says_the_budget_is_used_up_and_when_documents_resume() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), Some(1));
    let today = motcua_store::vietnam_now().date_naive();
    let mut store = motcua_store::Store::open(&dir.path().join("kiosk"), 0).unwrap();
    store.count_upload_bytes(today, 512 * 1024).unwrap();
    let text = status(&config, &[]);
    assert!(
        text.contains("hạn mức tải lên hôm nay / today's upload budget: 0.5/1.0 MiB"),
        "{text}"
    );

    store.count_upload_bytes(today, 512 * 1024).unwrap();
    let text = status(&config, &[]);
    let tomorrow = today.succ_opt().unwrap().format("%d/%m/%Y").to_string();
    let line = text
        .lines()
        .find(|l| l.contains("hết hạn mức tải lên hôm nay"))
        .unwrap_or_else(|| panic!("no used-up line: {text}"));
    assert!(
        line.contains(&format!("00:00 {tomorrow}")) && line.contains("used up"),
        "{line}"
    );
    let json: serde_json::Value = serde_json::from_str(&status(&config, &["--json"])).unwrap();
    let budget = &json["upload_budget"];
    assert_eq!(budget["used_up"], true, "{json}");
    assert_eq!(budget["limit_bytes"], 1024 * 1024);
    assert_eq!(budget["used_bytes"], 1024 * 1024);
    assert_eq!(budget["day"], today.to_string());

    // Without a budget in the config nothing is said about it.
    let config = write_config(dir.path(), None);
    assert!(!status(&config, &[]).contains("hạn mức"));
    let json: serde_json::Value = serde_json::from_str(&status(&config, &["--json"])).unwrap();
    assert!(json.get("upload_budget").is_none(), "{json}");
}
