//! [`Term`] to bytes: `term_to_binary/1,2`.
//!
//! The output is byte-identical to the installed OTP's `term_to_binary` (OTP 25, whose default
//! is `minor_version` 1) for every term, except that maps of more than 32 keys list their keys
//! in term order where erts uses its internal hash order. Layouts come from `erl_ext_dist.xml`;
//! the choices between tags (which integer tag, `STRING_EXT` or `LIST_EXT`, which atom tag) from
//! `enc_term` and `enc_atom` in `erts/emulator/beam/external.c`.

use flate2::{Compress, Compression, FlushCompress, Status};
use num_bigint::Sign;

use crate::error::EncodeError;
use crate::tag::*;
use crate::term::{Atom, Fun, Pid, Reference, Term};

/// How to encode, as `term_to_binary/2`'s options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EncodeOptions {
    /// `{minor_version, 2}` (OTP 26's default, and the distribution's `UTF8_ATOMS`): every atom
    /// as `SMALL_ATOM_UTF8_EXT`/`ATOM_UTF8_EXT`. When `false` (OTP 25's default,
    /// `{minor_version, 1}`), atoms that fit latin-1 are written as `ATOM_EXT`.
    pub utf8_atoms: bool,
    /// `{compressed, Level}` with a zlib level 0..=9 (`compressed` alone is level 6). As in erts,
    /// the term is left uncompressed when compressing would not make it smaller.
    pub compressed: Option<u32>,
}

impl EncodeOptions {
    /// The `compressed` option's default zlib level.
    pub const DEFAULT_COMPRESSION: u32 = 6;

    /// `term_to_binary(T, [{minor_version, 2}])`.
    pub fn minor_version_2() -> Self {
        EncodeOptions {
            utf8_atoms: true,
            compressed: None,
        }
    }
}

/// `term_to_binary(Term)` of OTP 25.
pub fn encode(term: &Term) -> Result<Vec<u8>, EncodeError> {
    encode_with(term, &EncodeOptions::default())
}

/// `term_to_binary(Term, Options)`.
pub fn encode_with(term: &Term, options: &EncodeOptions) -> Result<Vec<u8>, EncodeError> {
    let mut out = vec![VERSION];
    encode_into(term, &mut out, options)?;
    if let Some(level) = options.compressed {
        return Ok(compress(out, level));
    }
    Ok(out)
}

/// Appends the term's encoding, without the version byte, to `out`: the form terms take inside
/// distribution messages. The `compressed` option is ignored here.
pub fn encode_into(
    term: &Term,
    out: &mut Vec<u8>,
    options: &EncodeOptions,
) -> Result<(), EncodeError> {
    Encoder::new(out, options).term(term)
}

/// Compresses an encoded term (version byte first) the way erts does: zlib into a buffer five
/// bytes smaller than the plain body, and the plain term when it does not fit.
fn compress(plain: Vec<u8>, level: u32) -> Vec<u8> {
    let body = &plain[1..];
    let room = match body.len().checked_sub(5) {
        Some(room) if room > 0 => room,
        _ => return plain,
    };
    let mut out = Vec::with_capacity(6 + room);
    out.extend_from_slice(&[VERSION, COMPRESSED]);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    let mut z = Compress::new(Compression::new(level.min(9)), true);
    match z.compress_vec(body, &mut out, FlushCompress::Finish) {
        Ok(Status::StreamEnd) => out,
        _ => plain,
    }
}

/// Where an [`Encoder`] may write atoms as `ATOM_CACHE_REF` indexes into a distribution
/// header's atom list instead of their names (erl_ext_dist, "Distribution Header").
pub trait AtomRefs {
    /// The index (into the message's header list) to write for `atom`, or `None` to write the
    /// atom in full.
    fn index(&mut self, atom: &Atom) -> Option<u8>;
}

/// Writes terms, or a term piece by piece, onto the end of a buffer (no version byte): for
/// callers that encode a tuple from their own fields without building a [`Term`] first, as the
/// distribution encodes its control messages.
pub struct Encoder<'a> {
    out: &'a mut Vec<u8>,
    utf8_atoms: bool,
    atom_refs: Option<&'a mut dyn AtomRefs>,
}

fn len_u32(len: usize, what: &'static str) -> Result<u32, EncodeError> {
    u32::try_from(len).map_err(|_| EncodeError::TooLarge { what })
}

