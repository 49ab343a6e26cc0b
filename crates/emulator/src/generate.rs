//! Realistic, deterministic tenant data for demos, benchmarks and tests.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Months, Timelike, Utc};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

use super::model::{AppSignIn, Application, CredentialSignIn, KeyCredential, PasswordCredential};

const SYSTEMS: &[&str] = &[
    "payroll",
    "billing",
    "inventory",
    "crm",
    "hr",
    "reporting",
    "analytics",
    "identity",
    "ledger",
    "shipping",
    "orders",
    "search",
    "notifications",
    "backup",
    "monitoring",
    "datalake",
    "warehouse",
    "pricing",
    "claims",
    "onboarding",
];
const COMPONENTS: &[&str] = &[
    "api",
    "web",
    "worker",
    "sync",
    "etl",
    "gateway",
    "frontend",
    "backend",
    "batch",
    "connector",
    "scheduler",
    "exporter",
];
const ENVS: &[&str] = &["prod", "test", "dev", "staging", "uat", "qa"];
const COMPANIES: &[&str] = &["Contoso", "Fabrikam", "Northwind", "Adventure Works", "Tailspin", "Woodgrove"];
const AREAS: &[&str] = &[
    "HR",
    "Finance",
    "Sales",
    "Marketing",
    "Logistics",
    "Legal",
    "Procurement",
    "Customer Support",
    "IT Operations",
    "Facilities",
];
const KINDS: &[&str] = &[
    "Portal",
    "Service",
    "Dashboard",
    "Connector",
    "Automation",
    "Integration",
    "Reporting",
    "Mobile App",
];
const SECRET_NAMES: &[&str] = &[
    "prod-deploy",
    "GitHub Actions",
    "Terraform",
    "Azure DevOps pipeline",
    "client secret",
    "CI/CD",
    "backup key",
    "jenkins",
    "key vault sync",
    "temp - remove after migration",
    "local dev",
];
const HINT_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789~_.-";

/// Owners derived from the name alone (no draw from the generator, so the rest of the data does
/// not change): most apps have one or two owners, about one in eight has none.
fn generated_owners(name: &str) -> Vec<super::model::DirectoryObject> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut h);
    let v = h.finish();
    let people = [
        "Alex Wilber",
        "Megan Bowen",
        "Lee Gu",
        "Nestor Wilke",
        "Patti Fernandez",
        "Diego Siciliani",
        "Isaiah Langer",
    ];
    let count = match v % 8 {
        0 => 0,
        1..=5 => 1,
        _ => 2,
    };
    (0..count)
        .map(|k| {
            let p = people[((v >> 8) as usize + k) % people.len()];
            let mail = format!("{}@contoso.com", p.to_lowercase().replace(' ', "."));
            let id = format!("{:08x}-0000-4000-8000-{:012x}", (v >> 32) as u32, k as u64 + (v & 0xffff_ffff));
            super::model::DirectoryObject::user(&id, p, Some(&mail))
        })
        .collect()
}

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

fn guid(rng: &mut StdRng) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}

