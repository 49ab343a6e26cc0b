//! The Graph listing: `GET {graph_url}/v1.0/applications` with `$select` and `$top=999`, following
//! every `@odata.nextLink`, renewing the token once on a 401.

use super::GraphError;
use super::http::{Retrier, body_limited, http_client};
use super::model::{APPLICATION_SELECT, ApplicationPage, GraphErrorBody};
use super::token::TokenProvider;
use crate::config::{EnvironmentConfig, SyncConfig};
use crate::domain::ListedApplication;
use secrecy::ExposeSecret;
use url::Url;

/// Largest page body accepted: 999 applications with many credentials stay far below this.
const MAX_PAGE_BYTES: usize = 64 << 20;

/// A Graph client for one environment.
pub struct GraphClient {
    http: reqwest::Client,
    retrier: Retrier,
    tokens: TokenProvider,
    graph_url: Url,
    client_id: String,
}

/// What a complete listing amounted to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListingStats {
    pub pages: usize,
    pub applications: usize,
}

impl GraphClient {
    pub fn new(env: &EnvironmentConfig, sync: &SyncConfig) -> Result<GraphClient, GraphError> {
        let http = http_client(sync)?;
        let tokens = TokenProvider::new(http.clone(), env, sync)?;
        Ok(GraphClient { http, retrier: Retrier::new(sync), tokens, graph_url: env.graph_url.clone(), client_id: env.client_id.clone() })
    }

    /// Signs in (or reuses the cached token); `credwatch check` uses this alone.
    pub async fn sign_in(&self) -> Result<(), GraphError> {
        self.tokens.token().await.map(|_| ())
    }

    /// Signs in and reads one application, proving the Application.Read.All permission.
    pub async fn probe(&self) -> Result<(), GraphError> {
        let mut url = self.graph_url.join("v1.0/applications").map_err(|e| GraphError::Config(format!("graph_url: {e}")))?;
        url.query_pairs_mut().append_pair("$select", "id").append_pair("$top", "1");
        self.get_json::<serde_json::Value>(&url).await.map(|_| ())
    }

    /// Lists every application, handing each page to `on_page` as it arrives. Returns only when
    /// the last page (the one without `@odata.nextLink`) was read: an `Ok` means the listing is
    /// complete.
    pub async fn list_applications(&self, mut on_page: impl FnMut(Vec<ListedApplication>)) -> Result<ListingStats, GraphError> {
        let mut url = self.graph_url.join("v1.0/applications").map_err(|e| GraphError::Config(format!("graph_url: {e}")))?;
        url.query_pairs_mut().append_pair("$select", APPLICATION_SELECT).append_pair("$top", "999");
        let mut stats = ListingStats::default();
        loop {
            let page: ApplicationPage = self.get_json(&url).await?;
            stats.pages += 1;
            let apps = page
                .value
                .into_iter()
                .map(|a| a.into_domain())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| GraphError::Malformed(format!("page {}: {e}", stats.pages)))?;
            stats.applications += apps.len();
            on_page(apps);
            match page.next_link {
                Some(next) => url = self.checked_next_link(&next)?,
                None => return Ok(stats),
            }
        }
    }

    /// A nextLink is followed only to the Graph host we were configured with: the bearer token
    /// goes with it.
    fn checked_next_link(&self, next: &str) -> Result<Url, GraphError> {
        let url = Url::parse(next).map_err(|e| GraphError::Malformed(format!("@odata.nextLink is not a URL: {e}")))?;
        if url.origin() != self.graph_url.origin() {
            return Err(GraphError::Malformed(format!(
                "@odata.nextLink points to {} instead of {}; not following it with our token",
                url.host_str().unwrap_or("?"),
                self.graph_url.host_str().unwrap_or("?")
            )));
        }
        Ok(url)
    }

    #[tracing::instrument(name = "graph_get", skip(self, url), fields(client_id = %self.client_id))]
    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &Url) -> Result<T, GraphError> {
        let mut renewed = false;
        loop {
            let token = self.tokens.token().await?;
            let resp = self
                .retrier
                .send("Microsoft Graph", || self.http.get(url.clone()).bearer_auth(token.expose_secret()).header("Accept", "application/json"))
                .await?;
            let status = resp.status().as_u16();
            let body = body_limited(resp, MAX_PAGE_BYTES).await?;
            match status {
                200 => {
                    return serde_json::from_slice(&body).map_err(|e| GraphError::Malformed(format!("a page of applications did not parse: {e}")));
                }
                // An access token can expire or be revoked mid-listing: sign in again, once.
                401 if !renewed => {
                    tracing::info!("Graph rejected the access token; signing in again");
                    self.tokens.invalidate().await;
                    renewed = true;
                }
                401 => {
                    let d = GraphErrorBody::parse(&body);
                    return Err(GraphError::Unauthorized { code: d.code, message: d.message });
                }
                403 => {
                    let d = GraphErrorBody::parse(&body);
                    return Err(GraphError::Forbidden { code: d.code, client_id: self.client_id.clone() });
                }
                _ => {
                    let d = GraphErrorBody::parse(&body);
                    return Err(GraphError::Http { status, code: d.code, message: d.message });
                }
            }
        }
    }
}
