//! The chart: hand-written SVG, two log-scale panels (requests/s; p50 and p99
//! latency), one group of bars per route, one bar per server.

use std::fmt::Write as _;

use crate::driver::results::{Run, ROUTES};
use crate::servers::Kind;

const WIDTH: f64 = 1100.0;
const PANEL_H: f64 = 300.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 80.0;
const GAP: f64 = 110.0;

fn color(k: Kind) -> &'static str {
    match k {
        Kind::Baseline => "#7f7f7f",
        Kind::SpCookie => "#1f77b4",
        Kind::SpRedis => "#17becf",
        Kind::SpSeed => "#2ca02c",
        Kind::SpEncrypted => "#393b79",
        Kind::SpRedisNear => "#8c564b",
        Kind::SpRedisNearOwn => "#c49c94",
        Kind::SpMemcache => "#bcbd22",
        Kind::SpMongodb => "#637939",
        Kind::SpFirestore => "#e377c2",
        Kind::TsMemory => "#ffbb78",
        Kind::TsRedis => "#ff7f0e",
        Kind::ActixCookie => "#ff9896",
        Kind::ActixRedis => "#d62728",
        Kind::SpActixCookie => "#aec7e8",
        Kind::SpActixRedis => "#9edae5",
        Kind::Flask => "#9467bd",
    }
}

fn short(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn short_us(us: f64) -> String {
    if us >= 1e6 {
        format!("{:.1}s", us / 1e6)
    } else if us >= 1e3 {
        format!("{:.1}ms", us / 1e3)
    } else {
        format!("{us:.0}µs")
    }
}

/// A log10 axis over the decades covering `[min, max]`.
struct LogAxis {
    lo: f64,
    hi: f64,
    top: f64,
    height: f64,
}

impl LogAxis {
    fn new(min: f64, max: f64, top: f64, height: f64) -> Self {
        let lo = min.max(1e-9).log10().floor();
        let hi = max.max(1e-9).log10().ceil().max(lo + 1.0);
        Self {
            lo,
            hi,
            top,
            height,
        }
    }

    fn y(&self, v: f64) -> f64 {
        let t = (v.max(1e-9).log10() - self.lo) / (self.hi - self.lo);
        self.top + self.height * (1.0 - t.clamp(0.0, 1.0))
    }

    fn grid(&self, s: &mut String, label: fn(f64) -> String) {
        let mut d = self.lo;
        while d <= self.hi + 1e-9 {
            for m in [1.0, 2.0, 5.0] {
                let v = m * 10f64.powf(d);
                if v.log10() > self.hi + 1e-9 {
                    break;
                }
                let y = self.y(v);
                let (stroke, dash) = if m == 1.0 {
                    ("#bbb", "")
                } else {
                    ("#e4e4e4", " stroke-dasharray=\"3,3\"")
                };
                let _ = writeln!(
                    s,
                    r#"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{stroke}"{dash}/>"#,
                    WIDTH - RIGHT
                );
                let _ = writeln!(
                    s,
                    r#"<text x="{:.1}" y="{:.1}" text-anchor="end" font-size="11">{}</text>"#,
                    LEFT - 6.0,
                    y + 4.0,
                    label(v)
                );
            }
            d += 1.0;
        }
    }
}

/// The SVG document for `run`.
pub fn svg(run: &Run, title: &str) -> String {
    let kinds = run.kinds();
    let height = TOP + 2.0 * PANEL_H + GAP + 70.0;
    if run.measurements.is_empty() {
        // No axis to draw (and a log axis over nothing would never end).
        return format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="60"><text x="20" y="30">{}: no measurements</text></svg>
"#,
            escape(title)
        );
    }
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">"#
    );
    let _ = writeln!(
        s,
        r#"<rect width="100%" height="100%" fill="white"/><text x="{}" y="24" text-anchor="middle" font-size="16" font-weight="bold">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );
    // Legend.
    // Two rows, each as wide as the plot (16 servers: 125 px per entry).
    let per_row = kinds.len().div_ceil(2).max(1);
    let col_w = ((WIDTH - LEFT - RIGHT) / per_row as f64).min(190.0);
    let font = if col_w < 150.0 { 11 } else { 12 };
    for (i, k) in kinds.iter().enumerate() {
        let x = LEFT + (i % per_row) as f64 * col_w;
        let y = 40.0 + (i / per_row) as f64 * 18.0;
        let _ = writeln!(
            s,
            r#"<rect x="{x}" y="{y}" width="12" height="12" fill="{}"/><text x="{}" y="{}" font-size="{font}">{}</text>"#,
            color(*k),
            x + 16.0,
            y + 10.5,
            k
        );
    }
    let plot_w = WIDTH - LEFT - RIGHT;
    let group_w = plot_w / ROUTES.len() as f64;
    let bar_w = group_w / (kinds.len() as f64 + 1.5);
    let bar_x = |g: usize, i: usize| LEFT + g as f64 * group_w + bar_w * (0.75 + i as f64);

    // Panel 1: requests/s.
    let top1 = TOP + 20.0;
    let all_rps: Vec<f64> = run.measurements.iter().map(|m| m.wrk.rps).collect();
    let axis = LogAxis::new(min(&all_rps), max(&all_rps) * 1.6, top1, PANEL_H);
    panel_title(
        &mut s,
        top1,
        "Requests per second (higher is better, log scale)",
    );
    axis.grid(&mut s, short);
    for (g, route) in ROUTES.iter().enumerate() {
        route_label(&mut s, g, group_w, top1 + PANEL_H, route);
        for (i, k) in kinds.iter().enumerate() {
            let Some(m) = run.get(*k, route) else {
                continue;
            };
            let (x, y) = (bar_x(g, i), axis.y(m.wrk.rps));
            let ratio = run
                .rps_ratio(*k, route)
                .map_or(String::new(), |r| format!(" ({r:.2}×)"));
            let _ = writeln!(
                s,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{k} {route}: {:.0} req/s{ratio}</title></rect>"#,
                bar_w * 0.9,
                top1 + PANEL_H - y,
                color(*k),
                m.wrk.rps
            );
            vertical_label(&mut s, x + bar_w * 0.45, y - 4.0, &short(m.wrk.rps));
        }
    }

    // Panel 2: latency.
    let top2 = top1 + PANEL_H + GAP;
    let all_lat: Vec<f64> = run
        .measurements
        .iter()
        .flat_map(|m| [m.wrk.p50_us, m.wrk.p99_us])
        .collect();
    let axis = LogAxis::new(min(&all_lat), max(&all_lat) * 1.6, top2, PANEL_H);
    panel_title(
        &mut s,
        top2,
        "Latency: bar = p50, black tick = p99 (lower is better, log scale)",
    );
    axis.grid(&mut s, short_us);
    for (g, route) in ROUTES.iter().enumerate() {
        route_label(&mut s, g, group_w, top2 + PANEL_H, route);
        for (i, k) in kinds.iter().enumerate() {
            let Some(m) = run.get(*k, route) else {
                continue;
            };
            let x = bar_x(g, i);
            let (y50, y99) = (axis.y(m.wrk.p50_us), axis.y(m.wrk.p99_us));
            let _ = writeln!(
                s,
                r#"<rect x="{x:.1}" y="{y50:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{k} {route}: p50 {} p99 {}</title></rect>"#,
                bar_w * 0.9,
                top2 + PANEL_H - y50,
                color(*k),
                short_us(m.wrk.p50_us),
                short_us(m.wrk.p99_us)
            );
            let _ = writeln!(
                s,
                r#"<line x1="{x:.1}" y1="{y99:.1}" x2="{:.1}" y2="{y99:.1}" stroke="black" stroke-width="2"/><line x1="{:.1}" y1="{y99:.1}" x2="{:.1}" y2="{y50:.1}" stroke="black" stroke-width="0.8"/>"#,
                x + bar_w * 0.9,
                x + bar_w * 0.45,
                x + bar_w * 0.45
            );
            vertical_label(&mut s, x + bar_w * 0.45, y99 - 4.0, &short_us(m.wrk.p99_us));
        }
    }
    s.push_str("</svg>\n");
    s
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}

