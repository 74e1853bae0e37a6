//! The live pages' cost on the node they watch (review L11), against a real erl node whose
//! `rex` counts the `window::collect`s it answers (`REX_IN_FRONT`): N open home-page streams
//! cost one collect per interval, not N; one stream past the cap is answered `503` in a
//! sentence, and a slot comes back when a stream closes. Every stream gets every reading.

mod support;

use std::time::Duration;

use axum::body::Body;
use axum::http::StatusCode;
use etf::Term;
use futures::StreamExt;
use rotp_dashboard::{Access, Config};
use support::*;

const COOKIE: &str = "livecookie";
/// Streams open at once, and the cap.
const N: usize = 4;
/// Readings each stream waits for while the collects are counted.
const K: usize = 3;

/// The next `event:` of an event stream's body, and its `data:`.
async fn next_event(body: &mut axum::body::BodyDataStream) -> (String, String) {
    let mut text = String::new();
    loop {
        if let Some(end) = text.find("\n\n") {
            let event: String = text[..end].to_owned();
            text.drain(..end + 2);
            let field = |name: &str| {
                event
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| v.trim().to_owned())
            };
            // Keep-alive comments carry no event.
            if let Some(kind) = field("event:") {
                return (kind, field("data:").unwrap_or_default());
            }
            continue;
        }
        let chunk = tokio::time::timeout(Duration::from_secs(30), body.next())
            .await
            .expect("an event within 30 s")
            .expect("the stream goes on")
            .expect("a chunk");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn n_viewers_cost_one_collect_per_interval_and_the_cap_answers_the_next_clearly() {
    let port = free_port();
    let _epmd = start_epmd(&otp_epmd(), port, &[]);
    let mut erl = start_erl(
        "dash_live",
        COOKIE,
        port,
        &format!("HOSTILE = false, {REX_IN_FRONT} timer:sleep(infinity)."),
    );
    wait_ready(&mut erl);
    let target = erl_node("dash_live");
    let node = client_node("dash_live_client", COOKIE, port).await;
    let mut config = Config::new(vec![target.clone()], Access::HostApp);
    config.max_streams = N;
    let app = rotp_dashboard::router(node.clone(), config);
    let collects = || {
        let (node, target) = (node.clone(), target.clone());
        async move {
            let reply = node
                .rpc(
                    &target,
                    "ets",
                    "lookup_element",
                    vec![
                        Term::atom("dash_counts"),
                        Term::atom("collects"),
                        Term::Integer(2),
                    ],
                    Duration::from_secs(10),
                )
                .await;
            match reply {
                Term::Integer(n) => n,
                other => panic!("the count: {other:?}"),
            }
        }
    };
    let path = format!("/node/{target}/events");
    let open = || async {
        let a = tower::ServiceExt::oneshot(
            app.clone(),
            request("GET", &path, &[("host", "localhost")], ""),
        )
        .await
        .expect("an answer");
        a
    };
    let mut streams = Vec::new();
    for _ in 0..N {
        let a = open().await;
        assert_eq!(a.status(), StatusCode::OK);
        streams.push(Body::into_data_stream(a.into_body()));
    }
    // Each stream has a first reading.
    for s in &mut streams {
        let (kind, data) = next_event(s).await;
        assert_eq!(kind, "summary", "{data}");
        assert!(data.contains("process_count"), "{data}");
    }
    let before = collects().await;
    // K more readings on every stream, all read side by side.
    let read = streams.iter_mut().map(|s| async move {
        for _ in 0..K {
            let (kind, _) = next_event(s).await;
            assert_eq!(kind, "summary");
        }
    });
    futures::future::join_all(read).await;
    let spent = collects().await - before;
    // One collect per interval for all N (a reading may be under way at either end), where
    // a stream each would have cost N × K.
    assert!(
        (1..=(K as i64 + 2)).contains(&spent),
        "{N} streams for {K} readings cost {spent} collects"
    );
    // One more: 503, in a sentence.
    let a = open().await;
    assert_eq!(a.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = axum::body::to_bytes(a.into_body(), 1 << 16)
        .await
        .expect("a body");
    let body = String::from_utf8_lossy(&body);
    assert!(body.contains("live views are open"), "{body}");
    // One closes: a slot comes back, and the new stream is served by the same poller.
    streams.pop();
    let a = open().await;
    assert_eq!(a.status(), StatusCode::OK);
    let mut again = Body::into_data_stream(a.into_body());
    let (kind, _) = next_event(&mut again).await;
    assert_eq!(kind, "summary");
    // The others still stream.
    for s in &mut streams {
        assert_eq!(next_event(s).await.0, "summary");
    }
}
