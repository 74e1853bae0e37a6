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

/// An erl node with the cluster's cookie on `host`, named `name`, with the bed's
/// `net_ticktime`; it connects to nobody itself.
fn erl_on(host: &harness::bed::Host, name: &str) -> (harness::Guard, harness::Guard) {
    let epmd = host.epmd();
    let erl = host
        .command("erl")
        .args(["-name", name, "-setcookie", support::bed::COOKIE])
        .args(["-kernel", "net_ticktime", &support::bed::TICKTIME.to_string()])
        .args(["-noshell", "-eval", "timer:sleep(infinity)."])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("erl starts");
    (harness::Guard(erl), epmd)
}

/// Scenario 1 for one strategy: three Drip nodes whose `--discovery` is `spec` find each
/// other; a fourth started later is connected everywhere within one poll interval (and its
/// start); an erl node with the cookie is found the same way. The time from the fourth's
/// start to connected everywhere.
fn forms_through(
    cluster: &Cluster,
    hosts: &[harness::bed::Host],
    erl_name: &str,
    spec: &str,
) -> Duration {
    let first: Vec<Node> = hosts[..3].iter().map(|h| cluster.start(h, &[spec], &[])).collect();
    let three: Vec<&Node> = first.iter().collect();
    meshed(&three, Duration::from_secs(20));
    let started = Instant::now();
    let fourth = cluster.start(&hosts[3], &[spec], &[]);
    let mut all = three.clone();
    all.push(&fourth);
    meshed(&all, Duration::from_secs(20));
    let took = started.elapsed();
    let _erl = erl_on(&hosts[4], erl_name);
    for node in &all {
        harness::wait_until(
            &format!("{} to find {erl_name} through {spec}", node.name),
            Duration::from_secs(20),
            || node.nodes().iter().any(|n| n == erl_name),
        );
    }
    took
}

/// Scenario 1: discovery across hosts, strategy by strategy (an interval of one second each).
#[test]
fn nodes_on_separate_hosts_find_each_other_through_each_strategy() {
    let cluster = Cluster::new("discovery");
    let hosts: Vec<_> = (1..=5).map(|i| cluster.host(&format!("node{i}"))).collect();
    let addresses: Vec<String> = hosts.iter().map(|h| h.address.to_string()).collect();
    let erl_name = format!("drip@{}", addresses[4]);
    let names: Vec<String> = addresses.iter().map(|a| format!("drip@{a}")).collect();
    // libcluster's Epmd: the list names every node, the erl node's included.
    let list = format!("epmd:{},interval=1000", names.join(","));
    // net_adm:world/0: every name each host's EPMD lists, hosts from a .hosts.erlang file.
    let hosts_file = cluster.scratch.join("hosts.erlang");
    let text: String = addresses.iter().map(|a| format!("'{a}'.\n")).collect();
    std::fs::write(&hosts_file, text).expect("the hosts file");
    let world = format!("erlang-hosts:{},interval=1000", hosts_file.display());
    let client = Client { host: &cluster.client };
    for spec in [list, world] {
        let took = forms_through(&cluster, &hosts, &erl_name, &spec);
        eprintln!("discovery {spec}: the fourth node connected everywhere {took:?} after its start");
    }
    // The cluster works across hosts: a file uploaded on one host downloads on another.
    let a = cluster.start(&hosts[0], &[], &[]);
    let token = client.account(a.http(), "alice");
    let (status, answer) = client.upload(a.http(), &token, "hello.txt", b"hello from the bed");
    assert!(status.contains(" 20"), "{status} {answer}");
}

/// `global:whereis_name({cache, <<"ID">>})` as `node` sees it.
fn cache_owner(node: &Node, id: &str) -> String {
    node.rpc(&format!("global:whereis_name({{cache, <<\"{id}\">>}})"))
        .unwrap_or_else(|e| panic!("rpc to {}: {e}", node.name))
        .trim()
        .to_owned()
}

