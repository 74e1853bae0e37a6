//! The distribution handshake, version 6 (`HANDSHAKE_23`), as a state machine over bytes: the
//! initiator's `send_name` → `recv_status` → `recv_challenge` → `send_challenge_reply` →
//! `recv_challenge_ack`, and the acceptor's mirror image (`dist_util:handshake_we_started/1`
//! and `handshake_other_started/1`; erl_dist_protocol, "Distribution Handshake"). Every
//! handshake message is framed with a 2-byte length.
//!
//! The driver feeds what it reads with [`Handshake::feed`], writes what
//! [`Handshake::take_output`] returns, and calls [`Handshake::poll`] until it yields
//! [`Event::Established`] or an error. Two decisions belong to the node, not the protocol: who
//! wins a simultaneous connect (the acceptor asks with [`Event::PeerNamed`] and answers with
//! [`Handshake::set_status`]) and whether a half-open old connection still stands (the
//! initiator asks with [`Event::AliveQuery`] and answers with [`Handshake::reply_alive`]).
//!
//! Two nodes shaking hands in memory, each side's output fed to the other:
//!
//! ```
//! use rotp_dist::{Cookie, DistFlags, Event, Handshake, HandshakeConfig, HandshakeError, Status};
//! use etf::Atom;
//!
//! let config = |name: &str, challenge| HandshakeConfig {
//!     name: Atom::from(name),
//!     creation: 1,
//!     flags: DistFlags::DEFAULT,
//!     hidden: false,
//!     required: DistFlags::REQUIRED,
//!     cookie: Cookie::new("secret"),
//!     challenge, // a random number, from the driver
//! };
//! let mut a = Handshake::initiate(config("a@localhost", 7), Atom::from("b@localhost"))?;
//! let mut b = Handshake::accept(config("b@localhost", 9))?;
//!
//! b.feed(&a.take_output()); // send_name
//! let Some(Event::PeerNamed { name, .. }) = b.poll()? else { panic!("a's name") };
//! assert_eq!(name, Atom::from("a@localhost"));
//! b.set_status(Status::Ok)?; // the node's decision: no other connection to a
//! a.feed(&b.take_output()); // status `ok`, then send_challenge
//! assert_eq!(a.poll()?, None); // a answers with its challenge reply
//! b.feed(&a.take_output());
//! let Some(Event::Established(at_b)) = b.poll()? else { panic!("b is connected") };
//! a.feed(&b.take_output()); // send_challenge_ack
//! let Some(Event::Established(at_a)) = a.poll()? else { panic!("a is connected") };
//! assert_eq!((at_a.peer, at_b.peer), (Atom::from("b@localhost"), Atom::from("a@localhost")));
//! assert!(at_a.flags.contains(DistFlags::REQUIRED));
//!
//! // A node that does not know the cookie is refused, as `erl` refuses it.
//! let wrong = HandshakeConfig { cookie: Cookie::new("guess"), ..config("c@localhost", 5) };
//! let mut c = Handshake::initiate(wrong, Atom::from("b@localhost"))?;
//! let mut b = Handshake::accept(config("b@localhost", 9))?;
//! b.feed(&c.take_output());
//! b.poll()?;
//! b.set_status(Status::Ok)?;
//! c.feed(&b.take_output());
//! c.poll()?;
//! b.feed(&c.take_output());
//! let refused = b.poll().unwrap_err();
//! assert!(matches!(refused, HandshakeError::InvalidChallengeReply { .. }));
//! assert_eq!(
//!     refused.to_string(),
//!     "** Connection attempt from node c@localhost rejected. Invalid challenge reply. **"
//! );
//! # Ok::<(), rotp_dist::HandshakeError>(())
//! ```

use etf::Atom;
use thiserror::Error;

use crate::cookie::Cookie;
use crate::flags::DistFlags;

