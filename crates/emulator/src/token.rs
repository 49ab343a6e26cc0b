//! `POST /{tenant}/oauth2/v2.0/token`: the client-credentials grant (graph-facts §1).

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rand::RngCore;
use serde_json::{Value, json};
use sha1::Digest;

use super::errors::AadError;
use super::{AuthMethod, ClientAuth, IssuedToken, LogExtra, Shared};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Entra ID tolerates this much clock skew on assertion `nbf`/`exp`.
const SKEW_SECS: i64 = 300;

/// What the emulator needs from a registered certificate.
#[derive(Debug, Clone)]
pub(crate) struct CertInfo {
    /// base64url SHA-1 of the DER, as sent in `x5t`.
    sha1: String,
    /// base64url SHA-256 of the DER, as sent in `x5t#S256`.
    sha256: String,
    /// PKCS#1 RSAPublicKey DER, the form `DecodingKey::from_rsa_der` expects.
    public_key_der: Vec<u8>,
    /// The RSA modulus and exponent, big-endian without leading zeros, for a JWKS.
    rsa: Option<(Vec<u8>, Vec<u8>)>,
}

impl CertInfo {
    /// Takes the first CERTIFICATE block of the PEM; other blocks (the private key) are skipped.
    pub(crate) fn from_pem(pem: &str) -> Option<CertInfo> {
        for block in x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes()) {
            let Ok(block) = block else { return None };
            if block.label != "CERTIFICATE" {
                continue;
            }
            let (_, cert) = x509_parser::parse_x509_certificate(&block.contents).ok()?;
            let public_key_der = cert.tbs_certificate.subject_pki.subject_public_key.data.to_vec();
            let rsa = match cert.tbs_certificate.subject_pki.parsed() {
                Ok(x509_parser::public_key::PublicKey::RSA(key)) => {
                    let strip = |b: &[u8]| b.iter().skip_while(|&&x| x == 0).copied().collect::<Vec<u8>>();
                    Some((strip(key.modulus), strip(key.exponent)))
                }
                _ => None,
            };
            return Some(CertInfo {
                rsa,
                sha1: URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&block.contents)),
                sha256: URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&block.contents)),
                public_key_der,
            });
        }
        None
    }

    /// The RSA modulus and exponent, when the key is RSA.
    pub(crate) fn rsa_components(&self) -> Option<(&[u8], &[u8])> {
        self.rsa.as_ref().map(|(n, e)| (n.as_slice(), e.as_slice()))
    }

    /// The base64url SHA-1 thumbprint (`x5t`), which Entra also uses as the key's `kid`.
    pub(crate) fn thumbprint(&self) -> &str {
        &self.sha1
    }
}

/// The token endpoint. The form is parsed by hand so that malformed bodies still get
/// AADSTS-shaped answers rather than actix's plain-text extractor errors.
pub(crate) async fn token(req: HttpRequest, tenant: web::Path<String>, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let tenant = tenant.into_inner();
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let mut extra = LogExtra {
        tenant_id: Some(tenant.clone()),
        ..LogExtra::default()
    };
    let mut response = match issue(&req, &tenant, &form, &shared, &mut extra) {
        Ok(body) => HttpResponse::Ok().insert_header(("Cache-Control", "no-store, no-cache")).json(body),
        Err(err) => err.response(),
    };
    response.extensions_mut().insert(extra);
    response
}

pub(crate) fn missing(param: &str) -> AadError {
    AadError::new(
        400,
        "invalid_request",
        900144,
        format!("The request body must contain the following parameter: '{param}'."),
    )
}

/// `Authorization: Basic base64(urlencode(id):urlencode(secret))` per RFC 6749 §2.3.1.
/// `Ok(None)` when there is no Basic header.
fn basic_credentials(req: &HttpRequest) -> Result<Option<(String, String)>, AadError> {
    let Some(header) = req.headers().get("authorization") else {
        return Ok(None);
    };
    let bad = || {
        AadError::new(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. The HTTP Basic authorization header could not be decoded.",
        )
    };
    let header = header.to_str().map_err(|_| bad())?;
    let Some((scheme, encoded)) = header.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    Ok(Some((form_decode(id), form_decode(secret))))
}

fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("v={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Runs Entra ID's checks in its order (tenant, request shape, client, credential) and
/// issues a token.
fn issue(
    req: &HttpRequest,
    tenant: &str,
    form: &HashMap<String, String>,
    shared: &Shared,
    extra: &mut LogExtra,
) -> Result<Value, AadError> {
    if !shared.lock().tenants.contains_key(tenant) {
        return Err(AadError::new(
            400,
            "invalid_request",
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
            ),
        ));
    }
    let code_grant = match form.get("grant_type").map(String::as_str) {
        None | Some("") => return Err(missing("grant_type")),
        Some("client_credentials") => false,
        Some("authorization_code") => true,
        Some(other) => {
            return Err(AadError::new(
                400,
                "unsupported_grant_type",
                70003,
                format!("The app requested an unsupported grant type '{other}'."),
            ));
        }
    };
    let basic = basic_credentials(req)?;
    let client_id = match (&basic, form.get("client_id")) {
        (Some((id, _)), _) => id.clone(),
        (None, Some(id)) if !id.is_empty() => id.clone(),
        _ => return Err(missing("client_id")),
    };
    extra.client_id = Some(client_id.clone());
    let scope = match form.get("scope").filter(|s| !s.is_empty()) {
        Some(scope) => scope.as_str(),
        None if code_grant => "",
        None => return Err(missing("scope")),
    };
    if !code_grant && !scope.split_whitespace().all(|s| s.ends_with("/.default")) {
        return Err(AadError::new(
            400,
            "invalid_scope",
            70011,
            format!("The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."),
        ));
    }
    let client = shared.lock().tenants.get(tenant).and_then(|t| t.clients.get(&client_id).cloned());
    let Some(client) = client else {
        return Err(AadError::new(
            400,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        ));
    };

    let (secret, secret_method) = match (&basic, form.get("client_secret")) {
        (_, Some(s)) => (Some(s.clone()), AuthMethod::Secret),
        (Some((_, s)), None) => (Some(s.clone()), AuthMethod::Basic),
        (None, None) => (None, AuthMethod::Secret),
    };
    if let Some(secret) = secret {
        extra.auth_method = Some(secret_method);
        match &client.auth {
            ClientAuth::Secret { value, expired } if *value == secret => {
                if *expired {
                    return Err(AadError::new(
                        401,
                        "invalid_client",
                        7000222,
                        format!(
                            "The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds."
                        ),
                    ));
                }
            }
            _ => {
                return Err(AadError::new(
                    401,
                    "invalid_client",
                    7000215,
                    format!(
                        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
                    ),
                ));
            }
        }
    } else if let Some(assertion) = form.get("client_assertion").filter(|a| !a.is_empty()) {
        match form.get("client_assertion_type").map(String::as_str) {
            Some(JWT_BEARER) => {}
            None | Some("") => return Err(missing("client_assertion_type")),
            Some(other) => {
                return Err(AadError::new(
                    400,
                    "invalid_request",
                    90014,
                    format!("The request body contains an unsupported client_assertion_type '{other}'; expected '{JWT_BEARER}'."),
                ));
            }
        }
        let expected_aud = format!("{}/{tenant}/oauth2/v2.0/token", shared.lock().base_url);
        extra.auth_method = Some(match &client.auth {
            ClientAuth::Federated { assertion: registered } => {
                check_federated(assertion, registered)?;
                AuthMethod::Federated
            }
            // A secret-only app has no key to check against, which Entra reports as an
            // unknown thumbprint.
            _ => verify_assertion(assertion, client.cert.as_ref(), &client_id, &expected_aud, extra)?,
        });
    } else {
        return Err(AadError::new(
            401,
            "invalid_client",
            7000216,
            "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
        ));
    }

    if code_grant {
        return super::authority::redeem(tenant, &client_id, form, shared);
    }
    if let Some(token) = super::authority::api_token(tenant, &client_id, scope, shared) {
        return Ok(token);
    }
    let mut state = shared.lock();
    let lifetime = state.token_lifetime;
    let (access_token, id) = mint_access_token(tenant, &client_id, lifetime);
    state.tokens.insert(
        access_token.clone(),
        IssuedToken {
            id: id.clone(),
            tenant_id: tenant.to_string(),
            client_id: client_id.clone(),
            expires_at: Utc::now() + chrono::Duration::seconds(lifetime),
            revoked: false,
        },
    );
    state.token_issues += 1;
    extra.token_id = Some(id);
    Ok(json!({
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access_token,
    }))
}

fn check_federated(assertion: &str, registered: &str) -> Result<(), AadError> {
    if assertion == registered {
        return Ok(());
    }
    let claims =
        jsonwebtoken::dangerous::insecure_decode_claims::<Value>(assertion).map_err(|_| malformed("The client assertion is not a JWT."))?;
    let subject = claims.get("sub").and_then(Value::as_str).unwrap_or_default();
    Err(AadError::new(
        401,
        "invalid_client",
        700213,
        format!(
            "No matching federated identity record found for presented assertion subject '{subject}'. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
        ),
    ))
}

fn malformed(reason: &str) -> AadError {
    AadError::new(
        401,
        "invalid_client",
        50027,
        format!("JWT token is invalid or malformed. [Reason - {reason}]"),
    )
}

fn signature_failure(reason: &str) -> AadError {
    AadError::new(
        401,
        "invalid_client",
        700027,
        format!("Client assertion failed signature validation. [Reason - {reason}]"),
    )
}

fn thumbprint_hex(b64url: &str) -> String {
    URL_SAFE_NO_PAD
        .decode(b64url.trim_end_matches('='))
        .map(|bytes| bytes.iter().map(|b| format!("{b:02X}")).collect())
        .unwrap_or_else(|_| b64url.to_string())
}

