//! `~p`: `io_lib_pretty:print/2` of OTP 25 (`lib/stdlib/src/io_lib_pretty.erl`) as
//! `io:format("~p", [Term])` calls it at the start of a line: column 1, lines of 80, no depth
//! or character limit, latin-1 strings (`+pc latin1`, the default).
//!
//! A term that fits on the line prints as `~w` does, except that lists of printable latin-1
//! characters print as strings and printable binaries as `<<"text">>`. A longer one is broken
//! over lines as OTP breaks it. OTP works in two passes, and so does this module: the first
//! ([`Node::of`]) measures every subterm as it would print on one line; the second lays the
//! measured tree out. Lists and tuples put one element per line, aligned after the bracket,
//! except that runs of short elements that are not themselves broken share a line; a tuple
//! whose first element is an atom (a *tagged* tuple) keeps the tag on the opening line; a map
//! association too long for its line puts its value on the next line, indented. Before laying
//! out, OTP picks one indentation for what follows a tag ("`TInd`"): none (align after the tag)
//! if every tag leaves room, else 4, else 1.
//!
//! The rules live in the comparisons below; `tests/erl_roundtrip.rs` (`pretty_prints_as_erl_p`)
//! checks them against a real `erl`, term by term.

use crate::term::{Map, Term};

/// Where `io:format` starts a `~p` at the beginning of a line.
const COLUMN: isize = 1;
/// `io_lib_format`'s default field width for `~p`.
const LINE_LENGTH: isize = 80;

/// The term as `io:format("~p", [Term])` prints it at the start of a line: on one line when
/// it fits in 80 columns, else broken over lines as `io_lib_pretty` breaks it.
pub fn pretty(term: &Term) -> String {
    match term {
        Term::Tuple(_)
        | Term::List(_)
        | Term::ImproperList(..)
        | Term::Map(_)
        | Term::Binary(_)
        | Term::BitBinary(_) => {}
        other => return other.to_string(),
    }
    let node = Node::of(term);
    let mut out = String::new();
    // `line_max_chars` is unset, so OTP uses the whole term's length in its place.
    let width = node.len;
    if node.len < LINE_LENGTH - COLUMN {
        node.write(&mut out);
        return out;
    }
    let tag_indent = [-1, 4]
        .into_iter()
        .find(|&i| {
            let layout = Layout {
                width,
                tag_indent: i,
            };
            layout.check(&node, COLUMN, 0, 0)
        })
        .unwrap_or(1);
    let layout = Layout { width, tag_indent };
    layout.pp(&mut out, &node, COLUMN, (COLUMN - 1) as usize, 0, 0);
    out
}

/// A subterm measured: its shape and its length on one line, in characters.
#[derive(Debug)]
struct Node {
    shape: Shape,
    len: isize,
}

#[derive(Debug)]
enum Shape {
    /// Printed as it is, never broken: atoms, numbers, strings, printable binaries, pids, empty
    /// containers. Only these may share a line inside a broken container.
    Text(String),
    /// A binary that is not printable, as its byte values (a last `Value:Bits` for a
    /// bitstring): broken into lines of numbers.
    Bin(Vec<String>),
    /// A list's elements and, for an improper list, its tail.
    List(Vec<Node>, Option<Box<Node>>),
    /// A tuple, and whether it is tagged (an atom first, and more elements after it).
    Tuple(bool, Vec<Node>),
    /// A map's associations, each a [`Shape::Pair`].
    Map(Vec<Node>),
    /// `Key => Value`.
    Pair(Box<Node>, Box<Node>),
}

