//! Latency over time (one log-scale scatter per f, as Jepsen's latency-raw) and throughput
//! over time (completions per second per f and outcome, as Jepsen's rate plot), both with the
//! nemesis windows shaded.
//!
//! The scatter stays bounded for long histories: points are snapped to a grid of
//! [`CELL_PX`]-pixel cells and each occupied cell of each outcome is drawn once, so a 100,000-op
//! history costs at most (plot area ÷ cell²) marks per outcome, while lone outliers are kept.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::load::OpType;
use super::model::Model;
use super::svg::{esc, fmt_num, nice_step, Frame, Linear};

/// Size of a scatter cell, px.
pub const CELL_PX: f64 = 3.0;

/// Colours for the per-f series of the throughput plot (CSS classes `s0`..`s7`).
const SERIES: usize = 8;

/// One latency scatter per f, in a wrapping row of small charts.
pub fn latency(model: &Model) -> String {
    let mut out = String::new();
    for f in &model.fs {
        latency_one(&mut out, model, f);
    }
    if model.fs.is_empty() {
        out.push_str("<p class=\"empty\">No client operations.</p>");
    }
    out
}

fn latency_one(out: &mut String, model: &Model, f: &str) {
    let frame = Frame {
        width: 590.0,
        height: 260.0,
        left: 56.0,
        right: 580.0,
        top: 24.0,
        bottom: 226.0,
    };
    let pts: Vec<(f64, f64, OpType)> = model
        .intervals
        .iter()
        .filter(|iv| iv.f == f)
        .filter_map(|iv| {
            iv.latency().map(|l| {
                (
                    iv.start as f64 / 1e9,
                    (l.max(1_000) as f64 / 1e6),
                    iv.outcome,
                )
            })
        })
        .collect();
    let t_end = model.end_time as f64 / 1e9;
    let x = Linear::new(0.0, t_end, frame.left, frame.right);
    let (lo, hi) = pts.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.1), hi.max(p.1))
    });
    let (lo_dec, hi_dec) = if pts.is_empty() {
        (0.0, 3.0)
    } else {
        (
            lo.log10().floor(),
            hi.log10().ceil().max(lo.log10().floor() + 1.0),
        )
    };
    let y = Linear::new(lo_dec, hi_dec, frame.bottom, frame.top);
    frame.open(out, "latency", &format!("latency of {f} over time"));
    let _ = write!(
        out,
        r#"<text class="title" x="{:.1}" y="16">{} latency (ms, log)</text>"#,
        frame.left,
        esc(f)
    );
    frame.shade(out, &model.windows, &x);
    let mut dec = lo_dec;
    while dec <= hi_dec + 1e-9 {
        frame.hgrid(out, y.px(dec), &fmt_num(10f64.powf(dec)));
        dec += 1.0;
    }
    let mut seen: BTreeSet<(u8, i64, i64)> = BTreeSet::new();
    let mut drawn = 0usize;
    for (t, ms, kind) in &pts {
        let (px, py) = (x.px(*t), y.px(ms.log10()));
        let key = (*kind as u8, (px / CELL_PX) as i64, (py / CELL_PX) as i64);
        if seen.insert(key) {
            drawn += 1;
            let _ = write!(
                out,
                r#"<circle class="pt {}" cx="{px:.1}" cy="{py:.1}" r="1.8"/>"#,
                kind.as_str()
            );
        }
    }
    quantile_lines(out, &pts, t_end, &x, &y);
    frame.time_axis(out, &x, t_end);
    let _ = write!(
        out,
        r#"<text class="note" x="{:.1}" y="16" text-anchor="end">{} ops, {} marks</text></svg>"#,
        frame.right,
        pts.len(),
        drawn
    );
}

/// The latency quantiles drawn over the scatter (Jepsen's latency-quantiles), over ok ops.
pub const QUANTILES: [(f64, &str); 3] = [(0.5, "p50"), (0.95, "p95"), (0.99, "p99")];

