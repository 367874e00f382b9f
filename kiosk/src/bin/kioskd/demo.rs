//! The demo: an embedded gateway over mutual TLS with a throwaway lab CA, a kiosk config
//! written next to the data, the kiosk enrolled like a real one, a sample dossier.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use motcua_kiosk::config::KioskConfig;
use motcua_kiosk::dossier_file::{AttachmentFile, DossierFile};
use motcua_store::vietnam_now as now;
use motcua_store::Store;
use motcua_uplink::TrustAnchor;
use tokio::sync::watch;

const ENROLLMENT_KEY: &str = "demo-enrollment-key";

/// A running demo: the embedded gateway, the simulated printer and code reader, the config.
pub struct Demo {
    /// The kiosk config written for the demo.
    pub config: KioskConfig,
    gateway: motcua_gateway::RunningGateway,
    _printer: motcua_printer::emulator::Emulator,
    kiosk_dir: PathBuf,
}

pub async fn start(data_dir: PathBuf) -> anyhow::Result<Demo> {
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let data_dir = data_dir.canonicalize()?;
    // A throwaway CA (kept with the demo's data, so the kiosk stays enrolled between runs)
    // and the gateway's server certificate for this machine's loopback.
    let pki_dir = data_dir.join("lab-pki");
    let pki = if pki_dir.join("ca.crt").is_file() {
        motcua_gateway::LabPki::open(&pki_dir)?
    } else {
        motcua_gateway::lab_pki(&pki_dir, &["127.0.0.1".to_owned(), "localhost".to_owned()])?
    };
    let mut gateway_config = motcua_gateway::GatewayConfig::new(
        "127.0.0.1:0".parse()?,
        data_dir.join("gateway"),
        ENROLLMENT_KEY,
        &pki,
        motcua_domain::catalog::seed(),
    );
    gateway_config.max_upload_bytes = 512 * 1024 * 1024;
    let gateway = motcua_gateway::start(gateway_config).await?;
    let url = format!("https://{}", gateway.local_addr());
    // A simulated 80 mm receipt printer speaking ESC/POS on a local TCP port; every slip
    // becomes a PNG in <data>/printer.
    let mut printer_config =
        motcua_printer::emulator::EmulatorConfig::new(data_dir.join("printer"));
    printer_config.pty = false;
    let printer = motcua_printer::emulator::Emulator::start(printer_config)?;
    let printer_addr = printer
        .tcp_addr()
        .context("the printer emulator has no TCP address")?;
    // A simulated serial code reader: lines appended to <data>/scan-codes.txt are "read".
    let reader_path = code_reader::start(&data_dir.join("scan-codes.txt"))?;
    // SANE's test scanner when scanimage is installed (apt-get install sane-utils).
    let scanner = if which("scanimage") {
        "[scanner]\nkind = \"sane\"\ndevice = \"test\"\nresolution = 200\nmode = \"gray\"\nsource = \"flatbed\"\noptions = [\"--test-picture=Color pattern\"]\n".to_owned()
    } else {
        println!("scanimage not found (apt-get install sane-utils): the demo kiosk has no scanner");
        String::new()
    };
    // Intake copies are signed before they are sent: the demo signs with a key file of its
    // own (a real kiosk signs with the officer's USB token), and says so in every signature.
    let demo_key = data_dir.join("demo-signer.key");
    let demo_cert = data_dir.join("demo-signer.pem");
    if !demo_key.is_file() || !demo_cert.is_file() {
        motcua_signing::write_demo_key(&demo_key, &demo_cert, "Cán bộ một cửa (demo)")?;
    }
    let kiosk_dir = data_dir.join("kiosk");
    let config_path = data_dir.join("kiosk.toml");
    let config_text = format!(
        r#"# Demo kiosk written by `kioskd demo`.
[device]
id = "KIOSK-DEMO-01"
agency_code = "000.17.22.H56"
sequence_first = 1
sequence_last = 9999

[store]
data_dir = "{kiosk}"
min_free_mb = 50

[gateway]
url = "{url}"

[uplink]
retry_initial_ms = 200
retry_max_ms = 5000

[printer]
transport = "tcp"
address = "{printer_addr}"
paper_mm = 80

[code_reader]
kind = "serial"
path = "{reader_path}"
terminator = "lf"

{scanner}
[ui]
title_vi = "Trung tâm Phục vụ hành chính công tỉnh Sóc Trăng"
title_en = "Soc Trang Public Administration Service Centre"
# PIN 1234 (demo only; a real kiosk: kioskctl pin staff, kioskctl pin technician)
staff_pin_hash = "{pin}"
technician_pin_hash = "{pin}"

[signing]
# demo only: a real kiosk signs with the officer's token ([signing] module)
demo_key = "{demo_key}"
demo_certificate = "{demo_cert}"

[receipt]
agency_parent = "UBND TỈNH SÓC TRĂNG"
agency_name = "Trung tâm Phục vụ hành chính công tỉnh Sóc Trăng"
place = "Sóc Trăng"
result_place = "Quầy số 3, Trung tâm Phục vụ hành chính công tỉnh Sóc Trăng"
footer = ["Tra cứu hồ sơ: quét mã QR tại ki-ốt", "Scan the QR at the kiosk to check status"]
"#,
        kiosk = kiosk_dir.display(),
        demo_key = demo_key.display(),
        demo_cert = demo_cert.display(),
        pin = motcua_kiosk::pins::hash_pin("1234")?,
    );
    std::fs::write(&config_path, &config_text)?;
    let config = KioskConfig::parse(&config_text, &config_path.display().to_string())?;

    // Enrolled as a technician would (kioskctl enroll): key pair made here, CSR, checked
    // certificate saved in <kiosk>/identity. Once per lab CA.
    let ca_text = std::fs::read_to_string(&pki.ca_cert_file)
        .with_context(|| format!("cannot read {}", pki.ca_cert_file.display()))?;
    let anchor = TrustAnchor::from_pem(&ca_text, &pki.ca_cert_file.display().to_string())?;
    let files = config.identity_files();
    let enrolled = files
        .anchor()
        .is_ok_and(|a| a.fingerprint() == anchor.fingerprint())
        && files.device().is_ok();
    if !enrolled {
        motcua_uplink::credentials::enroll(
            &url,
            Duration::from_secs(10),
            &files,
            &anchor,
            &config.device.id,
            &config.device.agency_code,
            ENROLLMENT_KEY,
        )
        .await
        .context("the demo kiosk could not enrol at the embedded gateway")?;
    }

    let code = submit_sample(&config, &data_dir)?;
    println!(
        "motcua demo: gateway {url} (lab CA {}), kiosk data {}",
        anchor.fingerprint(),
        kiosk_dir.display()
    );
    println!("sample dossier {code} accepted; it uploads in the background");
    let store = Store::open(&config.store.data_dir, config.store.min_free_bytes)?;
    let receipt_config = config.clone();
    let receipt_code = code.clone();
    tokio::task::spawn_blocking(move || {
        motcua_kiosk::receipt::print_receipt(
            receipt_config.peripherals.printer.as_ref(),
            &receipt_config.receipt,
            &store,
            &receipt_code,
        )
    })
    .await??;
    let slips = printer.wait_for_pages(1, Duration::from_secs(10));
    if let Some(png) = slips.first() {
        println!(
            "receipt printed on the simulated printer: {}",
            png.display()
        );
    }
    println!(
        "try: kioskctl --config {} status | dossiers | catalog | devices | reprint {code}",
        config_path.display()
    );
    println!(
        "simulate the code reader: echo '{SAMPLE_CARD}' >> {}",
        data_dir.join("scan-codes.txt").display()
    );
    println!("staff and technician screens: PIN 1234");
    Ok(Demo {
        config,
        gateway,
        _printer: printer,
        kiosk_dir,
    })
}

