//! What every page's frame needs: title, asset URLs and the navigation.

use super::embedded;

#[derive(Debug, Clone)]
pub struct Layout {
    pub title: String,
    pub css: String,
    pub js: String,
    pub favicon: String,
    /// The environment the page is about, highlighted in the navigation ("" for none).
    pub active: String,
    /// Environment names, for the navigation.
    pub environments: Vec<String>,
    /// Who is signed in with Entra ID (`mode = "oidc"`), shown with a sign-out button.
    pub user: Option<String>,
}

impl Layout {
    pub fn new(title: impl Into<String>, active: impl Into<String>, environments: Vec<String>) -> Self {
        Layout {
            title: title.into(),
            css: embedded::url("app.css"),
            js: embedded::url("app.js"),
            favicon: embedded::url("favicon.svg"),
            active: active.into(),
            environments,
            user: None,
        }
    }

    /// The same, naming the user signed in with Entra ID for this request, if any.
    pub fn for_request(mut self, req: &actix_web::HttpRequest) -> Self {
        use actix_web::HttpMessage;
        self.user = req.extensions().get::<super::auth::User>().map(|u| u.name.clone());
        self
    }

    pub fn env_href(&self, name: &str) -> String {
        super::view::environment_href(name)
    }
}
