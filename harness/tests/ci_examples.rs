//! The CI examples stay valid YAML with the parts the docs promise: the GitLab CI job in
//! docs/torture.md (four shards from `parallel`, `--shard "$CI_NODE_INDEX/$CI_NODE_TOTAL"`, a
//! merge job publishing the merged JUnit) and the GitHub workflow (its SHARDS equals its
//! matrix). actionlint checks the GitHub workflow more deeply in `.ci/run`.

use std::path::Path;

use yaml_rust2::{Yaml, YamlLoader};

fn repo_file(rel: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The first ```yaml block after `heading` in a markdown text.
fn yaml_block<'a>(md: &'a str, heading: &str) -> &'a str {
    let at = md
        .find(heading)
        .unwrap_or_else(|| panic!("no heading {heading:?}"));
    let rest = &md[at..];
    let start = rest.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
    let len = rest[start..].find("\n```").expect("the block's end");
    &rest[start..start + len]
}

fn script_text(job: &Yaml) -> String {
    job["script"]
        .as_vec()
        .expect("a script list")
        .iter()
        .map(|l| l.as_str().expect("script lines are strings").to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn gitlab_example_in_the_docs_parses_and_shards_like_the_github_one() {
    let md = repo_file("docs/torture.md");
    let text = yaml_block(&md, "### The same nightly job on GitLab CI");
    let docs = YamlLoader::load_from_str(text).expect("docs/torture.md's GitLab block is YAML");
    let ci = &docs[0];
    let stages: Vec<&str> = ci["stages"]
        .as_vec()
        .unwrap()
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    assert_eq!(stages, ["torture", "merge"]);
    let torture = &ci["torture"];
    assert_eq!(torture["stage"].as_str(), Some("torture"));
    assert_eq!(torture["parallel"].as_i64(), Some(4), "four shards");
    let script = script_text(torture);
    assert!(script.contains("gauntlet torture"), "{script}");
    assert!(
        script.contains(r#"--shard "$CI_NODE_INDEX/$CI_NODE_TOTAL""#),
        "{script}"
    );
    assert_eq!(torture["artifacts"]["when"].as_str(), Some("always"));
    let merge = &ci["merge"];
    assert_eq!(merge["stage"].as_str(), Some("merge"));
    assert_eq!(merge["needs"][0].as_str(), Some("torture"));
    assert!(script_text(merge).contains("gauntlet merge shard-* --out merged"));
    assert_eq!(
        merge["artifacts"]["reports"]["junit"].as_str(),
        Some("merged/junit.xml")
    );
}

#[test]
fn github_workflow_parses_and_its_shard_count_matches_its_matrix() {
    let text = repo_file(".github/workflows/nightly.yml");
    let docs = YamlLoader::load_from_str(&text).expect("nightly.yml is YAML");
    let wf = &docs[0];
    let shards = wf["env"]["SHARDS"].as_i64().expect("env.SHARDS");
    let matrix = wf["jobs"]["torture"]["strategy"]["matrix"]["shard"]
        .as_vec()
        .expect("the shard matrix");
    assert_eq!(
        matrix.len() as i64,
        shards,
        "SHARDS must equal the matrix length"
    );
}

/// Proves every flag the nightly workflow passes to `gauntlet torture` (the corpus flags
/// included) is one `gauntlet torture --help` lists, so the example cannot drift from the CLI.
#[test]
fn github_workflow_torture_flags_exist() {
    let text = repo_file(".github/workflows/nightly.yml");
    let at = text
        .find("gauntlet torture")
        .expect("a gauntlet torture step");
    let step = &text[at..at + text[at..].find("echo \"code=").expect("the step's end")];
    let flags = torture_flags_of(step);
    assert!(flags.contains(&"--corpus-add"), "{flags:?}");
}

/// The `--flags` of a `gauntlet torture` command line, each asserted to be one that
/// `gauntlet torture --help` lists.
fn torture_flags_of(step: &str) -> Vec<&str> {
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .args(["torture", "--help"])
        .output()
        .expect("gauntlet torture --help");
    let help = String::from_utf8_lossy(&help.stdout);
    let flags: Vec<&str> = step
        .split(|c: char| c.is_whitespace() || c == '"')
        .filter(|w| w.starts_with("--"))
        .collect();
    for flag in &flags {
        assert!(
            help.contains(&format!("{flag} "))
                || help.contains(&format!("{flag}\n"))
                || help.contains(&format!("{flag} <")),
            "{flag} is not a flag of gauntlet torture"
        );
    }
    flags
}

/// Proves both nightly examples install what the default run needs: iproute2 and iptables for
/// the sandbox, and libfaketime for the clock faults of the default `--nemesis all` (without it
/// every seed's setup fails and the night is all unknown), as `.ci/run` does for the tests.
#[test]
fn nightly_examples_install_what_the_default_nemesis_needs() {
    let github = repo_file(".github/workflows/nightly.yml");
    let md = repo_file("docs/torture.md");
    let gitlab = yaml_block(&md, "### The same nightly job on GitLab CI");
    let ci = repo_file(".ci/run");
    for (name, text) in [("nightly.yml", github.as_str()), ("GitLab example", gitlab)] {
        let install = text
            .lines()
            .find(|l| l.contains("apt-get install"))
            .unwrap_or_else(|| panic!("{name}: no apt-get install line"));
        for pkg in ["iproute2", "iptables", "libfaketime"] {
            assert!(
                install.contains(pkg),
                "{name} does not install {pkg}: {install}"
            );
        }
    }
    assert!(
        ci.contains("libfaketime"),
        ".ci/run installs libfaketime for the tests"
    );
}

/// Proves the nightly workflow's simulated job runs `torture --sim` with flags the CLI has.
#[test]
fn github_workflow_runs_a_simulated_torture_with_real_flags() {
    let text = repo_file(".github/workflows/nightly.yml");
    let at = text
        .find("gauntlet torture --sim")
        .expect("a simulated torture step");
    let step = &text[at..at + text[at..].find("--plain").expect("the step's end") + 7];
    let flags = torture_flags_of(step);
    assert!(flags.contains(&"--sim"), "{flags:?}");
}
