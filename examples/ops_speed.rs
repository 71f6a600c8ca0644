//! A layer written with the ops beside the built-in one it spells out: the Keras MNIST MLP
//! (784 → 512 relu → 512 relu → 10 softmax, Adam) with its two hidden layers as built-in
//! `Dense` or as a `Custom` layer of `matmul`, `add` and `relu`; training steps timed in
//! alternating rounds, medians. Run: `cargo run --release --example ops_speed -- 32 128 1024`

use minibatch::layers::{Custom, CustomLayer, Dense, Weight, WeightVars, Weights};
use minibatch::ops::{Graph, Var};
use minibatch::{Model, Sequential, Tensor};
use std::time::Instant;

/// Keras's `Dense(units, activation="relu")`, written with the ops.
#[derive(Clone)]
struct OpsDense {
    units: usize,
    kernel: Option<Weight>,
    bias: Option<Weight>,
}

impl CustomLayer for OpsDense {
    fn class_name(&self) -> &'static str {
        "OpsDense"
    }
    fn build(&mut self, w: &mut Weights, input_shape: &[usize]) -> minibatch::Result<()> {
        let inputs = input_shape[input_shape.len() - 1];
        self.kernel = Some(w.add_weight("kernel", &[inputs, self.units], "glorot_uniform")?);
        self.bias = Some(w.add_weight("bias", &[self.units], "zeros")?);
        Ok(())
    }
    fn call(&self, ops: &mut Graph, x: Var, w: &WeightVars) -> minibatch::Result<Var> {
        let z = ops.matmul(x, w[self.kernel.unwrap()])?;
        let z = ops.add(z, w[self.bias.unwrap()])?;
        Ok(ops.relu(z))
    }
}

fn model(ops: bool) -> Model {
    let hidden = |m: Sequential| {
        if ops {
            m.add(Custom::new(OpsDense { units: 512, kernel: None, bias: None }))
        } else {
            m.add(Dense::new(512).activation("relu"))
        }
    };
    let m = hidden(hidden(Sequential::new().seed(1).input_shape(&[784])));
    let mut m = m.add(Dense::new(10).activation("softmax")).into_model();
    m.compile("adam", "sparse_categorical_crossentropy", &[]).unwrap();
    m
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let batches: Vec<usize> = std::env::args().skip(1).filter_map(|s| s.parse().ok()).collect();
    let batches = if batches.is_empty() { vec![32, 128, 1024] } else { batches };
    println!("threads: {}", minibatch::tensor::kernels::num_threads());
    println!("{:>6} {:>14} {:>14} {:>8}", "batch", "Dense ms/step", "ops ms/step", "ops/Dense");
    for b in batches {
        let x = Tensor::from_vec(&[b, 784], (0..b * 784).map(|i| (i % 255) as f32 / 255.0).collect()).unwrap();
        let y = Tensor::from_vec(&[b], (0..b).map(|i| (i % 10) as f32).collect()).unwrap();
        let steps = (4096 / b).clamp(4, 64);
        let (mut builtin, mut ops) = (model(false), model(true));
        let (mut tb, mut to) = (Vec::new(), Vec::new());
        for round in 0..7 {
            for (m, times) in [(&mut builtin, &mut tb), (&mut ops, &mut to)] {
                m.train_on_batch(&x, &y).unwrap();
                let t = Instant::now();
                for _ in 0..steps {
                    m.train_on_batch(&x, &y).unwrap();
                }
                if round > 0 {
                    times.push(t.elapsed().as_secs_f64() * 1e3 / steps as f64);
                }
            }
        }
        let (d, o) = (median(tb), median(to));
        println!("{b:>6} {d:>14.3} {o:>14.3} {:>8.2}", o / d);
    }
}
