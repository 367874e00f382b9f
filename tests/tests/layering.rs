//! The house keeps its shape: the crate dependencies follow the layers of `ARCHITECTURE.md`,
//! and no crate's modules import each other in a circle. A change that breaks either fails
//! here, naming the edge or the cycle, instead of being found in review months later.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// Which workspace crates each crate may depend on (normal and build dependencies; the gateway
/// also in its dev-dependencies). `motcua-tests` may use everything.
fn allowed() -> BTreeMap<&'static str, &'static [&'static str]> {
    BTreeMap::from([
        ("motcua-domain", &[][..]),
        ("motcua-identity", &[][..]),
        ("motcua-logging", &[][..]),
        ("motcua-store", &["motcua-domain"][..]),
        ("motcua-flows", &["motcua-domain"][..]),
        ("motcua-printer", &["motcua-domain"][..]),
        ("motcua-scanner", &["motcua-domain"][..]),
        ("motcua-sheets", &["motcua-printer", "motcua-scanner"][..]),
        ("motcua-ui", &[][..]),
        (
            "motcua-hub",
            &[
                "motcua-domain",
                "motcua-identity",
                "motcua-logging",
                "motcua-uplink",
                "motcua-speech",
            ][..],
        ),
        ("motcua-speech", &["motcua-domain", "motcua-logging"][..]),
        ("motcua-signing", &[][..]),
        (
            "motcua-uplink",
            &["motcua-domain", "motcua-store", "motcua-identity"][..],
        ),
        (
            "motcua-kiosk",
            &[
                "motcua-domain",
                "motcua-store",
                "motcua-flows",
                "motcua-printer",
                "motcua-scanner",
                "motcua-sheets",
                "motcua-ui",
                "motcua-uplink",
                "motcua-gateway",
                "motcua-logging",
                "motcua-identity",
                "motcua-speech",
                "motcua-signing",
            ][..],
        ),
        (
            "motcua-gateway",
            &[
                "motcua-domain",
                "motcua-logging",
                "motcua-identity",
                "motcua-sheets",
            ][..],
        ),
        (
            "motcua-updater",
            &[
                "motcua-domain",
                "motcua-identity",
                "motcua-logging",
                "motcua-store",
            ][..],
        ),
    ])
}

#[test]
fn crate_dependencies_follow_the_layers() {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(workspace_root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let packages = meta["packages"].as_array().expect("packages");
    let ours: BTreeSet<String> = packages
        .iter()
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect();
    let rules = allowed();
    let mut broken = Vec::new();
    let mut seen = BTreeSet::new();
    for p in packages {
        let name = p["name"].as_str().unwrap_or_default();
        seen.insert(name.to_owned());
        if name == "motcua-tests" {
            continue;
        }
        let Some(may) = rules.get(name) else {
            broken.push(format!(
                "{name} is not in the layering rules: add it to ARCHITECTURE.md and here"
            ));
            continue;
        };
        for dep in p["dependencies"].as_array().into_iter().flatten() {
            let dep_name = dep["name"].as_str().unwrap_or_default();
            if !ours.contains(dep_name) {
                continue;
            }
            let kind = dep["kind"].as_str().unwrap_or("normal");
            let counts = kind != "dev" || name == "motcua-gateway";
            if counts && !may.contains(&dep_name) {
                broken.push(format!("{name} depends on {dep_name} ({kind})"));
            }
            if name == "motcua-kiosk"
                && dep_name == "motcua-gateway"
                && dep["optional"].as_bool() != Some(true)
            {
                broken
                    .push("the kiosk may embed the gateway only behind its `demo` feature".into());
            }
        }
    }
    for must in [
        "motcua-store",
        "motcua-flows",
        "motcua-uplink",
        "motcua-kiosk",
    ] {
        assert!(seen.contains(must), "{must} is missing from the workspace");
    }
    assert!(broken.is_empty(), "layering broken:\n{}", broken.join("\n"));
}

/// One crate's modules, named by path (`touch::services`), with the source before its tests.
fn modules(src: &Path) -> BTreeMap<String, String> {
    fn walk(dir: &Path, src: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, src, out);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap_or(&path).with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.first().map(String::as_str) == Some("bin") {
                continue; // binaries are crates of their own
            }
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                parts.pop();
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            let code: String = code
                .lines()
                .map(|l| l.split("//").next().unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n");
            out.insert(parts.join("::"), code);
        }
    }
    let mut out = BTreeMap::new();
    walk(src, src, &mut out);
    out
}

