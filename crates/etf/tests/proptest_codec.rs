//! Property tests: encode → decode is the identity, for both atom encodings and compression, and
//! the `~w` text parses back to the same term. Bad input never panics.

mod common;

use proptest::prelude::*;
use rotp_etf::{decode, encode, encode_with, text, EncodeOptions, Term};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_then_decode_is_identity(term in common::term()) {
        for options in [
            EncodeOptions::default(),
            EncodeOptions::minor_version_2(),
            EncodeOptions { compressed: Some(6), ..EncodeOptions::default() },
            EncodeOptions { compressed: Some(1), utf8_atoms: true },
        ] {
            let bytes = encode_with(&term, &options).unwrap();
            prop_assert_eq!(&decode(&bytes).unwrap(), &term);
        }
    }

    #[test]
    fn printed_text_parses_back(term in common::term().prop_filter("non-ASCII fun names", |t| !common::has_non_ascii_export(t))) {
        let printed = text::write(&term);
        let parsed = text::parse(&printed).map_err(|e| TestCaseError::fail(format!("{printed}: {e}")))?;
        prop_assert_eq!(parsed, term);
    }

    #[test]
    fn truncations_are_errors_not_panics(term in common::term(), cut in any::<prop::sample::Index>()) {
        let bytes = encode(&term).unwrap();
        let cut = cut.index(bytes.len());
        prop_assert!(decode(&bytes[..cut]).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic(mut bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode(&bytes);
        bytes.insert(0, 131);
        let _ = decode(&bytes);
    }
}

/// Runs `f` on a thread with tokio's and the test harness's default 2 MiB stack.
fn on_2_mib_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow_on_a_2_mib_stack() {
    on_2_mib_stack(deep_nesting);
}

fn deep_nesting() {
    // [[[[...]]]] one million levels deep: 5 bytes per level.
    let depth = 1_000_000;
    let mut bytes = vec![131];
    for _ in 0..depth {
        bytes.extend_from_slice(&[108, 0, 0, 0, 1]);
    }
    bytes.push(106);
    bytes.extend(std::iter::repeat_n(106, depth));
    let err = decode(&bytes).unwrap_err();
    assert!(
        matches!(err, rotp_etf::DecodeError::TooDeep { .. }),
        "{err}"
    );
    let deep_text = "[".repeat(100_000) + &"]".repeat(100_000);
    assert!(text::parse(&deep_text).is_err());
}

#[test]
fn nesting_up_to_the_limit_decodes_encodes_prints_and_parses_on_a_2_mib_stack() {
    on_2_mib_stack(nesting_up_to_the_limit);
}

fn nesting_up_to_the_limit() {
    let mut term = Term::NIL;
    for _ in 0..rotp_etf::DEFAULT_MAX_DEPTH {
        term = Term::Tuple(vec![term]);
    }
    let bytes = encode(&term).unwrap();
    assert_eq!(decode(&bytes).unwrap(), term);
    assert_eq!(text::parse(&text::write(&term)).unwrap(), term);
    let mut one_more = vec![131, 104, 1];
    one_more.extend_from_slice(&bytes[1..]);
    assert!(matches!(
        decode(&one_more),
        Err(rotp_etf::DecodeError::TooDeep { .. })
    ));
}

#[test]
fn lying_lengths_fail_before_allocating() {
    // A binary, a list, a tuple and a map each claiming 4 GiB of content.
    for tag in [109u8, 108, 105, 116] {
        let err = decode(&[131, tag, 0xff, 0xff, 0xff, 0xff, 1]).unwrap_err();
        assert!(
            matches!(err, rotp_etf::DecodeError::Truncated { .. }),
            "tag {tag}: {err}"
        );
    }
    // A compressed term claiming 4 GiB from a few bytes of zlib.
    let err = decode(&[
        131, 80, 0xff, 0xff, 0xff, 0xff, 0x78, 0x9c, 3, 0, 0, 0, 0, 1,
    ])
    .unwrap_err();
    assert!(
        matches!(err, rotp_etf::DecodeError::Compressed { .. }),
        "{err}"
    );
}

#[test]
fn nested_counts_are_checked_together_before_anything_is_reserved() {
    // 64 lists, one inside the other, each claiming nearly all the bytes that follow: alone
    // each count fits what is left, together they cannot. Once, every level reserved room for
    // its whole count (64 x 1 MiB x the size of a term). Now the second header is refused.
    let rest = 1 << 20;
    let mut bytes = vec![131u8];
    for level in 0..64u32 {
        bytes.push(108);
        bytes.extend_from_slice(&(rest - 5 * level - 5).to_be_bytes());
    }
    bytes.extend(std::iter::repeat_n(106u8, rest as usize));
    match decode(&bytes) {
        Err(rotp_etf::DecodeError::Truncated { at, .. }) => assert!(at < 16, "refused at {at}"),
        other => panic!("{other:?}"),
    }
    // A compressed term may not inflate past what its reader allows.
    let packed = compressed_sevens();
    let options = rotp_etf::DecodeOptions {
        max_inflated: 500,
        ..Default::default()
    };
    assert!(matches!(
        rotp_etf::decode_with(&packed, &options),
        Err(rotp_etf::DecodeError::Compressed { .. })
    ));
}

/// A binary of 1000 sevens, compressed.
fn compressed_sevens() -> Vec<u8> {
    encode_with(
        &Term::Binary(vec![7; 1000].into()),
        &EncodeOptions {
            compressed: Some(6),
            ..Default::default()
        },
    )
    .unwrap()
}

#[test]
fn compressed_size_that_lies_is_an_error() {
    let plain = encode(&Term::Binary(vec![7; 1000].into())).unwrap();
    let packed = compressed_sevens();
    assert_eq!(packed[1], 80);
    let declared = u32::from_be_bytes(packed[2..6].try_into().unwrap()) as usize;
    assert_eq!(declared, plain.len() - 1);
    for lie in [declared - 1, declared + 1, declared * 2] {
        let mut bad = packed.clone();
        bad[2..6].copy_from_slice(&(lie as u32).to_be_bytes());
        assert!(
            matches!(decode(&bad), Err(rotp_etf::DecodeError::Compressed { .. })),
            "declared {lie}"
        );
    }
}

#[test]
fn bad_atoms_are_typed_errors() {
    // 256 latin-1 characters.
    let mut long = vec![131, 100, 1, 0];
    long.extend(std::iter::repeat_n(b'a', 256));
    assert!(matches!(
        decode(&long),
        Err(rotp_etf::DecodeError::AtomTooLong { chars: 256, .. })
    ));
    // Invalid UTF-8 in a UTF-8 atom.
    assert!(matches!(
        decode(&[131, 119, 2, 0xc3, 0x28]),
        Err(rotp_etf::DecodeError::BadUtf8 { .. })
    ));
    // LOCAL_EXT.
    assert!(matches!(
        decode(&[131, 121, 0, 0]),
        Err(rotp_etf::DecodeError::LocalExt { at: 0 })
    ));
    // An atom cache reference outside a distribution message.
    assert!(matches!(
        decode(&[131, 82, 3]),
        Err(rotp_etf::DecodeError::AtomCacheRef { index: 3, .. })
    ));
    // Trailing garbage, and a bad version byte.
    assert!(matches!(
        decode(&[131, 106, 0]),
        Err(rotp_etf::DecodeError::TrailingBytes { count: 1 })
    ));
    assert!(matches!(
        decode(&[130, 106]),
        Err(rotp_etf::DecodeError::BadVersion { found: 130 })
    ));
    // A map with a duplicate key.
    assert!(matches!(
        decode(&[131, 116, 0, 0, 0, 2, 97, 1, 106, 97, 1, 106]),
        Err(rotp_etf::DecodeError::DuplicateMapKey { .. })
    ));
    // Atoms over 255 characters cannot be encoded either.
    let long = Term::atom(&"x".repeat(256));
    assert!(encode(&long).is_err());
}

#[test]
fn huge_binary_segments_in_text_are_refused() {
    let err = text::parse("<<1:4000000000>>").unwrap_err();
    assert!(err.message.contains("segment"), "{err}");
    assert_eq!(
        text::parse("<<1:16>>").unwrap(),
        Term::Binary(vec![0, 1].into())
    );
}

/// Security review 2026-12-07, 0.8c: each segment was capped at 16 MiB but not their sum, so
/// 15 bytes of text built 16 MiB. All the binaries of one text hold at most 64 MiB.
#[test]
fn binaries_in_one_text_hold_at_most_64_mib_together() {
    let segment = "0:134217728";
    let four = [segment; 4].join(",");
    let whole = text::parse(&format!("<<{four}>>")).unwrap();
    assert!(matches!(&whole, Term::Binary(b) if b.len() == 64 << 20));
    let five = [segment; 5].join(",");
    let err = text::parse(&format!("<<{five}>>")).unwrap_err();
    assert!(err.message.contains("64 MiB"), "{err}");
    // Spread over several binaries, or as a string's characters, it is the same.
    let err = text::parse(&format!("[<<{four}>>, <<1>>]")).unwrap_err();
    assert!(err.message.contains("64 MiB"), "{err}");
    let err = text::parse("<<\"abcde\":134217728>>").unwrap_err();
    assert!(err.message.contains("64 MiB"), "{err}");
    let many = ["<<0:134217728>>"; 100].join(",");
    assert!(text::parse(&format!("[{many}]")).is_err());
}

#[test]
fn binary_segments_pack_as_the_bit_syntax_does() {
    // Each checked in erl: <<-1:12>>, <<5:3, 1:5>>, <<256:16>>, <<1:20>>.
    assert_eq!(
        encode(&text::parse("<<-1:12>>").unwrap()).unwrap(),
        [131, 77, 0, 0, 0, 2, 4, 255, 240]
    );
    assert_eq!(
        text::parse("<<5:3, 1:5>>").unwrap(),
        Term::Binary(vec![0b1010_0001].into())
    );
    assert_eq!(
        text::parse("<<256:16>>").unwrap(),
        Term::Binary(vec![1, 0].into())
    );
    assert_eq!(
        encode(&text::parse("<<1:20>>").unwrap()).unwrap(),
        [131, 77, 0, 0, 0, 3, 4, 0, 0, 16]
    );
}
