//! Distribution packets after the handshake: a 4-byte length, then a message (a zero length is
//! a tick). A message is a distribution header (`131, 68`), or the first (`131, 69`) or a later
//! (`131, 70`) fragment of a large one, or — when the peer did not ask for
//! `DIST_HDR_ATOM_CACHE` — the old pass-through form (`112`) (erl_ext_dist, "Distribution
//! Header"; erl_dist_protocol, "Protocol between Connected Nodes").
//!
//! ```
//! use rotp_dist::packet::split_packet;
//! use rotp_dist::{ControlMessage, DistFlags, Incoming, OutputCache, Reader, Writer};
//! use etf::{Atom, Pid, Term};
//!
//! let to = Pid { node: Atom::from("b@localhost"), id: 81, serial: 0, creation: 1 };
//! let send = ControlMessage::Send { to, token: None };
//! // A large message: `FRAGMENTS` cuts it into packets the reader puts back together.
//! let big = Term::from(etf::Bytes::from(vec![0xAB_u8; 100_000]));
//! let writer = Writer::new(DistFlags::DEFAULT).with_fragment_size(32 * 1024);
//! let mut stream = vec![0, 0, 0, 0]; // a tick first
//! writer.write(&send, Some(&big), &mut OutputCache::default(), &mut stream)?;
//!
//! let mut reader = Reader::new(1 << 20).for_flags(DistFlags::DEFAULT);
//! let mut got = Vec::new();
//! let mut rest = &stream[..];
//! while let Some((used, body)) = split_packet(rest, reader.max_message())? {
//!     got.push(reader.packet(body)?);
//!     rest = &rest[used..];
//! }
//! assert_eq!(got[0], Incoming::Tick);
//! assert!(got[1..got.len() - 1].iter().all(|i| *i == Incoming::Partial));
//! let Some(Incoming::Message(m)) = got.last() else { panic!("the whole message") };
//! assert_eq!(m.payload.as_ref(), Some(&big));
//! # Ok::<(), rotp_dist::DistError>(())
//! ```

use std::collections::HashMap;

use etf::{Atom, Bytes, Decoder, EncodeOptions, Term};

use crate::control::ControlMessage;
use crate::flags::DistFlags;
use crate::header::{
    read_atom_refs, write_atom_refs, AtomCache, HeaderRefs, MessageAtoms, OutputCache,
};
use crate::DistError;

/// A message between two nodes: a control message and, for some, a payload term.
#[derive(Clone, Debug, PartialEq)]
pub struct DistMessage {
    /// The control message.
    pub control: ControlMessage,
    /// The message sent, exit reason or argument list that follows it.
    pub payload: Option<Term>,
}

/// What one packet read from the peer amounts to.
#[derive(Clone, Debug, PartialEq)]
// Returned per packet and consumed at once, never stored in bulk: boxing the message would
// cost an allocation per message for nothing.
#[allow(clippy::large_enum_variant)]
pub enum Incoming {
    /// A tick (an empty packet): the peer is alive.
    Tick,
    /// A fragment of a message still being reassembled.
    Partial,
    /// A whole message.
    Message(DistMessage),
}

/// The next packet in `buffer`: its length and body, or `None` if it has not fully arrived.
/// Bodies over `max` bytes are refused before they are buffered.
pub fn split_packet(buffer: &[u8], max: usize) -> Result<Option<(usize, &[u8])>, DistError> {
    let Some(len) = buffer.get(..4) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
    if len > max {
        return Err(DistError::TooLarge { size: len, max });
    }
    Ok(buffer.get(4..4 + len).map(|body| (4 + len, body)))
}

/// A fragmented message being put back together.
struct Partial {
    /// The fragment id the next fragment must carry (they count down to 1).
    next: u64,
    atoms: Vec<Option<Atom>>,
    data: Vec<u8>,
}

/// Decodes the packets one connection receives: its atom cache and unfinished fragments.
pub struct Reader {
    cache: AtomCache,
    /// The current message's atom references (kept to save an allocation per message).
    refs: HeaderRefs,
    partial: HashMap<u64, Partial>,
    /// Bytes held by `partial`, all messages together.
    partial_bytes: usize,
    max_message: usize,
    /// The connection uses distribution headers (`131, 68`…); without them each packet is the
    /// pass-through form.
    headers: bool,
}

