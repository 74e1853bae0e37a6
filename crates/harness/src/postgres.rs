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
    /// Where it listens.
    address: std::net::IpAddr,
    /// The test bed's host it runs on, if any.
    host: Option<crate::bed::Host>,
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

/// `program args`, as the `postgres` user when we are root, on `host` if given.
fn run(host: Option<&crate::bed::Host>, program: &Path, args: &[&str]) -> std::process::Output {
    let command = |program: &std::ffi::OsStr| match host {
        Some(host) => host.command(program),
        None => Command::new(program),
    };
    let mut c = if is_root() {
        let mut c = command("runuser".as_ref());
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        command(program.as_os_str())
    };
    c.args(args)
        .output()
        .unwrap_or_else(|e| panic!("{} runs: {e}", program.display()))
}

impl Postgres {
    /// Makes a cluster and starts it.
    pub fn start(tag: &str) -> Postgres {
        Self::make(tag, None)
    }

    /// Makes a cluster and starts it on port 5432 of a test bed's `host`.
    pub fn start_on(tag: &str, host: &crate::bed::Host) -> Postgres {
        Self::make(tag, Some(host))
    }

    fn make(tag: &str, host: Option<&crate::bed::Host>) -> Postgres {
        let bin = bin();
        let (address, port) = match host {
            Some(h) => (std::net::IpAddr::from(h.address), 5432),
            None => ([127, 0, 0, 1].into(), crate::free_port()),
        };
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
            None,
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
        if host.is_some() {
            // The bed's hosts connect from their own addresses.
            let hba = data.join("pg_hba.conf");
            let mut rules = std::fs::read_to_string(&hba).expect("pg_hba.conf");
            rules.push_str(&format!(
                "host all all {}.{}.{}.0/24 trust\n",
                crate::bed::NETWORK[0],
                crate::bed::NETWORK[1],
                crate::bed::NETWORK[2]
            ));
            std::fs::write(&hba, rules).expect("pg_hba.conf");
        }
        let options = format!(
            "-c listen_addresses={address} -c port={port} -c unix_socket_directories={} -c fsync=off",
            dir.display()
        );
        let pg = Postgres {
            url: format!("postgres://postgres@{address}:{port}/postgres"),
            port,
            dir,
            bin,
            options,
            address,
            host: host.cloned(),
        };
        pg.start_again();
        pg
    }

    /// Stops the server (`pg_ctl stop -m fast`: sessions are ended, as when an operator stops
    /// it); [`Postgres::start_again`] brings it back with its data.
    pub fn stop(&self) {
        let data = self.dir.join("data").to_string_lossy().into_owned();
        let out = run(
            self.host.as_ref(),
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
            self.host.as_ref(),
            &self.bin.join("pg_ctl"),
            &["-D", &data, "-o", &self.options, "-l", &log, "-w", "start"],
        );
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let address = std::net::SocketAddr::new(self.address, self.port);
        let listening = || {
            crate::wait_until(
                &format!("PostgreSQL to listen on {address}"),
                Duration::from_secs(30),
                || std::net::TcpStream::connect(address).is_ok(),
            )
        };
        match &self.host {
            Some(host) => host.run(listening),
            None => listening(),
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.join("data").to_string_lossy().into_owned();
        let _ = run(
            self.host.as_ref(),
            &self.bin.join("pg_ctl"),
            &["-D", &data, "-m", "immediate", "stop"],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
