//! The procedure catalog (danh mục thủ tục hành chính): what a citizen can file at this desk,
//! which documents each procedure needs, how long it legally takes and what it costs.
//!
//! The seed catalog lives in `data/catalog.toml` (Vietnamese first, English beside it) so that a
//! province edits data, not Rust. The gateway distributes the catalog; kiosks cache it.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use toml::Spanned;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// The whole catalog as distributed by the gateway and cached by a kiosk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Catalog {
    /// Catalog revision, bumped by the province whenever procedures change.
    pub version: String,
    /// Procedures in force, in display order.
    #[serde(rename = "procedure")]
    pub procedures: Vec<Procedure>,
}

/// One administrative procedure (thủ tục hành chính).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Procedure {
    /// Procedure code as published in the national database, e.g. `1.001193`.
    pub code: String,
    /// Name in Vietnamese (shown first).
    pub name_vi: String,
    /// Name in English.
    pub name_en: String,
    /// Field (lĩnh vực) in Vietnamese, e.g. "Hộ tịch".
    pub field_vi: String,
    /// Field in English, e.g. "Civil status".
    pub field_en: String,
    /// Legal processing time in working days (0 = same day).
    pub processing_days: u32,
    /// Fee in Vietnamese đồng (0 = free).
    pub fee_vnd: u64,
    /// Code of the receiving agency (QCVN 102:2016), configuration only: never parsed for meaning.
    pub agency_code: String,
    /// Documents the citizen must submit (thành phần hồ sơ).
    #[serde(rename = "document")]
    pub documents: Vec<RequiredDocument>,
}

/// One required document of a procedure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RequiredDocument {
    /// Name in Vietnamese.
    pub name_vi: String,
    /// Name in English.
    pub name_en: String,
    /// Which form of the paper is required.
    pub kind: DocumentKind,
    /// Number of copies.
    pub count: u32,
    /// Whether the dossier can be accepted without it.
    #[serde(default = "default_true")]
    pub mandatory: bool,
    /// The document's kind across procedures (e.g. `ban_sao_can_cuoc`), for "never asked twice"
    /// (Circular 01/2023): a document of a kind the province already holds digitized for the
    /// citizen is not asked for again. Only documents that stay valid from one dossier to the
    /// next carry one (never a procedure's own form); lower-case letters, digits and `_`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind_code: Option<String>,
}

/// Whether `code` is a well-formed document kind code: 1 to 64 of `a-z`, `0-9` and `_`.
pub fn is_kind_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn default_true() -> bool {
    true
}

/// The form in which a document is submitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// Bản chính.
    Original,
    /// Bản sao có chứng thực.
    CertifiedCopy,
    /// Bản photocopy (bản chụp).
    Photocopy,
}

/// The seed catalog shipped with the software (`data/catalog.toml`), used by a kiosk until the
/// gateway has distributed the province's own, and by tests.
pub const SEED_CATALOG_TOML: &str = include_str!("../data/catalog.toml");

/// The seed catalog, parsed once on first use.
///
/// Panics only if the embedded `data/catalog.toml` is invalid, which cannot happen at run time:
/// the file is compiled in, and the test `seed_catalog_parses_and_validates` parses and validates
/// exactly that text, so a broken seed fails the build's tests, never a kiosk.
pub fn seed() -> Catalog {
    static SEED: OnceLock<Catalog> = OnceLock::new();
    SEED.get_or_init(|| {
        Catalog::from_toml_str(SEED_CATALOG_TOML)
            .expect("embedded data/catalog.toml is valid (checked by a unit test)")
    })
    .clone()
}

/// A position in a TOML source, 1-based, in characters; shown to the person editing the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Line number, starting at 1.
    pub line: usize,
    /// Column number in characters, starting at 1.
    pub column: usize,
}

