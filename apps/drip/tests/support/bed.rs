//! Drip on the multi-host test bed (`harness::bed`): a `store` host with PostgreSQL and an S3
//! server, hosts each running OTP's EPMD and one Drip named `drip@ADDRESS` (as on Kubernetes,
//! `-name app@$POD_IP`), a keys directory they share (as a Secret is mounted in every pod), and
//! a `client` host the test's requests come from.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use harness::bed::{Bed, Host};
use harness::http::{request_at, unchunk_bytes};
use harness::kubernetes::{ApiServer, Pod};
use harness::postgres::Postgres;
use harness::s3::S3Server;
use harness::Guard;

/// The cookie every node of the bed's cluster has.
pub const COOKIE: &str = "bedcookie";

/// The namespace the bed's pods are in.
pub const NAMESPACE: &str = "drip";

/// The bed's `net_ticktime`, seconds (OTP's least is 4; short so that a lost node is noticed
/// within a scenario).
pub const TICKTIME: u64 = 6;

/// Where each pod mounts its distribution certificate's Secret (`tls.crt`, `tls.key`,
/// `ca.crt`, as cert-manager writes them; docs/operating.md).
pub const DIST_TLS: &str = "/var/run/drip/dist-tls";

/// `drip` on `host`; with `secret`, in a mount namespace of its own where the directory
/// `secret` is mounted at [`DIST_TLS`], as a pod mounts its Secret.
fn drip_on(host: &Host, secret: Option<&std::path::Path>) -> Command {
    match secret {
        None => host.command(env!("CARGO_BIN_EXE_drip")),
        Some(secret) => {
            let mut c = host.command("unshare");
            c.args([
                "-m",
                "sh",
                "-c",
                &format!("mkdir -p {DIST_TLS} && mount --bind \"$0\" {DIST_TLS} && exec \"$@\""),
            ])
            .arg(secret)
            .arg(env!("CARGO_BIN_EXE_drip"));
            c
        }
    }
}

/// The shared pieces: the bed, its database and object store, the keys.
pub struct Cluster {
    /// The bed (dropped last: its fields drop in order).
    pub s3: S3Server,
    /// PostgreSQL on the store host.
    pub pg: Postgres,
    /// The host the store runs on.
    pub store: Host,
    /// Where the test's requests come from.
    pub client: Host,
    /// The keys directory every node reads.
    pub keys: PathBuf,
    /// Scratch space for data directories and files.
    pub scratch: PathBuf,
    /// The bed itself.
    pub bed: Bed,
}

/// One Drip on a host of its own.
pub struct Node {
    /// Its host.
    pub host: Host,
    /// `drip@ADDRESS`.
    pub name: String,
    /// Its data directory (this pod's own disk).
    pub data: PathBuf,
    /// The process (`ip netns exec` execs drip, so this is drip's pid).
    pub process: Guard,
    /// Its distribution certificate's Secret, with TLS distribution.
    pub secret: Option<PathBuf>,
    /// Its `--ssl-dist-optfile`, with TLS distribution.
    pub optfile: Option<PathBuf>,
    _epmd: Guard,
}

