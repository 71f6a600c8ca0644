//! `timeseries_dataset_from_array`: Keras's windows and targets batch for batch (fixture
//! recorded by `tests/fixtures/make_keras_timeseries.py`), seeded shuffling, bad input by
//! name, and a forecaster that learns from it.

use minibatch::data::{timeseries_dataset_from_array, Batch, Dataset, TimeseriesDataset, TimeseriesOptions};
use minibatch::layers::{Dense, LSTM};
use minibatch::{FitOptions, Sequential, Tensor};
use serde_json::Value;

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn shape(v: &Value) -> Vec<usize> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect()
}

/// Every batch of `ds` as (inputs, targets).
fn batches(ds: &TimeseriesDataset) -> Vec<(Tensor, Option<Tensor>)> {
    let mut batch = Batch::new(&ds.spec());
    (0..ds.num_batches().unwrap())
        .map(|i| {
            ds.fill(i, &mut batch).unwrap();
            (batch.x(0).clone(), batch.ys().first().cloned())
        })
        .collect()
}

#[test]
fn windows_and_targets_are_keras_batch_for_batch() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keras_timeseries.json"));
    let r: Value = serde_json::from_str(&text.unwrap()).unwrap();
    for case in r["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let data = Tensor::from_vec(&shape(&case["data_shape"]), floats(&case["data"])).unwrap();
        let targets = (!case["targets"].is_null())
            .then(|| Tensor::from_vec(&shape(&case["targets_shape"]), floats(&case["targets"])).unwrap());
        let k = &case["kwargs"];
        let get = |key: &str| k.get(key).and_then(Value::as_u64).map(|v| v as usize);
        let options = TimeseriesOptions {
            sequence_stride: get("sequence_stride").unwrap_or(1),
            sampling_rate: get("sampling_rate").unwrap_or(1),
            batch_size: get("batch_size").unwrap_or(128),
            shuffle: None,
            start_index: get("start_index").unwrap_or(0),
            end_index: get("end_index"),
        };
        let length = case["sequence_length"].as_u64().unwrap() as usize;
        let ds = timeseries_dataset_from_array(data, targets, length, &options).unwrap();
        let ours = batches(&ds);
        let keras = case["batches"].as_array().unwrap();
        assert_eq!(ours.len(), keras.len(), "{name}: batches");
        for (i, ((x, y), want)) in ours.iter().zip(keras).enumerate() {
            assert_eq!(x.shape(), &shape(&want["x_shape"])[..], "{name} batch {i}");
            assert_eq!(x.data(), &floats(&want["x"])[..], "{name} batch {i}: windows");
            match (y, want["y"].is_null()) {
                (Some(y), false) => {
                    assert_eq!(y.data(), &floats(&want["y"])[..], "{name} batch {i}: targets");
                    assert_eq!(y.batch(), shape(&want["y_shape"])[0], "{name} batch {i}");
                }
                (None, true) => {}
                _ => panic!("{name}: targets given on one side only"),
            }
        }
    }
}

#[test]
fn shuffling_serves_every_window_once_per_epoch_in_a_seeded_order() {
    let data = Tensor::from_vec(&[50], (0..50).map(|i| i as f32).collect()).unwrap();
    let options = TimeseriesOptions { batch_size: 7, shuffle: Some(3), ..Default::default() };
    let firsts = |ds: &TimeseriesDataset| -> Vec<f32> {
        batches(ds).iter().flat_map(|(x, _)| x.data().chunks(5).map(|w| w[0]).collect::<Vec<_>>()).collect()
    };
    let mut ds = timeseries_dataset_from_array(data.clone(), None, 5, &options).unwrap();
    let epoch0 = firsts(&ds);
    let mut sorted = epoch0.clone();
    sorted.sort_by(f32::total_cmp);
    assert_eq!(sorted, (0..46).map(|i| i as f32).collect::<Vec<_>>(), "each window once");
    assert_ne!(epoch0, sorted, "shuffled");
    ds.on_epoch_end();
    let epoch1 = firsts(&ds);
    assert_ne!(epoch0, epoch1, "reshuffled every epoch");
    let again = timeseries_dataset_from_array(data.clone(), None, 5, &options).unwrap();
    assert_eq!(firsts(&again), epoch0, "the same seed, the same order");
    // Each window is still consecutive steps.
    for (x, _) in batches(&ds) {
        for w in x.data().chunks(5) {
            assert!(w.windows(2).all(|p| p[1] == p[0] + 1.0), "{w:?}");
        }
    }
}

