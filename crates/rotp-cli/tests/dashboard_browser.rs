//! The dashboard end to end in headless Chromium (Debian's `chromium` through playwright-core,
//! `web-tests/dashboard.mjs`), watching a real erl node: the browser logs in through the link
//! `rotp dashboard` prints, pages load, the home page's live figures move, a killed process
//! disappears, a supervisor's killed child comes back with a new pid, a process's detail
//! shows, and a name that resolves to the dashboard's address (DNS rebinding, through
//! Chromium's own resolver rules) is refused. Screenshots are kept in
//! `target/tmp/dashboard-screenshots/`.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use support::http::{request, unchunk};
use support::*;

const COOKIE: &str = "dashcookie";
/// How long a node or the dashboard may take to come up.
const UP: Duration = Duration::from_secs(30);

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

/// `rotp dashboard TARGET` on 127.0.0.1:`http`, against the EPMD at `port`, with the token
/// it made: the guard, and the login link's path (`/?token=…`).
fn dashboard(port: u16, target: &str, http: u16) -> (Guard, String) {
    let (guard, out) = rotp_printing(
        port,
        COOKIE,
        &[
            "dashboard",
            target,
            "--listen",
            &format!("127.0.0.1:{http}"),
        ],
    );
    let link = login_link(&out, http, UP);
    (guard, link)
}

/// `GET path` with the link's token as a bearer token.
fn get(http: u16, link: &str, path: &str) -> (String, String, String) {
    let token = link.trim_start_matches("/?token=");
    request(
        http,
        "GET",
        path,
        &[("Authorization", &format!("Bearer {token}"))],
        "",
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
    let (_dashboard, link) = dashboard(port, &target, http);
    // Until the erl node answers, with its supervisor up.
    wait_until(&format!("the dashboard showing {target}"), UP, || {
        let (status, _, body) = get(
            http,
            &link,
            &format!("/node/{target}/processes?filter=dash_worker"),
        );
        status.contains("200") && body.contains("data-pid")
    });
    let artifacts = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots");
    let out = Command::new("node")
        .current_dir(&root)
        .arg("web-tests/dashboard.mjs")
        .arg(format!("http://127.0.0.1:{http}"))
        .arg(&target)
        .arg(&artifacts)
        .arg(&link)
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
    let (_dashboard, link) = dashboard(port, &target, http);
    let token = link.trim_start_matches("/?token=");
    let bearer = format!("Bearer {token}");
    let page = wait_until("the process table", UP, || {
        let (status, headers, page) = get(http, &link, &format!("/node/{target}/processes"));
        status.contains("200").then(|| unchunk(&headers, &page))
    });
    let form_token = page
        .split("name=\"token\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("a form token: {page}"))
        .to_owned();
    let kill = format!("/node/{target}/processes/0.1.0/kill");
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    // A guessed form token, and the right one posted from another site's page: refused.
    let (status, _, _) = request(
        http,
        "POST",
        &kill,
        &[("Authorization", &bearer), form],
        "token=guessed",
    );
    assert!(status.contains("403"), "{status}");
    let (status, _, body) = request(
        http,
        "POST",
        &kill,
        &[
            ("Authorization", &bearer),
            form,
            ("Origin", "http://evil.example"),
        ],
        &format!("token={form_token}"),
    );
    assert!(status.contains("403"), "{status}\n{body}");
    // init (<0.1.0>) lives on: the node still answers.
    let (status, _, _) = get(http, &link, &format!("/node/{target}"));
    assert!(status.contains("200"), "{status}");
}

#[test]
fn a_node_that_is_down_is_said_so_and_the_page_recovers_when_it_is_up() {
    let port = free_port();
    let _epmd = start_epmd(&otp_epmd(), port, &[]);
    let target = format!("dash_late@{}", short_host());
    let http = free_port();
    let (_dashboard, link) = dashboard(port, &target, http);
    // No such node yet: the page says so, in one sentence, and reloads itself.
    let (status, headers, body) = get(http, &link, &format!("/node/{target}"));
    let body = unchunk(&headers, &body);
    assert!(status.contains("503"), "{status}");
    assert!(
        body.contains("not reachable") && body.contains("refresh"),
        "{body}"
    );
    let (_, _, cluster) = get(http, &link, "/");
    assert!(cluster.contains("down"), "{cluster}");
    // The node comes up: the same page answers.
    let _erl = start_erl("dash_late", COOKIE, port, "timer:sleep(infinity).");
    wait_until("the page recovering", UP, || {
        get(http, &link, &format!("/node/{target}"))
            .0
            .contains("200")
    });
}
