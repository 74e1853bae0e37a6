//! Atoms, interned as the BEAM interns them in its atom table: decoding `ok` a million times
//! allocates it once, and cloning an atom is a reference-count increment.
//!
//! The table is bounded like the BEAM's (1,048,576 atoms by default, `+t`): past that, atoms
//! still work but are no longer shared, so input that makes up endless atom names costs
//! memory per term, not forever.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, OnceLock, RwLock};

/// How many distinct atoms are interned at most (the BEAM's default atom table size).
pub const MAX_INTERNED_ATOMS: usize = 1 << 20;

/// Slots in each thread's cache of recently used atoms.
const RECENT_SLOTS: usize = 256;

thread_local! {
    static RECENT: RefCell<[Option<Atom>; RECENT_SLOTS]> = RefCell::new(std::array::from_fn(|_| None));
}

/// The cache slot for a name: FNV-1a of its bytes. A collision only costs a trip to the table.
fn slot_of(name: &str) -> usize {
    let hash = name.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    hash as usize % RECENT_SLOTS
}

fn table() -> &'static RwLock<HashSet<Arc<str>>> {
    static TABLE: OnceLock<RwLock<HashSet<Arc<str>>>> = OnceLock::new();
    TABLE.get_or_init(Default::default)
}

/// An atom's name. Cheap to clone. Erlang limits atoms to 255 characters; the codec enforces it.
#[derive(Clone, PartialOrd, Ord)]
pub struct Atom(Arc<str>);

impl Atom {
    /// The longest atom Erlang accepts, in characters (`MAX_ATOM_CHARACTERS` in erts).
    pub const MAX_CHARS: usize = 255;

    /// The atom with this name, shared with every other use of it.
    pub fn new(name: &str) -> Atom {
        // A small per-thread cache in front of the shared table: decoding sees the same few
        // atoms over and over (`ok`, `'$gen_call'`, record names), and a hit takes no lock.
        RECENT.with(|recent| {
            let mut recent = recent.borrow_mut();
            let slot = &mut recent[slot_of(name)];
            match slot {
                Some(atom) if atom.as_str() == name => atom.clone(),
                _ => {
                    let atom = Atom::intern(name);
                    *slot = Some(atom.clone());
                    atom
                }
            }
        })
    }

    fn intern(name: &str) -> Atom {
        let table = table();
        if let Some(shared) = table.read().unwrap_or_else(|e| e.into_inner()).get(name) {
            return Atom(shared.clone());
        }
        let mut table = table.write().unwrap_or_else(|e| e.into_inner());
        if let Some(shared) = table.get(name) {
            return Atom(shared.clone());
        }
        let atom: Arc<str> = Arc::from(name);
        if table.len() < MAX_INTERNED_ATOMS {
            table.insert(atom.clone());
        }
        Atom(atom)
    }

    /// The atom with this name *without* adding it to the table: the shared atom if the name
    /// is interned already, else a private copy that compares and hashes as the interned one
    /// would. For names a stranger makes up before proving who it is (a distribution peer's
    /// name before the cookie is checked): they cost memory only while they are in use, never
    /// a slot in the table (`binary_to_existing_atom/2`'s reasoning).
    pub fn transient(name: &str) -> Atom {
        if let Some(shared) = table().read().unwrap_or_else(|e| e.into_inner()).get(name) {
            return Atom(shared.clone());
        }
        Atom(Arc::from(name))
    }

    /// `true` when `name` is in the table (for tests that check nothing was interned).
    #[cfg(all(test, feature = "serde"))]
    pub(crate) fn is_interned(name: &str) -> bool {
        table()
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(name)
    }

    /// How many atoms the table holds (`erlang:system_info(atom_count)`).
    pub fn count() -> usize {
        table().read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// The atom's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl PartialEq for Atom {
    fn eq(&self, other: &Atom) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl Eq for Atom {}

impl std::hash::Hash for Atom {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state); // by text, as equality is
    }
}

impl From<&str> for Atom {
    fn from(name: &str) -> Atom {
        Atom::new(name)
    }
}

impl From<String> for Atom {
    fn from(name: String) -> Atom {
        Atom::new(&name)
    }
}

impl fmt::Debug for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoms_with_the_same_name_share_their_text() {
        let (a, b) = (
            Atom::new("interned_atom_test"),
            Atom::from("interned_atom_test".to_owned()),
        );
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert_eq!(a, b);
        assert_ne!(a, Atom::new("other"));
    }

    #[test]
    fn transient_atoms_equal_interned_ones_and_take_no_slot() {
        let t = Atom::transient("transient_atom_test_never_interned");
        let interned = |name: &str| table().read().unwrap().contains(name);
        assert!(!interned("transient_atom_test_never_interned"));
        assert_eq!(t, Atom::new("transient_atom_test_never_interned"));
        let interned = Atom::new("interned_atom_test_2");
        let shared = Atom::transient("interned_atom_test_2");
        assert!(Arc::ptr_eq(&shared.0, &interned.0));
        assert_eq!(t.as_str(), "transient_atom_test_never_interned");
        assert!(Atom::count() > 0);
    }
}
