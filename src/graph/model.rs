//! Graph's wire shapes, as serde sees them, converted to domain types at the edge. Anything that
//! does not fit (a missing id, an unparsable date) fails the whole page: a half-understood page
//! must not be mistaken for a complete listing.

use crate::domain::{CredentialKind, ListedApplication, ListedCredential, Owner, Source, Timestamp};
use serde::Deserialize;

/// One page of `GET /v1.0/applications`.
#[derive(Debug, Deserialize)]
pub struct ApplicationPage {
    pub value: Vec<WireApplication>,
    #[serde(rename = "@odata.nextLink")]
    pub next_link: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireApplication {
    pub id: String,
    pub app_id: String,
    pub display_name: Option<String>,
    /// "Not nullable" per the docs, but a missing or null collection is read as empty rather
    /// than failing a whole tenant.
    #[serde(default)]
    pub password_credentials: Option<Vec<WireCredential>>,
    #[serde(default)]
    pub key_credentials: Option<Vec<WireCredential>>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub notes: Option<String>,
    /// Present only with `$expand=owners`.
    #[serde(default)]
    pub owners: Option<Vec<WireOwner>>,
}

/// One page of `GET /v1.0/servicePrincipals`.
#[derive(Debug, Deserialize)]
pub struct ServicePrincipalPage {
    pub value: Vec<WireServicePrincipal>,
    #[serde(rename = "@odata.nextLink")]
    pub next_link: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireServicePrincipal {
    pub id: String,
    pub app_id: String,
    pub display_name: Option<String>,
    pub app_display_name: Option<String>,
    pub service_principal_type: Option<String>,
    #[serde(default)]
    pub password_credentials: Option<Vec<WireCredential>>,
    #[serde(default)]
    pub key_credentials: Option<Vec<WireCredential>>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub owners: Option<Vec<WireOwner>>,
}

/// A directoryObject from `owners`: a user or a service principal, typed by `@odata.type`.
/// Without permission to read the type, only `@odata.type` and `id` come (graph-facts §4).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireOwner {
    #[serde(rename = "@odata.type")]
    pub odata_type: Option<String>,
    pub id: Option<String>,
    pub display_name: Option<String>,
    pub mail: Option<String>,
    pub user_principal_name: Option<String>,
    pub app_id: Option<String>,
}

/// One page of `GET /v1.0/applications/{id}/owners`.
#[derive(Debug, Deserialize)]
pub struct OwnerPage {
    pub value: Vec<WireOwner>,
    #[serde(rename = "@odata.nextLink")]
    pub next_link: Option<String>,
}

impl WireOwner {
    pub fn into_domain(self) -> Option<Owner> {
        let id = self.id.filter(|i| !i.is_empty())?;
        let kind = self
            .odata_type
            .as_deref()
            .unwrap_or("#microsoft.graph.directoryObject")
            .trim_start_matches("#microsoft.graph.")
            .to_string();
        Some(Owner {
            id,
            kind,
            display_name: self.display_name,
            mail: self.mail,
            user_principal_name: self.user_principal_name,
            app_id: self.app_id,
        })
    }
}

/// Graph returns at most this many objects of an expanded relationship; an app showing exactly
/// this many owners may have more, and its owners are then read from `/owners` alone.
pub const EXPAND_LIMIT: usize = 20;

/// The fields credwatch needs from a passwordCredential or keyCredential.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireCredential {
    pub key_id: Option<String>,
    pub display_name: Option<String>,
    #[serde(default)]
    pub hint: Option<String>,
    pub start_date_time: Option<String>,
    pub end_date_time: Option<String>,
    /// Base64; a certificate's thumbprint, shared by the three faces of a SAML signing certificate.
    #[serde(default)]
    pub custom_key_identifier: Option<String>,
    /// `Sign` or `Verify` on key credentials.
    #[serde(default)]
    pub usage: Option<String>,
}

/// The `$select` of the listing: only what credwatch stores.
pub const APPLICATION_SELECT: &str = "id,appId,displayName,tags,notes,passwordCredentials,keyCredentials";
/// The `$select` of the service principal listing.
pub const SERVICE_PRINCIPAL_SELECT: &str =
    "id,appId,displayName,appDisplayName,servicePrincipalType,tags,notes,passwordCredentials,keyCredentials";
/// The `$expand` that brings each object's owners along, with only the fields credwatch shows.
pub const OWNERS_EXPAND: &str = "owners($select=id,displayName,mail,userPrincipalName,appId)";

/// Parses a Graph timestamp: ISO 8601 in UTC with 0 to 7 fractional digits, years up to 9999,
/// kept exactly (to Graph's 100 ns ticks).
pub fn parse_time(s: &str) -> Option<Timestamp> {
    Timestamp::parse(s).ok()
}

