//! A hostile node (review L5): a real erl node whose `rex` answers every
//! `erlang:list_to_pid/1` with a live pid of its own, whatever the text (`REX_IN_FRONT`), as
//! any node holding the cookie can. The process page must not put the pid text of its URL
//! into the page (the kill form's action), and a path that is not `0.N.S` is refused before
//! the node is asked; the page's paths are built from the pid's numbers. The dashboard
//! still answers afterwards.

mod support;

use std::time::Duration;

use axum::http::StatusCode;
use rotp_dashboard::{Access, Config};
use support::*;

const COOKIE: &str = "hostilecookie";

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_nodes_pid_answer_cannot_break_out_of_the_process_page() {
    let port = free_port();
    let _epmd = start_epmd(&otp_epmd(), port, &[]);
    let mut erl = start_erl(
        "dash_hostile",
        COOKIE,
        port,
        &format!("HOSTILE = true, {REX_IN_FRONT} timer:sleep(infinity)."),
    );
    wait_ready(&mut erl);
    let target = erl_node("dash_hostile");
    let node = client_node("dash_hostile_client", COOKIE, port).await;
    let app = rotp_dashboard::router(
        node.clone(),
        Config::new(vec![target.clone()], Access::HostApp),
    );
    // The node answers any text with the pid of its `rex` stand-in.
    let front = node
        .rpc(
            &target,
            "erlang",
            "whereis",
            vec![etf::Term::atom("rex")],
            Duration::from_secs(10),
        )
        .await;
    let etf::Term::Pid(front) = front else {
        panic!("rex is a pid: {front:?}");
    };
    let text = etf::Term::List(
        "<0.1.0>\"><script>"
            .chars()
            .map(|c| etf::Term::Integer(c as i64))
            .collect(),
    );
    let answer = node
        .rpc(
            &target,
            "erlang",
            "list_to_pid",
            vec![text],
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(answer, etf::Term::Pid(front.clone()), "the node is hostile");
    let host = [("host", "127.0.0.1")];
    // A path that would break out of the form's action: refused, nothing reflected.
    let evil = format!("/node/{target}/processes/0.1.0%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E");
    let a = send(&app, request("GET", &evil, &host, "")).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
    assert!(!a.body.contains("alert(1)"), "{}", a.body);
    // A well-formed path the node answers with another pid: the page is that pid's, its
    // kill form's action built from the pid's numbers, not from the URL.
    let a = send(
        &app,
        request("GET", &format!("/node/{target}/processes/0.1.0"), &host, ""),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let own = format!("0.{}.{}", front.id, front.serial);
    assert!(
        a.body
            .contains(&format!("action=\"/node/{target}/processes/{own}/kill\"")),
        "{}",
        a.body
    );
    assert!(a.body.contains(&format!("&lt;{own}&gt; on")), "{}", a.body);
    assert!(!a.body.contains("processes/0.1.0/kill"), "{}", a.body);
    // And the dashboard goes on: the node's home page.
    let a = send(&app, request("GET", &format!("/node/{target}"), &host, "")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(
        a.body.contains("data-field=\"process_count\""),
        "{}",
        a.body
    );
}
