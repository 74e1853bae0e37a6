//! Discovery across hosts made of network namespaces (`bed`): rotp nodes finding each other
//! through a real `dnsmasq`'s SRV, AAAA and (for `kubernetes-dnssrv`) SRV records, over IPv6,
//! and through libcluster's Gossip multicast datagrams, with a real erl node speaking them.
//! Needs root (namespaces), `ip`, `dnsmasq`, `erl`.

mod bed;

use std::process::{Command, Stdio};
use std::time::Duration;

use bed::Bed;
use harness::dnsmasq::Record;
use harness::Guard;

const COOKIE: &str = "bedcookie";
/// Long enough for a few polls or heartbeats, node starts and `rotp rpc` round trips.
const WITHIN: Duration = Duration::from_secs(60);

#[test]
fn three_nodes_find_each_other_by_srv_records_from_resolv_conf() {
    let bed = Bed::new(3);
    let mut records = Vec::new();
    for n in 1..=3 {
        let target = format!("h{n}.cluster.test");
        records.push(Record::host(&target, bed.v4(n)));
        records.push(Record::srv("_drip._tcp.cluster.test", &target, 4369));
    }
    let _dns = bed.dnsmasq(53, &records, "h1.cluster.test");
    // No nameserver=: the SRV query goes where the host's /etc/resolv.conf says.
    let spec = "dns:_drip._tcp.cluster.test,types=srv,interval=300";
    let names: Vec<String> = (1..=3).map(|n| format!("drip@{}", bed.v4(n))).collect();
    let _nodes: Vec<Guard> = (1..=3)
        .map(|n| bed.rotp_node(n, &names[n - 1], COOKIE, &["--discovery", spec]))
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    bed.wait_connected(&names, COOKIE, WITHIN);
}

#[test]
fn kubernetes_dnssrv_names_each_node_after_its_srv_target() {
    // As a StatefulSet's pods behind a headless Service: the SRV targets are the pods' DNS
    // names, the nodes drip@drip-N.drip-headless.prod.svc.cluster.local. Connecting resolves
    // those names with getaddrinfo: each host's /etc/hosts has them (the SRV lookup itself
    // goes to nameserver=, a port no resolv.conf could name).
    let pod = |n: usize| format!("drip-{n}.drip-headless.prod.svc.cluster.local");
    let bed = Bed::new(3);
    for n in 1..=3 {
        bed.bed.alias(&pod(n), bed.v4(n).into());
    }
    let mut records = vec![Record::host("probe.test", bed.v4(1))];
    for n in 1..=3 {
        records.push(Record::host(&pod(n), bed.v4(n)));
        records.push(Record::srv(
            "drip-headless.prod.svc.cluster.local",
            &pod(n),
            4369,
        ));
    }
    let dns = bed.dnsmasq(5353, &records, "");
    let spec = format!(
        "kubernetes-dnssrv:service=drip-headless,namespace=prod,basename=drip,nameserver={},interval=300",
        dns.addr
    );
    let names: Vec<String> = (1..=3).map(|n| format!("drip@{}", pod(n))).collect();
    let _nodes: Vec<Guard> = (1..=3)
        .map(|n| bed.rotp_node(n, &names[n - 1], COOKIE, &["--discovery", &spec]))
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    bed.wait_connected(&names, COOKIE, WITHIN);
}

#[test]
fn ipv6_nodes_found_by_aaaa_records_connect_over_ipv6() {
    let bed = Bed::new(3);
    let records: Vec<Record> = (1..=3)
        .map(|n| Record::host("cluster6.test", bed.v6(n)))
        .chain([Record::host("probe.test", bed.v4(1))])
        .collect();
    let _dns = bed.dnsmasq(53, &records, "probe.test");
    // Nodes named by their IPv6 addresses, listening on :: (-proto_dist inet6_tcp); the
    // hosts' EPMDs answer on IPv6 too.
    let names: Vec<String> = (1..=3).map(|n| format!("drip@{}", bed.v6(n))).collect();
    let spec = "dns:cluster6.test,types=aaaa,interval=300";
    let _nodes: Vec<Guard> = (1..=3)
        .map(|n| {
            bed.rotp_node(
                n,
                &names[n - 1],
                COOKIE,
                &["--proto-dist", "inet6_tcp", "--discovery", spec],
            )
        })
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    bed.wait_connected(&names, COOKIE, WITHIN);
}

