//! "Prevent overlapping partitions" (global.erl, OTP 25's default): a node that loses a
//! connection tells every node it knows (`{lost_connection, NodeA, XCreationA, OpIdA,
//! NodeB}`); each passes the news on once and drops its own connection to `NodeB` (asking it
//! to drop its side: `{remove_connection, Node}`), so that the cluster falls apart into fully
//! connected partitions rather than overlapping ones.
//!
//! Each report is remembered for an hour, to pass it on only once; OTP trusts its peers with
//! that table, rotp bounds it (security review of 2026-12-07, L9: a peer sending unique pairs
//! grew it for an hour, and each message scanned it whole): at most [`MAX_LOST`] reports,
//! the least recently reported forgotten first, the old ones forgotten on a timer, and the
//! peer's `XCreationA` must be an integer, as global.erl makes it.

use std::num::NonZeroUsize;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use etf::{Atom, Term};
use lru::LruCache;

use super::connect::POP_VSN;
use super::server::{NodeDown, Server};
use super::terms::tagged;
use super::ServerMsg;

/// How long a `lost_connection` is remembered (`?lost_conn_info_cleanup_time`).
const LOST_CONNECTION_MEMORY: Duration = Duration::from_secs(3600);

/// At most this many `lost_connection` reports are remembered.
pub(crate) const MAX_LOST: usize = 16_384;

/// A remembered `{lost_connection, NodeA, XCreationA, OpIdA, NodeB}`.
pub(crate) struct Lost {
    xcreation: i64,
    op: i64,
    at: Instant,
}

/// `global_lost_connections`: `{NodeA, NodeB} => {XCreation, OpId}`, least recently reported
/// first (which is also the oldest first: an entry is only ever replaced by a newer report).
pub(crate) type LostConnections = LruCache<(Atom, Atom), Lost>;

/// An empty table of [`MAX_LOST`] entries.
pub(crate) fn lost_connections() -> LostConnections {
    LruCache::new(NonZeroUsize::new(MAX_LOST).unwrap_or(NonZeroUsize::MIN))
}

/// `?MIN_64BIT_SMALL_INT`.
const MIN_64BIT_SMALL_INT: i64 = -(1 << 59);

impl Server {
    /// `inform_connection_loss/2`.
    pub(crate) fn inform_connection_loss(&mut self, node: &Atom) {
        if !(self.connect_all && self.prevent_over_part) {
            return;
        }
        let creation = i64::from(self.node.runtime().creation());
        let xcreation = self.creation_extension + creation - MIN_64BIT_SMALL_INT;
        let message = tagged(
            "lost_connection",
            vec![
                Term::Atom(self.me()),
                Term::Integer(xcreation),
                Term::Integer(super::unique_integer()),
                Term::Atom(node.clone()),
            ],
        );
        self.multicast(&message, node);
    }

    /// `gns_volatile_multicast/5` to known and pending nodes of version 7 or later.
    fn multicast(&self, message: &Term, except: &Atom) {
        let targets: Vec<Atom> = self
            .known
            .iter()
            .chain(self.pending.iter())
            .filter(|(n, v)| *n != except && **v >= POP_VSN)
            .map(|(n, _)| n.clone())
            .collect();
        for node in targets {
            self.volatile_send(&node, message.clone());
        }
    }

    /// `{lost_connection, NodeA, XCreationA, OpIdA, NodeB}`: A lost B.
    pub(crate) fn lost_connection(
        &mut self,
        message: &Term,
        a: &Atom,
        xcreation: i64,
        op: i64,
        b: &Atom,
    ) {
        let key = (a.clone(), b.clone());
        let now = Instant::now();
        if let Some(seen) = self.lost.peek(&key) {
            let fresh = now.saturating_duration_since(seen.at) < LOST_CONNECTION_MEMORY;
            if fresh && seen.xcreation == xcreation && op <= seen.op {
                return;
            }
        }
        // Pass it on, so that every node hears of it even if A goes meanwhile.
        self.multicast(message, a);
        self.lost.put(
            key,
            Lost {
                xcreation,
                op,
                at: now,
            },
        );
        self.lost_changed();
        let me = self.me();
        let rm = if me == *b { a.clone() } else { b.clone() };
        if !(self.known.contains_key(&rm) || self.pending.contains_key(&rm)) {
            return;
        }
        let what = if self.node_vsn(&rm) < POP_VSN {
            self.node.disconnect(&rm);
            "disconnected old"
        } else {
            self.volatile_send(
                &rm,
                tagged("remove_connection", vec![Term::Atom(me.clone())]),
            );
            "requested disconnect from"
        };
        tracing::warn!(
            "'global' at node {me} {what} node {rm} in order to prevent overlapping partitions"
        );
        self.handle_nodedown(&rm, NodeDown::RemoveConnection);
    }

    /// Forgets the reports older than an hour, and sets the timer for the next one to go.
    pub(crate) fn forget_lost_connections(&mut self) {
        self.lost_timer = false;
        let now = Instant::now();
        while let Some((_, oldest)) = self.lost.peek_lru() {
            if now.saturating_duration_since(oldest.at) < LOST_CONNECTION_MEMORY {
                break;
            }
            self.lost.pop_lru();
        }
        self.lost_changed();
    }

    /// Publishes the table's size, and makes sure a timer will forget its oldest entry.
    fn lost_changed(&mut self) {
        self.shared
            .lost_connections
            .store(self.lost.len(), Ordering::Relaxed);
        if self.lost_timer {
            return;
        }
        let Some((_, oldest)) = self.lost.peek_lru() else {
            return;
        };
        let due = (oldest.at + LOST_CONNECTION_MEMORY).saturating_duration_since(Instant::now());
        self.lost_timer = true;
        self.send_after(due, ServerMsg::ForgetLostConnections);
    }

    /// `{remove_connection, Node}`: Node asks us to drop our connection to it.
    pub(crate) fn remove_connection(&mut self, node: &Atom) {
        if !(self.known.contains_key(node) || self.pending.contains_key(node)) {
            return;
        }
        self.node.disconnect(node);
        self.handle_nodedown(node, NodeDown::RemoveConnection);
        tracing::warn!(
            "'global' at node {} disconnected node {node} in order to prevent overlapping partitions",
            self.me()
        );
    }
}
