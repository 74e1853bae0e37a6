//! A rotp node's own shell: what `shell:start/0` starts on a rotp node, for `erl -remsh
//! rotp@host` and `rotp remsh rotp@host` alike. rotp runs no Erlang code, so it is not an
//! Erlang evaluator but a small command set over the node's processes, in Erlang's words
//! (`i()`, `i(Pid)`, `regs()`, `Pid ! Term`, `exit(Pid, Reason)`, supervision trees, GenStage
//! stages). Like erl's shell it reads and writes through its group leader with the Erlang I/O
//! protocol (`{get_line, unicode, Prompt}`, `{put_chars, unicode, Chars}`), so whichever
//! terminal started it (an erl node's `group`, or rotp's own remsh) edits the lines.

use std::fmt::Write as _;
use std::time::Duration;

use etf::{Atom, Pid, Term};
use runtime::{Context, ExitReason, Message};

use crate::Node;

/// The help text, one command a line.
const HELP: &str = "\
rotp shell commands (a trailing `.` is optional):
  help()               this list
  i()                  the node's processes
  i(P)                 one process (a pid <0.N.S> or a registered name)
  regs()               registered names
  whereis(Name)        the pid registered as Name
  P ! Term             send Term to P (a pid or a registered name)
  exit(P, Reason)      send P an exit signal (exit(P) sends kill)
  children(Sup)        a supervisor's children
  tree()               the supervision tree under kernel_sup
  stages()             the GenStage stages
  node()  nodes()      this node, the connected ones
  memory()             erlang:memory() as this node counts it
  q()                  leave the shell (the node keeps running)
  halt()               stop the node
";

/// Starts the shell with `group_leader` as its terminal; its pid, as `shell:start/0`
/// returns it.
pub(crate) fn start(node: &Node, group_leader: Pid) -> Pid {
    let node = node.clone();
    node.clone().runtime().spawn(move |mut ctx| async move {
        ctx.set_behaviour("shell", "shell:server/2");
        serve(&node, &mut ctx, &group_leader).await
    })
}

async fn serve(node: &Node, ctx: &mut Context, gl: &Pid) -> ExitReason {
    let gl_monitor = ctx.monitor(gl);
    let banner = format!(
        "rotp shell V{} on {} (help(). lists the commands)\n",
        env!("CARGO_PKG_VERSION"),
        node.name()
    );
    if put_chars(ctx, gl, &gl_monitor, &banner).await.is_none() {
        return ExitReason::Normal;
    }
    let mut n = 1u64;
    loop {
        let prompt = format!("({}){n}> ", node.name());
        let request = Term::Tuple(vec![
            Term::atom("get_line"),
            Term::atom("unicode"),
            chars(&prompt),
        ]);
        let Some(reply) = io(ctx, gl, &gl_monitor, request).await else {
            return ExitReason::Normal;
        };
        let line = match &reply {
            Term::Atom(a) if a.as_str() == "eof" => return ExitReason::Normal,
            other => match other.text() {
                Some(line) => line,
                // `{error, interrupted}` and the like: ask again.
                None => continue,
            },
        };
        let command = line.trim().trim_end_matches('.').trim();
        if command.is_empty() {
            continue;
        }
        let output = match command {
            "q()" | "q" => {
                let _ = put_chars(
                    ctx,
                    gl,
                    &gl_monitor,
                    "leaving the shell; the node runs on\n",
                )
                .await;
                return ExitReason::Normal;
            }
            "halt()" => {
                let _ = put_chars(ctx, gl, &gl_monitor, "stopping the node\n").await;
                std::process::exit(0);
            }
            _ => eval(node, ctx, command).await,
        };
        let output = match output {
            Ok(text) => text,
            Err(e) => format!("** {e}\n"),
        };
        if put_chars(ctx, gl, &gl_monitor, &output).await.is_none() {
            return ExitReason::Normal;
        }
        n += 1;
    }
}

