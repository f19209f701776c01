//! Keeps the top-level modules of `src/` free of import cycles: reads each module's files for
//! its `crate::` references and fails, printing the cycle, if one module reaches itself.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules that only tests compile and nothing imports; they may reach anything.
const TEST_ONLY: &[&str] = &["proptests", "module_graph"];

/// Every top-level module of `src/` (a `name.rs` or a `name/` folder) and its files.
fn modules(src: &Path) -> BTreeMap<String, Vec<PathBuf>> {
    let mut modules = BTreeMap::new();
    let entries = std::fs::read_dir(src).unwrap_or_else(|e| panic!("reading {src:?}: {e}"));
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else {
            continue;
        };
        if stem == "lib" || stem == "main" || TEST_ONLY.contains(&stem.as_str()) {
            continue;
        }
        let mut files = Vec::new();
        if path.is_dir() {
            rust_files(&path, &mut files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        } else {
            continue;
        }
        modules.entry(stem).or_insert_with(Vec::new).extend(files);
    }
    modules
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {dir:?}: {e}"));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules named after `crate::` in `code` (comments left out), including each
/// member of a `use crate::{a, b::c}` group.
fn referenced(code: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in code.lines() {
        let line = line.split("//").next().unwrap_or("");
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            // Part of a longer name (`foo_crate::`), not the crate root.
            let before = &rest[..at];
            rest = &rest[at + "crate::".len()..];
            if before.ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                continue;
            }
            if let Some(group) = rest.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or("");
                names.extend(inner.split(',').filter_map(first_ident));
            } else if let Some(name) = first_ident(rest) {
                names.insert(name);
            }
        }
    }
    names
}

fn first_ident(text: &str) -> Option<String> {
    let name: String = text
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// The module graph: each module to the other top-level modules its files name.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules(src);
    modules
        .iter()
        .map(|(name, files)| {
            let mut uses = BTreeSet::new();
            for file in files {
                let code = std::fs::read_to_string(file)
                    .unwrap_or_else(|e| panic!("reading {file:?}: {e}"));
                uses.extend(
                    referenced(&code)
                        .into_iter()
                        .filter(|m| m != name && modules.contains_key(m)),
                );
            }
            (name.clone(), uses)
        })
        .collect()
}

/// One cycle in `graph` as `a -> b -> a`, if there is any.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn top_level_modules_import_each_other_without_a_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = graph(&src);
    for expected in [
        "config",
        "delivery",
        "okta",
        "pull",
        "push",
        "state",
        "telemetry",
    ] {
        assert!(
            graph.contains_key(expected),
            "no module {expected} in {graph:?}"
        );
    }
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "import cycle between top-level modules: {}\nthe whole graph: {graph:#?}",
            cycle.join(" -> ")
        );
    }
}

#[test]
fn references_are_read_from_paths_and_use_groups_but_not_comments() {
    let code = "use crate::okta::OktaOrg;\nuse crate::{state::X, delivery};\n// crate::pull\nlet b = crate::backoff::backoff(1); // crate::push\nfoo_crate::event";
    let names: Vec<String> = referenced(code).into_iter().collect();
    assert_eq!(names, ["backoff", "delivery", "okta", "state"]);
}

#[test]
fn a_cycle_is_found_and_named_in_order() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("config", &["okta"][..]),
        ("delivery", &["config", "state"][..]),
        ("okta", &["delivery"][..]),
        ("state", &[][..]),
    ]
    .into_iter()
    .map(|(m, uses)| (m.to_owned(), uses.iter().map(|u| (*u).to_owned()).collect()))
    .collect();
    assert_eq!(
        find_cycle(&graph).map(|c| c.join(" -> ")).as_deref(),
        Some("config -> okta -> delivery -> config")
    );
}
