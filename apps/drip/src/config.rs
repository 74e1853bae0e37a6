//! Drip's settings: the command line, the same as `DRIP_*` environment variables, and an
//! optional TOML file (`--config`), in that order of precedence, over embedded defaults. A bad
//! value is one sentence and exit status 2.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use serde::Deserialize;
use thiserror::Error;

/// `drip`: ElixirDrip on rotp — encrypted file storage through GenStage pipelines.
#[derive(Parser, Default)]
#[command(name = "drip", version, about)]
pub struct Args {
    /// What to do (default: start).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Short node name, NAME or NAME@HOST (default: drip).
    #[arg(long, global = true, env = "DRIP_SNAME", conflicts_with = "name")]
    pub sname: Option<String>,
    /// Long node name, NAME@HOST.
    #[arg(long, global = true, env = "DRIP_NAME")]
    pub name: Option<String>,
    /// The node's name as an Elixir release takes it, when neither --sname nor --name is
    /// given: short or long as --release-distribution says (default drip).
    #[arg(long, global = true, env = "RELEASE_NODE")]
    pub release_node: Option<String>,
    /// sname (the default), name, or none (no distribution: nothing connects, nothing is
    /// registered with EPMD), as an Elixir release's RELEASE_DISTRIBUTION.
    #[arg(long, global = true, env = "RELEASE_DISTRIBUTION")]
    pub release_distribution: Option<Distribution>,
    /// TLS distribution with the options of this file, as erl's -ssl_dist_optfile (every
    /// node of the cluster, and erl nodes joining it, then need a certificate it trusts).
    #[arg(long, global = true, env = "DRIP_SSL_DIST_OPTFILE")]
    pub ssl_dist_optfile: Option<PathBuf>,
    /// The lowest port the node listens on for distribution (kernel's inet_dist_listen_min;
    /// default: any the system gives).
    #[arg(long, global = true, env = "DRIP_INET_DIST_LISTEN_MIN")]
    pub inet_dist_listen_min: Option<u16>,
    /// The highest (kernel's inet_dist_listen_max; default: the lowest).
    #[arg(long, global = true, env = "DRIP_INET_DIST_LISTEN_MAX")]
    pub inet_dist_listen_max: Option<u16>,
    /// As erl's `-proto_dist`: `inet6_tcp` listens on `::` (IPv4 peers too) and reaches
    /// hosts by IPv6 first, for nodes named `drip@fd00::5` (IPv6 pod addresses); `inet_tcp`
    /// (the default) IPv4 first.
    #[arg(long, global = true, env = "DRIP_PROTO_DIST", value_name = "inet_tcp|inet6_tcp", value_parser = ["inet_tcp", "inet6_tcp"])]
    pub proto_dist: Option<String>,
    /// Seconds after which a silent peer is taken as down (`-kernel net_ticktime`, 60 as in
    /// OTP; at least 4). Every node of a cluster should use the same.
    #[arg(long, global = true, env = "DRIP_NET_TICKTIME")]
    pub net_ticktime: Option<u64>,
    /// The distribution cookie (default: the RELEASE_COOKIE variable, else ~/.erlang.cookie,
    /// made if missing, as erl does).
    #[arg(long, global = true, env = "DRIP_COOKIE", hide_env_values = true)]
    pub cookie: Option<String>,
    /// Where the web UI and API listen (default 127.0.0.1:4000).
    #[arg(long, global = true, env = "DRIP_HTTP")]
    pub http: Option<SocketAddr>,
    /// The data directory: the SQLite file, the stored objects, the master key (default
    /// ./drip-data).
    #[arg(long, global = true, env = "DRIP_DATA")]
    pub data: Option<PathBuf>,
    /// Where master.key and session.key live, made on first start with mode 0600 (default:
    /// the data dir); a cluster's nodes share them.
    #[arg(long, global = true, env = "DRIP_KEYS")]
    pub keys: Option<PathBuf>,
    /// Nodes to join, comma-separated (name@host): this node connects to each at start and
    /// again whenever the connection is lost (the book's libcluster, with a list of hosts).
    #[arg(long, global = true, env = "DRIP_CLUSTER", value_delimiter = ',')]
    pub cluster: Option<Vec<String>>,
    /// How this node finds the others, as libcluster's strategies (repeatable; in the
    /// environment, `;` between them): `epmd:NODE,NODE…`, `local-epmd`, `erlang-hosts[:FILE]`,
    /// `dns:QUERY[,basename=B][,types=a,aaaa,srv][,nameserver=IP[:PORT]]`,
    /// `kubernetes-dns:service=S,basename=B[,namespace=N]`,
    /// `kubernetes-dnssrv:service=S,namespace=N,basename=B`,
    /// `kubernetes:selector=LABELS,basename=B[,namespace=N][,mode=ip|dns|hostname][,service=S][,api=endpointslices|endpoints|pods][,sa_dir=PATH]`
    /// (LABELS runs on, commas and all, until the next of these settings),
    /// `gossip[:port=P][,multicast=ADDR][,ttl=N][,secret=S]`; the polling ones take
    /// `interval=MS` (default 5000).
    #[arg(long, global = true, env = "DRIP_DISCOVERY", value_delimiter = ';')]
    pub discovery: Option<Vec<String>>,
    /// The metadata database: sqlite://FILE or postgres://… (default: sqlite in the data dir).
    #[arg(long, global = true, env = "DRIP_DATABASE", hide_env_values = true)]
    pub database: Option<String>,
    /// Where objects are stored: file://DIR (default: the data dir's objects/).
    #[arg(long, global = true, env = "DRIP_STORAGE")]
    pub storage: Option<String>,
    /// A TOML file with any of these settings (keys as the long options, with _).
    #[arg(long, global = true, env = "DRIP_CONFIG")]
    pub config: Option<PathBuf>,
    /// Bytes each user may store (default 1 GiB).
    #[arg(long, global = true, env = "DRIP_QUOTA")]
    pub quota: Option<u64>,
    /// Largest upload accepted, in bytes (default 2 GiB).
    #[arg(long, global = true, env = "DRIP_MAX_UPLOAD")]
    pub max_upload: Option<u64>,
    /// Seconds a download's cache entry (and its link) lives without a hit (default 7200, the
    /// book's 120 minutes).
    #[arg(long, global = true, env = "DRIP_CACHE_IDLE")]
    pub cache_idle: Option<u64>,
    /// Largest file a download cache keeps in memory, in bytes; larger ones stream from
    /// storage (default 16 MiB).
    #[arg(long, global = true, env = "DRIP_CACHE_MAX")]
    pub cache_max: Option<u64>,
    /// Users expected to be admins, comma-separated: Drip warns at start about each one without
    /// an account or not granted. It grants nothing: admin is granted to an account with
    /// `drip admin grant NAME`.
    #[arg(long, global = true, env = "DRIP_ADMINS", value_delimiter = ',')]
    pub admins: Option<Vec<String>>,
    /// Who may sign up: open (anyone, the default), invite (only with a one-time link an
    /// admin makes), closed (nobody; `drip admin invite` links still work).
    #[arg(long, global = true, env = "DRIP_SIGNUP")]
    pub signup: Option<Signup>,
    /// Sign-ups one client address may make an hour (default 10; all addresses together,
    /// twenty times that).
    #[arg(long, global = true, env = "DRIP_SIGNUP_LIMIT")]
    pub signup_limit: Option<u32>,
    /// The address users reach Drip at, e.g. `https://drip.example.com`: cookies are `Secure`
    /// when it is https, and links Drip makes (invites) start with it.
    #[arg(long, global = true, env = "DRIP_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Reverse proxies whose X-Forwarded-For / Forwarded headers are believed,
    /// comma-separated CIDRs (default: none; the socket's address is the client's).
    #[arg(
        long,
        global = true,
        env = "DRIP_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Option<Vec<String>>,
    /// Serve /metrics on this address of its own (as Phoenix apps expose PromEx on a port of
    /// its own), without a token; on the main address /metrics needs --metrics-token.
    #[arg(long, global = true, env = "DRIP_METRICS")]
    pub metrics: Option<SocketAddr>,
    /// The bearer token /metrics needs on the main address (for a Prometheus that scrapes it
    /// there).
    #[arg(
        long,
        global = true,
        env = "DRIP_METRICS_TOKEN",
        hide_env_values = true
    )]
    pub metrics_token: Option<String>,
    /// Seconds a client has to send a request's headers, and an idle keep-alive connection
    /// stays open (default 30).
    #[arg(long, global = true, env = "DRIP_HEADER_TIMEOUT")]
    pub header_timeout: Option<u64>,
    /// Seconds a request body may stall between two reads (default 120; an upload that keeps
    /// sending, however slowly, is never cut).
    #[arg(long, global = true, env = "DRIP_BODY_TIMEOUT")]
    pub body_timeout: Option<u64>,
    /// Most HTTP connections open at once; more wait to be accepted (default 1024).
    #[arg(long, global = true, env = "DRIP_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Run the database migrations at start (default true). false: start waits until the
    /// schema is current (`drip migrate`, run once per release by a Kubernetes Job, makes it
    /// so).
    #[arg(long, global = true, env = "DRIP_MIGRATE", value_name = "BOOL")]
    pub migrate: Option<bool>,
    /// Seconds a stop (SIGTERM, Ctrl-C) may take, requests in flight and the pipelines'
    /// draining included; then Drip exits anyway (default 25, under Kubernetes' 30 s grace).
    #[arg(long, global = true, env = "DRIP_SHUTDOWN_TIMEOUT")]
    pub shutdown_timeout: Option<u64>,
    /// Seconds an upload's request waits, once its body is whole, for the pipeline to store
    /// it (default 600); past that it is answered 503 and the upload still ends stored or
    /// reported failed.
    #[arg(long, global = true, env = "DRIP_STORE_TIMEOUT")]
    pub store_timeout: Option<u64>,
    /// Seconds a node's lease on its uploads under way lasts without being renewed (default
    /// 120, twice the default net_ticktime; renewed every quarter of it): past it, any node
    /// removes such an upload, so a killed node's uploads free their names and quota.
    #[arg(long, global = true, env = "DRIP_UPLOAD_LEASE")]
    pub upload_lease: Option<u64>,
}

