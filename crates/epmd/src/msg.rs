//! EPMD requests and replies as they travel (`erl_dist_protocol.xml`, "EPMD Protocol"; request
//! codes from `erts/epmd/src/epmd.h`). Every request is sent as a 2-byte big-endian length and
//! the request; replies are not length-prefixed.
//!
//! ```
//! use rotp_epmd::msg::{parse_names_reply, parse_port2_reply, Alive2Reply, Request, PORT_PLEASE2_REQ};
//!
//! // `PORT_PLEASE2_REQ` for `drip`: a 2-byte length, the code, the name.
//! let bytes = Request::Port2(b"drip".to_vec()).encode()?;
//! assert_eq!(bytes, [&[0, 5, PORT_PLEASE2_REQ][..], b"drip"].concat());
//!
//! // The daemon's answers: `drip` is unknown (`PORT2_RESP`, result 1) ...
//! assert_eq!(parse_port2_reply(&[119, 1])?, None);
//! // ... a registration accepted with creation 3 (`ALIVE2_X_RESP`) ...
//! let (reply, used) = Alive2Reply::parse(&[118, 0, 0, 0, 0, 3])?.expect("a whole reply");
//! assert_eq!((reply.result, reply.creation, used), (0, 3, 6));
//! // ... and `epmd -names`' text after EPMD's own port.
//! let (port, text) = parse_names_reply(b"\0\0\x11\x11name drip at port 45000\n")?;
//! assert_eq!((port, text), (4369, &b"name drip at port 45000\n"[..]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use thiserror::Error;

/// `ALIVE2_REQ`: a node registers its name and distribution port.
pub const ALIVE2_REQ: u8 = 120;
/// `ALIVE2_X_RESP`: reply to `ALIVE2_REQ` with a 32-bit creation (highest version >= 6).
pub const ALIVE2_X_RESP: u8 = 118;
/// `ALIVE2_RESP`: reply to `ALIVE2_REQ` with a 16-bit creation (older nodes).
pub const ALIVE2_RESP: u8 = 121;
/// `PORT_PLEASE2_REQ`: where does this node listen?
pub const PORT_PLEASE2_REQ: u8 = 122;
/// `PORT2_RESP`: reply to `PORT_PLEASE2_REQ`.
pub const PORT2_RESP: u8 = 119;
/// `NAMES_REQ`: list registered names.
pub const NAMES_REQ: u8 = 110;
/// `DUMP_REQ`: list registered and remembered names with their sockets (debugging).
pub const DUMP_REQ: u8 = 100;
/// `KILL_REQ`: stop the daemon.
pub const KILL_REQ: u8 = 107;
/// `STOP_REQ`: forcibly unregister a name.
pub const STOP_REQ: u8 = 115;

/// What a node tells EPMD about itself, and what EPMD tells others (`ALIVE2_REQ`, `PORT2_RESP`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    /// The node's distribution listen port.
    pub port: u16,
    /// 77 (`M`) for a normal node, 72 (`H`) for a hidden one.
    pub node_type: u8,
    /// 0 for TCP/IPv4.
    pub protocol: u8,
    /// The highest distribution version the node speaks (6 since OTP 23).
    pub highest_version: u16,
    /// The lowest distribution version the node speaks.
    pub lowest_version: u16,
    /// The node's name without `@host`, UTF-8.
    pub name: Vec<u8>,
    /// Extra data, opaque to EPMD.
    pub extra: Vec<u8>,
}

impl NodeInfo {
    /// A normal node speaking distribution versions 5 to 6, as OTP 25 registers.
    pub fn new(name: &str, port: u16) -> NodeInfo {
        NodeInfo {
            port,
            node_type: 77,
            protocol: 0,
            highest_version: 6,
            lowest_version: 5,
            name: name.as_bytes().to_vec(),
            extra: Vec::new(),
        }
    }

    /// The fields after the request or result byte, as both `ALIVE2_REQ` and `PORT2_RESP`
    /// lay them out; a name or extra data too long for its 16-bit length is an error.
    fn put(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(&self.port.to_be_bytes());
        out.push(self.node_type);
        out.push(self.protocol);
        out.extend_from_slice(&self.highest_version.to_be_bytes());
        out.extend_from_slice(&self.lowest_version.to_be_bytes());
        out.extend_from_slice(&length("node name", self.name.len())?.to_be_bytes());
        out.extend_from_slice(&self.name);
        out.extend_from_slice(&length("extra data", self.extra.len())?.to_be_bytes());
        out.extend_from_slice(&self.extra);
        Ok(())
    }

