//! The tus headers of an upload a device sends the gateway (`Tus-Resumable`, `Upload-Length`,
//! `Upload-Offset`, `Upload-Metadata`): any header values are refused in words or accepted,
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    motcua_gateway::fuzzing::tus_headers(data);
});
