//! Secret-scanning partners (GitHub's format): reports are signed with
//! ECDSA P-256 over SHA-256 of the raw body; the signature comes base64
//! (DER) in `Github-Public-Key-Signature`, the key's id in
//! `Github-Public-Key-Identifier`. The public keys are given by
//! configuration (no fetch at run time), in the JSON GitHub publishes.

use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use p256::ecdsa::{signature::Verifier as _, Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey as _;
use serde::Deserialize;

/// The partners' public keys by identifier.
#[derive(Debug, Default)]
pub struct ScanningKeys {
    keys: Vec<(String, VerifyingKey)>,
}

#[derive(Deserialize)]
struct KeyFile {
    public_keys: Vec<KeyEntry>,
}

#[derive(Deserialize)]
struct KeyEntry {
    key_identifier: String,
    key: String,
}

impl ScanningKeys {
    /// Parses the key file's text; a sentence naming the problem otherwise.
    pub fn parse(text: &str) -> Result<ScanningKeys, String> {
        let file: KeyFile = serde_json::from_str(text).map_err(|e| {
            format!("the secret-scanning key file is not {{\"public_keys\": [...]}} JSON: {e}")
        })?;
        let mut keys = Vec::new();
        for entry in file.public_keys {
            let key = VerifyingKey::from_public_key_pem(entry.key.trim()).map_err(|e| {
                format!(
                    "secret-scanning key {} is not a P-256 public key in PEM: {e}",
                    entry.key_identifier
                )
            })?;
            keys.push((entry.key_identifier, key));
        }
        if keys.is_empty() {
            return Err("the secret-scanning key file lists no keys".into());
        }
        Ok(ScanningKeys { keys })
    }

    /// Reads and parses the key file at `path`.
    pub fn load(path: &std::path::Path) -> Result<ScanningKeys, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("could not read {}: {e}", path.display()))?;
        Self::parse(&text)
    }

    /// True when `signature` (base64 DER) over `body` verifies with the key
    /// named `key_id`.
    pub fn verify(&self, key_id: &str, signature: &str, body: &[u8]) -> bool {
        let Some((_, key)) = self.keys.iter().find(|(id, _)| id == key_id) else {
            return false;
        };
        let Ok(der) = BASE64.decode(signature.trim()) else {
            return false;
        };
        let Ok(sig) = Signature::from_der(&der) else {
            return false;
        };
        key.verify(body, &sig).is_ok()
    }
}
