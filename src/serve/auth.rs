//! Who is calling: a bearer JWT from the organization's OIDC issuer, checked with
//! `jsonwebtoken` against the issuer's keys. RS256 and ES256 only, each key verifying only its
//! own algorithm, so neither `none` nor an HMAC token "signed" with a public key gets through.
//!
//! A refusal carries its reason for the log; the caller only ever hears `Unauthorized`.

use jsonwebtoken::{Algorithm, Validation, decode, decode_header};
use serde::Deserialize;

use super::keys::{Keys, KeysError};
use crate::config::ServeConfig;

/// Clock skew allowed on `exp` and `nbf`.
const LEEWAY_SECONDS: u64 = 60;

/// Why a request was not authenticated. Logged; never sent.
#[derive(Debug, thiserror::Error)]
pub enum AuthFailure {
    #[error("no Authorization header")]
    Missing,
    #[error("the Authorization header is not `Bearer <token>`")]
    NotBearer,
    #[error("the token is not a JWT: {0}")]
    Malformed(String),
    #[error("algorithm {0:?} is not accepted (RS256 and ES256 only)")]
    Algorithm(Algorithm),
    #[error("the token names no key (`kid`)")]
    NoKid,
    #[error("no signing key {0:?} at the issuer")]
    UnknownKid(String),
    #[error("key {kid:?} is for {key:?}, the token says {token:?}")]
    WrongKeyAlgorithm {
        kid: String,
        key: Algorithm,
        token: Algorithm,
    },
    #[error("the token was refused: {0}")]
    Invalid(String),
    #[error("the issuer's keys are not available: {0}")]
    Keys(#[from] KeysError),
}

impl AuthFailure {
    /// Whether the failure is the server's (its issuer unreachable), not the caller's.
    pub fn is_ours(&self) -> bool {
        matches!(self, AuthFailure::Keys(_))
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
}

/// Checks tokens for one issuer and audience.
pub struct Verifier {
    issuer: String,
    audience: String,
    pub keys: Keys,
}

impl Verifier {
    pub fn new(cfg: &ServeConfig) -> Result<Verifier, KeysError> {
        Ok(Verifier {
            issuer: cfg.issuer.clone(),
            audience: cfg.audience.clone(),
            keys: Keys::new(cfg)?,
        })
    }

    /// The `sub` of the token in an `Authorization` header value.
    pub async fn subject(&self, authorization: Option<&[u8]>) -> Result<String, AuthFailure> {
        let header = authorization.ok_or(AuthFailure::Missing)?;
        let header = std::str::from_utf8(header).map_err(|_| AuthFailure::NotBearer)?;
        let (scheme, token) = header.split_once(' ').ok_or(AuthFailure::NotBearer)?;
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
            return Err(AuthFailure::NotBearer);
        }
        self.verify(token).await
    }

    async fn verify(&self, token: &str) -> Result<String, AuthFailure> {
        let header = decode_header(token).map_err(|e| AuthFailure::Malformed(e.to_string()))?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(AuthFailure::Algorithm(header.alg));
        }
        let kid = header.kid.ok_or(AuthFailure::NoKid)?;
        let key = self
            .keys
            .get(&kid)
            .await?
            .ok_or_else(|| AuthFailure::UnknownKid(kid.clone()))?;
        if key.algorithm != header.alg {
            return Err(AuthFailure::WrongKeyAlgorithm {
                kid,
                key: key.algorithm,
                token: header.alg,
            });
        }
        let mut v = Validation::new(key.algorithm);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.validate_nbf = true;
        v.leeway = LEEWAY_SECONDS;
        let data = decode::<Claims>(token, &key.key, &v)
            .map_err(|e| AuthFailure::Invalid(format!("{:?}", e.kind())))?;
        if data.claims.sub.is_empty() {
            return Err(AuthFailure::Invalid("empty `sub`".into()));
        }
        Ok(data.claims.sub)
    }
}
