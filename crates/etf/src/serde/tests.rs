//! Every row of the mapping, both ways, and the errors.

use std::collections::{BTreeMap, HashMap};

use ::serde::{Deserialize, Serialize};
use bytes::Bytes;

use super::*;
use crate::text;

fn term(source: &str) -> Term {
    text::parse(source).unwrap_or_else(|e| panic!("{source}: {e}"))
}

/// `value` is written as `source` says, and `source` reads back as `value`.
fn both_ways<T>(value: T, source: &str)
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let expected = term(source);
    assert_eq!(to_term(&value).unwrap(), expected, "writing {value:?}");
    assert_eq!(
        from_term::<T>(&expected).unwrap(),
        value,
        "reading {source}"
    );
}

fn error<T: DeserializeOwned + std::fmt::Debug>(source: &str) -> String {
    match from_term::<T>(&term(source)) {
        Ok(value) => panic!("{source} read as {value:?}"),
        Err(e) => e.to_string(),
    }
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Plain {
    name: String,
    age: u32,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
#[serde(rename = "Elixir.MyApp.User")]
struct User {
    name: String,
    age: u32,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
enum Shape {
    NotFound,
    Created(u32),
    Moved(i32, i32),
    Resized { w: u8, h: u8 },
}

#[test]
fn scalars() {
    both_ways(true, "true");
    both_ways(false, "false");
    both_ways(-5i8, "-5");
    both_ways(65535u16, "65535");
    both_ways(i64::MIN, "-9223372036854775808");
    both_ways(u64::MAX, "18446744073709551615");
    both_ways(i128::MIN, "-170141183460469231731687303715884105728");
    both_ways(u128::MAX, "340282366920938463463374607431768211455");
    both_ways(1.5f64, "1.5");
    both_ways(-0.25f32, "-0.25");
    both_ways('é', "233");
    both_ways("José".to_owned(), "<<\"José\"/utf8>>");
    both_ways((), "ok");
}

#[test]
fn lenient_reading() {
    assert_eq!(from_term::<f64>(&term("3")).unwrap(), 3.0);
    assert_eq!(from_term::<char>(&term("<<\"é\"/utf8>>")).unwrap(), 'é');
    assert_eq!(from_term::<String>(&term("\"abc\"")).unwrap(), "abc");
    assert_eq!(from_term::<String>(&term("[]")).unwrap(), "");
    assert_eq!(from_term::<Vec<u8>>(&term("<<1,2,3>>")).unwrap(), [1, 2, 3]);
    assert_eq!(
        from_term::<Bytes>(&term("[1,2,3]")).unwrap(),
        Bytes::from_static(&[1, 2, 3])
    );
    assert_eq!(from_term::<(u8, u8)>(&term("[1, 2]")).unwrap(), (1, 2));
    assert_eq!(from_term::<Option<u8>>(&term("undefined")).unwrap(), None);
}

#[test]
fn borrowing_from_the_term() {
    let t = term("{<<\"text\">>, <<0, 255>>, name}");
    let (text, bytes): (&str, &[u8]) = {
        let (a, b, _): (&str, &[u8], ::serde::de::IgnoredAny) = from_term(&t).unwrap();
        (a, b)
    };
    assert_eq!((text, bytes), ("text", &[0u8, 255][..]));
    let Term::Tuple(items) = &t else {
        unreachable!()
    };
    let Term::Binary(b) = &items[0] else {
        unreachable!()
    };
    assert!(std::ptr::eq(text.as_ptr(), b.as_ptr()), "not copied");
}

#[test]
fn bytes_are_binaries_and_vecs_are_lists() {
    both_ways(Bytes::from_static(b"\x00\xff"), "<<0,255>>");
    both_ways(vec![1u8, 2], "[1,2]");
    both_ways(vec!["a".to_owned()], "[<<\"a\">>]");
    both_ways(Vec::<u32>::new(), "[]");
}

#[test]
fn options_are_nil_or_the_value() {
    both_ways(None::<u8>, "nil");
    both_ways(Some(3u8), "3");
    both_ways(Some(()), "ok");
    both_ways(None::<()>, "nil");
}

#[test]
fn unit_structs_are_atoms_of_their_name() {
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    #[serde(rename = "ping")]
    struct Ping;
    both_ways(Ping, "ping");
    assert_eq!(
        error::<Ping>("pong"),
        ".: expected the atom ping, found an atom"
    );
}

#[test]
fn tuples_and_newtypes() {
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Point(i32, i32);
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Meters(f64);
    both_ways((1u8, "a".to_owned(), true), "{1, <<\"a\">>, true}");
    both_ways(Point(1, -2), "{1, -2}");
    both_ways(Meters(2.5), "2.5");
    both_ways([7u8, 8, 9], "{7, 8, 9}");
}

#[test]
fn structs_are_maps_with_atom_keys() {
    both_ways(
        Plain {
            name: "x".into(),
            age: 3,
        },
        "#{name => <<\"x\">>, age => 3}",
    );
    // Binary keys and Elixir structs read as well; unknown keys are ignored.
    let plain = Plain {
        name: "x".into(),
        age: 3,
    };
    assert_eq!(
        from_term::<Plain>(&term("#{<<\"name\">> => <<\"x\">>, <<\"age\">> => 3}")).unwrap(),
        plain
    );
    assert_eq!(
        from_term::<Plain>(&term(
            "#{'__struct__' => 'Elixir.Other', name => <<\"x\">>, age => 3, extra => 1}"
        ))
        .unwrap(),
        plain
    );
}

#[test]
fn elixir_structs_carry_their_module() {
    both_ways(
        User {
            name: "x".into(),
            age: 3,
        },
        "#{'__struct__' => 'Elixir.MyApp.User', name => <<\"x\">>, age => 3}",
    );
    // Without `__struct__` (a plain map of the same fields) it reads too.
    assert!(from_term::<User>(&term("#{name => <<\"x\">>, age => 3}")).is_ok());
    assert_eq!(
        error::<User>("#{'__struct__' => 'Elixir.Other', name => <<\"x\">>, age => 3}"),
        ".__struct__: expected the atom 'Elixir.MyApp.User' (a %MyApp.User{}), found an atom"
    );
}

#[test]
fn deny_unknown_fields_does_not_see_struct() {
    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Strict {
        a: u8,
    }
    assert_eq!(
        from_term::<Strict>(&term("#{'__struct__' => 'Elixir.S', a => 1}")).unwrap(),
        Strict { a: 1 }
    );
    assert!(error::<Strict>("#{a => 1, b => 2}").contains("unknown field `b`"));
}

#[test]
fn enums_are_atoms_and_tagged_tuples() {
    both_ways(Shape::NotFound, "not_found");
    both_ways(Shape::Created(5), "{created, 5}");
    both_ways(Shape::Moved(1, -1), "{moved, 1, -1}");
    both_ways(
        Shape::Resized { w: 2, h: 3 },
        "{resized, #{w => 2, h => 3}}",
    );
    assert_eq!(
        from_term::<Shape>(&term("{not_found}")).unwrap(),
        Shape::NotFound
    );
}

#[test]
fn results_are_ok_and_error_tuples() {
    both_ways(Ok::<u8, String>(5), "{ok, 5}");
    both_ways(Err::<u8, Shape>(Shape::NotFound), "{error, not_found}");
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Posix {
        Enoent,
    }
    assert_eq!(
        from_term::<Result<(), Posix>>(&term("{error, enoent}")).unwrap(),
        Err(Posix::Enoent)
    );
    // A GenServer's bare `:ok` reply, and Elixir's `:ok | {:error, reason}`.
    from_term::<()>(&term("ok")).unwrap();
    both_ways(Ok::<(), Posix>(()), "ok");
    both_ways(Err::<(), Posix>(Posix::Enoent), "{error, enoent}");
    both_ways(Ok::<Option<()>, Posix>(None), "{ok, nil}");
    assert_eq!(
        error::<Result<u8, Posix>>("ok"),
        ".: expected an integer, found an atom"
    );
}

#[test]
fn maps_take_keys_of_any_kind() {
    both_ways(
        BTreeMap::from([("a".to_owned(), 1u8), ("b".to_owned(), 2)]),
        "#{<<\"a\">> => 1, <<\"b\">> => 2}",
    );
    both_ways(
        HashMap::from([((1u8, 2u8), vec![true])]),
        "#{{1, 2} => [true]}",
    );
    both_ways(
        BTreeMap::from([(Shape::NotFound, 1u8)]),
        "#{not_found => 1}",
    );
    // An atom-keyed map reads into string keys.
    assert_eq!(
        from_term::<BTreeMap<String, u8>>(&term("#{a => 1}")).unwrap(),
        BTreeMap::from([("a".to_owned(), 1)])
    );
}

#[test]
fn terms_pass_through() {
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Subscribe {
        from: Term,
        tag: Term,
    }
    let value = Subscribe {
        from: term("<a@host.80.0.3>"),
        tag: term("#Ref<a@host.1.2.3.3>"),
    };
    both_ways(
        value,
        "#{from => <a@host.80.0.3>, tag => #Ref<a@host.1.2.3.3>}",
    );
    let big = term("123456789012345678901234567890123456789012345678901234567890");
    assert_eq!(from_term::<Term>(&big).unwrap(), big);
    assert_eq!(to_term(&big).unwrap(), big);
}

#[test]
fn untagged_enums_read_through_any() {
    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(untagged)]
    enum Loose {
        Number(i64),
        Text(String),
        List(Vec<Loose>),
        Flag(bool),
    }
    assert_eq!(
        from_term::<Loose>(&term("[1, <<\"a\">>, true, b]")).unwrap(),
        Loose::List(vec![
            Loose::Number(1),
            Loose::Text("a".into()),
            Loose::Flag(true),
            Loose::Text("b".into()),
        ])
    );
}

#[test]
fn bytes_round_trip_through_the_external_format() {
    let value = (Shape::Moved(1, 2), Some("x".to_owned()), u128::MAX);
    let bytes = to_bytes(&value).unwrap();
    assert_eq!(bytes[0], 131);
    assert_eq!(
        from_bytes::<(Shape, Option<String>, u128)>(&bytes).unwrap(),
        value
    );
    assert!(matches!(
        from_bytes::<u8>(&[131, 97]),
        Err(Error::Decode(_))
    ));
}

#[test]
fn errors_name_the_path() {
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Team {
        users: Vec<Plain>,
    }
    let users = "#{users => [#{name => <<\"a\">>, age => 1}, #{name => <<\"b\">>, age => 2}, #{name => c, age => 3}]}";
    assert_eq!(
        error::<Team>(users),
        ".users[2].name: expected a binary, found an atom"
    );
    assert_eq!(
        error::<Team>("#{users => [#{name => <<\"a\">>}]}"),
        ".users[0]: missing field `age`"
    );
    assert_eq!(
        error::<HashMap<String, u8>>("#{<<\"k\">> => 300}"),
        "[<<\"k\">>]: integer 300 out of range for u8"
    );
    assert_eq!(
        error::<Shape>("{resized, #{w => 2, h => -1}}"),
        "[1].h: integer -1 out of range for u8"
    );
    assert_eq!(
        error::<Shape>("{moved, 1}"),
        ".: variant moved: expected a tuple of 3 elements, found a tuple of 2 elements"
    );
    assert!(error::<Shape>("{bogus, 1}").contains("unknown variant `bogus`"));
    assert_eq!(
        error::<Shape>("<<\"created\">>"),
        ".: expected an atom or a tuple tagged with an atom, found a binary"
    );
    assert_eq!(
        error::<Vec<u8>>("[1, 2 | 3]"),
        ".: expected a list, found an improper list"
    );
    assert_eq!(
        error::<String>("<<255>>"),
        ".: expected a UTF-8 binary, found a binary"
    );
    assert_eq!(
        error::<bool>("nil"),
        ".: expected true or false, found an atom"
    );
    assert_eq!(error::<()>("nil"), ".: expected the atom ok, found an atom");
    assert_eq!(
        error::<i128>("1000000000000000000000000000000000000000000"),
        ".: integer 1000000000000000000000000000000000000000000 out of range for i128"
    );
    assert_eq!(
        error::<char>("1114112"),
        ".: integer 1114112 out of range for char"
    );
    assert!(to_term(&f64::NAN).is_err());
    let huge = format!("1{}", "0".repeat(400));
    assert_eq!(
        error::<f64>(&huge),
        format!(".: integer {huge} out of range for f64")
    );
}

#[test]
fn reading_makes_no_atoms() {
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    enum Tag {
        Known,
    }
    let name = "serde_test_never_an_atom_7f3a";
    let _ = from_term::<Tag>(&Term::Binary(Bytes::from_static(name.as_bytes())));
    let _ = from_term::<Plain>(&term(&format!("#{{<<\"{name}\">> => 1}}")));
    assert!(!Atom::is_interned(name));
}

#[test]
fn no_panics_on_odd_terms() {
    for source in [
        "<0.1.0>",
        "#Ref<0.1.2.3>",
        "fun erlang:abs/1",
        "<<1:3>>",
        "[a | b]",
        "#{}",
        "{}",
        "[]",
    ] {
        let t = term(source);
        let _ = from_term::<Plain>(&t);
        let _ = from_term::<Shape>(&t);
        let _ = from_term::<Vec<String>>(&t);
        let _ = from_term::<Option<(u8, String)>>(&t);
        let _ = from_term::<HashMap<String, Term>>(&t);
        let _ = from_term::<::serde::de::IgnoredAny>(&t);
    }
}
