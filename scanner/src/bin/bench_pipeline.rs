//! Intake page pipeline benchmark (asserts nothing).
//!
//! Generates `--pages N` (default 20) grey A4 pages at 300 dpi (a separator sheet first, then
//! text-like pages) as PNG files, then times, on the same files in the same run:
//!
//! - ours, once per output mode (`--modes color,gray,bilevel,auto`, default all): PNG decode +
//!   [`PagePipeline`] (blank detection, QR decoding, JPEG or CCITT G4, PDF streamed to disk),
//!   one thread, with the process's peak resident memory during that run (`VmHWM` of
//!   `/proc/self/status`, reset through `/proc/self/clear_refs` before each run);
//! - the reference: `zbarimg --raw` (Debian `zbar-tools`) over the files to find codes, then
//!   `img2pdf` (Debian `img2pdf`) to assemble them, as child processes (one call each, which
//!   favours the reference: no per-page process start).
//!
//! and prints pages per minute, their ratio, KB per page of the PDFs and peak memory.
//! Targets: ≥ 120 pages/min, ≥ 3× the reference, ≤ 150 KB per grey text page, peak RSS
//! ≤ 200 MB for a 500-page batch.
//!
//! Usage: `cargo run --release -p motcua-scanner --bin bench-pipeline -- [--pages N] [--quality Q]
//! [--dpi D] [--modes LIST] [--deskew] [--no-reference]` (D ≥ 200, default 300; `--deskew`
//! turns on the optional deskew step).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use motcua_domain::qr_payload::Separator;
use motcua_scanner::pipeline::synth::{separator_sheet, text_page};
use motcua_scanner::pipeline::{OutputMode, PageEncoding, PagePipeline, PipelineConfig};

/// Peak resident memory of this process in KB (`VmHWM`), if readable.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Resets the peak to the current resident memory (Linux ≥ 4.0); false when refused.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// PNG with a `pHYs` chunk, so img2pdf sizes pages as we do.
fn png_with_dpi(img: &image::GrayImage, dpi: u32) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("png encoding");
    let png = out.into_inner();
    let ppm = (f64::from(dpi) / 0.0254).round() as u32;
    let mut body = b"pHYs".to_vec();
    body.extend_from_slice(&ppm.to_be_bytes());
    body.extend_from_slice(&ppm.to_be_bytes());
    body.push(1);
    let mut with = png[..33].to_vec();
    with.extend_from_slice(&9u32.to_be_bytes());
    with.extend_from_slice(&body);
    with.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
    with.extend_from_slice(&png[33..]);
    with
}

