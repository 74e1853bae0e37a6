//! Control messages: the tuple every distribution message starts with (erl_dist_protocol,
//! "Protocol between Connected Nodes"). Some are followed by a second term, the payload: the
//! message sent, an exit reason, or a spawn's argument list ([`ControlMessage::has_payload`]).
//!
//! The `_TT` variants (with a sequential-trace token) are the plain ones with `token: Some(_)`.
//!
//! ```
//! use rotp_dist::ControlMessage;
//! use etf::{Atom, Pid, Term};
//!
//! // `exit(Pid, kill)` from <a@h.80.0> to <b@h.81.0>: `{8, FromPid, ToPid, kill}`, no payload.
//! let pid = |node: &str, id| Pid { node: Atom::from(node), id, serial: 0, creation: 1 };
//! let exit2 = ControlMessage::Exit2 {
//!     from: pid("a@h", 80),
//!     to: pid("b@h", 81),
//!     reason: Term::atom("kill"),
//!     token: None,
//! };
//! let tuple = exit2.to_term();
//! let Term::Tuple(elements) = &tuple else { panic!("a tuple") };
//! assert_eq!((elements.len(), &elements[0]), (4, &Term::from(8)));
//! assert!(!exit2.has_payload());
//! assert_eq!(ControlMessage::from_term(&tuple)?, exit2);
//!
//! // What no node sends is an error, not a panic.
//! assert!(ControlMessage::from_term(&Term::tuple(vec![Term::from(99)])).is_err());
//! # Ok::<(), rotp_dist::ControlError>(())
//! ```

use etf::{Atom, Decoder, EncodeError, Encoder, Pid, Reference, Term};
use thiserror::Error;

/// A process named in a monitor: by pid, or by registered name on the receiving node.
#[derive(Clone, Debug, PartialEq)]
pub enum ProcessRef {
    /// A pid.
    Pid(Pid),
    /// A registered name.
    Name(Atom),
}

impl ProcessRef {
    fn to_term(&self) -> Term {
        match self {
            ProcessRef::Pid(p) => Term::Pid(p.clone()),
            ProcessRef::Name(n) => Term::Atom(n.clone()),
        }
    }

    fn from_term(t: &Term) -> Option<ProcessRef> {
        match t {
            Term::Pid(p) => Some(ProcessRef::Pid(p.clone())),
            Term::Atom(a) => Some(ProcessRef::Name(a.clone())),
            _ => None,
        }
    }
}