/// How the node is distributed, as an Elixir release's `RELEASE_DISTRIBUTION`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Distribution {
    /// A short name, `NAME@host`.
    #[default]
    Sname,
    /// A long name, `NAME@host.domain` (or `NAME@IP`, as on Kubernetes).
    Name,
    /// Not distributed: nothing connects to it and it joins no cluster.
    None,
}

/// Who may sign up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signup {
    /// Anyone.
    #[default]
    Open,
    /// Only with a one-time invite link an admin (or the operator) makes.
    Invite,
    /// Nobody, but through an invite the operator makes with `drip admin invite`.
    Closed,
}

/// What `drip` is asked to do, as an Elixir release's `bin/app` takes commands.
#[derive(Subcommand, Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Start Drip and serve it until SIGTERM, Ctrl-C or `drip stop` (the default).
    Start,
    /// A shell into the running node (as a release's `remote`: the rotp shell's commands).
    Remote,
    /// Calls MOD:FUN(ARGS) on the running node and prints the result, e.g. `drip rpc
    /// 'erlang:memory()'` (`:erlang.memory()` as Elixir writes it works too).
    Rpc {
        /// The call.
        #[arg(allow_hyphen_values = true)]
        expr: String,
    },
    /// Stops the running node as SIGTERM does (requests finish, the pipelines drain, it
    /// leaves the cluster) and waits until it has.
    Stop,
    /// Prints the running node's OS process id.
    Pid,
    /// Prints drip's name and version.
    Version,
    /// Runs the database migrations and exits (for a Kubernetes Job before a rollout, with
    /// DRIP_MIGRATE=false on the pods).
    Migrate,
    /// Compare the database with the stored objects and the spool: orphan objects, rows
    /// without objects, stale spool files (as Nextcloud's `occ files:scan`, Seafile's
    /// `seaf-fsck`); exit 1 if anything is wrong.
    Check {
        /// Remove what is wrong (orphan objects, rows without objects, stale spool files).
        #[arg(long)]
        repair: bool,
    },
    /// Who may open the node dashboard: admin is a property of an account, granted here.
    Admin {
        /// grant, revoke or list.
        #[command(subcommand)]
        action: AdminAction,
    },
    /// The secrets in the keys directory.
    Keys {
        /// rotate.
        #[command(subcommand)]
        action: KeysAction,
    },
}

