//! Envelope encryption, replacing the book's `"#encrypted"` suffix: each file gets its own
//! random 256-bit key; its bytes are encrypted in chunks with XChaCha20-Poly1305 as a STREAM
//! (`aead::stream`'s big-endian 32-bit counter construction: each chunk authenticated, the
//! last one marked, so a cut, reordered or altered file is refused); the file key is stored
//! only wrapped by the master key (XChaCha20-Poly1305 with a random nonce).
//!
//! The stored object is `DRIP\x02`, the 19-byte stream nonce prefix, then chunks of
//! [`CHUNK`] plaintext bytes plus a 16-byte tag each, the last one shorter (possibly empty).
//! Each chunk is bound to its file: the file's id is every chunk's associated data, and the
//! wrapped key's associated data is the file's id and its owner's, so someone who can write
//! both the database and the bucket cannot swap one user's file for another's unnoticed. A
//! wrapped key also names (by a short id) the master key that wrapped it, so a rotation can
//! leave keys under the old one while it re-wraps them. Objects and keys of the first format
//! (`DRIP\x01`, nothing bound) still open.

use chacha20poly1305::aead::stream::{NewStream, StreamBE32, StreamPrimitive};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use thiserror::Error;

/// Plaintext bytes per chunk.
pub const CHUNK: usize = 64 * 1024;
/// Bytes a chunk's tag adds.
pub const TAG: usize = 16;
const MAGIC: &[u8; 5] = b"DRIP\x02";
/// The first format: no associated data.
const MAGIC_V1: &[u8; 5] = b"DRIP\x01";
/// The stream nonce prefix: XChaCha20's 24-byte nonce less STREAM's 5 bytes of counter and
/// last-chunk flag.
const PREFIX: usize = 19;
/// Bytes before the first chunk.
pub const HEADER: usize = MAGIC.len() + PREFIX;
const WRAP_AAD_V1: &[u8] = b"drip file key v1";
const WRAP_AAD: &[u8] = b"drip file key v2";
/// A wrapped key of the second format starts with this byte, then the master key's id.
const WRAP_V2: u8 = 2;
/// Bytes of a master key's id.
const KEY_ID: usize = 8;

/// Why bytes could not be decrypted (or a key unwrapped).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CryptoError {
    /// Not a Drip object (or cut before its header ended).
    #[error("the stored object is not a Drip object")]
    BadHeader,
    /// A chunk's tag did not verify: altered, reordered or cut.
    #[error("the stored object has been altered or cut: refused")]
    Tampered,
    /// A wrapped key that the master key does not open.
    #[error("the file's key does not open with this master key")]
    BadKey,
    /// Past 2^32 chunks (256 TiB) a chunk's position would repeat.
    #[error("a file is at most 256 TiB")]
    TooLarge,
}

/// What a file's key and chunks are bound to: the file and its owner.
#[derive(Clone, Copy, Debug)]
pub struct Binding<'a> {
    /// The file's id.
    pub media_id: &'a str,
    /// Its owner's id.
    pub owner_id: &'a str,
}

impl Binding<'_> {
    fn wrap_aad(&self) -> Vec<u8> {
        [
            WRAP_AAD,
            self.media_id.as_bytes(),
            b"\0",
            self.owner_id.as_bytes(),
        ]
        .concat()
    }
}

/// 32 random bytes.
pub fn random_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    getrandom::fill(&mut k).expect("the system's randomness");
    k
}

/// The master key, from configuration: it only wraps and unwraps file keys.
#[derive(Clone)]
pub struct MasterKey {
    aead: XChaCha20Poly1305,
    id: [u8; KEY_ID],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.id())
    }
}

/// Bytes of a first-format wrapped key: nonce, sealed key, tag.
const WRAPPED_V1: usize = 24 + 32 + TAG;

impl MasterKey {
    /// The master key of these 32 bytes.
    pub fn new(bytes: &[u8; 32]) -> MasterKey {
        use sha2::Digest;
        let digest = sha2::Sha256::new()
            .chain_update(b"drip master key id")
            .chain_update(bytes)
            .finalize();
        let mut id = [0u8; KEY_ID];
        id.copy_from_slice(&digest[..KEY_ID]);
        MasterKey {
            aead: XChaCha20Poly1305::new(bytes.into()),
            id,
        }
    }

    /// Its id (hex): what a wrapped key names it by. Not secret: a hash of the key.
    pub fn id(&self) -> String {
        hex::encode(self.id)
    }

