//! Drip across hosts (issue 25's test bed): network-namespace hosts on a bridge of their own,
//! each with its own address and OTP's EPMD, PostgreSQL and an S3 server on a host of their
//! own, the test's requests from a client host. Each scenario stays under two minutes.

mod support;

use std::time::{Duration, Instant};

use harness::dnsmasq::Record;
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
        .args([
            "-kernel",
            "net_ticktime",
            &support::bed::TICKTIME.to_string(),
        ])
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
    erl_name: Option<&str>,
    spec: &str,
    api: Option<&harness::kubernetes::ApiServer>,
    name: &dyn Fn(&harness::bed::Host) -> String,
) -> Duration {
    // As a pod, its pod listed by the API from its creation.
    let start = |h: &harness::bed::Host| match api {
        Some(api) => {
            api.add_pod(Cluster::pod(h));
            cluster.start_pod(h, &[spec], api)
        }
        None => cluster.start_named(h, &name(h), &[spec]),
    };
    let first: Vec<Node> = hosts[..3].iter().map(start).collect();
    let three: Vec<&Node> = first.iter().collect();
    meshed(&three, Duration::from_secs(20));
    let started = Instant::now();
    let fourth = start(&hosts[3]);
    let mut all = three.clone();
    all.push(&fourth);
    meshed(&all, Duration::from_secs(20));
    let took = started.elapsed();
    let Some(erl_name) = erl_name else {
        return took;
    };
    if let Some(api) = api {
        api.add_pod(Cluster::pod(&hosts[4]));
    }
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
    let by_address = |h: &harness::bed::Host| format!("drip@{}", h.address);
    // libcluster's Epmd: the list names every node, the erl node's included.
    let list = format!("epmd:{},interval=1000", names.join(","));
    // net_adm:world/0: every name each host's EPMD lists, hosts from a .hosts.erlang file.
    let hosts_file = cluster.scratch.join("hosts.erlang");
    let text: String = addresses.iter().map(|a| format!("'{a}'.\n")).collect();
    std::fs::write(&hosts_file, text).expect("the hosts file");
    let world = format!("erlang-hosts:{},interval=1000", hosts_file.display());
    let client = Client {
        host: &cluster.client,
    };
    for spec in [list, world] {
        let took = forms_through(&cluster, &hosts, Some(&erl_name), &spec, None, &by_address);
        eprintln!(
            "discovery {spec}: the fourth node connected everywhere {took:?} after its start"
        );
    }
    // A headless Service's records, from a real DNS server: A (libcluster's DNSPoll and
    // Kubernetes.DNS), and SRV naming each pod (Kubernetes.DNSSRV, a StatefulSet's nodes
    // named after their pods).
    let service = "drip-headless.drip.svc.cluster.local";
    let pod_name = |h: &harness::bed::Host| format!("{}.{service}", h.name);
    let mut records = Vec::new();
    for h in &hosts {
        records.push(Record::host(service, h.address));
        records.push(Record::host(&pod_name(h), h.address));
        records.push(Record::srv(service, &pod_name(h), 4369));
    }
    let _dns = cluster.dns(&records, service);
    for spec in [
        format!("dns:{service},basename=drip,interval=1000"),
        "kubernetes-dns:service=drip-headless,namespace=drip,basename=drip,interval=1000"
            .to_owned(),
    ] {
        let took = forms_through(&cluster, &hosts, Some(&erl_name), &spec, None, &by_address);
        eprintln!(
            "discovery {spec}: the fourth node connected everywhere {took:?} after its start"
        );
    }
    let spec = "kubernetes-dnssrv:service=drip-headless,namespace=drip,basename=drip,interval=1000";
    let by_pod = |h: &harness::bed::Host| format!("drip@{}", pod_name(h));
    let erl_pod = by_pod(&hosts[4]);
    let took = forms_through(&cluster, &hosts, Some(&erl_pod), spec, None, &by_pod);
    eprintln!("discovery {spec}: the fourth node connected everywhere {took:?} after its start");
    // libcluster's Gossip: multicast heartbeats across the bridge (no erl node: it has no
    // libcluster; crates/rotp-cli/tests/discovery_hosts.rs has erl speak its datagrams).
    let spec = "gossip:secret=bed-secret";
    let took = forms_through(&cluster, &hosts, None, spec, None, &by_address);
    eprintln!("discovery {spec}: the fourth node connected everywhere {took:?} after its start");
    // libcluster's Kubernetes: the pods the API lists with the Deployment's label.
    let api = cluster.kubernetes_api();
    for source in ["endpointslices", "pods"] {
        let spec = format!(
            "kubernetes:selector=app=drip,basename=drip,api={source},sa_dir={},interval=1000",
            cluster.service_account().display()
        );
        let took = forms_through(
            &cluster,
            &hosts,
            Some(&erl_name),
            &spec,
            Some(&api),
            &by_address,
        );
        eprintln!(
            "discovery {spec}: the fourth node connected everywhere {took:?} after its start"
        );
        for h in &hosts {
            api.remove_pod(support::bed::NAMESPACE, &format!("drip-{}", h.name));
        }
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
    let (hosts, _, list) = cluster.listed_hosts(3);
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
    let (hosts, names, list) = cluster.listed_hosts(4);
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

/// The Service in front of the nodes, as kube-proxy routes it: the ready endpoints, and how
/// many requests are on their way to each.
#[derive(Default)]
struct Service {
    endpoints: std::sync::Mutex<Vec<std::net::SocketAddr>>,
    busy: std::sync::Mutex<std::collections::HashMap<std::net::SocketAddr, usize>>,
}

impl Service {
    fn pick(&self, n: usize) -> Option<std::net::SocketAddr> {
        let endpoints = self.endpoints.lock().unwrap_or_else(|e| e.into_inner());
        let at = *endpoints.get(n % endpoints.len().max(1))?;
        *self
            .busy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(at)
            .or_default() += 1;
        Some(at)
    }

    fn done(&self, at: std::net::SocketAddr) {
        if let Some(n) = self
            .busy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(&at)
        {
            *n -= 1;
        }
    }

    fn busy(&self, at: std::net::SocketAddr) -> usize {
        self.busy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&at)
            .copied()
            .unwrap_or(0)
    }

    fn add(&self, at: std::net::SocketAddr) {
        self.endpoints
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(at);
    }

    fn remove(&self, at: std::net::SocketAddr) {
        self.endpoints
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|e| *e != at);
    }
}

