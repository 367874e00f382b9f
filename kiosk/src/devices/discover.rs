//! What is attached to this machine (serial ports, USB printers, SANE scanners), for
//! `kioskctl devices`.

use motcua_domain::wire::{PrinterCondition, PrinterHealth};
use motcua_scanner::documents::SaneConfig;

/// What is attached to this machine, for `kioskctl devices`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Discovered {
    /// Serial ports (code readers, serial printers).
    pub serial_ports: Vec<String>,
    /// USB printer-class devices.
    pub usb_printers: Vec<String>,
    /// SANE scanners, or why they could not be listed.
    pub scanners: Result<Vec<String>, String>,
}

fn glob_dev(prefixes: &[(&str, &str)]) -> Vec<String> {
    let mut found = Vec::new();
    for (dir, prefix) in prefixes {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(prefix) {
                    found.push(format!("{dir}/{name}"));
                }
            }
        }
    }
    found.sort();
    found
}

/// Lists attached devices (serial ports, USB printers, SANE scanners).
pub async fn discover() -> Discovered {
    let scanners = motcua_scanner::documents::sane::list_devices(&SaneConfig::new(""))
        .await
        .map(|list| list.into_iter().map(|d| format!("{d:?}")).collect())
        .map_err(|e| e.to_string());
    Discovered {
        serial_ports: glob_dev(&[
            ("/dev", "ttyACM"),
            ("/dev", "ttyUSB"),
            ("/dev/serial/by-id", ""),
        ]),
        usb_printers: glob_dev(&[("/dev/usb", "lp")]),
        scanners,
    }
}

/// The printer's state in words (ready, the fault, or why it did not answer), from one status
/// query. Blocking, bounded by the transport's default time limits.
pub fn printer_state(printer: &super::PrinterConfig) -> String {
    printer_health(printer).detail
}

/// The printer's state for the health report: its condition (what the province's fleet view
/// flags on) and the same words as [`printer_state`]. Blocking, like it.
pub fn printer_health(printer: &super::PrinterConfig) -> PrinterHealth {
    use motcua_printer::{Fault, Printer};
    let mut device = motcua_printer::EscPosPrinter::new(
        printer.transport.clone(),
        motcua_printer::Timeouts::default(),
    );
    let (condition, detail) = match device.status() {
        Ok(status) => match status.fault() {
            None if status.paper_near_end => (
                PrinterCondition::PaperLow,
                "sẵn sàng, sắp hết giấy / ready, paper low".to_owned(),
            ),
            None => (PrinterCondition::Ready, "sẵn sàng / ready".to_owned()),
            Some(fault) => (
                match fault {
                    Fault::PaperEnd => PrinterCondition::OutOfPaper,
                    Fault::CoverOpen => PrinterCondition::CoverOpen,
                    Fault::Offline | Fault::Error => PrinterCondition::Fault,
                },
                format!("lỗi / fault: {fault}"),
            ),
        },
        Err(e) => (PrinterCondition::Unreachable, e.to_string()),
    };
    PrinterHealth { condition, detail }
}
