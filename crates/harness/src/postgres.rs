//! A throwaway PostgreSQL server for tests: Debian's `postgresql` binaries, a fresh cluster in
//! a scratch directory (`initdb --auth=trust`), listening on 127.0.0.1 and a free port only,
//! stopped and removed when dropped. As root (PostgreSQL refuses to run as root) the cluster
//! is made and run as the `postgres` user the package creates.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A running server.
pub struct Postgres {
    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub url: String,
    /// Its port.
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
    /// `pg_ctl start`'s `-o`: where it listens.
    options: String,
}

/// The newest installed PostgreSQL's `bin` directory.
fn bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL must be installed to run these tests (./test --setup installs it)")
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("PostgreSQL's initdb must be installed (./test --setup installs it)")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `program args`, as the `postgres` user when we are root.
fn run(program: &Path, args: &[&str]) -> std::process::Output {
    let mut c = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    c.args(args)
        .output()
        .unwrap_or_else(|e| panic!("{} runs: {e}", program.display()))
}

impl Postgres {
    /// Makes a cluster and starts it.
    pub fn start(tag: &str) -> Postgres {
        let bin = bin();
        let port = crate::free_port();
        let dir = std::env::temp_dir().join(format!("rotp-pg-{tag}-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        if is_root() {
            let ok = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&dir)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "the scratch directory could not be given to postgres");
        }
        let data = dir.join("data");
        let data_s = data.to_string_lossy().into_owned();
        let out = run(
            &bin.join("initdb"),
            &[
                "-D",
                &data_s,
                "--auth=trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
            ],
        );
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={} -c fsync=off",
            dir.display()
        );
        let pg = Postgres {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            port,
            dir,
            bin,
            options,
        };
        pg.start_again();
        pg
    }

    /// Stops the server (`pg_ctl stop -m fast`: sessions are ended, as when an operator stops
    /// it); [`Postgres::start_again`] brings it back with its data.
    pub fn stop(&self) {
        let data = self.dir.join("data").to_string_lossy().into_owned();
        let out = run(
            &self.bin.join("pg_ctl"),
            &["-D", &data, "-m", "fast", "-w", "stop"],
        );
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts the (stopped) server again on its port, and waits until it listens.
    pub fn start_again(&self) {
        let data = self.dir.join("data").to_string_lossy().into_owned();
        let log = self.dir.join("log").to_string_lossy().into_owned();
        let out = run(
            &self.bin.join("pg_ctl"),
            &["-D", &data, "-o", &self.options, "-l", &log, "-w", "start"],
        );
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        crate::wait_until(
            &format!("PostgreSQL to listen on {}", self.port),
            Duration::from_secs(30),
            || std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok(),
        );
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.join("data").to_string_lossy().into_owned();
        let _ = run(
            &self.bin.join("pg_ctl"),
            &["-D", &data, "-m", "immediate", "stop"],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
