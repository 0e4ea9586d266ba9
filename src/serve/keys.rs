//! The issuer's signing keys (JWKS), by `kid`: fetched from `jwks_url` or the issuer's OpenID
//! discovery document, cached, and fetched again when a token names a key not seen yet (at
//! most once a minute, so tokens with made-up `kid`s cannot make sgops hammer the issuer) or
//! when the cached set is an hour old (so a key the issuer withdrew stops working).
//! Fetches are serialised: a burst of tokens with a new `kid` makes one fetch.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use crate::config::{ServeConfig, url_allowed};

/// An unknown `kid` refetches the set at most this often.
const REFETCH_AFTER: Duration = Duration::from_secs(60);
/// A set this old is fetched again on the next request (the old one kept if that fails).
const MAX_AGE: Duration = Duration::from_secs(3600);
/// Discovery documents and key sets are small; anything bigger is refused.
const MAX_DOCUMENT: usize = 1 << 20;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// A verification key and the one algorithm it may verify.
#[derive(Clone)]
pub struct Key {
    pub key: DecodingKey,
    pub algorithm: Algorithm,
}

/// Why the keys could not be had; logged, never shown to a caller.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("cannot fetch {url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("{url} is not a usable document: {reason}")]
    Document { url: String, reason: String },
}

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// The key cache of one issuer.
pub struct Keys {
    issuer: String,
    jwks_url: Option<String>,
    client: Client<Https, Empty<axum::body::Bytes>>,
    state: tokio::sync::Mutex<State>,
}

#[derive(Default)]
struct State {
    keys: HashMap<String, Key>,
    fetched: Option<Instant>,
    /// When an unknown `kid` last made sgops fetch the set (the start-up read does not
    /// count, so a key rotated in just after start is still picked up).
    unknown_refetch: Option<Instant>,
    /// The JWKS address the discovery document named, once read.
    discovered: Option<String>,
}

impl Keys {
    pub fn new(cfg: &ServeConfig) -> Result<Keys, KeysError> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| KeysError::Fetch {
                url: cfg.issuer.clone(),
                reason: format!("no trusted root certificates: {e}"),
            })?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Keys {
            issuer: cfg.issuer.clone(),
            jwks_url: cfg.jwks_url.clone(),
            client: Client::builder(TokioExecutor::new()).build(https),
            state: tokio::sync::Mutex::new(State::default()),
        })
    }

    /// Fetches the key set now (at start-up, so a wrong issuer shows at once).
    pub async fn load(&self) -> Result<usize, KeysError> {
        let mut state = self.state.lock().await;
        self.refresh(&mut state).await?;
        Ok(state.keys.len())
    }

    /// The key named `kid`, fetching the set again when allowed.
    pub async fn get(&self, kid: &str) -> Result<Option<Key>, KeysError> {
        let mut state = self.state.lock().await;
        let stale = state.fetched.is_none_or(|t| t.elapsed() >= MAX_AGE);
        let unknown = !state.keys.contains_key(kid);
        let may_refetch = state
            .unknown_refetch
            .is_none_or(|t| t.elapsed() >= REFETCH_AFTER);
        if stale || (unknown && may_refetch) {
            if unknown {
                state.unknown_refetch = Some(Instant::now());
            }
            if let Err(e) = self.refresh(&mut state).await {
                // A stale set still verifies what it can; an unreachable issuer is logged.
                tracing::warn!("signing keys not refreshed: {e}");
                if state.fetched.is_none() {
                    return Err(e);
                }
            }
        }
        Ok(state.keys.get(kid).cloned())
    }

    async fn refresh(&self, state: &mut State) -> Result<(), KeysError> {
        // Counted as a fetch even if it fails: the once-a-minute bound holds for failures too.
        state.fetched = Some(Instant::now());
        let url = match (&self.jwks_url, &state.discovered) {
            (Some(u), _) | (None, Some(u)) => u.clone(),
            (None, None) => {
                let u = self.discover().await?;
                state.discovered = Some(u.clone());
                u
            }
        };
        let doc = self.fetch(&url).await?;
        state.keys = parse_jwks(&url, &doc)?;
        tracing::info!("{} signing keys from {url}", state.keys.len());
        Ok(())
    }

    /// The `jwks_uri` of the issuer's discovery document, which must name the same issuer.
    async fn discover(&self) -> Result<String, KeysError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let doc = self.fetch(&url).await?;
        let bad = |reason: &str| KeysError::Document {
            url: url.clone(),
            reason: reason.to_string(),
        };
        if doc.get("issuer").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(bad("its `issuer` is not serve.issuer"));
        }
        let jwks = doc
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no `jwks_uri`"))?;
        url_allowed(jwks).map_err(|why| bad(&format!("jwks_uri {why}")))?;
        Ok(jwks.to_string())
    }

    async fn fetch(&self, url: &str) -> Result<Value, KeysError> {
        let fail = |reason: String| KeysError::Fetch {
            url: url.to_string(),
            reason,
        };
        let uri: http::Uri = url.parse().map_err(|_| fail("not a URL".into()))?;
        let get = async {
            let resp = self
                .client
                .get(uri)
                .await
                .map_err(|e| fail(e.to_string()))?;
            if !resp.status().is_success() {
                return Err(fail(format!("HTTP {}", resp.status())));
            }
            let body = Limited::new(resp.into_body(), MAX_DOCUMENT)
                .collect()
                .await
                .map_err(|e| fail(e.to_string()))?
                .to_bytes();
            serde_json::from_slice(&body).map_err(|e| KeysError::Document {
                url: url.to_string(),
                reason: e.to_string(),
            })
        };
        tokio::time::timeout(FETCH_TIMEOUT, get)
            .await
            .map_err(|_| fail(format!("no answer in {} s", FETCH_TIMEOUT.as_secs())))?
    }
}