/// What each module re-exports with `pub use`: (module, exported name) → the module that
/// defines it, so an import through a re-export (`crate::{Store, StoreError}`) counts as an
/// edge to the module that really holds the item.
fn reexports(mods: &BTreeMap<String, String>) -> BTreeMap<(String, String), String> {
    let mut out = BTreeMap::new();
    for (name, code) in mods {
        let here: Vec<String> = name
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        for statement in code.split(';') {
            let Some(rest) = statement.trim().strip_prefix("pub use ") else {
                continue;
            };
            let (path, names): (&str, Vec<&str>) = match rest.find('{') {
                Some(i) => (
                    rest[..i].trim_end_matches("::"),
                    rest[i + 1..].trim_end_matches('}').split(',').collect(),
                ),
                None => match rest.rsplit_once("::") {
                    Some((p, n)) => (p, vec![n]),
                    None => continue,
                },
            };
            let mut segs: Vec<&str> = path.split("::").map(str::trim).collect();
            let mut base = here.clone();
            match segs.first().copied() {
                Some("crate") => {
                    base.clear();
                    segs.remove(0);
                }
                Some("self") => {
                    segs.remove(0);
                }
                _ => {}
            }
            while segs.first() == Some(&"super") {
                base.pop();
                segs.remove(0);
            }
            base.extend(segs.iter().map(|s| s.to_string()));
            let Some(module) = (0..=base.len())
                .rev()
                .map(|n| base[..n].join("::"))
                .find(|m| mods.contains_key(m))
            else {
                continue;
            };
            for item in names {
                // `X as Y` exports Y.
                let exported = item.split_whitespace().last().unwrap_or_default();
                if !exported.is_empty() && module != *name {
                    out.insert((name.clone(), exported.to_owned()), module.clone());
                }
            }
        }
    }
    out
}

/// Import edges between modules: `crate::a::b` and `super::x` paths, resolved to the longest
/// module they name, and through `pub use` re-exports to the module that defines the item.
/// Edges to the crate root or to an ancestor that stay there after that are how children use
/// what their parent itself defines, not imports across the house, and are left out.
fn edges(mods: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let reexported = reexports(mods);
    let mut edges = BTreeMap::new();
    for (name, code) in mods {
        let here: Vec<&str> = if name.is_empty() {
            Vec::new()
        } else {
            name.split("::").collect()
        };
        let mut targets = BTreeSet::new();
        for (at, _) in code
            .match_indices("crate::")
            .chain(code.match_indices("super::"))
        {
            if code[..at].chars().next_back().is_some_and(word) {
                continue;
            }
            let path: String = code[at..]
                .chars()
                .take_while(|&c| word(c) || c == ':' || c == '{' || c == ',' || c == ' ')
                .collect();
            let mut base: Vec<String> = Vec::new();
            let mut rest: Vec<&str> = path.split("::").map(str::trim).collect();
            if rest.first() == Some(&"super") {
                base = here.iter().map(|s| s.to_string()).collect();
                while rest.first() == Some(&"super") {
                    base.pop();
                    rest.remove(0);
                }
            } else {
                rest.remove(0);
            }
            // `crate::{a, b::c}` names several paths.
            let brace = rest.iter().position(|s| s.starts_with('{'));
            let listed = brace.map(|i| rest[i..].join("::")).unwrap_or_default();
            let (prefix, items): (Vec<&str>, Vec<&str>) = match brace {
                Some(i) => (
                    rest[..i].to_vec(),
                    listed
                        .trim_start_matches('{')
                        .split(',')
                        .map(str::trim)
                        .collect(),
                ),
                None => (rest.clone(), vec![""]),
            };
            for item in items {
                let mut full = base.clone();
                full.extend(
                    prefix
                        .iter()
                        .filter(|s| !s.is_empty())
                        .map(|s| s.to_string()),
                );
                full.extend(
                    item.split("::")
                        .filter(|s| !s.is_empty())
                        .filter_map(|s| s.split_whitespace().next())
                        .map(|s| s.to_string()),
                );
                let matched = (0..=full.len())
                    .rev()
                    .find(|&n| mods.contains_key(&full[..n].join("::")))
                    .unwrap_or(0);
                let mut target = full[..matched].join("::");
                // The next segment names an item; a re-export says where it lives.
                if let Some(item) = full.get(matched) {
                    if let Some(real) = reexported.get(&(target.clone(), item.clone())) {
                        target = real.clone();
                    }
                }
                let ancestor = target.is_empty() || name.starts_with(&format!("{target}::"));
                if target != *name && !ancestor {
                    targets.insert(target);
                }
            }
        }
        edges.insert(name.clone(), targets);
    }
    edges
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        let edges = s.edges;
        for w in edges.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low[v];
                s.low.insert(v, lv.min(lw));
            } else if s.stack.contains(&w) {
                let iw = s.index[w];
                let lv = s.low[v];
                s.low.insert(v, lv.min(iw));
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                s.found.push(component);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.found
}

