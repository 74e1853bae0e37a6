//! `drip` as an operator uses an Elixir release's `bin/app`: `version`, `pid`, `rpc` and
//! `stop` against the running node (a hidden node of their own, with the settings' name and
//! cookie); a node they cannot reach told apart in one sentence (the host, EPMD, the name,
//! the cookie); the probes; `drip migrate` with `--migrate false` pods waiting for it; and
//! the node named by `RELEASE_NODE` / `RELEASE_DISTRIBUTION`; what discovery sees, in
//! `/metrics`.

mod support;

use std::time::Duration;

use support::{drip, Drip};

fn text(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `drip ARGS` against `d`, with `env` on top of its own.
fn with_env(d: &Drip, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut all: Vec<(String, String)> = d.env.clone();
    all.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    std::process::Command::new(env!("CARGO_BIN_EXE_drip"))
        .args(args)
        .env_remove("RELEASE_NODE")
        .env_remove("RELEASE_DISTRIBUTION")
        .env_remove("RELEASE_COOKIE")
        .env("ERL_EPMD_PORT", d.epmd.to_string())
        .envs(all)
        .output()
        .expect("drip runs")
}

#[test]
fn version_pid_rpc_and_stop_reach_the_running_node() {
    let mut d = drip("release", &["--shutdown-timeout", "6"]);
    let out = d.command(&["version"]);
    assert!(out.status.success());
    assert_eq!(
        text(&out).0,
        format!("drip {}\n", env!("CARGO_PKG_VERSION"))
    );

    let out = d.command(&["pid"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(text(&out).0.trim(), d.process.0.id().to_string());

    for call in ["erlang:node()", ":erlang.node()."] {
        let out = d.command(&["rpc", call]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{call}: {stderr}");
        assert_eq!(stdout.trim(), d.node, "{call}");
    }
    // Arguments are Erlang terms (rotp runs no Erlang code: the node's own functions answer).
    let out = d.command(&["rpc", "erlang:whereis(drip_upload_queue)"]);
    let (stdout, stderr) = text(&out);
    assert!(
        stdout.trim().starts_with("<") && stdout.trim().ends_with(">"),
        "{stdout} {stderr}"
    );
    // A call that fails on the node is its badrpc, and exit 1.
    let out = d.command(&["rpc", "erlang:no_such_function()"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).0.contains("badrpc"), "{:?}", text(&out));
    // What is not a call is said before anything is reached.
    let out = d.command(&["rpc", "1 + 2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("is not a call"), "{:?}", text(&out));

    for probe in ["/health/live", "/health/ready"] {
        let (status, body) = d.call("GET", probe, None, "");
        assert!(status.contains("200"), "{probe}: {status} {body}");
    }

    // `stop` returns once the node has left; the node drained and exited 0.
    let out = d.command(&["stop"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let status = harness::wait_until("drip to exit", Duration::from_secs(20), || {
        d.process.0.try_wait().expect("waits")
    });
    assert!(status.success(), "{status}");
    // It left EPMD (here the EPMD it ran went with it).
    let out = d.command(&["pid"]);
    let stderr = text(&out).1;
    assert!(
        stderr.contains("has no node named drip_release") || stderr.contains("no EPMD answers"),
        "{stderr}"
    );
}

#[test]
fn a_node_out_of_reach_is_told_apart_in_one_sentence() {
    let d = drip("reach", &[]);
    let why = |args: &[&str], env: &[(&str, &str)]| {
        let out = with_env(&d, args, env);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {:?}", text(&out));
        let stderr = text(&out).1;
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        stderr
    };
    let host = harness::short_host();
    let right = format!("drip_reach@{host}");
    let cookie = ["--cookie", "dripcookie"];

    let e = why(
        &["pid", "--sname", &right, "--cookie", "not-the-cookie"],
        &[],
    );
    assert!(e.contains("refused our cookie"), "{e}");

    let e = why(
        &[
            "pid",
            "--sname",
            &format!("drip_nobody@{host}"),
            cookie[0],
            cookie[1],
        ],
        &[],
    );
    assert!(
        e.contains("has no node named drip_nobody") && e.contains("drip_reach"),
        "{e}"
    );

    let e = why(
        &[
            "pid",
            "--sname",
            "drip_reach@no-such-host-here",
            cookie[0],
            cookie[1],
        ],
        &[],
    );
    assert!(e.contains("does not resolve"), "{e}");

    let silent = harness::free_port().to_string();
    let e = why(
        &["pid", "--sname", &right, cookie[0], cookie[1]],
        &[("ERL_EPMD_PORT", silent.as_str())],
    );
    assert!(e.contains("no EPMD answers"), "{e}");

    let e = why(&["pid"], &[("RELEASE_DISTRIBUTION", "none")]);
    assert!(e.contains("without distribution"), "{e}");
}

#[test]
fn the_node_is_named_as_a_release_names_it() {
    // No --sname or --name: RELEASE_NODE and RELEASE_DISTRIBUTION name the node, for the
    // server and for the commands that reach it alike.
    let data = support::scratch("relname");
    let (epmd, http) = (harness::free_port(), harness::free_port());
    let epmd_port = epmd.to_string();
    let release = [
        ("RELEASE_NODE", "drip_byenv"),
        ("RELEASE_DISTRIBUTION", "sname"),
        ("RELEASE_COOKIE", "relcookie"),
        ("ERL_EPMD_PORT", epmd_port.as_str()),
    ];
    let server = harness::Guard(
        std::process::Command::new(env!("CARGO_BIN_EXE_drip"))
            .arg("--data")
            .arg(&data)
            .args(["--http", &format!("127.0.0.1:{http}")])
            .envs(release)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("drip starts"),
    );
    harness::wait_until("drip to answer", Duration::from_secs(60), || {
        harness::http::get(http, "/health/ready").0.contains("200")
    });
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_drip"))
        .args(["rpc", "erlang:node()"])
        .envs(release)
        .output()
        .expect("drip rpc runs");
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(
        text(&out).0.trim(),
        format!("drip_byenv@{}", harness::short_host())
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_drip"))
        .arg("pid")
        .envs(release)
        .output()
        .expect("drip pid runs");
    assert_eq!(text(&out).0.trim(), server.0.id().to_string());
}

#[test]
fn pods_started_with_migrate_false_wait_for_drip_migrate() {
    let data = support::scratch("migrate");
    std::fs::create_dir_all(&data).expect("the data directory");
    let database = format!("sqlite://{}?mode=rwc", data.join("drip.sqlite").display());
    let epmd = harness::free_port();
    let d = std::thread::spawn({
        let data = data.clone();
        move || support::start_with("migrate", &["--migrate", "false"], data, epmd, &[])
    });
    // It waits, saying for what.
    harness::wait_until(
        "the drip to say it waits for drip migrate",
        Duration::from_secs(60),
        || {
            std::fs::read_to_string(data.join("drip.log"))
                .is_ok_and(|log| log.contains("waiting for `drip migrate`"))
        },
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_drip"))
        .args(["migrate", "--database", &database])
        .env_remove("RELEASE_NODE")
        .output()
        .expect("drip migrate runs");
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(text(&out).0.contains("up to date"), "{:?}", text(&out));
    // Then it starts.
    let d = d.join().expect("the drip started");
    let (status, _) = d.call("GET", "/health/ready", None, "");
    assert!(status.contains("200"), "{status}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_drip"))
        .args(["migrate", "--database", &database])
        .output()
        .expect("drip migrate runs again");
    assert!(
        out.status.success(),
        "migrating twice is fine: {:?}",
        text(&out)
    );
}

#[test]
fn drip_remote_is_a_shell_in_the_running_node() {
    let d = drip("remote", &[]);
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_drip"));
    c.args(["remote", "--sname", &d.node, "--cookie", "dripcookie"])
        .env("ERL_EPMD_PORT", d.epmd.to_string())
        .env_remove("RELEASE_COOKIE");
    let mut p = rexpect::session::spawn_with_options(
        c,
        rexpect::reader::Options {
            timeout_ms: Some(30_000),
            strip_ansi_escape_codes: true,
        },
    )
    .expect("drip remote starts");
    p.exp_string("rotp shell").expect("the node's shell");
    p.exp_string(&format!("({})1> ", d.node)).expect("a prompt");
    // rustyline asks the terminal where its cursor is and waits 100 ms for an answer this
    // pty never gives: what is typed before then would be taken for the answer.
    std::thread::sleep(Duration::from_millis(300));
    p.send_line("regs().").expect("typed");
    p.exp_string("drip_upload_queue")
        .expect("Drip's registered names");
    p.exp_string(&format!("({})2> ", d.node)).expect("a prompt");
    std::thread::sleep(Duration::from_millis(300));
    p.send_control('d').expect("Ctrl-D");
    p.exp_string("left").expect("the goodbye");
    p.exp_eof().expect("drip remote ends");
    // The node runs on.
    let (status, _) = d.call("GET", "/health/live", None, "");
    assert!(status.contains("200"), "{status}");
}

#[test]
fn what_discovery_sees_is_in_the_metrics() {
    let metrics = harness::free_port();
    let listen = format!("127.0.0.1:{metrics}");
    let a = drip("seen_a", &[]);
    // Found on the EPMD both use, and a lookup that always fails.
    let b = support::start(
        "seen_b",
        &[
            "--metrics",
            &listen,
            "--discovery",
            "local-epmd:interval=300",
            "--discovery",
            "dns:no-such-name.invalid,interval=300",
        ],
        support::scratch("seen_b"),
        a.epmd,
    );
    harness::wait_until("b to see a", Duration::from_secs(30), || {
        let (_, _, body) = harness::http::get(metrics, "/metrics");
        body.contains(r#"rotp_discovery_nodes{strategy="local-epmd"} 1"#)
            && body.contains(r#"rotp_discovery_errors_total{strategy="dns"}"#)
            && !body.contains(r#"rotp_discovery_errors_total{strategy="dns"} 0"#)
    });
    let (status, body) = a.call("GET", "/health", None, "");
    assert!(status.contains("200"), "{body}");
    drop(b);
}

#[test]
fn over_tls_distribution_the_commands_need_a_trusted_certificate() {
    let pki = harness::pki::TestPki::new("drip-release");
    let node = pki.optfile("node");
    let node = node.to_str().expect("a path");
    let d = drip("tlsrel", &["--ssl-dist-optfile", node]);
    let out = d.command(&["rpc", "erlang:node()"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(text(&out).0.trim(), d.node);
    // Without TLS, or with a certificate the node does not trust, nothing is reached.
    for optfile in [None, Some(pki.optfile("intruder"))] {
        let mut args = vec!["pid", "--sname", &d.node, "--cookie", "dripcookie"];
        let intruder;
        if let Some(o) = &optfile {
            intruder = o.display().to_string();
            args.extend(["--ssl-dist-optfile", intruder.as_str()]);
        }
        let out = with_env(&d, &args, &[]);
        assert_eq!(out.status.code(), Some(2), "{optfile:?}: {:?}", text(&out));
        assert!(text(&out).1.contains("cannot reach"), "{:?}", text(&out));
    }
}
