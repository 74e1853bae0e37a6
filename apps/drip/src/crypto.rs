//! Envelope encryption, replacing the book's `"#encrypted"` suffix: each file gets its own
//! random 256-bit key; its bytes are encrypted in chunks with XChaCha20-Poly1305 as a STREAM
//! (`aead::stream`'s big-endian 32-bit counter construction: each chunk authenticated, the
//! last one marked, so a cut, reordered or altered file is refused); the file key is stored
//! only wrapped by the master key (XChaCha20-Poly1305 with a random nonce).
//!
//! The stored object is `DRIP\x01`, the 19-byte stream nonce prefix, then chunks of
//! [`CHUNK`] plaintext bytes plus a 16-byte tag each, the last one shorter (possibly empty).

use chacha20poly1305::aead::stream::{NewStream, StreamBE32, StreamPrimitive};
use chacha20poly1305::aead::{self, Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use thiserror::Error;

/// Plaintext bytes per chunk.
pub const CHUNK: usize = 64 * 1024;
/// Bytes a chunk's tag adds.
pub const TAG: usize = 16;
const MAGIC: &[u8; 5] = b"DRIP\x01";
/// The stream nonce prefix: XChaCha20's 24-byte nonce less STREAM's 5 bytes of counter and
/// last-chunk flag.
const PREFIX: usize = 19;
/// Bytes before the first chunk.
pub const HEADER: usize = MAGIC.len() + PREFIX;
const WRAP_AAD: &[u8] = b"drip file key v1";

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
}

/// 32 random bytes.
pub fn random_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    getrandom::fill(&mut k).expect("the system's randomness");
    k
}

/// The master key, from configuration: it only wraps and unwraps file keys.
#[derive(Clone)]
pub struct MasterKey(XChaCha20Poly1305);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// The master key of these 32 bytes.
    pub fn new(bytes: &[u8; 32]) -> MasterKey {
        MasterKey(XChaCha20Poly1305::new(bytes.into()))
    }

    /// `file_key` wrapped: a random nonce and the sealed key (72 bytes).
    pub fn wrap(&self, file_key: &[u8; 32]) -> Vec<u8> {
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).expect("the system's randomness");
        let sealed = self
            .0
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: file_key,
                    aad: WRAP_AAD,
                },
            )
            .expect("sealing 32 bytes cannot fail");
        [nonce.as_slice(), &sealed].concat()
    }

    /// The file key `wrapped` holds.
    pub fn unwrap(&self, wrapped: &[u8]) -> Result<[u8; 32], CryptoError> {
        if wrapped.len() != 24 + 32 + TAG {
            return Err(CryptoError::BadKey);
        }
        let (nonce, sealed) = wrapped.split_at(24);
        let key = self
            .0
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: WRAP_AAD,
                },
            )
            .map_err(|_| CryptoError::BadKey)?;
        key.try_into().map_err(|_| CryptoError::BadKey)
    }
}

/// The STREAM construction over XChaCha20-Poly1305 with a big-endian 32-bit chunk counter
/// (`aead::stream::StreamBE32`): every chunk is sealed or opened by its position alone, so
/// the chunks of a batch are independent and go to every core at once.
type Stream = StreamBE32<XChaCha20Poly1305>;

/// Chunks in a batch below which one thread does the work (a thread costs more than it saves).
const PARALLEL_FROM: usize = 4;

