//! Distribution over TLS with real `erl -proto_dist inet_tls` nodes, both ways, with mutual
//! authentication: certificates made here with rcgen; a peer whose certificate is not signed
//! by the authority is refused.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use etf::Term;
use harness::pki::TestPki;
use net::dist::DistTls;
use rotp_node::Node;
use support::*;

async fn tls_node(name: &str, port: u16, optfile: &Path) -> Node {
    let tls = DistTls::from_optfile(optfile).expect("TLS options");
    rotp_node_with(name, "sesame", port, |c| c.tls = Some(tls)).await
}

fn erl_tls(name: &str, port: u16, optfile: &Path, eval: &str) -> Command {
    let mut cmd = Command::new("erl");
    cmd.args([
        "-sname",
        name,
        "-setcookie",
        "sesame",
        "-noshell",
        "-proto_dist",
        "inet_tls",
    ])
    .arg("-ssl_dist_optfile")
    .arg(optfile)
    .args(["-eval", eval])
    .env("ERL_EPMD_PORT", port.to_string())
    .stdin(Stdio::null());
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_distribution_interoperates_with_erl_both_ways() {
    let pki = TestPki::new("both");
    let (_epmd, port) = epmd();
    let node = tls_node("rotp_tls", port, &pki.optfile("node")).await;
    // erl → rotp.
    let target = node.name().to_string();
    let eval = format!(
        "io:format(\"~p ~p~n\", [net_adm:ping('{target}'), rpc:call('{target}', erlang, node, [])]), \
         register(box, self()), receive stop -> halt() end."
    );
    let erl = erl_tls("erl_tls", port, &pki.optfile("node"), &eval)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut erl = Guard(erl);
    let stdout = erl.0.stdout.take().unwrap();
    // erl may log notices first (ssl's); the answer is the line that names the node.
    let line = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .inspect(|l| eprintln!("erl: {l}"))
            .find(|l| l.starts_with("pong") || l.starts_with("pang"))
    })
    .await
    .unwrap();
    assert_eq!(line, Some(format!("pong {target}")));
    // rotp → erl, over the connection erl made and over a fresh one of ours.
    let erl_node = node_name("erl_tls");
    let got = node
        .rpc(&erl_node, "erlang", "node", vec![], Duration::from_secs(10))
        .await;
    assert_eq!(got, Term::Atom(erl_node.clone()));
    let other = tls_node("rotp_tls2", port, &pki.optfile("node")).await;
    assert!(other.ping(&erl_node).await);
    let big = Term::Binary(vec![3; 1 << 20].into());
    let got = other
        .rpc(
            &erl_node,
            "erlang",
            "byte_size",
            vec![big],
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(got, Term::Integer(1 << 20));
    // rotp ↔ rotp over TLS.
    assert!(other.ping(node.name()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_without_an_acceptable_certificate_is_refused() {
    let pki = TestPki::new("refuse");
    let (_epmd, port) = epmd();
    let erl = erl_tls(
        "erl_guard",
        port,
        &pki.optfile("node"),
        "receive stop -> halt() end.",
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let _erl = Guard(erl);
    wait_registered(port, "erl_guard").await;
    let erl_node = node_name("erl_guard");
    let intruder = tls_node("rotp_intruder", port, &pki.optfile("intruder")).await;
    assert!(!intruder.ping(&erl_node).await);
    let friend = tls_node("rotp_friend", port, &pki.optfile("node")).await;
    assert!(friend.ping(&erl_node).await);
    // And our node refuses the intruder too.
    assert!(!intruder.ping(friend.name()).await);
    assert!(friend.nodes(true).iter().all(|n| n != intruder.name()));
}
