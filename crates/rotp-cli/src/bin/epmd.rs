//! `epmd`: a drop-in for OTP's `erts/epmd`. The command line is parsed exactly as `epmd.c`
//! parses it (single-dash words, `atoi` numbers, the same usage text and exit codes), so it is
//! read by hand rather than with clap; the interactive commands print what `epmd_cli.c` prints.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use epmd::msg::Request;
use net::epmd::client::cli_addresses;
use net::epmd::{atoi, log, Daemon, DaemonConfig, DaemonError};

const USAGE: &str = include_str!("epmd_usage.txt");

enum Interactive {
    Names { silent: bool },
    Dump,
    Kill,
    Stop(String),
}

fn usage() -> ExitCode {
    eprint!("{USAGE}");
    ExitCode::from(1)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut config = DaemonConfig {
        port: net::epmd::port_from_env(),
        addresses: std::env::var("ERL_EPMD_ADDRESS").ok(),
        relaxed_command_check: std::env::var_os("ERL_EPMD_RELAXED_COMMAND_CHECK").is_some(),
        ..DaemonConfig::default()
    };
    let mut daemon = false;
    let mut i = 0;
    let seconds = |v: Option<&String>| v.map(|v| atoi(v)).filter(|n| *n != 0);
    while i < args.len() {
        let last = i + 1 == args.len();
        match args[i].as_str() {
            "-d" | "-debug" => config.debug = config.debug.saturating_add(1),
            "-packet_timeout" | "-delay_accept" | "-delay_write" => {
                let Some(n) = seconds(args.get(i + 1)) else {
                    return usage();
                };
                let d = Duration::from_secs(n as u64);
                match args[i].as_str() {
                    "-packet_timeout" => config.packet_timeout = d,
                    "-delay_accept" => config.delay_accept = d,
                    _ => config.delay_write = d,
                }
                i += 1;
            }
            "-daemon" => daemon = true,
            "-systemd" => config.systemd = true,
            "-relaxed_command_check" => config.relaxed_command_check = true,
            "-address" => {
                let Some(a) = args.get(i + 1) else {
                    return usage();
                };
                config.addresses = Some(a.clone());
                i += 1;
            }
            "-port" => {
                let Some(p) = seconds(args.get(i + 1)) else {
                    return usage();
                };
                config.port = p as u16;
                i += 1;
            }
            "-names" if last => return interactive(&config, Interactive::Names { silent: false }),
            "-started" if last => return interactive(&config, Interactive::Names { silent: true }),
            "-dump" if last => return interactive(&config, Interactive::Dump),
            "-kill" if last => return interactive(&config, Interactive::Kill),
            "-stop" if i + 2 == args.len() => {
                return interactive(&config, Interactive::Stop(args[i + 1].clone()))
            }
            _ => return usage(),
        }
        i += 1;
    }
    if daemon {
        return detach();
    }
    serve(config)
}

/// `-daemon`: run ourselves again without it, detached from the terminal, and return.
fn detach() -> ExitCode {
    use std::os::unix::process::CommandExt;
    let args = std::env::args().skip(1).filter(|a| a != "-daemon");
    let spawned = std::env::current_exe().and_then(|exe| {
        Command::new(exe)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .current_dir("/")
            .spawn()
    });
    match spawned {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("epmd: cannot start daemon: {e}");
            ExitCode::from(1)
        }
    }
}

fn serve(config: DaemonConfig) -> ExitCode {
    // OTP's epmd serves at most FD_SETSIZE (1024) connections; take all the descriptors the
    // system allows instead, so thousands of clients at once are served.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("epmd: {e}");
            return ExitCode::from(1);
        }
    };
    let debug = config.debug;
    runtime.block_on(async move {
        match Daemon::bind(config) {
            Ok(daemon) => match daemon.run().await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    log::print(debug, 0, &e.to_string());
                    ExitCode::from(1)
                }
            },
            // As epmd: another daemon on the port is not an error (`erl` starts one each time).
            Err(e @ DaemonError::AlreadyRunning { .. }) => {
                log::print(debug, 1, &e.to_string());
                ExitCode::SUCCESS
            }
            Err(e) => {
                log::print(debug, 0, &e.to_string());
                ExitCode::from(1)
            }
        }
    })
}