impl WireApplication {
    pub fn into_domain(self) -> Result<ListedApplication, String> {
        if self.id.is_empty() || self.app_id.is_empty() {
            return Err("an application without id or appId".into());
        }
        let mut credentials = Vec::new();
        let secrets = self
            .password_credentials
            .unwrap_or_default()
            .into_iter()
            .map(|c| (CredentialKind::Secret, c));
        let certs = self
            .key_credentials
            .unwrap_or_default()
            .into_iter()
            .map(|c| (CredentialKind::Certificate, c));
        for (kind, c) in secrets.chain(certs) {
            credentials.push(c.into_domain(kind).map_err(|e| format!("application {}: {e}", self.id))?);
        }
        Ok(ListedApplication {
            object_id: self.id,
            app_id: self.app_id,
            display_name: self.display_name,
            credentials,
            source: Source::Application,
            tags: self.tags.unwrap_or_default(),
            notes: self.notes,
            owners: self.owners.map(|o| o.into_iter().filter_map(WireOwner::into_domain).collect()),
        })
    }
}

impl WireServicePrincipal {
    /// Managed identities are skipped (`None`): Azure rotates their certificates itself and no
    /// one can act on a reminder. A SAML signing certificate, listed by Graph as a `Sign` key, a
    /// `Verify` key and a password credential sharing one `customKeyIdentifier` (graph-facts
    /// §3), becomes one certificate.
    pub fn into_domain(self) -> Result<Option<ListedApplication>, String> {
        if self.id.is_empty() || self.app_id.is_empty() {
            return Err("a service principal without id or appId".into());
        }
        if self.service_principal_type.as_deref() == Some("ManagedIdentity") {
            return Ok(None);
        }
        let keys = self.key_credentials.unwrap_or_default();
        let passwords = self.password_credentials.unwrap_or_default();
        let cki = |c: &WireCredential| c.custom_key_identifier.clone().filter(|k| !k.is_empty());
        // One certificate per customKeyIdentifier (or keyId when there is none); the Sign key
        // is preferred, since its keyId is also the password credential's.
        let mut certs: Vec<WireCredential> = Vec::new();
        let mut thumbprints: std::collections::HashSet<String> = std::collections::HashSet::new();
        let mut key_ids: std::collections::HashSet<String> = std::collections::HashSet::new();
        let (sign, other): (Vec<_>, Vec<_>) = keys.into_iter().partition(|k| k.usage.as_deref() == Some("Sign"));
        for k in sign.into_iter().chain(other) {
            if let Some(t) = cki(&k)
                && !thumbprints.insert(t)
            {
                continue;
            }
            if let Some(id) = &k.key_id {
                key_ids.insert(id.clone());
            }
            certs.push(k);
        }
        let secrets: Vec<WireCredential> = passwords
            .into_iter()
            .filter(|p| !cki(p).is_some_and(|t| thumbprints.contains(&t)) && !p.key_id.as_ref().is_some_and(|id| key_ids.contains(id)))
            .collect();
        let mut credentials = Vec::new();
        for (kind, c) in secrets
            .into_iter()
            .map(|c| (CredentialKind::Secret, c))
            .chain(certs.into_iter().map(|c| (CredentialKind::Certificate, c)))
        {
            credentials.push(c.into_domain(kind).map_err(|e| format!("service principal {}: {e}", self.id))?);
        }
        Ok(Some(ListedApplication {
            object_id: self.id,
            app_id: self.app_id,
            display_name: self.display_name.or(self.app_display_name),
            credentials,
            source: Source::ServicePrincipal,
            tags: self.tags.unwrap_or_default(),
            notes: self.notes,
            owners: self.owners.map(|o| o.into_iter().filter_map(WireOwner::into_domain).collect()),
        }))
    }
}

