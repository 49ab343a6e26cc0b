//! Links to the Azure portal blade where a credential is managed, and the portal of each cloud.
//! Pure, so their home is `domain` beside credwatch's own links; they wait here until it has them.

use url::Url;

/// The "Certificates & secrets" blade of an app registration, on the given portal.
pub fn portal_link(portal_url: &Url, app_id: &str) -> String {
    let app_id: String = url::form_urlencoded::byte_serialize(app_id.as_bytes()).collect();
    format!(
        "{}/#view/Microsoft_AAD_RegisteredApps/ApplicationMenuBlade/~/Credentials/appId/{app_id}",
        portal_url.as_str().trim_end_matches('/')
    )
}

/// The single sign-on blade of an enterprise application (service principal), where its SAML
/// signing certificates and secrets are managed.
pub fn enterprise_app_link(portal_url: &Url, object_id: &str, app_id: &str) -> String {
    let enc = |s: &str| -> String { url::form_urlencoded::byte_serialize(s.as_bytes()).collect() };
    format!(
        "{}/#view/Microsoft_AAD_IAM/ManagedAppMenuBlade/~/SignOnV2/objectId/{}/appId/{}",
        portal_url.as_str().trim_end_matches('/'),
        enc(object_id),
        enc(app_id)
    )
}

/// The Azure portal of the cloud whose Graph lives at `graph_url`.
pub(super) fn default_portal(graph_url: &Url) -> Url {
    let host = graph_url.host_str().unwrap_or_default();
    let portal = if host.ends_with(".us") {
        "https://portal.azure.us"
    } else if host.ends_with(".cn") {
        "https://portal.azure.cn"
    } else {
        "https://portal.azure.com"
    };
    Url::parse(portal).expect("constant URL")
}