impl Node {
    /// The first pass (`print_length/6`): every subterm with its one-line length.
    fn of(term: &Term) -> Node {
        match term {
            Term::List(items) if items.is_empty() => Node::text("[]".to_owned()),
            Term::Tuple(items) if items.is_empty() => Node::text("{}".to_owned()),
            Term::Map(map) if map.is_empty() => Node::text("#{}".to_owned()),
            Term::List(items) => match string(items) {
                Some(s) => Node::text(s),
                None => Node::list(items, None),
            },
            Term::ImproperList(items, tail) => Node::list(items, Some(tail)),
            Term::Tuple(items) => {
                let tagged = items.len() > 1 && matches!(items[0], Term::Atom(_));
                let items: Vec<Node> = items.iter().map(Node::of).collect();
                let len = seq_len(&items, 2);
                Node {
                    shape: Shape::Tuple(tagged, items),
                    len,
                }
            }
            Term::Map(map) => Node::map(map),
            Term::Binary(bytes) if bytes.is_empty() => Node::text("<<>>".to_owned()),
            Term::Binary(bytes) if bytes.iter().all(|b| printable(u32::from(*b))) => {
                let mut s = String::from("<<");
                quoted(&mut s, bytes.iter().map(|b| char::from(*b)));
                s.push_str(">>");
                Node::text(s)
            }
            Term::Binary(bytes) => Node::bin(bytes.iter().map(u8::to_string).collect()),
            Term::BitBinary(b) => {
                let (whole, last) = b.bytes().split_at(b.bytes().len() - 1);
                let bits = b.last_bits();
                let mut tokens: Vec<String> = whole.iter().map(u8::to_string).collect();
                tokens.push(format!("{}:{bits}", last[0] >> (8 - bits)));
                Node::bin(tokens)
            }
            other => Node::text(other.to_string()),
        }
    }

    fn text(s: String) -> Node {
        let len = s.chars().count() as isize;
        Node {
            shape: Shape::Text(s),
            len,
        }
    }

    fn bin(tokens: Vec<String>) -> Node {
        // `<<`, `>>`, the numbers and the commas between them.
        let len = 4 + tokens.iter().map(|t| t.len() as isize + 1).sum::<isize>() - 1;
        Node {
            shape: Shape::Bin(tokens),
            len,
        }
    }

    fn list(items: &[Term], tail: Option<&Term>) -> Node {
        let items: Vec<Node> = items.iter().map(Node::of).collect();
        let tail = tail.map(|t| Box::new(Node::of(t)));
        let len = seq_len(&items, 2) + tail.as_ref().map_or(0, |t| 1 + t.len);
        Node {
            shape: Shape::List(items, tail),
            len,
        }
    }

    fn map(map: &Map) -> Node {
        let pairs: Vec<Node> = map
            .iter()
            .map(|(k, v)| {
                let (k, v) = (Node::of(k), Node::of(v));
                let len = k.len + 4 + v.len;
                Node {
                    shape: Shape::Pair(Box::new(k), Box::new(v)),
                    len,
                }
            })
            .collect();
        let len = seq_len(&pairs, 3);
        Node {
            shape: Shape::Map(pairs),
            len,
        }
    }

    /// Text that may share a line with its neighbours (OTP's `?ATM`).
    fn is_text(&self) -> bool {
        matches!(self.shape, Shape::Text(_))
    }

    /// An association whose key and value are both text (`?ATM_PAIR`).
    fn is_text_pair(&self) -> bool {
        matches!(&self.shape, Shape::Pair(k, v) if k.is_text() && v.is_text())
    }

    /// The node on one line.
    fn write(&self, out: &mut String) {
        match &self.shape {
            Shape::Text(s) => out.push_str(s),
            Shape::Bin(tokens) => {
                out.push_str("<<");
                out.push_str(&tokens.join(","));
                out.push_str(">>");
            }
            Shape::List(items, tail) => {
                out.push('[');
                write_seq(out, items);
                if let Some(tail) = tail {
                    out.push('|');
                    tail.write(out);
                }
                out.push(']');
            }
            Shape::Tuple(_, items) => {
                out.push('{');
                write_seq(out, items);
                out.push('}');
            }
            Shape::Map(pairs) => {
                out.push_str("#{");
                write_seq(out, pairs);
                out.push('}');
            }
            Shape::Pair(k, v) => {
                k.write(out);
                out.push_str(" => ");
                v.write(out);
            }
        }
    }
}

