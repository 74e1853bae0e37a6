//! `~w`: `io_lib:write/1` of OTP 25 (`lib/stdlib/src/io_lib.erl`, `io_lib_format.erl`).

use std::fmt::{self, Write};

use crate::term::{Atom, BitBinary, Term};
use crate::text::NONODE;

/// The term as `io_lib:format("~w", [Term])` prints it.
pub fn write(term: &Term) -> String {
    term.to_string()
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Term::Integer(i) => write!(f, "{i}"),
            Term::BigInt(b) => write!(f, "{b}"),
            Term::Float(x) => f.write_str(&float(*x)),
            Term::Atom(a) => write_atom(f, a),
            Term::Binary(bytes) => {
                f.write_str("<<")?;
                comma_separated(f, bytes)?;
                f.write_str(">>")
            }
            Term::BitBinary(b) => bit_binary(f, b),
            Term::Tuple(elements) => {
                f.write_char('{')?;
                comma_separated(f, elements)?;
                f.write_char('}')
            }
            Term::List(elements) => {
                f.write_char('[')?;
                comma_separated(f, elements)?;
                f.write_char(']')
            }
            Term::ImproperList(elements, tail) => {
                f.write_char('[')?;
                comma_separated(f, elements)?;
                write!(f, "|{tail}]")
            }
            Term::Map(map) => {
                f.write_str("#{")?;
                for (n, (k, v)) in map.iter().enumerate() {
                    if n > 0 {
                        f.write_char(',')?;
                    }
                    write!(f, "{k} => {v}")?;
                }
                f.write_char('}')
            }
            Term::Pid(p) => {
                f.write_char('<')?;
                node_prefix(f, &p.node, p.creation)?;
                write!(f, ".{}.{}", p.id, p.serial)?;
                creation_suffix(f, &p.node, p.creation)?;
                f.write_char('>')
            }
            Term::Port(p) => {
                f.write_str("#Port<")?;
                node_prefix(f, &p.node, p.creation)?;
                write!(f, ".{}", p.id)?;
                creation_suffix(f, &p.node, p.creation)?;
                f.write_char('>')
            }
            Term::Reference(r) => {
                f.write_str("#Ref<")?;
                node_prefix(f, &r.node, r.creation)?;
                for word in r.id.iter().rev() {
                    write!(f, ".{word}")?;
                }
                creation_suffix(f, &r.node, r.creation)?;
                f.write_char('>')
            }
            Term::Fun(fun) => {
                f.write_str("#Fun<")?;
                write_atom(f, &fun.module)?;
                write!(f, ".{}.{}>", fun.old_index, fun.old_uniq)
            }
            Term::Export(e) => {
                // io_lib writes external funs with erlang:fun_to_list/1, that is with erts's
                // own atom printer, not io_lib's.
                f.write_str("fun ")?;
                write_atom_erts(f, &e.module)?;
                f.write_char(':')?;
                write_atom_erts(f, &e.function)?;
                write!(f, "/{}", e.arity)
            }
        }
    }
}

/// [`write()`] cut short: at most about `max` characters, then `...`. For logs of terms that
/// came from elsewhere: the work done is bounded by `max` however large the term, and an
/// integer too long to show is never converted to decimal (for a bignum of megabytes that
/// alone takes minutes): it is shown as `...` too.
pub fn write_limited(term: &Term, max: usize) -> String {
    let mut sink = Limited {
        out: String::new(),
        room: max,
    };
    if limited(term, &mut sink).is_err() {
        sink.out.push_str("...");
    }
    sink.out
}

/// A string that refuses to grow past its room.
struct Limited {
    out: String,
    room: usize,
}

impl Write for Limited {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if s.len() > self.room {
            let mut cut = self.room;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            self.out.push_str(&s[..cut]);
            self.room = 0;
            return Err(fmt::Error);
        }
        self.room -= s.len();
        self.out.push_str(s);
        Ok(())
    }
}

