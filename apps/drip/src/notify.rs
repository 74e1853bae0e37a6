//! Notices for users ("upload done", "download ready", "X shared a file with you"): each node
//! keeps a broadcast of them that its users' live sockets follow.

use serde::Serialize;
use tokio::sync::broadcast;

/// One notice for one user.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Notice {
    /// Whom it is for.
    pub user_id: String,
    /// What happened: `upload_done`, `upload_failed`, `download_ready`, `shared`.
    pub kind: String,
    /// In words.
    pub text: String,
    /// The file it is about.
    pub media_id: Option<String>,
    /// A link to follow, if any.
    pub link: Option<String>,
}

/// This node's notices.
#[derive(Clone, Debug)]
pub struct Notices {
    tx: broadcast::Sender<Notice>,
}

impl Default for Notices {
    fn default() -> Self {
        Notices {
            tx: broadcast::channel(1024).0,
        }
    }
}

impl Notices {
    /// Sends `notice` to whoever follows.
    pub fn send(&self, notice: Notice) {
        tracing::info!(user = %notice.user_id, kind = %notice.kind, "{}", notice.text);
        let _ = self.tx.send(notice);
    }

    /// Follows the notices from now on.
    pub fn follow(&self) -> broadcast::Receiver<Notice> {
        self.tx.subscribe()
    }
}
