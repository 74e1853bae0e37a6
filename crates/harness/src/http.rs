//! A plain HTTP/1.1 client for the web tests (the dashboard's, Drip's): one request a
//! connection, `Connection: close`.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// `GET path` on 127.0.0.1:`port`, retried (bounded) until something listens: the status
/// line, the headers and the body.
pub fn get(port: u16, path: &str) -> (String, String, String) {
    request(port, "GET", path, &[], "")
}

/// `METHOD path` with `headers` and `body` on 127.0.0.1:`port`, retried (bounded) until
/// something listens: the status line, the headers (lower case) and the body as text.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (String, String, String) {
    let (status, headers, body) = request_raw(port, method, path, headers, body.as_bytes());
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// [`request`] with a body of bytes and the response's body as bytes, as it came
/// ([`unchunk_bytes`] joins a chunked one).
pub fn request_raw(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (String, String, Vec<u8>) {
    request_at(
        SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        method,
        path,
        headers,
        body,
    )
}

/// [`request_raw`] to any address (a server in a network namespace the test made).
pub fn request_at(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (String, String, Vec<u8>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(mut s) = TcpStream::connect(addr) {
            s.set_read_timeout(Some(Duration::from_secs(60)))
                .expect("timeout");
            let mut head = format!(
                "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            s.write_all(head.as_bytes()).expect("request sent");
            // A server may answer (413, 401) before it has read the whole body.
            let _ = s.write_all(body);
            let mut raw = Vec::new();
            let _ = s.read_to_end(&mut raw);
            let split = raw
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .unwrap_or(raw.len());
            let head = String::from_utf8_lossy(&raw[..split]).into_owned();
            let body = raw.get(split + 4..).unwrap_or_default().to_vec();
            let (status, headers) = head.split_once("\r\n").unwrap_or((&head, ""));
            return (status.to_owned(), headers.to_lowercase(), body);
        }
        assert!(Instant::now() < deadline, "nothing listens on {addr}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The chunked body of an HTTP/1.1 response, joined (or the body as it is), in bytes.
pub fn unchunk_bytes(headers: &str, body: &[u8]) -> Vec<u8> {
    if !headers.contains("transfer-encoding: chunked") {
        return body.to_vec();
    }
    let mut rest = body;
    let mut out = Vec::new();
    while let Some(at) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&rest[..at]).unwrap_or("0");
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        let after = &rest[at + 2..];
        if n == 0 || after.len() < n {
            break;
        }
        out.extend_from_slice(&after[..n]);
        rest = after[n..].strip_prefix(b"\r\n").unwrap_or(&after[n..]);
    }
    out
}

/// The chunked body of an HTTP/1.1 response, joined (or the body as it is).
pub fn unchunk(headers: &str, body: &str) -> String {
    if !headers.contains("transfer-encoding: chunked") {
        return body.to_owned();
    }
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}
