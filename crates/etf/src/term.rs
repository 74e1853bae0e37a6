//! The Rust value of an Erlang term.
//!
//! One variant per kind of term in the Erlang reference manual's "Data Types" chapter. Integers are
//! normalised (`Integer` when the value fits an `i64`, `BigInt` otherwise) and maps keep their keys
//! in Erlang's map-key order, so two terms are `==` exactly when Erlang's `=:=` says so (floats
//! aside: `NaN` cannot come from Erlang).

use bytes::Bytes;
use num_bigint::BigInt;
use num_traits::ToPrimitive;

pub use crate::atom::Atom;
use crate::order::map_key_cmp;

/// An Erlang term.
#[derive(Clone, Debug, PartialEq)]
pub enum Term {
    /// An integer that fits an `i64`.
    Integer(i64),
    /// An integer that does not fit an `i64` (invariant kept by [`Term::from_bigint`]).
    BigInt(BigInt),
    /// A float (`NEW_FLOAT_EXT`).
    Float(f64),
    /// An atom.
    Atom(Atom),
    /// A binary: a bitstring whose length is a whole number of bytes. Reference-counted, as
    /// the BEAM's refc binaries: cloning a term, sending it to a process or another node, and
    /// decoding a large binary out of a received message copy no bytes.
    Binary(Bytes),
    /// A bitstring whose length is not a whole number of bytes.
    BitBinary(BitBinary),
    /// A tuple.
    Tuple(Vec<Term>),
    /// A proper list; the empty list is `[]` (nil).
    List(Vec<Term>),
    /// An improper list `[H1, H2 | Tail]`: at least one element, and a tail that is not a list.
    ImproperList(Vec<Term>, Box<Term>),
    /// A map.
    Map(Map),
    /// A process identifier.
    Pid(Pid),
    /// A port identifier.
    Port(Port),
    /// A reference.
    Reference(Reference),
    /// A local fun (`NEW_FUN_EXT`), kept so that it can be sent on unchanged. Boxed: funs are
    /// rare and large, and every other term would pay for their size.
    Fun(Box<Fun>),
    /// An external fun `fun M:F/A` (`EXPORT_EXT`).
    Export(Export),
}

impl Term {
    /// The empty list `[]`.
    pub const NIL: Term = Term::List(Vec::new());

    /// An integer term from a big integer, normalised to [`Term::Integer`] when it fits.
    pub fn from_bigint(value: BigInt) -> Term {
        match value.to_i64() {
            Some(small) => Term::Integer(small),
            None => Term::BigInt(value),
        }
    }

    /// An atom term.
    pub fn atom(name: &str) -> Term {
        Term::Atom(Atom::from(name))
    }

    /// A tuple term.
    pub fn tuple(elements: Vec<Term>) -> Term {
        Term::Tuple(elements)
    }

    /// A list with the given tail: proper when the tail is a proper list, otherwise improper.
    pub fn list_with_tail(mut elements: Vec<Term>, tail: Term) -> Term {
        match tail {
            Term::List(rest) => {
                elements.extend(rest);
                Term::List(elements)
            }
            Term::ImproperList(rest, tail) => {
                elements.extend(rest);
                Term::ImproperList(elements, tail)
            }
            tail if elements.is_empty() => tail,
            tail => Term::ImproperList(elements, Box::new(tail)),
        }
    }

    /// A list of byte-sized integers, as Erlang's `"string"` syntax gives.
    pub fn charlist(text: &str) -> Term {
        Term::List(text.chars().map(|c| Term::Integer(c as i64)).collect())
    }

    /// The text of a charlist (a list of code points) or a binary (UTF-8, invalid bytes
    /// replaced), as `unicode:characters_to_list/1` reads either; `None` for anything else.
    pub fn text(&self) -> Option<String> {
        match self {
            Term::Binary(b) => Some(String::from_utf8_lossy(b).into_owned()),
            Term::List(chars) => chars
                .iter()
                .map(|c| match c {
                    Term::Integer(i) => u32::try_from(*i).ok().and_then(char::from_u32),
                    _ => None,
                })
                .collect(),
            _ => None,
        }
    }

    /// `true` for the empty list.
    pub fn is_nil(&self) -> bool {
        matches!(self, Term::List(v) if v.is_empty())
    }

    /// The atom's name, if this is an atom.
    pub fn as_atom(&self) -> Option<&str> {
        match self {
            Term::Atom(a) => Some(a.as_str()),
            _ => None,
        }
    }
}

impl From<i64> for Term {
    fn from(value: i64) -> Term {
        Term::Integer(value)
    }
}

impl From<Atom> for Term {
    fn from(value: Atom) -> Term {
        Term::Atom(value)
    }
}

