//! The 2026-12-07 security review's findings in Drip's accounts, sessions and HTTP front,
//! each reproduced as the review found it, then shown closed with the rest still working:
//! H2 (admins by name), M9 (sessions that outlive log-out, cookies without `Secure`, an
//! empty key file), L2 (log-in CSRF), M4 (rate limits behind a proxy, per name), M1
//! (anonymous `/metrics`), M8 (no timeouts, an unbounded stop), L3 (sockets from other
//! sites), L7 (no security headers), L13 (a silent EPMD hangs the start).

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::http::request;
use harness::wait_until;
use support::{csrf_of, drip, Drip};

/// POSTs a form with `cookie` (may be empty): status and headers.
fn post_form(d: &Drip, path: &str, cookie: &str, body: &str) -> (String, String, String) {
    let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
    if !cookie.is_empty() {
        headers.push(("Cookie", cookie));
    }
    request(d.http, "POST", path, &headers, body)
}

/// Signs `name` up with the sign-up form (through `invite` if given): the status and the
/// session cookie it set, if any.
fn form_signup(d: &Drip, name: &str, invite: Option<&str>) -> (String, Option<String>) {
    let page = match invite {
        Some(i) => format!("/signup?invite={i}"),
        None => "/signup".to_owned(),
    };
    let (pre, csrf) = d.form_token(&page);
    let invite = invite.map_or(String::new(), |i| format!("&invite={i}"));
    let (status, head, _) = post_form(
        d,
        "/signup",
        &pre,
        &format!("csrf={csrf}&username={name}&password=password-{name}&email={name}%40example.com{invite}"),
    );
    let cookie = head
        .lines()
        .filter_map(|l| l.strip_prefix("set-cookie: "))
        .find(|c| c.starts_with("drip_session=") && !c.contains("Max-Age=0"))
        .and_then(|c| c.split(';').next())
        .map(str::to_owned);
    (status, cookie)
}

fn log(d: &Drip) -> String {
    std::fs::read_to_string(d.data.join("drip.log")).unwrap_or_default()
}

