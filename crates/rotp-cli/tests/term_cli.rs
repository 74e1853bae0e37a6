//! `rotp term encode|decode` against a real `erl`: what we write is what `term_to_binary/1`
//! writes, and what we print is what `io_lib:format("~w", …)` prints.

use std::io::Write;
use std::process::{Command, Stdio};

const EXPRS: &[&str] = &[
    "{ok, [1, 2.5, <<\"bin\">>, #{a => \"x\"}]}",
    "[1, 2 | 3]",
    "'hello world'",
    "-12345678901234567890",
    "<<1, 2:3>>",
    "#{{a, b} => [], 1.0e10 => 'Q'}",
    "fun lists:map/2",
    "[$a, $\\n, 256]",
    "{}",
];

/// `erl`'s hex encoding and `~w` text of each expression.
fn erl_answers() -> Vec<(String, String)> {
    let list = EXPRS.join(", ");
    let eval = format!(
        "[io:format(\"~s\\t~w~n\", [binary:encode_hex(term_to_binary(T)), T]) || T <- [{list}]], halt()."
    );
    let out = Command::new("erl")
        .args(["-noshell", "-eval", &eval])
        .output()
        .expect("erl");
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<(String, String)> = text
        .lines()
        .map(|l| {
            let (h, w) = l.split_once('\t').unwrap();
            (h.to_owned(), w.to_owned())
        })
        .collect();
    assert_eq!(rows.len(), EXPRS.len(), "erl said: {text}");
    rows
}

fn rotp(args: &[&str], stdin: &[u8]) -> (Vec<u8>, String, Option<i32>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rotp"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}

#[test]
fn encode_writes_what_term_to_binary_writes() {
    for (expr, (hex, _)) in EXPRS.iter().zip(erl_answers()) {
        let (stdout, stderr, code) = rotp(&["term", "encode", "--hex", expr], b"");
        assert_eq!(code, Some(0), "{expr}: {stderr}");
        assert_eq!(String::from_utf8(stdout).unwrap().trim(), hex, "{expr}");
        let (raw, _, _) = rotp(&["term", "encode", expr], b"");
        assert_eq!(hex::encode_upper(raw), hex, "{expr} (raw)");
    }
}

#[test]
fn decode_prints_what_w_prints() {
    for (expr, (hex, printed)) in EXPRS.iter().zip(erl_answers()) {
        let bytes = hex::decode(&hex).unwrap();
        let (stdout, stderr, code) = rotp(&["term", "decode"], &bytes);
        assert_eq!(code, Some(0), "{expr}: {stderr}");
        assert_eq!(
            String::from_utf8(stdout).unwrap().trim_end(),
            printed,
            "{expr}"
        );
    }
}

#[test]
fn bad_input_is_a_clear_error_with_exit_code_2() {
    let (_, stderr, code) = rotp(&["term", "decode"], &[131, 108, 0, 0, 0, 9, 97]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("truncated"), "{stderr}");
    let (_, stderr, code) = rotp(&["term", "decode"], &[131, 121, 0]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("LOCAL_EXT"), "{stderr}");
    let (_, stderr, code) = rotp(&["term", "encode", "{ok, "], b"");
    assert_eq!(code, Some(2));
    assert!(stderr.contains("syntax error"), "{stderr}");
}
