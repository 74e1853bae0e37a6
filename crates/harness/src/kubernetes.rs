//! A Kubernetes API stand-in for discovery tests: HTTPS with its own authority (made with
//! rcgen, as [`crate::pki`]), a bearer token it requires, and the three lists a discovery
//! strategy reads, shaped as the Kubernetes API reference documents them:
//!
//! - `GET /apis/discovery.k8s.io/v1/namespaces/N/endpointslices?labelSelector=…` — an
//!   `EndpointSliceList`;
//! - `GET /api/v1/namespaces/N/endpoints?labelSelector=…` — an `EndpointsList`;
//! - `GET /api/v1/namespaces/N/pods?labelSelector=…` — a `PodList`.
//!
//! Its state is a set of [`Pod`]s the test adds and removes while it runs. Pods with the same
//! namespace and labels stand for one Service's backends: one EndpointSlice and one Endpoints
//! object each, labelled as the pods are plus `kubernetes.io/service-name`, a ready pod's
//! endpoint `ready`, a not-ready one's `ready: false` (in Endpoints, under
//! `notReadyAddresses`). A label selector (equality-based: `k=v`, `k==v`, `k!=v`, `k`, `!k`)
//! filters the EndpointSlices and Endpoints by their labels and the pods by theirs.
//!
//! Without the token it answers 401 and a `Status` (reason `Unauthorized`); after
//! [`ApiServer::forbid`] it answers every list with 403 and a `Status` (reason `Forbidden`)
//! worded as the API server words it. It serves on a listener the caller binds (any address,
//! so it runs inside a network namespace too), on a thread of its own with its own tokio
//! runtime, until dropped.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{json, Value};

