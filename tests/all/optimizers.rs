//! One step of each optimizer against Keras 3's update formula, computed by hand in f64.

use minibatch::layers::Param;
use minibatch::optimizers::{base::apply_gradients, Adam, AdamW, Optimizer, RMSprop, SGD};

/// Steps `opt` from weights `w` through `grads`, as `fit` does (the whole Keras step: options,
/// then the rule).
fn step(opt: &mut dyn Optimizer, w: &[f32], grads: &[&[f32]]) -> Vec<f32> {
    let mut params = vec![Param::zeros("w", &[w.len()])];
    params[0].value.data_mut().copy_from_slice(w);
    opt.build(&[w.len()]);
    opt.base_mut().build(&[w.len()]);
    for g in grads {
        params[0].grad.data_mut().copy_from_slice(g);
        apply_gradients(opt, params.as_mut_slice());
    }
    params[0].value.data().to_vec()
}

fn assert_close(got: &[f32], want: &[f64]) {
    for (g, w) in got.iter().zip(want) {
        assert!((*g as f64 - w).abs() < 1e-6 * w.abs().max(1.0), "{got:?} vs {want:?}");
    }
}

#[test]
fn sgd_plain_momentum_and_nesterov() {
    let w = [1.0f32, -2.0];
    let (g1, g2) = ([0.5f32, 1.0], [0.25f32, -1.0]);
    assert_close(&step(&mut SGD::default(), &w, &[&g1]), &[1.0 - 0.01 * 0.5, -2.0 - 0.01]);
    // v1 = −lr g1; w1 = w + v1; v2 = m v1 − lr g2; w2 = w1 + v2
    let (lr, m) = (0.1f64, 0.9f64);
    let mut want = vec![];
    let mut want_n = vec![];
    for i in 0..2 {
        let (w0, a, b) = (w[i] as f64, g1[i] as f64, g2[i] as f64);
        let v1 = -lr * a;
        let v2 = m * v1 - lr * b;
        want.push(w0 + v1 + v2);
        want_n.push(w0 + (m * v1 - lr * a) + (m * v2 - lr * b));
    }
    assert_close(&step(&mut SGD::new(0.1).momentum(0.9), &w, &[&g1, &g2]), &want);
    assert_close(&step(&mut SGD::new(0.1).momentum(0.9).nesterov(true), &w, &[&g1, &g2]), &want_n);
}

fn adam_reference(w: f64, grads: &[f64], lr: f64, wd: f64) -> f64 {
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-7f64);
    let (mut m, mut v, mut w) = (0.0, 0.0, w);
    for (t, &g) in grads.iter().enumerate() {
        let t = t as i32 + 1;
        w -= w * wd * lr;
        let alpha = lr * (1.0 - b2.powi(t)).sqrt() / (1.0 - b1.powi(t));
        m += (g - m) * (1.0 - b1);
        v += (g * g - v) * (1.0 - b2);
        w -= alpha * m / (v.sqrt() + eps);
    }
    w
}

#[test]
fn adam_and_adamw_follow_keras() {
    let gs = [0.3f32, -0.1, 0.2];
    let got = step(&mut Adam::default(), &[0.5], &[&gs[0..1], &gs[1..2], &gs[2..3]]);
    let g64: Vec<f64> = gs.iter().map(|&g| g as f64).collect();
    assert_close(&got, &[adam_reference(0.5, &g64, 0.001, 0.0)]);
    // Adam's first step moves each weight by lr·|g|/(|g| + ε): about lr at any scale of g.
    let first = step(&mut Adam::default(), &[0.0, 0.0], &[&[1.0, 1e3]]);
    assert!(first.iter().all(|w| (w + 0.001).abs() < 1e-8), "{first:?}");
    let got = step(&mut AdamW::default(), &[0.5], &[&gs[0..1], &gs[1..2], &gs[2..3]]);
    assert_close(&got, &[adam_reference(0.5, &g64, 0.001, 0.004)]);
}

