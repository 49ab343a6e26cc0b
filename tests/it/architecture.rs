//! The architecture test: reads every `src/**.rs` and fails when an import runs against the flow
//! `config → graph → sync → store → web`, `store → reminders → mail`, or when modules import each
//! other in a circle. Only std: it lexes Rust just well enough to find paths (comments, strings
//! and char literals skipped), so it cannot be fooled by a path named in a doc comment.
//!
//! Run with `cargo test --test it architecture -- --nocapture` to see every cross-module import
//! the checker found.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Layers, lowest first: a module may import only modules of a lower rank, or itself.
/// The last four are entry points, each allowed to use the ones before it.
const LAYERS: &[(&str, u32)] = &[
    ("domain", 0),
    ("certificate", 0),
    ("tls", 0),
    ("config", 1),
    ("graph", 2),
    ("store", 2),
    ("sync", 3),
    ("reminders", 3),
    ("web", 4),
    ("scheduler", 5),
    ("startup", 6),
    ("demo", 7),
    ("cli", 8),
];

/// Imports that the ranks would allow but the flow does not: the web side never calls Graph or
/// runs a sync, the notifier never reads Graph, web and reminders share only what lies below both,
/// and the store knows nothing of reminders.
const BANNED: &[(&str, &str, &str)] = &[
    ("web", "graph", "the web side never calls Graph"),
    ("web", "sync", "the web side reads the store; it never runs a sync"),
    ("reminders", "graph", "the notifier works from the store, never from Graph"),
    (
        "web",
        "reminders",
        "web and reminders are two branches from the store; what both need lives in domain",
    ),
    (
        "store",
        "reminders",
        "the store knows nothing of reminders; reminders read the store",
    ),
];

/// Modules that must stay pure, and the IO crates they may not use.
const PURE: &[&str] = &["domain"];
const IO_CRATES: &[&str] = &["lettre", "sqlx", "actix_web", "reqwest"];

#[test]
fn imports_follow_the_flow_and_form_no_cycle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    read_tree(&root, &root, &mut files);
    assert!(files.len() > 10, "found only {} files under {}", files.len(), root.display());
    let report = check(&files);
    println!("cross-module imports ({}):", report.cross.len());
    for (from, to) in &report.cross {
        println!("  {from} -> {to}");
    }
    assert!(
        report.violations.is_empty(),
        "{} import(s) against the architecture (see tests/it/architecture.rs for the layers):\n\n{}",
        report.violations.len(),
        report.violations.join("\n")
    );
}

