//! A plain HTTP/1.1 client for the web tests: one request a connection, `Connection: close`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// `GET path` on 127.0.0.1:`port`, retried (bounded) until something listens: the status
/// line, the headers and the body.
pub fn get(port: u16, path: &str) -> (String, String, String) {
    request(port, "GET", path, &[], "")
}

/// `METHOD path` with `headers` and `body` on 127.0.0.1:`port`, retried (bounded) until
/// something listens: the status line, the headers (lower case) and the body.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (String, String, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(30)))
                .expect("timeout");
            let mut head = format!(
                "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            write!(s, "{head}\r\n{body}").expect("request sent");
            let mut raw = String::new();
            s.read_to_string(&mut raw).expect("response read");
            let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
            let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
            return (status.to_owned(), headers.to_lowercase(), body.to_owned());
        }
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
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