/// Who we are in a handshake.
#[derive(Clone, Debug)]
pub struct HandshakeConfig {
    /// Our node name, `name@host`.
    pub name: Atom,
    /// Our creation, sent in `send_name` and the challenge.
    pub creation: u32,
    /// The flags we offer; `PUBLISHED` is added unless `hidden`.
    pub flags: DistFlags,
    /// A hidden node (`-hidden`): not published to the peer.
    pub hidden: bool,
    /// The flags a peer must offer.
    pub required: DistFlags,
    /// The cookie the peer must prove it knows (`auth:get_cookie(Node)`).
    pub cookie: Cookie,
    /// Our challenge: a random number from the driver.
    pub challenge: u32,
}

impl HandshakeConfig {
    fn offered(&self) -> DistFlags {
        if self.hidden {
            self.flags
        } else {
            self.flags | DistFlags::PUBLISHED
        }
    }
}

/// The acceptor's answer to `send_name` (`dist_util:mark_pending/1`'s statuses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Go on.
    Ok,
    /// Go on: we were connecting to the peer too, and the peer's attempt wins.
    OkSimultaneous,
    /// Stop: we were connecting to the peer too, and our attempt wins.
    Nok,
    /// The peer may not connect.
    NotAllowed,
    /// We already have a connection to the peer: ask whether it is still the peer's.
    Alive,
}

impl Status {
    fn text(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::OkSimultaneous => "ok_simultaneous",
            Status::Nok => "nok",
            Status::NotAllowed => "not_allowed",
            Status::Alive => "alive",
        }
    }
}

/// What the handshake needs from the node, or its result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Acceptor: the peer said who it is. Answer with [`Handshake::set_status`].
    PeerNamed {
        /// The peer's node name.
        name: Atom,
        /// The peer's flags.
        flags: DistFlags,
        /// The peer's creation.
        creation: u32,
    },
    /// Initiator: the acceptor has a connection to us already (`alive`). Answer with
    /// [`Handshake::reply_alive`]: `true` if this attempt should replace it.
    AliveQuery,
    /// The connection is up.
    Established(Established),
}

/// A finished handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Established {
    /// The peer's node name.
    pub peer: Atom,
    /// The peer's creation: in its pids, ports and references.
    pub peer_creation: u32,
    /// The flags both sides use: ours and the peer's (`dist_util:adjust_flags/2`).
    pub flags: DistFlags,
    /// The peer is hidden (did not offer `PUBLISHED`).
    pub peer_hidden: bool,
}

/// Why a handshake failed. The texts are what `erl` logs for the same failure.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// A message that is not what the handshake expects at this point.
    #[error("bad handshake message ({what})")]
    Malformed {
        /// What was wrong.
        what: &'static str,
    },
    /// The peer's digest does not match our challenge: it does not know the cookie.
    #[error("** Connection attempt from node {peer} rejected. Invalid challenge reply. **")]
    InvalidChallengeReply {
        /// The peer.
        peer: Atom,
    },
    /// The acceptor's digest does not match our challenge: it does not know the cookie.
    #[error("** Connection attempt to node {peer} cancelled. Invalid challenge ack. **")]
    InvalidChallengeAck {
        /// The peer.
        peer: Atom,
    },
    /// The peer lacks flags we require.
    #[error("** {us}: Connection attempt {direction} node {peer} {how} since it cannot handle {missing:?}.**")]
    MissingFlags {
        /// Our node.
        us: Atom,
        /// `from` (the peer connected) or `to`.
        direction: &'static str,
        /// The peer.
        peer: Atom,
        /// `rejected` or `aborted`.
        how: &'static str,
        /// The flags it lacks.
        missing: Vec<String>,
    },
    /// The acceptor refused (`nok`, `not_allowed`) or we refused (`nok`, `not_allowed`).
    #[error("connection to {peer} refused: {status}")]
    Refused {
        /// The peer.
        peer: Atom,
        /// The status sent.
        status: &'static str,
    },
    /// Our own node name does not fit the handshake: `send_name` and `send_challenge` carry
    /// it after a 16-bit length, in a message framed with a 16-bit length
    /// (`dist_util:send_name/1`, `send_challenge/2`). Erlang's node names, atoms, are far
    /// shorter (255 characters).
    #[error("our node name is {len} bytes long; a handshake carries at most {max}")]
    NameTooLong {
        /// The name's length in bytes.
        len: usize,
        /// The longest name the handshake's messages carry.
        max: usize,
    },
    /// The challenge came from another node than the one we connected to.
    #[error("connected to {expected} but {got} answered")]
    WrongNode {
        /// The node we wanted.
        expected: Atom,
        /// The node that answered.
        got: String,
    },
}

