//! Any `serde` type to and from a [`Term`], with the mapping Elixir code expects (the
//! `serde_eetf` crate's idea, for this crate's terms).
//!
//! ```
//! use rotp_etf::serde::{from_term, to_term};
//! use rotp_etf::text;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! #[serde(rename = "Elixir.MyApp.User")] // an Elixir struct: %MyApp.User{}
//! struct User {
//!     name: String,
//!     age: u32,
//!     nickname: Option<String>,
//! }
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! #[serde(rename_all = "snake_case")]
//! enum Reply {
//!     Created(User),        // {:created, %MyApp.User{...}}
//!     NotFound,             // :not_found
//!     Moved { to: String }, // {:moved, %{to: "..."}}
//! }
//!
//! let reply = Reply::Created(User { name: "José".into(), age: 3, nickname: None });
//! let term = to_term(&reply)?;
//! assert_eq!(
//!     term,
//!     text::parse(r#"{created, #{'__struct__' => 'Elixir.MyApp.User',
//!                                name => <<"José"/utf8>>, age => 3, nickname => nil}}"#)?
//! );
//! assert_eq!(from_term::<Reply>(&term)?, reply);
//!
//! // Rust's `Result` is Elixir's `{:ok, value}` / `{:error, reason}`.
//! let read: Result<u32, Reply> = from_term(&text::parse("{error, not_found}")?)?;
//! assert_eq!(read, Err(Reply::NotFound));
//!
//! // A term that does not fit says where.
//! let wrong = text::parse("{created, #{name => 'José', age => 3}}")?;
//! assert_eq!(
//!     from_term::<Reply>(&wrong).unwrap_err().to_string(),
//!     "[1].name: expected a binary, found an atom"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The mapping
//!
//! | Rust | term | notes |
//! |---|---|---|
//! | `bool` | `true`, `false` | |
//! | integers, `i128`, `u128` | integer | big integers beyond 64 bits both ways; reading checks the range |
//! | `f32`, `f64` | float | reads an integer too (`3` for `3.0`); NaN and infinities cannot be written |
//! | `char` | integer (a code point, as `$a`) | reads a one-character binary too |
//! | `String`, `&str` | UTF-8 binary | reads a charlist too; `&str` borrows from the term |
//! | bytes (`serde_bytes`, [`Bytes`](crate::Bytes)) | binary | reads a list of bytes too |
//! | `Vec<T>`, sets, sequences | list | `Vec<u8>` reads a binary too |
//! | `Option<T>` | `nil` or the value | reads Erlang's `undefined` as `None` too |
//! | `()` | `ok` | what an Elixir function with nothing to return returns (`GenServer.cast`) |
//! | unit struct `Ping` | the atom of its name | `#[serde(rename = "ping")]` for `:ping` |
//! | newtype struct | its content | |
//! | tuples, tuple structs, arrays | tuple | reads a list of the right length too |
//! | struct | map with atom keys | `%{name: "x", age: 3}`; reads binary keys too |
//! | struct named `Elixir.…` | Elixir struct | `__struct__: :"Elixir.MyApp.User"` added; see below |
//! | maps (`HashMap`, `BTreeMap`) | map | keys of any kind: `String` keys are binaries |
//! | unit variant | atom | `#[serde(rename_all = "snake_case")]` for `:not_found` |
//! | newtype variant | `{tag, value}` | |
//! | tuple variant | `{tag, a, b}` | flat, as `{:error, :enoent, "path"}` |
//! | struct variant | `{tag, %{field: value}}` | |
//! | `Result<T, E>` | `{ok, value}`, `{error, reason}` | Elixir's convention, not `{:Ok, …}`; `Ok(())` is a bare `ok` |
//! | [`Term`] | itself | pids, references, any term as it is |
//!
//! Names are written as `serde` gives them: a Rust enum's `NotFound` is `:NotFound` unless the
//! type says `#[serde(rename_all = "snake_case")]` (this module does not rename behind serde's
//! back, so `rename` keeps meaning exactly what it says).
//!
//! **Elixir structs.** A struct whose serde name starts with `Elixir.` —
//! `#[serde(rename = "Elixir.MyApp.User")]` — is written with `__struct__`, so Elixir sees a
//! `%MyApp.User{}`. An attribute rather than a wrapper type: the name is the type's, fixed at
//! compile time, and it also works for a struct nested anywhere in a value. Reading ignores
//! `__struct__` for any struct (a plain Rust struct takes any Elixir struct with its fields),
//! except that a struct named `Elixir.…` refuses a `__struct__` naming another struct.
//!
//! **Atoms.** Writing makes atoms from the Rust side's names (struct fields, variants, unit
//! structs). Reading never makes one: fields and variants are matched against the atoms the term
//! already holds, and a string is never turned into an atom, so a term from a peer costs no slot
//! in the bounded atom table.
//!
//! **Reading is total.** Any term, from any peer, gives a value or an [`Error`] naming the path
//! of the part that did not fit (`.users[2].name: expected a binary, found an atom`); nothing
//! panics. Untagged and internally tagged enums work through `deserialize_any`, where atoms read
//! as strings (`nil` and `undefined` as unit), binaries as strings when they are UTF-8.
//! `#[serde(flatten)]` writes its fields through a map, so their keys are binaries, not atoms.

