//! The officer's signature from the command line: the token PIN (typed without echo, or one
//! line on stdin with `--pin-stdin`; never an argument or an environment variable, which other
//! users of the machine can read), the signer shown, the waiting documents signed.

use std::io::BufRead;

use motcua_kiosk::config::KioskConfig;
use motcua_kiosk::intake::signing::{
    needs_pin, open_signer, sign_waiting, OpenedSigner, SignScope,
};
use motcua_store::Store;

/// Reads the PIN, if the configured key needs one.
fn read_pin(config: &KioskConfig, pin_stdin: bool) -> anyhow::Result<Option<String>> {
    if !needs_pin(&config.signing) {
        return Ok(None);
    }
    let pin = if pin_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
        // An empty line or none (stdin closed) is no PIN: `open_signer` refuses it without
        // spending one of the token's tries.
    } else {
        rpassword::prompt_password("Mã PIN của USB ký số / the signing token's PIN: ").map_err(
            |e| {
                anyhow::anyhow!(
                    "không đọc được PIN ({e}); không có bàn phím thì dùng --pin-stdin / cannot read the PIN ({e}); without a terminal use --pin-stdin"
                )
            },
        )?
    };
    Ok(Some(pin))
}

/// Opens the configured key and shows who signs. An error is printed in the officer's words
/// and `None` returned: the documents then wait, stored and unsigned.
pub(crate) fn open(config: &KioskConfig, pin_stdin: bool) -> anyhow::Result<Option<OpenedSigner>> {
    let pin = read_pin(config, pin_stdin)?;
    match open_signer(&config.signing, pin.as_deref()) {
        Ok(signer) => {
            eprintln!("{}", signer.describe());
            Ok(Some(signer))
        }
        Err(error) => {
            eprintln!("{error}");
            Ok(None)
        }
    }
}

/// Signs what waits with `signer` (when there is one) and says what is left. Returns whether
/// nothing is left waiting.
pub(crate) fn sign_all(
    store: &mut Store,
    config: &KioskConfig,
    signer: Option<&OpenedSigner>,
    scope: SignScope<'_>,
) -> anyhow::Result<bool> {
    if let Some(signer) = signer {
        let report = sign_waiting(store, config, signer, scope, &mut |done, total, code| {
            eprintln!("ký / signing {done}/{total}: {code}");
        })?;
        for code in &report.signed {
            println!("{code} (đã ký, chờ gửi / signed, queued)");
        }
        for (code, error) in &report.errors {
            eprintln!("{code}: {error}");
        }
    }
    let waiting = store.awaiting_signature()?;
    if waiting.is_empty() {
        return Ok(true);
    }
    eprintln!(
        "{} giấy tờ đã lưu nhưng chưa ký nên chưa gửi; cắm USB ký số rồi chạy: kioskctl sign / {} document(s) are stored but not signed, so not sent; plug in the token and run: kioskctl sign",
        waiting.len(),
        waiting.len()
    );
    for doc in &waiting {
        eprintln!(
            "  {} ({}, {} trang/pages)",
            doc.document_code, doc.name, doc.pages
        );
    }
    Ok(false)
}

/// `kioskctl sign`.
pub(crate) fn sign(config: &KioskConfig, pin_stdin: bool) -> anyhow::Result<bool> {
    let mut store = crate::open(config)?;
    let waiting = store.awaiting_signature()?;
    if waiting.is_empty() {
        println!("không có giấy tờ chờ ký / no document is waiting for a signature");
        return Ok(true);
    }
    // The officer sees what will carry the signature before typing the PIN.
    eprintln!("Sẽ ký / to be signed:");
    for doc in &waiting {
        eprintln!(
            "  {} (hồ sơ / dossier {}; {}, {} trang/pages)",
            doc.document_code, doc.dossier_code, doc.name, doc.pages
        );
    }
    let signer = open(config, pin_stdin)?;
    let done = sign_all(&mut store, config, signer.as_ref(), SignScope::AllWaiting)?;
    // The token's session ends here (logout on drop).
    drop(signer);
    Ok(done)
}
