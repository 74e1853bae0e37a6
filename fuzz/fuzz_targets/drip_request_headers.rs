//! What Drip reads from a request's headers before anything else, fed any bytes: the client's
//! address through `Forwarded` / `X-Forwarded-For` (believed from a trusted proxy only), the
//! session and pre-session cookies, and a socket's `Origin`. Each is an answer, never a panic,
//! and a stranger's forwarding headers never change who the client is.
#![no_main]

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use drip::web::{client, session::Sessions, socket};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    let names = ["forwarded", "x-forwarded-for", "cookie", "origin", "host"];
    for (i, part) in data.split(|&b| b == b'\n').enumerate() {
        if let Ok(v) = HeaderValue::from_bytes(part) {
            headers.append(HeaderName::from_static(names[i % names.len()]), v);
        }
    }
    let proxy: std::net::IpAddr = [10, 0, 0, 1].into();
    let stranger: std::net::IpAddr = [203, 0, 113, 5].into();
    let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().expect("a net")];
    let _ = client::client(proxy, &headers, &trusted).key();
    assert_eq!(client::client(stranger, &headers, &trusted).0, stranger);
    let _ = Sessions::cookie(&headers);
    let _ = Sessions::cookie_named(&headers, "drip_pre");
    let _ = socket::same_origin(&headers, Some("https://drip.example"));
});
