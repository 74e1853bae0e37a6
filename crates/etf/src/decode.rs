//! Bytes to [`Term`]: `binary_to_term/1`.
//!
//! Every length read from the input is checked against the bytes that remain before anything is
//! allocated for it, nesting is bounded by [`DecodeOptions::max_depth`], and a compressed term is
//! inflated incrementally up to the size it declares, never past it. Tags and layouts follow
//! `erl_ext_dist.xml`; where it and `erts/emulator/beam/external.c` differ, the source wins.

use std::io::Read;

use bytes::Bytes;
use num_bigint::{BigInt, Sign};

use crate::error::DecodeError;
use crate::tag::*;
use crate::term::{Atom, BitBinary, Export, Fun, Map, Pid, Port, RefId, Reference, Term};

/// How deep terms may nest by default. Decoding itself is iterative and could go deeper, but
/// encoding, printing, comparing and dropping a term recurse: 512 levels is what all of those
/// survive on a 2 MiB thread stack (tokio's and the test harness's default) in a debug build,
/// measured with `examples/stackprobe.rs`. Raise it with [`DecodeOptions::max_depth`] where
/// threads have bigger stacks.
pub const DEFAULT_MAX_DEPTH: usize = 512;

/// Limits for decoding untrusted input.
#[derive(Clone, Copy, Debug)]
pub struct DecodeOptions {
    /// The deepest nesting of tuples, lists, maps and funs accepted.
    pub max_depth: usize,
    /// The most bytes a compressed term may inflate to (besides the bound its compressed size
    /// sets): what a connection allows itself for one message.
    pub max_inflated: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            max_depth: DEFAULT_MAX_DEPTH,
            max_inflated: usize::MAX,
        }
    }
}

/// Decodes a whole `term_to_binary/1` result (version byte first, nothing after the term).
pub fn decode(bytes: &[u8]) -> Result<Term, DecodeError> {
    decode_with(bytes, &DecodeOptions::default())
}

/// [`decode`] with explicit limits.
pub fn decode_with(bytes: &[u8], options: &DecodeOptions) -> Result<Term, DecodeError> {
    let (term, used) = decode_prefix(bytes, options)?;
    match bytes.len() - used {
        0 => Ok(term),
        count => Err(DecodeError::TrailingBytes { count }),
    }
}

/// Decodes the term at the start of `bytes` (version byte first) and says how many bytes it used,
/// like `binary_to_term(Bin, [used])`.
pub fn decode_prefix(bytes: &[u8], options: &DecodeOptions) -> Result<(Term, usize), DecodeError> {
    match bytes.first() {
        None => return Err(DecodeError::Truncated { at: 0, needed: 1 }),
        Some(&VERSION) => {}
        Some(&found) => return Err(DecodeError::BadVersion { found }),
    }
    if bytes.get(1) == Some(&COMPRESSED) {
        let mut header = Decoder::with_options(&bytes[2..], *options);
        let size = header.u32()? as usize;
        if size > options.max_inflated {
            return Err(DecodeError::Compressed {
                reason: format!(
                    "declares {size} bytes, more than the {} allowed",
                    options.max_inflated
                ),
            });
        }
        let (inflated, used) = inflate(&bytes[6..], size)?;
        let inflated = Bytes::from(inflated);
        let mut body = Decoder::shared_with_options(&inflated, *options);
        let term = body.term()?;
        if body.pos != inflated.len() {
            return Err(DecodeError::Compressed {
                reason: format!("{} byte(s) after the term", inflated.len() - body.pos),
            });
        }
        return Ok((term, 6 + used));
    }
    let mut decoder = Decoder::with_options(&bytes[1..], *options);
    let term = decoder.term()?;
    Ok((term, 1 + decoder.pos))
}

/// The largest ratio of inflated to deflated size that zlib can produce (RFC 1950/1951: a
/// 258-byte match costs at least two bits), with room for the stream's header and trailer.
const MAX_INFLATE_RATIO: usize = 1032;

