//! `ProgbarLogger`: Keras's progress display.

use super::{Callback, Context, Control, Logs};
use crate::error::Result;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

const BAR_WIDTH: usize = 20;
const REDRAW_EVERY: Duration = Duration::from_millis(50);

/// Keras's progress display.
///
/// - verbose 1 on a terminal: a live bar per epoch, redrawn at most every 50 ms —
///   `12/32 ━━━━━━━━━━━━━━━━━━━━ 0s 2ms/step - accuracy: 0.8125 - loss: 0.4321`.
///   The time is the estimated time left while running and the epoch's time when done; the
///   per-step time leaves the first step (warm-up) out of the estimate, as Keras does.
/// - verbose 2, or verbose 1 when the output is not a terminal: one line per epoch, no
///   carriage-return redraws, so logs stay readable.
/// - verbose 0: nothing.
#[derive(Debug)]
pub struct ProgbarLogger {
    verbose: u8,
    live: bool,
    epochs: usize,
    steps: usize,
    epoch_start: Instant,
    after_first_step: Option<Instant>,
    last_draw: Option<Instant>,
    steps_done: usize,
    line: String,
}

impl ProgbarLogger {
    /// A logger at `verbose` 0, 1 or 2; live redraws only when stdout is a terminal.
    pub fn new(verbose: u8) -> Self {
        ProgbarLogger::with_terminal(verbose, std::io::stdout().is_terminal())
    }

    /// A logger that draws live (`terminal`) or one line per epoch.
    pub fn with_terminal(verbose: u8, terminal: bool) -> Self {
        ProgbarLogger {
            verbose,
            live: verbose == 1 && terminal,
            epochs: 0,
            steps: 0,
            epoch_start: Instant::now(),
            after_first_step: None,
            last_draw: None,
            steps_done: 0,
            line: String::new(),
        }
    }

    fn per_step(&self, now: Instant) -> f64 {
        match self.after_first_step {
            Some(t) if self.steps_done > 1 => (now - t).as_secs_f64() / (self.steps_done - 1) as f64,
            _ => (now - self.epoch_start).as_secs_f64() / self.steps_done.max(1) as f64,
        }
    }

    /// The text after the bar: time, per-step time and the logs.
    fn status(&self, now: Instant, logs: &Logs, done: bool) -> String {
        let per_step = self.per_step(now);
        let secs = if done {
            (now - self.epoch_start).as_secs_f64()
        } else {
            per_step * (self.steps - self.steps_done) as f64
        };
        let mut s = format!("{} {}", format_seconds(secs), format_per_step(per_step));
        for (k, v) in logs.iter() {
            s.push_str(&format!(" - {k}: {}", format_value(v)));
        }
        s
    }

    fn draw(&mut self, logs: &Logs, done: bool) {
        let now = Instant::now();
        let width = self.steps.to_string().len();
        let filled = BAR_WIDTH * self.steps_done / self.steps.max(1);
        let bar = format!("\x1b[1m{}\x1b[0m\x1b[2m{}\x1b[0m", "━".repeat(filled), "━".repeat(BAR_WIDTH - filled));
        let line = format!("{:>width$}/{} {bar} {}", self.steps_done, self.steps, self.status(now, logs, done));
        let pad = self.line.chars().count().saturating_sub(line.chars().count());
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "\r{line}{}", " ".repeat(pad));
        if done {
            let _ = writeln!(out);
        }
        let _ = out.flush();
        self.line = line;
        self.last_draw = Some(now);
    }
}

impl Callback for ProgbarLogger {
    fn on_train_begin(&mut self, ctx: &mut Context<'_>) -> Result<Control> {
        self.epochs = ctx.params.epochs;
        self.steps = ctx.params.steps;
        Ok(Control::Continue)
    }

    fn on_epoch_begin(&mut self, _ctx: &mut Context<'_>, epoch: usize) -> Result<Control> {
        if self.verbose > 0 {
            println!("Epoch {}/{}", epoch + 1, self.epochs);
        }
        self.epoch_start = Instant::now();
        self.after_first_step = None;
        self.last_draw = None;
        self.steps_done = 0;
        self.line.clear();
        Ok(Control::Continue)
    }

    fn on_train_batch_end(&mut self, _ctx: &mut Context<'_>, batch: usize, logs: &Logs) -> Result<Control> {
        self.steps_done = batch + 1;
        if self.steps_done == 1 {
            self.after_first_step = Some(Instant::now());
        }
        let due = self.last_draw.is_none_or(|t| t.elapsed() >= REDRAW_EVERY);
        if self.live && due && self.steps_done < self.steps {
            self.draw(logs, false);
        }
        Ok(Control::Continue)
    }

    fn on_epoch_end(&mut self, _ctx: &mut Context<'_>, _epoch: usize, logs: &mut Logs) -> Result<Control> {
        if self.live {
            self.draw(logs, true);
        } else if self.verbose > 0 {
            let now = Instant::now();
            let secs = (now - self.epoch_start).as_secs_f64();
            let mut line = format!(
                "{}/{} - {} - {}",
                self.steps_done,
                self.steps,
                format_seconds(secs),
                format_per_step(self.per_step(now))
            );
            for (k, v) in logs.iter() {
                line.push_str(&format!(" - {k}: {}", format_value(v)));
            }
            println!("{line}");
        }
        Ok(Control::Continue)
    }
}

/// Keras's value format: 4 decimals, or scientific below 1e-3.
pub fn format_value(v: f64) -> String {
    if v == 0.0 || v.abs() >= 1e-3 || !v.is_finite() {
        format!("{v:.4}")
    } else {
        format!("{v:.4e}")
    }
}

fn format_seconds(secs: f64) -> String {
    if secs >= 3600.0 {
        format!("{}:{:02}:{:02}", secs as u64 / 3600, secs as u64 % 3600 / 60, secs as u64 % 60)
    } else if secs >= 60.0 {
        format!("{}:{:02}", secs as u64 / 60, secs as u64 % 60)
    } else {
        format!("{}s", secs.round() as u64)
    }
}

fn format_per_step(secs: f64) -> String {
    if secs >= 1.0 {
        format!("{secs:.0}s/step")
    } else if secs >= 1e-3 {
        format!("{:.0}ms/step", secs * 1e3)
    } else {
        format!("{:.0}us/step", secs * 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_keras() {
        assert_eq!(format_value(0.123456), "0.1235");
        assert_eq!(format_value(0.0001234), "1.2340e-4");
        assert_eq!(format_per_step(0.0042), "4ms/step");
        assert_eq!(format_per_step(0.00004), "40us/step");
        assert_eq!(format_seconds(3.4), "3s");
        assert_eq!(format_seconds(75.0), "1:15");
    }
}
