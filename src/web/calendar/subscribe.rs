//! The overview's subscribe box: ready addresses of the usual feeds, and a form that builds the
//! address of any other (filters, grouping). Shown only when a feed token is configured; the
//! addresses carry it, since calendar clients cannot sign in.

use super::feed::Filters;
use crate::config::Config;
use crate::domain::path_segment;
use crate::web::view;
use secrecy::ExposeSecret;

/// One feed's address, as https and as `webcal://` (which calendar apps open as a subscription).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedLinks {
    pub https: String,
    pub webcal: String,
}

impl FeedLinks {
    /// The feed at `path` (`/calendar.ics` or `/calendar/{environment}.ics`) with `filters`.
    fn new(base: &str, path: &str, token: &str, filters: &Filters) -> FeedLinks {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("token", token);
        let mut https = format!("{base}{path}?{}", query.finish());
        let rest = filters.canonical();
        if !rest.is_empty() {
            https.push('&');
            https.push_str(&rest);
        }
        if filters.by_day {
            https.push_str("&group=day");
        }
        let webcal = match https.split_once("://") {
            Some((_, rest)) => format!("webcal://{rest}"),
            None => https.clone(),
        };
        FeedLinks { https, webcal }
    }
}

/// What the overview's template shows.
#[derive(Debug, Clone)]
pub struct SubscribeBox {
    pub all: FeedLinks,
    pub all_by_day: FeedLinks,
    pub per_environment: Vec<(String, FeedLinks)>,
    /// The https address the builder form sends to (`/calendar.ics`), and the token it carries.
    pub action: String,
    pub token: String,
    pub environments: Vec<String>,
    /// `calendar.max_events`, for the sentence that explains the automatic grouping.
    pub max_events: String,
}

impl SubscribeBox {
    /// `None` when no feed token is configured: then there is nothing to subscribe to.
    pub fn new(config: &Config, environments: &[String]) -> Option<SubscribeBox> {
        let token = config.calendar.token.as_ref()?.expose_secret().to_string();
        let base = config.server.public_url.as_str().trim_end_matches('/').to_string();
        let all = Filters::default();
        Some(SubscribeBox {
            all: FeedLinks::new(&base, "/calendar.ics", &token, &all),
            all_by_day: FeedLinks::new(&base, "/calendar.ics", &token, &Filters { by_day: true, ..all }),
            per_environment: environments
                .iter()
                .map(|n| {
                    let path = format!("/calendar/{}.ics", path_segment(n));
                    (n.clone(), FeedLinks::new(&base, &path, &token, &Filters::default()))
                })
                .collect(),
            action: format!("{base}/calendar.ics"),
            token,
            environments: environments.to_vec(),
            max_events: view::thousands(i64::try_from(config.calendar.max_events).unwrap_or(i64::MAX)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Status;

    #[test]
    fn addresses_carry_the_token_and_the_filters() {
        let f = Filters {
            environment: Some("prod".into()),
            status: Some(Status::Warning),
            owner: Some("ann@contoso.com".into()),
            by_day: true,
            ..Default::default()
        };
        let links = FeedLinks::new("https://cw.example.com", "/calendar.ics", "a b&c", &f);
        assert_eq!(
            links.https,
            "https://cw.example.com/calendar.ics?token=a+b%26c&environment=prod&status=warning&owner=ann%40contoso.com&group=day"
        );
        assert_eq!(
            links.webcal,
            "webcal://cw.example.com/calendar.ics?token=a+b%26c&environment=prod&status=warning&owner=ann%40contoso.com&group=day"
        );
    }
}
