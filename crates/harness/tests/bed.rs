//! The test bed's own promises: hosts reach each other by address and by name, nothing of the
//! bed has a way out, and a cut host is unreachable until healed.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use harness::bed::Bed;

/// One line through a TCP connection from `from` to `to` (which listens on `port`).
fn echo(bed_to: &harness::bed::Host, bed_from: &harness::bed::Host, port: u16) -> bool {
    let address = bed_to.address;
    let listener = bed_to.run(|| TcpListener::bind((address, port)).expect("listens"));
    let server = std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 5];
            let _ = s.read_exact(&mut buf);
            let _ = s.write_all(&buf);
        }
    });
    let ok = bed_from.run(|| {
        let Ok(mut s) = TcpStream::connect_timeout(&(address, port).into(), Duration::from_secs(2))
        else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let mut buf = [0u8; 5];
        s.write_all(b"hello").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"hello"
    });
    if !ok {
        // Unblock the listener's accept.
        let _ = bed_to.run(|| TcpStream::connect((address, port)));
    }
    let _ = server.join();
    ok
}

#[test]
fn hosts_reach_each_other_and_a_cut_host_is_cut_off_until_healed() {
    let bed = Bed::new();
    let a = bed.host("alpha");
    let b = bed.host("beta");
    assert_ne!(a.address, b.address);
    assert!(echo(&b, &a, 7000), "alpha reaches beta");
    // By name, through the host's own /etc/hosts.
    let out = a
        .command("getent")
        .args(["hosts", "beta"])
        .output()
        .expect("getent");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&b.address.to_string()),
        "{out:?}"
    );
    // A host has no way out of the bed: no route beyond its network.
    let out = a
        .command("ip")
        .args(["route", "get", "1.1.1.1"])
        .output()
        .expect("ip route");
    assert!(!out.status.success(), "{out:?}");
    b.cut();
    assert!(!echo(&b, &a, 7001), "beta is cut off");
    b.heal();
    assert!(echo(&b, &a, 7002), "beta is back");
}
