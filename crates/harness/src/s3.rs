//! A throwaway S3-compatible server for tests: moto's `moto_server` (PyPI's `moto[server]`,
//! which `./test --setup` installs into `target/test-tools/moto`), on 127.0.0.1 and a free
//! port, in memory, stopped when dropped. It speaks S3's REST protocol (buckets, objects,
//! multipart uploads) and accepts any credentials.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::Guard;

/// A running server.
pub struct S3Server {
    /// Its port.
    pub port: u16,
    /// Its address: 127.0.0.1, or its host's on a test bed.
    pub address: std::net::IpAddr,
    /// The test bed's host it runs on, if any.
    host: Option<crate::bed::Host>,
    process: Option<Guard>,
}

/// `moto_server`: `$ROTP_MOTO_SERVER`, the one `./test --setup` installs, or one on PATH.
fn program() -> PathBuf {
    if let Some(p) = std::env::var_os("ROTP_MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let installed = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/test-tools/moto/bin/moto_server");
    if installed.exists() {
        return installed;
    }
    PathBuf::from("moto_server")
}

impl S3Server {
    /// Starts a server and waits until it answers.
    pub fn start() -> S3Server {
        let mut s3 = S3Server {
            port: crate::free_port(),
            address: [127, 0, 0, 1].into(),
            host: None,
            process: None,
        };
        s3.start_again();
        s3
    }

    /// A server on port 9000 of a test bed's `host`.
    pub fn start_on(host: &crate::bed::Host) -> S3Server {
        let mut s3 = S3Server {
            port: 9000,
            address: host.address.into(),
            host: Some(host.clone()),
            process: None,
        };
        s3.start_again();
        s3
    }

    /// A `moto_server` where this one belongs, answering.
    fn spawn(&self) -> Guard {
        let mut command = match &self.host {
            Some(host) => host.command(program()),
            None => Command::new(program()),
        };
        let process = Guard(
            command
                .args([
                    "-H",
                    &self.address.to_string(),
                    "-p",
                    &self.port.to_string(),
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect(
                    "moto_server must be installed to run these tests (./test --setup installs it)",
                ),
        );
        let address = std::net::SocketAddr::new(self.address, self.port);
        self.there(|| {
            crate::wait_until(
                &format!("moto_server to listen on {address}"),
                std::time::Duration::from_secs(30),
                || std::net::TcpStream::connect(address).is_ok(),
            )
        });
        process
    }

    /// Runs `f` where the server can be reached: here, or on its bed's host.
    fn there<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        match &self.host {
            Some(host) => host.run(f),
            None => f(),
        }
    }

    /// `METHOD path` on the server.
    fn request(&self, method: &str, path: &str) -> (String, String, Vec<u8>) {
        let address = std::net::SocketAddr::new(self.address, self.port);
        self.there(|| crate::http::request_at(address, method, path, &[], b""))
    }

    /// `http://ADDRESS:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}:{}", self.address, self.port)
    }

    /// Makes the bucket `name` (`PUT /name`).
    pub fn create_bucket(&self, name: &str) {
        let (status, _, body) = self.request("PUT", &format!("/{name}"));
        let body = String::from_utf8_lossy(&body);
        assert!(status.contains("200"), "the bucket {name}: {status} {body}");
    }

    /// `GET path`'s body, as text.
    fn text(&self, path: &str) -> (String, String) {
        let (status, head, body) = self.request("GET", path);
        let body = crate::http::unchunk_bytes(&head, &body);
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// The keys in `bucket` (ListObjectsV2).
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        let (status, body) = self.text(&format!("/{bucket}?list-type=2"));
        assert!(status.contains("200"), "listing {bucket}: {status} {body}");
        body.split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
            .map(str::to_owned)
            .collect()
    }

    /// The object `key`'s bytes.
    pub fn object(&self, bucket: &str, key: &str) -> Vec<u8> {
        let (status, head, body) = self.request("GET", &format!("/{bucket}/{key}"));
        assert!(status.contains("200"), "{bucket}/{key}: {status}");
        crate::http::unchunk_bytes(&head, &body)
    }

    /// The object `key`'s ETag (its version: a write over it changes it).
    pub fn etag(&self, bucket: &str, key: &str) -> String {
        let (status, head, _) = self.request("HEAD", &format!("/{bucket}/{key}"));
        assert!(status.contains("200"), "{bucket}/{key}: {status}");
        head.lines()
            .find_map(|l| l.strip_prefix("etag:"))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("{bucket}/{key} has no ETag"))
    }

    /// The multipart uploads begun and neither completed nor aborted in `bucket`.
    pub fn open_uploads(&self, bucket: &str) -> usize {
        let (_, body) = self.text(&format!("/{bucket}?uploads"));
        body.matches("<UploadId>").count()
    }

    /// Stops the server: the store becomes unreachable.
    pub fn stop(&mut self) {
        self.process = None;
    }

    /// Starts a (stopped) server again on the same port. moto keeps everything in memory: it
    /// comes back empty, without buckets.
    pub fn start_again(&mut self) {
        self.process = None;
        self.process = Some(self.spawn());
    }

    /// Freezes the running server (SIGSTOP): connections are accepted by the kernel but never
    /// answered, as a store that hangs. [`S3Server::resume`] thaws it.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// Thaws a paused server (SIGCONT).
    pub fn resume(&self) {
        self.signal("CONT");
    }

    fn signal(&self, name: &str) {
        let process = self.process.as_ref().expect("the server runs");
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &process.0.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{name} moto_server");
    }
}
