//! Optical character recognition of a spooled page with the `tesseract` program (Debian
//! `tesseract-ocr` and its Vietnamese model `tesseract-ocr-vie`), for the invisible text layer
//! of intake PDFs ([`pdf_text`](super::pdf_text)): a search in any PDF reader then finds the
//! page's words.
//!
//! Why the CLI and not a binding: the maintained Rust bindings build against libtesseract's C++
//! headers (a build dependency on every builder) and run the engine inside our process, where a
//! crash or a runaway page would take the kiosk down; a child process is killed at its timeout
//! and its CPU priority is its own.
//!
//! Why the spooled [`EncodedPage`] is read back instead of a grey copy kept at spool time:
//! nothing extra is written to disk, and the OCR sees exactly the pixels the PDF shows. A JPEG
//! page goes to tesseract as it is (Leptonica reads JPEG); a Group 4 page, and the text mask of
//! a mixed raster page (the picture layers hold seals and photos, the text is in the mask by
//! construction), are decoded with `fax` and given as a 1-bit PBM.
//!
//! The child never runs through a shell: the image goes to its stdin, the TSV comes from its
//! stdout. It runs with `OMP_THREAD_LIMIT=1` (one core, and the same words every run) at the
//! lowest CPU priority Linux has (`SCHED_IDLE`, and nice 19 where that is refused) and idle I/O
//! priority, set in the child between `fork` and `exec`: it only gets the cycles the scanning
//! leaves over, so OCR never slows a batch down, it only builds a backlog.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use unicode_normalization::UnicodeNormalization;

use super::encode::{EncodedPage, PageEncoding};

/// How tesseract is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcrConfig {
    /// The program (looked up in `PATH` when it has no slash).
    pub program: PathBuf,
    /// Tesseract language model(s), `vie` by default (`vie+eng` is accepted by tesseract too).
    pub language: String,
    /// A page taking longer is killed and left without text.
    pub timeout: Duration,
}

impl Default for OcrConfig {
    fn default() -> Self {
        Self {
            program: PathBuf::from("tesseract"),
            language: "vie".to_owned(),
            timeout: Duration::from_secs(120),
        }
    }
}

/// The OCR settings of the kiosk's intake (`[intake] ocr`, `ocr_language`, `ocr_wait_seconds`):
/// whether it runs, how, and how long storing the documents waits for its backlog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcrSettings {
    /// Whether pages get a text layer at all.
    pub enabled: bool,
    /// How tesseract runs (program, language, per-page timeout).
    pub config: OcrConfig,
    /// How long a commit waits for pages still in the OCR queue.
    pub commit_wait: Duration,
}

impl Default for OcrSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            config: OcrConfig::default(),
            commit_wait: Duration::from_secs(120),
        }
    }
}

