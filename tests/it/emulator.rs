//! The emulator over real HTTP: token endpoint, Graph listing, faults and generated data.

use std::collections::HashSet;

use crate::support::World;
use crate::support::emu::{Application, AuthMethod, ClientAuth, Emulator, generate_applications, hostile_applications};
use crate::support::graph::{app, object_id};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sha1::Digest;

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const SECRET_CLIENT: &str = "535fb089-9ff3-47b6-9bfb-4f1264799865";
const SECRET: &str = "3dcQ~eYX6.secret-value";
const EXPIRED_CLIENT: &str = "4d856d1f-8648-456c-9bb2-f36273bbe4e3";
const CERT_CLIENT: &str = "97e0a5b7-d745-40b6-94fe-5f77d35c6e05";
const FED_CLIENT: &str = "aaaabbbb-0000-cccc-1111-dddd2222eeee";
const FED_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGVmYXVsdDpjcmVkd2F0Y2gifQ.c2ln";
const SCOPE: &str = "https://graph.microsoft.com/.default";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(World::fixture(name)).expect("fixture readable")
}

/// DER of the certificate block in a fixture PEM.
fn cert_der(pem: &str) -> Vec<u8> {
    x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes())
        .map(|p| p.expect("pem block"))
        .find(|p| p.label == "CERTIFICATE")
        .expect("certificate block")
        .contents
}

async fn setup() -> (Emulator, reqwest::Client) {
    let emu = Emulator::start().await.expect("emulator starts");
    emu.add_tenant(TENANT);
    emu.register_client(
        TENANT,
        SECRET_CLIENT,
        ClientAuth::Secret {
            value: SECRET.into(),
            expired: false,
        },
    );
    emu.register_client(
        TENANT,
        EXPIRED_CLIENT,
        ClientAuth::Secret {
            value: SECRET.into(),
            expired: true,
        },
    );
    emu.register_client(
        TENANT,
        CERT_CLIENT,
        ClientAuth::Certificate {
            pem: fixture("client-cert.pem"),
        },
    );
    emu.register_client(
        TENANT,
        FED_CLIENT,
        ClientAuth::Federated {
            assertion: FED_TOKEN.into(),
        },
    );
    (emu, crate::support::http())
}

fn token_url(emu: &Emulator, tenant: &str) -> String {
    format!("{}/{tenant}/oauth2/v2.0/token", emu.url())
}

async fn post_token(http: &reqwest::Client, url: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let res = http.post(url).form(form).send().await.expect("token request");
    let status = res.status().as_u16();
    (status, res.json().await.expect("json body"))
}

fn secret_form<'a>(client_id: &'a str, secret: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("scope", SCOPE),
        ("client_secret", secret),
    ]
}

async fn access_token(emu: &Emulator, http: &reqwest::Client) -> String {
    let (status, body) = post_token(http, &token_url(emu, TENANT), &secret_form(SECRET_CLIENT, SECRET)).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().expect("access_token").to_string()
}

/// Checks the whole AADSTS error shape (graph-facts §1.4), not only the code.
fn assert_aadsts(status: u16, body: &Value, want_status: u16, error: &str, code: u64) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_codes"], json!([code]));
    let description = body["error_description"].as_str().expect("error_description");
    assert!(description.starts_with(&format!("AADSTS{code}: ")), "{description}");
    let timestamp = body["timestamp"].as_str().expect("timestamp");
    assert_eq!(timestamp.len(), 20, "{timestamp}");
    assert!(
        chrono::NaiveDateTime::parse_from_str(timestamp, "%Y-%m-%d %H:%M:%SZ").is_ok(),
        "{timestamp}"
    );
    let trace = body["trace_id"].as_str().expect("trace_id");
    let correlation = body["correlation_id"].as_str().expect("correlation_id");
    assert!(description.ends_with(&format!(
        "\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {timestamp}"
    )));
    assert_eq!(body["error_uri"], format!("https://login.microsoftonline.com/error?code={code}"));
}

#[derive(Clone, Copy)]
enum Thumb {
    Sha1,
    Sha256,
}

