//! Document codes: the code each digitized document of a dossier carries (the "digitization
//! result code" of Circular 01/2023 art. 7–8, whose structure no public text fixes, so it is a
//! template in the kiosk's configuration).
//!
//! A template is literal text with placeholders in braces:
//!
//! | placeholder | value |
//! |---|---|
//! | `{dossier}` | the dossier code, `000.17.22.H56-261123-0001` |
//! | `{procedure}` | the procedure code, `1.001193` |
//! | `{index}` | the document's number in the procedure's list of required documents (1, 2, …; 0 for pages not sorted into one), `{index:02}` pads it with zeros to 2 digits (1 to 9 digits) |
//! | `{date}` | the digitization date `YYMMDD`, as in dossier codes |
//!
//! The default, `{dossier}-{index:02}`, gives `000.17.22.H56-261123-0001-02`: what an officer
//! reads as "document 2 of that dossier". Every template must contain `{dossier}` and
//! `{index}`, so that two documents never get the same code; literal text is limited to
//! letters, digits, `.`, `-` and `_`, so a code is safe in file names, URLs and QR codes.

use chrono::NaiveDate;

/// The template every kiosk uses unless configured otherwise.
pub const DEFAULT_DOCUMENT_CODE: &str = "{dossier}-{index:02}";

/// Why a template was refused; `offset` is the byte in the template where the problem is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    /// Byte offset in the template.
    pub offset: usize,
    /// What is wrong, in Vietnamese and English.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Dossier,
    Procedure,
    Index { width: usize },
    Date,
}

/// A parsed document code template; see the [module documentation](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentCodeTemplate {
    source: String,
    parts: Vec<Part>,
}

/// What a document code is made of.
#[derive(Debug, Clone, Copy)]
pub struct DocumentCodeFields<'a> {
    /// Dossier code.
    pub dossier: &'a str,
    /// Procedure code.
    pub procedure: &'a str,
    /// Index of the required document (1-based; 0 for unsorted pages).
    pub index: u32,
    /// Digitization date.
    pub date: NaiveDate,
}

impl Default for DocumentCodeTemplate {
    fn default() -> Self {
        match Self::parse(DEFAULT_DOCUMENT_CODE) {
            Ok(t) => t,
            Err(e) => unreachable!("the default template is valid: {e}"),
        }
    }
}