/// Why a page got no text. The page itself is never lost over it.
#[derive(Debug, thiserror::Error)]
pub enum OcrError {
    /// The program is not there.
    #[error("không tìm thấy chương trình OCR {program}: hãy cài tesseract-ocr và tesseract-ocr-vie (apt install tesseract-ocr tesseract-ocr-vie) / OCR program {program} not found: install tesseract-ocr and tesseract-ocr-vie")]
    NotInstalled {
        /// The program looked for.
        program: PathBuf,
    },
    /// The language model is missing.
    #[error("tesseract không có mô hình ngôn ngữ {language:?}: hãy cài tesseract-ocr-vie / tesseract has no {language:?} language model: install tesseract-ocr-vie ({stderr})")]
    LanguageMissing {
        /// The language asked for.
        language: String,
        /// What tesseract said.
        stderr: String,
    },
    /// The program could not be started or talked to.
    #[error("không chạy được {program} / cannot run {program}: {source}")]
    Io {
        /// The program.
        program: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The page took longer than the timeout; the child was killed.
    #[error("OCR quá {seconds} giây, đã dừng / OCR took longer than {seconds} s and was stopped")]
    Timeout {
        /// The timeout.
        seconds: u64,
    },
    /// Tesseract ended with an error.
    #[error("tesseract thất bại ({status}) / tesseract failed ({status}): {stderr}")]
    Failed {
        /// Its exit status.
        status: String,
        /// The end of what it wrote on stderr.
        stderr: String,
    },
    /// The page's stream could not be decoded.
    #[error("không giải mã được trang để OCR / cannot decode the page for OCR: {0}")]
    Decode(String),
    /// Tesseract's output was not the TSV expected.
    #[error("kết quả tesseract không đọc được ở dòng {line} / unreadable tesseract TSV at line {line}: {detail}")]
    Tsv {
        /// The 1-based line.
        line: usize,
        /// What was wrong.
        detail: String,
    },
}

/// One recognised word, its box in the page's pixels (top-left origin).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OcrWord {
    /// The word, NFC-normalised.
    pub text: String,
    /// Left edge in pixels.
    pub left: u32,
    /// Top edge in pixels.
    pub top: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Tesseract's confidence, 0–100.
    pub confidence: f32,
    /// The line it belongs to, counted from 0 in reading order (words of one line are spaced
    /// apart in the text layer; lines are not).
    pub line: u32,
}

/// The words of one page, with the pixel size they were measured on.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PageText {
    /// Page width in pixels.
    pub width: u32,
    /// Page height in pixels.
    pub height: u32,
    /// The words in reading order.
    pub words: Vec<OcrWord>,
}

/// Recognises the words of `page` with tesseract (see the [module documentation](self)).
pub fn recognize(page: &EncodedPage, config: &OcrConfig) -> Result<PageText, OcrError> {
    let input = tesseract_input(page)?;
    let tsv = run_tesseract(&input, page.dpi, config)?;
    Ok(PageText {
        width: page.width,
        height: page.height,
        words: parse_tsv(&tsv)?,
    })
}

/// What tesseract reads on stdin: a JPEG page as it is, a bilevel page (or a mixed raster
/// page's text mask) as a binary PBM.
pub fn tesseract_input(page: &EncodedPage) -> Result<Vec<u8>, OcrError> {
    match page.encoding {
        PageEncoding::JpegGray | PageEncoding::JpegColor => Ok(page.data.clone()),
        PageEncoding::Group4 | PageEncoding::Mixed => {
            let w = u16::try_from(page.width)
                .map_err(|_| OcrError::Decode(format!("{} columns", page.width)))?;
            let h = u16::try_from(page.height)
                .map_err(|_| OcrError::Decode(format!("{} rows", page.height)))?;
            let row_bytes = usize::from(w).div_ceil(8);
            let mut pbm = format!("P4\n{w} {h}\n").into_bytes();
            let header = pbm.len();
            pbm.reserve(row_bytes * usize::from(h));
            let mut rows = 0usize;
            let complete = fax::decoder::decode_g4(page.data.iter().copied(), w, Some(h), |line| {
                let mut row = vec![0u8; row_bytes];
                for (x, pel) in fax::decoder::pels(line, w).enumerate() {
                    // PBM: 1 is black.
                    if matches!(pel, fax::Color::Black) {
                        row[x / 8] |= 0x80 >> (x % 8);
                    }
                }
                pbm.extend_from_slice(&row);
                rows += 1;
            });
            if complete.is_none() && rows == 0 {
                return Err(OcrError::Decode("Group 4 stream".to_owned()));
            }
            // A short stream leaves white rows at the bottom rather than no text at all.
            pbm.resize(header + row_bytes * usize::from(h), 0);
            Ok(pbm)
        }
    }
}

