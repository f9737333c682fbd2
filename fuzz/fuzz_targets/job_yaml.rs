//! Fuzz target `job_yaml`: see `batch_host::fuzzing::job_yaml` for the property it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| batch_host::fuzzing::job_yaml(data));
