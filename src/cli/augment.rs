//! `--augment flip,rotate:0.1,...`: Keras's augmentation layers put in front of the model the
//! command builds, active in training only.

use minibatch::layers::{RandomContrast, RandomCrop, RandomFlip, RandomRotation, RandomTranslation, RandomZoom};
use minibatch::{Error, Result, Sequential};

/// One augmentation of `--augment`.
#[derive(Debug, Clone, PartialEq)]
pub enum Augment {
    /// `flip`, `flip:horizontal`, `flip:vertical`: RandomFlip (both axes by default).
    Flip(&'static str),
    /// `rotate:F`: RandomRotation(F), F a fraction of a full turn.
    Rotate(f32),
    /// `translate:F`: RandomTranslation(F, F).
    Translate(f32),
    /// `zoom:F`: RandomZoom(F).
    Zoom(f32),
    /// `contrast:F`: RandomContrast(F) on pixels in `[0, 1]`.
    Contrast(f32),
    /// `crop:HxW`: RandomCrop(H, W).
    Crop(usize, usize),
}

/// The names `--augment` knows.
const NAMES: [&str; 6] = ["flip", "rotate", "translate", "zoom", "contrast", "crop"];

/// Parses `--augment`: augmentations separated by commas, each `name` or `name:argument`.
///
/// # Errors
/// An unknown name; a missing or out-of-range argument, named with the value.
pub fn parse(text: &str) -> Result<Vec<Augment>> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(parse_one).collect()
}

fn parse_one(item: &str) -> Result<Augment> {
    let (name, arg) = match item.split_once(':') {
        Some((n, a)) => (n.trim(), Some(a.trim())),
        None => (item, None),
    };
    let factor = |low: f32, high: f32, what: &str| -> Result<f32> {
        let bad = || Error::invalid("--augment", item, format!("{name}:F with F {what}"));
        let f: f32 = arg.ok_or_else(bad)?.parse().map_err(|_| bad())?;
        if f.is_finite() && f > low && f <= high {
            Ok(f)
        } else {
            Err(bad())
        }
    };
    Ok(match name {
        "flip" => Augment::Flip(match arg {
            None | Some("both") => "horizontal_and_vertical",
            Some("horizontal") => "horizontal",
            Some("vertical") => "vertical",
            Some(_) => {
                return Err(Error::invalid("--augment", item, "flip, flip:horizontal, flip:vertical or flip:both"))
            }
        }),
        "rotate" => Augment::Rotate(factor(0.0, 1.0, "in (0, 1], a fraction of a full turn")?),
        "translate" => Augment::Translate(factor(0.0, 1.0, "in (0, 1], a fraction of the height and width")?),
        "zoom" => Augment::Zoom(factor(0.0, 0.99, "in (0, 0.99]")?),
        "contrast" => Augment::Contrast(factor(0.0, 1.0, "in (0, 1]")?),
        "crop" => {
            let (h, w) = super::data::image_size("--augment", arg.unwrap_or(""))?;
            Augment::Crop(h, w)
        }
        other => return Err(Error::UnknownName { kind: "augmentation", name: other.into(), known: NAMES.to_vec() }),
    })
}

/// `model` with the augmentations added, in order.
pub fn add_layers(mut model: Sequential, augments: &[Augment]) -> Sequential {
    for a in augments {
        model = match *a {
            Augment::Flip(mode) => model.add(RandomFlip::new(mode)),
            Augment::Rotate(f) => model.add(RandomRotation::new(f)),
            Augment::Translate(f) => model.add(RandomTranslation::new(f, f)),
            Augment::Zoom(f) => model.add(RandomZoom::new(f)),
            Augment::Contrast(f) => model.add(RandomContrast::new(f).value_range(0.0, 1.0)),
            Augment::Crop(h, w) => model.add(RandomCrop::new(h, w)),
        };
    }
    model
}

/// The shape of a sample after the augmentations (a crop changes it).
pub fn output_shape(sample: &[usize], augments: &[Augment]) -> Vec<usize> {
    let mut shape = sample.to_vec();
    for a in augments {
        if let (Augment::Crop(h, w), [_, _, c]) = (a, shape.as_slice()) {
            shape = vec![*h, *w, *c];
        }
    }
    shape
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_flag() {
        let a = parse("flip, rotate:0.1,translate:0.2,zoom:0.3,contrast:0.4,crop:24x20,flip:vertical").unwrap();
        assert_eq!(
            a,
            vec![
                Augment::Flip("horizontal_and_vertical"),
                Augment::Rotate(0.1),
                Augment::Translate(0.2),
                Augment::Zoom(0.3),
                Augment::Contrast(0.4),
                Augment::Crop(24, 20),
                Augment::Flip("vertical"),
            ]
        );
        assert_eq!(output_shape(&[28, 28, 3], &a), vec![24, 20, 3]);
        for bad in ["spin", "rotate", "rotate:2", "zoom:-1", "crop:0x4", "flip:diagonal", "contrast:nan"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse("rotate:2").unwrap_err().to_string().contains("rotate:2"));
    }
}
