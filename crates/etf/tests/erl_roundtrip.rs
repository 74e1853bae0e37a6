//! Rust → erl → Rust: random terms encoded by us are decoded by a real `erl`
//! (`binary_to_term/1`), encoded again by it (`term_to_binary/1,2`) and printed (`~w` and
//! `~p`); its bytes must be ours, byte for byte, and its texts must be ours, character for
//! character (`~p`'s line breaks included).

mod common;

use std::sync::{Mutex, OnceLock};

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use rotp_etf::{decode, encode, encode_with, text, EncodeOptions, Term};

const LOOP: &str = r#"
    Loop = fun Loop() ->
        case io:get_line("") of
            eof -> halt();
            Line ->
                T = binary_to_term(binary:decode_hex(string:trim(list_to_binary(Line)))),
                W = unicode:characters_to_binary(io_lib:format("~w", [T])),
                P = unicode:characters_to_binary(io_lib:format("~p", [T])),
                io:put_chars([binary:encode_hex(term_to_binary(T)), $\t,
                              binary:encode_hex(term_to_binary(T, [{minor_version, 2}])), $\t,
                              binary:encode_hex(W), $\t, binary:encode_hex(P), $\n]),
                Loop()
        end
    end,
    Loop()."#;

fn erl() -> &'static Mutex<common::ErlLoop> {
    static ERL: OnceLock<Mutex<common::ErlLoop>> = OnceLock::new();
    ERL.get_or_init(|| common::ErlLoop::start(LOOP, &["+pc", "unicode"]))
}

/// What erl makes of our bytes.
struct Erled {
    /// `term_to_binary/1`.
    plain: Vec<u8>,
    /// `term_to_binary(T, [{minor_version, 2}])`.
    v2: Vec<u8>,
    /// `~w`.
    written: String,
    /// `~p` (at the start of a line).
    pretty: String,
}

fn through_erl(bytes: &[u8]) -> Erled {
    let line = erl()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .ask(&hex::encode(bytes));
    let fields: Vec<&str> = line.trim_end().split('\t').collect();
    assert_eq!(
        fields.len(),
        4,
        "erl answered {line:?} for {}",
        hex::encode(bytes)
    );
    let text = |hex_text: &str| String::from_utf8(hex::decode(hex_text).unwrap()).unwrap();
    Erled {
        plain: hex::decode(fields[0]).unwrap(),
        v2: hex::decode(fields[1]).unwrap(),
        written: text(fields[2]),
        pretty: text(fields[3]),
    }
}

proptest! {
    #![proptest_config(Config {
        cases: 400,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    })]

    #[test]
    fn erl_reencodes_our_bytes_identically(term in common::term()) {
        let ours = encode(&term).unwrap();
        let theirs = through_erl(&ours);
        prop_assert_eq!(&theirs.plain, &ours, "term_to_binary of {}", term);
        prop_assert_eq!(&theirs.v2, &encode_with(&term, &EncodeOptions::minor_version_2()).unwrap());
        prop_assert_eq!(decode(&theirs.plain).unwrap(), term.clone());
        // `~w` names other nodes by erl's private index; rotp prints their names instead.
        if !common::has_identifiers(&term) {
            prop_assert_eq!(text::write(&term), theirs.written);
            prop_assert_eq!(text::pretty(&term), theirs.pretty, "~~p of {}", term);
        }
    }

    #[test]
    fn erl_reads_our_compressed_and_utf8_forms(term in common::term()) {
        let plain = encode(&term).unwrap();
        for options in [EncodeOptions::minor_version_2(), EncodeOptions { compressed: Some(9), utf8_atoms: false }] {
            let theirs = through_erl(&encode_with(&term, &options).unwrap());
            prop_assert_eq!(&theirs.plain, &plain);
        }
    }
}

proptest! {
    #![proptest_config(Config {
        cases: 600,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    })]

    /// `~p` on terms without pids (whose `~w` differs, above): line breaks and all.
    #[test]
    fn pretty_prints_as_erl_p(term in common::plain_term()) {
        let theirs = through_erl(&encode(&term).unwrap());
        prop_assert_eq!(text::pretty(&term), theirs.pretty, "~~p of {}", term);
    }
}

fn float_of_any_magnitude() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |f| f.is_finite()),
        (-1.0e7..1.0e7f64),
        (-1.0e-3..1.0e-3f64),
        (-100_000i64..100_000, -25i32..25).prop_map(|(m, e)| m as f64 * 10f64.powi(e)),
        (0u64..64).prop_map(|b| (1u64 << b) as f64),
    ]
}

proptest! {
    #![proptest_config(Config {
        cases: 300,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    })]

    #[test]
    fn floats_print_as_erl_prints_them(floats in prop::collection::vec(float_of_any_magnitude(), 1..20)) {
        let term = Term::List(floats.into_iter().map(Term::Float).collect());
        prop_assert_eq!(text::write(&term), through_erl(&encode(&term).unwrap()).written);
    }
}

#[test]
fn string_ext_boundary_matches_erl() {
    for len in [65_535usize, 65_536] {
        let term = Term::List(vec![Term::Integer(7); len]);
        let ours = encode(&term).unwrap();
        assert_eq!(through_erl(&ours).plain, ours, "list of {len}");
    }
}
