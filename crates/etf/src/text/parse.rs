//! Erlang term syntax to [`Term`]: the literal subset of `erl_scan`/`erl_parse` (no variables,
//! no operators but a leading sign), plus the pid, port and reference forms [`super::write`]
//! prints.

use bytes::Bytes;
use num_bigint::BigInt;
use num_traits::Num;
use thiserror::Error;

use crate::decode::DEFAULT_MAX_DEPTH;
use crate::term::{Atom, BitBinary, Export, Map, Pid, Port, RefId, Reference, Term};
use crate::text::NONODE;

/// Text that is not a term, with the byte offset where that became clear.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("syntax error at offset {at}: {message}")]
pub struct ParseError {
    /// Byte offset into the text.
    pub at: usize,
    /// What was expected or wrong.
    pub message: String,
}

/// Parses one term. Surrounding white space, `%` comments and one final `.` are allowed.
/// Binaries are built from their segments as written, at most 64 MiB of them in one text
/// ([`MAX_BINARY_BITS`]): a few bytes of text (`<<0:134217728>>`) can ask for megabytes.
pub fn parse(text: &str) -> Result<Term, ParseError> {
    let mut p = Parser {
        text,
        pos: 0,
        depth: 0,
        binary_bits: 0,
    };
    let term = p.term()?;
    p.skip_space();
    if p.peek() == Some('.') {
        p.pos += 1;
        p.skip_space();
    }
    if p.pos != text.len() {
        return Err(p.error("end of input"));
    }
    Ok(term)
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
    /// Bits the text's binaries have asked for so far, all of them together.
    binary_bits: u64,
}

