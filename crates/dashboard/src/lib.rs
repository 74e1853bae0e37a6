//! The window's web side: an HTTP server (axum) over a rotp node that reads other nodes (BEAM
//! or rotp, itself included) through the distribution — rotp's LiveDashboard.
//!
//! It sits on `rotp-window` (the figures) and `rotp-node` (the node that reads them); `rotp-cli`
//! serves it as `rotp dashboard` and `rotp node --dashboard`, and Drip nests [`router`] under
//! `/dashboard` behind its own admin login ([`Access::HostApp`]). Most programs depend on
//! `rotp-erlang` (library `rotp`, feature `dashboard`) instead.
//!
//! ```
//! use rotp_dashboard::{router, Access, AllowedHosts, Config, Token};
//! use axum::body::Body;
//! use axum::http::{Request, StatusCode};
//! use tower::ServiceExt; // `oneshot`: a request to the router without a socket
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let epmd = net::epmd::Daemon::bind(net::epmd::DaemonConfig { port: 0, addresses: Some("127.0.0.1".into()), ..Default::default() })?;
//! # let epmd_port = epmd.local_addrs().iter().find(|a| a.is_ipv4()).expect("127.0.0.1").port();
//! # tokio::spawn(epmd.run());
//! # let start = |name: &str| {
//! #     let mut config = node::NodeConfig::new(name, node::name::NameKind::Long, node::cookie::find_cookie(Some("secret")).unwrap());
//! #     config.epmd_port = epmd_port;
//! #     node::Node::start(config)
//! # };
//! // A node that serves the dashboard, watching `drip@127.0.0.1` (rotp or BEAM).
//! let (me, drip) = (start("dash@127.0.0.1").await?, start("drip@127.0.0.1").await?);
//! let token = Token::generate(); // what `rotp dashboard` prints for the operator
//! let access = Access::Token { token: token.clone(), hosts: AllowedHosts::new([127, 0, 0, 1].into()) };
//! let app = router(me, Config::new(vec![drip.name().clone()], access));
//! // Served with `rotp_dashboard::serve(listener, node, config)`; here, asked directly.
//! let get = |auth: Option<String>| {
//!     let mut request = Request::get("/metrics").header("host", "localhost");
//!     if let Some(auth) = auth {
//!         request = request.header("authorization", auth);
//!     }
//!     request.body(Body::empty()).expect("a request")
//! };
//! let refused = app.clone().oneshot(get(None)).await?;
//! assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
//! let metrics = app.oneshot(get(Some(format!("Bearer {}", token.secret())))).await?;
//! assert_eq!(metrics.status(), StatusCode::OK);
//! let text = axum::body::to_bytes(metrics.into_body(), 1 << 20).await?;
//! assert!(String::from_utf8_lossy(&text).contains("erlang_vm_process_count"));
//! # Ok(()) }
//! ```
//!
//! # What it serves
//!
//! - `/`: the cluster: the nodes each known host's EPMD lists and the watched ones, their
//!   connections, and a node picker (`POST /pick`, `node=NAME@HOST`) for any node the cookie
//!   opens;
//! - `/node/{node}`: its home page, live through `/node/{node}/events` (server-sent events),
//!   with charts of memory, processes, reductions, IO and dist traffic drawn from the stream;
//! - `/node/{node}/processes`: sortable, filterable, paginated, with kill buttons;
//! - `/node/{node}/processes/{pid}`: one process, with kill;
//! - `/node/{node}/tree`: the supervision trees (`window::tree`);
//! - `/node/{node}/stages`: its GenStage stages with live buffer and demand levels;
//! - `/node/{node}/os`: its host and OS process from `/proc` (`window::os`), live;
//! - `/metrics`: the Prometheus exposition of each node's figures (`window::metrics`).
//!
//! It binds where it is told (the CLI's default is 127.0.0.1) and never shows the cookie.
//! Who may use it is an explicit choice ([`Access`]): its own token (and only the `Host`
//! names it answers to), or a host application that authenticates every request itself.
//! Only `POST /pick` makes the node connect to a node it did not know; every other route
//! reads only the watched nodes and those picked. Requests that change something (pick,
//! kill) must come from the dashboard's own pages (`Origin`, `Sec-Fetch-Site`) and carry a
//! form token made when the server starts. Live pages share one poller per node and kind of
//! figures, and their streams are capped ([`Config::max_streams`]).
//!
//! # A tour
//!
//! * [`router`] and [`serve`]: the routes over a node, for a [`Config`] (the nodes watched,
//!   the [`Access`] rule, the base path, [`Config::max_streams`]).
//! * [`Access`]: [`Token`] with [`AllowedHosts`], or a host application's own authentication.
//! * [`epmd_metrics`]: `/metrics` for an EPMD daemon.

