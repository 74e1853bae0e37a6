//! Erlang's term order (reference manual, "Term Comparisons"):
//! `number < atom < reference < fun < port < pid < tuple < map < nil < list < bit string`.
//!
//! Two flavours: [`term_cmp`] is `<`/`==` (so `1 == 1.0`), and [`map_key_cmp`] is the exact order
//! used for map keys, where every integer sorts before every float. `term_to_binary/1` writes the
//! keys of a map of up to 32 entries in this order, so the encoder depends on it.
//!
//! ```
//! use std::cmp::Ordering;
//! use rotp_etf::order::{map_key_cmp, term_cmp};
//! use rotp_etf::text::parse;
//!
//! let t = |s| parse(s).unwrap();
//! // 1 < a < {} < #{} < [] < [1] < <<>>, as `lists:sort/1` sorts them.
//! let mut terms = vec![t("<<>>"), t("[1]"), t("[]"), t("#{}"), t("{}"), t("a"), t("1")];
//! terms.sort_by(term_cmp);
//! assert_eq!(terms, ["1", "a", "{}", "#{}", "[]", "[1]", "<<>>"].map(t));
//! // `1 == 1.0` in `<`/`==` order, but as map keys every integer sorts before a float.
//! assert_eq!(term_cmp(&t("1"), &t("1.0")), Ordering::Equal);
//! assert_eq!(map_key_cmp(&t("2"), &t("1.0")), Ordering::Less);
//! ```

use std::cmp::Ordering;

use num_bigint::{BigInt, Sign};
use num_traits::{FromPrimitive, ToPrimitive};

use crate::term::{Atom, Term};

/// Erlang's `<`/`==` order: numbers compare by value across integers and floats.
pub fn term_cmp(a: &Term, b: &Term) -> Ordering {
    cmp(a, b, false)
}

/// Erlang's exact order, as for map keys: integers before floats, then by value.
pub fn map_key_cmp(a: &Term, b: &Term) -> Ordering {
    cmp(a, b, true)
}

fn class(t: &Term) -> u8 {
    match t {
        Term::Integer(_) | Term::BigInt(_) | Term::Float(_) => 0,
        Term::Atom(_) => 1,
        Term::Reference(_) => 2,
        Term::Fun(_) | Term::Export(_) => 3,
        Term::Port(_) => 4,
        Term::Pid(_) => 5,
        Term::Tuple(_) => 6,
        Term::Map(_) => 7,
        Term::List(v) if v.is_empty() => 8,
        Term::List(_) | Term::ImproperList(..) => 9,
        Term::Binary(_) | Term::BitBinary(_) => 10,
    }
}

fn cmp(a: &Term, b: &Term, exact: bool) -> Ordering {
    let (ca, cb) = (class(a), class(b));
    if ca != cb {
        return ca.cmp(&cb);
    }
    match (a, b) {
        (Term::Atom(x), Term::Atom(y)) => atom_cmp(x, y),
        (Term::Tuple(x), Term::Tuple(y)) => {
            x.len().cmp(&y.len()).then_with(|| seq_cmp(x, y, exact))
        }
        (Term::Map(x), Term::Map(y)) => x.len().cmp(&y.len()).then_with(|| {
            let keys = x.iter().zip(y.iter()).map(|(p, q)| cmp(&p.0, &q.0, true));
            let values = x.iter().zip(y.iter()).map(|(p, q)| cmp(&p.1, &q.1, exact));
            first_difference(keys).then_with(|| first_difference(values))
        }),
        // The orders erts gives identifiers of different nodes, as `lists:sort/1` shows them
        // in OTP 25: pids by serial, number, node, creation; ports and references by node,
        // creation, then number (references word by word from the most significant, missing
        // words counting as zero).
        (Term::Pid(x), Term::Pid(y)) => x
            .serial
            .cmp(&y.serial)
            .then(x.id.cmp(&y.id))
            .then_with(|| atom_cmp(&x.node, &y.node))
            .then(x.creation.cmp(&y.creation)),
        (Term::Port(x), Term::Port(y)) => atom_cmp(&x.node, &y.node)
            .then(x.creation.cmp(&y.creation))
            .then(x.id.cmp(&y.id)),
        (Term::Reference(x), Term::Reference(y)) => atom_cmp(&x.node, &y.node)
            .then(x.creation.cmp(&y.creation))
            .then_with(|| {
                let words = x.id.len().max(y.id.len());
                let word = |id: &[u32], n: usize| id.get(n).copied().unwrap_or(0);
                first_difference(
                    (0..words)
                        .rev()
                        .map(|n| word(&x.id, n).cmp(&word(&y.id, n))),
                )
            }),
        (Term::Export(x), Term::Export(y)) => atom_cmp(&x.module, &y.module)
            .then_with(|| atom_cmp(&x.function, &y.function))
            .then(x.arity.cmp(&y.arity)),
        (Term::Export(_), Term::Fun(_)) => Ordering::Greater,
        (Term::Fun(_), Term::Export(_)) => Ordering::Less,
        (Term::Fun(x), Term::Fun(y)) => atom_cmp(&x.module, &y.module)
            .then(x.index.cmp(&y.index))
            .then(x.uniq.cmp(&y.uniq))
            .then_with(|| seq_cmp(&x.free_vars, &y.free_vars, exact)),
        (Term::Binary(_) | Term::BitBinary(_), _) => bits_cmp(a, b),
        (Term::List(_) | Term::ImproperList(..), _) if ca == 9 => list_cmp(a, b, exact),
        (Term::List(_), _) => Ordering::Equal, // both []
        _ => number_cmp(a, b, exact),
    }
}