fn inflate(input: &[u8], size: usize) -> Result<(Vec<u8>, usize), DecodeError> {
    let lie = |reason: String| DecodeError::Compressed { reason };
    if size
        > input
            .len()
            .saturating_mul(MAX_INFLATE_RATIO)
            .saturating_add(64)
    {
        return Err(lie(format!(
            "declares {size} bytes, more than {} compressed bytes can hold",
            input.len()
        )));
    }
    let mut z = flate2::bufread::ZlibDecoder::new(input);
    // Grow the buffer as data arrives rather than trusting the declared size up front; read one
    // byte past it so that a stream longer than declared is caught.
    let mut out = Vec::with_capacity(size.min(1 << 20));
    (&mut z)
        .take(size as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| lie(e.to_string()))?;
    if out.len() != size {
        return Err(lie(format!(
            "inflates to {}{} bytes, declared {size}",
            if out.len() > size { "more than " } else { "" },
            out.len().min(size)
        )));
    }
    Ok((out, z.total_in() as usize))
}

/// A decoder over the bytes of one or more terms *without* the version byte, as terms appear
/// inside distribution messages. Tracks its position so a caller can decode terms back to back,
/// or read a tuple piece by piece ([`Decoder::tuple_header`], [`Decoder::integer`],
/// [`Decoder::pid`]); a clone reads ahead without moving the original.
#[derive(Clone)]
pub struct Decoder<'a> {
    input: &'a [u8],
    /// The input as a shared buffer, when the caller has one: large binaries are then slices
    /// of it rather than copies.
    shared: Option<&'a Bytes>,
    pos: usize,
    /// Items that open containers still wait for and have not started: each needs at least a
    /// byte, so there can never be more of them than bytes left.
    pending: usize,
    options: DecodeOptions,
    atom_cache: &'a dyn AtomCacheRefs,
}

/// Resolves `ATOM_CACHE_REF` indexes: the atom list of a distribution header.
pub trait AtomCacheRefs {
    /// The atom for reference `index`, if the header has one.
    fn atom(&self, index: u8) -> Option<&Atom>;
}

impl AtomCacheRefs for [Option<Atom>] {
    fn atom(&self, index: u8) -> Option<&Atom> {
        self.get(usize::from(index))?.as_ref()
    }
}

impl AtomCacheRefs for Vec<Option<Atom>> {
    fn atom(&self, index: u8) -> Option<&Atom> {
        self.as_slice().atom(index)
    }
}

/// No header: every `ATOM_CACHE_REF` is an error.
struct NoAtomCache;

impl AtomCacheRefs for NoAtomCache {
    fn atom(&self, _: u8) -> Option<&Atom> {
        None
    }
}

impl<'a> Decoder<'a> {
    /// A decoder with default limits.
    pub fn new(input: &'a [u8]) -> Self {
        Self::with_options(input, DecodeOptions::default())
    }

    /// A decoder with explicit limits.
    pub fn with_options(input: &'a [u8], options: DecodeOptions) -> Self {
        Decoder {
            input,
            shared: None,
            pos: 0,
            pending: 0,
            options,
            atom_cache: &NoAtomCache,
        }
    }

    /// A decoder over a shared buffer: a binary in it that is large, and a good part of the
    /// buffer, becomes a slice of the buffer instead of a copy. That is erts's rule for a
    /// binary in a distribution message (`dec_term`, `BINARY_EXT`): over 64 bytes and over a
    /// quarter of the message, so a small binary kept for long does not pin a large message.
    pub fn shared(input: &'a Bytes) -> Self {
        let mut decoder = Self::new(input);
        decoder.shared = Some(input);
        decoder
    }

    /// [`Decoder::shared`] with explicit limits.
    pub fn shared_with_options(input: &'a Bytes, options: DecodeOptions) -> Self {
        let mut decoder = Self::with_options(input, options);
        decoder.shared = Some(input);
        decoder
    }