#[test]
fn h2_a_stranger_who_signs_up_under_a_listed_admin_name_gets_nothing() {
    // The review's case: --admins alice before alice has an account, open sign-up.
    let d = drip("h2", &["--admins", "alice"]);
    wait_until("the warning about alice", Duration::from_secs(10), || {
        log(&d).contains("\"alice\", which has no account")
    });
    let (status, stranger) = form_signup(&d, "alice", None);
    assert!(status.contains("303"), "{status}");
    let stranger = stranger.expect("a session");
    let (status, _, page) = d.page(&stranger, "/dashboard");
    assert!(status.contains("403"), "{status}: {page}");
    // Granting needs an account; an operator grants the real one, and can take it back.
    let out = d.command(&["admin", "grant", "nobody"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("there is no account \"nobody\""));
    d.grant_admin("alice");
    let (status, _, _) = d.page(&stranger, "/dashboard");
    assert!(status.contains("200"), "{status}");
    let out = d.command(&["admin", "list"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "alice\n");
    assert!(d.command(&["admin", "revoke", "alice"]).status.success());
    let (status, _, _) = d.page(&stranger, "/dashboard");
    assert!(status.contains("403"), "{status}");
}

#[test]
fn signup_closed_and_by_invite() {
    let d = drip("closed", &["--signup", "closed"]);
    let (status, _, page) = d.page("", "/signup");
    assert!(
        status.contains("403") && page.contains("closed"),
        "{status}"
    );
    let (status, body) = d.call(
        "POST",
        "/api/users",
        None,
        r#"{"username":"eve","password":"password-eve","email":"eve@example.com"}"#,
    );
    assert!(status.contains("403"), "{status} {body}");
    // The operator's invite makes the first account, an admin; it works once.
    let out = d.command(&["admin", "invite", "--admin"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let token = link.split("invite=").nth(1).expect("a token").to_owned();
    let (status, ana) = form_signup(&d, "ana", Some(&token));
    assert!(status.contains("303"), "{status}");
    let (status, _, _) = d.page(&ana.expect("a session"), "/dashboard");
    assert!(
        status.contains("200"),
        "the invited account is an admin: {status}"
    );
    let (status, _) = form_signup(&d, "eve", Some(&token));
    assert!(status.contains("403"), "an invite works once: {status}");
    let (status, _) = form_signup(&d, "eve", Some("0123"));
    assert!(status.contains("403"), "{status}");

    // By invite: an admin makes one on the account page; the API takes it too.
    let d = drip("invite", &["--signup", "invite"]);
    let out = d.command(&["admin", "invite", "--admin"]);
    let token = String::from_utf8_lossy(&out.stdout)
        .trim()
        .split("invite=")
        .nth(1)
        .expect("a token")
        .to_owned();
    let (_, admin) = form_signup(&d, "root", Some(&token));
    let admin = admin.expect("a session");
    let (_, _, page) = d.page(&admin, "/account");
    let (status, _, page) = post_form(
        &d,
        "/account/invites",
        &admin,
        &format!("csrf={}", csrf_of(&page)),
    );
    assert!(status.contains("201"), "{status}");
    let made = page
        .split("id=\"invite-link\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .expect("the new link");
    let token = made.split("invite=").nth(1).expect("a token");
    let (status, body) = d.call(
        "POST",
        "/api/users",
        None,
        &format!(r#"{{"username":"bob","password":"password-bob","email":"bob@example.com","invite":"{token}"}}"#),
    );
    assert!(status.contains("201"), "{status} {body}");
    let (status, _) = d.call(
        "POST",
        "/api/users",
        None,
        r#"{"username":"eve","password":"password-eve","email":"eve@example.com"}"#,
    );
    assert!(status.contains("403"), "{status}");
}

#[test]
fn m9_log_out_ends_the_session_and_everywhere_ends_them_all() {
    let d = drip("sessions", &["--public-url", "https://drip.example"]);
    d.account("ana");
    let (pre, csrf) = d.form_token("/login");
    let (status, head, _) = post_form(
        &d,
        "/login",
        &pre,
        &format!("csrf={csrf}&username=ana&password=password-ana"),
    );
    assert!(status.contains("303"), "{status}");
    assert!(
        head.contains("; secure"),
        "served over https, the cookie is Secure: {head}"
    );
    let a = d.web_login("ana");
    let b = d.web_login("ana");
    let (token, _) = d.account_token("ana");
    // A copy of a's cookie, taken before log-out, dies with it.
    let copy = a.cookie.clone();
    let (status, _, _) = post_form(&d, "/logout", &a.cookie, &format!("csrf={}", a.csrf));
    assert!(status.contains("303"), "{status}");
    let (status, _, _) = d.page(&copy, "/files");
    assert!(
        status.contains("303"),
        "a logged-out session still works: {status}"
    );
    let (status, _, _) = d.page(&b.cookie, "/files");
    assert!(status.contains("200"), "{status}");
    // Everywhere: every browser session and API token of ana's.
    let c = d.web_login("ana");
    let (status, _, _) = post_form(
        &d,
        "/account/logout-everywhere",
        &c.cookie,
        &format!("csrf={}", c.csrf),
    );
    assert!(status.contains("303"), "{status}");
    for cookie in [&b.cookie, &c.cookie] {
        let (status, _, _) = d.page(cookie, "/files");
        assert!(status.contains("303"), "{status}");
    }
    let (status, _) = d.call("GET", "/api/files", Some(&token), "");
    assert!(status.contains("401"), "{status}");
    // A log-in form posted from another site (no pre-session cookie) is refused.
    let (status, _, _) = post_form(
        &d,
        "/login",
        "",
        "csrf=x&username=ana&password=password-ana",
    );
    assert!(status.contains("403"), "{status}");
}

#[test]
fn m9_an_empty_short_or_readable_key_file_is_refused_in_one_sentence() {
    use std::os::unix::fs::PermissionsExt;
    let d = drip("keyfile", &[]);
    let data = d.data.clone();
    drop(d);
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_drip"))
            .args([
                "--sname",
                "drip_keyfile2",
                "--cookie",
                "c",
                "--http",
                "127.0.0.1:1",
            ])
            .arg("--data")
            .arg(&data)
            .env("ERL_EPMD_PORT", harness::free_port().to_string())
            .stdin(Stdio::null())
            .output()
            .expect("drip runs")
    };
    let key = data.join("session.key");
    for (bytes, mode, says) in [
        (vec![], 0o600, "holds 0 bytes"),
        (vec![1u8; 8], 0o600, "holds 8 bytes"),
        (vec![1u8; 32], 0o644, "can be read by other users"),
    ] {
        std::fs::write(&key, &bytes).expect("written");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).expect("mode");
        let out = run();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(says), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}

#[test]
fn m4_limits_count_the_client_behind_a_trusted_proxy_and_back_off_per_name() {
    let d = drip("proxy", &["--trusted-proxies", "127.0.0.1/32"]);
    d.account("ana");
    let login_as = |name: &str, from: &str, password: &str| {
        let body = format!(r#"{{"username":"{name}","password":"{password}"}}"#);
        let (status, head, _) = request(
            d.http,
            "POST",
            "/api/sessions",
            &[
                ("Content-Type", "application/json"),
                ("X-Forwarded-For", from),
            ],
            &body,
        );
        (status, head)
    };
    let login = |from: &str, password: &str| login_as("ana", from, password);
    // Five wrong passwords from one client behind the proxy, then the name backs off: a
    // 429 that says when, for everyone (not a lock-out: it passes).
    for _ in 0..5 {
        let (status, _) = login("198.51.100.1", "wrong-wrong");
        assert!(status.contains("401"), "{status}");
    }
    let (status, head) = login("198.51.100.2", "password-ana");
    assert!(status.contains("429"), "{status}");
    let wait: u64 = head
        .lines()
        .find_map(|l| l.strip_prefix("retry-after: "))
        .and_then(|s| s.trim().parse().ok())
        .expect("Retry-After");
    assert!((1..=300).contains(&wait), "{wait}");
    wait_until(
        "the back-off to pass",
        Duration::from_secs(wait + 5),
        || login("198.51.100.2", "password-ana").0.contains("200"),
    );
    // Per address: wrong tries from one client (each at another name) until it must wait
    // (ten at once, then one every six seconds); then that client is refused at once while
    // another behind the same proxy is not.
    let refused = (0..40).any(|i| {
        let (status, _) = login_as(&format!("ghost{i}"), "203.0.113.7", "wrong-wrong");
        assert!(status.contains("401") || status.contains("429"), "{status}");
        status.contains("429")
    });
    assert!(
        refused,
        "forty wrong tries from one address were all let through"
    );
    assert!(login("203.0.113.7", "password-ana").0.contains("429"));
    assert!(login("203.0.113.8", "password-ana").0.contains("200"));
}

#[test]
fn m4_a_forwarded_header_from_a_stranger_changes_nothing() {
    // No --trusted-proxies: a client that forges a new X-Forwarded-For each time is still
    // itself, and runs out of tries as itself.
    let d = drip("forged", &[]);
    d.account("ana");
    let login = |name: &str, forged: &str, password: &str| {
        let body = format!(r#"{{"username":"{name}","password":"{password}"}}"#);
        request(
            d.http,
            "POST",
            "/api/sessions",
            &[
                ("Content-Type", "application/json"),
                ("X-Forwarded-For", forged),
            ],
            &body,
        )
        .0
    };
    let refused = (0..40).any(|i| {
        let status = login(&format!("nobody{i}"), &format!("10.9.8.{i}"), "wrong-wrong");
        assert!(status.contains("401") || status.contains("429"), "{status}");
        status.contains("429")
    });
    assert!(refused, "a new X-Forwarded-For each time made a new client");
    let status = login("ana", "10.0.0.99", "password-ana");
    assert!(status.contains("429"), "{status}");
}

#[test]
fn m1_metrics_need_the_token_or_their_own_listener_and_methods_add_no_labels() {
    let metrics = harness::free_port();
    let d = drip(
        "metrics",
        &[
            "--metrics-token",
            "prom-secret",
            "--metrics",
            &format!("127.0.0.1:{metrics}"),
        ],
    );
    // An odd method that hyper accepts, counted before the fix under its own label for ever.
    let _ = request(d.http, "FOO123", "/health", &[], "");
    let (status, _, _) = request(d.http, "GET", "/metrics", &[], "");
    assert!(status.contains("401"), "{status}");
    let (status, _, _) = request(
        d.http,
        "GET",
        "/metrics",
        &[("Authorization", "Bearer wrong")],
        "",
    );
    assert!(status.contains("401"), "{status}");
    let (status, _, body) = request(
        d.http,
        "GET",
        "/metrics",
        &[("Authorization", "Bearer prom-secret")],
        "",
    );
    assert!(status.contains("200"), "{status}");
    assert!(
        body.contains("method=\"other\"") && !body.contains("FOO123"),
        "{body}"
    );
    let (status, _, body) = request(metrics, "GET", "/metrics", &[], "");
    assert!(
        status.contains("200") && body.contains("erlang_vm_process_count"),
        "{status}"
    );
    // /health tells a stranger only that Drip is up.
    let (_, health) = d.call("GET", "/health", None, "");
    assert_eq!(health, serde_json::json!({ "ok": true }));
    let (_, health) = d.call("GET", "/health", Some("prom-secret"), "");
    assert!(
        health["node"]
            .as_str()
            .is_some_and(|n| n.starts_with("drip_metrics@")),
        "{health}"
    );
    // Without a token, /metrics is not on the main listener at all.
    let plain = drip("nometrics", &[]);
    let (status, _, _) = request(plain.http, "GET", "/metrics", &[], "");
    assert!(status.contains("404"), "{status}");
}

#[test]
fn l7_every_page_carries_the_security_headers() {
    let d = drip("headers", &[]);
    for path in ["/", "/login", "/api/openapi.json", "/nowhere"] {
        let (_, head, _) = request(d.http, "GET", path, &[], "");
        for h in [
            "x-content-type-options: nosniff",
            "x-frame-options: deny",
            "referrer-policy: same-origin",
            "content-security-policy: default-src 'none'; script-src 'sha256-",
        ] {
            assert!(head.contains(h), "{path} lacks {h}: {head}");
        }
    }
}

#[test]
fn l3_a_socket_from_another_site_is_refused() {
    let d = drip("origin", &[]);
    let (token, _) = d.account_token("ana");
    let handshake = |origin: &str| {
        let mut s = connect(&d);
        let request = format!(
            "GET /socket HTTP/1.1\r\nHost: localhost:{}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Authorization: Bearer {token}\r\nOrigin: {origin}\r\n\r\n",
            d.http
        );
        s.write_all(request.as_bytes()).expect("sent");
        let mut status = [0u8; 12];
        s.read_exact(&mut status).expect("an answer");
        String::from_utf8_lossy(&status).into_owned()
    };
    // What a page on another site (or another port of the host) would open with the
    // user's cookie: refused. Drip's own page: upgraded.
    assert_eq!(handshake("http://evil.example"), "HTTP/1.1 403");
    assert_eq!(
        handshake(&format!("http://localhost:{}", d.http + 1)),
        "HTTP/1.1 403"
    );
    assert_eq!(
        handshake(&format!("http://localhost:{}", d.http)),
        "HTTP/1.1 101"
    );
}

/// A raw connection to the drip.
fn connect(d: &Drip) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", d.http)).expect("connects");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    s
}

/// Whether the server closed `s` (reads to the end within the read timeout).
fn closed(s: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).is_ok()
}

#[test]
fn m8_slow_headers_stalled_bodies_and_idle_connections_are_cut() {
    let d = drip(
        "timeouts",
        &["--header-timeout", "2", "--body-timeout", "3"],
    );
    let (token, _) = d.account_token("ana");
    // Slowloris: half a request line, then nothing.
    let started = Instant::now();
    let mut slow = connect(&d);
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .expect("sent");
    assert!(closed(&mut slow), "the slow client was not cut");
    assert!(started.elapsed() < Duration::from_secs(20));
    // An upload whose body stops: cut, and nothing of it is kept.
    let mut stalled = connect(&d);
    let head = format!(
        "POST /api/files?path=%24&name=stalled.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: 1000000\r\n\r\n"
    );
    stalled.write_all(head.as_bytes()).expect("sent");
    stalled.write_all(&[7u8; 1000]).expect("sent");
    let mut answer = String::new();
    let _ = stalled.read_to_string(&mut answer);
    assert!(answer.is_empty() || !answer.contains(" 201 "), "{answer}");
    wait_until(
        "the stalled upload to leave nothing",
        Duration::from_secs(10),
        || std::fs::read_dir(d.data.join("spool")).map_or(0, |e| e.count()) == 0,
    );
    let (_, listing) = d.call("GET", "/api/files", Some(&token), "");
    assert_eq!(listing["files"], serde_json::json!([]), "{listing}");
    // An idle keep-alive connection is closed too.
    let mut idle = connect(&d);
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("sent");
    assert!(closed(&mut idle));
    // And the server is whole.
    let (status, _) = d.call("GET", "/health", None, "");
    assert!(status.contains("200"), "{status}");
}

#[test]
fn m8_connections_past_the_cap_wait_for_a_free_one() {
    let d = drip("cap", &["--max-connections", "2", "--header-timeout", "4"]);
    let _a = connect(&d);
    let _b = connect(&d);
    // The third is accepted by the kernel but not served while two are open.
    let mut c = connect(&d);
    c.set_read_timeout(Some(Duration::from_millis(1500)))
        .expect("timeout");
    c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("sent");
    let mut buf = [0u8; 64];
    assert!(c.read(&mut buf).is_err(), "served past the cap");
    // Once the two idle ones are cut (header timeout), it is.
    c.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut answer = String::new();
    let _ = c.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn m8_sigterm_with_a_live_page_and_a_stalled_upload_still_exits_in_time() {
    let mut d = drip("stop", &["--shutdown-timeout", "6"]);
    let (token, _) = d.account_token("ana");
    d.grant_admin("ana");
    let ana = d.web_login("ana");
    // A live dashboard page: server-sent events that never end.
    let mut live = connect(&d);
    let sse = format!(
        "GET /dashboard/node/{}/events HTTP/1.1\r\nHost: x\r\nCookie: {}\r\n\r\n",
        d.node, ana.cookie
    );
    live.write_all(sse.as_bytes()).expect("sent");
    let mut first = [0u8; 15];
    live.read_exact(&mut first).expect("the stream answers");
    assert_eq!(&first, b"HTTP/1.1 200 OK");
    // An upload that stopped sending.
    let mut stalled = connect(&d);
    let head = format!(
        "POST /api/files?path=%24&name=s.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: 1000000\r\n\r\n"
    );
    stalled.write_all(head.as_bytes()).expect("sent");
    stalled.write_all(&[1u8; 500]).expect("sent");
    // With --shutdown-timeout 6 it is gone well inside sigterm()'s 30 s, the page and the
    // upload notwithstanding (before the fix it waited for them for ever).
    let status = d.sigterm();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn l13_a_port_that_never_answers_as_epmd_does_not_hang_the_start() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("a listener");
    let port = silent.local_addr().expect("an address").port();
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("drip-silent-epmd-{}", std::process::id()));
    let started = Instant::now();
    let mut child = harness::Guard(
        Command::new(env!("CARGO_BIN_EXE_drip"))
            .args(["--sname", "drip_silent", "--cookie", "c"])
            .args(["--http", &format!("127.0.0.1:{}", harness::free_port())])
            .arg("--data")
            .arg(&dir)
            .env("ERL_EPMD_PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("drip starts"),
    );
    let status = wait_until(
        "drip to give up on the silent EPMD",
        Duration::from_secs(30),
        || child.0.try_wait().expect("waits"),
    );
    let mut err = String::new();
    if let Some(mut e) = child.0.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("does not answer as EPMD"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20));
    drop(silent);
}

#[test]
fn l15_a_file_swapped_between_users_in_the_database_and_the_bucket_does_not_open() {
    let d = drip("swap", &[]);
    let (ana, _) = d.account_token("ana");
    let (bob, _) = d.account_token("bob");
    let (_, a) = d.upload(&ana, "$", "a.bin", &support::bytes(200_000, 1));
    let (_, b) = d.upload(&bob, "$", "b.bin", &support::bytes(200_000, 2));
    let (a, b) = (
        a["id"].as_str().expect("an id"),
        b["id"].as_str().expect("an id"),
    );
    d.stored(&ana, a);
    d.stored(&bob, b);
    // Someone with the database and the bucket gives ana's row bob's key and object.
    let (a_object, b_object) = (d.object_of(a), d.object_of(b));
    let a_sealed = std::fs::read(&a_object).expect("a's object");
    let a_key = d.sql("SELECT wrapped_key FROM media WHERE id = ?", &[a]);
    let b_key = d.sql("SELECT wrapped_key FROM media WHERE id = ?", &[b]);
    std::fs::copy(&b_object, &a_object).expect("swapped");
    d.sql(
        "UPDATE media SET wrapped_key = ? WHERE id = ?",
        &[&b_key[0], a],
    );
    let (status, got) = d.download(&ana, a);
    assert!(
        !status.contains("200") || got != support::bytes(200_000, 2),
        "bob's file opened as ana's"
    );
    // The object alone, under ana's own key: refused too.
    d.sql(
        "UPDATE media SET wrapped_key = ? WHERE id = ?",
        &[&a_key[0], a],
    );
    let (status, got) = d.download(&ana, a);
    assert!(!status.contains("200") || got != support::bytes(200_000, 2));
    // Put back, it opens; bob's never stopped.
    std::fs::write(&a_object, &a_sealed).expect("restored");
    assert_eq!(d.download(&ana, a).1, support::bytes(200_000, 1));
    assert_eq!(d.download(&bob, b).1, support::bytes(200_000, 2));
}

#[test]
fn keys_rotate_rewraps_every_file_key_and_every_file_still_opens() {
    let mut d = drip("rotate", &[]);
    let (ana, _) = d.account_token("ana");
    let files: Vec<(String, Vec<u8>)> = (0..3)
        .map(|i| {
            let bytes = support::bytes(100_000 + i * 70_000, i as u8);
            let (_, body) = d.upload(&ana, "$", &format!("r{i}.bin"), &bytes);
            let id = body["id"].as_str().expect("an id").to_owned();
            d.stored(&ana, &id);
            (id, bytes)
        })
        .collect();
    let before = std::fs::read(d.data.join("master.key")).expect("the key");
    d.sigterm();
    let out = d.command(&["keys", "rotate"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("re-wrapped 3 file keys"), "{said}");
    assert_ne!(
        std::fs::read(d.data.join("master.key")).expect("the key"),
        before
    );
    assert_eq!(
        std::fs::read(d.data.join("master.key.old")).expect("the old key"),
        before
    );
    // Again, with the old key still there: nothing left to re-wrap.
    let again = d.command(&["keys", "rotate"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("re-wrapped 0 file keys"));
    // Without the old key every file opens (each was re-wrapped, the objects untouched).
    std::fs::remove_file(d.data.join("master.key.old")).expect("removed");
    let d = support::start("rotate", &[], d.data.clone(), d.epmd);
    for (id, bytes) in &files {
        let (status, got) = d.download(&ana, id);
        assert!(status.contains("200") && &got == bytes, "{id}: {status}");
    }
    // And a new upload is wrapped under the new key.
    let (_, body) = d.upload(&ana, "$", "after.bin", b"after the rotation");
    d.stored(&ana, body["id"].as_str().expect("an id"));
}
