//! Your own training step (Keras's `train_step`), run by `fit` with its callbacks, History
//! and validation: the built-in step written by hand gives the same bits; a GAN's two models
//! and two optimizers; a distillation from a teacher.

use crate::common::assert_run_matches;
use crate::train_steps::{Distill, Gan, Plain};
use minibatch::layers::{Dense, Dropout};
use minibatch::losses::BuiltinLoss;
use minibatch::{datasets, FitOptions, Model, Sequential, Tensor};

fn classifier(seed: u64) -> Model {
    let mut m = Sequential::new()
        .seed(seed)
        .input_shape(&[2])
        .add(Dense::new(16).activation("relu"))
        .add(Dropout::new(0.2))
        .add(Dense::new(2).activation("softmax"))
        .into_model();
    m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    m
}

/// A classifier ending in logits, with the cross-entropy `from_logits` (Keras's distillation
/// example's models).
fn logits_classifier(hidden: usize, seed: u64) -> Model {
    let mut m = Sequential::new()
        .seed(seed)
        .input_shape(&[2])
        .add(Dense::new(hidden).activation("relu"))
        .add(Dense::new(2))
        .into_model();
    let loss = BuiltinLoss::from_name("sparse_categorical_crossentropy").unwrap().from_logits();
    m.compile("adam", loss, &["accuracy"]).unwrap();
    m
}

fn regressor(seed: u64) -> Model {
    let mut m = Sequential::new()
        .seed(seed)
        .input_shape(&[2])
        .add(Dense::new(16).activation("tanh"))
        .add(Dense::new(1))
        .into_model();
    m.compile("adam", "mse", &["mae"]).unwrap();
    m
}

/// The built-in step written by hand through the step's pieces (forward, the loss's value and
/// gradient, backward, update, metrics): `fit` gives the same History, validation included,
/// and the same weights, bit for bit.
#[test]
fn a_hand_written_step_is_the_built_in_step_bit_for_bit() {
    let data = datasets::load("moons", 3).unwrap();
    let y = Tensor::from_vec(&[data.x_train.batch(), 1], data.y_train.data().to_vec()).unwrap();
    let options = || FitOptions::new().batch_size(32).epochs(3).validation_split(0.2).verbose(0);
    let mut builtin = regressor(5);
    let a = builtin.fit(&data.x_train, &y, options()).unwrap();
    let mut ours = regressor(5);
    let mut step = Plain::new("mse");
    let b = ours.fit(&data.x_train, &y, options().train_step(&mut step)).unwrap();
    assert_eq!(a.history, b.history);
    assert!(a.get("val_mae").is_some() && a.get("mae").is_some());
    for (p, q) in builtin.get_weights().iter().zip(ours.get_weights()) {
        assert_eq!(p.data(), q.data());
    }
}

/// A softmax output with its cross-entropy: the built-in step fuses the two (the gradient by
/// the logits is `p − y`), a step of one's own takes the loss's gradient by the probabilities
/// through the softmax's; the Histories (dropout and accuracy included) agree to rounding.
#[test]
fn a_hand_written_step_through_a_softmax_agrees_with_the_fused_one() {
    let data = datasets::load("moons", 3).unwrap();
    let options = || FitOptions::new().batch_size(32).epochs(3).validation_split(0.2).verbose(0);
    let a = classifier(5).fit(&data.x_train, &data.y_train, options()).unwrap();
    let mut step = Plain::new("sparse_categorical_crossentropy");
    let b = classifier(5).fit(&data.x_train, &data.y_train, options().train_step(&mut step)).unwrap();
    for key in ["loss", "accuracy", "val_loss", "val_accuracy"] {
        let (p, q) = (a.get(key).unwrap(), b.get(key).unwrap());
        assert!(p.iter().zip(q).all(|(p, q)| (p - q).abs() < 1e-5), "{key}: {p:?} vs {q:?}");
    }
}

