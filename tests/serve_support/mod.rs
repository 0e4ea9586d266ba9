//! For `sgops serve` tests: a local OIDC issuer (discovery document and JWKS served by
//! wiremock, tokens signed here with this test's own RSA and EC keys, independently of the
//! crate sgops verifies with), a running `sgops serve`, and a small HTTP client.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RSA_PKCS1_SHA256,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const AUDIENCE: &str = "api://sgops";

/// A signing key of the test issuer.
pub enum Signer {
    Rsa(aws_lc_rs::rsa::KeyPair),
    Ec(EcdsaKeyPair),
}

pub struct Key {
    pub kid: String,
    pub signer: Signer,
}

impl Key {
    pub fn rsa(kid: &str) -> Key {
        Key {
            kid: kid.into(),
            signer: Signer::Rsa(aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa2048).expect("rsa")),
        }
    }

    pub fn ec(kid: &str) -> Key {
        Key {
            kid: kid.into(),
            signer: Signer::Ec(
                EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("ec"),
            ),
        }
    }

    pub fn alg(&self) -> &'static str {
        match self.signer {
            Signer::Rsa(_) => "RS256",
            Signer::Ec(_) => "ES256",
        }
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> Value {
        match &self.signer {
            Signer::Rsa(k) => {
                let p = k.public_key();
                json!({
                    "kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256",
                    "n": B64.encode(p.modulus().big_endian_without_leading_zero()),
                    "e": B64.encode(p.exponent().big_endian_without_leading_zero()),
                })
            }
            Signer::Ec(k) => {
                let point = k.public_key().as_ref();
                json!({
                    "kty": "EC", "kid": self.kid, "use": "sig", "alg": "ES256", "crv": "P-256",
                    "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65]),
                })
            }
        }
    }

    /// The public key's bytes (what an HS256 forgery would use as its secret).
    pub fn public_bytes(&self) -> Vec<u8> {
        match &self.signer {
            Signer::Rsa(k) => k.public_key().as_ref().to_vec(),
            Signer::Ec(k) => k.public_key().as_ref().to_vec(),
        }
    }

    /// A JWT with these claims, signed by this key under its own algorithm and kid.
    pub fn token(&self, claims: &Value) -> String {
        self.token_with(
            &json!({"alg": self.alg(), "typ": "JWT", "kid": self.kid}),
            claims,
        )
    }

    /// A JWT with this header (any `alg`), signed by this key's algorithm.
    pub fn token_with(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let rng = SystemRandom::new();
        let sig = match &self.signer {
            Signer::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut sig)
                    .expect("sign");
                sig
            }
            Signer::Ec(k) => k
                .sign(&rng, input.as_bytes())
                .expect("sign")
                .as_ref()
                .to_vec(),
        };
        format!("{input}.{}", B64.encode(sig))
    }
}

/// An HS256 token "signed" with `secret`: the algorithm-confusion forgery.
pub fn hs256_token(kid: &str, secret: &[u8], claims: &Value) -> String {
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": kid});
    let input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", B64.encode(tag.as_ref()))
}

/// An unsigned (`alg: none`) token.
pub fn none_token(kid: &str, claims: &Value) -> String {
    let header = json!({"alg": "none", "typ": "JWT", "kid": kid});
    format!(
        "{}.{}.",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    )
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// The local OIDC issuer: discovery at `<uri>/.well-known/openid-configuration`, keys at
/// `<uri>/keys`.
pub struct Issuer {
    pub server: MockServer,
}

impl Issuer {
    pub async fn start(keys: &[&Key]) -> Issuer {
        let server = MockServer::start().await;
        let issuer = Issuer { server };
        issuer.publish(keys).await;
        issuer
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// Serves exactly these keys from now on (and the discovery document).
    pub async fn publish(&self, keys: &[&Key]) {
        self.server.reset().await;
        let uri = self.uri();
        Mock::given(method("GET"))
            .and(path("/.well-known/openid-configuration"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "issuer": uri,
                "jwks_uri": format!("{uri}/keys"),
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            })))
            .mount(&self.server)
            .await;
        let jwks: Vec<Value> = keys.iter().map(|k| k.jwk()).collect();
        Mock::given(method("GET"))
            .and(path("/keys"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "keys": jwks })))
            .mount(&self.server)
            .await;
    }

    /// How many times the key set was fetched.
    pub async fn jwks_fetches(&self) -> usize {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path() == "/keys")
            .count()
    }

    /// Claims that pass: this issuer, the audience, valid for five minutes.
    pub fn claims(&self, sub: &str) -> Value {
        json!({
            "iss": self.uri(), "aud": AUDIENCE, "sub": sub,
            "iat": now(), "exp": now() + 300,
        })
    }
}

/// A running `sgops serve`, killed when dropped. Its standard output (the audit lines) and
/// standard error (logs) are collected.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub stdout: Arc<Mutex<String>>,
    pub stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `cmd` (an `sgops serve --listen 127.0.0.1:0` command) and waits for its
    /// "listening on" line.
    pub fn start(mut cmd: Command) -> Server {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start sgops serve");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let stdout = stdout.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    let mut s = stdout.lock().expect("lock");
                    s.push_str(&line);
                    s.push('\n');
                }
            });
        }
        {
            let stderr = stderr.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    if let Some(url) = line.strip_prefix("sgops serve: listening on ") {
                        let _ = tx.send(Some(url.to_string()));
                    }
                    let mut s = stderr.lock().expect("lock");
                    s.push_str(&line);
                    s.push('\n');
                }
                let _ = tx.send(None);
            });
        }
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Some(url)) => Server {
                child,
                url,
                stdout,
                stderr,
            },
            other => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "sgops serve did not start ({other:?}):\n{}",
                    stderr.lock().expect("lock")
                );
            }
        }
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().expect("lock").clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("lock").clone()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An answer: status, headers and body text.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// Sends one request; `headers` are (name, value) pairs.
pub async fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Vec<u8>>,
) -> Answer {
    let client: Client<HttpConnector, Full<bytes_of::Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let mut req = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(bytes_of::Bytes::from(body.into())))
        .expect("request");
    let resp = client.request(req).await.expect("send request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// `axum`'s re-export of the `bytes` crate, which the client's body type needs.
pub mod bytes_of {
    pub use axum::body::Bytes;
}
