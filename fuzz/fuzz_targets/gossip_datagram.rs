//! libcluster Gossip datagrams as a node hears them from the network, plain and with a
//! secret: never a panic, whatever arrives.
#![no_main]

use libfuzzer_sys::fuzz_target;
use node::discovery::gossip::{decode, PRELUDE};

fuzz_target!(|data: &[u8]| {
    let _ = decode(data, None);
    let _ = decode(data, Some("secret"));
    let mut heartbeat = PRELUDE.to_vec();
    heartbeat.extend_from_slice(data);
    let _ = decode(&heartbeat, None);
});
