//! Terms as hash-map keys.

use crate::Term;

/// A term as a hash-map key, by its external encoding: two keys are equal when the terms are
/// exactly equal (`=:=`, as ETS `set` tables match keys: `1` and `1.0` are different keys).
/// [`Term`] itself is not `Hash` (it holds floats).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TermKey(Vec<u8>);

impl TermKey {
    /// The key of `term`.
    pub fn new(term: &Term) -> TermKey {
        TermKey(crate::encode(term).unwrap_or_default())
    }

    /// The term back.
    pub fn term(&self) -> Option<Term> {
        crate::decode(&self.0).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_exactly_equal_terms() {
        let t = |s: &str| crate::text::parse(s).expect("term");
        assert_eq!(
            TermKey::new(&t("{cache, 1}")),
            TermKey::new(&t("{cache, 1}"))
        );
        assert_ne!(TermKey::new(&t("1")), TermKey::new(&t("1.0")));
        assert_ne!(TermKey::new(&t("{a}")), TermKey::new(&t("{b}")));
    }
}
