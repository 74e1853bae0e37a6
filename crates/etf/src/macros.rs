//! Terms written as Erlang writes them: [`atom!`](crate::atom), [`tuple!`](crate::tuple),
//! [`list!`](crate::list) and [`map!`](crate::map). Each element is anything with
//! `Into<Term>`: integers (`i64`), floats, `bool` (an atom), `&str`/`String` (a UTF-8
//! binary, as Elixir's strings), atoms, pids, references, other terms.
//!
//! ```
//! use rotp_etf::{atom, list, map, tuple, Term};
//!
//! // {ok, [1, 2.5, <<"bin">>], #{name => <<"drip">>}}
//! let t = tuple!(atom!(ok), list![1, 2.5, "bin"], map! { atom!(name) => "drip" });
//! let erl = rotp_etf::text::parse(r#"{ok, [1, 2.5, <<"bin">>], #{name => <<"drip">>}}"#).unwrap();
//! assert_eq!(t, erl);
//! assert_eq!(atom!("Elixir.Drip.Files"), Term::atom("Elixir.Drip.Files"));
//! ```

/// An atom: `atom!(ok)`, or any name as a string: `atom!("Elixir.Drip")`.
#[macro_export]
macro_rules! atom {
    ($name:ident) => {
        $crate::Term::atom(::core::stringify!($name))
    };
    ($name:expr) => {
        $crate::Term::atom($name)
    };
}

/// A tuple: `tuple!(atom!(ok), 42)` is `{ok, 42}`.
#[macro_export]
macro_rules! tuple {
    ($($element:expr),* $(,)?) => {
        $crate::Term::Tuple(::std::vec![$($crate::Term::from($element)),*])
    };
}

/// A proper list: `list![1, 2, 3]`.
#[macro_export]
macro_rules! list {
    ($($element:expr),* $(,)?) => {
        $crate::Term::List(::std::vec![$($crate::Term::from($element)),*])
    };
}

/// A map: `map! { atom!(name) => "drip", atom!(size) => 3 }` is `#{name => <<"drip">>, size => 3}`.
#[macro_export]
macro_rules! map {
    ($($key:expr => $value:expr),* $(,)?) => {
        $crate::Term::Map($crate::Map::from_entries(::std::vec![
            $(($crate::Term::from($key), $crate::Term::from($value))),*
        ]))
    };
}
