//! Intake page pipeline benchmark (asserts nothing).
//!
//! Generates `--pages N` (default 20) grey A4 pages at 300 dpi as PNG files, in two sets:
//!
//! - **realistic** ([`synth::realistic`](motcua_scanner::pipeline::synth::realistic), seed 7000,
//!   never used for tuning): a duplex batch behind separator sheets (one per 12 pages), about
//!   20 % blank backs with bleed-through, holes and dust, 7 % near-blank pages, stamped letters
//!   and ID copies, forms in ballpoint, grey paper, backing strips;
//! - **clean** (the old set): a separator sheet, then text-like pages on white paper.
//!
//! For each set (`--sets realistic,clean`, default both) it times, on the same files in the
//! same run:
//!
//! - ours, once per output mode (`--modes auto,color,gray,bilevel`, default `auto`): PNG
//!   decode + [`PagePipeline`] (blank detection, QR decoding, crop, JPEG / CCITT G4 / mixed
//!   raster, PDF streamed to disk), one thread, with the process's peak resident memory during
//!   that run (`VmHWM` of `/proc/self/status`, reset through `/proc/self/clear_refs` before
//!   each run);
//! - the reference: `zbarimg --raw` (Debian `zbar-tools`) over the files to find codes, then
//!   `img2pdf` (Debian `img2pdf`) to assemble them, as child processes (one call each, which
//!   favours the reference: no per-page process start, and no blank test at all);
//!
//! and prints pages per minute, the ratio, KB per kept page (median and max, all text pages
//! and stamped ones apart; the compressed streams of each page), what blank detection did
//! against the generator's truth, and peak memory. Targets: ≥ 300 pages/min, ≥ 3× the
//! reference, ≤ 150 KB per text page including stamped ones, peak RSS ≤ 200 MB for 500 pages.
//!
//! Usage: `cargo run --release -p motcua-scanner --bin bench-pipeline -- [--pages N]
//! [--quality Q] [--dpi D] [--sets LIST] [--modes LIST] [--deskew] [--no-reference]`
//! (D ≥ 200, default 300; `--deskew` turns on the optional deskew step).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use motcua_scanner::pipeline::synth::realistic::{
    batch_plan, realistic_page, realistic_scan_of, BatchPage, SheetKind,
};
use motcua_scanner::pipeline::synth::{separator_sheet, text_page};
use motcua_scanner::pipeline::{
    OutputMode, PageEncoding, PageOutcome, PagePipeline, PipelineConfig,
};

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

/// What a generated page is, to judge the pipeline's decisions and sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Truth {
    Separator,
    /// A text page; `stamped` when it carries a seal (letters, ID copies).
    Text {
        stamped: bool,
        near_blank: bool,
    },
    Blank,
}

/// The pages of a set, drawn on every core (drawing is not what is measured).
fn generate(set: &str, n: u32, dpi: u32, dir: &Path) -> (Vec<PathBuf>, Vec<Truth>) {
    let plan: Vec<BatchPage> = if set == "realistic" {
        batch_plan(n as usize, n.div_ceil(12), 7000)
    } else {
        (0..n)
            .map(|i| {
                if i == 0 {
                    BatchPage::Separator(1)
                } else {
                    BatchPage::Side {
                        kind: SheetKind::Form,
                        seed: 7000 + u64::from(i + 1),
                        punched: false,
                    }
                }
            })
            .collect()
    };
    let truth: Vec<Truth> = plan
        .iter()
        .map(|p| match p {
            BatchPage::Separator(_) => Truth::Separator,
            BatchPage::Side { kind, .. } if kind.is_blank() => Truth::Blank,
            BatchPage::Side { kind, .. } => Truth::Text {
                stamped: matches!(kind, SheetKind::Letter | SheetKind::IdCopy),
                near_blank: !kind.marked(),
            },
        })
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let files: Vec<PathBuf> = (1..=plan.len() as u32)
        .map(|number| dir.join(format!("{set}-{number:04}.png")))
        .collect();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (plan, files) = (&plan, &files);
            scope.spawn(move || {
                for (i, page) in plan.iter().enumerate().skip(t).step_by(threads) {
                    let number = i as u32 + 1;
                    let seed = 7000 + u64::from(number);
                    let img = match (*page, set) {
                        (BatchPage::Separator(d), _) => {
                            let payload =
                                format!("MOTCUA-SEP1|000.17.22.H56-261123-0001|{d}|Giấy tờ {d}");
                            let sheet =
                                separator_sheet(dpi, number, &payload, 12, seed).expect("qr");
                            if set == "realistic" {
                                realistic_scan_of(&sheet, dpi, seed, d % 2 == 0)
                            } else {
                                sheet
                            }
                        }
                        (BatchPage::Side { seed, .. }, "clean") => text_page(dpi, number, seed),
                        (
                            BatchPage::Side {
                                kind,
                                seed,
                                punched,
                            },
                            _,
                        ) => realistic_page(kind, dpi, number, seed, punched),
                    };
                    std::fs::write(&files[i], png_with_dpi(&img, dpi)).expect("write page");
                }
            });
        }
    });
    (files, truth)
}