mod de;
mod error;
mod ser;

use ::serde::{de::DeserializeOwned, Deserialize, Serialize};

pub use de::Deserializer;
pub use error::{Error, Path, Segment};
pub use ser::Serializer;

use crate::{Atom, Term};

/// The prefix of the struct names that are written as Elixir structs.
const ELIXIR_PREFIX: &str = "Elixir.";
/// The key that names an Elixir struct's module.
const STRUCT_KEY: &str = "__struct__";
/// The newtype name under which [`Term`] passes itself through unchanged.
const TERM_TOKEN: &str = "$etf::Term";

/// `value` as a term.
pub fn to_term<T: ?Sized + Serialize>(value: &T) -> Result<Term, Error> {
    value.serialize(Serializer)
}

/// A `T` read from `term`. `T` may borrow from it (`&str`, `&[u8]`).
pub fn from_term<'de, T: Deserialize<'de>>(term: &'de Term) -> Result<T, Error> {
    T::deserialize(Deserializer::new(term))
}

/// `value` in the external term format, as `term_to_binary/1` gives (`131` first).
pub fn to_bytes<T: ?Sized + Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    Ok(crate::encode(&to_term(value)?)?)
}

/// A `T` read from the external term format (`binary_to_term/1`'s input).
pub fn from_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    from_term(&crate::decode(bytes)?)
}

/// The atom a variant is written as: its serde name, except Rust's `Result`, whose `Ok` and `Err`
/// are Elixir's `ok` and `error`.
fn variant_atom(enum_name: &str, variant: &'static str) -> Atom {
    match (enum_name, variant) {
        ("Result", "Ok") => Atom::new("ok"),
        ("Result", "Err") => Atom::new("error"),
        _ => Atom::new(variant),
    }
}

/// The serde variant name for a tag read from a term ([`variant_atom`] backwards).
fn variant_name<'de>(enum_name: &str, tag: &'de str) -> &'de str {
    match (enum_name, tag) {
        ("Result", "ok") => "Ok",
        ("Result", "error") => "Err",
        _ => tag,
    }
}

/// A term inside a serde value passes through unchanged (a pid, a reference, a payload of any
/// shape). Other serializers see its external format as bytes.
impl Serialize for Term {
    fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let bytes = crate::encode(self).map_err(::serde::ser::Error::custom)?;
        serializer.serialize_newtype_struct(TERM_TOKEN, &ExternalFormat(&bytes))
    }
}

struct ExternalFormat<'a>(&'a [u8]);

impl Serialize for ExternalFormat<'_> {
    fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

/// Reads any term unchanged from this module's [`Deserializer`]; from other deserializers, a
/// term's external format as bytes.
impl<'de> Deserialize<'de> for Term {
    fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Term, D::Error> {
        deserializer.deserialize_newtype_struct(TERM_TOKEN, TermVisitor)
    }
}

struct TermVisitor;

impl<'de> ::serde::de::Visitor<'de> for TermVisitor {
    type Value = Term;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an Erlang term in the external format")
    }

    fn visit_newtype_struct<D: ::serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Term, D::Error> {
        deserializer.deserialize_bytes(self)
    }

    fn visit_bytes<E: ::serde::de::Error>(self, bytes: &[u8]) -> Result<Term, E> {
        crate::decode(bytes).map_err(E::custom)
    }

    fn visit_seq<A: ::serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Term, A::Error> {
        let mut bytes = Vec::new();
        while let Some(byte) = seq.next_element::<u8>()? {
            bytes.push(byte);
        }
        self.visit_bytes(&bytes)
    }
}

#[cfg(test)]
mod tests;
