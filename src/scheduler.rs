//! Cron loops. A job is an async function returning nothing: it logs its own failures and keeps
//! going; the loop owns the sleeping. One cancellation token stops every loop.

use chrono::Utc;
use std::future::Future;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Runs `job` at every instant of `schedule` (and once right away when `at_start`) until
/// `cancel` fires. A run in progress is awaited, not dropped: the job sees the token itself.
pub fn spawn<F, Fut>(name: &'static str, schedule: cron::Schedule, at_start: bool, cancel: CancellationToken, job: F) -> JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        if at_start && !cancel.is_cancelled() {
            job().await;
        }
        loop {
            let Some(next) = schedule.upcoming(Utc).next() else {
                tracing::warn!(job = name, "the schedule has no future instant; the job stops");
                return;
            };
            let wait = (next - Utc::now()).to_std().unwrap_or_default();
            tracing::debug!(job = name, next = %next, "next run scheduled");
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = cancel.cancelled() => return,
            }
            job().await;
        }
    })
}
