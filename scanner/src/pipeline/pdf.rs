//! A PDF written page by page straight into its file, so a document of any length costs the
//! memory of one compressed page.
//!
//! `pdf-writer` builds a whole document in one buffer; here every object is written as its own
//! [`Chunk`] the moment its page is known, its file offset noted, and the page tree, catalog,
//! document information and cross-reference table follow at the end. The file is written as
//! `<name>.pdf.part`, synced, then renamed, so a half-written PDF never carries the final name.
//!
//! Object numbers: 1 catalog, 2 page tree, 3 document information, then three per page
//! (image, content stream, page).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use pdf_writer::{Chunk, Content, Filter, Finish, Name, Rect, Ref, TextStr};

use super::encode::{EncodedPage, PageEncoding};
use super::PipelineError;

const CATALOG: Ref = Ref::new(1);
const PAGE_TREE: Ref = Ref::new(2);
const INFO: Ref = Ref::new(3);

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
    /// Starts `path` (as `path` + `.part`) with the document title `title`.
    pub fn create(path: &Path, title: &str) -> Result<Self, PipelineError> {
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
        let image_id = self.next_ref();
        let content_id = self.next_ref();
        let page_id = self.next_ref();
        let dpi = page.dpi.max(1) as f32;
        let w_pt = page.width as f32 * 72.0 / dpi;
        let h_pt = page.height as f32 * 72.0 / dpi;
        let image_name = Name(b"Im0");

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
            PageEncoding::Group4 => {
                image.filter(Filter::CcittFaxDecode);
                image.color_space().device_gray();
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

        let mut content = Content::new();
        content.save_state();
        content.transform([w_pt, 0.0, 0.0, h_pt, 0.0, 0.0]);
        content.x_object(image_name);
        content.restore_state();
        let content = content.finish();
        let mut chunk = Chunk::new();
        chunk.stream(content_id, &content);
        self.object(content_id, &chunk)?;

        let mut chunk = Chunk::new();
        let mut p = chunk.page(page_id);
        p.media_box(Rect::new(0.0, 0.0, w_pt, h_pt));
        p.parent(PAGE_TREE);
        p.contents(content_id);
        p.resources().x_objects().pair(image_name, image_id);
        p.finish();
        self.object(page_id, &chunk)?;
        self.pages.push(page_id);
        Ok(())
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

        let mut chunk = Chunk::new();
        chunk
            .indirect(CATALOG)
            .start::<pdf_writer::writers::Catalog>()
            .pages(PAGE_TREE);
        self.object(CATALOG, &chunk)?;

        let mut chunk = Chunk::new();
        let title = std::mem::take(&mut self.title);
        chunk
            .indirect(INFO)
            .start::<pdf_writer::writers::DocumentInfo>()
            .title(TextStr(&title))
            .producer(TextStr("motcua-scanner"));
        self.object(INFO, &chunk)?;

        // Cross-reference table: entries of exactly 20 bytes (PDF 1.7 § 7.5.4).
        let xref_at = self.written;
        let mut xref = format!("xref\n0 {}\n0000000000 65535 f\r\n", self.offsets.len() + 1);
        for offset in &self.offsets {
            xref.push_str(&format!("{offset:010} 00000 n\r\n"));
        }
        xref.push_str(&format!(
            "trailer\n<< /Size {} /Root {} 0 R /Info {} 0 R >>\nstartxref\n{xref_at}\n%%EOF\n",
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
