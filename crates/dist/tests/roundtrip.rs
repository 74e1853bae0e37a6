//! Property tests: every control message survives `to_term`/`from_term`, and every message
//! survives the writer and the reader — whole, in fragments of any size, and in the
//! pass-through form — with the bytes split into reads anywhere.

use etf::{Atom, Pid, RefId, Reference, Term};
use proptest::prelude::*;
use rotp_dist::packet::split_packet;
use rotp_dist::{
    ControlMessage, DistFlags, DistMessage, Incoming, OutputCache, ProcessRef, Reader, Writer,
};

/// Atoms from a small set (so messages share them and the atom cache's old references and
/// entry collisions are exercised), random ones, and long UTF-8 ones (over 255 bytes: the
/// header's long-atoms form).
fn atom() -> impl Strategy<Value = Atom> {
    prop_oneof![
        4 => "[a-e]{1,2}".prop_map(|s| Atom::from(s.as_str())),
        4 => "[a-z][a-z0-9_@]{0,12}".prop_map(|s| Atom::from(s.as_str())),
        1 => "[é€a]{90,120}".prop_map(|s| Atom::from(s.as_str())),
    ]
}

fn pid() -> impl Strategy<Value = Pid> {
    (atom(), any::<u32>(), 0u32..8192, any::<u32>()).prop_map(|(node, id, serial, creation)| Pid {
        node,
        id: id & 0x0fff_ffff,
        serial,
        creation,
    })
}

fn reference() -> impl Strategy<Value = Reference> {
    (
        atom(),
        any::<u32>(),
        prop::collection::vec(any::<u32>(), 1..=5),
    )
        .prop_map(|(node, creation, id)| Reference {
            node,
            creation,
            id: RefId::new(&id).expect("1 to 5 words"),
        })
}

fn term() -> impl Strategy<Value = Term> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(Term::Integer),
        atom().prop_map(Term::Atom),
        prop::collection::vec(any::<u8>(), 0..300).prop_map(|b| Term::Binary(b.into())),
        pid().prop_map(Term::Pid),
        reference().prop_map(Term::Reference),
    ];
    leaf.prop_recursive(3, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Term::Tuple),
            prop::collection::vec(inner, 0..6).prop_map(Term::List),
        ]
    })
}

fn token() -> impl Strategy<Value = Option<Term>> {
    prop::option::of(term())
}

fn process_ref() -> impl Strategy<Value = ProcessRef> {
    prop_oneof![
        pid().prop_map(ProcessRef::Pid),
        atom().prop_map(ProcessRef::Name)
    ]
}