    /// `file_key` wrapped for `file`: the format byte, this key's id, a random nonce and the
    /// sealed key (81 bytes).
    pub fn wrap(&self, file_key: &[u8; 32], file: Binding<'_>) -> Vec<u8> {
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).expect("the system's randomness");
        let sealed = self
            .aead
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: file_key,
                    aad: &file.wrap_aad(),
                },
            )
            .expect("sealing 32 bytes cannot fail");
        [&[WRAP_V2][..], &self.id, &nonce, &sealed].concat()
    }

    /// Whether `wrapped` was wrapped by this key (a first-format key names none: maybe).
    pub fn wrapped(&self, wrapped: &[u8]) -> bool {
        match wrapped.split_first() {
            Some((&WRAP_V2, rest)) => rest.starts_with(&self.id),
            _ => wrapped.len() == WRAPPED_V1,
        }
    }

    /// The file key `wrapped` holds, if it was wrapped for `file` by this key.
    pub fn unwrap(&self, wrapped: &[u8], file: Binding<'_>) -> Result<[u8; 32], CryptoError> {
        let (body, aad) = match wrapped.split_first() {
            Some((&WRAP_V2, rest)) if rest.len() == KEY_ID + WRAPPED_V1 => {
                let (id, body) = rest.split_at(KEY_ID);
                if id != self.id {
                    return Err(CryptoError::BadKey);
                }
                (body, file.wrap_aad())
            }
            _ if wrapped.len() == WRAPPED_V1 => (wrapped, WRAP_AAD_V1.to_vec()),
            _ => return Err(CryptoError::BadKey),
        };
        let (nonce, sealed) = body.split_at(24);
        let key = self
            .aead
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::BadKey)?;
        key.try_into().map_err(|_| CryptoError::BadKey)
    }
}

/// The master keys a node holds: the current one, which wraps every new file key, and the one
/// a rotation replaced while file keys may still be wrapped under it.
#[derive(Clone, Debug)]
pub struct MasterKeys {
    /// Wraps new keys.
    pub current: MasterKey,
    /// `master.key.old`, if a rotation left it.
    pub old: Option<MasterKey>,
}

impl MasterKeys {
    /// `file_key` wrapped for `file` by the current key.
    pub fn wrap(&self, file_key: &[u8; 32], file: Binding<'_>) -> Vec<u8> {
        self.current.wrap(file_key, file)
    }

    /// The file key `wrapped` holds, by whichever key wrapped it.
    pub fn unwrap(&self, wrapped: &[u8], file: Binding<'_>) -> Result<[u8; 32], CryptoError> {
        self.current
            .unwrap(wrapped, file)
            .or_else(|e| match &self.old {
                Some(old) => old.unwrap(wrapped, file),
                None => Err(e),
            })
    }

    /// The file key `hex_wrapped` (as the store keeps it) holds.
    pub fn unwrap_hex(
        &self,
        hex_wrapped: &str,
        file: Binding<'_>,
    ) -> Result<[u8; 32], CryptoError> {
        let wrapped = hex::decode(hex_wrapped).map_err(|_| CryptoError::BadKey)?;
        self.unwrap(&wrapped, file)
    }
}

/// The STREAM construction over XChaCha20-Poly1305 with a big-endian 32-bit chunk counter
/// (`aead::stream::StreamBE32`): every chunk is sealed or opened by its position alone, so
/// the chunks of a batch are independent and go to every core at once.
type Stream = StreamBE32<XChaCha20Poly1305>;

/// Chunks in a batch below which one thread does the work (handing out costs more than it
/// saves).
const PARALLEL_FROM: usize = 4;

/// `work(position, index)` for `count` chunks from position `first`, on rayon's pool (one
/// thread per core, shared by every upload and download), the results concatenated in order;
/// the first error if any fails. Refused before any work if a position would pass 2^32 (it
/// would repeat a nonce).
fn in_order<E: Send>(
    first: u32,
    count: usize,
    too_large: E,
    work: impl Fn(u32, usize) -> Result<Vec<u8>, E> + Sync,
) -> Result<Vec<u8>, E> {
    use rayon::prelude::*;
    let fits = u32::try_from(count)
        .ok()
        .and_then(|n| first.checked_add(n))
        .is_some();
    if !fits {
        return Err(too_large);
    }
    let at = |i: usize| first + i as u32;
    if count < PARALLEL_FROM {
        let mut out = Vec::new();
        for i in 0..count {
            out.extend_from_slice(&work(at(i), i)?);
        }
        return Ok(out);
    }
    let parts: Vec<Vec<u8>> = (0..count)
        .into_par_iter()
        .map(|i| work(at(i), i))
        .collect::<Result<_, E>>()?;
    Ok(parts.concat())
}

