//! What a user must not get at: another user's live topic, an upload past the limit, and
//! Drip's secrets (the master key, the session key, the distribution cookie), which appear in
//! no page, no API answer, no metric and no log line.

mod support;

use std::time::Duration;

use support::{bytes, drip, Socket};

#[test]
fn a_socket_joins_only_its_own_topic() {
    let d = drip("topics", &[]);
    let (ana, ana_id) = d.account("ana");
    let (bob, bob_id) = d.account("bob");
    let mut snoop = Socket::open(d.http, &bob);
    let refused = snoop.join(&format!("user:{ana_id}"));
    assert_eq!(refused["event"], "refused", "{refused}");
    assert_eq!(snoop.join("user:*")["event"], "refused");
    assert_eq!(snoop.join(&format!("user:{bob_id}"))["event"], "joined");
    let mut own = Socket::open(d.http, &ana);
    assert_eq!(own.join(&format!("user:{ana_id}"))["event"], "joined");
    let (status, body) = d.upload(&ana, "$/p", "private.bin", b"private");
    assert!(status.contains("201"), "{status} {body}");
    // ana hears of her upload; bob's socket, refused her topic, hears nothing of it.
    own.next(|v| v["kind"] == "upload_done");
    assert_eq!(
        snoop.within(Duration::from_secs(2), |v| v["event"] == "notice"),
        None
    );
    // No socket at all without a session or a token.
    let (status, _, _) = harness::http::request(
        d.http,
        "GET",
        "/socket",
        &[
            ("Connection", "Upgrade"),
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ],
        "",
    );
    assert!(status.contains("401"), "{status}");
}

#[test]
fn an_oversize_upload_is_refused_and_leaves_nothing() {
    let d = drip("oversize", &["--max-upload", "100000"]);
    let ana = d.user("ana");
    let (status, body) = d.upload(&ana, "$/p", "big.bin", &bytes(100_001, 1));
    assert!(status.contains("413"), "{status} {body}");
    assert!(body["error"].as_str().is_some(), "{body}");
    let (status, body) = d.upload(&ana, "$/p", "fits.bin", &bytes(100_000, 1));
    assert!(status.contains("201"), "{status} {body}");
    d.stored(&ana, body["id"].as_str().expect("an id"));
    let (_, list) = d.call("GET", "/api/files?path=%24/p", Some(&ana), "");
    assert_eq!(list["files"].as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(
        std::fs::read_dir(d.data.join("spool"))
            .expect("spool")
            .count(),
        0
    );
}

#[test]
fn the_master_key_session_key_and_cookie_appear_nowhere() {
    let d = drip("secrets", &["--metrics-token", "scrape-token"]);
    let (ana, _) = d.account("ana");
    let (status, body) = d.upload(&ana, "$/p", "a.bin", &bytes(70_000, 9));
    assert!(status.contains("201"), "{status} {body}");
    let id = body["id"].as_str().expect("an id").to_owned();
    d.stored(&ana, &id);
    // A failed log-in and an unknown route are logged or answered too.
    let _ = d.call(
        "POST",
        "/api/sessions",
        None,
        r#"{"username":"ana","password":"wrong-password"}"#,
    );
    let master = std::fs::read_to_string(d.data.join("master.key")).expect("the master key");
    let master = master.trim().to_owned();
    let session = hex::encode(std::fs::read(d.data.join("session.key")).expect("the session key"));
    assert_eq!(master.len(), 64);
    let mut seen = String::new();
    for path in [
        "/",
        "/login",
        "/signup",
        "/health",
        "/metrics",
        "/api/openapi.json",
        "/api/files?path=%24/p",
        &format!("/api/files/{id}"),
        "/nowhere",
    ] {
        let (status, body) = d.get_bytes(&ana, path);
        seen.push_str(&status);
        seen.push_str(&String::from_utf8_lossy(&body));
        // And as Prometheus sees them (the node's whole exposition, /health's details).
        let (status, body) = d.get_bytes("scrape-token", path);
        seen.push_str(&status);
        seen.push_str(&String::from_utf8_lossy(&body));
    }
    seen.push_str(&std::fs::read_to_string(d.data.join("drip.log")).expect("the log"));
    for (what, secret) in [
        ("the master key", master.as_str()),
        ("the session key", session.as_str()),
        ("the cookie", "dripcookie"),
    ] {
        assert!(!seen.contains(secret), "{what} leaked");
        // Nor a recognisable part of it.
        assert!(
            !seen.contains(&secret[..secret.len().min(16)]),
            "part of {what} leaked"
        );
    }
    assert!(
        seen.contains("drip_secrets@"),
        "the pages were read: {seen:.300}"
    );
}
