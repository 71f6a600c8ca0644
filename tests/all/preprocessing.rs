//! Preprocessing layers and the command's default standardization: Normalization's `adapt`
//! against statistics computed independently, saved with the model, adapted on the training
//! rows only; breast_cancer from the command with no other flags.

use crate::common::{minibatch, shared_data, temp_dir};
use minibatch::layers::{Dense, Normalization, Rescaling};
use minibatch::{Model, Sequential, Tensor};

#[test]
fn normalization_adapts_to_a_dataset_batch_by_batch_as_to_the_whole_array() {
    use minibatch::data::TensorDataset;
    // Features far from zero and of different scales: the merge of batch statistics must keep
    // its precision (a naive sum of squares would not).
    let n = 1003;
    let values: Vec<f32> = (0..n * 3).map(|i| [1e4, 0.0, -50.0][i % 3] + ((i * 7919) % 101) as f32 * 0.37).collect();
    let x = Tensor::from_vec(&[n, 3], values).unwrap();
    let mut whole = Normalization::new();
    whole.adapt(&x).unwrap();
    for batch in [1, 16, 1000, 2000] {
        let data = TensorDataset::new(vec![x.clone()], vec![], batch).unwrap();
        let mut streamed = Normalization::new();
        streamed.adapt_dataset(&data, None).unwrap();
        for f in 0..3 {
            let (m, v) = (whole.mean()[f], whole.variance()[f]);
            assert!((streamed.mean()[f] - m).abs() <= 1e-6 * m.abs().max(1.0), "batch {batch}, feature {f} mean");
            assert!((streamed.variance()[f] - v).abs() <= 1e-5 * v, "batch {batch}, feature {f} variance");
        }
    }
    // steps: the first batches only.
    let data = TensorDataset::new(vec![x.clone()], vec![], 100).unwrap();
    let mut first = Normalization::new();
    first.adapt_dataset(&data, Some(1)).unwrap();
    let mut head = Normalization::new();
    head.adapt(&x.slice_rows(0, 100)).unwrap();
    assert!((first.mean()[2] - head.mean()[2]).abs() < 1e-5);
}

#[test]
fn normalization_adapts_to_each_features_mean_and_biased_variance() {
    // [samples, time, features]: statistics over samples and time, per feature.
    let n = 7 * 3;
    let values: Vec<f32> =
        (0..n * 2).map(|i| if i % 2 == 0 { i as f32 * 0.5 } else { 1000.0 + (i * i % 13) as f32 }).collect();
    let x = Tensor::from_vec(&[7, 3, 2], values.clone()).unwrap();
    let mut norm = Normalization::new();
    norm.adapt(&x).unwrap();
    for f in 0..2 {
        let column: Vec<f64> = values.iter().skip(f).step_by(2).map(|&v| v as f64).collect();
        let mean = column.iter().sum::<f64>() / n as f64;
        let var = column.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
        assert_eq!(norm.mean()[f], mean as f32, "feature {f}");
        assert_eq!(norm.variance()[f], var as f32, "feature {f}");
    }
    // Applied: each feature of the training data to mean 0 and variance 1; inverted, back.
    let mut model = Sequential::new().input_shape(&[3, 2]).add(norm.clone());
    model.compile("sgd", "mse", &[]).unwrap();
    let y = model.predict(&x, 7).unwrap();
    for f in 0..2 {
        let col: Vec<f64> = y.data().iter().skip(f).step_by(2).map(|&v| v as f64).collect();
        let mean = col.iter().sum::<f64>() / n as f64;
        let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-5, "feature {f}: mean {mean}, variance {var}");
    }
    let mut back = Sequential::new().input_shape(&[3, 2]).add(norm.clone().invert(true));
    back.compile("sgd", "mse", &[]).unwrap();
    let restored = back.predict(&y, 7).unwrap();
    for (a, b) in restored.data().iter().zip(&values) {
        assert!((a - b).abs() <= 1e-3 * b.abs().max(1.0), "{a} vs {b}");
    }
    // Bad data is named; a layer adapted to 2 features refuses 3.
    let mut bad = Normalization::new();
    let nan = Tensor::from_vec(&[2, 2], vec![1.0, f32::NAN, 2.0, 3.0]).unwrap();
    assert!(bad.adapt(&nan).unwrap_err().to_string().contains("NaN"));
    let three = Tensor::from_vec(&[1, 3], vec![1.0, 2.0, 3.0]).unwrap();
    assert!(norm.clone().adapt(&three).unwrap_err().to_string().contains("2 features"));
    let mut wrong = Sequential::new().input_shape(&[3]).add(norm).add(Dense::new(1));
    assert!(wrong.compile("sgd", "mse", &[]).unwrap_err().to_string().contains("2 features"));
}

