//! Drip's image, run as a container runtime would run it, without one: `deploy/build-image`
//! wraps this build's binary (the release image is the same recipe around the release binary),
//! the OCI archive is inspected with `skopeo`, unpacked again from the archive with `umoci`,
//! and its root file system alone is run in fresh mount and PID namespaces on a test-bed host
//! of its own network namespace, as the user and with the environment the image's config says:
//! it resolves the database's host name through a real DNS server, connects to PostgreSQL on
//! another host and answers `/health/ready`. Needs root, umoci, skopeo and binutils.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use harness::dnsmasq::Record;
use support::bed::Cluster;

fn run(c: &mut Command) -> String {
    let out = c.output().unwrap_or_else(|e| panic!("{c:?}: {e}"));
    assert!(
        out.status.success(),
        "{c:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The image's archive, built around this test's drip, under `dir`.
fn build_image(dir: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    run(Command::new("timeout")
        .arg("600")
        .arg(root.join("deploy/build-image"))
        .args(["--binary", env!("CARGO_BIN_EXE_drip"), "--out"])
        .arg(dir)
        .current_dir(&root));
    dir.join("drip.tar")
}

#[test]
fn the_image_alone_runs_drip_against_postgresql_found_by_dns() {
    let cluster = Cluster::new("image");
    let dir = cluster.scratch.join("oci");
    let archive = build_image(&dir);
    // What the image says about itself, as `docker inspect` would.
    let config: serde_json::Value = serde_json::from_str(&run(Command::new("skopeo")
        .args(["inspect", "--config"])
        .arg(format!("oci-archive:{}", archive.display()))))
    .expect("the image's config");
    let config = &config["config"];
    assert_eq!(config["User"], "10001:10001", "{config}");
    assert_eq!(config["Entrypoint"][0], "/usr/local/bin/drip", "{config}");
    let env: Vec<String> = config["Env"]
        .as_array()
        .expect("Env")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let size = std::fs::metadata(&archive).expect("the archive").len();
    eprintln!(
        "the image's archive: {} MiB (layers gzip-compressed)",
        size >> 20
    );

    // Its root file system, unpacked from the archive alone (not the build's own tree).
    let layout = dir.join("again");
    run(Command::new("skopeo")
        .args(["copy", "--quiet"])
        .arg(format!("oci-archive:{}", archive.display()))
        .arg(format!("oci:{}:drip", layout.display())));
    let bundle = dir.join("bundle-again");
    run(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:drip", layout.display()))
        .arg(&bundle));
    let rootfs = bundle.join("rootfs");
    assert!(
        !rootfs.join("bin/sh").exists() && !rootfs.join("usr/bin/sh").exists(),
        "no shell in the image"
    );

    // The database on the store host, found by name through DNS.
    let _dns = cluster.dns(
        &[Record::host("db.drip.test", cluster.store.address)],
        "db.drip.test",
    );
    // What the kubelet lays into a container: /etc/resolv.conf.
    let host = cluster.host("pod");
    std::fs::copy(
        format!("/etc/netns/{}/resolv.conf", host.netns),
        rootfs.join("etc/resolv.conf"),
    )
    .expect("resolv.conf into the container");
    let database = cluster
        .pg
        .url
        .replace(&cluster.store.address.to_string(), "db.drip.test");
    let log = cluster.scratch.join("container.log");
    let mut container = host.command("/usr/bin/unshare");
    container
        .args(["--mount", "--pid", "--fork"])
        .arg(format!("--mount-proc={}", rootfs.join("proc").display()))
        .arg("/usr/sbin/chroot")
        .args([
            "--userspec",
            config["User"].as_str().unwrap_or("10001:10001"),
        ])
        .arg(&rootfs)
        .args(["/usr/local/bin/drip", "start"])
        .env_clear()
        .envs(env.iter().filter_map(|e| e.split_once('=')))
        .env("DRIP_DATABASE", &database)
        .env("RELEASE_DISTRIBUTION", "name")
        .env("RELEASE_NODE", format!("drip@{}", host.address))
        .env("RELEASE_COOKIE", "image-cookie")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("the container's log"));
    let mut container = harness::Guard(container.spawn().expect("the container starts"));
    let ready = std::net::SocketAddr::from((host.address, 4000));
    cluster.client.run(|| {
        harness::wait_until(
            "the container to answer /health/ready",
            Duration::from_secs(60),
            || {
                if let Ok(Some(status)) = container.0.try_wait() {
                    panic!(
                        "the container exited ({status}): {}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                }
                std::net::TcpStream::connect(ready).is_ok()
                    && harness::http::request_at(ready, "GET", "/health/ready", &[], b"")
                        .0
                        .contains("200")
            },
        )
    });
    // It really uses the database it found by name: its schema is there.
    let (status, _, body) = cluster.client.run(|| {
        harness::http::request_at(
            ready,
            "POST",
            "/api/users",
            &[("Content-Type", "application/json")],
            br#"{"username":"imogen","password":"password-imogen","email":"i@example.com"}"#,
        )
    });
    assert!(
        status.contains("201"),
        "{status} {}",
        String::from_utf8_lossy(&body)
    );
}
