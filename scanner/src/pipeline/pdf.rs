//! A PDF written page by page straight into its file, so a document of any length costs the
//! memory of one compressed page.
//!
//! `pdf-writer` builds a whole document in one buffer; here every object is written as its own
//! [`Chunk`] the moment its page is known, its file offset noted, and the page tree, catalog,
//! document information and cross-reference table follow at the end. The file is written as
//! `<name>.pdf.part`, synced, then renamed, so a half-written PDF never carries the final name.
//!
//! Object numbers: 1 catalog, 2 page tree, 3 document information, then per page its images
//! (one, or for a mixed raster page its picture layers and the text mask), its content stream
//! and the page, then the colour profile and metadata at the end. Before the first page with
//! an OCR text layer ([`PdfFile::add_page_with_text`], see [`pdf_text`](super::pdf_text)) come
//! the four objects of its glyph-less font, once per file.
//!
//! **PDF/A-2b** (ISO 19005-2, level B, the archival form) when [`PdfOptions::srgb_icc`] holds
//! an sRGB ICC profile: XMP metadata identifying the file as PDF/A-2b with the same title and
//! producer as the document information, an output intent carrying the profile (which makes
//! DeviceGray and DeviceRGB images acceptable), and a file identifier in the trailer. The
//! profile is read from the system ([`DEFAULT_SRGB_ICC`], Debian package `icc-profiles-free`),
//! never copied into this repository. The identifier is derived from the file's own bytes and
//! no dates are written, so the same pages (and the same OCR words) always give the same
//! bytes: a document scanned twice is recognised as already stored. Only the structure is written here; no PDF/A
//! validator runs in the tests (none is packaged for Debian).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use pdf_writer::{Chunk, Content, Filter, Finish, Name, Rect, Ref, TextStr};

use super::encode::{EncodedPage, PageEncoding};
use super::error::PipelineError;
use super::ocr::PageText;
use super::pdf_text;

const CATALOG: Ref = Ref::new(1);
const PAGE_TREE: Ref = Ref::new(2);
const INFO: Ref = Ref::new(3);

/// The sRGB profile of Debian's `icc-profiles-free` (zlib licence).
pub const DEFAULT_SRGB_ICC: &str = "/usr/share/color/icc/sRGB.icc";

/// How PDFs are written.
#[derive(Debug, Clone, Default)]
pub struct PdfOptions {
    /// An sRGB ICC profile: with it the PDF is written as PDF/A-2b, without it as plain PDF 1.7.
    pub srgb_icc: Option<Arc<[u8]>>,
}

impl PdfOptions {
    /// PDF/A-2b with the profile at `path`; plain PDF (and a warning in the log) when it cannot
    /// be read or is not an RGB profile.
    pub fn pdfa_with_profile(path: &Path) -> Self {
        match std::fs::read(path) {
            Ok(bytes) if bytes.len() > 128 && &bytes[16..20] == b"RGB " => Self {
                srgb_icc: Some(bytes.into()),
            },
            Ok(_) => {
                tracing::warn!(path = %path.display(), "not an RGB ICC profile: PDFs will not be PDF/A");
                Self::default()
            }
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "no sRGB ICC profile (Debian package icc-profiles-free): PDFs will not be PDF/A");
                Self::default()
            }
        }
    }

    /// PDF/A-2b with [`DEFAULT_SRGB_ICC`] when it is installed.
    pub fn system_default() -> Self {
        Self::pdfa_with_profile(Path::new(DEFAULT_SRGB_ICC))
    }
}

