//! Notices for users ("upload done", "download ready", "X shared a file with you"), cluster
//! wide: every node runs a relay process, `drip_notices`, that is a member of the `pg` group
//! [`GROUP`] in the scope [`SCOPE`] (kernel's `pg`, so an erl node can join and listen too). A
//! notice is sent to every relay in the group, this node's included; each relay hands what it
//! gets to its node's broadcast, which that node's live sockets follow. So a user whose browser
//! is on node B hears what node A did.
//!
//! On the wire a notice is `{drip_notice, UserId, Kind, Text, MediaId | undefined, Link |
//! undefined}`, every text a UTF-8 binary.

use bytes::Bytes;
use etf::{Atom, Term};
use node::Node;
use runtime::{ExitReason, Message};
use serde::Serialize;
use tokio::sync::broadcast;

/// The `pg` scope Drip's nodes share (notices and presence).
pub const SCOPE: &str = "drip_pg";
/// The group of notice relays, one per node.
pub const GROUP: &str = "drip_notices";

/// One notice for one user.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Notice {
    /// Whom it is for.
    pub user_id: String,
    /// What happened: `upload_done`, `upload_failed`, `download_ready`, `download_failed`,
    /// `shared`.
    pub kind: String,
    /// In words.
    pub text: String,
    /// The file it is about.
    pub media_id: Option<String>,
    /// A link to follow, if any.
    pub link: Option<String>,
}

fn binary(s: &str) -> Term {
    Term::Binary(Bytes::copy_from_slice(s.as_bytes()))
}

fn optional(s: &Option<String>) -> Term {
    s.as_deref().map_or(Term::atom("undefined"), binary)
}

fn text(t: &Term) -> Option<String> {
    match t {
        Term::Binary(b) => String::from_utf8(b.to_vec()).ok(),
        _ => None,
    }
}

/// Whether `link` is a path on this site: `/…`, never `//host` or `/\\host` (which browsers
/// follow off-site) and never a `javascript:` or other scheme. A notice may come from any
/// member of the group, i.e. any cookie holder; a link it carries goes into users' pages.
pub fn local_link(link: &str) -> bool {
    link.starts_with('/')
        && !link.starts_with("//")
        && !link.starts_with("/\\")
        && !link.chars().any(|c| c.is_control() || c.is_whitespace())
}

fn optional_text(t: &Term) -> Option<Option<String>> {
    if t.as_atom() == Some("undefined") {
        return Some(None);
    }
    text(t).map(Some)
}

impl Notice {
    /// The notice as the relays send it.
    pub fn to_term(&self) -> Term {
        Term::Tuple(vec![
            Term::atom("drip_notice"),
            binary(&self.user_id),
            binary(&self.kind),
            binary(&self.text),
            optional(&self.media_id),
            optional(&self.link),
        ])
    }

    /// A notice from a relay's message; `None` for anything else.
    pub fn from_term(term: &Term) -> Option<Notice> {
        let Term::Tuple(v) = term else {
            return None;
        };
        match &v[..] {
            [tag, user, kind, words, media, link] if tag.as_atom() == Some("drip_notice") => {
                Some(Notice {
                    user_id: text(user)?,
                    kind: text(kind)?,
                    text: text(words)?,
                    media_id: optional_text(media)?,
                    // A link that would leave the site is dropped, the notice kept.
                    link: optional_text(link)?.filter(|l| local_link(l)),
                })
            }
            _ => None,
        }
    }
}

/// The cluster's notices, as this node sends and hears them.
#[derive(Clone)]
pub struct Notices {
    tx: broadcast::Sender<Notice>,
    node: Node,
}

impl Notices {
    /// Starts this node's relay and joins it to the group.
    pub async fn start(node: &Node) -> anyhow::Result<Notices> {
        let tx = broadcast::channel(1024).0;
        let local = tx.clone();
        let relay = node.runtime().spawn(move |mut ctx| async move {
            if ctx.register(Atom::from(GROUP)).is_err() {
                return ExitReason::atom("already_started");
            }
            loop {
                let m = ctx.recv().await;
                if let Some(notice) = m.as_term().and_then(Notice::from_term) {
                    let _ = local.send(notice);
                }
            }
        });
        if !node.pg_join(SCOPE, Term::atom(GROUP), vec![relay]).await {
            anyhow::bail!("cannot join the pg group {GROUP} in scope {SCOPE}");
        }
        Ok(Notices {
            tx,
            node: node.clone(),
        })
    }

    /// Sends `notice` to its user's sockets on every node.
    pub fn send(&self, notice: Notice) {
        // Never the text at info: it names users' files and who shares what with whom.
        tracing::debug!(user = %notice.user_id, kind = %notice.kind, "notice");
        let relays = self.node.pg_members(SCOPE, &Term::atom(GROUP));
        if relays.is_empty() {
            // Not even ours (it is joining): this node's sockets still hear it.
            let _ = self.tx.send(notice);
            return;
        }
        let term = notice.to_term();
        for relay in relays {
            self.node
                .runtime()
                .send(&relay, Message::Term(term.clone()));
        }
    }

    /// Follows the notices this node hears from now on.
    pub fn follow(&self) -> broadcast::Receiver<Notice> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_goes_through_its_term_unchanged() {
        let n = Notice {
            user_id: "u1".into(),
            kind: "download_ready".into(),
            text: "a.bin is ready".into(),
            media_id: Some("m1".into()),
            link: None,
        };
        assert_eq!(Notice::from_term(&n.to_term()), Some(n.clone()));
        assert_eq!(Notice::from_term(&Term::atom("drip_notice")), None);
        // What a cookie holder could send: a link off the site is dropped, the notice kept.
        for evil in [
            "javascript:alert(1)",
            "//evil.example/x",
            "/\\evil.example",
            "https://evil.example/",
            "/a\nb",
        ] {
            let forged = Notice {
                link: Some(evil.into()),
                ..n.clone()
            };
            let got = Notice::from_term(&forged.to_term()).expect("still a notice");
            assert_eq!(got.link, None, "{evil}");
        }
        assert!(local_link("/files/abc/cached"));
    }
}