/// Validates a certificate assertion as Entra ID does: a registered thumbprint, a good
/// signature, then the claims. Accepts RS256 and PS256 with either `x5t` or `x5t#S256`, because
/// clients in the field send both (graph-facts §1.2).
fn verify_assertion(
    jwt: &str,
    cert: Option<&CertInfo>,
    client_id: &str,
    expected_aud: &str,
    extra: &mut LogExtra,
) -> Result<AuthMethod, AadError> {
    let header = jsonwebtoken::decode_header(jwt).map_err(|_| malformed("The client assertion could not be parsed."))?;
    let method = match header.alg {
        Algorithm::RS256 => AuthMethod::AssertionRs256,
        Algorithm::PS256 => AuthMethod::AssertionPs256,
        other => {
            return Err(signature_failure(&format!("The signing algorithm '{other:?}' is not supported.")));
        }
    };
    // Record the attempted method even if validation fails below.
    extra.auth_method = Some(method);
    let presented = match (&header.x5t_s256, &header.x5t) {
        (Some(s256), _) => Some((s256.as_str(), cert.map(|c| c.sha256.as_str()))),
        (None, Some(sha1)) => Some((sha1.as_str(), cert.map(|c| c.sha1.as_str()))),
        (None, None) => None,
    };
    let Some((thumbprint, registered)) = presented else {
        return Err(signature_failure(
            "The client assertion header carries neither 'x5t' nor 'x5t#S256'.",
        ));
    };
    let cert = match cert {
        Some(cert) if registered == Some(thumbprint.trim_end_matches('=')) => cert,
        _ => {
            return Err(AadError::new(
                401,
                "invalid_client",
                700027,
                format!(
                    "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{client_id}'. Review the documentation at https://docs.microsoft.com/en-us/graph/deployments if you are not using a global endpoint.]",
                    thumbprint_hex(thumbprint)
                ),
            ));
        }
    };

    let mut validation = Validation::new(header.alg);
    // Claims are checked below so each failure gets Entra's own code.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let key = DecodingKey::from_rsa_der(&cert.public_key_der);
    let claims = match jsonwebtoken::decode::<Value>(jwt, &key, &validation) {
        Ok(data) => data.claims,
        Err(err) => {
            return Err(match err.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                    signature_failure("The signature does not verify with the registered certificate.")
                }
                _ => malformed("The client assertion could not be decoded."),
            });
        }
    };

    let aud_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == expected_aud,
        Some(Value::Array(auds)) => auds.len() == 1 && auds[0].as_str() == Some(expected_aud),
        _ => false,
    };
    if !aud_ok {
        return Err(AadError::new(
            401,
            "invalid_client",
            700027,
            format!("Client assertion audience claim does not match Realm issuer. Expected '{expected_aud}'."),
        ));
    }
    let iss = claims.get("iss").and_then(Value::as_str);
    let sub = claims.get("sub").and_then(Value::as_str);
    if iss != Some(client_id) || sub != Some(client_id) {
        return Err(AadError::new(
            401,
            "invalid_client",
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials .",
        ));
    }
    if claims.get("jti").and_then(Value::as_str).is_none_or(str::is_empty) {
        return Err(malformed("The 'jti' claim is missing."));
    }
    let Some(exp) = claims.get("exp").and_then(Value::as_i64) else {
        return Err(malformed("The 'exp' claim is missing or not a number."));
    };
    let nbf = claims.get("nbf").and_then(Value::as_i64);
    let now = Utc::now().timestamp();
    if exp <= now - SKEW_SECS || nbf.is_some_and(|nbf| nbf > now + SKEW_SECS) {
        let fmt = |t: i64| {
            chrono::DateTime::from_timestamp(t, 0)
                .map(|d| d.format("%m/%d/%Y %H:%M:%S").to_string())
                .unwrap_or_else(|| t.to_string())
        };
        return Err(AadError::new(
            401,
            "invalid_client",
            700024,
            format!(
                "Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}.",
                fmt(now),
                nbf.map(fmt).unwrap_or_default(),
                fmt(exp)
            ),
        ));
    }
    Ok(method)
}

/// A JWT-shaped token: clients that peek at `exp`/`tid` find plausible claims, but the
/// emulator only ever looks it up by value, so the signature part is random bytes.
fn mint_access_token(tenant: &str, client_id: &str, lifetime: i64) -> (String, String) {
    let mut rng = rand::rng();
    let mut id_bytes = [0u8; 16];
    rng.fill_bytes(&mut id_bytes);
    let id = URL_SAFE_NO_PAD.encode(id_bytes);
    let mut sig = [0u8; 32];
    rng.fill_bytes(&mut sig);
    let now = Utc::now().timestamp();
    let header = json!({"typ": "JWT", "alg": "RS256", "kid": "credwatch-emulator"});
    let claims = json!({
        "aud": "https://graph.microsoft.com",
        "iss": format!("https://sts.windows.net/{tenant}/"),
        "iat": now, "nbf": now, "exp": now + lifetime,
        "appid": client_id, "tid": tenant, "roles": ["Application.Read.All"], "uti": id,
    });
    let token = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(sig)
    );
    (token, id)
}
