//! JUnit XML for torture runs: one `<testcase>` per seed, so CI systems (GitHub Actions test
//! reporters, GitLab, Jenkins) show each seed as a test. An invalid seed is a `<failure>`
//! whose text holds its anomalies and the exact command that reruns it; an unknown one is an
//! `<error type="unknown">`, and a run the harness could not carry out an `<error type="error">`.
//!
//! Merging shards' JUnit files ([`merge`]) concatenates their `<testsuite>` elements under one
//! `<testsuites>` root with summed counts; it reads only files in the shape [`render`] writes.

use std::fmt::Write;

use crate::torture::summary::{RunRecord, Summary, Verdict};

/// Escapes text for XML 1.0, replacing the control characters it cannot carry at all (ANSI
/// colour codes in an error message, say) with U+FFFD.
fn esc(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| {
            if c < ' ' && !matches!(c, '\t' | '\n' | '\r') {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect();
    crate::report::svg::esc(&clean)
}

/// Renders the summary as a JUnit XML document.
pub fn render(summary: &Summary) -> String {
    let suite = suite(summary);
    let c = summary.counts();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        r#"<testsuites name="gauntlet torture" tests="{}" failures="{}" errors="{}" time="{:.3}">"#,
        summary.runs.len(),
        c.invalid,
        c.unknown + c.error,
        summary.seconds
    );
    out.push_str(&suite);
    out.push_str("</testsuites>\n");
    out
}

/// The `<testsuite>` element of one summary.
fn suite(summary: &Summary) -> String {
    let c = summary.counts();
    let name = format!("gauntlet.torture.{}", summary.name);
    let shard = if summary.shards.is_empty() {
        String::new()
    } else {
        format!(" {SHARD_PREFIX}{}", summary.shards.join(","))
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"  <testsuite name="{}" tests="{}" failures="{}" errors="{}" skipped="0" time="{:.3}" timestamp="{}">"#,
        esc(&name),
        summary.runs.len(),
        c.invalid,
        c.unknown + c.error,
        summary.seconds,
        esc(&summary.started)
    );
    if !shard.is_empty() {
        let _ = writeln!(
            out,
            r#"    <properties><property name="shard" value="{}"/></properties>"#,
            esc(shard.trim())
        );
    }
    for r in &summary.runs {
        testcase(&mut out, &name, r);
    }
    out.push_str("  </testsuite>\n");
    out
}

fn testcase(out: &mut String, classname: &str, r: &RunRecord) {
    let _ = write!(
        out,
        r#"    <testcase classname="{}" name="{}" time="{:.3}""#,
        esc(classname),
        esc(&r.label()),
        r.seconds
    );
    let mut body = String::new();
    for a in &r.anomalies {
        let _ = writeln!(body, "anomaly: {a}");
    }
    if let Some(e) = &r.error {
        let _ = writeln!(body, "error: {e}");
    }
    if let Some(dir) = &r.run_dir {
        let _ = writeln!(
            body,
            "run dir: {dir}{}",
            if r.kept { "" } else { " (pruned)" }
        );
    }
    let _ = writeln!(body, "repro: {}", r.repro);
    let (tag, kind) = match r.verdict {
        Verdict::Valid => {
            let _ = write!(
                out,
                ">\n      <system-out>{}</system-out>\n    </testcase>\n",
                esc(&body)
            );
            return;
        }
        Verdict::Invalid => ("failure", "invalid"),
        Verdict::Unknown => ("error", "unknown"),
        Verdict::Error => ("error", "error"),
    };
    let message = match (r.verdict, r.anomalies.first(), &r.error) {
        (Verdict::Invalid, Some(_), _) => {
            // Short: the classes only; the full anomalies are in the element's text.
            let classes: std::collections::BTreeSet<&str> = r
                .anomalies
                .iter()
                .map(|a| a.split(" (ops").next().unwrap_or(a))
                .collect();
            let classes: Vec<&str> = classes.into_iter().collect();
            format!(
                "invalid: {} anomalies: {}",
                r.anomalies.len(),
                classes.join(", ")
            )
        }
        (_, _, Some(e)) => format!("{kind}: {e}"),
        _ => format!("{kind}; rerun: {}", r.repro),
    };
    let _ = write!(
        out,
        ">\n      <{tag} type=\"{kind}\" message=\"{}\">{}</{tag}>\n    </testcase>\n",
        esc(&message),
        esc(&body)
    );
}

/// Shard property value prefix in a `<testsuite>` written by [`render`].
const SHARD_PREFIX: &str = "shard ";

/// What [`merge`] made: the document, its counts (from the elements, not the attributes)
/// and each input suite's name and shards, so the caller can check the shards are complete.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    /// The merged document.
    pub xml: String,
    /// `<testcase>` elements.
    pub tests: u64,
    /// `<failure>` elements.
    pub failures: u64,
    /// `<error>` elements.
    pub errors: u64,
    /// Per input suite: (input name, suite name, its shards such as `1/4`; empty if unsharded).
    pub suites: Vec<(String, String, Vec<String>)>,
}

