//! The slow faults, in one test binary so they run beside each other: a client sending
//! 1 KiB/s for two minutes, one that pauses a minute mid-body, and PostgreSQL stopped for
//! 10 s while uploads are on their way (then for 40 s, longer than any wait for it). Every
//! upload is answered 201 once stored (its request waiting out the outage), ends
//! downloadable, and `drip check` finds nothing after.

mod support;

use std::time::Duration;

use harness::postgres::Postgres;
use support::{bytes, drip, Socket};

#[test]
fn a_client_sending_1_kib_a_second_for_two_minutes_is_stored() {
    let d = drip("trickle", &[]);
    let ana = d.user("ana");
    let data = bytes(120 * 1024, 5);
    // Chunked, so Drip reserves its quota step by step as the bytes come.
    let mut up = d.begin_upload(&ana, "$/slow", "trickle.bin", None);
    for piece in data.chunks(1024) {
        assert!(up.send(piece), "the upload was cut off");
        // The client's pace: this is the fault, not a wait for something.
        std::thread::sleep(Duration::from_secs(1));
    }
    let (status, body) = up.finish();
    assert!(status.contains("201"), "{status} {body}");
    let id = body["id"].as_str().expect("an id");
    d.stored_within(&ana, id, Duration::from_secs(60));
    let (status, got) = d.download(&ana, id);
    assert!(status.contains("200") && got == data, "{status}");
    d.checked_clean();
}

#[test]
fn a_client_that_pauses_a_minute_mid_body_is_stored() {
    let d = drip("pause", &[]);
    let ana = d.user("ana");
    let data = bytes(3_000_000, 6);
    let mut up = d.begin_upload(&ana, "$/slow", "paused.bin", Some(data.len()));
    assert!(up.send(&data[..1_000_000]));
    // A minute and a bit without a byte: the fault.
    std::thread::sleep(Duration::from_secs(65));
    assert!(up.send(&data[1_000_000..]), "the upload was cut off");
    let (status, body) = up.finish();
    assert!(status.contains("201"), "{status} {body}");
    let id = body["id"].as_str().expect("an id");
    d.stored_within(&ana, id, Duration::from_secs(60));
    let (status, got) = d.download(&ana, id);
    assert!(status.contains("200") && got == data, "{status}");
    d.checked_clean();
}

#[test]
fn postgresql_stopped_for_10_s_mid_upload_loses_nothing() {
    let pg = Postgres::start("drip-pgstop");
    let d = drip("pgstop", &["--database", &pg.url]);
    let (ana, ana_id) = d.account("ana");
    let mut socket = Socket::open(d.http, &ana);
    assert_eq!(socket.join(&format!("user:{ana_id}"))["event"], "joined");
    let (_, body) = d.upload(&ana, "$/p", "kept.bin", b"stored before");
    let kept = body["id"].as_str().expect("an id").to_owned();
    d.stored(&ana, &kept);

    // Three answered just before the database stops: the pipeline has them when it does.
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..3u8 {
        let data = bytes(6_000_000 + usize::from(i), 10 + i);
        let (status, body) = d.upload(&ana, "$/p", &format!("f{i}.bin"), &data);
        assert!(status.contains("201"), "{status} {body}");
        files.push((body["id"].as_str().expect("an id").to_owned(), data));
    }
    // One mid-body: the rest of it arrives while the database is down.
    let mid = bytes(2_000_000, 20);
    let mut up = d.begin_upload(&ana, "$/p", "mid.bin", Some(mid.len()));
    assert!(up.send(&mid[..1_000_000]));
    harness::wait_until("mid.bin to be spooling", Duration::from_secs(20), || {
        support::spool_files(&d)
            .iter()
            .any(|f| f.ends_with(".part"))
    });
    pg.stop();
    let rest = mid[1_000_000..].to_vec();
    let finisher = std::thread::spawn(move || {
        assert!(up.send(&rest));
        up.finish()
    });
    // The outage: ten seconds.
    std::thread::sleep(Duration::from_secs(10));
    pg.start_again();
    let (status, body) = finisher.join().expect("the mid-body upload");
    assert!(status.contains("201"), "{status} {body}");
    files.push((body["id"].as_str().expect("an id").to_owned(), mid));

    for (id, data) in &files {
        d.stored_within(&ana, id, Duration::from_secs(120));
        let (status, got) = d.download(&ana, id);
        assert!(status.contains("200") && &got == data, "{id}: {status}");
    }
    let (status, got) = d.download(&ana, &kept);
    assert!(
        status.contains("200") && got == b"stored before",
        "{status}"
    );
    // Each was told done, none failed, and no notice carries the database's own words.
    let mut told = std::collections::HashMap::new();
    while told.len() < files.len() {
        let notice = socket
            .within(Duration::from_secs(60), |v| {
                v["event"] == "notice" && files.iter().any(|(id, _)| v["media_id"] == id.as_str())
            })
            .unwrap_or_else(|| panic!("notices for {} of {} files only", told.len(), files.len()));
        let id = notice["media_id"].as_str().expect("an id").to_owned();
        assert_eq!(notice["kind"], "upload_done", "{notice}");
        assert!(told.insert(id, notice).is_none(), "told twice");
    }

    // Down longer than the pool waits for a connection (30 s) and than the pipeline's own
    // patience: the uploads it has wait (their requests too), and are stored (and answered
    // 201) once it is back.
    let datas: Vec<Vec<u8>> = (0..2u8)
        .map(|i| bytes(20_000_000 + usize::from(i), 30 + i))
        .collect();
    let answers = std::thread::scope(|scope| {
        let uploads: Vec<_> = datas
            .iter()
            .enumerate()
            .map(|(i, data)| {
                let (d, ana) = (&d, &ana);
                scope.spawn(move || d.upload(ana, "$/p", &format!("g{i}.bin"), data))
            })
            .collect();
        // Both bodies whole (a body still arriving would meet the outage in its own request,
        // which gives up after half a minute), one of them at least still in the pipeline.
        harness::wait_until("the pipeline to have them", Duration::from_secs(60), || {
            let spooled = support::spool_files(&d);
            !spooled.iter().any(|f| f.ends_with(".part"))
                && spooled.iter().any(|f| !f.contains('.'))
        });
        pg.stop();
        std::thread::sleep(Duration::from_secs(40));
        pg.start_again();
        uploads
            .into_iter()
            .map(|u| u.join().expect("an upload"))
            .collect::<Vec<_>>()
    });
    let mut later: Vec<(String, Vec<u8>)> = Vec::new();
    for ((status, body), data) in answers.into_iter().zip(datas) {
        assert!(status.contains("201"), "{status} {body}");
        later.push((body["id"].as_str().expect("an id").to_owned(), data));
    }
    for (id, data) in &later {
        d.stored_within(&ana, id, Duration::from_secs(120));
        let (status, got) = d.download(&ana, id);
        assert!(status.contains("200") && &got == data, "{id}: {status}");
        let notice = socket
            .within(Duration::from_secs(60), |v| {
                v["event"] == "notice" && later.iter().any(|(id, _)| v["media_id"] == id.as_str())
            })
            .expect("a notice");
        assert_eq!(notice["kind"], "upload_done", "{notice}");
    }
    d.checked_clean();
}