/// Scenario 3: one host cut off for longer than `net_ticktime`, then healed. Both sides made
/// the same `global` name (a file's download cache) while apart; once healed the cluster forms
/// again, `global` keeps one of the two, every file downloads through every node, and no
/// upload was done twice (one object per file in the store).
#[test]
fn a_partition_heals_and_global_resolves_the_clash() {
    let cluster = Cluster::new("partition");
    let hosts: Vec<_> = (1..=3).map(|i| cluster.host(&format!("node{i}"))).collect();
    let names: Vec<String> = hosts
        .iter()
        .map(|h| format!("drip@{}", h.address))
        .collect();
    let list = format!("epmd:{},interval=1000", names.join(","));
    let nodes: Vec<Node> = hosts
        .iter()
        .map(|h| cluster.start(h, &[&list], &[]))
        .collect();
    let all: Vec<&Node> = nodes.iter().collect();
    meshed(&all, Duration::from_secs(20));
    let (a, c) = (&nodes[0], &nodes[2]);
    let client = Client {
        host: &cluster.client,
    };
    let token = client.account(a.http(), "carol");
    let mut files = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let bytes = support::bytes(200_000 + i * 1000, i as u8);
        let (status, answer) = client.upload(node.http(), &token, &format!("f{i}.bin"), &bytes);
        assert!(status.contains(" 20"), "{status} {answer}");
        let id = answer["id"].as_str().expect("an id").to_owned();
        files.push((id, bytes));
    }
    let (x, x_bytes) = files[0].clone();
    stored(&client, a, &token, &x);
    // C makes X's cache entry, registered with global everywhere.
    assert!(client.download_cached(c.http(), &token, &x) == x_bytes);
    let before = cache_owner(a, &x);
    assert_ne!(before, "undefined");
    assert_eq!(cache_owner(c, &x), before);

    c.host.cut();
    let cut_at = Instant::now();
    for n in &nodes[..2] {
        harness::wait_until(
            &format!("{} to see {} down", n.name, c.name),
            Duration::from_secs(30),
            || !n.nodes().contains(&c.name),
        );
    }
    eprintln!("nodedown seen {:?} after the cut", cut_at.elapsed());
    // A, without C, makes X's cache entry again: now each side has its own.
    assert_eq!(cache_owner(a, &x), "undefined");
    assert!(client.download_cached(a.http(), &token, &x) == x_bytes);
    let majority = cache_owner(a, &x);
    assert_ne!(majority, "undefined");
    assert_eq!(cache_owner(c, &x), before, "the cut-off side keeps its own");
    // Apart for longer than net_ticktime.
    harness::wait_until(
        "the partition to outlast net_ticktime",
        Duration::from_secs(30),
        || cut_at.elapsed() > Duration::from_secs(support::bed::TICKTIME + 2),
    );
    c.host.heal();
    meshed(&all, Duration::from_secs(30));
    let resolved = harness::wait_until(
        "global to agree on one cache entry for X",
        Duration::from_secs(30),
        || {
            let seen: Vec<String> = nodes.iter().map(|n| cache_owner(n, &x)).collect();
            (seen.iter().all(|s| s == &seen[0]) && seen[0] != "undefined").then(|| seen[0].clone())
        },
    );
    assert!(resolved == before || resolved == majority, "{resolved}");
    for node in &nodes {
        for (id, bytes) in &files {
            stored(&client, node, &token, id);
            let (status, got) = client.download(node.http(), &token, id);
            assert!(
                status.contains("200"),
                "{id} through {}: {status}",
                node.name
            );
            assert!(got == *bytes, "{id} through {} differs", node.name);
        }
    }
    assert_eq!(
        cluster.s3.keys("drip-files").len(),
        files.len(),
        "one object per file: {:?}",
        cluster.s3.keys("drip-files")
    );
}

/// Waits until file `id` is stored, as `node` answers.
fn stored(client: &Client, node: &Node, token: &str, id: &str) {
    harness::wait_until(
        &format!("{id} to be stored"),
        Duration::from_secs(30),
        || {
            let (status, m) = client.json(
                node.http(),
                "GET",
                &format!("/api/files/{id}"),
                Some(token),
                "",
            );
            status.contains("200") && !m["uploaded_at"].is_null()
        },
    );
}

/// Scenario 5: TLS distribution across hosts, each with a certificate of its own laid out as
/// cert-manager's Secrets are and one options file for all; an erl node with its own
/// certificate joins; a node whose certificate the cluster's CA did not sign does not.
#[test]
fn tls_distribution_across_hosts_with_a_certificate_per_host() {
    let cluster = Cluster::new("tls");
    let pki = harness::pki::TestPki::new("bed-tls");
    let hosts: Vec<_> = (1..=4).map(|i| cluster.host(&format!("node{i}"))).collect();
    let names: Vec<String> = hosts
        .iter()
        .map(|h| format!("drip@{}", h.address))
        .collect();
    let list = format!("epmd:{},interval=1000", names.join(","));
    let nodes: Vec<Node> = hosts[..3]
        .iter()
        .map(|h| cluster.start_tls(h, &[&list], &pki))
        .collect();
    let all: Vec<&Node> = nodes.iter().collect();
    meshed(&all, Duration::from_secs(20));
    // The distribution port speaks TLS: a plain handshake there gets no answer it can read.
    let dist_port = nodes[0]
        .rpc("erlang:system_info(otp_release)")
        .expect("rpc over TLS");
    assert!(!dist_port.is_empty());

    // An erl node on the fourth host, its own certificate from the same CA, the same file.
    let erl_host = &hosts[3];
    let secret = cluster.scratch.join("secret-erl");
    pki.secret(
        &secret,
        &[erl_host.address.to_string(), erl_host.name.clone()],
    );
    let _epmd = erl_host.epmd();
    let optfile = cluster.dist_optfile();
    let erl_name = format!("erl@{}", erl_host.address);
    let ping = format!(
        "[net_adm:ping(N) || N <- ['{}']], io:format(\"~p~n\", [nodes()]), timer:sleep(infinity).",
        names[0]
    );
    let mut erl = erl_host.command("unshare");
    erl.args([
        "-m",
        "sh",
        "-c",
        &format!(
            "mkdir -p {d} && mount --bind \"$0\" {d} && exec \"$@\"",
            d = support::bed::DIST_TLS
        ),
    ])
    .arg(&secret)
    .args([
        "erl",
        "-name",
        &erl_name,
        "-setcookie",
        support::bed::COOKIE,
    ])
    .args(["-proto_dist", "inet_tls", "-ssl_dist_optfile"])
    .arg(&optfile)
    .args(["-noshell", "-eval", &ping])
    .stdin(std::process::Stdio::null())
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null());
    let _erl = harness::Guard(erl.spawn().expect("erl starts"));
    for node in &nodes {
        harness::wait_until(
            &format!("{} to be connected to {erl_name} over TLS", node.name),
            Duration::from_secs(30),
            || node.nodes().contains(&erl_name),
        );
    }
}
