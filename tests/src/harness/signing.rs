//! Signing keys for tests and the tools no one here wrote that judge the signatures.
//!
//! - [`TestCa`]: a test CA issuing officer certificates (digital signature and non-repudiation,
//!   as a licensed CA's signing certificates carry).
//! - [`demo_key`]: a key file and certificate for `[signing] demo_key` (the kiosks of most
//!   end-to-end tests sign with it).
//! - [`SoftHsm`]: a SoftHSM2 token (Debian `softhsm2`) with an RSA 2048 key generated on the
//!   token (`pkcs11-tool`, Debian `opensc`) and the test CA's certificate for it, as an
//!   officer's USB token holds them.
//! - [`pdfsig`], [`pyhanko`], [`qpdf_check`]: poppler's `pdfsig` (with an NSS database trusting
//!   the test CA), pyHanko in its venv (`scripts/install-deps.sh` makes it) and `qpdf --check`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{bail, Context};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SubjectPublicKeyInfo,
};

/// Debian's SoftHSM2 PKCS#11 module.
pub const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

fn run(cmd: &mut Command, what: &str) -> anyhow::Result<Output> {
    let out = cmd
        .output()
        .with_context(|| format!("{what}: cannot run (see scripts/install-deps.sh)"))?;
    if !out.status.success() {
        bail!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out)
}

/// A test certificate authority.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    /// Its certificate, PEM, written to `dir/ca.pem`.
    pub pem_path: PathBuf,
}

impl TestCa {
    /// A new CA; its certificate goes to `dir/ca.pem`.
    pub fn new(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, "CA thử nghiệm motcua / motcua test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key)?;
        let pem_path = dir.join("ca.pem");
        std::fs::write(&pem_path, cert.pem())?;
        Ok(Self {
            issuer: Issuer::new(params, key),
            pem_path,
        })
    }

    /// An officer's certificate for `public_key`, valid from yesterday for `days` days (a
    /// negative `days` gives one that expired).
    pub fn officer(
        &self,
        name: &str,
        public_key: &impl rcgen::PublicKeyData,
        days: i64,
    ) -> anyhow::Result<rcgen::Certificate> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::ContentCommitment,
        ];
        let now = time::OffsetDateTime::now_utc();
        if days >= 0 {
            params.not_before = now - time::Duration::days(1);
            params.not_after = now + time::Duration::days(days);
        } else {
            params.not_before = now - time::Duration::days(400);
            params.not_after = now + time::Duration::days(days);
        }
        Ok(params.signed_by(public_key, &self.issuer)?)
    }
}

/// A P-256 key file and its certificate from `ca` under `dir`, for `[signing] demo_key`.
pub fn demo_key(ca: &TestCa, dir: &Path, name: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
    let key = KeyPair::generate()?;
    let cert = ca.officer(name, &key, 365)?;
    let key_path = dir.join("demo-signer.key");
    let cert_path = dir.join("demo-signer.pem");
    std::fs::write(&key_path, key.serialize_pem())?;
    std::fs::write(&cert_path, cert.pem())?;
    Ok((key_path, cert_path))
}

/// A SoftHSM2 token of its own (its own configuration and token folder).
pub struct SoftHsm {
    /// The `SOFTHSM2_CONF` file the token's users need in their environment.
    pub conf: PathBuf,
    /// The token's label.
    pub label: String,
}