#![forbid(unsafe_code)]

mod auth;
mod cluster;
pub mod epmd_metrics;
mod guesses;
mod live;
mod origin;
mod pages;
mod pid;
mod token;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Form, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use etf::{Atom, Term};
use futures::StreamExt;
use node::Node;
use subtle::ConstantTimeEq;

pub use origin::AllowedHosts;
pub use token::{Token, TokenError};

use pid::PidPath;

/// How long a scrape may wait for a node's figures.
const SCRAPE: Duration = Duration::from_secs(10);
/// Nodes picked beyond the watched ones that the dashboard remembers.
const MAX_PICKED: usize = 64;
/// Live streams (home, OS and pipelines pages open) served at once, by default.
pub const MAX_STREAMS: usize = 32;

/// Who may use a dashboard: a choice made explicitly, never by leaving something out.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Access {
    /// The dashboard guards itself, as `rotp dashboard` and `rotp node --dashboard` serve it:
    /// every request names a `Host` in `hosts` (DNS rebinding) and shows `token` (a bearer
    /// header, or a session from a login).
    Token {
        /// What requests must show.
        token: Token,
        /// The `Host` names the dashboard answers to.
        hosts: AllowedHosts,
    },
    /// A host application authenticates every request before the router sees it (Drip's
    /// admin-session middleware, as a Phoenix app guards LiveDashboard's route); the
    /// dashboard checks no token and no `Host` (behind a reverse proxy it may be the proxy's).
    HostApp,
}

/// What a dashboard serves.
#[derive(Clone, Debug)]
pub struct Config {
    /// The nodes it watches from the start (the first is `/metrics`'s default); any other
    /// node can be picked on the cluster page.
    pub targets: Vec<Atom>,
    /// Who may use it.
    pub access: Access,
    /// The path the router is nested under, without a trailing `/` (`""` when it is served
    /// at the root, `"/dashboard"` inside Drip): its links and redirects start with it.
    pub base: String,
    /// Live streams open at once; one more is answered `503` ([`MAX_STREAMS`] by default).
    pub max_streams: usize,
}

impl Config {
    /// Watching `targets`, with `access`, served at the root, [`MAX_STREAMS`] live streams.
    pub fn new(targets: Vec<Atom>, access: Access) -> Config {
        Config {
            targets,
            access,
            base: String::new(),
            max_streams: MAX_STREAMS,
        }
    }
}

/// What the handlers share: the node that asks, and the nodes it watches (the first is the
/// default one).
struct Watch {
    node: Node,
    targets: Vec<Atom>,
    /// Nodes opened with the picker since, newest last.
    picked: Mutex<Vec<Atom>>,
    /// What a changing form must carry.
    token: String,
    /// The access token and sessions, if the dashboard guards itself ([`Access::Token`]).
    auth: Option<auth::Auth>,
    /// [`Config::base`].
    base: String,
    /// The live pages' pollers.
    live: live::Live,
}

impl Watch {
    /// The node `name` names, if it is a watched one or one picked: the only nodes a request
    /// other than a pick reads (a link from another site cannot make the node connect
    /// anywhere).
    fn target(&self, name: &str) -> Option<Atom> {
        if let Some(t) = self.targets.iter().find(|t| t.as_str() == name) {
            return Some(t.clone());
        }
        let picked = self.picked.lock().unwrap_or_else(|e| e.into_inner());
        picked.iter().find(|p| p.as_str() == name).cloned()
    }

