//! Self-contained HTML reports: one `index.html` holding the configuration, the summary, the
//! per-epoch table and the charts inline as SVG. No scripts, no external files: it reads the
//! same offline, in any browser, years later.
//!
//! ```
//! use minibatch::report::Report;
//! let mut r = Report::new("A run");
//! r.key_values("Configuration", &[("batch size".into(), "32".into())]);
//! r.table("Epochs", &["epoch", "loss"], &[vec!["1".into(), "0.5".into()]]);
//! assert!(r.to_html().contains("<td>0.5</td>"));
//! ```

mod lab;
mod training;

pub use lab::{lab_report, lr_find_report};
pub use training::{training_report, TrainingReport};

use crate::error::Result;
use crate::plot::Figure;
use std::path::{Path, PathBuf};

/// An HTML page built section by section. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Report {
    title: String,
    body: String,
}

/// `&`, `<`, `>` and quotes as HTML entities.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
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

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1320px;padding:0 1em;color:#222}\
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;margin:.5em 0;font-variant-numeric:tabular-nums}\
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right}th{background:#f4f4f4}\
td:first-child,th:first-child,.key-values td{text-align:left}figure{margin:1em 0}svg{max-width:100%;height:auto}\
figcaption{color:#555;font-size:.9em}pre{font-size:.85em;line-height:1.2;overflow-x:auto}";

impl Report {
    /// An empty page with a title.
    pub fn new(title: &str) -> Self {
        Report { title: title.into(), body: String::new() }
    }

    /// A section heading.
    pub fn heading(&mut self, text: &str) {
        self.body += &format!("<h2>{}</h2>\n", escape(text));
    }

    /// A paragraph of text.
    pub fn paragraph(&mut self, text: &str) {
        self.body += &format!("<p>{}</p>\n", escape(text));
    }

    /// Text as it is (a model's summary table), in a monospaced block under a heading.
    pub fn preformatted(&mut self, heading: &str, text: &str) {
        self.heading(heading);
        self.body += &format!("<pre>{}</pre>\n", escape(text));
    }

    /// A two-column table of names and values under a heading.
    pub fn key_values(&mut self, heading: &str, pairs: &[(String, String)]) {
        self.heading(heading);
        self.body += "<table class=\"key-values\">\n";
        for (k, v) in pairs {
            self.body += &format!("<tr><th>{}</th><td>{}</td></tr>\n", escape(k), escape(v));
        }
        self.body += "</table>\n";
    }

    /// A table with a header row, under a heading.
    pub fn table(&mut self, heading: &str, headers: &[&str], rows: &[Vec<String>]) {
        self.heading(heading);
        self.body += "<table>\n<thead><tr>";
        for h in headers {
            self.body += &format!("<th>{}</th>", escape(h));
        }
        self.body += "</tr></thead>\n<tbody>\n";
        for row in rows {
            self.body += "<tr>";
            for cell in row {
                self.body += &format!("<td>{}</td>", escape(cell));
            }
            self.body += "</tr>\n";
        }
        self.body += "</tbody>\n</table>\n";
    }

    /// A figure drawn inline as SVG, with a caption.
    ///
    /// # Errors
    /// As [`Figure::to_svg`].
    pub fn figure(&mut self, heading: &str, figure: &Figure, caption: &str) -> Result<()> {
        self.heading(heading);
        let svg = figure.to_svg()?;
        self.body += &format!("<figure>\n{svg}\n<figcaption>{}</figcaption>\n</figure>\n", escape(caption));
        Ok(())
    }

    /// The whole page.
    pub fn to_html(&self) -> String {
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n\
             <style>{STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>\n{}</body>\n</html>\n",
            self.body,
            title = escape(&self.title),
        )
    }

    /// Writes `dir/index.html` crash-safely (creating `dir`) and returns its path.
    ///
    /// # Errors
    /// [`crate::Error::Io`].
    pub fn write(&self, dir: impl AsRef<Path>) -> Result<PathBuf> {
        let path = dir.as_ref().join("index.html");
        crate::saving::write_atomic(&path, self.to_html().as_bytes())?;
        Ok(path)
    }
}

/// The present moment in UTC, as `2026-12-02 05:30 UTC`.
pub fn timestamp() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year}-{month:02}-{day:02} {:02}:{:02} UTC", rest / 3600, rest % 3600 / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_the_page_is_whole() {
        let mut r = Report::new("a <b> & c");
        r.key_values("Configuration", &[("data".into(), "<script>alert(1)</script>".into())]);
        r.table("t", &["x\"y"], &[vec!["'1'".into()]]);
        let html = r.to_html();
        assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
        assert!(html.contains("<title>a &lt;b&gt; &amp; c</title>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains("<script>"));
        assert!(html.contains("<th>x&quot;y</th>") && html.contains("<td>&#39;1&#39;</td>"));
    }
}
