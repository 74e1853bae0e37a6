//! What the dashboard's own tests share: a node to serve them from (in the test's process,
//! not listening, as `rotp dashboard`'s client node), requests sent to the router as a tower
//! service (axum's `testing` example: no socket), and real erl targets through `harness`.

#![allow(dead_code)] // not every test file uses every helper

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use etf::Atom;
use node::name::NameKind;
use node::{Node, NodeConfig};
use tower::ServiceExt;

pub use harness::*;

/// A hidden node named `name` that does not listen, asking the EPMD on `epmd_port`.
pub async fn client_node(name: &str, cookie: &str, epmd_port: u16) -> Node {
    let cookie = node::cookie::find_cookie(Some(cookie)).expect("a cookie");
    let mut config = NodeConfig::new(name, NameKind::Short, cookie);
    config.hidden = true;
    config.listen = false;
    config.epmd_port = epmd_port;
    config.epmd_program = None;
    Node::start(config).await.expect("the node starts")
}

/// `name@` this host, as `erl -sname name` is.
pub fn erl_node(name: &str) -> Atom {
    Atom::from(format!("{name}@{}", short_host()).as_str())
}

/// An answer: status, headers, body as text.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    /// A header's value, or `""`.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// A request: `method path` with `headers` and `body`, from 127.0.0.1 unless `from` says.
pub fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Request<Body> {
    let mut r = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let mut r = r.body(Body::from(body.to_owned())).expect("a request");
    let from: SocketAddr = ([127, 0, 0, 1], 50_000).into();
    r.extensions_mut().insert(ConnectInfo(from));
    r
}

/// `request` sent to `app`; the whole answer.
pub async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.expect("an answer");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 4 << 20)
        .await
        .expect("the body");
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// The form token on a page (`name="token" value="…"`).
pub fn form_token(page: &str) -> String {
    page.split("name=\"token\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("a form token on the page: {page}"))
        .to_owned()
}

/// `erl` code run before the node's eval: `rex` (the rpc server) is replaced by a process in
/// front of it, forwarding every call to the real one, except that it counts the calls of
/// `erlang:system_info(system_version)` (one per `window::collect`) in the ETS counter
/// `dash_counts`/`collects`, and, if `HOSTILE` is bound to `true`, answers every
/// `erlang:list_to_pid/1` with its own pid, whatever the text: what a hostile node can do.
pub const REX_IN_FRONT: &str = "\
    Rex = whereis(rex), unregister(rex), \
    dash_counts = ets:new(dash_counts, [named_table, public]), \
    true = ets:insert(dash_counts, {collects, 0}), \
    Front = spawn(fun Loop() -> \
        receive \
            {'$gen_call', From, {call, erlang, list_to_pid, _, _}} when HOSTILE -> \
                gen_server:reply(From, self()), Loop(); \
            {'$gen_call', _, {call, erlang, system_info, [system_version], _}} = M -> \
                ets:update_counter(dash_counts, collects, 1), Rex ! M, Loop(); \
            M -> Rex ! M, Loop() \
        end end), \
    true = register(rex, Front), \
    io:format(\"ready~n\"), ";

/// Waits (bounded) until the erl node `guard` runs printed `ready`.
pub fn wait_ready(guard: &mut Guard) {
    use std::io::{BufRead, BufReader};
    let out = guard.0.stdout.take().expect("erl's output is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if line.trim() == "ready" {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(std::time::Duration::from_secs(30))
        .expect("the erl node never said ready");
}
