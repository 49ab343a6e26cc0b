//! The crypto provider of every TLS connection credwatch makes (Graph, the token endpoint,
//! webhooks, SMTP): rustls with *ring*. A leaf module: anything that builds a client may call it.
//!
//! reqwest 0.13 ships rustls either with aws-lc-rs (a minute of C compile on a small machine, for
//! no gain here) or with no provider at all, taking the process default and panicking when none is
//! installed. So the process installs ring's once, before its first client: every constructor of
//! an HTTP client in credwatch calls [`install`], and so must any program (a test) that builds a
//! reqwest client of its own before calling into credwatch. lettre picks ring by its feature.

/// Makes ring the process's rustls provider, unless one is installed already. Cheap and
/// idempotent.
pub fn install() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err only when another thread installed one in between: that one serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_client_builds_once_the_provider_is_installed() {
        super::install();
        super::install();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
        reqwest::Client::builder().build().expect("a client with ring");
    }
}