#[test]
fn preprocessing_layers_save_and_load_with_their_statistics() {
    let x = Tensor::from_vec(&[4, 2], vec![1.0, 100.0, 2.0, 200.0, 3.0, 300.0, 4.0, 400.0]).unwrap();
    let mut norm = Normalization::new();
    norm.adapt(&x).unwrap();
    let mut model =
        Sequential::new().input_shape(&[2]).add(Rescaling::new(0.5).offset(1.0)).add(norm).add(Dense::new(3));
    model.compile("adam", "mse", &[]).unwrap();
    let before = model.predict(&x, 4).unwrap();
    let s = model.summary().unwrap();
    assert!(s.contains("normalization (Normalization)") && s.contains("rescaling (Rescaling)"), "{s}");
    assert!(s.contains("Non-trainable params: 4"), "the mean and variance: {s}");
    let dir = temp_dir("preprocessing-save");
    model.save(dir.join("m.safetensors")).unwrap();
    let mut loaded = Model::load(dir.join("m.safetensors")).unwrap();
    assert_eq!(loaded.predict(&x, 4).unwrap(), before);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_command_standardizes_on_the_training_rows_only() {
    // Two features on scales 1e4 apart; 40 rows, the last 10 held out by the tail split.
    let dir = temp_dir("preprocessing-cli");
    // Column c is constant: centred, not divided by Keras's 1e-7 (StandardScaler's rule).
    let mut text = String::from("a,b,c,label\n");
    for i in 0..40 {
        text += &format!("{},{},7,{}\n", i as f32 * 0.1, 5000.0 + (i * 37 % 23) as f32 * 100.0, i % 2);
    }
    std::fs::write(dir.join("d.csv"), text).unwrap();
    let (csv, saved) = (dir.join("d.csv"), dir.join("m.safetensors"));
    let args = ["train", "--data", csv.to_str().unwrap(), "--validation-split", "0.25", "--epochs", "1", "--save"];
    let (ok, out, err) = minibatch(&[&args[..], &[saved.to_str().unwrap()]].concat());
    assert!(ok, "{err}");
    assert!(
        out.lines()
            .nth(1)
            .unwrap()
            .contains("features standardized (a Normalization layer adapted on the 30 training rows"),
        "{out}"
    );
    // The saved statistics are the first 30 rows' (fit's tail split holds out the last 10).
    let bytes = std::fs::read(&saved).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mean = file.tensor("normalization/mean").unwrap();
    let mean: Vec<f32> = mean.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    let first_30 = (0..30).map(|i| i as f64 * 0.1).sum::<f64>() / 30.0;
    assert!((mean[0] as f64 - first_30).abs() < 1e-5, "{mean:?} vs {first_30}");
    let variance = file.tensor("normalization/variance").unwrap();
    let variance: Vec<f32> =
        variance.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    assert_eq!((mean[2], variance[2]), (7.0, 1.0), "the constant column");
    // --no-standardize keeps the features raw: no Normalization layer.
    let (ok, out, err) = minibatch(&[&args[..3], &["--epochs", "1", "--no-standardize"]].concat());
    assert!(ok && !out.contains("standardized") && !out.contains("(Normalization)"), "{out}{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn breast_cancer_from_the_command_with_no_other_flags() {
    let Some(data) = shared_data() else { return };
    let csv = data.join("tabular/breast_cancer.csv");
    for seed in ["0", "1", "2"] {
        let (ok, out, err) =
            minibatch(&["train", "--data", csv.to_str().unwrap(), "--test-split", "0.2", "--seed", seed]);
        assert!(ok, "{err}");
        let last = out.lines().last().unwrap();
        let accuracy: f64 = last["Test accuracy: ".len()..][..6].parse().unwrap();
        assert!(accuracy >= 0.96, "seed {seed}: {last}");
    }
    // The lab on the raw file: the wrong answers fall at every batch size (unstandardized, the
    // model answered one class throughout: 166 wrong in every epoch).
    let (ok, out, err) = minibatch(&["lab", "--data", csv.to_str().unwrap(), "--epochs", "10"]);
    assert!(ok, "{err}");
    let numeric = |w: Option<&str>| w.is_some_and(|w| w.parse::<usize>().is_ok());
    let rows: Vec<&str> =
        out.lines().filter(|l| numeric(l.split_whitespace().next()) && numeric(l.split_whitespace().nth(1))).collect();
    assert_eq!(rows.len(), 3, "{out}");
    for row in rows {
        let wrong: Vec<usize> = row
            .split_whitespace()
            .skip(8)
            .take_while(|w| w.parse::<usize>().is_ok())
            .map(|w| w.parse().unwrap())
            .collect();
        assert!(wrong.len() >= 2 && wrong.last() < wrong.first(), "{row}");
    }
}