/// The checker must demonstrably fail: a planted back-edge, a planted cycle between two files of
/// one module, a planted cycle through `super::`, a pure module using an IO crate, and a module in
/// no layer are each reported, with the file and line to fix; paths in comments and strings are not.
/// Every public async function of the modules that do IO (the store, Graph, mail and webhooks)
/// opens a tracing span, so each of its log lines and its time show up under the request or job
/// that called it.
#[test]
fn io_functions_carry_a_span() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    read_tree(&root, &root, &mut files);
    let mut missing = Vec::new();
    for file in files.iter().filter(|f| {
        matches!(f.module.first().map(String::as_str), Some("store" | "graph"))
            || f.path == "src/reminders/mail.rs"
            || f.path == "src/reminders/webhook.rs"
    }) {
        let lines: Vec<&str> = file.text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if !line.trim_start().starts_with("pub async fn") {
                continue;
            }
            let attributes = lines[..i].iter().rev().take_while(|l| {
                let l = l.trim_start();
                l.starts_with("#[") || l.starts_with("///") || l.starts_with(')') || l.starts_with("fields") || l.starts_with("skip")
            });
            if !attributes.into_iter().any(|l| l.contains("tracing::instrument")) {
                missing.push(format!("{}:{}: {}", file.path, i + 1, line.trim()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "IO functions without #[tracing::instrument]:\n{}",
        missing.join("\n")
    );
    assert!(files.len() > 20, "the sources were read");
}

#[test]
fn the_checker_reports_planted_back_edges_and_cycles() {
    let tree = [
        (
            "lib.rs",
            "pub mod config; pub mod domain; pub mod store; pub mod web; pub mod extra;",
        ),
        (
            "config.rs",
            "use crate::domain::Ladder;\n// use crate::web::Page; in a comment\nconst S: &str = \"crate::web::x\";\nfn f() -> crate::store::Store { todo!() }\n",
        ),
        ("domain.rs", "pub struct Ladder;\nfn g(m: lettre::Message) {}\n"),
        ("store/mod.rs", "pub mod a; pub mod b;\nuse self::a::A;\npub struct Store;"),
        (
            "store/a.rs",
            "use super::b::B;\npub struct A;\n#[cfg(test)]\nmod tests { use super::*; use crate::store::a::A; }",
        ),
        ("store/b.rs", "pub struct B;\nfn h() { let _ = super::a::A; }"),
        (
            "web/mod.rs",
            "mod page;\nuse page::Page;\nuse crate::{config::Config, store::{self, Store}};",
        ),
        ("web/page.rs", "pub struct Page; fn p(_: &super::super::store::Store) {}"),
        ("extra.rs", "use crate::web::Page;"),
    ];
    let files: Vec<SourceFile> = tree
        .iter()
        .map(|(path, text)| SourceFile {
            path: format!("src/{path}"),
            module: module_of(path),
            text: text.to_string(),
        })
        .collect();
    let report = check(&files);
    let all = report.violations.join("\n");
    let has = |needle: &str| report.violations.iter().any(|v| v.contains(needle));
    assert!(
        has("src/config.rs:4: fn f() -> crate::store::Store") && has("config (layer 1) may import only lower layers"),
        "back-edge config -> store not reported:\n{all}"
    );
    assert!(
        has("cycle among store::a, store::b\n"),
        "cycle store::a <-> store::b not reported:\n{all}"
    );
    assert!(has("src/store/a.rs:1: use super::b::B"), "cycle edge a -> b not shown:\n{all}");
    assert!(
        has("src/store/b.rs:2: fn h() { let _ = super::a::A; }"),
        "cycle edge b -> a not shown:\n{all}"
    );
    assert!(
        has("src/domain.rs:2: fn g(m: lettre::Message) {}"),
        "pure domain using lettre not reported:\n{all}"
    );
    assert!(
        has("src/extra.rs:1: use crate::web::Page;") && has("`extra` is in no layer"),
        "unlayered module not reported:\n{all}"
    );
    // web imports config and store, both lower; web::page reaches store through super::super.
    assert!(!has("src/web/"), "imports along the flow reported:\n{all}");
    assert!(
        !all.contains("comment") && !all.contains("crate::web::x"),
        "a path in a comment or string was taken for an import:\n{all}"
    );
    assert_eq!(report.violations.len(), 4, "exactly the planted violations:\n{all}");
    assert!(
        report.cross.contains(&("web::page".to_string(), "store".to_string())),
        "{:?}",
        report.cross
    );
}

/// One source file and the module it defines, e.g. `src/web/ics.rs` is `web::ics`.
struct SourceFile {
    path: String,
    module: Vec<String>,
    text: String,
}

fn read_tree(root: &Path, dir: &Path, out: &mut Vec<SourceFile>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            read_tree(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(root).expect("under root").to_string_lossy().replace('\\', "/");
            // The binary reaches the library through `credwatch::`, like any other user of it.
            if rel == "main.rs" {
                continue;
            }
            out.push(SourceFile {
                path: format!("src/{rel}"),
                module: module_of(&rel),
                text: std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display())),
            });
        }
    }
}

/// `web/ics.rs` → `[web, ics]`, `web/mod.rs` → `[web]`, `lib.rs` → `[]`.
fn module_of(rel: &str) -> Vec<String> {
    let rel = rel.strip_suffix(".rs").expect(".rs file");
    let mut parts: Vec<String> = rel.split('/').map(str::to_string).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

// ---- the lexer --------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    Sep,
    Punct(char),
}