/// `drip admin …`.
#[derive(Subcommand, Clone, Debug, PartialEq, Eq)]
pub enum AdminAction {
    /// Makes the account USERNAME an admin.
    Grant {
        /// The account's username (a positional of its own: `--name` is the node's).
        username: String,
    },
    /// Takes admin from the account USERNAME.
    Revoke {
        /// The account's username.
        username: String,
    },
    /// Lists the admins.
    List,
    /// Prints a one-time sign-up link (good for seven days), whatever `--signup` says: how
    /// the first account of a closed Drip is made.
    Invite {
        /// The account made through it is an admin.
        #[arg(long)]
        admin: bool,
    },
}

/// `drip keys …`.
#[derive(Subcommand, Clone, Debug, PartialEq, Eq)]
pub enum KeysAction {
    /// Makes a new master key and re-wraps every file key under it (the objects are not
    /// rewritten); the old key is kept beside it as master.key.old until you remove it.
    Rotate,
}

/// The TOML file's keys.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    sname: Option<String>,
    name: Option<String>,
    cookie: Option<String>,
    migrate: Option<bool>,
    inet_dist_listen_min: Option<u16>,
    inet_dist_listen_max: Option<u16>,
    net_ticktime: Option<u64>,
    proto_dist: Option<String>,
    ssl_dist_optfile: Option<PathBuf>,
    http: Option<SocketAddr>,
    data: Option<PathBuf>,
    keys: Option<PathBuf>,
    cluster: Option<Vec<String>>,
    discovery: Option<Vec<String>>,
    database: Option<String>,
    storage: Option<String>,
    quota: Option<u64>,
    max_upload: Option<u64>,
    cache_idle: Option<u64>,
    cache_max: Option<u64>,
    admins: Option<Vec<String>>,
    signup: Option<Signup>,
    signup_limit: Option<u32>,
    public_url: Option<String>,
    trusted_proxies: Option<Vec<String>>,
    metrics: Option<SocketAddr>,
    metrics_token: Option<String>,
    header_timeout: Option<u64>,
    body_timeout: Option<u64>,
    max_connections: Option<usize>,
    shutdown_timeout: Option<u64>,
    store_timeout: Option<u64>,
    upload_lease: Option<u64>,
}

