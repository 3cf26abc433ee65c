//! A diagram of a counterexample window, in the spirit of Knossos's `linear.svg` and
//! Porcupine's visualization: one row per process, each op a bar from its invocation to its
//! completion (history positions), the op that could not be linearized in red, optional ops
//! grey and dashed when their outcome is unknown. Self-contained SVG for the run report.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::report::{Counterexample, OpRef};

const ROW: f64 = 28.0;
const LEFT: f64 = 60.0;
const WIDTH: f64 = 900.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The window of `c` as an SVG document; empty string when the window is empty.
pub fn render_svg(c: &Counterexample) -> String {
    if c.window.is_empty() {
        return String::new();
    }
    let lo = c.window.iter().map(|w| w.op.index).min().unwrap_or(0);
    let end = |o: &OpRef| o.completion.filter(|_| o.completed);
    let hi = c
        .window
        .iter()
        .map(|w| end(&w.op).unwrap_or(w.op.index))
        .max()
        .unwrap_or(lo)
        .max(lo + 1)
        + 1;
    let x = |i: u64| LEFT + (i - lo) as f64 / (hi - lo) as f64 * (WIDTH - LEFT - 10.0);
    let rows: BTreeMap<&str, usize> = {
        let mut procs: Vec<&str> = c.window.iter().map(|w| w.op.process.as_str()).collect();
        procs.sort_by_key(|p| (p.parse::<u64>().unwrap_or(u64::MAX), p.to_string()));
        procs.dedup();
        procs.into_iter().enumerate().map(|(i, p)| (p, i)).collect()
    };
    let height = ROW * (rows.len() as f64 + 1.5);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="monospace" font-size="11">"#
    );
    let _ = writeln!(
        s,
        r#"<text x="4" y="14">smallest non-linearizable window, from {}; positions {lo}..{hi}</text>"#,
        esc(&c.window_start)
    );
    for (p, row) in &rows {
        let _ = writeln!(
            s,
            r#"<text x="4" y="{:.0}">p{}</text>"#,
            ROW * (*row as f64 + 1.0) + 18.0,
            esc(p)
        );
    }
    let stuck = c.stuck.as_ref().map(|o| o.index);
    for w in &c.window {
        let y = ROW * (rows[w.op.process.as_str()] as f64 + 1.0) + 4.0;
        let (x0, x1) = (x(w.op.index), end(&w.op).map_or(WIDTH - 10.0, x));
        let fill = if Some(w.op.index) == stuck {
            "#e05050"
        } else if w.required {
            "#5080d0"
        } else {
            "#b0b0b0"
        };
        let dash = if w.op.completed {
            ""
        } else {
            r##" stroke-dasharray="4 3" stroke="#606060""##
        };
        let _ = writeln!(
            s,
            r#"<rect x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{fill}" fill-opacity="0.6"{dash}><title>[{}] p{} {}</title></rect>"#,
            (x1 - x0).max(2.0),
            ROW - 8.0,
            w.op.index,
            esc(&w.op.process),
            esc(&w.op.op)
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
            x0 + 3.0,
            y + 14.0,
            esc(&w.op.op)
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linearizable::report::WindowOp;

    fn op(index: u64, completion: Option<u64>, process: &str, text: &str) -> OpRef {
        OpRef {
            index,
            completion,
            process: process.into(),
            op: text.into(),
            completed: completion.is_some(),
        }
    }

    #[test]
    fn one_bar_per_op_and_the_stuck_op_in_red() {
        let stuck = op(4, Some(6), "1", "read 3");
        let c = Counterexample {
            stuck: Some(stuck.clone()),
            prefix_len: 0,
            prefix: vec![],
            states: vec![],
            window: vec![
                WindowOp {
                    op: op(2, Some(3), "0", "write <0>"),
                    required: true,
                },
                WindowOp {
                    op: stuck,
                    required: true,
                },
                WindowOp {
                    op: op(5, None, "2", "write 4"),
                    required: false,
                },
            ],
            window_start: "any state".into(),
        };
        let svg = render_svg(&c);
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains("#e05050") && svg.contains("stroke-dasharray"));
        assert!(svg.contains("write &lt;0&gt;"), "text is escaped");
        assert!(render_svg(&Counterexample {
            window: vec![],
            ..c
        })
        .is_empty());
    }
}
