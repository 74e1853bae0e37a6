//! `{whereis, Name, From}`: the holder of a global name, asked by message (global.erl's
//! `handle_info({whereis, Name, From}, S)`). While global's own lock is set (two partitions
//! are joining) the answer waits, as `send_again/1` makes it wait. global.erl spawns a process
//! per waiting request to send it again later; rotp keeps the waiting requests in one list
//! (at most [`MAX_WAITING`]) that one timer looks at again, so a peer sending many of them
//! during a lock costs a list entry each, not a process (security review of 2026-12-07, L9).

use etf::{Pid, Term};

use super::calls::random_delay;
use super::server::Server;
use super::terms::reply;
use super::ServerMsg;

/// At most this many requests wait for global's lock; more are answered at once, from the
/// names as they are.
pub(crate) const MAX_WAITING: usize = 4096;

impl Server {
    /// Answers `{whereis, Name, {Pid, Tag}}`, or keeps it until global's lock is gone.
    pub(crate) fn whereis(&mut self, name: Term, pid: Pid, tag: Term) {
        let locked = self.shared.read().is_lock_set(&Term::atom("global"));
        if locked && self.deferred_whereis.len() < MAX_WAITING {
            self.deferred_whereis.push((name, pid, tag));
            if !self.whereis_timer {
                self.whereis_timer = true;
                // `send_again/1`'s `random_sleep(5)`.
                self.send_after(random_delay(5), ServerMsg::WhereisAgain);
            }
            return;
        }
        let found = self.shared.where_(self.ctx.runtime(), &name);
        reply(
            &self.ctx,
            &pid,
            tag,
            found.map_or(Term::atom("undefined"), Term::Pid),
        );
    }

    /// The timer: each waiting request is answered, or waits again if the lock is still set.
    pub(crate) fn whereis_again(&mut self) {
        self.whereis_timer = false;
        for (name, pid, tag) in std::mem::take(&mut self.deferred_whereis) {
            self.whereis(name, pid, tag);
        }
    }
}
