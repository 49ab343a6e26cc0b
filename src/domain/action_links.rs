//! Signed action links: what a reminder's "acknowledge", "snooze", "not mine" and "rotated"
//! links carry, and the HMAC-SHA256 that makes them unforgeable. A link names one credential,
//! one action, the recipient it was sent to, an expiry and a random id (which makes it
//! single-use once the store records it). Pure: the key comes from the caller.

use super::Timestamp;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;

/// What a link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LinkAction {
    #[serde(rename = "acknowledge")]
    Acknowledge,
    #[serde(rename = "snooze")]
    Snooze,
    #[serde(rename = "not-mine")]
    NotMine,
    #[serde(rename = "rotated")]
    Rotated,
}

impl LinkAction {
    pub const ALL: [LinkAction; 4] = [
        LinkAction::Acknowledge,
        LinkAction::Snooze,
        LinkAction::NotMine,
        LinkAction::Rotated,
    ];

    /// The button's words.
    pub fn label(self) -> &'static str {
        match self {
            LinkAction::Acknowledge => "I'm on it",
            LinkAction::Snooze => "Snooze",
            LinkAction::NotMine => "Not mine",
            LinkAction::Rotated => "Rotated — check now",
        }
    }

    /// Acting twice on these would say something twice that was meant once; "rotated" only asks
    /// for a check, which may be asked again.
    pub fn single_use(self) -> bool {
        !matches!(self, LinkAction::Rotated)
    }
}

/// What a link says, signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkClaims {
    #[serde(rename = "c")]
    pub credential_id: i64,
    #[serde(rename = "a")]
    pub action: LinkAction,
    /// The address the reminder was sent to (lower case), recorded as who acted.
    #[serde(rename = "r")]
    pub recipient: String,
    /// Unix seconds after which the link is refused.
    #[serde(rename = "e")]
    pub expires: i64,
    /// Random, so no two links are alike; a single-use link's id once used.
    #[serde(rename = "n")]
    pub id: String,
}

/// How long a link from a reminder works: past the next rungs, not forever.
pub const LINK_VALID_DAYS: i64 = 30;

/// Why a link was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("this link is incomplete or garbled (was it cut when copied?)")]
    Malformed,
    #[error("this link was not issued by credwatch, or was altered")]
    BadSignature,
    #[error("this link expired on {0}; use the one in a newer reminder, or the dashboard")]
    Expired(Timestamp),
    #[error("the form does not belong to this link; open the link again")]
    BadCsrf,
}

type HmacSha256 = Hmac<Sha256>;

/// Signs and checks links with one key.
#[derive(Clone)]
pub struct LinkSigner {
    key: Vec<u8>,
}

impl fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkSigner([redacted])")
    }
}

impl LinkSigner {
    pub fn new(key: Vec<u8>) -> LinkSigner {
        LinkSigner { key }
    }

    fn mac(&self, purpose: &[u8], data: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        // Domain separation: a link's signature is never a form's token, nor the reverse.
        mac.update(purpose);
        mac.update(data);
        mac
    }

    /// The link's token: the claims and their signature, URL-safe.
    pub fn sign(&self, claims: &LinkClaims) -> String {
        let payload = serde_json::to_vec(claims).expect("claims serialise");
        let tag = self.mac(b"link\0", &payload).finalize().into_bytes();
        format!("{}.{}", B64.encode(&payload), B64.encode(tag))
    }

    /// The claims of `token` if credwatch signed it with this key and it has not expired at `now`.
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<LinkClaims, LinkError> {
        let (payload, tag) = token.split_once('.').ok_or(LinkError::Malformed)?;
        let payload = B64.decode(payload).map_err(|_| LinkError::Malformed)?;
        let tag = B64.decode(tag).map_err(|_| LinkError::Malformed)?;
        // Constant-time comparison, inside `verify_slice`.
        self.mac(b"link\0", &payload)
            .verify_slice(&tag)
            .map_err(|_| LinkError::BadSignature)?;
        let claims: LinkClaims = serde_json::from_slice(&payload).map_err(|_| LinkError::Malformed)?;
        if now.unix_seconds() >= claims.expires {
            return Err(LinkError::Expired(Timestamp::from_unix_seconds(claims.expires)));
        }
        Ok(claims)
    }