impl Cluster {
    /// A bed with its store and client hosts.
    pub fn new(tag: &str) -> Cluster {
        let bed = Bed::new();
        let store = bed.host("store");
        let client = bed.host("client");
        let pg = Postgres::start_on(tag, &store);
        let s3 = S3Server::start_on(&store);
        s3.create_bucket("drip-files");
        let scratch = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("bed-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&scratch);
        let keys = scratch.join("keys");
        std::fs::create_dir_all(&keys).expect("the keys directory");
        Cluster {
            s3,
            pg,
            store,
            client,
            keys,
            scratch,
            bed,
        }
    }

    /// A real DNS server (dnsmasq) on a `dns` host of its own answering `records`, which
    /// every host's resolver asks from now on; it answers (`probe` resolves) before this
    /// returns.
    pub fn dns(
        &self,
        records: &[harness::dnsmasq::Record],
        probe: &str,
    ) -> harness::dnsmasq::Dnsmasq {
        let host = self.bed.host("dns");
        self.bed.use_dns(host.address);
        let dns = harness::dnsmasq::Dnsmasq::start_unchecked(
            host.command(harness::dnsmasq::DNSMASQ),
            host.address.into(),
            53,
            records,
        );
        harness::wait_until("dnsmasq to answer", Duration::from_secs(10), || {
            self.client
                .command("getent")
                .args(["ahosts", probe])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        dns
    }

    /// `n` hosts `node1`… for nodes, their nodes' names (`drip@ADDRESS`) and the `epmd:`
    /// spec listing them (polled every second).
    pub fn listed_hosts(&self, n: usize) -> (Vec<Host>, Vec<String>, String) {
        let hosts: Vec<Host> = (1..=n).map(|i| self.host(&format!("node{i}"))).collect();
        let names: Vec<String> = hosts
            .iter()
            .map(|h| format!("drip@{}", h.address))
            .collect();
        let list = format!("epmd:{},interval=1000", names.join(","));
        (hosts, names, list)
    }

    /// A new host for a node.
    pub fn host(&self, name: &str) -> Host {
        self.bed.host(name)
    }

    /// Starts Drip on `host` with `discovery` specs and `extra` arguments, and waits until it
    /// is ready (`/health/ready`).
    pub fn start(&self, host: &Host, discovery: &[&str], extra: &[&str]) -> Node {
        self.start_with(host, discovery, extra, &[], None)
    }

    /// [`Cluster::start`] as a pod of `api`'s cluster: the service account `sa` (its
    /// directory) and `KUBERNETES_SERVICE_HOST`/`_PORT` in its environment.
    pub fn start_pod(&self, host: &Host, discovery: &[&str], api: &ApiServer) -> Node {
        let env = api.env();
        let env: Vec<(&str, String)> = env.iter().map(|(k, v)| (*k, v.clone())).collect();
        self.start_with(host, discovery, &[], &env, None)
    }

    /// The Kubernetes API stand-in on the store host (port 6443), requiring the token it
    /// writes into the service-account directory [`Cluster::service_account`].
    pub fn kubernetes_api(&self) -> ApiServer {
        let address = self.store.address;
        let listener = self
            .store
            .run(|| std::net::TcpListener::bind((address, 6443)).expect("the API's port"));
        let api = ApiServer::start(listener, "bed-service-account-token");
        api.write_service_account(&self.service_account(), NAMESPACE);
        api
    }

    /// The service-account directory every pod mounts.
    pub fn service_account(&self) -> PathBuf {
        self.scratch.join("serviceaccount")
    }

    /// `host`'s node as a running pod of the bed's Deployment (label `app=drip`), as the
    /// API lists it.
    pub fn pod(host: &Host) -> Pod {
        Pod::running(
            &format!("drip-{}", host.name),
            NAMESPACE,
            "app=drip",
            host.address.into(),
        )
    }

    /// [`Cluster::start`] with TLS distribution: the host's certificate is made by `pki` into
    /// a Secret directory of its own, mounted at [`DIST_TLS`], and every node reads one
    /// options file naming those paths (as one ConfigMap serves every pod).
    pub fn start_tls(&self, host: &Host, discovery: &[&str], pki: &harness::pki::TestPki) -> Node {
        let secret = self.scratch.join(format!("secret-{}", host.name));
        pki.secret(&secret, &[host.address.to_string(), host.name.clone()]);
        self.start_with(host, discovery, &[], &[], Some(secret))
    }

    /// The options file every node of a TLS cluster reads (erl's `-ssl_dist_optfile`).
    pub fn dist_optfile(&self) -> PathBuf {
        let path = self.scratch.join("ssl_dist.opts");
        let side = |extra: &str| {
            format!(
                "[{{certfile, \"{DIST_TLS}/tls.crt\"}}, {{keyfile, \"{DIST_TLS}/tls.key\"}}, \
                 {{cacertfile, \"{DIST_TLS}/ca.crt\"}}, {{verify, verify_peer}}{extra}]"
            )
        };
        let text = format!(
            "[{{server, {}}}, {{client, {}}}].\n",
            side(", {fail_if_no_peer_cert, true}"),
            side("")
        );
        std::fs::write(&path, text).expect("the options file");
        path
    }

    fn start_with(
        &self,
        host: &Host,
        discovery: &[&str],
        extra: &[&str],
        env: &[(&str, String)],
        secret: Option<PathBuf>,
    ) -> Node {
        let name = format!("drip@{}", host.address);
        self.start_as(host, &name, discovery, extra, env, secret)
    }

    /// [`Cluster::start`] with the node named `name` (`drip@drip-0.drip-headless…`, as a
    /// StatefulSet's pods are).
    pub fn start_named(&self, host: &Host, name: &str, discovery: &[&str]) -> Node {
        self.start_as(host, name, discovery, &[], &[], None)
    }

    fn start_as(
        &self,
        host: &Host,
        name: &str,
        discovery: &[&str],
        extra: &[&str],
        env: &[(&str, String)],
        secret: Option<PathBuf>,
    ) -> Node {
        let name = name.to_owned();
        let epmd = host.epmd();
        let data = self.scratch.join(&host.name);
        std::fs::create_dir_all(&data).expect("the data directory");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data.join("drip.log"))
            .expect("a log file");
        let optfile = secret.as_ref().map(|_| self.dist_optfile());
        let mut c = drip_on(host, secret.as_deref());
        if let Some(optfile) = &optfile {
            c.arg("--ssl-dist-optfile").arg(optfile);
        }
        c.args(["--name", &name, "--cookie", COOKIE])
            .args(["--http", &format!("{}:4000", host.address)])
            .arg("--data")
            .arg(&data)
            .arg("--keys")
            .arg(&self.keys)
            .args(["--database", &self.pg.url])
            .args(["--storage", "s3://drip-files"])
            .args(["--net-ticktime", &TICKTIME.to_string()])
            .args(["--signup", "open"]);
        if !discovery.is_empty() {
            c.args(["--discovery", &discovery.join(";")]);
        }
        let endpoint = self.s3.endpoint();
        c.args(extra)
            .env("AWS_ENDPOINT", &endpoint)
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "drip-test")
            .env("AWS_SECRET_ACCESS_KEY", "drip-test-secret")
            .env("RUST_LOG", "info")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        let mut node = Node {
            host: host.clone(),
            name,
            data,
            process: Guard(c.spawn().expect("drip starts")),
            secret,
            optfile,
            _epmd: epmd,
        };
        node.wait_ready(&self.client);
        node
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Data directories, the keys, an image: nothing of a bed is left on the disk.
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

impl Node {
    /// Its web address.
    pub fn http(&self) -> SocketAddr {
        SocketAddr::from((self.host.address, 4000))
    }

    /// Waits until it answers `/health/ready` with 200 (bounded); fails at once, with its
    /// log, if it exits first.
    pub fn wait_ready(&mut self, client: &Host) {
        let at = self.http();
        let mut exited = None;
        let process = &mut self.process.0;
        client.run(|| {
            harness::wait_until(
                &format!("{at} to be ready"),
                Duration::from_secs(60),
                || {
                    if let Ok(Some(status)) = process.try_wait() {
                        exited = Some(status);
                        return true;
                    }
                    std::net::TcpStream::connect(at).is_ok()
                        && request_at(at, "GET", "/health/ready", &[], b"")
                            .0
                            .contains("200")
                },
            )
        });
        if let Some(status) = exited {
            panic!(
                "{} exited ({status}) before it was ready: {}",
                self.name,
                self.log()
            );
        }
    }

    /// The nodes it is connected to (`drip rpc 'erlang:nodes()'`, a release's own command,
    /// run on its host).
    pub fn nodes(&self) -> Vec<String> {
        let out = self
            .rpc("erlang:nodes()")
            .unwrap_or_else(|e| panic!("rpc to {}: {e}", self.name));
        out.trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split(',')
            .map(|n| n.trim().trim_matches('\'').to_owned())
            .filter(|n| !n.is_empty())
            .collect()
    }

    /// `drip rpc EXPR` on its host: what it printed, or what it said on failing.
    pub fn rpc(&self, expr: &str) -> Result<String, String> {
        let mut c = drip_on(&self.host, self.secret.as_deref());
        if let Some(optfile) = &self.optfile {
            c.arg("--ssl-dist-optfile").arg(optfile);
        }
        let out = c
            .args(["--name", &self.name, "--cookie", COOKIE, "rpc", expr])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Kills it (SIGKILL), as a lost host.
    pub fn kill(&mut self) {
        let _ = self.process.0.kill();
        let _ = self.process.0.wait();
    }

    /// SIGTERM, as Kubernetes stops a pod, and its exit.
    pub fn sigterm(&mut self) -> std::process::ExitStatus {
        let pid = self.process.0.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .is_ok_and(|s| s.success());
        assert!(sent, "SIGTERM to {}", self.name);
        harness::wait_until(
            &format!("{} to stop", self.name),
            Duration::from_secs(60),
            || self.process.0.try_wait().ok().flatten(),
        )
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.join("drip.log")).unwrap_or_default()
    }
}

/// A client of the cluster's API, on the client host.
pub struct Client<'a> {
    /// Where its requests come from.
    pub host: &'a Host,
}

impl Client<'_> {
    /// `METHOD path` at `at` with a bearer token and a body: status line and body bytes.
    pub fn request(
        &self,
        at: SocketAddr,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &[u8],
    ) -> (String, Vec<u8>) {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(b) = &bearer {
            headers.push(("Authorization", b.as_str()));
        }
        self.host.run(|| {
            let (status, head, body) = request_at(at, method, path, &headers, body);
            (status, unchunk_bytes(&head, &body))
        })
    }

    /// [`Client::request`] with a JSON answer.
    pub fn json(
        &self,
        at: SocketAddr,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> (String, serde_json::Value) {
        let (status, body) = self.request(at, method, path, token, body.as_bytes());
        (
            status,
            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        )
    }

    /// Signs `name` up through `at` and logs in: its token.
    pub fn account(&self, at: SocketAddr, name: &str) -> String {
        super::sign_up_and_in(name, |path, json| self.json(at, "POST", path, None, json)).0
    }

    /// Uploads `bytes` as `$/name` through `at`: the status and the answer.
    pub fn upload(
        &self,
        at: SocketAddr,
        token: &str,
        name: &str,
        bytes: &[u8],
    ) -> (String, serde_json::Value) {
        let (status, body) = self.request(
            at,
            "POST",
            &format!("/api/files?path=%24&name={name}"),
            Some(token),
            bytes,
        );
        (
            status,
            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        )
    }

    /// Downloads file `id` through `at`: the status and the bytes.
    pub fn download(&self, at: SocketAddr, token: &str, id: &str) -> (String, Vec<u8>) {
        self.request(
            at,
            "GET",
            &format!("/api/files/{id}/content"),
            Some(token),
            b"",
        )
    }

    /// The two-step download through `at` (as the UI does): asks for it, then fetches the
    /// link once the pipeline has made the file's cache entry (bounded). The bytes.
    pub fn download_cached(&self, at: SocketAddr, token: &str, id: &str) -> Vec<u8> {
        let (status, body) = self.request(
            at,
            "POST",
            &format!("/api/files/{id}/download"),
            Some(token),
            b"",
        );
        assert!(
            status.contains("202"),
            "{status} {}",
            String::from_utf8_lossy(&body)
        );
        harness::wait_until(
            &format!("{id}'s download through {at} to be ready"),
            Duration::from_secs(30),
            || {
                let (status, body) = self.request(
                    at,
                    "GET",
                    &format!("/api/files/{id}/cached"),
                    Some(token),
                    b"",
                );
                status.contains("200").then_some(body)
            },
        )
    }
}
