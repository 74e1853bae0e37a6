//! `--discovery` specs as written: `KIND[:SETTING,…]`.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use etf::Atom;

use super::{
    DnsPoll, Kubernetes, Lookup, Mode, Spec, SpecError, SrvNodes, Strategy, INTERVAL,
    SERVICE_ACCOUNT_DIR,
};

impl FromStr for Spec {
    type Err = SpecError;

    fn from_str(spec: &str) -> Result<Spec, SpecError> {
        let spec = spec.trim();
        let (kind, rest) = spec.split_once(':').unwrap_or((spec, ""));
        let mut interval = INTERVAL;
        let mut positional = Vec::new();
        let mut settings = Vec::new();
        for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.split_once('=') {
                Some(("interval", ms)) => {
                    let ms: u64 = ms.parse().ok().filter(|ms| *ms >= 100).ok_or_else(|| {
                        SpecError::Setting {
                            strategy: "discovery",
                            setting: part.to_owned(),
                            expected: "interval=MS, at least 100",
                        }
                    })?;
                    interval = Duration::from_millis(ms);
                }
                Some((key, value)) => settings.push((key, value)),
                None => positional.push(part),
            }
        }
        let strategy = match kind {
            "epmd" => {
                no_settings("epmd", &settings, "NODE,NODE…")?;
                let nodes = positional
                    .iter()
                    .map(|n| match n.split_once('@') {
                        Some((a, h)) if !a.is_empty() && !h.is_empty() && !h.contains('@') => {
                            Ok(Atom::from(*n))
                        }
                        _ => Err(SpecError::Node((*n).to_owned())),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if nodes.is_empty() {
                    return Err(SpecError::Missing {
                        strategy: "epmd",
                        what: "the nodes (epmd:NODE@HOST,…)",
                    });
                }
                Strategy::Epmd(nodes)
            }
            "local-epmd" => {
                no_settings("local-epmd", &settings, "interval=MS only")?;
                Strategy::LocalEpmd
            }
            "erlang-hosts" => {
                no_settings("erlang-hosts", &settings, "a file, interval=MS")?;
                // The file is the whole rest (a path may hold a comma).
                let file = rest.split(",interval=").next().unwrap_or("").trim();
                Strategy::ErlangHosts((!file.is_empty()).then(|| PathBuf::from(file)))
            }
            "dns" => {
                let query = positional.first().copied().ok_or(SpecError::Missing {
                    strategy: "dns",
                    what: "the name to look up (dns:QUERY)",
                })?;
                let mut poll = DnsPoll {
                    query: query.to_owned(),
                    basename: None,
                    a: true,
                    aaaa: true,
                    srv: None,
                    nameserver: None,
                };
                // `types=a,aaaa` spreads over the comma-separated parts: the bare words after
                // it are more types.
                let mut types: Option<Vec<&str>> = None;
                for (key, value) in &settings {
                    match *key {
                        "basename" if !value.is_empty() => poll.basename = Some((*value).into()),
                        "types" => types = Some(vec![value]),
                        "nameserver" => {
                            poll.nameserver = Some(
                                super::dns::nameserver(value)
                                    .ok_or_else(|| dns_setting(key, value))?,
                            )
                        }
                        _ => return Err(dns_setting(key, value)),
                    }
                }
                if let Some(mut types) = types {
                    types.extend(positional.iter().skip(1));
                    poll.a = false;
                    poll.aaaa = false;
                    for t in types {
                        match t.to_ascii_lowercase().as_str() {
                            "a" => poll.a = true,
                            "aaaa" => poll.aaaa = true,
                            "srv" => poll.srv = Some(SrvNodes::Addresses),
                            _ => return Err(dns_setting("types", t)),
                        }
                    }
                    // `types=srv` alone: the targets' addresses of both families.
                    if poll.srv.is_some() && !poll.a && !poll.aaaa {
                        poll.a = true;
                        poll.aaaa = true;
                    }
                } else if positional.len() > 1 {
                    return Err(dns_setting(positional[1], ""));
                }
                Strategy::Dns(poll)
            }
            "kubernetes-dns" => {
                if let Some(extra) = positional.first() {
                    return Err(kubernetes_dns_setting(extra));
                }
                let (mut service, mut basename, mut namespace) = (None, None, None);
                for (key, value) in &settings {
                    match *key {
                        "service" if !value.is_empty() => service = Some(*value),
                        "basename" if !value.is_empty() => basename = Some(*value),
                        "namespace" if !value.is_empty() => namespace = Some(*value),
                        _ => return Err(kubernetes_dns_setting(&format!("{key}={value}"))),
                    }
                }
                let service = service.ok_or(SpecError::Missing {
                    strategy: "kubernetes-dns",
                    what: "service=S",
                })?;
                let basename = basename.ok_or(SpecError::Missing {
                    strategy: "kubernetes-dns",
                    what: "basename=B",
                })?;
                Strategy::KubernetesDns(DnsPoll {
                    query: match namespace {
                        Some(ns) => format!("{service}.{ns}.svc.cluster.local"),
                        None => service.to_owned(),
                    },
                    basename: Some(basename.to_owned()),
                    a: true,
                    aaaa: true,
                    srv: None,
                    nameserver: None,
                })
            }
            "kubernetes" => kubernetes(rest)?,
            "kubernetes-dnssrv" => kubernetes_dnssrv(&positional, &settings)?,
            "gossip" => Strategy::Gossip(super::gossip::parse(&positional, &settings)?),
            _ => return Err(SpecError::Unknown(spec.to_owned())),
        };
        Ok(Spec { strategy, interval })
    }
}

/// The settings `kubernetes:` takes. A part after `selector=` that is not one of them (nor
/// `interval=`) belongs to the selector: `selector=app=drip,tier=web,basename=drip` selects
/// `app=drip,tier=web`, and a set-based `env in (a,b)` keeps its comma.
const KUBERNETES_SETTINGS: [&str; 8] = [
    "selector",
    "basename",
    "namespace",
    "mode",
    "service",
    "api",
    "sa_dir",
    "interval",
];

/// `kubernetes:`'s settings, in the order written (a selector runs on until the next
/// setting).
fn kubernetes(rest: &str) -> Result<Strategy, SpecError> {
    let mut selector: Vec<&str> = Vec::new();
    let mut in_selector = false;
    let mut k = Kubernetes {
        selector: String::new(),
        basename: String::new(),
        namespace: None,
        mode: Mode::Ip,
        service: None,
        lookup: Lookup::EndpointSlices,
        sa_dir: PathBuf::from(SERVICE_ACCOUNT_DIR),
    };
    for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let setting = part
            .split_once('=')
            .filter(|(key, _)| KUBERNETES_SETTINGS.contains(key));
        let Some((key, value)) = setting else {
            if in_selector {
                selector.push(part);
                continue;
            }
            return Err(kubernetes_setting(part));
        };
        in_selector = key == "selector";
        if value.is_empty() {
            return Err(kubernetes_setting(part));
        }
        match key {
            "selector" => selector = vec![value],
            "basename" => k.basename = value.to_owned(),
            "namespace" => k.namespace = Some(value.to_owned()),
            "service" => k.service = Some(value.to_owned()),
            "sa_dir" => k.sa_dir = PathBuf::from(value),
            "mode" => {
                k.mode = match value {
                    "ip" => Mode::Ip,
                    "dns" => Mode::Dns,
                    "hostname" => Mode::Hostname,
                    _ => return Err(kubernetes_setting(part)),
                }
            }
            "api" => {
                k.lookup = match value {
                    "endpointslices" => Lookup::EndpointSlices,
                    "endpoints" => Lookup::Endpoints,
                    "pods" => Lookup::Pods,
                    _ => return Err(kubernetes_setting(part)),
                }
            }
            // `interval=` was read with every form's.
            _ => {}
        }
    }
    k.selector = selector.join(",");
    let missing = |what| SpecError::Missing {
        strategy: "kubernetes",
        what,
    };
    if k.selector.is_empty() {
        return Err(missing("selector=LABELS"));
    }
    if k.basename.is_empty() {
        return Err(missing("basename=B"));
    }
    if k.mode == Mode::Hostname && k.service.is_none() {
        return Err(missing(
            "service=S (mode=hostname names nodes HOSTNAME.S.N.svc…)",
        ));
    }
    Ok(Strategy::Kubernetes(k))
}