fn display_name(rng: &mut StdRng) -> String {
    let name = match rng.random_range(0..5) {
        0 | 1 => format!("{}-{}-{}", pick(rng, SYSTEMS), pick(rng, COMPONENTS), pick(rng, ENVS)),
        2 => format!("{} {} {}", pick(rng, COMPANIES), pick(rng, AREAS), pick(rng, KINDS)),
        3 => {
            let env = pick(rng, &["Prod", "Test", "Dev", "Staging", "UAT", "QA"]);
            format!(
                "{} {} {} ({env})",
                pick(rng, AREAS),
                capitalize(pick(rng, SYSTEMS)),
                pick(rng, KINDS)
            )
        }
        _ => format!("sp-{}-{}-{:02}", pick(rng, SYSTEMS), pick(rng, ENVS), rng.random_range(1..20)),
    };
    // Keep within the 10–60 characters real registrations tend to have.
    let mut name = if name.chars().count() < 10 {
        format!("{name} service")
    } else {
        name
    };
    if name.chars().count() > 60 {
        name = name.chars().take(60).collect::<String>().trim_end().to_string();
    }
    name
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Graph mixes 0, 3 and 7 fractional digits (graph-facts §8.1).
fn format_date(dt: DateTime<Utc>, digits: u8) -> String {
    let base = dt.format("%Y-%m-%dT%H:%M:%S");
    match digits {
        0 => format!("{base}Z"),
        3 => format!("{base}.{:03}Z", dt.timestamp_subsec_millis()),
        _ => format!("{base}.{:07}Z", dt.timestamp_subsec_nanos() / 100),
    }
}

/// Where a credential's end date falls relative to `now`.
#[derive(Clone, Copy)]
enum Bucket {
    Expired,
    Critical,
    Warning,
    Ok,
    Never2299,
    Never9999,
}

fn bucket(rng: &mut StdRng, index: usize) -> Bucket {
    // The first credentials cover every status, so even a tiny data set shows them all;
    // two fixed positions guarantee the "never expires" years in larger sets.
    match index {
        0 => return Bucket::Expired,
        1 => return Bucket::Critical,
        2 => return Bucket::Warning,
        3 => return Bucket::Ok,
        20 => return Bucket::Never2299,
        45 => return Bucket::Never9999,
        _ => {}
    }
    match rng.random_range(0..1000) {
        0..120 => Bucket::Expired,
        120..200 => Bucket::Critical,
        200..320 => Bucket::Warning,
        320..990 => Bucket::Ok,
        990..995 => Bucket::Never2299,
        _ => Bucket::Never9999,
    }
}

/// (start, end) of a credential as Graph would render them.
fn validity(rng: &mut StdRng, now: DateTime<Utc>, index: usize) -> (String, String) {
    const DAY: i64 = 86_400;
    let digits = match rng.random_range(0..100) {
        0..35 => 0,
        35..60 => 3,
        _ => 7,
    };
    let offset_secs = match bucket(rng, index) {
        Bucket::Expired => -rng.random_range(60..90 * DAY),
        Bucket::Critical => rng.random_range(60..7 * DAY),
        Bucket::Warning => rng.random_range(7 * DAY..30 * DAY),
        Bucket::Ok => rng.random_range(30 * DAY..730 * DAY),
        forever @ (Bucket::Never2299 | Bucket::Never9999) => {
            let start = now - Duration::seconds(rng.random_range(DAY..2000 * DAY));
            let end = match forever {
                Bucket::Never2299 => "2299-12-31T00:00:00Z",
                _ => "9999-12-31T00:00:00Z",
            };
            return (format_date(start, digits), end.to_string());
        }
    };
    let nanos = rng.random_range(0..10_000_000u32) * 100;
    let mut end = now + Duration::seconds(offset_secs);
    end = end.with_nanosecond(nanos).unwrap_or(end);
    if digits == 0 && rng.random_bool(0.5) {
        // Dates typed into a form land on midnight, like "2026-03-05T00:00:00Z".
        end = end.date_naive().and_hms_opt(0, 0, 0).map(|d| d.and_utc()).unwrap_or(end);
    }
    // Portal-made credentials start when created, so never in the future: of the usual
    // 6/12/24-month lifetimes, pick one that puts the start before `now`.
    let lifetimes: Vec<u32> = [6, 12, 24]
        .into_iter()
        .filter(|m| end.checked_sub_months(Months::new(*m)).is_some_and(|s| s <= now))
        .collect();
    let months = if lifetimes.is_empty() {
        24
    } else {
        lifetimes[rng.random_range(0..lifetimes.len())]
    };
    let start = end.checked_sub_months(Months::new(months)).unwrap_or(end);
    (format_date(start, digits), format_date(end, digits))
}

/// `count` applications with about two credentials each (0–5, ~70% secrets), whose end dates
/// cover every status relative to `now`. The same `seed` and `now` always give the same data.
pub fn generate_applications(seed: u64, count: usize, now: DateTime<Utc>) -> Vec<Application> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut credential_index = 0;
    (0..count)
        .map(|_| {
            let id = guid(&mut rng);
            let app_id = guid(&mut rng);
            let name = display_name(&mut rng);
            let created = now - Duration::seconds(rng.random_range(30 * 86_400..2000 * 86_400));
            let tags = match rng.random_range(0..10) {
                0 => vec!["WindowsAzureActiveDirectoryIntegratedApp".to_string()],
                1 => vec!["HideApp".to_string(), format!("team:{}", pick(&mut rng, AREAS).to_lowercase())],
                _ => Vec::new(),
            };
            let notes = rng.random_bool(0.15).then(|| {
                format!(
                    "Owner: {} team. Rotate via {}.",
                    pick(&mut rng, AREAS),
                    pick(&mut rng, SECRET_NAMES)
                )
            });
            let sign_in_audience = match rng.random_range(0..20) {
                0..17 => "AzureADMyOrg",
                17..19 => "AzureADMultipleOrgs",
                _ => "AzureADandPersonalMicrosoftAccount",
            };
            // Weights 10/25/30/20/10/5 % for 0..=5 credentials: a mean of 2.1.
            let credentials = match rng.random_range(0..100) {
                0..10 => 0,
                10..35 => 1,
                35..65 => 2,
                65..85 => 3,
                85..95 => 4,
                _ => 5,
            };
            let mut app = Application {
                id,
                app_id,
                display_name: Some(name.clone()),
                created_date_time: Some(format_date(created.with_nanosecond(0).unwrap_or(created), 0)),
                notes,
                tags,
                sign_in_audience: Some(sign_in_audience.to_string()),
                password_credentials: Vec::new(),
                key_credentials: Vec::new(),
                owners: generated_owners(&name),
            };
            for _ in 0..credentials {
                let (start, end) = validity(&mut rng, now, credential_index);
                credential_index += 1;
                let key_id = guid(&mut rng);
                if rng.random_bool(0.7) {
                    app.password_credentials.push(secret(&mut rng, key_id, start, end));
                } else {
                    let mut thumbprint = [0u8; 20];
                    rng.fill_bytes(&mut thumbprint);
                    let subject = if rng.random_bool(0.5) {
                        name.to_lowercase().replace([' ', '(', ')'], "-")
                    } else {
                        format!("{}.contoso.com", pick(&mut rng, SYSTEMS))
                    };
                    app.key_credentials.push(KeyCredential {
                        key_id,
                        display_name: Some(format!("CN={subject}")),
                        start_date_time: Some(start),
                        end_date_time: Some(end),
                        custom_key_identifier: Some(STANDARD.encode(thumbprint)),
                        r#type: "AsymmetricX509Cert".to_string(),
                        usage: "Verify".to_string(),
                    });
                }
            }
            app
        })
        .collect()
}

