//! Stored text columns read into domain values. A value that does not parse is reported with
//! its table, row and column ([`StoreError::Corrupt`]): a corrupt owners list read as "no
//! owners" would both raise a false finding and drop the owners from their reminders.

use super::StoreError;
use crate::domain::{CredentialKind, Owner, Source};

/// Where a stored value comes from, for the error that names it.
#[derive(Debug, Clone, Copy)]
pub(super) struct At {
    pub table: &'static str,
    pub id: i64,
}

impl At {
    fn corrupt(self, column: &'static str, problem: String) -> StoreError {
        StoreError::Corrupt {
            table: self.table,
            id: self.id,
            column,
            problem,
        }
    }

    pub fn kind(self, column: &'static str, text: &str) -> Result<CredentialKind, StoreError> {
        CredentialKind::parse(text).ok_or_else(|| self.corrupt(column, format!("{:?} is neither secret nor certificate", cut(text))))
    }

    pub fn source(self, column: &'static str, text: &str) -> Result<Source, StoreError> {
        Source::parse(text).ok_or_else(|| self.corrupt(column, format!("{:?} is neither application nor service_principal", cut(text))))
    }

    /// A JSON array of strings.
    pub fn tags(self, column: &'static str, json: &str) -> Result<Vec<String>, StoreError> {
        serde_json::from_str(json).map_err(|e| self.corrupt(column, format!("not a JSON array of strings ({e})")))
    }

    /// A JSON array of owners, or NULL when they were never fetched.
    pub fn owners(self, column: &'static str, json: Option<&str>) -> Result<Option<Vec<Owner>>, StoreError> {
        json.map(|j| serde_json::from_str(j).map_err(|e| self.corrupt(column, format!("not a JSON array of owners ({e})"))))
            .transpose()
    }
}

/// At most this much of a bad value goes into an error.
fn cut(text: &str) -> String {
    text.chars().take(40).collect()
}

/// A truth value read from JSON: SQLite writes it as the integer 0 or 1.
pub(super) fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    <i64 as serde::Deserialize>::deserialize(d).map(|v| v != 0)
}
