//! Erlang's term syntax: [`parse`] reads what a user types in the shell (`{ok, [1, 2.5,
//! <<"bin">>, #{a => "x"}]}`), and [`write()`] (also `Display` for [`Term`](crate::Term)) prints what
//! `io_lib:format("~w", [Term])` prints.
//!
//! Pids, ports and references print as `~w` prints them when they belong to `nonode@nohost`
//! with creation 0 (`<0.80.0>`, `#Port<0.5>`, `#Ref<0.1.2.3>`). Any other node has no number
//! outside a running node's table, so rotp writes the node's name and creation instead:
//! `<a@host.80.0.3>`, `#Port<a@host.5.3>`, `#Ref<a@host.1.2.3.3>` (creation last). Both forms
//! parse back. A local fun prints as `#Fun<Module.OldIndex.OldUniq>` and has no text to parse.
//!
//! ```
//! use rotp_etf::text::{parse, pretty, write};
//! use rotp_etf::{atom, map, tuple};
//!
//! // What a user types in `erl`'s shell ...
//! let t = parse(r#"{ok, #{name => <<"drip">>, sizes => [1, 2.5]}}"#)?;
//! assert_eq!(t, tuple!(atom!(ok), map! { atom!(name) => "drip", atom!(sizes) => rotp_etf::list![1, 2.5] }));
//! // ... and what `io:format("~w", [T])` prints (`~p` for `pretty`).
//! assert_eq!(write(&t), "{ok,#{name => <<100,114,105,112>>,sizes => [1,2.5]}}");
//! assert_eq!(pretty(&parse("[104, 105]")?), r#""hi""#);
//! assert!(parse("{ok,").is_err()); // a clear error, never a panic
//! # Ok::<(), rotp_etf::text::ParseError>(())
//! ```

mod parse;
mod pretty;
mod print;

pub use parse::{parse, ParseError, MAX_BINARY_BITS};
pub use pretty::pretty;
pub use print::{write, write_limited};

/// The node name Erlang gives a node that is not distributed.
pub const NONODE: &str = "nonode@nohost";
