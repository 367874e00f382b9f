//! `Content-Encoding` of request bodies, once for every JSON route: kiosks on metered 3G links
//! send their larger JSON bodies (dossiers, digitised documents, health reports) gzip-compressed.
//!
//! `gzip` (and its old alias `x-gzip`) bodies are decoded as they stream in, so the handler's
//! own reading still applies: the router's body limit ([`crate::MAX_JSON_BYTES`]) caps the
//! *decoded* bytes (413 `invalid_body`), and the enrolment deadline still times the arrival.
//! The decoder itself never holds more than that limit either, so a small body that inflates to
//! gigabytes (a zip bomb) is refused after about one limit's worth of work and memory. A body
//! that is not gzip is 400 `invalid_body`. Any other coding is 415 `unsupported_encoding`.
//! `identity` or no header leaves the body as it is.
//!
//! The tus PATCH body (`application/offset+octet-stream`) is not touched: the tus protocol
//! counts offsets in the bytes as sent, so its body is never decoded here.

use std::io::Write;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use flate2::write::GzDecoder;
use futures_util::{Stream, StreamExt};

use super::failure::Failure;
use super::tus::OFFSET_OCTET_STREAM;
use crate::MAX_JSON_BYTES;

/// What a request's `Content-Encoding` asks of its body.
#[derive(Debug, PartialEq, Eq)]
enum Coding {
    /// No header, or `identity`: the body as sent.
    Identity,
    /// `gzip` / `x-gzip`.
    Gzip,
    /// Anything else (including a list of codings, which no kiosk sends).
    Unsupported(String),
}

fn coding(value: Option<&HeaderValue>) -> Coding {
    let Some(value) = value else {
        return Coding::Identity;
    };
    let text = value.to_str().unwrap_or("").trim().to_ascii_lowercase();
    match text.as_str() {
        "" | "identity" => Coding::Identity,
        "gzip" | "x-gzip" => Coding::Gzip,
        _ => Coding::Unsupported(String::from_utf8_lossy(value.as_bytes()).into_owned()),
    }
}

/// The middleware (see the module doc).
pub(super) async fn decode_request_body(request: Request, next: Next) -> Response {
    let is_tus_body = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(OFFSET_OCTET_STREAM));
    if is_tus_body {
        return next.run(request).await;
    }
    match coding(request.headers().get(header::CONTENT_ENCODING)) {
        Coding::Identity => next.run(request).await,
        Coding::Gzip => {
            let (mut parts, body) = request.into_parts();
            parts.headers.remove(header::CONTENT_ENCODING);
            // The length sent is the compressed one; the decoded body's is not known.
            parts.headers.remove(header::CONTENT_LENGTH);
            let path = parts.uri.path().to_owned();
            let decoded = Body::from_stream(gunzip(body.into_data_stream(), MAX_JSON_BYTES, path));
            next.run(Request::from_parts(parts, decoded)).await
        }
        Coding::Unsupported(name) => Failure::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
            format!(
                "Cổng chỉ nhận thân yêu cầu nén gzip hoặc không nén (Content-Encoding: gzip \
                 hoặc identity), không nhận «{name}». / The gateway takes request bodies \
                 gzip-compressed or uncompressed (Content-Encoding: gzip or identity), not \
                 «{name}»."
            ),
        )
        .into_response(),
    }
}

/// Why a gzip body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub(super) enum DecodeError {
    /// The stream is not gzip, is cut short, or fails its CRC.
    #[error(
        "thân yêu cầu không phải gzip hợp lệ / the body is not valid gzip (Content-Encoding: gzip): {0}"
    )]
    NotGzip(std::io::Error),
    /// Decoded, the body is longer than the route takes (the router's limit normally answers
    /// first, with 413).
    #[error("decoded, the body is longer than {0} bytes")]
    TooLarge(usize),
    /// The connection failed while the body arrived.
    #[error("the body could not be read: {0}")]
    Transport(axum::Error),
}

/// A sink holding at most `cap` decoded bytes at once: past it, writes fail, so the decoder
/// stops inflating instead of growing a buffer.
struct CappedSink {
    buffer: Vec<u8>,
    cap: usize,
}