/// The largest message a [`Reader`] reassembles by default: 1 GiB.
pub const DEFAULT_MAX_MESSAGE: usize = 1 << 30;

/// At most this many fragmented messages may be in flight at once on one connection.
const MAX_PARTIAL: usize = 4096;

impl Default for Reader {
    fn default() -> Self {
        Reader::new(DEFAULT_MAX_MESSAGE)
    }
}

impl Reader {
    /// A reader that refuses messages over `max_message` bytes.
    pub fn new(max_message: usize) -> Reader {
        Reader {
            cache: AtomCache::default(),
            refs: HeaderRefs::default(),
            partial: HashMap::new(),
            partial_bytes: 0,
            max_message,
            headers: true,
        }
    }

    /// Reads packets as a connection that agreed on `flags` sends them: with distribution
    /// headers when it took `DIST_HDR_ATOM_CACHE` or `FRAGMENTS`, else in the pass-through form
    /// (erts's `erts_prepare_dist_ext`: each form is refused where the other is due).
    pub fn for_flags(mut self, flags: DistFlags) -> Reader {
        self.headers =
            flags.contains(DistFlags::DIST_HDR_ATOM_CACHE) || flags.contains(DistFlags::FRAGMENTS);
        self
    }

    /// What may still be buffered or inflated for one message: the connection's allowance less
    /// what unfinished fragmented messages already hold.
    fn allowance(&self) -> usize {
        self.max_message.saturating_sub(self.partial_bytes)
    }

    /// Whether a fragmented message is being put back together (more fragments are due).
    pub fn reassembling(&self) -> bool {
        !self.partial.is_empty()
    }

    /// Bytes the unfinished fragmented messages hold now: what dropping the reader frees, and
    /// what counts against the connection's allowance ([`Reader::max_message`]).
    pub fn unfinished_bytes(&self) -> usize {
        self.partial_bytes
    }

    /// The largest message this reader accepts.
    pub fn max_message(&self) -> usize {
        self.max_message
    }

    /// Reads one packet body (without its length).
    pub fn packet(&mut self, body: &[u8]) -> Result<Incoming, DistError> {
        match body {
            [] => Ok(Incoming::Tick),
            // erts skips the pass-through byte without looking at it.
            [_, rest @ ..] if !self.headers => {
                pass_through(rest, self.allowance()).map(Incoming::Message)
            }
            [112, ..] => Err(DistError::Malformed(
                "a pass-through packet on a connection with distribution headers",
            )),
            [131, 68, ..] => {
                let at = read_atom_refs(body, 2, &mut self.cache, &mut self.refs)?;
                decode_message(&body[at..], &self.refs.resolve(&self.cache)).map(Incoming::Message)
            }
            [131, 69, ..] => {
                let (sequence, fragment) = fragment_ids(body)?;
                let at = read_atom_refs(body, 18, &mut self.cache, &mut self.refs)?;
                if fragment == 0 {
                    return Err(DistError::Malformed("fragment id 0"));
                }
                if fragment == 1 {
                    return decode_message(&body[at..], &self.refs.resolve(&self.cache))
                        .map(Incoming::Message);
                }
                if self.partial.len() >= MAX_PARTIAL {
                    return Err(DistError::Malformed("too many fragmented messages at once"));
                }
                // Fragments count down to 1, and none is larger than the first: room for the
                // next few at once, so a message of a few fragments is copied once while it is
                // put together (never more than 8 times what has arrived: a peer announcing many
                // fragments does not get memory for them up front).
                let first = &body[at..];
                if first.len() > self.allowance() {
                    return Err(DistError::TooLarge {
                        size: self.partial_bytes + first.len(),
                        max: self.max_message,
                    });
                }
                let whole = first
                    .len()
                    .saturating_mul(usize::try_from(fragment.min(8)).unwrap_or(8))
                    .min(self.allowance());
                let mut data = Vec::with_capacity(whole);
                data.extend_from_slice(first);
                self.partial_bytes += first.len();
                self.partial.insert(
                    sequence,
                    Partial {
                        next: fragment - 1,
                        atoms: self.refs.to_atoms(&self.cache),
                        data,
                    },
                );
                Ok(Incoming::Partial)
            }
            [131, 70, ..] => {
                let (sequence, fragment) = fragment_ids(body)?;
                let Some(partial) = self.partial.get_mut(&sequence) else {
                    return Err(DistError::Malformed("fragment of an unknown message"));
                };
                if fragment != partial.next {
                    return Err(DistError::Malformed("fragment out of order"));
                }
                // All unfinished messages together stay within the connection's allowance.
                let size = self.partial_bytes + body.len() - 18;
                if size > self.max_message {
                    return Err(DistError::TooLarge {
                        size,
                        max: self.max_message,
                    });
                }
                partial.data.extend_from_slice(&body[18..]);
                self.partial_bytes = size;
                partial.next -= 1;
                if fragment > 1 {
                    return Ok(Incoming::Partial);
                }
                let partial = self
                    .partial
                    .remove(&sequence)
                    .ok_or(DistError::Malformed("fragment of an unknown message"))?;
                self.partial_bytes -= partial.data.len();
                // The whole message in a buffer of its own: its large binaries are slices of
                // it, not copies.
                let whole = etf::Bytes::from(partial.data);
                decode_with(Decoder::shared(&whole), &partial.atoms).map(Incoming::Message)
            }
            _ => Err(DistError::Malformed("not a distribution message")),
        }
    }
}

