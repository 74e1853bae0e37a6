//! `verify_utf8` of epmd_srv.c: strict UTF-8 (no overlong forms, no surrogates, nothing past
//! U+10FFFF), counted in characters.

/// The number of characters in `bytes`, or `None` when they are not valid UTF-8.
pub(crate) fn count_chars(bytes: &[u8]) -> Option<usize> {
    // Rust's UTF-8 validation rejects exactly what verify_utf8 rejects.
    std::str::from_utf8(bytes).ok().map(|s| s.chars().count())
}