    /// The node `name` names, if it is a node name (`alive@host`): a known one, or a new one,
    /// which is then remembered (the oldest of [`MAX_PICKED`] forgotten).
    fn pick(&self, name: &str) -> Option<Atom> {
        if let Some(t) = self.target(name) {
            return Some(t);
        }
        let (alive, host) = name.split_once('@')?;
        let fine = |part: &str| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        };
        if !fine(alive) || !fine(host) || name.len() > 255 {
            return None;
        }
        let mut picked = self.picked.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = picked.iter().find(|p| p.as_str() == name) {
            return Some(p.clone());
        }
        let atom = Atom::from(name);
        if picked.len() >= MAX_PICKED {
            picked.remove(0);
        }
        picked.push(atom.clone());
        Some(atom)
    }

    /// The watched nodes and the picked ones.
    fn known(&self) -> Vec<Atom> {
        let picked = self.picked.lock().unwrap_or_else(|e| e.into_inner());
        self.targets.iter().chain(picked.iter()).cloned().collect()
    }

    /// Whether a form's `given` token is this dashboard's, in constant time.
    fn form_token_ok(&self, given: &str) -> bool {
        bool::from(given.as_bytes().ct_eq(self.token.as_bytes()))
    }
}

/// `bytes` random bytes as hex digits (a form token, a session id, a made access token).
///
/// # Panics
///
/// If the system has no randomness to give, as Drip's keys: a guessable session id or token
/// is worse than none.
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the system's randomness");
    hex::encode(buf)
}

/// The table page's query.
#[derive(serde::Deserialize)]
struct Table {
    sort: Option<String>,
    filter: Option<String>,
    page: Option<usize>,
}

/// A changing form's fields.
#[derive(serde::Deserialize)]
struct Change {
    token: String,
}

/// The picker's fields: the node, and the form token.
#[derive(serde::Deserialize)]
struct Pick {
    node: String,
    token: String,
}

/// `?node=NAME@HOST`.
#[derive(serde::Deserialize)]
struct Which {
    node: Option<String>,
}

/// The routes, over `node`, serving `config`.
pub fn router(node: Node, config: Config) -> Router {
    let auth = match config.access {
        Access::Token { token, hosts } => Some(auth::Auth::new(token, hosts)),
        Access::HostApp => None,
    };
    let watch = Arc::new(Watch {
        node,
        targets: config.targets,
        picked: Mutex::default(),
        token: random_hex(16),
        auth,
        base: config.base,
        live: live::Live::new(config.max_streams),
    });
    Router::new()
        .route("/", get(index))
        .route("/pick", post(pick))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/metrics", get(metrics))
        .route("/node/{node}", get(home))
        .route("/node/{node}/events", get(events))
        .route("/node/{node}/processes", get(processes))
        .route("/node/{node}/tree", get(tree))
        .route("/node/{node}/os", get(os))
        .route("/node/{node}/os/events", get(os_events))
        .route("/node/{node}/stages", get(stages))
        .route("/node/{node}/stages/events", get(stage_events))
        .route("/node/{node}/processes/{pid}", get(process))
        .route("/node/{node}/processes/{pid}/kill", post(kill))
        .layer(axum::middleware::from_fn_with_state(
            watch.clone(),
            auth::guard,
        ))
        .with_state(watch)
}

/// Serves [`router`] on `listener` until the task is dropped, each request knowing its
/// peer's address (wrong token guesses are limited per address).
pub async fn serve(
    listener: tokio::net::TcpListener,
    node: Node,
    config: Config,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(node, config).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

async fn metrics(State(watch): State<Arc<Watch>>, Query(which): Query<Which>) -> Response {
    let target = match which.node {
        None => watch.targets.first().cloned(),
        Some(name) => watch.target(&name),
    };
    let Some(target) = target else {
        return not_watched();
    };
    match window::collect(&watch.node, &target, SCRAPE).await {
        Ok(snapshot) => (
            [(header::CONTENT_TYPE, window::metrics::CONTENT_TYPE)],
            window::metrics::exposition(&snapshot),
        )
            .into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    }
}

async fn index(State(watch): State<Arc<Watch>>) -> Html<String> {
    let (hosts, rows) = cluster::survey(&watch.node, &watch.known()).await;
    Html(pages::cluster(
        &watch.base,
        watch.node.name().as_str(),
        &hosts,
        &rows,
        watch.auth.is_some(),
        &watch.token,
    ))
}

/// `POST /pick` (`node=NAME@HOST`, the form token): the node picker opens that node's home
/// page, and the node is known from then on.
async fn pick(State(watch): State<Arc<Watch>>, Form(form): Form<Pick>) -> Response {
    if !watch.form_token_ok(&form.token) {
        return not_our_form();
    }
    match watch.pick(form.node.trim()) {
        Some(t) => Redirect::to(&format!("{}/node/{}", watch.base, pages::url(t.as_str())))
            .into_response(),
        None => (
            StatusCode::BAD_REQUEST,
            Html(pages::frame(
                &watch.base,
                "cluster",
                None,
                &format!(
                    "<p class=\"down\">That is not a node name: NAME@HOST.</p><p><a href=\"{}/\">back</a></p>",
                    watch.base
                ),
            )),
        )
            .into_response(),
    }
}

/// For a changing form without this dashboard's form token.
fn not_our_form() -> Response {
    (
        StatusCode::FORBIDDEN,
        "this form did not come from this dashboard\n",
    )
        .into_response()
}

/// A page for a node that does not answer: it says so, and reloads itself until it does.
fn down(base: &str, node: &str, e: &window::SnapshotError) -> Response {
    let body = format!(
        "<p class=\"down\">{}</p><p>This page reloads itself every 5 s.</p><meta http-equiv=\"refresh\" content=\"5\">",
        pages::escape(&e.to_string())
    );
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Html(pages::frame(base, node, Some(node), &body)),
    )
        .into_response()
}