#[test]
fn gossip_finds_nodes_by_multicast_and_a_secret_keeps_two_clusters_apart() {
    let bed = Bed::new(5);
    let names: Vec<String> = (1..=5).map(|n| format!("drip@{}", bed.v4(n))).collect();
    // Hosts 1, 2 and (later) 5 gossip under one secret, 3 and 4 under another, all on
    // libcluster's default group and port.
    let start = |n: usize| {
        let spec = if n == 3 || n == 4 {
            "gossip:secret=second"
        } else {
            "gossip:secret=first"
        };
        let dashboard: &[&str] = if n == 1 {
            &[
                "--dashboard",
                "127.0.0.1:4040",
                "--dashboard-token",
                "bed-token",
            ]
        } else {
            &[]
        };
        bed.rotp_node(
            n,
            &names[n - 1],
            COOKIE,
            &[&["--discovery", spec], dashboard].concat(),
        )
    };
    let mut nodes: Vec<Guard> = (1..=4).map(start).collect();
    bed.wait_connected(&[&names[0], &names[1]], COOKIE, WITHIN);
    harness::wait_until("hosts 3 and 4 connected", WITHIN, || {
        bed.nodes_of(3, &names[2], COOKIE)
            .is_some_and(|seen| seen.contains(&names[3]))
    });
    // Host 5 joins 1 and 2 once all four listen: its first heartbeat, sent as it starts, has
    // reached 3 and 4 too, who could not read it.
    nodes.push(start(5));
    harness::wait_until("host 5 connected to 1 and 2", WITHIN, || {
        bed.nodes_of(5, &names[4], COOKIE)
            .is_some_and(|seen| seen.contains(&names[0]) && seen.contains(&names[1]))
    });
    // What gossip hears shows in host 1's metrics: the two nodes it can read.
    harness::wait_until("host 1's metrics show gossip's nodes", WITHIN, || {
        bed.exec(1, "curl")
            .args(["-sf", "-H", "Authorization: Bearer bed-token"])
            .arg("http://127.0.0.1:4040/metrics")
            .output()
            .is_ok_and(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .contains("rotp_discovery_nodes{strategy=\"gossip\"} 2\n")
            })
    });
    let first = [&names[0], &names[1], &names[4]];
    for (n, name) in names.iter().enumerate() {
        let seen = bed.nodes_of(n + 1, name, COOKIE).expect("answers");
        let across: Vec<&String> = names
            .iter()
            .filter(|other| first.contains(other) != first.contains(&name))
            .filter(|other| seen.contains(other.as_str()))
            .collect();
        assert!(across.is_empty(), "{name} joined {across:?}: {seen}");
    }
}

/// libcluster's Gossip, as `Cluster.Strategy.Gossip` builds and reads its datagrams, written
/// in Erlang for the test (hex.pm, and so libcluster itself, cannot be fetched here): the
/// socket options, `"heartbeat::"` ++ `term_to_binary(#{node => node()})`, a random IV and
/// AES-256-CBC under SHA-256 of the secret with PKCS #7 padding, all by OTP's own `crypto`
/// and term encoder. It never connects by itself: it halts 0 once it has read a heartbeat
/// naming `ROTP` and `ROTP` is in its `nodes()`, which only rotp connecting to it (after
/// reading erl's heartbeats) can bring about.
const LIBCLUSTER_GOSSIP: &str = r#"
Rotp = list_to_atom(os:getenv("ROTP")),
Key = crypto:hash(sha256, <<"elixir-secret">>),
Group = {233,252,1,32},
{ok, S} = gen_udp:open(45892, [binary, {active, true}, {ip, {0,0,0,0}}, {reuseaddr, true},
    {broadcast, true}, {multicast_ttl, 1}, {multicast_loop, true},
    {add_membership, {Group, {0,0,0,0}}},
    {raw, 1, 15, <<1:32/native>>}]),  % SOL_SOCKET, SO_REUSEPORT (Linux)
