//! Attacks from issue 13, each carried out against the real server: password floods, DNS
//! rebinding, methods and caching, over-long searches; and the configs that would invite them,
//! refused or warned about. (Files left readable: `private_files`; two processes: `leases`.)

use crate::support::app::TestApp;
use crate::support::config::{Auth, Calendar, Server, User};
use crate::support::emu::generate_applications;
use crate::support::{CLIENT, PROD_TENANT, World};
use credwatch::config::Config;
use credwatch::web::auth::{CheckStats, FREE_FAILURES};
use std::net::{IpAddr, Ipv4Addr};

const USER: &str = "ops";
const PASSWORD: &str = "correct horse";
const CALENDAR_TOKEN: &str = "calendar-token-value";

/// An argon2id hash of `password` with small costs: the tests count checks, they do not time them.
fn cheap_hash(password: &str) -> String {
    hash_with_memory(password, 256)
}

fn hash_with_memory(password: &str, kib: u32) -> String {
    use argon2::PasswordHasher;
    let salt = argon2::password_hash::SaltString::encode_b64(&rand::random::<[u8; 16]>()).unwrap();
    argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(kib, 1, 1, None).unwrap(),
    )
    .hash_password(password.as_bytes(), &salt)
    .unwrap()
    .to_string()
}

fn try_load(text: &str) -> Result<Config, String> {
    Config::from_toml(text, None, &|_| None).map_err(|e| e.to_string())
}

fn load(text: &str) -> Config {
    try_load(text).unwrap_or_else(|e| panic!("{e}"))
}

/// A world whose config has a calendar token (and whatever `configure` adds), served.
async fn serve(configure: impl FnOnce(&mut World)) -> (World, TestApp) {
    let mut w = World::new().await;
    w.vars.insert("CAL_TOKEN".into(), CALENDAR_TOKEN.into());
    w.file.calendar = Some(Calendar {
        token_env: Some("CAL_TOKEN".into()),
        ..Calendar::default()
    });
    configure(&mut w);
    let app = TestApp::start(w.config()).await;
    (w, app)
}

/// Served with Basic auth: one user, [`USER`], whose password is [`PASSWORD`] hashed by `hash`.
async fn serve_basic_with(auth: Auth, hash: &str) -> (World, TestApp) {
    let auth = Auth {
        mode: Some("basic".into()),
        users: vec![User {
            name: USER.into(),
            password_hash: hash.into(),
        }],
        ..auth
    };
    serve(|w| {
        w.vars.insert("METRICS_TOKEN".into(), "scrape-me".into());
        w.file.server().auth = Some(auth);
    })
    .await
}

async fn serve_basic(auth: Auth) -> (World, TestApp) {
    serve_basic_with(auth, &cheap_hash(PASSWORD)).await
}

/// A client whose connections come from `127.0.0.{n}`: Linux routes all of 127/8 to loopback,
/// so each stands for another client address.
fn client_from(n: u8) -> reqwest::Client {
    crate::support::http_builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)))
        .build()
        .unwrap()
}

async fn login(http: &reqwest::Client, url: &str, user: &str, password: &str) -> reqwest::Response {
    http.get(format!("{url}/api/v1/environments"))
        .basic_auth(user, Some(password))
        .send()
        .await
        .unwrap()
}