/// A client assertion as MSAL builds it; `tweak` edits the claims before signing.
fn assertion(emu: &Emulator, key_pem: &str, cert_pem: &str, alg: Algorithm, thumb: Thumb, tweak: impl FnOnce(&mut Value)) -> String {
    let der = cert_der(cert_pem);
    let mut header = Header::new(alg);
    match thumb {
        Thumb::Sha1 => header.x5t = Some(URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&der))),
        Thumb::Sha256 => header.x5t_s256 = Some(URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&der))),
    }
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "aud": token_url(emu, TENANT),
        "iss": CERT_CLIENT,
        "sub": CERT_CLIENT,
        "jti": uuid::Uuid::new_v4().to_string(),
        "nbf": now,
        "iat": now,
        "exp": now + 600,
    });
    tweak(&mut claims);
    let key = EncodingKey::from_rsa_pem(key_pem.as_bytes()).expect("rsa key");
    jsonwebtoken::encode(&header, &claims, &key).expect("sign assertion")
}

async fn post_assertion(emu: &Emulator, http: &reqwest::Client, client_id: &str, jwt: &str) -> (u16, Value) {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("scope", SCOPE),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", jwt),
    ];
    post_token(http, &token_url(emu, TENANT), &form).await
}

async fn graph_get(http: &reqwest::Client, url: &str, token: &str) -> reqwest::Response {
    http.get(url).bearer_auth(token).send().await.expect("graph request")
}

#[tokio::test]
async fn secret_in_form_or_basic_header_issues_a_token() {
    let (emu, http) = setup().await;
    let (status, body) = post_token(&http, &token_url(&emu, TENANT), &secret_form(SECRET_CLIENT, SECRET)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], json!(3599));
    assert_eq!(body["ext_expires_in"], json!(3599));
    assert!(body["access_token"].as_str().is_some_and(|t| t.split('.').count() == 3));

    let res = http
        .post(token_url(&emu, TENANT))
        .basic_auth(SECRET_CLIENT, Some(SECRET))
        .form(&[("grant_type", "client_credentials"), ("scope", SCOPE)])
        .send()
        .await
        .expect("basic request");
    assert_eq!(res.status(), 200);

    assert_eq!(emu.token_requests(), 2);
    let methods: Vec<_> = emu.requests().iter().map(|r| r.auth_method).collect();
    assert_eq!(methods, vec![Some(AuthMethod::Secret), Some(AuthMethod::Basic)]);
    emu.stop().await;
}

#[tokio::test]
async fn token_errors_carry_aadsts_codes_and_shape() {
    let (emu, http) = setup().await;
    let url = token_url(&emu, TENANT);

    let (s, b) = post_token(&http, &token_url(&emu, "no-such-tenant"), &secret_form(SECRET_CLIENT, SECRET)).await;
    assert_aadsts(s, &b, 400, "invalid_request", 90002);

    let (s, b) = post_token(&http, &url, &secret_form("00000000-dead-beef-0000-000000000000", SECRET)).await;
    assert_aadsts(s, &b, 400, "unauthorized_client", 700016);

    let (s, b) = post_token(&http, &url, &secret_form(SECRET_CLIENT, "wrong")).await;
    assert_aadsts(s, &b, 401, "invalid_client", 7000215);

    let (s, b) = post_token(&http, &url, &secret_form(EXPIRED_CLIENT, SECRET)).await;
    assert_aadsts(s, &b, 401, "invalid_client", 7000222);

    let mut form = secret_form(SECRET_CLIENT, SECRET);
    form[2] = ("scope", "https://graph.microsoft.com/Application.Read.All");
    let (s, b) = post_token(&http, &url, &form).await;
    assert_aadsts(s, &b, 400, "invalid_scope", 70011);

    let (s, b) = post_token(&http, &url, &[("client_id", SECRET_CLIENT), ("scope", SCOPE)]).await;
    assert_aadsts(s, &b, 400, "invalid_request", 900144);

    let (s, b) = post_assertion(&emu, &http, CERT_CLIENT, "not-a-jwt").await;
    assert_aadsts(s, &b, 401, "invalid_client", 50027);

    assert_eq!(emu.token_requests(), 0);
    emu.stop().await;
}

#[tokio::test]
async fn rs256_x5t_and_ps256_x5t_s256_assertions_are_accepted() {
    let (emu, http) = setup().await;
    let pem = fixture("client-cert.pem");
    let rs = assertion(&emu, &pem, &pem, Algorithm::RS256, Thumb::Sha1, |_| {});
    let (s, b) = post_assertion(&emu, &http, CERT_CLIENT, &rs).await;
    assert_eq!(s, 200, "{b}");
    let ps = assertion(&emu, &pem, &pem, Algorithm::PS256, Thumb::Sha256, |_| {});
    let (s, b) = post_assertion(&emu, &http, CERT_CLIENT, &ps).await;
    assert_eq!(s, 200, "{b}");
    let methods: Vec<_> = emu.requests().iter().map(|r| r.auth_method).collect();
    assert_eq!(methods, vec![Some(AuthMethod::AssertionRs256), Some(AuthMethod::AssertionPs256)]);
    emu.stop().await;
}