    /// The confirmation form's CSRF token, bound to the link: a page elsewhere cannot make it
    /// without the key, and it is good for this link only.
    pub fn csrf(&self, token: &str) -> String {
        B64.encode(self.mac(b"csrf\0", token.as_bytes()).finalize().into_bytes())
    }

    /// The dashboard's form token for `user`, good until `expires` (Unix seconds): signed, so a
    /// page elsewhere cannot make one, and bound to the user, so one user's cannot act as another.
    pub fn form_token(&self, user: &str, expires: i64) -> String {
        let tag = self.mac(b"form\0", format!("{expires}\0{user}").as_bytes()).finalize().into_bytes();
        format!("{expires}.{}", B64.encode(tag))
    }

    pub fn check_form_token(&self, user: &str, token: &str, now: Timestamp) -> Result<(), LinkError> {
        let (expires, tag) = token.split_once('.').ok_or(LinkError::BadCsrf)?;
        let expires: i64 = expires.parse().map_err(|_| LinkError::BadCsrf)?;
        let tag = B64.decode(tag).map_err(|_| LinkError::BadCsrf)?;
        self.mac(b"form\0", format!("{expires}\0{user}").as_bytes())
            .verify_slice(&tag)
            .map_err(|_| LinkError::BadCsrf)?;
        if now.unix_seconds() >= expires {
            return Err(LinkError::BadCsrf);
        }
        Ok(())
    }

    pub fn check_csrf(&self, token: &str, csrf: &str) -> Result<(), LinkError> {
        let tag = B64.decode(csrf).map_err(|_| LinkError::BadCsrf)?;
        self.mac(b"csrf\0", token.as_bytes())
            .verify_slice(&tag)
            .map_err(|_| LinkError::BadCsrf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(now: Timestamp) -> LinkClaims {
        LinkClaims {
            credential_id: 7,
            action: LinkAction::Acknowledge,
            recipient: "ops@example.com".into(),
            expires: now.unix_seconds() + 3600,
            id: "n1".into(),
        }
    }

    #[test]
    fn a_signed_link_verifies_and_every_alteration_is_refused() {
        let now = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let signer = LinkSigner::new(b"key one".to_vec());
        let token = signer.sign(&claims(now));
        assert_eq!(signer.verify(&token, now), Ok(claims(now)));
        assert_eq!(
            signer.verify(&token, now.plus_seconds(3600)),
            Err(LinkError::Expired(now.plus_seconds(3600)))
        );
        assert_eq!(
            LinkSigner::new(b"key two".to_vec()).verify(&token, now),
            Err(LinkError::BadSignature)
        );
        // Another recipient's claims under this link's signature.
        let (_, tag) = token.split_once('.').unwrap();
        let other = LinkClaims {
            recipient: "mallory@example.com".into(),
            ..claims(now)
        };
        let forged = format!("{}.{tag}", B64.encode(serde_json::to_vec(&other).unwrap()));
        assert_eq!(signer.verify(&forged, now), Err(LinkError::BadSignature));
        assert_eq!(signer.verify("garbage", now), Err(LinkError::Malformed));
        assert_eq!(signer.verify(&token[..token.len() - 3], now), Err(LinkError::BadSignature));

        let csrf = signer.csrf(&token);
        assert_eq!(signer.check_csrf(&token, &csrf), Ok(()));
        assert_eq!(signer.check_csrf(&signer.sign(&other), &csrf), Err(LinkError::BadCsrf));
        assert_ne!(csrf, tag, "a form token is not a link signature");
        assert_eq!(format!("{signer:?}"), "LinkSigner([redacted])");

        let form = signer.form_token("ana", now.unix_seconds() + 60);
        assert_eq!(signer.check_form_token("ana", &form, now), Ok(()));
        assert_eq!(
            signer.check_form_token("bob", &form, now),
            Err(LinkError::BadCsrf),
            "bound to the user"
        );
        assert_eq!(
            signer.check_form_token("ana", &form, now.plus_seconds(60)),
            Err(LinkError::BadCsrf),
            "expired"
        );
        let stretched = form.replacen(&(now.unix_seconds() + 60).to_string(), &(now.unix_seconds() + 6000).to_string(), 1);
        assert_eq!(signer.check_form_token("ana", &stretched, now), Err(LinkError::BadCsrf));
    }
}