/// A string is a UTF-8 binary, as Elixir's strings are (`"text"`); [`Term::charlist`] makes
/// Erlang's list of code points.
impl From<&str> for Term {
    fn from(value: &str) -> Term {
        Term::Binary(Bytes::copy_from_slice(value.as_bytes()))
    }
}

/// A UTF-8 binary, as `From<&str>`.
impl From<String> for Term {
    fn from(value: String) -> Term {
        Term::Binary(Bytes::from(value))
    }
}

/// `true` and `false` are atoms in Erlang.
impl From<bool> for Term {
    fn from(value: bool) -> Term {
        Term::atom(if value { "true" } else { "false" })
    }
}

impl From<f64> for Term {
    fn from(value: f64) -> Term {
        Term::Float(value)
    }
}

impl From<Bytes> for Term {
    fn from(value: Bytes) -> Term {
        Term::Binary(value)
    }
}

impl From<Pid> for Term {
    fn from(value: Pid) -> Term {
        Term::Pid(value)
    }
}

impl From<Reference> for Term {
    fn from(value: Reference) -> Term {
        Term::Reference(value)
    }
}

impl From<Map> for Term {
    fn from(value: Map) -> Term {
        Term::Map(value)
    }
}

/// A proper list.
impl From<Vec<Term>> for Term {
    fn from(value: Vec<Term>) -> Term {
        Term::List(value)
    }
}

/// A bitstring of `8 * (bytes.len() - 1) + last_bits` bits.
///
/// Invariants: `bytes` is not empty, `1 <= last_bits <= 7`, and the unused low bits of the last
/// byte are zero (as `BIT_BINARY_EXT` carries them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BitBinary {
    bytes: Vec<u8>,
    last_bits: u8,
}

impl BitBinary {
    /// A bitstring; `None` when `last_bits` is not in 1..=8 or `bytes` is empty. Unused bits are
    /// cleared. A `last_bits` of 8 gives a whole binary, so it is refused here: use
    /// [`Term::Binary`].
    pub fn new(mut bytes: Vec<u8>, last_bits: u8) -> Option<BitBinary> {
        if !(1..=7).contains(&last_bits) {
            return None;
        }
        let last = bytes.last_mut()?;
        *last &= 0xffu8 << (8 - last_bits);
        Some(BitBinary { bytes, last_bits })
    }

    /// The bytes, the last one partly used.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// How many bits of the last byte belong to the bitstring (1..=7).
    pub fn last_bits(&self) -> u8 {
        self.last_bits
    }

    /// The length in bits.
    pub fn bit_len(&self) -> u64 {
        (self.bytes.len() as u64 - 1) * 8 + u64::from(self.last_bits)
    }
}

/// A map whose entries are kept sorted in Erlang's map-key order, one entry per key.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Map {
    entries: Vec<(Term, Term)>,
}

impl Map {
    /// An empty map.
    pub fn new() -> Map {
        Map::default()
    }

    /// A map from entries; a later entry for the same key wins, as in `maps:from_list/1`.
    pub fn from_entries(entries: impl IntoIterator<Item = (Term, Term)>) -> Map {
        let mut map = Map::new();
        for (key, value) in entries {
            map.insert(key, value);
        }
        map
    }

    /// Adds or replaces the value for `key`; returns the old value.
    pub fn insert(&mut self, key: Term, value: Term) -> Option<Term> {
        match self.entries.binary_search_by(|(k, _)| map_key_cmp(k, &key)) {
            Ok(at) => Some(std::mem::replace(&mut self.entries[at].1, value)),
            Err(at) => {
                self.entries.insert(at, (key, value));
                None
            }
        }
    }

    /// A map from entries in any order, or `None` if a key appears twice (as `binary_to_term`
    /// refuses such a map). Sorting once keeps this O(n log n) for maps of any size.
    pub(crate) fn from_unique_entries(mut entries: Vec<(Term, Term)>) -> Option<Map> {
        let sorted = entries
            .windows(2)
            .all(|w| map_key_cmp(&w[0].0, &w[1].0).is_lt());
        if !sorted {
            entries.sort_by(|a, b| map_key_cmp(&a.0, &b.0));
            if entries
                .windows(2)
                .any(|w| map_key_cmp(&w[0].0, &w[1].0).is_eq())
            {
                return None;
            }
        }
        Some(Map { entries })
    }

