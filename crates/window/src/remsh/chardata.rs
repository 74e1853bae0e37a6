//! Erlang's `unicode:chardata()` to and from Rust strings: what `put_chars` carries (a binary,
//! or a deep list of code points and binaries) and what `get_line` answers with.

use etf::Term;

/// The text of `chardata` (a binary, a code point, or a deep list of them), or `None` if it
/// is not chardata. Binaries are UTF-8 under `unicode` (invalid bytes are shown as U+FFFD);
/// under `latin1` each byte is one character, as io.erl has it.
pub fn to_string(chardata: &Term, latin1: bool) -> Option<String> {
    let mut out = String::new();
    push(chardata, latin1, &mut out).then_some(out)
}

fn push(term: &Term, latin1: bool, out: &mut String) -> bool {
    match term {
        Term::Binary(b) if latin1 => {
            out.extend(b.iter().map(|&c| char::from(c)));
            true
        }
        Term::Binary(b) => {
            out.push_str(&String::from_utf8_lossy(b));
            true
        }
        Term::Integer(c) => match u32::try_from(*c).ok().and_then(char::from_u32) {
            Some(c) => {
                out.push(c);
                true
            }
            None => false,
        },
        Term::List(items) => items.iter().all(|t| push(t, latin1, out)),
        // `[... | <<"tail">>]`: an iolist's binary tail.
        Term::ImproperList(items, tail) => {
            items.iter().all(|t| push(t, latin1, out))
                && matches!(**tail, Term::Binary(_))
                && push(tail, latin1, out)
        }
        _ => false,
    }
}

/// `text` as the Erlang string (a list of code points) `get_line` returns without `binary`.
pub fn string(text: &str) -> Term {
    Term::List(
        text.chars()
            .map(|c| Term::Integer(i64::from(u32::from(c))))
            .collect(),
    )
}

/// `text` as the I/O server hands it out: a UTF-8 binary in `binary` mode, else a string.
pub fn data(text: &str, binary: bool) -> Term {
    if binary {
        Term::Binary(bytes::Bytes::copy_from_slice(text.as_bytes()))
    } else {
        string(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn deep_lists_of_code_points_and_binaries_read_as_one_string() {
        let t = etf::text::parse("[\"1> \", <<\"é\"/utf8>>, [$x, [$y]], <<>>]").expect("parses");
        assert_eq!(to_string(&t, false).as_deref(), Some("1> éxy"));
        let latin1 = Term::Binary(bytes::Bytes::from_static(&[0xe9]));
        assert_eq!(to_string(&latin1, true).as_deref(), Some("é"));
        assert_eq!(to_string(&Term::atom("x"), false), None);
        assert_eq!(to_string(&Term::Integer(-1), false), None);
        assert_eq!(to_string(&Term::Integer(0xD800), false), None);
    }

    proptest! {
        #[test]
        fn strings_round_trip(text in "\\PC*") {
            prop_assert_eq!(to_string(&string(&text), false), Some(text.clone()));
            prop_assert_eq!(to_string(&data(&text, true), false), Some(text));
        }
    }
}
