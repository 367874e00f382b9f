//! The config file's parsing and its located errors.

use super::*;

const GOOD: &str = r#"
[device]
id = "KIOSK-H56-0001"
agency_code = "000.17.22.H56"
sequence_first = 1
sequence_last = 4999

[store]
data_dir = "/tmp/x"

[gateway]
url = "https://127.0.0.1:8700/"

[calendar]
holidays = ["2026-09-02"]
"#;

#[test]
fn screen_settings_default_and_errors_point_at_the_line() {
    let c = KioskConfig::parse(GOOD, "kiosk.toml").expect("valid");
    assert_eq!(c.screen.idle.timeout_ms, 60_000);
    assert_eq!(c.screen.idle.warning_ms, 10_000);
    assert_eq!(c.screen.areas.len(), 3);
    assert!(c.screen.pins.staff_pin_hash.is_none());
    let (line, msg) = invalid(&format!(
        "{GOOD}\n[ui]\nidle_timeout_s = 60\nidle_warning_s = 60\n"
    ));
    assert_eq!(line, 19);
    assert!(msg.contains("ui.idle_warning_s"), "{msg}");
    let (line, msg) = invalid(&format!("{GOOD}\n[ui]\nstaff_pin_hash = \"1234\"\n"));
    assert_eq!(line, 18);
    assert!(msg.contains("kioskctl pin staff"), "{msg}");
    let text = format!(
        "{GOOD}\n[[ticket.areas]]\ncode = \"TP\"\nname_vi = \"Tư pháp\"\nname_en = \"Justice\"\ncounters = 2\n\n[[ticket.areas]]\ncode = \"TP\"\nname_vi = \"x\"\nname_en = \"x\"\n"
    );
    let (line, msg) = invalid(&text);
    assert_eq!(line, 24);
    assert!(msg.contains("twice"), "{msg}");
}

fn invalid(text: &str) -> (usize, String) {
    match KioskConfig::parse(text, "kiosk.toml") {
        Err(ConfigError::Invalid { line, message, .. }) => (line, message),
        other => panic!("expected an invalid-config error, got {other:?}"),
    }
}

#[test]
fn good_config_gets_defaults() {
    let c = KioskConfig::parse(GOOD, "kiosk.toml").expect("valid");
    assert_eq!(c.device.id, "KIOSK-H56-0001");
    assert_eq!(c.uplink.gateway_url, "https://127.0.0.1:8700");
    assert_eq!(c.uplink.chunk_bytes, 4 * 1024 * 1024);
    assert_eq!(c.store.min_free_bytes, 200 * 1024 * 1024);
    assert_eq!(c.rating_scale, RatingScale::Five);
    assert!(!c
        .calendar
        .is_working_day(NaiveDate::from_ymd_opt(2026, 9, 2).unwrap()));
}

#[test]
fn errors_point_at_the_line_and_name_the_key() {
    let (line, msg) = invalid(&GOOD.replace("2026-09-02", "2026-02-30"));
    assert_eq!(line, 15);
    assert!(msg.contains("calendar.holidays"), "{msg}");

    let (line, msg) = invalid(&GOOD.replace("000.17.22.H56", "000 17"));
    assert_eq!(line, 4);
    assert!(msg.contains("device.agency_code"), "{msg}");

    let (line, msg) = invalid(&GOOD.replace("https://127", "ftp://127"));
    assert_eq!(line, 12);
    assert!(msg.contains("gateway.url"), "{msg}");

    let (line, msg) = invalid(&GOOD.replace("https://127", "http://127"));
    assert_eq!(line, 12, "plain http is refused at its line");
    assert!(
        msg.contains("gateway.url must start with https://") && msg.contains("http://"),
        "{msg}"
    );

    let (line, msg) = invalid(&format!("{GOOD}\n[rating]\nlevels = 4\n"));
    assert_eq!(line, 18);
    assert!(msg.contains("rating.levels"), "{msg}");
}

