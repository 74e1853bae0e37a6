//! A throwaway Prometheus server for tests: Debian's `prometheus`, scraping the targets it is
//! given every second (`static_configs`), evaluating the rule files it is given, its TSDB in a
//! scratch directory, its web API on a free port (127.0.0.1 unless told otherwise). Killed and
//! removed when dropped.
//!
//! ```no_run
//! # let (a, b) = ("127.0.0.1:9568".parse().unwrap(), "127.0.0.1:9569".parse().unwrap());
//! let prometheus = harness::prometheus::Prometheus::start(&[a, b], &[]);
//! prometheus.wait_up(std::time::Duration::from_secs(60));
//! let up = prometheus.query("up").expect("an answer");
//! ```
//!
//! [`Options::wrapper`] runs it through another command (`ip netns exec HOST`), with
//! [`Options::listen`] an address there, for a test bed of network namespaces.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::Guard;

/// Debian's Prometheus server.
pub const PROMETHEUS: &str = "/usr/bin/prometheus";

/// How a [`Prometheus`] is started.
#[derive(Clone, Debug)]
pub struct Options {
    /// What it scrapes (`HOST:PORT` of each `/metrics`).
    pub targets: Vec<SocketAddr>,
    /// Rule files it loads (`rule_files`).
    pub rule_files: Vec<PathBuf>,
    /// The job's name (the `job` label of every series).
    pub job: String,
    /// The path it scrapes on each target.
    pub metrics_path: String,
    /// How often it scrapes and evaluates the rules.
    pub interval: Duration,
    /// Where its web API listens.
    pub listen: SocketAddr,
    /// A command it runs under (`["ip", "netns", "exec", "host4"]`), or none.
    pub wrapper: Vec<String>,
}

impl Options {
    /// Every second, `/metrics` of `targets` as the job `drip`, on 127.0.0.1 and a free port.
    pub fn new(targets: &[SocketAddr], rule_files: &[PathBuf]) -> Options {
        Options {
            targets: targets.to_vec(),
            rule_files: rule_files.to_vec(),
            job: "drip".into(),
            metrics_path: "/metrics".into(),
            interval: Duration::from_secs(1),
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, crate::free_port())),
            wrapper: Vec::new(),
        }
    }

    /// The configuration file (JSON, which YAML reads).
    fn config(&self) -> Value {
        let every = format!("{}ms", self.interval.as_millis().max(1));
        json!({
            "global": {
                "scrape_interval": every,
                "scrape_timeout": every,
                "evaluation_interval": every,
            },
            "rule_files": self.rule_files,
            "scrape_configs": [{
                "job_name": self.job,
                "metrics_path": self.metrics_path,
                "static_configs": [{
                    "targets": self.targets.iter().map(ToString::to_string).collect::<Vec<_>>(),
                }],
            }],
        })
    }
}

/// A running server.
pub struct Prometheus {
    /// Where its web API listens.
    pub addr: SocketAddr,
    /// Its targets.
    pub targets: Vec<SocketAddr>,
    dir: PathBuf,
    process: Guard,
}

impl Prometheus {
    /// Scrapes `targets` every second and loads `rule_files`; answers once ready.
    pub fn start(targets: &[SocketAddr], rule_files: &[PathBuf]) -> Prometheus {
        Prometheus::start_with(Options::new(targets, rule_files))
    }

    /// Starts one as `options` say; answers once ready (`/-/ready`).
    pub fn start_with(options: Options) -> Prometheus {
        let dir = std::env::temp_dir().join(format!(
            "prometheus-{}-{}",
            std::process::id(),
            options.listen.port()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).expect("a scratch directory");
        let config = dir.join("prometheus.yml");
        std::fs::write(&config, options.config().to_string()).expect("the configuration");
        let log = std::fs::File::create(dir.join("prometheus.log")).expect("a log file");
        let mut command = match options.wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(PROMETHEUS);
                c
            }
            None => Command::new(PROMETHEUS),
        };
        command
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={}", options.listen))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log file"))
            .stderr(log);
        let process = Guard(command.spawn().unwrap_or_else(|e| {
            panic!(
                "{PROMETHEUS} must be installed (./test --setup installs Debian's prometheus): {e}"
            )
        }));
        let mut p = Prometheus {
            addr: options.listen,
            targets: options.targets,
            dir,
            process,
        };
        crate::wait_until("Prometheus to be ready", Duration::from_secs(60), || {
            if let Ok(Some(status)) = p.process.0.try_wait() {
                panic!("prometheus exited ({status}):\n{}", p.log());
            }
            p.get("/-/ready").0.contains("200")
        });
        p
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    fn get(&self, path: &str) -> (String, String) {
        let (status, headers, body) = crate::http::request_at(self.addr, "GET", path, &[], b"");
        let body = crate::http::unchunk_bytes(&headers, &body);
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// `GET /api/v1/PATH`'s `data`, or what it said went wrong.
    pub fn api(&self, path: &str) -> Result<Value, String> {
        let (status, body) = self.get(&format!("/api/v1/{path}"));
        let answer: Value =
            serde_json::from_str(&body).map_err(|e| format!("{status}: {e}: {body}"))?;
        if answer["status"] != "success" {
            return Err(format!("{status}: {body}"));
        }
        Ok(answer["data"].clone())
    }

    /// An instant query's result (`/api/v1/query`): its vector's samples, each
    /// `{"metric": {...}, "value": [time, "value"]}`.
    pub fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let data = self.api(&format!("query?query={}", percent_encode(expr)))?;
        match &data["result"] {
            Value::Array(samples) => Ok(samples.clone()),
            other => Err(format!("{expr}: not a vector: {other}")),
        }
    }

    /// The rule groups it loaded, each rule with its `health` and `lastError`
    /// (`/api/v1/rules`).
    pub fn rules(&self) -> Result<Vec<Value>, String> {
        let data = self.api("rules")?;
        Ok(data["groups"].as_array().cloned().unwrap_or_default())
    }

    /// Waits (at most `within`) until one query of `up` says every target answered its last
    /// scrape; past that, fails with what Prometheus says of each target (`lastError`).
    pub fn wait_up(&self, within: Duration) {
        let want: Vec<String> = self.targets.iter().map(ToString::to_string).collect();
        let all_up = || {
            self.query("up == 1").is_ok_and(|up| {
                want.iter()
                    .all(|t| up.iter().any(|s| s["metric"]["instance"] == t.as_str()))
            })
        };
        let deadline = std::time::Instant::now() + within;
        crate::wait_until("every target up", within + Duration::from_secs(1), || {
            all_up() || std::time::Instant::now() > deadline
        });
        if !all_up() {
            let targets = self.api("targets").unwrap_or_else(Value::String);
            let said: Vec<String> = targets["activeTargets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| format!("{} {} {}", t["scrapeUrl"], t["health"], t["lastError"]))
                .collect();
            panic!(
                "not every target is up after {within:?}:\n{}",
                said.join("\n")
            );
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.process.0.kill();
        let _ = self.process.0.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `s` as a URL's query value: every byte but the unreserved ones (RFC 3986 §2.3)
/// percent-encoded.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_is_percent_encoded() {
        assert_eq!(
            percent_encode(r#"up{job="a b"} == 1"#),
            "up%7Bjob%3D%22a%20b%22%7D%20%3D%3D%201"
        );
    }
}
