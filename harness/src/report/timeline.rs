//! The timeline: one lane per client process, a bar from invoke to completion coloured by
//! outcome, nemesis windows shaded across all lanes, anomalous ops outlined and linked.
//!
//! Up to [`DETAIL_LIMIT`] ops every bar is drawn with its own tooltip. Beyond that, each lane
//! is cut into columns of [`COLUMN_PX`] pixels and a column takes the colour of the worst
//! outcome drawn through it (info over fail over ok), so the SVG stays bounded by
//! lanes × columns however long the history is; anomalous ops are still drawn one by one.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::load::OpType;
use super::model::{Interval, Model};
use super::svg::{esc, Frame, Linear};
use super::Links;

/// Above this many client ops the timeline aggregates.
pub const DETAIL_LIMIT: usize = 4000;
/// Width of an aggregated column, px.
pub const COLUMN_PX: f64 = 2.0;
const WIDTH: f64 = 1200.0;

fn lane_height(lanes: usize) -> f64 {
    match lanes {
        0..=40 => 14.0,
        _ => (600.0 / lanes as f64).clamp(2.0, 14.0),
    }
}

fn severity(k: OpType) -> u8 {
    match k {
        OpType::Ok => 1,
        OpType::Fail => 2,
        OpType::Info => 3,
        OpType::Invoke => 4,
    }
}

fn class_of(sev: u8) -> &'static str {
    match sev {
        1 => "ok",
        2 => "fail",
        3 => "info",
        _ => "pending",
    }
}

/// Renders the timeline SVG.
pub fn render(model: &Model, links: &Links) -> String {
    let lanes = model.processes.len().max(1);
    let lh = lane_height(lanes);
    let top = 10.0;
    let frame = Frame {
        width: WIDTH,
        height: top + lanes as f64 * lh + 36.0,
        left: 64.0,
        right: WIDTH - 10.0,
        top,
        bottom: top + lanes as f64 * lh,
    };
    let t_end = model.end_time as f64 / 1e9;
    let x = Linear::new(0.0, t_end, frame.left, frame.right);
    let lane_of: BTreeMap<u64, usize> = model
        .processes
        .iter()
        .enumerate()
        .map(|(i, p)| (*p, i))
        .collect();
    let mut out = String::new();
    frame.open(&mut out, "timeline", "timeline of operations per process");
    frame.shade(&mut out, &model.windows, &x);
    let show_labels = lh >= 8.0;
    for (i, p) in model.processes.iter().enumerate() {
        let y = frame.top + i as f64 * lh;
        if show_labels {
            let _ = write!(
                out,
                r#"<text class="lane" x="{:.1}" y="{:.1}" text-anchor="end">p{p}</text>"#,
                frame.left - 4.0,
                y + lh * 0.75
            );
        }
    }
    let lane_y = |iv: &Interval| frame.top + lane_of[&iv.process] as f64 * lh;
    if model.intervals.len() <= DETAIL_LIMIT {
        for iv in &model.intervals {
            bar(&mut out, iv, &x, lane_y(iv), lh, links, false);
        }
    } else {
        aggregate(&mut out, model, &x, &frame, lh, &lane_of);
    }
    for iv in model.intervals.iter().filter(|iv| links.is_anomalous(iv)) {
        bar(&mut out, iv, &x, lane_y(iv), lh, links, true);
    }
    frame.time_axis(&mut out, &x, t_end);
    out.push_str("</svg>");
    out
}

fn bar(
    out: &mut String,
    iv: &Interval,
    x: &Linear,
    y: f64,
    lh: f64,
    links: &Links,
    anomalous: bool,
) {
    let x0 = x.px(iv.start as f64 / 1e9);
    let x1 = x.px(iv.end as f64 / 1e9);
    let lat = match iv.latency() {
        Some(ns) => format!("{:.2} ms", ns as f64 / 1e6),
        None => "never completed".to_string(),
    };
    let title = format!(
        "p{} {} {} — {} — ops {}{}",
        iv.process,
        iv.f,
        class_of(severity(iv.outcome)),
        lat,
        iv.invoke_index,
        iv.complete_index
            .map(|c| format!("/{c}"))
            .unwrap_or_default()
    );
    let class = if anomalous {
        format!("op {} anom", class_of(severity(iv.outcome)))
    } else {
        format!("op {}", class_of(severity(iv.outcome)))
    };
    let rect = format!(
        r#"<rect class="{class}" x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}"><title>{}</title></rect>"#,
        y + 1.0,
        (x1 - x0).max(1.0),
        (lh - 2.0).max(1.0),
        esc(&title)
    );
    match links.target_of(iv) {
        Some(href) => {
            let _ = write!(out, r##"<a href="{href}">{rect}</a>"##);
        }
        None => out.push_str(&rect),
    }
}

fn aggregate(
    out: &mut String,
    model: &Model,
    x: &Linear,
    frame: &Frame,
    lh: f64,
    lane_of: &BTreeMap<u64, usize>,
) {
    let cols = ((frame.right - frame.left) / COLUMN_PX).ceil() as usize + 1;
    let mut grid = vec![vec![0u8; cols]; model.processes.len()];
    for iv in &model.intervals {
        let c0 = ((x.px(iv.start as f64 / 1e9) - frame.left) / COLUMN_PX)
            .floor()
            .max(0.0) as usize;
        let c1 = ((x.px(iv.end as f64 / 1e9) - frame.left) / COLUMN_PX)
            .floor()
            .max(0.0) as usize;
        let row = &mut grid[lane_of[&iv.process]];
        let sev = severity(iv.outcome);
        for cell in &mut row[c0.min(cols - 1)..=c1.min(cols - 1)] {
            *cell = (*cell).max(sev);
        }
    }
    for (lane, row) in grid.iter().enumerate() {
        let y = frame.top + lane as f64 * lh + 1.0;
        let mut c = 0;
        while c < cols {
            let sev = row[c];
            let mut e = c + 1;
            while e < cols && row[e] == sev {
                e += 1;
            }
            if sev > 0 {
                let _ = write!(
                    out,
                    r#"<rect class="op {}" x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}"/>"#,
                    class_of(sev),
                    frame.left + c as f64 * COLUMN_PX,
                    (e - c) as f64 * COLUMN_PX,
                    (lh - 2.0).max(1.0)
                );
            }
            c = e;
        }
    }
}
