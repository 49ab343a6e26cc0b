//! The Graph listing: `GET {graph_url}/v1.0/applications` with `$select` and `$top=999`, following
//! every `@odata.nextLink`, renewing the token once on a 401.

use super::GraphError;
use super::http::{Retrier, body_limited, http_client};
use super::model::{
    APPLICATION_SELECT, ApplicationPage, EXPAND_LIMIT, GraphErrorBody, OWNERS_EXPAND, OwnerPage, ReportPage, SERVICE_PRINCIPAL_SELECT,
    ServicePrincipalPage, WireAppSignIn, WireCredentialSignIn, WireOwner,
};
use super::token::TokenProvider;
use crate::config::{EnvironmentConfig, SyncConfig};
use crate::domain::{ListedApplication, Owner, UsageReport, path_segment};
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
    /// `environments[].include_service_principals`: list enterprise applications too.
    include_service_principals: bool,
}

/// Graph caps pages at 100 objects when `$expand` is used on directory objects, whatever `$top`
/// says; asking for exactly that keeps the request honest.
const EXPANDED_PAGE: &str = "100";

/// Where a listing's pages go as they arrive (a sync stages them in the store). A plain closure
/// is a sink too.
pub trait PageSink {
    fn page(&mut self, apps: Vec<ListedApplication>) -> impl std::future::Future<Output = Result<(), SinkStopped>> + Send;
}

/// A sink stopped taking pages, so the listing stops. The sink's owner knows why (a sync's
/// staging failed) and reports that cause itself.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the listing was stopped: its pages could no longer be handed on")]
pub struct SinkStopped;