/// Length of `open`ing and closing brackets around `items` separated by commas.
fn seq_len(items: &[Node], brackets: isize) -> isize {
    brackets + items.iter().map(|n| n.len).sum::<isize>() + (items.len() as isize - 1).max(0)
}

fn write_seq(out: &mut String, items: &[Node]) {
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        item.write(out);
    }
}

/// The closing brackets that follow an element on its line: none when more elements follow,
/// else the enclosing container's and its own (`last_depth/2`).
fn last_depth(more_follow: bool, depth: isize) -> isize {
    if more_follow {
        0
    } else {
        depth + 1
    }
}

/// The second pass: the whole term's length (standing in for `line_max_chars`) and the
/// indentation after tags.
struct Layout {
    width: isize,
    tag_indent: isize,
}

/// Spaces to start a continuation line with.
fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

impl Layout {
    /// Whether `node` fits on the line at `col`, with `depth` closing brackets after it and
    /// `written` characters already on the line.
    fn fits(&self, node: &Node, col: isize, depth: isize, written: isize) -> bool {
        node.len < LINE_LENGTH - col - depth && node.len + written + depth <= self.width
    }

    /// Whether the next element (length `elen`, its comma included) joins the current line.
    fn joins(&self, node: &Node, col: isize, depth: isize, written: isize) -> bool {
        let elen = 1 + node.len;
        if depth == 0 {
            elen + 1 < LINE_LENGTH - col && written + elen < self.width
        } else {
            elen < LINE_LENGTH - col - depth && written + elen + depth <= self.width
        }
    }

    /// Lays `node` out from column `col`; continuation lines start with `ind` spaces (`pp/8`).
    fn pp(&self, out: &mut String, node: &Node, col: isize, ind: usize, depth: isize, w: isize) {
        if self.fits(node, col, depth, w) {
            node.write(out);
            return;
        }
        match &node.shape {
            Shape::List(items, tail) => {
                out.push('[');
                self.pp_list(
                    out,
                    items,
                    tail.as_deref(),
                    col + 1,
                    ind + 1,
                    depth,
                    '|',
                    w + 1,
                );
                out.push(']');
            }
            Shape::Tuple(true, items) => {
                out.push('{');
                self.pp_tagged(out, items, col, ind, depth, w + 1);
                out.push('}');
            }
            Shape::Tuple(false, items) => {
                out.push('{');
                self.pp_list(out, items, None, col + 1, ind + 1, depth, ',', w + 1);
                out.push('}');
            }
            Shape::Map(pairs) => {
                out.push_str("#{");
                self.pp_map(out, pairs, col + 2, ind + 2, depth, w + 1);
                out.push('}');
            }
            Shape::Bin(tokens) => self.pp_binary(out, tokens, col + 2, ind + 2, depth, w),
            Shape::Text(_) | Shape::Pair(..) => node.write(out),
        }
    }

    /// A tagged tuple's tag, then the rest aligned after it or on the next line (`TInd`).
    fn pp_tagged(
        &self,
        out: &mut String,
        items: &[Node],
        col: isize,
        ind: usize,
        depth: isize,
        w: isize,
    ) {
        let (tag, rest) = (&items[0], &items[1..]);
        let tag_ind = tag.len + 2;
        let tag_col = col + tag_ind;
        tag.write(out);
        if self.tag_indent > 0 && tag_ind > self.tag_indent {
            let ind = ind + self.tag_indent as usize;
            self.pp_tail(
                out,
                rest,
                None,
                col + self.tag_indent,
                tag_col,
                ind,
                depth,
                ',',
                w + tag.len,
            );
        } else {
            out.push(',');
            let ind = ind + tag_ind as usize;
            self.pp_list(out, rest, None, tag_col, ind, depth, ',', w + tag.len + 1);
        }
    }

