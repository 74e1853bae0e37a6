//! Drip's storage backends end to end: an S3-compatible bucket on a real S3 server started on
//! loopback (moto's `moto_server`), and what a user sees when storage is unreachable — a clear
//! error, and nothing half-written (no row, no object, no spool, no open multipart upload).

mod support;

use std::path::PathBuf;

use support::{bytes, drip, start_with, Drip, Socket};

/// Uploads `data` as `name` and waits for its `upload_failed` notice: the notice's text.
fn upload_fails(d: &Drip, token: &str, user_id: &str, name: &str, data: &[u8]) -> String {
    let mut socket = Socket::open(d.http, token);
    assert_eq!(socket.join(&format!("user:{user_id}"))["event"], "joined");
    let (status, body) = d.upload(token, "$/x", name, data);
    assert!(status.contains("202"), "{status} {body}");
    let id = body["id"].as_str().expect("an id").to_owned();
    let notice = socket.next(|v| v["event"] == "notice" && v["media_id"] == id.as_str());
    assert_eq!(notice["kind"], "upload_failed", "{notice}");
    // No row is left, and no spool.
    let (status, _) = d.call("GET", &format!("/api/files/{id}"), Some(token), "");
    assert!(status.contains("404"), "{status}");
    assert_eq!(
        std::fs::read_dir(d.data.join("spool"))
            .expect("spool")
            .count(),
        0
    );
    notice["text"].as_str().expect("a text").to_owned()
}

#[test]
fn files_go_to_an_s3_bucket_sealed_and_an_unreachable_bucket_is_a_clear_error() {
    let mut s3 = harness::s3::S3Server::start();
    s3.create_bucket("drip-files");
    let endpoint = s3.endpoint();
    let env = [
        ("AWS_ENDPOINT", endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "drip-test"),
        ("AWS_SECRET_ACCESS_KEY", "drip-test-secret"),
    ];
    let data =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("drip-s3-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let d = start_with(
        "s3",
        &["--storage", "s3://drip-files"],
        data,
        harness::free_port(),
        &env,
    );
    let (ana, ana_id) = d.account("ana");
    // 11 MB: three parts of a multipart upload (S3's parts are 5 MiB at least).
    let original = bytes(11_000_007, 5);
    let (status, body) = d.upload(&ana, "$/big", "video.bin", &original);
    assert!(status.contains("202"), "{status} {body}");
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
    let d = drip("nostore", &[]);
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
}
