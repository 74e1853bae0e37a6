//! Drip under faults: pipeline stages killed mid-upload by a real erl node (the uploads end
//! stored or reported failed, and storage and the database agree afterwards), SIGTERM during
//! uploads (drained, exit 0, nothing lost across the restart), SIGKILL mid-pipeline (what was
//! answered 201 is stored, what was not leaves nothing), and a data directory whose file
//! system fills up (507 and a notice, and downloads go on). Each ends with `drip check`
//! finding nothing.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use support::{bytes, drip, spool_files, start, start_in_tmpfs, Drip, Socket};

/// Each upload ends stored or gone (reported failed, its row removed); the stored ones.
fn settled(d: &Drip, token: &str, ids: &[String]) -> Vec<String> {
    let mut stored = Vec::new();
    for id in ids {
        let is_stored = harness::wait_until(
            &format!("{id} to be stored or gone"),
            Duration::from_secs(60),
            || {
                let (status, m) = d.call("GET", &format!("/api/files/{id}"), Some(token), "");
                if status.contains("404") {
                    return Some(false);
                }
                (status.contains("200") && !m["uploaded_at"].is_null()).then_some(true)
            },
        );
        if is_stored {
            stored.push(id.clone());
        }
    }
    stored
}

/// The objects in storage, by file id.
fn objects(d: &Drip) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(d.data.join("objects"))
        .map(|users| {
            users
                .flatten()
                .flat_map(|u| std::fs::read_dir(u.path()).into_iter().flatten().flatten())
                .map(|e| {
                    // `id.attempt`: the file's id, then the attempt that stored it.
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.split('.').next().unwrap_or_default().to_owned()
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn stages_killed_mid_upload_lose_nothing_and_storage_and_database_agree() {
    let d = drip("faults", &[]);
    let ana = d.user("ana");
    let files: Vec<Vec<u8>> = (0..24).map(|i| bytes(700_000, i as u8)).collect();
    let mut ids = Vec::new();
    let http = d.http;
    // A real erl node kills two stages while the uploads go in.
    let killer = {
        let (node, epmd) = (d.node.clone(), d.epmd);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            let eval = format!(
                "D = '{node}', \
                 [rpc:call(D, erlang, exit, [rpc:call(D, erlang, whereis, [N]), kill]) \
                  || N <- ['upload.encryption.1', 'upload.storage.2']], halt()."
            );
            Command::new("erl")
                .args([
                    "-sname",
                    "drip_killer",
                    "-setcookie",
                    "dripcookie",
                    "-noshell",
                    "-eval",
                    &eval,
                ])
                .env("ERL_EPMD_PORT", epmd.to_string())
                .output()
                .expect("erl runs")
        })
    };
    for (i, f) in files.iter().enumerate() {
        let (status, body) = d.upload(&ana, "$/load", &format!("f{i}.bin"), f);
        assert!(status.contains("201"), "{status} {body} (http {http})");
        ids.push(body["id"].as_str().expect("an id").to_owned());
    }
    let out = killer.join().expect("the killer ran");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stored = settled(&d, &ana, &ids);
    // The pipeline restarted and took every task again: all are stored here (a task fails
    // only after three tries).
    assert_eq!(
        stored.len(),
        ids.len(),
        "stored {} of {}",
        stored.len(),
        ids.len()
    );
    for (id, f) in ids.iter().zip(&files) {
        let (status, got) = d.download(&ana, id);
        assert!(
            status.contains("200") && &got == f,
            "{id}: {status}, {} bytes",
            got.len()
        );
    }
    // Once the retries still running have ended (their spool files go with them, a sealed
    // spool of an attempt killed mid-write too, and an attempt that stored a file second
    // deletes its object), storage and the database agree: an object for each stored file,
    // no other, nothing spooled.
    harness::wait_until("the spool to empty", Duration::from_secs(20), || {
        spool_files(&d).is_empty()
    });
    let mut want = stored.clone();
    want.sort();
    harness::wait_until(
        "an object for each stored file",
        Duration::from_secs(60),
        || objects(&d) == want,
    );
    d.checked_clean();
}

#[test]
fn sigterm_during_uploads_drains_exits_0_and_loses_nothing() {
    let mut d = drip("term", &[]);
    let ana = d.user("ana");
    let files: Vec<Vec<u8>> = (0..10).map(|i| bytes(900_000, i as u8)).collect();
    let ids: Vec<String> = files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let (status, body) = d.upload(&ana, "$", &format!("t{i}.bin"), f);
            assert!(status.contains("201"), "{status} {body}");
            body["id"].as_str().expect("an id").to_owned()
        })
        .collect();
    let status = d.sigterm();
    assert_eq!(status.code(), Some(0), "drip exits 0 on SIGTERM");
    // Back up on the same data: every upload is stored (drained before the exit, or taken up
    // again at start).
    let again = start("term", &[], d.data.clone(), d.epmd);
    let stored = settled(&again, &ana, &ids);
    assert_eq!(stored.len(), ids.len());
    for (id, f) in ids.iter().zip(&files) {
        let (_, got) = again.download(&ana, id);
        assert!(&got == f, "{id}");
    }
    harness::wait_until("the spool to empty", Duration::from_secs(20), || {
        spool_files(&again).is_empty()
    });
    again.checked_clean();
}