#[tokio::test]
async fn forged_or_misaddressed_assertions_are_rejected() {
    let (emu, http) = setup().await;
    let pem = fixture("client-cert.pem");
    let other = fixture("other-cert.pem");

    // Signed with another key while claiming the registered certificate's thumbprint.
    let forged = assertion(&emu, &other, &pem, Algorithm::RS256, Thumb::Sha1, |_| {});
    let (s, b) = post_assertion(&emu, &http, CERT_CLIENT, &forged).await;
    assert_aadsts(s, &b, 401, "invalid_client", 700027);
    let forged = assertion(&emu, &other, &pem, Algorithm::PS256, Thumb::Sha256, |_| {});
    let (s, b) = post_assertion(&emu, &http, CERT_CLIENT, &forged).await;
    assert_aadsts(s, &b, 401, "invalid_client", 700027);

    // A certificate that is not registered.
    let unknown = assertion(&emu, &other, &other, Algorithm::RS256, Thumb::Sha1, |_| {});
    let (s, b) = post_assertion(&emu, &http, CERT_CLIENT, &unknown).await;
    assert_aadsts(s, &b, 401, "invalid_client", 700027);

    let wrong_aud = assertion(&emu, &pem, &pem, Algorithm::RS256, Thumb::Sha1, |c| {
        c["aud"] = json!(format!("https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"));
    });
    let (s, b) = post_assertion(&emu, &http, CERT_CLIENT, &wrong_aud).await;
    assert_aadsts(s, &b, 401, "invalid_client", 700027);

    let wrong_iss = assertion(&emu, &pem, &pem, Algorithm::RS256, Thumb::Sha1, |c| {
        c["iss"] = json!("someone-else")
    });
    let (s, b) = post_assertion(&emu, &http, CERT_CLIENT, &wrong_iss).await;
    assert_aadsts(s, &b, 401, "invalid_client", 700021);

    let expired = assertion(&emu, &pem, &pem, Algorithm::PS256, Thumb::Sha256, |c| {
        let now = chrono::Utc::now().timestamp();
        c["nbf"] = json!(now - 7200);
        c["exp"] = json!(now - 3600);
    });
    let (s, b) = post_assertion(&emu, &http, CERT_CLIENT, &expired).await;
    assert_aadsts(s, &b, 401, "invalid_client", 700024);

    let future = assertion(&emu, &pem, &pem, Algorithm::PS256, Thumb::Sha256, |c| {
        let now = chrono::Utc::now().timestamp();
        c["nbf"] = json!(now + 3600);
        c["exp"] = json!(now + 4200);
    });
    let (s, b) = post_assertion(&emu, &http, CERT_CLIENT, &future).await;
    assert_aadsts(s, &b, 401, "invalid_client", 700024);

    let no_jti = assertion(&emu, &pem, &pem, Algorithm::RS256, Thumb::Sha1, |c| {
        c.as_object_mut().map(|o| o.remove("jti"));
    });
    let (s, b) = post_assertion(&emu, &http, CERT_CLIENT, &no_jti).await;
    assert_aadsts(s, &b, 401, "invalid_client", 50027);

    // A secret is no substitute for a certificate, and vice versa.
    let (s, b) = post_token(&http, &token_url(&emu, TENANT), &secret_form(CERT_CLIENT, SECRET)).await;
    assert_aadsts(s, &b, 401, "invalid_client", 7000215);
    let good = assertion(&emu, &pem, &pem, Algorithm::RS256, Thumb::Sha1, |c| {
        c["iss"] = json!(SECRET_CLIENT);
        c["sub"] = json!(SECRET_CLIENT);
    });
    let (s, b) = post_assertion(&emu, &http, SECRET_CLIENT, &good).await;
    assert_aadsts(s, &b, 401, "invalid_client", 700027);

    assert_eq!(emu.token_requests(), 0);
    emu.stop().await;
}

