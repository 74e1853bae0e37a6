//! Chapter 7 of the guide: a Phoenix-like live page.
//!
//! `cargo run -p rotp-erlang --example live_page` (optionally followed by the port, 4000 by
//! default), then open <http://127.0.0.1:4000> in a browser or two. Ctrl-C stops it.
//!
//! What to watch:
//! 1. The page's state lives in a GenServer, `live`, not in the browser: a click is a POST
//!    that the web handler turns into a `gen_server` call, as a LiveView's `handle_event`.
//! 2. The server also changes by itself: it ticks every second (`send_after`, as
//!    `Process.send_after(self(), :tick, 1000)` in a LiveView's `mount`).
//! 3. Every change is pushed to every open page at once, over Server-Sent Events: open two
//!    browsers and click in one; both count. Nothing polls.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::Html;
use axum::routing::{get, post};
use axum::Router;
use rotp::prelude::*;
use rotp::tokio::sync::{oneshot, watch};
use tokio_stream::{wrappers::WatchStream, Stream, StreamExt};

// ANCHOR: server
/// What the page shows.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    clicks: u64,
    seconds: u64,
}

/// The live state: a GenServer that publishes each change on a `watch` channel.
#[derive(Clone)]
struct Live;

/// A click.
struct Click;
/// A second went by.
struct Tick;

impl GenServer for Live {
    type Args = watch::Sender<Counts>;
    type State = watch::Sender<Counts>;
    type Call = Click;
    type Reply = Counts;
    type Cast = ();

    async fn init(
        &self,
        page: watch::Sender<Counts>,
        ctx: &mut Context,
    ) -> Init<watch::Sender<Counts>> {
        let me = ctx.pid().clone();
        ctx.send_after(Duration::from_secs(1), &me, Message::local(Tick));
        Init::Ok(page)
    }

    async fn handle_call(
        &self,
        Click: Click,
        _: &gen_server::From,
        page: &mut watch::Sender<Counts>,
        _: &mut Context,
    ) -> CallReply<Counts> {
        page.send_modify(|c| c.clicks += 1);
        CallReply::Reply(*page.borrow())
    }

    async fn handle_info(
        &self,
        message: Message,
        page: &mut watch::Sender<Counts>,
        ctx: &mut Context,
    ) -> NoReply {
        if message.downcast_ref::<Tick>().is_some() {
            page.send_modify(|c| c.seconds += 1);
            let me = ctx.pid().clone();
            ctx.send_after(Duration::from_secs(1), &me, Message::local(Tick));
        }
        NoReply::Continue
    }
}
// ANCHOR_END: server

// ANCHOR: web
/// What the web handlers share: the runtime (to call `live` from) and the page's channel.
#[derive(Clone)]
struct Web {
    runtime: Runtime,
    page: watch::Receiver<Counts>,
}

async fn index() -> Html<&'static str> {
    Html(PAGE)
}

/// A click: a call to `live`, from a process made for it (web handlers are tokio tasks, not
/// processes).
async fn click(State(web): State<Web>) -> String {
    let (reply, replied) = oneshot::channel();
    web.runtime.spawn(|mut ctx| async move {
        let counts =
            gen_server::try_call(&mut ctx, "live", Click, gen_server::DEFAULT_TIMEOUT).await;
        let _ = reply.send(counts);
        ExitReason::Normal
    });
    match replied.await {
        Ok(Ok(Counts { clicks, .. })) => clicks.to_string(),
        _ => "live is not running".into(),
    }
}

/// Every change of the counts, as a Server-Sent Event: `data: {"clicks":1,"seconds":7}`.
async fn events(State(web): State<Web>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let changes = WatchStream::new(web.page).map(|c| {
        let json = format!(r#"{{"clicks":{},"seconds":{}}}"#, c.clicks, c.seconds);
        Ok(Event::default().data(json))
    });
    Sse::new(changes).keep_alive(KeepAlive::default())
}
// ANCHOR_END: web

// ANCHOR: main
#[rotp::tokio::main(crate = "rotp::tokio")]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(4000);
    let runtime = Runtime::default();
    let (publish, page) = watch::channel(Counts::default());

    // `live` under a supervisor, as the application's tree would hold it.
    let (started, up) = oneshot::channel();
    runtime.spawn(|mut ctx| async move {
        let live = ChildSpec::gen_server_named("live", Live, publish, Some("live".into()));
        let sup =
            supervisor::start_link(&mut ctx, Flags::new(Strategy::OneForOne), vec![live], None)
                .await;
        let _ = started.send(sup.is_ok());
        // This process stays, holding the supervisor's link.
        ctx.receive(|_| false).await;
        ExitReason::Normal
    });
    if up.await != Ok(true) {
        return Err(std::io::Error::other("the live server did not start"));
    }

    let app = Router::new()
        .route("/", get(index))
        .route("/click", post(click))
        .route("/events", get(events))
        .with_state(Web { runtime, page });
    let listener = rotp::tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("live page on http://127.0.0.1:{port}/ (Ctrl-C stops it)");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = rotp::tokio::signal::ctrl_c().await;
        })
        .await
}
// ANCHOR_END: main

// ANCHOR: page
const PAGE: &str = r#"<!doctype html>
<html>
<head><meta charset="utf-8"><title>rotp live page</title></head>
<body>
  <h1><span id="clicks">0</span> clicks, <span id="seconds">0</span> seconds</h1>
  <button onclick="fetch('/click', {method: 'POST'})">Click</button>
  <script>
    const events = new EventSource("/events");
    events.onmessage = (e) => {
      const counts = JSON.parse(e.data);
      document.getElementById("clicks").textContent = counts.clicks;
      document.getElementById("seconds").textContent = counts.seconds;
    };
  </script>
</body>
</html>
"#;
// ANCHOR_END: page
