//! Drip across hosts (issue 25's test bed): network-namespace hosts on a bridge of their own,
//! each with its own address and OTP's EPMD, PostgreSQL and an S3 server on a host of their
//! own, the test's requests from a client host. Each scenario stays under two minutes.

mod support;

use std::time::{Duration, Instant};

use support::bed::{Client, Cluster, Node};

/// Waits until every node is connected to every other (bounded by `within`).
fn meshed(nodes: &[&Node], within: Duration) {
    let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    for node in nodes {
        harness::wait_until(
            &format!("{} to be connected to {names:?}", node.name),
            within,
            || {
                let seen = node.nodes();
                names
                    .iter()
                    .filter(|n| **n != node.name)
                    .all(|n| seen.iter().any(|s| s == n))
            },
        );
    }
}

/// Three nodes by a fixed list, then a fourth that only the fourth's list names: everyone
/// connects to it (a connection is both ways), and one that lists a node not yet up
/// connects once it is.
#[test]
fn discovery_by_a_list_and_by_hosts_file() {
    let cluster = Cluster::new("discovery");
    let hosts: Vec<_> = (1..=4).map(|i| cluster.host(&format!("node{i}"))).collect();
    let names: Vec<String> = hosts
        .iter()
        .map(|h| format!("drip@{}", h.address))
        .collect();
    let list = format!("epmd:{},interval=1000", names.join(","));
    let started = Instant::now();
    let a = cluster.start(&hosts[0], &[&list], &[]);
    let b = cluster.start(&hosts[1], &[&list], &[]);
    let c = cluster.start(&hosts[2], &[&list], &[]);
    meshed(&[&a, &b, &c], Duration::from_secs(20));
    eprintln!(
        "three nodes meshed {:?} after the first started",
        started.elapsed()
    );
    let d = cluster.start(&hosts[3], &[&list], &[]);
    let up = Instant::now();
    meshed(&[&a, &b, &c, &d], Duration::from_secs(20));
    eprintln!(
        "the fourth connected everywhere {:?} after ready",
        up.elapsed()
    );
    let client = Client {
        host: &cluster.client,
    };
    let token = client.account(a.http(), "alice");
    let (status, answer) = client.upload(b.http(), &token, "hello.txt", b"hello from the bed");
    assert!(status.contains("20"), "{status} {answer}");
}