    /// Resolves `ATOM_CACHE_REF` indexes through `cache` (a distribution header's atom list).
    pub fn with_atom_cache(mut self, cache: &'a dyn AtomCacheRefs) -> Self {
        self.atom_cache = cache;
        self
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> &'a [u8] {
        &self.input[self.pos..]
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let rest = self.input.len() - self.pos;
        if n > rest {
            return Err(DecodeError::Truncated {
                at: self.pos,
                needed: n - rest,
            });
        }
        let bytes = &self.input[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Adds `n` items to the ones open containers wait for, after checking the bytes left could
    /// hold them all (each takes at least a byte), so a lying count fails before anything is
    /// allocated for it, however deep it sits.
    fn expect_items(&mut self, n: usize) -> Result<(), DecodeError> {
        let rest = self.input.len() - self.pos;
        let pending = self.pending.saturating_add(n);
        if pending > rest {
            return Err(DecodeError::Truncated {
                at: self.pos,
                needed: pending - rest,
            });
        }
        self.pending = pending;
        Ok(())
    }

    /// Decodes one term. Iterative: containers wait on an explicit stack rather than the call
    /// stack, so nesting costs heap, not stack, up to [`DecodeOptions::max_depth`].
    pub fn term(&mut self) -> Result<Term, DecodeError> {
        let mut stack: Vec<Frame> = Vec::new();
        let outer = self.pending;
        loop {
            if !stack.is_empty() {
                // The innermost container's next item starts here.
                self.pending -= 1;
            }
            let Some(mut value) = self.item(&mut stack)? else {
                // A container opened; a list's run of integers is read at once.
                self.integers(&mut stack);
                continue;
            };
            // Hand the value to the innermost open container, closing every container it fills.
            loop {
                let Some(top) = stack.last_mut() else {
                    debug_assert_eq!(self.pending, outer);
                    return Ok(value);
                };
                top.items.push(value);
                if top.items.len() < top.want {
                    break;
                }
                let Some(full) = stack.pop() else {
                    unreachable!("the stack has a top")
                };
                value = full.finish(self.pos)?;
            }
        }
    }

    /// The integers a list just opened starts with, straight into its frame, without a pass
    /// of [`Decoder::term`]'s loop each: the lists of events a stage sends are mostly that. It
    /// stops before the tail and at anything but `SMALL_INTEGER_EXT` or `INTEGER_EXT` (the loop
    /// goes on from there, so an error is still found where it is). Measured: Decoder::term was
    /// 16 % of a GenStage consumer node's profile on lists of 500 integers.
    fn integers(&mut self, stack: &mut [Frame]) {
        let Some(top) = stack.last_mut() else { return };
        if !matches!(top.kind, Kind::List) {
            return;
        }
        while top.items.len() + 1 < top.want {
            let rest = &self.input[self.pos.min(self.input.len())..];
            let (value, width) = match rest {
                [SMALL_INTEGER_EXT, b, ..] => (i64::from(*b), 2),
                [INTEGER_EXT, a, b, c, d, ..] => {
                    (i64::from(i32::from_be_bytes([*a, *b, *c, *d])), 5)
                }
                _ => return,
            };
            top.items.push(Term::Integer(value));
            self.pos += width;
            self.pending -= 1;
        }
    }

    /// One tag's worth of input: a whole scalar, or the header of a container, which goes on
    /// `stack` (unless it is empty, and so already whole).
    fn item(&mut self, stack: &mut Vec<Frame>) -> Result<Option<Term>, DecodeError> {
        let at = self.pos;
        let tag = self.u8()?;
        Ok(Some(match tag {
            SMALL_INTEGER_EXT => Term::Integer(i64::from(self.u8()?)),
            INTEGER_EXT => Term::Integer(i64::from(self.u32()? as i32)),
            NEW_FLOAT_EXT => {
                let f = f64::from_bits(self.u64()?);
                if !f.is_finite() {
                    return Err(DecodeError::Invalid { what: "float", at });
                }
                Term::Float(f)
            }
            FLOAT_EXT => Term::Float(self.old_float(at)?),
            ATOM_EXT | SMALL_ATOM_EXT | ATOM_UTF8_EXT | SMALL_ATOM_UTF8_EXT | ATOM_CACHE_REF => {
                self.pos = at;
                Term::Atom(self.atom()?)
            }
            BINARY_EXT => {
                let len = self.u32()? as usize;
                let start = self.pos;
                let bytes = self.take(len)?;
                Term::Binary(match self.shared {
                    Some(all) if len > SHARE_OVER && len.saturating_mul(4) > all.len() => {
                        all.slice(start..start + len)
                    }
                    _ => Bytes::copy_from_slice(bytes),
                })
            }
            BIT_BINARY_EXT => self.bit_binary(at)?,
            SMALL_TUPLE_EXT => {
                let n = usize::from(self.u8()?);
                return self.open(stack, Kind::Tuple, n, at);
            }
            LARGE_TUPLE_EXT => {
                let n = self.u32()? as usize;
                return self.open(stack, Kind::Tuple, n, at);
            }
            NIL_EXT => Term::NIL,
            STRING_EXT => {
                let len = usize::from(self.u16()?);
                Term::List(
                    self.take(len)?
                        .iter()
                        .map(|&b| Term::Integer(i64::from(b)))
                        .collect(),
                )
            }
            LIST_EXT => {
                // The elements, then the tail.
                let n = self.u32()? as usize;
                return self.open(stack, Kind::List, n.saturating_add(1), at);
            }
            MAP_EXT => {
                let n = self.u32()? as usize;
                return self.open(stack, Kind::Map, n.saturating_mul(2), at);
            }
            SMALL_BIG_EXT => {
                let n = usize::from(self.u8()?);
                self.big(n, at)?
            }
            LARGE_BIG_EXT => {
                let n = self.u32()? as usize;
                self.big(n, at)?
            }
            NEW_PID_EXT | PID_EXT => Term::Pid(self.pid_body(tag)?),
            NEW_PORT_EXT | PORT_EXT | V4_PORT_EXT => {
                let node = self.atom()?;
                let id = match tag {
                    V4_PORT_EXT => self.u64()?,
                    _ => u64::from(self.u32()?),
                };
                let creation = self.creation(tag != PORT_EXT)?;
                Term::Port(Port { node, id, creation })
            }
            NEWER_REFERENCE_EXT | NEW_REFERENCE_EXT => {
                let words = usize::from(self.u16()?);
                if !(1..=5).contains(&words) {
                    return Err(DecodeError::Invalid {
                        what: "reference length",
                        at,
                    });
                }
                let node = self.atom()?;
                let creation = self.creation(tag == NEWER_REFERENCE_EXT)?;
                let mut buf = [0u32; RefId::MAX_WORDS];
                for word in &mut buf[..words] {
                    *word = self.u32()?;
                }
                let id = RefId::new(&buf[..words]).ok_or(DecodeError::Invalid {
                    what: "reference length",
                    at,
                })?;
                Term::Reference(Reference { node, creation, id })
            }
            REFERENCE_EXT => {
                let node = self.atom()?;
                let id = RefId::from([self.u32()?]);
                let creation = self.creation(false)?;
                Term::Reference(Reference { node, creation, id })
            }
            NEW_FUN_EXT => return self.new_fun(stack, at),
            EXPORT_EXT => {
                let module = self.atom()?;
                let function = self.atom()?;
                if self.u8()? != SMALL_INTEGER_EXT {
                    return Err(DecodeError::Invalid {
                        what: "export arity",
                        at,
                    });
                }
                let arity = self.u8()?;
                Term::Export(Export {
                    module,
                    function,
                    arity,
                })
            }
            LOCAL_EXT => return Err(DecodeError::LocalExt { at }),
            COMPRESSED => return Err(DecodeError::NestedCompressed { at }),
            tag => return Err(DecodeError::UnknownTag { tag, at }),
        }))
    }

    /// A container of `want` terms, after checking the input could hold them (each takes at
    /// least a byte) so a lying count allocates nothing.
    fn open(
        &mut self,
        stack: &mut Vec<Frame>,
        kind: Kind,
        want: usize,
        at: usize,
    ) -> Result<Option<Term>, DecodeError> {
        self.expect_items(want)?;
        // Room for the first items only: the rest is allocated as they actually arrive, so the
        // memory taken follows the input decoded, not the counts it claims (a term's value is
        // many times the size of its encoding: reserving for every item the bytes left could
        // hold, at every level, once asked for tens of gigabytes).
        let items = Vec::with_capacity(want.min(RESERVE_ITEMS));
        let frame = Frame {
            kind,
            items,
            want,
            at,
        };
        if want == 0 {
            return frame.finish(self.pos).map(Some);
        }
        if stack.len() >= self.options.max_depth {
            return Err(DecodeError::TooDeep {
                max: self.options.max_depth,
                at: self.pos,
            });
        }
        stack.push(frame);
        Ok(None)
    }

    fn creation(&mut self, wide: bool) -> Result<u32, DecodeError> {
        if wide {
            self.u32()
        } else {
            Ok(u32::from(self.u8()?))
        }
    }

    /// A tuple's header: its arity (the elements follow).
    pub fn tuple_header(&mut self) -> Result<usize, DecodeError> {
        let at = self.pos;
        match self.u8()? {
            SMALL_TUPLE_EXT => Ok(usize::from(self.u8()?)),
            LARGE_TUPLE_EXT => Ok(self.u32()? as usize),
            _ => Err(DecodeError::Invalid { what: "tuple", at }),
        }
    }

    /// An integer that fits `INTEGER_EXT` (`SMALL_INTEGER_EXT` or `INTEGER_EXT`).
    pub fn integer(&mut self) -> Result<i64, DecodeError> {
        let at = self.pos;
        match self.u8()? {
            SMALL_INTEGER_EXT => Ok(i64::from(self.u8()?)),
            INTEGER_EXT => Ok(i64::from(self.u32()? as i32)),
            _ => Err(DecodeError::Invalid {
                what: "small integer",
                at,
            }),
        }
    }

    /// A pid (`NEW_PID_EXT` or `PID_EXT`).
    pub fn pid(&mut self) -> Result<Pid, DecodeError> {
        let at = self.pos;
        let tag = self.u8()?;
        if tag != NEW_PID_EXT && tag != PID_EXT {
            return Err(DecodeError::Invalid { what: "pid", at });
        }
        self.pid_body(tag)
    }

    fn pid_body(&mut self, tag: u8) -> Result<Pid, DecodeError> {
        let node = self.atom()?;
        let id = self.u32()?;
        let serial = self.u32()?;
        let creation = self.creation(tag == NEW_PID_EXT)?;
        Ok(Pid {
            node,
            id,
            serial,
            creation,
        })
    }

    /// An atom term, as pids, ports, references and funs carry their node and module names.
    pub fn atom(&mut self) -> Result<Atom, DecodeError> {
        let at = self.pos;
        let tag = self.u8()?;
        let (len, utf8) = match tag {
            ATOM_EXT => (usize::from(self.u16()?), false),
            SMALL_ATOM_EXT => (usize::from(self.u8()?), false),
            ATOM_UTF8_EXT => (usize::from(self.u16()?), true),
            SMALL_ATOM_UTF8_EXT => (usize::from(self.u8()?), true),
            ATOM_CACHE_REF => {
                let index = self.u8()?;
                return self
                    .atom_cache
                    .atom(index)
                    .cloned()
                    .ok_or(DecodeError::AtomCacheRef { index, at });
            }
            _ => {
                return Err(DecodeError::Invalid {
                    what: "atom (expected an atom tag)",
                    at,
                })
            }
        };
        let bytes = self.take(len)?;
        if !utf8 && !bytes.is_ascii() {
            if len > Atom::MAX_CHARS {
                return Err(DecodeError::AtomTooLong { chars: len, at });
            }
            let latin1: String = bytes.iter().map(|&b| char::from(b)).collect();
            return Ok(Atom::new(&latin1));
        }
        // ASCII latin-1 is UTF-8 as it stands.
        let text = std::str::from_utf8(bytes).map_err(|_| DecodeError::BadUtf8 { at })?;
        let chars = if text.is_ascii() {
            len
        } else {
            text.chars().count()
        };
        if chars > Atom::MAX_CHARS {
            return Err(DecodeError::AtomTooLong { chars, at });
        }
        Ok(Atom::new(text))
    }

    fn old_float(&mut self, at: usize) -> Result<f64, DecodeError> {
        let raw = self.take(31)?;
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        std::str::from_utf8(&raw[..end])
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|f| f.is_finite())
            .ok_or(DecodeError::Invalid { what: "float", at })
    }

    fn bit_binary(&mut self, at: usize) -> Result<Term, DecodeError> {
        let len = self.u32()? as usize;
        let bits = self.u8()?;
        if bits > 8 || (bits == 0) != (len == 0) {
            return Err(DecodeError::Invalid {
                what: "bit binary trailing bit count",
                at,
            });
        }
        let bytes = self.take(len)?.to_vec();
        Ok(match BitBinary::new(bytes.clone(), bits) {
            Some(b) => Term::BitBinary(b),
            None => Term::Binary(bytes.into()),
        })
    }

    fn big(&mut self, n: usize, at: usize) -> Result<Term, DecodeError> {
        let sign = match self.u8()? {
            0 => Sign::Plus,
            1 => Sign::Minus,
            _ => {
                return Err(DecodeError::Invalid {
                    what: "big integer sign",
                    at,
                })
            }
        };
        let digits = self.take(n)?;
        Ok(Term::from_bigint(BigInt::from_bytes_le(sign, digits)))
    }

    fn new_fun(&mut self, stack: &mut Vec<Frame>, at: usize) -> Result<Option<Term>, DecodeError> {
        let size = self.u32()? as usize;
        let arity = self.u8()?;
        let uniq = self.array::<16>()?;
        let index = self.u32()?;
        let num_free = self.u32()? as usize;
        let module = self.atom()?;
        // Old index, old uniq and pid: scalars, so no container may open here.
        let scalar = |d: &mut Self, integer: bool| {
            let mut none = Vec::new();
            match d.item(&mut none)? {
                Some(t @ (Term::Integer(_) | Term::BigInt(_))) if integer => Ok(Box::new(t)),
                Some(t @ Term::Pid(_)) if !integer => Ok(Box::new(t)),
                _ => Err(DecodeError::Invalid {
                    what: "fun fields",
                    at,
                }),
            }
        };
        let old_index = scalar(self, true)?;
        let old_uniq = scalar(self, true)?;
        let pid = scalar(self, false)?;
        let fun = Fun {
            arity,
            uniq,
            index,
            module,
            old_index,
            old_uniq,
            pid,
            free_vars: Vec::new(),
        };
        // Size counts from the size field itself (after the tag) to the end of the fun.
        let end = (at + 1).checked_add(size).ok_or(DecodeError::Invalid {
            what: "fun size",
            at,
        })?;
        self.open(stack, Kind::Fun(Box::new(fun), end), num_free, at)
    }
}

/// Binaries up to this size are always copied out of a shared input (erts's
/// `ERL_ONHEAP_BIN_LIMIT`: they live on the process heap).
const SHARE_OVER: usize = 64;

/// How many items a container reserves room for before they arrive.
const RESERVE_ITEMS: usize = 1024;

/// A container whose elements are still arriving.
struct Frame {
    kind: Kind,
    /// The elements so far: a tuple's elements, a list's elements and then its tail, a map's
    /// keys and values in turn, a fun's free variables.
    items: Vec<Term>,
    /// How many items make the container whole.
    want: usize,
    /// Where the container started, for errors.
    at: usize,
}

enum Kind {
    Tuple,
    List,
    Map,
    /// The fun with everything but its free variables, and the offset where it must end.
    Fun(Box<Fun>, usize),
}

impl Frame {
    /// The finished term; `pos` is the decoder's position after its last item.
    fn finish(self, pos: usize) -> Result<Term, DecodeError> {
        let at = self.at;
        let mut items = self.items;
        Ok(match self.kind {
            Kind::Tuple => Term::Tuple(items),
            Kind::List => {
                let tail = items.pop().unwrap_or(Term::NIL);
                Term::list_with_tail(items, tail)
            }
            Kind::Map => {
                let mut entries = Vec::with_capacity(items.len() / 2);
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    entries.push((k, v));
                }
                Term::Map(
                    Map::from_unique_entries(entries).ok_or(DecodeError::DuplicateMapKey { at })?,
                )
            }
            Kind::Fun(mut fun, end) => {
                if pos != end {
                    return Err(DecodeError::Invalid {
                        what: "fun size",
                        at,
                    });
                }
                fun.free_vars = items;
                Term::Fun(fun)
            }
        })
    }
}

