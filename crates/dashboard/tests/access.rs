//! Who may use the dashboard, through the router as a tower service (no socket: the rules are
//! the point): the `Host` it answers to (DNS rebinding), its token (bearer, login form, login
//! link, session), the limit on wrong guesses at a chosen token, the same-origin rule for
//! forms, the form token, and that only a `POST /pick` makes its node connect to a node it
//! did not know (review M5, L1). A `TcpListener` posing as EPMD tells whether the node tried.

mod support;

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::http::StatusCode;
use axum::Router;
use rotp_dashboard::{Access, AllowedHosts, Config, Token};
use support::*;

const TOKEN: &str = "a-chosen-token";

/// A dashboard over a node whose EPMD port is `epmd` (a listener of the test's, or nothing),
/// watching only itself.
async fn dashboard(name: &str, epmd: u16, access: Access) -> (Router, node::Node) {
    let node = client_node(name, "accesscookie", epmd).await;
    let app = rotp_dashboard::router(node.clone(), Config::new(vec![node.name().clone()], access));
    (app, node)
}

fn token_access(token: Token) -> Access {
    Access::Token {
        token,
        hosts: AllowedHosts::new("127.0.0.1".parse().expect("an address")),
    }
}

fn chosen() -> Access {
    token_access(Token::chosen(TOKEN).expect("a token"))
}

const LOCAL: (&str, &str) = ("host", "127.0.0.1:4040");

#[tokio::test]
async fn a_host_the_dashboard_does_not_answer_to_is_refused_before_anything_else() {
    let (app, _node) = dashboard("acc_host", free_port(), chosen()).await;
    let bearer = format!("Bearer {TOKEN}");
    // A rebound name, even with the right token, even for the login page.
    for path in ["/login", "/metrics", "/"] {
        let a = send(
            &app,
            request(
                "GET",
                path,
                &[("host", "evil.example:4040"), ("authorization", &bearer)],
                "",
            ),
        )
        .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{path}: {}", a.body);
        assert!(a.body.contains("does not answer to the Host"), "{}", a.body);
    }
    let a = send(&app, request("GET", "/login", &[], "")).await;
    assert_eq!(
        a.status,
        StatusCode::FORBIDDEN,
        "no Host at all: {}",
        a.body
    );
    // Loopback literals and localhost are answered.
    for host in ["127.0.0.1:4040", "localhost:4040", "[::1]:4040"] {
        let a = send(&app, request("GET", "/login", &[("host", host)], "")).await;
        assert_eq!(a.status, StatusCode::OK, "{host}");
    }
}

