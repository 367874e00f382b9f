//! The `[signing]` table: how the intake officer signs the digitized copies (issue #19).
//!
//! ```toml
//! [signing]
//! module = "/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so"  # the token's PKCS#11 library
//! token_label = "VNPT-CA"                                 # optional: only this token
//! # demo_key = "/etc/motcua/demo-signer.key"             # demo only (see below)
//! # demo_certificate = "/etc/motcua/demo-signer.pem"
//! ```
//!
//! The default module is Debian's p11-kit proxy, which offers every PKCS#11 module registered
//! with p11-kit (a CA's token driver registers itself under `/usr/share/p11-kit/modules/`); a
//! driver that does not is named here directly. `demo_key` + `demo_certificate` sign with a key
//! file instead of a token: only for trying the kiosk out, and every such copy says in its
//! signature's reason that it is a demo copy without legal value.

use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, Located};

/// Debian's p11-kit proxy module (package p11-kit) on amd64.
pub const DEFAULT_MODULE: &str = "/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so";

/// Where the signing key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigningKeySource {
    /// On the officer's PKCS#11 token.
    Token {
        /// The PKCS#11 module.
        module: PathBuf,
        /// Only a token with this label.
        label: Option<String>,
    },
    /// A key file, for the demo only.
    DemoKey {
        /// PKCS#8 private key (PEM or DER).
        key: PathBuf,
        /// Its certificate (PEM or DER).
        certificate: PathBuf,
    },
}

/// The `[signing]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningSettings {
    /// Where the key is.
    pub key: SigningKeySource,
}

impl Default for SigningSettings {
    fn default() -> Self {
        Self {
            key: SigningKeySource::Token {
                module: PathBuf::from(DEFAULT_MODULE),
                label: None,
            },
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSigning {
    module: Option<Spanned<PathBuf>>,
    token_label: Option<Spanned<String>>,
    demo_key: Option<Spanned<PathBuf>>,
    demo_certificate: Option<Spanned<PathBuf>>,
}

pub(crate) fn signing_settings(
    raw: Option<RawSigning>,
    at: &Located<'_>,
) -> Result<SigningSettings, ConfigError> {
    let Some(raw) = raw else {
        return Ok(SigningSettings::default());
    };
    let absolute = |path: &Spanned<PathBuf>, key: &str| {
        if path.get_ref().is_absolute() {
            Ok(path.get_ref().clone())
        } else {
            Err(at.error(
                path.span(),
                format!("signing.{key}: phải là đường dẫn tuyệt đối / must be an absolute path"),
            ))
        }
    };
    match (&raw.demo_key, &raw.demo_certificate) {
        (Some(key), Some(certificate)) => {
            if let Some(module) = raw.module.as_ref() {
                return Err(at.error(
                    module.span(),
                    "signing: module (USB ký số) và demo_key không dùng cùng nhau / module (a token) and demo_key exclude each other",
                ));
            }
            Ok(SigningSettings {
                key: SigningKeySource::DemoKey {
                    key: absolute(key, "demo_key")?,
                    certificate: absolute(certificate, "demo_certificate")?,
                },
            })
        }
        (Some(one), None) | (None, Some(one)) => Err(at.error(
            one.span(),
            "signing: demo_key và demo_certificate phải đi cùng nhau / demo_key and demo_certificate go together",
        )),
        (None, None) => {
            let module = match &raw.module {
                Some(m) => absolute(m, "module")?,
                None => PathBuf::from(DEFAULT_MODULE),
            };
            let label = match raw.token_label {
                Some(l) if l.get_ref().trim().is_empty() || l.get_ref().len() > 32 => {
                    return Err(at.error(
                        l.span(),
                        "signing.token_label: 1 đến 32 ký tự (nhãn của token) / 1 to 32 characters (the token's label)",
                    ))
                }
                Some(l) => Some(l.into_inner()),
                None => None,
            };
            Ok(SigningSettings {
                key: SigningKeySource::Token { module, label },
            })
        }
    }
}