/// What the load client saw.
#[derive(Default)]
struct Load {
    /// (when, how long, what) for every answered request.
    answered: Vec<(Instant, Duration, &'static str)>,
    /// Requests that failed (not a refused connection, which is retried).
    failed: Vec<String>,
    /// Connections refused and retried elsewhere.
    retried: usize,
    /// Files answered 2xx: id and bytes.
    uploaded: Vec<(String, Vec<u8>)>,
}

/// Uploads, lists and downloads through `service` until `stop`, as one client would.
fn load(service: &Service, token: &str, stop: &std::sync::atomic::AtomicBool, seed: u8) -> Load {
    let mut seen = Load::default();
    let bearer = format!("Bearer {token}");
    let headers = [("Authorization", bearer.as_str())];
    let mut n = 0usize;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        n += 1;
        let (what, method, path, body) = match n % 3 {
            0 => {
                let bytes = support::bytes(16_384 + n, seed.wrapping_add(n as u8));
                let name = format!("load-{seed}-{n}.bin");
                (
                    "upload",
                    "POST",
                    format!("/api/files?path=%24&name={name}"),
                    bytes,
                )
            }
            1 => ("list", "GET", "/api/files?path=%24".to_owned(), Vec::new()),
            _ => match seen.uploaded.get(n % seen.uploaded.len().max(1)) {
                Some((id, _)) => (
                    "download",
                    "GET",
                    format!("/api/files/{id}/content"),
                    Vec::new(),
                ),
                None => continue,
            },
        };
        let began = Instant::now();
        let answer = loop {
            let Some(at) = service.pick(n) else {
                seen.failed.push(format!("{what}: no endpoint"));
                break None;
            };
            let tried = harness::http::try_request_at(at, method, &path, &headers, &body);
            service.done(at);
            match tried {
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    seen.retried += 1;
                    n += 1;
                }
                Err(e) => {
                    seen.failed.push(format!("{what} {path} at {at}: {e}"));
                    break None;
                }
                Ok(answer) => break Some((at, answer)),
            }
        };
        let Some((at, (status, head, body))) = answer else {
            continue;
        };
        if !status.contains(" 20") {
            seen.failed.push(format!(
                "{what} {path} at {at}: {status:?} {}",
                String::from_utf8_lossy(&body)
            ));
            continue;
        }
        seen.answered.push((began, began.elapsed(), what));
        let body = harness::http::unchunk_bytes(&head, &body);
        match what {
            "upload" => match serde_json::from_slice::<serde_json::Value>(&body) {
                Ok(v) if v["id"].is_string() => seen.uploaded.push((
                    v["id"].as_str().unwrap_or_default().to_owned(),
                    path_bytes(&path, n, seed),
                )),
                _ => seen
                    .failed
                    .push(format!("upload at {at}: no id in the answer")),
            },
            "download" => {
                let wanted = seen
                    .uploaded
                    .iter()
                    .find(|(id, _)| path.contains(id.as_str()))
                    .map(|(_, b)| b);
                if wanted != Some(&body) {
                    seen.failed
                        .push(format!("download {path} at {at}: other bytes"));
                }
            }
            _ => {}
        }
    }
    seen
}

