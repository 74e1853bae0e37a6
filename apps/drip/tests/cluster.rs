//! Two `drip` nodes on this machine as one cluster: one PostgreSQL (a real server this test
//! starts), one shared storage directory and keys directory, each node joining the other
//! (`--cluster`). A user whose socket is on node B hears what node A did (notices over `pg`)
//! and sees who is online on either node (presence over `pg`); a download requested through A
//! is served by B from A's cache (`global`), even with the stored object gone; and killing B
//! with SIGKILL loses nothing committed: what it had answered 201 (stored) is served by A,
//! before and after it comes back.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::{bytes, start, Drip, Socket};

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Every object file under `dir`.
fn objects(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// What /health's details and /metrics want.
const METRICS_TOKEN: &str = "cluster-metrics-token";

fn connected(d: &Drip, to: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, health) = d.call("GET", "/health", Some(METRICS_TOKEN), "");
        let peers = health["connected_to"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if peers.iter().any(|p| p == to) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} never joined {to}: {health}",
            d.node
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn online(v: &serde_json::Value) -> Vec<String> {
    v["users"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| {
            format!(
                "{}:{}",
                u["username"].as_str().unwrap_or("?"),
                u["connections"]
            )
        })
        .collect()
}

#[test]
fn two_nodes_share_notices_presence_caches_and_survive_a_sigkill() {
    let pg = harness::postgres::Postgres::start("drip-cluster");
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("drip-cluster-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let store_dir = root.join("objects");
    let storage = format!("file://{}", store_dir.display());
    let keys = root.join("keys");
    let keys = keys.to_str().expect("a UTF-8 path");
    let epmd = harness::free_port();
    let host = harness::short_host();
    let (a_name, b_name) = (format!("drip_ca@{host}"), format!("drip_cb@{host}"));
    let args = |other: &str| -> Vec<String> {
        [
            "--database",
            &pg.url,
            "--storage",
            &storage,
            "--keys",
            keys,
            "--cluster",
            other,
            "--metrics-token",
            METRICS_TOKEN,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let a_args = args(&b_name);
    let b_args = args(&a_name);
    // A first: it runs the EPMD both use, and so outlives B's kill.
    let a = start("ca", &refs(&a_args), root.join("a"), epmd);
    let mut b = start("cb", &refs(&b_args), root.join("b"), epmd);
    connected(&a, &b_name);
    connected(&b, &a_name);

    // ana works on A, bob's socket is on B.
    let (ana, ana_id) = a.account("ana");
    let (bob, bob_id) = b.account("bob");
    let mut bob_socket = Socket::open(b.http, &bob);
    assert_eq!(
        bob_socket.join(&format!("user:{bob_id}"))["event"],
        "joined"
    );
    let mut ana_socket = Socket::open(a.http, &ana);
    assert_eq!(
        ana_socket.join(&format!("user:{ana_id}"))["event"],
        "joined"
    );
    assert_eq!(ana_socket.join("presence")["event"], "joined");
    assert_eq!(bob_socket.join("presence")["event"], "joined");
    // Presence across nodes: each sees both, one connection each.
    for s in [&mut bob_socket, &mut ana_socket] {
        s.next(|v| v["event"] == "presence" && online(v) == ["ana:1", "bob:1"]);
    }

    // ana's upload through A; she shares it with bob, who hears it on B.
    let original = bytes(2_000_001, 3);
    let (status, body) = a.upload(&ana, "$/team", "plan.bin", &original);
    assert!(status.contains("201"), "{status} {body}");
    let id = body["id"].as_str().expect("an id").to_owned();
    a.stored(&ana, &id);
    ana_socket.next(|v| v["kind"] == "upload_done" && v["media_id"] == id.as_str());
    let (status, _) = a.call(
        "POST",
        &format!("/api/files/{id}/shares"),
        Some(&ana),
        r#"{"username":"bob"}"#,
    );
    assert!(status.contains("20"), "{status}");
    let shared = bob_socket.next(|v| v["kind"] == "shared");
    assert_eq!(shared["media_id"], id.as_str());

    // bob asks A for the download; A's pipeline makes the cache, and the notice with the
    // link reaches bob's socket on B.
    let (status, asked) = a.call("POST", &format!("/api/files/{id}/download"), Some(&bob), "");
    assert!(status.contains("202"), "{status} {asked}");
    let ready = bob_socket.next(|v| v["kind"] == "download_ready");
    assert_eq!(ready["link"], format!("/files/{id}/cached"));
    // The object leaves storage: the plain download on B fails, the link on B still serves
    // the file, from A's cache through global.
    let object = objects(&store_dir)
        .into_iter()
        .find(|p| p.to_string_lossy().contains(&id))
        .expect("the file's object");
    let sealed = std::fs::read(&object).expect("the object");
    std::fs::remove_file(&object).expect("removed");
    let (status, _) = b.download(&bob, &id);
    assert!(status.contains("503"), "{status}");
    let (status, got) = b.get_bytes(&bob, &format!("/api/files/{id}/cached"));
    assert!(status.contains("200"), "{status}");
    assert!(
        got == original,
        "B served other bytes from the cache ({})",
        got.len()
    );
    std::fs::write(&object, &sealed).expect("put back");
    // Asked again through B: the cache on A answers at once (a hit).
    let (status, _) = b.call("POST", &format!("/api/files/{id}/download"), Some(&bob), "");
    assert!(status.contains("202"), "{status}");
    bob_socket.next(|v| v["kind"] == "download_ready");
    let (_, metrics) = b.get_bytes(METRICS_TOKEN, "/metrics");
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(
        metrics.contains("drip_cache_lookups_total{result=\"hit\"} 1"),
        "{metrics}"
    );

    // bob commits five files through B, then three more, and B is killed right after their
    // answers.
    let mut committed = Vec::new();
    for i in 0..5u8 {
        let data = bytes(300_000 + i as usize, 40 + i);
        let (status, body) = b.upload(&bob, "$/b", &format!("c{i}.bin"), &data);
        assert!(status.contains("201"), "{status} {body}");
        let id = body["id"].as_str().expect("an id").to_owned();
        b.stored(&bob, &id);
        committed.push((id, data));
    }
    let mut accepted = Vec::new();
    for i in 0..3u8 {
        let data = bytes(4_000_000 + i as usize, 90 + i);
        let (status, body) = b.upload(&bob, "$/b", &format!("late{i}.bin"), &data);
        assert!(status.contains("201"), "{status} {body}");
        accepted.push((body["id"].as_str().expect("an id").to_owned(), data));
    }
    b.process.0.kill().expect("SIGKILL");
    let _ = b.process.0.wait();
    drop(bob_socket);
    // A serves all that B committed; bob is gone from the online list.
    for (id, data) in &committed {
        let (status, got) = a.download(&bob, id);
        assert!(
            status.contains("200") && &got == data,
            "{status}: {id} lost"
        );
    }
    ana_socket.next(|v| v["event"] == "presence" && online(v) == ["ana:1"]);

    // B comes back over its own data: what it had answered is stored, the same bytes.
    b = start("cb", &refs(&b_args), root.join("b"), epmd);
    connected(&a, &b_name);
    for (id, data) in &accepted {
        let m = a.stored(&bob, id);
        assert_eq!(m["size"].as_u64(), Some(data.len() as u64));
        let (status, got) = a.download(&bob, id);
        assert!(
            status.contains("200") && &got == data,
            "{status}: {id} lost"
        );
    }
    // Storage and database agree: one object per stored file, no spool left.
    let (_, listing) = a.call("GET", "/api/files?path=%24/b", Some(&bob), "");
    assert_eq!(
        listing["files"].as_array().map(Vec::len),
        Some(8),
        "{listing}"
    );
    assert_eq!(objects(&store_dir).len(), 9);
    assert_eq!(objects(&root.join("b").join("spool")).len(), 0);
    // And drip check, on either node, finds nothing.
    a.checked_clean();
    b.checked_clean();
    drop(b);
}