fn fragment_ids(body: &[u8]) -> Result<(u64, u64), DistError> {
    let ids = body
        .get(2..18)
        .ok_or(DistError::Malformed("fragment header truncated"))?;
    let mut sequence = [0u8; 8];
    let mut fragment = [0u8; 8];
    sequence.copy_from_slice(&ids[..8]);
    fragment.copy_from_slice(&ids[8..]);
    Ok((u64::from_be_bytes(sequence), u64::from_be_bytes(fragment)))
}

/// The control message and payload after a header, decoded with the header's atoms.
fn decode_message(bytes: &[u8], atoms: &dyn etf::AtomCacheRefs) -> Result<DistMessage, DistError> {
    decode_with(Decoder::new(bytes), atoms)
}

/// [`decode_message`] with the decoder given.
fn decode_with(
    decoder: Decoder<'_>,
    atoms: &dyn etf::AtomCacheRefs,
) -> Result<DistMessage, DistError> {
    let mut decoder = decoder.with_atom_cache(atoms);
    let control = ControlMessage::decode(&mut decoder)?;
    let payload = if control.has_payload() {
        Some(decoder.term()?)
    } else {
        None
    };
    if !decoder.remaining().is_empty() {
        return Err(DistError::Malformed("bytes after the message"));
    }
    Ok(DistMessage { control, payload })
}

/// The pass-through form: each term with its own version byte (and so possibly compressed:
/// never inflated past `allowance` bytes).
fn pass_through(bytes: &[u8], allowance: usize) -> Result<DistMessage, DistError> {
    let options = etf::DecodeOptions {
        max_inflated: allowance,
        ..Default::default()
    };
    let (control, used) = etf::decode_prefix(bytes, &options)?;
    let control = ControlMessage::from_term(&control)?;
    let rest = &bytes[used..];
    let payload = if control.has_payload() {
        Some(etf::decode_with(rest, &options)?)
    } else if rest.is_empty() {
        None
    } else {
        return Err(DistError::Malformed("bytes after the message"));
    };
    Ok(DistMessage { control, payload })
}

/// Encodes the packets one connection sends, in two steps: [`Writer::encode`] the message
/// (any thread, in parallel: erts encodes in the sending process), then [`Writer::frame`] it
/// with its distribution header, in the order the packets go out (the header's atom cache
/// references depend on every header before it).
#[derive(Debug)]
pub struct Writer {
    flags: DistFlags,
    fragment_size: usize,
    /// The largest packet body: what a 4-byte length can say.
    max_packet: usize,
    /// Fragment sequence ids: unique per message on the connection.
    next_sequence: std::sync::atomic::AtomicU64,
    options: EncodeOptions,
}

