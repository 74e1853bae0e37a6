//! What a cookie holder's calls cannot do on a rotp node, each sent from a real erl node, and
//! the node whole afterwards:
//!
//! - read a file or list a directory other than the few in `/proc` the OS page reads
//!   (security review of 2026-12-07, H1: `file:read_file("/proc/self/cwd/drip-data/master.key")`
//!   returned Drip's master key);
//! - make the node's shell build huge binaries from a few bytes of term text (0.8c).

mod support;

use std::io::Write;

use support::*;

const COOKIE: &str = "holder";

/// `rpc:call` from an erl node of each `(Module, Function, Path)`: the results, one per line,
/// as `~p` prints them (a binary as its size only, so that what was read never floods the log).
async fn erl_calls(epmd_port: u16, target: &str, calls: &[(&str, &str, &str)]) -> Vec<String> {
    let list = calls
        .iter()
        .map(|(m, f, path)| format!("{{{m}, {f}, \"{path}\"}}"))
        .collect::<Vec<_>>()
        .join(", ");
    let eval = format!(
        "N = '{target}', \
         Show = fun({{ok, B}}) when is_binary(B) -> {{ok, byte_size(B)}}; \
                   ({{ok, L}}) when is_list(L) -> {{ok, length(L)}}; \
                   (Other) -> Other end, \
         [io:format(\"~p~n\", [Show(rpc:call(N, M, F, [P]))]) || {{M, F, P}} <- [{list}]], \
         halt()."
    );
    let out = erl_eval("erl_holder", COOKIE, epmd_port, &eval).await;
    out.lines().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cookie_holder_reads_only_what_the_os_page_reads() {
    let (_epmd, epmd_port) = epmd();
    let node = rotp_node("rotp_holder", COOKIE, epmd_port).await;
    let target = node.name().to_string();

    // A secret beside the node, as Drip keeps its master key, held open as an upload's spool
    // file is: its path and its descriptor both lead to it through /proc/self.
    let dir = std::env::temp_dir().join(format!("rotp-holder-{}", std::process::id()));
    let _cleanup = RemoveOnDrop(dir.clone());
    std::fs::create_dir_all(dir.join("drip-data")).unwrap();
    let key = dir.join("drip-data/master.key");
    std::fs::File::create(&key)
        .unwrap()
        .write_all(b"0123456789abcdef")
        .unwrap();
    let open = std::fs::File::open(&key).unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&open);
    let via_root = format!("/proc/self/root{}", key.display());
    let via_fd = format!("/proc/self/fd/{fd}");
    let via_cwd = "/proc/self/cwd/Cargo.toml";
    let root_dir = format!("/proc/self/root{}", dir.display());

    let refused: Vec<(&str, &str, &str)> = vec![
        ("file", "read_file", &via_root),
        ("file", "read_file", via_cwd),
        ("file", "read_file", &via_fd),
        ("file", "read_file", "/proc/self/environ"),
        ("file", "read_file", "/proc/self/cmdline"),
        ("file", "read_file", "/proc/self/root/etc/passwd"),
        ("file", "read_file", "/etc/passwd"),
        ("file", "list_dir", &root_dir),
        ("file", "list_dir", "/proc/self/root/etc"),
        ("file", "list_dir", "/proc"),
    ];
    let answers = erl_calls(epmd_port, &target, &refused).await;
    assert_eq!(answers.len(), refused.len(), "{answers:?}");
    for ((_, f, path), answer) in refused.iter().zip(&answers) {
        assert_eq!(answer, "{error,eacces}", "{f}({path})");
    }

    // `/proc/self/pagemap` reads to the end of the address space: before the allow-list, the
    // node ran out of memory on it (asked last, after the refusals above have failed a node
    // that still reads files freely).
    let answers = erl_calls(
        epmd_port,
        &target,
        &[("file", "read_file", "/proc/self/pagemap")],
    )
    .await;
    assert_eq!(answers, ["{error,eacces}"]);

    // The OS page's own reads still answer, and so does the node.
    let allowed = [
        ("file", "read_file", "/proc/loadavg"),
        ("file", "read_file", "/proc/uptime"),
        ("file", "read_file", "/proc/meminfo"),
        ("file", "read_file", "/proc/self/status"),
        ("file", "list_dir", "/proc/self/fd"),
    ];
    let answers = erl_calls(epmd_port, &target, &allowed).await;
    assert_eq!(answers.len(), allowed.len(), "{answers:?}");
    for ((_, f, path), answer) in allowed.iter().zip(&answers) {
        assert!(answer.starts_with("{ok,"), "{f}({path}): {answer}");
        assert_ne!(answer, "{ok,0}", "{f}({path})");
    }
    let version = erl_eval(
        "erl_version",
        COOKIE,
        epmd_port,
        &format!("io:format(\"~p~n\", [rpc:call('{target}', os, version, [])]), halt()."),
    )
    .await;
    assert!(version.trim().starts_with('{'), "{version}");
    assert!(!node.is_down());
    drop(open);
}

/// Removes a directory when the test ends, passed or failed.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The node's shell, started from an erl node as `erl -remsh` starts it
/// (`erpc:call(N, shell, start, [])`) on a group leader of the test's making that types two
/// lines: 80 MiB of binaries in 75 bytes of text, then `node()`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shell_refuses_huge_binaries_in_term_text_and_goes_on() {
    let (_epmd, epmd_port) = epmd();
    let node = rotp_node("rotp_shell_holder", COOKIE, epmd_port).await;
    let target = node.name().to_string();
    let huge = ["0:134217728"; 5].join(",");
    let eval = format!(
        "N = '{target}', Me = self(), \
         Lines = [\"sink ! <<{huge}>>.\\n\", \"node().\\n\"], \
         Loop = fun L(Ls) -> receive \
             {{io_request, From, Ref, {{get_line, _, _}}}} -> \
                 case Ls of [H | T] -> From ! {{io_reply, Ref, H}}, L(T); \
                            [] -> From ! {{io_reply, Ref, eof}}, L([]) end; \
             {{io_request, From, Ref, {{put_chars, _, Chars}}}} -> \
                 Me ! {{out, unicode:characters_to_list(Chars)}}, \
                 From ! {{io_reply, Ref, ok}}, L(Ls); \
             {{io_request, From, Ref, _}} -> From ! {{io_reply, Ref, {{error, enotsup}}}}, L(Ls) \
           end end, \
         GL = spawn(fun() -> Loop(Lines) end), \
         Old = group_leader(), group_leader(GL, self()), \
         Shell = erpc:call(N, shell, start, []), \
         group_leader(Old, self()), \
         MRef = erlang:monitor(process, Shell), \
         Collect = fun C(Acc) -> receive \
             {{out, S}} -> C([S | Acc]); \
             {{'DOWN', MRef, _, _, _}} -> lists:reverse(Acc) \
           after 60000 -> lists:reverse([\"timeout\" | Acc]) end end, \
         Out = Collect([]), \
         io:format(\"~ts~n~p~n\", [lists:flatten(Out), net_adm:ping(N)]), \
         halt()."
    );
    let out = erl_eval("erl_shell_holder", COOKIE, epmd_port, &eval).await;
    assert!(out.contains("64 MiB"), "{out}");
    // node()'s answer on a line of its own (the banner names the node too).
    assert!(
        out.lines()
            .any(|l| l.trim().trim_matches('\'') == target.as_str()),
        "node() after the refusal: {out}"
    );
    assert!(out.trim_end().ends_with("pong"), "{out}");
    assert!(!node.is_down());
}
