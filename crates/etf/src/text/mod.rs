//! Erlang's term syntax: [`parse`] reads what a user types in the shell (`{ok, [1, 2.5,
//! <<"bin">>, #{a => "x"}]}`), and [`write()`] (also `Display` for [`Term`](crate::Term)) prints what
//! `io_lib:format("~w", [Term])` prints.
//!
//! Pids, ports and references print as `~w` prints them when they belong to `nonode@nohost`
//! with creation 0 (`<0.80.0>`, `#Port<0.5>`, `#Ref<0.1.2.3>`). Any other node has no number
//! outside a running node's table, so rotp writes the node's name and creation instead:
//! `<a@host.80.0.3>`, `#Port<a@host.5.3>`, `#Ref<a@host.1.2.3.3>` (creation last). Both forms
//! parse back. A local fun prints as `#Fun<Module.OldIndex.OldUniq>` and has no text to parse.

mod parse;
mod pretty;
mod print;

pub use parse::{parse, ParseError, MAX_BINARY_BITS};
pub use pretty::pretty;
pub use print::{write, write_limited};

/// The node name Erlang gives a node that is not distributed.
pub const NONODE: &str = "nonode@nohost";
