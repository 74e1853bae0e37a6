//! Small helpers for the terms of global's protocol.

use etf::{Atom, Pid, Term};
use runtime::{Context, Message};

/// The registered name of the server on every node.
pub(crate) const SERVER: &str = "global_name_server";

/// `{A, B, ...}` with an atom first.
pub(crate) fn tagged(tag: &str, rest: Vec<Term>) -> Term {
    let mut v = Vec::with_capacity(rest.len() + 1);
    v.push(Term::atom(tag));
    v.extend(rest);
    Term::Tuple(v)
}

/// The elements of `{tag, ...}` after the tag, when `term` is such a tuple.
pub(crate) fn untag<'a>(term: &'a Term, tag: &str) -> Option<&'a [Term]> {
    match term {
        Term::Tuple(v) if v.first().and_then(Term::as_atom) == Some(tag) => Some(&v[1..]),
        _ => None,
    }
}

/// A list of atoms.
pub(crate) fn atoms(nodes: &[Atom]) -> Term {
    Term::List(nodes.iter().cloned().map(Term::Atom).collect())
}

/// The atoms of a list (others skipped).
pub(crate) fn atom_list(term: &Term) -> Vec<Atom> {
    match term {
        Term::List(v) => v
            .iter()
            .filter_map(|t| match t {
                Term::Atom(a) => Some(a.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// `gen_server:cast({global_name_server, Node}, Msg)`: connects if need be.
pub(crate) fn cast(ctx: &Context, node: &Atom, message: Term) {
    let cast = tagged("$gen_cast", vec![message]);
    let _ = ctx.send_to_name(&Atom::from(SERVER), node, Message::Term(cast));
}

/// `gen:reply({Pid, Tag}, Reply)`.
pub(crate) fn reply(ctx: &Context, to: &Pid, tag: Term, value: Term) {
    ctx.send(to, Message::Term(Term::Tuple(vec![tag, value])));
}

/// `{Pid, Tag}` of a `$gen_call`.
pub(crate) fn from_of(from: &Term) -> Option<(Pid, Term)> {
    match from {
        Term::Tuple(v) => match v.as_slice() {
            [Term::Pid(p), tag] => Some((p.clone(), tag.clone())),
            _ => None,
        },
        _ => None,
    }
}

/// Erlang's term order between two node names (`node() < Node`).
pub(crate) fn node_less(a: &Atom, b: &Atom) -> bool {
    etf::order::term_cmp(&Term::Atom(a.clone()), &Term::Atom(b.clone())).is_lt()
}

/// `lists:max/1` of node names.
pub(crate) fn the_boss(nodes: &[Atom]) -> Option<Atom> {
    nodes
        .iter()
        .max_by(|a, b| etf::order::term_cmp(&Term::Atom((*a).clone()), &Term::Atom((*b).clone())))
        .cloned()
}
