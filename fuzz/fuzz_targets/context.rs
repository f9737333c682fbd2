//! Fuzz target `context`: see `batch_host::fuzzing::context` for the property it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| batch_host::fuzzing::context(data));
