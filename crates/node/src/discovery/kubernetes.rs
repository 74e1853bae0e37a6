//! libcluster's `Cluster.Strategy.Kubernetes`: the Kubernetes API lists the pods a label
//! selector picks (through their EndpointSlices, their Endpoints or the pods themselves) and
//! each becomes a node `BASENAME@…`, named as the [`Mode`] says.
//!
//! Configured in-cluster as client-go's `rest.InClusterConfig` is: the API at
//! `https://KUBERNETES_SERVICE_HOST:KUBERNETES_SERVICE_PORT` (an IPv6 host in brackets), the
//! service account's `token`, `ca.crt` and `namespace` files in its directory. Every poll
//! reads them again, so a rotated token (a projected token is replaced about every hour) is
//! the one sent. The server's certificate is always verified against `ca.crt`: there is no
//! insecure fallback, unlike libcluster's `verify_none` when the file is missing.
//!
//! Which endpoints count: the ready ones, as libcluster takes an Endpoints object's
//! `addresses` and not its `notReadyAddresses` (an EndpointSlice endpoint whose
//! `conditions.ready` is not `false`; a pod whose `status.phase` is `Running` and that has a
//! `status.podIP`). A headless Service with `publishNotReadyAddresses: true` (Drip's
//! `drip-headless`) marks every endpoint ready, so selecting its EndpointSlices
//! (`kubernetes.io/service-name=drip-headless`) finds pods still starting too.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::StatusCode;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde::Deserialize;

/// Where the kubelet mounts a pod's service account.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The cluster's DNS domain unless `CLUSTER_DOMAIN` says otherwise (as libcluster).
const CLUSTER_DOMAIN: &str = "cluster.local";

/// How long one poll's request may take (libcluster's `:httpc` timeout).
const TIMEOUT: Duration = Duration::from_secs(15);

/// The largest answer read.
const MAX_BODY: usize = 32 << 20;

/// `kubernetes:`'s settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kubernetes {
    /// The label selector (libcluster's `kubernetes_selector`), as the API takes it.
    pub selector: String,
    /// Each node's name before `@` (`kubernetes_node_basename`).
    pub basename: String,
    /// The namespace listed (`kubernetes_namespace`; default: the service account's).
    pub namespace: Option<String>,
    /// How a node's host part is made.
    pub mode: Mode,
    /// The headless Service of a StatefulSet (`kubernetes_service_name`), for
    /// [`Mode::Hostname`].
    pub service: Option<String>,
    /// What is listed (`kubernetes_ip_lookup_mode`, with EndpointSlices beside it).
    pub lookup: Lookup,
    /// The service-account directory (`kubernetes_service_account_path`).
    pub sa_dir: PathBuf,
}

/// How a node's name is made of what the API lists (libcluster's `:mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `BASENAME@10.0.0.5`.
    Ip,
    /// `BASENAME@10-0-0-5.NAMESPACE.pod.cluster.local` (the pod's A record).
    Dns,
    /// `BASENAME@HOSTNAME.SERVICE.NAMESPACE.svc.cluster.local` (a StatefulSet's pods).
    Hostname,
}

/// What the API is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// `discovery.k8s.io/v1` EndpointSlices (the default: Endpoints are deprecated since
    /// Kubernetes 1.33).
    EndpointSlices,
    /// `v1` Endpoints (libcluster's `:endpoints`).
    Endpoints,
    /// `v1` Pods (libcluster's `:pods`).
    Pods,
}

impl Lookup {
    /// The resource as RBAC names it.
    fn resource(self) -> &'static str {
        match self {
            Lookup::EndpointSlices => "endpointslices.discovery.k8s.io",
            Lookup::Endpoints => "endpoints",
            Lookup::Pods => "pods",
        }
    }

    /// The list's path in `namespace`.
    fn path(self, namespace: &str) -> String {
        match self {
            Lookup::EndpointSlices => {
                format!("/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices")
            }
            Lookup::Endpoints => format!("/api/v1/namespaces/{namespace}/endpoints"),
            Lookup::Pods => format!("/api/v1/namespaces/{namespace}/pods"),
        }
    }
}

/// What a node's name is made of, besides what the API lists.
#[derive(Clone, Debug)]
pub(super) struct Naming<'a> {
    pub(super) basename: &'a str,
    pub(super) mode: Mode,
    pub(super) service: Option<&'a str>,
    /// The namespace asked, for entries that do not say theirs.
    pub(super) namespace: &'a str,
    pub(super) cluster_domain: &'a str,
}