impl Demo {
    /// Runs the kiosk daemon without a screen for `seconds` (0 = until Ctrl-C).
    pub async fn run_headless(&self, seconds: u64) -> anyhow::Result<()> {
        let (tx, rx) = watch::channel(false);
        let supervisor = super::Supervisor::new();
        supervisor.await_conditions(&[
            super::Condition::Store,
            super::Condition::Uplink,
            super::Condition::Printer,
        ]);
        let store = super::open_sound_store(&self.config.store, &supervisor)?;
        let (reload, _) = tokio::sync::watch::channel(false);
        let care = super::Care {
            bootstrap: None,
            log: None,
            presence: Default::default(),
        };
        let kiosk = tokio::spawn(super::run(
            self.config.clone(),
            store,
            rx,
            supervisor,
            care,
            reload,
        ));
        if seconds > 0 {
            tokio::time::sleep(Duration::from_secs(seconds)).await;
        } else {
            let _ = tokio::signal::ctrl_c().await;
        }
        let _ = tx.send(true);
        kiosk.await??;
        Ok(())
    }

    /// Reports and stops the embedded gateway.
    pub async fn stop(self) -> anyhow::Result<()> {
        let store = Store::open(&self.kiosk_dir, 0)?;
        let status = store.outbox_status()?;
        println!(
            "motcua demo stopped: {} delivered, {} pending",
            status.delivered, status.pending
        );
        self.gateway.shutdown().await;
        Ok(())
    }
}

