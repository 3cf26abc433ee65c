//! The linearizability section of the report: for each key the checker found not
//! linearizable, the op it could not linearize, the states the object could be in, and the
//! smallest non-linearizable window drawn as a diagram (`checkers::linearizable::render_svg`,
//! in the spirit of Knossos's linear.svg and Porcupine's visualization).

use std::fmt::Write;

use checkers::linearizable::{render_svg, LinResults};
use serde_json::Value;

use super::svg::esc;
use super::Links;

/// At most this many failing keys get a diagram; the rest are counted.
const KEYS_SHOWN: usize = 10;

/// The linearizable checker's results inside results.json (`extra.linearizable.detail`), if
/// the run has them and they parse.
pub fn results(results: Option<&Value>) -> Option<LinResults> {
    let detail = results?.get("extra")?.get("linearizable")?.get("detail")?;
    serde_json::from_value(detail.clone()).ok()
}

/// The section, or an empty string when no key failed.
pub fn render(results: Option<&Value>, links: &Links) -> String {
    let Some(lin) = self::results(results) else {
        return String::new();
    };
    let failing: Vec<_> = lin
        .failures
        .iter()
        .filter_map(|(key, k)| Some((key, k.counterexample.as_ref()?)))
        .collect();
    if failing.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    let _ = write!(
        out,
        "<section id=\"linearizability\"><h2>Linearizability counterexamples</h2><p>{} of {} key(s) not linearizable ({} model).</p>",
        failing.len(),
        lin.keys,
        esc(&lin.model)
    );
    for (key, c) in failing.iter().take(KEYS_SHOWN) {
        let name = if key.is_empty() {
            "the register"
        } else {
            key.as_str()
        };
        let _ = write!(out, "<div class=\"lin-key\"><h3>key {}</h3>", esc(name));
        if let Some(s) = &c.stuck {
            let _ = write!(
                out,
                "<p>cannot linearize {} (p{} {}) before it returned; the object could then be in: {}</p>",
                op_link(s.index, links),
                esc(&s.process),
                esc(&s.op),
                esc(&c.states.join(", "))
            );
        }
        let _ = write!(
            out,
            "<p>longest linearizable prefix: {} ops</p>",
            c.prefix_len
        );
        out.push_str(&render_svg(c));
        out.push_str("</div>");
    }
    if failing.len() > KEYS_SHOWN {
        let _ = write!(
            out,
            "<p class=\"note\">{} more keys not shown (results.json has them all).</p>",
            failing.len() - KEYS_SHOWN
        );
    }
    out.push_str("</section>");
    out
}

fn op_link(index: u64, links: &Links) -> String {
    match links.target(index) {
        Some(t) => format!("<a href=\"{t}\">op {index}</a>"),
        None => format!("op {index}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use checkers::linearizable::{check_ops, to_extra, LinOptions, ModelKind};
    use histories::{Op, OpType, Process};
    use serde_json::json;

    fn op(index: u64, p: u64, kind: OpType, f: &str, value: Value) -> Op {
        Op {
            index,
            time: index * 10,
            process: Process::Client(p),
            kind,
            f: f.into(),
            value,
            node: None,
            error: None,
        }
    }

    #[test]
    fn a_stale_read_gets_a_diagram_and_a_valid_history_none() {
        // p0 writes 1 and it completes; p1 then reads 0: not linearizable from init 0.
        let ops = vec![
            op(
                0,
                0,
                OpType::Invoke,
                "write",
                json!({"key": "k", "value": 1}),
            ),
            op(1, 0, OpType::Ok, "write", json!({"key": "k", "value": 1})),
            op(2, 1, OpType::Invoke, "read", json!({"key": "k"})),
            op(3, 1, OpType::Ok, "read", json!({"key": "k", "value": 0})),
        ];
        let opts = LinOptions {
            model: ModelKind::CasRegister,
            init: json!(0),
            ..LinOptions::default()
        };
        let lin = check_ops(&ops, &opts).expect("checks");
        let results = json!({"extra": {"linearizable": to_extra(&lin)}});
        let html = render(Some(&results), &Links::default());
        assert!(html.contains("id=\"linearizability\""), "{html}");
        assert!(html.contains("<svg"), "a diagram is drawn: {html}");
        assert!(
            html.contains("cannot linearize op 2"),
            "the read (invoked at index 2) is the stuck op: {html}"
        );

        let ok = check_ops(&ops[..2], &opts).expect("checks");
        let results = json!({"extra": {"linearizable": to_extra(&ok)}});
        assert_eq!(render(Some(&results), &Links::default()), "");
        assert_eq!(render(None, &Links::default()), "");
    }
}