Pad = fun(M) -> P = 16 - (byte_size(M) rem 16), <<M/binary, (binary:copy(<<P>>, P))/binary>> end,
Beat = fun() ->
    IV = crypto:strong_rand_bytes(16),
    Msg = <<"heartbeat::", (term_to_binary(#{node => node()}))/binary>>,
    [IV, crypto:crypto_one_time(aes_256_cbc, Key, IV, Pad(Msg), true)]
end,
Read = fun(<<IV:16/binary, C/binary>>) ->
        try
            Padded = crypto:crypto_one_time(aes_256_cbc, Key, IV, C, false),
            P = binary:last(Padded),
            true = P =< 16,
            <<"heartbeat::", T/binary>> = binary:part(Padded, 0, byte_size(Padded) - P),
            #{node := N} = binary_to_term(T),
            true = is_atom(N),
            % The very bytes OTP's encoder makes of the map (atoms as OTP 25's default or
            % OTP 26's UTF-8 ones).
            M = #{node => N},
            Same = T =:= term_to_binary(M) orelse T =:= term_to_binary(M, [{minor_version, 2}]),
            Same andalso N =/= node() andalso io:format("same bytes~n"),
            N
        catch _:_ -> none
        end;
    (_) -> none
end,
Loop = fun Loop(Heard) ->
    ok = gen_udp:send(S, Group, 45892, Beat()),
    Heard2 = receive
        {udp, _, _, _, D} ->
            case Read(D) of
                Rotp when not Heard -> io:format("heard ~s~n", [Rotp]), true;
                _ -> Heard
            end
    after 300 -> Heard
    end,
    case Heard2 andalso lists:member(Rotp, nodes()) of
        true -> io:format("both ways~n"), halt(0);
        false -> Loop(Heard2)
    end
end,
Loop(false).
"#;

#[test]
fn gossip_speaks_libclusters_datagrams_with_an_erl_node() {
    let bed = Bed::new(2);
    let erl_name = format!("gossip_erl@{}", bed.v4(1));
    let rotp_name = format!("drip@{}", bed.v4(2));
    let out = std::env::temp_dir().join(format!("gossip-erl-{}.out", std::process::id()));
    let file = std::fs::File::create(&out).expect("output file");
    let mut erl = Guard(
        bed.exec(1, "erl")
            .args(["-name", &erl_name, "-setcookie", COOKIE, "-noshell"])
            .args(["-eval", LIBCLUSTER_GOSSIP])
            .env("ROTP", &rotp_name)
            .env("ERL_EPMD_PORT", "4369")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("file"))
            .stderr(file)
            .spawn()
            .expect("erl"),
    );
    let _rotp = bed.rotp_node(
        2,
        &rotp_name,
        COOKIE,
        &["--discovery", "gossip:secret=elixir-secret"],
    );
    let status = harness::wait_until(
        "the erl node to hear rotp and see it connect",
        WITHIN,
        || erl.0.try_wait().expect("waits"),
    );
    let said = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_file(&out);
    assert!(status.success(), "{status}: {said}");
    assert!(said.contains(&format!("heard {rotp_name}")), "{said}");
    assert!(said.contains("same bytes"), "{said}");
    assert!(said.contains("both ways"), "{said}");
}

#[test]
fn two_rotp_nodes_connect_over_ipv6_loopback() {
    let port = harness::free_port();
    let _epmd = harness::start_epmd(&harness::otp_epmd(), port, &[]);
    let node = |name: &str, extra: &[&str]| {
        Guard(
            Command::new(env!("CARGO_BIN_EXE_rotp"))
                .args(["node", "--name", name, "--cookie", COOKIE])
                .args(["--proto-dist", "inet6_tcp"])
                .args(extra)
                .env("ERL_EPMD_PORT", port.to_string())
                .env_remove("RELEASE_COOKIE")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("rotp node"),
        )
    };
    let _a = node("v6a@::1", &[]);
    let _b = node("v6b@::1", &["--discovery", "epmd:v6a@::1,interval=300"]);
    harness::wait_until("v6b connected to v6a over ::1", WITHIN, || {
        let out = Command::new(env!("CARGO_BIN_EXE_rotp"))
            .args([
                "rpc", "v6a@::1", "erlang", "nodes", "[]", "--cookie", COOKIE,
            ])
            .env("ERL_EPMD_PORT", port.to_string())
            .env_remove("RELEASE_COOKIE")
            .stdin(Stdio::null())
            .output()
            .expect("rotp rpc");
        String::from_utf8_lossy(&out.stdout).contains("v6b@::1")
    });
}
