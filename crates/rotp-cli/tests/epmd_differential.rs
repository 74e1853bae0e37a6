//! Differential tests: the same byte-level conversations with OTP's epmd and with ours, side by
//! side, must get the same answers byte for byte (creation numbers and file descriptors, which
//! come from the clock and the kernel, are compared by shape).

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::*;

/// One step of a conversation over a set of connections.
#[derive(Clone)]
enum Step {
    /// Open connection `n`.
    Open(usize),
    /// Write bytes on connection `n`.
    Send(usize, Vec<u8>),
    /// Pause, for the daemon to act on what it got.
    Wait(u64),
    /// Record what connection `n` says until it closes or goes quiet.
    Read(usize),
    /// Close connection `n`.
    Close(usize),
}

use Step::*;

fn alive2(name: &[u8], port: u16, high: u16) -> Vec<u8> {
    let mut body = vec![120];
    body.extend_from_slice(&port.to_be_bytes());
    body.extend_from_slice(&[77, 0]);
    body.extend_from_slice(&high.to_be_bytes());
    body.extend_from_slice(&5u16.to_be_bytes());
    body.extend_from_slice(&(name.len() as u16).to_be_bytes());
    body.extend_from_slice(name);
    body.extend_from_slice(&[0, 2, b'x', b'y']);
    framed(&body)
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// Runs a conversation; each Read gives (reply with clock/kernel values masked, closed?).
fn converse(port: u16, steps: &[Step]) -> Vec<(Vec<u8>, bool)> {
    let mut conns: Vec<Option<TcpStream>> = (0..8).map(|_| None).collect();
    let mut out = Vec::new();
    for step in steps {
        match step {
            Open(n) => conns[*n] = Some(TcpStream::connect(("127.0.0.1", port)).unwrap()),
            Send(n, bytes) => {
                let _ = conns[*n].as_mut().unwrap().write_all(bytes);
            }
            Wait(ms) => std::thread::sleep(Duration::from_millis(*ms)),
            Read(n) => out.push(mask(read_reply(
                conns[*n].as_mut().unwrap(),
                Duration::from_millis(300),
            ))),
            Close(n) => conns[*n] = None,
        }
    }
    out
}

/// Masks the creation in a successful ALIVE2_X_RESP, and turns the number after each `fd = `
/// (a file descriptor: whatever the kernel handed out) into `N`.
fn mask((mut bytes, closed): (Vec<u8>, bool)) -> (Vec<u8>, bool) {
    if bytes.len() == 6 && bytes[0] == 118 && bytes[1] == 0 {
        bytes[2..6].fill(b'C');
    }
    // ALIVE2_RESP's creation is the clock's seconds modulo 3, plus 1: check the range only.
    if bytes.len() == 4 && bytes[..3] == [121, 0, 0] && (1..=3).contains(&bytes[3]) {
        bytes[2..4].fill(b'C');
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        out.push(bytes[i]);
        i += 1;
        if out.ends_with(b"fd = ") {
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            out.push(b'N');
        }
    }
    (out, closed)
}

fn compare(name: &str, args: &[&str], steps: &[Step]) -> Vec<(Vec<u8>, bool)> {
    let (otp_port, our_port) = (free_port(), free_port());
    let _otp = start_epmd(&otp_epmd(), otp_port, args);
    let _ours = start_epmd(&our_epmd(), our_port, args);
    let theirs = converse(otp_port, steps);
    let ours = converse(our_port, steps);
    // The port EPMD reports in NAMES/DUMP replies differs by construction; mask it.
    let strip = |v: Vec<(Vec<u8>, bool)>, port: u16| -> Vec<(Vec<u8>, bool)> {
        v.into_iter()
            .map(|(mut b, c)| {
                if b.len() >= 4 && b[..4] == u32::from(port).to_be_bytes() {
                    b[..4].fill(b'P');
                }
                (b, c)
            })
            .collect()
    };
    let (theirs, ours) = (strip(theirs, otp_port), strip(ours, our_port));
    assert_eq!(ours, theirs, "{name}: ours (left) vs OTP's epmd (right)");
    ours
}

#[test]
fn names_and_port_please_on_an_empty_daemon() {
    let r = compare(
        "empty",
        &[],
        &[
            Open(0),
            Send(0, framed(&[110])),
            Read(0),
            Open(1),
            Send(1, framed(b"znone")),
            Read(1),
        ],
    );
    assert_eq!(r[0], (b"PPPP".to_vec(), true));
}

#[test]
fn register_look_up_and_unregister() {
    compare(
        "register",
        &[],
        &[
            Open(0),
            Send(0, alive2(b"n1", 5000, 6)),
            Read(0),
            Open(1),
            Send(1, framed(&[110])),
            Read(1),
            Open(2),
            Send(2, framed(b"zn1")),
            Read(2),
            Open(3),
            Send(3, framed(b"zn1\0")),
            Read(3),
            // The same name again, from another connection: refused, creation 99, kept open.
            Open(4),
            Send(4, alive2(b"n1", 5001, 6)),
            Read(4),
            Close(0),
            Wait(200),
            Open(5),
            Send(5, framed(&[110])),
            Read(5),
            Open(6),
            Send(6, framed(&[100])),
            Read(6),
        ],
    );
}

#[test]
fn old_nodes_get_a_16_bit_creation() {
    let r = compare(
        "alive2 v5",
        &[],
        &[Open(0), Send(0, alive2(b"old", 5000, 5)), Read(0)],
    );
    assert_eq!(r[0].0, [121, 0, b'C', b'C']);
}

#[test]
fn garbage_and_bad_sizes_close_without_a_reply() {
    let cases: Vec<Vec<u8>> = vec![
        framed(&[42]),
        vec![0, 0],
        vec![0x0b, 0xf4, 1, 2, 3],
        vec![0, 1, 110, 110],
        framed(&[122]),
        framed(&[122, 0]),
        framed(&[122, b'a', 0, b'b']),
        framed(&[122, 0xff, 0xfe]),
        framed(&[120, 0, 1, 77]),
        alive2(b"a\0b", 5000, 6),
        framed(&[115, b'x']),
        framed(&[107]),
    ];
    for (n, bytes) in cases.into_iter().enumerate() {
        compare(
            &format!("garbage case {n}"),
            &[],
            &[Open(0), Send(0, bytes), Read(0)],
        );
    }
}

#[test]
fn invalid_names_are_refused() {
    compare(
        "bad utf8",
        &[],
        &[Open(0), Send(0, alive2(&[0xc3, 0x28], 5000, 6)), Read(0)],
    );
    compare(
        "256 chars",
        &[],
        &[Open(0), Send(0, alive2(&[b'a'; 256], 5000, 6)), Read(0)],
    );
    compare(
        "255 chars",
        &[],
        &[Open(0), Send(0, alive2(&[b'a'; 255], 5000, 6)), Read(0)],
    );
}

#[test]
fn a_packet_split_across_writes_is_assembled() {
    compare(
        "split",
        &[],
        &[
            Open(0),
            Send(0, vec![0]),
            Wait(100),
            Send(0, vec![1]),
            Wait(100),
            Send(0, vec![110]),
            Read(0),
        ],
    );
}

#[test]
fn bytes_after_registering_unregister_the_node() {
    compare(
        "chatty alive",
        &[],
        &[
            Open(0),
            Send(0, alive2(b"chatty", 5000, 6)),
            Read(0),
            Send(0, vec![1, 2, 3]),
            Read(0),
            Open(1),
            Send(1, framed(&[110])),
            Read(1),
        ],
    );
}

#[test]
fn kill_and_stop_need_relaxed_command_check() {
    compare(
        "strict",
        &[],
        &[
            Open(0),
            Send(0, alive2(b"live", 5000, 6)),
            Read(0),
            Open(1),
            Send(1, framed(&[107])),
            Read(1),
            Open(2),
            Send(2, framed(b"slive")),
            Read(2),
            Open(3),
            Send(3, framed(&[110])),
            Read(3),
        ],
    );
}

#[test]
fn relaxed_stop_unregisters_and_kill_exits() {
    compare(
        "relaxed",
        &["-relaxed_command_check"],
        &[
            Open(0),
            Send(0, alive2(b"live", 5000, 6)),
            Read(0),
            Open(1),
            Send(1, framed(b"snosuch")),
            Read(1),
            Open(2),
            Send(2, framed(b"slive")),
            Read(2),
            // The registering connection was closed by the daemon.
            Read(0),
            Open(3),
            Send(3, framed(&[100])),
            Read(3),
            Open(4),
            Send(4, alive2(b"again", 5000, 6)),
            Read(4),
            Open(5),
            Send(5, framed(&[107])),
            Read(5),
        ],
    );
}

#[test]
fn a_name_that_comes_back_gets_the_next_creation_in_both() {
    for binary in [otp_epmd(), our_epmd()] {
        let port = free_port();
        let _d = start_epmd(&binary, port, &[]);
        let creation = || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.write_all(&alive2(b"back", 5000, 6)).unwrap();
            let (reply, _) = read_reply(&mut s, Duration::from_millis(300));
            assert_eq!(&reply[..2], &[118, 0], "{binary:?}");
            u32::from_be_bytes(reply[2..6].try_into().unwrap())
        };
        let first = creation();
        std::thread::sleep(Duration::from_millis(200));
        let second = creation();
        assert_eq!(second, first + 1, "{binary:?}");
    }
}

