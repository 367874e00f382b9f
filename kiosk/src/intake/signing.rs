//! Signing the documents an intake stored: each waits in the store, unsigned and not sent,
//! until the officer's key signs it ([`motcua_signing`]); then its signed PDF replaces the
//! unsigned one and it is queued for the gateway ([`Store::mark_signed`]).
//!
//! The officer's token is opened with the PIN typed at the commit ([`open_signer`]); the PIN
//! is not kept, only the logged-in session, which ends when the [`OpenedSigner`] is dropped:
//! at the end of `kioskctl intake`/`sign`, and on the staff screen at the staff session's wipe
//! (the officer signs the session's dossiers with one PIN).
//!
//! A commit signs only the documents it stored ([`SignScope::Only`]); the documents left
//! waiting by earlier commits are signed when the officer asks for them by their codes, shown
//! first ([`SignScope::AllWaiting`]). A missing
//! token, a wrong PIN or an expired certificate leaves the documents waiting: `kioskctl sign`
//! or the staff screen signs them later.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use motcua_signing::{
    sign_pdf, SignatureDetails, Signer, SigningError, SoftwareSigner, TokenChoice, TokenSigner,
};
use motcua_store::error::StoreError;
use motcua_store::Store;

use crate::config::{KioskConfig, SigningKeySource, SigningSettings};

/// The reason written in every signature.
const REASON: &str = "Bản sao điện tử số hoá từ bản giấy tại Bộ phận Một cửa / electronic copy digitized from paper at the one-stop desk (Thông tư 01/2023/TT-VPCP)";
/// What a demo key's signatures say instead, so that they never pass for an officer's.
const DEMO_REASON: &str = "BẢN THỬ NGHIỆM, KHÔNG CÓ GIÁ TRỊ PHÁP LÝ / DEMO COPY, NO LEGAL VALUE";

/// A signing key ready for a batch.
pub struct OpenedSigner {
    signer: Box<dyn Signer + Send>,
    demo: bool,
}

impl OpenedSigner {
    /// The signer's name, from the certificate (shown to the officer before committing).
    pub fn name(&self) -> &str {
        &self.signer.certificate().name
    }

    /// The certificate's issuer.
    pub fn issuer(&self) -> &str {
        &self.signer.certificate().issuer
    }

    /// End of the certificate's validity.
    pub fn valid_until(&self) -> DateTime<Utc> {
        self.signer.certificate().not_after
    }

    /// Whether this is the demo key file, not an officer's token.
    pub fn is_demo(&self) -> bool {
        self.demo
    }

    /// A line for the officer, "tiếng Việt / English": "Người ký: … / Signer: …".
    pub fn describe(&self) -> String {
        let (demo_vi, demo_en) = if self.demo {
            (" — KHOÁ THỬ NGHIỆM", " — DEMO KEY")
        } else {
            ("", "")
        };
        let until = self.valid_until().format("%d/%m/%Y");
        // The screen splits "tiếng Việt / English" at the first " / ": none in the names.
        let name = self.name().replace(" / ", " – ");
        let issuer = self.issuer().replace(" / ", " – ");
        format!(
            "Người ký: {name} ({issuer}; hiệu lực đến {until}){demo_vi} / Signer: {name} ({issuer}; valid until {until}){demo_en}",
        )
    }
}

/// Whether the configured key needs a PIN (a token does; the demo key file does not).
pub fn needs_pin(settings: &SigningSettings) -> bool {
    matches!(settings.key, SigningKeySource::Token { .. })
}

/// Opens the configured key: logs in to the token with `pin`, or reads the demo key file.
pub fn open_signer(
    settings: &SigningSettings,
    pin: Option<&str>,
) -> Result<OpenedSigner, SigningError> {
    match &settings.key {
        SigningKeySource::Token { module, label } => {
            let pin = pin.ok_or(SigningError::NoPin)?;
            let signer = TokenSigner::open(
                &TokenChoice {
                    module,
                    label: label.as_deref(),
                },
                pin,
            )?;
            Ok(OpenedSigner {
                signer: Box::new(signer),
                demo: false,
            })
        }
        SigningKeySource::DemoKey { key, certificate } => {
            let signer = SoftwareSigner::from_files(key, certificate)?;
            signer.certificate().check_valid_at(Utc::now())?;
            tracing::warn!(
                signer = %signer.certificate().name,
                "intake copies are signed with the DEMO key file: they have no legal value"
            );
            Ok(OpenedSigner {
                signer: Box::new(signer),
                demo: true,
            })
        }
    }
}