/// Lowers the calling process (or, called in a thread, that thread: Linux schedules threads
/// one by one) to `SCHED_IDLE` CPU priority, nice 19 where that is refused, and idle I/O
/// priority. Best effort: a refused call leaves the priority as it was. Only system calls, so
/// it may run between `fork` and `exec`.
pub fn lower_priority() {
    // SAFETY: plain system calls on the calling thread with valid arguments; no memory is
    // touched but the local `param`.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        if libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) != 0 {
            libc::setpriority(libc::PRIO_PROCESS, 0, 19);
        }
        // ioprio_set(IOPRIO_WHO_PROCESS, self, IOPRIO_CLASS_IDLE << 13).
        libc::syscall(libc::SYS_ioprio_set, 1, 0, 3 << 13);
    }
}

/// Runs tesseract on `input`, returns its TSV.
fn run_tesseract(input: &[u8], dpi: u32, config: &OcrConfig) -> Result<String, OcrError> {
    use std::os::unix::process::CommandExt;
    let program = config.program.clone();
    let io = |source| OcrError::Io {
        program: program.clone(),
        source,
    };
    let mut command = Command::new(&config.program);
    command
        .args(["stdin", "stdout", "-l", &config.language, "--psm", "3"])
        .args(["--dpi", &dpi.max(70).to_string(), "tsv"])
        .env("OMP_THREAD_LIMIT", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: `lower_priority` only makes system calls (async-signal-safe).
    unsafe {
        command.pre_exec(|| {
            lower_priority();
            Ok(())
        });
    }
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(OcrError::NotInstalled {
                program: config.program.clone(),
            })
        }
        Err(e) => return Err(io(e)),
    };
    // Three pipes, three threads: none of them can fill while another is waited on.
    let mut stdin = child.stdin.take();
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        if let Some(s) = stdin.as_mut() {
            // A child that stops reading (a bad image) is reported by its status.
            let _ = s.write_all(&data);
        }
    });
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut out);
            }
            out
        })
    };
    let stdout = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + config.timeout;
    let status = loop {
        match child.try_wait().map_err(io)? {
            Some(status) => break status,
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = writer.join();
                return Err(OcrError::Timeout {
                    seconds: config.timeout.as_secs(),
                });
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    let _ = writer.join();
    let out = stdout.join().unwrap_or_default();
    let err = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
    if !status.success() {
        let tail: String = {
            let t = err.trim();
            let start = t.char_indices().rev().nth(400).map_or(0, |(i, _)| i);
            t[start..].to_owned()
        };
        if err.contains("Failed loading language") || err.contains("Could not initialize") {
            return Err(OcrError::LanguageMissing {
                language: config.language.clone(),
                stderr: tail,
            });
        }
        return Err(OcrError::Failed {
            status: status.to_string(),
            stderr: tail,
        });
    }
    String::from_utf8(out).map_err(|e| OcrError::Tsv {
        line: 0,
        detail: e.to_string(),
    })
}

/// The words (level 5 rows with text) of tesseract's TSV output, NFC-normalised, each with
/// its line counted in reading order.
pub fn parse_tsv(tsv: &str) -> Result<Vec<OcrWord>, OcrError> {
    let mut words = Vec::new();
    let mut current: Option<(u32, u32, u32, u32)> = None;
    let mut line_no = 0u32;
    for (i, row) in tsv.lines().enumerate() {
        if i == 0 && row.starts_with("level") {
            continue;
        }
        if row.is_empty() {
            continue;
        }
        let bad = |detail: &str| OcrError::Tsv {
            line: i + 1,
            detail: detail.to_owned(),
        };
        let cols: Vec<&str> = row.splitn(12, '\t').collect();
        if cols.len() < 11 {
            return Err(bad("fewer than 11 columns"));
        }
        let num = |k: usize| -> Result<u32, OcrError> {
            cols[k]
                .trim()
                .parse::<i64>()
                .map(|v| v.clamp(0, i64::from(u32::MAX)) as u32)
                .map_err(|_| bad("not a number"))
        };
        if num(0)? != 5 {
            continue;
        }
        let text: String = cols.get(11).copied().unwrap_or("").trim().nfc().collect();
        if text.is_empty() {
            continue;
        }
        let key = (num(1)?, num(2)?, num(3)?, num(4)?);
        match current {
            Some(k) if k == key => {}
            Some(_) => {
                line_no += 1;
                current = Some(key);
            }
            None => current = Some(key),
        }
        let confidence = cols[10]
            .trim()
            .parse::<f32>()
            .map_err(|_| bad("confidence"))?;
        words.push(OcrWord {
            text,
            left: num(6)?,
            top: num(7)?,
            width: num(8)?,
            height: num(9)?,
            confidence: confidence.clamp(0.0, 100.0),
            line: line_no,
        });
    }
    Ok(words)
}

/// Word recall of `found` against `expected`: the share of `expected`'s words (split on
/// white space, NFC, lower case, punctuation at their ends ignored) that `found` holds, each
/// occurrence counted once. For tests and the benchmark.
pub fn word_recall(expected: &str, found: &str) -> f64 {
    fn words(text: &str) -> Vec<String> {
        text.split_whitespace()
            .map(|w| {
                w.trim_matches(|c: char| !c.is_alphanumeric())
                    .nfc()
                    .flat_map(char::to_lowercase)
                    .collect::<String>()
            })
            .filter(|w| !w.is_empty())
            .collect()
    }
    let mut pool: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for w in words(found) {
        *pool.entry(w).or_default() += 1;
    }
    let expected = words(expected);
    if expected.is_empty() {
        return 1.0;
    }
    let mut hit = 0usize;
    for w in &expected {
        if let Some(n) = pool.get_mut(w).filter(|n| **n > 0) {
            *n -= 1;
            hit += 1;
        }
    }
    hit as f64 / expected.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsv_words_lines_and_nfc() {
        // "Hòa" written decomposed (o + combining grave) comes out composed.
        let tsv = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n\
1\t1\t0\t0\t0\t0\t0\t0\t2480\t3508\t-1\t\n\
4\t1\t1\t1\t1\t0\t100\t200\t500\t40\t-1\t\n\
5\t1\t1\t1\t1\t1\t100\t200\t180\t40\t96.5\tCộng\n\
5\t1\t1\t1\t1\t2\t300\t200\t150\t40\t95\tHo\u{300}a\n\
5\t1\t1\t1\t2\t1\t100\t260\t150\t40\t91\tĐộc\n\
5\t1\t1\t1\t2\t2\t300\t260\t150\t40\t-1\t \n";
        let words = parse_tsv(tsv).expect("tsv");
        assert_eq!(words.len(), 3);
        assert_eq!(words[1].text, "Hòa");
        assert_eq!(words[1].text.chars().count(), 3);
        assert_eq!((words[0].line, words[1].line, words[2].line), (0, 0, 1));
        assert_eq!(
            (words[2].left, words[2].top, words[2].width),
            (100, 260, 150)
        );
    }

    #[test]
    fn bad_tsv_names_its_line() {
        let err = parse_tsv("level\n5\t1\t1\n").expect_err("short row");
        assert!(matches!(err, OcrError::Tsv { line: 2, .. }), "{err}");
    }

    #[test]
    fn recall_counts_words_once() {
        let r = word_recall("Cộng hòa xã hội, hòa", "CỘNG hòa xã");
        assert!((r - 0.6).abs() < 1e-9, "{r}");
    }

    #[test]
    fn a_missing_program_says_what_to_install() {
        let page = super::super::encode::encode_group4(
            &image::GrayImage::from_pixel(64, 64, image::Luma([255])),
            300,
            128,
        );
        let config = OcrConfig {
            program: PathBuf::from("/nonexistent/tesseract"),
            ..OcrConfig::default()
        };
        let err = recognize(&page, &config).expect_err("missing");
        assert!(err.to_string().contains("tesseract-ocr-vie"), "{err}");
    }
}