/// A GAN on one blob of points: `fit` runs the discriminator over real points, the step
/// trains both models with their two optimizers; the History has each loss; the generator's
/// points move to the data.
#[test]
fn a_gan_step_trains_two_models_with_two_optimizers() {
    let n = 256;
    let mut rng = minibatch::rng::Rng::new(9);
    let real = Tensor::from_vec(
        &[n, 2],
        (0..n * 2).map(|i| if i % 2 == 0 { 2.0 } else { -1.0 } + 0.3 * rng.normal() as f32).collect(),
    )
    .unwrap();
    let mut generator = Sequential::new()
        .seed(1)
        .input_shape(&[4])
        .add(Dense::new(16).activation("relu"))
        .add(Dense::new(2))
        .into_model();
    generator.compile(minibatch::optimizers::Adam::new(2e-3), "mse", &[]).unwrap();
    let mut discriminator = Sequential::new()
        .seed(2)
        .input_shape(&[2])
        .add(Dense::new(16).activation("relu"))
        .add(Dense::new(1).activation("sigmoid"))
        .into_model();
    discriminator.compile(minibatch::optimizers::Adam::new(2e-3), "binary_crossentropy", &[]).unwrap();
    discriminator.keep_input_gradients(true);
    let mean_of_generated = |g: &mut Model| {
        let noise = Tensor::from_vec(&[64, 4], (0..256).map(|i| ((i * 37) % 17) as f32 / 8.5 - 1.0).collect()).unwrap();
        let out = g.predict(&noise, 64).unwrap();
        let (mut sx, mut sy) = (0.0, 0.0);
        for r in out.data().chunks(2) {
            sx += r[0];
            sy += r[1];
        }
        (sx / 64.0, sy / 64.0)
    };
    let distance = |(x, y): (f32, f32)| ((x - 2.0).powi(2) + (y + 1.0).powi(2)).sqrt();
    let before = distance(mean_of_generated(&mut generator));
    let mut step = Gan::new(generator, 4, 3);
    let dummy = Tensor::zeros(&[n, 1]);
    let h = discriminator
        .fit(&real, &dummy, FitOptions::new().batch_size(32).epochs(30).verbose(0).train_step(&mut step))
        .unwrap();
    for key in ["loss", "d_loss", "g_loss"] {
        let v = h.get(key).unwrap();
        assert!(v.len() == 30 && v.iter().all(|x| x.is_finite()), "{key}: {v:?}");
    }
    let after = distance(mean_of_generated(&mut step.generator));
    assert!(after < before / 2.0, "the generated points' mean moved from {before} to {after} from the data's");
}

/// Distillation: a student half the teacher's size learns from the labels and the teacher's
/// probabilities; its History has both losses and its accuracy; it reaches the teacher's
/// accuracy within a few points.
#[test]
fn a_distillation_step_teaches_a_student() {
    let data = datasets::load("moons", 4).unwrap();
    let mut teacher = logits_classifier(16, 7);
    teacher.fit(&data.x_train, &data.y_train, FitOptions::new().batch_size(32).epochs(40).verbose(0)).unwrap();
    let teacher_accuracy = teacher.evaluate(&data.x_test, &data.y_test, 64).unwrap().get("accuracy").unwrap();
    let mut student = logits_classifier(8, 8);
    let mut step = Distill::new(teacher, 0.5, 3.0);
    let h = student
        .fit(&data.x_train, &data.y_train, FitOptions::new().batch_size(32).epochs(40).verbose(0).train_step(&mut step))
        .unwrap();
    for key in ["loss", "student_loss", "distillation_loss", "accuracy"] {
        assert!(h.get(key).is_some_and(|v| v.len() == 40), "{key}");
    }
    let accuracy = student.evaluate(&data.x_test, &data.y_test, 64).unwrap().get("accuracy").unwrap();
    assert!(accuracy > teacher_accuracy - 0.05, "student {accuracy} vs teacher {teacher_accuracy}");
}

