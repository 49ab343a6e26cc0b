//! The two beta sign-in activity reports (graph-facts §11):
//! `GET /beta/reports/appCredentialSignInActivities` (one object per credential that was used) and
//! `GET /beta/reports/servicePrincipalSignInActivities` (one per application), paged with
//! `@odata.nextLink`, with `$top` and `$filter` on `keyId` or `appId`, and the two 403s a tenant
//! without the permission or the licence earns.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};

use super::graph::{RequestIds, authenticate, decode_skiptoken, encode_skiptoken};
use super::{LogExtra, Shared};

const DEFAULT_TOP: usize = 100;
const MAX_TOP: usize = 999;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Report {
    Credentials,
    Applications,
}

impl Report {
    fn path(self) -> &'static str {
        match self {
            Report::Credentials => "appCredentialSignInActivities",
            Report::Applications => "servicePrincipalSignInActivities",
        }
    }
}

/// The one `$filter` the reports' doc examples show: `keyId eq '…'` or `appId eq '…'`.
#[derive(Debug, PartialEq, Eq)]
enum Filter {
    KeyId(String),
    AppId(String),
}

struct ReportQuery {
    top: usize,
    filter: Option<Filter>,
    page: usize,
    offset: usize,
    carried: Vec<String>,
}

fn parse_filter(value: &str) -> Option<Filter> {
    let (property, rest) = value.trim().split_once(' ')?;
    let literal = rest.trim().strip_prefix("eq")?.trim();
    let literal = literal.strip_prefix('\'')?.strip_suffix('\'')?.replace("''", "'");
    match property {
        "keyId" => Some(Filter::KeyId(literal)),
        "appId" => Some(Filter::AppId(literal)),
        _ => None,
    }
}

fn parse_query(raw: &str, report: Report) -> Result<ReportQuery, String> {
    let mut query = ReportQuery {
        top: DEFAULT_TOP,
        filter: None,
        page: 0,
        offset: 0,
        carried: Vec::new(),
    };
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let Some((key, value)) = url::form_urlencoded::parse(pair.as_bytes()).next() else {
            continue;
        };
        match key.as_ref() {
            "$top" => {
                query.top = value
                    .trim()
                    .parse()
                    .ok()
                    .filter(|t| (1..=MAX_TOP).contains(t))
                    .ok_or_else(|| format!("Invalid page size specified: '{value}'. Must be between 1 and 999 inclusive."))?;
            }
            "$filter" => {
                let filter = parse_filter(&value).ok_or_else(|| format!("Invalid filter clause: '{value}'."))?;
                if report == Report::Applications && matches!(filter, Filter::KeyId(_)) {
                    return Err(format!(
                        "Could not find a property named 'keyId' on type 'microsoft.graph.{}'.",
                        "servicePrincipalSignInActivity"
                    ));
                }
                query.filter = Some(filter);
            }
            "$skiptoken" => {
                let (page, offset) = decode_skiptoken(&value).ok_or_else(|| format!("Invalid skip token '{value}'."))?;
                query.page = page;
                query.offset = offset;
                continue;
            }
            _ => {}
        }
        query.carried.push(pair.to_string());
    }
    Ok(query)
}

/// `GET /beta/reports/{report}`.
pub(crate) async fn report(req: HttpRequest, shared: web::Data<Shared>, path: web::Path<String>) -> HttpResponse {
    let ids = RequestIds::of(&req);
    let mut extra = LogExtra::default();
    let report = match path.as_str() {
        "appCredentialSignInActivities" => Report::Credentials,
        "servicePrincipalSignInActivities" => Report::Applications,
        _ => return super::graph::not_found(req).await,
    };
    let mut response = answer(&req, &shared, &ids, &mut extra, report);
    response.extensions_mut().insert(extra);
    response
}

fn answer(req: &HttpRequest, shared: &Shared, ids: &RequestIds, extra: &mut LogExtra, report: Report) -> HttpResponse {
    let mut state = shared.lock();
    let token = match authenticate(req, &state, ids, extra) {
        Ok(t) => t,
        Err(res) => return *res,
    };
    let query = match parse_query(req.query_string(), report) {
        Ok(q) => q,
        Err(message) => return ids.error(400, "BadRequest", &message),
    };
    let base = state.base_url.clone();
    let Some(tenant) = state.tenants.get_mut(&token.tenant_id) else {
        return ids.error(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        );
    };
    if let Some(denial) = tenant.usage.denied {
        let (code, message) = denial.code_and_message();
        return ids.error(403, code, message);
    }
    // The 403 licensed tenants see now and then (graph-facts §11): it uses up one of its count.
    if let Some((denial, times)) = tenant.usage.intermittent.as_mut()
        && *times > 0
    {
        *times -= 1;
        let (code, message) = denial.code_and_message();
        return ids.error(403, code, message);
    }
    if let Some((status, times)) = tenant.usage.page_failures.get_mut(&(report.path(), query.page))
        && *times > 0
    {
        *times -= 1;
        let status = *status;
        let (code, message) = super::errors::graph_code_for_status(status);
        return ids.error(status, code, message);
    }

    let rows: Vec<Value> = match report {
        Report::Credentials => tenant
            .usage
            .credentials
            .iter()
            .filter(|r| match &query.filter {
                None => true,
                Some(Filter::KeyId(k)) => r.key_id.eq_ignore_ascii_case(k),
                Some(Filter::AppId(a)) => r.app_id.eq_ignore_ascii_case(a),
            })
            .skip(query.offset)
            .take(query.top + 1)
            .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
            .collect(),
        Report::Applications => tenant
            .usage
            .applications
            .iter()
            .filter(|r| match &query.filter {
                Some(Filter::AppId(a)) => r.app_id.eq_ignore_ascii_case(a),
                _ => true,
            })
            .skip(query.offset)
            .take(query.top + 1)
            .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
            .collect(),
    };
    drop(state);
    let has_more = rows.len() > query.top;
    let value: Vec<Value> = rows.into_iter().take(query.top).collect();
    let end = query.offset + value.len();
    let mut page = Map::new();
    page.insert(
        "@odata.context".into(),
        json!(format!("{base}/beta/$metadata#reports/{}", report.path())),
    );
    page.insert("value".into(), Value::Array(value));
    if has_more {
        let mut params = query.carried.clone();
        let token = encode_skiptoken(query.page + 1, end).replace('\'', "%27");
        params.push(format!("$skiptoken={token}"));
        page.insert(
            "@odata.nextLink".into(),
            json!(format!("{base}/beta/reports/{}?{}", report.path(), params.join("&"))),
        );
    }
    ids.respond(StatusCode::OK, &Value::Object(page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_name_a_key_or_an_app() {
        assert_eq!(parse_filter("keyId eq 'abc'"), Some(Filter::KeyId("abc".into())));
        assert_eq!(parse_filter("appId eq 'o''brien'"), Some(Filter::AppId("o'brien".into())));
        assert_eq!(parse_filter("displayName eq 'x'"), None);
        assert_eq!(parse_filter("keyId ne 'x'"), None);
    }
}