#[tokio::test]
async fn federated_assertion_must_match_the_registered_token() {
    let (emu, http) = setup().await;
    let (s, b) = post_assertion(&emu, &http, FED_CLIENT, FED_TOKEN).await;
    assert_eq!(s, 200, "{b}");
    let other = format!("{FED_TOKEN}x");
    let (s, b) = post_assertion(&emu, &http, FED_CLIENT, &other).await;
    assert_aadsts(s, &b, 401, "invalid_client", 700213);
    let (s, b) = post_assertion(&emu, &http, FED_CLIENT, "garbage").await;
    assert_aadsts(s, &b, 401, "invalid_client", 50027);
    assert_eq!(emu.requests()[0].auth_method, Some(AuthMethod::Federated));
    emu.stop().await;
}

#[tokio::test]
async fn listing_follows_next_links_across_pages() {
    let (emu, http) = setup().await;
    emu.set_applications(TENANT, (0..7).map(|n| app(n, "listed")).collect());
    let token = access_token(&emu, &http).await;

    let mut url = format!("{}/v1.0/applications?$top=2&$select=id,appId,displayName", emu.url());
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let res = graph_get(&http, &url, &token).await;
        assert_eq!(res.status(), 200);
        let page: Value = res.json().await.expect("page json");
        pages += 1;
        assert_eq!(
            page["@odata.context"],
            format!("{}/v1.0/$metadata#applications(id,appId,displayName)", emu.url())
        );
        let value = page["value"].as_array().expect("value array");
        assert!(value.len() <= 2);
        seen.extend(value.iter().map(|a| a["id"].as_str().expect("id").to_string()));
        match page["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(next.starts_with(&format!("{}/v1.0/applications?", emu.url())), "{next}");
                assert!(next.contains("$top=2") && next.contains("$select=id,appId,displayName"), "{next}");
                assert!(next.contains("$skiptoken=X%27"), "{next}");
                url = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages, 4);
    let expected: Vec<String> = (0..7).map(object_id).collect();
    assert_eq!(seen, expected);

    // Every Graph request is logged with the token it used.
    let graph: Vec<_> = emu.requests().into_iter().filter(|r| r.path == "/v1.0/applications").collect();
    assert_eq!(graph.len(), 4);
    assert!(graph.iter().all(|r| r.token_id.is_some() && r.status == 200));
    assert!(graph[1].query.contains("$skiptoken="));
    emu.stop().await;
}

#[tokio::test]
async fn default_page_is_100_and_empty_tenant_lists_nothing() {
    let (emu, http) = setup().await;
    let token = access_token(&emu, &http).await;
    let page: Value = graph_get(&http, &format!("{}/v1.0/applications", emu.url()), &token)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(page["value"], json!([]));
    assert!(page.get("@odata.nextLink").is_none());
    assert_eq!(page["@odata.context"], format!("{}/v1.0/$metadata#applications", emu.url()));

    emu.set_applications(TENANT, (0..150).map(|n| app(n, "listed")).collect());
    let page: Value = graph_get(&http, &format!("{}/v1.0/applications", emu.url()), &token)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(page["value"].as_array().map(Vec::len), Some(100));
    assert!(page["@odata.nextLink"].is_string());
    emu.stop().await;
}

#[tokio::test]
async fn bad_query_options_get_400() {
    let (emu, http) = setup().await;
    let token = access_token(&emu, &http).await;
    let res = graph_get(&http, &format!("{}/v1.0/applications?$top=1000", emu.url()), &token).await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"]["code"], "Request_UnsupportedQuery");
    assert_eq!(
        body["error"]["message"],
        "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive."
    );
    assert!(body["error"]["innerError"]["request-id"].is_string());

    for query in [
        "$top=0",
        "$top=abc",
        "$skiptoken=X%27ZZ%27",
        "$skiptoken=garbage",
        "$select=appId,bogus",
    ] {
        let res = graph_get(&http, &format!("{}/v1.0/applications?{query}", emu.url()), &token).await;
        assert_eq!(res.status(), 400, "{query}");
        let body: Value = res.json().await.expect("json");
        assert!(body["error"]["code"].is_string(), "{query}");
    }
    emu.stop().await;
}