#[test]
fn rmsprop_plain_centered_and_momentum() {
    let (rho, eps, lr) = (0.9f64, 1e-7f64, 0.001f64);
    let gs = [0.3f64, -0.5];
    let run = |centered: bool, momentum: f64| {
        let (mut v, mut a, mut mo, mut w) = (0.0, 0.0, 0.0, 1.0f64);
        for &g in &gs {
            v = rho * v + (1.0 - rho) * g * g;
            let d = if centered {
                a = rho * a + (1.0 - rho) * g;
                v - a * a + eps
            } else {
                v + eps
            };
            let inc = lr * g / d.sqrt();
            if momentum > 0.0 {
                mo = momentum * mo + inc;
                w -= mo;
            } else {
                w -= inc;
            }
        }
        w
    };
    let g32: Vec<[f32; 1]> = gs.iter().map(|&g| [g as f32]).collect();
    let grads: Vec<&[f32]> = g32.iter().map(|g| g.as_slice()).collect();
    assert_close(&step(&mut RMSprop::default(), &[1.0], &grads), &[run(false, 0.0)]);
    assert_close(&step(&mut RMSprop::default().centered(true), &[1.0], &grads), &[run(true, 0.0)]);
    assert_close(&step(&mut RMSprop::default().momentum(0.5), &[1.0], &grads), &[run(false, 0.5)]);
}

#[test]
fn defaults_are_keras() {
    assert_eq!(SGD::default().learning_rate(), 0.01);
    let a = Adam::default();
    assert_eq!((a.learning_rate(), a.beta_1, a.beta_2, a.epsilon), (0.001, 0.9, 0.999, 1e-7));
    assert_eq!(AdamW::default().adam().base.options.weight_decay, Some(0.004));
    let r = RMSprop::default();
    assert_eq!((r.learning_rate(), r.rho, r.momentum, r.epsilon, r.centered), (0.001, 0.9, 0.0, 1e-7, false));
}

/// Relative agreement for steps whose size is itself tiny.
fn assert_rel(got: f64, want: f64, what: &str) {
    assert!((got - want).abs() <= 1e-4 * want.abs(), "{what}: {got:e} vs {want:e}");
}

#[test]
fn epsilon_placement_shows_with_tiny_gradients() {
    // With |g| of 1e-7 to 1e-6, √v is of the order of ε = 1e-7, so where ε is added decides
    // the step; with |g| ≥ 0.1 it is invisible. Each weight starts at 0, so it is the sum of
    // its steps and is compared relatively.
    let gs = [1e-7f32, -5e-7, 2e-6, 3e-7];
    let g32: Vec<[f32; 1]> = gs.iter().map(|&g| [g]).collect();
    let grads: Vec<&[f32]> = g32.iter().map(|g| g.as_slice()).collect();
    let g64: Vec<f64> = gs.iter().map(|&g| g as f64).collect();

    // Adam: ε after the bias correction (Keras's ε̂), against the textbook m̂ / (√v̂ + ε).
    let adam = step(&mut Adam::default(), &[0.0], &grads)[0] as f64;
    let keras = adam_reference(0.0, &g64, 0.001, 0.0);
    assert_rel(adam, keras, "Adam");
    let textbook = {
        let (b1, b2, eps, lr) = (0.9f64, 0.999f64, 1e-7f64, 0.001f64);
        let (mut m, mut v, mut w) = (0.0f64, 0.0f64, 0.0f64);
        for (t, &g) in g64.iter().enumerate() {
            let t = t as i32 + 1;
            m = b1 * m + (1.0 - b1) * g;
            v = b2 * v + (1.0 - b2) * g * g;
            w -= lr * (m / (1.0 - b1.powi(t))) / ((v / (1.0 - b2.powi(t))).sqrt() + eps);
        }
        w
    };
    assert!((textbook - keras).abs() > 0.1 * keras.abs(), "the placements differ here: {textbook:e} vs {keras:e}");
    let adamw = step(&mut AdamW::default(), &[0.0], &grads)[0] as f64;
    assert_rel(adamw, keras, "AdamW (no decay at w = 0)");

    // RMSprop: ε inside the square root, against √v + ε.
    let (rho, eps, lr) = (0.9f64, 1e-7f64, 0.001f64);
    let rms = |inside: bool, centered: bool| {
        let (mut v, mut a, mut w) = (0.0f64, 0.0f64, 0.0f64);
        for &g in &g64 {
            v = rho * v + (1.0 - rho) * g * g;
            a = rho * a + (1.0 - rho) * g;
            let var = if centered { v - a * a } else { v };
            w -= lr * g / if inside { (var + eps).sqrt() } else { var.sqrt() + eps };
        }
        w
    };
    assert_rel(step(&mut RMSprop::default(), &[0.0], &grads)[0] as f64, rms(true, false), "RMSprop");
    assert_rel(step(&mut RMSprop::default().centered(true), &[0.0], &grads)[0] as f64, rms(true, true), "centered");
    assert!((rms(false, false) - rms(true, false)).abs() > 0.1 * rms(true, false).abs());
}

