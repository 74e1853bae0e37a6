//! Drip's API against its own OpenAPI document, checked by an outside tool: `schemathesis`
//! (PyPI, pinned; `./test --setup` installs it into `target/test-tools/schemathesis`) runs every
//! check it has and all its phases — examples, coverage (boundary and negative values),
//! fuzzing and stateful (the links from what an operation makes to the operations on it) —
//! against a running Drip on PostgreSQL, signed in with a bearer token. Any failure (an
//! undocumented status, a 5xx, schema-valid data refused, schema-violating data accepted, a
//! response off its schema, a deleted file still there) fails the test.
//!
//! `DELETE /api/sessions` revokes the token it is called with, so it runs on its own with a
//! token of its own (and without the stateful phase: alone, it links to nothing); everything
//! else shares one. `tests/schemathesis.toml` holds the one
//! setting: 410 Gone (an expired download link) answers a valid request.

mod support;

use std::path::PathBuf;
use std::process::Command;

fn schemathesis() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/test-tools/schemathesis/bin/schemathesis");
    assert!(
        bin.exists(),
        "schemathesis is not installed: run ./test --setup"
    );
    bin
}

/// `schemathesis run` against `d` with `token` and `args`: whether it passed, and its output.
fn run(d: &support::Drip, token: &str, args: &[&str]) -> (bool, String) {
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("schemathesis");
    std::fs::create_dir_all(&work).expect("a work directory");
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis.toml");
    let out = Command::new(schemathesis())
        .current_dir(&work)
        .arg("--config-file")
        .arg(&config)
        .args([
            "run",
            &format!("http://127.0.0.1:{}/api/openapi.json", d.http),
        ])
        .args(["--checks", "all"])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--request-timeout", "60", "--wait-for-schema", "30"])
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("schemathesis runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_api_does_what_its_openapi_document_says() {
    let pg = harness::postgres::Postgres::start("drip-schemathesis");
    let d = support::drip(
        "schemathesis",
        &["--database", &pg.url, "--signup-limit", "100000"],
    );
    let (token, _) = d.account_token("fuzz");
    let (passed, out) = run(
        &d,
        &token,
        &[
            "--exclude-operation-id",
            "logOut",
            "--phases",
            "examples,coverage,fuzzing,stateful",
        ],
    );
    assert!(passed, "{out}");
    assert!(out.contains("Tested: 13"), "{out}");
    let (logout, _) = d.account_token("fuzz");
    // Alone it links to nothing, so there is no stateful phase for it.
    let (passed, out) = run(
        &d,
        &logout,
        &[
            "--include-operation-id",
            "logOut",
            "--phases",
            "examples,coverage,fuzzing",
        ],
    );
    assert!(passed, "{out}");
    // The server kept nothing it should not: no panic, no 5xx in its log.
    let log = std::fs::read_to_string(d.data.join("drip.log")).expect("the log");
    assert!(!log.contains("panicked"), "{log}");
}