/// Writes `term` into `sink` as `~w`, containers piece by piece so the sink's room stops the
/// walk early.
fn limited(term: &Term, sink: &mut Limited) -> fmt::Result {
    let items = |sink: &mut Limited, items: &[Term]| {
        for (n, item) in items.iter().enumerate() {
            if n > 0 {
                sink.write_char(',')?;
            }
            limited(item, sink)?;
        }
        Ok(())
    };
    match term {
        // Three bits and a bit more per decimal digit.
        Term::BigInt(b) if b.bits() / 3 > sink.room as u64 => Err(fmt::Error),
        Term::Tuple(v) => {
            sink.write_char('{')?;
            items(sink, v)?;
            sink.write_char('}')
        }
        Term::List(v) => {
            sink.write_char('[')?;
            items(sink, v)?;
            sink.write_char(']')
        }
        Term::ImproperList(v, tail) => {
            sink.write_char('[')?;
            items(sink, v)?;
            sink.write_char('|')?;
            limited(tail, sink)?;
            sink.write_char(']')
        }
        Term::Map(map) => {
            sink.write_str("#{")?;
            for (n, (k, v)) in map.iter().enumerate() {
                if n > 0 {
                    sink.write_char(',')?;
                }
                limited(k, sink)?;
                sink.write_str(" => ")?;
                limited(v, sink)?;
            }
            sink.write_char('}')
        }
        // Everything else is bounded by its own size, and binaries stop at the sink's room.
        other => write!(sink, "{other}"),
    }
}

fn comma_separated<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            f.write_char(',')?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

fn is_local(node: &Atom, creation: u32) -> bool {
    node.as_str() == NONODE && creation == 0
}

fn node_prefix(f: &mut fmt::Formatter<'_>, node: &Atom, creation: u32) -> fmt::Result {
    if is_local(node, creation) {
        f.write_char('0')
    } else {
        write_atom(f, node)
    }
}

fn creation_suffix(f: &mut fmt::Formatter<'_>, node: &Atom, creation: u32) -> fmt::Result {
    if is_local(node, creation) {
        Ok(())
    } else {
        write!(f, ".{creation}")
    }
}

fn bit_binary(f: &mut fmt::Formatter<'_>, b: &BitBinary) -> fmt::Result {
    let (whole, last) = b.bytes().split_at(b.bytes().len() - 1);
    f.write_str("<<")?;
    comma_separated(f, whole)?;
    if !whole.is_empty() {
        f.write_char(',')?;
    }
    let bits = b.last_bits();
    write!(f, "{}:{}>>", last[0] >> (8 - bits), bits)
}

/// The reserved words of `erl_scan:reserved_word/1` (OTP 25, no features enabled): atoms
/// spelled like these need quotes.
const RESERVED: &[&str] = &[
    "after", "and", "andalso", "band", "begin", "bnot", "bor", "bsl", "bsr", "bxor", "case",
    "catch", "cond", "div", "end", "fun", "if", "let", "not", "of", "or", "orelse", "receive",
    "rem", "try", "when", "xor",
];

fn is_lower(c: char) -> bool {
    c.is_ascii_lowercase() || (('\u{df}'..='\u{ff}').contains(&c) && c != '\u{f7}')
}

fn is_name_char(c: char) -> bool {
    is_lower(c)
        || c.is_ascii_uppercase()
        || (('\u{c0}'..='\u{de}').contains(&c) && c != '\u{d7}')
        || c.is_ascii_digit()
        || c == '_'
        || c == '@'
}

/// Whether `io_lib:write_atom/1` quotes the atom (`io_lib:quote_atom/2`).
pub(crate) fn needs_quotes(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) if is_lower(first) => !chars.all(is_name_char) || RESERVED.contains(&name),
        _ => true,
    }
}

fn write_atom(f: &mut fmt::Formatter<'_>, atom: &Atom) -> fmt::Result {
    let name = atom.as_str();
    if !needs_quotes(name) {
        return f.write_str(name);
    }
    f.write_char('\'')?;
    for c in name.chars() {
        match c {
            '\'' => f.write_str("\\'")?,
            '\\' => f.write_str("\\\\")?,
            ' '..='~' | '\u{a0}'..='\u{ff}' => f.write_char(c)?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            '\u{b}' => f.write_str("\\v")?,
            '\u{8}' => f.write_str("\\b")?,
            '\u{c}' => f.write_str("\\f")?,
            '\u{1b}' => f.write_str("\\e")?,
            '\u{7f}' => f.write_str("\\d")?,
            c if (c as u32) < 0xa0 => write!(f, "\\{:03o}", c as u32)?,
            c => write!(f, "\\x{{{:X}}}", c as u32)?,
        }
    }
    f.write_char('\'')
}