/// The nodes the API lists now.
pub(super) async fn poll(k: &Kubernetes) -> Result<Vec<String>, String> {
    let (host, port) = match (
        std::env::var("KUBERNETES_SERVICE_HOST"),
        std::env::var("KUBERNETES_SERVICE_PORT"),
    ) {
        (Ok(h), Ok(p)) if !h.is_empty() && !p.is_empty() => (h, p),
        _ => {
            return Err("not in a Kubernetes pod: KUBERNETES_SERVICE_HOST and \
                        KUBERNETES_SERVICE_PORT are not set"
                .to_owned())
        }
    };
    let port: u16 = port
        .parse()
        .map_err(|_| format!("KUBERNETES_SERVICE_PORT={port:?} is not a port"))?;
    let token = read(&k.sa_dir.join("token"))?.trim().to_owned();
    let namespace = match &k.namespace {
        Some(ns) => ns.clone(),
        None => read(&k.sa_dir.join("namespace"))?.trim().to_owned(),
    };
    let tls = tls_config(&k.sa_dir.join("ca.crt"))?;
    let query: String = percent_encoding::utf8_percent_encode(&k.selector, QUERY_VALUE).to_string();
    let path = format!("{}?labelSelector={query}", k.lookup.path(&namespace));
    let request = get(&host, port, &path, &token, tls);
    let (status, body) = tokio::time::timeout(TIMEOUT, request).await.map_err(|_| {
        format!(
            "the Kubernetes API at {} had no answer within 15 s",
            authority(&host, port)
        )
    })??;
    match status {
        StatusCode::OK => {}
        StatusCode::UNAUTHORIZED => {
            return Err(format!(
                "the Kubernetes API refused the token in {} (401 Unauthorized: {})",
                k.sa_dir.join("token").display(),
                status_message(&body)
            ))
        }
        StatusCode::FORBIDDEN => {
            return Err(format!(
                "the Kubernetes API answered 403 Forbidden ({}): grant get/list on {} in \
                 namespace {namespace} to this pod's service account (a Role and a RoleBinding)",
                status_message(&body),
                k.lookup.resource(),
            ))
        }
        other => {
            return Err(format!(
                "the Kubernetes API answered {other} to {path}: {}",
                status_message(&body)
            ))
        }
    }
    let cluster_domain =
        std::env::var("CLUSTER_DOMAIN").unwrap_or_else(|_| CLUSTER_DOMAIN.to_owned());
    let naming = Naming {
        basename: &k.basename,
        mode: k.mode,
        service: k.service.as_deref(),
        namespace: &namespace,
        cluster_domain: &cluster_domain,
    };
    node_names(k.lookup, &naming, &body)
}

/// What is left as it is in a query's value: RFC 3986's unreserved characters.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// `host:port`, an IPv6 host in brackets (as Go's `net.JoinHostPort`).
fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// TLS that trusts `ca.crt`'s certificates and nothing else.
fn tls_config(ca: &Path) -> Result<Arc<rustls::ClientConfig>, String> {
    let file_err = |e: &dyn std::fmt::Display| format!("{}: {e}", ca.display());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).map_err(|e| file_err(&e))? {
        roots
            .add(cert.map_err(|e| file_err(&e))?)
            .map_err(|e| file_err(&e))?;
    }
    if roots.is_empty() {
        return Err(file_err(&"no certificate in it"));
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// `GET path` over TLS with the bearer token: the status and the body.
async fn get(
    host: &str,
    port: u16,
    path: &str,
    token: &str,
    tls: Arc<rustls::ClientConfig>,
) -> Result<(StatusCode, Bytes), String> {
    let at = authority(host, port);
    let tcp = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("the Kubernetes API at {at}: {e}"))?;
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| format!("KUBERNETES_SERVICE_HOST={host:?}: {e}"))?;
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS with the Kubernetes API at {at} failed (its certificate is checked against ca.crt, nothing else): {e}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("the Kubernetes API at {at}: {e}"))?;
    let driver = tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, &at)
        .header(hyper::header::AUTHORIZATION, format!("Bearer {token}"))
        .header(hyper::header::ACCEPT, "application/json")
        .header(hyper::header::USER_AGENT, "rotp")
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let answer = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("the Kubernetes API at {at}: {e}"))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| format!("the Kubernetes API at {at}: {e}"))?
            .to_bytes();
        Ok((status, body))
    }
    .await;
    driver.abort();
    answer
}

