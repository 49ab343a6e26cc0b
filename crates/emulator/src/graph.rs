//! `GET /v1.0/applications` with Graph's bearer check, `$top`/`$select`, `$skiptoken`
//! paging and the injected faults (graph-facts §2, §6).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde_json::{Map, Value, json};

use super::errors::{WWW_AUTHENTICATE, graph_code_for_status, graph_error_body, throttled_body};
use super::{LogExtra, Shared};

/// Real Graph labels its JSON this way; clients must not insist on bare `application/json`.
pub(crate) const ODATA_JSON: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";
const DEFAULT_TOP: usize = 100;
const MAX_TOP: usize = 999;
const SKIPTOKEN_PREFIX: &str = "credwatch-emulator:";

/// Properties an application object carries beyond [`super::Application`]'s fields, so a
/// client sees the noise a real listing has (and `$select` can name them).
fn extra_properties() -> [(&'static str, Value); 5] {
    [
        ("deletedDateTime", Value::Null),
        ("identifierUris", json!([])),
        ("publisherDomain", json!("contoso.onmicrosoft.com")),
        ("disabledByMicrosoftStatus", Value::Null),
        ("requiredResourceAccess", json!([])),
    ]
}

/// Ids every Graph response carries; echoed into error bodies so failures can be correlated.
pub(crate) struct RequestIds {
    request_id: String,
    client_request_id: String,
}

impl RequestIds {
    pub(crate) fn of(req: &HttpRequest) -> RequestIds {
        let request_id = uuid::Uuid::new_v4().to_string();
        let client_request_id = req
            .headers()
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| request_id.clone());
        RequestIds {
            request_id,
            client_request_id,
        }
    }

    pub(crate) fn respond(&self, status: StatusCode, body: &Value) -> HttpResponse {
        HttpResponse::build(status)
            .insert_header(("request-id", self.request_id.as_str()))
            .insert_header(("client-request-id", self.client_request_id.as_str()))
            .content_type(ODATA_JSON)
            .body(body.to_string())
    }

    pub(crate) fn error(&self, status: u16, code: &str, message: &str) -> HttpResponse {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        self.respond(status, &graph_error_body(code, message, &self.request_id, &self.client_request_id))
    }

    fn unauthorized(&self, message: &str) -> HttpResponse {
        let mut res = self.error(401, "InvalidAuthenticationToken", message);
        if let Ok(value) = actix_web::http::header::HeaderValue::from_str(WWW_AUTHENTICATE) {
            res.headers_mut().insert(actix_web::http::header::WWW_AUTHENTICATE, value);
        }
        res
    }
}

/// Anything Graph does not route: a Graph-shaped 404.
pub(crate) async fn not_found(req: HttpRequest) -> HttpResponse {
    let ids = RequestIds::of(&req);
    let segment = req.path().rsplit('/').find(|s| !s.is_empty()).unwrap_or_default();
    ids.error(
        404,
        "Request_ResourceNotFound",
        &format!("Resource not found for the segment '{segment}'."),
    )
}

/// The listing's query options, parsed once at the edge.
struct ListQuery {
    top: usize,
    select: Option<Vec<String>>,
    /// `$expand=owners` (`Some(None)`) or `$expand=owners($select=…)` (`Some(Some(fields))`).
    expand: Option<Option<Vec<String>>>,
    /// (page index, offset) decoded from `$skiptoken`; (0, 0) on the first page.
    page: usize,
    offset: usize,
    /// The raw `key=value` pairs other than `$skiptoken`, re-sent in every nextLink.
    carried: Vec<String>,
}