fn arg(args: &[String], name: &str, default: u32) -> u32 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn tool(cmd: &mut Command, package: &str) -> Option<std::process::Output> {
    match cmd.output() {
        Ok(o) => Some(o),
        Err(e) => {
            eprintln!(
                "{:?} could not run ({e}); install the Debian package {package}",
                cmd.get_program()
            );
            None
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n = arg(&args, "--pages", 20).max(2);
    let quality = arg(&args, "--quality", 75).clamp(1, 100) as u8;
    let dpi = arg(&args, "--dpi", 300).max(200);
    let dir = std::env::temp_dir().join(format!("bench-pipeline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp folder");

    let separator =
        Separator::parse("MOTCUA-SEP1|000.17.22.H56-261123-0001|1|Giấy tờ 1").expect("separator");
    println!(
        "generating {n} grey A4 pages at {dpi} dpi in {}",
        dir.display()
    );
    let files: Vec<PathBuf> = (1..=n)
        .map(|number| {
            let seed = 7000 + u64::from(number);
            let img = if number == 1 {
                separator_sheet(dpi, number, &separator.payload(), 12, seed).expect("qr")
            } else {
                text_page(dpi, number, seed)
            };
            let path = dir.join(format!("page{number:04}.png"));
            std::fs::write(&path, png_with_dpi(&img, dpi)).expect("write page");
            path
        })
        .collect();
    let png_bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum();

    let modes: Vec<OutputMode> = args
        .iter()
        .position(|a| a == "--modes")
        .and_then(|i| args.get(i + 1))
        .map(|list| list.split(',').filter_map(OutputMode::parse).collect())
        .unwrap_or_else(|| OutputMode::ALL.to_vec());
    let mut ours_ppm: Vec<(&'static str, f64)> = Vec::new();
    for mode in modes {
        let mut config = PipelineConfig::new(dir.join(format!("ours-{}", mode.name())));
        config.jpeg_quality = quality;
        config.mode = mode;
        if args.iter().any(|a| a == "--deskew") {
            config.deskew_max_degrees = Some(5.0);
        }
        let peak_reset = reset_peak_rss();
        let started = Instant::now();
        let mut pipeline = PagePipeline::new(config);
        let mut separators = 0;
        for f in &files {
            let bytes = std::fs::read(f).expect("read page");
            let img = image::load_from_memory(&bytes).expect("decode page");
            drop(bytes);
            match pipeline.push(img, dpi).expect("pipeline") {
                motcua_scanner::pipeline::PageOutcome::Separator { .. } => separators += 1,
                motcua_scanner::pipeline::PageOutcome::Blank => eprintln!("unexpected blank page"),
                motcua_scanner::pipeline::PageOutcome::Added { .. } => {}
            }
        }
        let documents = pipeline.finish().expect("finish");
        let elapsed = started.elapsed();
        let peak = peak_rss_kb();
        let kept: usize = documents.iter().map(|d| d.pages.len()).sum();
        let g4: usize = documents
            .iter()
            .flat_map(|d| &d.encodings)
            .filter(|e| **e == PageEncoding::Group4)
            .count();
        let bytes: u64 = documents.iter().map(|d| d.pdf_bytes).sum();
        let ppm = f64::from(n) * 60.0 / elapsed.as_secs_f64();
        ours_ppm.push((mode.name(), ppm));
        println!(
            "ours {:<8} {n} pages in {:.2} s = {ppm:.1} pages/min ({:.0} ms/page); {separators} separator(s), {} document(s), {kept} page(s) kept, {g4} as G4",
            mode.name(),
            elapsed.as_secs_f64(),
            elapsed.as_secs_f64() * 1000.0 / f64::from(n),
            documents.len()
        );
        println!(
            "              PDF {:.1} KB per kept page (JPEG quality {quality}); peak RSS {}",
            bytes as f64 / 1024.0 / kept.max(1) as f64,
            match (peak, peak_reset) {
                (Some(kb), true) => format!("{:.1} MB", kb as f64 / 1024.0),
                (Some(kb), false) => format!(
                    "{:.1} MB (whole process: peak reset refused)",
                    kb as f64 / 1024.0
                ),
                (None, _) => "unknown".to_owned(),
            }
        );
        let _ = std::fs::remove_dir_all(dir.join(format!("ours-{}", mode.name())));
    }
    println!(
        "input:        PNG {:.1} KB per page",
        png_bytes as f64 / 1024.0 / f64::from(n)
    );
    if args.iter().any(|a| a == "--no-reference") {
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }

    // Reference: zbarimg + img2pdf over the same files.
    let reference_pdf = dir.join("reference.pdf");
    let started = Instant::now();
    let zbar = tool(
        Command::new("zbarimg")
            .args(["--quiet", "--raw"])
            .args(&files),
        "zbar-tools",
    );
    let content: Vec<&Path> = files.iter().skip(1).map(PathBuf::as_path).collect();
    let img2pdf = tool(
        Command::new("img2pdf")
            .arg("-o")
            .arg(&reference_pdf)
            .args(&content),
        "img2pdf",
    );
    let reference = started.elapsed();
    match (zbar, img2pdf) {
        (Some(z), Some(i)) if i.status.success() => {
            let codes = String::from_utf8_lossy(&z.stdout).lines().count();
            let ref_ppm = f64::from(n) * 60.0 / reference.as_secs_f64();
            let ref_bytes = std::fs::metadata(&reference_pdf)
                .map(|m| m.len())
                .unwrap_or(0);
            println!(
                "reference: {n} pages in {:.2} s = {ref_ppm:.1} pages/min (zbarimg found {codes} code(s); img2pdf {:.1} KB per page)",
                reference.as_secs_f64(),
                ref_bytes as f64 / 1024.0 / content.len().max(1) as f64
            );
            for (name, ppm) in &ours_ppm {
                println!(
                    "ratio:     {name:<8} {:.2}× the reference (targets: ≥ 120 pages/min, ≥ 3×, ≤ 150 KB per page)",
                    ppm / ref_ppm
                );
            }
        }
        (_, Some(i)) => eprintln!(
            "img2pdf failed: {}",
            String::from_utf8_lossy(&i.stderr).trim()
        ),
        _ => eprintln!("reference not measured"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}