impl WireCredential {
    fn into_domain(self, kind: CredentialKind) -> Result<ListedCredential, String> {
        let key_id = self
            .key_id
            .filter(|k| !k.is_empty())
            .ok_or_else(|| format!("a {kind} without keyId"))?;
        let end = self.end_date_time.ok_or_else(|| format!("{kind} {key_id} has no endDateTime"))?;
        let end = parse_time(&end).ok_or_else(|| format!("{kind} {key_id} has an unreadable endDateTime {:?}", truncate(&end)))?;
        let start = match self.start_date_time {
            Some(s) => Some(parse_time(&s).ok_or_else(|| format!("{kind} {key_id} has an unreadable startDateTime {:?}", truncate(&s)))?),
            None => None,
        };
        let hint = if kind == CredentialKind::Secret { self.hint } else { None };
        Ok(ListedCredential {
            key_id,
            kind,
            display_name: self.display_name,
            hint,
            start,
            end,
        })
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Graph's error body: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Deserialize, Default)]
pub struct GraphErrorBody {
    pub error: GraphErrorDetail,
}

#[derive(Debug, Deserialize, Default)]
pub struct GraphErrorDetail {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

impl GraphErrorBody {
    /// Reads an error body, tolerating anything; a message is cut short and stripped of control
    /// characters since it ends up in logs.
    pub fn parse(body: &[u8]) -> GraphErrorDetail {
        let mut d = serde_json::from_slice::<GraphErrorBody>(body).map(|b| b.error).unwrap_or_default();
        if d.code.is_empty() {
            d.code = "unknown".into();
        }
        d.message = d.message.chars().take(300).map(|c| if c.is_control() { ' ' } else { c }).collect();
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_fraction_and_far_years() {
        for s in [
            "2026-03-05T00:00:00Z",
            "2021-03-05T17:15:46.052Z",
            "2021-09-09T19:50:29.3086381Z",
            "2299-12-31T00:00:00Z",
            "9999-12-31T23:59:59.9999999Z",
            "2022-03-02T11:58:20.219356+00:00",
        ] {
            assert!(parse_time(s).is_some(), "{s}");
        }
        assert_eq!(parse_time("2021-03-05T17:15:46.052Z").unwrap().subsec_ticks(), 520_000);
        assert_eq!(parse_time("2025-10-28T07:32:30.8675309Z").unwrap().subsec_ticks(), 8_675_309);
        assert!(parse_time("2021-13-05T00:00:00Z").is_none());
        assert!(parse_time("yesterday").is_none());
    }

    #[test]
    fn null_names_and_hints_stay_null() {
        let page: ApplicationPage = serde_json::from_str(
            r#"{"value":[{"id":"o1","appId":"a1","displayName":null,"passwordCredentials":[{"customKeyIdentifier":"agBoAF8AdABlAGwAZQBtAGUAdAByAHkA","displayName":null,"endDateTime":"2299-12-31T00:00:00Z","hint":null,"keyId":"3277e7ab-fcde-481e-9347-7e80c440526d","secretText":null,"startDateTime":"2018-05-08T14:44:30.8242222Z"}],"keyCredentials":null}]}"#,
        )
        .unwrap();
        let app = page.value.into_iter().next().unwrap().into_domain().unwrap();
        assert_eq!(app.display_name, None);
        assert_eq!(app.credentials.len(), 1);
        assert_eq!(app.credentials[0].display_name, None);
        assert_eq!(app.credentials[0].hint, None);
    }

    #[test]
    fn a_saml_certificate_counts_once() {
        let sp: WireServicePrincipal = serde_json::from_str(
            r#"{"id":"sp1","appId":"a1","displayName":"SAML app","servicePrincipalType":"Application",
            "keyCredentials":[
              {"customKeyIdentifier":"2iD8ppbE+D6Kmu1ZvjM2jtQh88E=","displayName":"CN=Microsoft Azure Federated SSO Certificate","endDateTime":"2027-08-08T14:19:35Z","keyId":"k-verify","startDateTime":"2024-08-08T14:19:36Z","type":"AsymmetricX509Cert","usage":"Verify"},
              {"customKeyIdentifier":"2iD8ppbE+D6Kmu1ZvjM2jtQh88E=","displayName":"CN=Microsoft Azure Federated SSO Certificate","endDateTime":"2027-08-08T14:19:35Z","keyId":"k-sign","startDateTime":"2024-08-08T14:19:36Z","type":"AsymmetricX509Cert","usage":"Sign"}],
            "passwordCredentials":[{"customKeyIdentifier":"2iD8ppbE+D6Kmu1ZvjM2jtQh88E=","displayName":null,"endDateTime":"2027-08-08T14:19:35Z","hint":null,"keyId":"k-sign","startDateTime":"2024-08-08T14:19:36Z"},
              {"customKeyIdentifier":null,"displayName":"real secret","endDateTime":"2026-08-08T00:00:00Z","hint":"abc","keyId":"s1","startDateTime":"2025-08-08T00:00:00Z"}]}"#,
        )
        .unwrap();
        let app = sp.into_domain().unwrap().unwrap();
        assert_eq!(app.source, Source::ServicePrincipal);
        let ids: Vec<(&str, CredentialKind)> = app.credentials.iter().map(|c| (c.key_id.as_str(), c.kind)).collect();
        assert_eq!(ids, vec![("s1", CredentialKind::Secret), ("k-sign", CredentialKind::Certificate)]);
        let mi: WireServicePrincipal =
            serde_json::from_str(r#"{"id":"sp2","appId":"a2","servicePrincipalType":"ManagedIdentity","keyCredentials":[]}"#).unwrap();
        assert!(mi.into_domain().unwrap().is_none());
    }

    #[test]
    fn a_credential_without_end_fails_the_application() {
        let app: WireApplication = serde_json::from_str(r#"{"id":"o","appId":"a","keyCredentials":[{"keyId":"k"}]}"#).unwrap();
        assert!(app.into_domain().unwrap_err().contains("no endDateTime"));
    }
}

/// One page of either beta sign-in activity report (graph-facts §11).
#[derive(Debug, Deserialize)]
pub struct ReportPage<T> {
    pub value: Vec<T>,
    #[serde(rename = "@odata.nextLink")]
    pub next_link: Option<String>,
}

/// `{lastSignInDateTime, lastSignInRequestId}`; the date is read leniently (see [`lenient_instant`]).
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct WireSignInActivity {
    #[serde(default)]
    pub last_sign_in_date_time: Option<serde_json::Value>,
}

impl WireSignInActivity {
    fn instant(activity: Option<WireSignInActivity>) -> Option<Timestamp> {
        activity?.last_sign_in_date_time.as_ref()?.as_str().and_then(lenient_instant)
    }
}

/// One row of `appCredentialSignInActivities`. Only what credwatch uses is read, and leniently:
/// the doc examples disagree with the schema (`expirationDate`, `keyType: "secret"`, offsets
/// such as `-8:00`), so nothing but `keyId` may fail a row.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireCredentialSignIn {
    pub key_id: Option<String>,
    #[serde(default)]
    pub app_id: Option<String>,
    #[serde(default)]
    pub resource_id: Option<String>,
    #[serde(default)]
    pub sign_in_activity: Option<WireSignInActivity>,
}

impl WireCredentialSignIn {
    /// `None` for a row without a key id: it names no credential, so it is skipped.
    pub fn into_domain(self) -> Option<crate::domain::CredentialSignIn> {
        let key_id = self.key_id.filter(|k| !k.trim().is_empty())?;
        Some(crate::domain::CredentialSignIn {
            key_id: key_id.trim().to_ascii_lowercase(),
            app_id: self.app_id.unwrap_or_default(),
            last_sign_in: WireSignInActivity::instant(self.sign_in_activity),
            resource_id: self.resource_id,
        })
    }
}

/// One row of `servicePrincipalSignInActivities`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireAppSignIn {
    pub app_id: Option<String>,
    #[serde(default)]
    pub last_sign_in_activity: Option<WireSignInActivity>,
    #[serde(default)]
    pub application_authentication_client_sign_in_activity: Option<WireSignInActivity>,
}

impl WireAppSignIn {
    pub fn into_domain(self) -> Option<crate::domain::AppSignIn> {
        let app_id = self.app_id.filter(|a| !a.trim().is_empty())?;
        Some(crate::domain::AppSignIn {
            app_id: app_id.trim().to_ascii_lowercase(),
            last_sign_in: WireSignInActivity::instant(self.last_sign_in_activity),
            client_sign_in: WireSignInActivity::instant(self.application_authentication_client_sign_in_activity),
        })
    }
}

/// An instant from the reports: RFC 3339, or the ISO 8601 variants their doc examples show (a
/// one-digit hour in the offset, `-8:00`; no offset at all, read as UTC). Anything else is
/// `None`: unknown, never an error of the sync.
pub fn lenient_instant(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if let Ok(t) = Timestamp::parse(text) {
        return Some(t);
    }
    // `…T21:36:48-8:00` → `…T21:36:48-08:00`
    let bytes = text.as_bytes();
    if bytes.len() > 5 && bytes[bytes.len() - 3] == b':' && matches!(bytes[bytes.len() - 5], b'+' | b'-') {
        let (head, offset) = text.split_at(text.len() - 4);
        if let Ok(t) = Timestamp::parse(&format!("{head}0{offset}")) {
            return Some(t);
        }
    }
    Timestamp::parse(&format!("{text}Z")).ok()
}

#[cfg(test)]
mod report_tests {
    use super::*;

    #[test]
    fn report_instants_are_read_leniently() {
        let utc = Timestamp::parse("2021-04-02T05:36:48Z").unwrap();
        assert_eq!(lenient_instant("2021-04-01T21:36:48-8:00"), Some(utc));
        assert_eq!(lenient_instant("2021-04-01T21:36:48-08:00"), Some(utc));
        assert_eq!(lenient_instant("2021-04-02T05:36:48"), Some(utc));
        assert_eq!(lenient_instant("yesterday"), None);
        assert_eq!(lenient_instant(""), None);
    }
}
