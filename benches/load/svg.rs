//! A tiny dependency-free SVG line chart (enough for latency-vs-concurrency and RSS-vs-time).

use std::fmt::Write as _;

pub struct Series {
    pub label: String,
    pub color: &'static str,
    pub dashed: bool,
    pub points: Vec<(f64, f64)>,
}

pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// log2 x axis (concurrency 1, 4, 16, 64)
    pub log_x: bool,
    /// log10 y axis
    pub log_y: bool,
    pub series: Vec<Series>,
    /// Optional horizontal reference line (value, label).
    pub hline: Option<(f64, String)>,
}

fn nice_step(range: f64, target_ticks: f64) -> f64 {
    let raw = range / target_ticks;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let n = if norm < 1.5 {
        1.0
    } else if norm < 3.0 {
        2.0
    } else if norm < 7.0 {
        5.0
    } else {
        10.0
    };
    n * mag
}

fn fmt_num(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        let s = format!("{v:.1}");
        s.trim_end_matches(".0").to_string()
    } else if v.abs() >= 0.01 {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.3}")
    }
}

impl Chart {
    pub fn render(&self) -> String {
        let (w, h) = (860.0, 460.0);
        let (ml, mr, mt, mb) = (80.0, 250.0, 50.0, 60.0);
        let pw = w - ml - mr;
        let ph = h - mt - mb;
        let pts: Vec<(f64, f64)> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().copied())
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        let tx = |x: f64| if self.log_x { x.max(1e-9).log2() } else { x };
        let ty = |y: f64| if self.log_y { y.max(1e-9).log10() } else { y };
        let mut xmin = pts.iter().map(|p| tx(p.0)).fold(f64::INFINITY, f64::min);
        let mut xmax = pts
            .iter()
            .map(|p| tx(p.0))
            .fold(f64::NEG_INFINITY, f64::max);
        let mut ymin = pts.iter().map(|p| ty(p.1)).fold(f64::INFINITY, f64::min);
        let mut ymax = pts
            .iter()
            .map(|p| ty(p.1))
            .fold(f64::NEG_INFINITY, f64::max);
        if let Some((v, _)) = &self.hline {
            ymax = ymax.max(ty(*v));
            ymin = ymin.min(ty(*v));
        }
        if !xmin.is_finite() {
            xmin = 0.0;
            xmax = 1.0;
            ymin = 0.0;
            ymax = 1.0;
        }
        if !self.log_x && xmin > 0.0 {
            xmin = 0.0;
        }
        if (xmax - xmin).abs() < 1e-12 {
            xmax = xmin + 1.0;
        }
        if self.log_y {
            ymin = ymin.floor();
            ymax = ymax.ceil();
        } else {
            ymin = 0.0;
            let step = nice_step(ymax.max(1e-9), 5.0);
            ymax = (ymax / step).ceil() * step;
        }
        if (ymax - ymin).abs() < 1e-12 {
            ymax = ymin + 1.0;
        }
        let sx = |x: f64| ml + (tx(x) - xmin) / (xmax - xmin) * pw;
        let sy = |y: f64| mt + ph - (ty(y) - ymin) / (ymax - ymin) * ph;

        let mut o = String::new();
        let _ = writeln!(
            o,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(o, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
        let _ = writeln!(
            o,
            r#"<text x="{}" y="28" font-size="15" font-weight="bold">{}</text>"#,
            ml,
            esc(&self.title)
        );
        // grid + y ticks
        if self.log_y {
            let mut e = ymin as i32;
            while e as f64 <= ymax {
                let v = 10f64.powi(e);
                let y = sy(v);
                let _ = writeln!(
                    o,
                    r##"<line x1="{ml}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/>"##,
                    ml + pw
                );
                let _ = writeln!(
                    o,
                    r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                    ml - 6.0,
                    y + 4.0,
                    fmt_num(v)
                );
                e += 1;
            }
        } else {
            let step = nice_step(ymax - ymin, 5.0);
            let mut v = ymin;
            while v <= ymax + step * 1e-6 {
                let y = sy(v);
                let _ = writeln!(
                    o,
                    r##"<line x1="{ml}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/>"##,
                    ml + pw
                );
                let _ = writeln!(
                    o,
                    r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                    ml - 6.0,
                    y + 4.0,
                    fmt_num(v)
                );
                v += step;
            }
        }
        // x ticks: the distinct x values when log, else nice steps
        let mut xs: Vec<f64> = if self.log_x {
            let mut v: Vec<f64> = pts.iter().map(|p| p.0).collect();
            v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            v.dedup();
            v
        } else {
            let step = nice_step(xmax - xmin, 6.0);
            let mut v = Vec::new();
            let mut x = (xmin / step).ceil() * step;
            while x <= xmax + 1e-9 {
                v.push(x);
                x += step;
            }
            v
        };
        xs.truncate(40);
        for x in xs {
            let px = sx(x);
            let _ = writeln!(
                o,
                r##"<line x1="{px:.1}" y1="{mt}" x2="{px:.1}" y2="{:.1}" stroke="#eee"/>"##,
                mt + ph
            );
            let _ = writeln!(
                o,
                r#"<text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                mt + ph + 18.0,
                fmt_num(x)
            );
        }
        let _ = writeln!(
            o,
            r##"<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>"##
        );
        let _ = writeln!(
            o,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            ml + pw / 2.0,
            h - 14.0,
            esc(&self.x_label)
        );
        let _ = writeln!(
            o,
            r#"<text transform="translate(20,{:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
            mt + ph / 2.0,
            esc(&self.y_label)
        );
        if let Some((v, label)) = &self.hline {
            let y = sy(*v);
            let _ = writeln!(
                o,
                r##"<line x1="{ml}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#c00" stroke-dasharray="2,3"/>"##,
                ml + pw
            );
            let _ = writeln!(
                o,
                r##"<text x="{:.1}" y="{:.1}" fill="#c00" text-anchor="end">{}</text>"##,
                ml + pw - 4.0,
                y - 4.0,
                esc(label)
            );
        }
        for (i, s) in self.series.iter().enumerate() {
            let path: Vec<String> = s
                .points
                .iter()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
                .collect();
            let dash = if s.dashed {
                r#" stroke-dasharray="6,4""#
            } else {
                ""
            };
            let _ = writeln!(
                o,
                r#"<polyline fill="none" stroke="{}" stroke-width="2"{dash} points="{}"/>"#,
                s.color,
                path.join(" ")
            );
            if s.points.len() <= 16 {
                for p in &path {
                    let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
                    let _ = writeln!(o, r#"<circle cx="{x}" cy="{y}" r="3" fill="{}"/>"#, s.color);
                }
            }
            let ly = mt + 10.0 + i as f64 * 20.0;
            let lx = ml + pw + 14.0;
            let _ = writeln!(
                o,
                r#"<line x1="{lx}" y1="{ly}" x2="{:.1}" y2="{ly}" stroke="{}" stroke-width="2"{dash}/>"#,
                lx + 26.0,
                s.color
            );
            let _ = writeln!(
                o,
                r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
                lx + 32.0,
                ly + 4.0,
                esc(&s.label)
            );
        }
        o.push_str("</svg>\n");
        o
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
