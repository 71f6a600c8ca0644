//! Your own layers, written as in Keras with the ops and no backward: a one-head
//! self-attention over the rows of each digit image and a gated residual unit, trained on the
//! `digits` table (8 × 8 images, ten classes), checked against central differences, saved and
//! loaded back through their registration.
//!
//! Run: `cargo run --release --example custom_layer` (reads `$MINIBATCH_DATA/tabular/digits.csv`,
//! by default `../shared/data/tabular/digits.csv`).

#[path = "../tests/support/ops_layers.rs"]
mod ops_layers;

use minibatch::layers::{register_layer, Custom, Dense, Flatten, Layer};
use minibatch::rng::Rng;
use minibatch::{FitOptions, Model, Sequential, Tensor};
use ops_layers::{GatedResidual, SelfAttention};

fn model() -> Model {
    Sequential::new()
        .seed(3)
        .input_shape(&[8, 8])
        .add(Custom::new(SelfAttention::new(16)).name("attend_rows"))
        .add(Flatten::new())
        .add(Dense::new(32).activation("tanh"))
        .add(Custom::new(GatedResidual::default()).name("gated"))
        .add(Dense::new(10).activation("softmax"))
        .into_model()
}

/// The largest disagreement between a layer's gradients (of `Σ y · g`, for its input and each
/// weight) and central differences, relative to their size: the check every layer passes.
fn gradient_check(mut layer: Box<dyn Layer>, shape: &[usize]) -> f64 {
    let mut rng = Rng::new(1);
    let out = layer.build(shape, &mut rng).unwrap();
    layer.plan(2);
    let full = |s: &[usize]| std::iter::once(2).chain(s.iter().copied()).collect::<Vec<_>>();
    let noise = |n: usize, seed: usize| (0..n).map(|i| (((i + seed) * 7919) % 997) as f32 / 997.0 - 0.5).collect();
    let x = Tensor::from_vec(&full(shape), noise(2 * shape.iter().product::<usize>(), 0)).unwrap();
    let g = Tensor::from_vec(&full(&out), noise(2 * out.iter().product::<usize>(), 5)).unwrap();
    let loss = |layer: &mut Box<dyn Layer>, x: &Tensor| {
        let mut y = Tensor::zeros(g.shape());
        layer.forward(x, &mut y, true);
        y.data().iter().zip(g.data()).map(|(a, b)| *a as f64 * *b as f64).sum::<f64>()
    };
    let mut y = Tensor::zeros(g.shape());
    layer.forward(&x, &mut y, true);
    let mut dx = Tensor::zeros(x.shape());
    layer.backward(&x, &y, &mut g.clone(), Some(&mut dx));
    let h = 1e-2f32;
    let mut worst = 0.0f64;
    let mut agree = |analytic: f32, plus: f64, minus: f64| {
        let numeric = (plus - minus) / (2.0 * h as f64);
        worst = worst.max((analytic as f64 - numeric).abs() / (analytic.abs() as f64).max(numeric.abs()).max(1e-2));
    };
    for i in 0..x.len() {
        let mut xp = x.clone();
        xp.data_mut()[i] += h;
        let mut xm = x.clone();
        xm.data_mut()[i] -= h;
        let (p, m) = (loss(&mut layer, &xp), loss(&mut layer, &xm));
        agree(dx.data()[i], p, m);
    }
    let grads: Vec<Vec<f32>> = layer.params().iter().map(|p| p.grad.data().to_vec()).collect();
    for (k, grad) in grads.iter().enumerate() {
        for i in (0..grad.len()).step_by(7) {
            let v = layer.params()[k].value.data()[i];
            layer.params_mut()[k].value.data_mut()[i] = v + h;
            let p = loss(&mut layer, &x);
            layer.params_mut()[k].value.data_mut()[i] = v - h;
            let m = loss(&mut layer, &x);
            layer.params_mut()[k].value.data_mut()[i] = v;
            agree(grad[i], p, m);
        }
    }
    worst
}

fn main() -> minibatch::Result<()> {
    register_layer("GatedResidual", |_| Ok(Box::new(GatedResidual::default())))?;
    register_layer("SelfAttention", |c| {
        Ok(Box::new(SelfAttention::new(c.get("dim").and_then(serde_json::Value::as_u64).unwrap_or(16) as usize)))
    })?;

    // 1. The gradient check, as every built-in layer passes it.
    let attention = gradient_check(Box::new(Custom::new(SelfAttention::new(4))), &[3, 5]);
    let gated = gradient_check(Box::new(Custom::new(GatedResidual::default())), &[6]);
    println!("gradient check (largest relative difference): attention {attention:.1e}, gated unit {gated:.1e}");

    // 2. Trained on the digits: each image's eight rows attend to each other.
    let dir = std::env::var("MINIBATCH_DATA").unwrap_or_else(|_| "../shared/data".into());
    let (x, y) = minibatch::io::load_csv(format!("{dir}/tabular/digits.csv"), "label")?;
    let x = Tensor::from_vec(&[x.batch(), 8, 8], x.data().iter().map(|v| v / 16.0).collect())?;
    let mut m = model();
    m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"])?;
    println!("{}", m.summary()?);
    let h = m.fit(&x, &y, FitOptions::new().batch_size(32).epochs(30).validation_split(0.2).verbose(0))?;
    let last = |k: &str| h.get(k).and_then(|v| v.last().copied()).unwrap_or(f64::NAN);
    println!("after 30 epochs: accuracy {:.4}, validation accuracy {:.4}", last("accuracy"), last("val_accuracy"));

    // 3. Saved, and loaded through the registrations: the same predictions.
    let path = std::env::temp_dir().join("minibatch_custom_layer.safetensors");
    m.save(&path)?;
    let mut loaded = Model::load(&path)?;
    let same = m.predict(&x, 256)?.data() == loaded.predict(&x, 256)?.data();
    println!("saved and loaded through the registrations: same predictions: {same}");
    std::fs::remove_file(&path).ok();
    Ok(())
}