impl Parser<'_> {
    fn error(&self, expected: &str) -> ParseError {
        let found = match self.peek() {
            Some(c) => format!("'{c}'"),
            None => "end of input".to_owned(),
        };
        ParseError {
            at: self.pos,
            message: format!("expected {expected}, found {found}"),
        }
    }

    fn fail<T>(&self, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            at: self.pos,
            message: message.into(),
        })
    }

    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_space(&mut self) {
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() => self.pos += c.len_utf8(),
                Some('%') => {
                    let end = self
                        .rest()
                        .find('\n')
                        .map_or(self.text.len(), |n| self.pos + n);
                    self.pos = end;
                }
                _ => return,
            }
        }
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_space();
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, token: &str) -> Result<(), ParseError> {
        if self.eat(token) {
            Ok(())
        } else {
            Err(self.error(&format!("'{token}'")))
        }
    }

    fn nested<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, ParseError>,
    ) -> Result<T, ParseError> {
        if self.depth >= DEFAULT_MAX_DEPTH {
            return self.fail(format!(
                "terms nested deeper than {DEFAULT_MAX_DEPTH} levels"
            ));
        }
        self.depth += 1;
        let out = f(self);
        self.depth -= 1;
        out
    }

    fn term(&mut self) -> Result<Term, ParseError> {
        self.skip_space();
        match self.peek() {
            Some('{') => {
                self.pos += 1;
                self.nested(|p| p.sequence('}').map(Term::Tuple))
            }
            Some('[') => {
                self.pos += 1;
                if self.eat("]") {
                    return Ok(Term::NIL); // `[]` is a scalar, as NIL_EXT is to the decoder
                }
                self.nested(|p| p.list())
            }
            Some('#') => self.hash_form(),
            Some('<') if self.rest().starts_with("<<") => {
                self.pos += 2;
                self.binary()
            }
            Some('<') => {
                self.pos += 1;
                self.pid()
            }
            Some('"') => Ok(Term::List(
                self.strings()?
                    .into_iter()
                    .map(|c| Term::Integer(i64::from(c)))
                    .collect(),
            )),
            Some('$') => Ok(Term::Integer(i64::from(self.char_literal()?))),
            Some('\'') => Ok(Term::Atom(self.quoted_atom()?)),
            Some(c) if c == '-' || c == '+' || c.is_ascii_digit() => self.number(),
            Some(c) if c.is_alphabetic() => {
                let name = self.bare_atom()?;
                if name.as_str() == "fun" {
                    return self.export();
                }
                Ok(Term::Atom(name))
            }
            _ => Err(self.error("a term")),
        }
    }

    /// Comma-separated terms up to `close`.
    fn sequence(&mut self, close: char) -> Result<Vec<Term>, ParseError> {
        let mut items = Vec::new();
        if self.eat(&close.to_string()) {
            return Ok(items);
        }
        loop {
            items.push(self.term()?);
            if self.eat(",") {
                continue;
            }
            self.expect(&close.to_string())?;
            return Ok(items);
        }
    }

    fn list(&mut self) -> Result<Term, ParseError> {
        let mut items = Vec::new();
        if self.eat("]") {
            return Ok(Term::NIL);
        }
        loop {
            items.push(self.term()?);
            if self.eat(",") {
                continue;
            }
            if self.eat("|") {
                let tail = self.term()?;
                self.expect("]")?;
                return Ok(Term::list_with_tail(items, tail));
            }
            self.expect("]")?;
            return Ok(Term::List(items));
        }
    }

    fn hash_form(&mut self) -> Result<Term, ParseError> {
        self.pos += 1;
        if self.eat("{") {
            return self.nested(|p| p.map());
        }
        for (prefix, kind) in [("Port<", 0), ("Ref<", 1), ("Fun<", 2)] {
            if self.rest().starts_with(prefix) {
                self.pos += prefix.len();
                return match kind {
                    0 => self.port(),
                    1 => self.reference(),
                    _ => self.fail(
                        "a local fun (#Fun<...>) has no text form: only its node can make one",
                    ),
                };
            }
        }
        Err(self.error("'{', 'Port<' or 'Ref<' after '#'"))
    }

    fn map(&mut self) -> Result<Term, ParseError> {
        let mut map = Map::new();
        if self.eat("}") {
            return Ok(Term::Map(map));
        }
        loop {
            let key = self.term()?;
            self.expect("=>")?;
            let value = self.term()?;
            map.insert(key, value);
            if self.eat(",") {
                continue;
            }
            self.expect("}")?;
            return Ok(Term::Map(map));
        }
    }

    /// `Node` in pid, port and reference text: `0` for the local node or an atom.
    fn node(&mut self) -> Result<(Atom, bool), ParseError> {
        self.skip_space();
        if self.peek() == Some('0') {
            self.pos += 1;
            return Ok((Atom::from(NONODE), true));
        }
        let atom = match self.peek() {
            Some('\'') => self.quoted_atom()?,
            _ => self.bare_atom()?,
        };
        Ok((atom, false))
    }

    /// `.N.N…` after a node, up to `>`.
    fn dotted_numbers(&mut self) -> Result<Vec<u64>, ParseError> {
        let mut out = Vec::new();
        while self.rest().starts_with('.') {
            self.pos += 1;
            let start = self.pos;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            }
            let digits = &self.text[start..self.pos];
            out.push(digits.parse::<u64>().map_err(|_| self.error("a number"))?);
        }
        self.expect(">")?;
        Ok(out)
    }

    /// Splits the creation off the numbers of a remote identifier.
    fn with_creation(
        &self,
        mut numbers: Vec<u64>,
        local: bool,
    ) -> Result<(Vec<u64>, u32), ParseError> {
        if local {
            return Ok((numbers, 0));
        }
        let creation = numbers.pop().ok_or_else(|| self.error("a creation"))?;
        Ok((numbers, self.u32(creation)?))
    }

    fn u32(&self, n: u64) -> Result<u32, ParseError> {
        u32::try_from(n).map_err(|_| ParseError {
            at: self.pos,
            message: format!("{n} does not fit 32 bits"),
        })
    }

    fn pid(&mut self) -> Result<Term, ParseError> {
        let (node, local) = self.node()?;
        let numbers = self.dotted_numbers()?;
        let (numbers, creation) = self.with_creation(numbers, local)?;
        let [id, serial] = numbers[..] else {
            return self.fail("a pid is <Node.Id.Serial> (remote: <Node.Id.Serial.Creation>)");
        };
        Ok(Term::Pid(Pid {
            node,
            id: self.u32(id)?,
            serial: self.u32(serial)?,
            creation,
        }))
    }

    fn port(&mut self) -> Result<Term, ParseError> {
        let (node, local) = self.node()?;
        let numbers = self.dotted_numbers()?;
        let (numbers, creation) = self.with_creation(numbers, local)?;
        let [id] = numbers[..] else {
            return self.fail("a port is #Port<Node.Id> (remote: #Port<Node.Id.Creation>)");
        };
        Ok(Term::Port(Port { node, id, creation }))
    }

    fn reference(&mut self) -> Result<Term, ParseError> {
        let (node, local) = self.node()?;
        let numbers = self.dotted_numbers()?;
        let (numbers, creation) = self.with_creation(numbers, local)?;
        if !(1..=5).contains(&numbers.len()) {
            return self.fail("a reference has 1 to 5 words");
        }
        let mut words = [0u32; RefId::MAX_WORDS];
        for (word, &n) in words.iter_mut().zip(numbers.iter().rev()) {
            *word = self.u32(n)?;
        }
        let Some(id) = RefId::new(&words[..numbers.len()]) else {
            return self.fail("a reference has 1 to 5 words");
        };
        Ok(Term::Reference(Reference { node, creation, id }))
    }

    fn export(&mut self) -> Result<Term, ParseError> {
        self.skip_space();
        let module = self.atom()?;
        self.expect(":")?;
        self.skip_space();
        let function = self.atom()?;
        self.expect("/")?;
        self.skip_space();
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let arity = self.text[start..self.pos]
            .parse::<u8>()
            .map_err(|_| self.error("an arity 0..255"))?;
        Ok(Term::Export(Export {
            module,
            function,
            arity,
        }))
    }

    fn atom(&mut self) -> Result<Atom, ParseError> {
        match self.peek() {
            Some('\'') => self.quoted_atom(),
            _ => self.bare_atom(),
        }
    }

    fn bare_atom(&mut self) -> Result<Atom, ParseError> {
        let start = self.pos;
        match self.peek() {
            Some(c) if c.is_lowercase() => {}
            _ => return Err(self.error("an atom")),
        }
        while self
            .peek()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '@')
        {
            self.bump();
        }
        self.checked_atom(self.text[start..self.pos].to_owned())
    }

    fn checked_atom(&self, name: String) -> Result<Atom, ParseError> {
        let chars = name.chars().count();
        if chars > Atom::MAX_CHARS {
            return self.fail(format!("atom of {chars} characters (at most 255)"));
        }
        Ok(Atom::from(name))
    }

    fn quoted_atom(&mut self) -> Result<Atom, ParseError> {
        self.pos += 1;
        let chars = self.quoted('\'')?;
        let name: String = chars.into_iter().filter_map(char::from_u32).collect();
        self.checked_atom(name)
    }

    /// One or more adjacent string literals, concatenated as Erlang does.
    fn strings(&mut self) -> Result<Vec<u32>, ParseError> {
        let mut out = Vec::new();
        while {
            self.skip_space();
            self.peek() == Some('"')
        } {
            self.pos += 1;
            out.extend(self.quoted('"')?);
        }
        Ok(out)
    }

    /// The code points up to the closing `quote`, escapes resolved.
    fn quoted(&mut self, quote: char) -> Result<Vec<u32>, ParseError> {
        let mut out = Vec::new();
        loop {
            match self.bump() {
                None => return self.fail(format!("unterminated {quote}")),
                Some(c) if c == quote => return Ok(out),
                Some('\\') => out.push(self.escape()?),
                Some(c) => out.push(c as u32),
            }
        }
    }

    /// An escape sequence after `\` (Erlang reference manual, "Escape Sequences").
    fn escape(&mut self) -> Result<u32, ParseError> {
        let c = self.bump().ok_or_else(|| self.error("an escape"))?;
        Ok(match c {
            'b' => 8,
            'd' => 127,
            'e' => 27,
            'f' => 12,
            'n' => 10,
            'r' => 13,
            's' => 32,
            't' => 9,
            'v' => 11,
            '^' => {
                let c = self
                    .bump()
                    .ok_or_else(|| self.error("a control character"))?;
                (c as u32) % 32
            }
            'x' => {
                let braced = self.rest().starts_with('{');
                if braced {
                    self.pos += 1;
                }
                let start = self.pos;
                let max = if braced { usize::MAX } else { 2 };
                while self.pos - start < max && self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                    self.pos += 1;
                }
                let value = u32::from_str_radix(&self.text[start..self.pos], 16)
                    .map_err(|_| self.error("hex digits"))?;
                if braced {
                    self.expect("}")?;
                }
                value
            }
            '0'..='7' => {
                let mut value = c as u32 - '0' as u32;
                for _ in 0..2 {
                    match self.peek() {
                        Some(d @ '0'..='7') => {
                            value = value * 8 + (d as u32 - '0' as u32);
                            self.pos += 1;
                        }
                        _ => break,
                    }
                }
                value
            }
            other => other as u32,
        })
    }

    fn char_literal(&mut self) -> Result<u32, ParseError> {
        self.pos += 1;
        match self.bump() {
            Some('\\') => self.escape(),
            Some(c) => Ok(c as u32),
            None => Err(self.error("a character after '$'")),
        }
    }

    fn digits(&mut self, radix: u32) -> String {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if c.is_digit(radix) {
                out.push(c);
            } else if c != '_'
                || !self.rest()[1..].starts_with(|d: char| d.is_digit(radix))
                || out.is_empty()
            {
                break;
            }
            self.pos += 1;
        }
        out
    }

    fn number(&mut self) -> Result<Term, ParseError> {
        let negative = match self.peek() {
            Some('-') => {
                self.pos += 1;
                true
            }
            Some('+') => {
                self.pos += 1;
                false
            }
            _ => false,
        };
        self.skip_space();
        if self.peek() == Some('$') {
            let c = i64::from(self.char_literal()?);
            return Ok(Term::Integer(if negative { -c } else { c }));
        }
        let int = self.digits(10);
        if int.is_empty() {
            return Err(self.error("a number"));
        }
        let sign = if negative { "-" } else { "" };
        if self.rest().starts_with('#') {
            self.pos += 1;
            let radix = int.parse::<u32>().ok().filter(|r| (2..=36).contains(r));
            let Some(radix) = radix else {
                return self.fail(format!("base {int} (2..36)"));
            };
            let digits = self.digits(radix);
            return self.integer(&format!("{sign}{digits}"), radix);
        }
        let is_fraction = self.rest().starts_with('.')
            && self.rest()[1..].starts_with(|c: char| c.is_ascii_digit());
        if !is_fraction {
            return self.integer(&format!("{sign}{int}"), 10);
        }
        self.pos += 1;
        let frac = self.digits(10);
        let mut text = format!("{sign}{int}.{frac}");
        if self.rest().starts_with(['e', 'E']) {
            let save = self.pos;
            self.pos += 1;
            let exp_sign = match self.peek() {
                Some(s @ ('-' | '+')) => {
                    self.pos += 1;
                    s.to_string()
                }
                _ => String::new(),
            };
            let exp = self.digits(10);
            if exp.is_empty() {
                self.pos = save;
            } else {
                text.push_str(&format!("e{exp_sign}{exp}"));
            }
        }
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Term::Float(f)),
            _ => self.fail(format!("float {text} out of range")),
        }
    }

    fn integer(&self, text: &str, radix: u32) -> Result<Term, ParseError> {
        BigInt::from_str_radix(text, radix)
            .map(Term::from_bigint)
            .map_err(|_| ParseError {
                at: self.pos,
                message: format!("bad integer {text}"),
            })
    }

    /// `<<Seg, …>>` where a segment is an integer, character or string, with an optional
    /// `:Size` in bits and an optional `/utf8` (strings and characters) type.
    fn binary(&mut self) -> Result<Term, ParseError> {
        let mut bits = BitWriter::default();
        if self.eat(">>") {
            return Ok(Term::Binary(Bytes::new()));
        }
        loop {
            self.skip_space();
            let values: Vec<(BigInt, bool)> = match self.peek() {
                Some('"') => self
                    .strings()?
                    .into_iter()
                    .map(|c| (BigInt::from(c), true))
                    .collect(),
                Some('$') => vec![(BigInt::from(self.char_literal()?), true)],
                _ => match self.number()? {
                    Term::Integer(i) => vec![(BigInt::from(i), false)],
                    Term::BigInt(b) => vec![(b, false)],
                    _ => return self.fail("only integers, characters and strings in a binary"),
                },
            };
            let size = if self.eat(":") {
                self.skip_space();
                let digits = self.digits(10);
                let size = digits
                    .parse::<u64>()
                    .map_err(|_| self.error("a segment size"))?;
                if size > MAX_SEGMENT_BITS {
                    return self.fail(format!(
                        "segment of {size} bits (at most {MAX_SEGMENT_BITS} in text)"
                    ));
                }
                Some(size)
            } else {
                None
            };
            let utf8 = if self.eat("/") {
                self.skip_space();
                let start = self.pos;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
                {
                    self.pos += 1;
                }
                match &self.text[start..self.pos] {
                    "utf8" => true,
                    "integer" | "latin1" => false,
                    other => return self.fail(format!("segment type {other} (utf8 or integer)")),
                }
            } else {
                false
            };
            // What this segment builds, counted before it is built: bits per value (a UTF-8
            // character takes up to 32), for all its values, added to the text's other binaries.
            let each = if utf8 { 32 } else { size.unwrap_or(8) };
            let asked = each.saturating_mul(values.len() as u64);
            self.binary_bits = self.binary_bits.saturating_add(asked);
            if self.binary_bits > MAX_BINARY_BITS {
                return self.fail(format!(
                    "binaries of more than {} MiB in one text",
                    MAX_BINARY_BITS / 8 / (1 << 20)
                ));
            }
            for (value, is_char) in values {
                if utf8 {
                    let c = value
                        .try_into()
                        .ok()
                        .and_then(char::from_u32)
                        .filter(|_| is_char || size.is_none());
                    let Some(c) = c else {
                        return self.fail("bad utf8 segment");
                    };
                    let mut buf = [0u8; 4];
                    for byte in c.encode_utf8(&mut buf).bytes() {
                        bits.push(&BigInt::from(byte), 8);
                    }
                } else {
                    bits.push(&value, size.unwrap_or(8));
                }
            }
            if self.eat(",") {
                continue;
            }
            self.expect(">>")?;
            return Ok(bits.finish());
        }
    }
}