/// Why the settings are refused.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the config file {0}: {1}")]
    Read(PathBuf, std::io::Error),
    /// The file is not valid TOML for these keys.
    #[error("the config file {0} is not valid: {1}")]
    Parse(PathBuf, String),
    /// `sname` and `name` both given.
    #[error("give a short name (sname) or a long name (name), not both")]
    BothNames,
    /// `--cluster` for a node without distribution.
    #[error("RELEASE_DISTRIBUTION=none runs no distribution, so it cannot join a cluster (--cluster, --discovery)")]
    ClusterWithoutDistribution,
    /// A cluster member that is not `name@host`.
    #[error("the cluster node {0:?} is not name@host")]
    Node(String),
    /// A `--discovery` spec that is not one.
    #[error("--discovery {0}")]
    Discovery(#[from] node::discovery::SpecError),
    /// A trusted proxy that is not an address or a CIDR.
    #[error("the trusted proxy {0:?} is not an address or a CIDR (like 10.0.0.0/8)")]
    Proxy(String),
    /// A public URL that is not `http(s)://HOST[:PORT][/PATH]`.
    #[error("the public URL {0:?} is not http(s)://HOST[:PORT]")]
    PublicUrl(String),
    /// A URL Drip does not know.
    #[error("{what} {url:?} is not one Drip knows ({expected})")]
    Url {
        /// Which setting.
        what: &'static str,
        /// The value.
        url: String,
        /// What would do.
        expected: &'static str,
    },
}

