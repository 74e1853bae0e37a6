//! A proptest strategy for terms that real OTP accepts from `binary_to_term/1` unchanged.
#![allow(dead_code)]

use proptest::prelude::*;
use rotp_etf::{Atom, BigInt, BitBinary, Export, Map, Pid, Port, Reference, Term};

fn atom() -> impl Strategy<Value = Atom> {
    prop_oneof![
        "[a-z][a-zA-Z0-9_@]{0,12}",
        "[A-Z ]{0,5}",
        "\\PC{0,10}",
        Just("[]".to_owned()),
    ]
    .prop_map(Atom::from)
}

fn node() -> impl Strategy<Value = Atom> {
    "[a-z]{1,8}@[a-z]{1,8}".prop_map(Atom::from)
}

/// Leaves without pids, ports or references.
fn plain_leaf() -> impl Strategy<Value = Term> {
    prop_oneof![
        any::<i64>().prop_map(Term::Integer),
        (0i64..300).prop_map(Term::Integer),
        (any::<bool>(), prop::collection::vec(any::<u8>(), 0..40)).prop_map(|(neg, bytes)| {
            let sign = if neg {
                num_bigint::Sign::Minus
            } else {
                num_bigint::Sign::Plus
            };
            Term::from_bigint(BigInt::from_bytes_le(sign, &bytes))
        }),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Term::Float),
        atom().prop_map(Term::Atom),
        prop::collection::vec(any::<u8>(), 0..50).prop_map(|b| Term::Binary(b.into())),
        "[ -~]{1,30}".prop_map(|s| Term::Binary(s.into_bytes().into())),
        (prop::collection::vec(any::<u8>(), 1..10), 1u8..8)
            .prop_map(|(b, bits)| Term::BitBinary(BitBinary::new(b, bits).expect("valid"))),
        (atom(), atom(), any::<u8>()).prop_map(|(module, function, arity)| Term::Export(Export {
            module,
            function,
            arity
        })),
        "[a-z ]{0,20}".prop_map(|s| Term::charlist(&s)),
        Just(Term::NIL),
    ]
}

fn leaf() -> impl Strategy<Value = Term> {
    prop_oneof![
        3 => plain_leaf(),
        1 => (node(), 0u32..32768, 0u32..8192, any::<u32>()).prop_map(|(node, id, serial, creation)| {
            Term::Pid(Pid {
                node,
                id,
                serial,
                creation,
            })
        }),
        1 => (
            node(),
            prop_oneof![0u64..(1 << 28), (1u64 << 32)..(1u64 << 40)],
            any::<u32>()
        )
            .prop_map(|(node, id, creation)| Term::Port(Port { node, id, creation })),
        1 => (
            node(),
            any::<u32>(),
            0u32..(1 << 18),
            any::<u32>(),
            any::<u32>()
        )
            .prop_map(|(node, creation, a, b, c)| Term::Reference(Reference {
                node,
                creation,
                id: rotp_etf::RefId::from([a, b, c])
            })),
    ]
}

/// Terms of every kind, nested a few levels, with maps small enough (≤ 32 keys) that OTP writes
/// their keys in term order.
pub fn term() -> impl Strategy<Value = Term> {
    nested(leaf())
}

/// [`term`] without pids, ports or references (see [`has_identifiers`]).
pub fn plain_term() -> impl Strategy<Value = Term> {
    nested(plain_leaf())
}

fn nested(leaf: impl Strategy<Value = Term> + 'static) -> impl Strategy<Value = Term> {
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Term::Tuple),
            prop::collection::vec(inner.clone(), 0..8).prop_map(Term::List),
            (prop::collection::vec(inner.clone(), 1..4), inner.clone())
                .prop_map(|(elements, tail)| Term::list_with_tail(elements, tail)),
            // Keys without pids, ports or references: see `has_identifiers`.
            prop::collection::vec(
                (
                    inner
                        .clone()
                        .prop_filter("identifier in key", |k| !has_identifiers(k)),
                    inner
                ),
                0..8
            )
            .prop_map(|entries| Term::Map(Map::from_entries(entries))),
        ]
    })
}

/// Whether `pred` holds for the term or any term inside it.
pub fn any_subterm(term: &Term, pred: &dyn Fn(&Term) -> bool) -> bool {
    pred(term)
        || match term {
            Term::Tuple(v) | Term::List(v) => v.iter().any(|t| any_subterm(t, pred)),
            Term::ImproperList(v, t) => {
                v.iter().any(|x| any_subterm(x, pred)) || any_subterm(t, pred)
            }
            Term::Map(m) => m
                .iter()
                .any(|(k, v)| any_subterm(k, pred) || any_subterm(v, pred)),
            _ => false,
        }
}

/// Whether a term holds a pid, port or reference: `~w` names their nodes by erl's private
/// index, where rotp prints the node's name.
pub fn has_identifiers(term: &Term) -> bool {
    any_subterm(term, &|t| {
        matches!(t, Term::Pid(_) | Term::Port(_) | Term::Reference(_))
    })
}

/// Whether a term holds an external fun whose module or function name is not ASCII: `~w`
/// writes those names byte by byte, as erts does, so the text does not read back.
pub fn has_non_ascii_export(term: &Term) -> bool {
    any_subterm(
        term,
        &|t| matches!(t, Term::Export(e) if !e.module.as_str().is_ascii() || !e.function.as_str().is_ascii()),
    )
}

/// One `erl -noshell -eval LOOP` kept for a whole test binary, answering each line it is
/// given with one line (the loop's protocol is the test's own).
pub struct ErlLoop {
    _child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl ErlLoop {
    /// Starts `erl -noshell -eval LOOP ARGS…`, behind a lock for the tests sharing it.
    pub fn start(eval: &str, args: &[&str]) -> std::sync::Mutex<ErlLoop> {
        let mut child = std::process::Command::new("erl")
            .args(["-noshell", "-eval", eval])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("erl must be installed to run this test (see README)");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        std::sync::Mutex::new(ErlLoop {
            _child: child,
            stdin,
            stdout,
        })
    }

    /// Sends `line` and reads the answer line (its newline kept).
    pub fn ask(&mut self, line: &str) -> String {
        use std::io::{BufRead, Write};
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
        let mut answer = String::new();
        self.stdout.read_line(&mut answer).unwrap();
        answer
    }
}
