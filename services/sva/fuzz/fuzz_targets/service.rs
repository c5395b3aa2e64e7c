//! Runs the input as a vSVA service scenario (`vsva_sva::fuzz::run`); a
//! violated property is a crash, as a panic or a hang is.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = vsva_sva::fuzz::run(data) {
        panic!("{violation}");
    }
});
