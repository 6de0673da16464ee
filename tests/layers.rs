//! The layers point one way: no cycle among the library's top-level
//! modules (a folder such as `ops/` counts as one module).
//!
//! Each file's code before its `#[cfg(test)]` part is read for `crate::`
//! paths, `use crate::{…}` groups included. Unit tests may reach up (a test
//! of the engine may build an `App`); the code they test may not.
//!
//!     cargo test --test layers -- --nocapture    # also prints the layers

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level module → the modules it names, each with the file that does.
type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

#[test]
fn the_module_graph_has_no_cycle() {
    let graph = graph(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")));
    assert!(graph.len() > 20, "found only {} modules", graph.len());
    let cycles: Vec<Vec<String>> = components(&graph)
        .into_iter()
        .filter(|c| c.len() > 1)
        .collect();
    let mut report = String::new();
    for cycle in &cycles {
        report.push_str(&format!("\ncycle among {}:\n", cycle.join(", ")));
        for from in cycle {
            for (to, files) in &graph[from] {
                if cycle.contains(to) {
                    let files: Vec<&str> = files.iter().map(String::as_str).collect();
                    report.push_str(&format!("  {from} → {to}   ({})\n", files.join(", ")));
                }
            }
        }
    }
    assert!(cycles.is_empty(), "the layers point both ways:{report}");
    for (depth, layer) in layers(&graph).iter().enumerate() {
        println!("layer {depth}: {}", layer.join(" "));
    }
}

/// The modules in layers: each uses only modules of lower layers.
fn layers(graph: &Graph) -> Vec<Vec<String>> {
    let mut placed: BTreeMap<&str, usize> = BTreeMap::new();
    while placed.len() < graph.len() {
        for (module, uses) in graph {
            if placed.contains_key(module.as_str()) {
                continue;
            }
            let below: Option<Vec<usize>> = uses
                .keys()
                .map(|u| placed.get(u.as_str()).copied())
                .collect();
            if let Some(below) = below {
                placed.insert(module, below.into_iter().max().map_or(0, |d| d + 1));
            }
        }
    }
    let mut out: Vec<Vec<String>> = Vec::new();
    for (module, depth) in placed {
        if out.len() <= depth {
            out.resize(depth + 1, Vec::new());
        }
        out[depth].push(module.to_string());
    }
    out
}

fn graph(src: &Path) -> Graph {
    let modules: BTreeSet<String> = std::fs::read_dir(src)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let module = name.strip_suffix(".rs").unwrap_or(&name).to_string();
            let skip = ["lib", "main", "bin"].contains(&module.as_str());
            (!skip).then_some(module)
        })
        .collect();
    let mut graph: Graph = modules
        .iter()
        .map(|m| (m.clone(), BTreeMap::new()))
        .collect();
    for file in files(src) {
        let relative = file.strip_prefix(src).unwrap();
        let top = relative.components().next().unwrap();
        let module = top.as_os_str().to_string_lossy();
        let module = module.strip_suffix(".rs").unwrap_or(&module).to_string();
        if !modules.contains(&module) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for named in crate_paths(&code_of(&text)) {
            if named != module && modules.contains(&named) {
                graph
                    .get_mut(&module)
                    .unwrap()
                    .entry(named)
                    .or_default()
                    .insert(relative.display().to_string());
            }
        }
    }
    graph
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// The file's code: before its tests, without line comments.
fn code_of(text: &str) -> String {
    text.lines()
        .take_while(|l| l.trim() != "#[cfg(test)]")
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first segment of every `crate::` path, groups expanded.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The items of the group at its own depth: `a::b, c, d::{e, f}`.
            let mut depth = 0;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_alphanumeric() || c == '_') => {
                        out.insert(ident(&group[i..]));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out
}

fn ident(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Strongly connected components (Tarjan): a component of more than one
/// module is a cycle.
fn components(graph: &Graph) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph[v].keys() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            component.sort();
            s.out.push(component);
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

#[test]
fn the_reader_finds_paths_and_groups() {
    let code = "use crate::app::Msg;\nuse crate::{engine::{Cost, Target}, model, ui::tables};\nlet x = crate::fleet::Fleet::new();";
    let found: Vec<String> = crate_paths(code).into_iter().collect();
    assert_eq!(found, ["app", "engine", "fleet", "model", "ui"]);
    assert_eq!(
        code_of("use crate::a;\n// crate::b\n#[cfg(test)]\nuse crate::c;"),
        "use crate::a;"
    );
}
