//! Where a request comes from: the `Host` it names, and, for a request that changes something,
//! the page that sent it.
//!
//! - **Host** (DNS rebinding): a page of `evil.example:4040` whose name the attacker later points
//!   at 127.0.0.1 becomes same-origin with a dashboard on 127.0.0.1:4040, but the browser still
//!   sends `Host: evil.example:4040`. A dashboard that guards itself answers only to the `Host`
//!   values [`AllowedHosts`] admits: loopback literals (`127.0.0.0/8`, `[::1]`), `localhost`, the
//!   address it listens on, and the names the operator adds (`--allow-host NAME`). The port is
//!   not compared: the name is what rebinding forges. This is Jupyter's `check_host` rule, with
//!   the listen address and the operator's names added.
//! - **Origin** (cross-site forms): a `POST` (any method but `GET`/`HEAD`) must come from the
//!   dashboard's own pages: `Sec-Fetch-Site: same-origin` when the browser sends it (Fetch
//!   Metadata; every current browser does); otherwise an `Origin` header, if any, must be
//!   `http(s)://` and the request's own `Host`; `Origin: null` is refused. A request with
//!   neither is not a browser's (curl, a script) and goes on to the token checks.

use std::net::IpAddr;

use axum::http::{header, HeaderMap, Method};

/// The `Host` names a dashboard that guards itself answers to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    /// The address it listens on, if it is one address (not `0.0.0.0` or `::`).
    listen: Option<IpAddr>,
    /// Names (or addresses) the operator added, lower case.
    names: Vec<String>,
}

impl AllowedHosts {
    /// Loopback literals, `localhost`, and `listen` unless it is unspecified (`0.0.0.0`,
    /// `::`: then the operator adds the names the dashboard is reached by).
    pub fn new(listen: IpAddr) -> AllowedHosts {
        AllowedHosts {
            listen: (!listen.is_unspecified()).then_some(listen),
            names: Vec::new(),
        }
    }

    /// Also `name`: a host name (`dash.example.com`) or an address (`10.0.0.5`, `[fd00::5]`),
    /// without a port; case does not matter.
    pub fn allow(mut self, name: &str) -> AllowedHosts {
        let name = strip_port(name.trim()).to_ascii_lowercase();
        if !name.is_empty() {
            self.names.push(name);
        }
        self
    }

    /// Whether a request whose `Host` header is `host` is answered.
    pub fn admits(&self, host: &str) -> bool {
        let name = strip_port(host.trim()).to_ascii_lowercase();
        if name.is_empty() {
            return false;
        }
        if let Ok(ip) = name.parse::<IpAddr>() {
            return ip.is_loopback()
                || Some(ip) == self.listen
                || self
                    .names
                    .iter()
                    .any(|n| n.parse::<IpAddr>().is_ok_and(|n| n == ip));
        }
        name == "localhost" || self.names.contains(&name)
    }
}

/// `host` without its `:port`, and an IPv6 literal without its brackets.
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split_once(']').map_or("", |(ip, _)| ip);
    }
    match host.rsplit_once(':') {
        // One colon: name:port. More: a bare IPv6 literal (not a valid Host, but no port).
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

/// Whether a request that changes something (`method` other than `GET`/`HEAD`) came from the
/// dashboard's own pages (the module's rule). `GET` and `HEAD` always pass here.
pub(crate) fn same_origin(method: &Method, headers: &HeaderMap) -> bool {
    if method == Method::GET || method == Method::HEAD {
        return true;
    }
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        return site.eq_ignore_ascii_case("same-origin");
    }
    let Some(origin) = text(header::ORIGIN.as_str()) else {
        return true;
    };
    let Some(host) = text(header::HOST.as_str()) else {
        return false;
    };
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    authority.is_some_and(|a| a.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn loopback_localhost_and_the_listen_address_are_admitted() {
        let hosts = AllowedHosts::new("192.168.1.20".parse().expect("an address"));
        for host in [
            "127.0.0.1:4040",
            "127.0.0.1",
            "127.9.9.9:80",
            "[::1]:4040",
            "[::1]",
            "localhost:4040",
            "LOCALHOST",
            "192.168.1.20:4040",
        ] {
            assert!(hosts.admits(host), "{host}");
        }
        for host in [
            "evil.example:4040",
            "evil.example",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
            "192.168.1.21:4040",
            "[fd00::1]:4040",
            "",
            ":4040",
            "[",
        ] {
            assert!(!hosts.admits(host), "{host}");
        }
    }

    #[test]
    fn an_unspecified_listen_address_admits_only_what_the_operator_adds() {
        let hosts = AllowedHosts::new("0.0.0.0".parse().expect("an address"))
            .allow("Dash.Example.com")
            .allow("10.0.0.5")
            .allow("[fd00::5]");
        for host in [
            "dash.example.com:4040",
            "DASH.example.COM",
            "10.0.0.5:4040",
            "[fd00::5]:4040",
            "localhost:4040",
        ] {
            assert!(hosts.admits(host), "{host}");
        }
        for host in [
            "0.0.0.0:4040",
            "10.0.0.6",
            "example.com",
            "dash.example.com.evil",
        ] {
            assert!(!hosts.admits(host), "{host}");
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn a_post_must_come_from_the_same_origin() {
        let post = Method::POST;
        let same = [
            vec![
                ("host", "127.0.0.1:4040"),
                ("sec-fetch-site", "same-origin"),
            ],
            vec![
                ("host", "127.0.0.1:4040"),
                ("origin", "http://127.0.0.1:4040"),
            ],
            vec![
                ("host", "dash.example.com"),
                ("origin", "https://dash.example.com"),
            ],
            // Behind a proxy the Host may differ; Fetch Metadata still says same-origin.
            vec![
                ("host", "10.0.0.1:8080"),
                ("origin", "https://drip.example"),
                ("sec-fetch-site", "same-origin"),
            ],
            // Not a browser: the token decides.
            vec![("host", "127.0.0.1:4040")],
        ];
        for h in same {
            assert!(same_origin(&post, &headers(&h)), "{h:?}");
        }
        let cross = [
            vec![("host", "127.0.0.1:4040"), ("sec-fetch-site", "cross-site")],
            vec![("host", "127.0.0.1:4040"), ("sec-fetch-site", "same-site")],
            vec![("host", "127.0.0.1:4040"), ("sec-fetch-site", "none")],
            vec![
                ("host", "127.0.0.1:4040"),
                ("origin", "http://evil.example"),
            ],
            vec![
                ("host", "127.0.0.1:4040"),
                ("origin", "http://127.0.0.1:4041"),
            ],
            vec![("host", "127.0.0.1:4040"), ("origin", "null")],
            vec![("origin", "http://127.0.0.1:4040")],
        ];
        for h in cross {
            assert!(!same_origin(&post, &headers(&h)), "{h:?}");
        }
        let evil = headers(&[
            ("origin", "http://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ]);
        assert!(same_origin(&Method::GET, &evil));
    }
}
