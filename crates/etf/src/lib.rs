//! The Erlang external term format (`erl_ext_dist.xml`), with no I/O: the bytes
//! `term_to_binary/1` writes and `binary_to_term/1` reads, as Rust values.
//!
//! This is the bottom of rotp, a rebuild of Erlang/OTP in Rust that BEAM nodes talk to. Every
//! other rotp crate speaks in its [`Term`]s: `rotp-dist` frames them into distribution
//! messages, `rotp-runtime` carries them between processes, `rotp-otp`'s GenServer calls carry
//! them to and from `erl` and `iex`. It has no async code and no sockets, and depends on
//! nothing of rotp's. Most programs do not depend on it directly: they depend on
//! `rotp-erlang` (library `rotp`), which re-exports it as `rotp::etf` with its macros in
//! `rotp::prelude`.
//!
//! ```
//! use rotp_etf::{atom, decode, encode, list, tuple, Term};
//!
//! // {ok, [1, <<"two">>]} in Rust, as Erlang writes it ...
//! let t = tuple!(atom!(ok), list![1, "two"]);
//! // ... its bytes, as `term_to_binary({ok, [1, <<"two">>]})` gives them ...
//! let bytes = encode(&t)?;
//! assert_eq!(bytes[..3], [131, 104, 2]); // version, SMALL_TUPLE_EXT, arity 2
//! // ... and back, as `binary_to_term/1` reads them.
//! assert_eq!(decode(&bytes)?, t);
//! // The same term typed in Erlang's syntax, and printed as `~w` prints it.
//! assert_eq!(rotp_etf::text::parse(r#"{ok, [1, <<"two">>]}"#)?, t);
//! assert_eq!(t.to_string(), "{ok,[1,<<116,119,111>>]}"); // as erl's `~w` prints it
//! assert_eq!(t, Term::tuple(vec![Term::atom("ok"), Term::List(vec![1.into(), "two".into()])]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # A tour
//!
//! * [`Term`] is any Erlang term: integers of any size ([`BigInt`]), floats, [`Atom`]s,
//!   binaries ([`Bytes`]) and [`BitBinary`]s, tuples, lists (proper and improper), [`Map`]s,
//!   [`Pid`]s, [`Port`]s, [`Reference`]s, [`Fun`]s and [`Export`]s. `From` turns Rust values
//!   into terms: `&str`/`String` is a UTF-8 binary as Elixir's strings are, `bool` an atom.
//! * [`atom!`], [`tuple!`], [`list!`], [`map!`]: terms written in Rust as Erlang writes them
//!   ([`macros`]).
//! * [`decode`]/[`encode`]: `binary_to_term/1` and `term_to_binary/1`, byte for byte;
//!   [`decode_with`]/[`encode_with`] take their options ([`DecodeOptions`] limits for
//!   untrusted input, [`EncodeOptions`] for `minor_version` and `compressed`).
//! * [`Decoder`]/[`encode_into`]: the same without the version byte, as terms appear inside
//!   distribution messages (with an atom cache for `ATOM_CACHE_REF`, [`AtomCacheRefs`] and
//!   [`AtomRefs`]).
//! * [`text`]: Erlang term syntax in (`{ok, [1, <<"bin">>]}`) and `~w`/`~p` out.
//! * [`order`]: Erlang's term order, for `<` and for map keys; [`TermKey`] makes a term a
//!   `HashMap` key that equals as `=:=` does.
//! * [`serde`] (the default feature of that name): any `serde` type to and from a term, with
//!   the mapping Elixir code expects (structs as atom-keyed maps, `{:ok, value}`, `nil`).
//! * [`tag`]: the format's tag bytes, named as the documentation names them.
//! * Errors are [`DecodeError`] and [`EncodeError`].
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