/// Encrypts a file as its bytes come: [`push`](Encryptor::push) what arrives, then
/// [`finish`](Encryptor::finish). The full chunks of a large push are sealed on every core.
pub struct Encryptor {
    stream: Stream,
    /// Every chunk's associated data: the file's id.
    aad: Vec<u8>,
    /// The next chunk's position.
    position: u32,
    pending: Vec<u8>,
    header: Option<Vec<u8>>,
}

impl Encryptor {
    /// The file `media_id`, under `file_key`.
    pub fn new(file_key: &[u8; 32], media_id: &str) -> Encryptor {
        let mut prefix = [0u8; PREFIX];
        getrandom::fill(&mut prefix).expect("the system's randomness");
        let aead = XChaCha20Poly1305::new(file_key.into());
        Encryptor {
            stream: Stream::from_aead(aead, (&prefix).into()),
            aad: media_id.as_bytes().to_vec(),
            position: 0,
            pending: Vec::with_capacity(CHUNK),
            header: Some([MAGIC.as_slice(), &prefix].concat()),
        }
    }

    /// Takes `bytes`; the ciphertext ready so far (the header first). Refused past 256 TiB.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut out = self.header.take().unwrap_or_default();
        self.pending.extend_from_slice(bytes);
        // A full chunk is sealed only once more follows: the last chunk is sealed differently.
        let full = self.pending.len().saturating_sub(1) / CHUNK;
        if full == 0 {
            return Ok(out);
        }
        let (stream, pending, aad) = (&self.stream, &self.pending, self.aad.as_slice());
        let sealed = in_order(self.position, full, CryptoError::TooLarge, |at, i| {
            stream
                .encrypt(
                    at,
                    false,
                    Payload {
                        msg: &pending[i * CHUNK..(i + 1) * CHUNK],
                        aad,
                    },
                )
                .map_err(|_| CryptoError::TooLarge)
        })?;
        out.extend_from_slice(&sealed);
        self.position += full as u32;
        self.pending.drain(..full * CHUNK);
        Ok(out)
    }

    /// The rest of the ciphertext: the last chunk.
    pub fn finish(mut self) -> Result<Vec<u8>, CryptoError> {
        let mut out = self.header.take().unwrap_or_default();
        let last = self
            .stream
            .encrypt(
                self.position,
                true,
                Payload {
                    msg: self.pending.as_slice(),
                    aad: &self.aad,
                },
            )
            .map_err(|_| CryptoError::TooLarge)?;
        out.extend_from_slice(&last);
        Ok(out)
    }
}

/// Decrypts a stored object as its bytes come, refusing it at the first chunk that does not
/// verify. The whole chunks of a large push are opened on every core.
pub struct Decryptor {
    key: [u8; 32],
    /// The file's id: every chunk's associated data (none in the first format).
    media_id: Vec<u8>,
    aad: Vec<u8>,
    stream: Option<Stream>,
    /// The next chunk's position.
    position: u32,
    pending: Vec<u8>,
}

impl Decryptor {
    /// For the file `media_id`'s object, sealed under `file_key`.
    pub fn new(file_key: &[u8; 32], media_id: &str) -> Decryptor {
        Decryptor {
            key: *file_key,
            media_id: media_id.as_bytes().to_vec(),
            aad: Vec::new(),
            stream: None,
            position: 0,
            pending: Vec::new(),
        }
    }

