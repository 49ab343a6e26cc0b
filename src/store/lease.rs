//! Leases: one process at a time does a job that must not run twice at once (a reminder run, the
//! sync of one environment). A lease is taken in a `BEGIN IMMEDIATE` transaction, so two processes
//! asking together are serialised by SQLite; it is renewed while the job runs and released at
//! the end, and one whose holder died expires and is taken over (at once, when the holder was a
//! process of this host that no longer runs).

use super::write::WriteTx;
use super::{Context, Store, StoreError};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long a lease lasts without renewal: long enough to ride out a busy database, short enough
/// that a crashed holder does not hold up the next run for long.
pub const LEASE_TTL: Duration = Duration::from_secs(300);
/// How often a running job renews its lease.
const RENEW_EVERY: Duration = Duration::from_secs(60);

/// Someone else's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHeld {
    pub name: String,
    /// Who holds it: process id, host and a per-run id.
    pub holder: String,
    /// Unix seconds; the lease may be taken over after this.
    pub expires_at: i64,
}

impl std::fmt::Display for LeaseHeld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let until = chrono::DateTime::from_timestamp(self.expires_at, 0)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_else(|| self.expires_at.to_string());
        write!(
            f,
            "another credwatch ({}) holds the {:?} lease until {until} unless it renews it",
            self.holder, self.name
        )
    }
}

/// A held lease, renewed in the background until [`Lease::release`].
#[derive(Debug)]
pub struct Lease {
    store: Store,
    name: String,
    holder: String,
    lost: Arc<AtomicBool>,
    renewal: tokio::task::JoinHandle<()>,
}

impl Lease {
    /// The name of this process's holder for a new run: the process and host say who, the
    /// random part keeps two runs in one process apart.
    pub fn new_holder() -> String {
        let run = uuid::Uuid::new_v4().simple().to_string();
        format!("pid {} on {}, run {}", std::process::id(), host_name(), &run[..8])
    }

    /// False once a renewal found the lease taken over (it had expired): the job should stop.
    pub fn held(&self) -> bool {
        !self.lost.load(Ordering::Acquire)
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Gives the lease back so the next run need not wait for it to expire.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "release"))]
    pub async fn release(self) {
        self.renewal.abort();
        if let Err(e) = self.store.release_lease(&self.name, &self.holder).await {
            tracing::warn!(lease = %self.name, error = %e, "could not release a lease; it expires by itself");
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Released or not, nobody renews it any more; unreleased, it expires.
        self.renewal.abort();
    }
}

impl Store {
    /// Takes the lease `name` for a new run of this process, or says who holds it.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "take_lease"))]
    pub async fn take_lease(&self, name: &str) -> Result<Result<Lease, LeaseHeld>, StoreError> {
        let holder = Lease::new_holder();
        if let Err(held) = self.try_lease(name, &holder, now(), LEASE_TTL).await? {
            return Ok(Err(held));
        }
        let lost = Arc::new(AtomicBool::new(false));
        let renewal = {
            let (store, name, holder, lost) = (self.clone(), name.to_string(), holder.clone(), lost.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(RENEW_EVERY);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    match store.renew_lease(&name, &holder, now(), LEASE_TTL).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::error!(lease = %name, "the lease expired and another process took it over");
                            lost.store(true, Ordering::Release);
                            return;
                        }
                        // Tried again at the next tick; the lease has minutes left.
                        Err(e) => tracing::warn!(lease = %name, error = %e, "could not renew a lease"),
                    }
                }
            })
        };
        Ok(Ok(Lease {
            store: self.clone(),
            name: name.to_string(),
            holder,
            lost,
            renewal,
        }))
    }

    /// Takes `name` for `holder` until `now + ttl` if it is free, expired or already `holder`'s.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "try_lease"))]
    pub async fn try_lease(&self, name: &str, holder: &str, now: i64, ttl: Duration) -> Result<Result<(), LeaseHeld>, StoreError> {
        const CTX: &str = "taking a lease";
        // IMMEDIATE takes the write lock at once: two processes cannot both read "free". A
        // failure retires the connection (see [`WriteTx`]).
        let mut tx = WriteTx::begin(&self.pool, CTX).await?;
        let current: Option<(String, i64)> = sqlx::query_as("SELECT holder, expires_at FROM leases WHERE name = ?")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .context(CTX)?;
        if let Some((other, expires_at)) = current
            && other != holder
            && expires_at > now
            && !holder_is_dead(&other)
        {
            tx.rollback(CTX).await?;
            return Ok(Err(LeaseHeld {
                name: name.to_string(),
                holder: other,
                expires_at,
            }));
        }
        sqlx::query(
            "INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at",
        )
        .bind(name)
        .bind(holder)
        .bind(now + ttl.as_secs() as i64)
        .execute(&mut *tx)
        .await
        .context(CTX)?;
        tx.commit(CTX).await?;
        Ok(Ok(()))
    }

    /// Extends `holder`'s lease; false when it is no longer `holder`'s.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "renew_lease"))]
    pub async fn renew_lease(&self, name: &str, holder: &str, now: i64, ttl: Duration) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ?")
            .bind(now + ttl.as_secs() as i64)
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await
            .context("renewing a lease")?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives `holder`'s lease back (nothing when it is someone else's by now).
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "release_lease"))]
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM leases WHERE name = ? AND holder = ?")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await
            .context("releasing a lease")
            .map(|_| ())
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "this host".into())
}

/// True when `holder` (as made by [`Lease::new_holder`]) is a process of this host that no longer
/// runs: a killed run need not hold up the next one until its lease expires. Anything else, a
/// process elsewhere included, counts as alive.
fn holder_is_dead(holder: &str) -> bool {
    let Some((pid, host)) = holder
        .strip_prefix("pid ")
        .and_then(|rest| rest.split_once(", run "))
        .and_then(|(who, _)| who.split_once(" on "))
    else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    host == host_name() && pid != std::process::id() && Path::new("/proc/self").exists() && !Path::new(&format!("/proc/{pid}")).exists()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_is_dead_only_when_it_was_a_process_of_this_host_that_is_gone() {
        let me = Lease::new_holder();
        assert!(!holder_is_dead(&me), "this process runs");
        let host = host_name();
        // Beyond the kernel's pid_max (2^22), so no process has it.
        assert!(holder_is_dead(&format!("pid 4194399 on {host}, run 0000")));
        assert!(
            !holder_is_dead("pid 4194399 on another-host.example, run 0000"),
            "elsewhere: unknown"
        );
        assert!(!holder_is_dead("someone"));
    }
}
