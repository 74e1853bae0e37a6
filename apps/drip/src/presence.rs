//! Who is online, cluster wide (the book's Phoenix Presence): each live socket is a process
//! that joins the `pg` group `{drip_online, Username}` in Drip's scope for as long as the
//! socket is open. The online list is every such group on any node, with its member count:
//! that user's open connections. A socket's process ends with the socket (its [`Online`] is
//! dropped), and `pg` drops it from the group, on every node; a node that goes down takes its
//! members with it.

use etf::{Pid, Term};
use node::Node;
use runtime::{ExitReason, Message};
use serde::Serialize;

use crate::notify::SCOPE;

/// A user online, and how many connections it has open.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct OnlineUser {
    /// The username.
    pub username: String,
    /// Open connections on every node.
    pub connections: usize,
}

fn group(username: &str) -> Term {
    Term::Tuple(vec![
        Term::atom("drip_online"),
        Term::Binary(bytes::Bytes::copy_from_slice(username.as_bytes())),
    ])
}

/// One open connection; it leaves when dropped.
pub struct Online {
    node: Node,
    pid: Pid,
}

impl Drop for Online {
    fn drop(&mut self) {
        self.node
            .runtime()
            .send(&self.pid, Message::Term(Term::atom("stop")));
    }
}

/// Counts one more connection of `username`, until the [`Online`] is dropped.
pub async fn join(node: &Node, username: &str) -> Online {
    let pid = node.runtime().spawn(|mut ctx| async move {
        // Any message is the socket closing.
        ctx.recv().await;
        ExitReason::Normal
    });
    let online = Online {
        node: node.clone(),
        pid: pid.clone(),
    };
    if !node.pg_join(SCOPE, group(username), vec![pid]).await {
        tracing::warn!("cannot join {username}'s connection to the online list");
    }
    online
}

/// Who is online, read every half second by one task for all of this node's sockets (a socket
/// no longer walks every `pg` group itself on every tick).
pub fn watch(node: &Node) -> tokio::sync::watch::Receiver<Vec<OnlineUser>> {
    let (tx, rx) = tokio::sync::watch::channel(Vec::new());
    let node = node.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
        loop {
            tick.tick().await;
            let now = online(&node);
            tx.send_if_modified(|was| {
                if *was == now {
                    return false;
                }
                *was = now;
                true
            });
            if tx.is_closed() {
                return;
            }
        }
    });
    rx
}

/// Everyone online on any node, by username.
pub fn online(node: &Node) -> Vec<OnlineUser> {
    let mut users: Vec<OnlineUser> = node
        .pg_which_groups(SCOPE)
        .into_iter()
        .filter_map(|g| match g {
            Term::Tuple(ref v) if v.len() == 2 && v[0].as_atom() == Some("drip_online") => {
                let Term::Binary(name) = &v[1] else {
                    return None;
                };
                let connections = node.pg_members(SCOPE, &g).len();
                Some(OnlineUser {
                    username: String::from_utf8_lossy(name).into_owned(),
                    connections,
                })
            }
            _ => None,
        })
        .filter(|u| u.connections > 0)
        .collect();
    users.sort();
    users
}
