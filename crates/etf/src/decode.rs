//! Bytes to [`Term`]: `binary_to_term/1`.
//!
//! Every length read from the input is checked against the bytes that remain before anything is
//! allocated for it, nesting is bounded by [`DecodeOptions::max_depth`], and a compressed term is
//! inflated incrementally up to the size it declares, never past it. Tags and layouts follow
//! `erl_ext_dist.xml`; where it and `erts/emulator/beam/external.c` differ, the source wins.

use std::io::Read;

use num_bigint::{BigInt, Sign};

use crate::error::DecodeError;
use crate::tag::*;
use crate::term::{Atom, BitBinary, Export, Fun, Map, Pid, Port, Reference, Term};

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
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            max_depth: DEFAULT_MAX_DEPTH,
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
        let (inflated, used) = inflate(&bytes[6..], size)?;
        let mut body = Decoder::with_options(&inflated, *options);
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
/// inside distribution messages. Tracks its position so a caller can decode terms back to back.
pub struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
    options: DecodeOptions,
    atom_cache: &'a [Option<Atom>],
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
            pos: 0,
            options,
            atom_cache: &[],
        }
    }

    /// Resolves `ATOM_CACHE_REF` indexes through `cache` (a distribution header's atom list).
    pub fn with_atom_cache(mut self, cache: &'a [Option<Atom>]) -> Self {
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

    /// A count of items that each take at least one byte: checked against what remains, so a
    /// lying count fails before anything is allocated for it.
    fn count(&mut self, n: usize) -> Result<usize, DecodeError> {
        let rest = self.input.len() - self.pos;
        if n > rest {
            return Err(DecodeError::Truncated {
                at: self.pos,
                needed: n - rest,
            });
        }
        Ok(n)
    }

    /// Decodes one term. Iterative: containers wait on an explicit stack rather than the call
    /// stack, so nesting costs heap, not stack, up to [`DecodeOptions::max_depth`].
    pub fn term(&mut self) -> Result<Term, DecodeError> {
        let mut stack: Vec<Frame> = Vec::new();
        loop {
            let mut value = match self.item()? {
                Item::Value(term) => term,
                Item::Open(frame) if frame.is_complete() => frame.into_term(),
                Item::Open(frame) => {
                    if stack.len() >= self.options.max_depth {
                        return Err(DecodeError::TooDeep {
                            max: self.options.max_depth,
                            at: self.pos,
                        });
                    }
                    stack.push(frame);
                    continue;
                }
            };
            // Hand the value to the innermost open container, closing every container it fills.
            loop {
                let Some(top) = stack.last_mut() else {
                    return Ok(value);
                };
                match top.push(value, self.pos)? {
                    Some(done) => {
                        stack.pop();
                        value = done;
                    }
                    None => break,
                }
            }
        }
    }

    /// One tag's worth of input: a whole scalar, or the header of a container.
    fn item(&mut self) -> Result<Item, DecodeError> {
        let at = self.pos;
        let tag = self.u8()?;
        Ok(Item::Value(match tag {
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
                Term::Binary(self.take(len)?.to_vec())
            }
            BIT_BINARY_EXT => self.bit_binary(at)?,
            SMALL_TUPLE_EXT => {
                let n = usize::from(self.u8()?);
                return Ok(Item::Open(Frame::Tuple(self.vec(n)?, n)));
            }
            LARGE_TUPLE_EXT => {
                let n = self.u32()? as usize;
                return Ok(Item::Open(Frame::Tuple(self.vec(n)?, n)));
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
                let n = self.u32()? as usize;
                return Ok(Item::Open(Frame::List(self.vec(n)?, n)));
            }
            MAP_EXT => {
                let n = self.u32()? as usize;
                self.count(n.saturating_mul(2))?;
                return Ok(Item::Open(Frame::Map {
                    map: Map::new(),
                    key: None,
                    left: n,
                    at,
                }));
            }
            SMALL_BIG_EXT => {
                let n = usize::from(self.u8()?);
                self.big(n, at)?
            }
            LARGE_BIG_EXT => {
                let n = self.u32()? as usize;
                self.big(n, at)?
            }
            NEW_PID_EXT | PID_EXT => {
                let node = self.atom()?;
                let id = self.u32()?;
                let serial = self.u32()?;
                let creation = self.creation(tag == NEW_PID_EXT)?;
                Term::Pid(Pid {
                    node,
                    id,
                    serial,
                    creation,
                })
            }
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
                let id = (0..words).map(|_| self.u32()).collect::<Result<_, _>>()?;
                Term::Reference(Reference { node, creation, id })
            }
            REFERENCE_EXT => {
                let node = self.atom()?;
                let id = vec![self.u32()?];
                let creation = self.creation(false)?;
                Term::Reference(Reference { node, creation, id })
            }
            NEW_FUN_EXT => return self.new_fun(at),
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

    /// Room for `n` elements, after checking the input could hold them (each takes a byte).
    fn vec(&mut self, n: usize) -> Result<Vec<Term>, DecodeError> {
        Ok(Vec::with_capacity(self.count(n)?))
    }

    fn creation(&mut self, wide: bool) -> Result<u32, DecodeError> {
        if wide {
            self.u32()
        } else {
            Ok(u32::from(self.u8()?))
        }
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
                    .get(usize::from(index))
                    .cloned()
                    .flatten()
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
        let name: String = if utf8 {
            let text = std::str::from_utf8(bytes).map_err(|_| DecodeError::BadUtf8 { at })?;
            text.to_owned()
        } else {
            bytes.iter().map(|&b| char::from(b)).collect()
        };
        let chars = if utf8 { name.chars().count() } else { len };
        if chars > Atom::MAX_CHARS {
            return Err(DecodeError::AtomTooLong { chars, at });
        }
        Ok(Atom::from(name))
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
            None => Term::Binary(bytes),
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

    fn new_fun(&mut self, at: usize) -> Result<Item, DecodeError> {
        let size = self.u32()? as usize;
        let arity = self.u8()?;
        let uniq = self.array::<16>()?;
        let index = self.u32()?;
        let num_free = self.u32()? as usize;
        let module = self.atom()?;
        let scalar = |d: &mut Self, integer: bool| match d.item()? {
            Item::Value(t @ (Term::Integer(_) | Term::BigInt(_))) if integer => Ok(Box::new(t)),
            Item::Value(t @ Term::Pid(_)) if !integer => Ok(Box::new(t)),
            _ => Err(DecodeError::Invalid {
                what: "fun fields",
                at,
            }),
        };
        let old_index = scalar(self, true)?;
        let old_uniq = scalar(self, true)?;
        let pid = scalar(self, false)?;
        let free_vars = self.vec(num_free)?;
        let fun = Fun {
            arity,
            uniq,
            index,
            module,
            old_index,
            old_uniq,
            pid,
            free_vars,
        };
        // Size counts from the size field itself (after the tag) to the end of the fun.
        let end = (at + 1).checked_add(size).ok_or(DecodeError::Invalid {
            what: "fun size",
            at,
        })?;
        if num_free == 0 {
            return match self.pos == end {
                true => Ok(Item::Value(Term::Fun(fun))),
                false => Err(DecodeError::Invalid {
                    what: "fun size",
                    at,
                }),
            };
        }
        Ok(Item::Open(Frame::Fun {
            fun: Some(fun),
            left: num_free,
            end,
            at,
        }))
    }
}

enum Item {
    Value(Term),
    Open(Frame),
}

/// A container whose elements are still arriving.
enum Frame {
    /// A tuple and how many elements it has in all.
    Tuple(Vec<Term>, usize),
    /// A list's elements and how many it has in all; after them comes the tail.
    List(Vec<Term>, usize),
    Map {
        map: Map,
        key: Option<Term>,
        left: usize,
        at: usize,
    },
    Fun {
        fun: Option<Fun>,
        left: usize,
        end: usize,
        at: usize,
    },
}

impl Frame {
    /// Whether the container has nothing left to wait for (an empty tuple or map).
    fn is_complete(&self) -> bool {
        matches!(self, Frame::Tuple(_, 0) | Frame::Map { left: 0, .. })
    }

    /// The finished term of a complete container.
    fn into_term(self) -> Term {
        match self {
            Frame::Tuple(items, _) => Term::Tuple(items),
            Frame::Map { map, .. } => Term::Map(map),
            Frame::List(items, _) => Term::List(items),
            Frame::Fun { fun, .. } => fun.map_or(Term::NIL, Term::Fun),
        }
    }

    /// Adds the next element; returns the finished term when that was the last one. `pos` is
    /// the decoder's position after the element.
    fn push(&mut self, value: Term, pos: usize) -> Result<Option<Term>, DecodeError> {
        match self {
            Frame::Tuple(items, n) => {
                items.push(value);
                Ok((items.len() == *n).then(|| Term::Tuple(std::mem::take(items))))
            }
            Frame::List(items, n) if items.len() < *n => {
                items.push(value);
                Ok(None)
            }
            Frame::List(items, _) => Ok(Some(Term::list_with_tail(std::mem::take(items), value))),
            Frame::Map { map, key, left, at } => {
                let Some(k) = key.take() else {
                    *key = Some(value);
                    return Ok(None);
                };
                if map.insert(k, value).is_some() {
                    return Err(DecodeError::DuplicateMapKey { at: *at });
                }
                *left -= 1;
                Ok((*left == 0).then(|| Term::Map(std::mem::take(map))))
            }
            Frame::Fun { fun, left, end, at } => {
                let bad = DecodeError::Invalid {
                    what: "fun",
                    at: *at,
                };
                fun.as_mut().ok_or(bad.clone())?.free_vars.push(value);
                *left -= 1;
                if *left > 0 {
                    return Ok(None);
                }
                if pos != *end {
                    return Err(DecodeError::Invalid {
                        what: "fun size",
                        at: *at,
                    });
                }
                Ok(Some(Term::Fun(fun.take().ok_or(bad)?)))
            }
        }
    }
}
