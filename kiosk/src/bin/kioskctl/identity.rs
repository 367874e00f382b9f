//! `kioskctl enroll` and `kioskctl identity`: the kiosk's certificate, got once with the
//! province's enrolment key, shown, and renewed on request.
//!
//! The enrolment key is a secret: it is read from a file or standard input, never from the
//! command line (where `ps` and the shell history would keep it). The private key is made
//! here and never leaves the kiosk.

use std::io::{BufRead, IsTerminal, Read};
use std::path::Path;

use anyhow::{bail, Context};
use motcua_identity::PeerIdentity;
use motcua_kiosk::config::KioskConfig;
use motcua_uplink::credentials::{self, unix_time_text, CredentialError};
use motcua_uplink::{DeviceLink, GatewayError, IdentityFiles, TrustAnchor};

use crate::runtime;

/// `kioskctl enroll`.
pub(crate) fn enroll(
    config: &KioskConfig,
    ca_file: &Path,
    key_file: Option<&Path>,
) -> anyhow::Result<()> {
    let ca_text = std::fs::read_to_string(ca_file).with_context(|| {
        format!(
            "không đọc được tệp CA / cannot read the CA file {}",
            ca_file.display()
        )
    })?;
    let anchor = TrustAnchor::from_pem(&ca_text, &ca_file.display().to_string())?;
    let key = read_enrollment_key(key_file)?;
    let files = config.identity_files();
    let device = &config.device;
    let outcome = runtime()?.block_on(credentials::enroll(
        &config.uplink.gateway_url,
        config.uplink.request_timeout,
        &files,
        &anchor,
        &device.id,
        &device.agency_code,
        &key,
    ));
    let peer = outcome.map_err(|e| explain_enrolment(e, config))?;
    println!(
        "Đã đăng ký ki-ốt / kiosk enrolled at {}",
        config.uplink.gateway_url
    );
    print_identity(&peer, &anchor, &files);
    Ok(())
}

/// `kioskctl identity`.
pub(crate) fn show(config: &KioskConfig, json: bool) -> anyhow::Result<()> {
    let files = config.identity_files();
    let device = files.device()?;
    let anchor = files.anchor()?;
    let peer = device.peer();
    let now = chrono::Utc::now().timestamp();
    if json {
        return crate::print_json(&serde_json::json!({
            "device_id": peer.name,
            "site": peer.site,
            "serial": peer.serial,
            "not_before": unix_rfc3339(peer.not_before),
            "not_after": unix_rfc3339(peer.not_after),
            "renewal_due": peer.renewal_due(now),
            "renewal_from": unix_rfc3339(renewal_from(peer)),
            "expired": now >= peer.not_after,
            "certificate_fingerprint": peer.fingerprint,
            "ca_fingerprint": anchor.fingerprint(),
            "device_file": files.device_path(),
            "ca_file": files.ca_path(),
        }));
    }
    print_identity(peer, &anchor, &files);
    println!(
        "  hiệu lực từ / valid from:    {}",
        unix_time_text(peer.not_before)
    );
    if now >= peer.not_after {
        println!(
            "  ĐÃ HẾT HẠN / EXPIRED: kỹ thuật viên phải đăng ký lại ki-ốt / a technician must re-enrol this kiosk (kioskctl enroll)"
        );
    } else if peer.renewal_due(now) {
        println!(
            "  gia hạn / renewal:           đến hạn / due (kioskd renews it on its own; `kioskctl identity renew` does it now)"
        );
    } else {
        println!(
            "  gia hạn / renewal:           chưa đến hạn / not due (from {})",
            unix_time_text(renewal_from(peer))
        );
    }
    if peer.name != config.device.id
        || peer.site.as_deref() != Some(config.device.agency_code.as_str())
    {
        println!(
            "  CẢNH BÁO / WARNING: the certificate names {} at {}, but kiosk.toml says {} at {}",
            peer.name,
            peer.site.as_deref().unwrap_or_default(),
            config.device.id,
            config.device.agency_code
        );
    }
    Ok(())
}

