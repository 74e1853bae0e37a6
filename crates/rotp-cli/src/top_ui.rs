//! `rotp top NODE`: the interactive top, in the spirit of observer_cli, drawn with ratatui.
//! A collector task takes a `window::Snapshot` every interval; the screen shows the node's
//! summary and its processes, sortable and filterable, a process's detail, the supervision
//! trees, and kills one after a confirmation. Keys are listed at the bottom of the screen.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use etf::{Atom, Term};
use node::Node;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, TableState};
use ratatui::Frame;
use tokio::sync::watch;
use window::{Order, Process, Snapshot};

/// What the last collection gave.
type Latest = Option<Result<Snapshot, Failure>>;

/// Why there is no snapshot.
#[derive(Clone, Debug)]
enum Failure {
    /// This collection failed (shown; the next one is tried).
    Collect(String),
    /// The node went down: top ends.
    Lost,
}

/// Why top ended on its own: the node it watched went away.
#[derive(Debug, thiserror::Error)]
#[error("lost the connection to {0}: it went down, or the network between us did")]
pub struct Lost(pub Atom);

/// The screen's state between frames.
struct Ui {
    sort: Order,
    filter: String,
    editing_filter: bool,
    table: TableState,
    /// A popup: its title and its lines (a process's detail, or the supervision trees).
    detail: Option<(String, Vec<String>)>,
    confirm_kill: Option<Process>,
    message: Option<String>,
}

