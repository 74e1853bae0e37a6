//! The distribution header (erl_ext_dist, "Distribution Header"): the atom cache references a
//! message's terms use through `ATOM_CACHE_REF`, with new atoms for the connection's 2048-entry
//! cache. Shared by normal (`131, 68`) and first-fragment (`131, 69`) headers.
//!
//! Both directions: the reader keeps the receiving side's cache, [`OutputCache`] mirrors
//! what the peer's cache holds from the atoms we sent, so an atom the peer already has costs
//! two bytes (as erts's `erts_encode_dist_ext` with its `ErtsAtomCacheMap`).
//!
//! ```
//! use rotp_dist::{ControlMessage, DistFlags, Incoming, OutputCache, Reader, Writer};
//! use etf::{Atom, Pid, Term};
//!
//! let from = Pid { node: Atom::from("a@localhost"), id: 80, serial: 0, creation: 1 };
//! let send = ControlMessage::RegSend { from, to: Atom::from("drip_files"), token: None };
//! let message = Term::atom("sync_all_the_files");
//! let writer = Writer::new(DistFlags::DEFAULT);
//! let mut cache = OutputCache::default(); // one per connection, like the reader's
//!
//! let (mut first, mut second) = (Vec::new(), Vec::new());
//! writer.write(&send, Some(&message), &mut cache, &mut first)?;
//! writer.write(&send, Some(&message), &mut cache, &mut second)?;
//! // The second time, each atom is a reference to the peer's cache entry.
//! assert!(second.len() < first.len() - 20);
//!
//! // The reader fills its cache from the first header, and resolves the second's references.
//! let mut reader = Reader::new(1 << 20).for_flags(DistFlags::DEFAULT);
//! for packet in [&first, &second] {
//!     let Incoming::Message(m) = reader.packet(&packet[4..])? else { panic!("a message") };
//!     assert_eq!(m.payload.as_ref(), Some(&message));
//! }
//! # Ok::<(), rotp_dist::DistError>(())
//! ```

use etf::{Atom, AtomRefs};

use crate::DistError;

/// The receiving side's atom cache for one connection: 8 segments of 256 entries.
#[derive(Debug)]
pub struct AtomCache {
    entries: Vec<Option<Atom>>,
}

impl Default for AtomCache {
    fn default() -> Self {
        AtomCache {
            entries: vec![None; AtomCache::SIZE],
        }
    }
}

impl AtomCache {
    /// Entries in the cache (`ERTS_ATOM_CACHE_SIZE`).
    pub const SIZE: usize = 2048;
}

/// The most atoms one message's header can carry (`NumberOfAtomCacheRefs` is a byte).
const MAX_REFS: usize = 255;

/// The cache entry an atom goes to on the sending side. erts uses the atom's index in its
/// atom table; ours is where the interned name lives (atoms are interned, so the same atom
/// always lands in the same entry). Any choice is correct — the header names the entry and
/// an entry is reused only when it holds an equal atom — the choice only decides hits.
fn slot_of(atom: &Atom) -> u16 {
    let address = atom.as_str().as_ptr() as usize as u64;
    ((address >> 3).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 53) as u16 % AtomCache::SIZE as u16
}

/// The sending side's picture of the peer's atom cache for one connection: what each entry
/// holds after every header we wrote. Headers must be written in the order their packets
/// are sent.
#[derive(Debug)]
pub struct OutputCache {
    entries: Vec<Option<Atom>>,
}

impl Default for OutputCache {
    fn default() -> Self {
        OutputCache {
            entries: vec![None; AtomCache::SIZE],
        }
    }
}

/// The atoms one message refers to through its header, in reference order: filled while the
/// message is encoded ([`AtomRefs`]), turned into a header when the message is framed.
///
/// Reused from message to message (one per sending thread): it keeps the atoms it has seen by
/// cache entry, so an atom met again costs no reference-count traffic.
#[derive(Debug, Clone, Default)]
pub struct MessageAtoms {
    /// The cache entry of each reference, in order.
    refs: Vec<u16>,
    /// The atom last seen for each cache entry (allocated on first use).
    seen: Vec<Option<Atom>>,
}

impl MessageAtoms {
    /// Forgets the last message's references.
    pub fn clear(&mut self) {
        self.refs.clear();
    }

    fn atom(&self, slot: u16) -> Option<&Atom> {
        self.seen.get(usize::from(slot))?.as_ref()
    }
}

