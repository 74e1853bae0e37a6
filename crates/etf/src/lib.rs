//! The Erlang external term format (`erl_ext_dist.xml`), with no I/O.
//!
//! * [`decode`]/[`encode`]: `binary_to_term/1` and `term_to_binary/1`, byte for byte.
//! * [`Decoder`]/[`encode_into`]: the same without the version byte, as terms appear inside
//!   distribution messages (with an atom cache for `ATOM_CACHE_REF`).
//! * [`atom!`], [`tuple!`], [`list!`], [`map!`]: terms written in Rust as Erlang writes them.
//! * [`text`]: Erlang term syntax in (`{ok, [1, <<"bin">>]}`) and `~w` out.
//! * `serde` (the default feature of that name): any `serde` type to and from a term, with the
//!   mapping Elixir code expects (structs as atom-keyed maps, `{:ok, value}`, `nil`).
//!
//! Decoding never panics and never allocates more than the input can justify: every length is
//! checked against the bytes that remain, and nesting is bounded.

#![forbid(unsafe_code)]

mod atom;
mod decode;
mod encode;
mod error;
mod key;
pub mod macros;
pub mod order;
#[cfg(feature = "serde")]
pub mod serde;
pub mod tag;
mod term;
pub mod text;

pub use atom::MAX_INTERNED_ATOMS;
pub use bytes::Bytes;
pub use decode::{
    decode, decode_prefix, decode_with, AtomCacheRefs, DecodeOptions, Decoder, DEFAULT_MAX_DEPTH,
};
pub use encode::{encode, encode_into, encode_with, AtomRefs, EncodeOptions, Encoder};
pub use error::{DecodeError, EncodeError};
pub use key::TermKey;
pub use num_bigint::BigInt;
pub use term::{Atom, BitBinary, Export, Fun, Map, Pid, Port, RefId, Reference, Term};
