//! Findings (credentials that never expire, expired ones still present, several secrets, no
//! owner) over the API and the pages, with owners and exclusion marks shown, names escaped.

use crate::support::app::TestApp;
use crate::support::graph::{AppBuilder, app, at, days, now, object_id, secret_between, user};
use crate::support::parse::text;
use crate::support::{CLIENT, PROD_TENANT, World};

#[tokio::test]
async fn findings_owners_and_marks_are_served() {
    let mut w = World::new().await;
    w.tenant("prod", PROD_TENANT, CLIENT);
    let now = now();
    w.emu.set_applications(
        PROD_TENANT,
        vec![
            app(1, "<b>Never</b>")
                .secrets(vec![
                    secret_between("k-never", "forever", now - days(100), at("2299-12-31T00:00:00Z")),
                    secret_between("k-two", "second", now - days(10), now + days(100)),
                ])
                .notes("credwatch-notify: a@example.com"),
            app(2, "Dead")
                .secrets(vec![secret_between("k-dead", "gone", now - days(400), now - days(3))])
                .owners(vec![user("u1", "Carol <script>", Some("carol@example.com"))]),
            app(3, "Proxy")
                .secrets(vec![secret_between("k-cwap", "CWAP_AuthSecret", now - days(10), now + days(50))])
                .owners(vec![user("u2", "Dan", None)]),
        ],
    );
    let app = TestApp::start(w.config()).await;
    app.sync(None).await;

    let findings = app.json("/api/v1/findings").await;
    assert_eq!(findings["counts"]["never_expires"], 1);
    assert_eq!(findings["counts"]["expired_present"], 1);
    assert_eq!(findings["counts"]["several_secrets"], 1);
    assert_eq!(findings["counts"]["no_owner"], 1);
    assert!(
        findings["exclusions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "application-proxy" && r["builtin"] == true)
    );

    let creds = app.credentials("").await;
    let cwap = creds.iter().find(|c| c["key_id"] == "k-cwap").unwrap();
    assert_eq!(cwap["source"], "application");
    assert_eq!(cwap["excluded"]["rule"], "application-proxy");

    let page = app.page("/findings").await;
    assert!(page.text().contains("<b>Never</b>"), "the name, as text");
    assert_eq!(page.count("main b"), 0, "names are escaped");

    let dead = app.page(&format!("/environments/prod/applications/{}", object_id(2))).await;
    let owners = dead.texts("ul.owners li");
    assert_eq!(owners.len(), 1);
    assert!(
        owners[0].contains("Carol <script>") && owners[0].contains("carol@example.com"),
        "owners shown, as text: {owners:?}"
    );
    assert_eq!(dead.count("ul.owners script"), 0);
    let orphan = app.page(&format!("/environments/prod/applications/{}", object_id(1))).await;
    let facts = text(&orphan.one("dl.facts"));
    assert!(facts.contains("No owner") && facts.contains("a@example.com"), "{facts}");
    let inventory = app.page("/environments/prod").await;
    assert!(
        inventory.text().contains("no reminders: application-proxy"),
        "excluded credentials stay visible, marked"
    );
    app.stop().await;
}
