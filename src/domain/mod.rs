//! Pure types and rules of credwatch, with no IO: what a credential is, the instant it ends, how
//! urgent it is, which rung of the reminder ladder applies, which credentials are excluded from
//! reminders or superseded, what breaks the lifetime policy, whom an application names for its
//! reminders, the links handed out, and how untrusted text is made safe for one line.
//!
//! Everything else depends on this module and it on nothing of credwatch's: no config, store,
//! web, mail or Graph type, no database, HTTP or mail crate. The dashboard, the API, the feed
//! and the reminder planner all ask these same functions, so they never disagree.

mod action_links;
mod answer;
mod attention;
mod contacts;
mod credential;
mod exclusions;
mod findings;
mod href;
mod ladder;
mod links;
mod status;
mod supersession;
mod text;
mod timestamp;
mod usage;

pub use action_links::{LINK_VALID_DAYS, LinkAction, LinkClaims, LinkError, LinkSigner};
pub use answer::{Answer, Answering, CSV_HEADER, PlainCells, RECORD_FORMAT, RecordError, RotationFacts, last_key};
pub use attention::{Acknowledgement, Attention, Dispute, EventKind, Pause, SnoozeError, Via, check_snooze, snooze_bound};
pub use contacts::{EmailAddress, notes_contacts, owner_contacts};
pub use credential::{Application, Credential, CredentialKind, ListedApplication, ListedCredential, Owner, Source};
pub use exclusions::{ExclusionRule, Exclusions, Glob, builtin_exclusions, builtin_names};
pub use findings::{Finding, FindingKind, UsageFindings, findings, findings_with_usage};
pub use href::path_segment;
pub use ladder::{Ladder, LadderDecision, Rung};
pub use links::{credwatch_link, default_portal, enterprise_app_link, portal_link};
pub use status::{Status, Thresholds, days_left};
pub use supersession::{SUPERSEDED_AFTER_SECS, Sibling, Successor, supersession};
pub use text::{MAX_NAME_CHARS, clean, html_escape, one_line};
pub use timestamp::{Timestamp, TimestampError};
pub use usage::{
    Action, ActionDays, AppSignIn, CredentialSignIn, IdleReminders, LastUse, Rotation, RotationVerdict, Usage, UsageReport, UsageStatus,
    UsedSibling, rank_needs_action, rotation_of, rotation_policy, rotations,
};
