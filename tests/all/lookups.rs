//! Lookup and encoding layers against Keras 3's own numbers (`make_keras_lookups.py`):
//! vocabularies learned by `adapt`, indices, encodings, Discretization's adapted boundaries;
//! round trips and saving.

use crate::common::read_json;
use minibatch::layers::{CategoryEncoding, Discretization, IntegerLookup, Layer, OutputMode, StringLookup};
use minibatch::rng::Rng;
use minibatch::{Sequential, Tensor};
use serde_json::Value;

fn fixture() -> Value {
    read_json(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras_lookups.json"))
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn run(layer: &mut dyn Layer, x: &Tensor) -> Tensor {
    let out = layer.build(&x.shape()[1..], &mut Rng::new(0)).unwrap();
    layer.check_input(x).unwrap();
    let mut shape = vec![x.batch()];
    shape.extend(out);
    let mut y = Tensor::zeros(&shape);
    layer.forward(x, &mut y, false);
    y
}

#[test]
fn integer_lookup_learns_and_maps_as_keras() {
    let f = &fixture()["integer"];
    let data = Tensor::from_vec(&[60, 1], floats(&f["data"])).unwrap();
    let probe = Tensor::from_vec(&[1, 6], floats(&f["probe"])).unwrap();
    let mut lookup = IntegerLookup::new();
    lookup.adapt(&data).unwrap();
    let vocab: Vec<f32> = lookup.vocabulary().iter().map(|&v| v as f32).collect();
    assert_eq!(vocab, floats(&f["vocabulary"]), "most frequent first, ties the larger first");
    assert_eq!(run(&mut lookup.clone(), &probe).data(), &floats(&f["int"])[..]);
    let mut masked = IntegerLookup::new().mask_token(0);
    masked.adapt(&data).unwrap();
    assert_eq!(masked.vocabulary().iter().map(|&v| v as f32).collect::<Vec<_>>(), floats(&f["masked_vocabulary"]));
    assert_eq!(run(&mut masked, &probe).data(), &floats(&f["masked_int"])[..]);
    let given: Vec<i64> = lookup.vocabulary().to_vec();
    for mode in ["multi_hot", "count"] {
        let mut l = IntegerLookup::new().with_vocabulary(&given).output_mode(OutputMode::from_name(mode).unwrap());
        assert_eq!(run(&mut l, &probe).data(), &floats(&f[mode])[..], "{mode}");
    }
    // Round trip: values to indices and back (an unknown value comes back as -1).
    let mut invert = IntegerLookup::new().with_vocabulary(&given).invert(true);
    let indices = run(&mut lookup.clone(), &probe);
    let back = run(&mut invert, &indices);
    assert_eq!(back.data(), &[3.0, 0.0, 11.0, -1.0, 5.0, 7.0]);
    let idx = Tensor::from_vec(&[1, 4], vec![0.0, 1.0, 2.0, 3.0]).unwrap();
    assert_eq!(run(&mut invert, &idx).data(), &floats(&f["inverted"])[..]);
    // Several OOV indices: an unknown value v takes OOV index floormod(v, n), as Keras's.
    let h = &fixture()["integer_hashed_oov"];
    let vocab: Vec<i64> = h["vocabulary"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    let hashed_probe = Tensor::from_vec(&[1, 9], floats(&h["probe"])).unwrap();
    let mut three = IntegerLookup::new().with_vocabulary(&vocab).num_oov_indices(3);
    assert_eq!(run(&mut three, &hashed_probe).data(), &floats(&h["int"])[..]);
    let mut masked_four = IntegerLookup::new().with_vocabulary(&vocab).num_oov_indices(4).mask_token(0);
    assert_eq!(run(&mut masked_four, &hashed_probe).data(), &floats(&h["masked_int"])[..]);
    let mut counted = IntegerLookup::new()
        .with_vocabulary(&vocab)
        .num_oov_indices(2)
        .output_mode(OutputMode::from_name("count").unwrap());
    assert_eq!(run(&mut counted, &hashed_probe).data(), &floats(&h["count"])[..]);
    // Without an OOV index, an unknown value at the model's input is named.
    let mut strict = IntegerLookup::new().with_vocabulary(&given).num_oov_indices(0);
    strict.build(&[6], &mut Rng::new(0)).unwrap();
    let e = strict.check_input(&probe).unwrap_err().to_string();
    assert!(e.contains("99") && e.contains("vocabulary"), "{e}");
}

#[test]
fn string_lookup_learns_and_maps_as_keras() {
    // Several OOV indices: FarmHash Fingerprint64 buckets, as Keras's to_hash_bucket_fast.
    let h = &fixture()["string_hashed_oov"];
    let strings =
        |v: &Value| -> Vec<String> { v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect() };
    let (vocab, probe) = (strings(&h["vocabulary"]), strings(&h["probe"]));
    let indices = |l: &StringLookup| probe.iter().map(|s| l.lookup(s) as f32).collect::<Vec<_>>();
    let five = StringLookup::new().with_vocabulary(&vocab).unwrap().num_oov_indices(5).unwrap();
    assert_eq!(indices(&five), floats(&h["int"]));
    let masked = StringLookup::new().mask_token("").num_oov_indices(3).unwrap().with_vocabulary(&vocab).unwrap();
    assert_eq!(indices(&masked), floats(&h["masked_int"]));
    // Saved and read back (a file claiming more OOV indices than can be is refused).
    let saved = serde_json::to_value(&five).unwrap();
    assert_eq!(indices(&serde_json::from_value::<StringLookup>(saved.clone()).unwrap()), floats(&h["int"]));
    let mut huge = saved;
    huge["num_oov_indices"] = serde_json::json!(1u64 << 40);
    assert!(serde_json::from_value::<StringLookup>(huge).unwrap_err().to_string().contains("num_oov_indices"));
    let f = &fixture()["string"];
    let words: Vec<&str> = f["data"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let mut lookup = StringLookup::new();
    lookup.adapt(words.iter().copied()).unwrap();
    let want: Vec<&str> = f["vocabulary"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(lookup.get_vocabulary(), want);
    for (s, i) in f["probe"].as_array().unwrap().iter().zip(f["indices"].as_array().unwrap()) {
        assert_eq!(lookup.lookup(s.as_str().unwrap()) as u64, i.as_u64().unwrap(), "{s}");
    }
    // Round trip through the indices; saved and read back.
    for w in &words {
        assert_eq!(lookup.invert(lookup.lookup(w)), *w);
    }
    assert_eq!(lookup.invert(0), "[UNK]");
    let saved = serde_json::to_string(&lookup).unwrap();
    let back: StringLookup = serde_json::from_str(&saved).unwrap();
    assert_eq!(back.lookup("teal"), lookup.lookup("teal"));
    // A string never seen, with no OOV index: named.
    let strict = lookup.clone().num_oov_indices(0).unwrap();
    let e = strict.lookup_strict("purple", &|| "row 3, column \"color\"".into()).unwrap_err().to_string();
    assert!(e.contains("\"purple\"") && e.contains("row 3"), "{e}");
    let masked = StringLookup::new().mask_token("").with_vocabulary(&["a", "b"]).unwrap();
    assert_eq!((masked.lookup(""), masked.lookup("zz"), masked.lookup("b")), (0, 1, 3));
}

#[test]
fn discretization_adapts_to_keras_boundaries_and_bins() {
    let f = &fixture()["discretization"];
    let values = floats(&f["values"]);
    let x = Tensor::from_vec(&[values.len(), 1], values).unwrap();
    for (bins, want) in f["boundaries"].as_object().unwrap() {
        let mut d = Discretization::with_num_bins(bins.parse().unwrap());
        d.adapt(&x).unwrap();
        let want = floats(want);
        assert_eq!(d.bin_boundaries().len(), want.len(), "{bins} bins");
        for (a, b) in d.bin_boundaries().iter().zip(&want) {
            assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{bins} bins: {a} vs Keras {b}");
        }
    }
    let small = Tensor::from_vec(&[6, 1], floats(&f["small"])).unwrap();
    let mut d = Discretization::with_num_bins(3);
    d.adapt(&small).unwrap();
    assert_eq!(d.bin_boundaries(), &floats(&f["small_boundaries"])[..]);
    let probe = Tensor::from_vec(&[1, 6], floats(&f["probe"])).unwrap();
    let mut fixed = Discretization::with_boundaries(&[0.0, 1.0, 2.5]);
    assert_eq!(run(&mut fixed, &probe).data(), &floats(&f["bins"])[..]);
    let mut onehot = Discretization::with_boundaries(&[0.0, 1.0, 2.5]).output_mode(OutputMode::Count);
    assert_eq!(run(&mut onehot, &probe).data(), &[1.0, 1.0, 1.0, 3.0]);
    assert!(Discretization::with_boundaries(&[2.0, 1.0]).build(&[3], &mut Rng::new(0)).is_err());
}

#[test]
fn category_encoding_as_keras() {
    let f = &fixture()["category"];
    let x = Tensor::from_vec(&[2, 4], floats(&f["input"])).unwrap();
    for mode in ["multi_hot", "count"] {
        let mut l = CategoryEncoding::new(5, OutputMode::from_name(mode).unwrap());
        assert_eq!(run(&mut l, &x).data(), &floats(&f[mode])[..], "{mode}");
    }
    let ids = Tensor::from_vec(&[2, 1], vec![3.0, 1.0]).unwrap();
    let mut l = CategoryEncoding::new(5, OutputMode::OneHot);
    let y = run(&mut l, &ids);
    assert_eq!((y.shape(), y.data()), (&[2, 5][..], &floats(&f["one_hot"])[..]));
    let bad = Tensor::from_vec(&[1, 2], vec![1.0, 5.0]).unwrap();
    let e = l.check_input(&bad).unwrap_err().to_string();
    assert!(e.contains("5") && e.contains("[0, 5)"), "{e}");
}

#[test]
fn lookups_train_and_are_saved_in_a_model() {
    let dir = crate::common::temp_dir("lookups-save");
    let ids = Tensor::from_vec(&[40, 2], (0..80).map(|i| [10.0, 20.0, 30.0, 40.0][(i * 7) % 4]).collect()).unwrap();
    let y = Tensor::from_vec(&[40], (0..40).map(|i| ((i * 7) % 4 < 2) as u8 as f32).collect()).unwrap();
    let mut lookup = IntegerLookup::new().output_mode(OutputMode::MultiHot);
    lookup.adapt(&ids).unwrap();
    let mut model =
        Sequential::new().input_shape(&[2]).add(lookup).add(minibatch::layers::Dense::new(2).activation("softmax"));
    model.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    model.fit(&ids, &y, minibatch::FitOptions::new().epochs(30).batch_size(8).verbose(0)).unwrap();
    let path = dir.join("lookup.safetensors");
    model.save(&path).unwrap();
    let mut loaded = minibatch::Model::load(&path).unwrap();
    assert_eq!(model.predict(&ids, 8).unwrap(), loaded.predict(&ids, 8).unwrap());
    // A value that is not a whole number is refused at the model's input, named.
    let bad = Tensor::from_vec(&[1, 2], vec![10.0, 2.5]).unwrap();
    assert!(loaded.predict(&bad, 1).unwrap_err().to_string().contains("2.5"));
}

#[test]
fn csv_string_columns_go_through_string_lookup_from_train_to_predict() {
    let dir = crate::common::temp_dir("csv-categories");
    let rows = [
        ("red", 1.5, "paris", "a"),
        ("blue", 2.0, "rome", "b"),
        ("red", 1.0, "paris", "a"),
        ("green", 3.5, "oslo", "b"),
    ];
    let mut text = String::from("color,size,city,label\n");
    for _ in 0..6 {
        for (c, s, t, l) in rows {
            text += &format!("{c},{s},{t},{l}\n");
        }
    }
    let train = dir.join("train.csv");
    std::fs::write(&train, &text).unwrap();
    // The library: each string column one-hot over its lookup's indices (OOV first).
    let t = minibatch::io::load_csv_table(&train, "label", None, None).unwrap();
    assert_eq!(t.x.shape(), &[24, 4 + 1 + 4]);
    assert_eq!(t.categories.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(), ["color", "city"]);
    let color = &t.categories[0].1;
    assert_eq!(color.get_vocabulary(), ["[UNK]", "red", "green", "blue"], "red 12×, then ties larger first");
    assert_eq!(&t.x.row(0)[..5], &[0.0, 1.0, 0.0, 0.0, 1.5]);
    // The command: trained, saved, and predict reads raw strings through the same lookups
    // (a colour never seen takes the OOV column).
    let model = dir.join("m.safetensors");
    let (ok, out, err) = crate::common::minibatch(&[
        "train",
        "--data",
        train.to_str().unwrap(),
        "--epochs",
        "20",
        "--save",
        model.to_str().unwrap(),
    ]);
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("string columns one-hot encoded through StringLookup") && out.contains("color (3 categories)"),
        "{out}"
    );
    let new = dir.join("new.csv");
    std::fs::write(&new, "color,size,city\nred,1.2,paris\npurple,3.1,oslo\n").unwrap();
    let (ok, out, err) =
        crate::common::minibatch(&["predict", "--model", model.to_str().unwrap(), "--data", new.to_str().unwrap()]);
    assert!(ok, "{out}\n{err}");
    assert_eq!(out.lines().count(), 3, "{out}");
    // A column of numbers with a stray word is an error naming the row, not a category.
    std::fs::write(&new, "color,size,city,label\nred,1.2,paris,a\nblue,big,oslo,b\n").unwrap();
    let e = minibatch::io::load_csv_table(&new, "label", None, None).unwrap_err().to_string();
    assert!(e.contains("row 2") && e.contains("\"big\""), "{e}");
}
