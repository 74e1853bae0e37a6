//! The EPMD client's reply parsers on anything: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = epmd::msg::Alive2Reply::parse(data);
    let _ = epmd::msg::parse_port2_reply(data);
    let _ = epmd::msg::parse_names_reply(data);
});