impl SoftHsm {
    /// Initializes a token `label` with user PIN `pin` under `dir`, generates an RSA 2048 key
    /// on it and stores `ca`'s certificate for it, for the officer `name` (`days` as in
    /// [`TestCa::officer`]).
    pub fn new(
        dir: &Path,
        label: &str,
        pin: &str,
        ca: &TestCa,
        name: &str,
        days: i64,
    ) -> anyhow::Result<Self> {
        let tokens = dir.join("tokens");
        std::fs::create_dir_all(&tokens)?;
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )?;
        let token = Self {
            conf,
            label: label.to_owned(),
        };
        // A test token's PINs on a command line are acceptable; an officer's never are.
        run(
            Command::new("softhsm2-util")
                .env("SOFTHSM2_CONF", &token.conf)
                .args(["--init-token", "--free", "--label", label])
                .args(["--so-pin", "87654321", "--pin", pin]),
            "softhsm2-util --init-token",
        )?;
        let pkcs11 = |args: &[&str], what: &str| {
            run(
                Command::new("pkcs11-tool")
                    .env("SOFTHSM2_CONF", &token.conf)
                    .args(["--module", SOFTHSM_MODULE, "--token-label", label])
                    .args(args),
                what,
            )
        };
        pkcs11(
            &[
                "--login",
                "--pin",
                pin,
                "--keypairgen",
                "--key-type",
                "rsa:2048",
                "--id",
                "01",
                "--label",
                "officer",
            ],
            "pkcs11-tool --keypairgen",
        )?;
        let public = dir.join("public.der");
        pkcs11(
            &[
                "--read-object",
                "--type",
                "pubkey",
                "--id",
                "01",
                "--output-file",
                public.to_str().context("path")?,
            ],
            "pkcs11-tool --read-object pubkey",
        )?;
        let spki = SubjectPublicKeyInfo::from_der(&std::fs::read(&public)?)?;
        let cert = ca.officer(name, &spki, days)?;
        let cert_path = dir.join("officer.der");
        std::fs::write(&cert_path, cert.der())?;
        pkcs11(
            &[
                "--login",
                "--pin",
                pin,
                "--write-object",
                cert_path.to_str().context("path")?,
                "--type",
                "cert",
                "--id",
                "01",
                "--label",
                "officer",
            ],
            "pkcs11-tool --write-object cert",
        )?;
        Ok(token)
    }

    /// The kiosk's `[signing]` section for this token.
    pub fn section(&self) -> String {
        format!(
            "[signing]\nmodule = \"{SOFTHSM_MODULE}\"\ntoken_label = \"{}\"\n",
            self.label
        )
    }
}

/// `pdfsig` on `pdf`, trusting `ca` (an NSS database made beside the PDF): its report.
pub fn pdfsig(pdf: &Path, ca: &Path) -> anyhow::Result<String> {
    let nss = pdf.with_extension("nssdb");
    if !nss.exists() {
        std::fs::create_dir_all(&nss)?;
        let db = format!("sql:{}", nss.display());
        run(
            Command::new("certutil").args(["-N", "-d", &db, "--empty-password"]),
            "certutil -N (Debian libnss3-tools)",
        )?;
        run(
            Command::new("certutil")
                .args([
                    "-A",
                    "-d",
                    &db,
                    "-n",
                    "motcua-test-ca",
                    "-t",
                    "CT,C,C",
                    "-i",
                ])
                .arg(ca),
            "certutil -A",
        )?;
    }
    let out = Command::new("pdfsig")
        .arg("-nssdir")
        .arg(format!("sql:{}", nss.display()))
        .arg(pdf)
        .output()
        .context("pdfsig (Debian poppler-utils)")?;
    Ok(format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// The pyHanko command in the test venv `scripts/install-deps.sh` makes
/// (`MOTCUA_TEST_VENV`, default `/opt/motcua-test-venv`).
pub fn pyhanko_program() -> PathBuf {
    std::env::var_os("MOTCUA_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/motcua-test-venv"))
        .join("bin/pyhanko")
}

/// `pyhanko sign validate` of `pdf` trusting only `ca`: its report (the exit status is part
/// of it: pyHanko exits non-zero for an invalid signature).
pub fn pyhanko(pdf: &Path, ca: &Path) -> anyhow::Result<(bool, String)> {
    let program = pyhanko_program();
    let out = Command::new(&program)
        .args(["sign", "validate", "--trust-replace", "--trust"])
        .arg(ca)
        .arg("--pretty-print")
        .arg(pdf)
        .output()
        .with_context(|| {
            format!(
                "{}: pyHanko is not installed (scripts/install-deps.sh makes its venv)",
                program.display()
            )
        })?;
    Ok((
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

/// `qpdf --check`: whether it passed, and its words.
pub fn qpdf_check(pdf: &Path) -> anyhow::Result<(bool, String)> {
    let out = Command::new("qpdf")
        .arg("--check")
        .arg(pdf)
        .output()
        .context("qpdf")?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}