fn control() -> impl Strategy<Value = ControlMessage> {
    use ControlMessage as C;
    prop_oneof![
        (pid(), pid()).prop_map(|(from, to)| C::Link { from, to }),
        (pid(), token()).prop_map(|(to, token)| C::Send { to, token }),
        (pid(), pid(), term(), token()).prop_map(|(from, to, reason, token)| C::Exit {
            from,
            to,
            reason,
            token
        }),
        (pid(), pid()).prop_map(|(from, to)| C::Unlink { from, to }),
        Just(C::NodeLink),
        (pid(), atom(), token()).prop_map(|(from, to, token)| C::RegSend { from, to, token }),
        (pid(), pid()).prop_map(|(from, to)| C::GroupLeader { from, to }),
        (pid(), pid(), term(), token()).prop_map(|(from, to, reason, token)| C::Exit2 {
            from,
            to,
            reason,
            token
        }),
        (pid(), process_ref(), reference()).prop_map(|(from, to, reference)| C::MonitorP {
            from,
            to,
            reference
        }),
        (pid(), process_ref(), reference()).prop_map(|(from, to, reference)| C::DemonitorP {
            from,
            to,
            reference
        }),
        (process_ref(), pid(), reference(), term()).prop_map(|(from, to, reference, reason)| {
            C::MonitorPExit {
                from,
                to,
                reference,
                reason,
            }
        }),
        (pid(), pid(), token()).prop_map(|(from, to, token)| C::SendSender { from, to, token }),
        (pid(), pid(), token()).prop_map(|(from, to, token)| C::PayloadExit { from, to, token }),
        (pid(), pid(), token()).prop_map(|(from, to, token)| C::PayloadExit2 { from, to, token }),
        (process_ref(), pid(), reference()).prop_map(|(from, to, reference)| {
            C::PayloadMonitorPExit {
                from,
                to,
                reference,
            }
        }),
        (
            reference(),
            pid(),
            pid(),
            atom(),
            atom(),
            0u32..256,
            term(),
            token()
        )
            .prop_map(
                |(req_id, from, group_leader, module, function, arity, options, token)| {
                    C::SpawnRequest {
                        req_id,
                        from,
                        group_leader,
                        module,
                        function,
                        arity,
                        options,
                        token,
                    }
                }
            ),
        (reference(), pid(), 0i64..4, term(), token()).prop_map(
            |(req_id, to, flags, result, token)| C::SpawnReply {
                req_id,
                to,
                flags,
                result,
                token
            }
        ),
        (pid(), reference(), token()).prop_map(|(from, alias, token)| C::AliasSend {
            from,
            alias,
            token
        }),
        (term(), pid(), pid()).prop_map(|(id, from, to)| C::UnlinkId { id, from, to }),
        (term(), pid(), pid()).prop_map(|(id, from, to)| C::UnlinkIdAck { id, from, to }),
    ]
}

fn message() -> impl Strategy<Value = DistMessage> {
    (control(), term()).prop_map(|(control, t)| {
        let payload = control.has_payload().then_some(t);
        DistMessage { control, payload }
    })
}

proptest! {
    #[test]
    fn control_messages_survive_their_tuples(c in control()) {
        prop_assert_eq!(ControlMessage::from_term(&c.to_term()), Ok(c));
    }

    #[test]
    fn control_messages_encode_as_their_tuples(c in control(), utf8 in any::<bool>()) {
        let options = etf::EncodeOptions { utf8_atoms: utf8, compressed: None };
        let (mut direct, mut via_term) = (Vec::new(), Vec::new());
        c.encode(&mut etf::Encoder::new(&mut direct, &options)).unwrap();
        etf::encode_into(&c.to_term(), &mut via_term, &options).unwrap();
        prop_assert_eq!(direct, via_term);
    }

    #[test]
    fn messages_survive_the_writer_and_the_reader(
        messages in prop::collection::vec(message(), 1..24),
        fragment in 1usize..2000,
        form in 0u8..3,
        read_size in 1usize..5000,
    ) {
        // Headers with an atom cache, headers without (fragments only), pass-through.
        let flags = match form {
            0 => DistFlags::DEFAULT,
            1 => DistFlags(DistFlags::DEFAULT.0 & !DistFlags::DIST_HDR_ATOM_CACHE.0),
            _ => DistFlags(
                DistFlags::DEFAULT.0 & !DistFlags::DIST_HDR_ATOM_CACHE.0 & !DistFlags::FRAGMENTS.0,
            ),
        };
        let writer = Writer::new(flags).with_fragment_size(fragment);
        let (mut wire, mut cache) = (Vec::new(), OutputCache::default());
        for m in &messages {
            writer.write(&m.control, m.payload.as_ref(), &mut cache, &mut wire).unwrap();
        }
        // Feed the bytes in reads of `read_size`, as a socket would.
        let mut reader = Reader::default().for_flags(flags);
        let mut buffer = Vec::new();
        let mut got = Vec::new();
        for chunk in wire.chunks(read_size) {
            buffer.extend_from_slice(chunk);
            while let Some((used, body)) = split_packet(&buffer, usize::MAX).unwrap() {
                if let Incoming::Message(m) = reader.packet(body).unwrap() {
                    got.push(m);
                }
                buffer.drain(..used);
            }
        }
        prop_assert!(buffer.is_empty());
        prop_assert_eq!(got, messages);
    }
}
