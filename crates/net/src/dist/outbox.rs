//! What a connection has to send: the queue every sender on the node appends to and the
//! connection's writer drains, one batch per socket write.
//!
//! Senders encode their own messages, as erts encodes in the sending process
//! (`erts_dsig_send`), into a per-thread scratch buffer, then frame them (the distribution
//! header, whose atom cache references depend on every header before it) and append them
//! under a short lock; the writer swaps out everything queued at once. Until the handshake has agreed on
//! flags the messages wait unencoded, and are encoded in order when the connection comes up:
//! an entry made on a node's first signal (erts auto-connects) queues from the start.
//!
//! The bytes queued and not yet written are the connection's backlog: past [`BUSY_LIMIT`] a
//! sending process waits (`dist_buf_busy_limit`).

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use dist::{ControlMessage, DistFlags, Encoded, OutputCache, Writer};
use etf::Term;

/// A connection is busy past this many queued bytes (`dist_buf_busy_limit`'s default, 1 MiB).
pub const BUSY_LIMIT: usize = 1 << 20;

/// Past this many bytes queued and not written the peer is taken to have stopped reading, and
/// the connection is dropped (erts has no such limit: its senders are suspended at the busy
/// limit; ours are too, but a process's own sends and the node's control messages go out
/// before it waits, so only this bounds what a peer that never reads can make us hold).
pub const HARD_LIMIT: usize = 128 << 20;

/// A message waiting for the handshake counts as this many bytes besides its payload's
/// binaries (a rough size: it is encoded only once the flags are known).
const UNENCODED_OVERHEAD: usize = 64;

/// Encoded messages this large travel as their own buffer instead of being copied into a batch.
const OWN_BUFFER: usize = 64 * 1024;

/// A sender's scratch buffer is kept for the next message up to this size (so messages of a
/// megabyte or two do not allocate and fault in their buffer each time).
const KEEP_SCRATCH: usize = 4 << 20;

/// A batch buffer takes more small messages while shorter than this.
const BATCH_LIMIT: usize = 256 * 1024;

thread_local! {
    /// Where a sender encodes before framing: reused, so a small message costs no allocation.
    static SCRATCH: RefCell<Encoded> = RefCell::new(Encoded::default());
    /// The outbox (by address) whose reader is handing on a batch of packets on this thread:
    /// what that batch queues to it wakes the writer once, at the batch's end.
    static HOLDING: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Why a message was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotQueued {
    /// The connection has ended.
    #[error("the connection is closed")]
    Closed,
    /// The term cannot be encoded (an atom too long, say); nothing else is lost.
    #[error("the message cannot be encoded")]
    Unencodable,
    /// More than [`HARD_LIMIT`] bytes wait for a peer that does not read them: the connection
    /// is aborted.
    #[error("the peer does not read: over {HARD_LIMIT} bytes queued")]
    Overloaded,
}

/// Bytes queued for a connection and not yet written: what lets a sending process wait while
/// the connection is busy, as erts suspends a process whose distribution buffer is over
/// `dist_buf_busy_limit`. The wait is asynchronous: a suspended process holds no thread, so
/// however many wait for one stalled peer, the node's other connections and processes run on.
#[derive(Debug, Default)]
pub struct Backlog {
    bytes: AtomicUsize,
    closed: AtomicBool,
    drained: tokio::sync::Notify,
}

impl Backlog {
    fn add(&self, n: usize) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// Bytes queued and not yet written.
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Whether senders should wait.
    pub fn busy(&self) -> bool {
        self.bytes() > BUSY_LIMIT
    }

    fn written(&self, n: usize) {
        let before = self.bytes.fetch_sub(n, Ordering::Relaxed);
        if before > BUSY_LIMIT / 2 && before - n <= BUSY_LIMIT / 2 {
            self.drained.notify_waiters();
        }
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.drained.notify_waiters();
    }

    /// Waits until the backlog is below half the limit or the connection is gone (a stalled
    /// peer is dropped by the tick timeout, which ends every wait on it).
    pub async fn drained(&self) {
        loop {
            let notified = self.drained.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before looking, so a drain between the look and the wait wakes us.
            notified.as_mut().enable();
            if self.bytes() <= BUSY_LIMIT / 2 || self.closed.load(Ordering::Relaxed) {
                return;
            }
            notified.await;
        }
    }
}

/// Packets moved and bytes waiting, for introspection and backpressure.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    /// Packets read.
    pub read: AtomicU64,
    /// Packets written.
    pub written: AtomicU64,
    /// Bytes read from the socket (`erlang:statistics(io)`'s input).
    pub bytes_in: AtomicU64,
    /// Bytes written to the socket (its output).
    pub bytes_out: AtomicU64,
    /// Bytes senders have queued and the writer has not written yet.
    pub backlog: Backlog,
    /// Bytes the peer's unfinished fragmented messages hold (as of the last packets read; at
    /// the end, what they held when the connection closed).
    pub unfinished: AtomicU64,
}