fn panel_title(s: &mut String, top: f64, text: &str) {
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="{:.1}" font-size="13" font-weight="bold">{}</text>"#,
        top - 8.0,
        escape(text)
    );
    let _ = writeln!(
        s,
        r##"<rect x="{LEFT}" y="{top:.1}" width="{:.1}" height="{PANEL_H}" fill="none" stroke="#888"/>"##,
        WIDTH - LEFT - RIGHT
    );
}

fn route_label(s: &mut String, g: usize, group_w: f64, bottom: f64, route: &str) {
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="13" font-family="monospace">GET {route}</text>"#,
        LEFT + (g as f64 + 0.5) * group_w,
        bottom + 18.0
    );
}

fn vertical_label(s: &mut String, x: f64, y: f64, text: &str) {
    let _ = writeln!(
        s,
        r#"<text transform="translate({x:.1},{y:.1}) rotate(-90)" font-size="10" dominant-baseline="middle">{}</text>"#,
        escape(text)
    );
}

fn escape(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_legend_stays_inside_the_chart_with_every_server() {
        use crate::driver::results::{Measurement, Run};
        let run = Run {
            measurements: crate::servers::Kind::ALL
                .iter()
                .map(|&kind| Measurement {
                    kind,
                    route: "/none",
                    wrk: crate::driver::wrk::WrkResult {
                        requests: 10,
                        rps: 1000.0,
                        p50_us: 100.0,
                        p99_us: 200.0,
                        ..Default::default()
                    },
                    rounds_rps: vec![1000.0],
                    cpu_us_per_req: 10.0,
                    redis_client_per_req: 0.0,
                    redis_total_per_req: 0.0,
                    redis_breakdown: String::new(),
                    commands_counted: true,
                    trace: Default::default(),
                    set_cookie_bytes: 0,
                    set_cookie_count: 0,
                })
                .collect(),
            ..Run::default()
        };
        let s = super::svg(&run, "t");
        // Every legend label starts at least 110 px before the right edge.
        for line in s
            .lines()
            .filter(|l| l.contains(r#"width="12" height="12""#))
        {
            let x: f64 = line
                .split("<text x=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .and_then(|v| v.parse().ok())
                .unwrap();
            assert!(x + 110.0 <= super::WIDTH, "{line}");
        }
    }

    #[test]
    fn an_empty_run_gives_a_small_chart() {
        let s = super::svg(&crate::driver::results::Run::default(), "t");
        assert!(s.contains("no measurements") && s.len() < 500, "{s}");
    }
}
