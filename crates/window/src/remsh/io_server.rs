//! The local side of the Erlang I/O protocol (ERTS User's Guide, "The Erlang I/O Protocol";
//! kernel's `group.erl` is erl's own): `{io_request, From, ReplyAs, Request}` in,
//! `{io_reply, ReplyAs, Reply}` out, for the requests a shell and its evaluations make.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use etf::{Atom, Pid, Term};
use node::Node;
use runtime::{Context, ExitReason, Message};
use tokio::sync::mpsc;

use super::chardata::{data, string, to_string};
use super::{Ended, Read, Terminal};

/// How long a call the I/O server makes on the target (formatting, scanning) may take.
const RPC: Duration = Duration::from_secs(30);

/// What tab completion offers: text to insert, and the candidates to list when there are
/// several (`edlin_expand:expand/1`'s `{yes | no, Insert, Matches}`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expansion {
    /// Inserted at the cursor.
    pub insert: String,
    /// Candidates, `name/arity` for functions.
    pub matches: Vec<String>,
}

/// Tab completion on the target: its `expand_fun` (IEx sets its own) or, as group.erl does by
/// default, `edlin_expand:expand/1`, called by rpc with the line before the cursor reversed.
#[derive(Clone)]
pub struct Expander {
    node: Node,
    target: Atom,
    fun: Option<Term>,
    handle: tokio::runtime::Handle,
}

impl Expander {
    pub(super) fn default_for(node: &Node, target: &Atom) -> Expander {
        Expander {
            node: node.clone(),
            target: target.clone(),
            fun: None,
            handle: tokio::runtime::Handle::current(),
        }
    }

    /// What the target offers for `before` (the line up to the cursor). Blocking: call it
    /// from the terminal's thread, not from async code.
    pub fn expand(&self, before: &str) -> Option<Expansion> {
        let reversed = string(&before.chars().rev().collect::<String>());
        let (m, f, args) = match &self.fun {
            Some(fun) => (
                "erlang",
                "apply",
                vec![fun.clone(), Term::List(vec![reversed])],
            ),
            None => ("edlin_expand", "expand", vec![reversed]),
        };
        let answer =
            self.handle.block_on(
                self.node
                    .rpc(&self.target, m, f, args, Duration::from_secs(5)),
            );
        let Term::Tuple(v) = answer else { return None };
        let [_, insert, Term::List(matches)] = v.as_slice() else {
            return None;
        };
        let matches = matches
            .iter()
            .filter_map(|m| match m {
                Term::Tuple(na) => match na.as_slice() {
                    [name, Term::Integer(arity)] => {
                        Some(format!("{}/{arity}", to_string(name, false)?))
                    }
                    [name, _] => to_string(name, false),
                    _ => None,
                },
                other => to_string(other, false),
            })
            .collect();
        Some(Expansion {
            insert: to_string(insert, false).unwrap_or_default(),
            matches,
        })
    }
}

/// The user left while a line was being read, or the shell went away.
struct Stop(Ended);

/// The I/O server's state: the options `setopts` set, and input read but not yet consumed
/// (what a `get_until`'s scanner left over).
pub(super) struct IoServer {
    node: Node,
    target: Atom,
    terminal: Arc<dyn Terminal>,
    binary: bool,
    expand_fun: Option<Term>,
    pending: String,
    /// Requests that came while a line was being read, in order.
    deferred: VecDeque<Term>,
}

impl IoServer {
    pub(super) fn new(node: Node, target: Atom, terminal: Arc<dyn Terminal>) -> IoServer {
        IoServer {
            node,
            target,
            terminal,
            binary: false,
            expand_fun: None,
            pending: String::new(),
            deferred: VecDeque::new(),
        }
    }

    /// Serves `shell` until it ends, the node goes down or the user leaves.
    pub(super) async fn serve(
        &mut self,
        ctx: &mut Context,
        shell: &Pid,
        interrupts: &mut mpsc::UnboundedReceiver<()>,
    ) -> Ended {
        loop {
            let message = match self.deferred.pop_front() {
                Some(m) => Message::Term(m),
                None => tokio::select! {
                    m = ctx.recv() => m,
                    Some(()) = interrupts.recv() => {
                        ctx.exit(shell, ExitReason::Other(Term::atom("interrupt")));
                        continue;
                    }
                },
            };
            if let Some((pid, reason)) = message.as_exit() {
                if &pid == shell {
                    return gone(reason);
                }
                continue;
            }
            let Some((from, reply_as, request)) = io_request(&message) else {
                continue;
            };
            match self.request(ctx, shell, &request).await {
                Ok(reply) => reply_to(ctx, &from, reply_as, reply),
                Err(Stop(ended)) => return ended,
            }
        }
    }

