//! The relay delivery mode of the Hooks pattern.
//!
//! `hook-relay` is a raw web action in a private package that holds the relay keys
//! (`relayKeys`). A hook installed by `hook-feed` in relay mode points at
//! `{relayUrl}/deliver/{namespace}/{trigger}?token=...` instead of the trigger's fire URL:
//!
//! - the token ([`token`]) is the trigger owner's OpenWhisk key sealed (ChaCha20-Poly1305) under a
//!   key derived from a relay key, bound to the trigger; it names the relay key's id, so keys can
//!   rotate;
//! - the hook's signing secret is derived (HKDF-SHA256) from the relay key, the token's random
//!   nonce and the trigger, so the relay stays stateless and no secret is stored in clear;
//! - a delivery is checked for size (413), signature presence (401), token (403) and
//!   `X-Hub-Signature-256` (401, constant-time) before the trigger fires with
//!   `{event, delivery, payload}`.
//!
//! `hook-feed`, which must not hold the relay keys (its package may be shared), asks the relay to
//! seal over [`wire`]'s `POST /seal`. The cryptography is `ring`'s (already linked through
//! rustls).

mod deliver;
mod encoding;
mod keys;
mod relay;
mod seal;
mod signature;
pub mod token;
pub mod wire;

pub use deliver::MAX_BODY_BYTES;
pub use keys::{CryptoError, MIN_KEY_BYTES, RELAY_KEYS, RelayKey, RelayKeys};
pub use relay::{Relay, RelayParams};
pub use seal::MAX_SEAL_BODY_BYTES;
pub use signature::{SignatureError, sign, verify};
