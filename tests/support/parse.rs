//! What credwatch answers, read with real parsers: HTML with `scraper`, the Prometheus text
//! format with `prom_text_format_parser`, CSV with `csv`.

use scraper::{ElementRef, Html, Selector};

/// An HTML page: the markup as sent (for checks that must see the escaping) and its DOM.
pub struct Page {
    pub raw: String,
    doc: Html,
}

fn selector(css: &str) -> Selector {
    Selector::parse(css).unwrap_or_else(|e| panic!("bad selector {css:?}: {e}"))
}

/// Text with runs of white space folded to one space, as a reader sees it.
pub fn folded(text: impl Iterator<Item = impl AsRef<str>>) -> String {
    let joined: String = text.map(|t| t.as_ref().to_string()).collect();
    joined.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Page {
    pub fn parse(raw: &str) -> Page {
        Page {
            raw: raw.to_string(),
            doc: Html::parse_document(raw),
        }
    }

    pub fn select(&self, css: &str) -> Vec<ElementRef<'_>> {
        self.doc.select(&selector(css)).collect()
    }

    /// The one element matching `css`.
    pub fn one(&self, css: &str) -> ElementRef<'_> {
        let found = self.select(css);
        assert_eq!(found.len(), 1, "{css} matches {} elements", found.len());
        found[0]
    }

    pub fn count(&self, css: &str) -> usize {
        self.select(css).len()
    }

    /// The text of every element matching `css`, white space folded.
    pub fn texts(&self, css: &str) -> Vec<String> {
        self.select(css).iter().map(|e| text(e)).collect()
    }

    /// The whole page's text, white space folded.
    pub fn text(&self) -> String {
        folded(self.doc.root_element().text())
    }

    /// Attribute `name` of the first element matching `css`.
    pub fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.select(css).first().and_then(|e| e.value().attr(name)).map(str::to_string)
    }
}

/// An element's text, white space folded.
pub fn text(e: &ElementRef<'_>) -> String {
    folded(e.text())
}

/// Elements under `e` matching `css`.
pub fn within<'a>(e: &ElementRef<'a>, css: &str) -> Vec<ElementRef<'a>> {
    e.select(&selector(css)).collect()
}

/// One Prometheus sample: the series name, its labels in order (values unescaped), the value.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> &str {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("{} has no label {name}", self.name))
    }
}

/// A `/metrics` answer, parsed strictly: a line that is not a valid comment or sample fails.
pub struct Metrics {
    scrape: prom_text_format_parser::Scrape,
}

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        assert!(text.ends_with('\n'), "the exposition ends with a line break");
        let scrape =
            prom_text_format_parser::Scrape::parse(text).unwrap_or_else(|e| panic!("/metrics is not valid Prometheus text: {e:?}"));
        Metrics { scrape }
    }

    /// The declared type (`counter`, `gauge`, …) of `name`.
    pub fn kind(&self, name: &str) -> String {
        self.family(name).kind.to_string()
    }

    pub fn help(&self, name: &str) -> Option<String> {
        self.family(name).help_desc.clone()
    }

    fn family(&self, name: &str) -> &prom_text_format_parser::Metric {
        self.scrape
            .metrics
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no metric {name}"))
    }

    /// Every sample of `name`.
    pub fn samples(&self, name: &str) -> Vec<Sample> {
        self.scrape
            .metrics
            .iter()
            .filter(|m| m.name == name)
            .flat_map(|m| m.samples.iter())
            .map(|s| Sample {
                name: name.to_string(),
                labels: s.labels.iter().map(|l| (l.key.clone(), unescape_label(&l.value))).collect(),
                value: s.value.value.as_f64(),
            })
            .collect()
    }

    /// The value of the one sample of `name` whose labels include `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<Sample> = self
            .samples(name)
            .into_iter()
            .filter(|s| labels.iter().all(|(k, v)| s.label(k) == *v))
            .collect();
        assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
        found[0].value
    }
}

/// The parser checks label escapes but leaves them in; the text format has three.
fn unescape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some(escaped) => out.push(escaped),
            None => panic!("a label value ends in a lone backslash: {value:?}"),
        }
    }
    out
}

/// A CSV document's rows (the header first), read as RFC 4180.
pub fn csv_rows(text: &str) -> Vec<Vec<String>> {
    assert!(text.ends_with('\n'), "the CSV ends with a line break");
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.expect("a valid CSV record").iter().map(str::to_string).collect())
        .collect()
}
