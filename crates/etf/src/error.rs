//! The codec's errors. Every way bad input can fail has its own variant, with the byte offset
//! where the decoder noticed.

use thiserror::Error;

/// Why bytes could not be decoded as a term (where `binary_to_term/1` would raise `badarg`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended before the term did.
    #[error("truncated term: {needed} more byte(s) needed at offset {at}")]
    Truncated {
        /// Where the missing bytes start.
        at: usize,
        /// How many bytes are missing at least.
        needed: usize,
    },
    /// The first byte is not the version magic 131.
    #[error("bad version byte {found} (expected 131)")]
    BadVersion {
        /// The byte found.
        found: u8,
    },
    /// A tag byte this codec does not know.
    #[error("unknown tag {tag} at offset {at}")]
    UnknownTag {
        /// The tag.
        tag: u8,
        /// Its offset.
        at: usize,
    },
    /// `LOCAL_EXT` (121) only means something to the node that wrote it.
    #[error("LOCAL_EXT at offset {at}: a term in the node-local format can only be decoded by the node that encoded it")]
    LocalExt {
        /// Its offset.
        at: usize,
    },
    /// `COMPRESSED` (80) anywhere but right after the version byte.
    #[error("compressed term nested at offset {at}")]
    NestedCompressed {
        /// Its offset.
        at: usize,
    },
    /// An `ATOM_CACHE_REF` outside a distribution message, or to an empty cache slot.
    #[error("atom cache reference {index} at offset {at} has no atom cache entry")]
    AtomCacheRef {
        /// The cache index.
        index: u8,
        /// Its offset.
        at: usize,
    },
    /// An atom longer than 255 characters.
    #[error("atom of {chars} characters at offset {at} (at most 255)")]
    AtomTooLong {
        /// Its length in characters.
        chars: usize,
        /// Its offset.
        at: usize,
    },
    /// A UTF-8 atom whose bytes are not UTF-8.
    #[error("atom at offset {at} is not valid UTF-8")]
    BadUtf8 {
        /// Its offset.
        at: usize,
    },
    /// A field with a value the format does not allow (a bit count of 9, a reference of 6 words…).
    #[error("invalid {what} at offset {at}")]
    Invalid {
        /// What was wrong.
        what: &'static str,
        /// Its offset.
        at: usize,
    },
    /// The same key twice in one map.
    #[error("map at offset {at} has a duplicate key")]
    DuplicateMapKey {
        /// The map's offset.
        at: usize,
    },
    /// Terms nested deeper than the decoder allows.
    #[error("terms nested deeper than {max} levels at offset {at}")]
    TooDeep {
        /// The limit.
        max: usize,
        /// Where the limit was passed.
        at: usize,
    },
    /// A compressed term whose zlib data is broken or does not inflate to the size it declares.
    #[error("compressed term: {reason}")]
    Compressed {
        /// What was wrong.
        reason: String,
    },
    /// Bytes left over after the term.
    #[error("{count} byte(s) after the end of the term")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
}

/// Why a term could not be encoded (where `term_to_binary/1` could not have made it either).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// An atom of more than 255 characters.
    #[error("atom of {chars} characters (at most 255)")]
    AtomTooLong {
        /// Its length in characters.
        chars: usize,
    },
    /// A collection longer than the format's 32-bit length fields.
    #[error("{what} too large for the external term format")]
    TooLarge {
        /// What.
        what: &'static str,
    },
    /// A reference of no words or more than five.
    #[error("reference with {words} id words (1 to 5)")]
    BadReference {
        /// How many words it had.
        words: usize,
    },
    /// A fun whose pid, old index or old uniq is not of the kind the format needs.
    #[error("malformed fun: {what}")]
    BadFun {
        /// What was wrong.
        what: &'static str,
    },
}