/// Draws p50/p95/p99 of ok latencies per time bucket (about 30 buckets) as lines.
fn quantile_lines(
    out: &mut String,
    pts: &[(f64, f64, OpType)],
    t_end: f64,
    x: &Linear,
    y: &Linear,
) {
    let bucket = nice_step((t_end / 30.0).max(0.001));
    let mut by_bucket: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for (t, ms, kind) in pts {
        if *kind == OpType::Ok {
            by_bucket
                .entry((t / bucket) as usize)
                .or_default()
                .push(*ms);
        }
    }
    for v in by_bucket.values_mut() {
        v.sort_by(f64::total_cmp);
    }
    for (q, name) in QUANTILES {
        let points: Vec<String> = by_bucket
            .iter()
            .map(|(b, v)| {
                let ms = quantile(v, q);
                format!(
                    "{:.1},{:.1}",
                    x.px((*b as f64 + 0.5) * bucket),
                    y.px(ms.log10())
                )
            })
            .collect();
        if points.len() > 1 {
            let _ = write!(
                out,
                r#"<polyline class="q {name}" points="{}"><title>{name} of ok latencies per {}s</title></polyline>"#,
                points.join(" "),
                fmt_num(bucket)
            );
        }
    }
}

/// The `q` quantile of sorted, non-empty `v` (nearest rank).
pub fn quantile(v: &[f64], q: f64) -> f64 {
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

/// Completions per second over time, one line per (f, outcome).
pub fn throughput(model: &Model) -> String {
    let frame = Frame {
        width: 1200.0,
        height: 300.0,
        left: 56.0,
        right: 1040.0,
        top: 14.0,
        bottom: 266.0,
    };
    let t_end = model.end_time as f64 / 1e9;
    let bucket = nice_step((t_end / 50.0).max(0.001));
    let nb = (t_end / bucket).floor() as usize + 1;
    let mut series: BTreeMap<(String, OpType), Vec<f64>> = BTreeMap::new();
    for iv in model
        .intervals
        .iter()
        .filter(|iv| iv.complete_index.is_some())
    {
        let b = ((iv.end as f64 / 1e9) / bucket) as usize;
        series
            .entry((iv.f.clone(), iv.outcome))
            .or_insert_with(|| vec![0.0; nb])[b.min(nb - 1)] += 1.0 / bucket;
    }
    let max = series
        .values()
        .flatten()
        .fold(0.0f64, |a, b| a.max(*b))
        .max(1.0);
    let x = Linear::new(0.0, t_end, frame.left, frame.right);
    let y = Linear::new(0.0, max * 1.05, frame.bottom, frame.top);
    let mut out = String::new();
    frame.open(&mut out, "throughput", "throughput over time");
    frame.shade(&mut out, &model.windows, &x);
    for t in super::svg::ticks(0.0, max, 5) {
        frame.hgrid(&mut out, y.px(t), &fmt_num(t));
    }
    let f_index: BTreeMap<&String, usize> = model
        .fs
        .iter()
        .enumerate()
        .map(|(i, f)| (f, i % SERIES))
        .collect();
    for (n, ((f, kind), counts)) in series.iter().enumerate() {
        let pts: Vec<String> = counts
            .iter()
            .enumerate()
            .map(|(b, c)| format!("{:.1},{:.1}", x.px((b as f64 + 0.5) * bucket), y.px(*c)))
            .collect();
        let s = f_index.get(f).copied().unwrap_or(0);
        let _ = write!(
            out,
            r#"<polyline class="rate s{s} {}" points="{}"><title>{} {}</title></polyline>"#,
            kind.as_str(),
            pts.join(" "),
            esc(f),
            kind.as_str()
        );
        let ly = frame.top + 6.0 + n as f64 * 16.0;
        let _ = write!(
            out,
            r#"<line class="rate s{s} {}" x1="{:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}"/><text class="legend" x="{:.1}" y="{:.1}">{} {}</text>"#,
            kind.as_str(),
            frame.right + 10.0,
            frame.right + 34.0,
            frame.right + 40.0,
            ly + 4.0,
            esc(f),
            kind.as_str()
        );
    }
    frame.time_axis(&mut out, &x, t_end);
    let _ = write!(
        out,
        r#"<text class="note" x="{:.1}" y="{:.1}" text-anchor="end">ops/s, {}s buckets</text></svg>"#,
        frame.right,
        frame.top + 10.0,
        fmt_num(bucket)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&[7.0], 0.95), 7.0);
    }
}
