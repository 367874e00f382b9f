//! Why a document could not be signed, in words an intake officer can act on (Vietnamese first,
//! then English). A document that could not be signed stays stored, unsigned and not sent.

use std::path::PathBuf;

/// What went wrong while signing.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// The PKCS#11 module (the token maker's library) could not be loaded.
    #[error("không nạp được thư viện chữ ký số {module} ({detail}); kiểm tra [signing] module / cannot load the token library {module} ({detail}); check [signing] module")]
    Module {
        /// The library's path.
        module: PathBuf,
        /// The loader's words.
        detail: String,
    },
    /// No token is plugged in (or none with the configured label).
    #[error("chưa cắm USB ký số{0}; hãy cắm token của cán bộ rồi thử lại / no signing token is plugged in{0}; plug in the officer's token and try again")]
    TokenMissing(String),
    /// No PIN was typed (nothing is sent to the token: an empty try would count against it).
    #[error("chưa nhập mã PIN của USB ký số / the token's PIN was not typed")]
    NoPin,
    /// The token refused the PIN.
    #[error("mã PIN của USB ký số không đúng; giấy tờ chưa được ký và chưa gửi / the token's PIN is wrong; the documents are not signed and not sent")]
    WrongPin,
    /// The token locked itself after too many wrong PINs.
    #[error("USB ký số đã bị khoá vì nhập sai PIN nhiều lần; liên hệ nơi cấp chứng thư / the token is locked after too many wrong PINs; contact the certificate's issuer")]
    PinLocked,
    /// The token holds no signing key with a certificate.
    #[error("USB ký số không có khoá ký kèm chứng thư số / the token holds no signing key with a certificate")]
    NoKey,
    /// The certificate is outside its validity period.
    #[error("chứng thư số của {name} {state} ({date}); giấy tờ chờ ký bằng chứng thư còn hiệu lực / the certificate of {name} {state_en} ({date}); the documents wait for a valid certificate")]
    CertificateNotValid {
        /// The signer's name from the certificate.
        name: String,
        /// "đã hết hạn" or "chưa có hiệu lực".
        state: &'static str,
        /// "expired" or "is not valid yet".
        state_en: &'static str,
        /// The date concerned (RFC 3339).
        date: String,
    },
    /// The certificate or key cannot be used (an algorithm this signer does not do, bad DER).
    #[error(
        "chứng thư hoặc khoá không dùng được: {0} / the certificate or key cannot be used: {0}"
    )]
    Unusable(String),
    /// The token failed while signing (removed mid-batch, a device error).
    #[error("USB ký số báo lỗi: {0}; giấy tờ chưa ký vẫn được giữ / the token failed: {0}; the unsigned documents are kept")]
    Token(String),
    /// The file is not a PDF this signer can extend (only motcua's own intake PDFs are signed).
    #[error("tệp không phải PDF số hoá của motcua ({0}) / not a motcua intake PDF ({0})")]
    NotOurPdf(String),
    /// Reading or writing a file failed.
    #[error("lỗi tệp khi {action} {path}: {source} / file error {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl SigningError {
    /// Whether the officer can fix this at the counter (plug in the token, retype the PIN) and
    /// try again; otherwise a technician is needed.
    pub fn officer_can_fix(&self) -> bool {
        matches!(
            self,
            Self::TokenMissing(_) | Self::NoPin | Self::WrongPin | Self::Token(_)
        )
    }
}

pub(crate) fn io_error(
    action: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> SigningError {
    let path = path.to_path_buf();
    move |source| SigningError::Io {
        action,
        path,
        source,
    }
}