/// One command's output.
async fn eval(node: &Node, ctx: &mut Context, command: &str) -> Result<String, String> {
    if let Some((to, term)) = command.split_once('!') {
        let term = parse(node, term.trim())?;
        let to = parse(node, to.trim())?;
        match &to {
            Term::Pid(p) => ctx.send(p, Message::Term(term.clone())),
            Term::Atom(name) => ctx
                .send_named(name, Message::Term(term.clone()))
                .map_err(|_| format!("exception error: bad argument ({name} is not registered)"))?,
            _ => return Err("exception error: bad argument (send to a pid or a name)".into()),
        }
        return Ok(format!("{}\n", show(node, &term)));
    }
    let (name, args) = call(command)?;
    let rt = node.runtime();
    match (name, args.as_slice()) {
        ("help" | "h", []) => Ok(HELP.to_owned()),
        ("i" | "processes", []) => Ok(processes_table(node)),
        ("i", [who]) => {
            let pid = resolve(node, &parse(node, who)?)?;
            Ok(process_detail(node, &pid))
        }
        ("regs" | "registered", []) => {
            let mut names = rt.registered();
            names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
            let mut out = String::new();
            for n in names {
                let pid = rt
                    .whereis(&n)
                    .map_or_else(String::new, |p| pid_text(node, &p));
                let _ = writeln!(out, "{:<28} {pid}", n.as_str());
            }
            Ok(out)
        }
        ("whereis", [name]) => match parse(node, name)? {
            Term::Atom(n) => Ok(format!(
                "{}\n",
                rt.whereis(&n)
                    .map_or("undefined".to_owned(), |p| pid_text(node, &p))
            )),
            _ => Err("exception error: bad argument (whereis takes a name)".into()),
        },
        ("exit", [who]) => {
            let pid = resolve(node, &parse(node, who)?)?;
            ctx.exit(&pid, ExitReason::Kill);
            Ok("true\n".to_owned())
        }
        ("exit", [who, reason]) => {
            let pid = resolve(node, &parse(node, who)?)?;
            ctx.exit(&pid, ExitReason::from_term(&parse(node, reason)?));
            Ok("true\n".to_owned())
        }
        ("children" | "which_children", [sup]) => {
            let pid = resolve(node, &parse(node, sup)?)?;
            let mut out = String::new();
            for c in children(ctx, &pid).await? {
                let kind = match c.child_type {
                    otp::supervisor::ChildType::Worker => "worker",
                    otp::supervisor::ChildType::Supervisor => "supervisor",
                };
                let _ = writeln!(
                    out,
                    "{:<28} {:<14} {kind}",
                    c.id.as_str(),
                    c.pid.map_or("undefined".to_owned(), |p| pid_text(node, &p)),
                );
            }
            Ok(out)
        }
        ("tree", []) => {
            let root = rt
                .whereis(&Atom::from("kernel_sup"))
                .ok_or("kernel_sup is not running")?;
            let mut out = format!("kernel_sup {}\n", pid_text(node, &root));
            tree(node, ctx, &root, 1, &mut out).await;
            Ok(out)
        }
        ("stages", []) => {
            let mut out = String::new();
            for p in rt.processes() {
                let Some(info) = rt.process_info(&p) else {
                    continue;
                };
                if info.current_behaviour.as_deref() != Some("gen_stage") {
                    continue;
                }
                let name = info
                    .registered_name
                    .map_or_else(String::new, |n| n.to_string());
                let _ = writeln!(
                    out,
                    "{:<14} {:<24} queue {:<6} {}",
                    pid_text(node, &p),
                    name,
                    info.message_queue_len,
                    info.initial_call
                );
            }
            if out.is_empty() {
                out.push_str("no stages\n");
            }
            Ok(out)
        }
        ("node", []) => Ok(format!("{}\n", node.name())),
        ("nodes", []) => Ok(format!(
            "{}\n",
            show(
                node,
                &Term::List(node.nodes(false).into_iter().map(Term::Atom).collect())
            )
        )),
        ("memory", []) => {
            let mut out = String::new();
            for (kind, bytes) in crate::functions::memory(node) {
                let _ = writeln!(out, "{kind:<16} {bytes}");
            }
            Ok(out)
        }
        _ => Err(format!(
            "exception error: undefined shell command {command} (help(). lists them)"
        )),
    }
}