fn secret(rng: &mut StdRng, key_id: String, start: String, end: String) -> PasswordCredential {
    if rng.random_bool(0.05) {
        // Legacy (old portal / AAD Graph) secrets: no name or hint; the description sits in
        // customKeyIdentifier as UTF-16LE (graph-facts §8.3).
        let label = format!("{}_{}", pick(rng, SYSTEMS), pick(rng, COMPONENTS));
        let utf16: Vec<u8> = label.encode_utf16().flat_map(u16::to_le_bytes).collect();
        return PasswordCredential {
            key_id,
            display_name: None,
            hint: None,
            start_date_time: Some(start),
            end_date_time: Some(end),
            custom_key_identifier: Some(STANDARD.encode(utf16)),
        };
    }
    let hint: String = (0..3).map(|_| HINT_CHARS[rng.random_range(0..HINT_CHARS.len())] as char).collect();
    let display_name = if rng.random_bool(0.9) {
        let name = pick(rng, SECRET_NAMES);
        Some(if rng.random_bool(0.2) {
            format!("{name} {}", rng.random_range(1..10))
        } else {
            name.to_string()
        })
    } else {
        None
    };
    PasswordCredential {
        key_id,
        display_name,
        hint: Some(hint),
        start_date_time: Some(start),
        end_date_time: Some(end),
        custom_key_identifier: None,
    }
}