/// The largest segment a binary in term text may have, in bits (16 MiB): larger ones are typos
/// or attacks, and would take that much memory to build.
const MAX_SEGMENT_BITS: u64 = 1 << 27;

/// The most all the binaries of one text may hold together, in bits (64 MiB): without it,
/// `<<0:134217728,0:134217728,...>>` built 16 MiB for every 15 bytes of text (security
/// review of 2026-12-07, 0.8c), and a node's shell parses what a cookie holder types.
pub const MAX_BINARY_BITS: u64 = 1 << 29;

/// Packs integer segments big-endian, as the bit syntax does.
#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    bits: u64,
}

impl BitWriter {
    /// Appends the low `size` bits of `value` (two's complement), most significant first.
    fn push(&mut self, value: &BigInt, size: u64) {
        // Above its significant bits a value is all sign bits: write those in bulk.
        let significant = value.bits() + 1;
        let fill = size.saturating_sub(significant);
        self.fill(fill, value.sign() == num_bigint::Sign::Minus);
        for i in (0..size - fill).rev() {
            self.bit(value.bit(i));
        }
    }

    fn bit(&mut self, one: bool) {
        if self.bits.is_multiple_of(8) {
            self.bytes.push(0);
        }
        if one {
            if let Some(last) = self.bytes.last_mut() {
                *last |= 0x80 >> (self.bits % 8);
            }
        }
        self.bits += 1;
    }

    /// `n` copies of one bit value.
    fn fill(&mut self, mut n: u64, one: bool) {
        while n > 0 && !self.bits.is_multiple_of(8) {
            self.bit(one);
            n -= 1;
        }
        let whole = (n / 8) as usize;
        self.bytes
            .resize(self.bytes.len() + whole, if one { 0xff } else { 0 });
        self.bits += whole as u64 * 8;
        for _ in 0..n % 8 {
            self.bit(one);
        }
    }

    fn finish(self) -> Term {
        match BitBinary::new(self.bytes.clone(), (self.bits % 8) as u8) {
            Some(b) => Term::BitBinary(b),
            None => Term::Binary(self.bytes.into()),
        }
    }
}