    /// One request's reply (ERTS User's Guide, "The Erlang I/O Protocol").
    async fn request(
        &mut self,
        ctx: &mut Context,
        shell: &Pid,
        request: &Term,
    ) -> Result<Term, Stop> {
        let ok = Ok(Term::atom("ok"));
        let error = |what: &str| Ok(Term::Tuple(vec![Term::atom("error"), Term::atom(what)]));
        let items: &[Term] = match request {
            Term::Tuple(v) => v,
            Term::Atom(a) if a.as_str() == "getopts" => return Ok(self.getopts()),
            _ => return error("request"),
        };
        let Some(tag) = items.first().and_then(Term::as_atom) else {
            return error("request");
        };
        // The forms without an encoding are latin1's (io.erl's old requests).
        let (latin1, rest) = match items.get(1).and_then(Term::as_atom) {
            Some("latin1") => (true, &items[2..]),
            Some("unicode") => (false, &items[2..]),
            _ => (true, &items[1..]),
        };
        match (tag, rest) {
            ("put_chars", [chars]) => match to_string(chars, latin1) {
                Some(text) => {
                    self.terminal.print(&text);
                    ok
                }
                None => error("put_chars"),
            },
            ("put_chars", [Term::Atom(m), Term::Atom(f), Term::List(a)]) => {
                let out = self
                    .node
                    .rpc(&self.target, m.as_str(), f.as_str(), a.clone(), RPC)
                    .await;
                match to_string(&out, false) {
                    Some(text) => {
                        self.terminal.print(&text);
                        ok
                    }
                    None => error("put_chars"),
                }
            }
            ("get_line", [prompt]) => {
                let prompt = self.prompt(prompt).await;
                let line = self.line(ctx, shell, &prompt, false).await?;
                Ok(line.map_or(Term::atom("eof"), |l| data(&l, self.binary)))
            }
            ("get_password", []) => {
                let line = self.line(ctx, shell, "", true).await?;
                Ok(line.map_or(Term::atom("eof"), |l| {
                    data(l.trim_end_matches('\n'), self.binary)
                }))
            }
            ("get_chars", [prompt, Term::Integer(n)]) if *n >= 0 => {
                let prompt = self.prompt(prompt).await;
                let n = *n as usize;
                while self.pending.chars().count() < n {
                    match self.line(ctx, shell, &prompt, false).await? {
                        Some(l) => self.pending.push_str(&l),
                        None => break,
                    }
                }
                if self.pending.is_empty() {
                    return Ok(Term::atom("eof"));
                }
                let cut = self
                    .pending
                    .char_indices()
                    .nth(n)
                    .map_or(self.pending.len(), |(i, _)| i);
                let chars: String = self.pending.drain(..cut).collect();
                Ok(data(&chars, self.binary))
            }
            ("get_until", [prompt, Term::Atom(m), Term::Atom(f), Term::List(extra)]) => {
                let prompt = self.prompt(prompt).await;
                self.get_until(ctx, shell, &prompt, m, f, extra).await
            }
            ("setopts", [Term::List(opts)]) => {
                for opt in opts {
                    match opt {
                        Term::Atom(a) if a.as_str() == "binary" => self.binary = true,
                        Term::Atom(a) if a.as_str() == "list" => self.binary = false,
                        Term::Tuple(kv) => match kv.as_slice() {
                            [k, v] if k.as_atom() == Some("binary") => {
                                self.binary = v.as_atom() == Some("true");
                            }
                            [k, fun] if k.as_atom() == Some("expand_fun") => {
                                self.expand_fun = Some(fun.clone());
                                let mut expander = Expander::default_for(&self.node, &self.target);
                                expander.fun = Some(fun.clone());
                                self.terminal.set_expander(expander);
                            }
                            _ => {}
                        },
                        _ => {}
                    }
                }
                ok
            }
            ("get_geometry", [what]) => {
                let (columns, rows) = self.terminal.geometry();
                match what.as_atom() {
                    Some("columns") => Ok(ok_value(i64::from(columns))),
                    Some("rows") => Ok(ok_value(i64::from(rows))),
                    _ => error("enotsup"),
                }
            }
            ("requests", [Term::List(requests)]) => {
                let mut last = Term::atom("ok");
                for r in requests {
                    last = Box::pin(self.request(ctx, shell, r)).await?;
                    if matches!(&last, Term::Tuple(v) if v.first().and_then(Term::as_atom) == Some("error"))
                    {
                        break;
                    }
                }
                Ok(last)
            }
            _ => error("request"),
        }
    }

    /// `getopts`: what group.erl reports of a terminal.
    fn getopts(&self) -> Term {
        let kv = |k: &str, v: Term| Term::Tuple(vec![Term::atom(k), v]);
        let mut opts = vec![
            kv(
                "binary",
                Term::atom(if self.binary { "true" } else { "false" }),
            ),
            kv("encoding", Term::atom("unicode")),
            kv("echo", Term::atom("true")),
        ];
        if let Some(fun) = &self.expand_fun {
            opts.push(kv("expand_fun", fun.clone()));
        }
        Term::List(opts)
    }

