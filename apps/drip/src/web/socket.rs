//! The live socket (`/socket`), the book's channels without their hole: the client joins
//! topics by sending `{"join": TOPIC}`, and may join only `user:<its own id>` (its notices;
//! joining it also counts the connection as online) and `presence` (who is online,
//! cluster-wide, sent whenever it changes). Any other topic is answered
//! `{"event": "refused", ...}` and nothing of it is sent.
//!
//! Who opens one: a browser's session or a script's bearer token. A browser's handshake must
//! come from Drip's own pages (`Origin` is Drip's host or `--public-url`), so no other site
//! rides a user's cookie; a message is at most [`MAX_MESSAGE`] bytes; a user has at most
//! [`PER_USER`] sockets on a node; every socket closes when Drip stops.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::ui::WebUser;
use crate::app::App;
use crate::db::User;

/// The largest message a client may send (a join is a few dozen bytes).
pub const MAX_MESSAGE: usize = 4096;
/// Sockets one user may have open on one node.
pub const PER_USER: usize = 32;
/// The most of a refused topic the log shows.
const LOGGED_TOPIC: usize = 80;

/// Open sockets by user id, on this node.
#[derive(Debug, Default)]
pub struct SocketCount(Mutex<HashMap<String, usize>>);

/// One open socket: counted until dropped.
struct Counted<'a>(&'a SocketCount, String);

impl SocketCount {
    fn open(&self, user_id: &str) -> Option<Counted<'_>> {
        let mut open = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(user_id.to_owned()).or_default();
        if *n >= PER_USER {
            return None;
        }
        *n += 1;
        Some(Counted(self, user_id.to_owned()))
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        let mut open = self.0 .0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.1);
            }
        }
    }
}

/// Who opened a socket: a browser's session, or a script's bearer token.
pub struct SocketUser(pub User);

impl FromRequestParts<Arc<App>> for SocketUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<SocketUser, ApiError> {
        if let Ok(web) = WebUser::from_request_parts(parts, app).await {
            return Ok(SocketUser(web.user));
        }
        let super::api::ApiUser(user, _) =
            super::api::ApiUser::from_request_parts(parts, app).await?;
        Ok(SocketUser(user))
    }
}

/// Whether a request's `Origin` (if it has one: browsers always send it on a socket's
/// handshake) is Drip itself: the `Host` it was sent to, or `--public-url`.
pub fn same_origin(headers: &HeaderMap, public_url: Option<&str>) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    if public_url.is_some_and(|p| origin.eq_ignore_ascii_case(p)) {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    matches!((host, authority), (Some(h), Some(a)) if h.eq_ignore_ascii_case(a))
}

/// `GET /socket`.
pub async fn socket(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    user: SocketUser,
    ws: WebSocketUpgrade,
) -> Response {
    if !same_origin(&headers, app.config.public_url.as_deref()) {
        tracing::warn!(user = %user.0.id, "a socket opened from another site was refused");
        return (
            StatusCode::FORBIDDEN,
            "a socket opens only from Drip's own pages\n",
        )
            .into_response();
    }
    ws.max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .on_upgrade(move |socket| async move {
            let Some(_counted) = app.sockets.open(&user.0.id) else {
                let mut socket = socket;
                let value =
                    serde_json::json!({"event": "error", "reason": "too many open sockets"});
                let _ = socket.send(frame(value)).await;
                return;
            };
            follow(&app, user.0, socket).await;
        })
}

/// A text frame of `value`.
fn frame(value: serde_json::Value) -> WsMessage {
    WsMessage::Text(value.to_string().into())
}

