//! Drip's storage backends end to end: an S3-compatible bucket on a real S3 server started on
//! loopback (moto's `moto_server`), and what a user sees when storage is unreachable — a clear
//! error, and nothing half-written (no row, no object, no spool, no open multipart upload).
//! A store that is down for a few seconds and comes back loses nothing, and a storage stage
//! killed mid-write leaves no multipart upload open.

mod support;

use std::time::Duration;

use harness::s3::S3Server;
use support::{bytes, drip, on_s3, spool_files, Drip, Socket};

/// Uploads `data` as `name`: it is answered 503 with the storage's sentence (storage is tried
/// again with back-off, half a minute, before the upload is given up), never 2xx, and its
/// `upload_failed` notice comes too: the notice's text.
fn upload_fails(d: &Drip, token: &str, user_id: &str, name: &str, data: &[u8]) -> String {
    let mut socket = Socket::open(d.http, token);
    assert_eq!(socket.join(&format!("user:{user_id}"))["event"], "joined");
    let (status, body) = d.upload(token, "$/x", name, data);
    assert!(status.contains("503"), "{status} {body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("the storage failed")),
        "{body}"
    );
    let full_path = format!("$/x/{name}");
    let notice = socket
        .within(Duration::from_secs(120), |v| {
            v["event"] == "notice"
                && v["text"]
                    .as_str()
                    .is_some_and(|t| t.starts_with(&full_path))
        })
        .expect("the upload's notice");
    let id = notice["media_id"].as_str().expect("an id").to_owned();
    assert_eq!(notice["kind"], "upload_failed", "{notice}");
    // No row is left, and no spool.
    let (status, _) = d.call("GET", &format!("/api/files/{id}"), Some(token), "");
    assert!(status.contains("404"), "{status}");
    assert_eq!(spool_files(d), Vec::<String>::new());
    notice["text"].as_str().expect("a text").to_owned()
}

#[test]
fn files_go_to_an_s3_bucket_sealed_and_an_unreachable_bucket_is_a_clear_error() {
    let mut s3 = S3Server::start();
    s3.create_bucket("drip-files");
    let d = on_s3("s3", &s3, &[]);
    let (ana, ana_id) = d.account("ana");
    // 11 MB: three parts of a multipart upload (S3's parts are 5 MiB at least).
    let original = bytes(11_000_007, 5);
    let (status, body) = d.upload(&ana, "$/big", "video.bin", &original);
    assert!(status.contains("201"), "{status} {body}");
    let id = body["id"].as_str().expect("an id").to_owned();
    d.stored(&ana, &id);
    let keys = s3.keys("drip-files");
    assert_eq!(keys.len(), 1, "{keys:?}");
    let object = s3.object("drip-files", &keys[0]);
    assert!(object.starts_with(b"DRIP\x02"), "the object is not sealed");
    assert!(!object.windows(64).any(|w| w == &original[5000..5064]));
    assert_eq!(s3.open_uploads("drip-files"), 0);
    let (status, got) = d.download(&ana, &id);
    assert!(
        status.contains("200") && got == original,
        "{status} {}",
        got.len()
    );
    // Deleting the file deletes its object.
    let (status, _) = d.call("DELETE", &format!("/api/files/{id}"), Some(&ana), "");
    assert!(status.contains("204"), "{status}");
    assert!(s3.keys("drip-files").is_empty());

    // A file stored, then the store goes away.
    let (_, body) = d.upload(&ana, "$/big", "kept.bin", b"kept");
    let kept = body["id"].as_str().expect("an id").to_owned();
    d.stored(&ana, &kept);
    s3.stop();
    let text = upload_fails(&d, &ana, &ana_id, "lost.bin", &bytes(100_000, 1));
    assert!(
        text.starts_with("$/x/lost.bin could not be stored: the storage failed"),
        "{text}"
    );
    // A download says so too, in JSON.
    let (status, error) = d.call("GET", &format!("/api/files/{kept}/content"), Some(&ana), "");
    assert!(status.contains("503"), "{status} {error}");
    assert!(
        error["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("the storage failed")),
        "{error}"
    );
}

#[test]
fn unreachable_local_storage_is_a_clear_error_and_leaves_nothing() {
    let d = drip("nostore", &["--metrics-token", "nostore-metrics"]);
    let (ana, ana_id) = d.account("ana");
    // The objects directory becomes a file: every write to storage fails.
    let objects = d.data.join("objects");
    std::fs::remove_dir_all(&objects).expect("removed");
    std::fs::write(&objects, b"not a directory").expect("a file in its place");
    let text = upload_fails(&d, &ana, &ana_id, "doc.bin", &bytes(3_000_000, 2));
    assert!(
        text.starts_with("$/x/doc.bin could not be stored: the storage failed"),
        "{text}"
    );
    // Each failed try counted, for the DripStorageErrors alert; no read failed.
    let scrape = support::monitoring::scrape(d.http, "nostore-metrics");
    let value = |series: &str| -> f64 {
        scrape
            .lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{scrape}"))
    };
    assert!(
        value("drip_storage_errors_total{operation=\"write\"}") >= 1.0,
        "{scrape}"
    );
    assert_eq!(value("drip_storage_errors_total{operation=\"read\"}"), 0.0);
    // Storage back: nothing of the failed upload is in it, and uploads work again.
    std::fs::remove_file(&objects).expect("removed");
    std::fs::create_dir(&objects).expect("made");
    let (_, body) = d.upload(&ana, "$/x", "again.bin", b"again");
    let id = body["id"].as_str().expect("an id").to_owned();
    d.stored(&ana, &id);
    let (_, list) = d.call("GET", "/api/files?path=%24/x", Some(&ana), "");
    assert_eq!(list["files"].as_array().map(Vec::len), Some(1), "{list}");
    let mut count = 0;
    let mut todo = vec![objects];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(dir).expect("listed").flatten() {
            if e.path().is_dir() {
                todo.push(e.path());
            } else {
                count += 1;
            }
        }
    }
    assert_eq!(count, 1, "a failed upload left an object or a staging file");
    d.checked_clean();
}

