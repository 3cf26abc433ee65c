//! `gauntlet import --from jepsen-edn` end to end through the binary, on a fixture written for
//! this test: JSONL on standard output or in `-o FILE`, bad input exits 254 naming the place.

use std::process::Command;

/// A write of 0, then a read of 3 concurrent with a write of 4: not linearizable from 0.
const EDN: &str = r#"; written for this test
[{:type :invoke, :f :write, :value 0, :process 0}
 {:type :ok, :f :write, :value 0, :process 0}
 {:type :invoke, :f :read, :value nil, :process 1}
 {:type :invoke, :f :write, :value 4, :process 2}
 {:type :ok, :f :read, :value 3, :process 1}
 {:type :ok, :f :write, :value 4, :process 2}
 {:type :info, :f :kill, :value nil, :process :nemesis}]
"#;

fn gauntlet() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gauntlet"))
}

/// `gauntlet import --from jepsen-edn EDN -o JSONL`, which must succeed.
fn import_to(edn: &std::path::Path, jsonl: &std::path::Path) {
    let st = gauntlet()
        .args(["import", "--from", "jepsen-edn"])
        .arg(edn)
        .arg("-o")
        .arg(jsonl)
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(0));
}

#[test]
fn import_writes_jsonl_to_stdout_and_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let edn = dir.path().join("h.edn");
    std::fs::write(&edn, EDN).unwrap();
    let out = gauntlet()
        .args(["import", "--from", "jepsen-edn"])
        .arg(&edn)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 7);
    assert_eq!(lines[4]["value"], serde_json::json!({"value": 3}));
    assert_eq!(lines[6]["process"], "nemesis");
    let jsonl = dir.path().join("h.jsonl");
    import_to(&edn, &jsonl);
    assert_eq!(
        std::fs::read_to_string(&jsonl).unwrap(),
        text,
        "-o writes what stdout would"
    );
}

#[test]
fn bad_edn_exits_254_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let edn = dir.path().join("bad.edn");
    std::fs::write(
        &edn,
        "[{:type :invoke :f :read :process 1}\n {:type :ok :f :read :process 1]\n",
    )
    .unwrap();
    let out = gauntlet()
        .args(["import", "--from", "jepsen-edn"])
        .arg(&edn)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(254));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.edn") && err.contains("line 2"), "{err}");
    let missing = gauntlet()
        .args(["import", "--from", "jepsen-edn", "/nonexistent/x.edn"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(254));
}

/// `gauntlet check` runs the linearizability checker when asked, and on its own when the ops
/// are register ops; the exit code follows the verdict, the counterexample is printed.
#[test]
fn check_runs_the_linearizable_checker_on_an_imported_history() {
    let dir = tempfile::tempdir().unwrap();
    let edn = dir.path().join("h.edn");
    std::fs::write(&edn, EDN).unwrap();
    let jsonl = dir.path().join("h.jsonl");
    import_to(&edn, &jsonl);

    let asked = gauntlet()
        .arg("check")
        .arg(&jsonl)
        .args([
            "--checker",
            "linearizable",
            "--model",
            "cas-register",
            "--init",
            "0",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&asked.stdout);
    assert_eq!(
        asked.status.code(),
        Some(1),
        "not linearizable: {text}{}",
        String::from_utf8_lossy(&asked.stderr)
    );
    assert!(
        text.contains("cannot linearize") && text.contains("read 3"),
        "{text}"
    );

    let auto = gauntlet()
        .arg("check")
        .arg(&jsonl)
        .args(["--init", "0", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        auto.status.code(),
        Some(1),
        "chosen from the ops: {}",
        String::from_utf8_lossy(&auto.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&auto.stdout).unwrap();
    assert_eq!(json["extra"]["linearizable"]["valid"], false, "{json}");

    // A write of 1 then a read of 1: linearizable.
    let good = dir.path().join("good.jsonl");
    std::fs::write(
        &good,
        concat!(
            r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"write","value":{"value":1}}"#,
            "\n",
            r#"{"index":1,"time":1,"process":0,"type":"ok","f":"write","value":{"value":1}}"#,
            "\n",
            r#"{"index":2,"time":2,"process":1,"type":"invoke","f":"read","value":{}}"#,
            "\n",
            r#"{"index":3,"time":3,"process":1,"type":"ok","f":"read","value":{"value":1}}"#,
            "\n",
        ),
    )
    .unwrap();
    let ok = gauntlet()
        .arg("check")
        .arg(&good)
        .args(["--checker", "linearizable", "--init", "0"])
        .output()
        .unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );

    let wrong_model = gauntlet()
        .arg("check")
        .arg(&jsonl)
        .args(["--checker", "linearizable", "--model", "mutex"])
        .output()
        .unwrap();
    assert_eq!(
        wrong_model.status.code(),
        Some(254),
        "register ops are not mutex ops"
    );
    assert!(String::from_utf8_lossy(&wrong_model.stderr).contains("h.jsonl"));
}