fn atom_cmp(a: &Atom, b: &Atom) -> Ordering {
    // UTF-8 byte order is code point order, which is how erts compares atom texts.
    a.as_str().as_bytes().cmp(b.as_str().as_bytes())
}

fn first_difference(mut it: impl Iterator<Item = Ordering>) -> Ordering {
    it.find(|o| *o != Ordering::Equal)
        .unwrap_or(Ordering::Equal)
}

fn seq_cmp(a: &[Term], b: &[Term], exact: bool) -> Ordering {
    first_difference(a.iter().zip(b).map(|(x, y)| cmp(x, y, exact))).then(a.len().cmp(&b.len()))
}

fn split_list(t: &Term) -> (&[Term], Option<&Term>) {
    match t {
        Term::List(v) => (v.as_slice(), None),
        Term::ImproperList(v, tail) => (v.as_slice(), Some(tail)),
        _ => (&[], None),
    }
}

fn bits_of(t: &Term) -> (&[u8], u64) {
    match t {
        Term::Binary(v) => (&v[..], v.len() as u64 * 8),
        Term::BitBinary(b) => (b.bytes(), b.bit_len()),
        _ => (&[], 0),
    }
}

fn list_cmp(a: &Term, b: &Term, exact: bool) -> Ordering {
    let ((xs, xt), (ys, yt)) = (split_list(a), split_list(b));
    let common = xs.len().min(ys.len());
    let heads = first_difference(
        xs[..common]
            .iter()
            .zip(&ys[..common])
            .map(|(x, y)| cmp(x, y, exact)),
    );
    if heads != Ordering::Equal {
        return heads;
    }
    // What follows the common prefix: more elements (a non-empty list) on one side or both
    // tails. `[]` and any other tail compare to a non-empty list by class alone.
    const LIST: u8 = 9;
    let tail_class = |t: Option<&Term>| t.map_or(8, class);
    match (xs.len() > common, ys.len() > common) {
        (true, _) => LIST.cmp(&tail_class(yt)),
        (false, true) => tail_class(xt).cmp(&LIST),
        (false, false) => match (xt, yt) {
            (None, None) => Ordering::Equal,
            (Some(x), Some(y)) => cmp(x, y, exact),
            (x, y) => tail_class(x).cmp(&tail_class(y)),
        },
    }
}

fn bits_cmp(a: &Term, b: &Term) -> Ordering {
    let ((xa, la), (xb, lb)) = (bits_of(a), bits_of(b));
    xa.cmp(xb).then(la.cmp(&lb))
}