    /// A list or tuple's elements from column `col0` (`pp_list/9`).
    #[allow(clippy::too_many_arguments)]
    fn pp_list(
        &self,
        out: &mut String,
        items: &[Node],
        tail: Option<&Node>,
        col0: isize,
        ind: usize,
        depth: isize,
        sep: char,
        w: isize,
    ) {
        let Some((first, rest)) = items.split_first() else {
            return;
        };
        let width = self.pp_element(
            out,
            first,
            col0,
            ind,
            last_depth(!rest.is_empty(), depth),
            w,
        );
        self.pp_tail(
            out,
            rest,
            tail,
            col0,
            col0 + width,
            ind,
            depth,
            sep,
            w + width,
        );
    }

    /// The elements after the first: each joins the line if it is text and fits, else starts
    /// a new one (`pp_tail/10`).
    #[allow(clippy::too_many_arguments)]
    fn pp_tail(
        &self,
        out: &mut String,
        items: &[Node],
        tail: Option<&Node>,
        col0: isize,
        col: isize,
        ind: usize,
        depth: isize,
        sep: char,
        w: isize,
    ) {
        let run = self.run(items, Node::is_text, col0, col, depth, w, |item, broken| {
            out.push(',');
            Some(match broken {
                None => {
                    item.write(out);
                    item.len
                }
                Some(d) => {
                    out.push('\n');
                    indent(out, ind);
                    self.pp_element(out, item, col0, ind, d, 0)
                }
            })
        });
        let (col, w) = run.unwrap_or((col, w));
        if let Some(tail) = tail {
            out.push(sep);
            let d = depth + 1;
            if tail.is_text()
                && tail.len + 1 < LINE_LENGTH - col - d
                && tail.len + 1 + w + d <= self.width
            {
                tail.write(out);
            } else {
                out.push('\n');
                indent(out, ind);
                self.pp(out, tail, col0, ind, d, 0);
            }
        }
    }

    /// One element; its width on the line, or the whole line when it was broken or is not
    /// text, so that the next element starts a new line (`pp_element/8`).
    fn pp_element(
        &self,
        out: &mut String,
        node: &Node,
        col: isize,
        ind: usize,
        depth: isize,
        w: isize,
    ) -> isize {
        if node.is_text() && self.fits(node, col, depth, w) {
            node.write(out);
            node.len
        } else {
            self.pp(out, node, col, ind, depth, w);
            LINE_LENGTH
        }
    }

    /// A map's associations (`pp_map/8`).
    fn pp_map(
        &self,
        out: &mut String,
        pairs: &[Node],
        col: isize,
        ind: usize,
        depth: isize,
        w: isize,
    ) {
        let Some((first, rest)) = pairs.split_first() else {
            return;
        };
        let width = self.pp_pair(out, first, col, ind, last_depth(!rest.is_empty(), depth), w);
        // OTP carries the first pair's width alone, not the line so far, into the rest.
        self.run(
            rest,
            Node::is_text_pair,
            col,
            col + width,
            depth,
            width,
            |pair, broken| {
                out.push(',');
                Some(match broken {
                    None => {
                        pair.write(out);
                        pair.len
                    }
                    Some(d) => {
                        out.push('\n');
                        indent(out, ind);
                        self.pp_pair(out, pair, col, ind, d, 0)
                    }
                })
            },
        );
    }