fn median_max(mut v: Vec<f64>) -> String {
    if v.is_empty() {
        return "none".to_owned();
    }
    v.sort_by(f64::total_cmp);
    format!(
        "median {:.1} KB, max {:.1} KB ({} pages)",
        v[v.len() / 2],
        v[v.len() - 1],
        v.len()
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n = arg(&args, "--pages", 20).max(2);
    let quality = arg(&args, "--quality", 75).clamp(1, 100) as u8;
    let dpi = arg(&args, "--dpi", 300).max(200);
    let list = |name: &str, default: &str| -> Vec<String> {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map_or(default, String::as_str)
            .split(',')
            .map(str::to_owned)
            .collect()
    };
    let modes: Vec<OutputMode> = list("--modes", "auto")
        .iter()
        .filter_map(|m| OutputMode::parse(m))
        .collect();
    for set in list("--sets", "realistic,clean") {
        if set != "realistic" && set != "clean" {
            eprintln!("unknown set {set}: realistic or clean");
            continue;
        }
        let dir = std::env::temp_dir().join(format!("bench-pipeline-{}-{set}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp folder");
        println!(
            "== {set}: generating {n} grey A4 pages at {dpi} dpi in {}",
            dir.display()
        );
        let (files, truth) = generate(&set, n, dpi, &dir);
        run_set(&args, &files, &truth, &modes, quality, dpi);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn run_set(
    args: &[String],
    files: &[PathBuf],
    truth: &[Truth],
    modes: &[OutputMode],
    quality: u8,
    dpi: u32,
) {
    let n = files.len() as u32;
    let dir = files[0].parent().unwrap_or(Path::new(".")).to_path_buf();
    let png_bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum();
    let mut ours_ppm: Vec<(&'static str, f64)> = Vec::new();
    for &mode in modes {
        let mut config = PipelineConfig::new(dir.join(format!("ours-{}", mode.name())));
        config.jpeg_quality = quality;
        config.mode = mode;
        if args.iter().any(|a| a == "--deskew") {
            config.deskew_max_degrees = Some(5.0);
        }
        let peak_reset = reset_peak_rss();
        let started = Instant::now();
        let mut pipeline = PagePipeline::new(config);
        let (mut separators, mut wrong) = (0, Vec::new());
        for (i, f) in files.iter().enumerate() {
            let bytes = std::fs::read(f).expect("read page");
            let img = image::load_from_memory(&bytes).expect("decode page");
            drop(bytes);
            let outcome = pipeline.push(img, dpi).expect("pipeline");
            match (&outcome, truth[i]) {
                (PageOutcome::Separator { .. }, Truth::Separator) => separators += 1,
                (PageOutcome::Blank(_), Truth::Blank)
                | (PageOutcome::Added { .. }, Truth::Text { .. }) => {}
                (outcome, truth) => wrong.push(format!("page {}: {truth:?} → {outcome:?}", i + 1)),
            }
        }
        let documents = pipeline.finish().expect("finish");
        let elapsed = started.elapsed();
        let peak = peak_rss_kb();
        let kept: usize = documents.iter().map(|d| d.pages.len()).sum();
        let count = |e: PageEncoding| {
            documents
                .iter()
                .flat_map(|d| &d.encodings)
                .filter(|x| **x == e)
                .count()
        };
        let bytes: u64 = documents.iter().map(|d| d.pdf_bytes).sum();
        let ppm = f64::from(n) * 60.0 / elapsed.as_secs_f64();
        ours_ppm.push((mode.name(), ppm));
        println!(
            "ours {:<8} {n} pages in {:.2} s = {ppm:.1} pages/min ({:.0} ms/page, one thread); {separators} separator(s), {} document(s), {kept} page(s) kept: {} G4, {} mixed, {} grey JPEG, {} colour JPEG",
            mode.name(),
            elapsed.as_secs_f64(),
            elapsed.as_secs_f64() * 1000.0 / f64::from(n),
            documents.len(),
            count(PageEncoding::Group4),
            count(PageEncoding::Mixed),
            count(PageEncoding::JpegGray),
            count(PageEncoding::JpegColor),
        );
        let blanks = truth.iter().filter(|t| **t == Truth::Blank).count();
        let near = truth
            .iter()
            .filter(|t| {
                matches!(
                    t,
                    Truth::Text {
                        near_blank: true,
                        ..
                    }
                )
            })
            .count();
        println!(
            "              blank detection: {blanks} blank back(s), {near} near-blank page(s) in the set; {} wrong decision(s){}",
            wrong.len(),
            if wrong.is_empty() { String::new() } else { format!(": {}", wrong.join("; ")) }
        );
        let sizes = |stamped: Option<bool>| -> Vec<f64> {
            documents
                .iter()
                .flat_map(|d| d.pages.iter().zip(&d.page_bytes))
                .filter(|(page, _)| match truth[**page as usize - 1] {
                    Truth::Text { stamped: s, .. } => stamped.is_none_or(|want| want == s),
                    _ => false,
                })
                .map(|(_, b)| *b as f64 / 1024.0)
                .collect()
        };
        println!(
            "              KB per text page (all kept): {}",
            median_max(sizes(None))
        );
        println!(
            "              KB per stamped page (seal: letters, ID copies): {}",
            median_max(sizes(Some(true)))
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
        return;
    }

    // Reference: zbarimg + img2pdf over the same files.
    let reference_pdf = dir.join("reference.pdf");
    let started = Instant::now();
    let zbar = tool(
        Command::new("zbarimg")
            .args(["--quiet", "--raw"])
            .args(files),
        "zbar-tools",
    );
    let content: Vec<&Path> = files
        .iter()
        .zip(truth)
        .filter(|(_, t)| **t != Truth::Separator)
        .map(|(f, _)| f.as_path())
        .collect();
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
                    "ratio:     {name:<8} {:.2}× the reference (targets: ≥ 300 pages/min, ≥ 3×, ≤ 150 KB per text page)",
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
}
