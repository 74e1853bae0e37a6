//! The guide's examples (`crates/rotp/examples/`) do what their opening comments say: each
//! example's built binary is run and its output checked. Those that end run to completion;
//! the node (`iex`) and `global` examples are called from a real Elixir node, with the exact
//! commands they print; the live page is driven over HTTP and its Server-Sent Events.
//!
//! The binaries are the ones `cargo test -p rotp-erlang` (and `./test`) builds beside this
//! test, in `target/<profile>/examples/`: a test runs no `cargo` of its own (a nested cargo
//! would wait on the build directory's lock that the outer one holds), and fails, naming the
//! command to run, if an example is missing or older than its source.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use harness::{free_port, wait_until, Guard};

/// How long an example that ends may run.
const RUN: Duration = Duration::from_secs(60);

/// The built example `name`, checked to be newer than its source.
fn example(name: &str) -> PathBuf {
    let test = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/book-… → target/<profile>/examples/<name>
    let profile = test
        .parent()
        .and_then(Path::parent)
        .expect("the test binary is in target/<profile>/deps");
    let binary = profile.join("examples").join(name);
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("examples/{name}.rs"));
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let build = "build the examples: cargo build -p rotp-erlang --examples (cargo test -p rotp-erlang does)";
    let (Some(built), Some(written)) = (modified(&binary), modified(&source)) else {
        panic!("no example binary {}: {build}", binary.display());
    };
    assert!(
        built >= written,
        "{} is older than {name}.rs: {build}",
        binary.display()
    );
    binary
}

/// A running example whose standard output is collected as it comes. Its standard error
/// (the panic of the `:boom` the iex test asks for, say) is kept apart, for the messages of
/// failed checks.
struct Running {
    child: Guard,
    output: Arc<Mutex<String>>,
    errors: Arc<Mutex<String>>,
}

/// The lines read from `pipe`, as they come, until it closes.
fn collect(pipe: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let mut text = sink.lock().unwrap_or_else(|e| e.into_inner());
            text.push_str(&line);
            text.push('\n');
        }
    });
    text
}

impl Running {
    fn start(name: &str, args: &[&str], env: &[(&str, String)]) -> Running {
        let mut command = Command::new(example(name));
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start the example");
        let output = collect(child.stdout.take().expect("its stdout"));
        let errors = collect(child.stderr.take().expect("its stderr"));
        Running {
            child: Guard(child),
            output,
            errors,
        }
    }