impl AtomRefs for MessageAtoms {
    fn index(&mut self, atom: &Atom) -> Option<u8> {
        let slot = slot_of(atom);
        if let Some(i) = self.refs.iter().position(|s| *s == slot) {
            // Referenced already — or another atom of this message has the entry, and this
            // one is written in full.
            return match self.atom(slot) {
                Some(seen) if seen == atom => u8::try_from(i).ok(),
                _ => None,
            };
        }
        if self.refs.len() >= MAX_REFS {
            return None;
        }
        if self.seen.is_empty() {
            self.seen = vec![None; AtomCache::SIZE];
        }
        let seen = &mut self.seen[usize::from(slot)];
        if seen.as_ref() != Some(atom) {
            *seen = Some(atom.clone());
        }
        self.refs.push(slot);
        u8::try_from(self.refs.len() - 1).ok()
    }
}

/// Writes a header's atom cache references (from the `NumberOfAtomCacheRefs` byte on) for
/// `atoms`: an atom the peer's cache already holds in its entry as an old reference, any other
/// as a new entry with its name, which `cache` then records.
pub(crate) fn write_atom_refs(atoms: &MessageAtoms, cache: &mut OutputCache, out: &mut Vec<u8>) {
    let count = atoms.refs.len();
    out.push(count as u8);
    if count == 0 {
        return;
    }
    // No two atoms of a message share an entry, so what is new does not change as we go.
    let is_new = |cache: &OutputCache, atom: &Atom, slot: u16| {
        cache.entries[usize::from(slot)].as_ref() != Some(atom)
    };
    let referenced = || {
        atoms
            .refs
            .iter()
            .filter_map(|slot| atoms.atom(*slot).map(|a| (a, *slot)))
    };
    let long_atoms = referenced().any(|(a, slot)| a.as_str().len() > 255 && is_new(cache, a, slot));
    let flags_at = out.len();
    out.resize(flags_at + count / 2 + 1, 0);
    if long_atoms {
        out[flags_at + count / 2] |= 0x01 << ((count % 2) * 4);
    }
    for (i, (atom, slot)) in referenced().enumerate() {
        let new = is_new(cache, atom, slot);
        let flag = (slot >> 8) as u8 | if new { 0x08 } else { 0 };
        out[flags_at + i / 2] |= flag << ((i % 2) * 4);
        out.push((slot & 0xff) as u8);
        if new {
            let name = atom.as_str().as_bytes();
            if long_atoms {
                out.extend_from_slice(&(name.len() as u16).to_be_bytes());
            } else {
                out.push(name.len() as u8);
            }
            out.extend_from_slice(name);
            cache.entries[usize::from(slot)] = Some(atom.clone());
        }
    }
}

/// Reads a header's atom cache references starting at `at` (the `NumberOfAtomCacheRefs`
/// byte), updating `cache` with new entries. Fills `refs` with the message's atom list
/// (indexed by `ATOM_CACHE_REF`; reused from message to message) and returns the offset just
/// past the header.
pub(crate) fn read_atom_refs(
    bytes: &[u8],
    mut at: usize,
    cache: &mut AtomCache,
    refs: &mut HeaderRefs,
) -> Result<usize, DistError> {
    let truncated = DistError::Malformed("distribution header truncated");
    refs.clear();
    let count = usize::from(*bytes.get(at).ok_or(truncated.clone())?);
    at += 1;
    if count == 0 {
        return Ok(at);
    }
    let flag_bytes = count / 2 + 1;
    let flags = bytes.get(at..at + flag_bytes).ok_or(truncated.clone())?;
    at += flag_bytes;
    let nibble = |i: usize| (flags[i / 2] >> ((i % 2) * 4)) & 0x0f;
    let long_atoms = nibble(count) & 0x01 != 0;
    for i in 0..count {
        let flag = nibble(i);
        let segment = usize::from(flag & 0x07);
        let internal = usize::from(*bytes.get(at).ok_or(truncated.clone())?);
        at += 1;
        let index = segment * 256 + internal;
        if flag & 0x08 != 0 {
            let len = if long_atoms {
                let b = bytes.get(at..at + 2).ok_or(truncated.clone())?;
                at += 2;
                usize::from(u16::from_be_bytes([b[0], b[1]]))
            } else {
                let b = *bytes.get(at).ok_or(truncated.clone())?;
                at += 1;
                usize::from(b)
            };
            let text = bytes.get(at..at + len).ok_or(truncated.clone())?;
            at += len;
            let text = std::str::from_utf8(text)
                .map_err(|_| DistError::Malformed("atom cache entry is not UTF-8"))?;
            if text.chars().count() > Atom::MAX_CHARS {
                return Err(DistError::Malformed("atom cache entry too long"));
            }
            if !refs.own && refs.slots.contains(&(index as u16)) {
                // The header reuses an entry it referenced: keep the atoms themselves.
                refs.materialize(cache);
            }
            cache.entries[index] = Some(Atom::from(text));
        } else if cache.entries[index].is_none() {
            return Err(DistError::Malformed(
                "reference to an empty atom cache entry",
            ));
        }
        refs.slots.push(index as u16);
        if refs.own {
            refs.atoms.push(cache.entries[index].clone());
        }
    }
    Ok(at)
}