/// A `Status` object's message (the API's answer to a failed request), or the body itself.
fn status_message(body: &[u8]) -> String {
    match serde_json::from_slice::<Status>(body) {
        Ok(Status {
            message: Some(m), ..
        }) => m,
        _ => String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
    }
}

/// The node names in an answer to `lookup`.
pub(super) fn node_names(
    lookup: Lookup,
    naming: &Naming<'_>,
    body: &[u8],
) -> Result<Vec<String>, String> {
    let bad = |e: serde_json::Error| format!("the Kubernetes API's answer does not read: {e}");
    let targets: Vec<Target> = match lookup {
        Lookup::EndpointSlices => {
            let list: List<EndpointSlice> = serde_json::from_slice(body).map_err(bad)?;
            list.items
                .unwrap_or_default()
                .into_iter()
                // FQDN slices name no address: nothing to connect to by IP.
                .filter(|s| s.address_type == "IPv4" || s.address_type == "IPv6")
                .flat_map(|s| {
                    let namespace = s.metadata.namespace;
                    s.endpoints
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) != Some(false))
                        .filter_map(move |e| {
                            Some(Target {
                                // The first address: "no semantics are defined for
                                // additional addresses beyond the first".
                                ip: e.addresses.into_iter().next()?,
                                namespace: e
                                    .target_ref
                                    .and_then(|r| r.namespace)
                                    .or_else(|| namespace.clone()),
                                hostname: e.hostname,
                            })
                        })
                })
                .collect()
        }
        Lookup::Endpoints => {
            let list: List<Endpoints> = serde_json::from_slice(body).map_err(bad)?;
            list.items
                .unwrap_or_default()
                .into_iter()
                .flat_map(|e| {
                    let namespace = e.metadata.namespace;
                    e.subsets
                        .unwrap_or_default()
                        .into_iter()
                        .flat_map(|s| s.addresses.unwrap_or_default())
                        .map(move |a| Target {
                            ip: a.ip,
                            namespace: a
                                .target_ref
                                .and_then(|r| r.namespace)
                                .or_else(|| namespace.clone()),
                            hostname: a.hostname,
                        })
                })
                .collect()
        }
        Lookup::Pods => {
            let list: List<Pod> = serde_json::from_slice(body).map_err(bad)?;
            list.items
                .unwrap_or_default()
                .into_iter()
                .filter_map(|p| {
                    let status = p.status?;
                    if status.phase.as_deref() != Some("Running") {
                        return None;
                    }
                    Some(Target {
                        ip: status.pod_ip.filter(|ip| !ip.is_empty())?,
                        namespace: p.metadata.namespace,
                        hostname: p.spec.and_then(|s| s.hostname),
                    })
                })
                .collect()
        }
    };
    Ok(targets
        .into_iter()
        .filter_map(|t| t.node_name(naming))
        .collect())
}

/// One pod as an answer lists it.
struct Target {
    ip: String,
    namespace: Option<String>,
    hostname: Option<String>,
}

impl Target {
    /// Its node's name; `None` when the answer lacks what the mode needs (an address that is
    /// not one, no hostname).
    fn node_name(self, naming: &Naming<'_>) -> Option<String> {
        let ip: IpAddr = self.ip.parse().ok()?;
        let namespace = self.namespace.as_deref().unwrap_or(naming.namespace);
        let (basename, domain) = (naming.basename, naming.cluster_domain);
        Some(match naming.mode {
            Mode::Ip => format!("{basename}@{ip}"),
            Mode::Dns => {
                let record = ip.to_string().replace(['.', ':'], "-");
                format!("{basename}@{record}.{namespace}.pod.{domain}")
            }
            Mode::Hostname => {
                let hostname = self.hostname.filter(|h| !h.is_empty())?;
                let service = naming.service?;
                format!("{basename}@{hostname}.{service}.{namespace}.svc.{domain}")
            }
        })
    }
}

// The parts of the API's objects that discovery reads, named as the API reference names
// them (`discovery.k8s.io/v1` EndpointSlice, `v1` Endpoints, Pod and Status).

#[derive(Deserialize)]
struct List<T> {
    items: Option<Vec<T>>,
}

#[derive(Deserialize, Default)]
struct ObjectMeta {
    namespace: Option<String>,
}

