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
                if let Some(e) = &s.last_error {
                    lines.push(Message::new(
                        format!("Lỗi gần nhất: {e}"),
                        format!("Last error: {e}"),
                    ));
                }
                lines.extend(technician_lines(&s));
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

/// What waits for a technician, each entry with its own reason: one "last error" line would
/// hide an older entry held for another cause. Read-only here (the panel's flow has no
/// per-entry action); `kioskctl outbox retry ID` releases one.
fn technician_lines(s: &motcua_store::OutboxStatus) -> Vec<Message> {
    if s.needs_technician == 0 && s.set_aside == 0 {
        return Vec::new();
    }
    let mut lines = vec![Message::new(
        format!(
            "CẦN KỸ THUẬT VIÊN: {} mục không tự gửi lại được, {} mục để riêng (kioskctl outbox list)",
            s.needs_technician, s.set_aside
        ),
        format!(
            "NEEDS A TECHNICIAN: {} entries are not retried, {} set aside (kioskctl outbox list)",
            s.needs_technician, s.set_aside
        ),
    )];
    // The panel does not scroll: a few entries, then how many more `kioskctl` lists.
    const SHOWN: usize = 5;
    for h in s.needs_technician_entries.iter().take(SHOWN) {
        let code = h.dossier_code.as_deref().unwrap_or("-");
        // The reason is stored bilingual ("vi / en: gateway's words"): both sides show it whole.
        lines.push(Message::new(
            format!("#{} {code} từ {}: {}", h.id, h.since, h.reason),
            format!("#{} {code} since {}: {}", h.id, h.since, h.reason),
        ));
    }
    let more = s.needs_technician_entries.len().saturating_sub(SHOWN);
    if more > 0 {
        lines.push(Message::new(
            format!("… và {more} mục khác"),
            format!("… and {more} more"),
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use motcua_store::{HeldEntry, HoldState, OutboxKind, OutboxStatus};

    #[test]
    fn the_panel_lists_every_entry_needing_a_technician_with_its_reason() {
        let held = |id, reason: &str| HeldEntry {
            id,
            kind: OutboxKind::Dossier,
            dossier_code: Some(format!("000.17.22.H56-261123-000{id}")),
            state: HoldState::NeedsTechnician,
            reason: reason.into(),
            since: "2026-11-23T10:00:00+07:00".into(),
            attempts: 1,
        };
        let status = OutboxStatus {
            pending: 3,
            needs_technician: 2,
            set_aside: 1,
            needs_technician_entries: vec![held(1, "code clash"), held(2, "file missing")],
            ..Default::default()
        };
        let lines = technician_lines(&status);
        assert_eq!(lines.len(), 3);
        assert!(
            lines[0]
                .en
                .contains("2 entries are not retried, 1 set aside"),
            "{}",
            lines[0].en
        );
        assert!(
            lines[1].en.contains("#1 000.17.22.H56-261123-0001")
                && lines[1].en.ends_with("code clash")
        );
        assert!(lines[2].vi.ends_with("file missing"));
        assert!(technician_lines(&OutboxStatus::default()).is_empty());
    }
}
