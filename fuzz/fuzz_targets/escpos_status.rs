//! The receipt printer's real-time status answer (`DLE EOT 1..4`): any four bytes on the line
//! give a status or name the first byte that is not one; a status survives its own encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use motcua_printer::Status;

fuzz_target!(|data: &[u8]| {
    for answer in data.chunks_exact(4) {
        let answer: [u8; 4] = [answer[0], answer[1], answer[2], answer[3]];
        match Status::from_answer(&answer) {
            Ok(status) => {
                let again = Status::from_answer(&status.to_bytes());
                assert_eq!(again.map(|s| s.fault()), Ok(status.fault()));
                assert_eq!(status.is_ready(), status.fault().is_none());
            }
            Err((query, byte)) => {
                assert!((1..=4).contains(&query));
                assert_eq!(answer[usize::from(query) - 1], byte);
            }
        }
    }
});
