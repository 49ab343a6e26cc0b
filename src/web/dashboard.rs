//! `GET /`: every environment's state, what needs action, credwatch's own credentials, a chart of
//! the coming expiries and the calendar addresses.
//!
//! The heavy part of the page (counts by status, the chart's months, what needs action) comes
//! from the shared [`SnapshotCache`].

use super::error::PageError;
use super::layout::Layout;
use super::snapshot::{CHART_MONTHS, SnapshotCache};
use super::state::AppState;
use super::view::{self, CredentialRow, EnvironmentCard, UsageLine, thousands};
use crate::domain::{Action, Rotation, Timestamp};
use crate::store::{MonthCount, StatusCounts};
use actix_web::{get, web};
use askama::Template;
use askama_web::WebTemplate;
use chrono::{Datelike, Utc};

#[derive(Template, WebTemplate)]
#[template(path = "overview.html")]
pub struct OverviewPage {
    layout: Layout,
    cards: Vec<EnvironmentCard>,
    totals: StatusCounts,
    needs_action: Vec<CredentialRow>,
    needs_action_total: i64,
    cleanup: Vec<CredentialRow>,
    cleanup_total: i64,
    own: Vec<CredentialRow>,
    own_missing: Vec<(String, String)>,
    chart: Chart,
    calendar: Option<super::calendar::SubscribeBox>,
    generated: String,
}

impl OverviewPage {
    fn n(&self, n: &i64) -> String {
        thousands(*n)
    }
}

#[get("/")]
pub async fn overview(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    cache: web::Data<SnapshotCache>,
) -> Result<OverviewPage, PageError> {
    let now = Timestamp::from(Utc::now());
    let (envs, snap) = cache.get(&state).await?;
    let stale_after = view::stale_after_secs(&state.config);
    let cards: Vec<EnvironmentCard> = envs
        .iter()
        .map(|e| {
            let mut card = EnvironmentCard::new(e, snap.counts.get(&e.id).copied().unwrap_or_default(), now, stale_after);
            card.usage = UsageLine::new(super::api::usage_status(&state, e), e.usage_read_at, now);
            card
        })
        .collect();
    let totals = cards.iter().fold(StatusCounts::default(), |t, c| StatusCounts {
        expired: t.expired + c.counts.expired,
        critical: t.critical + c.counts.critical,
        warning: t.warning + c.counts.warning,
        ok: t.ok + c.counts.ok,
    });
    let thresholds = &state.config.status;
    let no_successors = std::collections::HashMap::new();
    let active_days = state.config.usage.active_days;
    let row = |c: &crate::domain::Credential| {
        CredentialRow::new(c, thresholds, now)
            .with_policy(c, &state.config.exclusions, &no_successors, now)
            .with_usage(c, active_days, now)
    };
    let needs_action = snap
        .needs_action
        .iter()
        .map(|(c, action)| {
            let verdict = snap.rotations.get(&c.id);
            let mut r = row(c);
            // Evidence of a rotation says more than "rotate it" (said in the action column only:
            // the table is wide enough).
            r.action = Some(match (action, verdict) {
                (Action::Incident, _) | (_, None) => (action.as_str(), action.advice()),
                (_, Some(v)) if v.rotation == Rotation::Complete => ("delete", "rotation complete: delete the old one"),
                (_, Some(_)) => ("rotate", "rotation in progress: move what still uses it"),
            });
            r
        })
        .collect();
    let cleanup = snap.cleanup.iter().map(row).collect();
    let own = snap.own.iter().map(|c| CredentialRow::new(c, thresholds, now)).collect();
    // Environments that synced but do not list credwatch's own app: its expiry is unknown here.
    let own_missing = envs
        .iter()
        .filter(|e| e.last_success_at.is_some() && !snap.own_listed.contains(&e.id))
        .map(|e| (e.name.clone(), e.client_id.clone()))
        .collect();
    let names: Vec<String> = envs.iter().map(|e| e.name.clone()).collect();
    let page = OverviewPage {
        layout: Layout::new("Overview", "", names.clone()).for_request(&req),
        needs_action_total: totals.needing_action() - snap.cleanup_total,
        cleanup,
        cleanup_total: snap.cleanup_total,
        totals,
        cards,
        needs_action,
        own,
        own_missing,
        chart: Chart::new(&snap.months, &names, snap.chart_from),
        calendar: super::calendar::SubscribeBox::new(&state.config, &names),
        generated: view::utc(now),
    };
    Ok(page)
}

/// A stacked bar chart of expiries per month, drawn on the server as SVG.
pub struct Chart {
    pub width: i64,
    pub height: i64,
    pub bars: Vec<Bar>,
    pub ticks: Vec<(i64, String)>,
    pub labels: Vec<(i64, String, Option<String>)>,
    pub legend: Vec<(String, String, i64)>,
    /// The same figures as a table, for screen readers and anyone who wants numbers.
    pub rows: Vec<(String, Vec<i64>, i64)>,
    pub total: i64,
    pub baseline: i64,
    pub left: i64,
    pub right: i64,
}