/// For a path or `?node=` that names no node watched or picked.
fn not_watched() -> Response {
    (
        StatusCode::NOT_FOUND,
        "not a node this dashboard watches: pick it on the cluster page (NAME@HOST)\n",
    )
        .into_response()
}

async fn home(State(watch): State<Arc<Watch>>, Path(name): Path<String>) -> Response {
    let Some(target) = watch.target(&name) else {
        return not_watched();
    };
    match window::collect(&watch.node, &target, SCRAPE).await {
        Ok(s) => Html(pages::home(&watch.base, &name, &s)).into_response(),
        Err(e) => down(&watch.base, &name, &e),
    }
}

/// The home page's live figures: a `summary` event every 2 s, or a `down` event while the
/// node does not answer.
async fn events(State(watch): State<Arc<Watch>>, Path(name): Path<String>) -> Response {
    live(&watch, &name, live::Kind::Summary)
}

/// The OS page's live figures, as a `summary` event every 2 s (the page script's
/// `data-field` filler), or `down`.
async fn os_events(State(watch): State<Arc<Watch>>, Path(name): Path<String>) -> Response {
    live(&watch, &name, live::Kind::Os)
}

/// The pipelines page's live levels: a `stages` event (a JSON list) every second, or `down`
/// while the node does not answer.
async fn stage_events(State(watch): State<Arc<Watch>>, Path(name): Path<String>) -> Response {
    live(&watch, &name, live::Kind::Stages)
}

/// A live stream of `kind` for `name`'s page, from the poller all its viewers share (`live`):
/// the newest reading now, then each one, or `down` while the node does not answer (the page
/// says so; the stream goes on, and the page recovers when the node is back). `503` past
/// [`Config::max_streams`].
fn live(watch: &Watch, name: &str, kind: live::Kind) -> Response {
    let Some(target) = watch.target(name) else {
        return not_watched();
    };
    match watch.live.subscribe(&watch.node, kind, target) {
        Ok(readings) => Sse::new(readings.map(|r| {
            Ok::<_, std::convert::Infallible>(Event::default().event(r.event).data(r.data))
        }))
        .keep_alive(KeepAlive::default())
        .into_response(),
        Err(full) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "10")],
            format!("{full}\n"),
        )
            .into_response(),
    }
}

async fn processes(
    State(watch): State<Arc<Watch>>,
    Path(name): Path<String>,
    Query(table): Query<Table>,
) -> Response {
    let Some(target) = watch.target(&name) else {
        return not_watched();
    };
    match window::collect(&watch.node, &target, SCRAPE).await {
        Ok(s) => Html(pages::processes(
            &watch.base,
            &name,
            &s,
            table.sort.as_deref().unwrap_or("memory"),
            table.filter.as_deref().unwrap_or(""),
            table.page.unwrap_or(1),
            &watch.token,
        ))
        .into_response(),
        Err(e) => down(&watch.base, &name, &e),
    }
}

async fn tree(State(watch): State<Arc<Watch>>, Path(name): Path<String>) -> Response {
    let Some(target) = watch.target(&name) else {
        return not_watched();
    };
    if !watch.node.connect(&target).await {
        return down(
            &watch.base,
            &name,
            &window::SnapshotError::NodeDown(name.clone()),
        );
    }
    let roots = window::tree::trees(&watch.node, &target, SCRAPE).await;
    Html(pages::trees(&watch.base, &name, &roots)).into_response()
}

