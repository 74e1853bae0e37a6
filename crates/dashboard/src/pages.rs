//! The dashboard's pages, rendered on the server from a `window::Snapshot`: plain HTML with
//! its style and one small script inline, so the binary serves everything itself (no CDN, it
//! works offline).

use std::fmt::Write as _;

use window::Snapshot;

use crate::pid::PidPath;

/// Rows on one page of the process table.
pub const PAGE: usize = 100;

/// The page frame: title, navigation for `node` (if any), `body`.
pub fn frame(base: &str, title: &str, node: Option<&str>, body: &str) -> String {
    let nav = node.map_or_else(String::new, |n| {
        let n = url(n);
        format!(
            "<nav><a href=\"{base}/\">cluster</a> · <a href=\"{base}/node/{n}\">home</a> · \
             <a href=\"{base}/node/{n}/processes\">processes</a> · <a href=\"{base}/node/{n}/tree\">supervision trees</a> · \
             <a href=\"{base}/node/{n}/stages\">pipelines</a> · <a href=\"{base}/node/{n}/os\">OS</a> · \
             <a href=\"{base}/metrics?node={n}\">metrics</a></nav>"
        )
    });
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{} — rotp dashboard</title><style>{STYLE}</style></head>\n\
         <body><header><h1>rotp dashboard</h1>{nav}</header>\n<main>\n{body}\n</main>\n\
         <script>{SCRIPT}</script></body></html>\n",
        escape(title)
    )
}

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:0;color:#222}\
header{background:#26364a;color:#fff;padding:.5em 1em}header h1{display:inline;font-size:1.2em;margin-right:1em}\
header a{color:#cde}main{padding:1em}table{border-collapse:collapse}td,th{padding:.2em .6em;text-align:left}\
tr:nth-child(even){background:#f2f4f7}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.down{color:#a00;font-weight:bold}#status{font-size:.9em;color:#666}form.inline{display:inline}\
.charts{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0;border:1px solid #dde;padding:.4em}\
figcaption{font-size:.85em;color:#444}li small{color:#777}\
@media(max-width:600px){#nodes{display:block;overflow-x:auto}#discovery,#discovery tbody,#discovery tr,#discovery td{display:block}\
#discovery tr:first-child{display:none}#discovery tr{padding:.3em 0}#discovery td{padding:.1em .6em;text-align:left}\
#discovery td::before{content:attr(data-label) \": \";color:#666;font-weight:normal}#discovery td{overflow-wrap:anywhere}}";

/// Live updates: a page with `data-events` subscribes to that server-sent event stream and
/// fills the elements whose `data-field` names a figure; a stream that fails says so on the
/// page, and the browser reconnects by itself when the node is back (a stream refused, past
/// the dashboard's cap, is not retried: the page says to reload).
const SCRIPT: &str = "(function(){var m=document.querySelector('[data-events]');if(!m)return;\
var s=document.getElementById('status');var es=new EventSource(m.dataset.events);\
var h={},prev=null;function push(k,v){if(v===null||v===undefined||isNaN(v))return;(h[k]=h[k]||[]).push(v);if(h[k].length>60)h[k].shift();}\
function draw(){document.querySelectorAll('[data-series]').forEach(function(p){var xs=h[p.dataset.series]||[];if(!xs.length)return;\
var lo=Math.min.apply(null,xs),hi=Math.max.apply(null,xs),r=(hi-lo)||1;\
p.setAttribute('points',xs.map(function(v,i){return (i*5)+','+(58-56*(v-lo)/r).toFixed(1);}).join(' '));\
var l=document.querySelector('[data-last='+p.dataset.series+']');if(l)l.textContent=xs[xs.length-1];});}\
es.addEventListener('summary',function(e){var d=JSON.parse(e.data);\
document.querySelectorAll('[data-field]').forEach(function(el){var v=d[el.dataset.field];\
if(v!==undefined&&v!==null)el.textContent=v;});var t=Date.now()/1000;\
push('memory_total',d.memory_total);push('process_count',d.process_count);\
if(prev){var dt=t-prev.t;push('reductions_rate',Math.round((d.reductions-prev.reductions)/dt));\
push('io_rate',Math.round(((d.io_input+d.io_output)-(prev.io_input+prev.io_output))/dt));\
push('dist_rate',Math.round((d.dist_bytes-prev.dist_bytes)/dt));\
push('dist_msg_rate',Math.round((d.dist_packets-prev.dist_packets)/dt));}\
prev={t:t,reductions:d.reductions,io_input:d.io_input,io_output:d.io_output,dist_bytes:d.dist_bytes,dist_packets:d.dist_packets};draw();\
if(s){s.textContent='live · updated '+new Date().toLocaleTimeString();s.className='';}});\
es.addEventListener('down',function(e){if(s){s.textContent=e.data;s.className='down';}});\
es.onerror=function(){if(s){s.textContent=es.readyState===2?'live figures refused (too many live views open?): reload to try again':'connection to the dashboard lost; retrying';s.className='down';}};})();\
(function(){var t=document.querySelector('[data-stages]');if(!t)return;var s=document.getElementById('status');\
var es=new EventSource(t.dataset.stages);function esc(x){return String(x===null||x===undefined?'-':x).replace(/[&<>\"]/g,function(c){return '&#'+c.charCodeAt(0)+';';});}\
es.addEventListener('stages',function(e){var xs=JSON.parse(e.data);t.innerHTML=xs.map(function(x){\
return '<tr data-stage=\"'+esc(x.name||x.pid)+'\"><td>'+esc(x.pid)+'</td><td>'+esc(x.name)+'</td><td>'+esc(x.kind)+'</td><td class=\"n\" data-k=\"buffered\">'+esc(x.buffered)+\
'</td><td class=\"n\" data-k=\"demand\">'+esc(x.demand)+'</td><td class=\"n\" data-k=\"expected\">'+esc(x.expected)+'</td><td class=\"n\">'+esc(x.producers)+'</td><td class=\"n\">'+esc(x.consumers)+'</td></tr>';}).join('');\
if(s){s.textContent='live · '+xs.length+' stages · updated '+new Date().toLocaleTimeString();s.className='';}});\
es.addEventListener('down',function(e){if(s){s.textContent=e.data;s.className='down';}});})();";

/// The cluster page: each known host's EPMD and the nodes on it or watched, with their
/// connections, and the node picker.
pub fn cluster(
    base: &str,
    watcher: &str,
    hosts: &[crate::cluster::Host],
    rows: &[crate::cluster::Row],
    logged_in: bool,
    token: &str,
) -> String {
    let mut body = format!(
        "<p>Watching through <code>{}</code>. Any node this dashboard's cookie opens can be picked.</p>\n\
         {}\n<h2>nodes</h2>\n<table id=\"nodes\"><tr><th>node</th><th>EPMD port</th><th>state</th><th>connected to</th></tr>\n",
        escape(watcher),
        picker(base, rows, token)
    );
    for r in rows {
        let state = match (r.connected, r.watched) {
            (true, _) => "connected",
            (false, true) => "down",
            (false, false) => "registered, not connected",
        };
        // A node not watched nor picked opens through the picker (a POST): a link would let
        // any site make the dashboard's node connect to it.
        let name = if r.watched {
            format!(
                "<a href=\"{base}/node/{}\">{}</a>",
                url(&r.name),
                escape(&r.name)
            )
        } else {
            format!(
                "{} <form class=\"inline\" method=\"post\" action=\"{base}/pick\">\
                 <input type=\"hidden\" name=\"node\" value=\"{}\"><input type=\"hidden\" name=\"token\" value=\"{token}\">\
                 <button>open</button></form>",
                escape(&r.name),
                escape(&r.name)
            )
        };
        let _ = writeln!(
            body,
            "<tr data-node=\"{}\"><td>{name}</td><td class=\"n\">{}</td><td class=\"{}\">{state}</td><td>{}</td></tr>",
            escape(&r.name),
            r.port.map_or_else(|| "-".to_owned(), |p| p.to_string()),
            if r.watched && !r.connected { "down" } else { "" },
            r.connections.as_ref().map_or_else(
                || "-".to_owned(),
                |c| if c.is_empty() { "none".to_owned() } else { escape(&c.join(" ")) }
            ),
        );
    }
    body.push_str("</table>\n");
    discovery(&mut body, rows);
    body.push_str("<h2>hosts (EPMD)</h2>\n<ul>\n");
    for h in hosts {
        let _ = match &h.names {
            Ok(names) => writeln!(
                body,
                "<li><code>{}</code>: {} node(s) registered</li>",
                escape(&h.name),
                names.len()
            ),
            Err(e) => writeln!(
                body,
                "<li><code>{}</code>: <span class=\"down\">{}</span></li>",
                escape(&h.name),
                escape(e)
            ),
        };
    }
    body.push_str("</ul>");
    if logged_in {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"{base}/logout\"><button>log out</button></form>"
        );
    }
    frame(base, "cluster", None, &body)
}

/// What each connected node's discovery strategies see: strategy, the nodes of its last good
/// answer, its failed lookups, and why it fails while it does.
fn discovery(body: &mut String, rows: &[crate::cluster::Row]) {
    let strategies: Vec<(&str, &str, &window::Discovery)> = rows
        .iter()
        .flat_map(|r| {
            r.discovery
                .iter()
                .flatten()
                .map(move |(s, d)| (r.name.as_str(), s.as_str(), d))
        })
        .collect();
    body.push_str("<h2>discovery</h2>\n");
    if strategies.is_empty() {
        body.push_str(
            "<p id=\"discovery\">No node here runs a discovery strategy (<code>--discovery</code>, <code>--cluster</code>).</p>\n",
        );
        return;
    }
    body.push_str(
        "<table id=\"discovery\"><tr><th>node</th><th>strategy</th><th>nodes found</th><th>errors</th><th>state</th></tr>\n",
    );
    for (node, strategy, d) in strategies {
        let found = if d.nodes.is_empty() {
            d.count.to_string()
        } else {
            format!("{}: {}", d.count, escape(&d.nodes.join(" ")))
        };
        let state = match &d.failing {
            Some(why) => format!(
                "<td data-label=\"state\" class=\"down\">failing: {}</td>",
                escape(why)
            ),
            None => "<td data-label=\"state\">ok</td>".to_owned(),
        };
        // (The labels head each cell where a narrow screen stacks them.)
        let _ = writeln!(
            body,
            "<tr data-node=\"{}\" data-strategy=\"{}\"><td data-label=\"node\">{}</td><td data-label=\"strategy\"><code>{}</code></td>\
             <td data-label=\"nodes found\">{found}</td><td data-label=\"errors\" class=\"n\">{}</td>{state}</tr>",
            escape(node),
            escape(strategy),
            escape(node),
            escape(strategy),
            d.errors,
        );
    }
    body.push_str("</table>\n");
}

/// The node picker: a name typed or chosen from the nodes seen, posted with the form token.
fn picker(base: &str, rows: &[crate::cluster::Row], token: &str) -> String {
    let mut out = format!(
        "<form id=\"picker\" method=\"post\" action=\"{base}/pick\"><input type=\"hidden\" name=\"token\" value=\"{token}\">\
         <label>node <input name=\"node\" list=\"known\" placeholder=\"name@host\" required></label> \
         <button>open</button><datalist id=\"known\">",
    );
    for r in rows {
        let _ = write!(out, "<option value=\"{}\">", escape(&r.name));
    }
    out.push_str("</datalist></form>");
    out
}

/// The summary's figures by field name, as the home page and its event stream carry them.
pub fn summary_fields(s: &Snapshot) -> serde_json::Value {
    let mem = |k: &str| s.memory.get(k).copied();
    serde_json::json!({
        "version": s.system_version,
        "uptime": s.summary.uptime_ms.map(window::uptime_text),
        "process_count": s.process_count,
        "process_limit": s.process_limit,
        "atom_count": s.atom_count,
        "atom_limit": s.atom_limit,
        "run_queue": s.summary.run_queue,
        "schedulers_online": s.summary.schedulers_online,
        "reductions": s.summary.reductions,
        "io_input": s.summary.io_input,
        "io_output": s.summary.io_output,
        "memory_total": mem("total"),
        "memory_processes": mem("processes"),
        "memory_system": mem("system"),
        "memory_binary": mem("binary"),
        "memory_ets": mem("ets"),
        "memory_atom": mem("atom"),
        "memory_code": mem("code"),
        "connected_nodes": s.summary.connected_nodes.join(" "),
        "dist_peers": s.summary.peers.iter().map(|p| format!(
            "{} in {} out {}",
            p.node,
            p.bytes_in.map_or_else(|| "-".to_owned(), |b| b.to_string()),
            p.bytes_out.map_or_else(|| "-".to_owned(), |b| b.to_string()),
        )).collect::<Vec<_>>().join("; "),
        "dist_bytes": s.summary.peers.iter().filter_map(|p| Some(p.bytes_in? + p.bytes_out?)).sum::<i64>(),
        "dist_packets": s.summary.peers.iter().filter_map(|p| Some(p.packets_in? + p.packets_out?)).sum::<i64>(),
    })
}

/// A node's home page: versions, uptime, limits and usage, memory split, run queue, IO; live.
pub fn home(base: &str, node: &str, s: &Snapshot) -> String {
    let fields = summary_fields(s);
    let row = |label: &str, field: &str| {
        let value = match &fields[field] {
            serde_json::Value::Null => "-".to_owned(),
            serde_json::Value::String(t) => escape(t),
            other => other.to_string(),
        };
        format!("<tr><th>{label}</th><td class=\"n\" data-field=\"{field}\">{value}</td></tr>\n")
    };
    let mut body = format!(
        "<h2>{}</h2>\n<p id=\"status\" data-events=\"{base}/node/{}/events\">loading live figures…</p>\n<table>\n",
        escape(node),
        url(node)
    );
    for (label, field) in [
        ("version", "version"),
        ("uptime", "uptime"),
        ("processes", "process_count"),
        ("process limit", "process_limit"),
        ("atoms", "atom_count"),
        ("atom limit", "atom_limit"),
        ("schedulers online", "schedulers_online"),
        ("run queue", "run_queue"),
        ("reductions", "reductions"),
        ("IO in (bytes)", "io_input"),
        ("IO out (bytes)", "io_output"),
        ("memory total", "memory_total"),
        ("memory processes", "memory_processes"),
        ("memory system", "memory_system"),
        ("memory binary", "memory_binary"),
        ("memory ETS", "memory_ets"),
        ("memory atoms", "memory_atom"),
        ("memory code", "memory_code"),
        ("connected nodes", "connected_nodes"),
        ("dist traffic by peer (bytes)", "dist_peers"),
    ] {
        body.push_str(&row(label, field));
    }
    body.push_str("</table>\n<h3>over time (live)</h3>\n<div class=\"charts\">");
    for (label, series) in [
        ("memory total (bytes)", "memory_total"),
        ("processes", "process_count"),
        ("reductions / s", "reductions_rate"),
        ("IO in + out (bytes / s)", "io_rate"),
        ("dist traffic (bytes / s)", "dist_rate"),
        ("dist messages in + out / s", "dist_msg_rate"),
    ] {
        let _ = write!(
            body,
            "<figure><figcaption>{label} <span data-last=\"{series}\"></span></figcaption>\
             <svg width=\"300\" height=\"60\" viewBox=\"0 0 300 60\"><polyline data-series=\"{series}\" fill=\"none\" stroke=\"#26364a\" points=\"\"/></svg></figure>"
        );
    }
    body.push_str("</div>");
    frame(base, node, Some(node), &body)
}

/// The process table: one page of the processes matching `filter`, in `by` order, each with
/// a link to its detail and a kill button (a form carrying the dashboard's `token`).
pub fn processes(
    base: &str,
    node: &str,
    s: &Snapshot,
    by: &str,
    filter: &str,
    page: usize,
    token: &str,
) -> String {
    let order = window::Order::named(by);
    let by = order.word();
    let rows = window::select(&s.processes, filter, order);
    let pages = rows.len().div_ceil(PAGE).max(1);
    let page = page.clamp(1, pages);
    let n = url(node);
    let link = |label: &str, sort_by: &str, to_page: usize| {
        format!(
            "<a href=\"{base}/node/{n}/processes?sort={sort_by}&amp;filter={}&amp;page={to_page}\">{label}</a>",
            url(filter)
        )
    };
    let mut body = format!(
        "<h2>{} — processes</h2>\n<form method=\"get\"><input type=\"hidden\" name=\"sort\" value=\"{}\">\
         <input name=\"filter\" value=\"{}\" placeholder=\"name or pid\"> <button>filter</button></form>\n\
         <p id=\"count\">{} processes{}, page {page} of {pages}, by {}</p>\n<table>\n<tr><th>pid</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th></th></tr>\n",
        escape(node),
        escape(by),
        escape(filter),
        rows.len(),
        if filter.is_empty() { String::new() } else { format!(" matching “{}”", escape(filter)) },
        escape(by),
        link("name", "name", 1),
        link("memory", "memory", 1),
        link("mailbox", "mailbox", 1),
        link("reductions", "reductions", 1),
    );
    for p in rows.iter().skip((page - 1) * PAGE).take(PAGE) {
        let id = PidPath::of(&p.handle);
        let _ = writeln!(
            body,
            "<tr data-pid=\"{pid}\"><td><a href=\"{base}/node/{n}/processes/{id}\">{pid}</a></td><td>{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td><form class=\"inline\" method=\"post\" action=\"{base}/node/{n}/processes/{id}/kill\">\
             <input type=\"hidden\" name=\"token\" value=\"{token}\"><button class=\"kill\">kill</button></form></td></tr>",
            escape(p.registered_name.as_deref().unwrap_or("")),
            p.memory,
            p.message_queue_len,
            p.reductions,
            pid = escape(&p.pid),
        );
    }
    body.push_str("</table>\n<p>");
    if page > 1 {
        body.push_str(&link("← previous", by, page - 1));
        body.push(' ');
    }
    if page < pages {
        body.push_str(&link("next →", by, page + 1));
    }
    body.push_str("</p>");
    frame(base, &format!("{node} processes"), Some(node), &body)
}

/// One process's detail, its paths built from `pid`'s numbers.
pub(crate) fn process(
    base: &str,
    node: &str,
    pid: PidPath,
    items: &[(String, String)],
    token: &str,
) -> String {
    let text = pid.text();
    let mut body = format!("<h2>{} on {}</h2>\n<table>\n", escape(&text), escape(node));
    for (k, v) in items {
        let _ = writeln!(
            body,
            "<tr><th>{}</th><td><code>{}</code></td></tr>",
            escape(k),
            escape(v)
        );
    }
    let _ = write!(
        body,
        "</table>\n<form method=\"post\" action=\"{base}/node/{}/processes/{}/kill\"><input type=\"hidden\" name=\"token\" value=\"{token}\">\
         <button class=\"kill\">kill {}</button></form>",
        url(node),
        pid,
        escape(&text)
    );
    frame(base, &text, Some(node), &body)
}

/// The GenStage stages and their levels, a table the page refreshes from `/stages/events`.
pub fn stages(base: &str, node: &str, stages: &[window::Stage]) -> String {
    let mut body = format!(
        "<h2>{} — GenStage pipelines</h2>\n<p id=\"status\">loading live levels…</p>\n\
         <p>Buffered: events a stage holds. Demand: events its consumers asked for and have not received. \
         Expected: events it asked its producers for and has not received.</p>\n\
         <table><thead><tr><th>pid</th><th>name</th><th>type</th><th>buffered</th><th>demand</th><th>expected</th>\
         <th>producers</th><th>consumers</th></tr></thead>\n<tbody data-stages=\"{base}/node/{}/stages/events\">\n",
        escape(node),
        url(node)
    );
    for st in stages {
        let _ = writeln!(
            body,
            "<tr data-stage=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td class=\"n\" data-k=\"buffered\">{}</td>\
             <td class=\"n\" data-k=\"demand\">{}</td><td class=\"n\" data-k=\"expected\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape(st.label()),
            escape(&st.pid),
            escape(st.name.as_deref().unwrap_or("-")),
            escape(&st.kind),
            st.buffered,
            st.demand.map_or_else(|| "-".to_owned(), |d| d.to_string()),
            st.expected,
            st.producers,
            st.consumers
        );
    }
    body.push_str("</tbody></table>");
    if stages.is_empty() {
        body.push_str("<p>No GenStage stages run on this node now.</p>");
    }
    frame(base, &format!("{node} pipelines"), Some(node), &body)
}

/// The OS page's figures by field name, as text (the page and its event stream carry them).
pub fn os_fields(o: &window::os::OsData) -> serde_json::Value {
    let bytes = |b: Option<u64>| b.map(|b| format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)));
    let n = |v: Option<u64>| v.map(|v| v.to_string());
    serde_json::json!({
        "os_type": o.os_type,
        "os_version": o.os_version,
        "os_pid": o.os_pid,
        "load": o.load.map(|l| format!("{:.2} {:.2} {:.2}", l[0], l[1], l[2])),
        "host_uptime": o.host_uptime_s.map(|s| window::uptime_text((s * 1000.0) as i64)),
        "mem_total": bytes(o.mem_total),
        "mem_available": bytes(o.mem_available),
        "swap": match (o.swap_total, o.swap_free) {
            (Some(t), Some(f)) => Some(format!("{} of {} used", bytes(Some(t.saturating_sub(f))).unwrap_or_default(), bytes(Some(t)).unwrap_or_default())),
            _ => None,
        },
        "vm_rss": bytes(o.vm_rss),
        "vm_hwm": bytes(o.vm_hwm),
        "vm_size": bytes(o.vm_size),
        "threads": n(o.threads),
        "open_fds": n(o.open_fds),
        "ctxt_switches": match (o.voluntary_ctxt_switches, o.nonvoluntary_ctxt_switches) {
            (Some(v), Some(i)) => Some(format!("{v} voluntary, {i} involuntary")),
            _ => None,
        },
    })
}

/// The node's host and OS process (`/proc`), live.
pub fn os(base: &str, node: &str, o: &window::os::OsData) -> String {
    let fields = os_fields(o);
    let mut body = format!(
        "<h2>{} — OS</h2>\n<p id=\"status\" data-events=\"{base}/node/{}/os/events\">loading live figures…</p>\n<table>\n",
        escape(node),
        url(node)
    );
    for (label, field) in [
        ("OS", "os_type"),
        ("kernel", "os_version"),
        ("OS pid", "os_pid"),
        ("host uptime", "host_uptime"),
        ("load average (1, 5, 15 min)", "load"),
        ("host memory", "mem_total"),
        ("host memory available", "mem_available"),
        ("swap", "swap"),
        ("node resident memory", "vm_rss"),
        ("node peak resident memory", "vm_hwm"),
        ("node virtual memory", "vm_size"),
        ("node threads", "threads"),
        ("node open file descriptors", "open_fds"),
        ("node context switches", "ctxt_switches"),
    ] {
        let value = match &fields[field] {
            serde_json::Value::String(t) => escape(t),
            _ => "-".to_owned(),
        };
        let _ = writeln!(
            body,
            "<tr><th>{label}</th><td class=\"n\" data-field=\"{field}\">{value}</td></tr>"
        );
    }
    body.push_str("</table>");
    frame(base, &format!("{node} OS"), Some(node), &body)
}

/// The supervision trees, as nested lists, each process a link to its detail.
pub fn trees(base: &str, node: &str, roots: &[window::tree::Child]) -> String {
    fn list(base: &str, node: &str, children: &[window::tree::Child], out: &mut String) {
        out.push_str("<ul>\n");
        for c in children {
            // Only a pid's numbers go into a path: a child that is not a pid (`undefined`,
            // or any term a node answers) is shown as text.
            let pid = match PidPath::parse(&c.pid) {
                Some(path) => format!(
                    "<a href=\"{base}/node/{}/processes/{path}\">{}</a>",
                    url(node),
                    escape(&c.pid)
                ),
                None => escape(&c.pid),
            };
            let _ = write!(
                out,
                "<li class=\"{}\" data-id=\"{}\"><code>{}</code> {pid} <small>{}</small>",
                escape(&c.kind),
                escape(&c.id),
                escape(&c.id),
                escape(&c.kind)
            );
            if !c.children.is_empty() {
                list(base, node, &c.children, out);
            }
            out.push_str("</li>\n");
        }
        out.push_str("</ul>\n");
    }
    let mut body = format!("<h2>{} — supervision trees</h2>\n", escape(node));
    if roots.is_empty() {
        body.push_str("<p>No supervision tree found.</p>");
    } else {
        list(base, node, roots, &mut body);
    }
    frame(base, &format!("{node} trees"), Some(node), &body)
}

/// Text for HTML.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Text for a URL's path segment or query value.
pub fn url(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'@' => {
                out.push(b as char)
            }
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}