/// `name(arg, ...)` (or a bare `name`) split into the name and its argument texts, commas
/// inside brackets and strings kept.
fn call(command: &str) -> Result<(&str, Vec<&str>), String> {
    let Some((name, rest)) = command.split_once('(') else {
        return Ok((command, Vec::new()));
    };
    let inner = rest
        .strip_suffix(')')
        .ok_or_else(|| format!("syntax error: {command} lacks its closing )"))?;
    let mut args = Vec::new();
    let (mut depth, mut start, mut quote) = (0i32, 0usize, None::<char>);
    for (i, c) in inner.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '(' | '[' | '{' | '<') => depth += 1,
            (None, ')' | ']' | '}' | '>') => depth -= 1,
            (None, ',') if depth == 0 => {
                args.push(inner[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if !inner.trim().is_empty() {
        args.push(inner[start..].trim());
    }
    Ok((name.trim(), args))
}

/// A term typed at the prompt; `<0.N.S>` is a pid of this node, as erl's shell reads it.
fn parse(node: &Node, text: &str) -> Result<Term, String> {
    let term = etf::text::parse(text).map_err(|e| format!("syntax error: {e}"))?;
    Ok(localize(node, term))
}

fn localize(node: &Node, term: Term) -> Term {
    match term {
        Term::Pid(mut p) if p.node.as_str() == etf::text::NONODE => {
            p.node = node.name().clone();
            p.creation = node.runtime().creation();
            Term::Pid(p)
        }
        Term::List(v) => Term::List(v.into_iter().map(|t| localize(node, t)).collect()),
        Term::Tuple(v) => Term::Tuple(v.into_iter().map(|t| localize(node, t)).collect()),
        other => other,
    }
}

/// A pid, or the pid a registered name is on.
fn resolve(node: &Node, who: &Term) -> Result<Pid, String> {
    match who {
        Term::Pid(p) => Ok(p.clone()),
        Term::Atom(n) => node
            .runtime()
            .whereis(n)
            .ok_or_else(|| format!("exception error: bad argument ({n} is not registered)")),
        _ => Err("exception error: bad argument (a pid or a registered name)".into()),
    }
}

/// `<0.N.S>` for this node's pids, as erl prints its own; the node's name for others'.
fn pid_text(node: &Node, p: &Pid) -> String {
    if &p.node == node.name() {
        format!("<0.{}.{}>", p.id, p.serial)
    } else {
        etf::text::write(&Term::Pid(p.clone()))
    }
}

fn show(node: &Node, term: &Term) -> String {
    match term {
        Term::Pid(p) => pid_text(node, p),
        other => etf::text::write(other),
    }
}

fn processes_table(node: &Node) -> String {
    let rt = node.runtime();
    let mut out = format!(
        "{:<14} {:<28} {:>8} {:>10} {:>6}  {}\n",
        "Pid", "Name", "Reds", "Memory", "MsgQ", "Initial call"
    );
    let mut pids = rt.processes();
    pids.sort_by_key(|p| (p.serial, p.id));
    for p in pids {
        let Some(info) = rt.process_info(&p) else {
            continue;
        };
        let name = info
            .registered_name
            .map_or_else(String::new, |n| n.to_string());
        let _ = writeln!(
            out,
            "{:<14} {:<28} {:>8} {:>10} {:>6}  {}",
            pid_text(node, &p),
            name,
            info.reductions,
            info.memory,
            info.message_queue_len,
            info.initial_call
        );
    }
    out
}

fn process_detail(node: &Node, pid: &Pid) -> String {
    let Some(info) = node.runtime().process_info(pid) else {
        return "undefined\n".to_owned();
    };
    let pids = |v: &[Pid]| {
        v.iter()
            .map(|p| pid_text(node, p))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = String::new();
    let _ = writeln!(out, "pid               {}", pid_text(node, pid));
    let _ = writeln!(
        out,
        "registered_name   {}",
        info.registered_name
            .map_or_else(|| "[]".to_owned(), |n| n.to_string())
    );
    let _ = writeln!(out, "initial_call      {}", info.initial_call);
    if let Some(b) = &info.current_behaviour {
        let _ = writeln!(out, "behaviour         {b}");
    }
    let _ = writeln!(out, "status            {:?}", info.status);
    let _ = writeln!(out, "message_queue_len {}", info.message_queue_len);
    let _ = writeln!(out, "memory            {}", info.memory);
    let _ = writeln!(out, "reductions        {}", info.reductions);
    let _ = writeln!(out, "links             [{}]", pids(&info.links));
    let _ = writeln!(out, "monitored_by      [{}]", pids(&info.monitored_by));
    let _ = writeln!(out, "trap_exit         {}", info.trap_exit);
    out
}

async fn children(ctx: &mut Context, sup: &Pid) -> Result<Vec<otp::supervisor::ChildInfo>, String> {
    let ask = otp::supervisor::request(
        ctx,
        otp::gen_server::ServerRef::Pid(sup.clone()),
        otp::supervisor::Request::WhichChildren,
    );
    match tokio::time::timeout(Duration::from_secs(5), ask).await {
        Ok(otp::supervisor::Response::Children(c)) => Ok(c),
        _ => Err("exception exit: not a supervisor, or it did not answer".into()),
    }
}

/// The supervision tree under `sup`, indented by depth.
async fn tree(node: &Node, ctx: &mut Context, sup: &Pid, depth: usize, out: &mut String) {
    let Ok(kids) = children(ctx, sup).await else {
        return;
    };
    for c in kids {
        let pid = c
            .pid
            .as_ref()
            .map_or("undefined".to_owned(), |p| pid_text(node, p));
        let _ = writeln!(out, "{}{} {pid}", "  ".repeat(depth), c.id.as_str());
        if c.child_type == otp::supervisor::ChildType::Supervisor {
            if let Some(p) = &c.pid {
                Box::pin(tree(node, ctx, p, depth + 1, out)).await;
            }
        }
    }
}

/// The commands, with their arities, for completion.
const COMMANDS: &[(&str, i64)] = &[
    ("children", 1),
    ("exit", 1),
    ("exit", 2),
    ("halt", 0),
    ("help", 0),
    ("i", 0),
    ("i", 1),
    ("memory", 0),
    ("node", 0),
    ("nodes", 0),
    ("q", 0),
    ("regs", 0),
    ("stages", 0),
    ("tree", 0),
    ("whereis", 1),
];

/// `edlin_expand:expand/1` for this shell: `Before` is the line up to the cursor, reversed;
/// the word being typed is completed among the commands, in edlin's answer shape
/// (`{yes, Insert, []}` for one candidate, `{yes | no, CommonPart, [{Name, Arity}]}` for
/// several, stdlib's `edlin_expand.erl`).
pub(crate) fn expand(before: &Term) -> Term {
    let before: String = before.text().unwrap_or_default().chars().rev().collect();
    let word: String = before
        .chars()
        .rev()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let matches: Vec<(&str, i64)> = COMMANDS
        .iter()
        .copied()
        .filter(|(name, _)| name.starts_with(word.as_str()))
        .collect();
    let mut names: Vec<&str> = matches.iter().map(|(n, _)| *n).collect();
    names.dedup();
    let answer = |yes: bool, insert: &str, list: Vec<Term>| {
        Term::Tuple(vec![
            Term::atom(if yes { "yes" } else { "no" }),
            chars(insert),
            Term::List(list),
        ])
    };
    match names.as_slice() {
        [] => answer(false, "", Vec::new()),
        [one] => answer(true, &format!("{}(", &one[word.len()..]), Vec::new()),
        many => {
            let common = many.iter().skip(1).fold(many[0].to_owned(), |acc, n| {
                acc.chars()
                    .zip(n.chars())
                    .take_while(|(a, b)| a == b)
                    .map(|(a, _)| a)
                    .collect()
            });
            let list = matches
                .iter()
                .map(|(n, a)| Term::Tuple(vec![chars(n), Term::Integer(*a)]))
                .collect();
            answer(common.len() > word.len(), &common[word.len()..], list)
        }
    }
}

fn chars(s: &str) -> Term {
    Term::List(
        s.chars()
            .map(|c| Term::Integer(i64::from(u32::from(c))))
            .collect(),
    )
}

async fn put_chars(
    ctx: &mut Context,
    gl: &Pid,
    monitor: &etf::Reference,
    text: &str,
) -> Option<Term> {
    let request = Term::Tuple(vec![
        Term::atom("put_chars"),
        Term::atom("unicode"),
        Term::Binary(etf::Bytes::copy_from_slice(text.as_bytes())),
    ]);
    io(ctx, gl, monitor, request).await
}

/// One I/O request to the group leader and its reply; `None` once the group leader is gone.
async fn io(ctx: &mut Context, gl: &Pid, monitor: &etf::Reference, request: Term) -> Option<Term> {
    let tag = ctx.make_ref();
    let m = Term::Tuple(vec![
        Term::atom("io_request"),
        Term::Pid(ctx.pid().clone()),
        Term::Reference(tag.clone()),
        request,
    ]);
    ctx.send(gl, Message::Term(m));
    let reply = ctx
        .receive(|m| {
            m.as_down().is_some_and(|(r, _, _)| &r == monitor)
                || matches!(m.as_term(), Some(Term::Tuple(v))
                    if v.len() == 3 && v[0].as_atom() == Some("io_reply") && v[1] == Term::Reference(tag.clone()))
        })
        .await;
    match reply.as_term() {
        Some(Term::Tuple(v)) if v.len() == 3 && v[0].as_atom() == Some("io_reply") => {
            Some(v[2].clone())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{call, chars, expand};
    use etf::Term;

    #[test]
    fn expansion_completes_command_names_as_edlin_does() {
        let rev = |s: &str| chars(&s.chars().rev().collect::<String>());
        let yes = |insert: &str| Term::Tuple(vec![Term::atom("yes"), chars(insert), Term::NIL]);
        assert_eq!(expand(&rev("sta")), yes("ges("));
        assert_eq!(expand(&rev("X = whe")), yes("reis("));
        // exit/1 and exit/2 are one name.
        assert_eq!(expand(&rev("e")), yes("xit("));
        let Term::Tuple(v) = expand(&rev("n")) else {
            panic!("a tuple")
        };
        assert_eq!(v[0], Term::atom("yes"));
        assert_eq!(v[1], chars("ode"));
        assert!(matches!(&v[2], Term::List(l) if l.len() == 2));
        assert_eq!(
            expand(&rev("zzz")),
            Term::Tuple(vec![Term::atom("no"), chars(""), Term::NIL])
        );
    }

    #[test]
    fn commands_split_into_a_name_and_arguments() {
        assert_eq!(call("i()"), Ok(("i", vec![])));
        assert_eq!(call("regs"), Ok(("regs", vec![])));
        assert_eq!(call("i(<0.5.0>)"), Ok(("i", vec!["<0.5.0>"])));
        assert_eq!(
            call("exit(<0.5.0>, {shutdown, \"a,b\"})"),
            Ok(("exit", vec!["<0.5.0>", "{shutdown, \"a,b\"}"]))
        );
        assert!(call("i(").is_err());
    }
}