#[test]
fn bad_arguments_are_named_before_any_window() {
    let series = || Tensor::from_vec(&[10, 2], (0..20).map(|i| i as f32).collect()).unwrap();
    let default = TimeseriesOptions::default();
    let err = |data: Tensor, targets: Option<Tensor>, length: usize, options: &TimeseriesOptions| {
        timeseries_dataset_from_array(data, targets, length, options).unwrap_err().to_string()
    };
    let e = err(series(), None, 11, &default);
    assert!(e.contains("sequence_length 11") && e.contains("10 steps"), "{e}");
    let e = err(series(), None, 4, &TimeseriesOptions { sampling_rate: 4, ..Default::default() });
    assert!(e.contains("spans 13 steps"), "{e}");
    let e = err(series(), None, usize::MAX, &TimeseriesOptions { sampling_rate: usize::MAX, ..Default::default() });
    assert!(e.contains("longer than"), "no overflow: {e}");
    for (options, name) in [
        (TimeseriesOptions { sequence_stride: 0, ..Default::default() }, "sequence_stride"),
        (TimeseriesOptions { sampling_rate: 0, ..Default::default() }, "sampling_rate"),
        (TimeseriesOptions { batch_size: 0, ..Default::default() }, "batch_size"),
        (TimeseriesOptions { start_index: 10, ..Default::default() }, "start_index"),
        (TimeseriesOptions { end_index: Some(11), ..Default::default() }, "end_index"),
        (TimeseriesOptions { start_index: 5, end_index: Some(5), ..Default::default() }, "end_index"),
    ] {
        let e = err(series(), None, 3, &options);
        assert!(e.contains(name), "{name}: {e}");
    }
    assert!(err(series(), None, 0, &default).contains("sequence_length"));
    let e = err(Tensor::zeros(&[0, 2]), None, 3, &default);
    assert!(e.contains("no steps"), "{e}");
    let e = err(series(), Some(Tensor::zeros(&[3])), 3, &TimeseriesOptions { start_index: 4, ..Default::default() });
    assert!(e.contains("targets' 3 steps end before start_index 4"), "{e}");
}

#[test]
fn an_lstm_forecasts_a_noisy_sine_from_its_windows() {
    // Predict the next step of a sine with a little noise from the 12 steps before it.
    let mut rng = minibatch::rng::Rng::new(5);
    let series: Vec<f32> = (0..800).map(|t| (t as f32 * 0.15).sin() + 0.05 * rng.normal() as f32).collect();
    let (length, split) = (12, 640);
    let data = Tensor::from_vec(&[800 - length, 1], series[..800 - length].to_vec()).unwrap();
    let targets = Tensor::from_vec(&[800 - length], series[length..].to_vec()).unwrap();
    let train_options =
        TimeseriesOptions { batch_size: 32, shuffle: Some(0), end_index: Some(split), ..Default::default() };
    let mut train = timeseries_dataset_from_array(data.clone(), Some(targets.clone()), length, &train_options).unwrap();
    let val_options = TimeseriesOptions { batch_size: 64, start_index: split, ..Default::default() };
    let mut val = timeseries_dataset_from_array(data, Some(targets), length, &val_options).unwrap();
    let mut model = Sequential::new().seed(1).add(LSTM::new(16)).add(Dense::new(1));
    model.compile(minibatch::optimizers::Adam::new(0.01), "mse", &["mae"]).unwrap();
    let h =
        model.fit_dataset(&mut train, FitOptions::new().epochs(15).verbose(0).validation_dataset(&mut val)).unwrap();
    let val_mae = *h.get("val_mae").unwrap().last().unwrap();
    // The noise alone is 0.04 mean absolute error; guessing 0 is about 0.64.
    assert!(val_mae < 0.08, "validation mae {val_mae}");
}
