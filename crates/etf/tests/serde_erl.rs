//! `rotp_etf::serde` against a real `erl` and `elixir`: what we encode from Rust values, erl's
//! `binary_to_term/1` reads and its `term_to_binary/1` gives back as the same value; terms that
//! erl and Elixir write from their own source (`#{name => <<"x">>}`, `{ok, 5}`,
//! `%MyApp.User{}`) read into the Rust types a user writes; and Elixir sees our Elixir structs
//! as its own.

mod common;
mod serde_common;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use rotp_etf::serde::{from_bytes, to_bytes, to_term};
use rotp_etf::Term;
use serde::{Deserialize, Serialize};
use serde_common::{account, Account, Event};

const LOOP: &str = r#"
    Loop = fun Loop() ->
        case io:get_line("") of
            eof -> halt();
            [Op, $\s | Hex] ->
                Bytes = binary:decode_hex(string:trim(list_to_binary(Hex))),
                T = case Op of
                    $R -> binary_to_term(Bytes);
                    $E ->
                        {ok, Tokens, _} = erl_scan:string(unicode:characters_to_list(Bytes) ++ "."),
                        {ok, [Expr]} = erl_parse:parse_exprs(Tokens),
                        {value, V, _} = erl_eval:expr(Expr, erl_eval:new_bindings()),
                        V
                end,
                io:put_chars([binary:encode_hex(term_to_binary(T)), $\n]),
                Loop()
        end
    end,
    Loop()."#;

fn erl() -> &'static Mutex<common::ErlLoop> {
    static ERL: OnceLock<Mutex<common::ErlLoop>> = OnceLock::new();
    ERL.get_or_init(|| common::ErlLoop::start(LOOP, &[]))
}

fn ask_erl(op: char, payload: &[u8]) -> Vec<u8> {
    let line = erl()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .ask(&format!("{op} {}", hex::encode(payload)));
    hex::decode(line.trim_end())
        .unwrap_or_else(|_| panic!("erl answered {line:?} for {op} {payload:?}"))
}

/// `term_to_binary(binary_to_term(Bytes))` by erl.
fn through_erl(bytes: &[u8]) -> Vec<u8> {
    ask_erl('R', bytes)
}

/// `term_to_binary` of an Erlang expression, evaluated by erl.
fn erl_eval(expression: &str) -> Vec<u8> {
    ask_erl('E', expression.as_bytes())
}

proptest! {
    #![proptest_config(Config {
        cases: 200,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    })]

    #[test]
    fn erl_gives_back_what_we_encode(account in account(common::term())) {
        let ours = to_bytes(&account).unwrap();
        let theirs = through_erl(&ours);
        prop_assert_eq!(rotp_etf::decode(&theirs).unwrap(), to_term(&account).unwrap());
        prop_assert_eq!(from_bytes::<Account>(&theirs).unwrap(), account);
    }
}

#[derive(Deserialize, Serialize, Debug, PartialEq)]
struct Plain {
    name: String,
    age: u32,
}

