//! Rust values to terms: [`Serializer`].

use ::serde::ser::{self, Serialize};
use num_bigint::BigInt;

use super::{variant_atom, Error, ELIXIR_PREFIX, STRUCT_KEY, TERM_TOKEN};
use crate::{Atom, Map, Term};

/// A `serde` serializer whose output is a [`Term`]; [`to_term`](super::to_term) is the way to
/// use it. The mapping is the module's (see [`rotp_etf::serde`](super)).
#[derive(Clone, Copy, Debug, Default)]
pub struct Serializer;

fn integer(value: impl Into<i128>) -> Term {
    let value: i128 = value.into();
    match i64::try_from(value) {
        Ok(small) => Term::Integer(small),
        Err(_) => Term::BigInt(BigInt::from(value)),
    }
}

impl ser::Serializer for Serializer {
    type Ok = Term;
    type Error = Error;
    type SerializeSeq = Elements;
    type SerializeTuple = Elements;
    type SerializeTupleStruct = Elements;
    type SerializeTupleVariant = Elements;
    type SerializeMap = MapEntries;
    type SerializeStruct = Fields;
    type SerializeStructVariant = Fields;

    fn serialize_bool(self, v: bool) -> Result<Term, Error> {
        Ok(Term::atom(if v { "true" } else { "false" }))
    }

    fn serialize_i8(self, v: i8) -> Result<Term, Error> {
        Ok(Term::Integer(v.into()))
    }

    fn serialize_i16(self, v: i16) -> Result<Term, Error> {
        Ok(Term::Integer(v.into()))
    }

    fn serialize_i32(self, v: i32) -> Result<Term, Error> {
        Ok(Term::Integer(v.into()))
    }

    fn serialize_i64(self, v: i64) -> Result<Term, Error> {
        Ok(Term::Integer(v))
    }

    fn serialize_i128(self, v: i128) -> Result<Term, Error> {
        Ok(integer(v))
    }

    fn serialize_u8(self, v: u8) -> Result<Term, Error> {
        Ok(Term::Integer(v.into()))
    }

    fn serialize_u16(self, v: u16) -> Result<Term, Error> {
        Ok(Term::Integer(v.into()))
    }

    fn serialize_u32(self, v: u32) -> Result<Term, Error> {
        Ok(Term::Integer(v.into()))
    }

    fn serialize_u64(self, v: u64) -> Result<Term, Error> {
        Ok(integer(v))
    }

    fn serialize_u128(self, v: u128) -> Result<Term, Error> {
        Ok(match i64::try_from(v) {
            Ok(small) => Term::Integer(small),
            Err(_) => Term::BigInt(BigInt::from(v)),
        })
    }

    fn serialize_f32(self, v: f32) -> Result<Term, Error> {
        self.serialize_f64(v.into())
    }

    fn serialize_f64(self, v: f64) -> Result<Term, Error> {
        if v.is_finite() {
            Ok(Term::Float(v))
        } else {
            // The BEAM has no NaN or infinity: erl would refuse the term.
            Err(ser::Error::custom(format!(
                "{v} is not a float Erlang can hold"
            )))
        }
    }

    /// A code point, as Erlang's `$a` is the integer 97.
    fn serialize_char(self, v: char) -> Result<Term, Error> {
        Ok(Term::Integer(i64::from(u32::from(v))))
    }