/// `print_atom_name` of `erts/emulator/beam/erl_printf_term.c` (OTP 25), as
/// `erlang:fun_to_list/1` prints module and function names: quoting decided on latin-1 letters
/// and digits only (no `@`, no reserved words), and the UTF-8 bytes of other characters
/// written one character per byte, as the list `fun_to_list` returns holds them.
fn write_atom_erts(f: &mut fmt::Formatter<'_>, atom: &Atom) -> fmt::Result {
    let bytes = atom.as_str().as_bytes();
    if bytes.is_empty() {
        return f.write_str("''");
    }
    let lower = |c: u32| {
        (u32::from(b'a')..=u32::from(b'z')).contains(&c) || ((223..=255).contains(&c) && c != 247)
    };
    let upper = |c: u32| {
        (u32::from(b'A')..=u32::from(b'Z')).contains(&c) || ((192..=222).contains(&c) && c != 215)
    };
    let alnum = |c: u32| lower(c) || upper(c) || (u32::from(b'0')..=u32::from(b'9')).contains(&c);
    // `latin1_char`: the code point a byte starts, near enough to classify it.
    let latin1 = |at: usize| -> u32 {
        let c1 = u32::from(bytes[at]);
        let c2 = u32::from(bytes.get(at + 1).copied().unwrap_or(0));
        match c1 {
            0..=0x7f => c1,
            0xc0..=0xdf => (c1 & 0x1f) << 6 | (c2 & 0x3f),
            0x80..=0xbf => u32::from(b'a'),
            _ => 0,
        }
    };
    let quote = !lower(latin1(0))
        || (1..bytes.len()).any(|at| !alnum(latin1(at)) && latin1(at) != u32::from(b'_'));
    if quote {
        f.write_char('\'')?;
    }
    let mut at = 0;
    while at < bytes.len() {
        let c = bytes[at];
        at += 1;
        match c {
            b'\'' => f.write_str("\\'")?,
            b'\\' => f.write_str("\\\\")?,
            b'\n' => f.write_str("\\n")?,
            0x0c => f.write_str("\\f")?,
            b'\t' => f.write_str("\\t")?,
            b'\r' => f.write_str("\\r")?,
            0x08 => f.write_str("\\b")?,
            0x0b => f.write_str("\\v")?,
            0..=0x1f => write!(f, "\\{c:03o}")?,
            0xc2 if bytes.get(at).is_some_and(|&n| n < 0xa0) => {
                write!(f, "\\{:03o}", bytes[at])?;
                at += 1;
            }
            _ => f.write_char(char::from(c))?,
        }
    }
    if quote {
        f.write_char('\'')?;
    }
    Ok(())
}

/// The shortest decimal digits that read back as `x` (finite, not negative), and the exponent
/// of the first: `x = d.ddd × 10^exp`. Ryu, as erts uses (`erts/emulator/ryu`), so that ties
/// between two shortest candidates break the same way.
fn shortest_digits(x: f64) -> (String, i64) {
    let mut buffer = ryu::Buffer::new();
    let text = buffer.format_finite(x);
    let (mantissa, exp) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i64>().unwrap_or(0)),
        None => (text, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all: String = format!("{int}{frac}");
    let leading = all.len() - all.trim_start_matches('0').len();
    let digits = all.trim_matches('0');
    if digits.is_empty() {
        return ("0".to_owned(), 0);
    }
    // The first significant digit sits `int.len() - 1 - leading` places above the units.
    (
        digits.to_owned(),
        exp + int.len() as i64 - 1 - leading as i64,
    )
}