/// Runs the interactive top until `q`.
pub async fn run(node: Node, target: Atom, interval: Duration) -> Result<()> {
    let every = Arc::new(AtomicU64::new(interval.as_millis() as u64));
    let (tx, rx) = watch::channel::<Latest>(None);
    let collector = {
        let (node, target, every) = (node.clone(), target.clone(), every.clone());
        tokio::spawn(async move {
            let mut events = node.events();
            loop {
                let timeout = Duration::from_secs(10);
                let got = window::collect(&node, &target, timeout)
                    .await
                    .map_err(|e| Failure::Collect(e.to_string()));
                if tx.send(Some(got)).is_err() {
                    return;
                }
                // The node going down ends top, as it ends observer_cli and etop.
                if node_went_down(&mut events, &target) {
                    tx.send_replace(Some(Err(Failure::Lost)));
                    return;
                }
                let ms = every.load(Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
        })
    };
    let handle = tokio::runtime::Handle::current();
    let ui = tokio::task::spawn_blocking(move || screen(&handle, &node, &target, rx, &every));
    let result = ui.await?;
    collector.abort();
    result
}

/// Whether a `nodedown` for `target` came since the last look.
fn node_went_down(
    events: &mut tokio::sync::broadcast::Receiver<node::NodeEvent>,
    target: &Atom,
) -> bool {
    use tokio::sync::broadcast::error::TryRecvError;
    loop {
        match events.try_recv() {
            Ok(node::NodeEvent::Down(n)) if &n == target => return true,
            Ok(_) | Err(TryRecvError::Lagged(_)) => {}
            Err(TryRecvError::Empty | TryRecvError::Closed) => return false,
        }
    }
}

/// The terminal loop: draws on each new snapshot or key, until `q`.
fn screen(
    handle: &tokio::runtime::Handle,
    node: &Node,
    target: &Atom,
    mut rx: watch::Receiver<Latest>,
    every: &AtomicU64,
) -> Result<()> {
    let mut terminal = ratatui::try_init()?;
    let mut ui = Ui {
        sort: Order::Memory,
        filter: String::new(),
        editing_filter: false,
        table: TableState::default().with_selected(Some(0)),
        detail: None,
        confirm_kill: None,
        message: None,
    };
    let outcome = (|| -> Result<()> {
        loop {
            let latest = rx.borrow_and_update().clone();
            if matches!(&latest, Some(Err(Failure::Lost))) {
                return Err(Lost(target.clone()).into());
            }
            let rows = latest
                .as_ref()
                .and_then(|l| l.as_ref().ok())
                .map(|s| visible(s, &ui))
                .unwrap_or_default();
            terminal.draw(|f| draw(f, target, &latest, &rows, &mut ui, every))?;
            if !event::poll(Duration::from_millis(200))? {
                continue;
            }
            let Event::Key(key) = event::read()? else {
                continue;
            };
            if key.kind != KeyEventKind::Press {
                continue;
            }
            if ui.editing_filter {
                match key.code {
                    KeyCode::Enter => ui.editing_filter = false,
                    KeyCode::Esc => {
                        ui.editing_filter = false;
                        ui.filter.clear();
                    }
                    KeyCode::Backspace => {
                        ui.filter.pop();
                    }
                    KeyCode::Char(c) => ui.filter.push(c),
                    _ => {}
                }
                ui.table.select(Some(0));
                continue;
            }
            if let Some(p) = ui.confirm_kill.take() {
                if key.code == KeyCode::Char('y') {
                    let reply = handle.block_on(node.rpc(
                        target,
                        "erlang",
                        "exit",
                        vec![Term::Pid(p.handle.clone()), Term::atom("kill")],
                        Duration::from_secs(5),
                    ));
                    ui.message = Some(match reply {
                        Term::Atom(a) if a.as_str() == "true" => format!("killed {}", p.pid),
                        other => format!("kill failed: {}", etf::text::write_limited(&other, 100)),
                    });
                } else {
                    ui.message = Some("kill cancelled".to_owned());
                }
                continue;
            }
            if ui.detail.is_some() {
                ui.detail = None;
                if matches!(key.code, KeyCode::Char('q')) {
                    return Ok(());
                }
                continue;
            }
            let selected = ui.table.selected().and_then(|i| rows.get(i)).cloned();
            match key.code {
                KeyCode::Char('q') | KeyCode::Esc => return Ok(()),
                KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                    return Ok(())
                }
                KeyCode::Char('m') => ui.sort = Order::Memory,
                KeyCode::Char('b') => ui.sort = Order::Mailbox,
                KeyCode::Char('r') => ui.sort = Order::Reductions,
                KeyCode::Char('n') => ui.sort = Order::Name,
                KeyCode::Char('/') => {
                    ui.editing_filter = true;
                    ui.filter.clear();
                }
                KeyCode::Down | KeyCode::Char('j') => {
                    let i = ui.table.selected().unwrap_or(0);
                    ui.table
                        .select(Some((i + 1).min(rows.len().saturating_sub(1))));
                }
                KeyCode::Up | KeyCode::Char('k') => {
                    let i = ui.table.selected().unwrap_or(0);
                    ui.table.select(Some(i.saturating_sub(1)));
                }
                KeyCode::PageDown => {
                    let i = ui.table.selected().unwrap_or(0);
                    ui.table
                        .select(Some((i + 20).min(rows.len().saturating_sub(1))));
                }
                KeyCode::PageUp => {
                    let i = ui.table.selected().unwrap_or(0);
                    ui.table.select(Some(i.saturating_sub(20)));
                }
                KeyCode::Enter => {
                    if let Some(p) = selected {
                        let items = handle.block_on(window::detail(
                            node,
                            target,
                            &p.handle,
                            Duration::from_secs(5),
                        ));
                        let lines = items.iter().map(|(k, v)| format!("{k:<18} {v}")).collect();
                        ui.detail = Some((p.pid.clone(), lines));
                    }
                }
                KeyCode::Char('x') => ui.confirm_kill = selected,
                KeyCode::Char('t') => {
                    let roots =
                        handle.block_on(window::tree::trees(node, target, Duration::from_secs(5)));
                    let mut lines = Vec::new();
                    tree_lines(&roots, 0, &mut lines);
                    if lines.is_empty() {
                        lines.push("no supervision tree found".to_owned());
                    }
                    ui.detail = Some(("supervision trees".to_owned(), lines));
                }
                KeyCode::Char('+') => {
                    let ms = (every.load(Ordering::Relaxed) + 500).min(60_000);
                    every.store(ms, Ordering::Relaxed);
                }
                KeyCode::Char('-') => {
                    let ms = every.load(Ordering::Relaxed).saturating_sub(500).max(500);
                    every.store(ms, Ordering::Relaxed);
                }
                _ => {}
            }
        }
    })();
    ratatui::try_restore()?;
    outcome
}

/// The processes the table shows: filtered by name or pid, in the chosen order.
fn visible(s: &Snapshot, ui: &Ui) -> Vec<Process> {
    window::select(&s.processes, &ui.filter, ui.sort)
}

fn draw(
    f: &mut Frame,
    target: &Atom,
    latest: &Latest,
    rows: &[Process],
    ui: &mut Ui,
    every: &AtomicU64,
) {
    let [head, body, foot] = Layout::vertical([
        Constraint::Length(6),
        Constraint::Min(3),
        Constraint::Length(2),
    ])
    .areas(f.area());
    let summary = match latest {
        None => vec![Line::from(format!("connecting to {target}…"))],
        Some(Err(Failure::Lost)) => vec![Line::from(Lost(target.clone()).to_string())],
        Some(Err(Failure::Collect(e))) => vec![
            Line::from(format!("{target}: {e}")),
            Line::from("retrying at the next refresh"),
        ],
        Some(Ok(s)) => summary_lines(s),
    };
    f.render_widget(
        Paragraph::new(summary).block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!(" rotp top — {target} ")),
        ),
        head,
    );
    let header = Row::new(["Pid", "Name", "Memory", "MsgQ", "Reductions"])
        .style(Style::default().add_modifier(Modifier::BOLD));
    let table_rows = rows.iter().map(|p| {
        Row::new(vec![
            Cell::from(p.pid.clone()),
            Cell::from(p.registered_name.clone().unwrap_or_default()),
            Cell::from(p.memory.to_string()),
            Cell::from(p.message_queue_len.to_string()),
            Cell::from(p.reductions.to_string()),
        ])
    });
    let title = if ui.editing_filter {
        format!(
            " processes, by {} — filter: {}_ ",
            ui.sort.word(),
            ui.filter
        )
    } else if ui.filter.is_empty() {
        format!(" {} processes, by {} ", rows.len(), ui.sort.word())
    } else {
        format!(
            " {} processes matching {:?}, by {} ",
            rows.len(),
            ui.filter,
            ui.sort.word()
        )
    };
    let table = Table::new(
        table_rows,
        [
            Constraint::Length(16),
            Constraint::Min(24),
            Constraint::Length(12),
            Constraint::Length(8),
            Constraint::Length(14),
        ],
    )
    .header(header)
    .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED))
    .block(Block::default().borders(Borders::ALL).title(title));
    f.render_stateful_widget(table, body, &mut ui.table);
    let keys = format!(
        "q quit  ↑↓ select  Enter detail  x kill  t trees  / filter  sort: m memory b mailbox r reductions n name  +/- refresh ({} ms){}",
        every.load(Ordering::Relaxed),
        ui.message.as_ref().map_or_else(String::new, |m| format!("   — {m}"))
    );
    f.render_widget(Paragraph::new(keys), foot);
    if let Some(p) = &ui.confirm_kill {
        let area = popup(f.area(), 50, 5);
        f.render_widget(Clear, area);
        f.render_widget(
            Paragraph::new(format!(
                "kill {} {}? y to confirm, any other key to cancel",
                p.pid,
                p.registered_name.as_deref().unwrap_or("")
            ))
            .block(Block::default().borders(Borders::ALL).title(" kill ")),
            area,
        );
    }
    if let Some((pid, items)) = &ui.detail {
        let area = popup(f.area(), 90, (items.len() as u16 + 2).min(f.area().height));
        f.render_widget(Clear, area);
        let lines: Vec<Line> = items.iter().map(|l| Line::from(l.clone())).collect();
        f.render_widget(
            Paragraph::new(lines).block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(format!(" {pid} — any key closes ")),
            ),
            area,
        );
    }
}