/// A control message. Each variant's doc gives its tuple; the fields are that tuple's elements
/// under erl_dist_protocol's names (`token` is the `TraceToken` of the `_TT` form).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
#[allow(missing_docs)]
pub enum ControlMessage {
    /// `{1, FromPid, ToPid}`.
    Link { from: Pid, to: Pid },
    /// `{2, Unused, ToPid}` / `{12, Unused, ToPid, TraceToken}`; payload: the message.
    Send { to: Pid, token: Option<Term> },
    /// `{3, FromPid, ToPid, Reason}` / `{13, FromPid, ToPid, TraceToken, Reason}`: a linked
    /// process ended.
    Exit {
        from: Pid,
        to: Pid,
        reason: Term,
        token: Option<Term>,
    },
    /// `{4, FromPid, ToPid}`: the old unlink (before `UNLINK_ID`).
    Unlink { from: Pid, to: Pid },
    /// `{5}`.
    NodeLink,
    /// `{6, FromPid, Unused, ToName}` / `{16, FromPid, Unused, ToName, TraceToken}`; payload:
    /// the message.
    RegSend {
        from: Pid,
        to: Atom,
        token: Option<Term>,
    },
    /// `{7, FromPid, ToPid}`.
    GroupLeader { from: Pid, to: Pid },
    /// `{8, FromPid, ToPid, Reason}` / `{18, FromPid, ToPid, TraceToken, Reason}`: `exit/2`.
    Exit2 {
        from: Pid,
        to: Pid,
        reason: Term,
        token: Option<Term>,
    },
    /// `{19, FromPid, ToProc, Ref}`.
    MonitorP {
        from: Pid,
        to: ProcessRef,
        reference: Reference,
    },
    /// `{20, FromPid, ToProc, Ref}`.
    DemonitorP {
        from: Pid,
        to: ProcessRef,
        reference: Reference,
    },
    /// `{21, FromProc, ToPid, Ref, Reason}`: a monitored process ended.
    MonitorPExit {
        from: ProcessRef,
        to: Pid,
        reference: Reference,
        reason: Term,
    },
    /// `{22, FromPid, ToPid}` / `{23, FromPid, ToPid, TraceToken}`; payload: the message.
    SendSender {
        from: Pid,
        to: Pid,
        token: Option<Term>,
    },
    /// `{24, FromPid, ToPid}` / `{25, …, TraceToken}`; payload: the reason.
    PayloadExit {
        from: Pid,
        to: Pid,
        token: Option<Term>,
    },
    /// `{26, FromPid, ToPid}` / `{27, …, TraceToken}`; payload: the reason.
    PayloadExit2 {
        from: Pid,
        to: Pid,
        token: Option<Term>,
    },
    /// `{28, FromProc, ToPid, Ref}`; payload: the reason.
    PayloadMonitorPExit {
        from: ProcessRef,
        to: Pid,
        reference: Reference,
    },
    /// `{29, ReqId, From, GroupLeader, {Module, Function, Arity}, OptList}` /
    /// `{30, …, Token}`; payload: the argument list.
    SpawnRequest {
        req_id: Reference,
        from: Pid,
        group_leader: Pid,
        module: Atom,
        function: Atom,
        arity: u32,
        options: Term,
        token: Option<Term>,
    },
    /// `{31, ReqId, To, Flags, Result}` / `{32, …, Token}`: `Result` is the new pid or an
    /// error atom.
    SpawnReply {
        req_id: Reference,
        to: Pid,
        flags: i64,
        result: Term,
        token: Option<Term>,
    },
    /// `{33, FromPid, Alias}` / `{34, FromPid, Alias, Token}`; payload: the message.
    AliasSend {
        from: Pid,
        alias: Reference,
        token: Option<Term>,
    },
    /// `{35, Id, FromPid, ToPid}`: the new unlink protocol.
    UnlinkId { id: Term, from: Pid, to: Pid },
    /// `{36, Id, FromPid, ToPid}`.
    UnlinkIdAck { id: Term, from: Pid, to: Pid },
}

/// A control tuple rotp does not understand.
#[derive(Debug, Error, Clone, PartialEq)]
#[error("bad control message: {0}")]
pub struct ControlError(pub String);

/// `{Op, FromPid, ToPid}`.
fn pid_pair(enc: &mut Encoder<'_>, op: i64, from: &Pid, to: &Pid) -> Result<(), EncodeError> {
    enc.tuple_header(3)?;
    enc.integer(op);
    enc.pid(from)?;
    enc.pid(to)
}

/// The `''` atom in the `Unused` fields.
fn unused() -> &'static Atom {
    static UNUSED: std::sync::OnceLock<Atom> = std::sync::OnceLock::new();
    UNUSED.get_or_init(|| Atom::from(""))
}

/// A term in an error message: at most 200 characters, as erts logs a bad distribution
/// message (`%.200T`), so a huge term costs nothing to report.
fn show(t: &Term) -> String {
    etf::text::write_limited(t, 200)
}

fn pid(t: &Term) -> Result<Pid, ControlError> {
    match t {
        Term::Pid(p) => Ok(p.clone()),
        other => Err(ControlError(format!("expected a pid, got {}", show(other)))),
    }
}

fn reference(t: &Term) -> Result<Reference, ControlError> {
    match t {
        Term::Reference(r) => Ok(r.clone()),
        other => Err(ControlError(format!(
            "expected a reference, got {}",
            show(other)
        ))),
    }
}

fn atom(t: &Term) -> Result<Atom, ControlError> {
    match t {
        Term::Atom(a) => Ok(a.clone()),
        other => Err(ControlError(format!(
            "expected an atom, got {}",
            show(other)
        ))),
    }
}

fn proc_ref(t: &Term) -> Result<ProcessRef, ControlError> {
    ProcessRef::from_term(t)
        .ok_or_else(|| ControlError(format!("expected a pid or name, got {}", show(t))))
}

impl ControlMessage {
    /// Whether a payload term follows this control message.
    pub fn has_payload(&self) -> bool {
        matches!(
            self,
            ControlMessage::Send { .. }
                | ControlMessage::RegSend { .. }
                | ControlMessage::SendSender { .. }
                | ControlMessage::PayloadExit { .. }
                | ControlMessage::PayloadExit2 { .. }
                | ControlMessage::PayloadMonitorPExit { .. }
                | ControlMessage::SpawnRequest { .. }
                | ControlMessage::AliasSend { .. }
        )
    }

