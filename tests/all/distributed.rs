//! Data parallelism's parts that need no MPI: metrics whose states add across shards,
//! randomness that depends on a sample's global position rather than on the shard that
//! computes it, and the one-line refusal of a build without MPI under a launcher. Two ranks
//! against one over real MPI: `tests/mpi.rs` (feature `mpi`).

use crate::common::random;
use minibatch::layers::{Dropout, Layer, MultiHeadAttention, SpatialDropout1D};
use minibatch::metrics::{self, Metric};
use minibatch::rng::Rng;
use minibatch::Tensor;

/// Rows `lo..hi` of `t`.
fn rows(t: &Tensor, lo: usize, hi: usize) -> Tensor {
    let n = t.row_len();
    let mut shape = t.shape().to_vec();
    shape[0] = hi - lo;
    Tensor::from_vec(&shape, t.data()[lo * n..hi * n].to_vec()).unwrap()
}

#[test]
fn metric_states_summed_over_shards_give_the_whole_batch_result() {
    // Three shards of a batch, each updating its own copy; the sum of their states is the
    // state of one metric that saw the whole batch.
    let (n, k) = (30, 4);
    let mut pred = random(&[n, k], 1);
    pred.data_mut().iter_mut().for_each(|v| *v = (*v + 1.0) / 2.0);
    let mut onehot = Tensor::zeros(&[n, k]);
    for i in 0..n {
        onehot.data_mut()[i * k + (i * 7) % k] = 1.0;
    }
    let weights: Vec<f32> = (0..n).map(|i| 0.5 + (i % 3) as f32).collect();
    for name in metrics::NAMES {
        let make = || metrics::from_name(name).unwrap();
        let target = if name.starts_with("sparse") {
            Tensor::from_vec(&[n, 1], (0..n).map(|i| ((i * 7) % k) as f32).collect()).unwrap()
        } else {
            onehot.clone()
        };
        let mut whole = make();
        whole.update(&pred, &target, Some(&weights));
        let len = whole.state_len().unwrap_or_else(|| panic!("{name} has no additive state"));
        let mut sum = vec![0.0; len];
        for (lo, hi) in [(0, 11), (11, 21), (21, 30)] {
            let mut shard = make();
            shard.update(&rows(&pred, lo, hi), &rows(&target, lo, hi), Some(&weights[lo..hi]));
            let mut state = vec![0.0; len];
            shard.save_state(&mut state);
            sum.iter_mut().zip(&state).for_each(|(s, v)| *s += v);
        }
        // Loaded into a fresh metric (which has seen nothing and takes the state's width).
        let mut combined = make();
        combined.load_state(&sum);
        let (a, b) = (whole.result(), combined.result());
        assert!((a - b).abs() <= 1e-12 * a.abs().max(1.0), "{name}: {a} against {b}");
        assert!(a != 0.0 || name.contains("error") || name.contains("r2"), "{name}: a metric that measured nothing");
    }
}

/// Forward in training mode over `x` with the layer told the batch starts at `offset`.
fn train_forward(layer: &mut dyn Layer, x: &Tensor, offset: usize) -> Tensor {
    let mut y = Tensor::zeros(x.shape());
    layer.set_sample_offset(offset);
    layer.forward(x, &mut y, true);
    y
}

#[test]
fn dropout_masks_depend_on_a_samples_global_position_not_on_its_shard() {
    let mut x = random(&[9, 6, 5], 2);
    x.data_mut().iter_mut().for_each(|v| *v = v.abs() + 0.1);
    for make in [|| Dropout::new(0.4), || SpatialDropout1D::new(0.4)] {
        let mut layer = make();
        layer.build(&[6, 5], &mut Rng::new(3)).unwrap();
        layer.plan(9);
        let (mut first, mut second) = (layer.clone(), layer.clone());
        let whole = train_forward(&mut layer, &x, 0);
        // The batch split 5 / 4 between two processes, each told where its shard begins.
        let a = train_forward(&mut first, &rows(&x, 0, 5), 0);
        let b = train_forward(&mut second, &rows(&x, 5, 9), 5);
        assert_eq!(whole.data(), [a.data(), b.data()].concat(), "{}", layer.kind());
        let dropped = whole.data().iter().filter(|&&v| v == 0.0).count();
        assert!(dropped > 0 && dropped < whole.len(), "some values dropped, not all: {dropped}");
        // The next step draws new masks.
        assert_ne!(train_forward(&mut layer, &x, 0).data(), whole.data());
    }
}

#[test]
fn augmentations_depend_on_a_samples_global_position_not_on_its_shard() {
    use minibatch::layers::{RandomContrast, RandomCrop, RandomFlip, RandomRotation, RandomTranslation, RandomZoom};
    let makers: Vec<fn() -> Box<dyn Layer>> = vec![
        || Box::new(RandomFlip::new("horizontal_and_vertical")),
        || Box::new(RandomContrast::new(0.5)),
        || Box::new(RandomRotation::new(0.2)),
        || Box::new(RandomTranslation::new(0.2, 0.2)),
        || Box::new(RandomZoom::new(0.3)),
        || Box::new(RandomCrop::new(4, 4)),
    ];
    let x = random(&[9, 6, 6, 1], 6);
    for make in makers {
        // Three copies built alike: one takes the whole batch, two take its shards.
        let mut layers: Vec<Box<dyn Layer>> = (0..3).map(|_| make()).collect();
        let mut out_shape = Vec::new();
        for l in layers.iter_mut() {
            out_shape = l.build(&[6, 6, 1], &mut Rng::new(3)).unwrap();
            l.plan(9);
        }
        let run = |layer: &mut Box<dyn Layer>, x: &Tensor, offset: usize| {
            layer.set_sample_offset(offset);
            let mut y = Tensor::zeros(&[&[x.batch()][..], &out_shape].concat());
            layer.forward(x, &mut y, true);
            y
        };
        let whole = run(&mut layers[0], &x, 0);
        let a = run(&mut layers[1], &rows(&x, 0, 5), 0);
        let b = run(&mut layers[2], &rows(&x, 5, 9), 5);
        assert_eq!(whole.data(), [a.data(), b.data()].concat(), "{}", layers[0].kind());
        assert_ne!(whole.data(), run(&mut layers[0], &x, 0).data(), "{}: new draws each step", layers[0].kind());
    }
}

