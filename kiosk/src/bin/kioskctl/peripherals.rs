//! `kioskctl devices` and `kioskctl selftest`: what is attached and whether it works, in plain
//! words for a technician.

use motcua_kiosk::config::KioskConfig;

use crate::{print_json, runtime};

pub(crate) fn devices(config: &KioskConfig, json: bool) -> anyhow::Result<()> {
    let p = &config.peripherals;
    let printer_state = p.printer.as_ref().map(motcua_kiosk::devices::printer_state);
    let found = runtime()?.block_on(motcua_kiosk::devices::discover());
    if json {
        return print_json(&serde_json::json!({
            "printer": p.printer.as_ref().map(|x| format!("{:?} {:?}", x.transport, x.paper)),
            "printer_state": printer_state,
            "code_reader": p.code_reader.as_ref().map(|x| format!("{x:?}")),
            "scanner": p.scanner.as_ref().map(|x| format!("{x:?}")),
            "attached": found,
        }));
    }
    println!("Thiết bị đã cấu hình / configured devices:");
    match &p.printer {
        Some(x) => println!("  máy in / printer: {:?}, {:?}", x.transport, x.paper),
        None => println!("  máy in / printer: chưa cấu hình / not configured"),
    }
    if let Some(state) = printer_state {
        println!("    trạng thái / state: {state}");
    }
    match &p.code_reader {
        Some(motcua_kiosk::devices::CodeReaderConfig::Serial(s)) => println!(
            "  đầu đọc mã / code reader: serial {} ({} baud, {:?})",
            s.path.display(),
            s.baud_rate,
            s.terminator
        ),
        None => println!("  đầu đọc mã / code reader: chưa cấu hình / not configured"),
    }
    match &p.scanner {
        Some(x) => println!("  máy quét / scanner: {x:?}"),
        None => println!("  máy quét / scanner: chưa cấu hình / not configured"),
    }
    println!("Thiết bị tìm thấy / attached to this machine:");
    println!(
        "  cổng nối tiếp / serial ports: {}",
        list_or_none(&found.serial_ports)
    );
    println!(
        "  máy in USB / USB printers: {}",
        list_or_none(&found.usb_printers)
    );
    match &found.scanners {
        Ok(list) => println!("  máy quét SANE / SANE scanners: {}", list_or_none(list)),
        Err(e) => println!("  máy quét SANE / SANE scanners: {e}"),
    }
    Ok(())
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "không có / none".into()
    } else {
        items.join(", ")
    }
}

pub(crate) fn selftest(config: &KioskConfig, code_timeout: u64, json: bool) -> anyhow::Result<()> {
    if !json && config.peripherals.code_reader.is_some() {
        eprintln!(
            "Hãy đưa một mã QR bất kỳ (ví dụ mã trên phiếu thử) vào đầu đọc trong {code_timeout} giây. / Present any QR code (e.g. the one on the test slip) to the reader within {code_timeout} s."
        );
    }
    let options = motcua_kiosk::devices::SelfTestOptions {
        code_timeout: std::time::Duration::from_secs(code_timeout),
    };
    let results = runtime()?.block_on(motcua_kiosk::devices::self_test(
        &config.peripherals,
        &config.device.id,
        &config.store.data_dir,
        options,
    ));
    if json {
        print_json(&results)?;
    } else {
        for r in &results {
            let verdict = if r.skipped {
                "BỎ QUA / SKIPPED"
            } else if r.passed {
                "ĐẠT / PASS"
            } else {
                "LỖI / FAIL"
            };
            println!("{verdict:<18} {}: {}", r.device, r.message);
        }
    }
    if results.iter().any(|r| !r.passed && !r.skipped) {
        anyhow::bail!("một số thiết bị bị lỗi / some devices failed their self-test");
    }
    Ok(())
}
