//! Access control and security headers against the real server.

use crate::support::World;
use crate::support::app::TestApp;
use crate::support::config::{Auth, User};
use credwatch::config::Config;
use std::io::Write;

fn load(text: &str) -> Result<Config, String> {
    Config::from_toml(text, None, &|k| (k == "METRICS_TOKEN").then(|| "scrape-me".to_string())).map_err(|e| e.to_string())
}

#[test]
fn anonymous_access_is_refused_off_loopback_unless_explicit() {
    let err = load("[server]\nlisten = \"0.0.0.0:8080\"\n").unwrap_err();
    assert!(err.contains("server.auth.mode") && err.contains("allow_anonymous"), "{err}");
    assert!(load("[server]\nlisten = \"0.0.0.0:8080\"\n[server.auth]\nallow_anonymous = true\n").is_ok());
    assert!(load("[server]\nlisten = \"[::1]:8080\"\n").is_ok());
    let err = load("[server.auth]\nmode = \"basic\"\n").unwrap_err();
    assert!(err.contains("server.auth.users"), "{err}");
    let err = load("[server.auth]\nmode = \"basic\"\n[[server.auth.users]]\nname = \"a\"\npassword_hash = \"plaintext\"\n").unwrap_err();
    assert!(
        err.contains("server.auth.users[0].password_hash") && err.contains("hash-password"),
        "{err}"
    );
    let err = load("[server.auth]\nmode = \"proxy\"\n").unwrap_err();
    assert!(err.contains("trusted_proxies"), "{err}");
    let err = load("[server.auth]\nmode = \"proxy\"\ntrusted_proxies = [\"nonsense\"]\n").unwrap_err();
    assert!(err.contains("trusted_proxies[0]"), "{err}");
    let err = load("[server.auth]\nmode = \"sso\"\n").unwrap_err();
    assert!(err.contains("server.auth.mode"), "{err}");
}

/// The app with `auth` as `[server.auth]`; the metrics token, where named, is `scrape-me`.
async fn serve(auth: Auth) -> (World, TestApp) {
    let mut w = World::new().await;
    w.vars.insert("METRICS_TOKEN".into(), "scrape-me".into());
    w.file.server().auth = Some(auth);
    let app = TestApp::start(w.config()).await;
    (w, app)
}

fn assert_security_headers(r: &reqwest::Response) {
    let h = r.headers();
    let csp = h.get("content-security-policy").expect("CSP on every response").to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("script-src 'self' 'unsafe-inline'"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff");
    assert_eq!(h.get("referrer-policy").unwrap(), "no-referrer");
}

#[tokio::test]
async fn basic_auth_guards_everything_but_healthz_and_metrics_has_its_own_token() {
    let hash = credwatch::web::auth::hash_password("correct horse").unwrap();
    let (_w, app) = serve(Auth {
        mode: Some("basic".into()),
        metrics_token_env: Some("METRICS_TOKEN".into()),
        users: vec![User {
            name: "ops".into(),
            password_hash: hash,
        }],
        ..Auth::default()
    })
    .await;
    let url = app.url("");
    let http = crate::support::http();

    let r = http.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_security_headers(&r);

    for path in ["/", "/api/v1/credentials", "/metrics"] {
        let r = http.get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
        assert!(
            r.headers()
                .get("www-authenticate")
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("Basic realm=\"credwatch\"")
        );
        assert_security_headers(&r);
        let as_user = async |user: &str, password: &str| {
            let r = http
                .get(format!("{url}{path}"))
                .basic_auth(user, Some(password))
                .send()
                .await
                .unwrap();
            r.status()
        };
        assert_eq!(as_user("ops", "wrong").await, 401, "{path} with a wrong password");
        assert_eq!(as_user("nobody", "correct horse").await, 401, "{path} with an unknown user");
        assert_ne!(as_user("ops", "correct horse").await, 401, "{path} with the right password");
        // Twice: the second answer comes from the verification cache and must agree.
        assert_ne!(as_user("ops", "correct horse").await, 401, "{path} with the right password, cached");
    }
    let r = http.get(format!("{url}/metrics")).bearer_auth("scrape-me").send().await.unwrap();
    assert_ne!(r.status(), 401, "the metrics token opens /metrics");
    let r = http
        .get(format!("{url}/api/v1/credentials"))
        .bearer_auth("scrape-me")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the metrics token opens nothing else");
    let r = http
        .get(format!("{url}/metrics"))
        .bearer_auth("scrape-me-not")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn proxy_mode_trusts_the_user_header_only_from_the_proxy() {
    let (_w, app) = serve(Auth {
        mode: Some("proxy".into()),
        user_header: Some("X-Auth-User".into()),
        trusted_proxies: vec!["127.0.0.0/8".into()],
        ..Auth::default()
    })
    .await;
    let url = app.url("");
    let http = crate::support::http();
    let r = http.get(format!("{url}/api/v1/environments")).send().await.unwrap();
    assert_eq!(r.status(), 403, "no user named");
    let r = http
        .get(format!("{url}/api/v1/environments"))
        .header("X-Auth-User", "alice")
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 403);

    let (_w2, app2) = serve(Auth {
        mode: Some("proxy".into()),
        trusted_proxies: vec!["10.1.2.3".into()],
        ..Auth::default()
    })
    .await;
    let url = app2.url("");
    let r = http
        .get(format!("{url}/api/v1/environments"))
        .header("X-Forwarded-User", "mallory")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a request not from the proxy cannot name a user");
    assert!(r.text().await.unwrap().contains("proxy"));
}

#[test]
fn hash_password_prints_a_verifiable_argon2_hash() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_credwatch"))
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"s3cret pass\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let hash = String::from_utf8(out.stdout).unwrap();
    let hash = hash.trim();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    use argon2::PasswordVerifier;
    let parsed = argon2::PasswordHash::new(hash).unwrap();
    assert!(argon2::Argon2::default().verify_password(b"s3cret pass", &parsed).is_ok());
    assert!(argon2::Argon2::default().verify_password(b"other", &parsed).is_err());
}
