//! The provisioning slip: printed on the receipt printer when provisioning ends, so the
//! technician leaves the box with a paper record of what it became (device, site, profile,
//! blocks, self-test), in the receipt layout the printer already knows.

use motcua_domain::provisioning::SequenceBlock;
use motcua_printer::{EscPosPrinter, Printer, Renderer, Timeouts};

use crate::config::KioskConfig;
use crate::devices::PrinterConfig;

/// The slip's lines.
pub fn lines(
    config: &KioskConfig,
    profile: &str,
    blocks: &[SequenceBlock],
    self_test: &str,
) -> Vec<String> {
    vec![
        "ĐÃ CẤU HÌNH / PROVISIONED".into(),
        format!("Thiết bị / device: {}", config.device.id),
        format!("Đơn vị / site: {}", config.device.agency_code),
        format!("Cổng / gateway: {}", config.uplink.gateway_url),
        format!("Hồ sơ / profile: {profile}"),
        format!("Dải số / blocks: {}", super::blocks_text(blocks)),
        format!("Tự kiểm tra / self-test: {self_test}"),
    ]
}

/// Prints the slip (blocking).
pub fn print(printer: &PrinterConfig, device_id: &str, lines: Vec<String>) -> Result<(), String> {
    let now = motcua_store::vietnam_now();
    let mut content = crate::devices::test_receipt(device_id, now, &printer.qr_template)?;
    content.agency_parent = "CẤU HÌNH BAN ĐẦU / PROVISIONING".into();
    content.place = "Phiếu cấu hình / provisioning slip".into();
    content.footer = lines;
    let renderer = Renderer::new(&printer.fonts).map_err(|e| e.to_string())?;
    let job = renderer
        .receipt_job(
            &content,
            printer.paper,
            &motcua_printer::EncodeOptions::default(),
        )
        .map_err(|e| e.to_string())?;
    EscPosPrinter::new(printer.transport.clone(), Timeouts::default())
        .print(&job)
        .map(|_| ())
        .map_err(|e| e.to_string())
}
