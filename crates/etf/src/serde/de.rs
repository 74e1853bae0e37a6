//! Terms to Rust values: [`Deserializer`].
//!
//! Reads a [`Term`] in place: strings and bytes borrow from its binaries and atoms, and no atom
//! is ever made (a struct field or an enum variant is matched by name against the atoms the
//! term already holds), so a term from a stranger costs no slot in the atom table.

use ::serde::de::{self, DeserializeSeed, Visitor};
use num_traits::ToPrimitive;

use super::error::Segment;
use super::{variant_name, Error, STRUCT_KEY, TERM_TOKEN};
use crate::Term;

/// A `serde` deserializer that reads a [`Term`]; [`from_term`](super::from_term) is the way to
/// use it. The mapping is the module's (see [`rotp_etf::serde`](super)).
#[derive(Clone, Copy, Debug)]
pub struct Deserializer<'de> {
    term: &'de Term,
    /// A map key: atoms may then be read as strings (`%{name: 1}` into a
    /// `HashMap<String, i64>`).
    key: bool,
}

impl<'de> Deserializer<'de> {
    /// A deserializer reading `term`.
    pub fn new(term: &'de Term) -> Deserializer<'de> {
        Deserializer { term, key: false }
    }

    fn key(term: &'de Term) -> Deserializer<'de> {
        Deserializer { term, key: true }
    }

    fn mismatch(&self, expected: impl Into<String>) -> Error {
        Error::mismatch(expected, self.term)
    }

    /// The integer, if it fits an `i128`.
    fn i128(&self, target: &'static str) -> Result<i128, Error> {
        match self.term {
            Term::Integer(i) => Ok(i128::from(*i)),
            Term::BigInt(big) => big
                .to_i128()
                .ok_or_else(|| Error::out_of_range(big, target)),
            _ => Err(self.mismatch("an integer")),
        }
    }

    fn int<T: TryFrom<i128>>(&self, target: &'static str) -> Result<T, Error> {
        let wide = self.i128(target)?;
        T::try_from(wide).map_err(|_| Error::out_of_range(wide, target))
    }

    fn f64(&self) -> Result<f64, Error> {
        match self.term {
            Term::Float(f) => Ok(*f),
            // `3` where a float is read: Elixir code writes integers for whole floats.
            Term::Integer(i) => Ok(*i as f64),
            Term::BigInt(big) => match big.to_f64() {
                Some(f) if f.is_finite() => Ok(f),
                _ => Err(Error::out_of_range(big, "f64")),
            },
            _ => Err(self.mismatch("a float")),
        }
    }

    /// A binary, or a charlist as Erlang APIs hand out text (UTF-8 either way).
    fn text<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.term {
            Term::Binary(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => visitor.visit_borrowed_str(text),
                Err(_) => Err(self.mismatch("a UTF-8 binary")),
            },
            Term::Atom(atom) if self.key => visitor.visit_borrowed_str(atom.as_str()),
            Term::List(_) => match self.term.text() {
                Some(text) => visitor.visit_string(text),
                None => Err(self.mismatch("a binary or a charlist")),
            },
            _ => Err(self.mismatch("a binary")),
        }
    }

    fn atom_is(&self, name: &str) -> bool {
        self.term.as_atom() == Some(name)
    }
}

impl<'de> de::Deserializer<'de> for Deserializer<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.term {
            Term::Integer(i) => match u64::try_from(*i) {
                Ok(u) => visitor.visit_u64(u),
                Err(_) => visitor.visit_i64(*i),
            },
            Term::BigInt(big) => match (big.to_u128(), big.to_i128()) {
                (Some(u), _) => visitor.visit_u128(u),
                (None, Some(i)) => visitor.visit_i128(i),
                (None, None) => Err(Error::out_of_range(big, "i128 or u128")),
            },
            Term::Float(f) => visitor.visit_f64(*f),
            Term::Atom(atom) => match atom.as_str() {
                "true" => visitor.visit_bool(true),
                "false" => visitor.visit_bool(false),
                "nil" | "undefined" => visitor.visit_unit(),
                name => visitor.visit_borrowed_str(name),
            },
            Term::Binary(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => visitor.visit_borrowed_str(text),
                Err(_) => visitor.visit_borrowed_bytes(bytes),
            },
            Term::Tuple(items) | Term::List(items) => visitor.visit_seq(Elements::new(items, 0)),
            Term::Map(map) => visitor.visit_map(Entries::new(map, false)),
            _ => Err(self.mismatch("a term with a Rust equivalent (read it as an etf::Term)")),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.term.as_atom() {
            Some("true") => visitor.visit_bool(true),
            Some("false") => visitor.visit_bool(false),
            _ => Err(self.mismatch("true or false")),
        }
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_i8(self.int("i8")?)
    }

    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_i16(self.int("i16")?)
    }

    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_i32(self.int("i32")?)
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_i64(self.int("i64")?)
    }

    fn deserialize_i128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_i128(self.i128("i128")?)
    }

    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_u8(self.int("u8")?)
    }

    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_u16(self.int("u16")?)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_u32(self.int("u32")?)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_u64(self.int("u64")?)
    }

    fn deserialize_u128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.term {
            Term::Integer(i) => match u128::try_from(*i) {
                Ok(u) => visitor.visit_u128(u),
                Err(_) => Err(Error::out_of_range(i, "u128")),
            },
            Term::BigInt(big) => match big.to_u128() {
                Some(u) => visitor.visit_u128(u),
                None => Err(Error::out_of_range(big, "u128")),
            },
            _ => Err(self.mismatch("an integer")),
        }
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_f32(self.f64()? as f32)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_f64(self.f64()?)
    }

    /// A code point (`$a`, what a charlist holds), or a binary of one character.
    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let expected = "a code point or a one-character binary";
        match self.term {
            Term::Integer(i) => match u32::try_from(*i).ok().and_then(char::from_u32) {
                Some(c) => visitor.visit_char(c),
                None => Err(Error::out_of_range(i, "char")),
            },
            Term::Binary(bytes) => {
                let mut chars = std::str::from_utf8(bytes)
                    .ok()
                    .into_iter()
                    .flat_map(str::chars);
                match (chars.next(), chars.next()) {
                    (Some(c), None) => visitor.visit_char(c),
                    _ => Err(self.mismatch(expected)),
                }
            }
            _ => Err(self.mismatch(expected)),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.text(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.text(visitor)
    }

    /// A binary, or a list of bytes.
    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.term {
            Term::Binary(bytes) => visitor.visit_borrowed_bytes(bytes),
            Term::List(items) => {
                let bytes: Option<Vec<u8>> = items
                    .iter()
                    .map(|item| match item {
                        Term::Integer(i) => u8::try_from(*i).ok(),
                        _ => None,
                    })
                    .collect();
                match bytes {
                    Some(bytes) => visitor.visit_byte_buf(bytes),
                    None => Err(self.mismatch("a binary")),
                }
            }
            _ => Err(self.mismatch("a binary")),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    /// `nil` (Elixir) and `undefined` (Erlang) are `None`; anything else is `Some`.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.atom_is("nil") || self.atom_is("undefined") {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.atom_is("ok") {
            visitor.visit_unit()
        } else {
            Err(self.mismatch("the atom ok"))
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        if self.atom_is(name) {
            visitor.visit_unit()
        } else {
            Err(self.mismatch(format!("the atom {}", Term::atom(name))))
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        if name == TERM_TOKEN {
            // `Term`'s own `Deserialize`: hand it the term's external format.
            let bytes = crate::encode(self.term)?;
            return visitor
                .visit_newtype_struct(de::value::BytesDeserializer::<Error>::new(&bytes));
        }
        visitor.visit_newtype_struct(self)
    }

    /// A list; a binary reads as its bytes (`Vec<u8>` without `serde_bytes`).
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.term {
            Term::List(items) => visitor.visit_seq(Elements::new(items, 0)),
            Term::Binary(bytes) => {
                visitor.visit_seq(de::value::SeqDeserializer::new(bytes.iter().copied()))
            }
            _ => Err(self.mismatch("a list")),
        }
    }

    /// A tuple (or a list of that length, as JSON readers take arrays for tuples).
    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        match self.term {
            Term::Tuple(items) | Term::List(items) if items.len() == len => {
                visitor.visit_seq(Elements::new(items, 0))
            }
            _ => Err(self.mismatch(format!("a tuple of {len} elements"))),
        }
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.term {
            Term::Map(map) => visitor.visit_map(Entries::new(map, false)),
            _ => Err(self.mismatch("a map")),
        }
    }

    /// A map with atom keys (binary keys are read too). `__struct__` is skipped; a struct named
    /// `Elixir.…` refuses a map whose `__struct__` names another struct.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let Term::Map(map) = self.term else {
            return Err(self.mismatch("a map"));
        };
        if let Some(module) = name.strip_prefix(super::ELIXIR_PREFIX) {
            if let Some(tag) = map.get(&Term::atom(STRUCT_KEY)) {
                if tag.as_atom() != Some(name) {
                    let expected = format!("the atom {} (a %{module}{{}})", Term::atom(name));
                    return Err(Error::mismatch(expected, tag)
                        .within(Segment::Field(STRUCT_KEY.to_owned())));
                }
            }
        }
        visitor.visit_map(Entries::new(map, true))
    }

    /// An atom for a unit variant, a tuple tagged with an atom for the others: `{ok, 5}`,
    /// `{move, 1, 2}`, `{resize, #{w => 3}}`.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.term {
            Term::Atom(tag) => visitor.visit_enum(Variant {
                name: variant_name(name, tag.as_str()),
                rest: std::slice::from_ref(self.term),
                tagged: false,
            }),
            Term::Tuple(items) => match items.split_first() {
                Some((Term::Atom(tag), rest)) => visitor.visit_enum(Variant {
                    name: variant_name(name, tag.as_str()),
                    rest,
                    tagged: true,
                }),
                _ => Err(self.mismatch("a tuple tagged with an atom")),
            },
            _ => Err(self.mismatch("an atom or a tuple tagged with an atom")),
        }
    }

    /// A struct field or an enum tag: an atom (or a binary key).
    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.term {
            Term::Atom(atom) => visitor.visit_borrowed_str(atom.as_str()),
            Term::Binary(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => visitor.visit_borrowed_str(text),
                Err(_) => Err(self.mismatch("an atom")),
            },
            _ => Err(self.mismatch("an atom")),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

/// The elements of a list or a tuple, their paths counted from `offset` (a tagged tuple's
/// fields start at 1).
struct Elements<'de> {
    items: std::slice::Iter<'de, Term>,
    next: usize,
}