    /// The elements after a container's first (`pp_tail/10`, `pp_pairs_tail/9` and their dry
    /// runs): each joins the current line if `shares` allows and it fits, else starts a new
    /// line at `col0`. `put` prints or checks one, told the closing depth when it starts a
    /// line, and gives its width (`None`: the dry run failed). The column and line width
    /// where the run ends.
    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        items: &[Node],
        shares: fn(&Node) -> bool,
        col0: isize,
        mut col: isize,
        depth: isize,
        mut w: isize,
        mut put: impl FnMut(&Node, Option<isize>) -> Option<isize>,
    ) -> Option<(isize, isize)> {
        for (n, item) in items.iter().enumerate() {
            let d = last_depth(n + 1 < items.len(), depth);
            if shares(item) && self.joins(item, col, d, w) {
                put(item, None)?;
                col += 1 + item.len;
                w += 1 + item.len;
            } else {
                let width = put(item, Some(d))?;
                col = col0 + width;
                w = width;
            }
        }
        Some((col, w))
    }

    /// One association: on its line if it fits, else the value on the next line, indented by
    /// `TInd` (or 4) (`pp_pair/8`).
    fn pp_pair(
        &self,
        out: &mut String,
        pair: &Node,
        col: isize,
        ind: usize,
        depth: isize,
        w: isize,
    ) -> isize {
        let Shape::Pair(k, v) = &pair.shape else {
            pair.write(out);
            return LINE_LENGTH;
        };
        if self.fits(pair, col, depth, w) {
            pair.write(out);
            return if pair.is_text_pair() {
                pair.len
            } else {
                LINE_LENGTH
            };
        }
        let i = self.value_indent();
        self.pp(out, k, col, ind, depth, w);
        out.push_str(" =>\n");
        indent(out, ind + i as usize);
        self.pp(out, v, col + i, ind + i as usize, depth, 0);
        LINE_LENGTH
    }

    fn value_indent(&self) -> isize {
        if self.tag_indent > 0 {
            self.tag_indent
        } else {
            4
        }
    }

    /// A binary's numbers, as many per line as fit in `n` columns (`pp_binary/7`).
    fn pp_binary(
        &self,
        out: &mut String,
        tokens: &[String],
        col: isize,
        ind: usize,
        depth: isize,
        w: isize,
    ) {
        let n0 = 8.max((LINE_LENGTH - col).min(self.width - 4 - w) - depth);
        let mut n = n0;
        out.push_str("<<");
        for (i, token) in tokens.iter().enumerate() {
            let len = token.len() as isize;
            if i + 1 < tokens.len() {
                if n - (len + 1) < 0 {
                    out.push('\n');
                    indent(out, ind);
                    n = n0 - (len + 1);
                } else {
                    n -= len + 1;
                }
                out.push_str(token);
                out.push(',');
            } else {
                if len > n {
                    out.push('\n');
                    indent(out, ind);
                }
                out.push_str(token);
            }
        }
        out.push_str(">>");
    }

    /// The dry run that decides `TInd` (`cind/7`): false where a tag would push its elements
    /// too far right.
    fn check(&self, node: &Node, col: isize, depth: isize, w: isize) -> bool {
        if self.fits(node, col, depth, w) {
            return true;
        }
        match &node.shape {
            Shape::List(items, tail) => {
                self.check_list(items, tail.as_deref(), col + 1, depth, w + 1)
            }
            Shape::Tuple(false, items) => self.check_list(items, None, col + 1, depth, w + 1),
            Shape::Tuple(true, items) => {
                let (tag, rest) = (&items[0], &items[1..]);
                let tag_ind = tag.len + 2;
                let tag_col = col + tag_ind;
                let i = self.tag_indent;
                if i > 0 && tag_ind > i {
                    let col1 = col + i;
                    (self.width + col1 <= LINE_LENGTH || col1 <= LINE_LENGTH / 2)
                        && self.check_tail(rest, None, col1, tag_col, depth, w + 1 + tag.len)
                } else {
                    (self.width + tag_col < LINE_LENGTH || tag_col < LINE_LENGTH / 2)
                        && self.check_list(rest, None, tag_col, depth, w + 1 + tag.len + 1)
                }
            }
            Shape::Map(pairs) => self.check_map(pairs, col + 2, depth, w + 2),
            Shape::Bin(_) | Shape::Text(_) | Shape::Pair(..) => true,
        }
    }

    fn check_list(
        &self,
        items: &[Node],
        tail: Option<&Node>,
        col0: isize,
        depth: isize,
        w: isize,
    ) -> bool {
        let Some((first, rest)) = items.split_first() else {
            return true;
        };
        let Some(width) = self.check_element(first, col0, last_depth(!rest.is_empty(), depth), w)
        else {
            return false;
        };
        self.check_tail(rest, tail, col0, col0 + width, depth, w + width)
    }

    fn check_tail(
        &self,
        items: &[Node],
        tail: Option<&Node>,
        col0: isize,
        col: isize,
        depth: isize,
        w: isize,
    ) -> bool {
        let run = self.run(
            items,
            Node::is_text,
            col0,
            col,
            depth,
            w,
            |item, broken| match broken {
                None => Some(0),
                Some(d) => self.check_element(item, col0, d, 0),
            },
        );
        let Some((col, w)) = run else {
            return false;
        };
        match tail {
            None => true,
            Some(tail) => {
                let d = depth + 1;
                (tail.is_text()
                    && tail.len + 1 < LINE_LENGTH - col - d
                    && tail.len + 1 + w + d <= self.width)
                    // OTP checks an improper tail from the current column, not the first.
                    || self.check(tail, col, d, 0)
            }
        }
    }

    fn check_element(&self, node: &Node, col: isize, depth: isize, w: isize) -> Option<isize> {
        if node.is_text() && self.fits(node, col, depth, w) {
            Some(node.len)
        } else {
            self.check(node, col, depth, w).then_some(LINE_LENGTH)
        }
    }

    fn check_map(&self, pairs: &[Node], col: isize, depth: isize, w: isize) -> bool {
        let Some((first, rest)) = pairs.split_first() else {
            return true;
        };
        let Some(width) = self.check_pair(first, col, last_depth(!rest.is_empty(), depth), w)
        else {
            return false;
        };
        // Unlike the layout, the dry run carries the line so far.
        self.run(
            rest,
            Node::is_text_pair,
            col,
            col + width,
            depth,
            w + width,
            |pair, broken| match broken {
                None => Some(0),
                Some(d) => self.check_pair(pair, col, d, 0),
            },
        )
        .is_some()
    }

    fn check_pair(&self, pair: &Node, col: isize, depth: isize, w: isize) -> Option<isize> {
        let Shape::Pair(k, v) = &pair.shape else {
            return Some(LINE_LENGTH);
        };
        if self.fits(pair, col, depth, w) {
            return Some(if pair.is_text_pair() {
                pair.len
            } else {
                LINE_LENGTH
            });
        }
        (self.check(k, col, depth, w) && self.check(v, col + self.value_indent(), depth, 0))
            .then_some(LINE_LENGTH)
    }
}