#[test]
fn s3_stopped_and_started_again_mid_upload_loses_nothing() {
    let mut s3 = S3Server::start();
    s3.create_bucket("drip-files");
    let d = on_s3("s3again", &s3, &[]);
    let (ana, ana_id) = d.account("ana");
    let mut socket = Socket::open(d.http, &ana);
    assert_eq!(socket.join(&format!("user:{ana_id}"))["event"], "joined");
    let original = bytes(12_000_000, 8);
    // The store goes away while the pipeline has the file (its body whole in the spool), for
    // five seconds; the request waits, and is answered 201 once it is stored. moto comes
    // back empty: its bucket is made again.
    let (status, body) = std::thread::scope(|scope| {
        let upload = scope.spawn(|| d.upload(&ana, "$/s", "again.bin", &original));
        harness::wait_until("the pipeline to have it", Duration::from_secs(60), || {
            spool_files(&d).iter().any(|f| !f.ends_with(".part"))
        });
        s3.stop();
        std::thread::sleep(Duration::from_secs(5));
        s3.start_again();
        s3.create_bucket("drip-files");
        upload.join().expect("the upload")
    });
    assert!(status.contains("201"), "{status} {body}");
    let id = body["id"].as_str().expect("an id").to_owned();
    assert!(!body["uploaded_at"].is_null(), "{body}");
    let notice = socket.next(|v| v["event"] == "notice" && v["media_id"] == id.as_str());
    assert_eq!(notice["kind"], "upload_done", "{notice}");
    let (status, got) = d.download(&ana, &id);
    assert!(status.contains("200") && got == original, "{status}");
    assert_eq!(s3.keys("drip-files").len(), 1);
    assert_eq!(s3.open_uploads("drip-files"), 0);
    harness::wait_until("the spool to empty", Duration::from_secs(20), || {
        spool_files(&d).is_empty()
    });
    d.checked_clean();
}

#[test]
fn a_storage_stage_killed_mid_write_leaves_no_multipart_upload_open() {
    use std::io::Write;
    let s3 = S3Server::start();
    s3.create_bucket("drip-files");
    let d = on_s3("s3kill", &s3, &[]);
    let ana = d.user("ana");
    // A real erl node, connected first, kills both storage stages the moment it is told.
    let eval = format!(
        "D = '{}', pong = net_adm:ping(D), io:get_line(\"\"), \
         [rpc:call(D, erlang, exit, [rpc:call(D, erlang, whereis, [N]), kill]) \
          || N <- ['upload.storage.1', 'upload.storage.2']], halt().",
        d.node
    );
    let mut killer = std::process::Command::new("erl")
        .args([
            "-sname",
            "drip_s3killer",
            "-setcookie",
            "dripcookie",
            "-noshell",
            "-eval",
            &eval,
        ])
        .env("ERL_EPMD_PORT", d.epmd.to_string())
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("erl runs");
    // Sixteen parts of 5 MiB: the write takes a while.
    let original = bytes(80_000_000, 9);
    let (status, body) = std::thread::scope(|scope| {
        // Its answer may take longer than `upload`'s minute: the stages start again and
        // write it anew.
        let upload = scope.spawn(|| {
            let mut up = d.begin_upload(&ana, "$/s", "big.bin", Some(original.len()));
            assert!(up.send(&original));
            up.answer(Duration::from_secs(300)).expect("an answer")
        });
        harness::wait_until(
            "a multipart upload to begin",
            Duration::from_secs(60),
            || s3.open_uploads("drip-files") > 0,
        );
        let mut told = killer.stdin.take().expect("erl's input");
        told.write_all(b"kill\n").expect("erl told");
        drop(told);
        let out = killer.wait().expect("erl ends");
        assert!(out.success(), "the erl node failed");
        upload.join().expect("the upload")
    });
    // Answered once the restarted stages stored it.
    assert!(status.contains("201"), "{status} {body}");
    let id = body["id"].as_str().expect("an id").to_owned();
    // The restarted stages store it; the killed write was aborted. An attempt of the task
    // still under way beside the restarted one (sent back to the queue while a stage before
    // storage had it) writes its own object and deletes it: the object the row names never
    // changes, so a download reading it range by range is never cut at a range's end.
    d.stored_within(&ana, &id, Duration::from_secs(120));
    let versions: Vec<(String, String)> = s3
        .keys("drip-files")
        .into_iter()
        .map(|k| (s3.etag("drip-files", &k), k))
        .collect();
    let (status, got) = d.download(&ana, &id);
    let differs = got.iter().zip(&original).position(|(a, b)| a != b);
    assert!(
        status.contains("200") && got == original,
        "{status}: {} bytes, first difference at {differs:?}",
        got.len()
    );
    harness::wait_until(
        "no multipart upload left open",
        Duration::from_secs(30),
        || s3.open_uploads("drip-files") == 0,
    );
    harness::wait_until("the spool to empty", Duration::from_secs(60), || {
        spool_files(&d).is_empty()
    });
    let keys = s3.keys("drip-files");
    assert_eq!(keys.len(), 1, "{keys:?}");
    let version = (s3.etag("drip-files", &keys[0]), keys[0].clone());
    assert!(
        versions.contains(&version),
        "written over: {versions:?} then {version:?}"
    );
    d.checked_clean();
}