#[test]
#[allow(clippy::excessive_precision)] // the literal is the float32 value Keras holds, as printed
fn decay_constants_are_formed_as_keras_forms_them() {
    // Keras forms 1 − β in double precision from the Python float and rounds it to float32:
    // 1 − 0.9 → 0.1f32 and 1 − 0.999 → 1.0000000475e-3f32, where float32 arithmetic gives
    // 0.100000024 and 9.9998712540e-4. One step from zero moments shows the constants bit for bit.
    let g = [0.3f32, -1.7];
    let mut adam = Adam::default();
    adam.build(&[2]);
    adam.update(0, &mut [0.5, 0.5], &g);
    let slots = adam.slots();
    let (m, v) = (&slots[0].1[0], &slots[1].1[0]);
    for i in 0..2 {
        assert_eq!(m[i].to_bits(), (g[i] * 0.1f32).to_bits(), "m[{i}]");
        assert_eq!(v[i].to_bits(), ((g[i] * g[i]) * 1.000_000_047_5e-3f32).to_bits(), "v[{i}]");
        assert_ne!(v[i], (g[i] * g[i]) * (1.0 - 0.999f32));
    }
    let mut rms = RMSprop::default();
    rms.build(&[2]);
    rms.update(0, &mut [0.5, 0.5], &g);
    for (v, g) in rms.slots()[0].1[0].iter().zip(g) {
        assert_eq!(v.to_bits(), (0.1f32 * (g * g)).to_bits(), "RMSprop velocity for g = {g}");
    }
}

#[test]
fn every_keras_schedule_gives_kerass_rates_from_kerass_config() {
    use minibatch::optimizers::schedules::from_config;
    let fixture: serde_json::Value = serde_json::from_str(include_str!("../fixtures/keras_schedules.json"))
        .expect("tests/fixtures/keras_schedules.json");
    let steps: Vec<u64> = fixture["steps"].as_array().unwrap().iter().map(|s| s.as_u64().unwrap()).collect();
    let mut cases = 0;
    for (name, case) in fixture.as_object().unwrap().iter().filter(|(k, _)| *k != "steps") {
        // Keras's own serialized config builds the schedule (its "name" and "module" ignored).
        let schedule = from_config(&case["config"]).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Saved by minibatch and read back: the same schedule.
        let again = from_config(&schedule.config().expect("saves its config")).unwrap();
        for (i, &step) in steps.iter().enumerate() {
            let keras = case["rates"][i].as_f64().unwrap();
            let ours = schedule.rate(step) as f64;
            assert!(
                (ours - keras).abs() <= 1e-5 * keras.abs().max(1e-3),
                "{name} at step {step}: {ours} against Keras's {keras}"
            );
            assert_eq!(again.rate(step), schedule.rate(step), "{name} saved and loaded, step {step}");
        }
        cases += 1;
    }
    assert_eq!(cases, 15);
}