impl<F: FnMut(Vec<ListedApplication>) + Send> PageSink for F {
    async fn page(&mut self, apps: Vec<ListedApplication>) -> Result<(), SinkStopped> {
        self(apps);
        Ok(())
    }
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
        Ok(GraphClient {
            http,
            retrier: Retrier::new(sync),
            tokens,
            graph_url: env.graph_url.clone(),
            client_id: env.client_id.clone(),
            include_service_principals: env.include_service_principals,
        })
    }

    /// Signs in (or reuses the cached token); `credwatch check` uses this alone.
    #[tracing::instrument(skip(self), fields(client_id = %self.client_id))]
    pub async fn sign_in(&self) -> Result<(), GraphError> {
        self.tokens.token().await.map(|_| ())
    }

    /// Signs in and reads one application, proving the Application.Read.All permission.
    #[tracing::instrument(skip(self), fields(client_id = %self.client_id))]
    pub async fn probe(&self) -> Result<(), GraphError> {
        let mut url = self.graph_url.join("v1.0/applications").map_err(GraphError::GraphUrl)?;
        url.query_pairs_mut().append_pair("$select", "id").append_pair("$top", "1");
        self.get_json::<serde_json::Value>(&url).await.map(|_| ())
    }

    /// Lists every application (and, with `include_service_principals`, every enterprise
    /// application), handing each page to `on_page` as it arrives. Returns only when the last
    /// page (the one without `@odata.nextLink`) of every listing was read: an `Ok` means the
    /// listing is complete.
    /// With `with_owners`, each object's owners are expanded in the listing.
    #[tracing::instrument(skip(self, on_page), fields(client_id = %self.client_id, service_principals = self.include_service_principals))]
    pub async fn list_applications(&self, with_owners: bool, mut on_page: impl PageSink) -> Result<ListingStats, GraphError> {
        let mut stats = ListingStats::default();
        let mut url = self.listing_url("v1.0/applications", APPLICATION_SELECT, with_owners)?;
        loop {
            let page: ApplicationPage = self.get_json(&url).await?;
            stats.pages += 1;
            let mut apps = page
                .value
                .into_iter()
                .map(|a| a.into_domain())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| GraphError::Malformed(format!("page {}: {e}", stats.pages)))?;
            self.complete_owners("applications", &mut apps).await?;
            stats.applications += apps.len();
            on_page.page(apps).await?;
            match page.next_link {
                Some(next) => url = self.checked_next_link(&next)?,
                None => break,
            }
        }
        if !self.include_service_principals {
            return Ok(stats);
        }
        let mut url = self.listing_url("v1.0/servicePrincipals", SERVICE_PRINCIPAL_SELECT, with_owners)?;
        loop {
            let page: ServicePrincipalPage = self.get_json(&url).await?;
            stats.pages += 1;
            let mut sps: Vec<ListedApplication> = Vec::new();
            for sp in page.value {
                if let Some(app) = sp
                    .into_domain()
                    .map_err(|e| GraphError::Malformed(format!("page {}: {e}", stats.pages)))?
                {
                    // Most service principals (Microsoft's own among them) carry no credential.
                    if !app.credentials.is_empty() {
                        sps.push(app);
                    }
                }
            }
            self.complete_owners("servicePrincipals", &mut sps).await?;
            stats.applications += sps.len();
            on_page.page(sps).await?;
            match page.next_link {
                Some(next) => url = self.checked_next_link(&next)?,
                None => return Ok(stats),
            }
        }
    }

    fn listing_url(&self, path: &str, select: &str, with_owners: bool) -> Result<Url, GraphError> {
        let mut url = self.graph_url.join(path).map_err(GraphError::GraphUrl)?;
        if with_owners {
            url.query_pairs_mut()
                .append_pair("$select", select)
                .append_pair("$expand", OWNERS_EXPAND)
                .append_pair("$top", EXPANDED_PAGE);
        } else {
            url.query_pairs_mut().append_pair("$select", select).append_pair("$top", "999");
        }
        Ok(url)
    }

    /// An expanded relationship holds at most [`EXPAND_LIMIT`] objects: an object showing that
    /// many owners may have more, so its owners are read in full from `/{collection}/{id}/owners`.
    /// That is rare (few apps have 20 owners), so the listing stays one request per page.
    #[tracing::instrument(skip(self, apps), fields(client_id = %self.client_id))]
    async fn complete_owners(&self, collection: &str, apps: &mut [ListedApplication]) -> Result<(), GraphError> {
        for app in apps
            .iter_mut()
            .filter(|a| a.owners.as_ref().is_some_and(|o| o.len() >= EXPAND_LIMIT))
        {
            let id = path_segment(&app.object_id);
            let mut url = self
                .graph_url
                .join(&format!("v1.0/{collection}/{id}/owners"))
                .map_err(GraphError::GraphUrl)?;
            url.query_pairs_mut()
                .append_pair("$select", "id,displayName,mail,userPrincipalName,appId")
                .append_pair("$top", "999");
            let mut owners: Vec<Owner> = Vec::new();
            loop {
                let page: OwnerPage = self.get_json(&url).await?;
                owners.extend(page.value.into_iter().filter_map(WireOwner::into_domain));
                match page.next_link {
                    Some(next) => url = self.checked_next_link(&next)?,
                    None => break,
                }
            }
            app.owners = Some(owners);
        }
        Ok(())
    }

    /// Reads one row of the credential sign-in report, proving the permission (AuditLog.Read.All)
    /// and the licence (Entra ID P1/P2) usage needs.
    #[tracing::instrument(skip(self), fields(client_id = %self.client_id))]
    pub async fn probe_usage(&self) -> Result<(), GraphError> {
        let mut url = self
            .graph_url
            .join("beta/reports/appCredentialSignInActivities")
            .map_err(GraphError::GraphUrl)?;
        url.query_pairs_mut().append_pair("$top", "1");
        self.get_json::<serde_json::Value>(&url).await.map(|_| ())
    }

    /// Reads both sign-in activity reports completely (every page; a handful of requests for
    /// the whole tenant, never one per credential). Any failed page fails the whole read, so a
    /// partial report is never taken for a complete one.
    #[tracing::instrument(skip(self), fields(client_id = %self.client_id))]
    pub async fn read_usage(&self) -> Result<UsageReport, GraphError> {
        Ok(UsageReport {
            credentials: self
                .read_report("beta/reports/appCredentialSignInActivities", WireCredentialSignIn::into_domain)
                .await?,
            applications: self
                .read_report("beta/reports/servicePrincipalSignInActivities", WireAppSignIn::into_domain)
                .await?,
        })
    }

    /// Every row of one report, each page's rows converted by `row` (`None` skips a row that
    /// names nothing).
    async fn read_report<W: serde::de::DeserializeOwned, T>(&self, path: &str, row: fn(W) -> Option<T>) -> Result<Vec<T>, GraphError> {
        let mut url = self.graph_url.join(path).map_err(GraphError::GraphUrl)?;
        url.query_pairs_mut().append_pair("$top", "999");
        let mut rows = Vec::new();
        loop {
            let page: ReportPage<W> = self.get_json(&url).await?;
            rows.extend(page.value.into_iter().filter_map(row));
            match page.next_link {
                Some(next) => url = self.checked_next_link(&next)?,
                None => return Ok(rows),
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
                .send("Microsoft Graph", || {
                    self.http
                        .get(url.clone())
                        .bearer_auth(token.expose_secret())
                        .header("Accept", "application/json")
                })
                .await?;
            let status = resp.status().as_u16();
            let body = body_limited(resp, MAX_PAGE_BYTES).await?;
            match status {
                200 => {
                    return serde_json::from_slice(&body).map_err(|e| GraphError::Malformed(format!("a page did not parse: {e}")));
                }
                // An access token can expire or be revoked mid-listing: sign in again, once.
                401 if !renewed => {
                    tracing::info!("Graph rejected the access token; signing in again");
                    self.tokens.invalidate().await;
                    renewed = true;
                }
                401 => {
                    let d = GraphErrorBody::parse(&body);
                    return Err(GraphError::Unauthorized {
                        code: d.code,
                        message: d.message,
                    });
                }
                403 => {
                    let d = GraphErrorBody::parse(&body);
                    return Err(GraphError::Forbidden {
                        code: d.code,
                        client_id: self.client_id.clone(),
                    });
                }
                _ => {
                    let d = GraphErrorBody::parse(&body);
                    return Err(GraphError::Http {
                        status,
                        code: d.code,
                        message: d.message,
                    });
                }
            }
        }
    }
}