/// Joins JUnit documents written by [`render`] into one: every `<testsuite>` element under
/// one root. The counts are those of the `<testcase>`, `<failure>` and `<error>` elements; a
/// suite whose count attributes say otherwise (a `<failure>` its `failures` does not count)
/// is an error naming the input, so a miscounted file can never merge into a green gate.
pub fn merge(docs: &[(String, String)]) -> Result<Merged, String> {
    let mut suites = String::new();
    let (mut tests, mut failures, mut errors, mut time) = (0u64, 0u64, 0u64, 0f64);
    let mut names = Vec::new();
    for (name, doc) in docs {
        well_formed(doc).map_err(|e| format!("{name}: not well-formed XML: {e}"))?;
        let start = doc
            .find("<testsuite ")
            .ok_or_else(|| format!("{name}: no <testsuite> element"))?;
        let end = doc
            .rfind("</testsuite>")
            .ok_or_else(|| format!("{name}: unterminated <testsuite>"))?
            + "</testsuite>".len();
        let body = &doc[start..end];
        let found = [
            ("tests", elements(body, "testcase")),
            ("failures", elements(body, "failure")),
            ("errors", elements(body, "error")),
        ];
        for (i, open) in body
            .match_indices("<testsuite ")
            .map(|(i, _)| (i, &body[i..]))
        {
            let tag = &open[..open.find('>').unwrap_or(open.len())];
            time = time.max(attr(tag, "time").unwrap_or(0.0));
            let suite_end = body[i..].find("</testsuite>").map_or(body.len(), |e| i + e);
            names.push((
                name.clone(),
                text_attr(tag, "name"),
                shards_of(&body[i..suite_end]),
            ));
        }
        for (key, n) in found {
            let said: Option<u64> = body
                .match_indices("<testsuite ")
                .map(|(i, _)| {
                    let open = &body[i..];
                    attr(&open[..open.find('>').unwrap_or(open.len())], key).map(|v| v as u64)
                })
                .sum();
            if said.is_some_and(|said| said != n) {
                return Err(format!(
                    "{name}: the <testsuite> says {key}=\"{}\" but holds {n} such elements",
                    said.unwrap_or(0)
                ));
            }
        }
        tests += found[0].1;
        failures += found[1].1;
        errors += found[2].1;
        suites.push_str("  ");
        suites.push_str(body);
        suites.push('\n');
    }
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"gauntlet torture\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{time:.3}\">\n{suites}</testsuites>\n"
    );
    Ok(Merged {
        xml,
        tests,
        failures,
        errors,
        suites: names,
    })
}

/// How many `<name>` elements (opening or self-closing) the text holds.
fn elements(xml: &str, name: &str) -> u64 {
    let open = format!("<{name}");
    xml.match_indices(&open)
        .filter(|(i, _)| {
            xml[i + open.len()..]
                .chars()
                .next()
                .is_some_and(|c| c == '>' || c == '/' || c.is_whitespace())
        })
        .count() as u64
}