pub struct Bar {
    pub x: i64,
    pub y: i64,
    pub w: i64,
    pub h: i64,
    pub class: String,
    pub title: String,
}

impl Chart {
    const LEFT: i64 = 44;
    const TOP: i64 = 12;
    const BOTTOM: i64 = 40;

    fn new(months: &[MonthCount], environments: &[String], from: Timestamp) -> Chart {
        let (width, height) = (760, 240);
        let from = from.naive_utc();
        let first = from.year() as i64 * 12 + from.month0() as i64;
        let mut grid = vec![vec![0i64; CHART_MONTHS as usize]; environments.len()];
        for m in months {
            let slot = m.month - first;
            if let (Some(env), true) = (
                environments.iter().position(|e| *e == m.environment),
                (0..CHART_MONTHS).contains(&slot),
            ) {
                grid[env][slot as usize] += m.count;
            }
        }
        let per_month: Vec<i64> = (0..CHART_MONTHS as usize).map(|i| grid.iter().map(|g| g[i]).sum()).collect();
        let max = per_month.iter().copied().max().unwrap_or(0);
        let step = nice_step(max);
        let top = ((max + step - 1) / step).max(1) * step;
        let plot_h = height - Self::TOP - Self::BOTTOM;
        let baseline = height - Self::BOTTOM;
        let slot_w = (width - Self::LEFT - 8) / CHART_MONTHS;
        let scale = |v: i64| v * plot_h / top;
        let month_name = |i: i64| {
            let m = first + i;
            let (y, mo) = (m.div_euclid(12), m.rem_euclid(12) + 1);
            (format!("{y:04}-{mo:02}"), mo, y)
        };
        let mut bars = Vec::new();
        for i in 0..CHART_MONTHS {
            let mut stacked = 0;
            for (e, name) in environments.iter().enumerate() {
                let v = grid[e][i as usize];
                if v == 0 {
                    continue;
                }
                let y0 = baseline - scale(stacked);
                stacked += v;
                let y1 = baseline - scale(stacked);
                bars.push(Bar {
                    x: Self::LEFT + i * slot_w + slot_w / 8,
                    y: y1,
                    w: slot_w * 3 / 4,
                    h: (y0 - y1).max(1),
                    class: format!("series-{}", e % 6),
                    title: format!("{name}, {}: {} expiring", month_name(i).0, thousands(v)),
                });
            }
        }
        let ticks = (0..=top / step)
            .map(|k| (baseline - scale(k * step), thousands(k * step)))
            .collect();
        let labels = (0..CHART_MONTHS)
            .map(|i| {
                let (_, mo, y) = month_name(i);
                let short = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][(mo - 1) as usize];
                let year = (i == 0 || mo == 1).then(|| y.to_string());
                (Self::LEFT + i * slot_w + slot_w / 2, short.to_string(), year)
            })
            .collect();
        let legend = environments
            .iter()
            .enumerate()
            .map(|(e, n)| (n.clone(), format!("series-{}", e % 6), grid[e].iter().sum()))
            .collect();
        let rows = (0..CHART_MONTHS)
            .map(|i| (month_name(i).0, grid.iter().map(|g| g[i as usize]).collect(), per_month[i as usize]))
            .collect();
        Chart {
            width,
            height,
            bars,
            ticks,
            labels,
            legend,
            rows,
            total: per_month.iter().sum(),
            baseline,
            left: Self::LEFT,
            right: width - 8,
        }
    }
}

/// 1, 2 or 5 times a power of ten, so that about four steps cover `max`.
fn nice_step(max: i64) -> i64 {
    let raw = (max as f64 / 4.0).max(1.0);
    let pow = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * pow)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * pow);
    step as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(0), 1);
        assert_eq!(nice_step(7), 2);
        assert_eq!(nice_step(37), 10);
        assert_eq!(nice_step(1_234), 500);
    }

    #[test]
    fn chart_stacks_environments_per_month() {
        let from = Timestamp::from(Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap());
        let m = |env: &str, month: i64, count| MonthCount {
            environment: env.into(),
            month,
            count,
        };
        let nov = 2026 * 12 + 10;
        let chart = Chart::new(
            &[m("dev", nov, 3), m("prod", nov, 5), m("prod", nov + 2, 1), m("prod", nov + 30, 9)],
            &["dev".into(), "prod".into()],
            from,
        );
        assert_eq!(chart.total, 9);
        assert_eq!(chart.bars.len(), 3);
        assert_eq!(chart.rows[0], ("2026-11".to_string(), vec![3, 5], 8));
        assert_eq!(chart.rows[2].0, "2027-01");
        assert_eq!(chart.labels[2].2.as_deref(), Some("2027"));
    }
}
