//! `drip check`: the database against the stored objects and the spool. It names each orphan
//! object, each file whose object is missing and each stale spool file, exits 1; `--repair`
//! removes them, and a second look finds nothing. Files whose upload is under way are left
//! alone.

mod support;

use std::time::Duration;

use support::{bytes, drip, spool_files};

#[test]
fn drip_check_finds_orphans_missing_objects_and_stale_spool_and_repairs_them() {
    let d = drip("check", &[]);
    let (ana, ana_id) = d.account("ana");
    let mut ids = Vec::new();
    for i in 0..3u8 {
        let (status, body) = d.upload(&ana, "$/c", &format!("f{i}.bin"), &bytes(50_000, i));
        assert!(status.contains("201"), "{status} {body}");
        let id = body["id"].as_str().expect("an id").to_owned();
        d.stored(&ana, &id);
        ids.push(id);
    }
    let (code, out) = d.check(false);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("3 files"), "{out}");

    // An upload on its way (its row is not stored, its spool file is arriving): not a finding.
    let arriving = bytes(100_000, 7);
    let mut up = d.begin_upload(&ana, "$/c", "arriving.bin", Some(arriving.len()));
    assert!(up.send(&arriving[..50_000]));
    harness::wait_until("the arriving spool file", Duration::from_secs(20), || {
        !spool_files(&d).is_empty()
    });

    // An object without a row, a row without its object, spool files nothing will use.
    let objects = d.data.join("objects").join(&ana_id);
    let orphan = "0123456789abcdef0123456789abcdef";
    std::fs::write(objects.join(orphan), b"DRIP\x01 not a file of ours").expect("planted");
    std::fs::remove_file(d.object_of(&ids[1])).expect("an object removed");
    let spool = d.data.join("spool");
    let stale = [
        "fedcba9876543210fedcba9876543210",
        "00000000000000000000000000000001.part",
    ];
    for name in stale {
        std::fs::write(spool.join(name), b"left behind").expect("planted");
    }
    std::fs::write(spool.join(format!("{}.sealed-1", ids[0])), b"sealed").expect("planted");

    let (code, out) = d.check(false);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains(&format!("{ana_id}/{orphan}")), "{out}");
    assert!(out.contains(&ids[1]) && out.contains("$/c/f1.bin"), "{out}");
    for name in stale {
        assert!(out.contains(name), "{out}");
    }
    assert!(out.contains(&format!("{}.sealed-1", ids[0])), "{out}");
    assert!(!out.contains("arriving"), "{out}");
    assert!(out.contains("5 problems"), "{out}");
    // Nothing changed without --repair.
    assert!(objects.join(orphan).exists());

    let (code, out) = d.check(true);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("repaired 5"), "{out}");
    assert!(!objects.join(orphan).exists());
    let (status, _) = d.call("GET", &format!("/api/files/{}", ids[1]), Some(&ana), "");
    assert!(
        status.contains("404"),
        "the row without an object is gone: {status}"
    );
    for id in [&ids[0], &ids[2]] {
        let (status, _) = d.download(&ana, id);
        assert!(status.contains("200"), "{id}: {status}");
    }

    // The upload on its way was left alone: it ends stored.
    assert!(up.send(&arriving[50_000..]));
    let (status, body) = up.finish();
    assert!(status.contains("201"), "{status} {body}");
    let id = body["id"].as_str().expect("an id");
    d.stored(&ana, id);
    let (_, got) = d.download(&ana, id);
    assert!(got == arriving);
    d.checked_clean();
}

#[test]
fn drip_check_names_an_upload_whose_lease_ran_out_and_repair_removes_it() {
    let mut d = drip("checklease", &["--upload-lease", "2"]);
    let ana = d.user("ana");
    let half = bytes(400_000, 3);
    let mut up = d.begin_upload(&ana, "$/l", "held.bin", Some(half.len()));
    assert!(up.send(&half[..200_000]));
    harness::wait_until("held.bin to be spooling", Duration::from_secs(20), || {
        !spool_files(&d).is_empty()
    });
    // Its node is killed: nothing renews its lease, and no other node runs to reap it.
    d.process.0.kill().expect("SIGKILL");
    let _ = d.process.0.wait();
    drop(up);
    let out = harness::wait_until("the lease to run out", Duration::from_secs(30), || {
        let (code, out) = d.check(false);
        (code == Some(1) && out.contains("expired lease")).then_some(out)
    });
    assert!(
        out.contains("$/l/held.bin") && out.contains(&d.node),
        "{out}"
    );
    let (code, out) = d.check(true);
    assert_eq!(code, Some(0), "{out}");
    // Its row is gone: its spool file is now stale, and goes too.
    let (code, out) = d.check(true);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("stale spool file"), "{out}");
    let (code, out) = d.check(false);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("0 files (0 uploads under way"), "{out}");
}
