//! Out of file descriptors, the node's acceptor waits before it tries again instead of
//! spinning (a connection it cannot accept stays in the backlog, and the listening socket
//! stays readable), and it accepts again once descriptors are free.
//!
//! Alone in its test binary: it lowers this process's descriptor limit.

mod support;

use std::time::Duration;

use support::raw;
use support::*;

/// User and system CPU time this process has used, in clock ticks, read from `/proc/self/stat`
/// opened beforehand (with no descriptor left, it could not be opened then).
fn cpu_ticks(file: &mut std::fs::File) -> u64 {
    use std::io::{Read, Seek};
    let mut stat = String::new();
    file.rewind().unwrap();
    file.read_to_string(&mut stat).unwrap();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_descriptors_the_acceptor_backs_off_and_recovers() {
    let (_epmd, epmd_port) = epmd();
    let node = rotp_node("rotp_emfile", "emfile", epmd_port).await;
    let port = node.listen_port().unwrap();
    let mut stat = std::fs::File::open("/proc/self/stat").unwrap();
    let (soft, hard) = rlimit::Resource::NOFILE.get().unwrap();
    let limit = raw::open_fds() as u64 + 40;
    rlimit::Resource::NOFILE.set(limit, hard).unwrap();
    // Connect until this process has no descriptor left: the node cannot accept the rest.
    let mut clients = Vec::new();
    while let Ok(Ok(s)) = tokio::time::timeout(
        Duration::from_millis(500),
        tokio::net::TcpStream::connect(("127.0.0.1", port)),
    )
    .await
    {
        clients.push(s);
        if clients.len() > 200 {
            break;
        }
    }
    // (Even listing /proc/self/fd needs a descriptor now.)
    assert!(clients.len() < 200, "the limit was not reached");
    // Give the acceptor time to hit EMFILE, then measure a second of its CPU.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ticks_per_second = 100; // USER_HZ on Linux
    let before = cpu_ticks(&mut stat);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let used = cpu_ticks(&mut stat) - before;
    assert!(
        used < ticks_per_second / 4,
        "{used} ticks of CPU in one second out of descriptors: the acceptor spins"
    );
    drop(clients);
    rlimit::Resource::NOFILE.set(soft, hard).unwrap();
    // Descriptors are back: a real node gets in.
    let target = node.name().to_string();
    let out = erl_eval(
        "erl_after_emfile",
        "emfile",
        epmd_port,
        &format!("io:format(\"~p~n\", [net_adm:ping('{target}')]), halt()."),
    )
    .await;
    assert_eq!(out.trim(), "pong");
}