    /// Parses the fields `put` writes; `None` when lengths run past the end.
    pub(crate) fn parse(b: &[u8]) -> Option<NodeInfo> {
        let u16_at = |at: usize| Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]));
        let name_len = usize::from(u16_at(8)?);
        let name = b.get(10..10 + name_len)?.to_vec();
        let extra_len = usize::from(u16_at(10 + name_len)?);
        let extra = b.get(12 + name_len..12 + name_len + extra_len)?.to_vec();
        Some(NodeInfo {
            port: u16_at(0)?,
            node_type: *b.get(2)?,
            protocol: *b.get(3)?,
            highest_version: u16_at(4)?,
            lowest_version: u16_at(6)?,
            name,
            extra,
        })
    }
}

/// A request a client sends.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// `ALIVE2_REQ`.
    Alive2(NodeInfo),
    /// `PORT_PLEASE2_REQ` for a name.
    #[doc(alias = "PORT_PLEASE2_REQ")]
    Port2(Vec<u8>),
    /// `NAMES_REQ`.
    Names,
    /// `DUMP_REQ`.
    Dump,
    /// `KILL_REQ`.
    Kill,
    /// `STOP_REQ` for a name.
    Stop(Vec<u8>),
}

impl Request {
    /// The request with its 2-byte length prefix, ready to write; a request whose name (or
    /// the whole request) does not fit its 16-bit length is an error, not a truncated length.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut body = Vec::new();
        match self {
            Request::Alive2(info) => {
                body.push(ALIVE2_REQ);
                info.put(&mut body)?;
            }
            Request::Port2(name) => {
                body.push(PORT_PLEASE2_REQ);
                body.extend_from_slice(name);
            }
            Request::Names => body.push(NAMES_REQ),
            Request::Dump => body.push(DUMP_REQ),
            Request::Kill => body.push(KILL_REQ),
            Request::Stop(name) => {
                body.push(STOP_REQ);
                body.extend_from_slice(name);
            }
        }
        let mut out = length("request", body.len())?.to_be_bytes().to_vec();
        out.extend(body);
        Ok(out)
    }
}

/// A request or reply that EPMD's 16-bit lengths cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A field (or the whole request) is longer than 65535 bytes.
    #[error("the {what} is {len} bytes long; EPMD's 16-bit lengths carry at most 65535")]
    TooLong {
        /// What is too long: `node name`, `extra data`, `request`.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
    },
}

/// `len` as a 16-bit length, or [`EncodeError::TooLong`].
fn length(what: &'static str, len: usize) -> Result<u16, EncodeError> {
    u16::try_from(len).map_err(|_| EncodeError::TooLong { what, len })
}

/// A reply that does not parse as the request's reply.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// Fewer bytes than the reply needs.
    #[error("EPMD reply truncated")]
    Truncated,
    /// The first byte is not the reply code expected.
    #[error("unexpected EPMD reply code {0}")]
    UnexpectedCode(u8),
}

/// The reply to `ALIVE2_REQ`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alive2Reply {
    /// 0 when registered; anything else is a refusal (the name is taken, or invalid).
    pub result: u8,
    /// The creation the node must put in its pids, ports and references.
    pub creation: u32,
}

impl Alive2Reply {
    /// Parses `ALIVE2_X_RESP` (6 bytes) or `ALIVE2_RESP` (4 bytes). Returns the reply and the
    /// bytes it used, or `Ok(None)` when more bytes are needed.
    pub fn parse(b: &[u8]) -> Result<Option<(Alive2Reply, usize)>, ReplyError> {
        let (len, wide) = match b.first() {
            None => return Ok(None),
            Some(&ALIVE2_X_RESP) => (6, true),
            Some(&ALIVE2_RESP) => (4, false),
            Some(&code) => return Err(ReplyError::UnexpectedCode(code)),
        };
        if b.len() < len {
            return Ok(None);
        }
        let creation = if wide {
            u32::from_be_bytes([b[2], b[3], b[4], b[5]])
        } else {
            u32::from(u16::from_be_bytes([b[2], b[3]]))
        };
        Ok(Some((
            Alive2Reply {
                result: b[1],
                creation,
            },
            len,
        )))
    }

