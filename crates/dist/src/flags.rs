//! Distribution capability flags (`DFLAG_*`), exchanged in the handshake's `send_name` and
//! `send_challenge` messages as 64 bits. Values from OTP 25's `kernel/include/dist.hrl`; note
//! that `MANDATORY_25_DIGEST` is bit 26 (`0x4000000`), whatever some docs say.

use std::fmt;

/// A set of distribution flags.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DistFlags(pub u64);

macro_rules! flags {
    ($($(#[$doc:meta])* $name:ident = $value:expr;)*) => {
        impl DistFlags {
            $($(#[$doc])* pub const $name: DistFlags = DistFlags($value);)*
            /// Every named flag with its name, lowest bit first (`dist_util:dflag2str/1`).
            const NAMED: &'static [(&'static str, u64)] = &[$((stringify!($name), $value)),*];
        }
    };
}

flags! {
    /// The node is published: a normal (not hidden) node.
    PUBLISHED = 0x01;
    /// The old atom cache (obsolete).
    ATOM_CACHE = 0x02;
    /// Extended (multi-word) references.
    EXTENDED_REFERENCES = 0x04;
    /// Distributed monitors.
    DIST_MONITOR = 0x08;
    /// Fun tags.
    FUN_TAGS = 0x10;
    /// Monitors by registered name.
    DIST_MONITOR_NAME = 0x20;
    /// The atom cache for hidden nodes (obsolete).
    HIDDEN_ATOM_CACHE = 0x40;
    /// `NEW_FUN_EXT`.
    NEW_FUN_TAGS = 0x80;
    /// Extended pids and ports.
    EXTENDED_PIDS_PORTS = 0x100;
    /// `EXPORT_EXT`.
    EXPORT_PTR_TAG = 0x200;
    /// Bit binaries.
    BIT_BINARIES = 0x400;
    /// `NEW_FLOAT_EXT`.
    NEW_FLOATS = 0x800;
    /// Unicode in I/O.
    UNICODE_IO = 0x1000;
    /// The distribution header's atom cache.
    DIST_HDR_ATOM_CACHE = 0x2000;
    /// `SMALL_ATOM_EXT`.
    SMALL_ATOM_TAGS = 0x4000;
    /// UTF-8 atoms.
    UTF8_ATOMS = 0x10000;
    /// `MAP_EXT`.
    MAP_TAG = 0x20000;
    /// 32-bit creations.
    BIG_CREATION = 0x40000;
    /// `SEND_SENDER` control messages.
    SEND_SENDER = 0x80000;
    /// Big sequential trace labels.
    BIG_SEQTRACE_LABELS = 0x100000;
    /// `PAYLOAD_EXIT`, `PAYLOAD_EXIT2`, `PAYLOAD_MONITOR_P_EXIT`.
    EXIT_PAYLOAD = 0x400000;
    /// Fragmented messages.
    FRAGMENTS = 0x800000;
    /// The version 6 handshake (OTP 23).
    HANDSHAKE_23 = 0x1000000;
    /// The new link protocol (`UNLINK_ID`, `UNLINK_ID_ACK`).
    UNLINK_ID = 0x2000000;
    /// Stands for every flag in [`DistFlags::MANDATORY_25`] (OTP 25).
    MANDATORY_25_DIGEST = 0x4000000;
    /// `SPAWN_REQUEST`/`SPAWN_REPLY`.
    SPAWN = 1 << 32;
    /// Dynamic node names.
    NAME_ME = 2 << 32;
    /// Large node containers (`V4_PORT_EXT`, 64-bit port numbers).
    V4_NC = 4 << 32;
    /// Process aliases (`ALIAS_SEND`).
    ALIAS = 8 << 32;
}

impl DistFlags {
    /// The flags OTP 25 requires (`?MANDATORY_DFLAGS_25`).
    pub const MANDATORY_25: DistFlags = DistFlags(
        Self::EXTENDED_REFERENCES.0
            | Self::FUN_TAGS.0
            | Self::EXTENDED_PIDS_PORTS.0
            | Self::NEW_FUN_TAGS.0
            | Self::EXPORT_PTR_TAG.0
            | Self::BIT_BINARIES.0
            | Self::NEW_FLOATS.0
            | Self::UTF8_ATOMS.0
            | Self::MAP_TAG.0
            | Self::BIG_CREATION.0
            | Self::HANDSHAKE_23.0,
    );

    /// What rotp requires of a peer: OTP 26's mandatory set, that is OTP 25's
    /// (`erts_internal:get_dflags()`'s `mandatory` in OTP 25 is exactly [`DistFlags::MANDATORY_25`])
    /// plus `UNLINK_ID` and `V4_NC`. Every OTP 25 node offers them.
    pub const REQUIRED: DistFlags =
        DistFlags(Self::MANDATORY_25.0 | Self::UNLINK_ID.0 | Self::V4_NC.0);

    /// What rotp offers: the same as erts 13's defaults (`16#D07DF7FBC`), `PUBLISHED` added by
    /// the handshake for visible nodes.
    pub const DEFAULT: DistFlags = DistFlags(0xD_07DF_7FBC);

    /// Whether every flag of `other` is set.
    pub fn contains(self, other: DistFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// `MANDATORY_25_DIGEST` stands for the whole OTP 25 set
    /// (`dist_util:expand_mandatory_25_flag/1`).
    pub fn expand_mandatory_25(self) -> DistFlags {
        if self.contains(Self::MANDATORY_25_DIGEST) {
            self | Self::MANDATORY_25
        } else {
            self
        }
    }

    /// The flags of `required` this set lacks, by name, as `dist_util:check_mandatory/3`
    /// reports them.
    pub fn missing(self, required: DistFlags) -> Vec<String> {
        let lacking = required.0 & !self.0;
        (0..64)
            .filter(|bit| lacking & (1 << bit) != 0)
            .map(|bit| flag_name(1 << bit))
            .collect()
    }
}

/// A flag's name, or `UNKNOWN<hex>` as `dist_util:dflag2str/1` writes it.
fn flag_name(bit: u64) -> String {
    DistFlags::NAMED
        .iter()
        .find(|(_, value)| *value == bit)
        .map_or_else(
            || format!("UNKNOWN<{bit:X}>"),
            |(name, _)| (*name).to_owned(),
        )
}

impl std::ops::BitOr for DistFlags {
    type Output = DistFlags;
    fn bitor(self, rhs: DistFlags) -> DistFlags {
        DistFlags(self.0 | rhs.0)
    }
}

impl std::ops::BitAnd for DistFlags {
    type Output = DistFlags;
    fn bitand(self, rhs: DistFlags) -> DistFlags {
        DistFlags(self.0 & rhs.0)
    }
}

impl fmt::Debug for DistFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = (0..64)
            .filter(|bit| self.0 & (1 << bit) != 0)
            .map(|bit| flag_name(1 << bit))
            .collect();
        write!(f, "DistFlags({:#x}: {})", self.0, names.join("|"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otp_25_requires_what_erts_says() {
        assert_eq!(DistFlags::MANDATORY_25.0, 0x107_0F94);
    }

    #[test]
    fn the_digest_flag_stands_for_the_otp_25_set() {
        let peer = DistFlags::MANDATORY_25_DIGEST | DistFlags::PUBLISHED;
        assert!(peer.expand_mandatory_25().contains(DistFlags::MANDATORY_25));
        assert!(!peer.contains(DistFlags::MANDATORY_25));
        assert_eq!(DistFlags::MANDATORY_25_DIGEST.0, 0x400_0000);
    }

    #[test]
    fn what_we_offer_satisfies_what_we_require() {
        assert!(DistFlags::DEFAULT.contains(DistFlags::REQUIRED));
        assert!(DistFlags::DEFAULT.missing(DistFlags::REQUIRED).is_empty());
        assert_eq!(
            DistFlags(0).missing(DistFlags::UTF8_ATOMS | DistFlags::V4_NC),
            ["UTF8_ATOMS", "V4_NC"]
        );
    }
}
