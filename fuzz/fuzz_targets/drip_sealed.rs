//! Drip's decryption of a stored object fed any bytes in reads of any size (storage is not
//! trusted: tampering is refused): a typed error or plaintext, never a panic.
#![no_main]

use drip::crypto::Decryptor;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut d = Decryptor::new(&[7u8; 32], "0123456789abcdef0123456789abcdef");
    let mut rest = data;
    while let Some((&n, tail)) = rest.split_first() {
        let take = (usize::from(n) * 64 + 1).min(tail.len());
        let (bytes, tail) = tail.split_at(take);
        rest = tail;
        if d.push(bytes).is_err() {
            return;
        }
    }
    let _ = d.finish();
});
