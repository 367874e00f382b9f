//! The technician's self-test: prints a test slip, reads one code, scans one page, and reports
//! pass or fail per device in plain words.

use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use motcua_printer::{
    receipt_qr_payload, EscPosPrinter, Printer, ReceiptContent, Renderer, SubmittedDocument,
    Timeouts,
};
use motcua_scanner::codes::classify::classify;
use motcua_scanner::codes::serial::SerialReader;
use motcua_scanner::codes::ReaderEvent;
use motcua_scanner::documents::{
    BatchRequest, DocumentScanner, HotFolderConfig, SaneConfig, SaneScanner,
};

use super::settings::{
    sample_fields, CodeReaderConfig, PeripheralsConfig, PrinterConfig, ScannerConfig,
};

/// Outcome of one device's self-test.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SelfTestResult {
    /// Which device, e.g. `printer tcp://127.0.0.1:9100`.
    pub device: String,
    /// Whether it passed.
    pub passed: bool,
    /// Not tested because not configured (a ticket kiosk has no scanner): not a failure.
    #[serde(default)]
    pub skipped: bool,
    /// What happened, Vietnamese first, then English.
    pub message: String,
}

/// How long the self-test waits for a person to act.
#[derive(Debug, Clone, Copy)]
pub struct SelfTestOptions {
    /// Time to present a code to the reader.
    pub code_timeout: Duration,
}

/// The test slip: a real receipt layout, marked as a test, whose QR the code reader can read.
pub fn test_receipt(
    device_id: &str,
    now: DateTime<FixedOffset>,
    qr_template: &str,
) -> Result<ReceiptContent, String> {
    let mut fields = sample_fields(now);
    fields.issuer = format!("MOTCUA:{device_id}");
    let qr_payload = receipt_qr_payload(qr_template, &fields).map_err(|e| e.to_string())?;
    Ok(ReceiptContent {
        agency_parent: "BẢN IN THỬ / TEST PRINT".into(),
        agency_name: format!("Thiết bị / device {device_id}"),
        place: "Kiểm tra máy in".into(),
        dossier_code: fields.dossier_code,
        applicant_name: "Nguyễn Thị Phượng (mẫu / sample)".into(),
        applicant_address: "Đường thử, phường Thử, tỉnh Thử".into(),
        applicant_phone: String::new(),
        applicant_email: String::new(),
        procedure_name: "Đăng ký khai sinh (in thử)".into(),
        documents: vec![SubmittedDocument {
            name: "Tờ khai đăng ký khai sinh".into(),
            kind: "bản chính".into(),
            count: 1,
        }],
        sets: 1,
        processing_time: "0 ngày làm việc".into(),
        received_at: now,
        appointment: now,
        result_place: "Không áp dụng / not applicable".into(),
        received_by: device_id.to_owned(),
        footer: vec![
            "Nếu đọc được dòng này, máy in hoạt động tốt.".into(),
            "If you can read this, the printer works.".into(),
        ],
        qr_payload,
        lookup_code: fields
            .lookup_secret
            .map(|s| s.to_string())
            .unwrap_or_default(),
    })
}

/// Prints a test slip; passes when the printer took it and reports no fault.
pub async fn test_printer(config: &PrinterConfig, device_id: &str) -> SelfTestResult {
    let device = format!("máy in / printer {:?}", config.transport);
    let config = config.clone();
    let device_id = device_id.to_owned();
    let outcome = tokio::task::spawn_blocking(move || -> Result<String, String> {
        let renderer = Renderer::new(&config.fonts).map_err(|e| e.to_string())?;
        let content = test_receipt(&device_id, motcua_store::vietnam_now(), &config.qr_template)?;
        let job = renderer
            .receipt_job(
                &content,
                config.paper,
                &motcua_printer::EncodeOptions::default(),
            )
            .map_err(|e| e.to_string())?;
        let mut printer = EscPosPrinter::new(config.transport.clone(), Timeouts::default());
        let status = printer.print(&job).map_err(|e| e.to_string())?;
        Ok(format!(
            "đã in phiếu thử / test slip printed ({} bytes); status {status:?}",
            job.bytes.len()
        ))
    })
    .await;
    match outcome {
        Ok(Ok(message)) => SelfTestResult {
            device,
            passed: true,
            skipped: false,
            message,
        },
        Ok(Err(message)) => SelfTestResult {
            device,
            passed: false,
            skipped: false,
            message,
        },
        Err(e) => SelfTestResult {
            device,
            passed: false,
            skipped: false,
            message: format!("self-test crashed: {e}"),
        },
    }
}

