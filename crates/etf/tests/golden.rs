//! Golden fixtures made by a real `erl` (see fixtures/golden.escript): for every row, our
//! decoder, encoder and `~w` printer must agree with OTP byte for byte and character for
//! character, and the printed text must parse back to the same term.

use rotp_etf::{decode, encode, encode_with, text, EncodeOptions, Term};

struct Row<'a> {
    expr: &'a str,
    plain: Vec<u8>,
    minor2: Vec<u8>,
    compressed: Vec<u8>,
    printed: &'a str,
}

fn rows(tsv: &str) -> Vec<Row<'_>> {
    tsv.lines()
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 5, "malformed fixture row: {line}");
            Row {
                expr: f[0],
                plain: hex::decode(f[1]).expect("hex"),
                minor2: hex::decode(f[2]).expect("hex"),
                compressed: hex::decode(f[3]).expect("hex"),
                printed: f[4],
            }
        })
        .collect()
}

const GOLDEN: &str = include_str!("fixtures/golden.tsv");

#[test]
fn golden_fixtures_are_present() {
    assert!(rows(GOLDEN).len() > 80);
}

#[test]
fn decode_then_encode_gives_otps_bytes() {
    for row in rows(GOLDEN) {
        let term = decode(&row.plain).unwrap_or_else(|e| panic!("{}: {e}", row.expr));
        assert_eq!(
            encode(&term).unwrap(),
            row.plain,
            "term_to_binary({})",
            row.expr
        );
        let utf8 = EncodeOptions::minor_version_2();
        assert_eq!(
            encode_with(&term, &utf8).unwrap(),
            row.minor2,
            "minor_version 2: {}",
            row.expr
        );
    }
}

#[test]
fn minor_version_2_and_compressed_forms_decode_to_the_same_term() {
    for row in rows(GOLDEN) {
        let term = decode(&row.plain).unwrap();
        assert_eq!(decode(&row.minor2).unwrap(), term, "{}", row.expr);
        assert_eq!(decode(&row.compressed).unwrap(), term, "{}", row.expr);
    }
}

#[test]
fn compressed_encoding_matches_otp() {
    for row in rows(GOLDEN) {
        let term = decode(&row.plain).unwrap();
        let options = EncodeOptions {
            compressed: Some(EncodeOptions::DEFAULT_COMPRESSION),
            ..EncodeOptions::default()
        };
        assert_eq!(
            encode_with(&term, &options).unwrap(),
            row.compressed,
            "compressed: {}",
            row.expr
        );
    }
}

/// Rows whose `~w` text names a node by erl's private node index (`<9276.7.1>`) instead of a
/// name: there rotp prints the node's name instead (see `rotp_etf::text`).
fn names_a_remote_node(printed: &str) -> bool {
    printed.contains("<9") || printed.contains("<1") || printed.contains("<2")
}

#[test]
fn printing_matches_io_lib_w() {
    for row in rows(GOLDEN) {
        if names_a_remote_node(row.printed) {
            continue;
        }
        let term = decode(&row.plain).unwrap();
        assert_eq!(text::write(&term), row.printed, "~w of {}", row.expr);
    }
}

#[test]
fn printed_text_parses_back_to_the_same_bytes() {
    for row in rows(GOLDEN) {
        let term = decode(&row.plain).unwrap();
        if matches!(term, Term::Fun(_)) {
            continue; // local funs have no text form
        }
        let printed = text::write(&term);
        let parsed = text::parse(&printed).unwrap_or_else(|e| panic!("{printed}: {e}"));
        assert_eq!(encode(&parsed).unwrap(), row.plain, "parse({printed})");
    }
}

#[test]
fn the_expressions_themselves_parse_where_they_are_literals() {
    let mut literals = 0;
    for row in rows(GOLDEN) {
        // Rows that call functions are evaluated by erl; literal rows must parse as written.
        if row.expr.contains('(') || row.expr.contains(" bsl ") {
            continue;
        }
        let parsed = text::parse(row.expr).unwrap_or_else(|e| panic!("{}: {e}", row.expr));
        assert_eq!(encode(&parsed).unwrap(), row.plain, "{}", row.expr);
        literals += 1;
    }
    assert!(literals > 50);
}

#[test]
fn legacy_tags_decode_as_otp_decodes_them() {
    for line in include_str!("fixtures/legacy.tsv").lines() {
        let (input, want) = line.split_once('\t').expect("two columns");
        let term = decode(&hex::decode(input).unwrap()).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(
            hex::encode_upper(encode(&term).unwrap()),
            want,
            "binary_to_term({input})"
        );
    }
}