#[test]
fn sigkill_mid_pipeline_then_a_restart_keeps_every_promise() {
    let mut d = drip("kill9", &[]);
    let ana = d.user("ana");
    // One upload mid-body when the node dies: it was answered nothing, so nothing of it stays.
    let half = bytes(400_000, 1);
    let mut up = d.begin_upload(&ana, "$/k", "half.bin", Some(half.len()));
    assert!(up.send(&half[..200_000]));
    harness::wait_until("half.bin to be spooling", Duration::from_secs(20), || {
        spool_files(&d).iter().any(|f| f.ends_with(".part"))
    });
    // Six answered 201, the last just before the kill: stored when answered.
    let files: Vec<Vec<u8>> = (0..6).map(|i| bytes(3_000_000 + i, i as u8)).collect();
    let ids: Vec<String> = files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let (status, body) = d.upload(&ana, "$/k", &format!("k{i}.bin"), f);
            assert!(status.contains("201"), "{status} {body}");
            body["id"].as_str().expect("an id").to_owned()
        })
        .collect();
    d.process.0.kill().expect("SIGKILL");
    let _ = d.process.0.wait();
    drop(up);
    let again = start("kill9", &[], d.data.clone(), d.epmd);
    assert_eq!(settled(&again, &ana, &ids).len(), ids.len());
    for (id, f) in ids.iter().zip(&files) {
        let (status, got) = again.download(&ana, id);
        assert!(status.contains("200") && &got == f, "{id}: {status}");
    }
    let (_, list) = again.call("GET", "/api/files?path=%24/k", Some(&ana), "");
    assert_eq!(
        list["files"].as_array().map(Vec::len),
        Some(ids.len()),
        "the half upload is gone: {list}"
    );
    harness::wait_until("the spool to empty", Duration::from_secs(20), || {
        spool_files(&again).is_empty()
    });
    again.checked_clean();
}

