//! The window's web side: an HTTP server (axum) over a rotp node that reads other nodes (BEAM
//! or rotp, itself included) through the distribution.
//!
//! - `/`: the cluster: the nodes each known host's EPMD lists and the watched ones, their
//!   connections, and a node picker (`/pick?node=NAME@HOST`) for any node the cookie opens;
//! - `/node/{node}`: its home page, live through `/node/{node}/events` (server-sent events),
//!   with charts of memory, processes, reductions, IO and dist traffic drawn from the stream;
//! - `/node/{node}/processes`: sortable, filterable, paginated, with kill buttons;
//! - `/node/{node}/processes/{pid}`: one process, with kill;
//! - `/node/{node}/tree`: the supervision trees (`window::tree`);
//! - `/node/{node}/stages`: its GenStage stages with live buffer and demand levels;
//! - `/node/{node}/os`: its host and OS process from `/proc` (`window::os`), live;
//! - `/metrics`: the Prometheus exposition of each node's figures (`window::metrics`).
//!
//! It binds where it is told (the CLI's default is 127.0.0.1) and never shows the cookie. With
//! a token ([`Config::token`]) every request must show it (`auth`). Forms that change
//! something (kill) carry a token made when the server starts, so a page from another site
//! cannot post them.

#![forbid(unsafe_code)]

mod auth;
mod cluster;
pub mod epmd_metrics;
mod pages;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Form, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use etf::{Atom, Term};
use node::Node;

/// How long a scrape may wait for a node's figures.
const SCRAPE: Duration = Duration::from_secs(10);
/// Nodes picked beyond the watched ones that the dashboard remembers.
const MAX_PICKED: usize = 64;

/// What a dashboard serves.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// The nodes it watches from the start (the first is `/metrics`'s default); any other
    /// node can be picked on the cluster page.
    pub targets: Vec<Atom>,
    /// If set, every request must show it (`Authorization: Bearer`, or a login at `/login`).
    pub token: Option<String>,
    /// The path the router is nested under, without a trailing `/` (`""` when it is served
    /// at the root, `"/dashboard"` inside Drip): its links and redirects start with it.
    pub base: String,
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
    /// The access token and sessions, if the dashboard has one.
    auth: Option<auth::Auth>,
    /// [`Config::base`].
    base: String,
}

impl Watch {
    /// The node `name` names, if it is a node name (`alive@host`): a watched one, or one
    /// picked, which is then remembered for the cluster page.
    fn target(&self, name: &str) -> Option<Atom> {
        if let Some(t) = self.targets.iter().find(|t| t.as_str() == name) {
            return Some(t.clone());
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
}

/// 32 random hex digits (a form token, a session id).
pub(crate) fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    // Without the system's randomness: the time and process id, still unknown to another site.
    if getrandom::fill(&mut bytes).is_err() {
        let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
        bytes[..seed.len().min(16)].copy_from_slice(&seed.as_bytes()[..seed.len().min(16)]);
    }
    hex::encode(bytes)
}

/// How often a home page's live figures are refreshed.
const LIVE: Duration = Duration::from_secs(2);
/// How often the pipelines page's levels are.
const STAGES_LIVE: Duration = Duration::from_secs(1);

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

/// `?node=NAME@HOST`.
#[derive(serde::Deserialize)]
struct Which {
    node: Option<String>,
}

/// The routes, over `node`, serving `config`.
pub fn router(node: Node, config: Config) -> Router {
    let watch = Arc::new(Watch {
        node,
        targets: config.targets,
        picked: Mutex::default(),
        token: random_hex(),
        auth: config.token.map(auth::Auth::new),
        base: config.base,
    });
    Router::new()
        .route("/", get(index))
        .route("/pick", get(pick))
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

/// Serves [`router`] on `listener` until the task is dropped.
pub async fn serve(
    listener: tokio::net::TcpListener,
    node: Node,
    config: Config,
) -> std::io::Result<()> {
    axum::serve(listener, router(node, config)).await
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
    ))
}