#[test]
fn syntax_errors_unknown_keys_and_wrong_types_are_located() {
    let (line, _) = invalid(&GOOD.replace("[store]", "[store"));
    assert_eq!(line, 8);
    let (line, msg) = invalid(&GOOD.replace("data_dir", "data_dri"));
    assert_eq!(line, 9);
    assert!(msg.contains("data_dri"), "{msg}");
    let (line, msg) = invalid(&format!("{GOOD}\n[uplink]\nchunk_kib = \"big\"\n"));
    assert_eq!(line, 18);
    assert!(
        msg.contains("integer") || msg.contains("invalid type"),
        "{msg}"
    );
    let (_, msg) = invalid("[gateway]\nurl = \"https://x\"\n");
    assert!(msg.contains("device"), "{msg}");
    let (line, msg) = invalid(&GOOD.replace("sequence_last = 4999", "sequence_last = 10000"));
    assert_eq!(line, 6, "the offending key's line");
    assert!(msg.contains("sequence_last"), "{msg}");
    let (line, msg) = invalid(&format!("{GOOD}\n[receipt]\nappointment_time = \"2pm\"\n"));
    assert_eq!(line, 18);
    assert!(msg.contains("receipt.appointment_time"), "{msg}");
    let (line, msg) = invalid(&format!("{GOOD}\n[printer]\ntransport = \"bluetooth\"\n"));
    assert_eq!(line, 18);
    assert!(msg.contains("printer.transport"), "{msg}");
    let (line, msg) = invalid(&format!("{GOOD}\n[printer]\ntransport = \"tcp\"\n"));
    assert_eq!(line, 18);
    assert!(msg.contains("printer.address is required"), "{msg}");
    let (line, msg) = invalid(&format!(
        "{GOOD}\n[scanner]\nkind = \"sane\"\ndevice = \"test\"\nmode = \"sepia\"\n"
    ));
    assert_eq!(line, 20);
    assert!(msg.contains("scanner.mode"), "{msg}");
    let (_, msg) = invalid(&GOOD.replace("sequence_last = 4999\n", ""));
    assert!(msg.contains("sequence_last"), "{msg}");
}

