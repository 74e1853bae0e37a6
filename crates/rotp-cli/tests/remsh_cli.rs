//! `rotp remsh` under a pseudo-terminal (rexpect), against a real erl node and a real iex
//! node on a real EPMD on a free port: the target's own shell evaluates what is typed, keeps
//! its bindings, prints its output here, is interrupted by Ctrl-C, and Ctrl-D leaves the node
//! running.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rexpect::reader::Options;
use rexpect::session::{spawn_with_options, PtySession};
use support::*;

const COOKIE: &str = "remshcookie";

fn epmd() -> (Guard, u16) {
    let port = free_port();
    (start_epmd(&otp_epmd(), port, &[]), port)
}

fn rotp(port: u16) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rotp"));
    c.env("ERL_EPMD_PORT", port.to_string())
        .env_remove("RELEASE_COOKIE");
    c
}

/// Waits (bounded) until `node` answers a ping.
fn wait_up(port: u16, node: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = rotp(port)
            .args(["ping", node, "--cookie", COOKIE])
            .stdin(Stdio::null())
            .output()
            .expect("rotp ping runs");
        if String::from_utf8_lossy(&out.stdout).trim() == "pong" {
            return;
        }
        assert!(Instant::now() < deadline, "{node} never came up");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits for `prompt`, then types `line`. rustyline asks the terminal where its cursor is
/// when it starts reading (`ESC [6n`) and waits 100 ms for an answer this pty never gives:
/// what is typed before then would be taken for the answer.
fn at_prompt(p: &mut PtySession, prompt: &str, line: &str) {
    p.exp_string(prompt)
        .unwrap_or_else(|e| panic!("prompt {prompt:?}: {e}"));
    std::thread::sleep(Duration::from_millis(300));
    p.send_line(line).expect("typed");
}

/// Types each line at prompts `first`, `first + 1`… and waits for what it should print: the
/// same walk through bindings and output in either shell.
fn evaluates(
    p: &mut PtySession,
    prompt: &dyn Fn(u32) -> String,
    first: u32,
    steps: &[(&str, &str)],
) {
    for (i, (line, shows)) in steps.iter().enumerate() {
        at_prompt(p, &prompt(first + i as u32), line);
        p.exp_string(shows)
            .unwrap_or_else(|e| panic!("{line} should print {shows}: {e}"));
    }
}

fn remsh(port: u16, node: &str) -> PtySession {
    let mut c = rotp(port);
    c.args(["remsh", node, "--cookie", COOKIE]);
    let options = Options {
        timeout_ms: Some(30_000),
        strip_ansi_escape_codes: false,
    };
    spawn_with_options(c, options).expect("rotp remsh starts under a pty")
}

#[test]
fn remsh_into_erl_runs_its_shell_with_bindings_output_interrupts_and_leaves_it_running() {
    let (_epmd, port) = epmd();
    let _erl = start_erl("remsh_erl", COOKIE, port, "timer:sleep(infinity).");
    let target = format!("remsh_erl@{}", short_host());
    wait_up(port, &target);
    let mut p = remsh(port, &target);
    p.exp_string("Eshell V").expect("erl's banner");
    let prompt = |n: u32| format!("({target}){n}> ");
    // A binding kept between lines, and output from the target's processes that have us as
    // group leader.
    let from = format!("from {target}");
    evaluates(
        &mut p,
        &prompt,
        1,
        &[
            ("X = 6*7.", "42"),
            ("X + 1.", "43"),
            ("io:format(\"from ~s~n\", [node()]).", &from),
        ],
    );
    // Ctrl-C interrupts an evaluation that never ends; the shell goes on, bindings kept.
    at_prompt(&mut p, &prompt(4), "timer:sleep(infinity).");
    std::thread::sleep(Duration::from_millis(800));
    p.send_control('c').expect("Ctrl-C");
    p.exp_string("exception exit")
        .expect("the evaluator interrupted");
    at_prompt(&mut p, &prompt(5), "X.");
    p.exp_string("42").expect("bindings survive the interrupt");
    // Tab completion through the target's edlin_expand.
    p.exp_string(&prompt(6)).expect("a prompt");
    std::thread::sleep(Duration::from_millis(300));
    p.send("lists:reve").expect("typed");
    p.send("\t").expect("tab");
    p.flush().expect("sent");
    std::thread::sleep(Duration::from_millis(500));
    // edlin completes the name and opens the call: `lists:reverse(`.
    p.exp_string("lists:reverse(").expect("completed");
    p.send_line("[1,2,3]).").expect("typed");
    p.exp_string("[3,2,1]").expect("completed to lists:reverse");
    p.exp_string(&prompt(7)).expect("a prompt");
    std::thread::sleep(Duration::from_millis(300));
    // Ctrl-D leaves; the node runs on.
    p.send_control('d').expect("Ctrl-D");
    p.exp_string("left").expect("the goodbye");
    p.exp_eof().expect("rotp remsh ends");
    wait_up(port, &target);
}

#[test]
fn remsh_into_iex_runs_iex_with_bindings_and_output() {
    let (_epmd, port) = epmd();
    let _iex = Guard(
        Command::new("iex")
            .args(["--sname", "remsh_iex", "--cookie", COOKIE])
            .env("ERL_EPMD_PORT", port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("iex starts"),
    );
    let target = format!("remsh_iex@{}", short_host());
    wait_up(port, &target);
    let mut p = remsh(port, &target);
    p.exp_string("Interactive Elixir").expect("IEx's banner");
    let prompt = |n: u32| format!("iex({target}){n}> ");
    let from = format!("from {target}");
    evaluates(
        &mut p,
        &prompt,
        1,
        &[
            ("x = 6*7", "42"),
            ("x + 1", "43"),
            ("IO.puts(\"from #{node()}\")", &from),
        ],
    );
    p.exp_string(&prompt(4)).expect("a prompt");
    std::thread::sleep(Duration::from_millis(300));
    p.send_control('d').expect("Ctrl-D");
    p.exp_string("left").expect("the goodbye");
    p.exp_eof().expect("rotp remsh ends");
    wait_up(port, &target);
}

#[test]
fn remsh_to_a_node_nobody_runs_fails_in_one_sentence() {
    let (_epmd, port) = epmd();
    let out = rotp(port)
        .args([
            "remsh",
            &format!("nobody@{}", short_host()),
            "--cookie",
            COOKIE,
        ])
        .stdin(Stdio::null())
        .output()
        .expect("rotp runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot connect") && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn remsh_ends_in_one_sentence_and_non_zero_when_its_node_goes_down() {
    let (_epmd, port) = epmd();
    let erl = start_erl("remsh_drop", COOKIE, port, "timer:sleep(infinity).");
    let target = format!("remsh_drop@{}", short_host());
    wait_up(port, &target);
    let mut p = remsh(port, &target);
    p.exp_string("Eshell V").expect("erl's banner");
    p.exp_string(&format!("({target})1> "))
        .expect("the first prompt");
    // The node goes away while the shell waits for a line.
    drop(erl);
    p.exp_string(&format!("lost the connection to {target}"))
        .expect("the one sentence");
    p.exp_eof().expect("rotp remsh ends");
    let status = p.process.wait().expect("its status");
    assert!(
        matches!(status, rexpect::process::wait::WaitStatus::Exited(_, 1)),
        "{status:?}"
    );
}

/// A rotp node (`rotp node`) on the EPMD at `port`.
fn rotp_node(port: u16, name: &str) -> Guard {
    Guard(
        rotp(port)
            .args(["node", "--sname", name, "--cookie", COOKIE])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rotp node starts"),
    )
}

#[test]
fn remsh_into_a_rotp_node_gives_its_own_shell() {
    let (_epmd, port) = epmd();
    let _node = rotp_node(port, "remsh_rotp");
    let target = format!("remsh_rotp@{}", short_host());
    wait_up(port, &target);
    let mut p = remsh(port, &target);
    p.exp_string("rotp shell").expect("the banner");
    let prompt = |n: u32| format!("({target}){n}> ");
    at_prompt(&mut p, &prompt(1), "regs().");
    p.exp_string("net_kernel").expect("the registered names");
    at_prompt(&mut p, &prompt(2), "i(rex).");
    p.exp_string("rpc:init/1").expect("rex's initial call");
    at_prompt(&mut p, &prompt(3), "tree().");
    p.exp_string("global_name_server")
        .expect("kernel_sup's children");
    at_prompt(&mut p, &prompt(4), "nosuch().");
    p.exp_string("undefined shell command")
        .expect("one clear error");
    p.exp_string(&prompt(5)).expect("the shell goes on");
    std::thread::sleep(Duration::from_millis(300));
    p.send_control('d').expect("Ctrl-D");
    p.exp_string("left").expect("the goodbye");
    p.exp_eof().expect("rotp remsh ends");
    wait_up(port, &target);
}

#[test]
fn erl_remsh_into_a_rotp_node_gives_a_working_prompt_with_completion() {
    let (_epmd, port) = epmd();
    let _node = rotp_node(port, "remsh_rotp2");
    let target = format!("remsh_rotp2@{}", short_host());
    wait_up(port, &target);
    let mut c = Command::new("erl");
    c.args([
        "-sname",
        "remsh_erl2",
        "-setcookie",
        COOKIE,
        "-remsh",
        &target,
    ])
    .env("ERL_EPMD_PORT", port.to_string());
    let options = Options {
        timeout_ms: Some(30_000),
        strip_ansi_escape_codes: false,
    };
    let mut p = spawn_with_options(c, options).expect("erl -remsh starts under a pty");
    p.exp_string("rotp shell")
        .expect("the rotp shell's banner, through erl's group");
    p.exp_string(&format!("({target})1> ")).expect("the prompt");
    p.send("regs().\r").expect("typed");
    p.flush().expect("sent");
    p.exp_string("net_kernel").expect("the registered names");
    // Tab completion: erl's group asks edlin_expand:expand/1 on the rotp node.
    p.exp_string(&format!("({target})2> ")).expect("the prompt");
    p.send("sta\t").expect("typed");
    p.flush().expect("sent");
    p.exp_string("stages(").expect("completed");
    p.send(")\r").expect("typed");
    p.flush().expect("sent");
    p.exp_string("no stages").expect("the command ran");
    // Leave erl through its job control: ^G q.
    p.send_control('g').expect("^G");
    p.exp_string("-->").expect("erl's user switch prompt");
    p.send("q\r").expect("typed");
    p.flush().expect("sent");
    p.exp_eof().expect("erl ends");
    wait_up(port, &target);
}
