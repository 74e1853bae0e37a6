//! Download requests: one user's requests for a file already on its way are one task, and a
//! user has at most a few tasks on their way at once (429 past them), so no script can
//! queue the download pipeline full for everyone. The store is an S3 server frozen for the
//! moment (SIGSTOP), so the pipeline's first read hangs and every request queues behind it.

mod support;

use harness::s3::S3Server;
use support::{bytes, on_s3, Socket};

/// The most download tasks one user may have on their way (`app::MAX_DOWNLOADS_ASKED`).
const CAP: usize = 8;

#[test]
fn download_requests_are_one_task_a_file_and_capped_per_user() {
    let s3 = S3Server::start();
    s3.create_bucket("drip-files");
    let d = on_s3("asks", &s3, &[]);
    let (ana, ana_id) = d.account("ana");
    let ids: Vec<String> = (0..CAP + 4)
        .map(|i| {
            let (status, body) =
                d.upload(&ana, "$/d", &format!("d{i}.bin"), &bytes(10_000, i as u8));
            assert!(status.contains("201"), "{status} {body}");
            let id = body["id"].as_str().expect("an id").to_owned();
            d.stored(&ana, &id);
            id
        })
        .collect();
    let mut socket = Socket::open(d.http, &ana);
    assert_eq!(socket.join(&format!("user:{ana_id}"))["event"], "joined");
    let ask = |id: &str| {
        let (status, body) = d.call("POST", &format!("/api/files/{id}/download"), Some(&ana), "");
        (status, body)
    };

    s3.pause();
    // The first CAP files are taken; past them, 429 with a sentence.
    for (i, id) in ids.iter().enumerate().take(CAP + 2) {
        let (status, body) = ask(id);
        let want = if i < CAP { "202" } else { "429" };
        assert!(status.contains(want), "request {i}: {status} {body}");
        if i >= CAP {
            assert!(body["error"].is_string(), "{body}");
        }
    }
    // Asking again for a file on its way is no new task (and not refused).
    for _ in 0..20 {
        let (status, body) = ask(&ids[0]);
        assert!(status.contains("202"), "{status} {body}");
    }
    s3.resume();

    // Each file asked for is made ready once; a file asked for afterwards comes after them
    // all (the pipeline keeps its order), so any repeat would have come before it.
    let mut ready = Vec::new();
    while ready.len() < CAP {
        let n = socket.next(|v| v["event"] == "notice" && v["kind"] == "download_ready");
        ready.push(n["media_id"].as_str().expect("a media id").to_owned());
    }
    let last = &ids[CAP + 3];
    let (status, body) = ask(last);
    assert!(status.contains("202"), "{status} {body}");
    loop {
        let n = socket.next(|v| v["event"] == "notice" && v["kind"] == "download_ready");
        let id = n["media_id"].as_str().expect("a media id").to_owned();
        if &id == last {
            break;
        }
        ready.push(id);
    }
    let mut want: Vec<String> = ids[..CAP].to_vec();
    want.sort();
    ready.sort();
    assert_eq!(
        ready, want,
        "one download_ready a file asked for, no repeats"
    );
    for id in &ids[..CAP] {
        let (status, got) = d.get_bytes(&ana, &format!("/api/files/{id}/cached"));
        assert!(
            status.contains("200") && got.len() == 10_000,
            "{id}: {status}"
        );
    }
    d.checked_clean();
}
