//! The officer's digital signature on intake PDFs (Circular 01/2023/TT-VPCP: a copy digitized
//! at intake is signed by the person who digitized it).
//!
//! [`sign_pdf`] appends a PAdES signature to a PDF written by motcua's page pipeline, as an
//! incremental update: every byte before it stays exactly what the pipeline and the OCR wrote.
//! The signature is a detached CMS `SignedData` ([`cms_signature`]; sub-filter
//! `ETSI.CAdES.detached`, PAdES baseline B-B: content type, message digest and the ESS
//! signing-certificate-v2 attribute, the signing certificate embedded, the signing time in the
//! signature dictionary's `/M`). The key is on the officer's PKCS#11 token ([`TokenSigner`]);
//! a key file ([`SoftwareSigner`]) is for the demo and tests only.

mod certificate;
mod cms_signature;
mod demo;
mod error;
mod pades;
mod signer;
mod token;

pub use certificate::{KeyKind, SignerCertificate};
pub use demo::write_demo_key;
pub use error::SigningError;
pub use pades::{sign_pdf, SignatureDetails};
pub use signer::{Signer, SoftwareSigner};
pub use token::{TokenChoice, TokenSigner};
