//! Who the client is: the socket's address, or — when the socket is one of the reverse proxies
//! `--trusted-proxies` names — the address the proxies say they forwarded for (`Forwarded`,
//! RFC 7239, else `X-Forwarded-For`), read from the right: the first hop that is not a trusted
//! proxy is the client. A header from anyone else is ignored (it is the client's to forge).
//! IPv6 clients are counted by their /64, the block one host is given.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use ipnet::IpNet;

use crate::app::App;

/// The client's address, as rate limits count it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// The key limits count by: an IPv4 address, or an IPv6 address's /64.
    pub fn key(self) -> IpAddr {
        match self.0 {
            IpAddr::V4(_) => self.0,
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let s = v6.segments();
                    IpAddr::from([s[0], s[1], s[2], s[3], 0, 0, 0, 0])
                }
            },
        }
    }
}

/// The hops a request says it came through, nearest last: `Forwarded`'s `for=`s if there are
/// any, else `X-Forwarded-For`'s. Hops that are not addresses (`unknown`, obfuscated names)
/// stay as `None`.
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let values = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>()
    };
    let forwarded: Vec<Option<IpAddr>> = values("forwarded")
        .into_iter()
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (k, v) = pair.trim().split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| parse_node(v.trim().trim_matches('"')))
            })
        })
        .collect();
    if !forwarded.is_empty() {
        return forwarded;
    }
    values("x-forwarded-for")
        .into_iter()
        .map(parse_node)
        .collect()
}

/// An address from a forwarding header's node: `1.2.3.4`, `1.2.3.4:80`, `[::1]`, `[::1]:80`,
/// `::1`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sa) = node.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    node.strip_prefix('[')?.split(']').next()?.parse().ok()
}

/// The client of a request that came from `peer` with `headers`, believing only `trusted`
/// proxies.
pub fn client(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> ClientAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return ClientAddr(peer);
    }
    // From the nearest hop outwards: each trusted proxy vouches for the one before it.
    let mut client = peer;
    for hop in forwarded_for(headers).into_iter().rev() {
        match hop {
            Some(ip) if is_trusted(&ip) => client = ip,
            Some(ip) => return ClientAddr(ip),
            // A hop a trusted proxy could not name: the proxy is as far as we can see.
            None => return ClientAddr(client),
        }
    }
    ClientAddr(client)
}

impl FromRequestParts<Arc<App>> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<ClientAddr, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
        Ok(client(peer, &parts.headers, &app.config.trusted_proxies))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).expect("a name"),
                v.parse().expect("a value"),
            );
        }
        h
    }

    #[test]
    fn forwarding_headers_are_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.5".parse().expect("ip");
        let stranger: IpAddr = "203.0.113.9".parse().expect("ip");
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        let forged = headers(&[("x-forwarded-for", "1.1.1.1")]);
        // Anyone may send the header: from a stranger it is ignored.
        assert_eq!(client(stranger, &forged, &trusted).0, stranger);
        assert_eq!(client(proxy, &forged, &[]).0, proxy);
        // Through the proxy, the client is the hop before it; a forged hop further left is not.
        let chain = headers(&[("x-forwarded-for", "1.1.1.1, 198.51.100.7, 10.0.0.9")]);
        assert_eq!(
            client(proxy, &chain, &trusted).0,
            "198.51.100.7".parse::<IpAddr>().expect("ip")
        );
        let rfc = headers(&[(
            "forwarded",
            "for=1.1.1.1, for=\"[2001:db8::1]:4711\";proto=https, for=10.0.0.9",
        )]);
        assert_eq!(
            client(proxy, &rfc, &trusted).0,
            "2001:db8::1".parse::<IpAddr>().expect("ip")
        );
        assert_eq!(client(proxy, &headers(&[]), &trusted).0, proxy);
        let unknown = headers(&[("forwarded", "for=unknown")]);
        assert_eq!(client(proxy, &unknown, &trusted).0, proxy);
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let a = ClientAddr("2001:db8:1:2:aaaa::1".parse().expect("ip"));
        let b = ClientAddr("2001:db8:1:2:bbbb::7".parse().expect("ip"));
        assert_eq!(a.key(), b.key());
        let v4 = ClientAddr("::ffff:192.0.2.1".parse().expect("ip"));
        assert_eq!(v4.key(), "192.0.2.1".parse::<IpAddr>().expect("ip"));
    }
}
