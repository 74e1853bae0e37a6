//! The security headers every response carries: `X-Content-Type-Options: nosniff`,
//! `X-Frame-Options: DENY` (no page of Drip's can be framed to click its buttons),
//! `Referrer-Policy: same-origin`, and on Drip's own pages a `Content-Security-Policy` that
//! lets run only Drip's one script and style (by their SHA-256), talk only to Drip, and post
//! forms only to Drip. The node dashboard under `/dashboard` brings its own scripts and
//! carries the other headers.

use std::sync::LazyLock;

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// `'sha256-…'` of an inline script or style.
fn hash(text: &str) -> String {
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
    )
}

/// Drip's pages' policy.
pub static CSP: LazyLock<String> = LazyLock::new(|| {
    format!(
        "default-src 'none'; script-src {}; style-src {}; img-src 'self' data:; connect-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        hash(super::pages::SCRIPT),
        hash(super::pages::STYLE)
    )
});

/// Adds the headers to every response.
pub async fn secure(request: Request, next: Next) -> Response {
    let dashboard = request.uri().path().starts_with(super::dashboard::BASE);
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !dashboard {
        if let Ok(v) = HeaderValue::from_str(&CSP) {
            h.insert(header::CONTENT_SECURITY_POLICY, v);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_policy_names_the_pages_own_script_and_style() {
        let csp = super::CSP.as_str();
        assert!(csp.contains("script-src 'sha256-") && csp.contains("style-src 'sha256-"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-inline"));
    }
}