#[tokio::test]
async fn select_limits_the_properties() {
    let (emu, http) = setup().await;
    emu.set_applications(TENANT, generate_applications(7, 3, chrono::Utc::now()));
    let token = access_token(&emu, &http).await;

    let full: Value = graph_get(&http, &format!("{}/v1.0/applications", emu.url()), &token)
        .await
        .json()
        .await
        .expect("json");
    let first = &full["value"][0];
    for key in [
        "id",
        "appId",
        "displayName",
        "createdDateTime",
        "passwordCredentials",
        "keyCredentials",
        "tags",
    ] {
        assert!(first.get(key).is_some(), "{key} missing from {first}");
    }

    let url = format!("{}/v1.0/applications?$select=appId,displayName,passwordCredentials", emu.url());
    let page: Value = graph_get(&http, &url, &token).await.json().await.expect("json");
    assert_eq!(
        page["@odata.context"],
        format!("{}/v1.0/$metadata#applications(appId,displayName,passwordCredentials)", emu.url())
    );
    for app in page["value"].as_array().expect("value") {
        let keys: HashSet<&str> = app.as_object().expect("object").keys().map(String::as_str).collect();
        assert!(
            keys.is_subset(&HashSet::from(["id", "appId", "displayName", "passwordCredentials"])),
            "{keys:?}"
        );
        assert!(keys.contains("appId") && keys.contains("passwordCredentials"));
        for secret in app["passwordCredentials"].as_array().expect("array") {
            assert_eq!(secret["secretText"], Value::Null);
            assert!(secret.as_object().expect("object").contains_key("secretText"));
        }
    }
    emu.stop().await;
}

#[tokio::test]
async fn throttling_answers_429_with_retry_after() {
    let (emu, http) = setup().await;
    let token = access_token(&emu, &http).await;
    let url = format!("{}/v1.0/applications", emu.url());

    emu.throttle(2, Some("0.25".into()));
    for _ in 0..2 {
        let res = graph_get(&http, &url, &token).await;
        assert_eq!(res.status(), 429);
        assert_eq!(res.headers()["retry-after"], "0.25");
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["error"]["code"], "TooManyRequests");
        assert_eq!(body["error"]["message"], "Please retry again later.");
        assert_eq!(body["error"]["innerError"]["status"], "429");
        assert_eq!(body["error"]["innerError"]["code"], "429");
    }
    assert_eq!(graph_get(&http, &url, &token).await.status(), 200);

    emu.throttle(1, None);
    let res = graph_get(&http, &url, &token).await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().get("retry-after").is_none());
    assert_eq!(graph_get(&http, &url, &token).await.status(), 200);
    emu.stop().await;
}

#[tokio::test]
async fn injected_failures_use_graph_error_bodies() {
    let (emu, http) = setup().await;
    let token = access_token(&emu, &http).await;
    let url = format!("{}/v1.0/applications", emu.url());
    for (status, code) in [(503u16, "serviceNotAvailable"), (504, "gatewayTimeout"), (500, "generalException")] {
        emu.fail_requests(1, status);
        let res = graph_get(&http, &url, &token).await;
        assert_eq!(res.status().as_u16(), status);
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["error"]["code"], code);
        assert!(body["error"]["innerError"]["request-id"].is_string());
        assert!(body["error"]["innerError"]["date"].as_str().is_some_and(|d| d.len() == 19));
        assert_eq!(graph_get(&http, &url, &token).await.status(), 200);
    }
    emu.stop().await;
}

#[tokio::test]
async fn a_failing_page_recovers_after_its_count() {
    let (emu, http) = setup().await;
    emu.set_applications(TENANT, (0..5).map(|n| app(n, "listed")).collect());
    let token = access_token(&emu, &http).await;
    emu.fail_page(1, 503, 2);

    let first: Value = graph_get(&http, &format!("{}/v1.0/applications?$top=2", emu.url()), &token)
        .await
        .json()
        .await
        .expect("json");
    let next = first["@odata.nextLink"].as_str().expect("nextLink").to_string();
    for _ in 0..2 {
        let res = graph_get(&http, &next, &token).await;
        assert_eq!(res.status(), 503);
    }
    let second: Value = graph_get(&http, &next, &token).await.json().await.expect("json");
    assert_eq!(second["value"][0]["id"], object_id(2));
    let third = second["@odata.nextLink"].as_str().expect("nextLink");
    assert_eq!(graph_get(&http, third, &token).await.status(), 200);
    emu.stop().await;
}