impl Location {
    /// The location of byte `offset` in `src` (clamped to the text, and to a char boundary).
    pub fn of_offset(src: &str, offset: usize) -> Self {
        let mut offset = offset.min(src.len());
        while !src.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &src[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Self { line, column }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// `"line L, column C: "` when a location is known, else nothing.
fn at(location: &Option<Location>) -> String {
    location.map_or_else(String::new, |l| format!("{l}: "))
}

/// Why a catalog was rejected. Each error names the procedure and, when the catalog came from
/// TOML, the line and column to fix, because the people editing it are provincial staff, not
/// programmers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// Not valid TOML, or not the catalog's shape (missing key, wrong type, unknown kind).
    #[error("{}invalid catalog TOML: {message}", at(.location))]
    Toml {
        /// Where the parser stopped, when it says.
        location: Option<Location>,
        /// The parser's message.
        message: String,
    },
    /// A required text is empty (or only whitespace).
    #[error("{}procedure #{index}: `{key}` is empty", at(.location))]
    EmptyValue {
        /// 1-based position of the procedure in the catalog (0 for the catalog's `version`).
        index: usize,
        /// The key, e.g. `name_vi` or `document.name_en`.
        key: &'static str,
        /// Where the value is in the TOML.
        location: Option<Location>,
    },
    /// Two procedures share a code, so [`Catalog::find`] would be ambiguous.
    #[error("{}duplicate procedure code `{code}` (procedures #{first} and #{index})", at(.location))]
    DuplicateCode {
        /// The repeated code.
        code: String,
        /// 1-based position of the first procedure with that code.
        first: usize,
        /// 1-based position of the repeat.
        index: usize,
        /// Where the repeat is in the TOML.
        location: Option<Location>,
    },
    /// A procedure without any required document cannot produce a receipt's document list.
    #[error("{}procedure `{code}` lists no required document", at(.location))]
    NoDocuments {
        /// The procedure's code.
        code: String,
        /// Where the procedure is in the TOML.
        location: Option<Location>,
    },
    /// A document's `kind_code` is not 1–64 of `a-z`, `0-9` and `_`.
    #[error("{}procedure `{code}`, document #{document}: kind_code must be 1–64 of a-z, 0-9 and _", at(.location))]
    BadKindCode {
        /// The procedure's code.
        code: String,
        /// 1-based position of the document in the procedure.
        document: usize,
        /// Where the document is in the TOML.
        location: Option<Location>,
    },
    /// A document must be submitted at least once.
    #[error("{}procedure `{code}`, document #{document}: count must be at least 1", at(.location))]
    ZeroCount {
        /// The procedure's code.
        code: String,
        /// 1-based position of the document in the procedure.
        document: usize,
        /// Where the count is in the TOML.
        location: Option<Location>,
    },
}

/// Byte spans of the values that validation may complain about, read in a second pass over the
/// same TOML so that the public types keep their plain serde shape.
#[derive(Deserialize)]
struct CatalogSpans {
    version: Spanned<String>,
    #[serde(rename = "procedure", default)]
    procedures: Vec<ProcedureSpans>,
}

#[derive(Deserialize)]
struct ProcedureSpans {
    code: Spanned<String>,
    name_vi: Spanned<String>,
    name_en: Spanned<String>,
    field_vi: Spanned<String>,
    field_en: Spanned<String>,
    agency_code: Spanned<String>,
    #[serde(rename = "document", default)]
    documents: Vec<DocumentSpans>,
}

#[derive(Deserialize)]
struct DocumentSpans {
    name_vi: Spanned<String>,
    name_en: Spanned<String>,
    count: Spanned<u32>,
}

/// Resolves spans to locations; every lookup is optional so a missing span only loses the
/// location, never the error.
struct Locator<'a> {
    src: &'a str,
    spans: Option<CatalogSpans>,
}

impl Locator<'_> {
    fn none() -> Locator<'static> {
        Locator {
            src: "",
            spans: None,
        }
    }

    fn loc<T>(&self, spanned: Option<&Spanned<T>>) -> Option<Location> {
        spanned.map(|s| Location::of_offset(self.src, s.span().start))
    }

    fn version(&self) -> Option<Location> {
        self.loc(self.spans.as_ref().map(|s| &s.version))
    }

    fn procedure(&self, i: usize) -> Option<&ProcedureSpans> {
        self.spans.as_ref().and_then(|s| s.procedures.get(i))
    }

    fn document(&self, p: usize, d: usize) -> Option<&DocumentSpans> {
        self.procedure(p).and_then(|p| p.documents.get(d))
    }
}