/// What [`sign_waiting`] did.
#[derive(Debug, Default)]
pub struct SignReport {
    /// Document codes signed and queued now.
    pub signed: Vec<String>,
    /// Document codes still waiting for a signature.
    pub waiting: Vec<String>,
    /// Why signing stopped or skipped a document, if it did.
    pub errors: Vec<(String, SigningError)>,
}

/// Which waiting documents to sign.
#[derive(Debug, Clone, Copy)]
pub enum SignScope<'a> {
    /// Only these document codes (those a commit just stored).
    Only(&'a [String]),
    /// Every document waiting (the officer was shown their codes).
    AllWaiting,
}

/// Signs the waiting documents of `scope` with `signer` and queues them, oldest first;
/// `on_progress(done, total, document_code)` after each. A token error (removed, PIN, device)
/// stops the batch, the rest waits; a document that cannot be signed is reported and skipped.
/// Each unsigned copy is checked against its hash first: the signature goes on the pages the
/// pipeline stored, nothing else.
pub fn sign_waiting(
    store: &mut Store,
    config: &KioskConfig,
    signer: &OpenedSigner,
    scope: SignScope<'_>,
    on_progress: &mut dyn FnMut(usize, usize, &str),
) -> Result<SignReport, StoreError> {
    let mut waiting = store.awaiting_signature()?;
    if let SignScope::Only(codes) = scope {
        waiting.retain(|d| codes.contains(&d.document_code));
    }
    let total = waiting.len();
    let mut report = SignReport::default();
    let dir = config
        .store
        .data_dir
        .join("intake")
        .join(format!("signing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| StoreError::Io {
        path: dir.clone(),
        source: e,
    })?;
    let details = |now| SignatureDetails {
        reason: if signer.demo { DEMO_REASON } else { REASON }.to_owned(),
        location: format!(
            "Bộ phận Một cửa {} – thiết bị / device {}",
            config.device.agency_code, config.device.id
        ),
        signing_time: now,
    };
    let mut stopped = false;
    for (done, document) in waiting.into_iter().enumerate() {
        if stopped {
            report.waiting.push(document.document_code);
            continue;
        }
        if !store.blobs().verify(&document.sha256)? {
            tracing::error!(document = %document.document_code, "the unsigned copy does not match its hash: not signed");
            report.waiting.push(document.document_code.clone());
            report.errors.push((
                document.document_code.clone(),
                SigningError::NotOurPdf("the stored copy does not match its hash".to_owned()),
            ));
            on_progress(done + 1, total, &document.document_code);
            continue;
        }
        let unsigned = store.blobs().path(&document.sha256);
        let out: PathBuf = dir.join(format!(
            "{}.pdf",
            motcua_scanner::pipeline::sanitize(&document.document_code)
        ));
        let now = motcua_store::vietnam_now();
        match sign_pdf(&unsigned, &out, signer.signer.as_ref(), &details(now)) {
            Ok(_) => {
                let blob = store.blobs().put_file(&out);
                let _ = std::fs::remove_file(&out);
                // The demo key's signatures say so in the store too.
                let name = if signer.demo {
                    format!("{} — KHOÁ THỬ NGHIỆM / DEMO KEY", signer.name())
                } else {
                    signer.name().to_owned()
                };
                match store.mark_signed(&config.device, &document, &blob?, &name, now) {
                    Ok(()) => {
                        tracing::info!(document = %document.document_code, "intake document signed and queued");
                        report.signed.push(document.document_code.clone());
                    }
                    // Signed meanwhile by another run (kioskctl and the screen at once).
                    Err(StoreError::Rejected(why)) => {
                        tracing::warn!(document = %document.document_code, %why, "signed copy not recorded");
                    }
                    Err(e) => return Err(e),
                }
            }
            Err(error) => {
                let _ = std::fs::remove_file(&out);
                tracing::warn!(document = %document.document_code, %error, "intake document not signed");
                stopped = error.officer_can_fix()
                    || matches!(
                        error,
                        SigningError::CertificateNotValid { .. } | SigningError::PinLocked
                    );
                report.waiting.push(document.document_code.clone());
                report.errors.push((document.document_code.clone(), error));
            }
        }
        on_progress(done + 1, total, &report_last(&report));
    }
    let _ = std::fs::remove_dir(&dir);
    Ok(report)
}

fn report_last(report: &SignReport) -> String {
    report
        .signed
        .last()
        .or(report.waiting.last())
        .cloned()
        .unwrap_or_default()
}
