//! The `Host` check against DNS rebinding: a web page on `attacker.example` whose name is rebound
//! to 127.0.0.1 makes the browser send its requests here, with `Host: attacker.example`, and read
//! the answers as its own. Only the names this credwatch is reached by are answered (the listen
//! address, `localhost`, the host of `server.public_url` and `server.allowed_hosts`); any other
//! gets 421 Misdirected Request, in every auth mode. An IP address cannot be rebound, so when
//! credwatch listens on every address (`0.0.0.0`, `[::]`), any IP literal is accepted too.

use crate::config::normalise_host as normalise;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, web};
use std::net::{IpAddr, SocketAddr};
use url::Url;

/// The host names and addresses requests may name.
#[derive(Debug, Clone)]
pub struct AllowedHosts {
    /// Normalised by [`crate::config::normalise_host`]: lower case, no port, no trailing dot, IPs in canonical form.
    names: Vec<String>,
    /// Listening on every address: any IP literal is one of ours.
    any_ip: bool,
}

impl AllowedHosts {
    /// The hosts of a server listening on `listen` and reached at `public_url`, plus `extra`
    /// (`server.allowed_hosts`, already normalised).
    pub fn new(listen: SocketAddr, public_url: &Url, extra: &[String]) -> AllowedHosts {
        let mut names = vec!["localhost".to_string()];
        let any_ip = listen.ip().is_unspecified();
        if !any_ip {
            names.push(listen.ip().to_canonical().to_string());
        }
        names.extend(public_url.host_str().and_then(normalise));
        names.extend(extra.iter().cloned());
        names.sort();
        names.dedup();
        AllowedHosts { names, any_ip }
    }

    /// True when a request naming `host` (a `Host` header value) is for this server.
    pub fn allows(&self, host: &str) -> bool {
        let Some(name) = normalise(host) else {
            return false;
        };
        (self.any_ip && name.parse::<IpAddr>().is_ok()) || self.names.contains(&name)
    }
}

/// The middleware: 421 for a request that names a host this credwatch is not.
pub async fn check(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let Some(allowed) = req.app_data::<web::Data<AllowedHosts>>() else {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    };
    // An absolute request target names a host too, and some servers prefer it to `Host`.
    let named = [
        req.headers()
            .get(header::HOST)
            .map(|h| h.to_str().unwrap_or("\u{fffd}").to_string()),
        req.uri().authority().map(|a| a.to_string()),
    ];
    let refused = if named.iter().all(Option::is_none) {
        Some(String::new())
    } else {
        named.into_iter().flatten().find(|h| !allowed.allows(h))
    };
    let Some(host) = refused else {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    };
    let shown: String = host.chars().take(100).collect();
    tracing::warn!(host = %shown, path = %req.path(), "request for another host refused (DNS rebinding?)");
    let response = HttpResponse::build(actix_web::http::StatusCode::MISDIRECTED_REQUEST)
        .content_type("text/plain; charset=utf-8")
        .body(format!(
            "credwatch: this server does not answer to the host {shown:?}; if that is its name, add it to server.allowed_hosts\n"
        ));
    Ok(req.into_response(response).map_into_right_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_names_pass() {
        let public = Url::parse("https://credwatch.example.com/").unwrap();
        let hosts = AllowedHosts::new("127.0.0.1:8080".parse().unwrap(), &public, &["cw.internal".into()]);
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST",
            "credwatch.example.com",
            "credwatch.example.com:443",
            "cw.internal",
        ] {
            assert!(hosts.allows(ok), "{ok}");
        }
        for bad in [
            "attacker.example",
            "attacker.example:8080",
            "10.0.0.1",
            "127.0.0.2:8080",
            "credwatch.example.com.attacker.example",
        ] {
            assert!(!hosts.allows(bad), "{bad}");
        }
        let everywhere = AllowedHosts::new("0.0.0.0:8080".parse().unwrap(), &public, &[]);
        assert!(everywhere.allows("192.0.2.7:8080") && everywhere.allows("[2001:db8::1]:8080"));
        assert!(!everywhere.allows("attacker.example"));
    }
}
