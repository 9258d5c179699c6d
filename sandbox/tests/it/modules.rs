//! The sandbox's modules depend one way: read from its sources, every `crate::`, `super::` and
//! child-module path a module uses is an edge, and the edges form no circle, neither between the
//! files nor between the layers (`model` -> `controller` -> `ops` -> REST API, web actions,
//! alarms, deploy -> server -> the library API).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first; a module may use only modules of lower layers (and its own).
const LAYERS: &[&[&str]] = &[
    &["clock", "url"],
    &["model"],
    &["controller"],
    &["ops"],
    &["alarms", "api", "deploy", "web"],
    &["server"],
    &["sandbox"],
    &["crate"],
];

fn layer_of(top: &str) -> usize {
    LAYERS
        .iter()
        .position(|layer| layer.contains(&top))
        .unwrap_or_else(|| panic!("module {top} is in no layer: add it to LAYERS"))
}

/// Module path (`crate`, `model`, `model::names`, ...) of every file under `src/` but the
/// program's `main.rs`.
fn modules(src: &Path) -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<String, PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("a source directory")
            .map(|e| e.expect("an entry").path())
            .collect();
        entries.sort();
        for path in entries {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string();
            if path.is_dir() {
                let mut inner = prefix.to_vec();
                inner.push(stem);
                walk(&path, &inner, out);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let mut parts = prefix.to_vec();
            match (prefix.is_empty(), stem.as_str()) {
                (true, "main") => continue,
                (true, "lib") => parts = vec!["crate".to_string()],
                (_, "mod") => {}
                _ => parts.push(stem),
            }
            out.insert(parts.join("::"), path);
        }
    }
    let mut out = BTreeMap::new();
    walk(src, &[], &mut out);
    out
}

/// The source without comments (doc links name modules without using them) and without its
/// unit tests (whose `super` is the file's own module).
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("a readable source file");
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every path that starts at `start` in `code`: `a::b::c`, with `{x, y::z}` groups expanded.
fn paths_after(code: &str, start: &str) -> Vec<Vec<String>> {
    fn read_path(rest: &str, base: Vec<String>, out: &mut Vec<Vec<String>>) {
        let mut segments = base;
        let mut rest = rest.trim_start();
        loop {
            if let Some(group) = rest.strip_prefix('{') {
                let mut depth = 1;
                let end = group
                    .char_indices()
                    .find(|(_, c)| {
                        match c {
                            '{' => depth += 1,
                            '}' => depth -= 1,
                            _ => {}
                        }
                        depth == 0
                    })
                    .map_or(group.len(), |(i, _)| i);
                let mut depth = 0;
                let mut item_start = 0;
                let inner = &group[..end];
                for (i, c) in inner.char_indices().chain([(inner.len(), ',')]) {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            read_path(&inner[item_start..i], segments.clone(), out);
                            item_start = i + 1;
                        }
                        _ => {}
                    }
                }
                return;
            }
            let ident: String = rest.chars().take_while(|c| is_ident(*c)).collect();
            if ident.is_empty() {
                break;
            }
            segments.push(ident.clone());
            rest = &rest[ident.len()..];
            match rest.strip_prefix("::") {
                Some(more) => rest = more.trim_start(),
                None => break,
            }
        }
        out.push(segments);
    }
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = code[from..].find(start) {
        let begin = from + at;
        from = begin + start.len();
        let preceded = code[..begin].chars().next_back();
        if preceded.is_some_and(|c| is_ident(c) || c == ':') {
            continue;
        }
        read_path(&code[from..], Vec::new(), &mut out);
    }
    out
}

/// The longest known module that `path` (absolute, without `crate`) names or names an item of.
fn target(path: &[String], known: &BTreeMap<String, PathBuf>) -> Option<String> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|candidate| known.contains_key(candidate))
}

fn edges(known: &BTreeMap<String, PathBuf>) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, path) in known {
        let code = code_of(path);
        let own: Vec<String> = if module == "crate" {
            Vec::new()
        } else {
            module.split("::").map(str::to_string).collect()
        };
        let mut used = Vec::new();
        used.extend(paths_after(&code, "crate::"));
        for relative in paths_after(&code, "super::") {
            let mut absolute = own[..own.len().saturating_sub(1)].to_vec();
            absolute.extend(relative);
            used.push(absolute);
        }
        // `use child::Item;` inside a module that declares `mod child;`.
        for relative in paths_after(&code, "use ") {
            let mut absolute = own.clone();
            absolute.extend(relative);
            if absolute.len() > own.len() + 1 {
                used.push(absolute);
            }
        }
        let targets = graph.entry(module.clone()).or_default();
        for path in used {
            if let Some(to) = target(&path, known)
                && &to != module
                && to != "crate"
            {
                targets.insert(to);
            }
        }
    }
    graph
}

/// A circle in the graph, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, done, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut done, &mut Vec::new()))
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

#[test]
fn the_modules_import_each_other_without_a_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let known = modules(&src);
    assert!(known.contains_key("model::entities") && known.contains_key("ops::fire"));
    let graph = edges(&known);
    assert!(
        graph["ops::fire"].contains("ops::invoke") && graph["api::triggers"].contains("ops::fire"),
        "the parser sees uses: {graph:#?}"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "modules import each other in a circle: {}",
            cycle.join(" -> ")
        );
    }
    let mut upward = Vec::new();
    for (from, targets) in &graph {
        for to in targets {
            let (a, b) = (top(from), top(to));
            if a != b && layer_of(a) <= layer_of(b) {
                upward.push(format!("{from} -> {to}"));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "modules using their own layer's or a higher layer's modules: {upward:#?}"
    );
}

#[test]
fn the_checker_finds_circles_and_group_imports() {
    let code = "use crate::a::{b::C, d};\nlet x = super::e::f();\n";
    assert_eq!(
        paths_after(code, "crate::"),
        vec![vec!["a", "b", "C"], vec!["a", "d"]]
    );
    assert_eq!(paths_after(code, "super::"), vec![vec!["e", "f"]]);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    graph.entry("a".into()).or_default().insert("b".into());
    graph.entry("b".into()).or_default().insert("c".into());
    assert_eq!(find_cycle(&graph), None);
    graph.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        find_cycle(&graph),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}
