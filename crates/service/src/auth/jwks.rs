//! Lazily fetched, rate-limited cache of an issuer's RSA signing keys.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use serde::Deserialize;

use super::AuthError;

/// Timeout of one JWKS request, connection included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Shortest time between two fetches after a failed one, unless
/// `min_refresh_interval` is shorter still.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// Maximum JWKS body size, in bytes. Real key sets contain a few keys of a few KiB each at most.
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// Keys by `kid`, replaced as a whole on every successful fetch.
type KeyMap = HashMap<String, DecodingKey>;

/// Outcome of the latest fetch, used to rate-limit the next one.
#[derive(Default)]
struct FetchHistory {
    last_attempt: Option<Instant>,
    last_error: Option<String>,
}

/// Signing keys of one issuer, fetched from its JWKS URL on demand.
///
/// A lookup for an unknown `kid` fetches the document again, at most once per
/// `min_refresh_interval`, or once per 5 s after a failed fetch. So a rotated
/// key is picked up without a restart, and a flood of made-up kids costs the
/// issuer at most one request per interval. Concurrent lookups wait for the
/// one fetch in flight instead of starting their own.
pub(crate) struct JwksCache {
    url: reqwest::Url,
    http: reqwest::Client,
    min_refresh_interval: Duration,
    keys: RwLock<Arc<KeyMap>>,
    history: tokio::sync::Mutex<FetchHistory>,
}

impl JwksCache {
    pub(crate) fn new(
        url: reqwest::Url,
        http: reqwest::Client,
        min_refresh_interval: Duration,
    ) -> Self {
        Self {
            url,
            http,
            min_refresh_interval,
            keys: RwLock::new(Arc::new(KeyMap::new())),
            history: tokio::sync::Mutex::new(FetchHistory::default()),
        }
    }

    /// Finds the key for `kid`, fetching the JWKS when the key is not cached.
    ///
    /// # Errors
    ///
    /// [`AuthError::UnknownKey`] when the fresh document lacks `kid` or the
    /// latest fetch succeeded too recently to fetch again, and
    /// [`AuthError::KeysUnavailable`] when the latest fetch failed.
    pub(crate) async fn key(&self, kid: &str) -> Result<DecodingKey, AuthError> {
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }

        // Holding the lock across the fetch makes concurrent callers share it.
        let mut history = self.history.lock().await;
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        // After a failure the issuer may be back soon, and without keys every
        // request fails, so the next attempt comes sooner than after a success.
        let interval = if history.last_error.is_some() {
            self.min_refresh_interval.min(RETRY_AFTER_FAILURE)
        } else {
            self.min_refresh_interval
        };
        let recently = history
            .last_attempt
            .is_some_and(|at| at.elapsed() < interval);
        if !recently {
            history.last_attempt = Some(Instant::now());
            history.last_error = match self.fetch().await {
                Ok(keys) => {
                    self.store(keys);
                    None
                }
                Err(reason) => {
                    tracing::warn!(url = %self.url, error = %reason, "failed to fetch the JWKS");
                    Some(reason)
                }
            };
        }
        if let Some(reason) = &history.last_error {
            return Err(AuthError::KeysUnavailable(reason.clone()));
        }
        self.cached(kid).ok_or(AuthError::UnknownKey)
    }

    fn cached(&self, kid: &str) -> Option<DecodingKey> {
        // A poisoned lock still contains a complete map, because `store` only swaps an Arc.
        let keys = self
            .keys
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        keys.get(kid).cloned()
    }

    fn store(&self, keys: KeyMap) {
        let mut slot = self
            .keys
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *slot = Arc::new(keys);
    }

    /// Downloads and parses the JWKS document. The error is a sentence that is safe to log.
    async fn fetch(&self) -> Result<KeyMap, String> {
        let mut response = self
            .http
            .get(self.url.clone())
            .timeout(FETCH_TIMEOUT)
            .send()
            .await
            .map_err(|error| format!("request failed: {error}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("the issuer answered with HTTP {status}"));
        }

        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| format!("reading the body failed: {error}"))?
        {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(format!("the body is larger than {MAX_JWKS_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }

        let keys = parse_key_set(&body)?;
        tracing::info!(url = %self.url, keys = keys.len(), "fetched the JWKS");
        Ok(keys)
    }
}

/// One entry of a JWKS document, without the fields that RS256 verification does not use.
#[derive(Deserialize)]
struct JsonWebKey {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    alg: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

#[derive(Deserialize)]
struct JsonWebKeySet {
    keys: Vec<serde_json::Value>,
}

/// Parses a JWKS document into RS256 verification keys by `kid`.
///
/// Entries of other key types, for encryption, for other algorithms or
/// without a `kid` are skipped, so an issuer may publish them alongside.
fn parse_key_set(body: &[u8]) -> Result<KeyMap, String> {
    let set: JsonWebKeySet = serde_json::from_slice(body)
        .map_err(|error| format!("the body is not a JWKS document: {error}"))?;

    let mut keys = KeyMap::new();
    for entry in set.keys {
        let Ok(key) = serde_json::from_value::<JsonWebKey>(entry) else {
            continue;
        };
        let usable = key.kty == "RSA"
            && key.usage.as_deref().is_none_or(|usage| usage == "sig")
            && key.alg.as_deref().is_none_or(|alg| alg == "RS256");
        let (true, Some(kid), Some(n), Some(e)) = (usable, key.kid, key.n, key.e) else {
            continue;
        };
        match DecodingKey::from_rsa_components(&n, &e) {
            Ok(decoding_key) => {
                keys.insert(kid, decoding_key);
            }
            Err(error) => tracing::warn!(%kid, %error, "skipping a JWKS key with invalid n or e"),
        }
    }
    if keys.is_empty() {
        tracing::warn!("the JWKS document contains no RS256 signing key");
    }
    Ok(keys)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // A panic in a test is a failure with a location.
mod tests {
    use super::*;

    #[test]
    fn key_set_skips_unusable_entries() {
        let body = serde_json::json!({"keys": [
            {"kty": "RSA", "kid": "good", "n": "AQAB", "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
            {"kty": "RSA", "kid": "ps", "alg": "PS256", "n": "AQAB", "e": "AQAB"},
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AQAB", "y": "AQAB"},
            {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
            {"kty": "RSA", "kid": "no-modulus", "e": "AQAB"},
            "not an object"
        ]});
        let keys = parse_key_set(body.to_string().as_bytes()).unwrap();
        let mut kids: Vec<_> = keys.keys().cloned().collect();
        kids.sort();
        assert_eq!(kids, ["good"]);
    }

    #[test]
    fn key_set_rejects_other_documents() {
        assert!(parse_key_set(b"<html></html>").is_err());
        assert!(parse_key_set(br#"{"issuer": "x"}"#).is_err());
    }
}
