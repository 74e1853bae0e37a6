//! The dashboard over plain HTTP: its access token (bearer, login, logout, and the login link
//! `rotp dashboard` and `rotp node --dashboard` print when no token is given), the `Host` it
//! answers to, and its cluster page, which lists the nodes a real OTP epmd has registered (an
//! erl node, a rotp node) and opens any of them through the node picker (a POST with the form
//! token), and what each discovery strategy of a node sees (its nodes, its errors, and why
//! it fails while it does).

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::time::Duration;

use support::http::{request, unchunk};
use support::*;

const COOKIE: &str = "dashhttpcookie";
const TOKEN: &str = "s3cret-dashboard-token";
/// How long a dashboard or a node may take to come up or recover.
const UP: Duration = Duration::from_secs(30);

/// `GET path` with the token as a bearer token.
fn get(http: u16, path: &str) -> (String, String, String) {
    request(
        http,
        "GET",
        path,
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        "",
    )
}

/// `GET path` with a `Host` of our choosing (the test client always says localhost); the
/// status line and the body.
fn get_as_host(http: u16, host: &str, path: &str, extra: &str) -> (String, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", http)).expect("connects");
    s.set_read_timeout(Some(UP)).expect("a timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{extra}\r\n"
    )
    .expect("sent");
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    (
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    )
}

#[test]
fn a_dashboard_with_a_token_admits_only_requests_that_show_it() {
    let port = free_port();
    let _epmd = start_epmd(&otp_epmd(), port, &[]);
    let http = free_port();
    let listen = format!("127.0.0.1:{http}");
    let _node = rotp_background(
        port,
        COOKIE,
        &[
            "node",
            "--sname",
            "dash_token",
            "--dashboard",
            &listen,
            "--dashboard-token",
            TOKEN,
        ],
    );
    wait_until("the dashboard answers", UP, || {
        !request(http, "GET", "/login", &[], "").0.is_empty()
    });
    // No token: a script gets 401 with a Bearer challenge, a browser is sent to /login.
    let (status, headers, _) = request(http, "GET", "/metrics", &[], "");
    assert!(status.contains("401"), "{status}");
    assert!(headers.contains("www-authenticate: bearer"), "{headers}");
    let (status, headers, _) = request(http, "GET", "/", &[("Accept", "text/html")], "");
    assert!(
        status.contains("303") && headers.contains("location: /login"),
        "{status}\n{headers}"
    );
    // A wrong bearer token is refused too.
    let (status, _, _) = request(
        http,
        "GET",
        "/metrics",
        &[("Authorization", "Bearer not-it")],
        "",
    );
    assert!(status.contains("401"), "{status}");
    // The right one, as Prometheus sends it.
    let (status, _, body) = get(http, "/metrics");
    assert!(status.contains("200"), "{status}\n{body}");
    // A browser logs in with the token and gets a session cookie.
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let (status, _, page) = request(http, "POST", "/login", &form, "token=wrong");
    assert!(status.contains("401"), "{status}\n{page}");
    let (status, headers, _) = request(http, "POST", "/login", &form, &format!("token={TOKEN}"));
    assert!(status.contains("303"), "{status}\n{headers}");
    let cookie = headers
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .unwrap_or_else(|| panic!("a session cookie: {headers}"));
    assert!(
        cookie.contains("httponly") && cookie.contains("samesite=strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains(TOKEN),
        "the cookie is a session id, not the token"
    );
    let session = cookie.split(';').next().unwrap_or_default().to_owned();
    let (status, headers, page) = request(http, "GET", "/", &[("Cookie", session.as_str())], "");
    let page = unchunk(&headers, &page);
    assert!(
        status.contains("200") && page.contains("dash_token@"),
        "{status}\n{page}"
    );
    // A page of another name that resolves here (DNS rebinding) is refused, session or not.
    let (status, body) = get_as_host(
        http,
        "rebound.example:4040",
        "/",
        &format!("Cookie: {session}\r\n"),
    );
    assert!(
        status.contains("403") && body.contains("does not answer to the Host"),
        "{status}\n{body}"
    );
    // Logging out ends the session.
    let (status, _, _) = request(http, "POST", "/logout", &[("Cookie", session.as_str())], "");
    assert!(status.contains("303"), "{status}");
    let (status, _, _) = request(http, "GET", "/metrics", &[("Cookie", session.as_str())], "");
    assert!(status.contains("401"), "{status}");
    // Wrong guesses at a chosen token are limited: after ten, not even checked.
    for i in 0..10 {
        request(http, "POST", "/login", &form, &format!("token=guess{i}"));
    }
    let (status, headers, _) = request(http, "POST", "/login", &form, &format!("token={TOKEN}"));
    assert!(
        status.contains("429") && headers.contains("retry-after: "),
        "{status}\n{headers}"
    );
}

#[test]
fn without_a_token_both_binaries_make_one_and_print_a_login_link() {
    let port = free_port();
    let _epmd = start_epmd(&otp_epmd(), port, &[]);
    let http = free_port();
    let listen = format!("127.0.0.1:{http}");
    let (_node, out) = rotp_printing(
        port,
        COOKIE,
        &["node", "--sname", "dash_link", "--dashboard", &listen],
    );
    let link = login_link(&out, http, UP);
    // Nothing is open without it.
    let (status, _, _) = request(http, "GET", "/", &[], "");
    assert!(status.contains("401"), "{status}");
    // The link logs the browser in and leads on to the clean URL.
    let (status, headers, _) = request(http, "GET", &link, &[], "");
    assert!(
        status.contains("303") && headers.lines().any(|l| l.trim() == "location: /"),
        "{status}\n{headers}"
    );
    let session = headers
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("a session cookie: {headers}"))
        .to_owned();
    let (status, headers, page) = request(http, "GET", "/", &[("Cookie", session.as_str())], "");
    let page = unchunk(&headers, &page);
    assert!(
        status.contains("200") && page.contains("dash_link@"),
        "{status}\n{page}"
    );
    // The token is a bearer token too (for this run: it changes each start).
    let token = link.trim_start_matches("/?token=");
    let (status, _, _) = request(
        http,
        "GET",
        "/metrics",
        &[("Authorization", &format!("Bearer {token}"))],
        "",
    );
    assert!(status.contains("200"), "{status}");
    // `rotp dashboard` as well.
    let http = free_port();
    let listen = format!("127.0.0.1:{http}");
    let target = format!("dash_link@{}", short_host());
    let (_dashboard, out) =
        rotp_printing(port, COOKIE, &["dashboard", &target, "--listen", &listen]);
    let link = login_link(&out, http, UP);
    let (status, headers, _) = request(http, "GET", &link, &[], "");
    assert!(
        status.contains("303") && headers.contains("set-cookie: rotp_dashboard_session="),
        "{status}\n{headers}"
    );
}

