//! Certificates for TLS distribution tests and benchmarks, made with rcgen: an authority, a
//! node certificate it signs (for this host's short name, `localhost` and 127.0.0.1), an
//! intruder's self-signed one, and `ssl_dist_optfile` files for each, asking for mutual
//! verification.

use std::path::PathBuf;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

/// PEM files and option files in a temporary directory, removed on drop.
pub struct TestPki {
    dir: PathBuf,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
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
        TestPki { dir, ca, ca_key }
    }

    /// A certificate for `names` (host names and IP addresses) signed by the CA, written to
    /// `dir` as cert-manager writes a Certificate's Secret: `tls.crt`, `tls.key`, `ca.crt`.
    pub fn secret(&self, dir: &std::path::Path, names: &[String]) {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(names.to_vec()).expect("params");
        // An address is an IP SAN (what rustls checks) and a DNS SAN too (erl's hostname
        // check compares the host part of the node name as a name).
        for name in names {
            if name.parse::<std::net::IpAddr>().is_ok() {
                if let Ok(dns) = name.clone().try_into() {
                    params.subject_alt_names.push(rcgen::SanType::DnsName(dns));
                }
            }
        }
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().map_or("node", |n| n.as_str()),
        );
        let cert = params
            .signed_by(&key, &self.ca, &self.ca_key)
            .expect("a host's certificate");
        std::fs::create_dir_all(dir).expect("the secret's directory");
        let write = |name: &str, text: String| std::fs::write(dir.join(name), text).expect("write");
        write("tls.crt", cert.pem());
        write("tls.key", key.serialize_pem());
        write("ca.crt", self.ca.pem());
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