fn retry_after(r: &reqwest::Response) -> u64 {
    r.headers()
        .get("retry-after")
        .unwrap_or_else(|| panic!("{} without Retry-After", r.status()))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

// ---- §1 failed Basic logins ------------------------------------------------------------------

#[tokio::test]
async fn an_address_that_keeps_failing_gets_429_with_retry_after_and_costs_no_more_checks() {
    let (_w, s) = serve_basic(Auth::default()).await;
    let http = client_from(1);
    for i in 0..FREE_FAILURES {
        let r = login(&http, &s.url(""), USER, "wrong").await;
        assert_eq!(r.status(), 401, "failure {i} is still checked");
    }
    assert_eq!(checks(&s).verifications, u64::from(FREE_FAILURES));
    // Even the right password waits: the backoff comes before any check or cache.
    let r = login(&http, &s.url(""), USER, PASSWORD).await;
    assert_eq!(r.status(), 429);
    assert!((1..=60).contains(&retry_after(&r)), "{:?}", r.headers());
    assert!(r.text().await.unwrap().contains("too many failed logins"));
    for _ in 0..5 {
        assert_eq!(login(&http, &s.url(""), USER, "wrong").await.status(), 429);
    }
    assert_eq!(checks(&s).verifications, u64::from(FREE_FAILURES), "refused attempts run no argon2");
    // Another address is not held back.
    assert_eq!(login(&client_from(2), &s.url(""), USER, PASSWORD).await.status(), 200);
}

/// One wrong password from each of the addresses `127.0.0.{first}` on, all at once.
async fn burst(s: &TestApp, first: u8, clients: u8) -> Vec<reqwest::Response> {
    let tasks: Vec<_> = (first..first + clients)
        .map(|n| {
            let url = s.url("");
            tokio::spawn(async move { login(&client_from(n), &url, USER, "wrong").await })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    answers
}

#[tokio::test]
async fn password_checks_never_exceed_the_bound_and_a_burst_past_the_queue_gets_503() {
    // argon2's default memory (19 MiB): checks take long enough to overlap.
    let (_w, s) = serve_basic_with(
        Auth {
            password_checks: Some(2),
            ..Auth::default()
        },
        &hash_with_memory(PASSWORD, 19 * 1024),
    )
    .await;
    let answers = burst(&s, 100, 12).await;
    let stats = checks(&s);
    assert_eq!(stats.bound, 2);
    assert!(stats.peak_concurrent <= 2, "{stats:?}");
    let checked = answers.iter().filter(|r| r.status() == 401).count();
    assert_eq!(checked as u64, stats.verifications, "every 401 was a check, and nothing else was");
    assert!(
        checked >= 2,
        "the queue let the burst wait its turn: {:?}",
        answers.iter().map(|r| r.status()).collect::<Vec<_>>()
    );

    let (_w, s) = serve_basic_with(
        Auth {
            password_checks: Some(1),
            ..Auth::default()
        },
        &hash_with_memory(PASSWORD, 19 * 1024),
    )
    .await;
    let answers = burst(&s, 150, 30).await;
    let stats = checks(&s);
    assert_eq!(stats.peak_concurrent, 1, "{stats:?}");
    let busy: Vec<_> = answers.iter().filter(|r| r.status() == 503).collect();
    assert!(!busy.is_empty(), "30 at once exceed one check and its queue of 8");
    assert!(busy.iter().all(|r| retry_after(r) == 1));
    assert_eq!(
        answers.iter().filter(|r| r.status() == 401).count() as u64,
        stats.verifications,
        "a 503 costs no check"
    );
    assert_eq!(
        login(&client_from(199), &s.url(""), USER, PASSWORD).await.status(),
        200,
        "and the service is fine after"
    );
}

#[tokio::test]
async fn unknown_and_known_users_each_cost_one_verification() {
    let (_w, s) = serve_basic(Auth::default()).await;
    let before = checks(&s).verifications;
    assert_eq!(login(&client_from(3), &s.url(""), USER, "wrong").await.status(), 401);
    assert_eq!(checks(&s).verifications, before + 1, "a known user with a wrong password");
    assert_eq!(login(&client_from(4), &s.url(""), "nobody", "wrong").await.status(), 401);
    assert_eq!(checks(&s).verifications, before + 2, "an unknown user is checked against a decoy");
    assert_eq!(login(&client_from(5), &s.url(""), "nobody", PASSWORD).await.status(), 401);
    assert_eq!(checks(&s).verifications, before + 3);
    assert_eq!(login(&client_from(6), &s.url(""), USER, PASSWORD).await.status(), 200);
    assert_eq!(checks(&s).verifications, before + 4);
    assert_eq!(login(&client_from(6), &s.url(""), USER, PASSWORD).await.status(), 200);
    assert_eq!(checks(&s).verifications, before + 4, "a verified login is cached");
}

#[tokio::test]
async fn a_flood_from_many_addresses_leaves_a_new_correct_login_working() {
    let (_w, s) = serve_basic(Auth::default()).await;
    // 24 addresses × 4 wrong passwords at once: more failures than an attack needs.
    let flood: Vec<_> = (10..34u8)
        .map(|n| {
            let url = s.url("");
            tokio::spawn(async move {
                let http = client_from(n);
                let mut statuses = Vec::new();
                for _ in 0..4 {
                    statuses.push(login(&http, &url, USER, "wrong").await.status().as_u16());
                }
                statuses
            })
        })
        .collect();
    let mut statuses = Vec::new();
    let mut failed_once = None;
    for (n, f) in (10..34u8).zip(flood) {
        let got = f.await.unwrap();
        if got.contains(&401) {
            failed_once = Some(n);
        }
        statuses.extend(got);
    }
    assert!(statuses.iter().all(|s| [401, 429, 503].contains(s)), "{statuses:?}");
    assert!(statuses.contains(&429), "the attack was noticed: {statuses:?}");
    let stats = checks(&s);
    assert!(stats.peak_concurrent <= stats.bound, "{stats:?}");
    assert!(
        stats.verifications < statuses.len() as u64,
        "not every attempt ran argon2: {stats:?}"
    );
    // Under attack, an address that failed once waits even with the right password …
    let failed_once = failed_once.expect("some attempt was checked and failed");
    assert_eq!(login(&client_from(failed_once), &s.url(""), USER, PASSWORD).await.status(), 429);
    // … while one that never failed logs in at once.
    assert_eq!(login(&client_from(200), &s.url(""), USER, PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn auth_schemes_are_case_insensitive_and_the_metrics_token_is_exact() {
    let (_w, s) = serve_basic(Auth {
        metrics_token_env: Some("METRICS_TOKEN".into()),
        ..Auth::default()
    })
    .await;
    let http = client_from(40);
    let basic = base64_encode(&format!("{USER}:{PASSWORD}"));
    for scheme in ["Basic", "basic", "BASIC", "bAsIc"] {
        let r = http
            .get(s.url("/api/v1/environments"))
            .header("Authorization", format!("{scheme} {basic}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{scheme}");
    }
    for (scheme, token, status) in [
        ("Bearer", "scrape-me", 200),
        ("bearer", "scrape-me", 200),
        ("BEARER", "scrape-me", 200),
        ("Bearer", "scrape-m", 401),
        ("Bearer", "scrape-me-too", 401),
        ("Bearer", "", 401),
    ] {
        let r = client_from(41)
            .get(s.url("/metrics"))
            .header("Authorization", format!("{scheme} {token}"))
            .send()
            .await
            .unwrap();
        let got = r.status();
        assert_eq!(got, status, "{scheme} {token:?}: {}", r.text().await.unwrap());
    }
}

fn checks(app: &TestApp) -> CheckStats {
    app.guard.check_stats()
}

fn base64_encode(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

// ---- §2 DNS rebinding ------------------------------------------------------------------------

async fn get_with_host(url: &str, host: &str) -> reqwest::Response {
    crate::support::http().get(url).header("Host", host).send().await.unwrap()
}

#[tokio::test]
async fn a_rebound_host_name_gets_421_everywhere() {
    let (_w, s) = serve(|w| {
        w.file.server = Some(Server {
            public_url: Some("https://credwatch.example.com/".into()),
            allowed_hosts: vec!["CW.internal:8443".into()],
            ..Server::default()
        })
    })
    .await;
    let paths = [
        "/".to_string(),
        "/environments/prod".into(),
        "/api/v1/credentials".into(),
        "/api/v1/environments".into(),
        "/metrics".into(),
        format!("/calendar.ics?token={CALENDAR_TOKEN}"),
        "/healthz".into(),
    ];
    for path in &paths {
        let r = get_with_host(&s.url(path), "attacker.example").await;
        assert_eq!(r.status(), 421, "{path}");
        let body = r.text().await.unwrap();
        assert!(body.contains("server.allowed_hosts") && !body.contains(CALENDAR_TOKEN), "{body}");
        let r = get_with_host(&s.url(path), &format!("attacker.example:{}", s.port())).await;
        assert_eq!(r.status(), 421, "{path} with a port");
    }
    for host in [
        format!("127.0.0.1:{}", s.port()),
        format!("localhost:{}", s.port()),
        "LocalHost".to_string(),
        "credwatch.example.com".into(),
        "credwatch.example.com:443".into(),
        "cw.internal".into(),
    ] {
        let r = get_with_host(&s.url("/api/v1/environments"), &host).await;
        assert_eq!(r.status(), 200, "{host}");
    }
    let r = get_with_host(&s.url(&format!("/calendar.ics?token={CALENDAR_TOKEN}")), "localhost").await;
    assert_eq!(r.status(), 200, "the calendar answers its own names");
}

// ---- §5 methods and caching --------------------------------------------------------------------

#[tokio::test]
async fn head_is_answered_like_get_and_other_methods_get_405_with_allow() {
    let (_w, s) = serve(|_| {}).await;
    let http = &s.http;
    for path in ["/healthz", "/", "/api/v1/environments", "/metrics", "/findings"] {
        let get = http.get(s.url(path)).send().await.unwrap();
        let head = http.head(s.url(path)).send().await.unwrap();
        assert_eq!(get.status(), 200, "GET {path}");
        assert_eq!(head.status(), 200, "HEAD {path}");
        assert_eq!(head.headers().get("content-type"), get.headers().get("content-type"), "{path}");
        assert!(head.bytes().await.unwrap().is_empty(), "HEAD {path} has no body");
    }
    for (method, path) in [
        (reqwest::Method::POST, "/"),
        (reqwest::Method::DELETE, "/api/v1/credentials"),
        (reqwest::Method::PUT, "/healthz"),
        (reqwest::Method::POST, "/calendar.ics"),
        (reqwest::Method::PATCH, "/environments/prod"),
    ] {
        let r = http.request(method.clone(), s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 405, "{method} {path}");
        assert_eq!(r.headers().get("allow").unwrap(), "GET, HEAD", "{method} {path}");
    }
    let r = http.post(s.url("/no/such/page")).send().await.unwrap();
    assert_eq!(r.status(), 404, "an unknown path stays 404 whatever the method");
}

#[tokio::test]
async fn answers_with_credential_data_or_a_token_are_not_stored() {
    let (_w, s) = serve(|_| {}).await;
    let http = &s.http;
    for path in [
        "/".to_string(),
        "/environments/prod".into(),
        "/environments/prod/applications/00000000-0000-4000-8000-000000000001".into(),
        "/findings".into(),
        "/metrics".into(),
        "/api/v1/credentials".into(),
        "/api/v1/credentials.csv".into(),
        "/api/v1/environments".into(),
        "/api/v1/findings".into(),
        format!("/calendar.ics?token={CALENDAR_TOKEN}"),
        "/calendar.ics?token=wrong".into(),
    ] {
        let r = http.get(s.url(&path)).send().await.unwrap();
        assert_eq!(
            r.headers().get("cache-control").map(|v| v.to_str().unwrap()),
            Some("no-store"),
            "{path} ({})",
            r.status()
        );
    }
}

#[tokio::test]
async fn a_search_longer_than_200_characters_is_a_400_naming_q() {
    let (w, s) = serve(|w| {
        w.tenant("prod", PROD_TENANT, CLIENT);
    })
    .await;
    w.emu
        .set_applications(PROD_TENANT, generate_applications(1, 30, chrono::Utc::now()));
    s.sync(None).await;
    let http = &s.http;
    let search = |q: String| http.get(s.url("/environments/prod")).query(&[("q", q)]).send();
    let r = search("x".repeat(60_000)).await.unwrap();
    assert_eq!(r.status(), 400);
    let body = r.text().await.unwrap();
    assert!(body.contains("“q”") && body.contains("200"), "{body}");
    assert_eq!(
        search("é".repeat(200)).await.unwrap().status(),
        200,
        "200 characters, 400 bytes: still a search"
    );
    assert_eq!(search("é".repeat(201)).await.unwrap().status(), 400);
}

// ---- §5 configuration: refused, or warned about ------------------------------------------------

#[test]
fn keys_of_another_auth_mode_are_refused_by_name() {
    let user = format!("[[server.auth.users]]\nname = \"a\"\npassword_hash = \"{}\"\n", cheap_hash("x"));
    for (auth, key) in [
        (
            format!("mode = \"proxy\"\ntrusted_proxies = [\"127.0.0.1\"]\n{user}"),
            "server.auth.users",
        ),
        (
            format!("mode = \"basic\"\nuser_header = \"X-User\"\n{user}"),
            "server.auth.user_header",
        ),
        (
            format!("mode = \"basic\"\ntrusted_proxies = [\"127.0.0.1\"]\n{user}"),
            "server.auth.trusted_proxies",
        ),
        ("mode = \"none\"\nrealm = \"x\"\n".into(), "server.auth.realm"),
        ("user_header = \"X-User\"\n".into(), "server.auth.user_header"),
        (
            "mode = \"proxy\"\ntrusted_proxies = [\"127.0.0.1\"]\nallow_anonymous = true\n".into(),
            "server.auth.allow_anonymous",
        ),
        (
            "mode = \"proxy\"\ntrusted_proxies = [\"127.0.0.1\"]\npassword_checks = 2\n".into(),
            "server.auth.password_checks",
        ),
    ] {
        let err = try_load(&format!("[server.auth]\n{auth}")).expect_err(key);
        assert!(err.contains(&format!("{key}:")) && err.contains("is a key of mode"), "{key}: {err}");
    }
    let err = try_load(&format!("[server.auth]\nmode = \"basic\"\npassword_checks = 0\n{user}")).unwrap_err();
    assert!(err.contains("server.auth.password_checks"), "{err}");
}

#[test]
fn a_trusted_proxy_range_of_everyone_is_refused() {
    for (list, index) in [("\"0.0.0.0/0\"", 0), ("\"::/0\"", 0), ("\"10.0.0.1\", \"0.0.0.0/0\"", 1)] {
        let err = try_load(&format!("[server.auth]\nmode = \"proxy\"\ntrusted_proxies = [{list}]\n")).unwrap_err();
        assert!(
            err.contains(&format!("server.auth.trusted_proxies[{index}]")) && err.contains("every address"),
            "{err}"
        );
    }
    assert!(try_load("[server.auth]\nmode = \"proxy\"\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n").is_ok());
}

#[test]
fn allowed_hosts_must_be_hosts() {
    let c = load("[server]\nallowed_hosts = [\"CW.Internal:8443\", \"[2001:db8::1]\", \"10.0.0.5\"]\n");
    assert_eq!(c.server.allowed_hosts, ["cw.internal", "2001:db8::1", "10.0.0.5"]);
    for bad in ["https://cw.internal/", "cw internal", "cw.internal/path", ""] {
        let err = try_load(&format!("[server]\nallowed_hosts = [\"ok.example\", {bad:?}]\n")).unwrap_err();
        assert!(err.contains("server.allowed_hosts[1]"), "{bad}: {err}");
    }
}

fn warnings(config: &Config) -> Vec<String> {
    config.warnings.iter().map(ToString::to_string).collect()
}

#[test]
fn basic_auth_off_loopback_over_plain_http_is_warned_about() {
    let user = format!("[[server.auth.users]]\nname = \"a\"\npassword_hash = \"{}\"\n", cheap_hash("x"));
    let c = load(&format!(
        "[server]\nlisten = \"0.0.0.0:8080\"\n[server.auth]\nmode = \"basic\"\n{user}"
    ));
    let w = warnings(&c);
    assert!(w.iter().any(|w| w.contains("server.public_url") && w.contains("in clear")), "{w:?}");
    for quiet in [
        format!("[server]\nlisten = \"0.0.0.0:8080\"\npublic_url = \"https://cw.example.com/\"\n[server.auth]\nmode = \"basic\"\n{user}"),
        format!("[server]\nlisten = \"127.0.0.1:8080\"\n[server.auth]\nmode = \"basic\"\n{user}"),
    ] {
        assert!(warnings(&load(&quiet)).is_empty(), "{quiet}");
    }
}

#[test]
fn secret_files_others_can_read_and_a_config_others_can_change_are_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("calendar-token");
    std::fs::write(&token, "a-calendar-token").unwrap();
    let config = dir.path().join("credwatch.toml");
    std::fs::write(&config, "[calendar]\ntoken_file = \"calendar-token\"\n").unwrap();
    let set = |path: &std::path::Path, mode: u32| std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    set(&token, 0o600);
    set(&config, 0o644);
    let quiet = Config::load(Some(&config), &|_| None).unwrap();
    assert!(quiet.warnings.is_empty(), "{:?}", quiet.warnings);

    set(&token, 0o644);
    set(&config, 0o666);
    let loud = warnings(&Config::load(Some(&config), &|_| None).unwrap());
    assert!(
        loud.iter()
            .any(|w| w.contains("calendar.token_file") && w.contains(&token.display().to_string()) && w.contains("0644")),
        "{loud:?}"
    );
    assert!(
        loud.iter()
            .any(|w| w.starts_with(&config.display().to_string()) && w.contains("can change this file")),
        "{loud:?}"
    );
    assert!(
        !loud.iter().any(|w| w.contains("a-calendar-token")),
        "the secret itself is never shown"
    );
}

#[tokio::test]
async fn every_command_logs_the_warnings_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new().await;
    let config = w.write_config();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (code, _, stderr) = w.run(&["remind", "--dry-run", "--config", config.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("WARN") && stderr.contains("can change this file"), "{stderr}");
}
