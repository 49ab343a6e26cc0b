//! Host names as requests name them (the `Host` header) and as `server.allowed_hosts` lists
//! them, reduced to one comparable form.

use std::net::IpAddr;

/// `Host`-header syntax (`name`, `name:port`, `1.2.3.4:80`, `[::1]:8080`) to a comparable name:
/// lower case, no port, no trailing dot, an address in its canonical form. `None` when it is not
/// a host at all.
pub fn normalise_host(host: &str) -> Option<String> {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
        return port_ok
            .then(|| inside.parse::<std::net::Ipv6Addr>().ok())
            .flatten()
            .map(|ip| IpAddr::V6(ip).to_canonical().to_string());
    }
    let bare = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        Some(_) => return None,
        None => host,
    };
    let bare = bare.strip_suffix('.').unwrap_or(bare);
    if bare.is_empty() {
        return None;
    }
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Some(ip.to_canonical().to_string());
    }
    match url::Host::parse(bare).ok()? {
        url::Host::Domain(d) => Some(d.to_ascii_lowercase()),
        url::Host::Ipv4(ip) => Some(ip.to_string()),
        url::Host::Ipv6(ip) => Some(ip.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::normalise_host as n;

    #[test]
    fn host_header_forms_normalise() {
        assert_eq!(n("Example.COM:8080").as_deref(), Some("example.com"));
        assert_eq!(n("example.com.").as_deref(), Some("example.com"));
        assert_eq!(n("[::1]:8080").as_deref(), Some("::1"));
        assert_eq!(n("[::ffff:127.0.0.1]").as_deref(), Some("127.0.0.1"));
        assert_eq!(n("127.0.0.1:80").as_deref(), Some("127.0.0.1"));
        assert_eq!(n("a b"), None);
        assert_eq!(n("host:port"), None);
        assert_eq!(n(""), None);
        assert_eq!(n("[::1"), None);
    }
}
