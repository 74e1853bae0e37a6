//! What Drip's end-to-end tests share: a `drip` process on free ports in a scratch data
//! directory, and its API over plain HTTP.

#![allow(dead_code)] // each test file uses its part

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::http::{request, request_raw, unchunk_bytes};
use harness::{free_port, Guard};

/// A `drip` on free ports in a fresh data directory.
pub struct Drip {
    pub http: u16,
    pub epmd: u16,
    pub node: String,
    pub data: PathBuf,
    pub process: Guard,
    /// The settings it was started with beyond the name, ports and data directory.
    pub extra: Vec<String>,
}

pub fn drip(tag: &str, extra: &[&str]) -> Drip {
    let data = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("drip-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let epmd = free_port();
    start(tag, extra, data, epmd)
}

/// A `drip` named `drip_TAG` over `data` (kept as it is), on the EPMD port `epmd`.
pub fn start(tag: &str, extra: &[&str], data: PathBuf, epmd: u16) -> Drip {
    start_with(tag, extra, data, epmd, &[])
}

/// [`start`] with these environment variables set too.
pub fn start_with(
    tag: &str,
    extra: &[&str],
    data: PathBuf,
    epmd: u16,
    env: &[(&str, &str)],
) -> Drip {
    let http = free_port();
    std::fs::create_dir_all(&data).expect("the data directory");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data.join("drip.log"))
        .expect("a log file");
    let process = Guard(
        Command::new(env!("CARGO_BIN_EXE_drip"))
            .args(["--sname", &format!("drip_{tag}"), "--cookie", "dripcookie"])
            .args(["--http", &format!("127.0.0.1:{http}")])
            .arg("--data")
            .arg(&data)
            .args(extra)
            .env("ERL_EPMD_PORT", epmd.to_string())
            .envs(env.iter().copied())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("drip starts"),
    );
    let d = Drip {
        http,
        epmd,
        node: format!("drip_{tag}@{}", harness::short_host()),
        data,
        process,
        extra: extra.iter().map(|s| s.to_string()).collect(),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !d.call("GET", "/health", None, "").0.contains("200") {
        assert!(Instant::now() < deadline, "drip never answered");
        std::thread::sleep(Duration::from_millis(100));
    }
    d
}

impl Drip {
    /// `drip ARGS…` (an offline command such as `admin grant NAME`) on this drip's data
    /// directory and settings: its exit status and output.
    pub fn command(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_drip"))
            .args(args)
            .arg("--data")
            .arg(&self.data)
            .args(&self.extra)
            .args(["--http", &format!("127.0.0.1:{}", self.http)])
            .env("ERL_EPMD_PORT", self.epmd.to_string())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .output()
            .expect("drip runs")
    }

    /// `drip admin grant NAME`, which must succeed.
    pub fn grant_admin(&self, name: &str) {
        let out = self.command(&["admin", "grant", name]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        json: &str,
    ) -> (String, serde_json::Value) {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(b) = &bearer {
            headers.push(("Authorization", b.as_str()));
        }
        let (status, head, body) = request(self.http, method, path, &headers, json);
        let body = String::from_utf8_lossy(&unchunk_bytes(&head, body.as_bytes())).into_owned();
        (
            status,
            serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
        )
    }

    /// Logs `name` (signed up already) in through the API: its token and the answer.
    pub fn account_token(&self, name: &str) -> (String, serde_json::Value) {
        let (status, body) = self.call(
            "POST",
            "/api/sessions",
            None,
            &format!(r#"{{"username":"{name}","password":"password-{name}"}}"#),
        );
        if status.contains("401") {
            self.account(name);
            return self.account_token(name);
        }
        assert!(status.contains("200"), "{status} {body}");
        (body["token"].as_str().expect("a token").to_owned(), body)
    }

    pub fn user(&self, name: &str) -> String {
        self.account(name).0
    }

    /// Signs `name` up and logs in: its token and its id.
    pub fn account(&self, name: &str) -> (String, String) {
        let (status, made) = self.call(
            "POST",
            "/api/users",
            None,
            &format!(r#"{{"username":"{name}","password":"password-{name}","email":"{name}@example.com"}}"#),
        );
        assert!(status.contains("201"), "{status}");
        let (status, body) = self.call(
            "POST",
            "/api/sessions",
            None,
            &format!(r#"{{"username":"{name}","password":"password-{name}"}}"#),
        );
        assert!(status.contains("200"), "{status} {body}");
        (
            body["token"].as_str().expect("a token").to_owned(),
            made["id"].as_str().expect("an id").to_owned(),
        )
    }

    /// `GET path` with a bearer token: the status and the body's bytes.
    pub fn get_bytes(&self, token: &str, path: &str) -> (String, Vec<u8>) {
        let bearer = format!("Bearer {token}");
        let (status, head, body) = request_raw(
            self.http,
            "GET",
            path,
            &[("Authorization", bearer.as_str())],
            b"",
        );
        (status, unchunk_bytes(&head, &body))
    }

    pub fn upload(
        &self,
        token: &str,
        path: &str,
        name: &str,
        bytes: &[u8],
    ) -> (String, serde_json::Value) {
        let bearer = format!("Bearer {token}");
        let (status, head, body) = request_raw(
            self.http,
            "POST",
            &format!("/api/files?path={}&name={name}", path.replace('$', "%24")),
            &[("Authorization", bearer.as_str())],
            bytes,
        );
        let body = unchunk_bytes(&head, &body);
        (
            status,
            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        )
    }

    /// Waits until the file is stored (bounded).
    pub fn stored(&self, token: &str, id: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, m) = self.call("GET", &format!("/api/files/{id}"), Some(token), "");
            if status.contains("200") && !m["uploaded_at"].is_null() {
                return m;
            }
            assert!(Instant::now() < deadline, "never stored: {status} {m}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn download(&self, token: &str, id: &str) -> (String, Vec<u8>) {
        self.get_bytes(token, &format!("/api/files/{id}/content"))
    }
}

pub fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// A live socket (`/socket`) opened with a bearer token, read with a bounded wait.
pub struct Socket(tungstenite::WebSocket<std::net::TcpStream>);

impl Socket {
    pub fn open(http: u16, token: &str) -> Socket {
        use tungstenite::client::IntoClientRequest;
        let mut request = format!("ws://127.0.0.1:{http}/socket")
            .into_client_request()
            .expect("a request");
        request.headers_mut().insert(
            "Authorization",
            format!("Bearer {token}").parse().expect("a header"),
        );
        let stream = std::net::TcpStream::connect(("127.0.0.1", http)).expect("connects");
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("a timeout");
        let (socket, _) = tungstenite::client(request, stream).expect("the socket opens");
        Socket(socket)
    }

    pub fn join(&mut self, topic: &str) -> serde_json::Value {
        let text = serde_json::json!({ "join": topic }).to_string();
        self.0
            .send(tungstenite::Message::Text(text.into()))
            .expect("sent");
        self.next(|v| v["topic"] == topic && v["event"] != "presence" && v["event"] != "notice")
    }

    /// The next message `want` takes, within 30 s; others are skipped.
    pub fn next(&mut self, want: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        self.within(Duration::from_secs(30), want)
            .expect("the awaited message never came")
    }

    /// The next message `want` takes, if one comes within `limit`.
    pub fn within(
        &mut self,
        limit: Duration,
        want: impl Fn(&serde_json::Value) -> bool,
    ) -> Option<serde_json::Value> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            match self.0.read() {
                Ok(tungstenite::Message::Text(t)) => {
                    let v: serde_json::Value = serde_json::from_str(&t).expect("JSON");
                    if want(&v) {
                        return Some(v);
                    }
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("the socket broke: {e}"),
            }
        }
        None
    }
}

/// A browser's session: the `drip_session` cookie from logging in with the form, and the
/// CSRF token its pages carry.
pub struct WebSession {
    pub cookie: String,
    pub csrf: String,
}

impl Drip {
    /// The log-in (or sign-up) form's pre-session cookie and CSRF token, as a browser gets
    /// them by opening the page.
    pub fn form_token(&self, path: &str) -> (String, String) {
        let (status, head, page) = self.page("", path);
        assert!(status.contains("200"), "{path}: {status}");
        let cookie = head
            .lines()
            .find_map(|l| l.strip_prefix("set-cookie: "))
            .and_then(|c| c.split(';').next())
            .expect("a pre-session cookie")
            .to_owned();
        (cookie, csrf_of(&page))
    }

    /// Logs `name` (signed up already) in with the log-in form.
    pub fn web_login(&self, name: &str) -> WebSession {
        let (pre, csrf) = self.form_token("/login");
        let (status, head, _) = request(
            self.http,
            "POST",
            "/login",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Cookie", &pre),
            ],
            &format!("csrf={csrf}&username={name}&password=password-{name}"),
        );
        assert!(status.contains("303"), "{status}");
        let cookie = head
            .lines()
            .find_map(|l| l.strip_prefix("set-cookie: "))
            .and_then(|c| c.split(';').next())
            .expect("a session cookie")
            .to_owned();
        let (status, _, page) = self.page(&cookie, "/files");
        assert!(status.contains("200"), "{status}");
        WebSession {
            cookie,
            csrf: csrf_of(&page),
        }
    }

    /// `GET path` with a session cookie: status, headers (lower case), body.
    pub fn page(&self, cookie: &str, path: &str) -> (String, String, String) {
        let (status, head, body) = request(
            self.http,
            "GET",
            path,
            &[("Cookie", cookie), ("Accept", "text/html")],
            "",
        );
        let body = String::from_utf8_lossy(&unchunk_bytes(&head, body.as_bytes())).into_owned();
        (status, head, body)
    }
}

/// The CSRF token a page's forms carry.
pub fn csrf_of(page: &str) -> String {
    page.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page's CSRF token")
        .to_owned()
}