#[tokio::test]
async fn expired_or_unknown_tokens_get_401_with_www_authenticate() {
    let (emu, http) = setup().await;
    let url = format!("{}/v1.0/applications", emu.url());
    let token = access_token(&emu, &http).await;
    assert_eq!(graph_get(&http, &url, &token).await.status(), 200);

    emu.expire_tokens();
    let res = graph_get(&http, &url, &token).await;
    assert_eq!(res.status(), 401);
    let www = res.headers()["www-authenticate"].to_str().expect("ascii").to_string();
    assert_eq!(
        www,
        r#"Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000""#
    );
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    assert_eq!(body["error"]["message"], "Lifetime validation failed, the token is expired.");
    assert!(body["error"]["innerError"]["request-id"].is_string());
    assert!(body["error"]["innerError"]["client-request-id"].is_string());

    // A fresh token works again.
    let fresh = access_token(&emu, &http).await;
    assert_eq!(graph_get(&http, &url, &fresh).await.status(), 200);

    // Tokens also lapse by lifetime.
    emu.set_token_lifetime(0);
    let (_, body) = post_token(&http, &token_url(&emu, TENANT), &secret_form(SECRET_CLIENT, SECRET)).await;
    assert_eq!(body["expires_in"], json!(0));
    let lapsed = body["access_token"].as_str().expect("token");
    assert_eq!(graph_get(&http, &url, lapsed).await.status(), 401);

    assert_eq!(graph_get(&http, &url, "made-up").await.status(), 401);
    let res = http.get(&url).send().await.expect("request");
    assert_eq!(res.status(), 401);
    assert!(res.headers().contains_key("www-authenticate"));
    emu.stop().await;
}

#[tokio::test]
async fn permission_denied_and_unknown_paths() {
    let (emu, http) = setup().await;
    let token = access_token(&emu, &http).await;
    emu.deny_permission(TENANT, SECRET_CLIENT);
    let res = graph_get(&http, &format!("{}/v1.0/applications", emu.url()), &token).await;
    assert_eq!(res.status(), 403);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"]["code"], "Authorization_RequestDenied");
    assert_eq!(body["error"]["message"], "Insufficient privileges to complete the operation.");

    let res = graph_get(&http, &format!("{}/v1.0/nothingHere", emu.url()), &token).await;
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.expect("json");
    assert!(body["error"]["code"].is_string() && body["error"]["message"].is_string());
    emu.stop().await;
}

#[tokio::test]
async fn each_token_lists_its_own_tenant() {
    let (emu, http) = setup().await;
    let other_tenant = "contoso.onmicrosoft.com";
    emu.register_client(
        other_tenant,
        SECRET_CLIENT,
        ClientAuth::Secret {
            value: "other".into(),
            expired: false,
        },
    );
    emu.set_applications(TENANT, vec![app(1, "first")]);
    emu.set_applications(other_tenant, vec![app(2, "second"), app(3, "third")]);
    let url = format!("{}/v1.0/applications", emu.url());

    let (_, body) = post_token(&http, &token_url(&emu, other_tenant), &secret_form(SECRET_CLIENT, "other")).await;
    let other_token = body["access_token"].as_str().expect("token").to_string();
    let page: Value = graph_get(&http, &url, &other_token).await.json().await.expect("json");
    assert_eq!(page["value"].as_array().map(Vec::len), Some(2));

    let token = access_token(&emu, &http).await;
    let page: Value = graph_get(&http, &url, &token).await.json().await.expect("json");
    assert_eq!(page["value"][0]["id"], object_id(1));

    // Data can change between listings.
    emu.update_applications(TENANT, |apps| apps[0].password_credentials.clear());
    emu.update_applications(TENANT, |apps| apps.push(app(9, "ninth")));
    let page: Value = graph_get(&http, &url, &token).await.json().await.expect("json");
    assert_eq!(page["value"].as_array().map(Vec::len), Some(2));
    emu.stop().await;
}