/// A sample ID card QR (a made-up citizen) for trying the form prefill.
const SAMPLE_CARD: &str = motcua_domain::cccd::SAMPLE_PAYLOAD;

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

mod code_reader {
    //! The demo's code reader: a pseudo-terminal whose far end is fed from a text file, so
    //! the kiosk reads codes through its real serial reader.

    use std::io::{BufRead, Seek, Write};
    use std::path::Path;
    use std::time::Duration;

    use serialport::SerialPort;

    /// Starts feeding lines appended to `input` into a pty; returns the pty's device path.
    pub fn start(input: &Path) -> anyhow::Result<String> {
        let (mut master, slave) = serialport::TTYPort::pair()?;
        let path = slave.name().unwrap_or_default();
        std::fs::write(input, b"")?;
        let input = input.to_owned();
        std::thread::Builder::new()
            .name("demo-code-reader".into())
            .spawn(move || {
                // Keep the slave end open so the pty stays alive while the kiosk reconnects.
                let _slave = slave;
                let mut offset = 0u64;
                loop {
                    std::thread::sleep(Duration::from_millis(200));
                    let Ok(mut file) = std::fs::File::open(&input) else {
                        continue;
                    };
                    if file.seek(std::io::SeekFrom::Start(offset)).is_err() {
                        continue;
                    }
                    let mut reader = std::io::BufReader::new(file);
                    let mut line = String::new();
                    while let Ok(n) = reader.read_line(&mut line) {
                        if n == 0 || !line.ends_with('\n') {
                            break;
                        }
                        offset += n as u64;
                        let _ = master.write_all(line.as_bytes());
                        line.clear();
                    }
                }
            })?;
        Ok(path)
    }
}

fn submit_sample(config: &KioskConfig, data_dir: &Path) -> anyhow::Result<String> {
    let sample = data_dir.join("to-khai-mau.txt");
    std::fs::write(
        &sample,
        "TỜ KHAI ĐĂNG KÝ KHAI SINH (mẫu thử / demo sample)\nHọ, chữ đệm, tên: Nguyễn Thị Phượng\n",
    )?;
    let mut store = Store::open(&config.store.data_dir, config.store.min_free_bytes)?;
    let catalog = store.catalog()?;
    let procedure = catalog
        .procedures
        .first()
        .context("the seed catalog is empty")?;
    let file = DossierFile {
        procedure_code: procedure.code.clone(),
        applicant: motcua_domain::wire::Applicant {
            full_name: "Nguyễn Thị Phượng".into(),
            id_number: None,
            birth_date: None,
            address: "Phường 1, TP. Sóc Trăng".into(),
            phone: String::new(),
            email: String::new(),
        },
        documents: vec![AttachmentFile {
            name: procedure
                .documents
                .first()
                .map(|d| d.name_vi.clone())
                .unwrap_or_default(),
            file: PathBuf::from(&sample),
            media_type: Some("text/plain".into()),
        }],
    };
    let submission = motcua_kiosk::dossier_file::submit(&mut store, config, file, now())?;
    Ok(submission.code)
}
