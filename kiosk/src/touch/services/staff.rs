//! The staff and technician panel: device and outbox status lines, and the printer test.

use motcua_printer::Printer;

use crate::devices::ScannerConfig;
use motcua_flows::staff::PanelStatus;
use motcua_flows::Message;

use super::messages::*;
use super::{print_slip, Services};

impl Services {
    pub(super) fn panel_status(&self) -> PanelStatus {
        let mut lines = vec![Message::new(
            format!("Thiết bị: {}", self.config.device.id),
            format!("Device: {}", self.config.device.id),
        )];
        match self.store.outbox_status() {
            Ok(s) => {
                lines.push(Message::new(
                    format!(
                        "Hàng đợi gửi: {} chờ gửi, {} đã gửi, {} đang lỗi",
                        s.pending, s.delivered, s.failing
                    ),
                    format!(
                        "Outbox: {} pending, {} delivered, {} failing",
                        s.pending, s.delivered, s.failing
                    ),
                ));
                if let Some(e) = s.last_error {
                    lines.push(Message::new(
                        format!("Lỗi gần nhất: {e}"),
                        format!("Last error: {e}"),
                    ));
                }
            }
            Err(e) => lines.push(Message::new(
                format!("Kho dữ liệu lỗi: {e}"),
                format!("Store error: {e}"),
            )),
        }
        let files = self.config.identity_files();
        let url = &self.config.uplink.gateway_url;
        lines.push(match files.device() {
            Ok(device) => {
                let peer = device.peer();
                let until = motcua_uplink::credentials::unix_time_text(peer.not_after);
                Message::new(
                    format!(
                        "Máy chủ: {url} (đã đăng ký, chứng thư {} đến {until})",
                        peer.serial
                    ),
                    format!(
                        "Gateway: {url} (enrolled, certificate {} until {until})",
                        peer.serial
                    ),
                )
            }
            Err(motcua_uplink::IdentityFileError::NotEnrolled { .. }) => Message::new(
                "Chưa đăng ký với máy chủ: chạy kioskctl enroll",
                "Not enrolled with the gateway: run kioskctl enroll",
            ),
            Err(e) => Message::new(
                format!("Chứng thư của ki-ốt lỗi: {e}"),
                format!("The kiosk's certificate is unusable: {e}"),
            ),
        });
        lines.push(match &self.config.peripherals.printer {
            Some(p) => {
                let status = motcua_printer::EscPosPrinter::new(
                    p.transport.clone(),
                    motcua_printer::Timeouts::default(),
                )
                .status();
                match status {
                    Ok(s) => match s.fault() {
                        Some(fault) => {
                            let m = bilingual(&fault.to_string());
                            Message::new(format!("Máy in: {}", m.vi), format!("Printer: {}", m.en))
                        }
                        None if s.paper_near_end => {
                            Message::new("Máy in: sắp hết giấy", "Printer: paper near end")
                        }
                        None => Message::new("Máy in: sẵn sàng", "Printer: ready"),
                    },
                    Err(e) => {
                        let m = printer_trouble(&e.to_string());
                        Message::new(format!("Máy in: {}", m.vi), format!("Printer: {}", m.en))
                    }
                }
            }
            None => Message::new("Máy in: không có", "Printer: none"),
        });
        lines.push(match &self.config.peripherals.scanner {
            Some(ScannerConfig::Sane { device, .. }) => Message::new(
                format!("Máy quét: SANE {device}"),
                format!("Scanner: SANE {device}"),
            ),
            Some(ScannerConfig::HotFolder { folder }) => Message::new(
                format!("Máy quét: thư mục {}", folder.display()),
                format!("Scanner: hot folder {}", folder.display()),
            ),
            None => Message::new("Máy quét: không có", "Scanner: none"),
        });
        PanelStatus { lines }
    }

    pub(super) fn printer_test(&self) -> Result<(), Message> {
        let printer = self
            .config
            .peripherals
            .printer
            .as_ref()
            .ok_or_else(no_printer)?;
        let content = crate::devices::test_receipt(
            &self.config.device.id,
            (self.now)(),
            &printer.qr_template,
        )
        .map_err(|e| printer_trouble(&e))?;
        print_slip(printer, |r, opts| {
            r.receipt_job(&content, printer.paper, opts)
        })
        .map_err(|e| printer_trouble(&e.to_string()))
    }
}
