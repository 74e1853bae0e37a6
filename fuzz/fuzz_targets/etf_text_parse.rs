//! Erlang term text on anything: never a panic, and what parses prints to text that parses to
//! the same term.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(term) = etf::text::parse(text) {
            let _ = etf::encode(&term);
            let printed = etf::text::write(&term);
            if let Ok(again) = etf::text::parse(&printed) {
                assert_eq!(etf::text::write(&again), printed);
            }
        }
    }
});