fn kubernetes_setting(setting: &str) -> SpecError {
    SpecError::Setting {
        strategy: "kubernetes",
        setting: setting.to_owned(),
        expected: "selector=LABELS, basename=B, namespace=N, mode=ip|dns|hostname, service=S, \
                   api=endpointslices|endpoints|pods, sa_dir=PATH, interval=MS",
    }
}

fn no_settings(
    strategy: &'static str,
    settings: &[(&str, &str)],
    expected: &'static str,
) -> Result<(), SpecError> {
    match settings.first() {
        Some((k, v)) => Err(SpecError::Setting {
            strategy,
            setting: format!("{k}={v}"),
            expected,
        }),
        None => Ok(()),
    }
}

fn kubernetes_dns_setting(setting: &str) -> SpecError {
    SpecError::Setting {
        strategy: "kubernetes-dns",
        setting: setting.to_owned(),
        expected: "service=S, basename=B, namespace=N, interval=MS",
    }
}

fn dns_setting(key: &str, value: &str) -> SpecError {
    SpecError::Setting {
        strategy: "dns",
        setting: if value.is_empty() {
            key.to_owned()
        } else {
            format!("{key}={value}")
        },
        expected: "basename=B, types=a,aaaa,srv, nameserver=IP[:PORT], interval=MS",
    }
}