/// Over several processes (ranks played by threads, as `tests/all/distributed.rs` does): a
/// model with custom layers (a gated unit, a dropout written with the ops), trained by the
/// built-in step and by a step of one's own, ends on every rank with one process's History and
/// weights, to rounding, and the same bits on every rank; a GAN's two models stay the same on
/// every rank. A batch too small to give each process samples is refused by name.
#[test]
fn custom_layers_and_steps_train_over_processes_as_one_process() {
    use crate::ops_layers::{GatedResidual, OpsDropout};
    use minibatch::distributed::Threads;
    use minibatch::layers::Custom;
    let d = datasets::load("moons", 3).unwrap();
    let (x, y) = (d.x_train.slice_rows(0, 600), d.y_train.slice_rows(0, 600));
    let run = |custom: bool| {
        let mut m = Sequential::new()
            .seed(11)
            .input_shape(&[2])
            .add(Dense::new(16).activation("tanh"))
            .add(Custom::new(GatedResidual::default()))
            .add(Custom::new(OpsDropout { rate: 0.2 }))
            .add(Dense::new(2).activation("softmax"))
            .into_model();
        m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
        let mut step = Plain::new("sparse_categorical_crossentropy");
        let mut options = FitOptions::new().batch_size(60).epochs(3).verbose(0);
        if custom {
            options = options.train_step(&mut step);
        }
        let h = m.fit(&x, &y, options).unwrap();
        let weights: Vec<f32> = m.get_weights().iter().flat_map(|t| t.data().to_vec()).collect();
        (h, weights)
    };
    for custom in [false, true] {
        let (alone, alone_weights) = run(custom);
        for ranks in [2, 3] {
            let results = Threads::run(ranks, |_| run(custom));
            for (rank, (h, weights)) in results.iter().enumerate() {
                let at = format!("custom step {custom}, {ranks} ranks, rank {rank}");
                assert_run_matches(&at, (h, weights), (&alone, &alone_weights));
            }
            assert!(results.iter().all(|(_, w)| *w == results[0].1), "{ranks} ranks agree bit for bit");
        }
    }
    // A GAN: the generator (the step's own model) averages its gradients over the ranks too.
    let gan = || {
        let points =
            Tensor::from_vec(&[64, 2], (0..128).map(|i| 2.0 + ((i * 7) % 13) as f32 / 13.0).collect()).unwrap();
        let generator = {
            let mut g = Sequential::new()
                .seed(3)
                .input_shape(&[2])
                .add(Dense::new(8).activation("relu"))
                .add(Dense::new(2))
                .into_model();
            g.compile("adam", "mse", &[]).unwrap();
            g
        };
        let mut discriminator = Sequential::new()
            .seed(2)
            .input_shape(&[2])
            .add(Dense::new(8).activation("relu"))
            .add(Dense::new(1).activation("sigmoid"))
            .into_model();
        discriminator.compile("adam", "binary_crossentropy", &[]).unwrap();
        discriminator.keep_input_gradients(true);
        let mut step = Gan::new(generator, 2, 1);
        let options = FitOptions::new().batch_size(16).epochs(2).verbose(0).train_step(&mut step);
        discriminator.fit(&points, &Tensor::zeros(&[64, 1]), options).unwrap();
        let g: Vec<f32> = step.generator.get_weights().iter().flat_map(|t| t.data().to_vec()).collect();
        let d: Vec<f32> = discriminator.get_weights().iter().flat_map(|t| t.data().to_vec()).collect();
        (g, d)
    };
    let results = Threads::run(2, |_| gan());
    assert_eq!(results[0], results[1], "both ranks' generator and discriminator agree bit for bit");
    // 61 samples in batches of 60 over 2 ranks: the last batch of 1 would leave a rank out.
    let refused = Threads::run(2, |_| {
        let mut m = regressor(1);
        let mut step = Plain::new("mse");
        let y = Tensor::zeros(&[61, 1]);
        m.fit(&d.x_train.slice_rows(0, 61), &y, FitOptions::new().batch_size(60).verbose(0).train_step(&mut step))
            .unwrap_err()
            .to_string()
    });
    assert!(refused[0].contains("batch_size") && refused[0].contains("last batch 1"), "{}", refused[0]);
}