/// A message encoded by [`Writer::encode`] and not framed yet. Reusable: encoding into it
/// again replaces what it held, keeping its buffers.
#[derive(Debug, Default, Clone)]
pub struct Encoded {
    body: Vec<u8>,
    atoms: MessageAtoms,
}

impl Encoded {
    /// The encoded body's size in bytes.
    pub fn len(&self) -> usize {
        self.body.len()
    }

    /// Whether nothing is encoded.
    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }

    /// Drops a large body's buffer, so a reused `Encoded` does not keep it.
    pub fn shrink(&mut self, keep: usize) {
        if self.body.capacity() > keep {
            self.body = Vec::new();
        }
    }
}

/// Messages with bodies over this many bytes are sent in fragments of this size, as erts does
/// (`ERTS_DIST_FRAGMENT_SIZE`, 64 KiB).
pub const FRAGMENT_SIZE: usize = 64 * 1024;

/// The most a distribution header can take: 255 atom cache references, each a new entry with a
/// name of 255 characters in UTF-8.
const MAX_HEADER: usize = 1 << 19;

/// A piece of a framed message: a packet's header, or a stretch of the body after it.
enum Piece<'a> {
    Header(&'a [u8]),
    Body(std::ops::Range<usize>),
}

/// A tick: an empty packet.
pub const TICK: [u8; 4] = [0; 4];

impl Writer {
    /// A writer for a connection that agreed on `flags`.
    pub fn new(flags: DistFlags) -> Writer {
        Writer {
            flags,
            fragment_size: FRAGMENT_SIZE,
            max_packet: u32::MAX as usize,
            next_sequence: std::sync::atomic::AtomicU64::new(1),
            options: EncodeOptions::minor_version_2(),
        }
    }

    /// The flags the connection agreed on.
    pub fn flags(&self) -> DistFlags {
        self.flags
    }

    /// Lowers the largest packet body from 4 GiB (tests use small ones).
    pub fn with_max_packet(mut self, size: usize) -> Writer {
        self.max_packet = size.min(u32::MAX as usize);
        self
    }

    /// Sets the fragment size (tests use small ones).
    pub fn with_fragment_size(mut self, size: usize) -> Writer {
        self.fragment_size = size.max(1);
        self
    }

    fn atom_cache(&self) -> bool {
        self.flags.contains(DistFlags::DIST_HDR_ATOM_CACHE)
    }

    /// Packets carry distribution headers (without atom cache references when the peer keeps
    /// no atom cache): erts writes the pass-through form only to a peer that took neither
    /// `DIST_HDR_ATOM_CACHE` nor `FRAGMENTS`.
    fn headers(&self) -> bool {
        self.atom_cache() || self.flags.contains(DistFlags::FRAGMENTS)
    }

    /// Encodes `control` and `payload` into `into`: atoms as references to the header the
    /// message will get when the peer keeps an atom cache, in full otherwise, and in the
    /// pass-through form to a peer that takes no headers.
    pub fn encode(
        &self,
        control: &ControlMessage,
        payload: Option<&Term>,
        into: &mut Encoded,
    ) -> Result<(), DistError> {
        into.body.clear();
        into.atoms.clear();
        let Encoded { body, atoms } = into;
        let result = if self.headers() {
            let mut enc = etf::Encoder::new(body, &self.options);
            if self.atom_cache() {
                enc = enc.with_atom_refs(atoms);
            }
            control
                .encode(&mut enc)
                .and_then(|()| payload.map_or(Ok(()), |p| enc.term(p)))
        } else {
            body.extend_from_slice(&[112, 131]);
            control
                .encode(&mut etf::Encoder::new(body, &self.options))
                .and_then(|()| {
                    payload.map_or(Ok(()), |p| {
                        body.push(131);
                        etf::encode_into(p, body, &self.options)
                    })
                })
        };
        if let Err(e) = result {
            into.body.clear();
            into.atoms.clear();
            return Err(e.into());
        }
        Ok(())
    }