/// The trees as indented lines: `id  pid  kind`.
fn tree_lines(children: &[window::tree::Child], depth: usize, out: &mut Vec<String>) {
    for c in children {
        out.push(format!(
            "{}{}  {}  {}",
            "  ".repeat(depth),
            c.id,
            c.pid,
            c.kind
        ));
        tree_lines(&c.children, depth + 1, out);
    }
}

fn summary_lines(s: &Snapshot) -> Vec<Line<'static>> {
    let opt = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |n| n.to_string());
    let mem = |k: &str| {
        s.memory
            .get(k)
            .map_or_else(|| "-".to_owned(), |b| bytes(*b))
    };
    let uptime = s
        .summary
        .uptime_ms
        .map_or_else(|| "-".to_owned(), window::uptime_text);
    let peers = s
        .summary
        .peers
        .iter()
        .map(|p| {
            format!(
                "{} in {} out {}",
                p.node,
                p.bytes_in.map_or_else(|| "-".to_owned(), bytes),
                p.bytes_out.map_or_else(|| "-".to_owned(), bytes)
            )
        })
        .collect::<Vec<_>>()
        .join("   ");
    vec![
        Line::from(format!("{}   uptime {uptime}", s.system_version)),
        Line::from(format!(
            "processes {} / {}   atoms {} / {}   schedulers {}   run queue {}",
            s.process_count,
            s.process_limit,
            opt(s.atom_count),
            opt(s.atom_limit),
            opt(s.summary.schedulers_online),
            opt(s.summary.run_queue)
        )),
        Line::from(format!(
            "memory total {}  processes {}  binary {}  ets {}  atom {}  code {}  system {}",
            mem("total"),
            mem("processes"),
            mem("binary"),
            mem("ets"),
            mem("atom"),
            mem("code"),
            mem("system")
        )),
        Line::from(format!(
            "reductions {}   context switches {}   io in {} out {}   nodes: {}",
            opt(s.summary.reductions),
            opt(s.summary.context_switches),
            s.summary.io_input.map_or_else(|| "-".to_owned(), bytes),
            s.summary.io_output.map_or_else(|| "-".to_owned(), bytes),
            if s.summary.connected_nodes.is_empty() {
                "none".to_owned()
            } else {
                s.summary.connected_nodes.join(" ")
            }
        )),
        Line::from(format!(
            "dist traffic: {}",
            if peers.is_empty() { "none" } else { &peers }
        )),
    ]
}

/// Bytes in KiB, MiB or GiB.
fn bytes(n: i64) -> String {
    let n = n as f64;
    if n >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1}G", n / (1024.0 * 1024.0 * 1024.0))
    } else if n >= 1024.0 * 1024.0 {
        format!("{:.1}M", n / (1024.0 * 1024.0))
    } else {
        format!("{:.1}K", n / 1024.0)
    }
}

/// A centred box `percent` wide and `height` high.
fn popup(area: Rect, percent: u16, height: u16) -> Rect {
    let width = area.width * percent / 100;
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + area.height.saturating_sub(height) / 2,
        width,
        height: height.min(area.height),
    }
}
