//! A connection's packet reader fed any bytes: framing, distribution headers, the atom cache,
//! fragments and control messages fail with typed errors, never a panic or a huge allocation.
#![no_main]

use dist::packet::split_packet;
use dist::Reader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut reader = Reader::new(1 << 20);
    let mut rest = data;
    while let Ok(Some((used, body))) = split_packet(rest, 1 << 20) {
        if reader.packet(body).is_err() {
            break;
        }
        rest = &rest[used..];
    }
    // Each byte string also as a single packet body.
    let _ = Reader::new(1 << 20).packet(data);
});
