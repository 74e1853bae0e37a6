//! Label values in `rotp_window::metrics` come from the node watched: its peers' names and its
//! stages' names. A peer that connects under a name holding `"`, `\` and line feeds, and a stage
//! registered under such a name, must not break the scrape nor add series of their own: the
//! text still parses, line by line, as the exposition format says, with exactly the series
//! expected, their label values read back to the names as they are.

use std::collections::BTreeSet;
use std::time::Duration;

use etf::{Atom, Term};
use harness::{free_port, otp_epmd, start_epmd, wait_until_async, Guard};
use node::{name::NameKind, Node, NodeConfig};
use otp::gen_stage::{self, GenStage, Init, ProducerOptions};
use runtime::{Context, ExitReason};

const COOKIE: &str = "labelscookie";

/// A producer that makes nothing: it is only listed.
struct Idle;

impl GenStage for Idle {
    type Args = ();
    type State = ();
    type In = ();
    type Out = Term;

    async fn init(&self, _: (), _: &mut Context) -> Init<(), Term> {
        Init::Producer((), ProducerOptions::default())
    }
}

async fn node(name: &str, epmd_port: u16) -> Node {
    let mut config = NodeConfig::new(name, NameKind::Short, dist::Cookie::new(COOKIE));
    config.epmd_port = epmd_port;
    Node::start(config).await.expect("a rotp node starts")
}

/// Connects to `target` (listening on `port`) as the node `name`, whatever the name holds, and
/// keeps the connection open while the stream lives.
async fn peer(port: u16, target: &Atom, name: &str) -> net::dist::DistStream {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let mut stream = net::dist::DistStream::from(tcp);
    let config = dist::HandshakeConfig {
        name: Atom::from(name),
        creation: 7,
        flags: dist::DistFlags::DEFAULT,
        hidden: true,
        required: dist::DistFlags::REQUIRED,
        cookie: dist::Cookie::new(COOKIE),
        challenge: 0x5eed_1234,
    };
    let hs = dist::Handshake::initiate(config, target.clone()).expect("a name that fits");
    let mut ok = |_: &Atom, _: u32| dist::Status::Ok;
    net::dist::handshake(&mut stream, hs, &mut ok, Duration::from_secs(10))
        .await
        .expect("the handshake");
    stream
}

/// Reads a label value back as the format escapes it (`\\`, `\"`, `\n`).
fn unescape(value: &str) -> String {
    let mut out = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => panic!("a lone backslash ends {value:?}"),
        }
    }
    out
}

/// Checks one sample line against the text format's grammar: a metric name, optional labels
/// (`name="value"`, the value's `\`, `"` and line feed escaped), a space, a number.
fn well_formed(line: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("{why}: {line:?}"));
    let name_char = |c: char, first: bool| {
        c.is_ascii_alphabetic() || c == '_' || c == ':' || (!first && c.is_ascii_digit())
    };
    let mut rest = line;
    let name_len = rest
        .char_indices()
        .find(|&(i, c)| !name_char(c, i == 0))
        .map_or(rest.len(), |(i, _)| i);
    if name_len == 0 {
        return bad("no metric name");
    }
    rest = &rest[name_len..];
    if let Some(labels) = rest.strip_prefix('{') {
        rest = labels;
        loop {
            let key_len = rest
                .char_indices()
                .find(|&(i, c)| !name_char(c, i == 0))
                .map_or(rest.len(), |(i, _)| i);
            if key_len == 0 {
                return bad("no label name");
            }
            rest = &rest[key_len..];
            let Some(value) = rest.strip_prefix("=\"") else {
                return bad("no =\" after a label name");
            };
            let mut chars = value.char_indices();
            let end = loop {
                match chars.next() {
                    Some((_, '\\')) => match chars.next() {
                        Some((_, '\\' | '"' | 'n')) => {}
                        _ => return bad("an escape the format does not have"),
                    },
                    Some((i, '"')) => break i,
                    Some(_) => {}
                    None => return bad("an unterminated label value"),
                }
            };
            rest = &value[end + 1..];
            if let Some(more) = rest.strip_prefix(',') {
                rest = more;
            } else if let Some(done) = rest.strip_prefix('}') {
                rest = done;
                break;
            } else {
                return bad("neither , nor } after a label");
            }
        }
    }
    let Some(value) = rest.strip_prefix(' ') else {
        return bad("no space before the value");
    };
    if value.parse::<f64>().is_err() {
        return bad("not a number");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_and_stage_names_with_quotes_and_line_feeds_neither_break_nor_add_series() {
    let port = free_port();
    let _epmd: Guard = start_epmd(&otp_epmd(), port, &[]);
    let host = node("labels_host", port).await;
    let watcher = node("labels_watcher", port).await;
    // Each name closes its label value, ends the line and starts series of its own, if written
    // as it is.
    let stage_name = "stage\" 1\nrotp_injected_stage_total 1\n#\\";
    let peer_name = "peer\" 3\nerlang_vm_injected_peer 1\n#\\@127.0.0.1";
    let (started, ready) = tokio::sync::oneshot::channel();
    let name = stage_name.to_owned();
    host.runtime().spawn(move |mut ctx| async move {
        ctx.trap_exit(true);
        let stage = gen_stage::start_link(&mut ctx, Idle, (), gen_stage::local(&name)).await;
        let _ = started.send(stage.is_ok());
        loop {
            ctx.recv().await;
        }
        #[allow(unreachable_code)]
        ExitReason::Normal
    });
    assert!(ready.await.expect("the stage starts"));
    let target = host.name().clone();
    let _peer = peer(host.listen_port().expect("listening"), &target, peer_name).await;
    assert!(watcher.connect(&target).await);

    let text = wait_until_async(
        "the peer's traffic in a snapshot",
        Duration::from_secs(10),
        || {
            let (watcher, target) = (&watcher, &target);
            async move {
                let snapshot = rotp_window::collect(watcher, target, Duration::from_secs(5))
                    .await
                    .ok()?;
                let text = rotp_window::metrics::exposition(&snapshot);
                snapshot
                    .summary
                    .peers
                    .iter()
                    .any(|p| p.node == peer_name && p.bytes_in.is_some())
                    .then_some(text)
            }
        },
    )
    .await;

    // Every line is a comment or a well-formed sample, and the text ends as OpenMetrics does.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        if let Err(why) = well_formed(line) {
            panic!("{why}\n{text}");
        }
    }
    assert_eq!(text.lines().last(), Some("# EOF"), "{text}");
    let scrape =
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("parses");
    assert!(
        scrape
            .samples
            .iter()
            .all(|s| !s.metric.contains("injected")),
        "{text}"
    );
    // The series by peer and by stage: exactly the expected ones, named as they are.
    let values = |metric: &str, label: &str| -> BTreeSet<String> {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == metric)
            .map(|s| unescape(s.labels.get(label).unwrap_or_else(|| panic!("{text}"))))
            .collect()
    };
    let peers = BTreeSet::from([watcher.name().to_string(), peer_name.to_owned()]);
    assert_eq!(values("erlang_vm_dist_node_state", "peer"), peers, "{text}");
    assert_eq!(values("erlang_vm_dist_recv_bytes", "peer"), peers, "{text}");
    let stages = BTreeSet::from([stage_name.to_owned()]);
    for metric in [
        "rotp_gen_stage_buffered_events",
        "rotp_gen_stage_demand_events",
        "rotp_gen_stage_expected_events",
    ] {
        assert_eq!(values(metric, "stage"), stages, "{metric}\n{text}");
    }
}