impl<'de> Elements<'de> {
    fn new(items: &'de [Term], offset: usize) -> Elements<'de> {
        Elements {
            items: items.iter(),
            next: offset,
        }
    }
}

impl<'de> de::SeqAccess<'de> for Elements<'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some(item) = self.items.next() else {
            return Ok(None);
        };
        let at = self.next;
        self.next += 1;
        seed.deserialize(Deserializer::new(item))
            .map(Some)
            .map_err(|e| e.within(Segment::Index(at)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

/// A map's entries; for a struct, without `__struct__`.
struct Entries<'de> {
    entries: Box<dyn Iterator<Item = &'de (Term, Term)> + 'de>,
    len: usize,
    value: Option<&'de (Term, Term)>,
}

impl<'de> Entries<'de> {
    fn new(map: &'de crate::Map, skip_struct: bool) -> Entries<'de> {
        let is_struct_key = |key: &Term| key.as_atom() == Some(STRUCT_KEY);
        let len = map.len();
        Entries {
            entries: Box::new(
                map.iter()
                    .filter(move |(key, _)| !(skip_struct && is_struct_key(key))),
            ),
            len,
            value: None,
        }
    }
}

/// The path segment of a map entry: `.name` for an atom key, `[<<"name">>]` for a text
/// binary (as `~p` prints it), the key's `~w` (cut short) for anything else.
fn segment(key: &Term) -> Segment {
    match key {
        Term::Atom(atom) => Segment::Field(atom.as_str().to_owned()),
        Term::Binary(bytes) => match std::str::from_utf8(bytes) {
            Ok(text)
                if text.is_ascii()
                    && text.len() <= 64
                    && !text
                        .chars()
                        .any(|c| c.is_control() || c == '"' || c == '\\') =>
            {
                Segment::Key(format!("<<\"{text}\">>"))
            }
            _ => Segment::Key(crate::text::write_limited(key, 40)),
        },
        other => Segment::Key(crate::text::write_limited(other, 40)),
    }
}

impl<'de> de::MapAccess<'de> for Entries<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some(entry) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(entry);
        self.len = self.len.saturating_sub(1);
        seed.deserialize(Deserializer::key(&entry.0))
            .map(Some)
            .map_err(|e| e.within(segment(&entry.0)))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let Some((key, value)) = self.value.take() else {
            return Err(de::Error::custom("a map value was read before its key"));
        };
        seed.deserialize(Deserializer::new(value))
            .map_err(|e| e.within(segment(key)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.len)
    }
}

/// An enum's variant: its tag's name and the rest of a tagged tuple.
struct Variant<'de> {
    name: &'de str,
    /// The elements after the tag; for a bare atom, the atom itself.
    rest: &'de [Term],
    /// `false` for a bare atom.
    tagged: bool,
}