/// Waits for one code at the reader and says what it was (never the payload itself).
pub async fn test_code_reader(
    config: &CodeReaderConfig,
    options: SelfTestOptions,
) -> SelfTestResult {
    let CodeReaderConfig::Serial(serial) = config;
    let device = format!("đầu đọc mã / code reader {}", serial.path.display());
    let mut reader = match SerialReader::spawn(serial.clone()) {
        Ok(r) => r,
        Err(e) => {
            return SelfTestResult {
                device,
                passed: false,
                skipped: false,
                message: e.to_string(),
            }
        }
    };
    let mut last_problem = None;
    let waited = tokio::time::timeout(options.code_timeout, async {
        while let Some(event) = reader.next().await {
            match event {
                ReaderEvent::Code(payload) => return Some(payload),
                ReaderEvent::Disconnected(e) => last_problem = Some(e.to_string()),
                ReaderEvent::Connected => last_problem = None,
            }
        }
        None
    })
    .await;
    let stats = reader.stats();
    reader.stop();
    match waited {
        Ok(Some(payload)) => SelfTestResult {
            device,
            passed: true,
            skipped: false,
            message: format!(
                "đã đọc một mã {} / read one {} code ({} bytes)",
                classify(payload.as_str()).name(),
                classify(payload.as_str()).name(),
                payload.len()
            ),
        },
        _ => SelfTestResult {
            device,
            passed: false,
            skipped: false,
            message: last_problem.unwrap_or_else(|| {
                format!(
                    "không nhận được mã nào trong {} giây / no code read in {} s (dropped lines: {stats:?})",
                    options.code_timeout.as_secs(),
                    options.code_timeout.as_secs()
                )
            }),
        },
    }
}

/// Scans one page (SANE) or checks the hot folder is usable.
pub async fn test_scanner(config: &ScannerConfig, work_dir: &std::path::Path) -> SelfTestResult {
    match config {
        ScannerConfig::Sane {
            device,
            resolution,
            mode,
            source,
            options,
        } => {
            let name = format!("máy quét / scanner sane:{device}");
            let scanner = match SaneScanner::connect(SaneConfig::new(device.clone())).await {
                Ok(s) => s,
                Err(e) => {
                    return SelfTestResult {
                        device: name,
                        passed: false,
                        skipped: false,
                        message: e.to_string(),
                    }
                }
            };
            let dir = work_dir.join("selftest-scan");
            if let Err(e) = std::fs::create_dir_all(&dir) {
                return SelfTestResult {
                    device: name,
                    passed: false,
                    skipped: false,
                    message: format!("cannot create {}: {e}", dir.display()),
                };
            }
            let mut request = BatchRequest::new(&dir);
            request.resolution_dpi = *resolution;
            request.mode = *mode;
            request.source = *source;
            request.extra_args = options.clone();
            request.max_pages = Some(1);
            let result = scanner.start(&request).collect().await;
            let _ = std::fs::remove_dir_all(&dir);
            match result {
                Ok(pages) if !pages.is_empty() => {
                    let size = pages[0]
                        .image()
                        .map(|i| format!("{}x{}", i.width(), i.height()))
                        .unwrap_or_default();
                    SelfTestResult {
                        device: name,
                        passed: true,
                        skipped: false,
                        message: format!("đã quét 1 trang / scanned 1 page {size} at {resolution} dpi"),
                    }
                }
                Ok(_) => SelfTestResult {
                    device: name,
                    passed: false,
                    skipped: false,
                    message: "không có trang nào: hãy đặt giấy vào khay / no page: put paper in the feeder".into(),
                },
                Err(e) => SelfTestResult { device: name, passed: false, skipped: false, message: e.error.to_string() },
            }
        }
        ScannerConfig::HotFolder { folder } => {
            let name = format!("thư mục quét / hot folder {}", folder.display());
            let probe = folder.join(".motcua-selftest");
            let check = std::fs::write(&probe, b"ok").and_then(|()| std::fs::remove_file(&probe));
            let _ = HotFolderConfig::new(folder.clone());
            match check {
                Ok(()) => SelfTestResult {
                    device: name,
                    passed: true,
                    skipped: false,
                    message: "thư mục đọc/ghi được / folder is readable and writable".into(),
                },
                Err(e) => SelfTestResult {
                    device: name,
                    passed: false,
                    skipped: false,
                    message: format!("không dùng được thư mục / folder unusable: {e}"),
                },
            }
        }
    }
}

