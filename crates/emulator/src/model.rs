//! The directory objects the emulator serves, in Microsoft Graph's wire shape.
//!
//! Dates are plain strings on purpose: real Graph mixes 0, 3 and 7 fractional digits and
//! "never expires" years such as 2299 and 9999 (graph-facts §8), and tests must be able to put
//! exactly those bytes on the wire.

use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};

/// An application registration as `GET /v1.0/applications` lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    /// Object id (the `{id}` in `/applications/{id}`).
    pub id: String,
    /// Application (client) id.
    pub app_id: String,
    /// Chosen by whoever registered the app: untrusted text, may be null.
    pub display_name: Option<String>,
    /// Registration time, normally whole seconds (`2024-09-11T21:21:25Z`).
    pub created_date_time: Option<String>,
    /// Free-form management notes.
    pub notes: Option<String>,
    /// Custom strings; never null on the wire.
    #[serde(default)]
    pub tags: Vec<String>,
    /// `AzureADMyOrg`, `AzureADMultipleOrgs`, …
    pub sign_in_audience: Option<String>,
    /// Client secrets; never null on the wire.
    #[serde(default)]
    pub password_credentials: Vec<PasswordCredential>,
    /// Certificates; never null on the wire.
    #[serde(default)]
    pub key_credentials: Vec<KeyCredential>,
    /// The `owners` relationship: not a property, served by `$expand=owners` and
    /// `/applications/{id}/owners` only.
    #[serde(skip)]
    pub owners: Vec<DirectoryObject>,
}

/// A service principal (enterprise application) as `GET /v1.0/servicePrincipals` lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    /// Object id of the service principal (not of the application).
    pub id: String,
    /// Application (client) id it is an instance of.
    pub app_id: String,
    pub display_name: Option<String>,
    pub app_display_name: Option<String>,
    /// `Application`, `ManagedIdentity`, `Legacy`, …
    pub service_principal_type: Option<String>,
    /// `saml`, `password`, `oidc`, `notSupported` or null.
    pub preferred_single_sign_on_mode: Option<String>,
    pub notes: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub password_credentials: Vec<PasswordCredential>,
    #[serde(default)]
    pub key_credentials: Vec<KeyCredential>,
    #[serde(skip)]
    pub owners: Vec<DirectoryObject>,
}

/// An owner: a user or a service principal, serialised with its `@odata.type`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryObject {
    /// `#microsoft.graph.user` or `#microsoft.graph.servicePrincipal`.
    #[serde(rename = "@odata.type")]
    pub odata_type: String,
    pub id: String,
    pub display_name: Option<String>,
    /// Users: may be null.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
    /// Service principals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
}

impl DirectoryObject {
    /// A user owner.
    pub fn user(id: &str, name: &str, mail: Option<&str>) -> DirectoryObject {
        DirectoryObject {
            odata_type: "#microsoft.graph.user".into(),
            id: id.into(),
            display_name: Some(name.into()),
            mail: mail.map(str::to_string),
            user_principal_name: Some(mail.map(str::to_string).unwrap_or_else(|| format!("{id}@contoso.onmicrosoft.com"))),
            app_id: None,
        }
    }

    /// A service principal owner.
    pub fn service_principal(id: &str, name: &str, app_id: &str) -> DirectoryObject {
        DirectoryObject {
            odata_type: "#microsoft.graph.servicePrincipal".into(),
            id: id.into(),
            display_name: Some(name.into()),
            mail: None,
            user_principal_name: None,
            app_id: Some(app_id.into()),
        }
    }
}

