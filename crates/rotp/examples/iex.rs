//! Chapter 5 of the guide: a node that iex talks to, with serde-typed messages.
//!
//! `cargo run -p rotp-erlang --example iex` (optionally followed by the node's short name,
//! `book` by default), then paste the commands it prints into a terminal. Ctrl-C stops it.
//!
//! What to watch:
//! 1. The program is a node, `book@yourhost`, as `iex --sname book` would be: iex connects to
//!    it with the same cookie (`RELEASE_COOKIE`, else `~/.erlang.cookie`) and calls the
//!    `library` server by name, `GenServer.call({:library, :"book@yourhost"}, request)`.
//! 2. The requests and replies are Rust types with `serde` derives: Elixir's `{:add, %{title:
//!    "…", year: 2018}}` arrives as `Request::Add(Book { .. })`, and `Ok(n)` goes back as
//!    `{:ok, n}`. A request of another shape gets no reply (the caller times out) and is
//!    left to `handle_info`, which prints it.
//! 3. `:boom` crashes the server: its supervisor starts it again, empty, and the next call
//!    finds no books. iex's call exits with the server's reason.

use std::sync::Once;

use rotp::prelude::*;

// ANCHOR: types
/// A book, as Elixir writes it: `%{title: "Mastering Elixir", year: 2018}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(crate = "rotp::serde")]
struct Book {
    title: String,
    year: u16,
}

/// What iex asks: `{:add, book}`, `{:get, title}`, `:count`, `:boom`.
#[derive(Debug, Deserialize)]
#[serde(crate = "rotp::serde", rename_all = "snake_case")]
enum Request {
    Add(Book),
    Get(String),
    Count,
    Boom,
}

/// What it answers: `{:ok, …}` or `{:error, :not_found}`.
#[derive(Serialize)]
#[serde(crate = "rotp::serde", untagged)]
enum Found {
    Count(usize),
    Book(Book),
}

#[derive(Serialize)]
#[serde(crate = "rotp::serde", rename_all = "snake_case")]
enum NotFound {
    NotFound,
}
// ANCHOR_END: types

// ANCHOR: server
#[derive(Clone)]
struct Library;

impl GenServer for Library {
    type Args = ();
    type State = Vec<Book>;
    type Call = Request;
    type Reply = Result<Found, NotFound>;
    type Cast = ();

    // Calls and casts from other nodes come as terms: this reads them as `Request`s and
    // writes the replies as terms, with etf's serde mapping.
    serde_messages!();

    async fn init(&self, _: (), ctx: &mut Context) -> Init<Vec<Book>> {
        static BANNER: Once = Once::new();
        BANNER.call_once(|| print_commands(ctx.runtime().node()));
        Init::Ok(Vec::new())
    }

    async fn handle_call(
        &self,
        request: Request,
        _: &gen_server::From,
        books: &mut Vec<Book>,
        _: &mut Context,
    ) -> CallReply<Result<Found, NotFound>> {
        println!("library: {request:?}");
        CallReply::Reply(match request {
            Request::Add(book) => {
                books.push(book);
                Ok(Found::Count(books.len()))
            }
            Request::Get(title) => books
                .iter()
                .find(|b| b.title == title)
                .map(|b| Found::Book(b.clone()))
                .ok_or(NotFound::NotFound),
            Request::Count => Ok(Found::Count(books.len())),
            Request::Boom => panic!("boom"),
        })
    }

    async fn handle_info(&self, message: Message, _: &mut Vec<Book>, _: &mut Context) -> NoReply {
        if let Some(term) = message.as_term() {
            println!("library: not a request I know: {term}");
        }
        NoReply::Continue
    }
}
// ANCHOR_END: server

// ANCHOR: main
fn main() -> Result<(), rotp::Error> {
    let name = std::env::args().nth(1).unwrap_or_else(|| "book".into());
    Application::new("library_app")
        .sname(&name)
        .child(ChildSpec::gen_server_named(
            "library",
            Library,
            (),
            Some("library".into()),
        ))
        .run()
}
// ANCHOR_END: main

// ANCHOR: commands
/// The commands to paste, with this node's name in them.
fn print_commands(node: &Atom) {
    let cookie = match std::env::var("RELEASE_COOKIE") {
        Ok(cookie) => format!(" --cookie {cookie}"),
        Err(_) => String::new(),
    };
    let server = format!("{{:library, :\"{node}\"}}");
    println!("node {node} is up; in another terminal:\n");
    println!("  iex --sname iex{cookie}\n");
    for request in [
        r#"{:add, %{title: "Mastering Elixir", year: 2018}}"#,
        r#"{:get, "Mastering Elixir"}"#,
        r#":count"#,
        r#":boom"#,
        r#":count"#,
    ] {
        println!("  iex> GenServer.call({server}, {request})");
    }
    println!();
}
// ANCHOR_END: commands
