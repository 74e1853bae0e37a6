//! `binary_to_term` on anything: never a panic, and what decodes re-encodes to bytes that decode
//! to the same term.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(term) = etf::decode(data) {
        let again = etf::encode(&term).expect("a decoded term encodes");
        assert_eq!(etf::decode(&again).expect("our encoding decodes"), term);
    }
    // Also as a distribution message body: no version byte, terms back to back.
    let mut decoder = etf::Decoder::new(data);
    while decoder.term().is_ok() && !decoder.remaining().is_empty() {}
});
