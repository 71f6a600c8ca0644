//! Image augmentation layers: Keras 3's own outputs on fixed draws (every fill mode and
//! interpolation), each layer's seeded behaviour, identity in inference, saving.

use crate::common::read_json;
use minibatch::layers::{Layer, RandomContrast, RandomCrop, RandomFlip, RandomRotation, RandomTranslation, RandomZoom};
use minibatch::rng::Rng;
use minibatch::saving::layer_from_config as from_config;
use minibatch::{Sequential, Tensor};

fn tensor(v: &serde_json::Value, shape: &[usize]) -> Tensor {
    let data: Vec<f32> = v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
    Tensor::from_vec(shape, data).unwrap()
}

fn run(layer: &mut dyn Layer, x: &Tensor, training: bool) -> Tensor {
    let out = layer.build(&x.shape()[1..], &mut Rng::new(0)).unwrap();
    layer.plan(x.batch());
    let mut shape = vec![x.batch()];
    shape.extend(out);
    let mut y = Tensor::zeros(&shape);
    layer.forward(x, &mut y, training);
    y
}

#[test]
fn geometric_augmentations_match_keras_on_fixed_draws() {
    let f = read_json(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras_augmentation.json"));
    let mut shape = vec![1];
    shape.extend(f["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize));
    let image = tensor(&f["image"], &shape);
    let cases = f["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 27);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let class = match name.split(' ').next().unwrap() {
            "rotation" => "RandomRotation",
            "translation" => "RandomTranslation",
            "zoom" => "RandomZoom",
            _ => "RandomCrop",
        };
        let mut layer = from_config(class, &case["config"]).unwrap();
        let y = run(layer.as_mut(), &image, true);
        let mut out_shape = vec![1];
        out_shape.extend(case["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize));
        assert_eq!(y.shape(), &out_shape[..], "{name}");
        let want = tensor(&case["output"], &out_shape);
        let worst = y.data().iter().zip(want.data()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst < 2e-5, "{name}: differs from Keras by {worst}");
    }
}

fn images(n: usize, h: usize, w: usize, c: usize) -> Tensor {
    Tensor::from_vec(&[n, h, w, c], (0..n * h * w * c).map(|i| ((i * 37) % 101) as f32 / 101.0).collect()).unwrap()
}

#[test]
fn flips_mirror_exactly_and_only_in_training() {
    let x = images(16, 3, 4, 2);
    for mode in ["horizontal", "vertical", "horizontal_and_vertical"] {
        let mut layer = RandomFlip::new(mode).seed(3);
        let y = run(&mut layer, &x, true);
        let mut flipped = 0;
        for s in 0..16 {
            let (a, b) = (x.row(s), y.row(s));
            let mirror = |i: usize, j: usize, ch: usize| {
                let (si, sj) = match mode {
                    "horizontal" => (i, 3 - j),
                    "vertical" => (2 - i, j),
                    _ => (2 - i, 3 - j),
                };
                a[(si * 4 + sj) * 2 + ch]
            };
            let is_mirror =
                (0..3).all(|i| (0..4).all(|j| (0..2).all(|ch| b[(i * 4 + j) * 2 + ch] == mirror(i, j, ch))));
            assert!(is_mirror || a == b, "{mode}: sample {s} neither kept nor mirrored");
            flipped += is_mirror as usize;
        }
        assert!((3..=13).contains(&flipped), "{mode}: {flipped} of 16 flipped, expected about half");
        // Seeded: the same seed, the same flips; inference: the identity.
        assert_eq!(run(&mut RandomFlip::new(mode).seed(3), &x, true), y);
        assert_eq!(run(&mut layer, &x, false), x);
    }
    let mut bad = RandomFlip::new("diagonal");
    assert!(bad.build(&[3, 4, 2], &mut Rng::new(0)).unwrap_err().to_string().contains("diagonal"));
}

#[test]
fn each_augmentation_is_seeded_and_the_identity_in_inference() {
    let x = images(4, 8, 8, 3);
    type Make = Box<dyn Fn(u64) -> Box<dyn Layer>>;
    let layers: Vec<(&str, Make)> = vec![
        ("rotation", Box::new(|s| Box::new(RandomRotation::new(0.2).seed(s)))),
        ("translation", Box::new(|s| Box::new(RandomTranslation::new(0.2, (-0.1, 0.3)).seed(s)))),
        ("zoom", Box::new(|s| Box::new(RandomZoom::new(0.3).seed(s)))),
        ("contrast", Box::new(|s| Box::new(RandomContrast::new(0.4).value_range(0.0, 1.0).seed(s)))),
    ];
    for (name, make) in &layers {
        let a = run(make(5).as_mut(), &x, true);
        assert_eq!(a, run(make(5).as_mut(), &x, true), "{name}: same seed, same output");
        assert_ne!(a, run(make(6).as_mut(), &x, true), "{name}: another seed, another output");
        assert_ne!(a, x, "{name}: training changes the images");
        assert_eq!(run(make(5).as_mut(), &x, false), x, "{name}: inference is the identity");
        // Each sample its own draw.
        assert_ne!(a.row(0), a.row(1));
    }
}

#[test]
fn contrast_keeps_each_channels_mean_and_scales_its_spread() {
    let x = images(8, 6, 5, 3);
    let y = run(&mut RandomContrast::new((0.5, 0.5)).value_range(-100.0, 100.0).seed(1), &x, true);
    for s in 0..8 {
        for ch in 0..3 {
            let col = |t: &Tensor| t.row(s).iter().skip(ch).step_by(3).map(|&v| v as f64).collect::<Vec<_>>();
            let (a, b) = (col(&x), col(&y));
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
            let spread = |v: &[f64]| v.iter().map(|x| (x - mean(v)).abs()).sum::<f64>();
            assert!((mean(&a) - mean(&b)).abs() < 1e-5);
            let ratio = spread(&b) / spread(&a);
            assert!((0.5 - 1e-5..=1.5 + 1e-5).contains(&ratio), "contrast {ratio}");
        }
    }
    // Clipped to value_range (Keras's default 0..255).
    let bright = Tensor::from_vec(&[1, 2, 2, 1], vec![0.0, 250.0, 250.0, 250.0]).unwrap();
    let y = run(&mut RandomContrast::new((1.0, 1.0)).seed(2), &bright, true);
    assert!(y.data().iter().all(|v| (0.0..=255.0).contains(v)));
}

#[test]
fn random_crop_cuts_one_window_per_batch_in_training_and_resizes_in_inference() {
    let x = images(3, 9, 10, 2);
    let mut crop = RandomCrop::new(4, 5).seed(7);
    let y = run(&mut crop, &x, true);
    assert_eq!(y.shape(), &[3, 4, 5, 2]);
    // A window of the input, the same place in every sample.
    let window = |s: usize, top: usize, left: usize| -> Vec<f32> {
        (0..4)
            .flat_map(|i| (0..5).flat_map(move |j| (0..2).map(move |c| ((top + i) * 10 + left + j) * 2 + c)))
            .map(|k| x.row(s)[k])
            .collect()
    };
    let place = (0..=5).flat_map(|t| (0..=5).map(move |l| (t, l))).find(|&(t, l)| window(0, t, l) == y.row(0));
    let (t, l) = place.expect("the output is a window of the input");
    for s in 1..3 {
        assert_eq!(window(s, t, l), y.row(s));
    }
    // Inference: the largest central window of the target's aspect (8 × 10 of 9 × 10, from
    // row 0), resized: the top-left output pixel reads the window's half-pixel-mapped
    // point; of the image's own size, the image itself.
    let y = run(&mut RandomCrop::new(4, 5), &x, false);
    assert_eq!(y.shape(), &[3, 4, 5, 2]);
    // Row 0.5, column 0.5 of the image: the mean of its top-left four pixels.
    let px = |i: usize, j: usize| x.row(0)[(i * 10 + j) * 2];
    let want = (px(0, 0) + px(0, 1) + px(1, 0) + px(1, 1)) / 4.0;
    assert!((y.row(0)[0] - want).abs() < 1e-6, "{} vs {want}", y.row(0)[0]);
    assert_eq!(run(&mut RandomCrop::new(9, 10), &x, false), x);
}

#[test]
fn augmentations_are_saved_with_the_model() {
    let dir = crate::common::temp_dir("augmentation-save");
    let mut model = Sequential::new()
        .input_shape(&[8, 8, 1])
        .add(RandomFlip::new("horizontal").seed(1))
        .add(RandomRotation::new((-0.1, 0.2)).fill_mode(minibatch::layers::FillMode::Constant).fill_value(0.5))
        .add(RandomTranslation::new(0.1, 0.2).interpolation(minibatch::layers::Interpolation::Nearest))
        .add(RandomZoom::new(0.2).width_factor((-0.1, 0.1)))
        .add(RandomContrast::new(0.3).value_range(0.0, 1.0))
        .add(RandomCrop::new(6, 6))
        .add(minibatch::layers::Flatten::new())
        .add(minibatch::layers::Dense::new(2).activation("softmax"));
    model.compile("adam", "sparse_categorical_crossentropy", &[]).unwrap();
    let x = images(4, 8, 8, 1);
    let y = Tensor::from_vec(&[4], vec![0.0, 1.0, 0.0, 1.0]).unwrap();
    model.fit(&x, &y, minibatch::FitOptions::new().epochs(2).verbose(0)).unwrap();
    let path = dir.join("aug.safetensors");
    model.save(&path).unwrap();
    let mut loaded = minibatch::Model::load(&path).unwrap();
    assert_eq!(model.predict(&x, 4).unwrap(), loaded.predict(&x, 4).unwrap());
    let configs = |m: &minibatch::Model| m.layers().iter().map(|l| l.config()).collect::<Vec<_>>();
    assert_eq!(configs(&model), configs(&loaded));
}

#[test]
fn the_command_augments_images_in_training_and_saves_the_layers() {
    let dir = crate::common::temp_dir("augment-cli");
    let data = dir.join("shapes");
    // Two classes of 16×16 images: a bright square or a bright bar, at varying places.
    for (class, bar) in [("bar", true), ("square", false)] {
        std::fs::create_dir_all(data.join(class)).unwrap();
        for i in 0..12u32 {
            let img = image::GrayImage::from_fn(16, 16, |x, y| {
                let (ox, oy) = (2 + i % 5, 3 + i % 4);
                let inside = if bar {
                    x == ox + 3 && (oy..oy + 9).contains(&y)
                } else {
                    (ox..ox + 6).contains(&x) && (oy..oy + 6).contains(&y)
                };
                image::Luma([if inside { 230 } else { 20 }])
            });
            img.save(data.join(class).join(format!("{i}.png"))).unwrap();
        }
    }
    let model = dir.join("m.safetensors");
    let (ok, out, err) = crate::common::minibatch(&[
        "train",
        "--data",
        data.to_str().unwrap(),
        "--color-mode",
        "grayscale",
        "--model",
        "convnet",
        "--augment",
        "flip:horizontal,rotate:0.05,translate:0.1,zoom:0.1,contrast:0.2,crop:14x14",
        "--epochs",
        "3",
        "--batch-size",
        "8",
        "--save",
        model.to_str().unwrap(),
    ]);
    assert!(ok, "{out}\n{err}");
    for layer in
        ["random_flip", "random_rotation", "random_translation", "random_zoom", "random_contrast", "random_crop"]
    {
        assert!(out.contains(layer), "{layer} in the summary:\n{out}");
    }
    // Saved with the model; inactive (a crop resizes) when evaluating.
    let (ok, out, err) =
        crate::common::minibatch(&["evaluate", "--model", model.to_str().unwrap(), "--data", data.to_str().unwrap()]);
    assert!(ok && out.contains("accuracy"), "{out}\n{err}");
    // Refused where there are no images, and for an unknown name, before any work.
    let (ok, _, err) = crate::common::minibatch(&["train", "--data", "blobs", "--augment", "flip"]);
    assert!(!ok && err.contains("images [height, width, channels]"), "{err}");
    let (ok, _, err) = crate::common::minibatch(&["train", "--data", data.to_str().unwrap(), "--augment", "spin:0.1"]);
    assert!(!ok && err.contains("unknown augmentation \"spin\""), "{err}");
}
