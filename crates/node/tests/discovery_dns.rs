//! DNS discovery's answers as a node sees them ([`rotp_node::Node::discovered`]), asked of a real
//! `dnsmasq` on 127.0.0.1 through `nameserver=`: A and AAAA records named `B@ADDRESS`
//! (IPv6 ones as `B@fd00::5`), SRV targets' addresses, `kubernetes-dnssrv`'s targets named
//! `B@TARGET`, and a name that does not resolve counted as a failure.

mod support;

use std::net::Ipv6Addr;
use std::time::Duration;

use harness::dnsmasq::{Dnsmasq, Record};
use rotp_node::discovery::{Seen, Spec};
use support::*;

fn ipv6(last: u16) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, last)
}

/// What `spec` finds, through a node of its own, once it has looked.
async fn seen(name: &str, epmd_port: u16, spec: &str) -> Seen {
    let node = rotp_node_with(name, "dnscookie", epmd_port, |c| {
        c.name = format!("{name}@127.0.0.1");
        c.kind = rotp_node::name::NameKind::Long;
    })
    .await;
    let spec: Spec = format!("{spec},interval=200").parse().expect("a spec");
    let label = spec.label();
    rotp_node::discovery::start(&node, vec![spec]);
    let seen = harness::wait_until_async(
        &format!("{name}'s {label} lookup"),
        Duration::from_secs(20),
        || {
            let node = node.clone();
            async move {
                node.discovered()
                    .into_iter()
                    .find(|(l, s)| *l == label && (!s.nodes.is_empty() || s.errors > 0))
                    .map(|(_, s)| s)
            }
        },
    )
    .await;
    node.leave().await;
    seen
}

fn names(seen: &Seen) -> Vec<String> {
    let mut v: Vec<String> = seen.nodes.iter().map(|n| n.as_str().to_owned()).collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_answers_become_node_names() {
    let (_epmd, port) = epmd();
    let pod = |n: u8| format!("drip-{n}.drip-headless.prod.svc.cluster.local");
    let mut records = vec![
        Record::host("cluster.test", [10, 0, 0, 1]),
        Record::host("cluster.test", [10, 0, 0, 2]),
        Record::host("cluster.test", ipv6(5)),
        Record::host("h1.test", ipv6(6)),
        Record::host("h2.test", [10, 0, 0, 7]),
        Record::srv("_drip._tcp.test", "h1.test", 4369),
        Record::srv("_drip._tcp.test", "h2.test", 4369),
    ];
    for n in 0..3 {
        records.push(Record::host(&pod(n), [10, 1, 0, n]));
        records.push(Record::srv(
            "drip-headless.prod.svc.cluster.local",
            &pod(n),
            4369,
        ));
    }
    let dns = Dnsmasq::start([127, 0, 0, 1].into(), harness::free_port(), &records);
    let at = dns.addr;

    let both = seen(
        "seer_a",
        port,
        &format!("dns:cluster.test,basename=drip,nameserver={at}"),
    )
    .await;
    assert_eq!(
        names(&both),
        ["drip@10.0.0.1", "drip@10.0.0.2", "drip@fd00::5"],
        "{both:?}"
    );
    let six = seen(
        "seer_b",
        port,
        &format!("dns:cluster.test,basename=drip,types=aaaa,nameserver={at}"),
    )
    .await;
    assert_eq!(names(&six), ["drip@fd00::5"], "{six:?}");
    let srv = seen(
        "seer_c",
        port,
        &format!("dns:_drip._tcp.test,basename=drip,types=srv,nameserver={at}"),
    )
    .await;
    assert_eq!(names(&srv), ["drip@10.0.0.7", "drip@fd00::6"], "{srv:?}");
    let k8s = seen(
        "seer_d",
        port,
        &format!(
            "kubernetes-dnssrv:service=drip-headless,namespace=prod,basename=drip,nameserver={at}"
        ),
    )
    .await;
    assert_eq!(
        names(&k8s),
        (0..3)
            .map(|n| format!("drip@{}", pod(n)))
            .collect::<Vec<_>>(),
        "{k8s:?}"
    );
    let missing = seen(
        "seer_e",
        port,
        &format!("dns:nothing.test,types=srv,nameserver={at}"),
    )
    .await;
    assert!(
        missing.nodes.is_empty() && missing.errors > 0,
        "{missing:?}"
    );
    assert!(
        missing
            .failing
            .as_deref()
            .is_some_and(|why| why.contains("nothing.test")),
        "{missing:?}"
    );
}