impl<'de> de::EnumAccess<'de> for Variant<'de> {
    type Error = Error;
    type Variant = Variant<'de>;

    fn variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<(T::Value, Self), Error> {
        let name: de::value::BorrowedStrDeserializer<'de, Error> =
            de::value::BorrowedStrDeserializer::new(self.name);
        Ok((seed.deserialize(name)?, self))
    }
}

impl<'de> Variant<'de> {
    /// The elements after the tag.
    fn fields(&self) -> &'de [Term] {
        if self.tagged {
            self.rest
        } else {
            &[]
        }
    }

    fn shape_error(&self, expected: String) -> Error {
        let found = if self.tagged {
            format!("a tuple of {} elements", self.rest.len() + 1)
        } else {
            "an atom".to_owned()
        };
        de::Error::custom(format_args!(
            "variant {}: expected {expected}, found {found}",
            self.name
        ))
    }
}

impl<'de> de::VariantAccess<'de> for Variant<'de> {
    type Error = Error;

    /// `tag` or `{tag}`.
    fn unit_variant(self) -> Result<(), Error> {
        if self.fields().is_empty() {
            Ok(())
        } else {
            Err(self.shape_error("an atom".to_owned()))
        }
    }

    /// `{tag, value}`; and `Result`'s bare `ok`, read as `Ok` of the atom (`Ok(())`).
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        if let (false, "Ok", [atom]) = (self.tagged, self.name, self.rest) {
            return seed.deserialize(Deserializer::new(atom));
        }
        match self.fields() {
            [value] => seed
                .deserialize(Deserializer::new(value))
                .map_err(|e| e.within(Segment::Index(1))),
            _ => Err(self.shape_error("a tuple of 2 elements".to_owned())),
        }
    }

    /// `{tag, a, b, …}`.
    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        if self.tagged && self.rest.len() == len {
            visitor.visit_seq(Elements::new(self.rest, 1))
        } else {
            Err(self.shape_error(format!("a tuple of {} elements", len + 1)))
        }
    }

    /// `{tag, %{field: value}}`.
    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.fields() {
            [Term::Map(map)] => visitor
                .visit_map(Entries::new(map, true))
                .map_err(|e| e.within(Segment::Index(1))),
            [other] => Err(Error::mismatch("a map", other).within(Segment::Index(1))),
            _ => Err(self.shape_error("a tuple of 2 elements".to_owned())),
        }
    }
}