impl Catalog {
    /// Parses and validates a catalog written in TOML (the format of `data/catalog.toml`).
    ///
    /// Errors carry the line and column where the TOML parser reports one, and where the invalid
    /// value sits for validation errors.
    pub fn from_toml_str(src: &str) -> Result<Catalog, CatalogError> {
        let catalog: Catalog = toml::from_str(src).map_err(|e| CatalogError::Toml {
            location: e.span().map(|s| Location::of_offset(src, s.start)),
            message: e.message().trim_end().to_owned(),
        })?;
        let locator = Locator {
            src,
            spans: toml::from_str::<CatalogSpans>(src).ok(),
        };
        catalog.validate_located(&locator)?;
        Ok(catalog)
    }

    /// Validates a catalog obtained some other way (e.g. JSON from the gateway): non-empty
    /// version, unique non-empty codes, non-empty names, fields and agency codes, at least one
    /// document per procedure, every document with a name and a count of at least 1.
    pub fn validate(&self) -> Result<(), CatalogError> {
        self.validate_located(&Locator::none())
    }

    fn validate_located(&self, at: &Locator<'_>) -> Result<(), CatalogError> {
        if self.version.trim().is_empty() {
            return Err(CatalogError::EmptyValue {
                index: 0,
                key: "version",
                location: at.version(),
            });
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, p) in self.procedures.iter().enumerate() {
            let index = i + 1;
            let spans = at.procedure(i);
            let texts = [
                ("code", &p.code, spans.map(|s| &s.code)),
                ("name_vi", &p.name_vi, spans.map(|s| &s.name_vi)),
                ("name_en", &p.name_en, spans.map(|s| &s.name_en)),
                ("field_vi", &p.field_vi, spans.map(|s| &s.field_vi)),
                ("field_en", &p.field_en, spans.map(|s| &s.field_en)),
                ("agency_code", &p.agency_code, spans.map(|s| &s.agency_code)),
            ];
            for (key, value, span) in texts {
                if value.trim().is_empty() {
                    return Err(CatalogError::EmptyValue {
                        index,
                        key,
                        location: at.loc(span),
                    });
                }
            }
            if let Some(&first) = seen.get(p.code.as_str()) {
                return Err(CatalogError::DuplicateCode {
                    code: p.code.clone(),
                    first,
                    index,
                    location: at.loc(spans.map(|s| &s.code)),
                });
            }
            seen.insert(&p.code, index);
            if p.documents.is_empty() {
                return Err(CatalogError::NoDocuments {
                    code: p.code.clone(),
                    location: at.loc(spans.map(|s| &s.code)),
                });
            }
            for (j, doc) in p.documents.iter().enumerate() {
                let spans = at.document(i, j);
                let names = [
                    ("document.name_vi", &doc.name_vi, spans.map(|s| &s.name_vi)),
                    ("document.name_en", &doc.name_en, spans.map(|s| &s.name_en)),
                ];
                for (key, value, span) in names {
                    if value.trim().is_empty() {
                        return Err(CatalogError::EmptyValue {
                            index,
                            key,
                            location: at.loc(span),
                        });
                    }
                }
                if doc.kind_code.as_deref().is_some_and(|k| !is_kind_code(k)) {
                    return Err(CatalogError::BadKindCode {
                        code: p.code.clone(),
                        document: j + 1,
                        location: at.loc(spans.map(|s| &s.name_vi)),
                    });
                }
                if doc.count == 0 {
                    return Err(CatalogError::ZeroCount {
                        code: p.code.clone(),
                        document: j + 1,
                        location: at.loc(spans.map(|s| &s.count)),
                    });
                }
            }
        }
        Ok(())
    }

