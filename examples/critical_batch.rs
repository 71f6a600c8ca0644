//! Does the gradient noise scale predict the critical batch size? (issue 32, part 1's
//! evidence.) For each batch size from 16 to 1024, a 784-128-10 MLP trains on MNIST with Adam
//! at three learning rates (√B-scaled around 1e-3 at batch 32) until its held-out loss (2,000
//! test images, checked every 6,000 samples) reaches the target; the best rate's updates are
//! the batch size's steps. The steps are fitted to McCandlish et al.'s
//! `S = S_min·(1 + B_crit/B)` and `B_crit` compared with the noise scale measured during the
//! same runs (`FitOptions::measure_noise_scale`, the epoch where each stopped; median).
//!
//! Run: `cargo run --release --example critical_batch -- [convnet] [TARGET] [FIGURE.png]` with
//! MNIST in `../shared/data/mnist` or `$MINIBATCH_MNIST` (default target 0.15; the MLP takes
//! seconds on 2 threads, `convnet` (the Keras MNIST convnet instead, its noise scale read
//! from its Dense head) minutes).

use minibatch::callbacks::{Callback, Context, Control, Logs};
use minibatch::layers::Dense;
use minibatch::optimizers::Adam;
use minibatch::{lab, FitOptions, Sequential, Tensor};

/// Stops training when the held-out loss first reaches the target, checked every `every`
/// updates; remembers the updates it took.
struct UntilTarget<'a> {
    vx: &'a Tensor,
    vy: &'a Tensor,
    target: f64,
    every: usize,
    batch: usize,
    updates: usize,
    reached: Option<usize>,
}

impl Callback for UntilTarget<'_> {
    fn on_train_batch_end(&mut self, ctx: &mut Context<'_>, _batch: usize, _logs: &Logs) -> minibatch::Result<Control> {
        self.updates += 1;
        if !self.updates.is_multiple_of(self.every) {
            return Ok(Control::Continue);
        }
        let pred = ctx.model.predict(self.vx, self.batch)?;
        let loss = minibatch::losses::mean_loss(ctx.model.loss().expect("compiled"), &pred, self.vy, None, None)?;
        if loss <= self.target {
            self.reached = Some(self.updates);
            return Ok(Control::Stop);
        }
        Ok(Control::Continue)
    }
}

fn main() -> minibatch::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let target: f64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(0.15);
    let figure = args.iter().find(|a| a.ends_with(".png") || a.ends_with(".svg"));
    let dir = std::env::var("MINIBATCH_MNIST").unwrap_or_else(|_| "../shared/data/mnist".into());
    let data = minibatch::io::load_mnist(&dir)?;
    let convnet = args.iter().any(|a| a == "convnet");
    let shape: &[usize] = if convnet { &[28, 28, 1] } else { &[784] };
    let with_batch = |n: usize| [&[n][..], shape].concat();
    let x = data.x_train.clone().reshape(&with_batch(60_000))?;
    let vx = data.x_test.slice_rows(0, 2000).reshape(&with_batch(2000))?;
    let vy = data.y_test.slice_rows(0, 2000);
    let name = if convnet { "the Keras MNIST convnet" } else { "784-128-10 ReLU MLP" };
    let threads = minibatch::tensor::kernels::num_threads();
    println!("MNIST, {name}, Adam; target held-out loss {target}; threads {threads}");
    println!("{:>6} {:>10} {:>10} {:>12} {:>10}", "batch", "best lr", "updates", "samples", "B_noise");
    let (mut points, mut noise) = (Vec::new(), Vec::new());
    for b in [16usize, 32, 64, 128, 256, 512, 1024] {
        let mut best: Option<(f32, usize, f64)> = None;
        for scale in [0.5f32, 1.0, 2.0] {
            let lr = 1e-3 * scale * (b as f32 / 32.0).sqrt();
            let mut model = if convnet {
                minibatch::models::zoo::convnet(&[28, 28, 1], 10, 1)
            } else {
                Sequential::new()
                    .seed(1)
                    .input_shape(&[784])
                    .add(Dense::new(128).activation("relu"))
                    .add(Dense::new(10).activation("softmax"))
            };
            model.compile(Adam::new(lr), "sparse_categorical_crossentropy", &[])?;
            let mut until =
                UntilTarget { vx: &vx, vy: &vy, target, every: (6000 / b).max(1), batch: b, updates: 0, reached: None };
            let options =
                FitOptions::new().batch_size(b).epochs(20).verbose(0).measure_noise_scale(true).callback(&mut until);
            let h = model.fit(&x, &data.y_train, options)?;
            let b_noise = h.last_reported("noise_scale");
            if let Some(steps) = until.reached {
                if best.is_none_or(|(_, s, _)| steps < s) {
                    best = Some((lr, steps, b_noise.unwrap_or(f64::NAN)));
                }
            }
        }
        match best {
            Some((lr, steps, b_noise)) => {
                println!("{b:>6} {lr:>10.2e} {steps:>10} {:>12} {b_noise:>10.0}", steps * b);
                points.push((b, steps as f64));
                if b_noise.is_finite() {
                    noise.push(b_noise);
                }
            }
            None => println!("{b:>6} {:>10} {:>10}", "-", "not reached in 20 epochs"),
        }
    }
    noise.sort_by(f64::total_cmp);
    let b_noise = noise.get(noise.len() / 2).copied();
    let fit = lab::fit_tradeoff(&points);
    match fit {
        Some(t) => println!(
            "fit S = S_min·(1 + B_crit/B): S_min {:.0} updates, E_min {:.0} samples, B_crit {:.0}",
            t.s_min, t.e_min, t.b_crit
        ),
        None => println!("no trade-off to fit"),
    }
    if let Some(b) = b_noise {
        println!("measured gradient noise scale B_noise (median over the runs, where each stopped): {b:.0}");
    }
    if let Some(path) = figure {
        lab::tradeoff_figure(&points, fit, b_noise, &format!("held-out loss {target}")).save(path)?;
        println!("Drew {path}");
    }
    Ok(())
}
