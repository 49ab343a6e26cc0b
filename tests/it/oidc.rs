//! `mode = "oidc"`: sign-in against the emulator as the authority, over real HTTP, with the
//! sessions in the real SQLite file; access tokens for scripts; the attacks of issue 16.

use crate::support::app::TestApp;
use crate::support::config::Auth;
use crate::support::graph::{self, AppBuilder};
use crate::support::{CLIENT, PROD_TENANT, SECRET, World, http_builder};
use credwatch_emulator::{AuthMethod, ClientAuth, TestUser};
use serde_json::json;

const TENANT: &str = "33333333-3333-4333-8333-333333333333";
const APP: &str = "a0a0a0a0-a0a0-4a0a-8a0a-a0a0a0a0a0a0";
const SCRIPT: &str = "5c5c5c5c-5c5c-4c5c-8c5c-5c5c5c5c5c5c";
const READER: &str = "0000000a-0000-4000-8000-00000000000a";
const NOBODY: &str = "0000000b-0000-4000-8000-00000000000b";
const OPERATOR: &str = "0000000c-0000-4000-8000-00000000000c";
const OTHER_TENANT: &str = "44444444-4444-4444-8444-444444444444";

fn auth(w: &World) -> Auth {
    Auth {
        mode: Some("oidc".into()),
        tenant_id: Some(TENANT.into()),
        client_id: Some(APP.into()),
        client_secret_env: Some("SIGNIN_SECRET".into()),
        authority_host: Some(w.emu.url()),
        ..Auth::default()
    }
}

/// credwatch with sign-in on, its app registered in the emulator's tenant, a reader and a user
/// without a role on the sign-in page, and a script client granted the read role.
async fn serve() -> (World, TestApp) {
    serve_with(|_, _| {}).await
}

/// [`serve`], with `adjust` changing the world and `[server.auth]` first.
async fn serve_with(adjust: impl FnOnce(&mut World, &mut Auth)) -> (World, TestApp) {
    let mut w = World::new().await;
    w.emu.register_client(
        TENANT,
        APP,
        ClientAuth::Secret {
            value: SECRET.into(),
            expired: false,
        },
    );
    w.emu.register_client(
        TENANT,
        SCRIPT,
        ClientAuth::Secret {
            value: SECRET.into(),
            expired: false,
        },
    );
    w.emu.add_redirect_uri(TENANT, APP, "https://credwatch.example.com/auth/callback");
    w.emu.grant_app_roles(TENANT, SCRIPT, &["credwatch.read"]);
    w.emu.add_user(
        TENANT,
        TestUser {
            oid: READER.into(),
            username: "ada@example.com".into(),
            name: "Ada <b>Reader</b>".into(),
            roles: vec!["credwatch.read".into()],
        },
    );
    w.emu.add_user(
        TENANT,
        TestUser {
            oid: OPERATOR.into(),
            username: "otto@example.com".into(),
            name: "Otto Operator".into(),
            roles: vec!["Ops".into()],
        },
    );
    w.emu.add_user(
        TENANT,
        TestUser {
            oid: NOBODY.into(),
            username: "nobody@example.com".into(),
            name: "No Role".into(),
            roles: vec![],
        },
    );
    w.vars.insert("SIGNIN_SECRET".into(), SECRET.into());
    let mut auth = auth(&w);
    adjust(&mut w, &mut auth);
    w.file.server().auth = Some(auth);
    let app = TestApp::start(w.config()).await;
    (w, app)
}

fn client() -> reqwest::Client {
    http_builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn location(r: &reqwest::Response) -> String {
    r.headers().get("location").expect("a Location").to_str().unwrap().to_string()
}

/// The `Set-Cookie` values of `name` in `r`.
fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with(&format!("{name}=")))
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().split_once('=').unwrap().1.to_string()
}

/// A sign-in up to the authority's redirect back: the login cookie and the callback query.
struct Started {
    login_cookie: String,
    callback_query: String,
}

