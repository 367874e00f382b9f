//! JSON request bodies as they go on the wire: kiosks sit on metered 3G links, and a dossier,
//! its digitised documents or a health report is text that gzip shrinks to a fraction. A body
//! over [`COMPRESS_FROM`] bytes is sent gzip-compressed (`Content-Encoding: gzip`, which the
//! gateway decodes with a bound) when that is smaller; a short body (a rating, a ticket) goes
//! as it is, since the gzip header and trailer would eat what it saves.

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;
use reqwest::header;
use serde::Serialize;

/// Bodies of at most this many bytes are sent uncompressed.
pub const COMPRESS_FROM: usize = 1024;

/// A serialised JSON body, compressed or not.
#[derive(Debug)]
pub(crate) struct JsonBody {
    bytes: Vec<u8>,
    gzip: bool,
}

impl JsonBody {
    /// Serialises `value`, compressing it per the module doc.
    pub(crate) fn new(value: &impl Serialize) -> Result<Self, serde_json::Error> {
        Ok(Self::from_json(serde_json::to_vec(value)?))
    }

    fn from_json(json: Vec<u8>) -> Self {
        if json.len() <= COMPRESS_FROM {
            return Self {
                bytes: json,
                gzip: false,
            };
        }
        // Level 6: most of best's ratio on text, at a cost a kiosk's CPU does not notice.
        let mut encoder = GzEncoder::new(Vec::with_capacity(json.len() / 4), Compression::new(6));
        let packed = encoder.write_all(&json).and_then(|()| encoder.finish());
        match packed {
            Ok(packed) if packed.len() < json.len() => Self {
                bytes: packed,
                gzip: true,
            },
            // Writing to a Vec does not fail; and incompressible text goes as it is.
            _ => Self {
                bytes: json,
                gzip: false,
            },
        }
    }

    /// Whether the body is gzip-compressed.
    pub(crate) fn is_gzip(&self) -> bool {
        self.gzip
    }

    /// The bytes that go on the wire.
    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Puts the body and its headers on `rb`.
    pub(crate) fn attach(self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let rb = rb.header(header::CONTENT_TYPE, "application/json");
        let rb = if self.gzip {
            rb.header(header::CONTENT_ENCODING, "gzip")
        } else {
            rb
        };
        rb.body(self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use std::io::Read;

    #[test]
    fn small_bodies_go_plain_and_large_ones_compressed() {
        let small = JsonBody::from_json(br#"{"level":5,"transaction":"GD-1"}"#.to_vec());
        assert!(!small.is_gzip());
        let text = serde_json::json!({
            "address": "Ấp Phú Thành A, xã Phú Tân, huyện Châu Thành, tỉnh Sóc Trăng; ".repeat(40),
        });
        let json = serde_json::to_vec(&text).unwrap();
        let body = JsonBody::new(&text).unwrap();
        assert!(body.is_gzip());
        assert!(
            body.len() < json.len() / 4,
            "{} of {}",
            body.len(),
            json.len()
        );
        let mut back = Vec::new();
        GzDecoder::new(&body.bytes[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, json);
    }

    #[test]
    fn a_body_gzip_does_not_shrink_goes_plain() {
        // Random bytes do not compress: gzip's stored block plus header is longer.
        let mut noise = vec![0u8; 4000];
        rand::fill(&mut noise[..]);
        let body = JsonBody::from_json(noise.clone());
        assert!(!body.is_gzip());
        assert_eq!(body.bytes, noise);
    }
}