    /// Its standard output so far.
    fn output(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Its standard error so far.
    fn errors(&self) -> String {
        self.errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Waits until the output has a line containing `text`; all the output so far.
    fn wait_for(&self, text: &str, within: Duration) -> String {
        let what = format!("the example to print {text:?} (stderr: {})", self.errors());
        wait_until(&what, within, || {
            let out = self.output();
            out.contains(text).then_some(out)
        })
    }

    /// Waits until the example exits, successfully; all its output.
    fn finish(mut self) -> String {
        let status = wait_until("the example to end", RUN, || {
            self.child.0.try_wait().ok().flatten()
        });
        assert!(
            status.success(),
            "the example failed ({status}):\n{}\n{}",
            self.output(),
            self.errors()
        );
        // The reader thread has the last lines once the pipe closes.
        wait_until("the example's output to close", RUN, || {
            Arc::strong_count(&self.output) == 1
        });
        self.output()
    }
}

/// Runs an example that ends; its output.
fn run_to_end(name: &str) -> String {
    let out = Running::start(name, &[], &[]).finish();
    println!("{out}");
    out
}

#[test]
fn processes_links_and_monitors() {
    let out = run_to_end("processes");
    assert!(
        out.contains("1. messages: sent ping 1, got pong 1"),
        "{out}"
    );
    assert!(
        out.contains("1. messages: still in the mailbox: unrelated"),
        "{out}"
    );
    assert!(
        out.contains("2. links: the partner died with the crasher: boom"),
        "{out}"
    );
    assert!(out.contains("3. trap_exit: got {'EXIT', <"), "{out}");
    assert!(out.contains(">, boom} as a message, and live on"), "{out}");
    assert!(
        out.contains("4. monitors: {'DOWN', Ref, process, <"),
        "{out}"
    );
    assert!(out.contains(">, normal}"), "{out}");
}

#[test]
fn a_gen_server() {
    let out = run_to_end("gen_server");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("start_link: Ok(Some(\"<"), "{out}");
    assert!(lines.contains(&"pop: Some(\"world\")"), "{out}");
    assert!(
        lines.contains(&"handle_info: tick, 1 item(s) on the stack"),
        "{out}"
    );
    assert!(
        lines.contains(&"terminate: normal with [\"hello\"] left"),
        "{out}"
    );
    assert!(lines.contains(&"stop: Ok(())"), "{out}");
    assert_eq!(lines.last(), Some(&"pop after stop: Some(NoProc)"), "{out}");
}

#[test]
fn restart_strategies_and_intensity() {
    let out = run_to_end("supervisor");
    let expected = [
        r#"one_for_one: b crashed; restarted ["b"], kept ["a", "c"]"#,
        r#"one_for_all: b crashed; restarted ["a", "b", "c"], kept []"#,
        r#"rest_for_one: b crashed; restarted ["b", "c"], kept ["a"]"#,
        "intensity: crash 1 of a: workers restarted it",
        "intensity: crash 2 of a: workers restarted it",
        "intensity: crash 3 of a: workers restarted it",
        "intensity: crash 4 of a: workers gave up (shutdown), root restarted it (a new pid: true)",
    ];
    assert_eq!(out.lines().collect::<Vec<_>>(), expected, "{out}");
}

#[test]
fn a_pipeline_with_back_pressure() {
    let out = run_to_end("gen_stage");
    let mut events = Vec::new();
    for line in out.lines() {
        if let Some(demand) = line.strip_prefix("numbers: asked for ") {
            let demand: usize = demand.parse().expect("a demand");
            assert!(
                (1..=10).contains(&demand),
                "a demand past max_demand: {line}"
            );
        } else if let Some(batch) = line.strip_prefix("printer: a batch of ") {
            let (size, list) = batch.split_once(": ").expect("size: events");
            let batch: Vec<u64> = list
                .trim_matches(['[', ']'])
                .split(", ")
                .map(|n| n.parse().expect("an event"))
                .collect();
            assert_eq!(size.parse::<usize>().ok(), Some(batch.len()));
            assert!(batch.len() <= 10, "a batch past max_demand: {line}");
            events.extend(batch);
        }
    }
    // Every number, squared, in order, once.
    let squares: Vec<u64> = (0..events.len() as u64).map(|n| n * n).collect();
    assert_eq!(events, squares);
    let done = out.lines().last().unwrap_or_default();
    let (taken, made) = done
        .strip_prefix("done: printer took ")
        .and_then(|d| d.split_once(" events and stopped; numbers made "))
        .map(|(t, m)| (t.parse::<u64>().ok(), m.parse::<u64>().ok()))
        .unwrap_or_else(|| panic!("no done line: {out}"));
    let (taken, made) = (taken.expect("taken"), made.expect("made"));
    assert_eq!(taken, events.len() as u64);
    assert!(taken >= 100);
    assert!(
        made >= taken && made <= taken + 20,
        "numbers ran ahead: made {made}, taken {taken}"
    );
}

/// The lines after `iex> ` in an example's instructions.
#[cfg(feature = "dist")]
fn iex_lines(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.trim_start().strip_prefix("iex> "))
        .map(str::to_owned)
        .collect()
}

