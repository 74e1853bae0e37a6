//! "Prevent overlapping partitions" (global.erl, OTP 25's default): a node that loses a
//! connection tells every node it knows (`{lost_connection, NodeA, XCreationA, OpIdA,
//! NodeB}`); each passes the news on once and drops its own connection to `NodeB` (asking it
//! to drop its side: `{remove_connection, Node}`), so that the cluster falls apart into fully
//! connected partitions rather than overlapping ones.

use std::time::{Duration, Instant};

use etf::{Atom, Term};

use super::connect::POP_VSN;
use super::server::{NodeDown, Server};
use super::terms::tagged;

/// How long a `lost_connection` is remembered (`?lost_conn_info_cleanup_time`).
const LOST_CONNECTION_MEMORY: Duration = Duration::from_secs(3600);

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
        xcre: &Term,
        op: i64,
        b: &Atom,
    ) {
        let key = (a.clone(), b.clone());
        let now = Instant::now();
        self.lost
            .retain(|_, (_, _, at)| now.duration_since(*at) < LOST_CONNECTION_MEMORY);
        if let Some((x, seen, _)) = self.lost.get(&key) {
            if x == xcre && op <= *seen {
                return;
            }
        }
        // Pass it on, so that every node hears of it even if A goes meanwhile.
        self.multicast(message, a);
        self.lost.insert(key, (xcre.clone(), op, now));
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
