//! Benchmark of the officer's signature on intake copies (a measurement, not a test; it
//! asserts nothing about time).
//!
//! For documents of 1, 10 and 50 pages as the page pipeline writes them (300 dpi text pages,
//! CCITT G4), reports the time to sign one copy with an RSA 2048 key on a SoftHSM2 token
//! (PKCS#11, as an officer's USB token; a real token is slower, about 0.1–1 s per RSA
//! signature on the token itself) and with the demo P-256 key file, each beside the reference
//! measured in the same run: copying the file and hashing it (the I/O and SHA-256 any
//! signature costs at least).
//!
//! Run: `cargo run --release -p motcua-tests --bin bench-signing [-- --rounds N]`

use std::path::Path;
use std::time::Instant;

use motcua_scanner::pipeline::encode::encode_group4;
use motcua_scanner::pipeline::pdf::{PdfFile, PdfOptions};
use motcua_scanner::pipeline::synth::text_page;
use motcua_signing::{
    sign_pdf, SignatureDetails, Signer, SoftwareSigner, TokenChoice, TokenSigner,
};
use motcua_tests::harness::bench::{arg, median};
use motcua_tests::harness::signing::{demo_key, SoftHsm, TestCa, SOFTHSM_MODULE};
use sha2::{Digest, Sha256};

fn document(path: &Path, pages: u32) -> anyhow::Result<u64> {
    let mut pdf = PdfFile::create_with(path, "bench", PdfOptions::system_default())?;
    for n in 1..=pages {
        pdf.add_page(&encode_group4(&text_page(300, n, u64::from(n)), 300, 150))?;
    }
    Ok(pdf.finish()?)
}

fn ms(f: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    let start = Instant::now();
    f()?;
    Ok(start.elapsed().as_secs_f64() * 1000.0)
}

fn main() -> anyhow::Result<()> {
    let rounds = arg("--rounds", 5);
    let tmp = tempfile::tempdir()?;
    let ca = TestCa::new(&tmp.path().join("ca"))?;
    let token = SoftHsm::new(
        &tmp.path().join("token"),
        "bench",
        "1234",
        &ca,
        "Cán bộ đo",
        365,
    )?;
    // The module reads its configuration from the environment of this process; set before
    // any other thread exists.
    std::env::set_var("SOFTHSM2_CONF", &token.conf);
    let module = Path::new(SOFTHSM_MODULE);
    let on_token = TokenSigner::open(
        &TokenChoice {
            module,
            label: Some("bench"),
        },
        "1234",
    )?;
    let (key, cert) = demo_key(&ca, tmp.path(), "Cán bộ đo")?;
    let software = SoftwareSigner::from_files(&key, &cert)?;
    let details = SignatureDetails {
        reason: "bench".into(),
        location: "bench".into(),
        signing_time: motcua_store::vietnam_now(),
    };
    println!("pages  size KB  copy+SHA-256 ms  token RSA-2048 ms (×ref)  key file P-256 ms (×ref)");
    for pages in [1u32, 10, 50] {
        let pdf = tmp.path().join(format!("doc{pages}.pdf"));
        let size = document(&pdf, pages)?;
        let out = tmp.path().join("out.pdf");
        let (mut reference, mut with_token, mut with_file) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            reference.push(ms(|| {
                std::fs::copy(&pdf, &out)?;
                let _ = Sha256::digest(std::fs::read(&out)?);
                Ok(())
            })?);
            with_token.push(ms(|| {
                sign_pdf(&pdf, &out, &on_token, &details)?;
                Ok(())
            })?);
            with_file.push(ms(|| {
                sign_pdf(&pdf, &out, &software as &dyn Signer, &details)?;
                Ok(())
            })?);
        }
        let (r, t, f) = (median(reference), median(with_token), median(with_file));
        println!(
            "{pages:>5}  {:>7}  {r:>15.1}  {t:>12.1} ({:>5.1}×)  {f:>13.1} ({:>5.1}×)",
            size / 1024,
            t / r,
            f / r
        );
    }
    on_token.close();
    Ok(())
}