/// The longest header before the name in the handshake messages that carry it:
/// `send_challenge`'s 'N', Flags:64, Challenge:32, Creation:32, NameLen:16.
const NAME_HEADER: usize = 1 + 8 + 4 + 4 + 2;

/// Our name fits `NameLen:16`, and the message that carries it fits the 2-byte framing.
fn check_name(name: &Atom) -> Result<(), HandshakeError> {
    let len = name.as_str().len();
    let max = usize::from(u16::MAX) - NAME_HEADER;
    if len > max {
        return Err(HandshakeError::NameTooLong { len, max });
    }
    Ok(())
}

#[derive(Debug)]
enum State {
    /// Initiator, `send_name` sent.
    AwaitStatus,
    /// Initiator, `alive` received: waiting for the node's answer.
    AwaitAliveAnswer,
    /// Initiator: waiting for the acceptor's challenge.
    AwaitChallenge,
    /// Initiator: reply sent, waiting for the ack.
    AwaitAck {
        peer_flags: DistFlags,
        creation: u32,
    },
    /// Acceptor: waiting for `send_name`.
    AwaitName,
    /// Acceptor: the node decides the status.
    AwaitStatusDecision {
        flags: DistFlags,
        creation: u32,
    },
    /// Acceptor: `alive` sent, waiting for `true`/`false`.
    AwaitAliveReply {
        flags: DistFlags,
        creation: u32,
    },
    /// Acceptor: challenge sent.
    AwaitReply {
        flags: DistFlags,
        creation: u32,
    },
    Done,
    Failed,
}

/// One side of a handshake.
#[derive(Debug)]
pub struct Handshake {
    config: HandshakeConfig,
    peer: Option<Atom>,
    state: State,
    input: Vec<u8>,
    output: Vec<u8>,
    /// Bytes of each message's length: 2 over TCP (`{packet, 2}`), 4 over TLS
    /// (`inet_tls_dist` sets `{packet, 4}` before the handshake).
    length_bytes: usize,
}

impl Handshake {
    /// We connect to `peer`: `send_name` is queued at once. A name too long for the
    /// handshake's 16-bit lengths is refused here ([`HandshakeError::NameTooLong`]).
    pub fn initiate(config: HandshakeConfig, peer: Atom) -> Result<Handshake, HandshakeError> {
        check_name(&config.name)?;
        let mut hs = Handshake {
            config,
            peer: Some(peer),
            state: State::AwaitStatus,
            input: Vec::new(),
            output: Vec::new(),
            length_bytes: 2,
        };
        hs.send_name();
        Ok(hs)
    }

    /// Frames handshake messages with a 4-byte length, as `erl -proto_dist inet_tls` does.
    /// Call before anything is sent or fed: `send_name` is framed again.
    pub fn with_4_byte_lengths(mut self) -> Handshake {
        self.length_bytes = 4;
        if matches!(self.state, State::AwaitStatus) {
            self.output.clear();
            self.send_name();
        }
        self
    }

    /// `send_name`: 'N', Flags:64, Creation:32, NameLen:16, Name.
    fn send_name(&mut self) {
        let name = self.config.name.as_str().as_bytes().to_vec();
        let mut m = vec![b'N'];
        m.extend_from_slice(&self.config.offered().0.to_be_bytes());
        m.extend_from_slice(&self.config.creation.to_be_bytes());
        // `check_name` made sure the length fits.
        m.extend_from_slice(&u16::try_from(name.len()).unwrap_or(u16::MAX).to_be_bytes());
        m.extend_from_slice(&name);
        self.send(&m);
    }

