//! Property tests of `rotp_etf::serde`: a Rust value → term → Rust value is the identity for a rich
//! set of types, through the external format too; any term or any bytes read into those types
//! give a value or an error, never a panic.

mod common;
mod serde_common;

use proptest::prelude::*;
use rotp_etf::serde::{from_bytes, from_term, to_bytes, to_term};
use serde_common::{account, event, Account, Event, Profile};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn value_term_value_is_identity(account in account(common::term())) {
        let term = to_term(&account).unwrap();
        prop_assert_eq!(&from_term::<Account>(&term).unwrap(), &account);
        prop_assert_eq!(&from_bytes::<Account>(&to_bytes(&account).unwrap()).unwrap(), &account);
    }

    #[test]
    fn enums_round_trip(events in prop::collection::vec(event(), 0..8)) {
        let term = to_term(&events).unwrap();
        prop_assert_eq!(from_term::<Vec<Event>>(&term).unwrap(), events);
    }

    #[test]
    fn any_term_reads_or_errs(term in common::term()) {
        let _ = from_term::<Account>(&term);
        let _ = from_term::<Profile>(&term);
        let _ = from_term::<Vec<Event>>(&term);
        let _ = from_term::<Result<(Event, Option<String>), u128>>(&term);
    }

    #[test]
    fn any_bytes_read_or_err(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = from_bytes::<Account>(&bytes);
        let _ = from_bytes::<Event>(&bytes);
    }
}
