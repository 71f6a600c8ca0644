//! Drawing a [`Figure`] with plotters, on an SVG string or an RGB pixel buffer.

use super::{Chart, Figure};
use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::sync::Once;

/// Lines: Tableau 10 (the palette matplotlib users know) less the red and purple kept for marks.
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(140, 86, 75),
    RGBColor(23, 190, 207),
    RGBColor(227, 119, 194),
    RGBColor(188, 189, 34),
    RGBColor(127, 127, 127),
];

/// Marks: dark grey, red, purple.
const MARK_COLORS: [RGBColor; 3] = [RGBColor(70, 70, 70), RGBColor(214, 39, 40), RGBColor(148, 103, 189)];

const FONT: &str = "sans-serif";

/// Makes the embedded DejaVu Sans the `sans-serif` font plotters measures and draws with.
fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
            .unwrap_or_else(|_| panic!("the embedded DejaVu Sans is a valid font"));
    });
}

fn failed(e: impl std::fmt::Display) -> Error {
    Error::State(format!("cannot draw the chart: {e}"))
}

pub(super) fn svg(figure: &Figure, out: &mut String) -> Result<()> {
    register_font();
    let root = SVGBackend::with_string(out, figure.size()).into_drawing_area();
    figure_on(figure, &root)?;
    root.present().map_err(failed)
}

pub(super) fn bitmap(figure: &Figure, rgb: &mut [u8]) -> Result<()> {
    register_font();
    let root = BitMapBackend::with_buffer(rgb, figure.size()).into_drawing_area();
    figure_on(figure, &root)?;
    root.present().map_err(failed)
}

fn figure_on<DB: DrawingBackend>(figure: &Figure, root: &DrawingArea<DB, Shift>) -> Result<()> {
    if figure.charts.is_empty() {
        return Err(Error::State("a figure needs at least one chart".into()));
    }
    root.fill(&WHITE).map_err(failed)?;
    let columns = figure.columns.clamp(1, figure.charts.len());
    let rows = figure.charts.len().div_ceil(columns);
    for (area, chart) in root.split_evenly((rows, columns)).iter().zip(&figure.charts) {
        chart_on(chart, area)?;
    }
    Ok(())
}

/// The range covering `values`, padded by 5% (a unit around a single value).
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) =
        values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo { (hi - lo) * 0.05 } else { lo.abs().max(1.0) * 0.5 };
    (lo - pad, hi + pad)
}

/// `chart` with its logarithmic axes' values as their base-10 logarithms (a value at or below
/// 0 has none: NaN, which breaks the line), drawn on linear axes whose ticks read `10^v`.
fn on_log_axes(chart: &Chart) -> Chart {
    let log = |v: f64, on: bool| {
        if !on {
            v
        } else if v > 0.0 {
            v.log10()
        } else {
            f64::NAN
        }
    };
    let mut c = chart.clone();
    for s in &mut c.series {
        for p in &mut s.points {
            *p = (log(p.0, chart.log_x), log(p.1, chart.log_y));
        }
        s.points.retain(|p| p.0.is_finite());
    }
    for m in &mut c.marks {
        m.x = log(m.x, chart.log_x);
    }
    c.marks.retain(|m| m.x.is_finite());
    c
}

/// `chart` with every value above its `y_max` drawn at it.
fn clipped(chart: &Chart) -> Chart {
    let mut c = chart.clone();
    if let Some(top) = chart.y_max {
        for p in c.series.iter_mut().flat_map(|s| s.points.iter_mut()) {
            p.1 = p.1.min(top);
        }
    }
    c
}