/// The same graph at the granularity of a crate's top-level modules (`devices`, `config`, …).
fn top_level(edges: &BTreeMap<String, BTreeSet<String>>) -> BTreeMap<String, BTreeSet<String>> {
    let top = |m: &str| m.split("::").next().unwrap_or_default().to_owned();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, tos) in edges {
        let entry = out.entry(top(from)).or_default();
        for to in tos {
            if top(to) != top(from) {
                entry.insert(top(to));
            }
        }
    }
    out
}

#[test]
fn no_crate_has_a_module_import_cycle() {
    let root = workspace_root();
    let mut found = Vec::new();
    for krate in [
        "domain", "logging", "store", "flows", "printer", "scanner", "sheets", "ui", "uplink",
        "kiosk", "gateway", "hub", "speech", "signing", "tests",
    ] {
        let src = root.join(krate).join("src");
        let mods = modules(&src);
        assert!(!mods.is_empty(), "{krate}/src has no modules");
        // A binary with modules of its own (src/bin/NAME/main.rs) is a crate of its own.
        let mut crates = vec![(krate.to_owned(), mods)];
        for entry in std::fs::read_dir(src.join("bin"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if entry.path().join("main.rs").is_file() {
                let bin = format!("{krate}/bin/{}", entry.file_name().to_string_lossy());
                crates.push((bin, modules(&entry.path())));
            }
        }
        if krate == "kiosk" {
            let names: Vec<&str> = crates.iter().map(|(n, _)| n.as_str()).collect();
            assert!(
                names.contains(&"kiosk/bin/kioskctl") && names.contains(&"kiosk/bin/kioskd"),
                "the binaries' own modules are checked too: {names:?}"
            );
        }
        for (name, mods) in crates {
            let graph = edges(&mods);
            for cycle in cycles(&graph).into_iter().chain(cycles(&top_level(&graph))) {
                found.push(format!("{name}: {}", cycle.join(" -> ")));
            }
        }
    }
    assert!(
        found.is_empty(),
        "module import cycles:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_cycle_finder_finds_a_planted_cycle() {
    // The checker itself must be able to fail: a, b and c importing each other in a circle
    // (through a brace import and a `super::` path) is reported; d, which only uses a, is not.
    let mods: BTreeMap<String, String> = [
        ("", "pub mod a; pub mod b; pub mod c; pub mod d;"),
        ("a", "use crate::{b::Thing, x};"),
        ("b", "use super::c::Other;"),
        ("c", "fn f() { crate::a::g(); }"),
        ("d", "use crate::a::g;"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let found = cycles(&edges(&mods));
    assert_eq!(found.len(), 1, "{found:?}");
    let mut cycle = found[0].clone();
    cycle.sort();
    assert_eq!(cycle, ["a", "b", "c"]);

    // A cycle through the root's re-exports: e uses `crate::Thing` (defined in f and
    // re-exported by the root), f uses e directly.
    let mods: BTreeMap<String, String> = [
        (
            "",
            "pub mod e; pub mod f; pub use f::{Thing, Other as Alias};",
        ),
        ("e", "use crate::{Thing, Alias};"),
        ("f", "use crate::e::helper;"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let found = cycles(&edges(&mods));
    assert_eq!(
        found.len(),
        1,
        "a cycle through a re-export is found: {found:?}"
    );
}
