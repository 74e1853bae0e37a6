//! What Drip's end-to-end tests share: a `drip` process on free ports in a scratch data
//! directory, and its API over plain HTTP.

#![allow(dead_code)] // each test file uses its part

pub mod bed;
pub mod monitoring;

use std::io::{Read, Write};
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
    /// The arguments the test gave (after the node's own), which `drip check` gets too.
    pub extra: Vec<String>,
    /// The environment the test gave.
    pub env: Vec<(String, String)>,
    /// Whether its data directory is a tmpfs in a mount namespace of its own.
    pub private_mount: bool,
    tag: String,
}

pub fn drip(tag: &str, extra: &[&str]) -> Drip {
    let data = scratch(tag);
    let epmd = free_port();
    start(tag, extra, data, epmd)
}

/// A fresh scratch directory for the test `tag`.
pub fn scratch(tag: &str) -> PathBuf {
    let data = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("drip-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    data
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
    launch(tag, extra, data, epmd, env, None)
}

/// [`start`] with its data directory a tmpfs of `mib` MiB, mounted in a mount namespace of
/// the drip's own (`unshare -m`; we are root): a file system that fills up, and nothing of it
/// is seen outside or left behind when the drip ends.
pub fn start_in_tmpfs(tag: &str, extra: &[&str], data: PathBuf, epmd: u16, mib: u32) -> Drip {
    launch(tag, extra, data, epmd, &[], Some(mib))
}

/// The `drip` command with the node's own arguments and the test's.
fn command(
    program: Command,
    tag: &str,
    data: &std::path::Path,
    epmd: u16,
    extra: &[String],
) -> Command {
    let mut c = program;
    c.args(["--sname", &format!("drip_{tag}"), "--cookie", "dripcookie"])
        .arg("--data")
        .arg(data)
        .args(extra)
        .env("ERL_EPMD_PORT", epmd.to_string())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    c
}

fn launch(
    tag: &str,
    extra: &[&str],
    data: PathBuf,
    epmd: u16,
    env: &[(&str, &str)],
    tmpfs: Option<u32>,
) -> Drip {
    let http = free_port();
    std::fs::create_dir_all(&data).expect("the data directory");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data.join("drip.log"))
        .expect("a log file");
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    let program = match tmpfs {
        None => Command::new(env!("CARGO_BIN_EXE_drip")),
        Some(mib) => {
            // sh's $0 is the mount point, "$@" the drip and its arguments.
            let mut c = Command::new("unshare");
            c.args([
                "-m",
                "sh",
                "-c",
                &format!("mount -t tmpfs -o size={mib}m tmpfs \"$0\" && exec \"$@\""),
            ])
            .arg(&data)
            .arg(env!("CARGO_BIN_EXE_drip"));
            c
        }
    };
    let mut c = command(program, tag, &data, epmd, &extra);
    let process = Guard(
        c.args(["--http", &format!("127.0.0.1:{http}")])
            .envs(env.iter().copied())
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
        extra,
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        private_mount: tmpfs.is_some(),
        tag: tag.to_owned(),
    };
    harness::wait_until("drip to answer /health", Duration::from_secs(60), || {
        d.call("GET", "/health", None, "").0.contains("200")
    });
    d
}

impl Drip {
    /// Runs `sql` on a stopped or running drip's SQLite database; the rows' first columns.
    pub fn sql(&self, sql: &str, binds: &[&str]) -> Vec<String> {
        let url = format!("sqlite://{}", self.data.join("drip.sqlite").display());
        tokio::runtime::Runtime::new()
            .expect("a runtime")
            .block_on(async {
                use sqlx::Row;
                let pool = sqlx::SqlitePool::connect(&url).await.expect("the database");
                let mut q = sqlx::query(sql);
                for b in binds {
                    q = q.bind(*b);
                }
                q.fetch_all(&pool)
                    .await
                    .expect("the query")
                    .iter()
                    .map(|r| r.try_get::<String, _>(0).unwrap_or_default())
                    .collect()
            })
    }