/// A text attribute of an XML start tag, as written (still escaped).
fn text_attr(tag: &str, name: &str) -> String {
    let key = format!(" {name}=\"");
    tag.find(&key)
        .and_then(|i| tag[i + key.len()..].split('"').next())
        .unwrap_or("")
        .to_string()
}

/// The shards a suite's `shard` property names (`shard 1/4,3/4`), empty when it has none.
fn shards_of(suite: &str) -> Vec<String> {
    let Some(i) = suite.find("<property name=\"shard\"") else {
        return Vec::new();
    };
    let value = text_attr(
        &suite[i..suite[i..].find('>').map_or(suite.len(), |e| i + e)],
        "value",
    );
    value
        .strip_prefix(SHARD_PREFIX)
        .unwrap_or(&value)
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// A numeric attribute of an XML start tag.
fn attr(tag: &str, name: &str) -> Option<f64> {
    let key = format!(" {name}=\"");
    let i = tag.find(&key)? + key.len();
    let rest = &tag[i..];
    rest[..rest.find('"')?].parse().ok()
}

/// A small XML well-formedness check: tags nest and close, attribute values are quoted,
/// and text and attributes hold no raw `<` or unescaped `&`.
pub fn well_formed(xml: &str) -> Result<(), String> {
    let body = match xml.trim_start().strip_prefix("<?xml") {
        Some(rest) => &rest[rest.find("?>").ok_or("unterminated XML declaration")? + 2..],
        None => xml,
    };
    let mut stack: Vec<String> = Vec::new();
    let mut rest = body;
    while let Some(lt) = rest.find('<') {
        check_text(&rest[..lt])?;
        let gt = rest[lt..].find('>').ok_or("unterminated tag")? + lt;
        let tag = &rest[lt + 1..gt];
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack.pop().ok_or(format!("</{name}> closes nothing"))?;
            if open != name {
                return Err(format!("<{open}> closed by </{name}>"));
            }
        } else {
            let self_closing = tag.ends_with('/');
            let tag = tag.trim_end_matches('/');
            let name = tag
                .split_whitespace()
                .next()
                .ok_or("empty tag")?
                .to_string();
            let attrs = &tag[name.len()..];
            if attrs.matches('"').count() % 2 != 0 {
                return Err(format!("<{name}>: unbalanced quotes"));
            }
            for (i, value) in attrs.split('"').enumerate() {
                if i % 2 == 1 {
                    check_text(value)?;
                }
            }
            if !self_closing {
                stack.push(name);
            }
        }
        rest = &rest[gt + 1..];
    }
    check_text(rest)?;
    match stack.pop() {
        Some(open) => Err(format!("<{open}> never closed")),
        None => Ok(()),
    }
}