/// `work(position)` for `count` chunks from `first`, spread over the machine's cores in
/// contiguous runs, the results concatenated in order; the first error if any fails.
fn in_order<E: Send>(
    first: u32,
    count: usize,
    work: impl Fn(u32, usize) -> Result<Vec<u8>, E> + Sync,
) -> Result<Vec<u8>, E> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(count / PARALLEL_FROM)
        .max(1);
    let run = |from: usize, to: usize| -> Result<Vec<u8>, E> {
        let mut out = Vec::new();
        for i in from..to {
            out.extend_from_slice(&work(first.wrapping_add(i as u32), i)?);
        }
        Ok(out)
    };
    if threads == 1 {
        return run(0, count);
    }
    let per = count.div_ceil(threads);
    let parts: Vec<Result<Vec<u8>, E>> = std::thread::scope(|scope| {
        let run = &run;
        let handles: Vec<_> = (0..threads)
            .map(|t| scope.spawn(move || run(t * per, ((t + 1) * per).min(count))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.as_ref().map_or(0, Vec::len)).sum());
    for part in parts {
        out.extend_from_slice(&part?);
    }
    Ok(out)
}

/// Encrypts a file as its bytes come: [`push`](Encryptor::push) what arrives, then
/// [`finish`](Encryptor::finish). The full chunks of a large push are sealed on every core.
pub struct Encryptor {
    stream: Stream,
    /// The next chunk's position.
    position: u32,
    pending: Vec<u8>,
    header: Option<Vec<u8>>,
}

impl Encryptor {
    /// A new file under `file_key`.
    pub fn new(file_key: &[u8; 32]) -> Encryptor {
        let mut prefix = [0u8; PREFIX];
        getrandom::fill(&mut prefix).expect("the system's randomness");
        let aead = XChaCha20Poly1305::new(file_key.into());
        Encryptor {
            stream: Stream::from_aead(aead, (&prefix).into()),
            position: 0,
            pending: Vec::with_capacity(CHUNK),
            header: Some([MAGIC.as_slice(), &prefix].concat()),
        }
    }

    /// Takes `bytes`; the ciphertext ready so far (the header first).
    pub fn push(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = self.header.take().unwrap_or_default();
        self.pending.extend_from_slice(bytes);
        // A full chunk is sealed only once more follows: the last chunk is sealed differently.
        let full = self.pending.len().saturating_sub(1) / CHUNK;
        if full == 0 {
            return out;
        }
        let (stream, pending) = (&self.stream, &self.pending);
        let sealed: Result<Vec<u8>, aead::Error> = in_order(self.position, full, |at, i| {
            stream.encrypt(at, false, &pending[i * CHUNK..(i + 1) * CHUNK])
        });
        out.extend_from_slice(&sealed.expect("a chunk under 4 GiB seals"));
        self.position = self
            .position
            .checked_add(full as u32)
            .expect("a file under 256 TiB (2^32 chunks)");
        self.pending.drain(..full * CHUNK);
        out
    }

    /// The rest of the ciphertext: the last chunk.
    pub fn finish(mut self) -> Vec<u8> {
        let mut out = self.header.take().unwrap_or_default();
        let last = self
            .stream
            .encrypt(self.position, true, self.pending.as_slice())
            .expect("a chunk under 4 GiB seals");
        out.extend_from_slice(&last);
        out
    }
}

/// Decrypts a stored object as its bytes come, refusing it at the first chunk that does not
/// verify. The whole chunks of a large push are opened on every core.
pub struct Decryptor {
    key: [u8; 32],
    stream: Option<Stream>,
    /// The next chunk's position.
    position: u32,
    pending: Vec<u8>,
}

impl Decryptor {
    /// For an object sealed under `file_key`.
    pub fn new(file_key: &[u8; 32]) -> Decryptor {
        Decryptor {
            key: *file_key,
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
            if &self.pending[..MAGIC.len()] != MAGIC {
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
        let pending = &self.pending;
        let out = in_order(self.position, full, |at, i| {
            stream
                .decrypt(at, false, &pending[i * SEALED..(i + 1) * SEALED])
                .map_err(|_| CryptoError::Tampered)
        })?;
        self.position = self
            .position
            .checked_add(full as u32)
            .ok_or(CryptoError::Tampered)?;
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
            .decrypt(self.position, true, self.pending.as_slice())
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

    fn seal(key: &[u8; 32], data: &[u8], piece: usize) -> Vec<u8> {
        let mut e = Encryptor::new(key);
        let mut out = Vec::new();
        for p in data.chunks(piece.max(1)) {
            out.extend(e.push(p));
        }
        out.extend(e.finish());
        out
    }

    fn open(key: &[u8; 32], sealed: &[u8], piece: usize) -> Result<Vec<u8>, CryptoError> {
        let mut d = Decryptor::new(key);
        let mut out = Vec::new();
        for p in sealed.chunks(piece.max(1)) {
            out.extend(d.push(p)?);
        }
        out.extend(d.finish()?);
        Ok(out)
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
    fn a_file_key_unwraps_only_with_its_master_key() {
        let master = MasterKey::new(&random_key());
        let file_key = random_key();
        let wrapped = master.wrap(&file_key);
        assert_eq!(wrapped.len(), 72);
        assert_eq!(master.unwrap(&wrapped), Ok(file_key));
        assert_eq!(
            MasterKey::new(&random_key()).unwrap(&wrapped),
            Err(CryptoError::BadKey)
        );
        let mut bad = wrapped.clone();
        bad[40] ^= 1;
        assert_eq!(master.unwrap(&bad), Err(CryptoError::BadKey));
        assert_eq!(master.unwrap(&wrapped[..10]), Err(CryptoError::BadKey));
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
            let _ = MasterKey::new(&random_key()).unwrap(&junk);
        }
    }
}
