//! `rotp new`: each kind of project it makes passes its own `./ci` — `cargo fmt --check`,
//! `cargo clippy --all-targets -- -D warnings`, `cargo test` (with `--node`, a real erl node
//! calls the counter; with `--web`, a WebSocket client reads the live page) — built against
//! this checkout (`--rotp-path`). And it refuses bad names, reserved names, directories that
//! exist and paths that are not a rotp checkout.
//!
//! The projects share one target directory (`target/tmp/rotp-new-target`), so rotp, tokio and
//! axum compile once for all of them, and each starts from this workspace's `Cargo.lock` and
//! builds with `CARGO_NET_OFFLINE=true`: the versions the workspace is tested with, and no
//! network.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// This checkout: what `--rotp-path` points at.
fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A fresh directory outside the workspace (a project inside it would take the workspace's
/// `Cargo.toml` for its own), removed when dropped unless the test failed.
struct Scratch(PathBuf);

impl Scratch {
    fn new(what: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("rotp-new-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("the projects are left in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Runs `command` until it exits, for at most `within` (then kills it and fails); its status
/// and its output (standard output and error, through a file so nothing blocks on a pipe).
fn run(mut command: Command, log: &Path, within: Duration) -> (ExitStatus, String) {
    let out = File::create(log).expect("a log file");
    let err = out.try_clone().expect("the log file again");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("the command starts");
    let deadline = Instant::now() + within;
    let status = loop {
        if let Some(status) = child.try_wait().expect("its status") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(log).unwrap_or_default();
            panic!("{command:?} did not finish in {within:?}:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (status, std::fs::read_to_string(log).unwrap_or_default())
}

/// `rotp new ARGS` in `dir`.
fn rotp_new(dir: &Path, args: &[&str]) -> (ExitStatus, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rotp"));
    command.current_dir(dir).arg("new").args(args);
    run(command, &dir.join("rotp-new.log"), Duration::from_secs(60))
}

/// Makes the project `name` with `flags` against this checkout, and runs its `./ci`.
fn make_and_check(scratch: &Path, name: &str, flags: &[&str], files: &[&str]) {
    let checkout = checkout();
    let mut args = vec![
        name,
        "--rotp-path",
        checkout.to_str().expect("a UTF-8 path"),
    ];
    args.extend(flags);
    let (status, out) = rotp_new(scratch, &args);
    assert!(status.success(), "rotp new {args:?}: {out}");
    let project = scratch.join(name);
    for file in [
        "Cargo.toml",
        "README.md",
        ".gitignore",
        "ci",
        ".github/workflows/ci.yml",
        "src/lib.rs",
        "src/main.rs",
    ]
    .iter()
    .chain(files)
    {
        assert!(project.join(file).is_file(), "{name}: no {file}");
    }
    let readme = std::fs::read_to_string(project.join("README.md")).expect("README");
    let commands: Vec<&str> = readme
        .lines()
        .filter(|l| l.starts_with("cargo "))
        .take(2)
        .collect();
    assert_eq!(commands, ["cargo run", "cargo test"], "{name}'s README");
    let manifest = std::fs::read_to_string(project.join("Cargo.toml")).expect("Cargo.toml");
    assert!(
        manifest.contains("rotp-erlang = { path = "),
        "{name}: {manifest}"
    );

    // The workspace's versions, without the network; one target directory for all.
    std::fs::copy(checkout.join("Cargo.lock"), project.join("Cargo.lock")).expect("Cargo.lock");
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rotp-new-target");
    let mut ci = Command::new(project.join("ci"));
    ci.current_dir(&project)
        .env("CARGO_TARGET_DIR", target)
        .env("CARGO_NET_OFFLINE", "true");
    if let Some(cargo) = std::env::var_os("CARGO") {
        // The cargo running this test, first on PATH for the script.
        if let Some(bin) = Path::new(&cargo).parent() {
            let path = std::env::var_os("PATH").unwrap_or_default();
            let mut dirs = vec![bin.to_owned()];
            dirs.extend(std::env::split_paths(&path));
            ci.env("PATH", std::env::join_paths(dirs).expect("PATH"));
        }
    }
    let started = Instant::now();
    let (status, out) = run(
        ci,
        &scratch.join(format!("{name}-ci.log")),
        Duration::from_secs(1800),
    );
    assert!(status.success(), "{name}'s ./ci failed:\n{out}");
    let mut passed = vec!["tests::counts_and_crashes"];
    if flags.contains(&"--node") {
        passed.push("erl_calls_the_counter");
    }
    if flags.contains(&"--web") {
        passed.push("the_page_shows_the_counter_live");
    }
    for test in passed {
        let line = format!("test {test} ... ok");
        assert!(
            out.contains(&line),
            "{name}'s ./ci did not pass {test}:\n{out}"
        );
    }
    assert!(!out.contains("test result: FAILED"), "{name}:\n{out}");
    println!("{name} {flags:?}: ./ci passed in {:.0?}", started.elapsed());
}

#[test]
fn each_kind_of_project_passes_its_own_ci() {
    let scratch = Scratch::new("kinds");
    let scratch = &scratch.0;
    make_and_check(scratch, "plain_counter", &[], &[]);
    make_and_check(scratch, "supervised", &["--sup"], &[]);
    make_and_check(
        scratch,
        "node",
        &["--node"],
        &["tests/node.rs", "tests/support/mod.rs"],
    );
    make_and_check(
        scratch,
        "web",
        &["--web"],
        &["src/web.rs", "src/index.html", "tests/web.rs"],
    );
    // A long name moves rustfmt's line breaks: `rotp new` leaves them as rustfmt wants.
    make_and_check(
        scratch,
        "a_supervised_counter_on_a_node_with_a_live_page",
        &["--sup", "--node", "--web"],
        &["src/web.rs", "tests/node.rs", "tests/web.rs"],
    );
}

#[test]
fn refuses_bad_names_and_existing_directories() {
    let scratch = Scratch::new("refusals");
    let dir = &scratch.0;
    for (name, says) in [
        ("My-App", "is not a valid project name"),
        ("1app", "is not a valid project name"),
        ("fn", "Rust keyword"),
        ("rotp", "depends on the library `rotp`"),
    ] {
        let (status, out) = rotp_new(dir, &[name]);
        assert_eq!(status.code(), Some(2), "{name}: {out}");
        assert!(out.contains(says), "{name}: {out}");
        assert!(!dir.join(name).exists(), "{name} was made");
    }

    std::fs::create_dir(dir.join("taken")).expect("a directory");
    std::fs::write(dir.join("taken/mine.txt"), "keep me").expect("a file");
    let (status, out) = rotp_new(dir, &["taken", "--sup"]);
    assert_eq!(status.code(), Some(2), "{out}");
    assert!(out.contains("already exists"), "{out}");
    let left: Vec<_> = std::fs::read_dir(dir.join("taken"))
        .expect("taken")
        .collect();
    assert_eq!(left.len(), 1, "rotp new wrote into an existing directory");

    let (status, out) = rotp_new(dir, &["elsewhere", "--rotp-path", "/nonexistent"]);
    assert_eq!(status.code(), Some(2), "{out}");
    assert!(out.contains("is not a rotp checkout"), "{out}");
    assert!(!dir.join("elsewhere").exists());

    // Without --rotp-path: the published crate, at this version's minor.
    let (status, out) = rotp_new(dir, &["published"]);
    assert!(status.success(), "{out}");
    let manifest = std::fs::read_to_string(dir.join("published/Cargo.toml")).expect("manifest");
    let version: Vec<&str> = env!("CARGO_PKG_VERSION").split('.').take(2).collect();
    let want = format!("rotp-erlang = \"{}\"", version.join("."));
    assert!(manifest.contains(&want), "{manifest}");
}

#[test]
fn the_web_template_pins_axum_as_the_workspace_does() {
    fn axum_version(manifest: &str) -> Option<String> {
        let line = manifest.lines().find(|l| l.starts_with("axum = "))?;
        let version = line.split("version = \"").nth(1)?;
        Some(version.split('"').next()?.to_owned())
    }
    let workspace = std::fs::read_to_string(checkout().join("Cargo.toml")).expect("Cargo.toml");
    let template = include_str!("../templates/new/Cargo.toml.j2");
    assert_eq!(axum_version(template), axum_version(&workspace));
    assert!(axum_version(template).is_some());
}