fn check_text(t: &str) -> Result<(), String> {
    for (i, _) in t.match_indices('&') {
        let ent = &t[i..];
        if !["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"]
            .iter()
            .any(|e| ent.starts_with(e))
        {
            return Err(format!("unescaped & in {t:?}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::torture::summary::tests::record;

    #[test]
    fn the_checker_rejects_broken_xml() {
        let decl = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";
        assert!(well_formed(&format!("{decl}<a><b/></a>")).is_ok());
        assert!(well_formed(&format!("{decl}<a><b></a>")).is_err());
        assert!(well_formed(&format!("{decl}<a x=\"1 & 2\"></a>")).is_err());
        assert!(well_formed(&format!("{decl}<a>x < y</a>")).is_err());
        assert!(
            well_formed("<a></a>").is_ok(),
            "the declaration is optional"
        );
        let e = merge(&[(
            "d.xml".into(),
            format!("{decl}<testsuites><testsuite name=\"x\"></testsuites>"),
        )])
        .unwrap_err();
        assert!(e.contains("d.xml") && e.contains("well-formed"), "{e}");
    }

    fn summary(shard: &str, runs: Vec<RunRecord>) -> Summary {
        Summary {
            name: "mixed-all".into(),
            shards: vec![shard.into()],
            started: "2026-01-01T00:00:00Z".into(),
            seconds: 12.5,
            runs,
        }
    }

    #[test]
    fn one_testcase_per_seed_failures_carry_anomalies_and_repro() {
        let mut bad = record(7, Verdict::Invalid);
        bad.anomalies = vec!["locks: split <lock> & more".into()];
        let s = summary(
            "1/1",
            vec![record(6, Verdict::Valid), bad, record(8, Verdict::Unknown)],
        );
        let xml = render(&s);
        assert_eq!(xml.matches("<testcase ").count(), 3);
        assert!(
            xml.contains(r#"tests="3" failures="1" errors="1""#),
            "{xml}"
        );
        let fail = &xml[xml.find(r#"name="seed 7""#).unwrap()..];
        let fail = &fail[..fail.find("</testcase>").unwrap()];
        assert!(fail.contains("<failure type=\"invalid\""), "{fail}");
        assert!(
            fail.contains("split &lt;lock&gt; &amp; more"),
            "escaped anomaly: {fail}"
        );
        assert!(fail.contains("repro: gauntlet run --seed 7"), "{fail}");
        assert!(xml.contains(r#"<error type="unknown""#));
        well_formed(&xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
        let mut odd = record(9, Verdict::Error);
        odd.error = Some("\u{1b}[31mred\u{1b}[0m".into());
        let xml = render(&summary("1/1", vec![odd]));
        assert!(
            !xml.contains('\u{1b}') && xml.contains("\u{FFFD}[31mred"),
            "{xml}"
        );
        // Balanced elements: every opened testcase and testsuite is closed.
        assert_eq!(
            xml.matches("<testcase ").count(),
            xml.matches("</testcase>").count()
        );
        assert_eq!(
            xml.matches("<testsuite ").count(),
            xml.matches("</testsuite>").count()
        );
    }

    #[test]
    fn merge_joins_suites_and_sums_counts() {
        let a = render(&summary(
            "1/2",
            vec![record(0, Verdict::Valid), record(2, Verdict::Invalid)],
        ));
        let b = render(&summary("2/2", vec![record(1, Verdict::Unknown)]));
        let m = merge(&[("a.xml".into(), a), ("b.xml".into(), b)]).unwrap();
        assert_eq!((m.tests, m.failures, m.errors), (3, 1, 1));
        assert_eq!(
            m.suites,
            vec![
                (
                    "a.xml".into(),
                    "gauntlet.torture.mixed-all".into(),
                    vec!["1/2".into()]
                ),
                (
                    "b.xml".into(),
                    "gauntlet.torture.mixed-all".into(),
                    vec!["2/2".into()]
                ),
            ]
        );
        let m = m.xml;
        assert!(
            m.contains(r#"<testsuites name="gauntlet torture" tests="3" failures="1" errors="1""#),
            "{m}"
        );
        assert_eq!(m.matches("<testsuite ").count(), 2);
        assert_eq!(m.matches("<testcase ").count(), 3);
        assert_eq!(m.matches("<?xml").count(), 1);
        well_formed(&m).unwrap_or_else(|e| panic!("{e}: {m}"));
        let decl = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
        let e = merge(&[("c.xml".into(), format!("{decl}<testsuites/>"))]).unwrap_err();
        assert!(e.contains("c.xml"), "{e}");
    }

    /// Proves: the counts come from the elements. A `<failure>` with no `failures` attribute
    /// still counts, and attributes that undercount it are refused, naming the file.
    #[test]
    fn failures_are_counted_from_elements_not_attributes() {
        let decl = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
        let suite = |attrs: &str| {
            format!(
                "{decl}<testsuites><testsuite name=\"s\"{attrs}><testcase name=\"seed 1\"><failure message=\"x\">x</failure></testcase><testcase name=\"seed 2\"/></testsuite></testsuites>"
            )
        };
        let m = merge(&[("bare.xml".into(), suite(""))]).unwrap();
        assert_eq!((m.tests, m.failures, m.errors), (2, 1, 0));
        assert!(
            m.xml.contains(r#"tests="2" failures="1" errors="0""#),
            "{}",
            m.xml
        );
        let e = merge(&[("liar.xml".into(), suite(r#" tests="2" failures="0""#))]).unwrap_err();
        assert!(e.contains("liar.xml") && e.contains("failures"), "{e}");
    }
}