    /// Writes the control tuple: the bytes `to_term` encodes to, without building the term
    /// for the messages every send carries (SEND, SEND_SENDER, REG_SEND, LINK, MONITOR_P,
    /// DEMONITOR_P).
    pub fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), EncodeError> {
        use ControlMessage as C;
        let to_proc = |enc: &mut Encoder<'_>, to: &ProcessRef| match to {
            ProcessRef::Pid(p) => enc.pid(p),
            ProcessRef::Name(n) => enc.atom(n),
        };
        match self {
            C::Send { to, token: None } => {
                enc.tuple_header(3)?;
                enc.integer(2);
                enc.atom(unused())?;
                enc.pid(to)
            }
            C::SendSender {
                from,
                to,
                token: None,
            } => pid_pair(enc, 22, from, to),
            C::RegSend {
                from,
                to,
                token: None,
            } => {
                enc.tuple_header(4)?;
                enc.integer(6);
                enc.pid(from)?;
                enc.atom(unused())?;
                enc.atom(to)
            }
            C::Link { from, to } => pid_pair(enc, 1, from, to),
            C::MonitorP {
                from,
                to,
                reference,
            }
            | C::DemonitorP {
                from,
                to,
                reference,
            } => {
                enc.tuple_header(4)?;
                enc.integer(if matches!(self, C::MonitorP { .. }) {
                    19
                } else {
                    20
                });
                enc.pid(from)?;
                to_proc(enc, to)?;
                enc.reference(reference)
            }
            _ => enc.term(&self.to_term()),
        }
    }

    /// The control tuple.
    pub fn to_term(&self) -> Term {
        use ControlMessage as C;
        let i = |n: i64| Term::Integer(n);
        let p = |p: &Pid| Term::Pid(p.clone());
        let r = |r: &Reference| Term::Reference(r.clone());
        let unused = || Term::atom("");
        let with = |plain: i64, traced: i64, mut fields: Vec<Term>, token: &Option<Term>| {
            match token {
                None => fields.insert(0, i(plain)),
                Some(t) => {
                    fields.insert(0, i(traced));
                    fields.push(t.clone());
                }
            }
            Term::Tuple(fields)
        };
        match self {
            C::Link { from, to } => Term::Tuple(vec![i(1), p(from), p(to)]),
            C::Send { to, token } => with(2, 12, vec![unused(), p(to)], token),
            C::Exit {
                from,
                to,
                reason,
                token,
            } => match token {
                None => Term::Tuple(vec![i(3), p(from), p(to), reason.clone()]),
                Some(t) => Term::Tuple(vec![i(13), p(from), p(to), t.clone(), reason.clone()]),
            },
            C::Unlink { from, to } => Term::Tuple(vec![i(4), p(from), p(to)]),
            C::NodeLink => Term::Tuple(vec![i(5)]),
            C::RegSend { from, to, token } => with(
                6,
                16,
                vec![p(from), unused(), Term::Atom(to.clone())],
                token,
            ),
            C::GroupLeader { from, to } => Term::Tuple(vec![i(7), p(from), p(to)]),
            C::Exit2 {
                from,
                to,
                reason,
                token,
            } => match token {
                None => Term::Tuple(vec![i(8), p(from), p(to), reason.clone()]),
                Some(t) => Term::Tuple(vec![i(18), p(from), p(to), t.clone(), reason.clone()]),
            },
            C::MonitorP {
                from,
                to,
                reference,
            } => Term::Tuple(vec![i(19), p(from), to.to_term(), r(reference)]),
            C::DemonitorP {
                from,
                to,
                reference,
            } => Term::Tuple(vec![i(20), p(from), to.to_term(), r(reference)]),
            C::MonitorPExit {
                from,
                to,
                reference,
                reason,
            } => Term::Tuple(vec![
                i(21),
                from.to_term(),
                p(to),
                r(reference),
                reason.clone(),
            ]),
            C::SendSender { from, to, token } => with(22, 23, vec![p(from), p(to)], token),
            C::PayloadExit { from, to, token } => with(24, 25, vec![p(from), p(to)], token),
            C::PayloadExit2 { from, to, token } => with(26, 27, vec![p(from), p(to)], token),
            C::PayloadMonitorPExit {
                from,
                to,
                reference,
            } => Term::Tuple(vec![i(28), from.to_term(), p(to), r(reference)]),
            C::SpawnRequest {
                req_id,
                from,
                group_leader,
                module,
                function,
                arity,
                options,
                token,
            } => with(
                29,
                30,
                vec![
                    r(req_id),
                    p(from),
                    p(group_leader),
                    Term::Tuple(vec![
                        Term::Atom(module.clone()),
                        Term::Atom(function.clone()),
                        i(i64::from(*arity)),
                    ]),
                    options.clone(),
                ],
                token,
            ),
            C::SpawnReply {
                req_id,
                to,
                flags,
                result,
                token,
            } => with(
                31,
                32,
                vec![r(req_id), p(to), i(*flags), result.clone()],
                token,
            ),
            C::AliasSend { from, alias, token } => with(33, 34, vec![p(from), r(alias)], token),
            C::UnlinkId { id, from, to } => Term::Tuple(vec![i(35), id.clone(), p(from), p(to)]),
            C::UnlinkIdAck { id, from, to } => Term::Tuple(vec![i(36), id.clone(), p(from), p(to)]),
        }
    }

    /// Reads a control tuple from `dec`: what `from_term` of the decoded tuple gives, with the
    /// ones every send carries (SEND, SEND_SENDER, REG_SEND) read field by field.
    pub fn decode(dec: &mut Decoder<'_>) -> Result<ControlMessage, crate::DistError> {
        let mut ahead = dec.clone();
        if let Some(control) = Self::decode_common(&mut ahead) {
            *dec = ahead;
            return Ok(control);
        }
        Ok(ControlMessage::from_term(&dec.term()?)?)
    }

    /// The common control messages in their usual form; `None` for anything else.
    fn decode_common(dec: &mut Decoder<'_>) -> Option<ControlMessage> {
        let arity = dec.tuple_header().ok()?;
        Some(match (dec.integer().ok()?, arity) {
            (2, 3) => {
                dec.atom().ok()?;
                ControlMessage::Send {
                    to: dec.pid().ok()?,
                    token: None,
                }
            }
            (22, 3) => ControlMessage::SendSender {
                from: dec.pid().ok()?,
                to: dec.pid().ok()?,
                token: None,
            },
            (6, 4) => {
                let from = dec.pid().ok()?;
                dec.atom().ok()?;
                ControlMessage::RegSend {
                    from,
                    to: dec.atom().ok()?,
                    token: None,
                }
            }
            _ => return None,
        })
    }

    /// Reads a control tuple.
    pub fn from_term(term: &Term) -> Result<ControlMessage, ControlError> {
        use ControlMessage as C;
        let Term::Tuple(f) = term else {
            return Err(ControlError(format!("not a tuple: {}", show(term))));
        };
        let Some(Term::Integer(op)) = f.first() else {
            return Err(ControlError(format!("no operation: {}", show(term))));
        };
        let n = f.len();
        let arity = |want: usize| {
            if n == want {
                Ok(())
            } else {
                Err(ControlError(format!(
                    "operation {op} with {n} elements: {}",
                    show(term)
                )))
            }
        };
        let token = |at: usize| f.get(at).cloned();
        Ok(match op {
            1 => {
                arity(3)?;
                C::Link {
                    from: pid(&f[1])?,
                    to: pid(&f[2])?,
                }
            }
            2 | 12 => {
                arity(if *op == 2 { 3 } else { 4 })?;
                C::Send {
                    to: pid(&f[2])?,
                    token: (*op == 12).then(|| token(3)).flatten(),
                }
            }
            3 => {
                arity(4)?;
                C::Exit {
                    from: pid(&f[1])?,
                    to: pid(&f[2])?,
                    reason: f[3].clone(),
                    token: None,
                }
            }
            13 => {
                arity(5)?;
                C::Exit {
                    from: pid(&f[1])?,
                    to: pid(&f[2])?,
                    reason: f[4].clone(),
                    token: token(3),
                }
            }
            4 => {
                arity(3)?;
                C::Unlink {
                    from: pid(&f[1])?,
                    to: pid(&f[2])?,
                }
            }
            5 => {
                arity(1)?;
                C::NodeLink
            }
            6 | 16 => {
                arity(if *op == 6 { 4 } else { 5 })?;
                C::RegSend {
                    from: pid(&f[1])?,
                    to: atom(&f[3])?,
                    token: (*op == 16).then(|| token(4)).flatten(),
                }
            }
            7 => {
                arity(3)?;
                C::GroupLeader {
                    from: pid(&f[1])?,
                    to: pid(&f[2])?,
                }
            }
            8 => {
                arity(4)?;
                C::Exit2 {
                    from: pid(&f[1])?,
                    to: pid(&f[2])?,
                    reason: f[3].clone(),
                    token: None,
                }
            }
            18 => {
                arity(5)?;
                C::Exit2 {
                    from: pid(&f[1])?,
                    to: pid(&f[2])?,
                    reason: f[4].clone(),
                    token: token(3),
                }
            }
            19 | 20 => {
                arity(4)?;
                let (from, to, reference) = (pid(&f[1])?, proc_ref(&f[2])?, reference(&f[3])?);
                if *op == 19 {
                    C::MonitorP {
                        from,
                        to,
                        reference,
                    }
                } else {
                    C::DemonitorP {
                        from,
                        to,
                        reference,
                    }
                }
            }
            21 => {
                arity(5)?;
                C::MonitorPExit {
                    from: proc_ref(&f[1])?,
                    to: pid(&f[2])?,
                    reference: reference(&f[3])?,
                    reason: f[4].clone(),
                }
            }
            22 | 23 => {
                arity(if *op == 22 { 3 } else { 4 })?;
                C::SendSender {
                    from: pid(&f[1])?,
                    to: pid(&f[2])?,
                    token: (*op == 23).then(|| token(3)).flatten(),
                }
            }
            24..=27 => {
                let traced = *op == 25 || *op == 27;
                arity(if traced { 4 } else { 3 })?;
                let (from, to, token) =
                    (pid(&f[1])?, pid(&f[2])?, traced.then(|| token(3)).flatten());
                if *op <= 25 {
                    C::PayloadExit { from, to, token }
                } else {
                    C::PayloadExit2 { from, to, token }
                }
            }
            28 => {
                arity(4)?;
                C::PayloadMonitorPExit {
                    from: proc_ref(&f[1])?,
                    to: pid(&f[2])?,
                    reference: reference(&f[3])?,
                }
            }
            29 | 30 => {
                arity(if *op == 29 { 6 } else { 7 })?;
                let Term::Tuple(mfa) = &f[4] else {
                    return Err(ControlError(format!(
                        "spawn request without {{M, F, A}}: {}",
                        show(term)
                    )));
                };
                let [m, fun, Term::Integer(a)] = mfa.as_slice() else {
                    return Err(ControlError(format!(
                        "spawn request without {{M, F, A}}: {}",
                        show(term)
                    )));
                };
                C::SpawnRequest {
                    req_id: reference(&f[1])?,
                    from: pid(&f[2])?,
                    group_leader: pid(&f[3])?,
                    module: atom(m)?,
                    function: atom(fun)?,
                    arity: u32::try_from(*a).map_err(|_| ControlError(format!("bad arity {a}")))?,
                    options: f[5].clone(),
                    token: (*op == 30).then(|| token(6)).flatten(),
                }
            }
            31 | 32 => {
                arity(if *op == 31 { 5 } else { 6 })?;
                let Term::Integer(flags) = f[3] else {
                    return Err(ControlError(format!("spawn reply flags: {}", show(term))));
                };
                C::SpawnReply {
                    req_id: reference(&f[1])?,
                    to: pid(&f[2])?,
                    flags,
                    result: f[4].clone(),
                    token: (*op == 32).then(|| token(5)).flatten(),
                }
            }
            33 | 34 => {
                arity(if *op == 33 { 3 } else { 4 })?;
                C::AliasSend {
                    from: pid(&f[1])?,
                    alias: reference(&f[2])?,
                    token: (*op == 34).then(|| token(3)).flatten(),
                }
            }
            35 | 36 => {
                arity(4)?;
                let (id, from, to) = (f[1].clone(), pid(&f[2])?, pid(&f[3])?);
                if *op == 35 {
                    C::UnlinkId { id, from, to }
                } else {
                    C::UnlinkIdAck { id, from, to }
                }
            }
            _ => {
                return Err(ControlError(format!(
                    "unknown operation {op}: {}",
                    show(term)
                )))
            }
        })
    }
}