/// Tokens with their 1-based line; comments, string, char and number literals and lifetimes are
/// dropped, since only paths matter here.
fn lex(text: &str) -> Vec<(Tok, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    // Advances over chars[from..to], counting newlines.
    let skip = |from: usize, to: usize, line: &mut usize| {
        *line += chars[from..to.min(chars.len())].iter().filter(|c| **c == '\n').count();
        to
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            let start = i;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            skip(start, i, &mut line);
        } else if c == '"' {
            i = skip(i, string_end(&chars, i + 1), &mut line);
        } else if c == '\'' {
            if next == Some('\\') {
                // An escaped char literal: '\n', '\'', '\u{1F600}'; the escaped char is skipped.
                let mut j = i + 3;
                while j < chars.len() && chars[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                // A lifetime or label.
                i += 1;
                while i < chars.len() && is_ident_char(chars[i]) {
                    i += 1;
                }
            }
        } else if c.is_ascii_digit() {
            while i < chars.len() && (is_ident_char(chars[i]) || chars[i] == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
                i += 1;
            }
        } else if is_ident_start(c) {
            let start = i;
            while i < chars.len() && is_ident_char(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let prefixes_string = matches!(word.as_str(), "r" | "b" | "br" | "c" | "cr");
            if prefixes_string && chars.get(i) == Some(&'"') {
                i = if word.contains('r') {
                    skip(i, raw_string_end(&chars, i, 0), &mut line)
                } else {
                    skip(i, string_end(&chars, i + 1), &mut line)
                };
            } else if prefixes_string && word.contains('r') && chars.get(i) == Some(&'#') {
                let mut hashes = 0;
                while chars.get(i + hashes) == Some(&'#') {
                    hashes += 1;
                }
                if chars.get(i + hashes) == Some(&'"') {
                    i = skip(i, raw_string_end(&chars, i + hashes, hashes), &mut line);
                } else if word == "r" {
                    // A raw identifier, r#type.
                    let start = i + 1;
                    i = start;
                    while i < chars.len() && is_ident_char(chars[i]) {
                        i += 1;
                    }
                    out.push((Tok::Ident(chars[start..i].iter().collect()), line));
                } else {
                    out.push((Tok::Ident(word), line));
                }
            } else if word == "b" && chars.get(i) == Some(&'\'') {
                // A byte literal, b'x' or b'\n'.
                let mut j = i + 1;
                if chars.get(j) == Some(&'\\') {
                    j += 1;
                }
                j += 1;
                while j < chars.len() && chars[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
            } else {
                out.push((Tok::Ident(word), line));
            }
        } else if c == ':' && next == Some(':') {
            out.push((Tok::Sep, line));
            i += 2;
        } else {
            out.push((Tok::Punct(c), line));
            i += 1;
        }
    }
    out
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Index just past the closing quote of a string whose body starts at `i`.
fn string_end(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// Index just past a raw string closed by `"` and `hashes` hashes; `quote` is its opening quote.
fn raw_string_end(chars: &[char], quote: usize, hashes: usize) -> usize {
    let mut i = quote + 1;
    while i < chars.len() {
        if chars[i] == '"' && (0..hashes).all(|h| chars.get(i + 1 + h) == Some(&'#')) {
            return i + 1 + hashes;
        }
        i += 1;
    }
    i
}

// ---- paths ------------------------------------------------------------------------------------

/// One path a file names: `use` trees are expanded, so `use crate::{a, b::c}` gives two.
struct Named {
    segments: Vec<String>,
    line: usize,
    /// The module the path is written in (inline `mod` blocks included), for `super` and `self`.
    scope: Vec<String>,
    is_use: bool,
}

fn paths_of(file: &SourceFile) -> Vec<Named> {
    let toks = lex(&file.text);
    let mut out = Vec::new();
    // Inline modules (`mod tests { … }`) with the brace depth their body opened at.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let ident = |i: usize| match toks.get(i) {
        Some((Tok::Ident(s), _)) => Some(s.as_str()),
        _ => None,
    };
    let scope_of = |inline: &[(String, usize)]| {
        let mut s = file.module.clone();
        s.extend(inline.iter().map(|(n, _)| n.clone()));
        s
    };
    let mut i = 0;
    while i < toks.len() {
        match &toks[i].0 {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, d)| *d == depth + 1) {
                    inline.pop();
                }
            }
            Tok::Ident(w) if w == "mod" => {
                if let Some(name) = ident(i + 1)
                    && toks.get(i + 2).map(|t| &t.0) == Some(&Tok::Punct('{'))
                {
                    depth += 1;
                    inline.push((name.to_string(), depth));
                    i += 3;
                    continue;
                }
            }
            Tok::Ident(w) if w == "use" => {
                let line = toks[i].1;
                let mut j = i + 1;
                let mut paths = Vec::new();
                use_tree(&toks, &mut j, Vec::new(), &mut paths);
                let scope = scope_of(&inline);
                for segments in paths {
                    out.push(Named {
                        segments,
                        line,
                        scope: scope.clone(),
                        is_use: true,
                    });
                }
                i = j;
                continue;
            }
            Tok::Ident(w) if toks.get(i + 1).map(|t| &t.0) == Some(&Tok::Sep) && (i == 0 || toks[i - 1].0 != Tok::Sep) => {
                // A path written inline, e.g. `crate::store::Store` or `lettre::Message` in a body.
                let _ = w;
                let line = toks[i].1;
                let mut segments = Vec::new();
                let mut j = i;
                while let Some(s) = ident(j) {
                    segments.push(s.to_string());
                    if toks.get(j + 1).map(|t| &t.0) == Some(&Tok::Sep) {
                        j += 2;
                    } else {
                        j += 1;
                        break;
                    }
                }
                out.push(Named {
                    segments,
                    line,
                    scope: scope_of(&inline),
                    is_use: false,
                });
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Expands one use tree starting at `*j`; leaves `*j` after its end.
fn use_tree(toks: &[(Tok, usize)], j: &mut usize, mut prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    if toks.get(*j).map(|t| &t.0) == Some(&Tok::Sep) {
        *j += 1;
    }
    loop {
        match toks.get(*j).map(|t| &t.0) {
            Some(Tok::Ident(s)) if s == "self" && !prefix.is_empty() => {
                *j += 1;
            }
            Some(Tok::Ident(s)) => {
                prefix.push(s.clone());
                *j += 1;
            }
            Some(Tok::Punct('{')) => {
                *j += 1;
                loop {
                    match toks.get(*j).map(|t| &t.0) {
                        Some(Tok::Punct('}')) => {
                            *j += 1;
                            break;
                        }
                        Some(Tok::Punct(',')) => *j += 1,
                        None => return,
                        _ => use_tree(toks, j, prefix.clone(), out),
                    }
                }
                finish_use(toks, j);
                return;
            }
            Some(Tok::Punct('*')) => {
                *j += 1;
                out.push(prefix);
                finish_use(toks, j);
                return;
            }
            _ => {
                out.push(prefix);
                finish_use(toks, j);
                return;
            }
        }
        match toks.get(*j).map(|t| &t.0) {
            Some(Tok::Sep) => *j += 1,
            _ => {
                out.push(prefix);
                finish_use(toks, j);
                return;
            }
        }
    }
}

/// Skips `as name` and the `;` that ends a use item (but not the `,` or `}` of an outer tree).
fn finish_use(toks: &[(Tok, usize)], j: &mut usize) {
    if matches!(toks.get(*j).map(|t| &t.0), Some(Tok::Ident(s)) if s == "as") {
        *j += 2;
    }
    if toks.get(*j).map(|t| &t.0) == Some(&Tok::Punct(';')) {
        *j += 1;
    }
}

/// Where a path leads: a module of this crate, or an external crate.
enum Target {
    Module(Vec<String>),
    External(String),
    Unknown,
}

fn resolve(named: &Named, modules: &BTreeSet<Vec<String>>) -> Target {
    let mut segs = named.segments.iter().map(String::as_str).peekable();
    let mut base: Vec<String> = match segs.peek().copied() {
        Some("crate") => {
            segs.next();
            Vec::new()
        }
        Some("super") | Some("self") => {
            let mut b = named.scope.clone();
            while let Some(s) = segs.peek().copied() {
                match s {
                    "super" => {
                        b.pop();
                    }
                    "self" => {}
                    _ => break,
                }
                segs.next();
            }
            b
        }
        Some(first) => {
            // Uniform paths: a name of the current module (a child module) before a crate name.
            let mut child = named.scope.clone();
            child.push(first.to_string());
            if modules.contains(&child) {
                named.scope.clone()
            } else if named.is_use || first.chars().next().is_some_and(char::is_lowercase) {
                return Target::External(first.to_string());
            } else {
                return Target::Unknown;
            }
        }
        None => return Target::Unknown,
    };
    // The longest prefix that is a module file.
    let mut best = base.clone();
    for s in segs {
        base.push(s.to_string());
        if modules.contains(&base) {
            best = base.clone();
        }
    }
    Target::Module(best)
}

// ---- the rules ---------------------------------------------------------------------------------

struct Report {
    violations: Vec<String>,
    /// Distinct (importing module, imported top module) pairs across top modules.
    cross: BTreeSet<(String, String)>,
}

struct Edge {
    from: Vec<String>,
    to: Vec<String>,
    at: String,
}

fn check(files: &[SourceFile]) -> Report {
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| f.module.clone()).collect();
    let rank = |m: &str| LAYERS.iter().find(|(n, _)| *n == m).map(|(_, r)| *r);
    let mut violations = Vec::new();
    let mut cross = BTreeSet::new();
    let mut edges: Vec<Edge> = Vec::new();
    for file in files {
        let Some(top) = file.module.first() else { continue };
        let lines: Vec<&str> = file.text.lines().collect();
        let at = |line: usize| format!("{}:{line}: {}", file.path, lines.get(line - 1).map_or("", |l| l.trim()));
        for named in paths_of(file) {
            match resolve(&named, &modules) {
                Target::External(krate) => {
                    if PURE.contains(&top.as_str()) && IO_CRATES.contains(&krate.as_str()) {
                        violations.push(format!(
                            "{}\n    `{top}` is pure: it may not use the IO crate `{krate}`; take plain values and let the caller do the IO",
                            at(named.line)
                        ));
                    }
                }
                Target::Unknown => {}
                Target::Module(to) => {
                    let Some(to_top) = to.first() else { continue };
                    // A module declares its children, so it may use them; only the way back counts.
                    if to.starts_with(&file.module) {
                        continue;
                    }
                    if to_top != top {
                        cross.insert((file.module.join("::"), to_top.clone()));
                        match (rank(top), rank(to_top)) {
                            (None, _) => violations.push(format!(
                                "{}\n    `{top}` is in no layer: add it to LAYERS in tests/it/architecture.rs, or move it into a layer",
                                at(named.line)
                            )),
                            (_, None) => violations.push(format!(
                                "{}\n    `{to_top}` is in no layer: add it to LAYERS in tests/it/architecture.rs, or move it into a layer",
                                at(named.line)
                            )),
                            (Some(r), Some(t)) if t >= r => violations.push(format!(
                                "{}\n    against the flow: {top} (layer {r}) may import only lower layers, and {to_top} is layer {t}; move what both need down (into domain or a leaf module)",
                                at(named.line)
                            )),
                            _ => {}
                        }
                        if let Some((_, _, why)) = BANNED.iter().find(|(a, b, _)| a == top && b == to_top) {
                            violations.push(format!("{}\n    {top} may not import {to_top}: {why}", at(named.line)));
                        }
                    }
                    edges.push(Edge {
                        from: file.module.clone(),
                        to,
                        at: at(named.line),
                    });
                }
            }
        }
    }
    violations.extend(cycles(&edges));
    // `use a::{B, C}` names a module twice on one line; say it once.
    let mut said = BTreeSet::new();
    violations.retain(|v| said.insert(v.clone()));
    Report { violations, cross }
}

/// Every strongly connected group of two or more modules, with the imports that close it.
fn cycles(edges: &[Edge]) -> Vec<String> {
    let mut graph: BTreeMap<&[String], BTreeSet<&[String]>> = BTreeMap::new();
    for e in edges {
        if e.from != e.to {
            graph.entry(&e.from).or_default().insert(&e.to);
            graph.entry(&e.to).or_default();
        }
    }
    let nodes: Vec<&[String]> = graph.keys().copied().collect();
    let mut out = Vec::new();
    let mut seen: BTreeSet<&[String]> = BTreeSet::new();
    for &start in &nodes {
        if seen.contains(start) {
            continue;
        }
        let forward = reachable(&graph, start, false);
        let backward = reachable(&graph, start, true);
        let group: BTreeSet<&[String]> = forward.intersection(&backward).copied().collect();
        seen.extend(group.iter().copied());
        if group.len() < 2 {
            continue;
        }
        let names: Vec<String> = group.iter().map(|m| m.join("::")).collect();
        let mut text = format!(
            "cycle among {}\n    these modules import each other in a circle; break one of these imports:",
            names.join(", ")
        );
        let mut shown = BTreeSet::new();
        for e in edges {
            if e.from != e.to && group.contains(e.from.as_slice()) && group.contains(e.to.as_slice()) && shown.insert(&e.at) {
                text.push_str(&format!("\n      {}", e.at));
            }
        }
        out.push(text);
    }
    out
}

fn reachable<'a>(graph: &BTreeMap<&'a [String], BTreeSet<&'a [String]>>, start: &'a [String], reverse: bool) -> BTreeSet<&'a [String]> {
    let mut found = BTreeSet::from([start]);
    let mut stack = vec![start];
    while let Some(n) = stack.pop() {
        let next: Vec<&[String]> = if reverse {
            graph.iter().filter(|(_, to)| to.contains(n)).map(|(from, _)| *from).collect()
        } else {
            graph.get(n).map(|to| to.iter().copied().collect()).unwrap_or_default()
        };
        for m in next {
            if found.insert(m) {
                stack.push(m);
            }
        }
    }
    found
}
