//! Intake OCR benchmark (asserts nothing, prints figures; issue #19).
//!
//! Generates `--pages N` (default 50) A4 pages at 300 dpi of known Vietnamese text
//! ([`motcua_sheets::samples`], DejaVu from Debian `fonts-dejavu-core`) with the desk scanner's
//! noise ([`realistic_scan_of`]), as PNG files, then on the same files in the same run:
//!
//! 1. **pipeline alone**: PNG decode + [`PagePipeline::process`] + spool file, one thread, as the
//!    kiosk's intake does: pages per minute;
//! 2. **pipeline with OCR beside it**: the same, and each spooled page queued to one worker
//!    thread at idle priority running `tesseract -l vie` (its child at `SCHED_IDLE` too, as
//!    `kiosk::intake::ocr` does): pages per minute of the pipeline, the OCR backlog after each
//!    page (pages spooled but not yet read), its maximum, and when it clears after the last page;
//! 3. **OCR alone** on the first `--alone K` pages (default 5): OCR seconds per page with no
//!    competition from the pipeline;
//!
//! then writes one PDF of all pages with their text layers and prints the word recall of
//! `pdftotext` against the pages' text (and of tesseract's own words), the PDF size, and
//! whether `qpdf --check` passes.
//!
//! Measured (release, 50 pages, a 2-core machine shared with two other builds, load about 2):
//! pipeline 643 pages/min alone and 632 with the OCR beside it (the same within noise: the
//! OCR at `SCHED_IDLE` takes only what is left over), tesseract 0.57 CPU s/page, the backlog
//! growing to 43 of 50 pages during the batch and cleared 28 s after the last page, word
//! recall 0.986 through `pdftotext`, 36.9 KB/page with the text layer, `qpdf --check` ok.
//!
//! Usage: `cargo run --release -p motcua-sheets --bin bench-ocr -- [--pages N] [--alone K]`.
//! It lives in `sheets` because the Vietnamese pages are drawn with the sheets' text renderer,
//! which the scanner crate cannot depend on.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Instant;

use motcua_scanner::pipeline::ocr::{lower_priority, recognize, word_recall, OcrConfig, PageText};
use motcua_scanner::pipeline::pdf::{PdfFile, PdfOptions};
use motcua_scanner::pipeline::synth::realistic::realistic_scan_of;
use motcua_scanner::pipeline::{EncodedPage, PagePipeline, PipelineConfig, ProcessedPage};
use motcua_sheets::samples::{birth_form_plain, birth_form_text, render_text_page, to_gray};
use motcua_sheets::{FontConfig, Fonts};

fn arg(args: &[String], name: &str, default: u32) -> u32 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds used by this process's finished children (`cutime` + `cstime` of
/// `/proc/self/stat`, in clock ticks of 1/100 s): the tesseract runs' own cost, whatever the
/// load of the machine.
fn children_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    // After the name the state (not a number) is dropped: field k is f[k - 4], cutime is
    // field 16, cstime 17.
    (f.get(12).copied().unwrap_or(0.0) + f.get(13).copied().unwrap_or(0.0)) / 100.0
}

fn generate(n: u32, dir: &Path) -> Vec<PathBuf> {
    let fonts = Fonts::load(&FontConfig::default()).expect("fonts-dejavu-core");
    let files: Vec<PathBuf> = (1..=n)
        .map(|i| dir.join(format!("page-{i:04}.png")))
        .collect();
    for (i, file) in files.iter().enumerate() {
        let number = i as u32 + 1;
        let clean = to_gray(&render_text_page(&fonts, &birth_form_text(number)));
        let scan = realistic_scan_of(&clean, 300, 31_000 + u64::from(number), number % 3 == 0);
        scan.save(file).expect("write page");
    }
    files
}

