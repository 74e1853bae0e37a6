//! The EPMD daemon's logic on any byte stream, split into reads as the input says: framing and
//! request handling never panic, whatever a client sends.
#![no_main]

use epmd::server::{Config, Connection, Framed, Server};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut server = Server::new(Config { port: 4369, relaxed_command_check: data.first() == Some(&1), debug: 1 });
    let mut rest = data;
    let mut id = 0;
    let mut conn = Connection::new(id, true);
    while let Some((&chunk, tail)) = rest.split_first() {
        let take = (usize::from(chunk) + 1).min(tail.len()).min(conn.read_limit());
        let (bytes, tail) = tail.split_at(take);
        rest = tail;
        match conn.handle_data(bytes) {
            Framed::Incomplete => {}
            Framed::Close(_) => {
                server.connection_closed(id);
                id += 1;
                conn = Connection::new(id, id % 3 != 0);
            }
            Framed::Packet(packet) => {
                let reply = server.handle_request(&mut conn, &packet, 1_700_000_000);
                if !reply.keep {
                    id += 1;
                    conn = Connection::new(id, id % 3 != 0);
                }
            }
        }
    }
});