/// The queue of one connection (or of a connection still being set up).
#[derive(Debug, Default)]
pub struct Outbox {
    queue: Mutex<Queue>,
    /// Set once the handshake agreed on flags; senders encode with it from then on.
    writer: OnceLock<Writer>,
    /// Wakes the writer when the queue stops being empty.
    ready: tokio::sync::Notify,
    stats: ConnectionStats,
    /// Messages queued so far (the reader busy-polls only while we are answering the peer).
    queued: AtomicU64,
    /// A wake-up was held back (see [`Outbox::hold_wakeups`]).
    held: AtomicBool,
    /// Set when the connection must end at once, whatever is queued (see [`HARD_LIMIT`]).
    aborted: AtomicBool,
    /// Wakes the connection's reader when it is aborted.
    abort: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct Queue {
    /// Messages queued before the flags were known, in order.
    unencoded: Vec<(ControlMessage, Option<Term>)>,
    /// What they count for in the backlog.
    unencoded_bytes: usize,
    /// Framed packets, in order: small ones share a buffer, large ones have their own.
    buffers: Vec<Chunk>,
    /// What the peer's atom cache holds after the headers framed so far.
    cache: OutputCache,
    /// Packets in `buffers`.
    packets: u64,
    /// Emptied buffers the writer handed back, for reuse.
    spare: Vec<Vec<u8>>,
    disconnect: bool,
    closed: bool,
}

/// A buffer of queued packets: a batch of small ones copied together, or a piece of a large
/// message (a header, or a stretch of its body shared with the encoder, never copied).
#[derive(Debug)]
pub(crate) enum Chunk {
    /// Small packets, whole.
    Batch(Vec<u8>),
    /// Part of a large message.
    Shared(etf::Bytes),
}

impl Chunk {
    /// The bytes to write.
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            Chunk::Batch(v) => v,
            Chunk::Shared(b) => b,
        }
    }
}

/// What the writer takes from the queue in one go.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub(crate) buffers: Vec<Chunk>,
    pub(crate) packets: u64,
    pub(crate) bytes: usize,
    pub(crate) disconnect: bool,
}

impl Outbox {
    /// An empty queue for a connection whose flags are not known yet.
    pub fn new() -> Outbox {
        Outbox::default()
    }

    /// The connection's counters.
    pub fn stats(&self) -> &ConnectionStats {
        &self.stats
    }

    /// How many messages have been queued so far.
    pub fn queued(&self) -> u64 {
        self.queued.load(Ordering::Relaxed)
    }

    /// Closes a queue nothing was ever queued to, at once with the check, so that a sender
    /// racing with it is refused (and fires `noconnection` itself) rather than queueing to a
    /// connection that is gone: whether it closed it. A queue that carried something is left
    /// open (its links and monitors must be fired).
    pub fn close_if_unused(&self) -> bool {
        let mut queue = self.lock();
        if self.queued() > 0 {
            return false;
        }
        queue.closed = true;
        drop(queue);
        self.stats.backlog.close();
        self.ready.notify_one();
        true
    }

    /// The flags the connection agreed on, once it is up.
    pub fn flags(&self) -> Option<DistFlags> {
        self.writer.get().map(Writer::flags)
    }

    /// Whether senders should wait for the writer (over [`BUSY_LIMIT`] bytes queued).
    pub fn busy(&self) -> bool {
        self.stats.backlog.busy()
    }

