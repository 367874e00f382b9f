//! A PAdES signature appended to a PDF as an incremental update (ISO 32000-1 § 7.5.6,
//! § 12.8): the original bytes are copied unchanged, then new versions of the catalog (with an
//! `/AcroForm`) and of the first page (with the invisible signature field's widget), the
//! signature dictionary, a cross-reference section with `/Prev` and a trailer.
//!
//! Only PDFs written by motcua's page pipeline are extended (one cross-reference table, the
//! catalog as object 1 and the page tree as object 2, as `motcua_scanner::pipeline::pdf`
//! writes them); anything else, a PDF already signed included, is refused with
//! [`SigningError::NotOurPdf`] rather than guessed at.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset};
use sha2::{Digest, Sha256};

use crate::cms_signature::detached_signature;
use crate::error::io_error;
use crate::signer::Signer;
use crate::SigningError;

/// What the signature says besides the signer.
#[derive(Debug, Clone)]
pub struct SignatureDetails {
    /// Why the document is signed (shown by PDF readers).
    pub reason: String,
    /// Where (the site's name).
    pub location: String,
    /// The claimed signing time (`/M`).
    pub signing_time: DateTime<FixedOffset>,
}

/// Width kept for each number of `/ByteRange` (a 10-digit offset covers files up to 9 GB).
const RANGE_WIDTH: usize = 10;

struct Layout {
    size: u32,
    info: u32,
    id: String,
    xref_at: u64,
    catalog: String,
    page_id: u32,
    page: String,
}

fn not_ours(detail: impl Into<String>) -> SigningError {
    SigningError::NotOurPdf(detail.into())
}

fn read_at(file: &mut File, path: &Path, at: u64, len: usize) -> Result<Vec<u8>, SigningError> {
    file.seek(SeekFrom::Start(at))
        .map_err(io_error("reading", path))?;
    let mut buf = Vec::with_capacity(len);
    file.take(len as u64)
        .read_to_end(&mut buf)
        .map_err(io_error("reading", path))?;
    Ok(buf)
}