    /// The procedure with exactly this code (surrounding whitespace ignored), if any.
    pub fn find(&self, code: &str) -> Option<&Procedure> {
        let code = code.trim();
        self.procedures.iter().find(|p| p.code == code)
    }

    /// Procedures matching what a citizen typed, insensitive to case and Vietnamese diacritics,
    /// so that "dang ky khai sinh" finds "Đăng ký khai sinh" and "ho tich" finds the civil-status
    /// procedures on a kiosk keyboard without tone marks.
    ///
    /// Every word of the query must be the beginning of a word of the procedure's Vietnamese or
    /// English name or field (so a query can be typed incrementally: "khai s" already matches);
    /// a query that is the beginning of a procedure code (staff type codes) matches too.
    /// Procedures matched by their names come before those matched only through their field;
    /// otherwise catalog order is kept. An empty query returns every procedure.
    pub fn search(&self, query: &str) -> Vec<&Procedure> {
        let words = search_words(query);
        let code_query = query.trim();
        let mut hits: Vec<(u8, &Procedure)> = self
            .procedures
            .iter()
            .filter_map(|p| {
                if words.is_empty() {
                    return Some((0, p));
                }
                let names = search_words(&format!("{} {}", p.name_vi, p.name_en));
                let fields = search_words(&format!("{} {}", p.field_vi, p.field_en));
                let in_names = |w: &String| names.iter().any(|n| n.starts_with(w.as_str()));
                let in_fields = |w: &String| fields.iter().any(|n| n.starts_with(w.as_str()));
                if words.iter().all(in_names) {
                    Some((0, p))
                } else if words.iter().all(|w| in_names(w) || in_fields(w)) {
                    Some((1, p))
                } else if !code_query.is_empty() && p.code.starts_with(code_query) {
                    Some((0, p))
                } else {
                    None
                }
            })
            .collect();
        hits.sort_by_key(|(rank, _)| *rank);
        hits.into_iter().map(|(_, p)| p).collect()
    }
}