/// How the node is named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeName {
    /// `-sname`.
    Short(String),
    /// `-name`.
    Long(String),
    /// Not distributed (`RELEASE_DISTRIBUTION=none`): `nonode@nohost`, as erl without a
    /// name.
    None,
}

/// Where objects go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StorageUrl {
    /// A directory on local disk.
    Local(PathBuf),
    /// An S3-compatible bucket, `s3://BUCKET`; the endpoint, region and credentials come from
    /// the usual `AWS_*` environment variables (`AWS_ENDPOINT`, `AWS_REGION`,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP`), as object_store's
    /// `AmazonS3Builder::from_env` reads them.
    S3(String),
}

/// The settings, resolved.
#[derive(Clone)]
pub struct Config {
    /// The node's name.
    pub node: NodeName,
    /// The cookie, if given (else the node finds it as erl does).
    pub cookie: Option<String>,
    /// The HTTP listen address.
    pub http: SocketAddr,
    /// The data directory.
    pub data: PathBuf,
    /// Where the secrets live.
    pub keys: PathBuf,
    /// Nodes to stay connected to.
    pub cluster: Vec<String>,
    /// How the node finds the others (`--cluster` is an `epmd:` list among them).
    pub discovery: Vec<node::discovery::Spec>,
    /// The database URL.
    pub database: String,
    /// The object store.
    pub storage: StorageUrl,
    /// Bytes each user may store.
    pub quota: u64,
    /// Largest upload.
    pub max_upload: u64,
    /// How long a download cache entry lives without a hit.
    pub cache_idle: std::time::Duration,
    /// Largest file a download cache keeps in memory.
    pub cache_max: u64,
    /// Usernames expected to be admins (warned about at start; grants nothing).
    pub admins: Vec<String>,
    /// Who may sign up.
    pub signup: Signup,
    /// Sign-ups an address may make an hour.
    pub signup_limit: u32,
    /// Where users reach Drip (no trailing slash), if said.
    pub public_url: Option<String>,
    /// Proxies whose forwarding headers are believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// A listener of its own for /metrics.
    pub metrics: Option<SocketAddr>,
    /// The token /metrics needs on the main listener.
    pub metrics_token: Option<String>,
    /// Run the migrations at start (else wait for them).
    pub migrate: bool,
    /// The ports the node may listen on for distribution (`0..=0`: any).
    pub dist_ports: std::ops::RangeInclusive<u16>,
    /// TLS distribution's options file, if any.
    pub ssl_dist_optfile: Option<PathBuf>,
    /// `net_ticktime`.
    pub net_ticktime: std::time::Duration,
    /// IPv6 first (`-proto_dist inet6_tcp`).
    pub inet6: bool,
    /// The HTTP server's limits.
    pub limits: HttpLimits,
    /// How long an upload's request waits for the pipeline to store it.
    pub store_timeout: std::time::Duration,
    /// How long a node's lease on an upload under way lasts unrenewed.
    pub upload_lease: std::time::Duration,
}

/// The HTTP server's limits (M8 of the 2026-12-07 review): every wait on a client is bounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// Time to send a request's headers (and for an idle keep-alive connection to send the
    /// next one's).
    pub header_timeout: std::time::Duration,
    /// Time a body may stall between two reads.
    pub body_timeout: std::time::Duration,
    /// Connections open at once.
    pub max_connections: usize,
    /// Time a stop may take.
    pub shutdown_timeout: std::time::Duration,
}