async fn start_sign_in(app: &TestApp, oid: &str, return_to: &str) -> Started {
    let http = client();
    let r = http
        .get(app.url(&format!("/auth/login?return_to={}", urlencode(return_to))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let login_cookie = cookie_value(&set_cookie(&r, "credwatch_login").expect("the login cookie"));
    let authorize = location(&r);
    assert!(
        authorize.contains("code_challenge_method=S256") && authorize.contains("nonce="),
        "{authorize}"
    );
    // The redirect URI is exactly the one registered for the app (public_url + /auth/callback):
    // the authority refuses any other, as Entra does with AADSTS50011.
    let mut elsewhere = url::Url::parse(&authorize).unwrap();
    let pairs: Vec<(String, String)> = elsewhere.query_pairs().into_owned().collect();
    elsewhere.query_pairs_mut().clear().extend_pairs(pairs.iter().map(|(k, v)| {
        let v = if k == "redirect_uri" {
            "https://credwatch.example.com/elsewhere"
        } else {
            v.as_str()
        };
        (k.as_str(), v)
    }));
    let refused = http.get(elsewhere.as_str()).send().await.unwrap();
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("AADSTS50011"));
    let page = http.get(&authorize).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("Ada &lt;b&gt;Reader&lt;/b&gt;"), "{page}");
    let back = http.post(&authorize).form(&[("user", oid)]).send().await.unwrap();
    assert_eq!(back.status(), 302);
    let back = location(&back);
    assert!(back.starts_with("https://credwatch.example.com/auth/callback?"), "{back}");
    Started {
        login_cookie,
        callback_query: back.split_once('?').unwrap().1.to_string(),
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn callback(app: &TestApp, query: &str, cookies: &str) -> reqwest::Response {
    client()
        .get(app.url(&format!("/auth/callback?{query}")))
        .header("cookie", cookies)
        .send()
        .await
        .unwrap()
}

async fn get_with(app: &TestApp, path: &str, cookies: &str) -> reqwest::Response {
    client().get(app.url(path)).header("cookie", cookies).send().await.unwrap()
}

#[test]
fn the_config_names_what_is_missing() {
    let load = |extra: &str| {
        credwatch::config::Config::from_toml(
            &format!("[server]\npublic_url = \"https://cw.example.com/\"\n[server.auth]\nmode = \"oidc\"\n{extra}"),
            None,
            &|k| (k == "S").then(|| "secret".to_string()),
        )
        .map_err(|e| e.to_string())
    };
    let err = load("client_id = \"c\"\nclient_secret_env = \"S\"\n").unwrap_err();
    assert!(err.contains("server.auth.tenant_id"), "{err}");
    let err = load("tenant_id = \"t\"\nclient_id = \"c\"\n").unwrap_err();
    assert!(err.contains("no secret source") && err.contains("client_secret_env"), "{err}");
    let err = load("tenant_id = \"t\"\nclient_id = \"c\"\nclient_secret_env = \"S\"\nrealm = \"x\"\n").unwrap_err();
    assert!(err.contains("server.auth.realm") && err.contains("basic"), "{err}");
    let err = load("tenant_id = \"organizations\"\nclient_id = \"c\"\nclient_secret_env = \"S\"\n").unwrap_err();
    assert!(err.contains("allowed_tenants"), "{err}");
    let err = load("tenant_id = \"t\"\nclient_id = \"c\"\nclient_secret_env = \"S\"\nroles = { read = \"\" }\n").unwrap_err();
    assert!(err.contains("server.auth.roles.read"), "{err}");
    let config = load("tenant_id = \"t\"\nclient_id = \"c\"\nclient_secret_env = \"S\"\nroles = { operate = \"Ops\" }\n").unwrap();
    let credwatch::config::AuthMode::Oidc(oidc) = &config.server.auth.mode else {
        panic!("not oidc")
    };
    assert_eq!(oidc.redirect_uri.as_str(), "https://cw.example.com/auth/callback");
    assert_eq!((oidc.roles.read.as_str(), oidc.roles.operate.as_str()), ("credwatch.read", "Ops"));
    assert!(oidc.secure_cookie);
    assert!(!format!("{oidc:?}").contains("secret\""), "the secret in Debug output");
    let err = credwatch::config::Config::from_toml(
        "[server]\nlisten = \"0.0.0.0:8080\"\npublic_url = \"http://cw.example.com/\"\n[server.auth]\nmode = \"oidc\"\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret_env = \"S\"\n",
        None,
        &|k| (k == "S").then(|| "secret".to_string()),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("server.public_url") && err.contains("https"), "{err}");
}

/// Two replicas behind a load balancer share the database: a sign-in started on one finishes on
/// the other, its session is good on both, and it cannot be finished twice. A sign-in older than
/// ten minutes is gone.
#[tokio::test]
async fn a_sign_in_started_on_one_replica_finishes_on_another() {
    let (w, a) = serve().await;
    let b = TestApp::start(w.config()).await;
    let started = start_sign_in(&a, READER, "/findings").await;
    let login = format!("credwatch_login={}", started.login_cookie);
    let r = callback(&b, &started.callback_query, &login).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    assert_eq!(location(&r), "/findings");
    let session = format!("credwatch_session={}", cookie_value(&set_cookie(&r, "credwatch_session").unwrap()));
    for replica in [&a, &b] {
        assert_eq!(get_with(replica, "/findings", &session).await.status(), 200);
    }
    let replay = callback(&a, &started.callback_query, &login).await;
    assert_eq!(replay.status(), 400, "used once, on whichever replica");

    let now = chrono::Utc::now().timestamp();
    let pending = credwatch::store::PendingSignIn {
        nonce: "n".into(),
        verifier: "a PKCE verifier".into(),
        return_to: "/".into(),
    };
    assert_eq!(a.store.begin_sign_in(b"state", &pending, now, 600, 10).await.unwrap(), 0);
    assert!(!format!("{pending:?}").contains("PKCE"), "the verifier in Debug output");
    assert_eq!(a.store.take_sign_in(b"state", now + 601, 600).await.unwrap(), None, "expired");
    assert_eq!(a.store.take_sign_in(b"state", now, 600).await.unwrap(), None, "and deleted");
    // A flood is bounded, and cannot refuse a new sign-in: the oldest make room.
    for i in 0..10 {
        let state = format!("flood {i}");
        a.store.begin_sign_in(state.as_bytes(), &pending, now + i, 600, 10).await.unwrap();
    }
    assert_eq!(a.store.begin_sign_in(b"one more", &pending, now + 20, 600, 10).await.unwrap(), 1);
    assert_eq!(
        a.store.take_sign_in(b"flood 0", now + 20, 600).await.unwrap(),
        None,
        "the oldest made room"
    );
    assert!(a.store.take_sign_in(b"one more", now + 20, 600).await.unwrap().is_some());
    assert!(a.store.take_sign_in(b"flood 1", now + 20, 600).await.unwrap().is_some());
    assert_eq!(
        a.store.begin_sign_in(b"later", &pending, now + 701, 600, 10).await.unwrap(),
        0,
        "expired ones go first"
    );
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn a_user_signs_in_sees_the_dashboard_and_signs_out() {
    let (_w, app) = serve().await;
    // Without a session a page sends the browser to sign in, keeping where it was going.
    let r = get_with(&app, "/findings?env=prod", "").await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/auth/login?return_to=%2Ffindings%3Fenv%3Dprod");
    let r = get_with(&app, "/api/v1/credentials", "").await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");

    let started = start_sign_in(&app, READER, "/findings").await;
    // A session id planted before sign-in (fixation) is not the one the sign-in gives.
    let planted = "planted-by-an-attacker";
    let r = callback(
        &app,
        &started.callback_query,
        &format!("credwatch_login={}; credwatch_session={planted}", started.login_cookie),
    )
    .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    assert_eq!(location(&r), "/findings");
    let session = set_cookie(&r, "credwatch_session").expect("a session cookie");
    for flag in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(session.contains(flag), "{flag} missing: {session}");
    }
    let id = cookie_value(&session);
    assert_ne!(id, planted);
    assert!(id.len() >= 43, "{id}");
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT id_hash FROM sessions")
        .fetch_all(app.store.pool())
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(
        !stored[0].windows(id.len()).any(|w| w == id.as_bytes()),
        "the id is stored only hashed"
    );
    assert_eq!(get_with(&app, "/", &format!("credwatch_session={planted}")).await.status(), 303);

    let page = get_with(&app, "/", &format!("credwatch_session={id}")).await;
    assert_eq!(page.status(), 200);
    let api = get_with(&app, "/api/v1/credentials", &format!("credwatch_session={id}")).await;
    assert_eq!(api.status(), 200);

    // The code was used once; presenting it again (a replay) signs nobody in.
    let replay = callback(&app, &started.callback_query, &format!("credwatch_login={}", started.login_cookie)).await;
    assert_eq!(replay.status(), 400);
    assert!(set_cookie(&replay, "credwatch_session").is_none());

    // The pages say who is signed in, with a sign-out form; a GET of the sign-out path only asks.
    let body = get_with(&app, "/", &format!("credwatch_session={id}")).await.text().await.unwrap();
    let html = scraper::Html::parse_document(&body);
    let form = scraper::Selector::parse("form.signout[method=post][action='/auth/logout']").unwrap();
    assert!(
        html.select(&form)
            .next()
            .is_some_and(|f| f.text().collect::<String>().contains("Signed in as")),
        "a sign-out form"
    );
    let asked = get_with(&app, "/auth/logout", &format!("credwatch_session={id}")).await;
    assert_eq!(asked.status(), 200);
    assert!(set_cookie(&asked, "credwatch_session").is_none(), "a GET signs nobody out");
    assert_eq!(get_with(&app, "/", &format!("credwatch_session={id}")).await.status(), 200);
    // Another site's form, as the browser says it is: refused.
    let forged = client()
        .post(app.url("/auth/logout"))
        .header("cookie", format!("credwatch_session={id}"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(get_with(&app, "/", &format!("credwatch_session={id}")).await.status(), 200);
    let out = client()
        .post(app.url("/auth/logout"))
        .header("cookie", format!("credwatch_session={id}"))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 200);
    let cleared = set_cookie(&out, "credwatch_session").unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(get_with(&app, "/", &format!("credwatch_session={id}")).await.status(), 303);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn sessions_time_out_when_idle_and_absolutely() {
    let (_w, app) = serve().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let started = start_sign_in(&app, READER, "/").await;
        let r = callback(&app, &started.callback_query, &format!("credwatch_login={}", started.login_cookie)).await;
        ids.push(cookie_value(&set_cookie(&r, "credwatch_session").unwrap()));
    }
    let now = chrono::Utc::now().timestamp();
    let hash = |id: &str| <sha2::Sha256 as sha2::Digest>::digest(id.as_bytes()).to_vec();
    // The first idle for longer than two hours; the second busy but signed in over twelve hours ago.
    sqlx::query("UPDATE sessions SET seen_at = ? WHERE id_hash = ?")
        .bind(now - 2 * 3600 - 5)
        .bind(hash(&ids[0]))
        .execute(app.store.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE sessions SET created_at = ? WHERE id_hash = ?")
        .bind(now - 12 * 3600 - 5)
        .bind(hash(&ids[1]))
        .execute(app.store.pool())
        .await
        .unwrap();
    assert_eq!(get_with(&app, "/", &format!("credwatch_session={}", ids[0])).await.status(), 303);
    assert_eq!(get_with(&app, "/", &format!("credwatch_session={}", ids[1])).await.status(), 303);
    assert_eq!(get_with(&app, "/", &format!("credwatch_session={}", ids[2])).await.status(), 200);
}

#[tokio::test]
async fn state_mismatch_open_redirects_and_missing_roles_are_refused() {
    let (_w, app) = serve().await;
    let started = start_sign_in(&app, READER, "//evil.example/steal").await;
    // The callback without this browser's login cookie (a code injected from elsewhere).
    let r = callback(&app, &started.callback_query, "credwatch_login=someone-elses").await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("Sign in again"));
    // State altered in the query.
    let tampered = started.callback_query.replace("state=", "state=x");
    let r = callback(&app, &tampered, &format!("credwatch_login={}", started.login_cookie)).await;
    assert_eq!(r.status(), 400);

    for target in ["//evil.example/steal", "https://evil.example/", "/\\evil.example"] {
        let started = start_sign_in(&app, READER, target).await;
        let r = callback(&app, &started.callback_query, &format!("credwatch_login={}", started.login_cookie)).await;
        assert_eq!(r.status(), 303);
        assert_eq!(location(&r), "/", "return_to {target:?}");
    }

    let started = start_sign_in(&app, NOBODY, "/").await;
    let r = callback(&app, &started.callback_query, &format!("credwatch_login={}", started.login_cookie)).await;
    assert_eq!(r.status(), 403);
    assert!(set_cookie(&r, "credwatch_session").is_none());
    let page = r.text().await.unwrap();
    assert!(
        page.contains("nobody@example.com") && page.contains("<code>credwatch.read</code>"),
        "{page}"
    );
}

async fn script_token(w: &World, scope: &str) -> String {
    let r = crate::support::http()
        .post(format!("{}/{TENANT}/oauth2/v2.0/token", w.emu.url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", SCRIPT),
            ("client_secret", SECRET),
            ("scope", scope),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<serde_json::Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn bearer(app: &TestApp, path: &str, token: &str) -> u16 {
    client()
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn scripts_use_access_tokens_and_forged_ones_are_refused() {
    let (w, app) = serve().await;
    let v2 = script_token(&w, &format!("{APP}/.default")).await;
    let v1 = script_token(&w, &format!("api://{APP}/.default")).await;
    assert_eq!(bearer(&app, "/api/v1/credentials", &v2).await, 200);
    assert_eq!(bearer(&app, "/api/v1/credentials", &v1).await, 200);
    assert_eq!(bearer(&app, "/metrics", &v2).await, 200);
    // Pages are for people: a token does not open them.
    assert_eq!(bearer(&app, "/", &v2).await, 303);

    let now = chrono::Utc::now().timestamp();
    let good = json!({"iss": w.emu.issuer(TENANT), "aud": APP, "tid": TENANT, "iat": now, "nbf": now, "exp": now + 600, "roles": ["credwatch.read"], "azp": SCRIPT});
    assert_eq!(bearer(&app, "/api/v1/credentials", &w.emu.sign_token(&good)).await, 200);
    let with = |key: &str, value: serde_json::Value| {
        let mut claims = good.clone();
        claims[key] = value;
        w.emu.sign_token(&claims)
    };
    let other_tenant = OTHER_TENANT;
    let cases = [
        ("wrong aud", with("aud", json!("some-other-app"))),
        ("wrong iss", with("iss", json!(w.emu.issuer(other_tenant)))),
        ("another tenant", with("tid", json!(other_tenant))),
        ("expired", with("exp", json!(now - 600))),
        ("not yet valid", with("nbf", json!(now + 600))),
        ("no role", with("roles", json!([]))),
    ];
    for (what, token) in &cases {
        let status = bearer(&app, "/api/v1/credentials", token).await;
        assert!(status == 401 || status == 403, "{what}: {status}");
    }
    let signed = w.emu.sign_token(&good);
    let (head, rest) = signed.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let b64 = |v: serde_json::Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let mut elevated = good.clone();
    elevated["roles"] = json!(["credwatch.admin"]);
    let forged = [
        ("tampered claims", format!("{head}.{}.{signature}", b64(elevated))),
        (
            "alg none",
            format!("{}.{}.", b64(json!({"alg": "none", "typ": "JWT"})), b64(good.clone())),
        ),
        (
            "HS256",
            format!("{}.{}.{signature}", b64(json!({"alg": "HS256", "typ": "JWT"})), b64(good.clone())),
        ),
    ];
    for (what, token) in &forged {
        assert_eq!(bearer(&app, "/api/v1/credentials", token).await, 401, "{what}");
    }

    // The authority rotates its key: a token with the new kid makes credwatch fetch the keys again.
    let before = w.emu.jwks_requests();
    assert!(w.emu.rotate_signing_key());
    assert_eq!(bearer(&app, "/api/v1/credentials", &w.emu.sign_token(&good)).await, 200);
    assert_eq!(w.emu.jwks_requests(), before + 1);
    // Made-up kids do not each cost a fetch.
    for i in 0..10 {
        let token = format!(
            "{}.{}.{signature}",
            b64(json!({"alg": "RS256", "typ": "JWT", "kid": format!("made-up-{i}")})),
            b64(good.clone())
        );
        assert_eq!(bearer(&app, "/api/v1/credentials", &token).await, 401);
    }
    assert!(w.emu.jwks_requests() <= 3, "{} JWKS fetches", w.emu.jwks_requests());
}

#[tokio::test]
async fn id_tokens_with_a_wrong_nonce_audience_issuer_or_lifetime_sign_nobody_in() {
    let (w, app) = serve().await;
    let now = chrono::Utc::now().timestamp();
    let tampered = [
        json!({"nonce": "not-the-one-sent"}),
        json!({"aud": "another-app"}),
        json!({"iss": w.emu.issuer("44444444-4444-4444-8444-444444444444")}),
        json!({"exp": now - 600}),
    ];
    for claims in tampered {
        let started = start_sign_in(&app, READER, "/").await;
        w.emu.tamper_next_id_token(claims.clone());
        let r = callback(&app, &started.callback_query, &format!("credwatch_login={}", started.login_cookie)).await;
        assert_eq!(r.status(), 401, "{claims}");
        assert!(set_cookie(&r, "credwatch_session").is_none(), "{claims}");
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn the_code_is_redeemed_with_the_apps_certificate() {
    let pem = World::fixture("client-cert.pem");
    let (w, app) = serve_with(|w, auth| {
        w.emu.register_client(
            TENANT,
            APP,
            ClientAuth::Certificate {
                pem: std::fs::read_to_string(&pem).unwrap(),
            },
        );
        auth.client_secret_env = None;
        auth.certificate_path = Some(pem.clone());
    })
    .await;
    let started = start_sign_in(&app, READER, "/").await;
    let r = callback(&app, &started.callback_query, &format!("credwatch_login={}", started.login_cookie)).await;
    assert_eq!(r.status(), 303);
    let redemption = w
        .emu
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path.ends_with("/oauth2/v2.0/token"))
        .unwrap();
    assert!(
        matches!(
            redemption.auth_method,
            Some(AuthMethod::AssertionPs256 | AuthMethod::AssertionRs256)
        ),
        "{redemption:?}"
    );
}

/// The emulator checks PKCE as Entra does, so the flow above proves credwatch's verifier matches
/// its challenge: a code redeemed with another verifier is refused.
#[tokio::test]
async fn the_emulator_refuses_a_code_with_the_wrong_verifier() {
    let (w, app) = serve().await;
    let started = start_sign_in(&app, READER, "/").await;
    let code = url::form_urlencoded::parse(started.callback_query.as_bytes())
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .to_string();
    let r = crate::support::http()
        .post(format!("{}/{TENANT}/oauth2/v2.0/token", w.emu.url()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", APP),
            ("client_secret", SECRET),
            ("code", &code),
            ("redirect_uri", "https://credwatch.example.com/auth/callback"),
            ("code_verifier", "not-the-verifier-credwatch-made-for-this-code"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("AADSTS501481"));
}

/// `credwatch demo --sign-in`: the dashboard asks for a sign-in, the emulator's page offers the
/// demo's people, and the admin gets to the populated dashboard.
#[tokio::test]
async fn the_demo_runs_with_sign_in_on() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_credwatch"))
        .args(["demo", "--sign-in", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env_remove("CREDWATCH_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout).lines();
        let dashboard = reader
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| l.trim_start().strip_prefix("dashboard").map(|v| v.trim().to_string()));
        let _ = tx.send(dashboard);
        for _ in reader {}
    });
    let dashboard = tokio::time::timeout(std::time::Duration::from_secs(60), rx)
        .await
        .unwrap()
        .unwrap()
        .expect("a dashboard line");
    let base = dashboard.trim_end_matches('/').to_string();
    let http = client();

    let r = http.get(&dashboard).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let login = http.get(format!("{base}{}", location(&r))).send().await.unwrap();
    let login_cookie = cookie_value(&set_cookie(&login, "credwatch_login").unwrap());
    let authorize = location(&login);
    let page = http.get(&authorize).send().await.unwrap().text().await.unwrap();
    for name in ["Ada Admin", "Otto Operator", "Rita Reader", "Nora No-Role"] {
        assert!(page.contains(name), "{name} missing from {page}");
    }
    // The button of Ada: `value="<oid>">Ada Admin`.
    let before = &page[..page.find("Ada Admin").unwrap()];
    let oid = before.rsplit("value=\"").next().unwrap().split('"').next().unwrap().to_string();
    let back = http.post(&authorize).form(&[("user", oid.as_str())]).send().await.unwrap();
    let back = location(&back);
    assert!(back.starts_with(&format!("{base}/auth/callback?")), "{back}");
    let r = http
        .get(&back)
        .header("cookie", format!("credwatch_login={login_cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let session = cookie_value(&set_cookie(&r, "credwatch_session").unwrap());
    let overview = http
        .get(&dashboard)
        .header("cookie", format!("credwatch_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(overview.status(), 200);
    assert!(overview.text().await.unwrap().contains("contoso.onmicrosoft.com"));

    Command::new("kill").arg("-INT").arg(child.id().to_string()).status().unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status}");
}

async fn signed_in(app: &TestApp, oid: &str) -> String {
    let started = start_sign_in(app, oid, "/").await;
    let r = callback(app, &started.callback_query, &format!("credwatch_login={}", started.login_cookie)).await;
    assert_eq!(r.status(), 303);
    format!("credwatch_session={}", cookie_value(&set_cookie(&r, "credwatch_session").unwrap()))
}

/// Reading needs the read role; acting (acknowledge, snooze…: every method but GET and HEAD)
/// the operate role, here renamed in config. The operator acts on an application page through
/// its real form; the reader sees no form, and a post of the same form is refused by the role.
#[tokio::test]
async fn acting_needs_the_operate_role() {
    const KEY: &str = "ac7ac7ac-0000-4000-8000-000000000001";
    let (w, app) = serve_with(|w, auth| {
        auth.roles = Some(crate::support::config::Roles {
            operate: Some("Ops".into()),
            ..Default::default()
        });
        w.tenant("prod", PROD_TENANT, CLIENT);
        w.emu.set_applications(
            PROD_TENANT,
            vec![graph::app(1, "payments").secrets(vec![graph::secret(KEY, "main", graph::now() + graph::days(10))])],
        );
    })
    .await;
    w.sync_with(&w.config()).await;
    let reader = signed_in(&app, READER).await;
    let operator = signed_in(&app, OPERATOR).await;
    let listed: serde_json::Value = get_with(&app, "/api/v1/credentials", &operator).await.json().await.unwrap();
    let object_id = listed["credentials"][0]["app_object_id"].as_str().unwrap().to_string();
    let page_path = format!("/environments/prod/applications/{object_id}");

    let form_of = |html: &str| {
        let doc = scraper::Html::parse_document(html);
        let form = scraper::Selector::parse("form.act-form").unwrap();
        let input = |name: &str| scraper::Selector::parse(&format!("input[name={name}]")).unwrap();
        doc.select(&form).next().map(|f| {
            let value = |name: &str| f.select(&input(name)).next().unwrap().value().attr("value").unwrap().to_string();
            (f.value().attr("action").unwrap().to_string(), value("csrf"), value("credential_id"))
        })
    };
    let reader_page = get_with(&app, &page_path, &reader).await.text().await.unwrap();
    assert!(form_of(&reader_page).is_none(), "a reader is offered no action");
    let (action, csrf, credential_id) =
        form_of(&get_with(&app, &page_path, &operator).await.text().await.unwrap()).expect("the operator's action form");
    let post = |cookies: String| {
        client()
            .post(app.url(&action))
            .header("cookie", cookies)
            .header("sec-fetch-site", "same-origin")
            .form(&[
                ("csrf", csrf.as_str()),
                ("credential_id", credential_id.as_str()),
                ("action", "acknowledge"),
                ("note", "on it"),
            ])
            .send()
    };
    let refused = post(reader.clone()).await.unwrap();
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("<code>Ops</code>"));
    let listed: serde_json::Value = get_with(&app, "/api/v1/credentials", &operator).await.json().await.unwrap();
    assert_eq!(
        listed["credentials"][0]["acknowledged_by"],
        serde_json::Value::Null,
        "the refused post changed nothing"
    );

    let acted = post(operator.clone()).await.unwrap();
    assert!(acted.status().is_success() || acted.status().is_redirection(), "{}", acted.status());
    let listed: serde_json::Value = get_with(&app, "/api/v1/credentials", &operator).await.json().await.unwrap();
    let by = listed["credentials"][0]["acknowledged_by"].as_str().expect("acknowledged");
    assert!(by.contains("otto"), "recorded as the signed-in operator: {by}");

    // Scripts' tokens count on the API only (a page answers them 401); there, anything but a
    // read needs the operate role, which this script lacks (a path no route serves shows the
    // guard alone: it answers before routing).
    let script = script_token(&w, &format!("{APP}/.default")).await;
    let r = client().post(app.url(&action)).bearer_auth(&script).send().await.unwrap();
    assert_eq!(r.status(), 401, "pages take no bearer token");
    let r = client()
        .post(app.url("/api/v1/not-yet-an-action"))
        .bearer_auth(&script)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a script with the read role may not act");
}

/// A multi-tenant app: the issuer is a template, and only the listed tenants get in.
#[tokio::test]
async fn a_multi_tenant_app_lets_in_only_the_allowed_tenants() {
    let (w, app) = serve_with(|_, auth| {
        auth.tenant_id = Some("organizations".into());
        auth.allowed_tenants = vec![TENANT.into()];
    })
    .await;
    let now = chrono::Utc::now().timestamp();
    let token = |tenant: &str| {
        w.emu.sign_token(&json!({"iss": w.emu.issuer(tenant), "aud": APP, "tid": tenant, "iat": now, "nbf": now, "exp": now + 600, "roles": ["credwatch.read"]}))
    };
    assert_eq!(bearer(&app, "/api/v1/credentials", &token(TENANT)).await, 200);
    assert_eq!(bearer(&app, "/api/v1/credentials", &token(OTHER_TENANT)).await, 401);
    // The issuer must name the tenant the token claims.
    let mixed = w.emu.sign_token(&json!({"iss": w.emu.issuer(OTHER_TENANT), "aud": APP, "tid": TENANT, "iat": now, "nbf": now, "exp": now + 600, "roles": ["credwatch.read"]}));
    assert_eq!(bearer(&app, "/api/v1/credentials", &mixed).await, 401);
}
