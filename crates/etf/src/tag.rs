//! Tag bytes of the external term format, named as in `erl_ext_dist.xml`
//! ("External Term Format") and `erts/emulator/beam/external.h`.
//!
//! ```
//! use rotp_etf::tag::{ATOM_EXT, SMALL_INTEGER_EXT, SMALL_TUPLE_EXT, VERSION};
//!
//! // term_to_binary({ok, 7}) in OTP 25
//! let bytes = rotp_etf::encode(&rotp_etf::tuple!(rotp_etf::atom!(ok), 7))?;
//! assert_eq!(
//!     bytes,
//!     [VERSION, SMALL_TUPLE_EXT, 2, ATOM_EXT, 0, 2, b'o', b'k', SMALL_INTEGER_EXT, 7]
//! );
//! # Ok::<(), rotp_etf::EncodeError>(())
//! ```

/// The version byte that starts every `term_to_binary/1` result.
pub const VERSION: u8 = 131;

/// `NEW_FLOAT_EXT`, tag 70.
pub const NEW_FLOAT_EXT: u8 = 70;
/// `BIT_BINARY_EXT`, tag 77.
pub const BIT_BINARY_EXT: u8 = 77;
/// `COMPRESSED`, tag 80.
pub const COMPRESSED: u8 = 80;
/// `ATOM_CACHE_REF`, tag 82.
pub const ATOM_CACHE_REF: u8 = 82;
/// `NEW_PID_EXT`, tag 88.
pub const NEW_PID_EXT: u8 = 88;
/// `NEW_PORT_EXT`, tag 89.
pub const NEW_PORT_EXT: u8 = 89;
/// `NEWER_REFERENCE_EXT`, tag 90.
pub const NEWER_REFERENCE_EXT: u8 = 90;
/// `SMALL_INTEGER_EXT`, tag 97.
pub const SMALL_INTEGER_EXT: u8 = 97;
/// `INTEGER_EXT`, tag 98.
pub const INTEGER_EXT: u8 = 98;
/// `FLOAT_EXT`, tag 99.
pub const FLOAT_EXT: u8 = 99;
/// `ATOM_EXT`, tag 100.
pub const ATOM_EXT: u8 = 100;
/// `REFERENCE_EXT`, tag 101.
pub const REFERENCE_EXT: u8 = 101;
/// `PORT_EXT`, tag 102.
pub const PORT_EXT: u8 = 102;
/// `PID_EXT`, tag 103.
pub const PID_EXT: u8 = 103;
/// `SMALL_TUPLE_EXT`, tag 104.
pub const SMALL_TUPLE_EXT: u8 = 104;
/// `LARGE_TUPLE_EXT`, tag 105.
pub const LARGE_TUPLE_EXT: u8 = 105;
/// `NIL_EXT`, tag 106.
pub const NIL_EXT: u8 = 106;
/// `STRING_EXT`, tag 107.
pub const STRING_EXT: u8 = 107;
/// `LIST_EXT`, tag 108.
pub const LIST_EXT: u8 = 108;
/// `BINARY_EXT`, tag 109.
pub const BINARY_EXT: u8 = 109;
/// `SMALL_BIG_EXT`, tag 110.
pub const SMALL_BIG_EXT: u8 = 110;
/// `LARGE_BIG_EXT`, tag 111.
pub const LARGE_BIG_EXT: u8 = 111;
/// `NEW_FUN_EXT`, tag 112.
pub const NEW_FUN_EXT: u8 = 112;
/// `EXPORT_EXT`, tag 113.
pub const EXPORT_EXT: u8 = 113;
/// `NEW_REFERENCE_EXT`, tag 114.
pub const NEW_REFERENCE_EXT: u8 = 114;
/// `SMALL_ATOM_EXT`, tag 115.
pub const SMALL_ATOM_EXT: u8 = 115;
/// `MAP_EXT`, tag 116.
pub const MAP_EXT: u8 = 116;
/// `FUN_EXT`, tag 117.
pub const FUN_EXT: u8 = 117;
/// `ATOM_UTF8_EXT`, tag 118.
pub const ATOM_UTF8_EXT: u8 = 118;
/// `SMALL_ATOM_UTF8_EXT`, tag 119.
pub const SMALL_ATOM_UTF8_EXT: u8 = 119;
/// `V4_PORT_EXT`, tag 120.
pub const V4_PORT_EXT: u8 = 120;
/// `LOCAL_EXT`, tag 121.
pub const LOCAL_EXT: u8 = 121;
