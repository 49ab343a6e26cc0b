//! How an instant is stored: the one place that knows. Every time column is an INTEGER of 100 ns
//! ticks since the Unix epoch (migration 0006), Graph's own resolution, so an instant is stored
//! exactly as Graph gave it; integers compare and index cheaply, and year 9999 fits.

use crate::domain::Timestamp;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::sqlite::{Sqlite, SqliteArgumentsBuffer, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Type};

/// The stored integer of an instant.
pub(super) fn to_db(t: Timestamp) -> i64 {
    t.ticks()
}

/// The instant a stored integer means.
pub(super) fn from_db(v: i64) -> Timestamp {
    Timestamp::from_ticks(v)
}

impl Type<Sqlite> for Timestamp {
    fn type_info() -> SqliteTypeInfo {
        <i64 as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <i64 as Type<Sqlite>>::compatible(ty)
    }
}

impl Encode<'_, Sqlite> for Timestamp {
    fn encode_by_ref(&self, args: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        <i64 as Encode<Sqlite>>::encode_by_ref(&to_db(*self), args)
    }
}

impl<'r> Decode<'r, Sqlite> for Timestamp {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        <i64 as Decode<Sqlite>>::decode(value).map(from_db)
    }
}

/// A stored instant read from JSON (an integer of ticks), for `#[serde(deserialize_with)]`.
pub(super) fn ticks<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
    <i64 as serde::Deserialize>::deserialize(d).map(from_db)
}

/// [`ticks`], or JSON `null`.
pub(super) fn opt_ticks<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    <Option<i64> as serde::Deserialize>::deserialize(d).map(|v| v.map(from_db))
}