#[test]
fn idle_connections_time_out_after_packet_timeout() {
    for binary in [otp_epmd(), our_epmd()] {
        let port = free_port();
        let _d = start_epmd(&binary, port, &["-packet_timeout", "1"]);
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let started = Instant::now();
        let (bytes, closed) = read_reply(&mut s, Duration::from_secs(5));
        assert!(
            closed && bytes.is_empty(),
            "{binary:?} did not close an idle connection"
        );
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "{binary:?} closed too early"
        );
    }
}

#[test]
fn a_client_that_pauses_a_second_is_served_under_packet_timeout_1_by_both() {
    // epmd_srv.c closes a connection when `mod_time + packet_timeout < time(NULL)`, in whole
    // seconds: a request whose bytes come 1.2 s apart, the first just after a second boundary,
    // is still served under `-packet_timeout 1`.
    let request = framed(&[122, b'n', b'o', b'b', b'o', b'd', b'y']);
    for binary in [otp_epmd(), our_epmd()] {
        let port = free_port();
        let _d = start_epmd(&binary, port, &["-packet_timeout", "1"]);
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let into_second = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_millis();
        std::thread::sleep(Duration::from_millis(u64::from(1000 - into_second) + 20));
        s.write_all(&request[..3]).unwrap();
        std::thread::sleep(Duration::from_millis(1200));
        s.write_all(&request[3..]).unwrap();
        let (reply, _) = read_reply(&mut s, Duration::from_secs(3));
        // PORT2_RESP, result 1: no such node.
        assert_eq!(reply, [119, 1], "{binary:?}");
    }
}
