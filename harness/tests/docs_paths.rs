//! The architecture docs name files and folders of the workspace; this test fails when one
//! of them no longer exists, so a move or a rename must update the docs in the same change.

use std::path::Path;

/// The docs whose backquoted paths are checked.
const DOCS: &[&str] = &[
    "docs/architecture.md",
    "docs/extending.md",
    "docs/harness-promises.md",
    "docs/systems/etcd.md",
];

/// The workspace's top-level folders: a backquoted word starting with one of them is a path.
const ROOTS: &[&str] = &[
    "histories/",
    "checkers/",
    "nemesis/",
    "node-bin/",
    "harness/",
    "docs/",
    ".ci/",
    ".github/",
];

/// Every `backquoted` path in `text` that starts with a workspace folder.
fn paths(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| ROOTS.iter().any(|r| s.starts_with(r)))
        .filter(|s| !s.contains(' ') && !s.contains('*'))
        .map(String::from)
        .collect()
}

#[test]
fn every_path_the_architecture_docs_name_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut checked = 0;
    let mut missing = Vec::new();
    for doc in DOCS {
        let text = std::fs::read_to_string(root.join(doc))
            .unwrap_or_else(|e| panic!("{doc} is missing: {e}"));
        for p in paths(&text) {
            checked += 1;
            if !root.join(&p).exists() {
                missing.push(format!("{doc}: `{p}`"));
            }
        }
    }
    assert!(
        checked >= 20,
        "only {checked} paths found: is the parser broken?"
    );
    assert!(
        missing.is_empty(),
        "paths named in docs that do not exist:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_path_parser_finds_backquoted_workspace_paths_only() {
    let text = "see `harness/src/run.rs` and `gauntlet run`, `docs/x.md`, `a b/c`";
    assert_eq!(paths(text), vec!["harness/src/run.rs", "docs/x.md"]);
}

/// Proves extending.md is covered: it names the files of each extension (the workload and
/// system registries, the checker protocol, the fault data), so the test above checks them.
#[test]
fn extending_md_names_the_files_of_each_extension() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("docs/extending.md")).unwrap();
    let named = paths(&text);
    for must in [
        "harness/src/workloads/mod.rs",
        "harness/src/workloads/op.rs",
        "harness/src/systems/mod.rs",
        "harness/src/cluster.rs",
        "checkers/src/anomaly.rs",
        "nemesis/src/fault.rs",
    ] {
        assert!(
            named.iter().any(|p| p == must),
            "docs/extending.md does not name `{must}`"
        );
    }
}
