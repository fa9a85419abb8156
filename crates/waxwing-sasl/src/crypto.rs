//! The primitives SCRAM is built from (RFC 5802 §2.2), dispatched on
//! [`HashAlg`], plus randomness.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{EagerHash, Hmac, KeyInit, Mac};
use sha2::Digest;

use crate::HashAlg;

/// `H(data)`.
pub(crate) fn hash(alg: HashAlg, data: &[u8]) -> Vec<u8> {
    match alg {
        HashAlg::Sha1 => sha1::Sha1::digest(data).to_vec(),
        HashAlg::Sha256 => sha2::Sha256::digest(data).to_vec(),
        HashAlg::Sha512 => sha2::Sha512::digest(data).to_vec(),
    }
}

/// `HMAC(key, data)`.
pub(crate) fn hmac(alg: HashAlg, key: &[u8], data: &[u8]) -> Vec<u8> {
    fn with<D: EagerHash>(key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut mac = Hmac::<D>::new_from_slice(key).expect("HMAC accepts keys of any length");
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }
    match alg {
        HashAlg::Sha1 => with::<sha1::Sha1>(key, data),
        HashAlg::Sha256 => with::<sha2::Sha256>(key, data),
        HashAlg::Sha512 => with::<sha2::Sha512>(key, data),
    }
}

/// `Hi(password, salt, i)`, which is PBKDF2 with HMAC as the PRF and an
/// output of one hash length (RFC 5802 §2.2).
pub(crate) fn hi(alg: HashAlg, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
    let mut out = vec![0; alg.output_len()];
    match alg {
        HashAlg::Sha1 => pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, salt, iterations, &mut out),
        HashAlg::Sha256 => pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, iterations, &mut out),
        HashAlg::Sha512 => pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password, salt, iterations, &mut out),
    }
    out
}

/// `a XOR b` for equal-length inputs.
pub(crate) fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    debug_assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

/// Constant-time equality; lengths are not secret.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

/// `N` bytes from the operating system's CSPRNG.
///
/// # Panics
///
/// If the OS cannot provide randomness. There is no safe way to carry on
/// authenticating without it, and on supported platforms it does not fail
/// once the process is running.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0; N];
    getrandom::fill(&mut buf).expect("the OS random number generator failed");
    buf
}

/// A fresh nonce: 18 random bytes in base64, i.e. 24 printable characters
/// with no `,` (RFC 5802 §5.1 `r=`), and 144 bits of entropy.
pub(crate) fn random_nonce() -> String {
    STANDARD.encode(random_bytes::<18>())
}

/// A secret generated once per process, keying the fake salts handed out
/// for unknown users (see [`crate::ScramServer::server_first`]).
pub(crate) fn process_secret() -> &'static [u8; 32] {
    static SECRET: OnceLock<[u8; 32]> = OnceLock::new();
    SECRET.get_or_init(random_bytes::<32>)
}

/// Standard base64 with padding, as SCRAM uses (RFC 5802 §7 `base64`).
pub(crate) fn b64_encode(data: &[u8]) -> String {
    STANDARD.encode(data)
}

/// Strict base64 decoding (canonical padding and trailing bits).
pub(crate) fn b64_decode(data: &str) -> Option<Vec<u8>> {
    STANDARD.decode(data).ok()
}