/// The integer after `key` in `text` (e.g. `/Size 12`).
fn number_after(text: &str, key: &str) -> Option<u64> {
    let rest = &text[text.find(key)? + key.len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The dictionary of object `id` (its text between `obj` and `endobj`), from the offset the
/// cross-reference table gives.
fn object_dict(
    file: &mut File,
    path: &Path,
    xref_at: u64,
    first_entry: u64,
    id: u32,
) -> Result<String, SigningError> {
    let entry = read_at(file, path, xref_at + first_entry + 20 * u64::from(id), 20)?;
    let entry = std::str::from_utf8(&entry).map_err(|_| not_ours("xref entry"))?;
    let offset: u64 = entry
        .get(..10)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| not_ours(format!("xref entry of object {id}")))?;
    let text = read_at(file, path, offset, 64 * 1024)?;
    let text = String::from_utf8_lossy(&text);
    let header = format!("{id} 0 obj");
    if !text.starts_with(&header) {
        return Err(not_ours(format!("object {id} not at its xref offset")));
    }
    let end = text
        .find("endobj")
        .ok_or_else(|| not_ours(format!("object {id} has no endobj")))?;
    let body = text[header.len()..end].trim();
    if !(body.starts_with("<<") && body.ends_with(">>")) || body.contains("stream") {
        return Err(not_ours(format!("object {id} is not a dictionary")));
    }
    Ok(body.to_owned())
}

fn read_layout(file: &mut File, path: &Path) -> Result<Layout, SigningError> {
    let len = file
        .seek(SeekFrom::End(0))
        .map_err(io_error("reading", path))?;
    let tail_len = len.min(2048);
    let tail = read_at(file, path, len - tail_len, tail_len as usize)?;
    let tail = String::from_utf8_lossy(&tail);
    let start = tail
        .rfind("startxref")
        .ok_or_else(|| not_ours("no startxref"))?;
    let xref_at = number_after(&tail[start..], "startxref").ok_or_else(|| not_ours("startxref"))?;
    let trailer_at = tail[..start]
        .rfind("trailer")
        .ok_or_else(|| not_ours("no trailer"))?;
    let trailer = &tail[trailer_at..start];
    if trailer.contains("/Prev") {
        return Err(not_ours("already has an update (signed already?)"));
    }
    let size = number_after(trailer, "/Size").ok_or_else(|| not_ours("trailer /Size"))? as u32;
    let root = number_after(trailer, "/Root").ok_or_else(|| not_ours("trailer /Root"))?;
    let info = number_after(trailer, "/Info").ok_or_else(|| not_ours("trailer /Info"))? as u32;
    let id = trailer
        .find("/ID [<")
        .and_then(|at| {
            let rest = &trailer[at + 6..];
            rest.find('>').map(|end| rest[..end].to_owned())
        })
        .ok_or_else(|| not_ours("trailer /ID"))?;
    if root != 1 {
        return Err(not_ours("catalog is not object 1"));
    }
    let head = read_at(file, path, xref_at, 64)?;
    let head = String::from_utf8_lossy(&head);
    let expected = format!("xref\n0 {size}\n");
    if !head.starts_with(&expected) {
        return Err(not_ours("not one cross-reference table of all objects"));
    }
    let first_entry = expected.len() as u64;
    let catalog = object_dict(file, path, xref_at, first_entry, 1)?;
    if catalog.contains("/AcroForm") {
        return Err(not_ours("catalog has a form already"));
    }
    let tree = object_dict(file, path, xref_at, first_entry, 2)?;
    let page_id = tree
        .find("/Kids")
        .and_then(|at| number_after(&tree[at..], "["))
        .ok_or_else(|| not_ours("page tree without kids"))? as u32;
    let page = object_dict(file, path, xref_at, first_entry, page_id)?;
    if page.contains("/Annots") {
        return Err(not_ours("first page has annotations already"));
    }
    Ok(Layout {
        size,
        info,
        id,
        xref_at,
        catalog,
        page_id,
        page,
    })
}

/// A PDF text string in UTF-16BE with its byte order mark, as hex (any Vietnamese text).
fn text_string(text: &str) -> String {
    let mut out = String::from("<FEFF");
    for unit in text.encode_utf16() {
        out.push_str(&format!("{unit:04X}"));
    }
    out.push('>');
    out
}

/// `D:YYYYMMDDHHmmSS+07'00'`.
fn pdf_date(time: &DateTime<FixedOffset>) -> String {
    let offset = time.offset().local_minus_utc();
    let sign = if offset < 0 { '-' } else { '+' };
    let offset = offset.abs();
    format!(
        "D:{}{sign}{:02}'{:02}'",
        time.format("%Y%m%d%H%M%S"),
        offset / 3600,
        offset % 3600 / 60
    )
}

/// `dict` (`<< … >>`) with `entry` added before its closing `>>`.
fn with_entry(dict: &str, entry: &str) -> String {
    let body = dict.trim_end();
    let body = &body[..body.len() - 2];
    format!("{body}  {entry}\n>>")
}

/// Signs the PDF at `input` into `output` (written as `output` + `.part`, synced, renamed).
/// Returns the signed file's size.
pub fn sign_pdf(
    input: &Path,
    output: &Path,
    signer: &dyn Signer,
    details: &SignatureDetails,
) -> Result<u64, SigningError> {
    signer
        .certificate()
        .check_valid_at(details.signing_time.to_utc())?;
    let mut original = File::open(input).map_err(io_error("opening", input))?;
    let layout = read_layout(&mut original, input)?;
    let original_len = original
        .seek(SeekFrom::End(0))
        .map_err(io_error("reading", input))?;

    // The room kept for the CMS: certificate, signature (up to RSA 4096) and attributes.
    let reserve = signer.certificate().encoded_len() + 4096;
    let sig_id = layout.size;
    let field_id = sig_id + 1;
    let form_id = sig_id + 2;
    let new_size = sig_id + 3;

    let mut update = Vec::new();
    let mut offsets: Vec<(u32, u64)> = Vec::new();
    let mut object = |update: &mut Vec<u8>, id: u32, body: &str| {
        update.extend_from_slice(b"\n");
        offsets.push((id, original_len + update.len() as u64));
        update.extend_from_slice(format!("{id} 0 obj\n{body}\nendobj\n").as_bytes());
    };
    object(
        &mut update,
        1,
        &with_entry(&layout.catalog, &format!("/AcroForm {form_id} 0 R")),
    );
    object(
        &mut update,
        layout.page_id,
        &with_entry(&layout.page, &format!("/Annots [{field_id} 0 R]")),
    );
    object(
        &mut update,
        form_id,
        &format!("<< /Fields [{field_id} 0 R] /SigFlags 3 >>"),
    );
    object(
        &mut update,
        field_id,
        &format!(
            "<< /Type /Annot /Subtype /Widget /FT /Sig /T {} /V {sig_id} 0 R /F 132 /Rect [0 0 0 0] /P {} 0 R >>",
            text_string("Chữ ký số hoá / Digitization signature"),
            layout.page_id
        ),
    );
    // The signature dictionary, with placeholders for the byte range and the contents.
    let range_placeholder = format!("[0 {}]", " ".repeat(3 * RANGE_WIDTH + 2));
    let head = format!(
        "<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached /M ({}) /Name {} /Reason {} /Location {} /ByteRange ",
        pdf_date(&details.signing_time),
        text_string(&signer.certificate().name),
        text_string(&details.reason),
        text_string(&details.location),
    );
    let body = format!(
        "{head}{range_placeholder} /Contents <{}> >>",
        "0".repeat(reserve * 2)
    );
    object(&mut update, sig_id, &body);
    let sig_start = offsets.last().map(|(_, at)| *at).unwrap_or(original_len) - original_len;
    let header_len = format!("{sig_id} 0 obj\n").len();
    let range_at = sig_start as usize + header_len + head.len();
    let contents_at = range_at + range_placeholder.len() + " /Contents ".len();
    let contents_end = contents_at + reserve * 2 + 2;

    let xref_at = original_len + update.len() as u64;
    let mut xref = String::from("xref\n0 1\n0000000000 65535 f\r\n");
    offsets.sort_by_key(|(id, _)| *id);
    for (id, at) in &offsets {
        xref.push_str(&format!("{id} 1\n{at:010} 00000 n\r\n"));
    }
    update.extend_from_slice(xref.as_bytes());
    let trailer_at = update.len();

    // Byte range: everything but the contents' hex string (its delimiters included).
    let a = original_len + contents_at as u64;
    let b = original_len + contents_end as u64;
    // The trailer's length does not depend on its values' digits except the new /ID, which
    // has a fixed width; /Size and /Prev are known now.
    let trailer = |new_id: &str| {
        format!(
            "trailer\n<< /Size {new_size} /Root 1 0 R /Info {} 0 R /ID [<{}> <{new_id}>] /Prev {} >>\nstartxref\n{xref_at}\n%%EOF\n",
            layout.info, layout.id, layout.xref_at
        )
    };
    let provisional = trailer(&"0".repeat(32));
    let total = original_len + (trailer_at + provisional.len()) as u64;
    let c = total - b;
    let range = format!("[0 {a} {} {c}]", b);
    if range.len() > range_placeholder.len() {
        return Err(not_ours("file too large for the byte range"));
    }
    let range = format!("{range:<width$}", width = range_placeholder.len());
    update[range_at..range_at + range.len()].copy_from_slice(range.as_bytes());

    // The new file identifier: derived from the signed bytes' digest before it (the trailer
    // is part of the signed range, so it is fixed first and then hashed).
    let out_tmp = part_path(output);
    // The partial file holds the citizen's pages: it never outlives a failure.
    let written = write_signed(
        &mut original,
        input,
        original_len,
        &out_tmp,
        output,
        update,
        Offsets {
            contents_at,
            contents_end,
            reserve,
            total,
        },
        &trailer,
        signer,
    );
    if written.is_err() {
        let _ = std::fs::remove_file(&out_tmp);
    }
    written
}

/// Where the contents' hex string is in the update, how long it may be, the signed file's size.
struct Offsets {
    contents_at: usize,
    contents_end: usize,
    reserve: usize,
    total: u64,
}

/// Copies the original (exactly `original_len` bytes) into `out_tmp` while hashing it, signs,
/// appends the update, syncs and renames into `output`.
#[allow(clippy::too_many_arguments)]
fn write_signed(
    original: &mut File,
    input: &Path,
    original_len: u64,
    out_tmp: &Path,
    output: &Path,
    mut update: Vec<u8>,
    at: Offsets,
    trailer: &dyn Fn(&str) -> String,
    signer: &dyn Signer,
) -> Result<u64, SigningError> {
    let Offsets {
        contents_at,
        contents_end,
        reserve,
        total,
    } = at;
    let mut hasher = Sha256::new();
    let mut out = File::create(out_tmp).map_err(io_error("creating", out_tmp))?;
    original
        .seek(SeekFrom::Start(0))
        .map_err(io_error("reading", input))?;
    let mut reader = BufReader::with_capacity(256 * 1024, original.take(original_len));
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = reader.read(&mut buf).map_err(io_error("reading", input))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(io_error("writing", out_tmp))?;
    }
    let mut id_hasher = hasher.clone();
    id_hasher.update(&update[..contents_at]);
    let new_id = hex::encode_upper(&id_hasher.finalize()[..16]);
    update.extend_from_slice(trailer(&new_id).as_bytes());
    debug_assert_eq!(original_len + update.len() as u64, total);

    hasher.update(&update[..contents_at]);
    hasher.update(&update[contents_end..]);
    let digest: [u8; 32] = hasher.finalize().into();
    let cms = detached_signature(signer, &digest)?;
    if cms.len() > reserve {
        return Err(SigningError::Unusable(format!(
            "a signature of {} bytes exceeds the {reserve} kept for it",
            cms.len()
        )));
    }
    let hex = hex::encode_upper(&cms);
    update[contents_at + 1..contents_at + 1 + hex.len()].copy_from_slice(hex.as_bytes());
    out.write_all(&update)
        .map_err(io_error("writing", out_tmp))?;
    out.sync_all().map_err(io_error("syncing", out_tmp))?;
    drop(out);
    std::fs::rename(out_tmp, output).map_err(io_error("renaming into", output))?;
    Ok(total)
}

fn part_path(path: &Path) -> PathBuf {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".part");
    PathBuf::from(tmp)
}