#[test]
fn attention_dropout_depends_on_a_samples_global_position_not_on_its_shard() {
    let x = random(&[6, 4, 8], 4);
    let mut layer = MultiHeadAttention::new(2, 4).dropout(0.3);
    layer.build_many(&[vec![4, 8]], &mut Rng::new(5)).unwrap(); // self-attention
    layer.plan(6);
    let run = |layer: &mut MultiHeadAttention, x: &Tensor, offset: usize| {
        layer.set_sample_offset(offset);
        let mut y = Tensor::zeros(x.shape());
        layer.forward_many(minibatch::layers::Inputs::one(x), &mut y, true);
        y
    };
    let (mut first, mut second) = (layer.clone(), layer.clone());
    let whole = run(&mut layer, &x, 0);
    let (a, b) = (run(&mut first, &rows(&x, 0, 4), 0), run(&mut second, &rows(&x, 4, 6), 4));
    assert_eq!(whole.data(), [a.data(), b.data()].concat());
}

#[test]
fn a_build_without_mpi_started_by_a_launcher_says_so_in_one_line() {
    if cfg!(feature = "mpi") {
        return; // this build has MPI: tests/mpi.rs runs it
    }
    let out = crate::deadline::output_within(
        std::process::Command::new(env!("CARGO_BIN_EXE_minibatch"))
            .args(["train", "--data", "moons", "--epochs", "1"])
            .env("OMPI_COMM_WORLD_SIZE", "2"),
        crate::deadline::DEADLINE,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && out.stdout.is_empty(), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("an MPI launcher started 2 processes, but this minibatch was built without MPI"), "{err}");
    assert!(err.contains("--features mpi"), "{err}");
}

/// The data-parallel step without MPI: K ranks played by threads of this process
/// ([`Threads`]), each fitting the same data with the same global batch. Every rank ends with
/// the weights and the History of one process, to rounding (the sum over ranks adds in
/// another order): each rank's gradient is weighted by its share of the global batch, so a
/// sum of unweighted gradients (K times the step), or a mean over ranks of a partial last
/// batch split unevenly, would fail here. Dropout and a validation split run sharded too.
#[test]
fn ranks_played_by_threads_train_as_one_process() {
    use minibatch::distributed::Threads;
    use minibatch::layers::Dense;
    use minibatch::{FitOptions, Sequential};
    let d = minibatch::datasets::load("moons", 3).unwrap();
    let (x, y) = (d.x_train.slice_rows(0, 795), d.y_train.slice_rows(0, 795));
    let run = || {
        let mut m = Sequential::new()
            .seed(11)
            .input_shape(&[2])
            .add(Dense::new(32).activation("relu"))
            .add(Dropout::new(0.2))
            .add(Dense::new(2).activation("softmax"));
        m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
        let options = FitOptions::new().batch_size(60).epochs(3).validation_split(0.1).verbose(0);
        let h = m.fit(&x, &y, options).unwrap();
        let weights: Vec<f32> = m.get_weights().iter().flat_map(|t| t.data().to_vec()).collect();
        (h, weights)
    };
    let (alone, alone_weights) = run();
    for ranks in [2, 3] {
        let results = Threads::run(ranks, |_| run());
        for (rank, (h, weights)) in results.iter().enumerate() {
            let at = format!("{ranks} ranks, rank {rank}");
            assert_eq!(h.weight_updates, alone.weight_updates, "{at}");
            crate::common::assert_run_matches(&at, (h, weights), (&alone, &alone_weights));
        }
        // Every rank applied the same update: the same bits everywhere.
        assert!(results.iter().all(|(_, w)| *w == results[0].1), "{ranks} ranks agree bit for bit");
    }
}

#[test]
fn over_ranks_the_noise_scale_sums_every_shards_estimate_and_every_rank_records_it() {
    use minibatch::distributed::Threads;
    use minibatch::layers::Dense;
    use minibatch::{FitOptions, Sequential};
    let d = minibatch::datasets::load("moons", 3).unwrap();
    let (x, y) = (d.x_train.slice_rows(0, 800), d.y_train.slice_rows(0, 800));
    let run = || {
        let mut m = Sequential::new()
            .seed(11)
            .input_shape(&[2])
            .add(Dense::new(32).activation("relu"))
            .add(Dense::new(2).activation("softmax"));
        m.compile("sgd", "sparse_categorical_crossentropy", &[]).unwrap();
        let options = FitOptions::new().batch_size(64).epochs(3).verbose(0).measure_noise_scale(true);
        m.fit(&x, &y, options).unwrap().get("noise_scale").unwrap().to_vec()
    };
    let alone = run();
    let results = Threads::run(2, |_| run());
    assert_eq!(results[0], results[1], "both ranks record the same estimate");
    for (a, b) in alone.iter().zip(&results[0]) {
        // Each rank probes half the batch: another estimate of the same quantity.
        assert!(
            a.is_finite() && b.is_finite() && (a / b).ln().abs() < 1.0,
            "alone {alone:?}, two ranks {:?}",
            results[0]
        );
    }
}