impl DocumentCodeTemplate {
    /// Parses and validates a template.
    pub fn parse(template: &str) -> Result<Self, TemplateError> {
        let err = |offset: usize, vi: &str, en: &str| TemplateError {
            offset,
            message: format!("{vi} / {en}"),
        };
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = template.char_indices().peekable();
        while let Some((at, c)) = rest.next() {
            match c {
                '{' => {
                    let close = template[at..].find('}').ok_or_else(|| {
                        err(at, "thiếu dấu '}' đóng", "'{' is never closed by '}'")
                    })?;
                    let inner = &template[at + 1..at + close];
                    let part = match inner.split_once(':') {
                        None => match inner {
                            "dossier" => Part::Dossier,
                            "procedure" => Part::Procedure,
                            "index" => Part::Index { width: 0 },
                            "date" => Part::Date,
                            other => {
                                return Err(err(
                                    at,
                                    &format!("không có trường {{{other}}}"),
                                    &format!(
                                        "unknown placeholder {{{other}}}; use {{dossier}}, {{procedure}}, {{index}}, {{index:02}} or {{date}}"
                                    ),
                                ))
                            }
                        },
                        Some(("index", width)) => {
                            let digits = width
                                .strip_prefix('0')
                                .and_then(|w| w.parse::<usize>().ok())
                                .filter(|w| (1..=9).contains(w))
                                .ok_or_else(|| {
                                    err(
                                        at,
                                        &format!("độ rộng {width:?} không hợp lệ"),
                                        &format!(
                                            "{{index:{width}}}: the width must be 01 to 09, e.g. {{index:02}}"
                                        ),
                                    )
                                })?;
                            Part::Index { width: digits }
                        }
                        Some((other, _)) => {
                            return Err(err(
                                at,
                                &format!("trường {{{other}}} không có định dạng"),
                                &format!("only {{index}} takes a width, not {{{other}}}"),
                            ))
                        }
                    };
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(part);
                    while rest.peek().is_some_and(|(i, _)| *i <= at + close) {
                        rest.next();
                    }
                }
                '}' => return Err(err(at, "dấu '}' thừa", "'}' without '{'")),
                c if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') => literal.push(c),
                c => {
                    return Err(err(
                        at,
                        &format!("ký tự {c:?} không được dùng trong mã"),
                        &format!(
                            "character {c:?} is not allowed; codes use letters, digits, '.', '-' and '_'"
                        ),
                    ))
                }
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        if !parts.contains(&Part::Dossier) {
            return Err(err(
                template.len(),
                "mẫu mã phải có {dossier}",
                "the template must contain {dossier}",
            ));
        }
        if !parts.iter().any(|p| matches!(p, Part::Index { .. })) {
            return Err(err(
                template.len(),
                "mẫu mã phải có {index}",
                "the template must contain {index} (or {index:02})",
            ));
        }
        Ok(Self {
            source: template.to_owned(),
            parts,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The code of one document.
    pub fn render(&self, fields: &DocumentCodeFields<'_>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Dossier => out.push_str(fields.dossier),
                Part::Procedure => out.push_str(fields.procedure),
                Part::Index { width } => out.push_str(&format!("{:0width$}", fields.index)),
                Part::Date => out.push_str(&fields.date.format("%y%m%d").to_string()),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(index: u32) -> DocumentCodeFields<'static> {
        DocumentCodeFields {
            dossier: "000.17.22.H56-261123-0001",
            procedure: "1.001193",
            index,
            date: NaiveDate::from_ymd_opt(2026, 11, 23).expect("date"),
        }
    }

    #[test]
    fn default_template_numbers_documents_in_their_dossier() {
        let t = DocumentCodeTemplate::default();
        assert_eq!(t.render(&fields(2)), "000.17.22.H56-261123-0001-02");
        assert_eq!(t.render(&fields(0)), "000.17.22.H56-261123-0001-00");
        assert_eq!(t.render(&fields(123)), "000.17.22.H56-261123-0001-123");
    }

    #[test]
    fn every_placeholder_renders() {
        let t = DocumentCodeTemplate::parse("SH.{date}.{procedure}_{dossier}-{index}").unwrap();
        assert_eq!(
            t.render(&fields(7)),
            "SH.261123.1.001193_000.17.22.H56-261123-0001-7"
        );
    }

    #[test]
    fn bad_templates_say_where_and_why() {
        let e = DocumentCodeTemplate::parse("{dossier}-{idx}").unwrap_err();
        assert_eq!(e.offset, 10);
        assert!(e.message.contains("{idx}"), "{}", e.message);
        let e = DocumentCodeTemplate::parse("{dossier}-{index:2}").unwrap_err();
        assert_eq!(e.offset, 10);
        let e = DocumentCodeTemplate::parse("{dossier}/{index}").unwrap_err();
        assert_eq!(e.offset, 9);
        let e = DocumentCodeTemplate::parse("{dossier}-{index").unwrap_err();
        assert_eq!(e.offset, 10);
        let e = DocumentCodeTemplate::parse("{dossier}").unwrap_err();
        assert!(e.message.contains("{index}"), "{}", e.message);
        let e = DocumentCodeTemplate::parse("X-{index}").unwrap_err();
        assert!(e.message.contains("{dossier}"), "{}", e.message);
        let e = DocumentCodeTemplate::parse("{dossier:02}-{index}").unwrap_err();
        assert_eq!(e.offset, 0);
    }
}
