//! Small helpers for hand-built SVG: escaping, linear and log scales, axis ticks.
//!
//! Hand-built rather than a plotting crate: the report needs links (`<a href="#op-N">`),
//! native tooltips (`<title>`) and CSS classes on individual marks, which is simple to emit
//! directly and awkward through a generic backend.

use std::fmt::Write;

use super::model::Window;

/// Escapes text for HTML/SVG element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A linear map from a data range to a pixel range.
#[derive(Debug, Clone, Copy)]
pub struct Linear {
    d0: f64,
    d1: f64,
    p0: f64,
    p1: f64,
}

impl Linear {
    /// Maps `[d0, d1]` onto `[p0, p1]`; a degenerate domain is widened to avoid dividing by 0.
    pub fn new(d0: f64, d1: f64, p0: f64, p1: f64) -> Linear {
        let d1 = if d1 > d0 { d1 } else { d0 + 1.0 };
        Linear { d0, d1, p0, p1 }
    }

    /// The pixel coordinate of `d`.
    pub fn px(&self, d: f64) -> f64 {
        self.p0 + (d - self.d0) / (self.d1 - self.d0) * (self.p1 - self.p0)
    }
}

/// "Nice" tick positions (1, 2, 5 × 10^k steps) covering `[lo, hi]`, about `n` of them.
pub fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if hi <= lo || n == 0 {
        return vec![lo];
    }
    let step = nice_step((hi - lo) / n as f64);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + step * 1e-9 && out.len() < 1000 {
        out.push(t);
        t += step;
    }
    out
}

/// The smallest 1, 2 or 5 × 10^k at least `raw`.
pub fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * mag >= raw * (1.0 - 1e-9) {
            return m * mag;
        }
    }
    10.0 * mag
}

/// Formats a tick label without trailing zeros.
pub fn fmt_num(v: f64) -> String {
    if v.abs() >= 100.0 || v.fract().abs() < 1e-9 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// The plot area of a chart: where data goes inside the SVG.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    /// Total SVG width.
    pub width: f64,
    /// Total SVG height.
    pub height: f64,
    /// Left edge of the plot area.
    pub left: f64,
    /// Right edge.
    pub right: f64,
    /// Top edge.
    pub top: f64,
    /// Bottom edge.
    pub bottom: f64,
}

impl Frame {
    /// Opens an `<svg>` element with a viewBox, a CSS class and an accessible label.
    pub fn open(&self, out: &mut String, class: &str, label: &str) {
        let _ = write!(
            out,
            r#"<svg class="{}" viewBox="0 0 {:.0} {:.0}" width="{:.0}" height="{:.0}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
            esc(class),
            self.width,
            self.height,
            self.width,
            self.height,
            esc(label)
        );
    }

    /// Shades each fault window across the whole plot height (hover: name and span).
    pub fn shade(&self, out: &mut String, windows: &[Window], x: &Linear) {
        for w in windows {
            let (s0, s1) = (w.start as f64 / 1e9, w.end as f64 / 1e9);
            let (x0, x1) = (x.px(s0), x.px(s1));
            let _ = write!(
                out,
                r#"<rect class="nem {}" x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}"><title>{} {s0:.3}s–{s1:.3}s</title></rect>"#,
                w.class.name(),
                self.top,
                (x1 - x0).max(1.0),
                self.bottom - self.top,
                esc(&w.name)
            );
        }
    }

    /// A horizontal grid line at pixel row `py`, labelled on the left.
    pub fn hgrid(&self, out: &mut String, py: f64, label: &str) {
        let _ = write!(
            out,
            r#"<line class="grid" x1="{:.1}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            self.left,
            self.right,
            self.left - 4.0,
            py + 4.0,
            esc(label)
        );
    }

    /// Draws the time axis (seconds) along the bottom, with vertical grid lines.
    pub fn time_axis(&self, out: &mut String, x: &Linear, t_end_s: f64) {
        let _ = write!(
            out,
            r#"<line class="axis" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}"/>"#,
            self.left, self.bottom, self.right, self.bottom
        );
        for t in ticks(0.0, t_end_s, 10) {
            let px = x.px(t);
            let _ = write!(
                out,
                r#"<line class="grid" x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{:.1}"/><text class="tick" x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                self.top,
                self.bottom,
                self.bottom + 14.0,
                fmt_num(t)
            );
        }
        let _ = write!(
            out,
            r#"<text class="label" x="{:.1}" y="{:.1}" text-anchor="middle">time (s)</text>"#,
            (self.left + self.right) / 2.0,
            self.height - 4.0
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn nice_ticks_cover_the_range() {
        assert_eq!(
            ticks(0.0, 30.0, 6),
            vec![0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0]
        );
        assert_eq!(nice_step(0.13), 0.2);
        assert_eq!(nice_step(7.0), 10.0);
        assert_eq!(fmt_num(2.5), "2.5");
        assert_eq!(fmt_num(0.05), "0.05");
    }

    #[test]
    fn linear_maps_ends_and_survives_empty_domains() {
        let s = Linear::new(0.0, 10.0, 100.0, 200.0);
        assert_eq!(s.px(5.0), 150.0);
        let d = Linear::new(3.0, 3.0, 0.0, 10.0);
        assert!(d.px(3.0).is_finite());
    }
}