/// The usable keys of a JWKS: RSA keys for RS256 and P-256 keys for ES256, each with a `kid`;
/// anything else (symmetric keys above all) is skipped, so no token can be checked with it.
pub fn parse_jwks(url: &str, doc: &Value) -> Result<HashMap<String, Key>, KeysError> {
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| KeysError::Document {
            url: url.to_string(),
            reason: "no `keys` array".into(),
        })?;
    let mut out = HashMap::new();
    for k in keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(k.clone()) else {
            continue;
        };
        if let Some((kid, key)) = usable(&jwk) {
            out.insert(kid, key);
        }
    }
    Ok(out)
}

fn usable(jwk: &Jwk) -> Option<(String, Key)> {
    let kid = jwk.common.key_id.clone()?;
    let algorithm = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
        _ => return None,
    };
    // A key published for another algorithm (RS384, PS256…) is not used for this one.
    let same = |alg: KeyAlgorithm| {
        matches!(
            (alg, algorithm),
            (KeyAlgorithm::RS256, Algorithm::RS256) | (KeyAlgorithm::ES256, Algorithm::ES256)
        )
    };
    if jwk.common.key_algorithm.is_some_and(|a| !same(a)) {
        return None;
    }
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != jsonwebtoken::jwk::PublicKeyUse::Signature)
    {
        return None;
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some((kid, Key { key, algorithm }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_rsa_and_p256_signing_keys_with_a_kid_are_kept() {
        let doc = json!({"keys": [
            {"kty": "RSA", "kid": "r1", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB", "alg": "RS256", "use": "sig"},
            {"kty": "RSA", "n": "sXch", "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "n": "sXch", "e": "AQAB", "use": "enc"},
            {"kty": "RSA", "kid": "r384", "n": "sXch", "e": "AQAB", "alg": "RS384"},
            {"kty": "oct", "kid": "h1", "k": "c2VjcmV0"},
            {"kty": "EC", "kid": "p384", "crv": "P-384", "x": "AAAA", "y": "AAAA"},
            {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": "AAAA"},
            {"kty": "EC", "kid": "e1", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "weird"}
        ]});
        let keys = parse_jwks("u", &doc).unwrap();
        let mut kids: Vec<_> = keys.keys().cloned().collect();
        kids.sort();
        assert_eq!(kids, ["e1", "r1"]);
        assert_eq!(keys["r1"].algorithm, Algorithm::RS256);
        assert_eq!(keys["e1"].algorithm, Algorithm::ES256);
        assert!(parse_jwks("u", &json!({"nokeys": []})).is_err());
    }
}