    /// Appends the packets (each with its 4-byte length) carrying an encoded message to `out`:
    /// the header with its atom cache references (recorded in `cache`), fragmented when the
    /// peer takes fragments and the message is large. Messages must be framed in the order
    /// they are sent.
    pub fn frame(
        &self,
        message: &Encoded,
        cache: &mut OutputCache,
        out: &mut Vec<u8>,
    ) -> Result<(), DistError> {
        let body = &message.body;
        out.reserve(body.len() + 64);
        self.frame_pieces(body, &message.atoms, cache, &mut |piece| match piece {
            Piece::Header(h) => out.extend_from_slice(h),
            Piece::Body(range) => out.extend_from_slice(&body[range]),
        })
    }

    /// [`Writer::frame`] without copying the body: the packets go to `out` as buffers, each
    /// header a small one of its own and each stretch of the body a slice of it (taken out of
    /// `message`), for a vectored write. For large messages, which erts too writes from the
    /// binaries themselves rather than from a copy.
    pub fn frame_shared(
        &self,
        message: &mut Encoded,
        cache: &mut OutputCache,
        out: &mut Vec<Bytes>,
    ) -> Result<(), DistError> {
        let body = Bytes::from(std::mem::take(&mut message.body));
        let framed = self.frame_pieces(&body, &message.atoms, cache, &mut |piece| match piece {
            Piece::Header(h) => out.push(Bytes::copy_from_slice(h)),
            Piece::Body(range) => out.push(body.slice(range)),
        });
        if framed.is_err() {
            // Give the body back, as `frame` leaves it.
            message.body = body.to_vec();
        }
        framed
    }