    /// Takes `bytes`; the plaintext verified so far.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.pending.extend_from_slice(bytes);
        if self.stream.is_none() {
            if self.pending.len() < HEADER {
                return Ok(Vec::new());
            }
            let magic = &self.pending[..MAGIC.len()];
            if magic == MAGIC {
                self.aad = self.media_id.clone();
            } else if magic != MAGIC_V1 {
                return Err(CryptoError::BadHeader);
            }
            let prefix: [u8; PREFIX] = self.pending[MAGIC.len()..HEADER]
                .try_into()
                .map_err(|_| CryptoError::BadHeader)?;
            let aead = XChaCha20Poly1305::new((&self.key).into());
            self.stream = Some(Stream::from_aead(aead, (&prefix).into()));
            self.pending.drain(..HEADER);
        }
        let Some(stream) = self.stream.as_ref() else {
            return Err(CryptoError::BadHeader);
        };
        // A whole sealed chunk is opened only once more follows: the last is opened in finish.
        const SEALED: usize = CHUNK + TAG;
        let full = self.pending.len().saturating_sub(1) / SEALED;
        if full == 0 {
            return Ok(Vec::new());
        }
        let (pending, aad) = (&self.pending, self.aad.as_slice());
        let out = in_order(self.position, full, CryptoError::Tampered, |at, i| {
            stream
                .decrypt(
                    at,
                    false,
                    Payload {
                        msg: &pending[i * SEALED..(i + 1) * SEALED],
                        aad,
                    },
                )
                .map_err(|_| CryptoError::Tampered)
        })?;
        self.position += full as u32;
        self.pending.drain(..full * SEALED);
        Ok(out)
    }

    /// The last chunk's plaintext, once the whole object has been pushed.
    pub fn finish(self) -> Result<Vec<u8>, CryptoError> {
        let Some(stream) = self.stream else {
            return Err(CryptoError::BadHeader);
        };
        if self.pending.len() < TAG {
            return Err(CryptoError::Tampered);
        }
        stream
            .decrypt(
                self.position,
                true,
                Payload {
                    msg: self.pending.as_slice(),
                    aad: &self.aad,
                },
            )
            .map_err(|_| CryptoError::Tampered)
    }
}

