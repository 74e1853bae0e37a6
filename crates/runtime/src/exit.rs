//! Exit reasons (Erlang reference manual, "Errors and Error Handling"; "Processes", exit
//! signals). A reason round-trips as the term Erlang would see, so it can cross the wire.

use etf::{Atom, Term};

/// Why a process ended, or the reason an exit signal carries.
#[derive(Clone, Debug, PartialEq)]
pub enum ExitReason {
    /// `normal`: the process finished. Non-trapping processes ignore exit signals with it.
    Normal,
    /// `kill`: sent with `exit/2`, it cannot be trapped; the process then dies with `killed`.
    Kill,
    /// `killed`: the reason of a process that got an untrappable `kill`.
    Killed,
    /// `shutdown`: an orderly stop, as supervisors ask for.
    Shutdown,
    /// `{shutdown, Term}`.
    ShutdownWith(Term),
    /// `noproc`: the target did not exist (links and monitors to dead processes).
    NoProc,
    /// `noconnection`: the target's node went away.
    NoConnection,
    /// A Rust panic in the process: `{panic, <<"message">>}`.
    Panic(String),
    /// Any other term.
    Other(Term),
}

impl ExitReason {
    /// The reason as Erlang sees it.
    pub fn to_term(&self) -> Term {
        match self {
            ExitReason::Normal => Term::atom("normal"),
            ExitReason::Kill => Term::atom("kill"),
            ExitReason::Killed => Term::atom("killed"),
            ExitReason::Shutdown => Term::atom("shutdown"),
            ExitReason::ShutdownWith(t) => Term::Tuple(vec![Term::atom("shutdown"), t.clone()]),
            ExitReason::NoProc => Term::atom("noproc"),
            ExitReason::NoConnection => Term::atom("noconnection"),
            ExitReason::Panic(msg) => Term::Tuple(vec![
                Term::atom("panic"),
                Term::Binary(msg.clone().into_bytes().into()),
            ]),
            ExitReason::Other(t) => t.clone(),
        }
    }

    /// The reason a term names.
    pub fn from_term(term: &Term) -> ExitReason {
        match term {
            Term::Atom(a) => match a.as_str() {
                "normal" => ExitReason::Normal,
                "kill" => ExitReason::Kill,
                "killed" => ExitReason::Killed,
                "shutdown" => ExitReason::Shutdown,
                "noproc" => ExitReason::NoProc,
                "noconnection" => ExitReason::NoConnection,
                _ => ExitReason::Other(term.clone()),
            },
            Term::Tuple(v) if v.len() == 2 && v[0].as_atom() == Some("shutdown") => {
                ExitReason::ShutdownWith(v[1].clone())
            }
            Term::Tuple(v) if v.len() == 2 && v[0].as_atom() == Some("panic") => match &v[1] {
                Term::Binary(b) => ExitReason::Panic(String::from_utf8_lossy(b).into_owned()),
                _ => ExitReason::Other(term.clone()),
            },
            _ => ExitReason::Other(term.clone()),
        }
    }

    /// An atom reason, e.g. `ExitReason::atom("badarg")`.
    pub fn atom(name: &str) -> ExitReason {
        ExitReason::from_term(&Term::Atom(Atom::from(name)))
    }

    /// `normal`, `shutdown` and `{shutdown, _}`: the reasons a supervisor does not report, and
    /// after which a transient child is not restarted.
    pub fn is_normal_or_shutdown(&self) -> bool {
        matches!(
            self,
            ExitReason::Normal | ExitReason::Shutdown | ExitReason::ShutdownWith(_)
        )
    }
}

/// The reason as `~w` prints its term: `normal`, `{shutdown,closed}`, `killed`.
impl std::fmt::Display for ExitReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.to_term().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_round_trip_through_terms() {
        for r in [
            ExitReason::Normal,
            ExitReason::Kill,
            ExitReason::Killed,
            ExitReason::Shutdown,
            ExitReason::ShutdownWith(Term::atom("x")),
            ExitReason::NoProc,
            ExitReason::NoConnection,
            ExitReason::Panic("boom".into()),
            ExitReason::Other(Term::Tuple(vec![Term::atom("badmatch"), Term::Integer(1)])),
        ] {
            assert_eq!(ExitReason::from_term(&r.to_term()), r);
        }
    }
}