    /// Queues a control message and its payload. Encoded here, by the caller, once the
    /// connection is up; kept as it is until then.
    pub fn send(&self, control: ControlMessage, payload: Option<Term>) -> Result<(), NotQueued> {
        if self.stats.backlog.bytes() > HARD_LIMIT {
            self.abort();
            return Err(NotQueued::Overloaded);
        }
        let Some(writer) = self.writer.get() else {
            let mut queue = self.lock();
            if queue.closed {
                return Err(NotQueued::Closed);
            }
            match self.writer.get() {
                // It came up meanwhile; the unencoded ones are already sent.
                Some(writer) => {
                    let mut message = Encoded::default();
                    writer
                        .encode(&control, payload.as_ref(), &mut message)
                        .map_err(|_| NotQueued::Unencodable)?;
                    self.append(&mut queue, writer, &mut message);
                }
                None => {
                    // Counted in the backlog, so senders to a node still being set up wait too.
                    let size = UNENCODED_OVERHEAD + payload.as_ref().map_or(0, binary_bytes);
                    self.stats.backlog.add(size);
                    queue.unencoded_bytes += size;
                    queue.unencoded.push((control, payload));
                    self.queued.fetch_add(1, Ordering::Relaxed);
                }
            }
            return Ok(());
        };
        SCRATCH.with(|scratch| {
            let mut message = scratch.borrow_mut();
            writer
                .encode(&control, payload.as_ref(), &mut message)
                .map_err(|_| NotQueued::Unencodable)?;
            let mut queue = self.lock();
            if queue.closed {
                return Err(NotQueued::Closed);
            }
            self.append(&mut queue, writer, &mut message);
            drop(queue);
            message.shrink(KEEP_SCRATCH);
            Ok(())
        })
    }

    /// Queues a tick (an empty packet).
    pub(crate) fn tick(&self) {
        let mut queue = self.lock();
        if !queue.closed {
            let wake = queue.buffers.is_empty();
            self.stats.backlog.add(dist::packet::TICK.len());
            queue.packets += 1;
            let Queue { buffers, spare, .. } = &mut *queue;
            batch_buffer(buffers, spare).extend_from_slice(&dist::packet::TICK);
            if wake {
                self.ready.notify_one();
            }
        }
    }

    /// The connection's reader is about to hand on a batch of packets, on this thread: what
    /// the batch makes the node queue here (replies, `SPAWN_REPLY`s) wakes the writer only at
    /// [`Outbox::wake_held`], so that with what the processes it woke send at once (a
    /// call's result) it goes out in one write, as erts's port task writes what a scheduler
    /// queued. Other senders are not held.
    pub(crate) fn hold_wakeups(&self) {
        HOLDING.with(|h| h.set(self as *const Outbox as usize));
    }

    /// The batch is handed on: senders on this thread wake the writer again. What the batch
    /// queued still waits for [`Outbox::wake_held`] (what others append behind it meanwhile
    /// waits with it: the queue is not empty, so they do not wake the writer).
    pub(crate) fn end_hold(&self) {
        HOLDING.with(|h| h.set(0));
    }

    /// Wakes the writer for what the last batch queued, if it queued anything: whether it did.
    pub(crate) fn wake_held(&self) -> bool {
        let held = self.held.swap(false, Ordering::Relaxed);
        if held {
            self.ready.notify_one();
        }
        held
    }

    /// Wakes the writer for a queue that stopped being empty, unless it is this thread's
    /// reader's batch that filled it.
    fn wake_writer(&self) {
        if HOLDING.with(|h| h.get()) == self as *const Outbox as usize {
            self.held.store(true, Ordering::Relaxed);
        } else {
            self.ready.notify_one();
        }
    }

    /// Asks the writer to close the connection after what is queued
    /// (`erlang:disconnect_node/1`).
    pub fn disconnect(&self) {
        let mut queue = self.lock();
        queue.disconnect = true;
        drop(queue);
        self.ready.notify_one();
    }