    /// The value for `key`.
    pub fn get(&self, key: &Term) -> Option<&Term> {
        self.entries
            .binary_search_by(|(k, _)| map_key_cmp(k, key))
            .ok()
            .map(|at| &self.entries[at].1)
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when the map has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries in map-key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &(Term, Term)> {
        self.entries.iter()
    }
}

/// A process identifier as it travels between nodes (`NEW_PID_EXT`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pid {
    /// The node the process lives on.
    pub node: Atom,
    /// The process number (15 bits used by today's BEAM, 32 on the wire).
    pub id: u32,
    /// The serial, bumped when `id`s wrap around.
    pub serial: u32,
    /// The node incarnation the pid belongs to.
    pub creation: u32,
}

/// A port identifier (`NEW_PORT_EXT`, or `V4_PORT_EXT` when the number needs 64 bits).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Port {
    /// The node the port belongs to.
    pub node: Atom,
    /// The port number.
    pub id: u64,
    /// The node incarnation the port belongs to.
    pub creation: u32,
}

/// A reference (`NEWER_REFERENCE_EXT`): up to five 32-bit words, least significant first.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    /// The node that made the reference.
    pub node: Atom,
    /// The node incarnation that made the reference.
    pub creation: u32,
    /// The identifier words, as ordered on the wire (1 to 5 of them).
    pub id: RefId,
}

/// A reference's identifier words, as ordered on the wire: 1 to 5 of them (`NEWER_REFERENCE_EXT`
/// allows no more; erts's `ERTS_MAX_REF_NUMBERS`). Held inline, so references are cloned without
/// allocating — a GenServer call copies its monitor reference half a dozen times.
#[derive(Clone, Copy)]
pub struct RefId {
    words: [u32; RefId::MAX_WORDS],
    len: u8,
}

impl RefId {
    /// The most words a reference has.
    pub const MAX_WORDS: usize = 5;

    /// The identifier made of `words`, if there are 1 to [`RefId::MAX_WORDS`] of them.
    pub fn new(words: &[u32]) -> Option<RefId> {
        if words.is_empty() || words.len() > RefId::MAX_WORDS {
            return None;
        }
        let mut id = RefId {
            words: [0; RefId::MAX_WORDS],
            len: words.len() as u8,
        };
        id.words[..words.len()].copy_from_slice(words);
        Some(id)
    }
}

impl<const N: usize> From<[u32; N]> for RefId {
    /// The identifier made of `words`. Panics unless `N` is 1 to 5 (a constant: a bug, not input).
    fn from(words: [u32; N]) -> RefId {
        const { assert!(N >= 1 && N <= RefId::MAX_WORDS) };
        let mut id = RefId {
            words: [0; RefId::MAX_WORDS],
            len: N as u8,
        };
        id.words[..N].copy_from_slice(&words);
        id
    }
}

impl std::ops::Deref for RefId {
    type Target = [u32];
    fn deref(&self) -> &[u32] {
        &self.words[..usize::from(self.len)]
    }
}

impl<'a> IntoIterator for &'a RefId {
    type Item = &'a u32;
    type IntoIter = std::slice::Iter<'a, u32>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl PartialEq for RefId {
    fn eq(&self, other: &RefId) -> bool {
        **self == **other
    }
}

impl Eq for RefId {}

impl std::hash::Hash for RefId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state);
    }
}

impl std::fmt::Debug for RefId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A local fun (`NEW_FUN_EXT`): opaque outside its node, but preserved field by field so that it
/// can be passed on and re-encoded to the same bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Fun {
    /// The number of arguments.
    pub arity: u8,
    /// The MD5 of the module's significant parts.
    pub uniq: [u8; 16],
    /// The index in the module's fun table.
    pub index: u32,
    /// The module that defines the fun.
    pub module: Atom,
    /// `OldIndex`, an integer term.
    pub old_index: Box<Term>,
    /// `OldUniq`, an integer term.
    pub old_uniq: Box<Term>,
    /// The process that created the fun.
    pub pid: Box<Term>,
    /// The captured variables.
    pub free_vars: Vec<Term>,
}

/// An external fun, `fun Module:Function/Arity`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Export {
    /// The module.
    pub module: Atom,
    /// The function.
    pub function: Atom,
    /// The arity.
    pub arity: u8,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_reads_charlists_and_binaries_only() {
        assert_eq!(Term::charlist("héllo").text().as_deref(), Some("héllo"));
        assert_eq!(
            Term::Binary(Bytes::from_static("ok ✓".as_bytes()))
                .text()
                .as_deref(),
            Some("ok ✓")
        );
        assert_eq!(Term::NIL.text().as_deref(), Some(""));
        assert_eq!(Term::List(vec![Term::atom("a")]).text(), None);
        assert_eq!(Term::List(vec![Term::Integer(-1)]).text(), None);
        assert_eq!(Term::atom("a").text(), None);
    }
}
