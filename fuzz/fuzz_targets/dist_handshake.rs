//! Both sides of the distribution handshake fed any bytes, in reads of any size: every
//! message is a typed error or progress, never a panic.
#![no_main]

use dist::{Cookie, DistFlags, Event, Handshake, HandshakeConfig, Status};
use etf::Atom;
use libfuzzer_sys::fuzz_target;

fn config() -> HandshakeConfig {
    HandshakeConfig {
        name: Atom::from("fuzz@host"),
        creation: 7,
        flags: DistFlags::DEFAULT,
        hidden: false,
        required: DistFlags::REQUIRED,
        cookie: Cookie::new("cookie"),
        challenge: 42,
    }
}

fuzz_target!(|data: &[u8]| {
    let initiator = data.first().is_some_and(|b| b & 1 == 1);
    let made = if initiator {
        Handshake::initiate(config(), Atom::from("peer@host"))
    } else {
        Handshake::accept(config())
    };
    let Ok(mut hs) = made else { return };
    if data.first().is_some_and(|b| b & 2 == 2) {
        hs = hs.with_4_byte_lengths();
    }
    let mut rest = data.get(1..).unwrap_or(&[]);
    while let Some((&chunk, tail)) = rest.split_first() {
        let take = (usize::from(chunk) + 1).min(tail.len());
        let (bytes, tail) = tail.split_at(take);
        rest = tail;
        hs.feed(bytes);
        loop {
            match hs.poll() {
                Ok(Some(Event::PeerNamed { .. })) => {
                    let _ = hs.set_status(if chunk & 1 == 0 { Status::Ok } else { Status::Alive });
                }
                Ok(Some(Event::AliveQuery)) => hs.reply_alive(chunk & 2 == 0),
                Ok(Some(Event::Established(_))) | Ok(None) | Err(_) => break,
            }
        }
        let _ = hs.take_output();
    }
});
