//! `erlang-hosts`: the hosts of a `.hosts.erlang` file, as `net_adm:world/0` reads it.

use std::path::PathBuf;

/// A host's first IPv4 address.
pub(super) async fn resolve(host: &str) -> std::io::Result<Option<std::net::IpAddr>> {
    Ok(tokio::net::lookup_host((host, 0))
        .await?
        .map(|a| a.ip())
        .find(std::net::IpAddr::is_ipv4))
}

/// The hosts of a `.hosts.erlang` file: `file`, else `./.hosts.erlang`, else
/// `~/.hosts.erlang`, as `net_adm:host_file/0` looks.
pub(super) fn read_hosts_file(file: Option<&std::path::Path>) -> Result<Vec<String>, String> {
    let candidates: Vec<PathBuf> = match file {
        Some(f) => vec![f.to_owned()],
        None => {
            let mut c = vec![PathBuf::from(".hosts.erlang")];
            if let Some(home) = std::env::var_os("HOME") {
                c.push(PathBuf::from(home).join(".hosts.erlang"));
            }
            c
        }
    };
    for path in &candidates {
        match std::fs::read_to_string(path) {
            Ok(text) => return Ok(hosts_of(&text)),
            Err(e) if file.is_some() => return Err(format!("{}: {e}", path.display())),
            Err(_) => {}
        }
    }
    Err("no .hosts.erlang here or in the home directory".into())
}

/// The host atoms of a `.hosts.erlang` text: terms ended by `.`, `%` comments.
pub fn hosts_of(text: &str) -> Vec<String> {
    let mut hosts = Vec::new();
    let mut term = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => quoted = !quoted,
            '%' if !quoted => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '.' if !quoted && chars.peek().is_none_or(|n| n.is_whitespace() || *n == '%') => {
                let host = term.trim();
                if !host.is_empty() {
                    hosts.push(host.to_owned());
                }
                term.clear();
            }
            c => term.push(c),
        }
    }
    hosts
}
