//! The dashboard end to end in headless Chromium (Debian's `chromium` through playwright-core,
//! `web-tests/dashboard.mjs`), watching a real erl node: pages load, the home page's live
//! figures move, a killed process disappears, a supervisor's killed child comes back with a
//! new pid, a process's detail shows. Screenshots are kept in
//! `target/tmp/dashboard-screenshots/`.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use support::http::get;
use support::*;

const COOKIE: &str = "dashcookie";

/// A one-child supervisor for the erl node, so the test can watch a restart.
const DASH_SUP: &str = r#"
-module(dash_sup).
-behaviour(supervisor).
-export([start/0, init/1, start_worker/0]).

start() -> supervisor:start_link({local, dash_sup}, ?MODULE, []).

init([]) ->
    {ok, {#{strategy => one_for_one, intensity => 10, period => 10},
          [#{id => dash_worker, start => {?MODULE, start_worker, []}}]}}.

start_worker() ->
    {ok, spawn_link(fun() -> register(dash_worker, self()), receive after infinity -> ok end end)}.
"#;

/// `rotp dashboard TARGET` on 127.0.0.1:`http`, against the EPMD at `port`.
fn dashboard(port: u16, target: &str, http: u16) -> Guard {
    rotp_background(
        port,
        COOKIE,
        &[
            "dashboard",
            target,
            "--listen",
            &format!("127.0.0.1:{http}"),
        ],
    )
}

#[test]
fn the_dashboard_in_chromium_lists_kills_and_sees_a_restart() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    assert!(
        root.join("web-tests/node_modules/playwright-core").exists(),
        "playwright-core is not installed: run ./test --setup"
    );
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dash_sup");
    std::fs::create_dir_all(&dir).expect("a scratch dir");
    std::fs::write(dir.join("dash_sup.erl"), DASH_SUP).expect("the module written");
    assert!(Command::new("erlc")
        .current_dir(&dir)
        .arg("dash_sup.erl")
        .status()
        .expect("erlc runs")
        .success());
    let port = free_port();
    let _epmd = start_epmd(&otp_epmd(), port, &[]);
    let mut erl = Command::new("erl");
    erl.arg("-pa").arg(&dir);
    let _erl = start_erl_with(
        erl,
        "dash_erl",
        COOKIE,
        port,
        "{ok, _} = dash_sup:start(), \
         register(dash_victim, spawn(fun() -> receive after infinity -> ok end end)), \
         timer:sleep(infinity).",
    );
    let target = format!("dash_erl@{}", short_host());
    let http = free_port();
    let _dashboard = dashboard(port, &target, http);
    // Until the erl node answers, with its supervisor up.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _, body) = get(
            http,
            &format!("/node/{target}/processes?filter=dash_worker"),
        );
        if status.contains("200") && body.contains("data-pid") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the dashboard never showed {target}: {status}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let artifacts = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots");
    let out = Command::new("node")
        .current_dir(&root)
        .arg("web-tests/dashboard.mjs")
        .arg(format!("http://127.0.0.1:{http}"))
        .arg(&target)
        .arg(&artifacts)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        artifacts.join("restarted.png").exists(),
        "the screenshots are kept"
    );
}

#[test]
fn a_kill_form_from_another_site_is_refused() {
    let port = free_port();
    let _epmd = start_epmd(&otp_epmd(), port, &[]);
    let _erl = start_erl("dash_erl2", COOKIE, port, "timer:sleep(infinity).");
    let target = format!("dash_erl2@{}", short_host());
    let http = free_port();
    let _dashboard = dashboard(port, &target, http);
    let (status, _, _) = get(http, "/");
    assert!(status.contains("200"), "{status}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut s = loop {
        if let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", http)) {
            break s;
        }
        assert!(Instant::now() < deadline);
    };
    use std::io::{Read, Write};
    let form = "token=guessed";
    write!(
        s,
        "POST /node/{target}/processes/0.1.0/kill HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    )
    .expect("sent");
    let mut reply = String::new();
    s.read_to_string(&mut reply).expect("read");
    assert!(reply.starts_with("HTTP/1.1 403"), "{reply}");
}

#[test]
fn a_node_that_is_down_is_said_so_and_the_page_recovers_when_it_is_up() {
    let port = free_port();
    let _epmd = start_epmd(&otp_epmd(), port, &[]);
    let target = format!("dash_late@{}", short_host());
    let http = free_port();
    let _dashboard = dashboard(port, &target, http);
    // No such node yet: the page says so, in one sentence, and reloads itself.
    let (status, headers, body) = get(http, &format!("/node/{target}"));
    let body = support::http::unchunk(&headers, &body);
    assert!(status.contains("503"), "{status}");
    assert!(
        body.contains("not reachable") && body.contains("refresh"),
        "{body}"
    );
    let (_, _, cluster) = get(http, "/");
    assert!(cluster.contains("down"), "{cluster}");
    // The node comes up: the same page answers.
    let _erl = start_erl("dash_late", COOKIE, port, "timer:sleep(infinity).");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _, _) = get(http, &format!("/node/{target}"));
        if status.contains("200") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the page never recovered: {status}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}