fn number_cmp(a: &Term, b: &Term, exact: bool) -> Ordering {
    match (a, b) {
        (Term::Float(x), Term::Float(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        (Term::Float(_), _) if exact => Ordering::Greater,
        (_, Term::Float(_)) if exact => Ordering::Less,
        (Term::Float(x), int) => float_int_cmp(*x, int),
        (int, Term::Float(y)) => float_int_cmp(*y, int).reverse(),
        (x, y) => to_big(x).cmp(&to_big(y)),
    }
}

fn to_big(t: &Term) -> BigInt {
    match t {
        Term::Integer(i) => BigInt::from(*i),
        Term::BigInt(b) => b.clone(),
        _ => BigInt::from(0),
    }
}

fn float_int_cmp(f: f64, int: &Term) -> Ordering {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53: every float this large is an integer
    let big = to_big(int);
    if f.abs() >= EXACT {
        return BigInt::from_f64(f).map_or(Ordering::Equal, |fb| fb.cmp(&big));
    }
    match big.to_i64() {
        Some(i) if i.unsigned_abs() < 1 << 53 => {
            f.partial_cmp(&(i as f64)).unwrap_or(Ordering::Equal)
        }
        _ if big.sign() == Sign::Minus => Ordering::Greater,
        _ => Ordering::Less,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_the_manual() {
        let order = [
            Term::Integer(1),
            Term::atom("a"),
            Term::Tuple(vec![]),
            Term::Map(Default::default()),
            Term::NIL,
            Term::List(vec![Term::Integer(1)]),
            Term::Binary(bytes::Bytes::new()),
        ];
        for w in order.windows(2) {
            assert_eq!(
                term_cmp(&w[0], &w[1]),
                Ordering::Less,
                "{:?} < {:?}",
                w[0],
                w[1]
            );
        }
    }

    #[test]
    fn integers_before_floats_only_in_exact_order() {
        let (one, one_f) = (Term::Integer(1), Term::Float(1.0));
        assert_eq!(term_cmp(&one, &one_f), Ordering::Equal);
        assert_eq!(map_key_cmp(&one, &one_f), Ordering::Less);
        assert_eq!(
            map_key_cmp(&Term::Integer(5), &Term::Float(1.0)),
            Ordering::Less
        );
        assert_eq!(
            term_cmp(&Term::Integer(5), &Term::Float(1.0)),
            Ordering::Greater
        );
    }
}

#[cfg(test)]
mod identifier_tests {
    use super::*;
    use crate::term::{Pid, Port, RefId, Reference};

    fn pid(node: &str, id: u32, serial: u32, creation: u32) -> Term {
        Term::Pid(Pid {
            node: Atom::from(node),
            id,
            serial,
            creation,
        })
    }

    /// Each ordering below is what `lists:sort/1` gives in OTP 25.
    #[test]
    fn identifiers_sort_as_erts_sorts_them() {
        assert_eq!(
            term_cmp(&pid("i@a", 0, 0, 0), &pid("a@a", 0, 1, 0)),
            Ordering::Less
        );
        assert_eq!(
            term_cmp(&pid("i@a", 1, 0, 0), &pid("a@a", 5, 0, 0)),
            Ordering::Less
        );
        assert_eq!(
            term_cmp(&pid("a@a", 0, 0, 1), &pid("i@a", 0, 0, 0)),
            Ordering::Less
        );
        assert_eq!(
            term_cmp(&pid("a@a", 40000, 0, 1), &pid("a@a", 1, 1, 1)),
            Ordering::Less
        );
        let port = |node: &str, id, creation| {
            Term::Port(Port {
                node: Atom::from(node),
                id,
                creation,
            })
        };
        assert_eq!(
            term_cmp(&port("a@a", 5, 0), &port("i@a", 1, 0)),
            Ordering::Less
        );
        assert_eq!(
            term_cmp(&port("a@a", 5, 1), &port("a@a", 1, 2)),
            Ordering::Less
        );
        let r = |node: &str, creation, id: &[u32]| {
            Term::Reference(Reference {
                node: Atom::from(node),
                creation,
                id: RefId::new(id).expect("1 to 5 words"),
            })
        };
        assert_eq!(
            term_cmp(&r("a@a", 0, &[2, 1, 0]), &r("a@a", 0, &[1, 2, 0])),
            Ordering::Less
        );
        assert_eq!(
            term_cmp(&r("a@a", 0, &[1, 0, 0]), &r("a@a", 0, &[9])),
            Ordering::Less
        );
        assert_eq!(
            term_cmp(&r("a@a", 1, &[5, 0, 0]), &r("a@a", 2, &[1, 0, 0])),
            Ordering::Less
        );
    }
}