/// Folds text for search: Unicode decomposition with the combining marks removed, `đ`/`Đ`
/// mapped to `d` (it has no decomposition), then lower case. "Đăng ký" and "DANG KY" both
/// become "dang ky".
pub fn fold_for_search(s: &str) -> String {
    s.nfd()
        .filter(|c| !is_combining_mark(*c))
        .map(|c| match c {
            'đ' | 'Đ' => 'd',
            c => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// The folded words of `s`, split at anything that is not a letter or digit.
fn search_words(s: &str) -> Vec<String> {
    fold_for_search(s)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(ps: &[&Procedure]) -> Vec<String> {
        ps.iter().map(|p| p.code.clone()).collect()
    }

    const MINIMAL: &str = r#"
version = "test-1"

[[procedure]]
code = "1.001193"
name_vi = "Đăng ký khai sinh"
name_en = "Birth registration"
field_vi = "Hộ tịch"
field_en = "Civil status"
processing_days = 0
fee_vnd = 0
agency_code = "000.17.22.H56"

[[procedure.document]]
name_vi = "Tờ khai đăng ký khai sinh"
name_en = "Birth registration declaration form"
kind = "original"
count = 1
"#;

    /// `MINIMAL` with its last occurrence of `from` replaced by `to`.
    fn edit(from: &str, to: &str) -> String {
        let i = MINIMAL.rfind(from).expect("test edit anchor exists");
        format!("{}{}{}", &MINIMAL[..i], to, &MINIMAL[i + from.len()..])
    }

    fn second_procedure(code: &str) -> String {
        let start = MINIMAL.find("[[procedure]]").expect("anchor");
        format!("{MINIMAL}\n{}", MINIMAL[start..].replace("1.001193", code))
    }

    #[test]
    fn seed_catalog_parses_and_validates() {
        let catalog = Catalog::from_toml_str(SEED_CATALOG_TOML).expect("seed catalog is valid");
        assert!(catalog.procedures.len() >= 7);
        assert_eq!(seed(), catalog);
        for name in [
            "Đăng ký khai sinh",
            "Đăng ký kết hôn",
            "Chứng thực bản sao từ bản chính",
            "Cấp Phiếu lý lịch tư pháp cho công dân Việt Nam, người nước ngoài đang cư trú tại Việt Nam",
            "Đăng ký thành lập hộ kinh doanh",
            "Cấp giấy phép xây dựng nhà ở riêng lẻ",
            "Đăng ký thường trú",
        ] {
            assert!(
                catalog.procedures.iter().any(|p| p.name_vi == name),
                "seed lacks {name}"
            );
        }
        // Names are stored in NFC so that they compare and print as expected.
        for p in &catalog.procedures {
            let nfc: String = p.name_vi.nfc().collect();
            assert_eq!(p.name_vi, nfc, "{} not NFC", p.code);
        }
    }

    #[test]
    fn seed_content_is_as_published() {
        let catalog = seed();
        let khai_sinh = catalog.find("1.001193").expect("birth registration");
        assert_eq!(khai_sinh.name_vi, "Đăng ký khai sinh");
        assert_eq!(khai_sinh.processing_days, 0);
        assert_eq!(khai_sinh.fee_vnd, 0);
        assert_eq!(khai_sinh.documents[0].name_vi, "Tờ khai đăng ký khai sinh");
        assert_eq!(khai_sinh.documents[0].kind, DocumentKind::Original);
        assert!(khai_sinh.documents[1]
            .name_vi
            .starts_with("Giấy chứng sinh"));
        assert!(!khai_sinh.documents[2].mandatory);

        let lltp = catalog
            .find("2.000488")
            .expect("criminal record certificate");
        assert_eq!(lltp.processing_days, 10);
        assert_eq!(lltp.agency_code, "000.00.14.H56");
        assert_eq!(lltp.documents[1].kind, DocumentKind::Photocopy);

        let permit = catalog.find("1.009994").expect("building permit");
        assert_eq!(permit.documents[2].count, 2);
        assert_eq!(permit.documents[1].kind, DocumentKind::CertifiedCopy);
    }

    #[test]
    fn find_by_code() {
        let catalog = seed();
        assert_eq!(
            catalog.find("1.004222").map(|p| p.name_vi.as_str()),
            Some("Đăng ký thường trú")
        );
        assert_eq!(
            catalog.find(" 1.004222 ").map(|p| p.code.as_str()),
            Some("1.004222")
        );
        assert!(catalog.find("9.999999").is_none());
        assert!(catalog.find("").is_none());
    }

    #[test]
    fn search_ignores_diacritics_and_case() {
        let catalog = seed();
        assert_eq!(codes(&catalog.search("dang ky khai sinh")), ["1.001193"]);
        assert_eq!(codes(&catalog.search("ĐĂNG KÝ KHAI SINH")), ["1.001193"]);
        assert_eq!(codes(&catalog.search("Đăng ký khai sinh")), ["1.001193"]);
        // Typed incrementally: "s" already matches "sinh"; the death registration also matches
        // through its field ("Civil status") and so ranks after the name match.
        assert_eq!(
            codes(&catalog.search("  khai   s")),
            ["1.001193", "1.000656"]
        );
        assert_eq!(codes(&catalog.search("ket hon")), ["1.000894"]);
        assert_eq!(codes(&catalog.search("thuong tru")), ["1.004222"]);
        assert_eq!(codes(&catalog.search("ly lich tu phap")), ["2.000488"]);
        assert_eq!(codes(&catalog.search("giay phep xay dung")), ["1.009994"]);
        assert_eq!(codes(&catalog.search("hộ kinh doanh")), ["2.000720"]);
        assert_eq!(codes(&catalog.search("chung thuc")), ["2.000815"]);
    }

    #[test]
    fn search_by_field_and_english() {
        let catalog = seed();
        assert_eq!(
            codes(&catalog.search("ho tich")),
            ["1.001193", "1.000656", "1.000894"]
        );
        assert_eq!(
            codes(&catalog.search("civil status")),
            ["1.001193", "1.000656", "1.000894"]
        );
        assert_eq!(codes(&catalog.search("birth")), ["1.001193"]);
        assert_eq!(codes(&catalog.search("Criminal")), ["2.000488"]);
        // Name matches rank before field-only matches.
        let dang_ky = codes(&catalog.search("dang ky"));
        assert!(dang_ky.contains(&"1.004222".to_owned()));
        assert!(dang_ky.contains(&"1.000894".to_owned()));
    }

    #[test]
    fn search_ranks_name_matches_first() {
        let src = format!(
            "{}\n{}",
            MINIMAL,
            r#"
[[procedure]]
code = "X.1"
name_vi = "Trích lục hộ tịch"
name_en = "Civil status extract"
field_vi = "Hộ tịch"
field_en = "Civil status"
processing_days = 0
fee_vnd = 8000
agency_code = "000.17.22.H56"

[[procedure.document]]
name_vi = "Tờ khai"
name_en = "Form"
kind = "original"
count = 1
"#
        );
        let catalog = Catalog::from_toml_str(&src).expect("valid");
        assert_eq!(codes(&catalog.search("ho tich")), ["X.1", "1.001193"]);
    }

    #[test]
    fn search_edge_cases() {
        let catalog = seed();
        assert_eq!(catalog.search("").len(), catalog.procedures.len());
        assert_eq!(catalog.search("  ,. ").len(), catalog.procedures.len());
        assert!(catalog.search("khai sinh xyz").is_empty());
        assert!(catalog.search("passport").is_empty());
        assert_eq!(codes(&catalog.search("1.0011")), ["1.001193"]);
        assert_eq!(codes(&catalog.search("2.000488")), ["2.000488"]);
    }

    #[test]
    fn fold_strips_vietnamese_marks() {
        assert_eq!(fold_for_search("Đăng ký khai sinh"), "dang ky khai sinh");
        assert_eq!(fold_for_search("ĐƯỜNG Hộ Tịch"), "duong ho tich");
        assert_eq!(
            fold_for_search("Ưu tiên người cao tuổi"),
            "uu tien nguoi cao tuoi"
        );
        let nfd: String = "Nữ".nfd().collect();
        assert_eq!(fold_for_search(&nfd), "nu");
    }

    #[test]
    fn minimal_catalog_parses_with_defaults() {
        let catalog = Catalog::from_toml_str(MINIMAL).expect("valid");
        assert_eq!(catalog.version, "test-1");
        assert!(catalog.procedures[0].documents[0].mandatory);
        assert!(catalog.validate().is_ok());
    }

    #[test]
    fn toml_syntax_errors_point_at_line_and_column() {
        let err =
            Catalog::from_toml_str("version = \"x\"\n[[procedure]]\ncode = \n").expect_err("bad");
        match err {
            CatalogError::Toml {
                location: Some(Location { line, .. }),
                ..
            } => assert_eq!(line, 3),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn shape_errors_point_at_the_value() {
        let err = Catalog::from_toml_str(&edit("kind = \"original\"", "kind = \"scan\""))
            .expect_err("unknown kind");
        let CatalogError::Toml { location, message } = &err else {
            panic!("unexpected {err:?}");
        };
        assert_eq!(location.map(|l| l.line), Some(17));
        assert!(message.contains("scan"), "{message}");
        assert!(err.to_string().starts_with("line 17, column 8: "), "{err}");

        let missing_docs = MINIMAL
            .split("[[procedure.document]]")
            .next()
            .expect("prefix")
            .to_owned();
        assert!(matches!(
            Catalog::from_toml_str(&missing_docs),
            Err(CatalogError::Toml { .. })
        ));
    }

    #[test]
    fn empty_values_are_rejected_with_location() {
        for (from, to, key, line) in [
            ("code = \"1.001193\"", "code = \" \"", "code", 5),
            (
                "name_vi = \"Đăng ký khai sinh\"",
                "name_vi = \"\"",
                "name_vi",
                6,
            ),
            (
                "name_en = \"Birth registration\"",
                "name_en = \"\"",
                "name_en",
                7,
            ),
            ("field_vi = \"Hộ tịch\"", "field_vi = \"\"", "field_vi", 8),
            (
                "agency_code = \"000.17.22.H56\"",
                "agency_code = \"\"",
                "agency_code",
                12,
            ),
            (
                "name_en = \"Birth registration declaration form\"",
                "name_en = \"\"",
                "document.name_en",
                16,
            ),
            ("version = \"test-1\"", "version = \"\"", "version", 2),
        ] {
            let err = Catalog::from_toml_str(&edit(from, to)).expect_err(key);
            match &err {
                CatalogError::EmptyValue {
                    key: k, location, ..
                } => {
                    assert_eq!(*k, key);
                    assert_eq!(location.map(|l| l.line), Some(line), "{key}");
                }
                other => panic!("{key}: unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn duplicate_codes_are_rejected() {
        let err = Catalog::from_toml_str(&second_procedure("1.001193")).expect_err("duplicate");
        match err {
            CatalogError::DuplicateCode {
                code,
                first,
                index,
                location,
            } => {
                assert_eq!((code.as_str(), first, index), ("1.001193", 1, 2));
                assert_eq!(location.map(|l| l.line), Some(21));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(Catalog::from_toml_str(&second_procedure("1.000894")).is_ok());
    }

    #[test]
    fn procedures_need_documents_with_positive_counts() {
        let no_docs = format!(
            "{}document = []\n",
            MINIMAL
                .split("[[procedure.document]]")
                .next()
                .expect("prefix")
        );
        assert!(matches!(
            Catalog::from_toml_str(&no_docs),
            Err(CatalogError::NoDocuments { ref code, location: Some(Location { line: 5, .. }) }) if code == "1.001193"
        ));
        let err = Catalog::from_toml_str(&edit("count = 1", "count = 0")).expect_err("zero");
        assert_eq!(
            err,
            CatalogError::ZeroCount {
                code: "1.001193".into(),
                document: 1,
                location: Some(Location {
                    line: 18,
                    column: 9
                }),
            }
        );
        assert_eq!(
            err.to_string(),
            "line 18, column 9: procedure `1.001193`, document #1: count must be at least 1"
        );
    }

    #[test]
    fn validate_works_without_locations() {
        let mut catalog = seed();
        catalog.procedures[1].documents[0].count = 0;
        assert!(matches!(
            catalog.validate(),
            Err(CatalogError::ZeroCount { location: None, .. })
        ));
        let mut catalog = seed();
        catalog.procedures[2].code = catalog.procedures[0].code.clone();
        assert!(matches!(
            catalog.validate(),
            Err(CatalogError::DuplicateCode {
                first: 1,
                index: 3,
                location: None,
                ..
            })
        ));
    }

    #[test]
    fn serde_shape_is_unchanged() {
        let catalog = Catalog::from_toml_str(MINIMAL).expect("valid");
        let json = serde_json::to_value(&catalog).expect("json");
        assert_eq!(json["version"], "test-1");
        assert_eq!(json["procedure"][0]["code"], "1.001193");
        assert_eq!(json["procedure"][0]["document"][0]["kind"], "original");
        let back: Catalog = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, catalog);
    }

    #[test]
    fn location_of_offset_counts_characters() {
        let src = "ab\nđăng x";
        assert_eq!(Location::of_offset(src, 0), Location { line: 1, column: 1 });
        let x = src.find('x').expect("x");
        assert_eq!(Location::of_offset(src, x), Location { line: 2, column: 6 });
        // Inside a multi-byte character and past the end: clamped, no panic.
        assert_eq!(Location::of_offset(src, 4), Location { line: 2, column: 1 });
        assert_eq!(
            Location::of_offset(src, 999),
            Location { line: 2, column: 7 }
        );
    }
}