    fn serialize_str(self, v: &str) -> Result<Term, Error> {
        Ok(Term::Binary(bytes::Bytes::copy_from_slice(v.as_bytes())))
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<Term, Error> {
        Ok(Term::Binary(bytes::Bytes::copy_from_slice(v)))
    }

    fn serialize_none(self) -> Result<Term, Error> {
        Ok(Term::atom("nil"))
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<Term, Error> {
        value.serialize(self)
    }

    /// `()` is `:ok`, what an Elixir function with nothing to return returns.
    fn serialize_unit(self) -> Result<Term, Error> {
        Ok(Term::atom("ok"))
    }

    /// A unit struct is the atom of its name: `#[serde(rename = "ping")] struct Ping;` is `:ping`.
    fn serialize_unit_struct(self, name: &'static str) -> Result<Term, Error> {
        Ok(Term::atom(name))
    }

    fn serialize_unit_variant(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Term, Error> {
        Ok(Term::Atom(variant_atom(name, variant)))
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<Term, Error> {
        let inner = value.serialize(self)?;
        if name != TERM_TOKEN {
            return Ok(inner);
        }
        // `Term`'s own `Serialize`: its external format, to be taken back as it was.
        match inner {
            Term::Binary(bytes) => crate::decode(&bytes).map_err(Error::from),
            other => Ok(other),
        }
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Term, Error> {
        let value = value.serialize(self)?;
        if (name, variant) == ("Result", "Ok") && value.as_atom() == Some("ok") {
            // `Ok(())` is a bare `:ok`, as Elixir's `:ok | {:error, reason}`.
            return Ok(value);
        }
        Ok(Term::Tuple(vec![
            Term::Atom(variant_atom(name, variant)),
            value,
        ]))
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Elements, Error> {
        Ok(Elements::new(len.unwrap_or(0), false))
    }

    fn serialize_tuple(self, len: usize) -> Result<Elements, Error> {
        Ok(Elements::new(len, true))
    }

    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Elements, Error> {
        Ok(Elements::new(len, true))
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Elements, Error> {
        let mut elements = Elements::new(len + 1, true);
        elements.items.push(Term::Atom(variant_atom(name, variant)));
        Ok(elements)
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<MapEntries, Error> {
        Ok(MapEntries::default())
    }

    fn serialize_struct(self, name: &'static str, _len: usize) -> Result<Fields, Error> {
        let mut map = Map::new();
        if name.starts_with(ELIXIR_PREFIX) {
            map.insert(Term::atom(STRUCT_KEY), Term::atom(name));
        }
        Ok(Fields { map, tag: None })
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Fields, Error> {
        Ok(Fields {
            map: Map::new(),
            tag: Some(variant_atom(name, variant)),
        })
    }
}

/// The elements of a list or a tuple (a tuple variant's tag first).
#[doc(hidden)]
pub struct Elements {
    items: Vec<Term>,
    tuple: bool,
}

impl Elements {
    fn new(capacity: usize, tuple: bool) -> Elements {
        Elements {
            // A size hint from the value, never from a peer; still, bounded.
            items: Vec::with_capacity(capacity.min(4096)),
            tuple,
        }
    }

    fn push<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        self.items.push(value.serialize(Serializer)?);
        Ok(())
    }

    fn finish(self) -> Term {
        if self.tuple {
            Term::Tuple(self.items)
        } else {
            Term::List(self.items)
        }
    }
}

impl ser::SerializeSeq for Elements {
    type Ok = Term;
    type Error = Error;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        self.push(value)
    }

    fn end(self) -> Result<Term, Error> {
        Ok(self.finish())
    }
}

impl ser::SerializeTuple for Elements {
    type Ok = Term;
    type Error = Error;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        self.push(value)
    }

    fn end(self) -> Result<Term, Error> {
        Ok(self.finish())
    }
}

impl ser::SerializeTupleStruct for Elements {
    type Ok = Term;
    type Error = Error;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        self.push(value)
    }

    fn end(self) -> Result<Term, Error> {
        Ok(self.finish())
    }
}

impl ser::SerializeTupleVariant for Elements {
    type Ok = Term;
    type Error = Error;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        self.push(value)
    }

    fn end(self) -> Result<Term, Error> {
        Ok(self.finish())
    }
}

/// A map's entries; keys are terms of any kind.
#[doc(hidden)]
#[derive(Default)]
pub struct MapEntries {
    map: Map,
    key: Option<Term>,
}

impl ser::SerializeMap for MapEntries {
    type Ok = Term;
    type Error = Error;

    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), Error> {
        self.key = Some(key.serialize(Serializer)?);
        Ok(())
    }

    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        let key = self
            .key
            .take()
            .ok_or_else(|| <Error as ser::Error>::custom("a map value came before its key"))?;
        self.map.insert(key, value.serialize(Serializer)?);
        Ok(())
    }

    fn end(self) -> Result<Term, Error> {
        Ok(Term::Map(self.map))
    }
}

/// A struct's fields, as a map with atom keys (a struct variant's tag aside).
#[doc(hidden)]
pub struct Fields {
    map: Map,
    tag: Option<Atom>,
}

impl Fields {
    fn field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        self.map
            .insert(Term::atom(key), value.serialize(Serializer)?);
        Ok(())
    }
}

impl ser::SerializeStruct for Fields {
    type Ok = Term;
    type Error = Error;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.field(key, value)
    }

    fn end(self) -> Result<Term, Error> {
        Ok(Term::Map(self.map))
    }
}

impl ser::SerializeStructVariant for Fields {
    type Ok = Term;
    type Error = Error;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.field(key, value)
    }

    fn end(self) -> Result<Term, Error> {
        let map = Term::Map(self.map);
        Ok(match self.tag {
            Some(tag) => Term::Tuple(vec![Term::Atom(tag), map]),
            None => map,
        })
    }
}