    /// The object of file `id` on local storage: `objects/OWNER/ID.ATTEMPT` (on any database).
    pub fn object_of(&self, id: &str) -> PathBuf {
        let named = |p: &PathBuf| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().split('.').next() == Some(id))
        };
        std::fs::read_dir(self.data.join("objects"))
            .expect("the objects directory")
            .flatten()
            .flat_map(|owner| {
                std::fs::read_dir(owner.path())
                    .into_iter()
                    .flatten()
                    .flatten()
            })
            .map(|e| e.path())
            .find(named)
            .unwrap_or_else(|| panic!("no object of {id}"))
    }

    /// `drip ARGS…` (an offline command such as `admin grant NAME`) on this drip's data
    /// directory and settings: its exit status and output.
    pub fn command(&self, args: &[&str]) -> std::process::Output {
        let mut c = command(
            Command::new(env!("CARGO_BIN_EXE_drip")),
            &self.tag,
            &self.data,
            self.epmd,
            &self.extra,
        );
        c.args(["--http", &format!("127.0.0.1:{}", self.http)])
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("drip runs")
    }

    /// Sends the drip SIGTERM and waits (at most 30 s) for it to exit: how it did.
    pub fn sigterm(&mut self) -> std::process::ExitStatus {
        let pid = self.process.0.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -TERM {pid} failed");
        harness::wait_until(
            "drip to exit after SIGTERM",
            Duration::from_secs(30),
            || self.process.0.try_wait().expect("waits"),
        )
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

    /// `drip check` (with `--repair` if asked) over this drip's data, database and storage,
    /// while it runs (inside its mount namespace if it has one): its exit code and output.
    pub fn check(&self, repair: bool) -> (Option<i32>, String) {
        let program = if self.private_mount {
            let mut c = Command::new("nsenter");
            c.args(["-t", &self.process.0.id().to_string(), "-m", "--"])
                .arg(env!("CARGO_BIN_EXE_drip"));
            c
        } else {
            Command::new(env!("CARGO_BIN_EXE_drip"))
        };
        let mut c = command(program, &self.tag, &self.data, self.epmd, &self.extra);
        c.arg("check");
        if repair {
            c.arg("--repair");
        }
        let out = c
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("drip check runs");
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// `drip check` finds nothing wrong: every row has its object, every object its row, no
    /// spool file is left.
    pub fn checked_clean(&self) {
        let (code, out) = self.check(false);
        assert_eq!(code, Some(0), "drip check found something:\n{out}");
    }
}

impl Drip {
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
        let (token, made) = sign_up_and_in(name, |path, json| self.call("POST", path, None, json));
        (token, made["id"].as_str().expect("an id").to_owned())
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
        self.stored_within(token, id, Duration::from_secs(30))
    }

    /// Waits until the file is stored, for at most `limit`.
    pub fn stored_within(&self, token: &str, id: &str, limit: Duration) -> serde_json::Value {
        harness::wait_until(&format!("{id} to be stored"), limit, || {
            let (status, m) = self.call("GET", &format!("/api/files/{id}"), Some(token), "");
            (status.contains("200") && !m["uploaded_at"].is_null()).then_some(m)
        })
    }

    /// Begins `POST /api/files?path&name` with its headers only: `length` as Content-Length,
    /// or chunked without one. The test sends the body as it likes.
    pub fn begin_upload(
        &self,
        token: &str,
        path: &str,
        name: &str,
        length: Option<usize>,
    ) -> Sending {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.http)).expect("connects");
        let framing = match length {
            Some(n) => format!("Content-Length: {n}"),
            None => "Transfer-Encoding: chunked".to_owned(),
        };
        let head = format!(
            "POST /api/files?path={}&name={name} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n{framing}\r\n\r\n",
            path.replace('$', "%24")
        );
        stream.write_all(head.as_bytes()).expect("headers sent");
        Sending {
            stream,
            chunked: length.is_none(),
        }
    }

    pub fn download(&self, token: &str, id: &str) -> (String, Vec<u8>) {
        self.get_bytes(token, &format!("/api/files/{id}/content"))
    }
}

/// An upload whose body the test sends piece by piece.
pub struct Sending {
    stream: std::net::TcpStream,
    chunked: bool,
}

impl Sending {
    /// Sends `bytes` of the body (a chunk of its own when chunked); whether the server still
    /// took them.
    pub fn send(&mut self, bytes: &[u8]) -> bool {
        if bytes.is_empty() {
            return true;
        }
        let sent = if self.chunked {
            self.stream
                .write_all(format!("{:x}\r\n", bytes.len()).as_bytes())
                .and_then(|()| self.stream.write_all(bytes))
                .and_then(|()| self.stream.write_all(b"\r\n"))
        } else {
            self.stream.write_all(bytes)
        };
        sent.is_ok()
    }

    /// Ends the body (the last chunk, when chunked) and reads the answer.
    pub fn finish(mut self) -> (String, serde_json::Value) {
        if self.chunked {
            let _ = self.stream.write_all(b"0\r\n\r\n");
        }
        self.answer(Duration::from_secs(120))
            .expect("the upload was answered")
    }

    /// The answer, if one comes within `limit` (the server may answer before the body).
    pub fn answer(&mut self, limit: Duration) -> Option<(String, serde_json::Value)> {
        self.stream
            .set_read_timeout(Some(limit))
            .expect("a timeout");
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    if raw.is_empty() {
                        return None;
                    }
                    break;
                }
                Err(_) => break,
            }
        }
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
        let status = head.lines().next().unwrap_or_default().to_owned();
        let body = unchunk_bytes(&head, &raw[split + 4..]);
        Some((
            status,
            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        ))
    }
}

/// The spool's files (names).
pub fn spool_files(d: &Drip) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(d.data.join("spool"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
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

/// A drip named `tag` storing into the bucket `drip-files` of `s3`, with `extra` arguments.
pub fn on_s3(tag: &str, s3: &harness::s3::S3Server, extra: &[&str]) -> Drip {
    let endpoint = s3.endpoint();
    let env = [
        ("AWS_ENDPOINT", endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "drip-test"),
        ("AWS_SECRET_ACCESS_KEY", "drip-test-secret"),
    ];
    let data = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("drip-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let mut args = vec!["--storage", "s3://drip-files"];
    args.extend_from_slice(extra);
    start_with(tag, &args, data, harness::free_port(), &env)
}

/// Signs `name` up (password `password-NAME`) and logs in through `post` (a path and a JSON
/// body; the status line and the answer): the token and the account made.
pub fn sign_up_and_in(
    name: &str,
    post: impl Fn(&str, &str) -> (String, serde_json::Value),
) -> (String, serde_json::Value) {
    let (status, made) = post(
        "/api/users",
        &format!(
            r#"{{"username":"{name}","password":"password-{name}","email":"{name}@example.com"}}"#
        ),
    );
    assert!(status.contains("201"), "{status} {made}");
    let (status, body) = post(
        "/api/sessions",
        &format!(r#"{{"username":"{name}","password":"password-{name}"}}"#),
    );
    assert!(status.contains("200"), "{status} {body}");
    (body["token"].as_str().expect("a token").to_owned(), made)
}