impl ServicePrincipal {
    /// Adds a SAML token-signing certificate the way `addTokenSigningCertificate` does
    /// (graph-facts §3): a `Sign` key and a `Verify` key and a password credential, all with
    /// the same `customKeyIdentifier`; the password and the Sign key share one keyId.
    pub fn add_saml_certificate(&mut self, key_id: &str, verify_key_id: &str, thumbprint_b64: &str, start: &str, end: &str) {
        let key = |id: &str, usage: &str| KeyCredential {
            key_id: id.into(),
            display_name: Some("CN=Microsoft Azure Federated SSO Certificate".into()),
            start_date_time: Some(start.into()),
            end_date_time: Some(end.into()),
            custom_key_identifier: Some(thumbprint_b64.into()),
            r#type: "AsymmetricX509Cert".into(),
            usage: usage.into(),
        };
        self.key_credentials.push(key(key_id, "Sign"));
        self.key_credentials.push(key(verify_key_id, "Verify"));
        self.password_credentials.push(PasswordCredential {
            key_id: key_id.into(),
            display_name: None,
            hint: None,
            start_date_time: Some(start.into()),
            end_date_time: Some(end.into()),
            custom_key_identifier: Some(thumbprint_b64.into()),
        });
        self.preferred_single_sign_on_mode = Some("saml".into());
    }
}

/// A client secret. `secretText` is always emitted as null, as on a real listing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordCredential {
    /// Unique id of the secret.
    pub key_id: String,
    /// Friendly name; null on legacy secrets.
    pub display_name: Option<String>,
    /// First three characters of the secret value; null on legacy secrets.
    pub hint: Option<String>,
    /// Start of validity.
    pub start_date_time: Option<String>,
    /// Expiry.
    pub end_date_time: Option<String>,
    /// Base64; legacy secrets keep their UTF-16LE description here.
    pub custom_key_identifier: Option<String>,
}

/// A certificate credential. `key` is always emitted as null, as on a real listing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyCredential {
    /// Unique id of the key.
    pub key_id: String,
    /// Friendly name, usually the certificate subject (`CN=…`).
    pub display_name: Option<String>,
    /// Start of validity.
    pub start_date_time: Option<String>,
    /// Expiry.
    pub end_date_time: Option<String>,
    /// Base64 SHA-1 thumbprint of the certificate.
    pub custom_key_identifier: Option<String>,
    /// `AsymmetricX509Cert` or `Symmetric`.
    pub r#type: String,
    /// `Verify` (or `Sign` on SAML service principals).
    pub usage: String,
}

// Hand-written so the write-only `secretText` and the list-hidden `key` appear as null, and
// the keys come out in Graph's alphabetical order.
impl Serialize for PasswordCredential {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("PasswordCredential", 7)?;
        s.serialize_field("customKeyIdentifier", &self.custom_key_identifier)?;
        s.serialize_field("displayName", &self.display_name)?;
        s.serialize_field("endDateTime", &self.end_date_time)?;
        s.serialize_field("hint", &self.hint)?;
        s.serialize_field("keyId", &self.key_id)?;
        s.serialize_field("secretText", &Option::<String>::None)?;
        s.serialize_field("startDateTime", &self.start_date_time)?;
        s.end()
    }
}

impl Serialize for KeyCredential {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("KeyCredential", 8)?;
        s.serialize_field("customKeyIdentifier", &self.custom_key_identifier)?;
        s.serialize_field("displayName", &self.display_name)?;
        s.serialize_field("endDateTime", &self.end_date_time)?;
        s.serialize_field("key", &Option::<String>::None)?;
        s.serialize_field("keyId", &self.key_id)?;
        s.serialize_field("startDateTime", &self.start_date_time)?;
        s.serialize_field("type", &self.r#type)?;
        s.serialize_field("usage", &self.usage)?;
        s.end()
    }
}

/// One object of `GET /beta/reports/appCredentialSignInActivities`: the last use of one
/// credential (graph-facts §11). A credential never used has no object at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialSignIn {
    /// The credential's keyId (as on the application's or service principal's listing).
    pub key_id: String,
    /// `clientSecret`, `certificate`, or `secret` as the doc examples show it.
    pub key_type: String,
    /// `sign`, `verify`, …
    pub key_usage: Option<String>,
    pub app_id: String,
    pub app_object_id: Option<String>,
    pub service_principal_object_id: Option<String>,
    /// The resource the credential was last used for (e.g. Microsoft Graph's app id).
    pub resource_id: Option<String>,
    /// `application` or `servicePrincipal`.
    pub credential_origin: String,
    pub created_date_time: Option<String>,
    pub expiration_date_time: Option<String>,
    /// Sent verbatim: tests put the doc examples' offsets (`-8:00`) and garbage here.
    pub last_sign_in_date_time: Option<String>,
    /// Serialise as the doc examples do: `expirationDate` instead of `expirationDateTime`.
    pub doc_example_shape: bool,
}