fn chart_on<DB: DrawingBackend>(chart: &Chart, area: &DrawingArea<DB, Shift>) -> Result<()> {
    let (log_x, log_y) = (chart.log_x, chart.log_y);
    let clipped = clipped(chart);
    let transformed;
    let chart = if log_x || log_y {
        transformed = on_log_axes(&clipped);
        &transformed
    } else {
        &clipped
    };
    let points = || chart.series.iter().flat_map(|s| s.points.iter());
    let (x0, x1) = range(points().map(|p| p.0).chain(chart.marks.iter().map(|m| m.x)));
    let (y0, y1) = range(points().map(|p| p.1));
    let mut ctx = ChartBuilder::on(area)
        .caption(&chart.title, (FONT, 22))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(64)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(failed)?;
    let integer_x = !log_x && chart.series.iter().flat_map(|s| &s.points).all(|p| p.0.fract() == 0.0);
    let x_format = |v: &f64| {
        if log_x {
            log_tick(*v)
        } else if !integer_x {
            format!("{v}")
        } else if (v - v.round()).abs() < 1e-9 {
            format!("{}", v.round())
        } else {
            String::new() // no tick between whole epochs
        }
    };
    ctx.configure_mesh()
        .x_desc(&chart.x_label)
        .y_desc(&chart.y_label)
        .x_labels(12)
        .y_labels(8)
        .x_label_formatter(&x_format)
        .y_label_formatter(&|v| if log_y { log_tick(*v) } else { format_tick(*v) })
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 16))
        .max_light_lines(1)
        .light_line_style(RGBColor(242, 242, 242))
        .bold_line_style(RGBColor(222, 222, 222))
        .draw()
        .map_err(failed)?;

    for mark in &chart.marks {
        let color = MARK_COLORS[mark.color % MARK_COLORS.len()];
        let style = color.stroke_width(2);
        ctx.draw_series(DashedLineSeries::new([(mark.x, y0), (mark.x, y1)], 3, 3, style))
            .map_err(failed)?
            .label(&mark.label)
            .legend(move |(x, y)| DashedPathElement::new([(x, y), (x + 22, y)], 3, 3, style));
    }
    for series in &chart.series {
        let color = PALETTE[series.color % PALETTE.len()];
        let style = color.stroke_width(2);
        // NaN ends a segment: draw each finite run on its own.
        let runs = series.points.split(|p| !p.1.is_finite()).filter(|r| !r.is_empty());
        let mut first = true;
        for run in runs {
            let drawn = if series.dashed {
                ctx.draw_series(DashedLineSeries::new(run.iter().copied(), 7, 4, style)).map_err(failed)?
            } else {
                ctx.draw_series(LineSeries::new(run.iter().copied(), style)).map_err(failed)?
            };
            if first && !series.name.is_empty() {
                let dashed = series.dashed;
                drawn.label(&series.name).legend(move |(x, y)| -> DynElement<'static, _, _> {
                    if dashed {
                        DashedPathElement::new([(x, y), (x + 22, y)], 7, 4, style).into_dyn()
                    } else {
                        PathElement::new([(x, y), (x + 22, y)], style).into_dyn()
                    }
                });
                first = false;
            }
            if run.len() <= 40 {
                ctx.draw_series(run.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(failed)?;
            }
        }
    }
    ctx.configure_series_labels()
        .position(legend_corner(chart, (x0, x1), (y0, y1)))
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(190, 190, 190))
        .draw()
        .map_err(failed)
}

/// Where the legend goes: of the places along the left and right edges, the one whose
/// legend-sized region (about 42% of the width, and 6% of the height per entry) covers the
/// fewest points of the lines; ties go to upper right, upper left, middle right, lower right,
/// middle left, lower left, in that order.
fn legend_corner(chart: &Chart, (x0, x1): (f64, f64), (y0, y1): (f64, f64)) -> SeriesLabelPosition {
    // (position, on the right, vertical band: 2 upper, 1 middle, 0 lower)
    let places = [
        (SeriesLabelPosition::UpperRight, true, 2),
        (SeriesLabelPosition::UpperLeft, false, 2),
        (SeriesLabelPosition::MiddleRight, true, 1),
        (SeriesLabelPosition::LowerRight, true, 0),
        (SeriesLabelPosition::MiddleLeft, false, 1),
        (SeriesLabelPosition::LowerLeft, false, 0),
    ];
    // The lines, not only their points: each segment sampled at 8 places.
    let points: Vec<(f64, f64)> = chart
        .series
        .iter()
        .flat_map(|s| s.points.windows(2))
        .flat_map(|w| (0..8).map(move |i| (i as f64 / 8.0, w)))
        .map(|(t, w)| (w[0].0 + t * (w[1].0 - w[0].0), w[0].1 + t * (w[1].1 - w[0].1)))
        .chain(chart.series.iter().filter_map(|s| s.points.last().copied()))
        .collect();
    let entries = chart.series.len() + chart.marks.len();
    let (w, h) = (0.42, (0.06 * entries as f64 + 0.05).min(0.9));
    let inside = |right: bool, band: u8| {
        let fx = |x: f64| (x - x0) / (x1 - x0);
        let fy = |y: f64| (y - y0) / (y1 - y0);
        points
            .iter()
            .filter(|p| p.1.is_finite())
            .filter(|p| if right { fx(p.0) >= 1.0 - w } else { fx(p.0) <= w })
            .filter(|p| match band {
                2 => fy(p.1) >= 1.0 - h,
                1 => (fy(p.1) - 0.5).abs() <= h / 2.0,
                _ => fy(p.1) <= h,
            })
            .count()
    };
    let best = places.iter().min_by_key(|(_, right, band)| inside(*right, *band)).expect("six places");
    best.0.clone()
}

/// A tick at `v` on a logarithmic axis (drawn as its base-10 logarithm): labelled only where
/// `10^v` is 1, 2 or 5 times a power of ten, so the labels read as round numbers.
fn log_tick(v: f64) -> String {
    let value = 10f64.powf(v);
    let decade = 10f64.powf(v.floor());
    let leading = value / decade;
    let round = [1.0, 2.0, 5.0, 10.0].iter().any(|&m| (leading / m - 1.0).abs() < 0.02);
    if round {
        format_tick((value / decade).round() * decade)
    } else {
        String::new()
    }
}

/// Tick labels without float noise: up to 4 significant decimals, trailing zeros dropped.
fn format_tick(v: f64) -> String {
    if v != 0.0 && (v.abs() < 1e-3 || v.abs() >= 1e5) {
        return format!("{v:.1e}");
    }
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}
