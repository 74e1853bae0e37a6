//! `rotp stage produce` and `rotp stage subscribe` against erl stages speaking gen_stage's
//! protocol from plain Erlang, and against each other, on a real EPMD on a free port.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use support::*;

/// OTP's epmd on a free port.
fn epmd() -> (Guard, u16) {
    let port = free_port();
    (start_epmd(&otp_epmd(), port, &[]), port)
}

/// Waits (bounded) until the EPMD at `port` knows `name`.
fn wait_registered(port: u16, name: &str) {
    for _ in 0..400 {
        let names = Command::new(otp_epmd())
            .args(["-port", &port.to_string(), "-names"])
            .output()
            .expect("epmd -names");
        if String::from_utf8_lossy(&names.stdout).contains(&format!("name {name} at port")) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("{name} never registered");
}

fn rotp(port: u16, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rotp"))
        .args(args)
        .env("ERL_EPMD_PORT", port.to_string())
        .env_remove("RELEASE_COOKIE")
        .stdin(Stdio::null())
        .output()
        .expect("rotp runs")
}

/// `rotp stage produce` once it says it is up.
fn producer(port: u16, sname: &str, name: &str, range: &str) -> Guard {
    let child = Command::new(env!("CARGO_BIN_EXE_rotp"))
        .args([
            "stage",
            "produce",
            "--sname",
            sname,
            "--cookie",
            "stagecookie",
            "--name",
            name,
            "--range",
            range,
        ])
        .env("ERL_EPMD_PORT", port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("rotp stage produce");
    let mut guard = Guard(child);
    let mut banner = String::new();
    BufReader::new(guard.0.stdout.take().unwrap())
        .read_line(&mut banner)
        .unwrap();
    assert!(
        banner.contains(&format!("producer {name} holds")),
        "{banner}"
    );
    guard
}

#[test]
fn an_erl_consumer_takes_a_rotp_stage_produce_range_and_sees_it_end() {
    let (_epmd, port) = epmd();
    let mut p = producer(port, "stage_p1", "numbers", "1..25");
    let target = format!("stage_p1@{}", short_host());
    // Asks 10 at a time until the producer goes (its monitor fires with `normal`).
    let script = format!(
        "P = {{numbers, '{target}'}}, Ref = monitor(process, P), \
         P ! {{'$gen_producer', {{self(), Ref}}, {{subscribe, nil, [{{max_demand, 10}}]}}}}, \
         P ! {{'$gen_producer', {{self(), Ref}}, {{ask, 10}}}}, \
         L = fun L(Got, Owed) -> receive \
             {{'$gen_consumer', {{_, Ref}}, Es}} when is_list(Es) -> \
                 Left = Owed - length(Es), \
                 case Left of 0 -> P ! {{'$gen_producer', {{self(), Ref}}, {{ask, 10}}}}, L(Got ++ Es, 10); \
                     _ -> L(Got ++ Es, Left) end; \
             {{'DOWN', Ref, _, _, Why}} -> {{Got, Why}} \
             after 10000 -> {{Got, timeout}} end end, \
         io:format(\"~w~n\", [L([], 10)]), halt()."
    );
    let out = Command::new("erl")
        .args([
            "-sname",
            "stage_e1",
            "-setcookie",
            "stagecookie",
            "-noshell",
            "-eval",
            &script,
        ])
        .env("ERL_EPMD_PORT", port.to_string())
        .stdin(Stdio::null())
        .output()
        .expect("erl");
    let expected: Vec<String> = (1..=25).map(|i| i.to_string()).collect();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{{[{}],normal}}", expected.join(","))
    );
    let status = p.0.wait().unwrap();
    assert!(status.success(), "{status}");
}

#[test]
fn rotp_stage_subscribe_prints_an_erl_producers_events_and_cancels_after_count() {
    let (_epmd, port) = epmd();
    // An erl producer of integers that prints how its subscription ended.
    let script = "Me = self(), P = spawn(fun() -> \
        L = fun L(Next) -> receive \
            {'$gen_producer', _, {subscribe, _, _}} -> L(Next); \
            {'$gen_producer', {C, Ref}, {ask, D}} -> \
                C ! {'$gen_consumer', {self(), Ref}, lists:seq(Next, Next + D - 1)}, L(Next + D); \
            {'$gen_producer', _, {cancel, Why}} -> Me ! {cancelled, Why} \
        end end, L(100) end), \
        register(producer, P), \
        receive {cancelled, Why} -> io:format(\"cancelled ~p~n\", [Why]) after 30000 -> io:format(\"no cancel~n\") end, \
        halt().";
    let mut erl = start_erl("stage_e2", "stagecookie", port, script);
    wait_registered(port, "stage_e2");
    let target = format!("stage_e2@{}", short_host());
    // Before the producer is registered there, the tap says so and fails.
    let early = rotp(
        port,
        &[
            "stage",
            "subscribe",
            &target,
            "not_yet",
            "--cookie",
            "stagecookie",
        ],
    );
    assert_eq!(early.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&early.stderr).contains("no process is registered as not_yet"));
    for _ in 0..200 {
        let found = rotp(
            port,
            &[
                "rpc",
                &target,
                "erlang",
                "whereis",
                "[producer]",
                "--cookie",
                "stagecookie",
            ],
        );
        if String::from_utf8_lossy(&found.stdout).starts_with('<') {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = rotp(
        port,
        &[
            "stage",
            "subscribe",
            &target,
            "producer",
            "--cookie",
            "stagecookie",
            "--max-demand",
            "4",
            "--count",
            "9",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: Vec<String> = (100..109).map(|i| i.to_string()).collect();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .collect::<Vec<_>>(),
        expected
    );
    let mut said = String::new();
    BufReader::new(erl.0.stdout.take().unwrap())
        .read_line(&mut said)
        .unwrap();
    assert_eq!(said.trim(), "cancelled normal");
}

#[test]
fn rotp_stage_subscribe_reads_rotp_stage_produce_to_its_end() {
    let (_epmd, port) = epmd();
    let mut p = producer(port, "stage_p3", "ticks", "5..1");
    let target = format!("stage_p3@{}", short_host());
    let out = rotp(
        port,
        &[
            "stage",
            "subscribe",
            &target,
            "ticks",
            "--cookie",
            "stagecookie",
            "--max-demand",
            "2",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .collect::<Vec<_>>(),
        ["5", "4", "3", "2", "1"]
    );
    assert!(p.0.wait().unwrap().success());
}

/// Runs `erl -eval SCRIPT` (named `sname`) to the end: what it printed.
fn erl_eval(port: u16, sname: &str, script: &str) -> String {
    let out = Command::new("erl")
        .args([
            "-sname",
            sname,
            "-setcookie",
            "stagecookie",
            "-noshell",
            "-eval",
            script,
        ])
        .env("ERL_EPMD_PORT", port.to_string())
        .stdin(Stdio::null())
        .output()
        .expect("erl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `[First, ..., Last]` as `~w` prints it.
fn list(numbers: impl IntoIterator<Item = i64>) -> String {
    let items: Vec<String> = numbers.into_iter().map(|i| i.to_string()).collect();
    format!("[{}]", items.join(","))
}

#[test]
fn elixirs_gen_stage_stream_takes_from_rotp_stage_produce_and_its_cancel_is_answered() {
    let (_epmd, port) = epmd();
    let _p = producer(port, "stage_p4", "numbers", "1..1000000");
    let target = format!("stage_p4@{}", short_host());
    // `GenStage.stream([{{:numbers, node}, max_demand: 50}]) |> Enum.take(60)`, then a second
    // stream of 10: the first names its subscription `{MonitorRef, InnerRef}`, asks 50 and
    // then 25 after each batch of 25 (100 in all), and waits for the producer to answer its
    // cancel; the producer carries on with the next events for the second.
    let to = format!("{{numbers, '{target}'}}");
    let script = format!(
        "pong = net_adm:ping('{target}'), A = {}, B = {}, io:format(\"~w~n~w~n\", [A, B]), halt().",
        harness::gen_stage::stream_take(&to, 50, 60),
        harness::gen_stage::stream_take(&to, 50, 10),
    );
    let out = erl_eval(port, "stage_e4", &script);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            format!("{{{},{{cancel,normal}}}}", list(1..=60)),
            format!("{{{},{{cancel,normal}}}}", list(101..=110)),
        ],
        "{out}"
    );
}

#[test]
fn rotp_stage_produce_owes_a_consumer_of_another_node_at_most_twice_its_max_demand() {
    let (_epmd, port) = epmd();
    let _p = producer(port, "stage_p5", "numbers", "1..1000000000000");
    let target = format!("stage_p5@{}", short_host());
    // Two asks for 2^63 - 1 events from a subscription of max_demand 10: each is cut to what
    // keeps 20 owed (the producer made 40, not a trillion); a call to the producer answered
    // means every event it sent before is in the mailbox. Then an ask of 10 is served as
    // ever, and a subscription of max_demand 2^63 - 1 is refused.
    let script = format!(
        "P = {{numbers, '{target}'}}, pong = net_adm:ping('{target}'), \
         Ref = monitor(process, P), \
         P ! {{'$gen_producer', {{self(), Ref}}, {{subscribe, nil, [{{max_demand, 10}}]}}}}, \
         P ! {{'$gen_producer', {{self(), Ref}}, {{ask, 9223372036854775807}}}}, \
         P ! {{'$gen_producer', {{self(), Ref}}, {{ask, 9223372036854775807}}}}, \
         Drain = fun D(Acc) -> receive {{'$gen_consumer', {{_, Ref}}, Es}} when is_list(Es) -> D(Acc ++ Es) after 0 -> Acc end end, \
         _ = gen_server:call(P, '$estimate_buffered_count'), \
         First = Drain([]), \
         P ! {{'$gen_producer', {{self(), Ref}}, {{ask, 10}}}}, \
         _ = gen_server:call(P, '$estimate_buffered_count'), \
         Then = Drain([]), \
         Ref2 = monitor(process, P), \
         P ! {{'$gen_producer', {{self(), Ref2}}, {{subscribe, nil, [{{max_demand, 9223372036854775807}}]}}}}, \
         Refused = receive {{'$gen_consumer', {{_, Ref2}}, {{cancel, Why}}}} -> Why after 10000 -> no_cancel end, \
         io:format(\"~w~n~w~n\", [First, Then]), \
         case Refused of {{Tag, Text}} when is_binary(Text) -> io:format(\"~w ~ts~n\", [Tag, Text]); _ -> io:format(\"~w~n\", [Refused]) end, \
         halt()."
    );
    let out = erl_eval(port, "stage_e5", &script);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first().copied(), Some(list(1..=40).as_str()), "{out}");
    assert_eq!(lines.get(1).copied(), Some(list(41..=50).as_str()), "{out}");
    assert!(
        lines.get(2).copied()
            == Some("bad_opts expected :max_demand to be at most 100000 for a consumer of another node, got: 9223372036854775807"),
        "{out}"
    );
}
