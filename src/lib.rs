//! credwatch: watches Microsoft Entra ID app-registration credentials so none expires unnoticed.

pub mod emulator;