#[test]
fn intake_settings_have_defaults_and_located_errors() {
    let c = KioskConfig::parse(GOOD, "kiosk.toml").expect("valid");
    assert_eq!(c.intake.document_code.as_str(), "{dossier}-{index:02}");
    assert_eq!(c.intake.mode, motcua_scanner::pipeline::OutputMode::Auto);
    let c = KioskConfig::parse(
        &format!("{GOOD}\n[intake]\ndocument_code = \"{{date}}_{{dossier}}.{{index:03}}\"\nmode = \"gray\"\n"),
        "kiosk.toml",
    )
    .unwrap();
    assert_eq!(c.intake.mode, motcua_scanner::pipeline::OutputMode::Gray);
    assert_eq!(
        c.intake.document_code.as_str(),
        "{date}_{dossier}.{index:03}"
    );

    // Line 19, column 28: the `{` of `{idx}`.
    let text =
        format!("{GOOD}\n[intake]\nmode = \"auto\"\ndocument_code = \"{{dossier}}-{{idx}}\"\n");
    match KioskConfig::parse(&text, "kiosk.toml") {
        Err(ConfigError::Invalid {
            line,
            column,
            message,
            ..
        }) => {
            assert_eq!((line, column), (19, 28), "{message}");
            assert!(message.contains("intake.document_code"), "{message}");
            assert!(message.contains("{idx}"), "{message}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    let (line, msg) = invalid(&format!("{GOOD}\n[intake]\nmode = \"sepia\"\n"));
    assert_eq!(line, 18);
    assert!(msg.contains("intake.mode"), "{msg}");
    let (line, msg) = invalid(&format!("{GOOD}\n[intake]\njpeg_quality = 100\n"));
    assert_eq!(line, 18);
    assert!(msg.contains("intake.jpeg_quality"), "{msg}");
}

#[test]
fn intake_ocr_is_on_in_vietnamese_by_default_and_its_errors_point_at_the_line() {
    let c = KioskConfig::parse(GOOD, "kiosk.toml").expect("valid");
    assert!(c.intake.ocr.enabled);
    assert_eq!(c.intake.ocr.config.language, "vie");
    let c = KioskConfig::parse(
        &format!(
            "{GOOD}\n[intake]\nocr = false\nocr_language = \"vie+eng\"\nocr_wait_seconds = 30\n"
        ),
        "kiosk.toml",
    )
    .unwrap();
    assert!(!c.intake.ocr.enabled);
    assert_eq!(c.intake.ocr.config.language, "vie+eng");
    assert_eq!(c.intake.ocr.commit_wait, std::time::Duration::from_secs(30));
    let (line, msg) = invalid(&format!(
        "{GOOD}\n[intake]\nocr = true\nocr_language = \"vie; rm\"\n"
    ));
    assert_eq!(line, 19);
    assert!(msg.contains("intake.ocr_language"), "{msg}");
    let (line, msg) = invalid(&format!("{GOOD}\n[intake]\nocr_wait_seconds = 0\n"));
    assert_eq!(line, 18);
    assert!(msg.contains("intake.ocr_wait_seconds"), "{msg}");
}

/// The daily upload budget of a metered link: none by default, MiB in the file, and a 0 or
/// an out-of-range number refused at its line.
#[test]
fn the_daily_upload_budget_is_off_by_default_and_errors_point_at_its_line() {
    let c = KioskConfig::parse(GOOD, "kiosk.toml").expect("valid");
    assert_eq!(c.uplink.daily_upload_budget_bytes, None);
    let c = KioskConfig::parse(
        &format!("{GOOD}\n[uplink]\ndaily_upload_budget_mib = 50\n"),
        "kiosk.toml",
    )
    .unwrap();
    assert_eq!(c.uplink.daily_upload_budget_bytes, Some(50 * 1024 * 1024));
    for bad in ["0", "1048577"] {
        let (line, msg) = invalid(&format!(
            "{GOOD}\n[uplink]\nchunk_kib = 256\ndaily_upload_budget_mib = {bad}\n"
        ));
        assert_eq!(line, 19, "{bad}");
        assert!(msg.contains("uplink.daily_upload_budget_mib"), "{msg}");
        assert!(
            matches!((msg.find("phải từ 1"), msg.find("must be between 1")), (Some(vi), Some(en)) if vi < en),
            "Vietnamese first: {msg}"
        );
    }
    let (line, msg) = invalid(&format!(
        "{GOOD}\n[uplink]\ndaily_upload_budget_mib = \"50MB\"\n"
    ));
    assert_eq!(line, 18);
    assert!(msg.contains("daily_upload_budget_mib"), "{msg}");
}

#[test]
fn unreadable_file_names_the_path() {
    let err = KioskConfig::load(Path::new("/nonexistent/kiosk.toml")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/kiosk.toml"));
}

/// An old SHA-256 PIN key does not stop the kiosk: the config loads with that PIN unset (the
/// screen stays closed) and a warning names the line and the command that replaces it; an
/// Argon2id hash from `kioskctl pin` is taken.
#[test]
fn a_legacy_sha256_pin_leaves_the_screen_closed_with_a_located_warning_and_argon2id_hashes_are_taken(
) {
    let sha = "9613678cf02db7a5d1daf717308eb58956a3f22bb3c26434299ba47075d8ffc3";
    let hash = crate::pins::hash_pin("2468").unwrap();
    let c = KioskConfig::parse(
        &format!(
            "{GOOD}\n[ui]\nidle_timeout_s = 60\n  technician_pin_sha256 = \"{sha}\"\nstaff_pin_hash = \"{hash}\"\n"
        ),
        "kiosk.toml",
    )
    .expect("an upgraded kiosk keeps running");
    assert_eq!(
        c.screen.pins.technician_pin_hash, None,
        "that screen stays closed"
    );
    assert_eq!(c.screen.pins.staff_pin_hash.as_deref(), Some(hash.as_str()));
    assert_eq!(c.screen.idle.timeout_ms, 60_000);
    let [warning] = &c.warnings[..] else {
        panic!("{:?}", c.warnings);
    };
    assert!(warning.contains("kiosk.toml dòng/line 19"), "{warning}");
    assert!(warning.contains("ui.technician_pin_sha256"), "{warning}");
    assert!(warning.contains("kioskctl pin technician"), "{warning}");
    assert!(!warning.contains(sha), "{warning}");
    // An error after it is still reported at its own line.
    let (line, _) = invalid(&format!(
        "{GOOD}\n[ui]\nstaff_pin_sha256 = \"{sha}\"\nidle_timeout_s = 1\n"
    ));
    assert_eq!(line, 19);
    assert!(KioskConfig::parse(GOOD, "kiosk.toml")
        .unwrap()
        .warnings
        .is_empty());
    let hash = crate::pins::hash_pin("2468").unwrap();
    let c = KioskConfig::parse(
        &format!("{GOOD}\n[ui]\nstaff_pin_hash = \"{hash}\"\n"),
        "kiosk.toml",
    )
    .unwrap();
    assert_eq!(c.screen.pins.staff_pin_hash.as_deref(), Some(hash.as_str()));
    assert!(crate::pins::verify_pin(&hash, "2468"));
}

#[test]
fn update_settings_default_and_errors_point_at_the_line() {
    let c = KioskConfig::parse(GOOD, "kiosk.toml").expect("valid");
    assert_eq!(
        c.update.release_public_key_file,
        PathBuf::from("/etc/motcua/release.pub")
    );
    assert_eq!(c.update.window.to_string(), "01:00-05:00");
    assert_eq!(c.update.check_interval, Duration::from_secs(3600));
    assert_eq!(c.update.package, "motcua-kiosk");
    let c = KioskConfig::parse(
        &format!(
            "{GOOD}\n[update]\nmaintenance_window = \"22:00-05:00\"\ncheck_interval_s = 600\n"
        ),
        "kiosk.toml",
    )
    .expect("valid");
    assert_eq!(c.update.window.to_string(), "22:00-05:00");
    assert_eq!(c.update.check_interval, Duration::from_secs(600));
    let (line, msg) = invalid(&format!("{GOOD}\n[update]\nmaintenance_window = \"1-5\"\n"));
    assert_eq!(line, 18);
    assert!(
        msg.contains("update.maintenance_window") && msg.contains("HH:MM"),
        "{msg}"
    );
    let (line, msg) = invalid(&format!("{GOOD}\n[update]\n\ncheck_interval_s = 5\n"));
    assert_eq!(line, 19);
    assert!(msg.contains("update.check_interval_s"), "{msg}");
    let (_, msg) = invalid(&format!("{GOOD}\n[update]\npackage = \"Motcua Kiosk\"\n"));
    assert!(msg.contains("update.package"), "{msg}");
    // A missing key file: updates are off, and the status says why.
    let off = c.update.key().expect_err("no /etc/motcua/release.pub here");
    assert!(off.contains("updates are off"), "{off}");
}

#[test]
fn the_hub_table_is_optional_and_its_errors_point_at_the_line() {
    assert_eq!(KioskConfig::parse(GOOD, "kiosk.toml").unwrap().hub, None);
    let c = KioskConfig::parse(
        &format!(
            "{GOOD}\n[hub]\nurl = \"https://10.0.0.5:8710/\"\ndevice_id = \"KIOSK-H56-HUB\"\n"
        ),
        "kiosk.toml",
    )
    .unwrap();
    assert_eq!(
        c.hub,
        Some(HubSettings {
            url: "https://10.0.0.5:8710".into(),
            device_id: Some("KIOSK-H56-HUB".into()),
        })
    );
    let (line, msg) = invalid(&format!("{GOOD}\n[hub]\nurl = \"http://10.0.0.5:8710\"\n"));
    assert_eq!(line, 18);
    assert!(msg.contains("hub.url") && msg.contains("https://"), "{msg}");
    let (line, msg) = invalid(&format!(
        "{GOOD}\n[hub]\nurl = \"https://10.0.0.5:8710\"\ndevice_id = \"hub one\"\n"
    ));
    assert_eq!(line, 19);
    assert!(msg.contains("hub.device_id"), "{msg}");
    let (line, msg) = invalid(&format!("{GOOD}\n[hub]\nurl = \"https://h:1\"\nport = 3\n"));
    assert_eq!(line, 19);
    assert!(msg.contains("port"), "{msg}");
}

#[test]
fn audio_is_on_by_default_can_be_turned_off_and_errors_point_at_the_line() {
    let c = KioskConfig::parse(GOOD, "kiosk.toml").expect("valid");
    assert_eq!(c.audio, AudioSettings::default());
    assert!(c.audio.enabled);
    assert_eq!(c.audio.program, Path::new("espeak-ng"));
    let off = KioskConfig::parse(&format!("{GOOD}\n[audio]\nenabled = false\n"), "kiosk.toml")
        .expect("valid");
    assert!(!off.audio.enabled);
    assert!(!off.audio.speaker().is_enabled(), "a silent speaker");
    let other = KioskConfig::parse(
        &format!("{GOOD}\n[audio]\nprogram = \"/opt/espeak/bin/espeak-ng\"\n"),
        "kiosk.toml",
    )
    .expect("valid");
    assert_eq!(other.audio.program, Path::new("/opt/espeak/bin/espeak-ng"));
    let (line, msg) = invalid(&format!("{GOOD}\n[audio]\nenabled = \"yes\"\n"));
    assert_eq!(line, 18);
    assert!(msg.contains("audio.enabled"), "{msg}");
    let (line, msg) = invalid(&format!("{GOOD}\n[audio]\nenabled = true\nvolume = 3\n"));
    assert_eq!(line, 19);
    assert!(msg.contains("volume"), "{msg}");
}

#[test]
fn signing_defaults_to_the_p11_kit_token_and_its_errors_point_at_the_line() {
    use super::{SigningKeySource, SigningSettings};
    let c = KioskConfig::parse(GOOD, "kiosk.toml").expect("valid");
    assert_eq!(c.signing, SigningSettings::default());
    let token = KioskConfig::parse(
        &format!("{GOOD}\n[signing]\nmodule = \"/usr/lib/softhsm/libsofthsm2.so\"\ntoken_label = \"quay-1\"\n"),
        "kiosk.toml",
    )
    .expect("valid");
    assert_eq!(
        token.signing.key,
        SigningKeySource::Token {
            module: "/usr/lib/softhsm/libsofthsm2.so".into(),
            label: Some("quay-1".into()),
        }
    );
    let (line, msg) = invalid(&format!("{GOOD}\n[signing]\nmodule = \"libsofthsm2.so\"\n"));
    assert_eq!(line, 18);
    assert!(
        msg.contains("signing.module") && msg.contains("absolute"),
        "{msg}"
    );
    let (line, msg) = invalid(&format!("{GOOD}\n[signing]\ndemo_key = \"/k.pem\"\n"));
    assert_eq!(line, 18);
    assert!(msg.contains("demo_certificate"), "{msg}");
    let (line, msg) = invalid(&format!(
        "{GOOD}\n[signing]\nmodule = \"/m.so\"\ndemo_key = \"/k\"\ndemo_certificate = \"/c\"\n"
    ));
    assert_eq!(line, 18);
    assert!(msg.contains("exclude"), "{msg}");
    let (line, msg) = invalid(&format!("{GOOD}\n[signing]\ntoken_label = \"\"\n"));
    assert_eq!(line, 18);
    assert!(msg.contains("token_label"), "{msg}");
}
