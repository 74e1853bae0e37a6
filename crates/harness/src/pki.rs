//! Certificates for TLS distribution tests and benchmarks, made with rcgen: an authority, a
//! node certificate it signs (for this host's short name, `localhost` and 127.0.0.1), an
//! intruder's self-signed one, and `ssl_dist_optfile` files for each, asking for mutual
//! verification.

use std::path::PathBuf;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

/// PEM files and option files in a temporary directory, removed on drop.
pub struct TestPki {
    dir: PathBuf,
}

impl TestPki {
    /// Makes the certificates under a fresh directory named after `tag`.
    pub fn new(tag: &str) -> TestPki {
        let dir = std::env::temp_dir().join(format!("rotp-tls-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let ca_key = KeyPair::generate().expect("key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // Distinct names: a certificate whose subject is its issuer's looks self-signed to ssl.
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "rotp test CA");
        let ca = ca_params.self_signed(&ca_key).expect("CA");
        let names = vec![
            crate::short_host(),
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ];
        let node_key = KeyPair::generate().expect("key");
        let mut node_params = CertificateParams::new(names.clone()).expect("params");
        node_params
            .distinguished_name
            .push(DnType::CommonName, "rotp test node");
        let node = node_params
            .signed_by(&node_key, &ca, &ca_key)
            .expect("node certificate");
        let intruder_key = KeyPair::generate().expect("key");
        let mut intruder_params = CertificateParams::new(names).expect("params");
        intruder_params
            .distinguished_name
            .push(DnType::CommonName, "intruder");
        let intruder = intruder_params
            .self_signed(&intruder_key)
            .expect("intruder certificate");
        let write = |name: &str, text: String| std::fs::write(dir.join(name), text).expect("write");
        write("ca.pem", ca.pem());
        write("node.pem", node.pem());
        write("node.key", node_key.serialize_pem());
        write("intruder.pem", intruder.pem());
        write("intruder.key", intruder_key.serialize_pem());
        for who in ["node", "intruder"] {
            let p = |f: &str| dir.join(f).display().to_string();
            let (cert, key, ca) = (
                p(&format!("{who}.pem")),
                p(&format!("{who}.key")),
                p("ca.pem"),
            );
            let side = |extra: &str| {
                format!(
                    "[{{certfile, \"{cert}\"}}, {{keyfile, \"{key}\"}}, {{cacertfile, \"{ca}\"}}, \
                     {{verify, verify_peer}}{extra}]"
                )
            };
            let opts = format!(
                "[{{server, {}}}, {{client, {}}}].",
                side(", {fail_if_no_peer_cert, true}"),
                side("")
            );
            write(&format!("{who}.opts"), opts);
        }
        TestPki { dir }
    }

    /// The `ssl_dist_optfile` for `"node"` (signed by the CA) or `"intruder"` (self-signed).
    pub fn optfile(&self, who: &str) -> PathBuf {
        self.dir.join(format!("{who}.opts"))
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
