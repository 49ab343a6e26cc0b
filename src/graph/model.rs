//! Graph's wire shapes, as serde sees them, converted to domain types at the edge. Anything that
//! does not fit (a missing id, an unparsable date) fails the whole page: a half-understood page
//! must not be mistaken for a complete listing.

use crate::domain::{CredentialKind, ListedApplication, ListedCredential};
use chrono::{DateTime, Utc};
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
}

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
}

/// The `$select` of the listing: only what credwatch stores.
pub const APPLICATION_SELECT: &str = "id,appId,displayName,passwordCredentials,keyCredentials";

/// Parses a Graph timestamp: ISO 8601 in UTC with 0 to 7 fractional digits, years up to 9999.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim()).ok().map(|t| t.with_timezone(&Utc))
}

impl WireApplication {
    pub fn into_domain(self) -> Result<ListedApplication, String> {
        if self.id.is_empty() || self.app_id.is_empty() {
            return Err("an application without id or appId".into());
        }
        let mut credentials = Vec::new();
        let secrets = self.password_credentials.unwrap_or_default().into_iter().map(|c| (CredentialKind::Secret, c));
        let certs = self.key_credentials.unwrap_or_default().into_iter().map(|c| (CredentialKind::Certificate, c));
        for (kind, c) in secrets.chain(certs) {
            credentials.push(c.into_domain(kind).map_err(|e| format!("application {}: {e}", self.id))?);
        }
        Ok(ListedApplication { object_id: self.id, app_id: self.app_id, display_name: self.display_name, credentials })
    }
}

impl WireCredential {
    fn into_domain(self, kind: CredentialKind) -> Result<ListedCredential, String> {
        let key_id = self.key_id.filter(|k| !k.is_empty()).ok_or_else(|| format!("a {kind} without keyId"))?;
        let end = self.end_date_time.ok_or_else(|| format!("{kind} {key_id} has no endDateTime"))?;
        let end = parse_time(&end).ok_or_else(|| format!("{kind} {key_id} has an unreadable endDateTime {:?}", truncate(&end)))?;
        let start = match self.start_date_time {
            Some(s) => Some(parse_time(&s).ok_or_else(|| format!("{kind} {key_id} has an unreadable startDateTime {:?}", truncate(&s)))?),
            None => None,
        };
        let hint = if kind == CredentialKind::Secret { self.hint } else { None };
        Ok(ListedCredential { key_id, kind, display_name: self.display_name, hint, start, end })
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
        for s in ["2026-03-05T00:00:00Z", "2021-03-05T17:15:46.052Z", "2021-09-09T19:50:29.3086381Z", "2299-12-31T00:00:00Z", "9999-12-31T23:59:59.9999999Z", "2022-03-02T11:58:20.219356+00:00"] {
            assert!(parse_time(s).is_some(), "{s}");
        }
        assert_eq!(parse_time("2021-03-05T17:15:46.052Z").unwrap().timestamp_subsec_millis(), 52);
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
    fn a_credential_without_end_fails_the_application() {
        let app: WireApplication = serde_json::from_str(r#"{"id":"o","appId":"a","keyCredentials":[{"keyId":"k"}]}"#).unwrap();
        assert!(app.into_domain().unwrap_err().contains("no endDateTime"));
    }
}