/// Decodes, processes and spools every file; calls `spooled` with each spool file.
fn run_pipeline(files: &[PathBuf], out: &Path, mut spooled: impl FnMut(usize, PathBuf)) -> f64 {
    let mut pipeline = PagePipeline::new(PipelineConfig::new(out));
    let start = Instant::now();
    for (i, file) in files.iter().enumerate() {
        let img = image::open(file).expect("decode");
        if let ProcessedPage::Content { encoded, .. } = pipeline.process(img, 300).expect("page") {
            let path = out.join(format!("page-{:04}.mcp", i + 1));
            encoded.write_spool(&path).expect("spool");
            spooled(i, path);
        }
    }
    start.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n = arg(&args, "--pages", 50).max(1);
    let alone = arg(&args, "--alone", 5).clamp(1, n);
    let work = tempfile::tempdir().expect("tempdir");
    let config = OcrConfig::default();
    println!("generating {n} pages (300 dpi, Vietnamese form text, scanner noise)…");
    let files = generate(n, work.path());

    let plain = work.path().join("plain");
    std::fs::create_dir_all(&plain).expect("dir");
    let t_plain = run_pipeline(&files, &plain, |_, _| {});

    // Pipeline with the OCR worker beside it.
    let with = work.path().join("with-ocr");
    std::fs::create_dir_all(&with).expect("dir");
    let (tx, rx) = mpsc::channel::<(usize, PathBuf)>();
    let (done_tx, done_rx) = mpsc::channel::<(usize, Instant, f64, Option<PageText>)>();
    let worker_config = config.clone();
    let worker = std::thread::spawn(move || {
        lower_priority();
        for (i, spool) in rx {
            let t = Instant::now();
            let page = EncodedPage::read_spool(&spool).expect("spool");
            let words = recognize(&page, &worker_config).ok();
            let _ = done_tx.send((i, Instant::now(), t.elapsed().as_secs_f64(), words));
        }
    });
    let cpu_before = children_cpu_s();
    let mut backlog_after_page: Vec<usize> = Vec::new();
    let mut queued = 0usize;
    let mut finished: Vec<(usize, Instant, f64, Option<PageText>)> = Vec::new();
    let t_with = run_pipeline(&files, &with, |i, path| {
        queued += 1;
        let _ = tx.send((i, path));
        finished.extend(done_rx.try_iter());
        backlog_after_page.push(queued - finished.len());
    });
    let last_page = Instant::now();
    drop(tx);
    finished.extend(done_rx.iter());
    let _ = worker.join();
    let cleared = finished
        .iter()
        .map(|f| f.1)
        .max()
        .unwrap_or(last_page)
        .saturating_duration_since(last_page);
    let ocr_beside: Vec<f64> = finished.iter().map(|f| f.2).collect();
    let ocr_cpu = (children_cpu_s() - cpu_before) / finished.len().max(1) as f64;

    // OCR alone.
    let t = Instant::now();
    for i in 0..alone as usize {
        let page =
            EncodedPage::read_spool(&plain.join(format!("page-{:04}.mcp", i + 1))).expect("spool");
        let _ = recognize(&page, &config);
    }
    let ocr_alone = t.elapsed().as_secs_f64() / f64::from(alone);

    // One PDF with every page's text layer.
    finished.sort_by_key(|f| f.0);
    let pdf_path = work.path().join("batch.pdf");
    let mut pdf =
        PdfFile::create_with(&pdf_path, "bench-ocr", PdfOptions::system_default()).expect("pdf");
    let (mut expected, mut words_text) = (String::new(), String::new());
    for f in &finished {
        let page =
            EncodedPage::read_spool(&with.join(format!("page-{:04}.mcp", f.0 + 1))).expect("spool");
        pdf.add_page_with_text(&page, f.3.as_ref()).expect("page");
        expected.push_str(&birth_form_plain(f.0 as u32 + 1));
        expected.push('\n');
        if let Some(t) = &f.3 {
            for w in &t.words {
                words_text.push_str(&w.text);
                words_text.push(' ');
            }
        }
    }
    let pdf_bytes = pdf.finish().expect("finish");
    let extracted = Command::new("pdftotext")
        .arg(&pdf_path)
        .arg("-")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let qpdf = Command::new("qpdf")
        .arg("--check")
        .arg(&pdf_path)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    let failed = finished.iter().filter(|f| f.3.is_none()).count();

    let ppm = |secs: f64| f64::from(n) * 60.0 / secs;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let max_backlog = backlog_after_page.iter().copied().max().unwrap_or(0);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "pages: {n}, machine: {} cores, load average {}",
        std::thread::available_parallelism().map_or(1, |t| t.get()),
        load.trim()
    );
    println!(
        "pipeline alone:           {:>7.1} pages/min ({t_plain:.1} s)",
        ppm(t_plain)
    );
    println!(
        "pipeline with OCR beside: {:>7.1} pages/min ({t_with:.1} s)",
        ppm(t_with)
    );
    println!("OCR CPU time:             {ocr_cpu:>7.2} s/page (tesseract's own, one core)");
    println!("OCR alone:                {ocr_alone:>7.2} s/page wall time ({alone} pages, idle priority)");
    println!(
        "OCR beside the pipeline:  {:>7.2} s/page mean wall time ({} pages, {failed} failed)",
        mean(&ocr_beside),
        ocr_beside.len()
    );
    println!(
        "backlog max: {max_backlog} pages; cleared {:.1} s after the last page was spooled",
        cleared.as_secs_f64()
    );
    let every = (backlog_after_page.len() / 10).max(1);
    let samples: Vec<String> = backlog_after_page
        .iter()
        .enumerate()
        .filter(|(i, _)| (i + 1) % every == 0)
        .map(|(i, b)| format!("{}:{b}", i + 1))
        .collect();
    println!("backlog after page (page:backlog): {}", samples.join(" "));
    println!(
        "word recall: pdftotext {:.3}, tesseract words {:.3}",
        word_recall(&expected, &extracted),
        word_recall(&expected, &words_text)
    );
    println!(
        "PDF: {:.1} KB/page with text layer, qpdf --check {}",
        pdf_bytes as f64 / 1024.0 / f64::from(n),
        if qpdf { "ok" } else { "FAILED" }
    );
}
