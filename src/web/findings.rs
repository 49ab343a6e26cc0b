//! `/findings`: the policy findings (long-lived, never-expiring, expired-but-present, several
//! live secrets, no owner) and the exclusion rules in force, as a page.

use super::error::PageError;
use super::layout::Layout;
use super::state::AppState;
use super::view;
use crate::domain::{ExclusionRule, Finding, FindingKind, Timestamp};
use crate::store::CredentialFilter;
use actix_web::{get, web};
use askama::Template;
use askama_web::WebTemplate;
use chrono::Utc;

struct Section {
    title: &'static str,
    key: &'static str,
    rows: Vec<Row>,
}

struct Row {
    environment: String,
    app: String,
    app_href: String,
    enterprise: bool,
    credential: String,
    detail: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "findings.html")]
pub struct FindingsPage {
    layout: Layout,
    sections: Vec<Section>,
    rules: Vec<ExclusionRule>,
}

fn row(f: &Finding) -> Row {
    Row {
        environment: f.environment.clone(),
        app: view::display_or(f.app_display_name.as_deref(), "(no name)").0,
        app_href: view::application_href(&f.environment, &f.app_object_id),
        enterprise: f.source == crate::domain::Source::ServicePrincipal,
        credential: match (&f.credential_kind, &f.key_id) {
            (Some(k), Some(id)) => format!(
                "{k} “{}”",
                f.credential_name
                    .clone()
                    .filter(|n| !n.trim().is_empty())
                    .unwrap_or_else(|| id.clone())
            ),
            _ => String::new(),
        },
        detail: f.detail.clone(),
    }
}

/// What the usage findings need from the store and the config.
pub async fn usage_findings(state: &AppState) -> Result<crate::domain::UsageFindings, crate::store::StoreError> {
    Ok(crate::domain::UsageFindings {
        unused_days: state.config.usage.unused_days,
        never_signed_in: state
            .store
            .applications_never_signed_in()
            .await?
            .into_iter()
            .map(|(_, app)| app)
            .collect(),
    })
}

#[get("/findings")]
pub async fn findings_page(req: actix_web::HttpRequest, state: web::Data<AppState>) -> Result<FindingsPage, PageError> {
    let now = Timestamp::from(Utc::now());
    let all = state.store.credentials(&CredentialFilter::default()).await?;
    let found = crate::domain::findings_with_usage(&all, Some(&usage_findings(&state).await?), now);
    let sections = FindingKind::ALL
        .iter()
        .map(|k| Section {
            title: k.title(),
            key: k.as_str(),
            rows: found.iter().filter(|f| f.kind == *k).map(row).collect(),
        })
        .collect();
    let envs = state.store.environments().await?;
    let page = FindingsPage {
        layout: Layout::new("Findings", "", envs.into_iter().map(|e| e.name).collect()).for_request(&req),
        sections,
        rules: state.config.exclusions.rules.clone(),
    };
    Ok(page)
}