/// `conn_to_epmd`: the first loopback address that answers.
fn connect(port: u16, silent: bool) -> Option<TcpStream> {
    let stream = cli_addresses(port)
        .iter()
        .find_map(|a| TcpStream::connect(a).ok());
    if stream.is_none() && !silent {
        eprintln!("epmd: Cannot connect to local epmd");
    }
    stream
}

/// Reads exactly `buf.len()` bytes unless the peer closes first; how many were read, or `None`
/// on an error (`read_fill`).
fn read_fill(stream: &mut TcpStream, buf: &mut [u8]) -> Option<usize> {
    let mut got = 0;
    while got < buf.len() {
        match stream.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(_) => return None,
        }
    }
    Some(got)
}

fn interactive(config: &DaemonConfig, what: Interactive) -> ExitCode {
    let mut out = Vec::new();
    let code = converse(config, what, &mut out);
    emit(&out);
    code
}

/// Writes what a command prints in one `write(2)`, as OTP's epmd does through stdio's buffer
/// (it exits without flushing before, so a pipe gets the whole text at once: a reader that
/// takes only the first chunk it gets still sees every line). Rust's `stdout` would write
/// line by line.
fn emit(text: &[u8]) {
    use std::os::fd::AsFd;
    if text.is_empty() {
        return;
    }
    match std::io::stdout().as_fd().try_clone_to_owned() {
        Ok(fd) => {
            let _ = std::fs::File::from(fd).write_all(text);
        }
        Err(_) => {
            let _ = std::io::stdout().write_all(text);
        }
    }
}

/// Talks to the local epmd for an interactive command, with what to print in `out`.
fn converse(config: &DaemonConfig, what: Interactive, out: &mut Vec<u8>) -> ExitCode {
    let silent = matches!(what, Interactive::Names { silent: true });
    if let Interactive::Stop(name) = &what {
        if name.len() > 1000 {
            out.extend_from_slice(b"epmd: Name too long!");
            return ExitCode::from(1);
        }
    }
    let Some(mut stream) = connect(config.port, silent) else {
        return ExitCode::from(1);
    };
    let request = match &what {
        Interactive::Names { .. } => Request::Names,
        Interactive::Dump => Request::Dump,
        Interactive::Kill => Request::Kill,
        Interactive::Stop(name) => Request::Stop(name.as_bytes().to_vec()),
    };
    let Ok(bytes) = request.encode() else {
        out.extend_from_slice(b"epmd: Name too long!");
        return ExitCode::from(1);
    };
    if stream.write_all(&bytes).is_err() {
        out.extend_from_slice(b"epmd: Can't write to epmd\n");
        return ExitCode::from(1);
    }
    match what {
        Interactive::Names { .. } | Interactive::Dump => {
            let mut port = [0u8; 4];
            if read_fill(&mut stream, &mut port) != Some(4) {
                if !silent {
                    out.extend_from_slice(b"epmd: no response from local epmd\n");
                }
                return ExitCode::from(1);
            }
            if silent {
                return ExitCode::SUCCESS;
            }
            let _ = writeln!(
                out,
                "epmd: up and running on port {} with data:",
                u32::from_be_bytes(port)
            );
            let _ = stream.read_to_end(out);
            ExitCode::SUCCESS
        }
        Interactive::Kill => answer(&mut stream, 2, out, |reply| match reply {
            b"OK" => ("Killed".to_owned(), 0),
            _ => (
                "Killing not allowed - living nodes in database.".to_owned(),
                1,
            ),
        }),
        Interactive::Stop(_) => answer(&mut stream, 7, out, |reply| {
            (String::from_utf8_lossy(reply).into_owned(), 0)
        }),
    }
}

/// Reads a fixed-size answer and prints (into `out`) what epmd_cli.c prints for it.
fn answer(
    stream: &mut TcpStream,
    len: usize,
    out: &mut Vec<u8>,
    full: impl Fn(&[u8]) -> (String, u8),
) -> ExitCode {
    let mut buf = vec![0u8; len];
    let (line, code) = match read_fill(stream, &mut buf) {
        Some(n) if n == len => full(&buf),
        Some(n) => (
            format!(
                "epmd: local epmd responded with <{}>",
                String::from_utf8_lossy(&buf[..n])
            ),
            1,
        ),
        None => ("epmd: failed to read answer from local epmd".to_owned(), 1),
    };
    let _ = writeln!(out, "{line}");
    ExitCode::from(code)
}
