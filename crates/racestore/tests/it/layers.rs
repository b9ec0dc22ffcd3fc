//! The library's modules depend one way, as ARCHITECTURE.md draws them: each layer uses only the
//! layers below it, and no two modules import each other, directly or in a circle.
//!
//! Read from the source: every `crate::` path in each module's files (a `use`, or a path in
//! code) is an edge from that module to the module it names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The modules of the library, lowest layer first, with their layer. A module may use modules of
/// lower layers only; modules of one layer do not use each other.
const LAYERS: &[(&str, u32)] = &[
    ("error", 0),
    ("redact", 0),
    ("leftovers", 0),
    ("model", 1),
    ("store", 2),
    ("backend::sql", 3),
    ("backend::json", 4),
    ("backend::sqlite", 4),
    ("backend::postgres", 4),
    ("backend", 5),
    ("url", 6),
    ("transfer", 7),
    ("shared", 7),
    ("check", 8),
    ("import", 8),
    ("analysis", 8),
    ("export", 8),
    ("conformance", 9),
    ("lib", 10),
];

/// The module a source file belongs to, by its path under `src/`.
fn module_of(relative: &Path) -> String {
    let parts: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    match parts.as_slice() {
        [first, second, ..] if first == "backend" && second != "mod" => format!("backend::{second}"),
        [first, ..] => first.clone(),
        [] => unreachable!("a file has a name"),
    }
}

/// The module a `crate::a::b` path names: the longest prefix that is a module in [`LAYERS`].
fn module_named(path: &str) -> Option<&'static str> {
    LAYERS
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| path == *name || path.starts_with(&format!("{name}::")))
        .max_by_key(|name| name.len())
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `crate::...` path in `text`, including those of a `use crate::{a, b::c}` group.
fn crate_paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let item = item.trim();
                if !item.is_empty() {
                    out.push(
                        item.split(['{', ' '])
                            .next()
                            .unwrap_or(item)
                            .trim_end_matches("::")
                            .to_owned(),
                    );
                }
            }
            continue;
        }
        let path: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        out.push(path.trim_end_matches("::").to_owned());
    }
    out
}

/// Module to the modules it uses, read from the library's source.
fn edges() -> BTreeMap<String, BTreeSet<&'static str>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
    for file in files {
        let module = module_of(file.strip_prefix(&src).unwrap());
        let text = std::fs::read_to_string(&file).unwrap();
        // Doc comments and strings may name paths for readers; only code counts.
        let code: String = text
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for path in crate_paths(&code) {
            if let Some(used) = module_named(&path) {
                if used != module {
                    edges.entry(module.clone()).or_default().insert(used);
                }
            }
        }
    }
    edges
}

#[test]
fn every_module_of_the_library_has_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    for file in files {
        let module = module_of(file.strip_prefix(&src).unwrap());
        assert!(
            LAYERS.iter().any(|(name, _)| *name == module),
            "{} belongs to module {module}, which has no layer in tests/it/layers.rs: add it (and to ARCHITECTURE.md)",
            file.display()
        );
    }
}

#[test]
fn modules_use_only_lower_layers() {
    let layer = |name: &str| LAYERS.iter().find(|(n, _)| *n == name).map(|(_, l)| *l);
    let mut wrong = Vec::new();
    for (module, used) in edges() {
        let Some(own) = layer(&module) else { continue };
        for target in used {
            let theirs = layer(target).unwrap();
            if theirs >= own {
                wrong.push(format!("{module} (layer {own}) uses {target} (layer {theirs})"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_modules_import_each_other_in_a_circle() {
    let edges = edges();
    // Depth-first search for a back edge; the path found is the circle.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<&'static str>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut circle = path[at..].to_vec();
            circle.push(node.to_owned());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, edges, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        if let Some(circle) = visit(node, &edges, &mut Vec::new(), &mut done) {
            panic!("modules import each other: {}", circle.join(" -> "));
        }
    }
}

#[test]
fn the_reader_of_imports_sees_groups_and_paths_in_code() {
    let found = crate_paths(
        "use crate::model::{Id, Lap};\nuse crate::{error::Error, store};\nlet x = crate::url::open(u);",
    );
    assert_eq!(
        found,
        ["model::{Id, Lap}", "error::Error", "store", "url::open"].map(|s| s
            .split('{')
            .next()
            .unwrap()
            .trim_end_matches("::")
            .to_owned())
    );
    assert_eq!(module_named("backend::json::JsonStore"), Some("backend::json"));
    assert_eq!(module_named("backend"), Some("backend"));
    assert_eq!(
        module_of(Path::new("backend/json/array_file.rs")),
        "backend::json"
    );
    assert_eq!(module_of(Path::new("backend/mod.rs")), "backend");
    assert_eq!(module_of(Path::new("model/records.rs")), "model");
}

/// The tests run with every backend built in: this file is compiled whatever the features, so
/// under CI a build that left a backend out (and so would skip its tests) fails here.
#[test]
fn every_backend_is_built_into_the_tests() {
    let built = racestore::backends();
    let all = ["json", "sqlite", "postgres"];
    let missing: Vec<&str> = all.into_iter().filter(|b| !built.contains(b)).collect();
    if std::env::var_os("CI").is_some() {
        assert!(
            missing.is_empty(),
            "CI must test every backend; built without {missing:?}"
        );
    } else if !missing.is_empty() {
        eprintln!("SKIP the tests of {missing:?}: built without their cargo features");
    }
}