/// `/pick?node=NAME@HOST`: the node picker's form opens that node's home page.
async fn pick(State(watch): State<Arc<Watch>>, Query(which): Query<Which>) -> Response {
    match which.node.as_deref().map(str::trim).and_then(|n| watch.target(n)) {
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

/// For a path or `?node=` that names no node.
fn not_watched() -> Response {
    (
        StatusCode::NOT_FOUND,
        "not a node name: NAME@HOST (letters, digits, _ - .)\n",
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

/// The home page's live figures: a `summary` event every [`LIVE`], or a `down` event while
/// the node does not answer.
async fn events(State(watch): State<Arc<Watch>>, Path(name): Path<String>) -> Response {
    live(watch, &name, LIVE, |watch, target| async move {
        let s = window::collect(&watch.node, &target, SCRAPE).await?;
        Ok(("summary", pages::summary_fields(&s).to_string()))
    })
}

/// A live stream for `name`'s page: `read`'s event now and every `every` after, or a `down`
/// event while the node does not answer (the page says so; the stream goes on, and the page
/// recovers when the node is back).
fn live<F, Fut>(watch: Arc<Watch>, name: &str, every: Duration, read: F) -> Response
where
    F: Fn(Arc<Watch>, Atom) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(&'static str, String), window::SnapshotError>> + Send,
{
    let Some(target) = watch.target(name) else {
        return not_watched();
    };
    let read = Arc::new(read);
    let stream = futures::stream::unfold(true, move |first| {
        let (watch, target, read) = (watch.clone(), target.clone(), read.clone());
        async move {
            if !first {
                tokio::time::sleep(every).await;
            }
            let event = match read(watch, target).await {
                Ok((kind, data)) => Event::default().event(kind).data(data),
                Err(e) => Event::default()
                    .event("down")
                    .data(format!("{e}; retrying")),
            };
            Some((Ok::<_, std::convert::Infallible>(event), false))
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
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

/// The OS page's live figures, as a `summary` event every [`LIVE`] (the page script's
/// `data-field` filler), or `down`.
async fn os_events(State(watch): State<Arc<Watch>>, Path(name): Path<String>) -> Response {
    live(watch, &name, LIVE, |watch, target| async move {
        let o = window::os::collect(&watch.node, &target, SCRAPE).await?;
        Ok(("summary", pages::os_fields(&o).to_string()))
    })
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

/// The pipelines page's live levels: a `stages` event (a JSON list) every [`STAGES_LIVE`], or
/// `down` while the node does not answer.
async fn stage_events(State(watch): State<Arc<Watch>>, Path(name): Path<String>) -> Response {
    live(watch, &name, STAGES_LIVE, |watch, target| async move {
        let st = window::stages(&watch.node, &target, SCRAPE).await?;
        Ok((
            "stages",
            serde_json::to_string(&st).unwrap_or_else(|_| "[]".to_owned()),
        ))
    })
}

/// The pid `0.N.S` names on `target`, if it runs: `erlang:list_to_pid/1` on the target
/// turns the text into its pid, `erlang:is_process_alive/1` says whether it runs.
async fn find(
    watch: &Watch,
    target: &Atom,
    pid: &str,
) -> Result<Option<etf::Pid>, window::SnapshotError> {
    if !watch.node.connect(target).await {
        return Err(window::SnapshotError::NodeDown(target.to_string()));
    }
    let text = Term::List(
        format!("<{pid}>")
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

async fn process(
    State(watch): State<Arc<Watch>>,
    Path((name, pid)): Path<(String, String)>,
) -> Response {
    let Some(target) = watch.target(&name) else {
        return not_watched();
    };
    match find(&watch, &target, &pid).await {
        Ok(Some(handle)) => {
            let items = window::detail(&watch.node, &target, &handle, SCRAPE).await;
            Html(pages::process(
                &watch.base,
                &name,
                &format!("<{pid}>"),
                &items,
                &watch.token,
            ))
            .into_response()
        }
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Html(pages::frame(
                &watch.base,
                &pid,
                Some(&name),
                "<p>No such process (it may have ended).</p>",
            )),
        )
            .into_response(),
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
    if change.token != watch.token {
        return (
            StatusCode::FORBIDDEN,
            "this form did not come from this dashboard\n",
        )
            .into_response();
    }
    match find(&watch, &target, &pid).await {
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
                "dashboard: killed <{pid}> on {name}: {}",
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
