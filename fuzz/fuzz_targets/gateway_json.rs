//! The JSON bodies devices post to the gateway (dossiers, documents, ratings, tickets, health
//! reports, provisioning): any bytes are refused or accepted by the gateway's own reading and
//! checks, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    motcua_gateway::fuzzing::json_bodies(data);
});
