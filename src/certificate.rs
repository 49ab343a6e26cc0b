//! The certificate credwatch signs in with: a PEM file holding an RSA private key and its
//! certificate, checked as a pair when it loads and then used to sign client assertions.
//!
//! A leaf: `config` loads it and `graph` signs with it, and it imports neither.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use secrecy::SecretString;
use serde::Serialize;
use sha1::Digest;
use std::fmt;
use std::path::{Path, PathBuf};

/// Why a certificate file cannot be used. No variant carries key material.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("not a valid PEM file: {0}")]
    Pem(String),
    #[error("the private key is encrypted; credwatch needs an unencrypted PEM key (protect the file with permissions)")]
    EncryptedKey,
    #[error("no private key (BEGIN PRIVATE KEY or BEGIN RSA PRIVATE KEY) in the PEM file")]
    NoKey,
    #[error("no certificate (BEGIN CERTIFICATE) in the PEM file")]
    NoCertificate,
    #[error("the certificate does not parse: {0}")]
    Certificate(String),
    #[error("the certificate's public key is not an RSA key; credwatch signs with RSA (PS256)")]
    NotRsa,
    #[error("the private key is not a usable RSA key: {0}")]
    Key(String),
    // Entra would only say AADSTS700027 at the first sign-in; saying it at load names the file.
    #[error(
        "the private key does not match the certificate (its public key is another); put the key and the certificate of one pair in the file"
    )]
    KeyMismatch,
    #[error("cannot sign the client assertion: {0}")]
    Sign(String),
}

/// A certificate and its private key, loaded from one PEM file, ready to sign client assertions.
pub struct ClientCertificate {
    key: EncodingKey,
    /// Base64url SHA-1 of the certificate's DER (`x5t`), also shown to operators as the thumbprint.
    pub x5t: String,
    /// Base64url SHA-256 of the certificate's DER (`x5t#S256`).
    pub x5t_s256: String,
    /// Hex SHA-1 thumbprint, as the Azure portal shows it.
    pub thumbprint_hex: String,
    /// When the certificate itself stops being valid (its own expiry matters too).
    pub not_after: Option<chrono::DateTime<chrono::Utc>>,
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("thumbprint", &self.thumbprint_hex)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

/// The algorithm of every assertion credwatch signs, and of the pair check at load.
const ALGORITHM: Algorithm = Algorithm::PS256;

impl ClientCertificate {
    /// Loads a PEM file holding the private key (PKCS#8 or PKCS#1 RSA) and the certificate.
    pub fn load(path: &Path) -> Result<ClientCertificate, CertError> {
        let data = std::fs::read(path).map_err(|source| CertError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        ClientCertificate::from_pem(&data)
    }

    /// Parses the key and the first certificate of a PEM document and checks they form a pair.
    pub fn from_pem(data: &[u8]) -> Result<ClientCertificate, CertError> {
        let mut key = None;
        let mut cert_der = None;
        for pem in x509_parser::pem::Pem::iter_from_buffer(data) {
            let pem = pem.map_err(|e| CertError::Pem(e.to_string()))?;
            match pem.label.as_str() {
                "CERTIFICATE" if cert_der.is_none() => cert_der = Some(pem.contents),
                "PRIVATE KEY" | "RSA PRIVATE KEY" if key.is_none() => key = Some((pem.label, pem.contents)),
                "ENCRYPTED PRIVATE KEY" => return Err(CertError::EncryptedKey),
                _ => {}
            }
        }
        let (label, key_der) = key.ok_or(CertError::NoKey)?;
        let cert_der = cert_der.ok_or(CertError::NoCertificate)?;
        let (_, cert) = x509_parser::parse_x509_certificate(&cert_der).map_err(|e| CertError::Certificate(e.to_string()))?;
        let not_after = chrono::DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0);
        // jsonwebtoken reads PEM only; the label tells it PKCS#8 from PKCS#1.
        let pem_text = format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", STANDARD.encode(&key_der));
        let key = EncodingKey::from_rsa_pem(pem_text.as_bytes()).map_err(|e| CertError::Key(e.to_string()))?;
        let spki = cert.public_key();
        if !matches!(spki.parsed(), Ok(x509_parser::public_key::PublicKey::RSA(_))) {
            return Err(CertError::NotRsa);
        }
        // The bit string is the PKCS#1 RSAPublicKey DER, the form `from_rsa_der` expects.
        let public = DecodingKey::from_rsa_der(&spki.subject_public_key.data);
        check_pair(&key, &public)?;
        let sha1 = sha1::Sha1::digest(&cert_der);
        let sha256 = sha2::Sha256::digest(&cert_der);
        Ok(ClientCertificate {
            key,
            x5t: URL_SAFE_NO_PAD.encode(sha1),
            x5t_s256: URL_SAFE_NO_PAD.encode(sha256),
            thumbprint_hex: sha1.iter().map(|b| format!("{b:02X}")).collect(),
            not_after,
        })
    }

    /// A client assertion for `audience` (the token URL), as the current Microsoft docs describe:
    /// PS256 with the SHA-256 thumbprint header, valid for five minutes.
    pub fn assertion(&self, client_id: &str, audience: &str) -> Result<SecretString, CertError> {
        #[derive(Serialize)]
        struct Claims<'a> {
            aud: &'a str,
            iss: &'a str,
            sub: &'a str,
            jti: String,
            nbf: i64,
            iat: i64,
            exp: i64,
        }
        let now = chrono::Utc::now().timestamp();
        let mut header = jsonwebtoken::Header::new(ALGORITHM);
        header.x5t_s256 = Some(self.x5t_s256.clone());
        let claims = Claims {
            aud: audience,
            iss: client_id,
            sub: client_id,
            jti: uuid::Uuid::new_v4().to_string(),
            nbf: now,
            iat: now,
            exp: now + 300,
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map(SecretString::from)
            .map_err(|e| CertError::Sign(e.to_string()))
    }
}

/// Signs a probe with the private key and verifies it with the certificate's public key: the
/// one test of a pair that holds whatever the key's encoding.
fn check_pair(key: &EncodingKey, public: &DecodingKey) -> Result<(), CertError> {
    const PROBE: &[u8] = b"credwatch key and certificate pair check";
    let signature = jsonwebtoken::crypto::sign(PROBE, key, ALGORITHM).map_err(|e| CertError::Sign(e.to_string()))?;
    // A verifier that cannot even be built from the certificate's key counts as a mismatch too.
    match jsonwebtoken::crypto::verify(&signature, PROBE, public, ALGORITHM) {
        Ok(true) => Ok(()),
        Ok(false) | Err(_) => Err(CertError::KeyMismatch),
    }
}