/// A message's atom references as its header gave them: cache entries, resolved through the
/// cache when the message is decoded (no copies) — or, when the header reuses an entry it
/// referenced, the atoms themselves.
#[derive(Debug, Default)]
pub(crate) struct HeaderRefs {
    slots: Vec<u16>,
    atoms: Vec<Option<Atom>>,
    own: bool,
}

impl HeaderRefs {
    fn clear(&mut self) {
        self.slots.clear();
        self.atoms.clear();
        self.own = false;
    }

    /// Switches to holding the atoms themselves (those referenced so far, from `cache`).
    fn materialize(&mut self, cache: &AtomCache) {
        self.atoms = self
            .slots
            .iter()
            .map(|s| cache.entries[usize::from(*s)].clone())
            .collect();
        self.own = true;
    }

    /// The atoms referenced, for a message decoded later (a fragmented one).
    pub(crate) fn to_atoms(&self, cache: &AtomCache) -> Vec<Option<Atom>> {
        if self.own {
            return self.atoms.clone();
        }
        self.slots
            .iter()
            .map(|s| cache.entries[usize::from(*s)].clone())
            .collect()
    }

    /// The references resolved through `cache`, for decoding the message now.
    pub(crate) fn resolve<'a>(&'a self, cache: &'a AtomCache) -> Resolved<'a> {
        Resolved { refs: self, cache }
    }
}

/// [`HeaderRefs`] with the cache they point into.
pub(crate) struct Resolved<'a> {
    refs: &'a HeaderRefs,
    cache: &'a AtomCache,
}

impl etf::AtomCacheRefs for Resolved<'_> {
    fn atom(&self, index: u8) -> Option<&Atom> {
        let index = usize::from(index);
        if self.refs.own {
            return self.refs.atoms.get(index)?.as_ref();
        }
        let slot = *self.refs.slots.get(index)?;
        self.cache.entries[usize::from(slot)].as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_entries_fill_the_cache_and_old_ones_are_looked_up() {
        let mut cache = AtomCache::default();
        // Two refs: a new 'ok' in segment 1 index 5, then a new 'hi' in segment 0 index 9.
        // Flags: ref0 = 0b1001 (new, seg 1), ref1 = 0b1000 (new, seg 0); then 0 (short atoms).
        let bytes = [2, 0x89, 0x00, 5, 2, b'o', b'k', 9, 2, b'h', b'i'];
        let mut refs = HeaderRefs::default();
        let end = read_atom_refs(&bytes, 0, &mut cache, &mut refs).unwrap();
        assert_eq!(end, bytes.len());
        assert_eq!(
            refs.to_atoms(&cache),
            [Some(Atom::from("ok")), Some(Atom::from("hi"))]
        );
        // The same entries again, as old references.
        let bytes = [2, 0x01, 0x00, 5, 9];
        read_atom_refs(&bytes, 0, &mut cache, &mut refs).unwrap();
        assert_eq!(
            refs.to_atoms(&cache),
            [Some(Atom::from("ok")), Some(Atom::from("hi"))]
        );
        // A header that refers to entry 5 and then puts a new atom there: the first reference
        // still means the atom it referred to.
        let bytes = [2, 0x81, 0x00, 5, 5, 2, b'n', b'o'];
        read_atom_refs(&bytes, 0, &mut cache, &mut refs).unwrap();
        let resolved = refs.resolve(&cache);
        use etf::AtomCacheRefs;
        assert_eq!(resolved.atom(0), Some(&Atom::from("ok")));
        assert_eq!(resolved.atom(1), Some(&Atom::from("no")));
        // An entry never filled.
        assert!(read_atom_refs(&[1, 0x02, 7], 0, &mut cache, &mut refs).is_err());
        // Truncated.
        assert!(read_atom_refs(&[2, 0x89], 0, &mut cache, &mut refs).is_err());
    }
}