#[cfg(test)]
mod integer_lists {
    use crate::{decode, encode, Term};

    fn list(items: Vec<Term>) -> Term {
        Term::List(items)
    }

    #[test]
    fn runs_of_integers_decode_as_the_loop_would() {
        let cases = [
            list((0..600).map(Term::Integer).collect()),
            list(vec![
                Term::Integer(-7),
                Term::Integer(1 << 20),
                Term::atom("a"),
                Term::Integer(3),
            ]),
            list(vec![
                Term::Integer(1),
                list(vec![Term::Integer(2), Term::Integer(3)]),
                Term::Integer(4),
            ]),
            Term::list_with_tail(vec![Term::Integer(1), Term::Integer(2)], Term::Integer(3)),
            Term::Tuple(vec![Term::Integer(1), list(vec![Term::Integer(300)])]),
            list(vec![
                Term::Integer(i64::from(i32::MIN)),
                Term::Integer(1 << 40),
            ]),
        ];
        for term in cases {
            let bytes = encode(&term).expect("encodes");
            assert_eq!(decode(&bytes).expect("decodes"), term);
        }
    }

    #[test]
    fn a_list_cut_short_among_its_integers_is_an_error() {
        let bytes = encode(&list((0..10).map(Term::Integer).collect())).expect("encodes");
        for cut in 6..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}