/// A PDF being written; see the [module documentation](self).
#[derive(Debug)]
pub struct PdfFile {
    file: BufWriter<File>,
    tmp: PathBuf,
    path: PathBuf,
    written: u64,
    /// File offset of object `i + 1`.
    offsets: Vec<u64>,
    pages: Vec<Ref>,
    title: String,
    options: PdfOptions,
    hash: Sha256,
    /// The text layer's font, once written.
    font: Option<Ref>,
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PipelineError {
    let path = path.to_path_buf();
    move |source| PipelineError::Io {
        action,
        path,
        source,
    }
}

impl PdfFile {
    /// Starts a plain PDF at `path` (as `path` + `.part`) with the document title `title`.
    pub fn create(path: &Path, title: &str) -> Result<Self, PipelineError> {
        Self::create_with(path, title, PdfOptions::default())
    }

    /// Starts a PDF at `path` (as `path` + `.part`) with the document title `title`.
    pub fn create_with(
        path: &Path,
        title: &str,
        options: PdfOptions,
    ) -> Result<Self, PipelineError> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".part");
        let tmp = PathBuf::from(tmp);
        let file = File::create(&tmp).map_err(io_error("creating", &tmp))?;
        let mut pdf = Self {
            file: BufWriter::with_capacity(256 * 1024, file),
            tmp,
            path: path.to_path_buf(),
            written: 0,
            offsets: vec![0; 3],
            pages: Vec::new(),
            title: title.to_owned(),
            options,
            hash: Sha256::new(),
            font: None,
        };
        // A binary marker after the header, as PDF 1.7 § 7.5.2 recommends.
        pdf.write(b"%PDF-1.7\n%\x80\x80\x80\x80\n")?;
        Ok(pdf)
    }

    /// Pages written so far.
    pub fn page_count(&self) -> usize {
        self.pages.len()
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), PipelineError> {
        self.file
            .write_all(bytes)
            .map_err(io_error("writing", &self.tmp))?;
        self.hash.update(bytes);
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn next_ref(&mut self) -> Ref {
        self.offsets.push(0);
        Ref::new(self.offsets.len() as i32)
    }

    /// Writes `chunk`, which holds exactly the object `id`.
    fn object(&mut self, id: Ref, chunk: &Chunk) -> Result<(), PipelineError> {
        self.offsets[id.get() as usize - 1] = self.written;
        self.write(chunk.as_bytes())
    }

    /// Appends `page` as a page at 100 % scale (its pixels / dpi × 72 points).
    pub fn add_page(&mut self, page: &EncodedPage) -> Result<(), PipelineError> {
        self.add_page_with_text(page, None)
    }

    /// Appends `page` as [`PdfFile::add_page`] does, with the invisible text layer of `text`
    /// over it when there is one ([`pdf_text`](super::pdf_text)). Words measured on a page of
    /// another pixel size are scaled to this one.
    pub fn add_page_with_text(
        &mut self,
        page: &EncodedPage,
        text: Option<&PageText>,
    ) -> Result<(), PipelineError> {
        let dpi = page.dpi.max(1) as f32;
        let pt = |px: u32| px as f32 * 72.0 / dpi;
        let (w_pt, h_pt) = (pt(page.width), pt(page.height));
        let mut content = Content::new();
        let mut names: Vec<(String, Ref)> = Vec::new();

        // Mixed raster: the picture layers first, each at its place (PDF's origin is the
        // bottom-left corner), then the text mask painted black over them.
        for picture in &page.pictures {
            let id = self.next_ref();
            let mut chunk = Chunk::with_capacity(picture.data.len() + 256);
            let mut image = chunk.image_xobject(id, &picture.data);
            image.width(picture.pixel_width as i32);
            image.height(picture.pixel_height as i32);
            image.filter(Filter::DctDecode);
            if picture.color {
                image.color_space().device_rgb();
            } else {
                image.color_space().device_gray();
            }
            image.bits_per_component(8);
            image.finish();
            self.object(id, &chunk)?;
            let name = format!("Im{}", names.len());
            content.save_state();
            content.transform([
                pt(picture.width),
                0.0,
                0.0,
                pt(picture.height),
                pt(picture.x),
                h_pt - pt(picture.y + picture.height),
            ]);
            content.x_object(Name(name.as_bytes()));
            content.restore_state();
            names.push((name, id));
        }

        let image_id = self.next_ref();
        let mut chunk = Chunk::with_capacity(page.data.len() + 512);
        let mut image = chunk.image_xobject(image_id, &page.data);
        image.width(page.width as i32);
        image.height(page.height as i32);
        match page.encoding {
            PageEncoding::JpegGray | PageEncoding::JpegColor => {
                image.filter(Filter::DctDecode);
                if page.encoding == PageEncoding::JpegColor {
                    image.color_space().device_rgb();
                } else {
                    image.color_space().device_gray();
                }
                image.bits_per_component(8);
            }
            PageEncoding::Group4 | PageEncoding::Mixed => {
                image.filter(Filter::CcittFaxDecode);
                if page.encoding == PageEncoding::Mixed {
                    // A stencil: sample 0 (black in Group 4) paints the fill colour.
                    image.image_mask(true);
                } else {
                    image.color_space().device_gray();
                }
                image.bits_per_component(1);
                image
                    .decode_parms()
                    .k(-1)
                    .columns(page.width as i32)
                    .rows(page.height as i32)
                    .black_is_1(false);
            }
        }
        image.finish();
        self.object(image_id, &chunk)?;
        drop(chunk);
        let name = format!("Im{}", names.len());
        content.save_state();
        if page.encoding == PageEncoding::Mixed {
            content.set_fill_gray(0.0);
        }
        content.transform([w_pt, 0.0, 0.0, h_pt, 0.0, 0.0]);
        content.x_object(Name(name.as_bytes()));
        content.restore_state();
        names.push((name, image_id));

        let text = text.filter(|t| !t.words.is_empty());
        let font = match text {
            Some(text) => {
                let font = self.text_font()?;
                // Pixels of the OCR'd page to points of this page (the same size normally).
                let scale = w_pt / text.width.max(1) as f32;
                pdf_text::draw(&mut content, text, scale, h_pt);
                Some(font)
            }
            None => None,
        };

        let content_id = self.next_ref();
        let page_id = self.next_ref();
        let content = content.finish();
        let mut chunk = Chunk::new();
        chunk.stream(content_id, &content);
        self.object(content_id, &chunk)?;

        let mut chunk = Chunk::new();
        let mut p = chunk.page(page_id);
        p.media_box(Rect::new(0.0, 0.0, w_pt, h_pt));
        p.parent(PAGE_TREE);
        p.contents(content_id);
        {
            let mut resources = p.resources();
            let mut x_objects = resources.x_objects();
            for (name, id) in &names {
                x_objects.pair(Name(name.as_bytes()), *id);
            }
            x_objects.finish();
            if let Some(font) = font {
                resources.fonts().pair(Name(pdf_text::FONT_NAME), font);
            }
        }
        p.finish();
        self.object(page_id, &chunk)?;
        self.pages.push(page_id);
        Ok(())
    }

    /// The text layer's font, written the first time it is needed.
    fn text_font(&mut self) -> Result<Ref, PipelineError> {
        if let Some(font) = self.font {
            return Ok(font);
        }
        let ids = [(); 4].map(|()| self.next_ref());
        for (id, chunk) in ids.into_iter().zip(pdf_text::font_objects(ids)) {
            self.object(id, &chunk)?;
        }
        self.font = Some(ids[0]);
        Ok(ids[0])
    }

    /// Writes the page tree, catalog, information and cross-reference table, syncs the file
    /// and gives it its final name. Returns the PDF's size in bytes.
    pub fn finish(mut self) -> Result<u64, PipelineError> {
        let mut chunk = Chunk::new();
        chunk
            .pages(PAGE_TREE)
            .kids(self.pages.iter().copied())
            .count(self.pages.len() as i32);
        self.object(PAGE_TREE, &chunk)?;

        let title = std::mem::take(&mut self.title);
        let pdfa = match self.options.srgb_icc.clone() {
            Some(icc) => {
                let icc_id = self.next_ref();
                let mut chunk = Chunk::with_capacity(icc.len() + 256);
                chunk.icc_profile(icc_id, &icc).n(3);
                self.object(icc_id, &chunk)?;
                let xmp = xmp_pdfa2b(&title);
                let xmp_id = self.next_ref();
                let mut chunk = Chunk::new();
                chunk.metadata(xmp_id, xmp.as_bytes());
                self.object(xmp_id, &chunk)?;
                Some((icc_id, xmp_id))
            }
            None => None,
        };

        let mut chunk = Chunk::new();
        {
            let mut catalog = chunk
                .indirect(CATALOG)
                .start::<pdf_writer::writers::Catalog>();
            catalog.pages(PAGE_TREE);
            if let Some((icc_id, xmp_id)) = pdfa {
                catalog.metadata(xmp_id);
                catalog
                    .output_intents()
                    .push()
                    .subtype(pdf_writer::types::OutputIntentSubtype::PDFA)
                    .output_condition_identifier(TextStr("sRGB IEC61966-2.1"))
                    .info(TextStr("sRGB IEC61966-2.1"))
                    .dest_output_profile(icc_id);
            }
        }
        self.object(CATALOG, &chunk)?;

        let mut chunk = Chunk::new();
        chunk
            .indirect(INFO)
            .start::<pdf_writer::writers::DocumentInfo>()
            .title(TextStr(&title))
            .producer(TextStr(PRODUCER));
        self.object(INFO, &chunk)?;

        // Cross-reference table: entries of exactly 20 bytes (PDF 1.7 § 7.5.4).
        let xref_at = self.written;
        let mut xref = format!("xref\n0 {}\n0000000000 65535 f\r\n", self.offsets.len() + 1);
        for offset in &self.offsets {
            xref.push_str(&format!("{offset:010} 00000 n\r\n"));
        }
        // The file identifier: the first 16 bytes of the SHA-256 of everything before it.
        let id = hex_upper(&self.hash.clone().finalize()[..16]);
        xref.push_str(&format!(
            "trailer\n<< /Size {} /Root {} 0 R /Info {} 0 R /ID [<{id}> <{id}>] >>\nstartxref\n{xref_at}\n%%EOF\n",
            self.offsets.len() + 1,
            CATALOG.get(),
            INFO.get()
        ));
        self.write(xref.as_bytes())?;
        let file = self.file.into_inner().map_err(|e| PipelineError::Io {
            action: "writing",
            path: self.tmp.clone(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(io_error("syncing", &self.tmp))?;
        drop(file);
        std::fs::rename(&self.tmp, &self.path).map_err(io_error("renaming into", &self.path))?;
        Ok(self.written)
    }

    /// Gives up: the partial file is removed.
    pub fn abandon(self) {
        let tmp = self.tmp.clone();
        drop(self);
        let _ = std::fs::remove_file(tmp);
    }
}

const PRODUCER: &str = "motcua-scanner";

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// XML text with `&`, `<`, `>` and quotes escaped.
fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The XMP packet of a PDF/A-2b file whose title is `title` (the same as in the document
/// information dictionary, as ISO 19005-2 requires of metadata present in both).
fn xmp_pdfa2b(title: &str) -> String {
    format!(
        r#"<?xpacket begin="{bom}" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:pdf="http://ns.adobe.com/pdf/1.3/">
   <pdfaid:part>2</pdfaid:part>
   <pdfaid:conformance>B</pdfaid:conformance>
   <dc:format>application/pdf</dc:format>
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">{}</rdf:li></rdf:Alt></dc:title>
   <pdf:Producer>{PRODUCER}</pdf:Producer>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"#,
        xml_escape(title),
        bom = '\u{feff}',
    )
}