impl Write for CappedSink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = self.cap.saturating_sub(self.buffer.len());
        if room == 0 {
            return Err(std::io::Error::other("decoded body over the limit"));
        }
        let n = room.min(data.len());
        self.buffer.extend_from_slice(&data[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Gunzip<S> {
    input: S,
    decoder: GzDecoder<CappedSink>,
    /// Compressed bytes received so far.
    received: usize,
    /// Decoded bytes handed on so far.
    handed: usize,
    /// The route, for the log.
    path: String,
    limit: usize,
    done: bool,
}

impl<S> Gunzip<S> {
    /// The decoded bytes waiting in the sink, if any.
    fn take(&mut self) -> Option<Bytes> {
        let sink = self.decoder.get_mut();
        if sink.buffer.is_empty() {
            return None;
        }
        let out = std::mem::take(&mut sink.buffer);
        self.handed += out.len();
        // Past the limit the next write fails at once: the decoder never inflates more.
        sink.cap = (self.limit + 1).saturating_sub(self.handed);
        Some(Bytes::from(out))
    }

    /// After a failed write: over the limit (hand on what was decoded, which takes the body
    /// past the router's limit, so the reader answers 413) or not gzip.
    fn failed(&mut self, e: std::io::Error) -> Result<Bytes, DecodeError> {
        self.done = true;
        let over = self.handed + self.decoder.get_ref().buffer.len() > self.limit
            || self.decoder.get_ref().cap == 0;
        match self.take() {
            Some(out) if over => Ok(out),
            _ if over => Err(DecodeError::TooLarge(self.limit)),
            _ => Err(DecodeError::NotGzip(e)),
        }
    }
}

/// Decodes a gzip stream chunk by chunk; at most `limit + 1` decoded bytes are ever produced.
fn gunzip<S>(input: S, limit: usize, path: String) -> impl Stream<Item = Result<Bytes, DecodeError>>
where
    S: Stream<Item = Result<Bytes, axum::Error>> + Unpin,
{
    let state = Gunzip {
        input,
        decoder: GzDecoder::new(CappedSink {
            buffer: Vec::new(),
            cap: limit + 1,
        }),
        received: 0,
        handed: 0,
        path,
        limit,
        done: false,
    };
    futures_util::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            match st.input.next().await {
                Some(Ok(chunk)) => {
                    st.received += chunk.len();
                    if let Err(e) = st.decoder.write_all(&chunk) {
                        let out = st.failed(e);
                        return Some((out, st));
                    }
                    if let Some(out) = st.take() {
                        return Some((Ok(out), st));
                    }
                }
                Some(Err(e)) => {
                    st.done = true;
                    return Some((Err(DecodeError::Transport(e)), st));
                }
                None => {
                    st.done = true;
                    if let Err(e) = st.decoder.try_finish() {
                        let out = st.failed(e);
                        return Some((out, st));
                    }
                    if st.decoder.header().is_none() {
                        // An empty body with `Content-Encoding: gzip` is no gzip stream.
                        let e = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "empty");
                        return Some((Err(DecodeError::NotGzip(e)), st));
                    }
                    let last = st.take();
                    // The bytes on the wire against the decoded ones: what compression saves
                    // the kiosks' metered links.
                    tracing::debug!(
                        path = %st.path,
                        sent = st.received,
                        decoded = st.handed,
                        "gzip request body decoded"
                    );
                    return last.map(|out| (Ok(out), st));
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).expect("compress");
        e.finish().expect("compress")
    }

    async fn decode(body: Vec<u8>, limit: usize, chunk: usize) -> Result<Vec<u8>, String> {
        let chunks: Vec<Result<Bytes, axum::Error>> = body
            .chunks(chunk)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let mut out = Vec::new();
        let mut stream = std::pin::pin!(gunzip(
            futures_util::stream::iter(chunks),
            limit,
            "/test".into(),
        ));
        while let Some(item) = stream.next().await {
            out.extend_from_slice(&item.map_err(|e| e.to_string())?);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn decodes_what_was_compressed_in_any_chunking() {
        let text: Vec<u8> = (0..50_000u32)
            .flat_map(|i| format!("{{\"n\":{i}}}").into_bytes())
            .collect();
        let body = gz(&text);
        for chunk in [1, 7, 1024, body.len()] {
            assert_eq!(decode(body.clone(), 1 << 20, chunk).await.unwrap(), text);
        }
    }

    #[tokio::test]
    async fn a_bomb_stops_just_past_the_limit() {
        let bomb = gz(&vec![0u8; 10 << 20]);
        assert!(
            bomb.len() < 20 << 10,
            "10 MB of zeros compress to {}",
            bomb.len()
        );
        let out = decode(bomb, 1 << 20, 64 << 10).await.unwrap();
        assert!(out.len() > 1 << 20, "past the limit, for the reader's 413");
        assert!(out.len() <= (1 << 20) + 1, "never more: {}", out.len());
    }

    #[tokio::test]
    async fn garbage_and_truncation_are_not_gzip() {
        let err = decode(b"{\"plain\": true}".to_vec(), 1 << 20, 4)
            .await
            .unwrap_err();
        assert!(err.contains("not valid gzip"), "{err}");
        let mut cut = gz(b"a body long enough to cut in the middle of its deflate stream");
        cut.truncate(cut.len() - 6);
        assert!(decode(cut, 1 << 20, 5).await.is_err());
        assert!(decode(Vec::new(), 1 << 20, 5).await.is_err());
    }

    #[test]
    fn codings_are_read_case_insensitively() {
        let h = |s: &'static str| HeaderValue::from_static(s);
        assert_eq!(coding(None), Coding::Identity);
        assert_eq!(coding(Some(&h("identity"))), Coding::Identity);
        assert_eq!(coding(Some(&h(" GZIP "))), Coding::Gzip);
        assert_eq!(coding(Some(&h("x-gzip"))), Coding::Gzip);
        assert!(matches!(coding(Some(&h("br"))), Coding::Unsupported(_)));
        assert!(matches!(
            coding(Some(&h("gzip, br"))),
            Coding::Unsupported(_)
        ));
    }
}