    /// The reply as the daemon writes it: `ALIVE2_X_RESP` for nodes speaking version 6 or
    /// later, `ALIVE2_RESP` for older ones.
    pub fn encode(&self, highest_version: u16) -> Vec<u8> {
        if highest_version >= 6 {
            let mut out = vec![ALIVE2_X_RESP, self.result];
            out.extend_from_slice(&self.creation.to_be_bytes());
            out
        } else {
            let mut out = vec![ALIVE2_RESP, self.result];
            out.extend_from_slice(&(self.creation as u16).to_be_bytes());
            out
        }
    }
}

/// Parses a complete `PORT2_RESP` (the daemon closes the connection after it): `Ok(None)` when
/// the name is not registered.
pub fn parse_port2_reply(b: &[u8]) -> Result<Option<NodeInfo>, ReplyError> {
    match b {
        [] | [PORT2_RESP] => Err(ReplyError::Truncated),
        [PORT2_RESP, 0, rest @ ..] => NodeInfo::parse(rest).map(Some).ok_or(ReplyError::Truncated),
        [PORT2_RESP, _, ..] => Ok(None),
        [code, ..] => Err(ReplyError::UnexpectedCode(*code)),
    }
}

/// Encodes `PORT2_RESP`: the node's details, or result 1 when the name is unknown.
pub fn encode_port2_reply(node: Option<&NodeInfo>) -> Result<Vec<u8>, EncodeError> {
    Ok(match node {
        Some(info) => {
            let mut out = vec![PORT2_RESP, 0];
            info.put(&mut out)?;
            out
        }
        None => vec![PORT2_RESP, 1],
    })
}

/// Parses a complete `NAMES_REQ` or `DUMP_REQ` reply: EPMD's own port, then text.
pub fn parse_names_reply(b: &[u8]) -> Result<(u32, &[u8]), ReplyError> {
    match b {
        [a, b2, c, d, rest @ ..] => Ok((u32::from_be_bytes([*a, *b2, *c, *d]), rest)),
        _ => Err(ReplyError::Truncated),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alive2_request_layout_matches_the_protocol_doc() {
        let req = Request::Alive2(NodeInfo::new("ab", 0x1234)).encode();
        assert_eq!(
            req.unwrap(),
            [0, 15, 120, 0x12, 0x34, 77, 0, 0, 6, 0, 5, 0, 2, b'a', b'b', 0, 0]
        );
        assert_eq!(
            Request::Port2(b"ab".to_vec()).encode().unwrap(),
            [0, 3, 122, b'a', b'b']
        );
        assert_eq!(Request::Names.encode().unwrap(), [0, 1, 110]);
    }

    /// Security review 2026-12-07, 0.8b: a 70 000-byte name went out with its lengths
    /// truncated to 16 bits, and EPMD read the rest of it as another request.
    #[test]
    fn names_too_long_for_16_bit_lengths_are_errors() {
        let long = "n".repeat(70_000);
        assert_eq!(
            Request::Alive2(NodeInfo::new(&long, 1)).encode(),
            Err(EncodeError::TooLong {
                what: "node name",
                len: 70_000
            })
        );
        let mut info = NodeInfo::new("n", 1);
        info.extra = vec![0; 65_536];
        assert_eq!(
            encode_port2_reply(Some(&info)),
            Err(EncodeError::TooLong {
                what: "extra data",
                len: 65_536
            })
        );
        // A name that fits its own length but not the request's.
        assert_eq!(
            Request::Port2(vec![b'n'; 65_535]).encode(),
            Err(EncodeError::TooLong {
                what: "request",
                len: 65_536
            })
        );
        assert_eq!(
            Request::Stop(vec![b'n'; 65_534]).encode().map(|b| b.len()),
            Ok(65_537)
        );
    }

    #[test]
    fn port2_reply_round_trips() {
        let mut info = NodeInfo::new("n", 5555);
        info.extra = b"x".to_vec();
        let bytes = encode_port2_reply(Some(&info)).unwrap();
        assert_eq!(parse_port2_reply(&bytes), Ok(Some(info)));
        assert_eq!(parse_port2_reply(&[119, 1]), Ok(None));
        assert_eq!(parse_port2_reply(&[119, 0, 1]), Err(ReplyError::Truncated));
    }
}
