//! The dashboard over plain HTTP: its access token (bearer, login, logout) and its cluster
//! page, which lists the nodes a real OTP epmd has registered (an erl node, a rotp node) and
//! opens any of them through the node picker.

mod support;

use std::time::{Duration, Instant};

use support::http::{get, request, unchunk};
use support::*;

const COOKIE: &str = "dashhttpcookie";
const TOKEN: &str = "s3cret-dashboard-token";

/// Waits (bounded) until `path` answers something other than a refused connection.
fn up(http: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(http, "/login").0.is_empty() {
        assert!(Instant::now() < deadline, "the dashboard never answered");
        std::thread::sleep(Duration::from_millis(100));
    }
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
    up(http);
    // No token: a script gets 401 with a Bearer challenge, a browser is sent to /login.
    let (status, headers, _) = get(http, "/metrics");
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
    let bearer = format!("Bearer {TOKEN}");
    let (status, _, body) = request(
        http,
        "GET",
        "/metrics",
        &[("Authorization", bearer.as_str())],
        "",
    );
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
    // Logging out ends the session.
    let (status, _, _) = request(http, "POST", "/logout", &[("Cookie", session.as_str())], "");
    assert!(status.contains("303"), "{status}");
    let (status, _, _) = request(http, "GET", "/metrics", &[("Cookie", session.as_str())], "");
    assert!(status.contains("401"), "{status}");
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
        &["node", "--sname", "dash_cluster", "--dashboard", &listen],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let page = loop {
        let (status, headers, page) = get(http, "/");
        let page = unchunk(&headers, &page);
        if status.contains("200") && page.contains(&erl) && page.contains(&other) {
            break page;
        }
        assert!(Instant::now() < deadline, "{status}\n{page}");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(page.contains("id=\"picker\""), "{page}");
    assert!(
        page.contains(&format!("<option value=\"{erl}\">")),
        "{page}"
    );
    // Not connected yet: the dashboard lists them without knocking.
    let row = |page: &str, name: &str| {
        page.split(&format!("<tr data-node=\"{name}\">"))
            .nth(1)
            .and_then(|r| r.split("</tr>").next())
            .unwrap_or_else(|| panic!("{name} has a row: {page}"))
            .to_owned()
    };
    assert!(
        row(&page, &erl).contains("registered, not connected"),
        "{page}"
    );
    // The picker opens the erl node's home page.
    let (status, headers, _) = get(http, &format!("/pick?node={erl}"));
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
    // A name that is no node name is refused, not turned into an atom.
    let (status, _, _) = get(http, "/pick?node=not%20a%20node");
    assert!(status.contains("400"), "{status}");
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
        &["dashboard", &erl, &ours, "--listen", &listen],
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
        let deadline = Instant::now() + Duration::from_secs(30);
        let page = loop {
            let (status, headers, page) = get(http, &format!("/node/{node}/os"));
            let page = unchunk(&headers, &page);
            if status.contains("200") {
                break page;
            }
            assert!(Instant::now() < deadline, "{status}\n{page}");
            std::thread::sleep(Duration::from_millis(300));
        };
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
    use std::io::{BufRead, BufReader, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", http)).expect("connects");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n"
    )
    .expect("request sent");
    let mut lines = BufReader::new(s).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        if line == format!("event: {kind}") {
            if let Some(Ok(data)) = lines.next() {
                return data;
            }
        }
    }
    panic!("no {kind} event on {path}");
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
    let _dashboard = rotp_background(port, COOKIE, &["dashboard", &target, "--listen", &listen]);
    let home = format!("/node/{target}");
    let status = |want: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, headers, page) = get(http, &home);
            let page = unchunk(&headers, &page);
            if status.contains(want) {
                return page;
            }
            assert!(Instant::now() < deadline, "wanted {want}: {status}\n{page}");
            std::thread::sleep(Duration::from_millis(300));
        }
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
