//! Charts drawn on the server as SVG with `plotters` (its SVG backend only): the pages allow
//! no inline script or style, and an inline `<svg>` needs neither. Text in the drawing is
//! escaped by the backend; the page gives every chart a caption and a table with the same
//! figures (and its CSV).

use plotters::prelude::*;

/// One line of a chart.
pub struct Series<'a> {
    pub name: &'a str,
    pub color: RGBColor,
    /// One value per x label; `None` leaves a gap.
    pub values: Vec<Option<f64>>,
}

pub const BLUE: RGBColor = RGBColor(31, 95, 170);
pub const ORANGE: RGBColor = RGBColor(214, 110, 20);
pub const GREEN: RGBColor = RGBColor(30, 140, 70);

const SIZE: (u32, u32) = (720, 280);

/// A line chart over categorical x labels (days, hours), as SVG markup.
pub fn lines(title: &str, x: &[String], series: &[Series<'_>], y_unit: &str) -> String {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        let _ = draw(&root, title, x, series, y_unit, false);
        let _ = root.present();
    }
    accessible(out, title)
}

/// A bar chart of one series (volumes), as SVG markup.
pub fn bars(title: &str, x: &[String], series: &Series<'_>, y_unit: &str) -> String {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        let _ = draw(&root, title, x, std::slice::from_ref(series), y_unit, true);
        let _ = root.present();
    }
    accessible(out, title)
}

/// Gives the drawing a role and a name for screen readers (the title is escaped).
fn accessible(svg: String, title: &str) -> String {
    let name = maud::html! { (title) }.into_string().replace('"', "&quot;");
    svg.replacen("<svg ", &format!("<svg role=\"img\" aria-label=\"{name}\" class=\"chart\" "), 1)
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

fn draw(
    root: &Area<'_>,
    title: &str,
    x: &[String],
    series: &[Series<'_>],
    y_unit: &str,
    as_bars: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    root.fill(&WHITE)?;
    let max = series.iter().flat_map(|s| s.values.iter().flatten()).fold(0f64, |a, b| a.max(*b));
    let top = if max <= 0.0 { 1.0 } else { max * 1.1 };
    let n = x.len().max(1);
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(48)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..top)?;
    let every = n.div_ceil(10).max(1);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n.min(12))
        .x_label_formatter(&|v| {
            let i = v.round();
            if (v - i).abs() > 0.01 || i < 0.0 {
                return String::new();
            }
            let i = i as usize;
            if i.is_multiple_of(every) {
                x.get(i).map(|s| short(s)).unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc(y_unit)
        .label_style(("sans-serif", 11))
        .draw()?;
    for s in series {
        if as_bars {
            chart.draw_series(s.values.iter().enumerate().filter_map(|(i, v)| {
                v.map(|v| Rectangle::new([(i as f64 - 0.4, 0.0), (i as f64 + 0.4, v)], s.color.filled()))
            }))?;
        } else {
            // Gaps split the line.
            let mut run: Vec<(f64, f64)> = Vec::new();
            let mut runs = Vec::new();
            for (i, v) in s.values.iter().enumerate() {
                match v {
                    Some(v) => run.push((i as f64, *v)),
                    None if !run.is_empty() => runs.push(std::mem::take(&mut run)),
                    None => {}
                }
            }
            if !run.is_empty() {
                runs.push(run);
            }
            for (k, r) in runs.into_iter().enumerate() {
                let drawn = chart.draw_series(LineSeries::new(r.clone(), s.color.stroke_width(2)))?;
                if k == 0 {
                    let color = s.color;
                    drawn.label(s.name).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                    });
                }
                chart.draw_series(r.into_iter().map(|p| Circle::new(p, 2, s.color.filled())))?;
            }
        }
    }
    if !as_bars && series.len() > 1 {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK.mix(0.3))
            .label_font(("sans-serif", 11))
            .draw()?;
    }
    Ok(())
}

/// "2026-11-26" → "11-26" (days on the axis); other labels as they are.
fn short(s: &str) -> String {
    if s.len() == 10 && s.as_bytes()[4] == b'-' { s[5..].to_string() } else { s.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_without_scripts_or_styles_and_escape_their_text() {
        let x: Vec<String> = (1..=30).map(|d| format!("2026-11-{d:02}")).collect();
        let mut vals: Vec<Option<f64>> = (0..30).map(|i| Some(f64::from(i))).collect();
        vals[4] = None;
        let svg = lines(
            "等待 <script>alert(1)</script>",
            &x,
            &[
                Series { name: "平均 & mean", color: BLUE, values: vals.clone() },
                Series { name: "p90", color: ORANGE, values: vals.clone() },
            ],
            "min",
        );
        assert!(svg.starts_with("<svg role=\"img\" aria-label=\"等待 &lt;script&gt;"));
        assert!(!svg.contains("<script"), "{svg}");
        assert!(!svg.contains("style="));
        assert!(svg.contains("&lt;script&gt;") && svg.contains("平均 &amp; mean"));
        assert!(svg.contains("11-01"));
        let b = bars("量", &x, &Series { name: "n", color: GREEN, values: vals }, "");
        assert!(b.contains("<rect"));
        let empty = lines("空", &[], &[], "");
        assert!(empty.contains("</svg>"));
    }
}