#[derive(Deserialize)]
struct ObjectReference {
    namespace: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EndpointSlice {
    #[serde(default)]
    metadata: ObjectMeta,
    address_type: String,
    endpoints: Option<Vec<Endpoint>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Endpoint {
    addresses: Vec<String>,
    conditions: Option<EndpointConditions>,
    hostname: Option<String>,
    target_ref: Option<ObjectReference>,
}

#[derive(Deserialize)]
struct EndpointConditions {
    ready: Option<bool>,
}

#[derive(Deserialize)]
struct Endpoints {
    #[serde(default)]
    metadata: ObjectMeta,
    subsets: Option<Vec<EndpointSubset>>,
}

#[derive(Deserialize)]
struct EndpointSubset {
    /// The ready addresses (`notReadyAddresses` are not read).
    addresses: Option<Vec<EndpointAddress>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EndpointAddress {
    ip: String,
    hostname: Option<String>,
    target_ref: Option<ObjectReference>,
}

#[derive(Deserialize)]
struct Pod {
    #[serde(default)]
    metadata: ObjectMeta,
    spec: Option<PodSpec>,
    status: Option<PodStatus>,
}

#[derive(Deserialize)]
struct PodSpec {
    hostname: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodStatus {
    phase: Option<String>,
    #[serde(rename = "podIP")]
    pod_ip: Option<String>,
}

#[derive(Deserialize)]
struct Status {
    message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naming(mode: Mode) -> Naming<'static> {
        Naming {
            basename: "drip",
            mode,
            service: Some("drip-headless"),
            namespace: "asked",
            cluster_domain: "cluster.local",
        }
    }

    /// An EndpointSliceList as `kubectl get --raw` shows one: a ready endpoint, a not-ready
    /// one, one whose `ready` is absent (read as true), an IPv6 slice and an FQDN slice.
    const SLICES: &str = r#"{
      "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSliceList",
      "metadata": {"resourceVersion": "4711"},
      "items": [
        {"metadata": {"name": "drip-headless-x7k2p", "namespace": "prod",
                      "labels": {"kubernetes.io/service-name": "drip-headless"}},
         "addressType": "IPv4",
         "endpoints": [
           {"addresses": ["10.0.0.5"], "conditions": {"ready": true}, "hostname": "drip-0",
            "targetRef": {"kind": "Pod", "namespace": "prod", "name": "drip-0"}},
           {"addresses": ["10.0.0.6"], "conditions": {"ready": false},
            "targetRef": {"kind": "Pod", "namespace": "prod", "name": "drip-1"}},
           {"addresses": ["10.0.0.7"], "conditions": {}}
         ],
         "ports": [{"name": "epmd", "port": 4369, "protocol": "TCP"}]},
        {"metadata": {"name": "drip-headless-v6", "namespace": "prod"},
         "addressType": "IPv6", "endpoints": [{"addresses": ["fd00::5"]}]},
        {"metadata": {"name": "external", "namespace": "prod"},
         "addressType": "FQDN", "endpoints": [{"addresses": ["db.example.com"]}]},
        {"metadata": {"name": "empty", "namespace": "prod"},
         "addressType": "IPv4", "endpoints": null}
      ]
    }"#;

    const ENDPOINTS: &str = r#"{
      "apiVersion": "v1", "kind": "EndpointsList", "metadata": {"resourceVersion": "4711"},
      "items": [
        {"metadata": {"name": "drip-headless", "namespace": "prod"},
         "subsets": [
           {"addresses": [
              {"ip": "10.0.0.5", "hostname": "drip-0", "nodeName": "n1",
               "targetRef": {"kind": "Pod", "namespace": "prod", "name": "drip-0"}}],
            "notReadyAddresses": [
              {"ip": "10.0.0.6", "targetRef": {"kind": "Pod", "namespace": "prod", "name": "drip-1"}}],
            "ports": [{"name": "epmd", "port": 4369, "protocol": "TCP"}]}
         ]},
        {"metadata": {"name": "no-subsets", "namespace": "prod"}}
      ]
    }"#;