#[test]
fn generated_data_is_deterministic_and_realistic() {
    let now = chrono::DateTime::parse_from_rfc3339("2026-05-01T12:00:00Z").expect("date").to_utc();
    let a = generate_applications(42, 500, now);
    assert_eq!(a, generate_applications(42, 500, now));
    assert_ne!(a, generate_applications(43, 500, now));
    assert_eq!(a.len(), 500);

    let creds: usize = a.iter().map(|x| x.password_credentials.len() + x.key_credentials.len()).sum();
    let mean = creds as f64 / a.len() as f64;
    assert!((1.7..=2.5).contains(&mean), "mean credentials per app {mean}");
    let secrets: usize = a.iter().map(|x| x.password_credentials.len()).sum();
    let share = secrets as f64 / creds as f64;
    assert!((0.6..=0.8).contains(&share), "secret share {share}");

    let ids: HashSet<&str> = a.iter().map(|x| x.id.as_str()).collect();
    assert_eq!(ids.len(), a.len());
    for app in &a {
        let name = app.display_name.as_deref().expect("generated apps are named");
        assert!((10..=60).contains(&name.chars().count()), "{name}");
        assert!(uuid::Uuid::parse_str(&app.app_id).is_ok());
    }

    // Every status relative to `now`, plus the "never expires" years.
    let ends: Vec<&str> = a
        .iter()
        .flat_map(|x| {
            x.password_credentials
                .iter()
                .filter_map(|c| c.end_date_time.as_deref())
                .chain(x.key_credentials.iter().filter_map(|c| c.end_date_time.as_deref()))
        })
        .collect();
    let days = |end: &str| {
        chrono::DateTime::parse_from_rfc3339(end)
            .map(|d| (d.to_utc() - now).num_days())
            .unwrap_or(i64::MAX)
    };
    assert!(ends.iter().any(|e| days(e) < 0 && days(e) >= -90));
    assert!(ends.iter().any(|e| (0..7).contains(&days(e))));
    assert!(ends.iter().any(|e| (7..30).contains(&days(e))));
    assert!(ends.iter().any(|e| (30..800).contains(&days(e))));
    assert!(ends.iter().any(|e| e.starts_with("2299-12-31")));
    assert!(ends.iter().any(|e| e.starts_with("9999-12-31")));
    // 0, 3 and 7 fractional digits all occur.
    let fraction_len = |e: &str| e.split_once('.').map(|(_, f)| f.len() - 1).unwrap_or(0);
    for digits in [0, 3, 7] {
        assert!(ends.iter().any(|e| fraction_len(e) == digits), "no end with {digits} digits");
    }

    // Credentials start in the past, even those that end far ahead.
    let starts = a.iter().flat_map(|x| {
        x.password_credentials
            .iter()
            .filter_map(|c| c.start_date_time.as_deref())
            .chain(x.key_credentials.iter().filter_map(|c| c.start_date_time.as_deref()))
    });
    for start in starts {
        let start = chrono::DateTime::parse_from_rfc3339(start).expect("start parses").to_utc();
        assert!(start <= now, "{start}");
    }

    let secrets: Vec<_> = a.iter().flat_map(|x| &x.password_credentials).collect();
    assert!(secrets.iter().filter_map(|s| s.hint.as_deref()).all(|h| h.chars().count() == 3));
    assert!(secrets.iter().any(|s| s.hint.is_none() && s.display_name.is_none()));
    let certs: Vec<_> = a.iter().flat_map(|x| &x.key_credentials).collect();
    assert!(
        certs
            .iter()
            .all(|c| { c.display_name.as_deref().is_some_and(|n| n.starts_with("CN=")) })
    );
    assert!(
        certs
            .iter()
            .all(|c| { c.custom_key_identifier.as_deref().is_some_and(|k| k.len() == 28) })
    );
}

#[tokio::test]
async fn hostile_names_round_trip_through_json() {
    let (emu, http) = setup().await;
    let apps = hostile_applications();
    emu.set_applications(TENANT, apps.clone());
    let token = access_token(&emu, &http).await;
    let page: Value = graph_get(&http, &format!("{}/v1.0/applications?$top=999", emu.url()), &token)
        .await
        .json()
        .await
        .expect("json");
    let served: Vec<Application> = serde_json::from_value(page["value"].clone()).expect("applications parse");
    assert_eq!(served, apps);
    let names: Vec<Option<&str>> = served.iter().map(|a| a.display_name.as_deref()).collect();
    for expected in [
        "<script>alert(1)</script>",
        "=HYPERLINK(\"http://evil\",\"x\")",
        "a\r\nBcc: victim@example.com",
        "Evil;Name,With\\Backslash",
        "BEGIN:VEVENT",
        "\"quoted\" & 'apos'",
        "} {{ }}",
        "Zahlungsdienst – Prüfung 🚀",
    ] {
        assert!(names.contains(&Some(expected)), "{expected} missing");
    }
    assert!(names.contains(&None));
    emu.stop().await;
}

/// The rest of the crate shares one emulator across tasks (e.g. `credwatch demo`).
#[test]
fn emulator_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Emulator>();
}
