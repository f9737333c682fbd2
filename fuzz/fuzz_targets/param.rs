//! Fuzz target `param`: see `batch_host::fuzzing::param` for the property it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| batch_host::fuzzing::param(data));
