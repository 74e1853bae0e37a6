//! Drip's JSON API end to end, against the `drip` binary on its embedded defaults (SQLite,
//! local disk, its own EPMD) in a scratch data directory: accounts and tokens, an upload
//! through the pipeline and the same bytes back, folders without the book's prefix bug,
//! sharing, every route refusing another user's file, limits, traversal, and tampering.

mod support;

use support::{bytes, drip, Drip, Socket};

#[test]
fn an_upload_goes_through_the_pipeline_encrypted_and_comes_back_the_same() {
    exercise(&drip("api", &["--quota", "3000000"]));
}

/// The same on PostgreSQL (a real server this test starts), as a cluster's nodes share it.
#[test]
fn the_same_on_postgresql() {
    let pg = harness::postgres::Postgres::start("drip-api");
    exercise(&drip(
        "apipg",
        &["--quota", "3000000", "--database", &pg.url],
    ));
}

/// The two-step download with a short idle time, and files over `--cache-max` streaming: the
/// link serves the file while its cache lives, every hit keeps it alive, and once it has sat
/// idle it answers 410.
#[test]
fn a_download_link_lives_while_its_cache_is_used() {
    let d = drip("cache", &["--cache-idle", "2", "--cache-max", "100000"]);
    let (ana, ana_id) = d.account("ana");
    let mut socket = Socket::open(d.http, &ana);
    assert_eq!(socket.join(&format!("user:{ana_id}"))["event"], "joined");
    for (name, size) in [("small.bin", 50_000), ("large.bin", 300_000)] {
        let original = bytes(size, 4);
        let (_, body) = d.upload(&ana, "$/c", name, &original);
        let id = body["id"].as_str().expect("an id").to_owned();
        d.stored(&ana, &id);
        let link = format!("/api/files/{id}/cached");
        let (status, _) = d.get_bytes(&ana, &link);
        assert!(status.contains("410"), "no cache yet: {status}");
        let (status, _) = d.call("POST", &format!("/api/files/{id}/download"), Some(&ana), "");
        assert!(status.contains("202"), "{status}");
        let ready = socket.next(|v| v["kind"] == "download_ready" && v["media_id"] == id.as_str());
        assert_eq!(ready["link"], format!("/files/{id}/cached"));
        // Hits a second apart for three seconds: each keeps the cache (idle time 2 s).
        for _ in 0..3 {
            let (status, got) = d.get_bytes(&ana, &link);
            assert!(
                status.contains("200") && got == original,
                "{name}: {status}"
            );
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
        std::thread::sleep(std::time::Duration::from_secs(3));
        let (status, body) = d.get_bytes(&ana, &link);
        assert!(
            status.contains("410"),
            "{name}: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
}

fn exercise(d: &Drip) {
    let ana = d.user("ana");
    let original = bytes(1_000_003, 7);
    let (status, body) = d.upload(&ana, "$/docs", "big.bin", &original);
    assert!(status.contains("201"), "{status} {body}");
    let id = body["id"].as_str().expect("an id").to_owned();
    let m = d.stored(&ana, &id);
    assert_eq!(
        (m["full_path"].as_str(), m["size"].as_i64()),
        (Some("$/docs/big.bin"), Some(1_000_003))
    );
    let (status, got) = d.download(&ana, &id);
    assert!(status.contains("200"), "{status}");
    assert!(
        got == original,
        "the bytes came back different ({} bytes)",
        got.len()
    );
    // Nothing in plaintext reached storage: the object is sealed (no run of the original in it).
    let objects = d.data.join("objects");
    let object = std::fs::read_dir(&objects)
        .expect("objects")
        .flatten()
        .flat_map(|u| {
            std::fs::read_dir(u.path())
                .expect("a user's objects")
                .flatten()
        })
        .map(|e| std::fs::read(e.path()).expect("an object"))
        .next()
        .expect("one object");
    assert!(object.starts_with(b"DRIP\x02"));
    assert!(!object.windows(64).any(|w| w == &original[1000..1064]));
    // The spool is gone.
    assert_eq!(
        std::fs::read_dir(d.data.join("spool"))
            .expect("spool")
            .count(),
        0
    );

    // Folders: `$/abc` does not list `$/abcdef`'s files.
    for (path, name) in [
        ("$/abc", "a.txt"),
        ("$/abcdef", "b.txt"),
        ("$/abc/x", "c.txt"),
    ] {
        let (status, body) = d.upload(&ana, path, name, b"hello");
        assert!(status.contains("201"), "{status} {body}");
        d.stored(&ana, body["id"].as_str().expect("an id"));
    }
    let (_, list) = d.call("GET", "/api/files?path=%24/abc", Some(&ana), "");
    let names: Vec<&str> = list["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(names, ["a.txt"], "{list}");
    assert_eq!(
        list["folders"],
        serde_json::json!([{ "name": "x", "files": 1, "size": 5 }]),
        "{list}"
    );
    let (_, root) = d.call("GET", "/api/files?path=%24", Some(&ana), "");
    let folders: Vec<&str> = root["folders"]
        .as_array()
        .expect("folders")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(folders, ["abc", "abcdef", "docs"], "{root}");

    // Rename and move.
    let (status, m) = d.call(
        "PATCH",
        &format!("/api/files/{id}"),
        Some(&ana),
        r#"{"name":"renamed.bin","path":"$/moved"}"#,
    );
    assert!(
        status.contains("200") && m["full_path"] == "$/moved/renamed.bin",
        "{status} {m}"
    );

    // Another user sees none of it, on any route.
    let bob = d.user("bob");
    for (method, path, json) in [
        ("GET", format!("/api/files/{id}"), ""),
        ("GET", format!("/api/files/{id}/content"), ""),
        (
            "PATCH",
            format!("/api/files/{id}"),
            r#"{"name":"mine.bin"}"#,
        ),
        ("DELETE", format!("/api/files/{id}"), ""),
        (
            "POST",
            format!("/api/files/{id}/shares"),
            r#"{"username":"bob"}"#,
        ),
        ("DELETE", format!("/api/files/{id}/shares/bob"), ""),
    ] {
        let (status, body) = d.call(method, &path, Some(&bob), json);
        assert!(status.contains("404"), "{method} {path}: {status} {body}");
        assert!(body["error"].is_string(), "{body}");
    }
    let (_, bobs) = d.call("GET", "/api/files?path=%24/moved", Some(&bob), "");
    assert_eq!(bobs["files"], serde_json::json!([]), "{bobs}");

    // Shared, bob reads it; revoked, he cannot.
    let (status, _) = d.call(
        "POST",
        &format!("/api/files/{id}/shares"),
        Some(&ana),
        r#"{"username":"bob"}"#,
    );
    assert!(status.contains("201"), "{status}");
    let (status, _) = d.call(
        "POST",
        &format!("/api/files/{id}/shares"),
        Some(&ana),
        r#"{"username":"bob"}"#,
    );
    assert!(status.contains("409"), "{status}");
    let (status, body) = d.call(
        "POST",
        &format!("/api/files/{id}/shares"),
        Some(&ana),
        r#"{"username":"nobody-at-all"}"#,
    );
    assert!(
        status.contains("422") && body["error"] == "no such user",
        "{status} {body}"
    );
    let (status, got) = d.download(&bob, &id);
    assert!(status.contains("200") && got == original, "{status}");
    let (_, shared) = d.call("GET", "/api/shared", Some(&bob), "");
    assert_eq!(shared["files"][0]["owner"], "ana", "{shared}");
    let (status, _) = d.call(
        "DELETE",
        &format!("/api/files/{id}/shares/bob"),
        Some(&ana),
        "",
    );
    assert!(status.contains("204"), "{status}");
    let (status, _) = d.download(&bob, &id);
    assert!(status.contains("404"), "{status}");

    // Limits and rules.
    let (status, body) = d.upload(&ana, "$/docs", "huge.bin", &bytes(2_500_000, 1));
    assert!(
        status.contains("413") && body["error"].as_str().is_some_and(|e| e.contains("quota")),
        "{status} {body}"
    );
    for (path, name) in [
        ("$/../etc", "x"),
        ("$/a/", "x"),
        ("/etc", "x"),
        ("$/docs", ".."),
    ] {
        let (status, body) = d.upload(&ana, path, name, b"x");
        assert!(status.contains("400"), "{path} {name}: {status} {body}");
    }
    let (status, _) = d.upload(&ana, "$/abc", "a.txt", b"again");
    assert!(
        status.contains("409"),
        "a name taken in its folder: {status}"
    );
    assert_eq!(
        std::fs::read_dir(d.data.join("spool"))
            .expect("spool")
            .count(),
        0,
        "refused uploads leave no spool"
    );
    let (status, body) = d.call("GET", "/api/files", None, "");
    assert!(
        status.contains("401") && body["error"].is_string(),
        "{status} {body}"
    );
    let (status, _) = d.call(
        "POST",
        "/api/sessions",
        None,
        r#"{"username":"ana","password":"wrong-password"}"#,
    );
    assert!(status.contains("401"), "{status}");
    let (status, body) = d.call(
        "POST",
        "/api/users",
        None,
        r#"{"username":"ana","password":"12345678","email":"a@b.co"}"#,
    );
    assert!(status.contains("409"), "{status} {body}");
    let (status, _) = d.call(
        "POST",
        "/api/users",
        None,
        r#"{"username":"carl","password":"short","email":"c@b.co"}"#,
    );
    assert!(status.contains("400"), "{status}");

    // A tampered object is refused on download: the body is cut before anything unverified.
    let object = d.object_of(&id);
    let mut sealed = std::fs::read(&object).expect("the object");
    let at = sealed.len() / 2;
    sealed[at] ^= 0x40;
    std::fs::write(&object, &sealed).expect("tampered");
    let (_, got) = d.download(&ana, &id);
    assert!(
        got.len() < original.len() && original.starts_with(&got),
        "{} bytes came",
        got.len()
    );

    // Deleting removes the object too; logging out ends the token.
    let (status, _) = d.call("DELETE", &format!("/api/files/{id}"), Some(&ana), "");
    assert!(status.contains("204"), "{status}");
    assert!(!object.exists(), "the object is gone with its row");
    let (status, _) = d.call("DELETE", "/api/sessions", Some(&ana), "");
    assert!(status.contains("204"), "{status}");
    let (status, _) = d.call("GET", "/api/files", Some(&ana), "");
    assert!(status.contains("401"), "{status}");

    // Log-ins are rate limited: after five failures even the right password waits.
    for _ in 0..4 {
        let (status, _) = d.call(
            "POST",
            "/api/sessions",
            None,
            r#"{"username":"bob","password":"not-his-password"}"#,
        );
        assert!(status.contains("401"), "{status}");
    }
    let (status, _) = d.call(
        "POST",
        "/api/sessions",
        None,
        r#"{"username":"bob","password":"not-his-password"}"#,
    );
    assert!(status.contains("401"), "{status}");
    let (status, body) = d.call(
        "POST",
        "/api/sessions",
        None,
        r#"{"username":"bob","password":"password-bob"}"#,
    );
    assert!(status.contains("429"), "{status} {body}");

    // The API describes itself.
    let (status, doc) = d.call("GET", "/api/openapi.json", None, "");
    assert!(
        status.contains("200") && doc["openapi"] == "3.0.3",
        "{status}"
    );
    for path in [
        "/api/users",
        "/api/sessions",
        "/api/files",
        "/api/files/{id}",
        "/api/files/{id}/content",
        "/api/files/{id}/download",
        "/api/files/{id}/cached",
        "/api/files/{id}/shares",
        "/api/files/{id}/shares/{username}",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is described");
    }
}