    /// A peer connected to us: we wait for its `send_name`. A name too long for the
    /// handshake's 16-bit lengths is refused here ([`HandshakeError::NameTooLong`]).
    pub fn accept(config: HandshakeConfig) -> Result<Handshake, HandshakeError> {
        check_name(&config.name)?;
        Ok(Handshake {
            config,
            peer: None,
            state: State::AwaitName,
            input: Vec::new(),
            output: Vec::new(),
            length_bytes: 2,
        })
    }

    /// The peer's name, once known.
    pub fn peer(&self) -> Option<&Atom> {
        self.peer.as_ref()
    }

    /// Bytes read from the peer.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.input.extend_from_slice(bytes);
    }

    /// Bytes to write to the peer (taken: each byte is returned once).
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// Bytes read past the handshake's last message: the first distribution packets, to be
    /// handed to the connection.
    pub fn into_remaining(self) -> Vec<u8> {
        self.input
    }

    fn send(&mut self, message: &[u8]) {
        let len = message.len() as u32;
        let prefix = len.to_be_bytes();
        self.output
            .extend_from_slice(&prefix[4 - self.length_bytes..]);
        self.output.extend_from_slice(message);
    }

    /// The next complete handshake message, if one has arrived. Handshake messages are small:
    /// a length over 64 KiB (possible with 4-byte lengths) is refused, not waited for.
    fn next_message(&mut self) -> Result<Option<Vec<u8>>, HandshakeError> {
        let n = self.length_bytes;
        let Some(prefix) = self.input.get(..n) else {
            return Ok(None);
        };
        let len = prefix
            .iter()
            .fold(0usize, |acc, b| acc << 8 | usize::from(*b));
        if len > usize::from(u16::MAX) {
            return Err(HandshakeError::Malformed {
                what: "handshake message longer than 64 KiB",
            });
        }
        if self.input.len() < n + len {
            return Ok(None);
        }
        let message = self.input[n..n + len].to_vec();
        self.input.drain(..n + len);
        Ok(Some(message))
    }

    fn fail(&mut self, error: HandshakeError) -> Result<Option<Event>, HandshakeError> {
        self.state = State::Failed;
        Err(error)
    }

    fn peer_or_unknown(&self) -> Atom {
        self.peer.clone().unwrap_or_else(|| Atom::from("no_node"))
    }

    /// Whether we (the initiator) have sent our challenge reply and wait for the ack: the
    /// peer is checking our cookie's digest now, and a peer that closes the connection here
    /// refused it (`dist_util` closes without a word on a wrong cookie).
    pub fn awaiting_ack(&self) -> bool {
        matches!(self.state, State::AwaitAck { .. })
    }

    /// Advances on the input fed so far: an event, `None` when more input (or the node's
    /// answer) is needed, or why the handshake failed. After an error the connection must be
    /// closed once the output (a refusal status, if any) is written.
    pub fn poll(&mut self) -> Result<Option<Event>, HandshakeError> {
        loop {
            match self.state {
                State::Done | State::Failed => return Ok(None),
                State::AwaitStatusDecision { .. } | State::AwaitAliveAnswer => return Ok(None),
                _ => {}
            }
            let message = match self.next_message() {
                Ok(Some(message)) => message,
                Ok(None) => return Ok(None),
                Err(e) => return self.fail(e),
            };
            if let Some(event) = self.step(&message)? {
                return Ok(Some(event));
            }
        }
    }

    fn step(&mut self, m: &[u8]) -> Result<Option<Event>, HandshakeError> {
        match std::mem::replace(&mut self.state, State::Failed) {
            State::AwaitStatus => self.on_status(m),
            State::AwaitChallenge => self.on_challenge(m),
            State::AwaitAck {
                peer_flags,
                creation,
            } => self.on_ack(m, peer_flags, creation),
            State::AwaitName => self.on_name(m),
            State::AwaitAliveReply { flags, creation } => match m {
                b"strue" => {
                    self.send_challenge();
                    self.state = State::AwaitReply { flags, creation };
                    Ok(None)
                }
                b"sfalse" => self.fail(HandshakeError::Refused {
                    peer: self.peer_or_unknown(),
                    status: "alive: false",
                }),
                _ => self.fail(HandshakeError::Malformed {
                    what: "expected true or false after alive",
                }),
            },
            State::AwaitReply { flags, creation } => self.on_reply(m, flags, creation),
            state @ (State::AwaitStatusDecision { .. }
            | State::AwaitAliveAnswer
            | State::Done
            | State::Failed) => {
                self.state = state;
                Ok(None)
            }
        }
    }

    // ---- initiator ----

    fn on_status(&mut self, m: &[u8]) -> Result<Option<Event>, HandshakeError> {
        let peer = self.peer_or_unknown();
        match m {
            b"sok" | b"sok_simultaneous" => {
                self.state = State::AwaitChallenge;
                Ok(None)
            }
            b"salive" => {
                self.state = State::AwaitAliveAnswer;
                Ok(Some(Event::AliveQuery))
            }
            b"snok" => self.fail(HandshakeError::Refused {
                peer,
                status: "nok",
            }),
            b"snot_allowed" => self.fail(HandshakeError::Refused {
                peer,
                status: "not_allowed",
            }),
            _ => self.fail(HandshakeError::Malformed {
                what: "unexpected status",
            }),
        }
    }

    /// Initiator: the node's answer to [`Event::AliveQuery`].
    pub fn reply_alive(&mut self, still_ours: bool) {
        if !matches!(self.state, State::AwaitAliveAnswer) {
            return;
        }
        if still_ours {
            self.send(b"strue");
            self.state = State::AwaitChallenge;
        } else {
            self.send(b"sfalse");
            self.state = State::Failed;
        }
    }

    fn on_challenge(&mut self, m: &[u8]) -> Result<Option<Event>, HandshakeError> {
        // 'N', Flags:64, Challenge:32, Creation:32, NameLen:16, Name
        if m.len() < 19 || m[0] != b'N' {
            return self.fail(HandshakeError::Malformed {
                what: "expected the challenge ('N')",
            });
        }
        let flags = DistFlags(u64::from_be_bytes(m[1..9].try_into().unwrap_or_default()));
        let challenge = u32::from_be_bytes(m[9..13].try_into().unwrap_or_default());
        let creation = u32::from_be_bytes(m[13..17].try_into().unwrap_or_default());
        let len = usize::from(u16::from_be_bytes([m[17], m[18]]));
        let Some(name) = m.get(19..19 + len) else {
            return self.fail(HandshakeError::Malformed {
                what: "challenge name longer than the message",
            });
        };
        let expected = self.peer_or_unknown();
        if name != expected.as_str().as_bytes() {
            return self.fail(HandshakeError::WrongNode {
                expected,
                got: String::from_utf8_lossy(name).into_owned(),
            });
        }
        let flags = flags.expand_mandatory_25();
        let missing = flags.missing(self.config.required);
        if !missing.is_empty() {
            return self.fail(HandshakeError::MissingFlags {
                us: self.config.name.clone(),
                direction: "to",
                peer: expected,
                how: "aborted",
                missing,
            });
        }
        let mut reply = vec![b'r'];
        reply.extend_from_slice(&self.config.challenge.to_be_bytes());
        reply.extend_from_slice(&self.config.cookie.digest(challenge));
        self.send(&reply);
        self.state = State::AwaitAck {
            peer_flags: flags,
            creation,
        };
        Ok(None)
    }

    fn on_ack(
        &mut self,
        m: &[u8],
        peer_flags: DistFlags,
        creation: u32,
    ) -> Result<Option<Event>, HandshakeError> {
        let peer = self.peer_or_unknown();
        if m.len() != 17 || m[0] != b'a' {
            return self.fail(HandshakeError::Malformed {
                what: "expected the challenge ack ('a')",
            });
        }
        if m[1..] != self.config.cookie.digest(self.config.challenge) {
            return self.fail(HandshakeError::InvalidChallengeAck { peer });
        }
        self.state = State::Done;
        Ok(Some(self.established(peer, peer_flags, creation)))
    }

    fn established(&self, peer: Atom, peer_flags: DistFlags, creation: u32) -> Event {
        Event::Established(Established {
            // The cookie is proved: the name joins the atom table.
            peer: Atom::new(peer.as_str()),
            peer_creation: creation,
            flags: self.config.offered() & peer_flags,
            peer_hidden: !peer_flags.contains(DistFlags::PUBLISHED),
        })
    }

    // ---- acceptor ----

    fn on_name(&mut self, m: &[u8]) -> Result<Option<Event>, HandshakeError> {
        // 'N', Flags:64, Creation:32, NameLen:16, Name
        if m.len() < 15 || m[0] != b'N' {
            return self.fail(HandshakeError::Malformed {
                what: "expected send_name ('N', version 6)",
            });
        }
        let flags = DistFlags(u64::from_be_bytes(m[1..9].try_into().unwrap_or_default()));
        let creation = u32::from_be_bytes(m[9..13].try_into().unwrap_or_default());
        let len = usize::from(u16::from_be_bytes([m[13], m[14]]));
        let name = match m.get(15..15 + len).map(std::str::from_utf8) {
            Some(Ok(name)) => name,
            _ => {
                return self.fail(HandshakeError::Malformed {
                    what: "send_name's node name",
                })
            }
        };
        // dist_util:is_name_ok/2 for static names; dynamic names (NAME_ME) are not offered.
        let valid = matches!(name.split_once('@'), Some((n, h)) if !n.is_empty() && !h.is_empty() && !h.contains('@'))
            && !flags.contains(DistFlags::NAME_ME)
            && name.chars().count() <= Atom::MAX_CHARS;
        if !valid {
            return self.fail(HandshakeError::Malformed {
                what: "send_name's node name",
            });
        }
        // Not interned until the peer has proved it knows the cookie: a stranger's made-up
        // names must not fill the atom table (see `established`).
        let name = Atom::transient(name);
        self.peer = Some(name.clone());
        let flags = flags.expand_mandatory_25();
        let missing = flags.missing(self.config.required);
        if !missing.is_empty() {
            self.send(b"snot_allowed");
            return self.fail(HandshakeError::MissingFlags {
                us: self.config.name.clone(),
                direction: "from",
                peer: name,
                how: "rejected",
                missing,
            });
        }
        self.state = State::AwaitStatusDecision { flags, creation };
        Ok(Some(Event::PeerNamed {
            name,
            flags,
            creation,
        }))
    }

    /// Acceptor: the node's answer to [`Event::PeerNamed`]. `Nok` and `NotAllowed` end the
    /// handshake (write the output, then close); `Alive` asks the peer and goes on if it says
    /// `true`.
    pub fn set_status(&mut self, status: Status) -> Result<(), HandshakeError> {
        let State::AwaitStatusDecision { flags, creation } = self.state else {
            return Ok(());
        };
        self.send(format!("s{}", status.text()).as_bytes());
        match status {
            Status::Ok | Status::OkSimultaneous => {
                self.send_challenge();
                self.state = State::AwaitReply { flags, creation };
                Ok(())
            }
            Status::Alive => {
                self.state = State::AwaitAliveReply { flags, creation };
                Ok(())
            }
            Status::Nok | Status::NotAllowed => {
                self.state = State::Failed;
                Err(HandshakeError::Refused {
                    peer: self.peer_or_unknown(),
                    status: status.text(),
                })
            }
        }
    }

    fn send_challenge(&mut self) {
        let name = self.config.name.as_str().as_bytes().to_vec();
        let mut m = vec![b'N'];
        m.extend_from_slice(&self.config.offered().0.to_be_bytes());
        m.extend_from_slice(&self.config.challenge.to_be_bytes());
        m.extend_from_slice(&self.config.creation.to_be_bytes());
        // `check_name` made sure the length fits.
        m.extend_from_slice(&u16::try_from(name.len()).unwrap_or(u16::MAX).to_be_bytes());
        m.extend_from_slice(&name);
        self.send(&m);
    }

    fn on_reply(
        &mut self,
        m: &[u8],
        flags: DistFlags,
        creation: u32,
    ) -> Result<Option<Event>, HandshakeError> {
        let peer = self.peer_or_unknown();
        if m.len() != 21 || m[0] != b'r' {
            return self.fail(HandshakeError::Malformed {
                what: "expected the challenge reply ('r')",
            });
        }
        if m[5..] != self.config.cookie.digest(self.config.challenge) {
            return self.fail(HandshakeError::InvalidChallengeReply { peer });
        }
        let their_challenge = u32::from_be_bytes([m[1], m[2], m[3], m[4]]);
        let mut ack = vec![b'a'];
        ack.extend_from_slice(&self.config.cookie.digest(their_challenge));
        self.send(&ack);
        self.state = State::Done;
        Ok(Some(self.established(peer, flags, creation)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(name: &str, cookie: &str, challenge: u32) -> HandshakeConfig {
        HandshakeConfig {
            name: Atom::from(name),
            creation: 7,
            flags: DistFlags::DEFAULT,
            hidden: false,
            required: DistFlags::REQUIRED,
            cookie: Cookie::new(cookie),
            challenge,
        }
    }

    type Outcomes = Vec<Result<Event, HandshakeError>>;

    /// Runs both sides against each other until both stop.
    fn run(a: &mut Handshake, b: &mut Handshake) -> (Outcomes, Outcomes) {
        let (mut ea, mut eb) = (Vec::new(), Vec::new());
        for _ in 0..20 {
            let out = a.take_output();
            b.feed(&out);
            let out = b.take_output();
            a.feed(&out);
            for (hs, events) in [(&mut *a, &mut ea), (&mut *b, &mut eb)] {
                loop {
                    match hs.poll() {
                        Ok(Some(Event::PeerNamed { .. })) => {
                            let _ = hs.set_status(Status::Ok);
                        }
                        Ok(Some(e)) => events.push(Ok(e)),
                        Ok(None) => break,
                        Err(e) => {
                            events.push(Err(e));
                            break;
                        }
                    }
                }
            }
        }
        (ea, eb)
    }

    #[test]
    fn same_cookie_connects_both_ways() {
        let mut a = Handshake::initiate(config("a@h", "c", 1), Atom::from("b@h")).unwrap();
        let mut b = Handshake::accept(config("b@h", "c", 2)).unwrap();
        let (ea, eb) = run(&mut a, &mut b);
        let Some(Ok(Event::Established(up))) = ea.first() else {
            panic!("{ea:?}")
        };
        assert_eq!(up.peer.as_str(), "b@h");
        assert_eq!(up.peer_creation, 7);
        assert!(!up.peer_hidden);
        let Some(Ok(Event::Established(up))) = eb.first() else {
            panic!("{eb:?}")
        };
        assert_eq!(up.peer.as_str(), "a@h");
    }

    #[test]
    fn a_wrong_cookie_is_refused_by_the_acceptor() {
        let mut a = Handshake::initiate(config("a@h", "wrong", 1), Atom::from("b@h")).unwrap();
        let mut b = Handshake::accept(config("b@h", "right", 2)).unwrap();
        let (_, eb) = run(&mut a, &mut b);
        assert_eq!(
            eb,
            [Err(HandshakeError::InvalidChallengeReply {
                peer: Atom::from("a@h")
            })]
        );
        assert_eq!(
            eb[0].as_ref().unwrap_err().to_string(),
            "** Connection attempt from node a@h rejected. Invalid challenge reply. **"
        );
    }

    #[test]
    fn a_peer_without_mandatory_flags_is_rejected_with_not_allowed() {
        let mut old = config("a@h", "c", 1);
        old.flags = DistFlags(
            DistFlags::DEFAULT.0 & !DistFlags::UTF8_ATOMS.0 & !DistFlags::MANDATORY_25_DIGEST.0,
        );
        let mut a = Handshake::initiate(old, Atom::from("b@h")).unwrap();
        let mut b = Handshake::accept(config("b@h", "c", 2)).unwrap();
        let (ea, eb) = run(&mut a, &mut b);
        assert!(
            matches!(&eb[0], Err(HandshakeError::MissingFlags { missing, .. }) if missing == &["UTF8_ATOMS"])
        );
        assert!(matches!(
            &ea[0],
            Err(HandshakeError::Refused {
                status: "not_allowed",
                ..
            })
        ));
    }

    #[test]
    fn tls_framing_uses_4_byte_lengths() {
        let mut a = Handshake::initiate(config("a@h", "c", 1), Atom::from("b@h"))
            .unwrap()
            .with_4_byte_lengths();
        // 'N', 8 flag bytes, 4 creation bytes, 2 length bytes, "a@h".
        assert_eq!(&a.take_output()[..5], &[0, 0, 0, 18, b'N']);
        let mut b = Handshake::accept(config("b@h", "c", 2))
            .unwrap()
            .with_4_byte_lengths();
        let mut a = Handshake::initiate(config("a@h", "c", 1), Atom::from("b@h"))
            .unwrap()
            .with_4_byte_lengths();
        let (ea, eb) = run(&mut a, &mut b);
        assert!(
            matches!(ea.first(), Some(Ok(Event::Established(_)))),
            "{ea:?}"
        );
        assert!(
            matches!(eb.first(), Some(Ok(Event::Established(_)))),
            "{eb:?}"
        );
    }

    #[test]
    fn our_name_too_long_for_its_16_bit_length_is_a_typed_error() {
        // Security review 2026-12-07, 0.8b: a 70 000-byte name went out with its length
        // truncated to 16 bits (4464), and the peer read the rest as the next message.
        let long = "n".repeat(70_000) + "@h";
        let too_long = |r: Result<Handshake, HandshakeError>| {
            matches!(r, Err(HandshakeError::NameTooLong { len: 70_002, .. }))
        };
        assert!(too_long(Handshake::initiate(
            config(&long, "c", 1),
            Atom::from("b@h")
        )));
        assert!(too_long(Handshake::accept(config(&long, "c", 1))));
        // The longest name that fits goes out whole, its lengths exact.
        let max = usize::from(u16::MAX) - NAME_HEADER;
        let name = "n".repeat(max - 2) + "@h";
        let mut a = Handshake::initiate(config(&name, "c", 1), Atom::from("b@h")).unwrap();
        let out = a.take_output();
        let framed = usize::from(u16::from_be_bytes([out[0], out[1]]));
        assert_eq!(framed, out.len() - 2);
        let name_len = usize::from(u16::from_be_bytes([out[15], out[16]]));
        assert_eq!(name_len, max);
        let mut b = Handshake::accept(config(&name, "c", 2)).unwrap();
        let mut peer =
            Handshake::initiate(config("a@h", "c", 1), Atom::from(name.as_str())).unwrap();
        b.feed(&peer.take_output());
        assert!(matches!(b.poll(), Ok(Some(Event::PeerNamed { .. }))));
        b.set_status(Status::Ok).unwrap();
        let out = b.take_output();
        // status message first ("sok"), then the challenge with our long name.
        let challenge = &out[2 + 3..];
        let framed = usize::from(u16::from_be_bytes([challenge[0], challenge[1]]));
        assert_eq!(framed, challenge.len() - 2);
    }

    #[test]
    fn garbage_fails_cleanly() {
        let mut b = Handshake::accept(config("b@h", "c", 2)).unwrap();
        b.feed(&[0, 3, b'x', b'y', b'z']);
        assert!(matches!(b.poll(), Err(HandshakeError::Malformed { .. })));
        let mut b = Handshake::accept(config("b@h", "c", 2)).unwrap();
        // A lying name length.
        b.feed(&[0, 15, b'N', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 200]);
        assert!(matches!(b.poll(), Err(HandshakeError::Malformed { .. })));
    }
}