/// The list as a string, if `io_lib:printable_latin1_list/1` says it is one.
fn string(items: &[Term]) -> Option<String> {
    let mut s = String::new();
    let mut chars = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Term::Integer(c) if u32::try_from(*c).is_ok_and(printable) => {
                chars.push(char::from_u32(*c as u32)?);
            }
            _ => return None,
        }
    }
    quoted(&mut s, chars.into_iter());
    Some(s)
}

/// `io_lib:printable_latin1_list/1`'s characters.
fn printable(c: u32) -> bool {
    matches!(c, 32..=126 | 160..=255 | 8..=13 | 27)
}

/// `io_lib:write_latin1_string/2`: in double quotes, with its escapes.
fn quoted(out: &mut String, chars: impl Iterator<Item = char>) {
    out.push('"');
    for c in chars {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{1b}' => out.push_str("\\e"),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod pretty_tests {
    use super::*;

    #[test]
    fn strings_and_printable_binaries_print_as_p_does() {
        // Expected texts from OTP 25's io:format("~p~n", [T]).
        let cases = [
            (
                r#"{ok, "hi\n\"x\"", <<"bin">>, [], <<>>, [1,2], #{a => "s"}, [a|"b"]}"#,
                r#"{ok,"hi\n\"x\"",<<"bin">>,[],<<>>,[1,2],#{a => "s"},[a,98]}"#,
            ),
            ("<<200,1>>", "<<200,1>>"),
            ("[97,256]", "[97,256]"),
        ];
        for (input, expected) in cases {
            let term = crate::text::parse(input).unwrap();
            assert_eq!(pretty(&term), expected, "{input}");
        }
    }
}
