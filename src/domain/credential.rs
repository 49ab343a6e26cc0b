//! What a credential is: as a Graph listing shows it, and as credwatch keeps it.

use super::links::{enterprise_app_link, portal_link};
use super::{Attention, LastUse, Status, Thresholds, Timestamp, Usage, days_left};
use serde::Serialize;
use std::fmt;

/// Whether a credential is a password credential (client secret) or a key credential (certificate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CredentialKind {
    Secret,
    Certificate,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Secret => "secret",
            CredentialKind::Certificate => "certificate",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "secret" => Some(CredentialKind::Secret),
            "certificate" => Some(CredentialKind::Certificate),
            _ => None,
        }
    }
}

impl fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a credential lives: on an app registration (`/applications`) or on an enterprise
/// application, i.e. a service principal (`/servicePrincipals`, e.g. SAML signing certificates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    #[default]
    Application,
    ServicePrincipal,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Application => "application",
            Source::ServicePrincipal => "service_principal",
        }
    }

    pub fn parse(s: &str) -> Option<Source> {
        match s {
            "application" => Some(Source::Application),
            "service_principal" => Some(Source::ServicePrincipal),
            _ => None,
        }
    }

    /// How people call it in the portal.
    pub fn label(self) -> &'static str {
        match self {
            Source::Application => "app registration",
            Source::ServicePrincipal => "enterprise application",
        }
    }

    /// Where the portal manages an application's credentials: the app registration's
    /// "Certificates & secrets" blade, or an enterprise application's single sign-on blade
    /// (where its SAML certificates are).
    pub fn portal_link(self, portal: &str, object_id: &str, app_id: &str) -> String {
        match self {
            Source::Application => portal_link(portal, app_id),
            Source::ServicePrincipal => enterprise_app_link(portal, object_id, app_id),
        }
    }
}

/// An owner of an application or service principal: a user or a service principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Owner {
    pub id: String,
    /// `user`, `servicePrincipal`, or whatever `@odata.type` said (without the namespace).
    #[serde(rename = "type")]
    pub kind: String,
    pub display_name: Option<String>,
    pub mail: Option<String>,
    pub user_principal_name: Option<String>,
    pub app_id: Option<String>,
}

/// One application as a Graph listing showed it, with its credentials.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListedApplication {
    /// The directory object ID (`id`).
    pub object_id: String,
    /// The application (client) ID (`appId`).
    pub app_id: String,
    /// Chosen by whoever registered the app: untrusted text, possibly null.
    pub display_name: Option<String>,
    pub credentials: Vec<ListedCredential>,
    pub source: Source,
    /// Custom strings set on the app (untrusted).
    pub tags: Vec<String>,
    /// Management notes (untrusted); may name contacts with `credwatch-notify:`.
    pub notes: Option<String>,
    /// `None` when owners were not fetched.
    pub owners: Option<Vec<Owner>>,
}

/// One secret or certificate as Graph listed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedCredential {
    pub key_id: String,
    pub kind: CredentialKind,
    /// Untrusted text, possibly null (legacy secrets have none).
    pub display_name: Option<String>,
    /// The first three characters of a secret; null for certificates and legacy secrets.
    pub hint: Option<String>,
    pub start: Option<Timestamp>,
    pub end: Timestamp,
}

/// A stored credential with its application and environment, as every output needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// The store's id of this credential.
    pub id: i64,
    pub environment: String,
    pub environment_id: i64,
    /// The environment's Azure portal, for links.
    pub portal_url: String,
    /// The store's id of its application.
    pub application_id: i64,
    pub app_object_id: String,
    pub app_id: String,
    /// Untrusted text, possibly null.
    pub app_display_name: Option<String>,
    pub kind: CredentialKind,
    pub key_id: String,
    /// Untrusted text, possibly null.
    pub display_name: Option<String>,
    pub hint: Option<String>,
    pub start_at: Option<Timestamp>,
    pub end_at: Timestamp,
    pub first_seen_at: Timestamp,
    /// For a live credential, its environment's last successful sync; for a removed one, the
    /// last sync that listed it.
    pub last_seen_at: Timestamp,
    /// When a complete listing no longer had it (rotated away); `None` while live.
    pub removed_at: Option<Timestamp>,
    pub app_source: Source,
    /// The application's tags (untrusted).
    pub app_tags: Vec<String>,
    /// The application's notes (untrusted).
    pub app_notes: Option<String>,
    /// The application's owners, `None` when they were never fetched.
    pub app_owners: Option<Vec<Owner>>,
    /// What the sign-in activity reports said of it.
    pub last_use: LastUse,
    /// Acknowledged, snoozed, or its application's owner disputed.
    pub attention: Attention,
}

impl Credential {
    /// In use, idle or unknown at `now` (see [`Usage::classify`]).
    pub fn usage(&self, active_days: i64, now: Timestamp) -> Usage {
        Usage::classify(self.last_use, active_days, now)
    }

    pub fn is_live(&self) -> bool {
        self.removed_at.is_none()
    }

    pub fn days_left(&self, now: Timestamp) -> i64 {
        days_left(self.end_at, now)
    }

    pub fn status(&self, thresholds: &Thresholds, now: Timestamp) -> Status {
        thresholds.status(self.end_at, now)
    }

    pub fn expired(&self, now: Timestamp) -> bool {
        self.end_at <= now
    }

    /// Where the portal manages this credential (see [`Source::portal_link`]).
    pub fn portal_link(&self) -> String {
        self.app_source.portal_link(&self.portal_url, &self.app_object_id, &self.app_id)
    }
}

#[cfg(test)]
impl Credential {
    /// A live secret of its own application `app-{id}` in `environment`, for unit tests.
    pub(crate) fn sample(id: i64, environment: &str, end_at: Timestamp) -> Credential {
        Credential {
            id,
            environment: environment.into(),
            environment_id: 1,
            portal_url: "https://portal.azure.com".into(),
            application_id: id,
            app_object_id: format!("obj-{id}"),
            app_id: format!("app-{id}"),
            app_display_name: Some(format!("app {id}")),
            kind: CredentialKind::Secret,
            key_id: format!("key-{id}"),
            display_name: None,
            hint: None,
            start_at: None,
            end_at,
            first_seen_at: Timestamp::UNIX_EPOCH,
            last_seen_at: Timestamp::UNIX_EPOCH,
            removed_at: None,
            app_source: Source::Application,
            app_tags: Vec::new(),
            app_notes: None,
            app_owners: None,
            last_use: LastUse::NotRead,
            attention: Attention::default(),
        }
    }
}

/// A stored application (an app registration or an enterprise application), removed ones
/// included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    /// The store's id.
    pub id: i64,
    pub environment_id: i64,
    pub object_id: String,
    pub app_id: String,
    /// Untrusted text, possibly null.
    pub display_name: Option<String>,
    pub first_seen_at: Timestamp,
    /// For a live application, its environment's last successful sync; for a removed one, the
    /// last sync that listed it.
    pub last_seen_at: Timestamp,
    pub removed_at: Option<Timestamp>,
    pub source: Source,
    /// Untrusted strings.
    pub tags: Vec<String>,
    /// Untrusted text; may name contacts with `credwatch-notify:`.
    pub notes: Option<String>,
    /// `None` when owners were never fetched.
    pub owners: Option<Vec<Owner>>,
}

impl Application {
    /// Where the portal manages this application's credentials, on the portal at `portal`.
    pub fn portal_link(&self, portal: &str) -> String {
        self.source.portal_link(portal, &self.object_id, &self.app_id)
    }
}