impl<'a> Encoder<'a> {
    /// An encoder appending to `out` (the `compressed` option is ignored).
    pub fn new(out: &'a mut Vec<u8>, options: &EncodeOptions) -> Encoder<'a> {
        Encoder {
            out,
            utf8_atoms: options.utf8_atoms,
            atom_refs: None,
        }
    }

    /// Writes atoms as `ATOM_CACHE_REF`s where `refs` gives an index: the encoding of terms
    /// inside a distribution message whose header carries the atoms.
    pub fn with_atom_refs(mut self, refs: &'a mut dyn AtomRefs) -> Encoder<'a> {
        self.atom_refs = Some(refs);
        self
    }

    /// The header of a tuple of `arity` elements; the elements follow.
    pub fn tuple_header(&mut self, arity: usize) -> Result<(), EncodeError> {
        match u8::try_from(arity) {
            Ok(n) => {
                self.u8(SMALL_TUPLE_EXT);
                self.u8(n);
            }
            Err(_) => {
                self.u8(LARGE_TUPLE_EXT);
                self.u32(len_u32(arity, "tuple")?);
            }
        }
        Ok(())
    }

    fn u8(&mut self, v: u8) {
        self.out.push(v);
    }

    fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    /// A whole term.
    pub fn term(&mut self, term: &Term) -> Result<(), EncodeError> {
        match term {
            Term::Integer(i) => self.integer(*i),
            Term::BigInt(b) => {
                let (sign, digits) = b.to_bytes_le();
                self.big(sign == Sign::Minus, &digits)?;
            }
            Term::Float(f) => {
                self.u8(NEW_FLOAT_EXT);
                self.out.extend_from_slice(&f.to_bits().to_be_bytes());
            }
            Term::Atom(a) => self.atom(a)?,
            Term::Binary(bytes) => {
                self.u8(BINARY_EXT);
                self.u32(len_u32(bytes.len(), "binary")?);
                self.out.extend_from_slice(bytes);
            }
            Term::BitBinary(b) => {
                self.u8(BIT_BINARY_EXT);
                self.u32(len_u32(b.bytes().len(), "bitstring")?);
                self.u8(b.last_bits());
                self.out.extend_from_slice(b.bytes());
            }
            Term::Tuple(elements) => {
                self.tuple_header(elements.len())?;
                self.terms(elements)?;
            }
            Term::List(elements) if elements.is_empty() => self.u8(NIL_EXT),
            Term::List(elements) => {
                if let Some(bytes) = as_string_ext(elements) {
                    self.u8(STRING_EXT);
                    self.u16(elements.len() as u16);
                    self.out.extend(bytes);
                } else {
                    self.list_header(elements)?;
                    self.u8(NIL_EXT);
                }
            }
            Term::ImproperList(elements, tail) => {
                self.list_header(elements)?;
                self.term(tail)?;
            }
            Term::Map(map) => {
                self.u8(MAP_EXT);
                self.u32(len_u32(map.len(), "map")?);
                for (key, value) in map.iter() {
                    self.term(key)?;
                    self.term(value)?;
                }
            }
            Term::Pid(pid) => self.pid(pid)?,
            Term::Port(port) => {
                match u32::try_from(port.id) {
                    Ok(id) => {
                        self.u8(NEW_PORT_EXT);
                        self.atom(&port.node)?;
                        self.u32(id);
                    }
                    Err(_) => {
                        self.u8(V4_PORT_EXT);
                        self.atom(&port.node)?;
                        self.out.extend_from_slice(&port.id.to_be_bytes());
                    }
                }
                self.u32(port.creation);
            }
            Term::Reference(r) => self.reference(r)?,
            Term::Fun(fun) => self.fun(fun)?,
            Term::Export(e) => {
                self.u8(EXPORT_EXT);
                self.atom(&e.module)?;
                self.atom(&e.function)?;
                self.u8(SMALL_INTEGER_EXT);
                self.u8(e.arity);
            }
        }
        Ok(())
    }

    fn terms(&mut self, terms: &[Term]) -> Result<(), EncodeError> {
        terms.iter().try_for_each(|t| self.term(t))
    }

    fn list_header(&mut self, elements: &[Term]) -> Result<(), EncodeError> {
        self.u8(LIST_EXT);
        self.u32(len_u32(elements.len(), "list")?);
        self.terms(elements)
    }

    /// An integer.
    pub fn integer(&mut self, i: i64) {
        if (0..=255).contains(&i) {
            self.u8(SMALL_INTEGER_EXT);
            self.u8(i as u8);
        } else if let Ok(small) = i32::try_from(i) {
            self.u8(INTEGER_EXT);
            self.u32(small as u32);
        } else {
            let digits = i.unsigned_abs().to_le_bytes();
            let used = 8 - (i.unsigned_abs().leading_zeros() as usize / 8);
            // Cannot fail: at most 8 digits.
            let _ = self.big(i < 0, &digits[..used]);
        }
    }

    fn big(&mut self, negative: bool, digits: &[u8]) -> Result<(), EncodeError> {
        match u8::try_from(digits.len()) {
            Ok(n) => {
                self.u8(SMALL_BIG_EXT);
                self.u8(n);
            }
            Err(_) => {
                self.u8(LARGE_BIG_EXT);
                self.u32(len_u32(digits.len(), "integer")?);
            }
        }
        self.u8(u8::from(negative));
        self.out.extend_from_slice(digits);
        Ok(())
    }

    /// An atom.
    pub fn atom(&mut self, atom: &Atom) -> Result<(), EncodeError> {
        let name = atom.as_str();
        // At most 255 bytes is at most 255 characters: only longer names need counting.
        if name.len() > Atom::MAX_CHARS {
            let chars = name.chars().count();
            if chars > Atom::MAX_CHARS {
                return Err(EncodeError::AtomTooLong { chars });
            }
        }
        if let Some(index) = self.atom_refs.as_mut().and_then(|refs| refs.index(atom)) {
            self.u8(ATOM_CACHE_REF);
            self.u8(index);
            return Ok(());
        }
        if !self.utf8_atoms && name.chars().all(|c| (c as u32) < 256) {
            self.u8(ATOM_EXT);
            self.u16(name.chars().count() as u16);
            self.out.extend(name.chars().map(|c| c as u8));
        } else if let Ok(len) = u8::try_from(name.len()) {
            self.u8(SMALL_ATOM_UTF8_EXT);
            self.u8(len);
            self.out.extend_from_slice(name.as_bytes());
        } else {
            self.u8(ATOM_UTF8_EXT);
            self.u16(name.len() as u16);
            self.out.extend_from_slice(name.as_bytes());
        }
        Ok(())
    }

    /// A reference (`NEWER_REFERENCE_EXT`).
    pub fn reference(&mut self, r: &Reference) -> Result<(), EncodeError> {
        if !(1..=5).contains(&r.id.len()) {
            return Err(EncodeError::BadReference { words: r.id.len() });
        }
        self.u8(NEWER_REFERENCE_EXT);
        self.u16(r.id.len() as u16);
        self.atom(&r.node)?;
        self.u32(r.creation);
        for word in r.id.iter() {
            self.u32(*word);
        }
        Ok(())
    }

    /// A pid (`NEW_PID_EXT`).
    pub fn pid(&mut self, pid: &Pid) -> Result<(), EncodeError> {
        self.u8(NEW_PID_EXT);
        self.atom(&pid.node)?;
        self.u32(pid.id);
        self.u32(pid.serial);
        self.u32(pid.creation);
        Ok(())
    }

    fn fun(&mut self, fun: &Fun) -> Result<(), EncodeError> {
        let integer = |t: &Term| matches!(t, Term::Integer(_) | Term::BigInt(_));
        if !integer(&fun.old_index) || !integer(&fun.old_uniq) {
            return Err(EncodeError::BadFun {
                what: "old index and old uniq must be integers",
            });
        }
        let Term::Pid(pid) = &*fun.pid else {
            return Err(EncodeError::BadFun {
                what: "pid must be a pid",
            });
        };
        self.u8(NEW_FUN_EXT);
        let size_at = self.out.len();
        self.u32(0);
        self.u8(fun.arity);
        self.out.extend_from_slice(&fun.uniq);
        self.u32(fun.index);
        self.u32(len_u32(fun.free_vars.len(), "fun environment")?);
        self.atom(&fun.module)?;
        self.term(&fun.old_index)?;
        self.term(&fun.old_uniq)?;
        self.pid(pid)?;
        self.terms(&fun.free_vars)?;
        let size = len_u32(self.out.len() - size_at, "fun")?;
        self.out[size_at..size_at + 4].copy_from_slice(&size.to_be_bytes());
        Ok(())
    }
}

/// The bytes of a list that `term_to_binary` writes as `STRING_EXT`: a proper list of at most
/// 65535 integers, each 0..=255 (`is_external_string` in external.c).
fn as_string_ext(elements: &[Term]) -> Option<impl Iterator<Item = u8> + '_> {
    if elements.len() > usize::from(u16::MAX) {
        return None;
    }
    let byte = |t: &Term| match t {
        Term::Integer(i) => u8::try_from(*i).ok(),
        _ => None,
    };
    if elements.iter().all(|t| byte(t).is_some()) {
        Some(elements.iter().filter_map(byte))
    } else {
        None
    }
}
