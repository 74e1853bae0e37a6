//! Accepting uploads: the quota holds exactly under parallel uploads (on one node and on two
//! nodes sharing PostgreSQL), a taken name or an upload over the quota is refused before any
//! byte of its body, what Drip keeps on disk is private to it, and the upload form refuses
//! endless fields of other names. Each test ends with `drip check` finding nothing.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use harness::http::request_raw;
use support::{bytes, drip, spool_files, start, Drip};

/// Bytes `token`'s user stores under `$/q`, by the listing.
fn stored_in_q(d: &Drip, token: &str) -> u64 {
    let (_, list) = d.call("GET", "/api/files?path=%24/q", Some(token), "");
    list["files"]
        .as_array()
        .expect("a listing")
        .iter()
        .map(|f| f["size"].as_u64().expect("a size"))
        .sum()
}

/// Uploads `each` bytes as `name{i}` for each `(drip, i)` at once (a barrier lines them up
/// after their headers and again halfway through the body): each answer's status.
fn at_once(jobs: Vec<(Arc<Drip>, usize)>, token: &str, each: usize, chunked: bool) -> Vec<String> {
    let barrier = Arc::new(Barrier::new(jobs.len()));
    let threads: Vec<_> = jobs
        .into_iter()
        .map(|(d, i)| {
            let (barrier, token) = (barrier.clone(), token.to_owned());
            std::thread::spawn(move || {
                let data = bytes(each, i as u8);
                let length = (!chunked).then_some(each);
                let mut up = d.begin_upload(&token, "$/q", &format!("f{i}.bin"), length);
                barrier.wait();
                up.send(&data[..each / 2]);
                barrier.wait();
                up.send(&data[each / 2..]);
                let (status, body) = up.finish();
                if let Some(id) = body["id"].as_str() {
                    d.stored(&token, id);
                }
                status
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().expect("an uploader"))
        .collect()
}

fn accepted(statuses: &[String]) -> usize {
    for s in statuses {
        assert!(s.contains("201") || s.contains("413"), "{s}");
    }
    statuses.iter().filter(|s| s.contains("201")).count()
}

#[test]
fn two_parallel_uploads_over_the_quota_hold_it_exactly() {
    let d = Arc::new(drip("quota2", &["--quota", "1000000"]));
    let ana = d.user("ana");
    // Two of 600 000 bytes where 1 000 000 fit: one is refused, with a length given …
    let statuses = at_once(vec![(d.clone(), 0), (d.clone(), 1)], &ana, 600_000, false);
    assert_eq!(accepted(&statuses), 1, "{statuses:?}");
    assert_eq!(stored_in_q(&d, &ana), 600_000);
    // … and without one (chunked: the reservation grows as the bytes come).
    let statuses = at_once(vec![(d.clone(), 2), (d.clone(), 3)], &ana, 300_000, true);
    assert_eq!(accepted(&statuses), 1, "{statuses:?}");
    assert_eq!(stored_in_q(&d, &ana), 900_000);
    // Exactly: what is left fits, one byte more does not.
    let (status, body) = d.upload(&ana, "$/q", "rest.bin", &bytes(100_001, 9));
    assert!(status.contains("413"), "{status} {body}");
    let (status, body) = d.upload(&ana, "$/q", "rest.bin", &bytes(100_000, 9));
    assert!(status.contains("201"), "{status} {body}");
    d.stored(&ana, body["id"].as_str().expect("an id"));
    assert_eq!(stored_in_q(&d, &ana), 1_000_000);
    assert!(spool_files(&d).is_empty(), "{:?}", spool_files(&d));
    d.checked_clean();
}

#[test]
fn twenty_parallel_uploads_on_two_nodes_hold_the_quota_exactly() {
    let pg = harness::postgres::Postgres::start("drip-quota");
    // One database and one storage, as a cluster's nodes have.
    let shared = support::scratch("q-objects");
    let storage = format!("file://{}", shared.display());
    let args = [
        "--quota",
        "1000000",
        "--database",
        &pg.url,
        "--storage",
        &storage,
    ];
    let epmd = harness::free_port();
    let a = Arc::new(start("qa", &args, support::scratch("qa"), epmd));
    let b = Arc::new(start("qb", &args, support::scratch("qb"), epmd));
    // One account (in the shared database), its token good on both nodes.
    let ana = a.user("ana");
    // Twenty of 100 000 bytes, ten through each node, where 1 000 000 fit: ten are taken.
    let jobs = (0..20)
        .map(|i| (if i % 2 == 0 { a.clone() } else { b.clone() }, i))
        .collect();
    let statuses = at_once(jobs, &ana, 100_000, false);
    assert_eq!(accepted(&statuses), 10, "{statuses:?}");
    assert_eq!(stored_in_q(&a, &ana), 1_000_000);
    // Chunked, with the quota full: every one refused, nothing kept.
    let jobs = (20..24)
        .map(|i| (if i % 2 == 0 { a.clone() } else { b.clone() }, i))
        .collect();
    assert_eq!(accepted(&at_once(jobs, &ana, 10_000, true)), 0);
    assert_eq!(stored_in_q(&b, &ana), 1_000_000);
    a.checked_clean();
    b.checked_clean();
}

#[test]
fn a_taken_name_or_an_upload_over_the_quota_is_refused_before_any_byte() {
    let d = drip("early", &["--quota", "5000000", "--max-upload", "4000000"]);
    let ana = d.user("ana");
    let (status, body) = d.upload(&ana, "$/q", "taken.bin", b"first");
    assert!(status.contains("201"), "{status} {body}");
    d.stored(&ana, body["id"].as_str().expect("an id"));
    for (name, length, want) in [
        ("taken.bin", 1_000_000, "409"),
        ("over-quota.bin", 3_999_999, "201"),
        ("over-quota2.bin", 3_000_000, "413"),
        ("too-large.bin", 4_000_001, "413"),
    ] {
        let mut up = d.begin_upload(&ana, "$/q", name, Some(length));
        if want == "201" {
            // This one fits: it holds its room while its body is on its way.
            assert!(up.send(&bytes(length, 1)));
            let (status, body) = up.finish();
            assert!(status.contains(want), "{name}: {status} {body}");
            d.stored(&ana, body["id"].as_str().expect("an id"));
            continue;
        }
        // Not a byte of the body sent: the answer comes anyway.
        let (status, body) = up
            .answer(Duration::from_secs(20))
            .unwrap_or_else(|| panic!("{name}: no answer before the body"));
        assert!(status.contains(want), "{name}: {status} {body}");
        assert!(body["error"].is_string(), "{name}: {body}");
    }
    let (_, list) = d.call("GET", "/api/files?path=%24/q", Some(&ana), "");
    assert_eq!(list["files"].as_array().map(Vec::len), Some(2), "{list}");
    assert!(spool_files(&d).is_empty(), "{:?}", spool_files(&d));
    d.checked_clean();
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn the_spool_data_keys_and_database_are_private_to_drip() {
    let keys = support::scratch("private-keys");
    let keys_arg = keys.to_str().expect("UTF-8").to_owned();
    let d = drip("private", &["--keys", &keys_arg]);
    for dir in [d.data.clone(), d.data.join("spool"), keys.clone()] {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    }
    assert_eq!(mode(&d.data.join("drip.sqlite")), 0o600);
    for key in ["master.key", "session.key"] {
        assert_eq!(mode(&keys.join(key)), 0o600, "{key}");
    }
    // An upload on its way: its plaintext spool file is Drip's alone.
    let ana = d.user("ana");
    let data = bytes(200_000, 3);
    let mut up = d.begin_upload(&ana, "$", "secret.bin", Some(data.len()));
    assert!(up.send(&data[..100_000]));
    let spooled = harness::wait_until("the upload's spool file", Duration::from_secs(20), || {
        spool_files(&d).first().cloned()
    });
    assert_eq!(
        mode(&d.data.join("spool").join(&spooled)),
        0o600,
        "{spooled}"
    );
    assert!(up.send(&data[100_000..]));
    let (status, body) = up.finish();
    assert!(status.contains("201"), "{status} {body}");
    d.stored(&ana, body["id"].as_str().expect("an id"));
    d.checked_clean();
}

/// Posts the upload form with `junk` before its real fields.
fn post_form_after(
    d: &Drip,
    cookie: &str,
    csrf: &str,
    junk: &[(String, Vec<u8>)],
) -> (String, serde_json::Value) {
    let boundary = "----dripjunk";
    let mut body = Vec::new();
    let mut field = |name: &str, filename: Option<&str>, value: &[u8]| {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let disposition = match filename {
            Some(f) => format!("form-data; name=\"{name}\"; filename=\"{f}\""),
            None => format!("form-data; name=\"{name}\""),
        };
        body.extend_from_slice(format!("Content-Disposition: {disposition}\r\n\r\n").as_bytes());
        body.extend_from_slice(value);
        body.extend_from_slice(b"\r\n");
    };
    for (name, value) in junk {
        field(name, None, value);
    }
    field("csrf", None, csrf.as_bytes());
    field("path", None, b"$");
    field("file", Some("after-junk.bin"), b"the file");
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let (status, head, answer) = request_raw(
        d.http,
        "POST",
        "/files/upload",
        &[
            ("Cookie", cookie),
            ("Content-Type", content_type.as_str()),
            ("X-Requested-With", "fetch"),
        ],
        &body,
    );
    let answer = harness::http::unchunk_bytes(&head, &answer);
    (
        status,
        serde_json::from_slice(&answer).unwrap_or(serde_json::Value::Null),
    )
}

#[test]
fn the_upload_form_refuses_endless_fields_of_other_names() {
    let d = drip("formjunk", &[]);
    let ana = d.user("ana");
    let web = d.web_login("ana");
    // One field of another name larger than any field the form has …
    let huge = vec![("comment".to_owned(), vec![b'x'; 1 << 20])];
    let (status, body) = post_form_after(&d, &web.cookie, &web.csrf, &huge);
    assert!(status.contains("400"), "{status} {body}");
    // … or more of them than the form has.
    let many: Vec<(String, Vec<u8>)> = (0..100).map(|i| (format!("f{i}"), b"x".to_vec())).collect();
    let (status, body) = post_form_after(&d, &web.cookie, &web.csrf, &many);
    assert!(status.contains("400"), "{status} {body}");
    // A few small ones are fine.
    let few = vec![("submit".to_owned(), b"Upload".to_vec())];
    let (status, body) = post_form_after(&d, &web.cookie, &web.csrf, &few);
    assert!(status.contains("201"), "{status} {body}");
    d.stored(&ana, body["id"].as_str().expect("an id"));
    let (_, list) = d.call("GET", "/api/files?path=%24", Some(&ana), "");
    assert_eq!(list["files"].as_array().map(Vec::len), Some(1), "{list}");
    d.checked_clean();
}

#[test]
fn an_upload_is_answered_only_once_its_object_is_in_storage() {
    let d = drip("answered", &[]);
    let ana = d.user("ana");
    // The objects directory becomes a file: every write to storage fails (and is tried
    // again, with back-off, for half a minute).
    let objects = d.data.join("objects");
    std::fs::remove_dir_all(&objects).expect("removed");
    std::fs::write(&objects, b"not a directory").expect("a file in its place");
    let data = bytes(1_000_000, 4);
    let mut up = d.begin_upload(&ana, "$/a", "held.bin", Some(data.len()));
    assert!(up.send(&data));
    // The body is whole and the pipeline has it, but it cannot be stored: no answer.
    harness::wait_until("the pipeline to have it", Duration::from_secs(20), || {
        spool_files(&d).iter().any(|f| f.contains(".sealed"))
    });
    assert!(
        up.answer(Duration::from_secs(3)).is_none(),
        "answered before it was stored"
    );
    // Storage back: the answer comes, and at that moment the object is there and the row
    // says stored.
    std::fs::remove_file(&objects).expect("removed");
    std::fs::create_dir(&objects).expect("made");
    let (status, body) = up.answer(Duration::from_secs(60)).expect("an answer");
    assert!(status.contains("201"), "{status} {body}");
    let id = body["id"].as_str().expect("an id").to_owned();
    let object = d.object_of(&id);
    let sealed = std::fs::read(&object).expect("the object");
    assert!(sealed.starts_with(b"DRIP"), "not a sealed object");
    assert!(!body["uploaded_at"].is_null(), "{body}");
    assert_eq!(body["size"].as_u64(), Some(data.len() as u64), "{body}");
    assert_eq!(body["full_path"], "$/a/held.bin", "{body}");
    let (status, m) = d.call("GET", &format!("/api/files/{id}"), Some(&ana), "");
    assert!(status.contains("200") && m == body, "{status} {m} {body}");
    let (status, got) = d.download(&ana, &id);
    assert!(status.contains("200") && got == data, "{status}");
    d.checked_clean();
}