/// A pod as the stand-in lists it.
#[derive(Clone, Debug)]
pub struct Pod {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.labels`.
    pub labels: Vec<(String, String)>,
    /// `status.podIP` (and its one `status.podIPs` entry).
    pub ip: IpAddr,
    /// `spec.hostname` (a StatefulSet's pods have one).
    pub hostname: Option<String>,
    /// `status.phase` (`Running`, `Pending`, …).
    pub phase: String,
    /// Whether its readiness probe passes (its endpoint's `ready` condition).
    pub ready: bool,
}

impl Pod {
    /// A running, ready pod `name` in `namespace` at `ip`, labelled `labels` (`k=v,k=v`).
    pub fn running(name: &str, namespace: &str, labels: &str, ip: IpAddr) -> Pod {
        Pod {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            labels: labels
                .split(',')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .collect(),
            ip,
            hostname: None,
            phase: "Running".to_owned(),
            ready: true,
        }
    }
}

#[derive(Default)]
struct State {
    pods: Vec<Pod>,
    token: String,
    forbidden: bool,
    resource_version: u64,
    /// Requests answered 200, by resource.
    served: BTreeMap<&'static str, u64>,
    /// Requests answered 200, by the token they showed.
    served_with: BTreeMap<String, u64>,
    /// Requests refused for their token.
    unauthorized: u64,
}

/// A running stand-in; it stops when dropped.
pub struct ApiServer {
    address: SocketAddr,
    ca_pem: String,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ApiServer {
    /// Serves on `listener` (bound by the caller to the address the nodes reach: 127.0.0.1:0,
    /// or an address inside a network namespace), requiring `token`. Its certificate names
    /// the listener's IP address, `kubernetes.default.svc` and `localhost`.
    pub fn start(listener: TcpListener, token: &str) -> ApiServer {
        ApiServer::start_with_names(listener, token, &[])
    }

    /// [`ApiServer::start`] with more names (host names or addresses) in its certificate,
    /// for a listener on a wildcard address or clients that reach it by another name.
    pub fn start_with_names(listener: TcpListener, token: &str, names: &[&str]) -> ApiServer {
        let address = listener.local_addr().expect("the listener's address");
        let (ca_pem, server_config) = certificates(address.ip(), names);
        let state = Arc::new(Mutex::new(State {
            token: token.to_owned(),
            resource_version: 1000,
            ..State::default()
        }));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        listener.set_nonblocking(true).expect("nonblocking");
        let shared = state.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the API stand-in");
            runtime.block_on(serve(listener, server_config, shared, stopped));
        });
        ApiServer {
            address,
            ca_pem,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The environment a pod's containers get for the API: `KUBERNETES_SERVICE_HOST` (the
    /// listener's address) and `KUBERNETES_SERVICE_PORT`.
    pub fn env(&self) -> [(&'static str, String); 2] {
        [
            ("KUBERNETES_SERVICE_HOST", self.address.ip().to_string()),
            ("KUBERNETES_SERVICE_PORT", self.address.port().to_string()),
        ]
    }

    /// Its authority's certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Writes a service-account directory as the kubelet mounts one: `token`, `ca.crt` and
    /// `namespace`.
    pub fn write_service_account(&self, dir: &Path, namespace: &str) {
        std::fs::create_dir_all(dir).expect("the service-account directory");
        let token = self.lock().token.clone();
        std::fs::write(dir.join("token"), token).expect("token written");
        std::fs::write(dir.join("ca.crt"), &self.ca_pem).expect("ca.crt written");
        std::fs::write(dir.join("namespace"), namespace).expect("namespace written");
    }

    /// From now on requires `token` (the old one gets 401), as when a projected token rotates.
    pub fn set_token(&self, token: &str) {
        self.lock().token = token.to_owned();
    }

    /// Answers every list with 403 Forbidden (`true`) or serves again (`false`).
    pub fn forbid(&self, forbidden: bool) {
        self.lock().forbidden = forbidden;
    }

    /// Adds `pod` (or replaces the one of that name and namespace).
    pub fn add_pod(&self, pod: Pod) {
        let mut state = self.lock();
        state
            .pods
            .retain(|p| !(p.name == pod.name && p.namespace == pod.namespace));
        state.pods.push(pod);
        state.resource_version += 1;
    }

    /// Removes the pod `name` from `namespace`.
    pub fn remove_pod(&self, namespace: &str, name: &str) {
        let mut state = self.lock();
        state
            .pods
            .retain(|p| !(p.name == name && p.namespace == namespace));
        state.resource_version += 1;
    }

    /// How many lists of `resource` (`endpointslices`, `endpoints`, `pods`) it has served.
    pub fn served(&self, resource: &str) -> u64 {
        self.lock().served.get(resource).copied().unwrap_or(0)
    }

    /// How many lists it has served to requests showing `token`.
    pub fn served_with(&self, token: &str) -> u64 {
        self.lock().served_with.get(token).copied().unwrap_or(0)
    }

    /// How many requests it refused for a missing or wrong token.
    pub fn unauthorized(&self) -> u64 {
        self.lock().unauthorized
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// An authority and a server certificate it signs for `ip`, the API's in-cluster name and
/// `more`.
fn certificates(ip: IpAddr, more: &[&str]) -> (String, Arc<rustls::ServerConfig>) {
    let ca_key = KeyPair::generate().expect("key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "kubernetes stand-in CA");
    let ca = ca_params.self_signed(&ca_key).expect("CA");
    let mut names = vec![
        ip.to_string(),
        "kubernetes.default.svc".to_owned(),
        "localhost".to_owned(),
    ];
    names.extend(more.iter().map(|n| (*n).to_owned()));
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(names).expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    let cert = params.signed_by(&key, &ca, &ca_key).expect("certificate");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(cert.der().to_vec())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
    .expect("server config");
    (ca.pem(), Arc::new(config))
}

async fn serve(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    state: Arc<Mutex<State>>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    loop {
        let stream = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let acceptor = acceptor.clone();
        let state = state.clone();
        tokio::spawn(async move {
            // A client that does not trust the authority ends here, as it should.
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let service = hyper::service::service_fn(move |request| {
                let answer = answer(&state, &request);
                async move { Ok::<_, std::convert::Infallible>(answer) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .await;
        });
    }
}

/// A JSON response.
fn respond(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

/// A `Status` object, as the API server sends with every error.
fn status(code: StatusCode, reason: &str, message: &str, details: Option<Value>) -> Value {
    let mut status = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code.as_u16(),
    });
    if let Some(details) = details {
        status["details"] = details;
    }
    status
}

fn answer<B>(state: &Mutex<State>, request: &Request<B>) -> Response<Full<Bytes>> {
    let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
    let expected = format!("Bearer {}", state.token);
    let authorized = request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes() == expected.as_bytes());
    if !authorized {
        state.unauthorized += 1;
        return respond(
            StatusCode::UNAUTHORIZED,
            &status(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "Unauthorized",
                None,
            ),
        );
    }
    let path = request.uri().path();
    let route = if let Some(rest) = path.strip_prefix("/apis/discovery.k8s.io/v1/namespaces/") {
        rest.strip_suffix("/endpointslices")
            .map(|ns| ("endpointslices", "discovery.k8s.io", ns))
    } else if let Some(rest) = path.strip_prefix("/api/v1/namespaces/") {
        rest.strip_suffix("/endpoints")
            .map(|ns| ("endpoints", "", ns))
            .or_else(|| rest.strip_suffix("/pods").map(|ns| ("pods", "", ns)))
    } else {
        None
    };
    let Some((resource, group, namespace)) = route.filter(|(_, _, ns)| !ns.contains('/')) else {
        return respond(
            StatusCode::NOT_FOUND,
            &status(
                StatusCode::NOT_FOUND,
                "NotFound",
                "the server could not find the requested resource",
                None,
            ),
        );
    };
    if state.forbidden {
        let qualified = if group.is_empty() {
            format!("{resource} is forbidden")
        } else {
            format!("{resource}.{group} is forbidden")
        };
        let message = format!(
            "{qualified}: User \"system:serviceaccount:{namespace}:default\" cannot list resource \
             \"{resource}\" in API group \"{group}\" in the namespace \"{namespace}\""
        );
        return respond(
            StatusCode::FORBIDDEN,
            &status(
                StatusCode::FORBIDDEN,
                "Forbidden",
                &message,
                Some(json!({"group": group, "kind": resource})),
            ),
        );
    }
    let query = request.uri().query().unwrap_or("");
    let selector = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "labelSelector")
        .map(|(_, v)| percent_decode(v))
        .unwrap_or_default();
    let Some(selector) = Selector::parse(&selector) else {
        return respond(
            StatusCode::BAD_REQUEST,
            &status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("unable to parse requirement: {selector:?}"),
                None,
            ),
        );
    };
    let pods: Vec<&Pod> = state
        .pods
        .iter()
        .filter(|p| p.namespace == namespace)
        .collect();
    let items = match resource {
        "endpointslices" => services(&pods)
            .into_iter()
            .filter(|(labels, _)| selector.matches(labels))
            .map(|(labels, pods)| endpoint_slice(namespace, &labels, &pods))
            .collect(),
        "endpoints" => services(&pods)
            .into_iter()
            .filter(|(labels, _)| selector.matches(labels))
            .map(|(labels, pods)| endpoints(namespace, &labels, &pods))
            .collect(),
        _ => pods
            .iter()
            .filter(|p| selector.matches(&service_labels(p)))
            .map(|p| pod(p))
            .collect::<Vec<_>>(),
    };
    let (api_version, kind) = match resource {
        "endpointslices" => ("discovery.k8s.io/v1", "EndpointSliceList"),
        "endpoints" => ("v1", "EndpointsList"),
        _ => ("v1", "PodList"),
    };
    *state.served.entry(resource).or_default() += 1;
    let token = state.token.clone();
    *state.served_with.entry(token).or_default() += 1;
    respond(
        StatusCode::OK,
        &json!({
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {"resourceVersion": state.resource_version.to_string()},
            "items": items,
        }),
    )
}

/// A pod's labels, as the Service that selects it would carry them.
fn service_labels(pod: &Pod) -> BTreeMap<String, String> {
    pod.labels.iter().cloned().collect()
}

/// The pods grouped by their labels: one Service each.
fn services<'a>(pods: &[&'a Pod]) -> BTreeMap<BTreeMap<String, String>, Vec<&'a Pod>> {
    let mut services: BTreeMap<_, Vec<&Pod>> = BTreeMap::new();
    for pod in pods {
        let mut labels = service_labels(pod);
        let name = service_name(&labels);
        labels.insert("kubernetes.io/service-name".to_owned(), name);
        services.entry(labels).or_default().push(pod);
    }
    services
}

/// A Service's name made of its pods' label values.
fn service_name(labels: &BTreeMap<String, String>) -> String {
    let name: Vec<&str> = labels.values().map(String::as_str).collect();
    if name.is_empty() {
        "unlabelled".to_owned()
    } else {
        name.join("-").replace(['.', '/', '_'], "-").to_lowercase()
    }
}

fn target_ref(pod: &Pod) -> Value {
    json!({"kind": "Pod", "namespace": pod.namespace, "name": pod.name})
}

fn endpoint_slice(namespace: &str, labels: &BTreeMap<String, String>, pods: &[&Pod]) -> Value {
    let v4 = pods.iter().all(|p| p.ip.is_ipv4());
    let endpoints: Vec<Value> = pods
        .iter()
        .map(|p| {
            let mut endpoint = json!({
                "addresses": [p.ip.to_string()],
                "conditions": {"ready": p.ready, "serving": p.ready, "terminating": false},
                "targetRef": target_ref(p),
                "nodeName": "node-1",
            });
            if let Some(hostname) = &p.hostname {
                endpoint["hostname"] = json!(hostname);
            }
            endpoint
        })
        .collect();
    json!({
        "metadata": {
            "name": format!("{}-abcde", labels["kubernetes.io/service-name"]),
            "namespace": namespace,
            "labels": labels,
        },
        "addressType": if v4 { "IPv4" } else { "IPv6" },
        "endpoints": endpoints,
        "ports": [{"name": "epmd", "port": 4369, "protocol": "TCP"}],
    })
}

fn endpoints(namespace: &str, labels: &BTreeMap<String, String>, pods: &[&Pod]) -> Value {
    let address = |p: &&&Pod| {
        let mut address = json!({
            "ip": p.ip.to_string(),
            "nodeName": "node-1",
            "targetRef": target_ref(p),
        });
        if let Some(hostname) = &p.hostname {
            address["hostname"] = json!(hostname);
        }
        address
    };
    let ready: Vec<Value> = pods
        .iter()
        .filter(|p| p.ready)
        .map(|p| address(&p))
        .collect();
    let not_ready: Vec<Value> = pods
        .iter()
        .filter(|p| !p.ready)
        .map(|p| address(&p))
        .collect();
    let mut subset = json!({"ports": [{"name": "epmd", "port": 4369, "protocol": "TCP"}]});
    if !ready.is_empty() {
        subset["addresses"] = json!(ready);
    }
    if !not_ready.is_empty() {
        subset["notReadyAddresses"] = json!(not_ready);
    }
    json!({
        "metadata": {
            "name": labels["kubernetes.io/service-name"],
            "namespace": namespace,
            "labels": labels,
        },
        "subsets": [subset],
    })
}

fn pod(p: &Pod) -> Value {
    let mut spec = json!({"containers": [{"name": "app", "image": "drip"}]});
    if let Some(hostname) = &p.hostname {
        spec["hostname"] = json!(hostname);
    }
    json!({
        "metadata": {
            "name": p.name,
            "namespace": p.namespace,
            "labels": service_labels(p),
        },
        "spec": spec,
        "status": {
            "phase": p.phase,
            "podIP": p.ip.to_string(),
            "podIPs": [{"ip": p.ip.to_string()}],
            "conditions": [{"type": "Ready", "status": if p.ready { "True" } else { "False" }}],
        },
    })
}

/// A query's value: `+` a space, `%XX` a byte.
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// An equality-based label selector.
struct Selector(Vec<Requirement>);

enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    NotExists(String),
}

impl Selector {
    /// `k=v`, `k==v`, `k!=v`, `k`, `!k`, comma-separated; `None` for anything else.
    fn parse(selector: &str) -> Option<Selector> {
        let mut requirements = Vec::new();
        for part in selector.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let requirement = if let Some((k, v)) = part.split_once("!=") {
                Requirement::NotEquals(k.trim().to_owned(), v.trim().to_owned())
            } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                Requirement::Equals(k.trim().to_owned(), v.trim().to_owned())
            } else if let Some(k) = part.strip_prefix('!') {
                Requirement::NotExists(k.trim().to_owned())
            } else if part.contains(' ') || part.contains('(') {
                return None;
            } else {
                Requirement::Exists(part.to_owned())
            };
            requirements.push(requirement);
        }
        Some(Selector(requirements))
    }

    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::NotExists(k) => !labels.contains_key(k),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn state() -> Mutex<State> {
        let mut pods = vec![
            Pod::running("a-0", "ns", "app=drip,tier=web", LOCAL),
            Pod::running("b-0", "ns", "app=other", LOCAL),
            Pod::running("c-0", "elsewhere", "app=drip,tier=web", LOCAL),
        ];
        let mut starting = Pod::running("a-1", "ns", "app=drip,tier=web", LOCAL);
        starting.ready = false;
        starting.hostname = Some("a-1".to_owned());
        pods.push(starting);
        Mutex::new(State {
            pods,
            token: "t".to_owned(),
            resource_version: 7,
            ..State::default()
        })
    }

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 5));

    fn get(state: &Mutex<State>, uri: &str, token: &str) -> (StatusCode, Value) {
        let request = Request::get(uri)
            .header("Authorization", format!("Bearer {token}"))
            .body(())
            .expect("request");
        let response = answer(state, &request);
        let status = response.status();
        let body = collected(response.into_body());
        (status, serde_json::from_slice(&body).expect("JSON"))
    }

    fn collected(body: Full<Bytes>) -> Bytes {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(body.collect())
            .expect("body")
            .to_bytes()
    }

    #[test]
    fn lists_are_shaped_as_the_api_reference_and_filtered_by_the_selector() {
        let state = state();
        let sel = "labelSelector=app%3Ddrip%2Ctier%3D%3Dweb";
        let (status, list) = get(
            &state,
            &format!("/apis/discovery.k8s.io/v1/namespaces/ns/endpointslices?{sel}"),
            "t",
        );
        assert_eq!(status, StatusCode::OK);
        assert_eq!(list["apiVersion"], "discovery.k8s.io/v1");
        assert_eq!(list["kind"], "EndpointSliceList");
        assert_eq!(list["metadata"]["resourceVersion"], "7");
        let items = list["items"].as_array().expect("items");
        assert_eq!(items.len(), 1, "{list}");
        assert_eq!(items[0]["addressType"], "IPv4");
        assert_eq!(
            items[0]["metadata"]["labels"]["kubernetes.io/service-name"],
            "drip-web"
        );
        let ready: Vec<&Value> = items[0]["endpoints"]
            .as_array()
            .expect("endpoints")
            .iter()
            .map(|e| &e["conditions"]["ready"])
            .collect();
        assert_eq!(ready, [&json!(true), &json!(false)]);

        let (_, list) = get(
            &state,
            &format!("/api/v1/namespaces/ns/endpoints?{sel}"),
            "t",
        );
        assert_eq!(
            (list["apiVersion"].as_str(), list["kind"].as_str()),
            (Some("v1"), Some("EndpointsList"))
        );
        let subset = &list["items"][0]["subsets"][0];
        assert_eq!(subset["addresses"][0]["ip"], "10.0.0.5");
        assert_eq!(subset["notReadyAddresses"][0]["hostname"], "a-1");

        let (_, list) = get(
            &state,
            "/api/v1/namespaces/ns/pods?labelSelector=app!%3Ddrip",
            "t",
        );
        assert_eq!(list["kind"], "PodList");
        let names: Vec<&Value> = list["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|p| &p["metadata"]["name"])
            .collect();
        assert_eq!(names, [&json!("b-0")]);
        assert_eq!(list["items"][0]["status"]["phase"], "Running");
        assert_eq!(list["items"][0]["status"]["podIP"], "10.0.0.5");
    }

    #[test]
    fn a_wrong_token_is_401_and_forbidden_is_403_as_status_objects() {
        let state = state();
        let (status, body) = get(&state, "/api/v1/namespaces/ns/pods", "wrong");
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            (&body["kind"], &body["reason"], &body["code"]),
            (&json!("Status"), &json!("Unauthorized"), &json!(401))
        );
        state.lock().expect("state").forbidden = true;
        let (status, body) = get(
            &state,
            "/apis/discovery.k8s.io/v1/namespaces/ns/endpointslices",
            "t",
        );
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(body["kind"], "Status");
        assert_eq!(body["status"], "Failure");
        assert_eq!(body["reason"], "Forbidden");
        assert_eq!(body["code"], 403);
        assert_eq!(body["details"]["group"], "discovery.k8s.io");
        assert!(body["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("endpointslices.discovery.k8s.io is forbidden")));
        let (status, _) = get(&state, "/api/v1/namespaces/ns/services", "t");
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn a_set_based_selector_is_refused_as_the_stand_in_does_not_take_it() {
        assert!(Selector::parse("env in (a,b)").is_none());
        let s = Selector::parse("app=drip,!canary,tier").expect("parses");
        let labels = |kv: &[(&str, &str)]| {
            kv.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>()
        };
        assert!(s.matches(&labels(&[("app", "drip"), ("tier", "web")])));
        assert!(!s.matches(&labels(&[("app", "drip")])));
        assert!(!s.matches(&labels(&[
            ("app", "drip"),
            ("tier", "web"),
            ("canary", "1")
        ])));
    }
}