impl Config {
    /// Whether cookies carry `Secure`: Drip is served over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }
}

impl Config {
    /// Resolves `args` (command line and environment) over the file they name, over the
    /// defaults.
    pub fn resolve(args: Args) -> Result<Config, ConfigError> {
        let file = match &args.config {
            Some(path) => read(path)?,
            None => File::default(),
        };
        let sname = args.sname.or(file.sname);
        let name = args.name.or(file.name);
        let release = args.release_node.unwrap_or_else(|| "drip".to_owned());
        let node = match (sname, name, args.release_distribution) {
            (Some(_), Some(_), _) => return Err(ConfigError::BothNames),
            (None, Some(n), _) => NodeName::Long(n),
            (Some(s), None, _) => NodeName::Short(s),
            (None, None, None | Some(Distribution::Sname)) => NodeName::Short(release),
            (None, None, Some(Distribution::Name)) => NodeName::Long(release),
            (None, None, Some(Distribution::None)) => NodeName::None,
        };
        let data = args
            .data
            .or(file.data)
            .unwrap_or_else(|| PathBuf::from("drip-data"));
        let database = args
            .database
            .or(file.database)
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", data.join("drip.sqlite").display()));
        if !(database.starts_with("sqlite:")
            || database.starts_with("postgres:")
            || database.starts_with("postgresql:"))
        {
            return Err(ConfigError::Url {
                what: "the database",
                url: database,
                expected: "sqlite://FILE or postgres://USER@HOST/DB",
            });
        }
        let cluster = args.cluster.or(file.cluster).unwrap_or_default();
        let mut discovery = args
            .discovery
            .or(file.discovery)
            .unwrap_or_default()
            .iter()
            .filter(|d| !d.trim().is_empty())
            .map(|d| d.parse::<node::discovery::Spec>())
            .collect::<Result<Vec<_>, _>>()?;
        if !cluster.is_empty() {
            // The book's fixed list, looked at every 2 s as before.
            discovery.push(node::discovery::Spec {
                strategy: node::discovery::Strategy::Epmd(
                    cluster
                        .iter()
                        .map(|n| etf::Atom::from(n.as_str()))
                        .collect(),
                ),
                interval: std::time::Duration::from_secs(2),
            });
        }
        if node == NodeName::None && !discovery.is_empty() {
            return Err(ConfigError::ClusterWithoutDistribution);
        }
        if let Some(bad) = cluster.iter().find(|n| {
            let (name, host) = n.split_once('@').unwrap_or(("", ""));
            name.is_empty() || host.is_empty() || host.contains('@')
        }) {
            return Err(ConfigError::Node(bad.clone()));
        }
        let storage = match args.storage.or(file.storage) {
            None => StorageUrl::Local(data.join("objects")),
            Some(url) => match (url.strip_prefix("file://"), url.strip_prefix("s3://")) {
                (Some(dir), _) if !dir.is_empty() => StorageUrl::Local(PathBuf::from(dir)),
                (_, Some(bucket))
                    if !bucket.is_empty()
                        && bucket
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)) =>
                {
                    StorageUrl::S3(url)
                }
                _ => {
                    return Err(ConfigError::Url {
                        what: "the storage",
                        url,
                        expected: "file:///A/DIRECTORY or s3://BUCKET",
                    })
                }
            },
        };
        let trusted_proxies = args
            .trusted_proxies
            .or(file.trusted_proxies)
            .unwrap_or_default()
            .into_iter()
            .filter(|p| !p.trim().is_empty())
            .map(|p| {
                let p = p.trim();
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| ConfigError::Proxy(p.to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let public_url = match args.public_url.or(file.public_url) {
            None => None,
            Some(u) => Some(public_url(&u).ok_or(ConfigError::PublicUrl(u))?),
        };
        let secs = std::time::Duration::from_secs;
        let limits = HttpLimits {
            header_timeout: secs(
                args.header_timeout
                    .or(file.header_timeout)
                    .unwrap_or(30)
                    .max(1),
            ),
            body_timeout: secs(
                args.body_timeout
                    .or(file.body_timeout)
                    .unwrap_or(120)
                    .max(1),
            ),
            max_connections: args
                .max_connections
                .or(file.max_connections)
                .unwrap_or(1024)
                .max(1),
            shutdown_timeout: secs(
                args.shutdown_timeout
                    .or(file.shutdown_timeout)
                    .unwrap_or(25)
                    .max(1),
            ),
        };
        Ok(Config {
            node,
            cookie: args.cookie.or(file.cookie),
            http: args
                .http
                .or(file.http)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 4000))),
            keys: args.keys.or(file.keys).unwrap_or_else(|| data.clone()),
            cluster,
            discovery,
            data,
            database,
            storage,
            quota: args.quota.or(file.quota).unwrap_or(1 << 30),
            max_upload: args.max_upload.or(file.max_upload).unwrap_or(2 << 30),
            cache_idle: std::time::Duration::from_secs(
                args.cache_idle.or(file.cache_idle).unwrap_or(7200),
            ),
            cache_max: args.cache_max.or(file.cache_max).unwrap_or(16 << 20),
            admins: args.admins.or(file.admins).unwrap_or_default(),
            signup: args.signup.or(file.signup).unwrap_or_default(),
            signup_limit: args
                .signup_limit
                .or(file.signup_limit)
                .unwrap_or(crate::web::throttle::SIGN_UPS),
            public_url,
            trusted_proxies,
            metrics: args.metrics.or(file.metrics),
            metrics_token: args.metrics_token.or(file.metrics_token),
            migrate: args.migrate.or(file.migrate).unwrap_or(true),
            ssl_dist_optfile: args.ssl_dist_optfile.or(file.ssl_dist_optfile),
            inet6: args.proto_dist.or(file.proto_dist).as_deref() == Some("inet6_tcp"),
            net_ticktime: secs(args.net_ticktime.or(file.net_ticktime).unwrap_or(60).max(4)),
            dist_ports: {
                let min = args
                    .inet_dist_listen_min
                    .or(file.inet_dist_listen_min)
                    .unwrap_or(0);
                let max = args
                    .inet_dist_listen_max
                    .or(file.inet_dist_listen_max)
                    .unwrap_or(min)
                    .max(min);
                min..=max
            },
            limits,
            store_timeout: secs(
                args.store_timeout
                    .or(file.store_timeout)
                    .unwrap_or(600)
                    .max(1),
            ),
            upload_lease: secs(
                args.upload_lease
                    .or(file.upload_lease)
                    .unwrap_or(120)
                    .max(2),
            ),
        })
    }
}