/// `kioskctl identity renew`.
pub(crate) fn renew(config: &KioskConfig) -> anyhow::Result<()> {
    let files = config.identity_files();
    let mut link = DeviceLink::open(
        files.clone(),
        &config.uplink.gateway_url,
        config.uplink.request_timeout,
    )?;
    let old = link.peer().serial.clone();
    let peer = runtime()?
        .block_on(link.renew_now())
        .context("chưa gia hạn được / the certificate was not renewed (the current one still works until it expires)")?;
    println!("Đã gia hạn chứng thư / certificate renewed (was {old}); kioskd uses it from its next request");
    print_identity(&peer, link.anchor(), &files);
    Ok(())
}

fn print_identity(peer: &PeerIdentity, anchor: &TrustAnchor, files: &IdentityFiles) {
    println!("  thiết bị / device:           {}", peer.name);
    println!(
        "  nơi đặt / site:              {}",
        peer.site.as_deref().unwrap_or_default()
    );
    println!("  số hiệu / serial:            {}", peer.serial);
    println!(
        "  hiệu lực đến / valid until:  {}",
        unix_time_text(peer.not_after)
    );
    println!("  CA tỉnh / province CA:       {}", anchor.fingerprint());
    println!("  tệp / files:                 {}", files.dir().display());
}

/// When renewal becomes due: the last third of the certificate's life.
fn renewal_from(peer: &PeerIdentity) -> i64 {
    peer.not_after - (peer.not_after - peer.not_before).max(0) / 3
}

fn unix_rfc3339(t: i64) -> Option<String> {
    chrono::DateTime::from_timestamp(t, 0).map(|d| d.to_rfc3339())
}

/// An enrolment failure in the words a technician needs to act on it.
fn explain_enrolment(e: CredentialError, config: &KioskConfig) -> anyhow::Error {
    let id = &config.device.id;
    match &e {
        CredentialError::Gateway(g) if g.code() == Some("already_enrolled") => anyhow::anyhow!(
            "ki-ốt {id} đã được đăng ký; kỹ thuật viên phải duyệt việc đăng ký lại tại cổng trước, rồi chạy lại kioskctl enroll / \
             device {id} is already enrolled: a technician must approve its re-enrolment at the gateway first, then run kioskctl enroll again"
        ),
        CredentialError::Gateway(g) if g.status() == Some(403) => anyhow::anyhow!(
            "khoá đăng ký không đúng / the gateway refused the enrolment key ({e})"
        ),
        CredentialError::Gateway(g) if g.code() == Some("invalid_csr") => anyhow::anyhow!(
            "cổng từ chối yêu cầu chứng thư / the gateway refused the certificate signing request ({e})"
        ),
        CredentialError::Gateway(GatewayError::Untrusted { .. }) => anyhow::anyhow!(
            "{e}. Check that --ca-file is the province's CA (compare its fingerprint) and that [gateway] url is right"
        ),
        _ => anyhow::Error::new(e).context("chưa đăng ký được / the kiosk was not enrolled"),
    }
}

/// The enrolment key: from `file`, or from standard input without one (or with `-`), asked
/// for without echo on a terminal.
fn read_enrollment_key(file: Option<&Path>) -> anyhow::Result<String> {
    let text = match file {
        Some(path) if path != Path::new("-") => {
            std::fs::read_to_string(path).with_context(|| {
                format!(
                    "không đọc được tệp khoá / cannot read the enrolment key file {}",
                    path.display()
                )
            })?
        }
        _ => read_key_from_stdin().context("cannot read the enrolment key from standard input")?,
    };
    let key = text.trim();
    if key.is_empty() {
        bail!("khoá đăng ký trống / the enrolment key is empty");
    }
    if key.lines().count() > 1 {
        bail!("khoá đăng ký phải nằm trên một dòng / the enrolment key must be one line");
    }
    Ok(key.to_owned())
}

fn read_key_from_stdin() -> std::io::Result<String> {
    let stdin = std::io::stdin();
    let mut text = String::new();
    if !stdin.is_terminal() {
        stdin.lock().read_to_string(&mut text)?;
        return Ok(text);
    }
    eprint!("Khoá đăng ký / enrolment key: ");
    // Without echo, so the key is not left on the screen.
    let quiet = std::process::Command::new("stty")
        .arg("-echo")
        .status()
        .is_ok_and(|s| s.success());
    let read = stdin.lock().read_line(&mut text);
    if quiet {
        let _ = std::process::Command::new("stty").arg("echo").status();
    }
    eprintln!();
    read.map(|_| text)
}
