//! A process in a dashboard path: `0.N.S`, as `pid_to_list/1` prints a node's own pid
//! (`<0.N.S>`) without the brackets. Paths are only ever built from a pid's numbers, and a
//! path is read as digits only: nothing a URL or a remote node says goes into a page as it was
//! said (a hostile node may answer `erlang:list_to_pid/1` with any pid).

use std::fmt;

/// A node's own process, by its number and serial (`<0.N.S>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PidPath {
    id: u32,
    serial: u32,
}

impl PidPath {
    /// `0.N.S` or `<0.N.S>` (digits only, the node part `0`), else `None`.
    pub(crate) fn parse(text: &str) -> Option<PidPath> {
        let text = text
            .strip_prefix('<')
            .and_then(|t| t.strip_suffix('>'))
            .unwrap_or(text);
        let mut parts = text.split('.');
        let number = |part: Option<&str>| {
            part.filter(|p| !p.is_empty() && p.len() <= 10 && p.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|p| p.parse::<u32>().ok())
        };
        let (node, id, serial) = (
            number(parts.next())?,
            number(parts.next())?,
            number(parts.next())?,
        );
        (node == 0 && parts.next().is_none()).then_some(PidPath { id, serial })
    }

    /// The path of `pid` (whichever node it is on: the dashboard asks that node about it).
    pub(crate) fn of(pid: &etf::Pid) -> PidPath {
        PidPath {
            id: pid.id,
            serial: pid.serial,
        }
    }

    /// `<0.N.S>`, as the node prints it (and `erlang:list_to_pid/1` reads it).
    pub(crate) fn text(self) -> String {
        format!("<{self}>")
    }
}

impl fmt::Display for PidPath {
    /// `0.N.S`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0.{}.{}", self.id, self.serial)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_only_and_the_node_part_zero() {
        let p = PidPath::parse("0.85.2").expect("a pid");
        assert_eq!(
            (p.to_string(), p.text()),
            ("0.85.2".into(), "<0.85.2>".into())
        );
        assert_eq!(PidPath::parse("<0.85.2>"), Some(p));
        for junk in [
            "",
            "0.85",
            "0.85.2.1",
            "1.85.2",
            "0.85.2\"><script>alert(1)</script>",
            "0.-1.2",
            "0.+1.2",
            "0. 1.2",
            "0.99999999999.0",
            "<0.85.2",
            "0..2",
        ] {
            assert_eq!(PidPath::parse(junk), None, "{junk}");
        }
    }
}
