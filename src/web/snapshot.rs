//! The expensive part of the overview, shared by the overview, the inventory and `/metrics`:
//! counting a large tenant's credentials by status takes a scan, so it is a snapshot kept for a
//! few seconds and retaken as soon as any sync run finishes.

use super::state::AppState;
use crate::domain::{Action, ActionDays, Credential, RotationVerdict, Timestamp, rank_needs_action};
use crate::store::{CredentialFilter, EnvironmentState, MonthCount, RunRow, StatusCounts, Store, StoreError, UsageCount};
use chrono::{Datelike, TimeZone, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Rows of the "needs action" table; the rest is one click away in the inventory.
const NEEDS_ACTION_ROWS: usize = 100;
/// Rows of the Cleanup list (expired and idle).
const CLEANUP_ROWS: usize = 50;
/// Candidates read for each of the two ends of Needs action: the soonest to expire, and the
/// latest expired (where incidents are). Ranking then picks the rows shown.
const NEEDS_ACTION_CANDIDATES: i64 = 2_000;
/// How long a snapshot serves when no sync run finished meanwhile.
const SNAPSHOT_TTL: Duration = Duration::from_secs(15);
/// Months the chart covers, starting with the current one.
pub const CHART_MONTHS: i64 = 24;

/// The expensive part of the overview, shared by the API and metrics.
#[derive(Debug)]
pub struct Snapshot {
    /// Which finished run each environment was at: any new one invalidates the snapshot.
    key: Vec<(i64, Option<i64>)>,
    taken: Instant,
    pub taken_at: Timestamp,
    pub counts: HashMap<i64, StatusCounts>,
    /// Live credentials by environment, status and usage (the metric's series).
    pub usage_counts: Vec<UsageCount>,
    pub months: Vec<MonthCount>,
    pub chart_from: Timestamp,
    /// The most urgent credentials, ranked by what can break something in use, with what to do.
    pub needs_action: Vec<(Credential, Action)>,
    /// Rotation verdicts of the sign-in evidence for the credentials of `needs_action`.
    pub rotations: HashMap<i64, RotationVerdict>,
    /// Expired and idle: delete them (the latest first).
    pub cleanup: Vec<Credential>,
    /// How many are expired and idle, in all.
    pub cleanup_total: i64,
    pub own: Vec<Credential>,
    pub own_listed: Vec<i64>,
}

/// How long the environments' state is reused without asking the store: a page under load
/// asks once a second, not once a request.
const ENVIRONMENTS_TTL: Duration = Duration::from_secs(1);

/// An environment's recent runs, when they were read and at which store generation.
type CachedRuns = (Instant, u64, Arc<Vec<RunRow>>);

/// One snapshot for all workers, retaken by one request at a time.
#[derive(Default)]
pub struct SnapshotCache {
    current: std::sync::Mutex<Option<Arc<Snapshot>>>,
    /// Held by the request retaking the snapshot.
    retaking: tokio::sync::Mutex<()>,
    /// Locked only to look or to put (never across a read of the store): every request of every
    /// worker comes by here.
    environments: std::sync::Mutex<Option<(Instant, u64, Vec<EnvironmentState>)>>,
    /// The recent runs shown on each environment's inventory, kept like the environments.
    runs: std::sync::Mutex<HashMap<i64, CachedRuns>>,
}

impl SnapshotCache {
    /// The last `RECENT_RUNS` runs of an environment, at most a second old (or fresh after this
    /// process recorded a run).
    pub async fn recent_runs(&self, state: &AppState, environment_id: i64) -> Result<Arc<Vec<RunRow>>, StoreError> {
        const RECENT_RUNS: i64 = 8;
        let generation = state.store.generation();
        if let Some((at, g, runs)) = lock(&self.runs).get(&environment_id)
            && *g == generation
            && at.elapsed() < ENVIRONMENTS_TTL
        {
            return Ok(runs.clone());
        }
        let runs = Arc::new(state.store.recent_runs(environment_id, RECENT_RUNS).await?);
        lock(&self.runs).insert(environment_id, (Instant::now(), generation, runs.clone()));
        Ok(runs)
    }

    /// The environments as they are now, and a snapshot at most a few seconds old that matches
    /// their latest runs.
    pub async fn get(&self, state: &AppState) -> Result<(Vec<EnvironmentState>, Arc<Snapshot>), StoreError> {
        let generation = state.store.generation();
        let kept = lock(&self.environments)
            .as_ref()
            .filter(|(at, g, _)| *g == generation && at.elapsed() < ENVIRONMENTS_TTL)
            .map(|(_, _, envs)| envs.clone());
        let envs = match kept {
            Some(envs) => envs,
            None => {
                let envs = state.store.environment_states().await?;
                *lock(&self.environments) = Some((Instant::now(), generation, envs.clone()));
                envs
            }
        };
        let key: Vec<_> = envs.iter().map(|e| (e.id, e.last_run_id)).collect();
        let cached = self.kept();
        let _retaking = match cached {
            Some(s) if s.key == key && s.taken.elapsed() < SNAPSHOT_TTL => return Ok((envs, s)),
            // The same data, only older (its counts may have crossed a day boundary): one
            // request retakes it, the others meanwhile answer from it instead of queueing.
            Some(s) if s.key == key => match self.retaking.try_lock() {
                Ok(guard) => guard,
                Err(_) => return Ok((envs, s)),
            },
            // A sync run finished: nobody answers from the old data. Whoever waited while
            // another request retook it uses that one.
            _ => {
                let guard = self.retaking.lock().await;
                if let Some(s) = self.kept().filter(|s| s.key == key && s.taken.elapsed() < SNAPSHOT_TTL) {
                    return Ok((envs, s));
                }
                guard
            }
        };
        let snapshot = Arc::new(take_snapshot(&state.store, state, key).await?);
        *lock(&self.current) = Some(snapshot.clone());
        Ok((envs, snapshot))
    }

    fn kept(&self) -> Option<Arc<Snapshot>> {
        lock(&self.current).clone()
    }
}

/// A short lock of a cache (a panic elsewhere leaves the data usable).
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn take_snapshot(store: &Store, state: &AppState, key: Vec<(i64, Option<i64>)>) -> Result<Snapshot, StoreError> {
    let now = Utc::now();
    let at = Timestamp::from(now);
    let thresholds = &state.config.status;
    let counts = store.status_counts(thresholds, at).await?.into_iter().collect();
    let usage_counts = store.usage_counts(thresholds, state.config.usage.active_days, at).await?;
    let month_start = Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0).single().unwrap_or(now);
    let first = month_start.year() as i64 * 12 + month_start.month0() as i64;
    let bounds: Vec<(i64, Timestamp, Timestamp)> = (0..CHART_MONTHS as u32)
        .filter_map(|i| {
            let lo = month_start.checked_add_months(chrono::Months::new(i))?;
            let hi = month_start.checked_add_months(chrono::Months::new(i + 1))?;
            Some((first + i as i64, lo.into(), hi.into()))
        })
        .collect();
    let months = store.expiries_by_month(&bounds).await?;
    let [expired_before, _, warning_before] = thresholds.bounds(at);
    let mut candidates = store
        .credentials(&CredentialFilter {
            end_from: Some(expired_before),
            end_before: Some(warning_before),
            limit: Some(NEEDS_ACTION_CANDIDATES),
            ..Default::default()
        })
        .await?;
    candidates.extend(store.recently_expired(expired_before, NEEDS_ACTION_CANDIDATES).await?);
    let usage = &state.config.usage;
    let days = ActionDays {
        active: usage.active_days,
        incident: usage.incident_days,
    };
    let (cleanup, mut needs_action): (Vec<_>, Vec<_>) = candidates
        .into_iter()
        .map(|c| {
            let action = Action::of(c.end_at, c.last_use, c.usage(usage.active_days, at), days, at);
            (c, action)
        })
        .partition(|(_, a)| *a == Action::Cleanup);
    rank_needs_action(&mut needs_action, |(c, a)| (c.end_at, *a, c.last_use.at()));
    needs_action.truncate(NEEDS_ACTION_ROWS);
    let rotations = crate::domain::rotations(
        &store
            .used_siblings_of(&needs_action.iter().map(|(c, _)| c.application_id).collect::<Vec<_>>())
            .await?,
    );
    let cleanup: Vec<Credential> = cleanup.into_iter().map(|(c, _)| c).take(CLEANUP_ROWS).collect();
    let cleanup_total = usage_counts
        .iter()
        .filter(|c| c.status == crate::domain::Status::Expired && c.usage == crate::domain::Usage::Idle)
        .map(|c| c.count)
        .sum();
    let own = store.own_credentials().await?;
    let own_listed = store.environments_listing_themselves().await?;
    Ok(Snapshot {
        key,
        taken: Instant::now(),
        taken_at: at,
        counts,
        usage_counts,
        months,
        chart_from: month_start.into(),
        needs_action,
        rotations,
        cleanup,
        cleanup_total,
        own,
        own_listed,
    })
}