/// Runs every configured device's self-test in turn.
pub async fn self_test(
    p: &PeripheralsConfig,
    device_id: &str,
    work_dir: &std::path::Path,
    options: SelfTestOptions,
) -> Vec<SelfTestResult> {
    let mut results = Vec::new();
    match &p.printer {
        Some(printer) => results.push(test_printer(printer, device_id).await),
        None => results.push(not_configured("máy in / printer", "[printer]")),
    }
    match &p.code_reader {
        Some(reader) => results.push(test_code_reader(reader, options).await),
        None => results.push(not_configured("đầu đọc mã / code reader", "[code_reader]")),
    }
    match &p.scanner {
        Some(scanner) => results.push(test_scanner(scanner, work_dir).await),
        None => results.push(not_configured("máy quét / scanner", "[scanner]")),
    }
    results
}

/// The self-test nobody has to attend (during provisioning, or asked for remotely): the
/// printer prints its test slip, the scanner is tried, and the code reader passes when it
/// delivered a code in this run (`code_seen`, e.g. the setup code just scanned) or its port is
/// there (kioskd holds the port itself, so it is not opened a second time).
pub async fn unattended_self_test(
    p: &PeripheralsConfig,
    device_id: &str,
    work_dir: &std::path::Path,
    code_seen: Option<&str>,
) -> Vec<SelfTestResult> {
    let mut results = Vec::new();
    match &p.printer {
        Some(printer) => results.push(test_printer(printer, device_id).await),
        None => results.push(not_configured("máy in / printer", "[printer]")),
    }
    match &p.code_reader {
        Some(CodeReaderConfig::Serial(serial)) => {
            let device = format!("đầu đọc mã / code reader {}", serial.path.display());
            let (passed, message) = match code_seen {
                Some(seen) => (true, seen.to_owned()),
                None if serial.path.exists() => (
                    true,
                    "cổng có mặt / the port is present (no code presented: unattended test)"
                        .to_owned(),
                ),
                None => (
                    false,
                    format!(
                        "không thấy cổng / the port {} is missing: is the reader plugged in?",
                        serial.path.display()
                    ),
                ),
            };
            results.push(SelfTestResult {
                device,
                passed,
                skipped: false,
                message,
            });
        }
        None => results.push(not_configured("đầu đọc mã / code reader", "[code_reader]")),
    }
    match &p.scanner {
        Some(scanner) => results.push(test_scanner(scanner, work_dir).await),
        None => results.push(not_configured("máy quét / scanner", "[scanner]")),
    }
    results
}

/// The health report's summary of a self-test: passed when no configured device failed.
pub fn summary(
    results: &[SelfTestResult],
    at: DateTime<FixedOffset>,
) -> motcua_domain::wire::SelfTestSummary {
    let failed: Vec<String> = results
        .iter()
        .filter(|r| !r.passed && !r.skipped)
        .map(|r| r.device.clone())
        .collect();
    motcua_domain::wire::SelfTestSummary {
        at,
        passed: failed.is_empty(),
        failed,
    }
}

fn not_configured(device: &str, section: &str) -> SelfTestResult {
    SelfTestResult {
        device: device.to_owned(),
        passed: false,
        skipped: true,
        message: format!("chưa cấu hình / not configured (section {section} of the config file)"),
    }
}