/// A rejected query option: the Graph error code and message of the 400 it earns.
struct BadQuery(&'static str, String);

fn parse_query(raw: &str) -> Result<ListQuery, BadQuery> {
    let mut query = ListQuery {
        top: DEFAULT_TOP,
        select: None,
        expand: None,
        page: 0,
        offset: 0,
        carried: Vec::new(),
    };
    let bad = BadQuery;
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let Some((key, value)) = url::form_urlencoded::parse(pair.as_bytes()).next() else {
            continue;
        };
        match key.as_ref() {
            "$top" => {
                let top: i64 = value
                    .trim()
                    .parse()
                    .map_err(|_| bad("BadRequest", format!("Invalid value '{value}' for query option '$top'.")))?;
                if !(1..=MAX_TOP as i64).contains(&top) {
                    return Err(bad(
                        "Request_UnsupportedQuery",
                        format!("Invalid page size specified: '{top}'. Must be between 1 and 999 inclusive."),
                    ));
                }
                query.top = top as usize;
            }
            "$select" => {
                let fields: Vec<String> = value.split(',').map(|f| f.trim().to_string()).filter(|f| !f.is_empty()).collect();
                query.select = Some(fields);
            }
            "$expand" => {
                let value = value.trim();
                let fields = if value == "owners" {
                    None
                } else if let Some(inner) = value.strip_prefix("owners(").and_then(|v| v.strip_suffix(')')) {
                    let select = inner.strip_prefix("$select=").ok_or_else(|| {
                        bad(
                            "BadRequest",
                            format!("Invalid $expand option '{inner}'; only $select is supported here."),
                        )
                    })?;
                    Some(select.split(',').map(|f| f.trim().to_string()).filter(|f| !f.is_empty()).collect())
                } else {
                    return Err(bad(
                        "BadRequest",
                        format!("Could not find a property named '{value}' on type 'microsoft.graph.directoryObject'."),
                    ));
                };
                query.expand = Some(fields);
            }
            "$skiptoken" => {
                let (page, offset) =
                    decode_skiptoken(&value).ok_or_else(|| bad("Request_BadRequest", format!("Invalid skip token '{value}'.")))?;
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

/// Directory skiptokens look like `X'4453…'`: hex inside `X'…'`. Ours hides "page:offset".
pub(crate) fn encode_skiptoken(page: usize, offset: usize) -> String {
    let plain = format!("{SKIPTOKEN_PREFIX}{page}:{offset}");
    let hex: String = plain.bytes().map(|b| format!("{b:02X}")).collect();
    format!("X'{hex}'")
}

pub(crate) fn decode_skiptoken(token: &str) -> Option<(usize, usize)> {
    let hex = token.strip_prefix("X'")?.strip_suffix('\'')?;
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    let plain = String::from_utf8(bytes).ok()?;
    let (page, offset) = plain.strip_prefix(SKIPTOKEN_PREFIX)?.split_once(':')?;
    Some((page.parse().ok()?, offset.parse().ok()?))
}

/// `GET /v1.0/applications`.
pub(crate) async fn list_applications(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let ids = RequestIds::of(&req);
    let mut extra = LogExtra::default();
    let delay = shared.lock().delay;
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let mut response = list(&req, &shared, &ids, &mut extra, Collection::Applications);
    response.extensions_mut().insert(extra);
    response
}

/// `GET /v1.0/servicePrincipals`.
pub(crate) async fn list_service_principals(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let ids = RequestIds::of(&req);
    let mut extra = LogExtra::default();
    let delay = shared.lock().delay;
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let mut response = list(&req, &shared, &ids, &mut extra, Collection::ServicePrincipals);
    response.extensions_mut().insert(extra);
    response
}

/// `GET /v1.0/{applications|servicePrincipals}/{id}/owners`: every owner, unpaged (no object
/// in a test has more than 999).
pub(crate) async fn list_owners(req: HttpRequest, shared: web::Data<Shared>, path: web::Path<(String, String)>) -> HttpResponse {
    let ids = RequestIds::of(&req);
    let mut extra = LogExtra::default();
    let (collection, id) = path.into_inner();
    let mut response = {
        let state = shared.lock();
        match authenticate(&req, &state, &ids, &mut extra) {
            Err(res) => *res,
            Ok(token) => {
                let tenant = state.tenants.get(&token.tenant_id);
                let owners = match collection.as_str() {
                    "applications" => tenant
                        .and_then(|t| t.applications.iter().find(|a| a.id == id))
                        .map(|a| a.owners.clone()),
                    "servicePrincipals" => tenant
                        .and_then(|t| t.service_principals.iter().find(|a| a.id == id))
                        .map(|a| a.owners.clone()),
                    _ => None,
                };
                match owners {
                    None => ids.error(
                        404,
                        "Request_ResourceNotFound",
                        &format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
                    ),
                    Some(owners) => {
                        let value: Vec<Value> = owners.iter().map(|o| serde_json::to_value(o).unwrap_or(Value::Null)).collect();
                        ids.respond(
                            StatusCode::OK,
                            &json!({"@odata.context": format!("{}/v1.0/$metadata#directoryObjects", state.base_url), "value": value}),
                        )
                    }
                }
            }
        }
    };
    response.extensions_mut().insert(extra);
    response
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Collection {
    Applications,
    ServicePrincipals,
}

impl Collection {
    fn path(self) -> &'static str {
        match self {
            Collection::Applications => "applications",
            Collection::ServicePrincipals => "servicePrincipals",
        }
    }
}

/// Graph returns at most this many objects of an expanded relationship.
const EXPAND_OWNERS_MAX: usize = 20;
/// With `$expand` on directory objects, pages hold at most 100 objects whatever `$top` says.
const EXPAND_PAGE_MAX: usize = 100;

/// The bearer check every Graph route shares: the token must be one we issued, unexpired, and
/// its client allowed to read applications.
pub(crate) fn authenticate(
    req: &HttpRequest,
    state: &super::State,
    ids: &RequestIds,
    extra: &mut LogExtra,
) -> Result<super::IssuedToken, Box<HttpResponse>> {
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_string())
        .filter(|t| !t.is_empty());
    let Some(bearer) = bearer else {
        return Err(Box::new(ids.unauthorized("Access token is empty.")));
    };
    let Some(token) = state.tokens.get(&bearer).cloned() else {
        return Err(Box::new(ids.unauthorized("Access token validation failure. Invalid audience.")));
    };
    extra.token_id = Some(token.id.clone());
    extra.tenant_id = Some(token.tenant_id.clone());
    extra.client_id = Some(token.client_id.clone());
    if token.revoked || token.expires_at <= Utc::now() {
        return Err(Box::new(ids.unauthorized("Lifetime validation failed, the token is expired.")));
    }
    let denied = state
        .tenants
        .get(&token.tenant_id)
        .and_then(|t| t.clients.get(&token.client_id))
        .is_none_or(|c| c.denied);
    if denied {
        return Err(Box::new(ids.error(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )));
    }
    Ok(token)
}

fn list(req: &HttpRequest, shared: &Shared, ids: &RequestIds, extra: &mut LogExtra, collection: Collection) -> HttpResponse {
    let mut state = shared.lock();
    let token = match authenticate(req, &state, ids, extra) {
        Ok(t) => t,
        Err(res) => return *res,
    };

    let query = match parse_query(req.query_string()) {
        Ok(q) => q,
        Err(BadQuery(code, message)) => return ids.error(400, code, &message),
    };
    if let Some(fields) = &query.select {
        let (sample, type_name) = match collection {
            Collection::Applications => (application_object(&super::Application::default()), "application"),
            Collection::ServicePrincipals => (object_with_noise(&super::ServicePrincipal::default()), "servicePrincipal"),
        };
        if let Some(unknown) = fields.iter().find(|f| !sample.contains_key(f.as_str())) {
            return ids.error(
                400,
                "Request_BadRequest",
                &format!("Could not find a property named '{unknown}' on type 'microsoft.graph.{type_name}'."),
            );
        }
    }

    // Injected faults, after authentication as on real Graph (throttling is per app+tenant).
    if state.throttle_remaining > 0 {
        state.throttle_remaining -= 1;
        let mut res = ids.respond(StatusCode::TOO_MANY_REQUESTS, &throttled_body(&ids.request_id));
        if let Some(retry_after) = &state.throttle_retry_after
            && let Ok(value) = actix_web::http::header::HeaderValue::from_str(retry_after)
        {
            res.headers_mut().insert(actix_web::http::header::RETRY_AFTER, value);
        }
        return res;
    }
    if state.fail_remaining > 0 {
        state.fail_remaining -= 1;
        let status = state.fail_status;
        let (code, message) = graph_code_for_status(status);
        return ids.error(status, code, message);
    }
    if let Some((status, times)) = state.page_failures.get_mut(&query.page)
        && *times > 0
    {
        *times -= 1;
        let status = *status;
        let (code, message) = graph_code_for_status(status);
        return ids.error(status, code, message);
    }
    if let Some((body, times)) = state.page_bodies.get_mut(&query.page)
        && *times > 0
    {
        *times -= 1;
        return HttpResponse::Ok().content_type(ODATA_JSON).body(body.clone());
    }

    let base = state.base_url.clone();
    let tenant = state.tenants.get(&token.tenant_id);
    let total = tenant
        .map(|t| match collection {
            Collection::Applications => t.applications.len(),
            Collection::ServicePrincipals => t.service_principals.len(),
        })
        .unwrap_or(0);
    let top = if query.expand.is_some() {
        query.top.min(EXPAND_PAGE_MAX)
    } else {
        query.top
    };
    let start = query.offset.min(total);
    let end = (start + top).min(total);
    let value: Vec<Value> = (start..end)
        .filter_map(|i| {
            let t = tenant?;
            let (mut object, owners) = match collection {
                Collection::Applications => (application_object(&t.applications[i]), &t.applications[i].owners),
                Collection::ServicePrincipals => (object_with_noise(&t.service_principals[i]), &t.service_principals[i].owners),
            };
            if let Some(fields) = &query.select {
                object.retain(|k, _| k == "id" || fields.iter().any(|f| f == k));
            }
            if let Some(owner_fields) = &query.expand {
                let owners: Vec<Value> = owners
                    .iter()
                    .take(EXPAND_OWNERS_MAX)
                    .map(|o| {
                        let mut m = match serde_json::to_value(o) {
                            Ok(Value::Object(m)) => m,
                            _ => Map::new(),
                        };
                        if let Some(f) = owner_fields {
                            m.retain(|k, _| k == "id" || k == "@odata.type" || f.iter().any(|x| x == k));
                        }
                        Value::Object(m)
                    })
                    .collect();
                object.insert("owners".into(), Value::Array(owners));
            }
            Some(Value::Object(object))
        })
        .collect();
    let has_more = end < total;
    drop(state);

    let coll = collection.path();
    let context = match &query.select {
        Some(fields) => format!("{base}/v1.0/$metadata#{coll}({})", fields.join(",")),
        None => format!("{base}/v1.0/$metadata#{coll}"),
    };
    let mut page = Map::new();
    page.insert("@odata.context".into(), json!(context));
    page.insert("value".into(), Value::Array(value));
    if has_more {
        let mut params = query.carried.clone();
        let token = encode_skiptoken(query.page + 1, end).replace('\'', "%27");
        params.push(format!("$skiptoken={token}"));
        page.insert("@odata.nextLink".into(), json!(format!("{base}/v1.0/{coll}?{}", params.join("&"))));
    }
    ids.respond(StatusCode::OK, &Value::Object(page))
}

/// The full wire object of one application: its fields plus the extra noise properties.
fn application_object(app: &super::Application) -> Map<String, Value> {
    object_with_noise(app)
}

fn object_with_noise(app: &impl serde::Serialize) -> Map<String, Value> {
    let mut object = match serde_json::to_value(app) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    for (key, value) in extra_properties() {
        object.insert(key.to_string(), value);
    }
    object
}