/// The stored size of `plain` plaintext bytes.
pub fn sealed_len(plain: u64) -> u64 {
    // The last chunk may be full; an empty file is one empty chunk.
    let chunks = plain.div_ceil(CHUNK as u64).max(1);
    HEADER as u64 + plain + chunks * TAG as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FILE: Binding<'static> = Binding {
        media_id: "m1",
        owner_id: "u1",
    };

    fn seal_as(key: &[u8; 32], media: &str, data: &[u8], piece: usize) -> Vec<u8> {
        let mut e = Encryptor::new(key, media);
        let mut out = Vec::new();
        for p in data.chunks(piece.max(1)) {
            out.extend(e.push(p).expect("seals"));
        }
        out.extend(e.finish().expect("seals"));
        out
    }

    fn seal(key: &[u8; 32], data: &[u8], piece: usize) -> Vec<u8> {
        seal_as(key, "m1", data, piece)
    }

    fn open_as(
        key: &[u8; 32],
        media: &str,
        sealed: &[u8],
        piece: usize,
    ) -> Result<Vec<u8>, CryptoError> {
        let mut d = Decryptor::new(key, media);
        let mut out = Vec::new();
        for p in sealed.chunks(piece.max(1)) {
            out.extend(d.push(p)?);
        }
        out.extend(d.finish()?);
        Ok(out)
    }

    fn open(key: &[u8; 32], sealed: &[u8], piece: usize) -> Result<Vec<u8>, CryptoError> {
        open_as(key, "m1", sealed, piece)
    }

    #[test]
    fn round_trips_and_refuses_tampering_cuts_and_the_wrong_key() {
        let key = random_key();
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 7] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let sealed = seal(&key, &data, 1000);
            assert_eq!(sealed.len() as u64, sealed_len(len as u64), "{len}");
            assert_eq!(open(&key, &sealed, 4096).as_deref(), Ok(&data[..]), "{len}");
            if len >= 32 {
                assert!(
                    !sealed.windows(32).any(|w| w == &data[..32]),
                    "plaintext shows"
                );
            }
            let mut flipped = sealed.clone();
            let at = HEADER + (len / 2);
            flipped[at] ^= 1;
            assert_eq!(open(&key, &flipped, 4096), Err(CryptoError::Tampered));
            if len > CHUNK {
                // Cut at a chunk boundary: the new last chunk was not sealed as last.
                let cut = &sealed[..HEADER + CHUNK + TAG];
                assert_eq!(open(&key, cut, 4096), Err(CryptoError::Tampered));
            }
            assert_eq!(
                open(&random_key(), &sealed, 4096).map(|_| ()),
                Err(CryptoError::Tampered)
            );
        }
        assert_eq!(
            open(&key, b"not drip at all, sorry", 5),
            Err(CryptoError::BadHeader)
        );
    }

    #[test]
    fn an_object_opens_only_as_the_file_it_was_sealed_for() {
        // The swap an attacker with the database and the bucket would make: another file's
        // object (and key) under this file's row.
        let key = random_key();
        let data = vec![7u8; 3 * CHUNK + 5];
        let sealed = seal_as(&key, "media-a", &data, 5000);
        assert_eq!(open_as(&key, "media-a", &sealed, 7000), Ok(data));
        assert_eq!(
            open_as(&key, "media-b", &sealed, 7000),
            Err(CryptoError::Tampered)
        );
    }

    #[test]
    fn first_format_objects_and_keys_still_open() {
        // An object of the first format: DRIP\x01, chunks without associated data.
        let key = random_key();
        let mut prefix = [0u8; PREFIX];
        getrandom::fill(&mut prefix).expect("random");
        let stream = Stream::from_aead(XChaCha20Poly1305::new((&key).into()), (&prefix).into());
        let mut v1 = [MAGIC_V1.as_slice(), &prefix].concat();
        v1.extend(stream.encrypt(0, false, &[1u8; CHUNK][..]).expect("seals"));
        v1.extend(stream.encrypt(1, true, &b"end"[..]).expect("seals"));
        let mut want = vec![1u8; CHUNK];
        want.extend_from_slice(b"end");
        assert_eq!(open_as(&key, "any", &v1, 999), Ok(want));
        // A first-format wrapped key: nonce and sealed key under the constant associated data.
        let bytes = random_key();
        let master = MasterKey::new(&bytes);
        let nonce = [3u8; 24];
        let sealed = XChaCha20Poly1305::new((&bytes).into())
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &key,
                    aad: WRAP_AAD_V1,
                },
            )
            .expect("seals");
        let wrapped = [nonce.as_slice(), &sealed].concat();
        assert_eq!(master.unwrap(&wrapped, FILE), Ok(key));
    }

    #[test]
    fn a_file_key_unwraps_only_with_its_master_key_and_for_its_file() {
        let master = MasterKey::new(&random_key());
        let file_key = random_key();
        let wrapped = master.wrap(&file_key, FILE);
        assert_eq!(wrapped.len(), 81);
        assert!(master.wrapped(&wrapped));
        assert_eq!(master.unwrap(&wrapped, FILE), Ok(file_key));
        let other = MasterKey::new(&random_key());
        assert!(!other.wrapped(&wrapped));
        assert_eq!(other.unwrap(&wrapped, FILE), Err(CryptoError::BadKey));
        for moved in [
            Binding {
                media_id: "m2",
                owner_id: "u1",
            },
            Binding {
                media_id: "m1",
                owner_id: "u2",
            },
        ] {
            assert_eq!(master.unwrap(&wrapped, moved), Err(CryptoError::BadKey));
        }
        let mut bad = wrapped.clone();
        bad[40] ^= 1;
        assert_eq!(master.unwrap(&bad, FILE), Err(CryptoError::BadKey));
        assert_eq!(
            master.unwrap(&wrapped[..10], FILE),
            Err(CryptoError::BadKey)
        );
        // A rotation: the old key still opens what it wrapped, the new one wraps.
        let keys = MasterKeys {
            current: other.clone(),
            old: Some(master.clone()),
        };
        assert_eq!(keys.unwrap(&wrapped, FILE), Ok(file_key));
        assert!(other.wrapped(&keys.wrap(&file_key, FILE)));
    }

    #[test]
    fn positions_never_pass_two_to_the_32() {
        let mut e = Encryptor::new(&random_key(), "m1");
        e.position = u32::MAX - 1;
        assert_eq!(
            e.push(&vec![0u8; 3 * CHUNK + 1]).map(|_| ()),
            Err(CryptoError::TooLarge)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn any_bytes_in_any_pieces_round_trip(data in proptest::collection::vec(any::<u8>(), 0..150_000), a in 1usize..100_000, b in 1usize..100_000) {
            let key = random_key();
            let sealed = seal(&key, &data, a);
            prop_assert_eq!(open(&key, &sealed, b), Ok(data));
        }

        #[test]
        fn garbage_never_panics(junk in proptest::collection::vec(any::<u8>(), 0..5000)) {
            let _ = open(&random_key(), &junk, 7);
            let _ = MasterKey::new(&random_key()).unwrap(&junk, FILE);
        }
    }
}