impl Serialize for CredentialSignIn {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("AppCredentialSignInActivity", 13)?;
        s.serialize_field("id", &format!("{}{}", self.key_id, self.app_id))?;
        s.serialize_field("keyId", &self.key_id)?;
        s.serialize_field("keyType", &self.key_type)?;
        s.serialize_field("keyUsage", &self.key_usage)?;
        s.serialize_field("appId", &self.app_id)?;
        s.serialize_field("appObjectId", &self.app_object_id)?;
        s.serialize_field("servicePrincipalObjectId", &self.service_principal_object_id)?;
        s.serialize_field("resourceId", &self.resource_id)?;
        s.serialize_field("credentialOrigin", &self.credential_origin)?;
        s.serialize_field("createdDateTime", &self.created_date_time)?;
        if self.doc_example_shape {
            s.serialize_field("expirationDate", &self.expiration_date_time)?;
        } else {
            s.serialize_field("expirationDateTime", &self.expiration_date_time)?;
        }
        s.serialize_field("signInActivity", &SignInActivity::of(self.last_sign_in_date_time.as_deref()))?;
        s.end()
    }
}

/// `{lastSignInDateTime, lastSignInRequestId}` as both reports nest it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInActivity {
    pub last_sign_in_date_time: Option<String>,
    pub last_sign_in_request_id: Option<String>,
}

impl SignInActivity {
    pub(crate) fn of(at: Option<&str>) -> Option<SignInActivity> {
        at.map(|at| SignInActivity {
            last_sign_in_date_time: Some(at.to_string()),
            last_sign_in_request_id: Some(uuid::Uuid::new_v4().to_string()),
        })
    }
}

/// One object of `GET /beta/reports/servicePrincipalSignInActivities`: an application's last
/// sign-ins, overall and split by how it signed in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppSignIn {
    pub app_id: String,
    /// `lastSignInActivity`.
    pub last_sign_in: Option<String>,
    /// `applicationAuthenticationClientSignInActivity`: app-only sign-ins as a client, what a
    /// secret or certificate is used for.
    pub client_sign_in: Option<String>,
    /// `delegatedClientSignInActivity`.
    pub delegated_client_sign_in: Option<String>,
}

impl Serialize for AppSignIn {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("ServicePrincipalSignInActivity", 7)?;
        s.serialize_field("id", &self.app_id)?;
        s.serialize_field("appId", &self.app_id)?;
        s.serialize_field("lastSignInActivity", &SignInActivity::of(self.last_sign_in.as_deref()))?;
        s.serialize_field(
            "applicationAuthenticationClientSignInActivity",
            &SignInActivity::of(self.client_sign_in.as_deref()),
        )?;
        s.serialize_field("applicationAuthenticationResourceSignInActivity", &Option::<SignInActivity>::None)?;
        s.serialize_field(
            "delegatedClientSignInActivity",
            &SignInActivity::of(self.delegated_client_sign_in.as_deref()),
        )?;
        s.serialize_field("delegatedResourceSignInActivity", &Option::<SignInActivity>::None)?;
        s.end()
    }
}

/// Why a tenant's sign-in activity reports answer 403 (graph-facts §11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageDenial {
    /// The client lacks `AuditLog.Read.All`: `Authorization_RequestDenied`.
    NoPermission,
    /// The tenant has no Entra ID P1/P2: `Authentication_RequestFromNonPremiumTenantOrB2CTenant`.
    NoLicense,
}

impl UsageDenial {
    pub(crate) fn code_and_message(self) -> (&'static str, &'static str) {
        match self {
            UsageDenial::NoPermission => ("Authorization_RequestDenied", "Insufficient privileges to complete the operation."),
            UsageDenial::NoLicense => (
                "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                "Neither tenant is B2C or tenant doesn't have premium license",
            ),
        }
    }
}
