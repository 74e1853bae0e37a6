//! The distribution header (erl_ext_dist, "Distribution Header"): the atom cache references a
//! message's terms use through `ATOM_CACHE_REF`, with new atoms for the connection's 2048-entry
//! cache. Shared by normal (`131, 68`) and first-fragment (`131, 69`) headers.

use etf::Atom;

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

/// Reads a header's atom cache references starting at `at` (the `NumberOfAtomCacheRefs`
/// byte), updating `cache` with new entries. Returns the message's atom list (indexed by
/// `ATOM_CACHE_REF`) and the offset just past the header.
pub(crate) fn read_atom_refs(
    bytes: &[u8],
    mut at: usize,
    cache: &mut AtomCache,
) -> Result<(Vec<Option<Atom>>, usize), DistError> {
    let truncated = DistError::Malformed("distribution header truncated");
    let count = usize::from(*bytes.get(at).ok_or(truncated.clone())?);
    at += 1;
    if count == 0 {
        return Ok((Vec::new(), at));
    }
    let flag_bytes = count / 2 + 1;
    let flags = bytes.get(at..at + flag_bytes).ok_or(truncated.clone())?;
    at += flag_bytes;
    let nibble = |i: usize| (flags[i / 2] >> ((i % 2) * 4)) & 0x0f;
    let long_atoms = nibble(count) & 0x01 != 0;
    let mut refs = Vec::with_capacity(count);
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
            let atom = Atom::from(text);
            cache.entries[index] = Some(atom.clone());
            refs.push(Some(atom));
        } else {
            match &cache.entries[index] {
                Some(atom) => refs.push(Some(atom.clone())),
                None => {
                    return Err(DistError::Malformed(
                        "reference to an empty atom cache entry",
                    ))
                }
            }
        }
    }
    Ok((refs, at))
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
        let (refs, end) = read_atom_refs(&bytes, 0, &mut cache).unwrap();
        assert_eq!(end, bytes.len());
        assert_eq!(refs, [Some(Atom::from("ok")), Some(Atom::from("hi"))]);
        // The same entries again, as old references.
        let bytes = [2, 0x01, 0x00, 5, 9];
        let (refs, _) = read_atom_refs(&bytes, 0, &mut cache).unwrap();
        assert_eq!(refs, [Some(Atom::from("ok")), Some(Atom::from("hi"))]);
        // An entry never filled.
        assert!(read_atom_refs(&[1, 0x02, 7], 0, &mut cache).is_err());
        // Truncated.
        assert!(read_atom_refs(&[2, 0x89], 0, &mut cache).is_err());
    }
}