    /// The packets of a message as pieces in order: headers (with their length filled in)
    /// and ranges of the body.
    fn frame_pieces(
        &self,
        body: &[u8],
        atoms: &MessageAtoms,
        cache: &mut OutputCache,
        emit: &mut dyn FnMut(Piece<'_>),
    ) -> Result<(), DistError> {
        // Checked before anything is written: a message too large for one packet must leave
        // neither half a packet in `out` nor entries in `cache` that the peer never saw.
        let whole = !self.headers()
            || body.len() <= self.fragment_size
            || !self.flags.contains(DistFlags::FRAGMENTS);
        let max = self.max_packet.saturating_sub(MAX_HEADER);
        if whole && body.len() > max {
            return Err(DistError::TooLarge {
                size: body.len(),
                max,
            });
        }
        let mut header = Vec::with_capacity(64);
        let mut packet = |header: &mut Vec<u8>, range: std::ops::Range<usize>| {
            let len = (header.len() - 4 + range.len()) as u32;
            header[..4].copy_from_slice(&len.to_be_bytes());
            emit(Piece::Header(header));
            if !range.is_empty() {
                emit(Piece::Body(range));
            }
        };
        if !self.headers() {
            header.extend_from_slice(&[0, 0, 0, 0]);
            packet(&mut header, 0..body.len());
            return Ok(());
        }
        if whole {
            header.extend_from_slice(&[0, 0, 0, 0, 131, 68]);
            write_atom_refs(atoms, cache, &mut header);
            packet(&mut header, 0..body.len());
            return Ok(());
        }
        let sequence = self
            .next_sequence
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let count = body.len().div_ceil(self.fragment_size);
        for i in 0..count {
            header.clear();
            header.extend_from_slice(&[0, 0, 0, 0, 131, if i == 0 { 69 } else { 70 }]);
            header.extend_from_slice(&sequence.to_be_bytes());
            header.extend_from_slice(&((count - i) as u64).to_be_bytes());
            if i == 0 {
                write_atom_refs(atoms, cache, &mut header);
            }
            let from = i * self.fragment_size;
            packet(
                &mut header,
                from..(from + self.fragment_size).min(body.len()),
            );
        }
        Ok(())
    }

    /// [`Writer::encode`] then [`Writer::frame`].
    pub fn write(
        &self,
        control: &ControlMessage,
        payload: Option<&Term>,
        cache: &mut OutputCache,
        out: &mut Vec<u8>,
    ) -> Result<(), DistError> {
        let mut message = Encoded::default();
        self.encode(control, payload, &mut message)?;
        self.frame(&message, cache, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(n: u32) -> etf::Pid {
        etf::Pid {
            node: Atom::from("a@h"),
            id: n,
            serial: 0,
            creation: 3,
        }
    }

    fn read_all(reader: &mut Reader, mut bytes: &[u8]) -> Vec<Incoming> {
        let mut out = Vec::new();
        while let Some((used, body)) = split_packet(bytes, usize::MAX).unwrap() {
            out.push(reader.packet(body).unwrap());
            bytes = &bytes[used..];
        }
        assert!(bytes.is_empty());
        out
    }

    #[test]
    fn messages_round_trip_whole_and_in_fragments() {
        let control = ControlMessage::RegSend {
            from: pid(1),
            to: Atom::from("rex"),
            token: None,
        };
        let payload = Term::Binary(vec![7; 10_000].into());
        let no_cache = DistFlags(DistFlags::DEFAULT.0 & !DistFlags::DIST_HDR_ATOM_CACHE.0);
        let pass_through = DistFlags(no_cache.0 & !DistFlags::FRAGMENTS.0);
        for (flags, fragment, packets) in [
            (DistFlags::DEFAULT, FRAGMENT_SIZE, 1),
            (DistFlags::DEFAULT, 1000, 11),
            (no_cache, 1000, 11),
            (pass_through, 1000, 1),
        ] {
            let mut out = Vec::new();
            let writer = Writer::new(flags).with_fragment_size(fragment);
            writer
                .write(
                    &control,
                    Some(&payload),
                    &mut OutputCache::default(),
                    &mut out,
                )
                .unwrap();
            let got = read_all(&mut Reader::default().for_flags(flags), &out);
            assert_eq!(got.len(), packets);
            assert_eq!(
                got.last(),
                Some(&Incoming::Message(DistMessage {
                    control: control.clone(),
                    payload: Some(payload.clone())
                }))
            );
        }
    }

    #[test]
    fn atoms_go_through_the_cache_and_cost_two_bytes_once_the_peer_has_them() {
        let control = ControlMessage::Send {
            to: pid(1),
            token: None,
        };
        // More distinct atoms than one header can carry: the rest are written in full.
        let payload = Term::Tuple((0..300).map(|i| Term::atom(&format!("atom_{i}"))).collect());
        let writer = Writer::new(DistFlags::DEFAULT);
        let (mut cache, mut reader) = (OutputCache::default(), Reader::default());
        let mut sizes = Vec::new();
        for _ in 0..2 {
            let mut out = Vec::new();
            writer
                .write(&control, Some(&payload), &mut cache, &mut out)
                .unwrap();
            sizes.push(out.len());
            assert_eq!(
                read_all(&mut reader, &out),
                [Incoming::Message(DistMessage {
                    control: control.clone(),
                    payload: Some(payload.clone())
                })]
            );
        }
        // The second time, the atoms the first header carried are old references.
        assert!(sizes[1] + 1500 < sizes[0], "{sizes:?}");
    }

    #[test]
    fn shared_framing_writes_the_same_bytes_without_copying_the_body() {
        let control = ControlMessage::Send {
            to: pid(1),
            token: None,
        };
        let payload = Term::Tuple(vec![
            Term::atom("big"),
            Term::Binary(vec![5; 150_000].into()),
        ]);
        for flags in [
            DistFlags::DEFAULT,
            DistFlags(DistFlags::DEFAULT.0 & !DistFlags::FRAGMENTS.0),
            DistFlags(
                DistFlags::DEFAULT.0 & !DistFlags::DIST_HDR_ATOM_CACHE.0 & !DistFlags::FRAGMENTS.0,
            ),
        ] {
            // Two writers: each numbers its fragmented messages from 1.
            let (writer, other) = (Writer::new(flags), Writer::new(flags));
            let mut message = Encoded::default();
            writer
                .encode(&control, Some(&payload), &mut message)
                .unwrap();
            let (mut a, mut b) = (OutputCache::default(), OutputCache::default());
            let mut copied = Vec::new();
            writer.frame(&message, &mut a, &mut copied).unwrap();
            let mut pieces = Vec::new();
            other
                .frame_shared(&mut message, &mut b, &mut pieces)
                .unwrap();
            // (Not assert_eq: a difference would print 300 KB.)
            assert!(pieces.concat() == copied, "{flags:?}: the bytes differ");
            assert!(message.is_empty());
        }
    }

    #[test]
    fn a_message_too_large_for_a_packet_leaves_nothing_behind() {
        let writer = Writer::new(DistFlags(DistFlags::DEFAULT.0 & !DistFlags::FRAGMENTS.0))
            .with_max_packet(MAX_HEADER + 1000);
        let control = ControlMessage::Send {
            to: pid(1),
            token: None,
        };
        let big = Term::Tuple(vec![
            Term::atom("never_sent"),
            Term::Binary(vec![0; 2000].into()),
        ]);
        let small = Term::Tuple(vec![Term::atom("never_sent"), Term::atom("ok")]);
        let (mut cache, mut out) = (OutputCache::default(), vec![1, 2, 3]);
        assert!(matches!(
            writer.write(&control, Some(&big), &mut cache, &mut out),
            Err(DistError::TooLarge { .. })
        ));
        assert_eq!(out, [1, 2, 3]);
        // The cache did not take the failed message's atoms: the next message names them anew,
        // and a reader that never saw the failed one decodes it.
        out.clear();
        writer
            .write(&control, Some(&small), &mut cache, &mut out)
            .unwrap();
        assert_eq!(
            read_all(&mut Reader::default(), &out),
            [Incoming::Message(DistMessage {
                control,
                payload: Some(small)
            })]
        );
    }

    #[test]
    fn each_form_is_refused_where_the_other_is_due() {
        let control = ControlMessage::Send {
            to: pid(1),
            token: None,
        };
        let pass_through = DistFlags(
            DistFlags::DEFAULT.0 & !DistFlags::DIST_HDR_ATOM_CACHE.0 & !DistFlags::FRAGMENTS.0,
        );
        let framed = |flags| {
            let mut out = Vec::new();
            Writer::new(flags)
                .write(
                    &control,
                    Some(&Term::atom("x")),
                    &mut OutputCache::default(),
                    &mut out,
                )
                .unwrap();
            out[4..].to_vec()
        };
        let (plain, headed) = (framed(pass_through), framed(DistFlags::DEFAULT));
        assert_eq!(plain[0], 112);
        // OTP 25 kills a connection with headers that gets a pass-through packet.
        assert!(Reader::default().packet(&plain).is_err());
        assert!(Reader::default()
            .for_flags(pass_through)
            .packet(&headed)
            .is_err());
        assert!(Reader::default()
            .for_flags(pass_through)
            .packet(&plain)
            .is_ok());
    }

    #[test]
    fn unfinished_fragments_share_one_allowance() {
        let control = ControlMessage::Send {
            to: pid(1),
            token: None,
        };
        let writer = Writer::new(DistFlags::DEFAULT).with_fragment_size(1500);
        let mut reader = Reader::new(5000);
        let mut cache = OutputCache::default();
        // Each message alone fits the 5000 bytes; the first fragments of four at once do not.
        let mut results = Vec::new();
        for _ in 0..4 {
            let mut out = Vec::new();
            writer
                .write(
                    &control,
                    Some(&Term::Binary(vec![1; 3000].into())),
                    &mut cache,
                    &mut out,
                )
                .unwrap();
            let (_, first) = split_packet(&out, usize::MAX).unwrap().unwrap();
            results.push(reader.packet(first));
        }
        assert!(matches!(
            results[..3],
            [
                Ok(Incoming::Partial),
                Ok(Incoming::Partial),
                Ok(Incoming::Partial)
            ]
        ));
        assert!(matches!(results[3], Err(DistError::TooLarge { .. })));
    }

    #[test]
    fn bad_packets_are_errors_not_panics() {
        let mut reader = Reader::default();
        let unknown_fragment = [131u8, 70, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        for body in [
            &[131u8, 68][..],
            &[131, 69, 0],
            &unknown_fragment,
            &[9, 9],
            &[112, 131, 97],
        ] {
            assert!(reader.packet(body).is_err(), "{body:?}");
        }
        assert_eq!(reader.packet(&[]).unwrap(), Incoming::Tick);
        assert!(matches!(
            split_packet(&[0xff, 0, 0, 0], 1000),
            Err(DistError::TooLarge { .. })
        ));
    }
}