/// A float as `io_lib:write/1` writes it in OTP 25 (`io_lib_format:fwrite_g/1`, that is
/// `float_to_list(F, [short])`): the shortest digits that read back to the same float, in
/// plain notation unless the exponent form is shorter, or the float is an integer of 2^53 or
/// more. (Rules confirmed against erl by the round-trip tests.)
fn float(x: f64) -> String {
    let sign = if x.is_sign_negative() { "-" } else { "" };
    let (digits, exp) = shortest_digits(x.abs());
    let len = digits.len() as i64;
    let (first, rest) = digits.split_at(1);
    let scientific = format!("{first}.{}e{exp}", if rest.is_empty() { "0" } else { rest });
    let plain = if exp >= len - 1 {
        format!("{digits}{}.0", "0".repeat((exp - len + 1) as usize))
    } else if exp >= 0 {
        let (int, frac) = digits.split_at(exp as usize + 1);
        format!("{int}.{frac}")
    } else {
        format!("0.{}{digits}", "0".repeat((-exp - 1) as usize))
    };
    let huge = x.abs() >= 9_007_199_254_740_992.0; // 2^53
    if huge || scientific.len() < plain.len() {
        format!("{sign}{scientific}")
    } else {
        format!("{sign}{plain}")
    }
}

#[cfg(test)]
mod limited_tests {
    use super::*;

    #[test]
    fn long_terms_are_cut_and_huge_integers_never_converted() {
        let list = Term::List((0..100_000).map(Term::Integer).collect());
        let text = write_limited(&list, 20);
        assert_eq!(text, "[0,1,2,3,4,5,6,7,8,9...");
        // A 5 MB bignum: converting it to decimal would take minutes.
        let huge = Term::from_bigint(num_bigint::BigInt::from_bytes_le(
            num_bigint::Sign::Plus,
            &vec![0xa5; 5 << 20],
        ));
        let text = write_limited(&Term::Tuple(vec![Term::atom("x"), huge]), 200);
        assert_eq!(text, "{x,...");
        assert_eq!(write_limited(&Term::atom("ok"), 200), "ok");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::excessive_precision)] // an exact tie between two shortest forms, on purpose
    fn floats_print_as_io_lib_does() {
        // Each pair checked against `io_lib:format("~w", [F])` of OTP 25.
        let cases = [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1.0e10, "1.0e10"),
            (1.0e21, "1.0e21"),
            (1.0e-5, "1.0e-5"),
            (123456789.0, "123456789.0"),
            (1.0e15, "1.0e15"),
            (0.001, "0.001"),
            (0.0001, "0.0001"),
            (4.56789, "4.56789"),
            (-2.5e-10, "-2.5e-10"),
            (5.0e-324, "5.0e-324"),
            (1.7976931348623157e308, "1.7976931348623157e308"),
            (0.0, "0.0"),
            (-1.9747038655806057e18, "-1.9747038655806057e18"),
            (9007199254740991.0, "9007199254740991.0"),
            (9007199254740992.0, "9.007199254740992e15"),
            (100.0, "100.0"),
            (1.0e3, "1.0e3"),
            (1200.0, "1.2e3"),
            (12345.0, "12345.0"),
            (120.0, "120.0"),
            (0.00012, "1.2e-4"),
            (-33019288399595.8125, "-33019288399595.812"),
            (1.0e-7, "1.0e-7"),
            (1.5e300, "1.5e300"),
        ];
        for (x, want) in cases {
            assert_eq!(float(x), want, "{x:e}");
        }
    }

    #[test]
    fn atoms_quote_as_io_lib_does() {
        for (name, quoted) in [
            ("ok", false),
            ("a@b", false),
            ("Abc", true),
            ("[]", true),
            ("hello world", true),
            ("end", true),
            ("maybe", false),
            ("", true),
            ("\u{e4}", false),
            ("\u{c8}", true),
        ] {
            assert_eq!(needs_quotes(name), quoted, "{name}");
        }
    }
}

/// As `~w` prints a pid: `<0.42.0>` for a pid of no node, `<node@host.42.0>` otherwise.
impl fmt::Display for crate::term::Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Term::Pid(self.clone()).fmt(f)
    }
}

/// As `~w` prints a reference (`#Ref<…>`).
impl fmt::Display for crate::term::Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Term::Reference(self.clone()).fmt(f)
    }
}
