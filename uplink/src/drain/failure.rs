//! Why a delivery attempt failed, and which failures hold an entry for a technician.

use motcua_store::StoreError;

use crate::client::GatewayError;

/// Why one delivery attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The gateway could not be reached or refused.
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A blob file could not be read.
    #[error("cannot read blob file {path}: {source}")]
    BlobRead {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Not a failure: a document upload stopped between two chunks to let small records due
    /// behind it go first (see `MAKE_WAY_AFTER`); it resumes right after them.
    #[error("nhường cho bản ghi nhỏ (đánh giá, số thứ tự, báo cáo tình trạng), gửi tiếp ngay sau / made way for small records (ratings, tickets, health reports); resumes right after them")]
    MadeWay,
    /// Not a failure: today's upload budget is used up (`[uplink] daily_upload_budget_mib`);
    /// the documents wait until it renews, the small records do not.
    #[error("hết hạn mức tải lên hôm nay, tài liệu gửi tiếp lúc {at} / today's upload budget is used up; documents resume at {at}", at = crate::budget::resume_text(.resumes_at))]
    BudgetUsedUp {
        /// When the budget renews (the kiosk's clock, Vietnam time).
        resumes_at: chrono::DateTime<chrono::FixedOffset>,
        /// How long that is from now.
        wait: std::time::Duration,
    },
    /// The local copy of a document no longer matches its hash.
    #[error("the local copy of document {0} is damaged (its content no longer matches its hash); a technician must restore it")]
    BlobDamaged(String),
    /// The local copy of a document is gone (deleted by hand, a restored backup without it).
    #[error(
        "the local copy of document {sha256} is missing ({path}); a technician must restore it"
    )]
    BlobMissing {
        /// The blob's SHA-256.
        sha256: String,
        /// Where it should be.
        path: String,
    },
}

/// Gateway refusals that no retry can fix, by HTTP status and the gateway's code, in words a
/// technician acts on. Anything else (5xx, `missing_blobs`, tus `offset_mismatch` or
/// `interrupted`, an unknown dossier that may arrive later, a refused certificate) is retried.
fn refusal_words(status: u16, code: &str) -> Option<&'static str> {
    Some(match (status, code) {
        (409, "conflict") => "máy chủ đã có hồ sơ khác cùng mã này (hai ki-ốt dùng chung dãy số?) / the gateway holds another record under this code (two kiosks sharing one number block?)",
        (409, "idempotency_key_reused") => "máy chủ đã có bản ghi khác cùng khóa gửi (ki-ốt cài lại?) / the gateway holds another record under this delivery key (a reinstalled kiosk?)",
        (403, "site_mismatch") => "hồ sơ không thuộc điểm tiếp nhận của chứng thư ki-ốt (xem [device] agency_code) / the record's site is not the one in this kiosk's certificate (check [device] agency_code)",
        (403, "device_mismatch") => "hồ sơ ghi mã thiết bị khác chứng thư ki-ốt (xem [device] id) / the record names another device than this kiosk's certificate (check [device] id)",
        (400, "invalid_body" | "invalid_json" | "invalid_metadata" | "invalid_header" | "missing_idempotency_key") => "máy chủ từ chối dữ liệu không hợp lệ / the gateway refuses the record as invalid",
        (403, "code_not_yours") => "mã hồ sơ không thuộc dãy số máy chủ cấp cho ki-ốt này (hai ki-ốt dùng chung dãy số?) / the dossier number is outside the blocks the gateway gave this kiosk (two kiosks sharing one block?)",
        (403, "ticket_not_yours") => "số thứ tự ghi thiết bị của điểm khác / the ticket names a device of another site",
        (400, "blob_size_mismatch") => "kích thước tài liệu khác với tệp đã gửi / a document's size differs from the file uploaded",
        (409, "already_rated") => "hồ sơ hoặc số thứ tự này đã được đánh giá; có thể để riêng / this dossier or ticket was rated already; the entry may be set aside",
        (422, "field_too_long") => "một trường của hồ sơ dài quá giới hạn của máy chủ / a field of the record is longer than the gateway accepts",
        (413, "too_large") => "tài liệu lớn hơn giới hạn của máy chủ / a document is larger than the gateway accepts",
        _ => return None,
    })
}

impl DeliveryError {
    /// Whether the link itself cut the attempt (the gateway unreachable, a timeout, a reset):
    /// the one failure an upload that moved forward retries soon, since it resumes from the
    /// gateway's offset. Anything the gateway answered (a checksum mismatch, a 5xx, an upload
    /// restarted at 0) backs off as usual, so a fault that repeats cannot make the kiosk
    /// re-send a document over a metered link every half second.
    pub fn is_cut_link(&self) -> bool {
        matches!(self, Self::Gateway(GatewayError::Unreachable { .. }))
    }

    /// Failures that retrying does not fix by itself: those that hold the entry
    /// ([`Self::hold_reason`]), and the gateway refusing the device's certificate, which are
    /// retried slowly because a re-enrolment fixes every entry at once.
    pub fn needs_technician(&self) -> bool {
        self.hold_reason().is_some()
            || matches!(self, Self::Gateway(e)
                if e.is_certificate_refused() || matches!(e.status(), Some(401 | 403)))
    }

    /// Why this failure holds its entry for a technician, if it does: the gateway refuses this
    /// record for good (a code clash, another site or device, an invalid body), or a local
    /// document file is missing or damaged. Not for the network, 5xx, an untrusted server or a
    /// refused certificate: those go away on their own or with a re-enrolment, and the entry
    /// must then be delivered without anyone touching it.
    pub fn hold_reason(&self) -> Option<String> {
        let words = match self {
            Self::Gateway(e) if e.is_certificate_refused() => return None,
            Self::Gateway(e) => refusal_words(e.status()?, e.code()?)?,
            Self::BlobMissing { .. } => {
                "tệp tài liệu trên ki-ốt bị mất / a document's file on this kiosk is missing"
            }
            Self::BlobDamaged(_) => {
                "tệp tài liệu trên ki-ốt bị hỏng / a document's file on this kiosk is damaged"
            }
            _ => return None,
        };
        Some(format!(
            "CẦN KỸ THUẬT VIÊN / needs a technician: {words}: {self}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16, code: &str) -> DeliveryError {
        DeliveryError::Gateway(GatewayError::Status {
            url: "https://gw.example/v1/dossiers".into(),
            status,
            code: code.into(),
            message: "no".into(),
        })
    }

    /// The gateway's site-authorization refusals are for good: a retry sends the same record
    /// and gets the same answer, so the entry waits for a technician with its reason. A rating
    /// whose ticket or dossier the gateway does not know yet, or a 5xx, is retried: the target
    /// may still be on its way from another kiosk.
    #[test]
    fn site_refusals_hold_and_unknown_targets_retry() {
        for (status, code) in [
            (403, "code_not_yours"),
            (403, "ticket_not_yours"),
            (400, "blob_size_mismatch"),
            (409, "already_rated"),
            (409, "conflict"),
            (422, "field_too_long"),
        ] {
            let e = refused(status, code);
            let reason = e.hold_reason().unwrap_or_default();
            assert!(reason.starts_with("CẦN KỸ THUẬT VIÊN"), "{code}: {reason}");
            assert!(e.needs_technician(), "{code}");
        }
        for (status, code) in [
            (404, "rated_target_unknown"),
            (503, "unavailable"),
            (429, "rate_limited"),
        ] {
            let e = refused(status, code);
            assert_eq!(e.hold_reason(), None, "{code}");
            assert!(!e.needs_technician(), "{code}");
        }
    }
}
