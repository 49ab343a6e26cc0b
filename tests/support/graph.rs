//! Building what a tenant lists: applications and their credentials as Graph writes them.
//!
//! Each builder fills what most tests do not care about; a test that does sets the field with
//! struct update syntax, e.g. `PasswordCredential { hint: Some("abc".into()), ..secret(..) }`.

use super::emu::{Application, DirectoryObject, KeyCredential, PasswordCredential};
use chrono::{DateTime, Duration, SecondsFormat, Utc};

/// An instant as Graph writes it most of the time: whole seconds, `Z`.
pub fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// An RFC 3339 instant written in a test, e.g. `at("2027-01-01T00:00:00Z")`.
pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text:?} is not RFC 3339: {e}"))
        .with_timezone(&Utc)
}

/// Now in whole seconds: what Graph gives and the store keeps, so instants compare exactly.
pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(Utc::now().timestamp(), 0).expect("now is representable")
}

pub fn days(n: i64) -> Duration {
    Duration::days(n)
}

/// A client secret ending at `end`, valid for the 700 days before it.
pub fn secret(key: &str, name: &str, end: DateTime<Utc>) -> PasswordCredential {
    secret_between(key, name, end - days(700), end)
}

/// A client secret valid from `start` to `end` (what rotation and lifetime rules look at).
pub fn secret_between(key: &str, name: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> PasswordCredential {
    PasswordCredential {
        key_id: key.into(),
        display_name: Some(name.into()),
        hint: None,
        start_date_time: Some(rfc(start)),
        end_date_time: Some(rfc(end)),
        custom_key_identifier: None,
    }
}

/// A certificate (public key, `Verify`) ending at `end`, valid for the year before it.
pub fn cert(key: &str, name: &str, end: DateTime<Utc>) -> KeyCredential {
    KeyCredential {
        key_id: key.into(),
        display_name: Some(name.into()),
        start_date_time: Some(rfc(end - days(365))),
        end_date_time: Some(rfc(end)),
        // The base64 SHA-1 thumbprint Graph puts here for certificates uploaded in the portal.
        custom_key_identifier: Some("2iD8ppbE+D6Kmu1ZvjM2jtQh88E=".into()),
        r#type: "AsymmetricX509Cert".into(),
        usage: "Verify".into(),
    }
}

/// Application number `n`: object id `0000nnnn-…`, client id `aaaannnn-…`, no credentials.
pub fn app(n: u32, name: &str) -> Application {
    Application {
        id: object_id(n),
        app_id: format!("aaaa{n:04}-0000-4000-8000-000000000000"),
        display_name: Some(name.into()),
        ..Application::default()
    }
}

/// The object id of [`app`] number `n`, as the app pages' paths carry it.
pub fn object_id(n: u32) -> String {
    format!("0000{n:04}-0000-4000-8000-000000000000")
}

/// A user owning an application; `mail` is what reminders go to.
pub fn user(id: &str, name: &str, mail: Option<&str>) -> DirectoryObject {
    DirectoryObject::user(id, name, mail)
}

/// Filling in an [`app`]: `app(1, "Payroll").secrets(vec![..]).owners(vec![..])`.
pub trait AppBuilder {
    fn secrets(self, secrets: Vec<PasswordCredential>) -> Self;
    fn certs(self, certs: Vec<KeyCredential>) -> Self;
    fn owners(self, owners: Vec<DirectoryObject>) -> Self;
    fn notes(self, notes: &str) -> Self;
}

impl AppBuilder for Application {
    fn secrets(self, secrets: Vec<PasswordCredential>) -> Self {
        Application {
            password_credentials: secrets,
            ..self
        }
    }

    fn certs(self, certs: Vec<KeyCredential>) -> Self {
        Application {
            key_credentials: certs,
            ..self
        }
    }

    fn owners(self, owners: Vec<DirectoryObject>) -> Self {
        Application { owners, ..self }
    }

    fn notes(self, notes: &str) -> Self {
        Application {
            notes: Some(notes.into()),
            ..self
        }
    }
}
