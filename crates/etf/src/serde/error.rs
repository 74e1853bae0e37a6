//! Why a Rust value and a term did not fit, and where in the term.

use std::fmt;

use thiserror::Error;

use crate::{DecodeError, EncodeError, Term};

/// Where in a term something went wrong, as a path from the top: `.users[2].name` is the
/// `name` field of the third element of the `users` field. The top itself prints as `.`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Path {
    /// Innermost first: errors are made deep and gain segments on their way up.
    reversed: Vec<Segment>,
}

/// One step of a [`Path`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// A map entry whose key is an atom (a struct field): `.name`.
    Field(String),
    /// An element of a list or a tuple, from 0: `[2]`.
    Index(usize),
    /// A map entry under any other key, in Erlang's syntax: `[<<"name">>]`.
    Key(String),
}

impl Path {
    /// The segments, outermost first.
    pub fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.reversed.iter().rev()
    }

    /// `true` for the top of the term.
    pub fn is_root(&self) -> bool {
        self.reversed.is_empty()
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() {
            return f.write_str(".");
        }
        for segment in self.segments() {
            match segment {
                Segment::Field(name) => write!(f, ".{name}")?,
                Segment::Index(i) => write!(f, "[{i}]")?,
                Segment::Key(key) => write!(f, "[{key}]")?,
            }
        }
        Ok(())
    }
}

/// Why a value could not become a term, or a term a value.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum Error {
    /// The term is of another kind than the Rust type reads: `.users[2].name: expected a
    /// binary, found an atom`.
    #[error("{path}: expected {expected}, found {found}")]
    Mismatch {
        /// Where.
        path: Path,
        /// What the Rust type reads (`a binary`, `the atom ok`).
        expected: String,
        /// The kind of term found (`an atom`).
        found: &'static str,
    },
    /// An integer outside the range of the Rust integer type.
    #[error("{path}: integer {value} out of range for {target}")]
    OutOfRange {
        /// Where.
        path: Path,
        /// The integer, in decimal.
        value: String,
        /// The Rust type (`u8`).
        target: &'static str,
    },
    /// Anything else a `Serialize` or `Deserialize` implementation reports (`missing field
    /// `age``, `unknown variant `maybe``).
    #[error("{path}: {message}")]
    Message {
        /// Where.
        path: Path,
        /// What the implementation said.
        message: String,
    },
    /// [`from_bytes`](super::from_bytes): the bytes are not a term.
    #[error("not a term: {0}")]
    Decode(#[from] DecodeError),
    /// [`to_bytes`](super::to_bytes): the term cannot be encoded (an atom longer than 255
    /// characters).
    #[error("cannot encode: {0}")]
    Encode(#[from] EncodeError),
}

impl Error {
    /// Where in the term the error is (`None` for [`Error::Decode`] and [`Error::Encode`]).
    pub fn path(&self) -> Option<&Path> {
        match self {
            Error::Mismatch { path, .. }
            | Error::OutOfRange { path, .. }
            | Error::Message { path, .. } => Some(path),
            Error::Decode(_) | Error::Encode(_) => None,
        }
    }

    pub(crate) fn mismatch(expected: impl Into<String>, found: &Term) -> Error {
        Error::Mismatch {
            path: Path::default(),
            expected: expected.into(),
            found: kind_of(found),
        }
    }

    pub(crate) fn out_of_range(value: impl fmt::Display, target: &'static str) -> Error {
        Error::OutOfRange {
            path: Path::default(),
            value: value.to_string(),
            target,
        }
    }

    /// The same error one level further down: `segment` goes in front of its path.
    pub(crate) fn within(mut self, segment: Segment) -> Error {
        match &mut self {
            Error::Mismatch { path, .. }
            | Error::OutOfRange { path, .. }
            | Error::Message { path, .. } => path.reversed.push(segment),
            Error::Decode(_) | Error::Encode(_) => {}
        }
        self
    }
}

impl ::serde::ser::Error for Error {
    fn custom<T: fmt::Display>(message: T) -> Error {
        Error::Message {
            path: Path::default(),
            message: message.to_string(),
        }
    }
}

impl ::serde::de::Error for Error {
    fn custom<T: fmt::Display>(message: T) -> Error {
        Error::Message {
            path: Path::default(),
            message: message.to_string(),
        }
    }
}

/// "an atom", "a binary"…: the kind of a term, for messages.
pub(crate) fn kind_of(term: &Term) -> &'static str {
    match term {
        Term::Integer(_) | Term::BigInt(_) => "an integer",
        Term::Float(_) => "a float",
        Term::Atom(_) => "an atom",
        Term::Binary(_) => "a binary",
        Term::BitBinary(_) => "a bitstring",
        Term::Tuple(_) => "a tuple",
        Term::List(items) if items.is_empty() => "an empty list",
        Term::List(_) => "a list",
        Term::ImproperList(..) => "an improper list",
        Term::Map(_) => "a map",
        Term::Pid(_) => "a pid",
        Term::Port(_) => "a port",
        Term::Reference(_) => "a reference",
        Term::Fun(_) => "a fun",
        Term::Export(_) => "an external fun",
    }
}