/// libcluster's `Kubernetes.DNSSRV`: `service`, `namespace` and `application_name` (here
/// `basename`) all needed; rotp's `nameserver=` besides.
fn kubernetes_dnssrv(
    positional: &[&str],
    settings: &[(&str, &str)],
) -> Result<Strategy, SpecError> {
    let bad = |setting: String| SpecError::Setting {
        strategy: "kubernetes-dnssrv",
        setting,
        expected: "service=S, namespace=N, basename=B, nameserver=IP[:PORT], interval=MS",
    };
    if let Some(extra) = positional.first() {
        return Err(bad((*extra).to_owned()));
    }
    let (mut service, mut namespace, mut basename, mut nameserver) = (None, None, None, None);
    for (key, value) in settings {
        match *key {
            "service" if !value.is_empty() => service = Some(*value),
            "namespace" if !value.is_empty() => namespace = Some(*value),
            "basename" if !value.is_empty() => basename = Some(*value),
            "nameserver" => {
                nameserver = Some(
                    super::dns::nameserver(value).ok_or_else(|| bad(format!("{key}={value}")))?,
                )
            }
            _ => return Err(bad(format!("{key}={value}"))),
        }
    }
    let missing = |what| SpecError::Missing {
        strategy: "kubernetes-dnssrv",
        what,
    };
    let service = service.ok_or(missing("service=S"))?;
    let namespace = namespace.ok_or(missing("namespace=N"))?;
    let basename = basename.ok_or(missing("basename=B"))?;
    // As libcluster: `CLUSTER_DOMAIN` when set, else `cluster.local`.
    let domain = std::env::var("CLUSTER_DOMAIN").unwrap_or_else(|_| "cluster.local".into());
    let domain = domain.trim_end_matches('.');
    Ok(Strategy::KubernetesDnsSrv(DnsPoll {
        query: format!("{service}.{namespace}.svc.{domain}"),
        basename: Some(basename.to_owned()),
        a: true,
        aaaa: true,
        srv: Some(SrvNodes::Targets),
        nameserver,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::hosts_of;

    #[test]
    fn specs_parse_as_written() {
        let spec: Spec = "epmd:a@h1,b@h2".parse().expect("epmd");
        assert_eq!(
            spec.strategy,
            Strategy::Epmd(vec![Atom::from("a@h1"), Atom::from("b@h2")])
        );
        assert_eq!(spec.interval, INTERVAL);
        assert_eq!(
            "local-epmd".parse::<Spec>().map(|s| s.strategy),
            Ok(Strategy::LocalEpmd)
        );
        assert_eq!(
            "erlang-hosts".parse::<Spec>().map(|s| s.strategy),
            Ok(Strategy::ErlangHosts(None))
        );
        assert_eq!(
            "erlang-hosts:/etc/drip/hosts"
                .parse::<Spec>()
                .map(|s| s.strategy),
            Ok(Strategy::ErlangHosts(Some("/etc/drip/hosts".into())))
        );
        let dns: Spec = "dns:drip.internal,basename=drip,types=a,interval=2000"
            .parse()
            .expect("dns");
        assert_eq!(
            dns.strategy,
            Strategy::Dns(DnsPoll {
                query: "drip.internal".into(),
                basename: Some("drip".into()),
                a: true,
                aaaa: false,
                srv: None,
                nameserver: None,
            })
        );
        assert_eq!(dns.interval, Duration::from_millis(2000));
        let k8s: Spec = "kubernetes-dns:service=drip-headless,basename=drip,namespace=prod"
            .parse()
            .expect("kubernetes-dns");
        assert_eq!(k8s.label(), "kubernetes-dns");
        assert!(matches!(
            k8s.strategy,
            Strategy::KubernetesDns(DnsPoll { ref query, ref basename, .. })
                if query == "drip-headless.prod.svc.cluster.local"
                    && basename.as_deref() == Some("drip")
        ));
        let both: Spec = "dns:q,types=a,aaaa".parse().expect("both");
        assert!(matches!(
            both.strategy,
            Strategy::Dns(DnsPoll {
                a: true,
                aaaa: true,
                ..
            })
        ));
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        for (spec, says) in [
            ("zookeeper:x", "is not a discovery strategy"),
            ("epmd:", "the nodes"),
            ("epmd:nohost", "is not a node name"),
            ("dns:", "the name to look up"),
            ("dns:q,colour=blue", "is not a setting it takes"),
            ("dns:q,types=mx", "is not a setting it takes"),
            ("dns:q,interval=5", "at least 100"),
            ("kubernetes:basename=b", "selector=LABELS is missing"),
            ("kubernetes:selector=app=drip", "basename=B is missing"),
            (
                "kubernetes:selector=,basename=b",
                "is not a setting it takes",
            ),
            (
                "kubernetes:app=drip,basename=b",
                "is not a setting it takes",
            ),
            (
                "kubernetes:selector=a=b,basename=b,mode=fqdn",
                "is not a setting",
            ),
            (
                "kubernetes:selector=a=b,basename=b,api=services",
                "is not a setting",
            ),
            (
                "kubernetes:selector=a=b,basename=b,mode=hostname",
                "service=S (mode=hostname",
            ),
            ("dns:q,nameserver=consul", "is not a setting it takes"),
            (
                "kubernetes-dnssrv:service=s,basename=b",
                "namespace=N is missing",
            ),
            (
                "kubernetes-dnssrv:service=s,namespace=n",
                "basename=B is missing",
            ),
            ("gossip:port=none", "is not a setting it takes"),
            ("gossip:multicast=somewhere", "is not a setting it takes"),
            ("kubernetes-dns:service=s", "basename=B is missing"),
            ("kubernetes-dns:basename=b", "service=S is missing"),
            (
                "kubernetes-dns:service=s,basename=b,mode=ip",
                "is not a setting it takes",
            ),
        ] {
            let e = spec.parse::<Spec>().expect_err(spec).to_string();
            assert!(e.contains(says), "{spec}: {e}");
        }
    }

    #[test]
    fn a_kubernetes_selector_runs_on_until_the_next_setting() {
        let k = |spec: &str| match spec.parse::<Spec>() {
            Ok(Spec {
                strategy: Strategy::Kubernetes(k),
                interval,
            }) => (k, interval),
            other => panic!("{spec}: {other:?}"),
        };
        let (plain, interval) = k("kubernetes:selector=app=drip,basename=drip");
        assert_eq!(
            plain,
            Kubernetes {
                selector: "app=drip".into(),
                basename: "drip".into(),
                namespace: None,
                mode: Mode::Ip,
                service: None,
                lookup: Lookup::EndpointSlices,
                sa_dir: SERVICE_ACCOUNT_DIR.into(),
            }
        );
        assert_eq!(interval, INTERVAL);
        let (all, interval) = k(
            "kubernetes:selector=app.kubernetes.io/name=drip,tier!=web,canary,basename=drip,\
             namespace=prod,mode=hostname,service=drip-headless,api=pods,sa_dir=/run/sa,\
             interval=2000",
        );
        assert_eq!(
            all,
            Kubernetes {
                selector: "app.kubernetes.io/name=drip,tier!=web,canary".into(),
                basename: "drip".into(),
                namespace: Some("prod".into()),
                mode: Mode::Hostname,
                service: Some("drip-headless".into()),
                lookup: Lookup::Pods,
                sa_dir: "/run/sa".into(),
            }
        );
        assert_eq!(interval, Duration::from_millis(2000));
        // The selector may come last, or after other settings, and keep a set's commas.
        let (last, _) = k("kubernetes:basename=d,api=endpoints,selector=env in (qa,prod),app=d");
        assert_eq!(last.selector, "env in (qa,prod),app=d");
        assert_eq!(last.lookup, Lookup::Endpoints);
        // `interval=` ends a selector too.
        let (ended, interval) = k("kubernetes:selector=a=b,interval=300,basename=x,mode=dns");
        assert_eq!((ended.selector.as_str(), ended.mode), ("a=b", Mode::Dns));
        assert_eq!(interval, Duration::from_millis(300));
    }

    #[test]
    fn srv_specs_parse_as_written() {
        let srv: Spec =
            "dns:_drip._tcp.service.consul,basename=drip,types=srv,nameserver=127.0.0.1:8600"
                .parse()
                .expect("dns srv");
        assert_eq!(
            srv.strategy,
            Strategy::Dns(DnsPoll {
                query: "_drip._tcp.service.consul".into(),
                basename: Some("drip".into()),
                a: true,
                aaaa: true,
                srv: Some(SrvNodes::Addresses),
                nameserver: Some(([127, 0, 0, 1], 8600).into()),
            })
        );
        let v6: Spec = "dns:q,types=srv,aaaa".parse().expect("srv aaaa");
        assert!(matches!(
            v6.strategy,
            Strategy::Dns(DnsPoll {
                a: false,
                aaaa: true,
                srv: Some(SrvNodes::Addresses),
                ..
            })
        ));
        let k8s: Spec = "kubernetes-dnssrv:service=drip-headless,namespace=prod,basename=drip"
            .parse()
            .expect("kubernetes-dnssrv");
        assert_eq!(k8s.label(), "kubernetes-dnssrv");
        assert!(matches!(
            k8s.strategy,
            Strategy::KubernetesDnsSrv(DnsPoll { ref query, ref basename, srv: Some(SrvNodes::Targets), .. })
                if query.starts_with("drip-headless.prod.svc.")
                    && basename.as_deref() == Some("drip")
        ));
    }

    #[test]
    fn a_hosts_file_reads_as_net_adm_reads_it() {
        let text = "% the cluster\n'web-1'.\n'db.example.com'. % the database\nbare.\n";
        assert_eq!(hosts_of(text), ["web-1", "db.example.com", "bare"]);
        assert!(hosts_of("").is_empty());
    }
}