/// `url` as `scheme://authority[/path]` without a trailing slash, if it is http(s) with a
/// host.
fn public_url(url: &str) -> Option<String> {
    let uri: axum::http::Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?;
    let host = uri.host()?;
    if !matches!(scheme, "http" | "https") || host.is_empty() || uri.query().is_some() {
        return None;
    }
    Some(url.trim_end_matches('/').to_owned())
}

/// A database URL with its password hidden, for logs and `Debug`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// `Some("***")` for a secret that is set.
fn hidden(secret: &Option<String>) -> Option<&'static str> {
    secret.as_ref().map(|_| "***")
}

// The settings hold the cookie and the database's password: their `Debug` never shows them.
impl std::fmt::Debug for Args {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Args")
            .field("command", &self.command)
            .field("sname", &self.sname)
            .field("name", &self.name)
            .field("cookie", &hidden(&self.cookie))
            .field("http", &self.http)
            .field("data", &self.data)
            .field("keys", &self.keys)
            .field("database", &self.database.as_deref().map(redact_url))
            .field("storage", &self.storage)
            .field("config", &self.config)
            .field("metrics_token", &hidden(&self.metrics_token))
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("node", &self.node)
            .field("cookie", &hidden(&self.cookie))
            .field("http", &self.http)
            .field("data", &self.data)
            .field("keys", &self.keys)
            .field("database", &redact_url(&self.database))
            .field("storage", &self.storage)
            .field("signup", &self.signup)
            .field("public_url", &self.public_url)
            .field("metrics_token", &hidden(&self.metrics_token))
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

fn read(path: &Path) -> Result<File, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.into(), e))?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse(path.into(), e.message().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_names_discovery_and_the_cluster_list() {
        let parse = |argv: &[&str]| Config::resolve(Args::parse_from(argv));
        let c = parse(&[
            "drip",
            "--release-node",
            "app",
            "--release-distribution",
            "name",
        ])
        .expect("a long name");
        assert_eq!(c.node, NodeName::Long("app".into()));
        let c = parse(&["drip", "--release-distribution", "none"]).expect("no distribution");
        assert_eq!(c.node, NodeName::None);
        let e = parse(&["drip", "--release-distribution", "none", "--cluster", "a@h"])
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("cannot join a cluster")));
        let c = parse(&[
            "drip",
            "--discovery",
            "dns:drip-headless,basename=drip",
            "--discovery",
            "local-epmd",
            "--cluster",
            "a@h,b@h",
        ])
        .expect("discovery");
        let labels: Vec<_> = c.discovery.iter().map(|d| d.label()).collect();
        assert_eq!(labels, ["dns", "local-epmd", "epmd"]);
        let e = parse(&["drip", "--discovery", "zookeeper:x"])
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("is not a discovery strategy")));
    }

    #[test]
    fn defaults_then_file_then_command_line() {
        let c = Config::resolve(Args::default()).expect("defaults");
        assert_eq!(c.node, NodeName::Short("drip".into()));
        assert_eq!(c.http.to_string(), "127.0.0.1:4000");
        assert_eq!(
            c.storage,
            StorageUrl::Local(PathBuf::from("drip-data/objects"))
        );
        assert!(c.database.starts_with("sqlite://drip-data/drip.sqlite"));
        let dir = std::env::temp_dir().join(format!("drip-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a dir");
        let file = dir.join("drip.toml");
        std::fs::write(
            &file,
            "http = \"127.0.0.1:4100\"\nquota = 5\nsname = \"fromfile\"\n",
        )
        .expect("written");
        let c = Config::resolve(Args {
            config: Some(file.clone()),
            quota: Some(7),
            ..Args::default()
        })
        .expect("resolves");
        assert_eq!((c.http.port(), c.quota), (4100, 7));
        assert_eq!(c.node, NodeName::Short("fromfile".into()));
        std::fs::write(&file, "htp = 1\n").expect("written");
        let e = Config::resolve(Args {
            config: Some(file),
            ..Args::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("htp"), "{e}");
        let e = Config::resolve(Args {
            storage: Some("s4://x".into()),
            ..Args::default()
        })
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("the storage \"s4://x\" is not one Drip knows"),
            "{e}"
        );
    }

    #[test]
    fn debug_never_shows_the_cookie_or_the_database_password() {
        let args = Args {
            cookie: Some("sekrit-cookie".into()),
            database: Some("postgres://drip:pa55word@db.example/drip".into()),
            ..Args::default()
        };
        let shown = format!("{args:?}");
        let config = Config::resolve(args).expect("resolves");
        let shown = format!("{shown} {config:?}");
        assert!(
            !shown.contains("sekrit") && !shown.contains("pa55word"),
            "{shown}"
        );
        assert!(
            shown.contains("postgres://drip:***@db.example/drip"),
            "{shown}"
        );
        assert_eq!(
            redact_url("sqlite://x.db?mode=rwc"),
            "sqlite://x.db?mode=rwc"
        );
    }
}