/// Runs Elixir expressions on a node `elixir --sname NAME --cookie COOKIE` against the EPMD on
/// `epmd`, each printed with `inspect` on a line of its own (`exit` for a call that exits).
#[cfg(feature = "dist")]
fn elixir(name: &str, cookie: &str, epmd: u16, expressions: &[String]) -> Vec<String> {
    let script: String = expressions
        .iter()
        .map(|e| format!("IO.puts(inspect(try do\n{e}\ncatch :exit, _ -> :exit\nend))\n"))
        .collect();
    let out = Command::new("elixir")
        .args(["--sname", name, "--cookie", cookie, "-e", &script])
        .env("ERL_EPMD_PORT", epmd.to_string())
        .stdin(Stdio::null())
        .output()
        .expect("elixir is installed (./test installs it)");
    assert!(
        out.status.success(),
        "elixir failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A private EPMD (OTP's) for one test, and the environment that points nodes at it.
#[cfg(feature = "dist")]
fn epmd() -> (Guard, u16) {
    let port = free_port();
    (harness::start_epmd(&harness::otp_epmd(), port, &[]), port)
}

#[test]
#[cfg(feature = "dist")]
fn a_node_that_iex_calls() {
    let (_epmd, port) = epmd();
    let cookie = format!("book{}", std::process::id());
    let env = [
        ("ERL_EPMD_PORT", port.to_string()),
        ("RELEASE_COOKIE", cookie.clone()),
    ];
    let node = Running::start("iex", &["book_iex"], &env);
    let out = node.wait_for("iex> ", Duration::from_secs(30));
    let host = harness::short_host();
    assert!(
        out.contains(&format!("node book_iex@{host} is up")),
        "{out}"
    );
    assert!(
        out.contains(&format!("iex --sname iex --cookie {cookie}")),
        "{out}"
    );

    // The commands as printed, pasted into an Elixir node.
    let mut commands = iex_lines(&out);
    assert_eq!(commands.len(), 5, "{out}");
    // The last `:count` races the restart after `:boom` (as in iex, where typing takes longer
    // than the restart): it is asked again until the restarted server answers.
    let last = commands.pop().unwrap_or_default();
    commands.push(format!(
        "Enum.find_value(1..100, fn _ -> try do {last} catch :exit, _ -> Process.sleep(50); nil end end)"
    ));
    let answers = elixir("iex_test", &cookie, port, &commands);
    assert_eq!(
        answers,
        [
            "{:ok, 1}",
            r#"{:ok, %{title: "Mastering Elixir", year: 2018}}"#,
            "{:ok, 1}",
            ":exit",
            "{:ok, 0}",
        ],
        "{}",
        node.output()
    );
    let out = node.output();
    assert!(
        out.contains(r#"library: Add(Book { title: "Mastering Elixir", year: 2018 })"#),
        "{out}"
    );
    assert!(out.contains("library: Boom"), "{out}");
}

#[test]
#[cfg(feature = "dist")]
fn global_names_across_nodes() {
    let (_epmd, port) = epmd();
    let cookie = format!("book{}", std::process::id());
    let env = [
        ("ERL_EPMD_PORT", port.to_string()),
        ("RELEASE_COOKIE", cookie.clone()),
    ];
    let nodes = Running::start("global", &["book_global"], &env);
    let out = nodes.wait_for("Ctrl-C stops both nodes.", Duration::from_secs(30));
    let host = harness::short_host();
    for line in [
        format!("nodes up: book_global_a@{host} and book_global_b@{host}"),
        "a: ledger started: true".into(),
        "b: connect to a: true".into(),
        "b: whereis_name(:ledger) is a's process: true".into(),
        "b: deposit 5 through {:global, :ledger}: balance 5".into(),
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "no line {line:?} in:\n{out}"
        );
    }
    let commands = iex_lines(&out);
    assert_eq!(commands.len(), 4, "{out}");
    let answers = elixir("global_test", &cookie, port, &commands);
    assert_eq!(answers.len(), 4, "{answers:?}");
    assert_eq!(answers[0], "true");
    assert_eq!(answers[1], ":ok");
    assert!(
        answers[2].starts_with("#PID<"),
        "whereis_name: {}",
        answers[2]
    );
    assert_eq!(answers[3], "15", "{}", nodes.output());
}

#[test]
fn a_live_page() {
    let port = free_port();
    let page = Running::start("live_page", &[&port.to_string()], &[]);
    page.wait_for("live page on", Duration::from_secs(30));

    let (status, _, html) = harness::http::get(port, "/");
    assert!(status.contains("200"), "{status}");
    assert!(html.contains("new EventSource(\"/events\")"), "{html}");

    // An open page: its event stream.
    let mut events = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        events,
        "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
    )
    .expect("ask for the events");
    events
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("a read timeout");
    let mut seen = String::new();
    let mut read_until = |text: &str| {
        wait_until(
            &format!("the page's events to bring {text}"),
            Duration::from_secs(30),
            || {
                let mut chunk = [0u8; 4096];
                if let Ok(n) = events.read(&mut chunk) {
                    seen.push_str(&String::from_utf8_lossy(&chunk[..n]));
                }
                seen.contains(text)
            },
        );
    };
    read_until("\"clicks\":0");
    // The server ticks by itself...
    read_until("\"seconds\":1");
    // ...and clicks from elsewhere reach the open page.
    for expected in ["1", "2"] {
        let (status, _, body) = harness::http::request(port, "POST", "/click", &[], "");
        assert!(status.contains("200"), "{status}");
        assert_eq!(body, expected);
    }
    read_until("\"clicks\":2");
}
