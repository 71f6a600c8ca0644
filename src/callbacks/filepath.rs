//! Keras's checkpoint file names: a Python format string filled with the epoch, the batch and
//! the logs, as `filepath.format(epoch=epoch + 1, **logs)`.
//!
//! Supported: `{key}` and `{key:spec}` with `spec` = `[0][width][.precision][type]`, type one
//! of `d`, `f`, `e`, `g` (or none); `{{` and `}}` for braces. `epoch` and `batch` are 1-based
//! integers; log values are floats.

use super::Logs;
use crate::error::{Error, Result};

/// A value to format.
#[derive(Clone, Copy)]
enum Arg {
    Int(usize),
    Float(f64),
}

/// Fills `template` with `epoch` (0-based; written 1-based), `batch` (likewise, when saving
/// mid-epoch) and every key of `logs`.
///
/// # Errors
/// [`Error::InvalidArgument`] for a key that is neither (Keras's `KeyError`), an unclosed
/// brace, or a spec this subset does not support.
pub(crate) fn format_path(template: &str, epoch: usize, batch: Option<usize>, logs: &Logs) -> Result<String> {
    let bad = |why: String| Error::invalid("filepath", template, why);
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let (c, after) = (rest.as_bytes()[i], &rest[i + 1..]);
        if after.starts_with(c as char) {
            out.push(c as char);
            rest = &after[1..];
            continue;
        }
        if c == b'}' {
            return Err(bad("a format string whose '}' are doubled outside fields".into()));
        }
        let end = after.find('}').ok_or_else(|| bad("a format string whose fields are closed with '}'".into()))?;
        let field = &after[..end];
        let (key, spec) = field.split_once(':').unwrap_or((field, ""));
        let arg = match key {
            "epoch" => Arg::Int(epoch + 1),
            "batch" if batch.is_some() && logs.get("batch").is_none() => Arg::Int(batch.unwrap_or(0) + 1),
            _ => match logs.get(key) {
                Some(v) => Arg::Float(v),
                None => {
                    let keys: Vec<&str> = logs.keys().collect();
                    return Err(bad(format!(
                        "a template naming epoch{} or a log key ({}); {key:?} is none of them",
                        if batch.is_some() { ", batch" } else { "" },
                        keys.join(", ")
                    )));
                }
            },
        };
        out.push_str(&apply(arg, spec).ok_or_else(|| bad(format!("a supported format spec; received {spec:?}")))?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Formats one value by a spec `[0][width][.precision][type]`.
fn apply(arg: Arg, spec: &str) -> Option<String> {
    let (zero, spec) = match spec.strip_prefix('0') {
        Some(s) => (true, s),
        None => (false, spec),
    };
    let ty = spec.chars().last().filter(|c| c.is_ascii_alphabetic());
    let spec = &spec[..spec.len() - ty.map_or(0, |_| 1)];
    let (width, precision) = match spec.split_once('.') {
        Some((w, p)) => (w, Some(p.parse::<usize>().ok()?)),
        None => (spec, None),
    };
    let width: usize = if width.is_empty() { 0 } else { width.parse().ok()? };
    let body = match (arg, ty) {
        (Arg::Int(n), None | Some('d')) if precision.is_none() => n.to_string(),
        (Arg::Int(n), Some(t)) => float(n as f64, t, precision)?,
        (Arg::Float(v), None) if precision.is_none() => format!("{v:?}"),
        (Arg::Float(v), t) => float(v, t.unwrap_or('g'), precision)?,
        _ => return None,
    };
    let pad = width.saturating_sub(body.chars().count());
    Some(if zero {
        match body.strip_prefix('-') {
            Some(digits) => format!("-{}{digits}", "0".repeat(pad)),
            None => format!("{}{body}", "0".repeat(pad)),
        }
    } else {
        format!("{}{body}", " ".repeat(pad))
    })
}

/// Python's `f`, `e` and `g` presentations (precision 6 unless given).
fn float(v: f64, ty: char, precision: Option<usize>) -> Option<String> {
    let p = precision.unwrap_or(6);
    if !v.is_finite() {
        return Some(if v.is_nan() {
            "nan".into()
        } else if v > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        });
    }
    Some(match ty {
        'f' => format!("{v:.p$}"),
        'e' => python_exp(v, p),
        'g' => {
            let p = p.max(1);
            let exp = if v == 0.0 { 0 } else { v.abs().log10().floor() as i32 };
            // Rounding may carry into the next power of ten; the `e` form tells the true exponent.
            let exp = python_exp(v, p - 1).rsplit('e').next().and_then(|e| e.parse().ok()).unwrap_or(exp);
            let s = if exp < -4 || exp >= p as i32 {
                python_exp(v, p - 1)
            } else {
                format!("{v:.*}", (p as i32 - 1 - exp).max(0) as usize)
            };
            trim_zeros(&s)
        }
        _ => return None,
    })
}

/// `1.500000e-05` rather than Rust's `1.500000e-5`.
fn python_exp(v: f64, p: usize) -> String {
    let s = format!("{v:.p$e}");
    let (mantissa, exp) = s.split_once('e').expect("exponent form");
    let exp: i32 = exp.parse().expect("an integer exponent");
    format!("{mantissa}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
}

/// `g` drops trailing zeros of the fraction (and a bare point).
fn trim_zeros(s: &str) -> String {
    let (mantissa, exp) = match s.split_once('e') {
        Some((m, e)) => (m, format!("e{e}")),
        None => (s, String::new()),
    };
    let mantissa = if mantissa.contains('.') { mantissa.trim_end_matches('0').trim_end_matches('.') } else { mantissa };
    format!("{mantissa}{exp}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_python_does() {
        let mut logs = Logs::new();
        logs.set("val_loss", 0.123456789);
        logs.set("accuracy", 0.5);
        logs.set("tiny", 1.5e-5);
        let f = |t: &str| format_path(t, 4, Some(9), &logs);
        assert_eq!(f("m-{epoch:02d}-{val_loss:.3f}.st").unwrap(), "m-05-0.123.st");
        assert_eq!(f("{epoch}/{batch:04d}").unwrap(), "5/0010");
        assert_eq!(f("{accuracy}|{tiny:.2e}|{tiny:g}|{val_loss:.4g}").unwrap(), "0.5|1.50e-05|1.5e-05|0.1235");
        assert_eq!(f("{{x}}{epoch:3d}").unwrap(), "{x}  5");
        assert_eq!(apply(Arg::Float(99.99), ".3g").unwrap(), "100");
        assert_eq!(apply(Arg::Float(1234567.0), "g").unwrap(), "1.23457e+06");
        assert!(matches!(f("{loss}"), Err(Error::InvalidArgument { name: "filepath", .. })));
        assert!(f("{epoch").is_err() && f("{epoch:x}").is_err() && f("{val_loss:d}").is_err());
        assert!(format_path("{batch}", 0, None, &logs).is_err());
    }
}
