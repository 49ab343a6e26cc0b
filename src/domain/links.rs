//! Links credwatch hands out: to the Azure portal blade where a credential is managed, and to
//! credwatch's own page of an application. Ids come from Graph (and so from whoever registered
//! the app): every one is percent-encoded as a path segment.

use super::href::path_segment;
use url::Url;

/// The "Certificates & secrets" blade of an app registration, on the portal at `portal`.
pub fn portal_link(portal: &str, app_id: &str) -> String {
    format!(
        "{}/#view/Microsoft_AAD_RegisteredApps/ApplicationMenuBlade/~/Credentials/appId/{}",
        portal.trim_end_matches('/'),
        path_segment(app_id)
    )
}

/// The single sign-on blade of an enterprise application (service principal), where its SAML
/// signing certificates and secrets are managed.
pub fn enterprise_app_link(portal: &str, object_id: &str, app_id: &str) -> String {
    format!(
        "{}/#view/Microsoft_AAD_IAM/ManagedAppMenuBlade/~/SignOnV2/objectId/{}/appId/{}",
        portal.trim_end_matches('/'),
        path_segment(object_id),
        path_segment(app_id)
    )
}

/// The Azure portal of the cloud whose Graph lives at `graph_url`: the US Government and China
/// clouds have their own.
pub fn default_portal(graph_url: &Url) -> Url {
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

/// An application's page on credwatch's own dashboard, under `public_url`.
pub fn credwatch_link(public_url: &Url, environment: &str, app_object_id: &str) -> String {
    format!(
        "{}/environments/{}/applications/{}",
        public_url.as_str().trim_end_matches('/'),
        path_segment(environment),
        path_segment(app_object_id)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_graph_stay_one_segment() {
        assert_eq!(path_segment("a/b c?+#"), "a%2Fb%20c%3F%2B%23");
        assert_eq!(
            portal_link("https://portal.azure.com/", "11111111-0000-4000-8000-000000000001"),
            "https://portal.azure.com/#view/Microsoft_AAD_RegisteredApps/ApplicationMenuBlade/~/Credentials/appId/11111111-0000-4000-8000-000000000001"
        );
        assert_eq!(
            enterprise_app_link("https://portal.azure.us", "sp/1", "a 1"),
            "https://portal.azure.us/#view/Microsoft_AAD_IAM/ManagedAppMenuBlade/~/SignOnV2/objectId/sp%2F1/appId/a%201"
        );
        let public = Url::parse("https://credwatch.example.com/base/").unwrap();
        assert_eq!(
            credwatch_link(&public, "prod", "o/../x"),
            "https://credwatch.example.com/base/environments/prod/applications/o%2F..%2Fx"
        );
    }

    #[test]
    fn sovereign_clouds_have_their_own_portal() {
        let portal = |graph: &str| default_portal(&Url::parse(graph).unwrap()).to_string();
        assert_eq!(portal("https://graph.microsoft.us"), "https://portal.azure.us/");
        assert_eq!(portal("https://microsoftgraph.chinacloudapi.cn"), "https://portal.azure.cn/");
        assert_eq!(portal("https://graph.microsoft.com"), "https://portal.azure.com/");
    }
}
