//! What sits in a mailbox: a term (from anywhere, including other nodes) or a Rust value sent
//! within the node without serialising.

use std::any::Any;
use std::fmt;

use etf::{Pid, Reference, Term};

use crate::exit::ExitReason;

/// A message in a mailbox.
pub enum Message {
    /// An Erlang term: what other nodes send, and what the runtime's own notices are
    /// (`{'EXIT', Pid, Reason}`, `{'DOWN', Ref, process, Pid, Reason}`).
    Term(Term),
    /// A Rust value sent locally; never leaves the node.
    Local(Box<dyn Any + Send>),
}

impl Message {
    /// A local message carrying `value`.
    pub fn local<T: Any + Send>(value: T) -> Message {
        Message::Local(Box::new(value))
    }

    /// The term, if this is one.
    pub fn as_term(&self) -> Option<&Term> {
        match self {
            Message::Term(t) => Some(t),
            Message::Local(_) => None,
        }
    }

    /// The local value, if it is a `T`.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        match self {
            Message::Local(v) => v.downcast_ref(),
            Message::Term(_) => None,
        }
    }

    /// The local value, if it is a `T`; the message back otherwise.
    pub fn downcast<T: Any>(self) -> Result<T, Message> {
        match self {
            Message::Local(v) => v.downcast().map(|b| *b).map_err(Message::Local),
            other => Err(other),
        }
    }

    /// `{'EXIT', From, Reason}`: a trapped exit signal.
    pub fn exit(from: &Pid, reason: &ExitReason) -> Message {
        Message::Term(Term::Tuple(vec![
            Term::atom("EXIT"),
            Term::Pid(from.clone()),
            reason.to_term(),
        ]))
    }

    /// The sender and reason of a trapped exit signal.
    pub fn as_exit(&self) -> Option<(Pid, ExitReason)> {
        match self.as_term()? {
            Term::Tuple(v) if v.len() == 3 && v[0].as_atom() == Some("EXIT") => match &v[1] {
                Term::Pid(p) => Some((p.clone(), ExitReason::from_term(&v[2]))),
                _ => None,
            },
            _ => None,
        }
    }

    /// `{'DOWN', Ref, process, Object, Reason}`: a monitored process ended. `object` is its
    /// pid, or `{RegName, Node}` for a monitor set by name.
    pub fn down(reference: &Reference, object: Term, reason: &ExitReason) -> Message {
        Message::Term(Term::Tuple(vec![
            Term::atom("DOWN"),
            Term::Reference(reference.clone()),
            Term::atom("process"),
            object,
            reason.to_term(),
        ]))
    }

    /// The reference, pid and reason of a `'DOWN'` message for a monitor set on a pid.
    pub fn as_down(&self) -> Option<(Reference, Pid, ExitReason)> {
        match self.as_down_object()? {
            (r, Term::Pid(p), reason) => Some((r, p, reason)),
            _ => None,
        }
    }

    /// Whether this is the `'DOWN'` message of the monitor `reference`.
    pub fn is_down_for(&self, reference: &Reference) -> bool {
        matches!(self.as_term(), Some(Term::Tuple(v))
            if v.len() == 5 && v[0].as_atom() == Some("DOWN")
                && matches!(&v[1], Term::Reference(r) if r == reference))
    }

    /// The reference, monitored object (a pid, or `{RegName, Node}` for a monitor set by
    /// name) and reason of any `'DOWN'` message.
    pub fn as_down_object(&self) -> Option<(Reference, Term, ExitReason)> {
        match self.as_term()? {
            Term::Tuple(v) if v.len() == 5 && v[0].as_atom() == Some("DOWN") => match &v[1] {
                Term::Reference(r) => Some((r.clone(), v[3].clone(), ExitReason::from_term(&v[4]))),
                _ => None,
            },
            _ => None,
        }
    }
}

impl From<Term> for Message {
    fn from(term: Term) -> Message {
        Message::Term(term)
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::Term(t) => write!(f, "{t}"),
            Message::Local(_) => f.write_str("#Local<..>"),
        }
    }
}
