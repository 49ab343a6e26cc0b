//! The keys that shape reminders beyond the ladder: `[[exclusions]]` (who is not reminded) and
//! `[[webhooks]]` (where else reminders go).

use super::Loader;
use crate::config::raw::{RawExclusion, RawWebhook};
use crate::config::{ConfigError, EnvironmentConfig, WebhookConfig, WebhookKind, is_loopback};
use std::collections::HashSet;
use url::Url;

impl Loader<'_> {
    /// `[[exclusions]]` and the built-in rules `reminders.builtin_exclusions` keeps.
    pub(super) fn exclusions(
        &self,
        raw: Vec<RawExclusion>,
        builtin: Option<Vec<String>>,
        envs: &[EnvironmentConfig],
    ) -> Result<crate::domain::Exclusions, ConfigError> {
        use crate::domain::{ExclusionRule, Glob, builtin_exclusions, builtin_names};
        let mut rules = Vec::new();
        let mut names = HashSet::new();
        for (i, r) in raw.into_iter().enumerate() {
            let key = |f: &str| format!("exclusions[{i}].{f}");
            let reason = r
                .reason
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .ok_or_else(|| self.err(key("reason"), "is required: say why these credentials need no reminder"))?;
            let name = r
                .name
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| format!("exclusions[{i}]"));
            if !names.insert(name.clone()) {
                return Err(self.err(key("name"), format!("{name:?} is used by another exclusion")));
            }
            if let Some(e) = &r.environment
                && !envs.iter().any(|x| x.name == *e)
            {
                return Err(self.err(key("environment"), format!("{e:?} is not a configured environment")));
            }
            let nonempty = |field: &str, v: Option<String>| -> Result<Option<String>, ConfigError> {
                match v {
                    Some(v) if v.trim().is_empty() => Err(self.err(key(field), "is empty; leave the key out to match anything")),
                    v => Ok(v.map(|v| v.trim().to_string())),
                }
            };
            let app_id = nonempty("app_id", r.app_id)?;
            let app_name = nonempty("app_name", r.app_name)?;
            let credential_name = nonempty("credential_name", r.credential_name)?;
            let tag = nonempty("tag", r.tag)?;
            if app_id.is_none() && app_name.is_none() && credential_name.is_none() && tag.is_none() {
                return Err(self.err(
                    format!("exclusions[{i}]"),
                    "names no app_id, app_name, credential_name or tag: it would silence every reminder",
                ));
            }
            let until = match r.until {
                None => None,
                Some(d) => match (d.date, d.time) {
                    (Some(date), None) => Some(
                        chrono::NaiveDate::from_ymd_opt(date.year as i32, date.month as u32, date.day as u32)
                            .ok_or_else(|| self.err(key("until"), format!("{d} is not a date")))?,
                    ),
                    _ => return Err(self.err(key("until"), format!("{d} must be a plain date, e.g. 2026-12-31"))),
                },
            };
            rules.push(ExclusionRule {
                name,
                builtin: false,
                environment: r.environment,
                app_id,
                app_name: app_name.as_deref().map(Glob::new),
                credential_name: credential_name.as_deref().map(Glob::new),
                tag,
                reason,
                until,
            });
        }
        let known = builtin_names();
        let keep = builtin.unwrap_or_else(|| known.clone());
        for (i, n) in keep.iter().enumerate() {
            if !known.contains(n) {
                return Err(self.err(
                    format!("reminders.builtin_exclusions[{i}]"),
                    format!("{n:?} is not a built-in exclusion; they are {}", known.join(", ")),
                ));
            }
        }
        // A configured rule with a built-in's name replaces it.
        rules.extend(
            builtin_exclusions()
                .into_iter()
                .filter(|b| keep.contains(&b.name) && !names.contains(&b.name)),
        );
        Ok(crate::domain::Exclusions { rules })
    }

    /// `[[webhooks]]`; each URL is a secret, so no error repeats it.
    pub(super) fn webhooks(&self, raw: Vec<RawWebhook>, envs: &[EnvironmentConfig]) -> Result<Vec<WebhookConfig>, ConfigError> {
        let mut out: Vec<WebhookConfig> = Vec::new();
        for (i, w) in raw.into_iter().enumerate() {
            let key = |f: &str| format!("webhooks[{i}].{f}");
            let name = w
                .name
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .ok_or_else(|| self.err(key("name"), "is required"))?;
            if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
                return Err(self.err(key("name"), format!("{name:?} may contain only a-z, 0-9 and -")));
            }
            if out.iter().any(|o| o.name == name) {
                return Err(self.err(key("name"), format!("{name:?} is used by another webhook")));
            }
            let kind = match w.kind.as_deref() {
                Some("teams") => WebhookKind::Teams,
                Some("json") => WebhookKind::Json,
                Some(other) => return Err(self.err(key("kind"), format!("{other:?} is not one of \"teams\", \"json\""))),
                None => return Err(self.err(key("kind"), "is required: \"teams\" or \"json\"")),
            };
            let url = self
                .secret_source(&key("url_env"), w.url_env.as_deref(), &key("url_file"), w.url_file.as_deref())?
                .ok_or_else(|| {
                    self.err(
                        key("url_env"),
                        "set url_env or url_file: a webhook URL is a secret and stays out of the config file",
                    )
                })?;
            {
                use secrecy::ExposeSecret;
                let text = url.expose_secret();
                // The URL itself is not repeated in the error: it is a secret.
                let parsed = Url::parse(text).map_err(|e| self.err(key("url_env"), format!("the webhook URL is not a URL: {e}")))?;
                if !(parsed.scheme() == "https" || parsed.scheme() == "http" && is_loopback(&parsed)) || parsed.host().is_none() {
                    return Err(self.err(key("url_env"), "the webhook URL must be https (http only to a loopback address)"));
                }
            }
            for (j, e) in w.environments.iter().enumerate() {
                if !envs.iter().any(|x| x.name == *e) {
                    return Err(self.err(
                        format!("webhooks[{i}].environments[{j}]"),
                        format!("{e:?} is not a configured environment"),
                    ));
                }
            }
            out.push(WebhookConfig {
                name,
                kind,
                url,
                environments: w.environments,
            });
        }
        Ok(out)
    }
}
