//! Whatever a QR or barcode reader sends: the classifiers (receipt, separator sheet,
//! provisioning setup code, chip ID card) and the citizen session that routes a scan to the
//! screen on show never panic, and what they accept reads back the same.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use motcua_domain::dossier::DossierCode;
use motcua_domain::qr_payload::{dossier_code_in, Separator};
use motcua_domain::rating::RatingScale;
use motcua_flows::session::{Event, IdlePolicy, Session, SessionSettings};
use motcua_flows::staff::PinPolicy;
use motcua_flows::ticket::ServiceArea;
use motcua_identity::setup_code::{ProvisioningKey, SetupCode, TrustedProvisioningKey};

/// A provisioning key made once per run, and the kiosk's trust in it.
fn trusted() -> &'static Option<TrustedProvisioningKey> {
    static KEY: OnceLock<Option<TrustedProvisioningKey>> = OnceLock::new();
    KEY.get_or_init(|| {
        let key = ProvisioningKey::generate().ok()?;
        key.public_key().parse().ok()
    })
}

fn settings() -> SessionSettings {
    SessionSettings {
        catalog: Arc::new(motcua_domain::catalog::seed()),
        areas: vec![ServiceArea {
            code: "TP".into(),
            name_vi: "Tư pháp".into(),
            name_en: "Justice".into(),
        }],
        rating_scale: RatingScale::Three,
        idle: IdlePolicy::default(),
        pins: PinPolicy::default(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(payload) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(code) = dossier_code_in(payload) {
        assert_eq!(DossierCode::parse(&code.to_string()), Ok(code));
    }
    if let Some(sep) = Separator::parse(payload) {
        let again = Separator::parse(&sep.payload());
        assert_eq!(
            again.map(|s| s.dossier_code),
            Some(sep.dossier_code.clone())
        );
    }
    if let Some(key) = trusted() {
        // Unsigned text never opens; the JSON inside a code is read without panicking too.
        assert!(key.open(payload, 0).is_err());
    }
    let _ = serde_json::from_str::<SetupCode>(payload);
    // The session routes the scan by screen: home, the ID card step, lookup, rating.
    for screen in [None, Some("submit"), Some("lookup"), Some("rate")] {
        let mut session = Session::new(settings(), 0);
        if let Some(s) = screen {
            session.handle(Event::Open(s.into()), 1);
        }
        session.handle(Event::CodeScanned(payload.to_owned()), 2);
    }
});