/// The bytes the load uploaded as request `n` (made again rather than kept twice).
fn path_bytes(_path: &str, n: usize, seed: u8) -> Vec<u8> {
    support::bytes(16_384 + n, seed.wrapping_add(n as u8))
}

/// The 99th percentile of `answered` between `from` and `to`.
fn p99(
    answered: &[(Instant, Duration, &'static str)],
    from: Instant,
    to: Instant,
) -> (Duration, usize) {
    let mut in_window: Vec<Duration> = answered
        .iter()
        .filter(|(at, _, _)| *at >= from && *at < to)
        .map(|(_, took, _)| *took)
        .collect();
    in_window.sort();
    let n = in_window.len();
    let p = in_window
        .get((n * 99 / 100).min(n.saturating_sub(1)))
        .copied()
        .unwrap_or_default();
    (p, n)
}

/// Scenario 4: a rolling restart under load, as a Deployment does it (maxSurge: a new pod at a
/// new address first; once ready it joins the Service, the old one leaves the Service, then
/// gets SIGTERM and drains): the client uploading, listing and downloading through whichever
/// nodes are ready sees no failed request (a refused connection is retried elsewhere), no
/// upload answered 2xx is lost, an upload in flight through the stopping node finishes, and
/// three nodes make the cluster at the end. Discovery through the Kubernetes API stand-in,
/// whose pods the test changes as the Deployment would.
#[test]
fn a_rolling_restart_under_load_fails_no_request() {
    let cluster = Cluster::new("rolling");
    let api = cluster.kubernetes_api();
    let spec = format!(
        "kubernetes:selector=app=drip,basename=drip,namespace={},sa_dir={},interval=1000",
        support::bed::NAMESPACE,
        cluster.service_account().display()
    );
    let old_hosts: Vec<_> = (1..=3).map(|i| cluster.host(&format!("old{i}"))).collect();
    let new_hosts: Vec<_> = (1..=3).map(|i| cluster.host(&format!("new{i}"))).collect();
    let mut nodes: Vec<Node> = Vec::new();
    for h in &old_hosts {
        api.add_pod(Cluster::pod(h));
        nodes.push(cluster.start_pod(h, &[&spec], &api));
    }
    meshed(&nodes.iter().collect::<Vec<_>>(), Duration::from_secs(20));
    let client = Client {
        host: &cluster.client,
    };
    let token = client.account(nodes[0].http(), "rolly");
    let service = std::sync::Arc::new(Service::default());
    for n in &nodes {
        service.add(n.http());
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let loads: Vec<_> = (0..2u8)
        .map(|seed| {
            let (service, stop, token) = (service.clone(), stop.clone(), token.clone());
            cluster
                .client
                .spawn(move || load(&service, &token, &stop, seed * 100))
        })
        .collect();
    let steady_from = Instant::now();
    harness::wait_until("a steady state of 4 s", Duration::from_secs(10), || {
        steady_from.elapsed() > Duration::from_secs(4)
    });
    let rolling_from = Instant::now();
    let mut in_flight_uploads = Vec::new();
    for new_host in &new_hosts {
        // maxSurge: the new pod first; it joins the Service once ready.
        api.add_pod(Cluster::pod(new_host));
        let new = cluster.start_pod(new_host, &[&spec], &api);
        service.add(new.http());
        let mut old = nodes.remove(0);
        // An upload still sending through the old node when it is told to stop.
        let (sending, begun) = std::sync::mpsc::channel();
        let slow = {
            let (at, token) = (old.http(), token.clone());
            let name = format!("inflight-{}.bin", old.host.name);
            cluster.client.spawn(move || {
                let mut s = std::net::TcpStream::connect(at).expect("connects");
                let bytes = support::bytes(256 * 1024, 7);
                let head = format!(
                    "POST /api/files?path=%24&name={name} HTTP/1.1\r\nHost: drip\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n",
                    bytes.len()
                );
                use std::io::{Read, Write};
                s.write_all(head.as_bytes()).expect("headers");
                for chunk in bytes.chunks(32 * 1024) {
                    s.write_all(chunk).expect("the body, through the stop");
                    let _ = sending.send(());
                    std::thread::sleep(Duration::from_millis(150));
                }
                let mut answer = Vec::new();
                let _ = s.read_to_end(&mut answer);
                (String::from_utf8_lossy(&answer).into_owned(), bytes)
            })
        };
        begun
            .recv_timeout(Duration::from_secs(30))
            .expect("the upload in flight to have begun");
        // The endpoints controller takes the old pod out of the Service; kube-proxy's
        // connections already made go on (what the preStop pause is for).
        service.remove(old.http());
        api.remove_pod(support::bed::NAMESPACE, &format!("drip-{}", old.host.name));
        let at = old.http();
        harness::wait_until(
            "the client's requests on their way to the old pod to be done",
            Duration::from_secs(30),
            || service.busy(at) == 0,
        );
        let status = old.sigterm();
        assert!(
            status.success(),
            "{} stopped with {status}: {}",
            old.name,
            old.log()
        );
        in_flight_uploads.push(slow);
        nodes.push(new);
    }
    let rolled_at = Instant::now();
    harness::wait_until("2 s after the roll", Duration::from_secs(10), || {
        rolled_at.elapsed() > Duration::from_secs(2)
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut seen = Load::default();
    for l in loads {
        let l = l.join().expect("the load client");
        seen.answered.extend(l.answered);
        seen.failed.extend(l.failed);
        seen.retried += l.retried;
        seen.uploaded.extend(l.uploaded);
    }
    assert!(
        seen.failed.is_empty(),
        "failed requests: {:#?}",
        seen.failed
    );
    let (steady, steady_n) = p99(&seen.answered, steady_from, rolling_from);
    let (rolling, rolling_n) = p99(&seen.answered, rolling_from, rolled_at);
    eprintln!(
        "rolling restart: {} requests answered, 0 failed, {} refused connections retried; p99 steady {steady:?} ({steady_n} requests), during the roll {rolling:?} ({rolling_n} requests)",
        seen.answered.len(),
        seen.retried
    );
    for slow in in_flight_uploads {
        let (answer, bytes) = slow.join().expect("the upload in flight");
        let status = answer.lines().next().unwrap_or("");
        assert!(
            status.contains(" 20"),
            "the upload in flight through the stopping node: {answer}"
        );
        let id = answer
            .split("\"id\":\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .expect("its id")
            .to_owned();
        seen.uploaded.push((id, bytes));
    }
    meshed(&nodes.iter().collect::<Vec<_>>(), Duration::from_secs(20));
    assert_eq!(nodes.len(), 3);
    for (i, (id, bytes)) in seen.uploaded.iter().enumerate() {
        let node = &nodes[i % nodes.len()];
        stored(&client, node, &token, id);
        let (status, got) = client.download(node.http(), &token, id);
        assert!(
            status.contains("200") && got == *bytes,
            "{id} through {}: {status}",
            node.name
        );
    }
}

/// Scenario 2: one host's Drip is SIGKILLed. The others see `nodedown` (within
/// `net_ticktime`); the download cache it held is made again on the next download request;
/// every upload it answered 2xx downloads through the others.
#[test]
fn a_node_lost_loses_no_upload_it_answered() {
    let cluster = Cluster::new("loss");
    let (hosts, _, list) = cluster.listed_hosts(3);
    let mut nodes: Vec<Node> = hosts
        .iter()
        .map(|h| cluster.start(h, &[&list], &[]))
        .collect();
    meshed(&nodes.iter().collect::<Vec<_>>(), Duration::from_secs(20));
    let client = Client {
        host: &cluster.client,
    };
    let token = client.account(nodes[0].http(), "dora");
    let victim = nodes.pop().expect("three nodes");
    let upload = |i: usize| {
        let bytes = support::bytes(100_000 + i * 777, i as u8);
        let (status, answer) = client.upload(victim.http(), &token, &format!("v{i}.bin"), &bytes);
        assert!(status.contains(" 20"), "{status} {answer}");
        (answer["id"].as_str().expect("an id").to_owned(), bytes)
    };
    let (x, x_bytes) = upload(0);
    stored(&client, &victim, &token, &x);
    assert!(client.download_cached(victim.http(), &token, &x) == x_bytes);
    let held = cache_owner(&nodes[0], &x);
    assert!(held.contains('<'), "{held}");
    // Files answered, and the node killed right after the last answer.
    let mut answered: Vec<(String, Vec<u8>)> = (1..6).map(upload).collect();
    answered.push((x.clone(), x_bytes.clone()));
    let mut victim = victim;
    let killed_at = Instant::now();
    victim.kill();
    for n in &nodes {
        harness::wait_until(
            &format!("{} to see {} down", n.name, victim.name),
            Duration::from_secs(support::bed::TICKTIME * 2),
            || !n.nodes().contains(&victim.name),
        );
    }
    eprintln!("SIGKILL to nodedown everywhere: {:?}", killed_at.elapsed());
    // Its cache entry went with it, and the next download request makes it again.
    assert_eq!(cache_owner(&nodes[0], &x), "undefined");
    assert!(client.download_cached(nodes[1].http(), &token, &x) == x_bytes);
    let again = cache_owner(&nodes[0], &x);
    assert!(again.contains('<') && again != held, "{again}");
    // Nothing it answered 2xx for is lost.
    for (i, (id, bytes)) in answered.iter().enumerate() {
        let node = &nodes[i % 2];
        stored(&client, node, &token, id);
        let (status, got) = client.download(node.http(), &token, id);
        assert!(
            status.contains("200") && got == *bytes,
            "{id} through {}: {status}",
            node.name
        );
    }
}