/// At most [`LOGGED_TOPIC`] characters of what a client sent, without control characters, for
/// the log.
fn for_log(topic: &str) -> String {
    topic
        .chars()
        .take(LOGGED_TOPIC)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

async fn follow(app: &App, user: User, mut socket: WebSocket) {
    let own = format!("user:{}", user.id);
    let mut notices = app.notices.follow();
    let mut stopping = app.stopping.subscribe();
    let mut online = app.online.clone();
    let mut joined_own = None;
    // Whether it follows presence.
    let mut watching = false;
    loop {
        tokio::select! {
            _ = async { stopping.wait_for(|s| *s).await.is_ok() } => {
                let _ = socket.send(WsMessage::Close(None)).await;
                return;
            }
            notice = notices.recv() => match notice {
                Ok(n) if joined_own.is_some() && n.user_id == user.id => {
                    let mut value = serde_json::to_value(&n).unwrap_or_default();
                    value["event"] = "notice".into();
                    value["topic"] = own.clone().into();
                    if socket.send(frame(value)).await.is_err() {
                        return;
                    }
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
            changed = online.changed(), if watching => {
                if changed.is_err() {
                    return;
                }
                let users = serde_json::to_value(&*online.borrow_and_update()).unwrap_or_default();
                let value = serde_json::json!({"event": "presence", "topic": "presence", "users": users});
                if socket.send(frame(value)).await.is_err() {
                    return;
                }
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(WsMessage::Text(text))) => {
                    let topic = serde_json::from_str::<serde_json::Value>(&text)
                        .ok()
                        .and_then(|v| v.get("join").and_then(|t| t.as_str()).map(str::to_owned));
                    let Some(topic) = topic else {
                        let value = serde_json::json!({"event": "error", "reason": "send {\"join\": TOPIC}"});
                        if socket.send(frame(value)).await.is_err() {
                            return;
                        }
                        continue;
                    };
                    let answer = if topic == own {
                        if joined_own.is_none() {
                            joined_own = Some(crate::presence::join(&app.node, &user.username).await);
                        }
                        serde_json::json!({"event": "joined", "topic": topic})
                    } else if topic == "presence" {
                        watching = true;
                        // The list as it is now goes at once, then each change.
                        online.mark_changed();
                        serde_json::json!({"event": "joined", "topic": topic})
                    } else {
                        tracing::warn!(user = %user.id, topic = %for_log(&topic), "a socket asked to join a topic not its own");
                        serde_json::json!({"event": "refused", "topic": topic, "reason": "a socket may join only its own user's topic and presence"})
                    };
                    if socket.send(frame(answer)).await.is_err() {
                        return;
                    }
                }
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, host.parse().expect("a host"));
        if let Some(o) = origin {
            h.insert(header::ORIGIN, o.parse().expect("an origin"));
        }
        h
    }

    #[test]
    fn only_drips_own_pages_open_a_socket() {
        assert!(same_origin(
            &headers(Some("http://127.0.0.1:4000"), "127.0.0.1:4000"),
            None
        ));
        assert!(same_origin(&headers(None, "127.0.0.1:4000"), None));
        assert!(!same_origin(
            &headers(Some("http://evil.example"), "127.0.0.1:4000"),
            None
        ));
        assert!(!same_origin(
            &headers(Some("http://127.0.0.1:4001"), "127.0.0.1:4000"),
            None
        ));
        assert!(!same_origin(&headers(Some("null"), "127.0.0.1:4000"), None));
        // Behind a proxy that rewrites Host, the public URL is Drip's origin.
        assert!(same_origin(
            &headers(Some("https://drip.example"), "127.0.0.1:4000"),
            Some("https://drip.example")
        ));
    }

    #[test]
    fn a_user_has_a_bounded_number_of_sockets() {
        let count = SocketCount::default();
        let held: Vec<_> = (0..PER_USER)
            .map(|_| count.open("u1").expect("room"))
            .collect();
        assert!(count.open("u1").is_none());
        assert!(count.open("u2").is_some());
        drop(held);
        assert!(count.open("u1").is_some());
        assert_eq!(
            for_log(&format!("a\nb{}", "x".repeat(500))).len(),
            LOGGED_TOPIC
        );
    }
}