#[tokio::test]
async fn without_the_token_a_script_gets_401_and_a_browser_the_login_page() {
    let (app, node) = dashboard("acc_token", free_port(), chosen()).await;
    let me = format!("/node/{}/tree", node.name());
    let a = send(&app, request("GET", &me, &[LOCAL], "")).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(
        a.header("www-authenticate").starts_with("Bearer"),
        "{:?}",
        a.headers
    );
    let a = send(
        &app,
        request("GET", &me, &[LOCAL, ("accept", "text/html")], ""),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.header("location"), "/login");
    let a = send(
        &app,
        request("GET", &me, &[LOCAL, ("authorization", "Bearer wrong")], ""),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    // The right one: past the guard (a node not watched is 404, not 401).
    let bearer = format!("Bearer {TOKEN}");
    let a = send(
        &app,
        request(
            "GET",
            "/node/other@nowhere",
            &[LOCAL, ("authorization", &bearer)],
            "",
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
}

#[tokio::test]
async fn a_login_link_sets_the_session_and_leads_on_to_the_clean_url() {
    let token = Token::generate();
    let (app, _node) = dashboard("acc_link", free_port(), token_access(token.clone())).await;
    let link = format!(
        "/node/x@y/processes?sort=name&token={}&page=2",
        token.secret()
    );
    let a = send(&app, request("GET", &link, &[LOCAL], "")).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(a.header("location"), "/node/x@y/processes?sort=name&page=2");
    let cookie = a.header("set-cookie").to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains(token.secret()),
        "a session id, not the token"
    );
    let session = cookie.split(';').next().unwrap_or_default().to_owned();
    let a = send(
        &app,
        request("GET", "/node/x@y", &[LOCAL, ("cookie", &session)], ""),
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "logged in: {}", a.body);
    // A link with a wrong token logs no one in.
    let a = send(&app, request("GET", "/?token=nope", &[LOCAL], "")).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.header("set-cookie").is_empty());
    // Nor is a `//host` path turned into another site's address.
    let a = send(
        &app,
        request(
            "GET",
            &format!("//evil.example/?token={}", token.secret()),
            &[LOCAL],
            "",
        ),
    )
    .await;
    assert!(!a.header("location").starts_with("//"), "{:?}", a.headers);
}

#[tokio::test]
async fn wrong_guesses_at_a_chosen_token_are_limited_per_address() {
    let (app, _node) = dashboard("acc_limit", free_port(), chosen()).await;
    let form = [LOCAL, ("content-type", "application/x-www-form-urlencoded")];
    let mut statuses = Vec::new();
    for i in 0..12 {
        let a = send(
            &app,
            request("POST", "/login", &form, &format!("token=guess{i}")),
        )
        .await;
        statuses.push(a.status);
    }
    assert!(
        statuses[..10]
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    assert_eq!(statuses[10], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    // Throttled, even the right token is not checked (a right guess looks like a wrong one),
    // by bearer or by link as well.
    let a = send(
        &app,
        request("POST", "/login", &form, &format!("token={TOKEN}")),
    )
    .await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        a.header("retry-after").parse::<u64>().is_ok_and(|s| s >= 1),
        "{:?}",
        a.headers
    );
    let bearer = format!("Bearer {TOKEN}");
    let a = send(
        &app,
        request("GET", "/metrics", &[LOCAL, ("authorization", &bearer)], ""),
    )
    .await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    // Another address is not affected.
    let mut other = request("POST", "/login", &form, &format!("token={TOKEN}"));
    let from: SocketAddr = ([192, 0, 2, 7], 40_000).into();
    other
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(from));
    let a = send(&app, other).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert!(a.header("set-cookie").contains("rotp_dashboard_session="));
}

#[tokio::test]
async fn a_made_token_is_not_limited() {
    let token = Token::generate();
    let (app, _node) = dashboard("acc_made", free_port(), token_access(token.clone())).await;
    let form = [LOCAL, ("content-type", "application/x-www-form-urlencoded")];
    for i in 0..15 {
        let a = send(
            &app,
            request("POST", "/login", &form, &format!("token=guess{i}")),
        )
        .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    let a = send(
        &app,
        request(
            "POST",
            "/login",
            &form,
            &format!("token={}", token.secret()),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
}

/// A stand-in for EPMD that hangs up on whoever connects, counting them.
fn stand_in_epmd() -> (u16, Arc<AtomicUsize>) {
    let epmd = TcpListener::bind("127.0.0.1:0").expect("a stand-in EPMD");
    let port = epmd.local_addr().expect("its address").port();
    let knocks = Arc::new(AtomicUsize::new(0));
    let counted = knocks.clone();
    std::thread::spawn(move || {
        for stream in epmd.incoming() {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (port, knocks)
}

#[tokio::test]
async fn only_a_posted_pick_from_the_dashboards_own_page_connects_to_a_new_node() {
    let (port, knocks) = stand_in_epmd();
    let knocked = || knocks.swap(0, Ordering::SeqCst) > 0;
    let (app, _node) = dashboard("acc_pick", port, chosen()).await;
    let bearer = format!("Bearer {TOKEN}");
    let auth = ("authorization", bearer.as_str());
    let page = send(&app, request("GET", "/", &[LOCAL, auth], "")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("id=\"picker\" method=\"post\""),
        "{}",
        page.body
    );
    let token = form_token(&page.body);
    knocked();
    // The old way, a GET (`<img src=…/pick?node=…>`), and any page of a node not picked:
    // nothing is resolved or connected.
    let a = send(
        &app,
        request("GET", "/pick?node=victim@localhost", &[LOCAL, auth], ""),
    )
    .await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    for path in [
        "/node/victim@localhost",
        "/node/victim@localhost/events",
        "/node/victim@localhost/processes/0.1.0",
        "/metrics?node=victim@localhost",
    ] {
        let a = send(&app, request("GET", path, &[LOCAL, auth], "")).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}: {}", a.body);
    }
    assert!(!knocked(), "a GET made the node look a node up");
    // A pick from another site's page, or without the form token, is refused.
    let form = ("content-type", "application/x-www-form-urlencoded");
    let body = format!("node=victim@localhost&token={token}");
    for headers in [
        vec![LOCAL, auth, form, ("origin", "http://evil.example")],
        vec![LOCAL, auth, form, ("sec-fetch-site", "cross-site")],
        vec![LOCAL, auth, form, ("origin", "null")],
    ] {
        let a = send(&app, request("POST", "/pick", &headers, &body)).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{headers:?}: {}", a.body);
    }
    let a = send(
        &app,
        request(
            "POST",
            "/pick",
            &[LOCAL, auth, form],
            "node=victim@localhost&token=guessed",
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert!(!knocked(), "a refused pick made the node look a node up");
    // Not a node name: 400, nothing remembered.
    let a = send(
        &app,
        request(
            "POST",
            "/pick",
            &[LOCAL, auth, form],
            &format!("node=not%20a%20node&token={token}"),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    // From the page itself: opened, then known to the other routes.
    let same = ("sec-fetch-site", "same-origin");
    let a = send(
        &app,
        request("POST", "/pick", &[LOCAL, auth, form, same], &body),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(a.header("location"), "/node/victim@localhost");
    let a = send(
        &app,
        request("GET", "/node/victim@localhost", &[LOCAL, auth], ""),
    )
    .await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}", a.body);
    assert!(a.body.contains("not reachable"), "{}", a.body);
    assert!(knocked(), "the picked node was looked up");
}

#[tokio::test]
async fn mounted_in_a_host_app_no_token_but_forms_still_same_origin_with_the_form_token() {
    let (app, node) = dashboard("acc_hostapp", free_port(), Access::HostApp).await;
    // No login of its own.
    let a = send(&app, request("GET", "/login", &[], "")).await;
    assert_eq!(
        (a.status, a.header("location")),
        (StatusCode::SEE_OTHER, "/")
    );
    // The host app authenticated the request: any Host (a proxy's), no token.
    let a = send(
        &app,
        request("GET", "/", &[("host", "drip.internal:8080")], ""),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let token = form_token(&a.body);
    let form = ("content-type", "application/x-www-form-urlencoded");
    let kill = format!("/node/{}/processes/0.1.0/kill", node.name());
    let host = ("host", "drip.internal:8080");
    let a = send(
        &app,
        request(
            "POST",
            &kill,
            &[host, form, ("origin", "https://evil.example")],
            &format!("token={token}"),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "cross-site: {}", a.body);
    let a = send(&app, request("POST", &kill, &[host, form], "token=guessed")).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "no form token: {}", a.body);
    // Behind a proxy the Host differs from the Origin; Fetch Metadata says same-origin.
    let a = send(
        &app,
        request(
            "POST",
            "/pick",
            &[
                host,
                form,
                ("origin", "https://drip.example"),
                ("sec-fetch-site", "same-origin"),
            ],
            &format!("node={}&token={token}", node.name()),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
}