async fn os(State(watch): State<Arc<Watch>>, Path(name): Path<String>) -> Response {
    let Some(target) = watch.target(&name) else {
        return not_watched();
    };
    match window::os::collect(&watch.node, &target, SCRAPE).await {
        Ok(o) => Html(pages::os(&watch.base, &name, &o)).into_response(),
        Err(e) => down(&watch.base, &name, &e),
    }
}

async fn stages(State(watch): State<Arc<Watch>>, Path(name): Path<String>) -> Response {
    let Some(target) = watch.target(&name) else {
        return not_watched();
    };
    match window::stages(&watch.node, &target, SCRAPE).await {
        Ok(st) => Html(pages::stages(&watch.base, &name, &st)).into_response(),
        Err(e) => down(&watch.base, &name, &e),
    }
}

/// The pid `pid` names on `target`, if it runs: `erlang:list_to_pid/1` on the target
/// turns the text into its pid, `erlang:is_process_alive/1` says whether it runs.
async fn find(
    watch: &Watch,
    target: &Atom,
    pid: PidPath,
) -> Result<Option<etf::Pid>, window::SnapshotError> {
    if !watch.node.connect(target).await {
        return Err(window::SnapshotError::NodeDown(target.to_string()));
    }
    let text = Term::List(
        pid.text()
            .chars()
            .map(|c| Term::Integer(i64::from(u32::from(c))))
            .collect(),
    );
    let Term::Pid(handle) = watch
        .node
        .rpc(target, "erlang", "list_to_pid", vec![text], SCRAPE)
        .await
    else {
        return Ok(None);
    };
    let alive = watch
        .node
        .rpc(
            target,
            "erlang",
            "is_process_alive",
            vec![Term::Pid(handle.clone())],
            SCRAPE,
        )
        .await;
    Ok((alive.as_atom() == Some("true")).then_some(handle))
}

/// For a pid path that is not `0.N.S`.
fn no_such_process(watch: &Watch, name: &str, pid: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Html(pages::frame(
            &watch.base,
            pid,
            Some(name),
            "<p>No such process (it may have ended).</p>",
        )),
    )
        .into_response()
}

async fn process(
    State(watch): State<Arc<Watch>>,
    Path((name, pid)): Path<(String, String)>,
) -> Response {
    let Some(target) = watch.target(&name) else {
        return not_watched();
    };
    let Some(path) = PidPath::parse(&pid) else {
        return no_such_process(&watch, &name, "no such process");
    };
    match find(&watch, &target, path).await {
        Ok(Some(handle)) => {
            let items = window::detail(&watch.node, &target, &handle, SCRAPE).await;
            Html(pages::process(
                &watch.base,
                &name,
                PidPath::of(&handle),
                &items,
                &watch.token,
            ))
            .into_response()
        }
        Ok(None) => no_such_process(&watch, &name, &path.text()),
        Err(e) => down(&watch.base, &name, &e),
    }
}

async fn kill(
    State(watch): State<Arc<Watch>>,
    Path((name, pid)): Path<(String, String)>,
    Form(change): Form<Change>,
) -> Response {
    let Some(target) = watch.target(&name) else {
        return not_watched();
    };
    if !watch.form_token_ok(&change.token) {
        return not_our_form();
    }
    let Some(path) = PidPath::parse(&pid) else {
        return to_processes(&watch.base, &name);
    };
    match find(&watch, &target, path).await {
        Ok(Some(handle)) => {
            let reply = watch
                .node
                .rpc(
                    &target,
                    "erlang",
                    "exit",
                    vec![Term::Pid(handle), Term::atom("kill")],
                    SCRAPE,
                )
                .await;
            tracing::info!(
                "dashboard: killed {} on {name}: {}",
                path.text(),
                etf::text::write_limited(&reply, 100)
            );
            to_processes(&watch.base, &name)
        }
        Ok(None) => to_processes(&watch.base, &name),
        Err(e) => down(&watch.base, &name, &e),
    }
}

/// Back to `name`'s process table.
fn to_processes(base: &str, name: &str) -> Response {
    Redirect::to(&format!("{base}/node/{}/processes", pages::url(name))).into_response()
}
