//! The layers' boundaries, checked: every top-level module of `src/` may
//! import only the modules [`ALLOWED`] lists for it, so the graph of
//! imports has no circles and the transport-free core (domain, crypto, the
//! log's formats) cannot reach storage or HTTP. `docs/architecture.md`
//! draws the same graph.
//!
//! One crate with a checked table rather than one crate per layer: the
//! layers share one build (a workspace of six crates would rebuild and link
//! each on two cores), and a table names every allowed edge in one place,
//! where a reviewer sees a new one arrive.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module of `src/` and the modules it may import.
const ALLOWED: &[(&str, &[&str])] = &[
    // The registry's vocabulary and rules: nothing of the crate below it.
    ("domain", &[]),
    ("crypto", &["domain"]),
    // One spec per file; crypto is its only import.
    ("log", &["crypto"]),
    ("index", &["domain", "log"]),
    ("store", &["domain", "crypto", "log"]),
    ("transparency", &["domain", "crypto", "log", "store"]),
    ("check", &["domain", "crypto", "log", "index"]),
    ("audit", &["domain", "crypto", "log"]),
    ("auth", &["domain", "crypto"]),
    // Image files to fingerprints: decoding and the ISCC normalisation.
    ("fingerprint", &["domain"]),
    // Consent signals inside files (C2PA, XMP), read with the domain's table.
    ("signals", &["domain"]),
    ("stats", &["domain", "index"]),
    (
        "registry",
        &[
            "domain",
            "crypto",
            "log",
            "index",
            "check",
            "store",
            "transparency",
        ],
    ),
    (
        "payouts",
        &[
            "domain", "crypto", "log", "index", "check", "store", "registry",
        ],
    ),
    // Handlers read through the registry, never the store.
    (
        "http",
        &[
            "domain",
            "crypto",
            "log",
            "index",
            "check",
            "auth",
            "stats",
            "registry",
            "payouts",
            "transparency",
        ],
    ),
    (
        "server",
        &[
            "domain",
            "crypto",
            "auth",
            "http",
            "registry",
            "store",
            "transparency",
        ],
    ),
    (
        "cli",
        &[
            "domain",
            "crypto",
            "log",
            "index",
            "check",
            "audit",
            "stats",
            "registry",
            "payouts",
            "http",
            "server",
            "fingerprint",
            "signals",
        ],
    ),
];

/// The top-level modules that `source` (a file of module `module`) names
/// through `crate::…`, comments left out.
fn imports(module: &str, source: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in source.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
                // `crate::{a::x, b}`: the first segment of each item.
                let inner = group.split('}').next().unwrap_or("");
                inner
                    .split(',')
                    .map(|item| item.trim().split("::").next().unwrap_or("").trim())
                    .collect()
            } else {
                vec![rest
                    .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .next()
                    .unwrap_or("")]
            };
            for name in names {
                if !name.is_empty() && name != module && name != "self" {
                    out.insert(name.to_owned());
                }
            }
        }
    }
    out
}

/// The top-level module a file of `src/` belongs to (`None` for the crate
/// root and the binary).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib" && name != "main").then(|| name.to_owned())
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every import that [`ALLOWED`] does not allow, as
/// `file: module imports other`.
fn violations(files: &[(String, String, String)]) -> Vec<String> {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut out = Vec::new();
    for (file, module, source) in files {
        let Some(may) = allowed.get(module.as_str()) else {
            out.push(format!(
                "{file}: module `{module}` is not in the table of layers"
            ));
            continue;
        };
        for import in imports(module, source) {
            if !may.contains(&import.as_str()) {
                out.push(format!("{file}: `{module}` imports `{import}`"));
            }
        }
    }
    out
}

fn sources() -> Vec<(String, String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    files
        .iter()
        .filter_map(|f| {
            let module = module_of(&src, f)?;
            let source = std::fs::read_to_string(f).expect("read file");
            let name = f.strip_prefix(&src).unwrap_or(f).display().to_string();
            Some((name, module, source))
        })
        .collect()
}

#[test]
fn modules_import_only_the_layers_below_them() {
    let files = sources();
    assert!(files.len() > 50, "found only {} files in src/", files.len());
    let found = violations(&files);
    assert!(
        found.is_empty(),
        "imports across a forbidden boundary (change the code, or the table in \
         tests/api/boundaries.rs and docs/architecture.md if the layering itself changes):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_table_of_layers_has_no_circles() {
    // Depth-first search for a back edge over the allowed imports.
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    fn visit<'a>(
        node: &'a str,
        allowed: &BTreeMap<&'a str, &'a [&'a str]>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if done.contains(node) {
            return;
        }
        assert!(
            !path.contains(&node),
            "circle among modules: {} -> {node}",
            path.join(" -> ")
        );
        path.push(node);
        for next in allowed.get(node).copied().unwrap_or_default() {
            assert!(allowed.contains_key(next), "`{next}` is not in the table");
            visit(next, allowed, path, done);
        }
        path.pop();
        done.insert(node);
    }
    let mut done = BTreeSet::new();
    for module in allowed.keys() {
        visit(module, &allowed, &mut Vec::new(), &mut done);
    }
}

#[test]
fn a_forbidden_import_is_caught() {
    let file = |module: &str, source: &str| {
        (
            format!("{module}/x.rs"),
            module.to_owned(),
            source.to_owned(),
        )
    };
    let bad = [
        file("http", "use crate::store::Store;\n"),
        file(
            "domain",
            "fn f() { let _ = crate::registry::document_id(b\"\"); }\n",
        ),
        file(
            "log",
            "use crate::{crypto::PublicKey, store::StoreError};\n",
        ),
        file("newthing", "use crate::domain::Timestamp;\n"),
    ];
    let found = violations(&bad);
    assert_eq!(found.len(), 4, "{found:#?}");
    assert!(found[0].contains("`http` imports `store`"), "{found:#?}");
    assert!(
        found[1].contains("`domain` imports `registry`"),
        "{found:#?}"
    );
    assert!(found[2].contains("`log` imports `store`"), "{found:#?}");
    assert!(found[3].contains("not in the table"), "{found:#?}");
    let fine = [
        file(
            "http",
            "use crate::registry::Registry; // crate::store::Store\n",
        ),
        file(
            "registry",
            "use crate::{domain::Timestamp, store::Store};\n",
        ),
    ];
    assert_eq!(violations(&fine), Vec::<String>::new());
}