/// Applications whose names are attacker-chosen text, for checking that every output treats
/// Graph data as data (HTML, CSV, e-mail headers, ICS, JSON, metrics labels).
pub fn hostile_applications() -> Vec<Application> {
    let names: [Option<&str>; 10] = [
        Some("<script>alert(1)</script>"),
        Some("=HYPERLINK(\"http://evil\",\"x\")"),
        Some("a\r\nBcc: victim@example.com"),
        Some("Evil;Name,With\\Backslash"),
        Some("BEGIN:VEVENT"),
        Some("\"quoted\" & 'apos'"),
        Some("} {{ }}"),
        Some("Zahlungsdienst – Prüfung 🚀"),
        None,
        Some("line1\nline2\tEND:VCALENDAR"),
    ];
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let n = i + 1;
            Application {
                id: format!("00000000-0000-4000-8000-{n:012}"),
                app_id: format!("11111111-0000-4000-8000-{n:012}"),
                display_name: name.map(str::to_string),
                created_date_time: Some("2024-09-11T21:21:25Z".to_string()),
                notes: name.map(|n| format!("notes: {n}")),
                tags: name.map(|n| vec![n.to_string()]).unwrap_or_default(),
                sign_in_audience: Some("AzureADMyOrg".to_string()),
                // Owners are a relationship, not a property: a listing without `$expand` has none.
                owners: Vec::new(),
                password_credentials: vec![PasswordCredential {
                    key_id: format!("22222222-0000-4000-8000-{n:012}"),
                    display_name: name.map(str::to_string),
                    hint: Some("<b>".to_string()),
                    start_date_time: Some("2025-01-01T00:00:00Z".to_string()),
                    end_date_time: Some(format!("2026-{:02}-15T12:00:00.052Z", (i % 12) + 1)),
                    custom_key_identifier: None,
                }],
                key_credentials: vec![KeyCredential {
                    key_id: format!("33333333-0000-4000-8000-{n:012}"),
                    display_name: name.map(|n| format!("CN={n}")),
                    start_date_time: Some("2024-06-01T00:00:00.3086381Z".to_string()),
                    end_date_time: Some("2027-06-01T00:00:00.3086381Z".to_string()),
                    custom_key_identifier: Some("2iD8ppbE+D6Kmu1ZvjM2jtQh88E=".to_string()),
                    r#type: "AsymmetricX509Cert".to_string(),
                    usage: "Verify".to_string(),
                }],
            }
        })
        .collect()
}

/// The sign-in activity reports of `apps` as a tenant would show them: about 60% of credentials
/// used (most within the last month, some long ago), the rest never (no row), and one
/// application row per application with a used credential. Deterministic for a `seed` and `now`.
pub fn generate_sign_ins(seed: u64, apps: &[Application], now: DateTime<Utc>) -> (Vec<CredentialSignIn>, Vec<AppSignIn>) {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5167_6e49);
    let mut credentials = Vec::new();
    let mut applications = Vec::new();
    for app in apps {
        let mut latest: Option<DateTime<Utc>> = None;
        let keys = app
            .password_credentials
            .iter()
            .map(|c| (&c.key_id, "clientSecret", &c.end_date_time))
            .chain(app.key_credentials.iter().map(|c| (&c.key_id, "certificate", &c.end_date_time)));
        for (key_id, key_type, end) in keys {
            if !rng.random_bool(0.6) {
                continue;
            }
            let ago = if rng.random_bool(0.75) {
                rng.random_range(60..30 * 86_400)
            } else {
                rng.random_range(30 * 86_400..400 * 86_400)
            };
            // An expired credential signs in no more: its last use is before its end, and (so
            // that incidents are the demo's own) not in the week before it.
            let ended = end
                .as_deref()
                .and_then(|e| DateTime::parse_from_rfc3339(e).ok())
                .map(|e| e.to_utc())
                .filter(|e| *e <= now);
            let at = match ended {
                Some(e) => e - Duration::seconds(rng.random_range(8 * 86_400..400 * 86_400)),
                None => now - Duration::seconds(ago),
            };
            latest = latest.max(Some(at));
            credentials.push(CredentialSignIn {
                key_id: key_id.clone(),
                key_type: key_type.to_string(),
                key_usage: Some("verify".into()),
                app_id: app.app_id.clone(),
                app_object_id: Some(app.id.clone()),
                service_principal_object_id: None,
                resource_id: Some("00000003-0000-0000-c000-000000000000".into()),
                credential_origin: "application".into(),
                created_date_time: None,
                expiration_date_time: end.clone(),
                last_sign_in_date_time: Some(format_date(at, 0)),
                doc_example_shape: false,
            });
        }
        if let Some(at) = latest {
            let at = format_date(at, 0);
            applications.push(AppSignIn {
                app_id: app.app_id.clone(),
                last_sign_in: Some(at.clone()),
                client_sign_in: Some(at),
                delegated_client_sign_in: None,
            });
        }
    }
    (credentials, applications)
}
