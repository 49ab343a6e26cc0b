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
        }
    }

    pub fn env_href(&self, name: &str) -> String {
        super::view::environment_href(name)
    }
}