    const PODS: &str = r#"{
      "apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "4711"},
      "items": [
        {"metadata": {"name": "drip-0", "namespace": "prod", "labels": {"app": "drip"}},
         "spec": {"hostname": "drip-0", "subdomain": "drip-headless", "containers": []},
         "status": {"phase": "Running", "podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}]}},
        {"metadata": {"name": "drip-1", "namespace": "prod"},
         "spec": {"containers": []}, "status": {"phase": "Pending"}},
        {"metadata": {"name": "drip-2", "namespace": "prod"},
         "spec": {"containers": []}, "status": {"phase": "Succeeded", "podIP": "10.0.0.9"}},
        {"metadata": {"name": "drip-3", "namespace": "prod"},
         "spec": {"containers": []}, "status": {"phase": "Running", "podIP": "10.0.0.8"}}
      ]
    }"#;

    #[test]
    fn endpoint_slices_name_their_ready_endpoints() {
        let names = |mode| node_names(Lookup::EndpointSlices, &naming(mode), SLICES.as_bytes());
        assert_eq!(
            names(Mode::Ip),
            Ok(vec![
                "drip@10.0.0.5".to_owned(),
                "drip@10.0.0.7".to_owned(),
                "drip@fd00::5".to_owned()
            ])
        );
        assert_eq!(
            names(Mode::Dns),
            Ok(vec![
                "drip@10-0-0-5.prod.pod.cluster.local".to_owned(),
                "drip@10-0-0-7.prod.pod.cluster.local".to_owned(),
                "drip@fd00--5.prod.pod.cluster.local".to_owned()
            ])
        );
        assert_eq!(
            names(Mode::Hostname),
            Ok(vec![
                "drip@drip-0.drip-headless.prod.svc.cluster.local".to_owned()
            ])
        );
    }

    #[test]
    fn endpoints_name_their_ready_addresses() {
        let names = |mode| node_names(Lookup::Endpoints, &naming(mode), ENDPOINTS.as_bytes());
        assert_eq!(names(Mode::Ip), Ok(vec!["drip@10.0.0.5".to_owned()]));
        assert_eq!(
            names(Mode::Dns),
            Ok(vec!["drip@10-0-0-5.prod.pod.cluster.local".to_owned()])
        );
        assert_eq!(
            names(Mode::Hostname),
            Ok(vec![
                "drip@drip-0.drip-headless.prod.svc.cluster.local".to_owned()
            ])
        );
    }

    #[test]
    fn pods_name_the_running_ones_with_an_address() {
        let names = |mode| node_names(Lookup::Pods, &naming(mode), PODS.as_bytes());
        assert_eq!(
            names(Mode::Ip),
            Ok(vec!["drip@10.0.0.5".to_owned(), "drip@10.0.0.8".to_owned()])
        );
        assert_eq!(
            names(Mode::Hostname),
            Ok(vec![
                "drip@drip-0.drip-headless.prod.svc.cluster.local".to_owned()
            ])
        );
    }

    #[test]
    fn an_entry_without_a_namespace_takes_the_one_asked() {
        let body = r#"{"kind": "EndpointSliceList", "items": [
            {"addressType": "IPv4", "endpoints": [{"addresses": ["10.1.2.3"]}]}]}"#;
        assert_eq!(
            node_names(Lookup::EndpointSlices, &naming(Mode::Dns), body.as_bytes()),
            Ok(vec!["drip@10-1-2-3.asked.pod.cluster.local".to_owned()])
        );
    }

    #[test]
    fn an_answer_that_is_not_a_list_is_an_error_and_an_empty_one_no_nodes() {
        for lookup in [Lookup::EndpointSlices, Lookup::Endpoints, Lookup::Pods] {
            let e = node_names(lookup, &naming(Mode::Ip), b"<html>").expect_err("html");
            assert!(e.contains("does not read"), "{e}");
            let empty = r#"{"kind": "List", "metadata": {}, "items": []}"#;
            assert_eq!(
                node_names(lookup, &naming(Mode::Ip), empty.as_bytes()),
                Ok(vec![])
            );
            assert_eq!(
                node_names(lookup, &naming(Mode::Ip), br#"{"items": null}"#),
                Ok(vec![])
            );
        }
    }

    #[test]
    fn a_status_reads_as_its_message() {
        let forbidden = r#"{"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": "pods is forbidden: User \"system:serviceaccount:prod:drip\" cannot list resource \"pods\" in API group \"\" in the namespace \"prod\"",
            "reason": "Forbidden", "details": {"kind": "pods"}, "code": 403}"#;
        assert!(status_message(forbidden.as_bytes()).starts_with("pods is forbidden: User"));
        assert_eq!(status_message(b"plain"), "plain");
    }

    #[test]
    fn the_selector_is_encoded_as_a_query_value() {
        let q = percent_encoding::utf8_percent_encode(
            "app.kubernetes.io/name=drip,tier!=web",
            QUERY_VALUE,
        )
        .to_string();
        assert_eq!(q, "app.kubernetes.io%2Fname%3Ddrip%2Ctier%21%3Dweb");
        assert_eq!(authority("fd00::1", 443), "[fd00::1]:443");
        assert_eq!(authority("10.96.0.1", 443), "10.96.0.1:443");
    }
}