    /// The handshake agreed on `flags`: encodes what waited for them.
    pub(crate) fn start(&self, flags: DistFlags) {
        let mut queue = self.lock();
        if self.writer.set(Writer::new(flags)).is_err() {
            return;
        }
        let Some(writer) = self.writer.get() else {
            return;
        };
        let unencoded = std::mem::take(&mut queue.unencoded);
        self.stats
            .backlog
            .written(std::mem::take(&mut queue.unencoded_bytes));
        let mut message = Encoded::default();
        for (control, payload) in unencoded {
            // A term that cannot be encoded is dropped; nothing else is lost.
            if writer
                .encode(&control, payload.as_ref(), &mut message)
                .is_ok()
            {
                self.append(&mut queue, writer, &mut message);
            }
        }
    }

    /// Ends the connection at once, dropping what is queued: its reader stops, and so does the
    /// writer, even one blocked writing to a peer that does not read.
    pub fn abort(&self) {
        if !self.aborted.swap(true, Ordering::Relaxed) {
            tracing::warn!("distribution connection aborted: {}", NotQueued::Overloaded);
        }
        self.close();
        self.abort.notify_waiters();
    }

    /// Resolves once [`Outbox::abort`] is called.
    pub(crate) async fn aborted(&self) {
        loop {
            let notified = self.abort.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.aborted.load(Ordering::Relaxed) {
                return;
            }
            notified.await;
        }
    }