/// The form token on a page.
fn form_token(page: &str) -> String {
    page.split("name=\"token\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("a form token: {page}"))
        .to_owned()
}

#[test]
fn the_cluster_page_lists_the_nodes_epmd_knows_and_the_picker_opens_any_of_them() {
    let port = free_port();
    let _epmd = start_epmd(&otp_epmd(), port, &[]);
    let _erl = start_erl("dash_cluster_erl", COOKIE, port, "timer:sleep(infinity).");
    let _other = rotp_background(port, COOKIE, &["node", "--sname", "dash_cluster_rotp"]);
    let host = short_host();
    let erl = format!("dash_cluster_erl@{host}");
    let other = format!("dash_cluster_rotp@{host}");
    let http = free_port();
    let listen = format!("127.0.0.1:{http}");
    // The dashboard watches only itself: the others are found through EPMD.
    let _node = rotp_background(
        port,
        COOKIE,
        &[
            "node",
            "--sname",
            "dash_cluster",
            "--dashboard",
            &listen,
            "--dashboard-token",
            TOKEN,
        ],
    );
    let page = wait_until("the cluster page lists both nodes", UP, || {
        let (status, headers, page) = get(http, "/");
        let page = unchunk(&headers, &page);
        (status.contains("200") && page.contains(&erl) && page.contains(&other)).then_some(page)
    });
    assert!(page.contains("id=\"picker\" method=\"post\""), "{page}");
    assert!(
        page.contains(&format!("<option value=\"{erl}\">")),
        "{page}"
    );
    // Not connected yet: the dashboard lists them without knocking, each with an "open"
    // form (a POST), not a link another site could make a browser follow.
    let row = |page: &str, name: &str| {
        page.split(&format!("<tr data-node=\"{name}\">"))
            .nth(1)
            .and_then(|r| r.split("</tr>").next())
            .unwrap_or_else(|| panic!("{name} has a row: {page}"))
            .to_owned()
    };
    let erl_row = row(&page, &erl);
    assert!(erl_row.contains("registered, not connected"), "{erl_row}");
    assert!(
        erl_row.contains("method=\"post\"") && !erl_row.contains("href="),
        "{erl_row}"
    );
    // A GET of its page does not open it: only the picker does.
    let (status, _, _) = get(http, &format!("/node/{erl}"));
    assert!(status.contains("404"), "{status}");
    let token = form_token(&page);
    let form = |body: String| {
        request(
            http,
            "POST",
            "/pick",
            &[
                ("Authorization", &format!("Bearer {TOKEN}")),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            &body,
        )
    };
    let (status, headers, _) = form(format!("node={erl}&token={token}"));
    assert!(
        status.contains("303") && headers.contains(&format!("location: /node/{erl}")),
        "{status}\n{headers}"
    );
    let (status, headers, home) = get(http, &format!("/node/{erl}"));
    let home = unchunk(&headers, &home);
    assert!(
        status.contains("200") && home.contains("Erlang/OTP 25"),
        "{status}\n{home}"
    );
    // Now it is connected, and the page shows its connections.
    let (_, headers, page) = get(http, "/");
    let page = unchunk(&headers, &page);
    let erl_row = row(&page, &erl);
    assert!(
        erl_row.contains(">connected<") && erl_row.contains("dash_cluster@"),
        "{erl_row}"
    );
    // A name that is no node name is refused, not turned into an atom; a GET is no pick.
    let (status, _, _) = form(format!("node=not%20a%20node&token={token}"));
    assert!(status.contains("400"), "{status}");
    let (status, _, _) = get(http, &format!("/pick?node={other}"));
    assert!(status.contains("405"), "{status}");
}

#[test]
fn the_cluster_page_shows_what_each_discovery_strategy_sees_and_why_one_fails() {
    let port = free_port();
    let _epmd = start_epmd(&otp_epmd(), port, &[]);
    let _erl = start_erl("dash_disc_erl", COOKIE, port, "timer:sleep(infinity).");
    let erl = format!("dash_disc_erl@{}", short_host());
    let http = free_port();
    let listen = format!("127.0.0.1:{http}");
    // One strategy that finds the erl node through EPMD, one whose hosts file is not there.
    let missing =
        std::env::temp_dir().join(format!("no-such-dir-{}/.hosts.erlang", std::process::id()));
    let hosts = format!("erlang-hosts:{},interval=200", missing.display());
    let _node = rotp_background(
        port,
        COOKIE,
        &[
            "node",
            "--sname",
            "dash_disc",
            "--dashboard",
            &listen,
            "--dashboard-token",
            TOKEN,
            "--discovery",
            "local-epmd:interval=200",
            "--discovery",
            &hosts,
        ],
    );
    let row = |page: &str, strategy: &str| {
        page.split("<table id=\"discovery\">")
            .nth(1)?
            .split(&format!("data-strategy=\"{strategy}\">"))
            .nth(1)?
            .split("</tr>")
            .next()
            .map(str::to_owned)
    };
    let (found, failing) = wait_until("both strategies on the cluster page", UP, || {
        let (status, headers, page) = get(http, "/");
        let page = unchunk(&headers, &page);
        if !status.contains("200") {
            return None;
        }
        let found = row(&page, "local-epmd").filter(|r| r.contains(&erl))?;
        let failing = row(&page, "erlang-hosts").filter(|r| r.contains("failing:"))?;
        Some((found, failing))
    });
    // local-epmd: one node found, by name, no errors, fine.
    assert!(
        found.contains(&format!(">1: {erl}</td>")) && found.contains("class=\"n\">0</td>"),
        "{found}"
    );
    assert!(
        found.contains(">ok</td>") && found.contains(">dash_disc@"),
        "{found}"
    );
    // erlang-hosts: nothing found, its failed lookups counted, and why, naming the file.
    assert!(failing.contains("\"nodes found\">0</td>"), "{failing}");
    assert!(!failing.contains("class=\"n\">0</td>"), "{failing}");
    assert!(
        failing.contains("class=\"down\"") && failing.contains(".hosts.erlang"),
        "{failing}"
    );
}

#[test]
fn the_os_page_shows_each_nodes_own_host_and_os_process() {
    let port = free_port();
    let _epmd = start_epmd(&otp_epmd(), port, &[]);
    let erl_guard = start_erl("dash_os_erl", COOKIE, port, "timer:sleep(infinity).");
    let rotp_guard = rotp_background(port, COOKIE, &["node", "--sname", "dash_os_rotp"]);
    let host = short_host();
    let erl = format!("dash_os_erl@{host}");
    let ours = format!("dash_os_rotp@{host}");
    let http = free_port();
    let listen = format!("127.0.0.1:{http}");
    let _dashboard = rotp_background(
        port,
        COOKIE,
        &[
            "dashboard",
            &erl,
            &ours,
            "--listen",
            &listen,
            "--token",
            TOKEN,
        ],
    );
    let field = |page: &str, name: &str| -> String {
        page.split(&format!("data-field=\"{name}\">"))
            .nth(1)
            .and_then(|r| r.split('<').next())
            .unwrap_or_else(|| panic!("{name} on the page: {page}"))
            .to_owned()
    };
    // Each node reports its own OS process: the pid of the program the test started (erl's
    // script execs the emulator, keeping its pid).
    for (node, pid) in [(&erl, erl_guard.0.id()), (&ours, rotp_guard.0.id())] {
        let page = wait_until(&format!("{node}'s OS page"), UP, || {
            let (status, headers, page) = get(http, &format!("/node/{node}/os"));
            status.contains("200").then(|| unchunk(&headers, &page))
        });
        assert_eq!(field(&page, "os_type"), "unix/linux", "{page}");
        assert_eq!(field(&page, "os_pid"), pid.to_string(), "{page}");
        assert!(field(&page, "vm_rss").ends_with("MiB"), "{page}");
        assert!(
            field(&page, "threads").parse::<u64>().is_ok_and(|t| t > 0),
            "{page}"
        );
        assert!(
            field(&page, "open_fds").parse::<u64>().is_ok_and(|t| t > 2),
            "{page}"
        );
        assert_eq!(field(&page, "load").split(' ').count(), 3, "{page}");
        assert!(
            page.contains(&format!("data-events=\"/node/{node}/os/events\"")),
            "{page}"
        );
    }
}

/// Reads the event stream at `path` until an event of `kind` comes (bounded); its data line.
fn next_event(http: u16, path: &str, kind: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", http)).expect("connects");
    s.set_read_timeout(Some(UP)).expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\
         Authorization: Bearer {TOKEN}\r\n\r\n"
    )
    .expect("request sent");
    let mut lines = BufReader::new(s).lines();
    wait_until(&format!("a {kind} event on {path}"), UP, || {
        let line = lines.next()?.ok()?;
        if line == format!("event: {kind}") {
            return lines.next()?.ok();
        }
        None
    })
}

#[test]
fn a_dashboard_whose_node_drops_says_so_and_recovers_when_it_returns() {
    let port = free_port();
    let _epmd = start_epmd(&otp_epmd(), port, &[]);
    let host = short_host();
    let target = format!("dash_drop@{host}");
    let node = rotp_background(port, COOKIE, &["node", "--sname", "dash_drop"]);
    let http = free_port();
    let listen = format!("127.0.0.1:{http}");
    let _dashboard = rotp_background(
        port,
        COOKIE,
        &["dashboard", &target, "--listen", &listen, "--token", TOKEN],
    );
    let home = format!("/node/{target}");
    let status = |want: &str| {
        wait_until(&format!("{home} answering {want}"), UP, || {
            let (status, headers, page) = get(http, &home);
            status.contains(want).then(|| unchunk(&headers, &page))
        })
    };
    status("200");
    assert!(next_event(http, &format!("{home}/events"), "summary").contains("process_count"));
    // The node goes down: the page says so in one sentence (and reloads itself), the live
    // stream sends `down`.
    drop(node);
    let page = status("503");
    assert!(
        page.contains(&format!("node {target} is not reachable"))
            && page.contains("http-equiv=\"refresh\""),
        "{page}"
    );
    let down = next_event(http, &format!("{home}/events"), "down");
    assert!(
        down.contains("not reachable") && down.contains("retrying"),
        "{down}"
    );
    // It comes back under the same name: the page recovers.
    let _again = rotp_background(port, COOKIE, &["node", "--sname", "dash_drop"]);
    let page = status("200");
    assert!(page.contains("data-field=\"process_count\""), "{page}");
}