#[derive(Deserialize, Serialize, Debug, PartialEq)]
#[serde(rename = "Elixir.MyApp.User")]
struct User {
    name: String,
    age: u32,
    nickname: Option<String>,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Posix {
    Enoent,
    Eacces,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Message {
    Subscribe(Term),
    Put { key: String, value: Vec<u8> },
}

#[test]
fn erlang_source_terms_read_into_rust_types() {
    let read = |source: &str| erl_eval(source);
    assert_eq!(
        from_bytes::<Plain>(&read(r#"#{name => <<"x">>, age => 3}"#)).unwrap(),
        Plain {
            name: "x".into(),
            age: 3
        }
    );
    assert_eq!(
        from_bytes::<Result<u32, Posix>>(&read("{ok, 5}")).unwrap(),
        Ok(5)
    );
    assert_eq!(
        from_bytes::<Result<u32, Posix>>(&read("{error, enoent}")).unwrap(),
        Err(Posix::Enoent)
    );
    let user = read(
        r#"#{'__struct__' => 'Elixir.MyApp.User', name => <<"José"/utf8>>, age => 3, nickname => nil}"#,
    );
    let jose = User {
        name: "José".into(),
        age: 3,
        nickname: None,
    };
    assert_eq!(from_bytes::<User>(&user).unwrap(), jose);
    // A plain Rust struct takes the Elixir struct, ignoring `__struct__`.
    assert_eq!(from_bytes::<Plain>(&user).unwrap().name, "José");
    assert_eq!(
        from_bytes::<Vec<Event>>(&read(
            "[tick, {moved, -1 bsl 40}, {renamed, 7, \"charlist\"}, {resized, #{w => 2, h => undefined}}]"
        ))
        .unwrap(),
        [
            Event::Tick,
            Event::Moved(-(1 << 40)),
            Event::Renamed(7, "charlist".into()),
            Event::Resized { w: 2, h: None },
        ]
    );
    assert_eq!(
        from_bytes::<u128>(&read("1 bsl 100")).unwrap(),
        1u128 << 100
    );
    match from_bytes::<Message>(&read("{subscribe, self()}")).unwrap() {
        Message::Subscribe(Term::Pid(pid)) => assert_eq!(pid.node.as_str(), "nonode@nohost"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        from_bytes::<Message>(&read(r#"{put, #{key => <<"k">>, value => <<1, 2>>}}"#)).unwrap(),
        Message::Put {
            key: "k".into(),
            value: vec![1, 2]
        }
    );
    let wrong = from_bytes::<Vec<User>>(&read(
        r#"[#{'__struct__' => 'Elixir.MyApp.User', name => 'José', age => 3, nickname => nil}]"#,
    ))
    .unwrap_err();
    assert_eq!(
        wrong.to_string(),
        "[0].name: expected a binary, found an atom"
    );
}

/// Compiled before [`ELIXIR`] runs (a struct cannot be used where it is defined).
const ELIXIR_STRUCT: &str = "defmodule MyApp.User do defstruct [:name, :age, :nickname] end";

const ELIXIR: &str = r#"
[ours] = System.argv()
user = :erlang.binary_to_term(Base.decode16!(ours, case: :mixed))
IO.puts(inspect(user))
IO.puts(match?(%MyApp.User{name: "José", age: 3}, user))
for term <- [
      %MyApp.User{name: "Zoë", age: 40},
      {:ok, %{name: "x", age: 3}},
      [:ok, {:error, :eacces}, {:error, :enoent}],
      %{"counts" => %{"a" => 1}, :big => 12345678901234567890123}
    ] do
  IO.puts(Base.encode16(:erlang.term_to_binary(term)))
end
"#;

#[derive(Deserialize, Debug, PartialEq)]
struct Mixed {
    #[serde(rename = "counts")]
    counts: BTreeMap<String, u8>,
    big: u128,
}

#[test]
fn elixir_reads_our_structs_and_we_read_its_terms() {
    let ours = to_bytes(&User {
        name: "José".into(),
        age: 3,
        nickname: Some("jj".into()),
    })
    .unwrap();
    let output = Command::new("elixir")
        .args(["-e", ELIXIR_STRUCT, "-e", ELIXIR, &hex::encode(ours)])
        .output()
        .expect("elixir must be installed to run this test (see README)");
    assert!(
        output.status.success(),
        "elixir: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{stdout}");
    assert_eq!(
        lines[0],
        r#"%MyApp.User{name: "José", age: 3, nickname: "jj"}"#
    );
    assert_eq!(lines[1], "true");
    let term = |i: usize| hex::decode(lines[i]).unwrap();
    assert_eq!(
        from_bytes::<User>(&term(2)).unwrap(),
        User {
            name: "Zoë".into(),
            age: 40,
            nickname: None
        }
    );
    assert_eq!(
        from_bytes::<Result<Plain, Posix>>(&term(3)).unwrap(),
        Ok(Plain {
            name: "x".into(),
            age: 3
        })
    );
    assert_eq!(
        from_bytes::<Vec<Result<(), Posix>>>(&term(4)).unwrap(),
        [Ok(()), Err(Posix::Eacces), Err(Posix::Enoent)]
    );
    assert_eq!(
        from_bytes::<Mixed>(&term(5)).unwrap(),
        Mixed {
            counts: BTreeMap::from([("a".into(), 1)]),
            big: 12345678901234567890123
        }
    );
}