    /// The connection ended: nothing more is queued, waiting senders go on.
    pub(crate) fn close(&self) {
        let mut queue = self.lock();
        queue.closed = true;
        queue.unencoded.clear();
        queue.unencoded_bytes = 0;
        queue.buffers.clear();
        drop(queue);
        self.stats.backlog.close();
        self.ready.notify_one();
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Waits for something to write and takes all of it.
    pub(crate) async fn next_batch(&self, mut reuse: Vec<Chunk>) -> Batch {
        loop {
            {
                let mut queue = self.lock();
                for chunk in reuse.drain(..) {
                    if let Chunk::Batch(mut buffer) = chunk {
                        if queue.spare.len() < 2 && buffer.capacity() <= BATCH_LIMIT * 2 {
                            buffer.clear();
                            queue.spare.push(buffer);
                        }
                    }
                }
                if !queue.buffers.is_empty() || queue.disconnect || queue.closed {
                    let buffers = std::mem::take(&mut queue.buffers);
                    let bytes = buffers.iter().map(|c| c.as_slice().len()).sum();
                    return Batch {
                        buffers,
                        packets: std::mem::take(&mut queue.packets),
                        bytes,
                        disconnect: queue.disconnect || queue.closed,
                    };
                }
            }
            self.ready.notified().await;
        }
    }

    /// The writer wrote a batch.
    pub(crate) fn written(&self, batch: &Batch) {
        self.stats.backlog.written(batch.bytes);
        self.stats
            .written
            .fetch_add(batch.packets, Ordering::Relaxed);
        self.stats
            .bytes_out
            .fetch_add(batch.bytes as u64, Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Frames an encoded message onto the queue: into the batch buffer when small; when large,
    /// as pieces that share its body (taken out of `message`), for a vectored write.
    fn append(&self, queue: &mut Queue, writer: &Writer, message: &mut Encoded) {
        let wake = queue.buffers.is_empty();
        let Queue {
            buffers,
            cache,
            spare,
            ..
        } = &mut *queue;
        let framed = if message.len() >= OWN_BUFFER {
            let mut pieces = Vec::new();
            writer.frame_shared(message, cache, &mut pieces).map(|()| {
                let len = pieces.iter().map(|p| p.len()).sum();
                buffers.extend(pieces.into_iter().map(Chunk::Shared));
                len
            })
        } else {
            let buffer = batch_buffer(buffers, spare);
            let before = buffer.len();
            let framed = writer.frame(message, cache, buffer);
            framed.map(|()| buffer.len() - before)
        };
        // Framing fails only for a message over 4 GiB: dropped, nothing else is lost.
        if let Ok(len) = framed {
            self.stats.backlog.add(len);
            queue.packets += 1;
            self.queued.fetch_add(1, Ordering::Relaxed);
        }
        if wake {
            self.wake_writer();
        }
    }
}

/// The bytes of the binaries in `term`: what dominates a waiting message's size.
fn binary_bytes(term: &Term) -> usize {
    match term {
        Term::Binary(b) => b.len(),
        Term::Tuple(v) | Term::List(v) => v.iter().map(binary_bytes).sum(),
        Term::ImproperList(v, tail) => {
            v.iter().map(binary_bytes).sum::<usize>() + binary_bytes(tail)
        }
        Term::Map(m) => m
            .iter()
            .map(|(k, v)| binary_bytes(k) + binary_bytes(v))
            .sum(),
        _ => 0,
    }
}

/// The buffer small packets are appended to: the last one while it is a batch with room.
fn batch_buffer<'q>(buffers: &'q mut Vec<Chunk>, spare: &mut Vec<Vec<u8>>) -> &'q mut Vec<u8> {
    let has_room = matches!(buffers.last(), Some(Chunk::Batch(last)) if last.len() < BATCH_LIMIT);
    if !has_room {
        buffers.push(Chunk::Batch(
            spare
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(OWN_BUFFER)),
        ));
    }
    match buffers.last_mut() {
        Some(Chunk::Batch(last)) => last,
        _ => unreachable!("a batch was just made the last buffer"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dist::packet::split_packet;
    use dist::{Incoming, Reader};
    use etf::{Atom, Pid};

    fn send(n: i64) -> (ControlMessage, Option<Term>) {
        let to = Pid {
            node: Atom::from("peer@h"),
            id: 1,
            serial: 0,
            creation: 1,
        };
        (
            ControlMessage::Send { to, token: None },
            Some(Term::Integer(n)),
        )
    }

    /// The payloads of every message in the queued buffers, in order.
    fn payloads(buffers: &[Chunk]) -> Vec<Term> {
        let bytes: Vec<u8> = buffers.iter().flat_map(|c| c.as_slice().to_vec()).collect();
        let (mut reader, mut at, mut out) = (Reader::default(), &bytes[..], Vec::new());
        while let Some((used, body)) = split_packet(at, usize::MAX).unwrap() {
            if let Incoming::Message(m) = reader.packet(body).unwrap() {
                out.extend(m.payload);
            }
            at = &at[used..];
        }
        out
    }

    #[tokio::test]
    async fn what_waited_for_the_handshake_goes_first_in_order() {
        let outbox = Outbox::new();
        for n in 0..3 {
            let (c, p) = send(n);
            outbox.send(c, p).unwrap();
        }
        assert!(outbox.flags().is_none());
        outbox.start(DistFlags::DEFAULT);
        for n in 3..6 {
            let (c, p) = send(n);
            outbox.send(c, p).unwrap();
        }
        // A large one gets its own buffer, and order holds across buffers.
        let big = Term::Binary(vec![1; 100_000].into());
        let (c, _) = send(0);
        outbox.send(c, Some(big.clone())).unwrap();
        let (c, p) = send(6);
        outbox.send(c, p).unwrap();
        let batch = outbox.next_batch(Vec::new()).await;
        assert_eq!(batch.packets, 8);
        assert!(!batch.disconnect);
        let mut want: Vec<Term> = (0..6).map(Term::Integer).collect();
        want.push(big);
        want.push(Term::Integer(6));
        assert_eq!(payloads(&batch.buffers), want);
        assert!(outbox.busy() || batch.bytes > 0);
        outbox.written(&batch);
        assert!(!outbox.busy());
    }

    #[tokio::test]
    async fn a_closed_outbox_refuses_and_a_disconnect_is_seen_by_the_writer() {
        let outbox = Outbox::new();
        outbox.start(DistFlags::DEFAULT);
        outbox.disconnect();
        assert!(outbox.next_batch(Vec::new()).await.disconnect);
        outbox.close();
        let (c, p) = send(1);
        assert_eq!(outbox.send(c, p), Err(NotQueued::Closed));
        assert!(outbox.is_closed());
    }

    #[test]
    fn past_the_busy_limit_senders_are_told_to_wait() {
        let outbox = Outbox::new();
        outbox.start(DistFlags::DEFAULT);
        let (c, _) = send(0);
        outbox
            .send(c, Some(Term::Binary(vec![0; BUSY_LIMIT + 1].into())))
            .unwrap();
        assert!(outbox.busy());
    }
}
