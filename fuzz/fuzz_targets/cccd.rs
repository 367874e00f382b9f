//! The chip ID card's QR text (CCCD): whatever a reader sends, the parser answers a card or an
//! error, never a panic, and a card it accepts keeps the promises the form relies on.
#![no_main]

use libfuzzer_sys::fuzz_target;
use motcua_domain::cccd;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match cccd::parse(text) {
        Ok(card) => {
            assert_eq!(card.id_number.len(), 12, "{:?}", card.id_number);
            assert!(card.id_number.bytes().all(|b| b.is_ascii_digit()));
            assert!(!card.full_name.is_empty());
            assert_eq!(card.full_name.trim(), card.full_name);
            assert!(!card.full_name.contains("  "));
            assert!(!card.masked_id().contains(&card.id_number[..9]));
        }
        Err(e) => {
            // Both languages have words for every error.
            assert!(!e.message_vi().is_empty());
            assert!(!e.to_string().is_empty());
        }
    }
});
