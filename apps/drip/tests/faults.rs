//! Drip under faults: pipeline stages killed mid-upload by a real erl node (the uploads end
//! stored or reported failed, and storage and the database agree afterwards), and SIGTERM
//! during uploads (drained, exit 0, nothing lost across the restart).

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::{bytes, drip, start, Drip};

/// Each upload ends stored or gone (reported failed, its row removed); the stored ones.
fn settled(d: &Drip, token: &str, ids: &[String]) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut stored = Vec::new();
    for id in ids {
        loop {
            let (status, m) = d.call("GET", &format!("/api/files/{id}"), Some(token), "");
            if status.contains("404") {
                eprintln!("{id}: {status} {m}");
                break;
            }
            if status.contains("200") && !m["uploaded_at"].is_null() {
                stored.push(id.clone());
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{id} never settled: {status} {m}"
            );
            std::thread::sleep(Duration::from_millis(50));
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
                .map(|e| e.file_name().to_string_lossy().into_owned())
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
        assert!(status.contains("202"), "{status} {body} (http {http})");
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
    // Once the retries still running have ended (their spool files go with them), storage
    // and the database agree: an object for each stored file, no other, no upload spooled.
    // (A sealed spool an attempt killed mid-write finished after its task was done is left to
    // the janitor, a minute on.)
    let plaintext = |d: &Drip| {
        std::fs::read_dir(d.data.join("spool"))
            .expect("spool")
            .flatten()
            .filter(|e| !e.file_name().to_string_lossy().contains(".sealed"))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while plaintext(&d) > 0 {
        assert!(Instant::now() < deadline, "the spool never emptied");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut want = stored.clone();
    want.sort();
    assert_eq!(objects(&d), want);
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
            assert!(status.contains("202"), "{status} {body}");
            body["id"].as_str().expect("an id").to_owned()
        })
        .collect();
    let pid = d.process.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill")
        .success());
    let status = d.process.0.wait().expect("drip ends");
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
}