    /// `get_until`: feeds lines to `M:F(Continuation, Data, Extra...)` on the target until it
    /// answers `{done, Result, Rest}` (`erl_scan:tokens/4` for the Erlang shell); `Rest` is
    /// kept for the next request. Ctrl-C discards what was typed and asks again.
    async fn get_until(
        &mut self,
        ctx: &mut Context,
        shell: &Pid,
        prompt: &str,
        m: &Atom,
        f: &Atom,
        extra: &[Term],
    ) -> Result<Term, Stop> {
        let mut cont = Term::NIL;
        loop {
            let input = if self.pending.is_empty() {
                match self.line(ctx, shell, prompt, false).await? {
                    Some(l) => l,
                    // Ctrl-C at the prompt: start the expression again.
                    None => {
                        cont = Term::NIL;
                        continue;
                    }
                }
            } else {
                std::mem::take(&mut self.pending)
            };
            let mut args = vec![cont.clone(), data(&input, self.binary)];
            args.extend_from_slice(extra);
            let answer = self
                .node
                .rpc(&self.target, m.as_str(), f.as_str(), args, RPC)
                .await;
            let Term::Tuple(v) = &answer else {
                return Ok(Term::Tuple(vec![Term::atom("error"), answer]));
            };
            match (v.first().and_then(Term::as_atom), v.as_slice()) {
                (Some("done"), [_, result, rest]) => {
                    self.pending = to_string(rest, false).unwrap_or_default();
                    return Ok(result.clone());
                }
                (Some("more"), [_, next]) => cont = next.clone(),
                _ => return Ok(Term::Tuple(vec![Term::atom("error"), answer])),
            }
        }
    }

    /// The text of a prompt: chardata as it is, anything else (`{format, F, A}`, an atom) as
    /// the target's `io_lib:format_prompt/2` writes it, as group.erl does.
    async fn prompt(&self, prompt: &Term) -> String {
        if let Some(text) = to_string(prompt, false) {
            return text;
        }
        let out = self
            .node
            .rpc(
                &self.target,
                "io_lib",
                "format_prompt",
                vec![prompt.clone(), Term::atom("unicode")],
                RPC,
            )
            .await;
        to_string(&out, false).unwrap_or_default()
    }

    /// A line typed after `prompt`, with its newline; `None` for Ctrl-C. Output that arrives
    /// meanwhile is printed; other requests wait their turn.
    async fn line(
        &mut self,
        ctx: &mut Context,
        shell: &Pid,
        prompt: &str,
        password: bool,
    ) -> Result<Option<String>, Stop> {
        let terminal = self.terminal.clone();
        let prompt = prompt.to_owned();
        let read = runtime::blocking(move || terminal.read_line(&prompt, password));
        tokio::pin!(read);
        loop {
            tokio::select! {
                r = &mut read => return match r {
                    Read::Line(l) => Ok(Some(l + "\n")),
                    Read::Interrupted => Ok(None),
                    Read::Eof => Err(Stop(Ended::Left)),
                },
                m = ctx.recv() => {
                    if let Some((pid, reason)) = m.as_exit() {
                        if &pid == shell {
                            return Err(Stop(gone(reason)));
                        }
                        continue;
                    }
                    match io_request(&m) {
                        Some((from, reply_as, request)) if is_output(&request) => {
                            let reply = Box::pin(self.request(ctx, shell, &request)).await?;
                            reply_to(ctx, &from, reply_as, reply);
                        }
                        Some(_) => {
                            if let Some(t) = m.as_term() {
                                self.deferred.push_back(t.clone());
                            }
                        }
                        None => {}
                    }
                }
            }
        }
    }
}

/// How a session ends when the shell exits with `reason`.
fn gone(reason: ExitReason) -> Ended {
    match reason {
        ExitReason::NoConnection => Ended::NodeDown,
        other => Ended::ShellExited(other.to_term()),
    }
}

fn ok_value(n: i64) -> Term {
    Term::Tuple(vec![Term::atom("ok"), Term::Integer(n)])
}

/// `{io_request, From, ReplyAs, Request}`'s parts.
fn io_request(m: &Message) -> Option<(Pid, Term, Term)> {
    match m.as_term()? {
        Term::Tuple(v) if v.len() == 4 && v[0].as_atom() == Some("io_request") => match &v[1] {
            Term::Pid(from) => Some((from.clone(), v[2].clone(), v[3].clone())),
            _ => None,
        },
        _ => None,
    }
}

/// A request that only writes (served at once, even while a line is being read).
fn is_output(request: &Term) -> bool {
    matches!(request, Term::Tuple(v) if v.first().and_then(Term::as_atom) == Some("put_chars"))
}

fn reply_to(ctx: &Context, from: &Pid, reply_as: Term, reply: Term) {
    let m = Term::Tuple(vec![Term::atom("io_reply"), reply_as, reply]);
    ctx.send(from, Message::Term(m));
}
