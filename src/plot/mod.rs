//! Charts of learning curves, as PNG or SVG: a [`History`]'s loss and metrics per epoch
//! (training and validation, the best epoch and the early-stopping epoch marked), and the
//! lab's side-by-side comparisons.
//!
//! A [`Figure`] is a grid of [`Chart`]s; each chart has lines ([`Series`]) and vertical marks
//! ([`Mark`]) that the legend names. Text uses DejaVu Sans, embedded in the binary, so PNGs
//! look the same on every machine; SVGs name `sans-serif` and are rendered by the viewer.
//!
//! ```
//! use minibatch::{datasets, layers::Dense, plot, FitOptions, Sequential};
//! let d = datasets::load("moons", 0).unwrap();
//! let mut model = Sequential::new().add(Dense::new(8).activation("relu")).add(Dense::new(2).activation("softmax"));
//! model.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
//! let history = model.fit(&d.x_train, &d.y_train, FitOptions::new().epochs(5).validation_split(0.2).verbose(0)).unwrap();
//! let svg = plot::history_figure(&history, None).to_svg().unwrap();
//! assert!(svg.contains("val_loss") && svg.contains("best epoch"));
//! # let dir = std::env::temp_dir().join(format!("minibatch-doc-plot-{}", std::process::id()));
//! plot::plot_history(&history, None, dir.join("curves.png")).unwrap();
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

mod draw;

use crate::callbacks::History;
use crate::error::{Error, Result};
use std::path::Path;

/// A line of `(x, y)` points; NaN values break the line.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The legend's text; empty leaves the line out of the legend (a band's second edge).
    pub name: String,
    /// The points, in x order.
    pub points: Vec<(f64, f64)>,
    /// Index into the line palette (Tableau 10 less red and purple), so related lines can
    /// share a colour.
    pub color: usize,
    /// Drawn dashed (validation curves).
    pub dashed: bool,
}

/// A vertical line at `x`, named in the legend (the best epoch, where training stopped).
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    /// Where.
    pub x: f64,
    /// The legend's text.
    pub label: String,
    /// 0 dark grey, 1 red, 2 purple (line colours are kept apart from these).
    pub color: usize,
}

/// One panel: a title, axis labels, lines and marks.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Chart {
    /// Shown above the panel.
    pub title: String,
    /// The x axis's label.
    pub x_label: String,
    /// The y axis's label.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
    /// The vertical marks.
    pub marks: Vec<Mark>,
    /// A logarithmic x axis (learning rates over decades).
    pub log_x: bool,
    /// A logarithmic y axis (losses that fall by orders of magnitude).
    pub log_y: bool,
    /// The top of the y axis, when a few values far above the rest would flatten them (a
    /// range test's last steps, where the loss explodes): values above it are drawn at it.
    pub y_max: Option<f64>,
}

/// Charts in a grid of `columns` columns, filled row by row.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// The panels.
    pub charts: Vec<Chart>,
    /// Panels per row (at least 1).
    pub columns: usize,
}

/// Pixels of one panel.
const PANEL: (u32, u32) = (640, 380);

impl Figure {
    /// The figure's size in pixels.
    pub fn size(&self) -> (u32, u32) {
        let columns = self.columns.clamp(1, self.charts.len().max(1));
        let rows = self.charts.len().div_ceil(columns).max(1);
        (PANEL.0 * columns as u32, PANEL.1 * rows as u32)
    }

    /// The figure as an SVG document.
    ///
    /// # Errors
    /// [`Error::State`] if drawing fails (a figure with no charts).
    pub fn to_svg(&self) -> Result<String> {
        let mut svg = String::new();
        draw::svg(self, &mut svg)?;
        Ok(svg)
    }

    /// The figure as PNG bytes.
    ///
    /// # Errors
    /// As [`Figure::to_svg`].
    pub fn to_png(&self) -> Result<Vec<u8>> {
        let (w, h) = self.size();
        let mut rgb = vec![255u8; (w * h * 3) as usize];
        draw::bitmap(self, &mut rgb)?;
        let mut png = Vec::new();
        image::codecs::png::PngEncoder::new(&mut png)
            .write_image(&rgb, w, h, image::ColorType::Rgb8)
            .map_err(|e| Error::State(format!("cannot encode the PNG: {e}")))?;
        Ok(png)
    }

    /// Writes the figure to `path`, PNG or SVG by its extension, crash-safely.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for another extension; [`Error::Io`].
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
        let bytes = match ext.as_deref() {
            Some("png") => self.to_png()?,
            Some("svg") => self.to_svg()?.into_bytes(),
            _ => return Err(Error::invalid("plot path", path.display(), "a file ending in .png or .svg")),
        };
        crate::saving::write_atomic(path, &bytes)
    }
}

use image::ImageEncoder;

/// The learning curves of a History: one panel for the loss and one per metric (and one for
/// `learning_rate` when a callback recorded it), training solid, validation dashed, over
/// 1-based epochs. The best epoch ([`History::best_epoch`]: lowest `val_loss`, when validation ran)
/// is marked, and `stopped_epoch` (0-based, e.g. [`EarlyStopping::stopped_epoch`]) when given.
///
/// [`EarlyStopping::stopped_epoch`]: crate::callbacks::EarlyStopping::stopped_epoch
pub fn history_figure(history: &History, stopped_epoch: Option<usize>) -> Figure {
    let epochs: Vec<f64> = history.epoch.iter().map(|&e| (e + 1) as f64).collect();
    let line = |key: &str, color, dashed| {
        history.get(key).map(|values| Series {
            name: key.to_string(),
            points: epochs.iter().copied().zip(values.iter().copied()).collect(),
            color,
            dashed,
        })
    };
    let mut marks = Vec::new();
    if let Some(best) = history.best_epoch() {
        marks.push(Mark {
            x: (best + 1) as f64,
            label: format!("best epoch {} (lowest val_loss)", best + 1),
            color: 0,
        });
    }
    if let Some(stopped) = stopped_epoch {
        marks.push(Mark { x: (stopped + 1) as f64, label: format!("stopped at epoch {}", stopped + 1), color: 2 });
    }
    let bases = history.keys().filter(|k| !k.starts_with("val_") && *k != "learning_rate");
    let mut keys: Vec<&str> = bases.collect();
    // The loss first, as the reader looks for it first.
    keys.sort_by_key(|k| *k != "loss");
    if history.get("learning_rate").is_some() {
        keys.push("learning_rate");
    }
    let charts: Vec<Chart> = keys
        .iter()
        .map(|&key| Chart {
            title: key.replace('_', " "),
            x_label: "epoch".into(),
            y_label: key.into(),
            series: [line(key, 0, false), line(&format!("val_{key}"), 1, true)].into_iter().flatten().collect(),
            marks: marks.clone(),
            ..Chart::default()
        })
        .collect();
    Figure { columns: if charts.len() > 1 { 2 } else { 1 }, charts }
}

/// Draws [`history_figure`] to `path` (`.png` or `.svg`).
///
/// # Errors
/// As [`Figure::save`].
pub fn plot_history(history: &History, stopped_epoch: Option<usize>, path: impl AsRef<Path>) -> Result<()> {
    history_figure(history, stopped_epoch).save(path)
}