#[test]
fn a_full_data_directory_is_a_507_or_a_notice_and_downloads_go_on() {
    let data = support::scratch("full");
    let d = start_in_tmpfs(
        "full",
        &["--metrics-token", "full-metrics"],
        data,
        harness::free_port(),
        24,
    );
    let (ana, ana_id) = d.account("ana");
    let mut socket = Socket::open(d.http, &ana);
    assert_eq!(socket.join(&format!("user:{ana_id}"))["event"], "joined");
    let kept = bytes(1_000_000, 1);
    let (_, body) = d.upload(&ana, "$/f", "kept.bin", &kept);
    let kept_id = body["id"].as_str().expect("an id").to_owned();
    d.stored(&ana, &kept_id);

    // Larger than the room left: the disk fills while it spools. 507, and nothing kept.
    let (status, body) = d.upload(&ana, "$/f", "huge.bin", &bytes(40_000_000, 2));
    assert!(status.contains("507"), "{status} {body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(error.contains("no room"), "{body}");
    assert!(!error.contains("os error"), "{body}");
    let (status, got) = d.download(&ana, &kept_id);
    assert!(status.contains("200") && got == kept, "{status}");
    // The data directory's file system as /metrics gives it (for DripDiskAlmostFull): the
    // 24 MiB tmpfs, with less than its size free.
    let scrape = support::monitoring::scrape(d.http, "full-metrics");
    let value = |series: &str| -> i64 {
        scrape
            .lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{scrape}"))
    };
    let size = value("drip_data_filesystem_size_bytes ");
    let avail = value("drip_data_filesystem_avail_bytes ");
    assert_eq!(size, 24 * 1024 * 1024, "{scrape}");
    assert!((0..size).contains(&avail), "{avail} of {size}");

    // Room to spool it but not to seal it beside: answered 507 once the pipeline failed it,
    // and told so on the socket too.
    let (status, body) = d.upload(&ana, "$/f", "big.bin", &bytes(13_000_000, 3));
    assert!(status.contains("507"), "{status} {body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("no room") && !error.contains("os error"),
        "{body}"
    );
    let notice = socket.next(|v| {
        v["event"] == "notice"
            && v["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("$/f/big.bin"))
    });
    let big = notice["media_id"].as_str().expect("an id").to_owned();
    assert_eq!(notice["kind"], "upload_failed", "{notice}");
    let text = notice["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("no room") && !text.contains("os error"),
        "{notice}"
    );
    let (status, _) = d.call("GET", &format!("/api/files/{big}"), Some(&ana), "");
    assert!(status.contains("404"), "{status}");
    let (status, got) = d.download(&ana, &kept_id);
    assert!(status.contains("200") && got == kept, "{status}");

    // With room again, uploads work.
    let (status, body) = d.upload(&ana, "$/f", "small.bin", &bytes(500_000, 4));
    assert!(status.contains("201"), "{status} {body}");
    d.stored(&ana, body["id"].as_str().expect("an id"));
    let (_, list) = d.call("GET", "/api/files?path=%24/f", Some(&ana), "");
    assert_eq!(list["files"].as_array().map(Vec::len), Some(2), "{list}");
    d.checked_clean();
}

/// Two drips on one PostgreSQL, one storage directory and one keys directory (as a cluster
/// shares them, each with a data directory of its own, as pods have), with a short upload
/// lease: node A, node B, and where the objects are.
fn two_nodes(pg: &harness::postgres::Postgres, tag: &str, lease: &str) -> (Drip, Drip, PathBuf) {
    let root = support::scratch(tag);
    let objects = root.join("objects");
    let storage = format!("file://{}", objects.display());
    let keys = root.join("keys").display().to_string();
    let epmd = harness::free_port();
    let host = harness::short_host();
    let args = |other: String| -> Vec<String> {
        [
            "--database",
            &pg.url,
            "--storage",
            &storage,
            "--keys",
            &keys,
            "--cluster",
            &other,
            "--upload-lease",
            lease,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let (a_args, b_args) = (
        args(format!("drip_{tag}b@{host}")),
        args(format!("drip_{tag}a@{host}")),
    );
    // B first: it runs the EPMD both use, and so outlives A's kill.
    let b = start(
        &format!("{tag}b"),
        &b_args.iter().map(String::as_str).collect::<Vec<_>>(),
        root.join("b"),
        epmd,
    );
    let a = start(
        &format!("{tag}a"),
        &a_args.iter().map(String::as_str).collect::<Vec<_>>(),
        root.join("a"),
        epmd,
    );
    (a, b, objects)
}

#[test]
fn nothing_a_node_answered_201_is_lost_when_it_is_killed_and_its_unfinished_rows_are_reaped_by_another(
) {
    let pg = harness::postgres::Postgres::start("drip-lease");
    // An 8 s lease, renewed every 2 s.
    let (mut a, b, objects) = two_nodes(&pg, "lease", "8");
    let (ana, ana_id) = a.account("ana");

    // Several files through A, each answered 201 (stored), then A is killed at once.
    let files: Vec<Vec<u8>> = (0..5).map(|i| bytes(1_500_000 + i, 60 + i as u8)).collect();
    let mut ids = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let (status, body) = a.upload(&ana, "$/n", &format!("n{i}.bin"), f);
        assert!(status.contains("201"), "{status} {body}");
        ids.push(body["id"].as_str().expect("an id").to_owned());
    }
    // And one mid-body, answered nothing: its row holds its name and its room on A's lease.
    let half = bytes(2_000_000, 7);
    let mut up = a.begin_upload(&ana, "$/n", "half.bin", Some(half.len()));
    assert!(up.send(&half[..1_000_000]));
    let part = harness::wait_until("half.bin to be spooling", Duration::from_secs(20), || {
        spool_files(&a).into_iter().find(|f| f.ends_with(".part"))
    });
    let half_id = part.trim_end_matches(".part").to_owned();
    // What an attempt of A's would have left in storage had A died storing it.
    let attempt = objects.join(&ana_id).join(format!("{half_id}.killed"));
    std::fs::create_dir_all(attempt.parent().expect("a folder")).expect("made");
    std::fs::write(&attempt, b"an attempt's object").expect("written");
    a.process.0.kill().expect("SIGKILL");
    let _ = a.process.0.wait();
    drop(up);

    // Every file A answered 201 is served by B, byte for byte.
    for (id, f) in ids.iter().zip(&files) {
        let (status, got) = b.download(&ana, id);
        assert!(
            status.contains("200") && &got == f,
            "{id}: {status}, {} bytes",
            got.len()
        );
    }
    // The unfinished upload's name is held while A's lease runs (refused before the body) ...
    let mut retry = b.begin_upload(&ana, "$/n", "half.bin", Some(half.len()));
    let (status, body) = retry
        .answer(Duration::from_secs(20))
        .expect("refused before its body");
    assert!(status.contains("409"), "{status} {body}");
    // ... and once it has run out, B's janitor removes its row and its attempt's object: the
    // same name uploads again, through B. (A 409, or the connection reset as the refusal
    // crossed the body, is "not yet".)
    let (status, body) = harness::wait_until(
        "A's unfinished upload to be reaped",
        Duration::from_secs(60),
        || {
            let (status, body) = b.upload(&ana, "$/n", "half.bin", &half);
            (!status.contains("409") && !status.is_empty()).then_some((status, body))
        },
    );
    assert!(status.contains("201"), "{status} {body}");
    assert!(!attempt.exists(), "the reaped upload's object is left");
    let again = body["id"].as_str().expect("an id").to_owned();
    assert_ne!(again, half_id);
    let (status, got) = b.download(&ana, &again);
    assert!(status.contains("200") && got == half, "{status}");
    let (_, list) = b.call("GET", "/api/files?path=%24/n", Some(&ana), "");
    assert_eq!(
        list["files"].as_array().map(Vec::len),
        Some(files.len() + 1),
        "{list}"
    );
    b.checked_clean();
}
