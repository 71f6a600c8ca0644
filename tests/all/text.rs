//! Text against Keras 3's own outputs (`make_keras_text.py`): TextVectorization's learned
//! vocabularies and outputs in every mode, `text_dataset_from_directory`'s files and labels;
//! bad input; saving; a classifier learning from text.

use crate::common::read_json;
use minibatch::layers::{TextOutput, TextVectorization};
use serde_json::Value;

fn fixture() -> Value {
    read_json(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras_text.json"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

/// The layer a fixture case's Keras arguments describe.
fn layer(kwargs: &Value) -> TextVectorization {
    let mut t = TextVectorization::new();
    for (key, value) in kwargs.as_object().unwrap() {
        t = match key.as_str() {
            "max_tokens" => t.max_tokens(value.as_u64().unwrap() as usize),
            "output_sequence_length" => t.output_sequence_length(value.as_u64().unwrap() as usize),
            "standardize" => t.standardize(value.as_str()).unwrap(),
            "split" => t.split(value.as_str()).unwrap(),
            "ngrams" if value.is_u64() => t.ngrams(value.as_u64().unwrap() as usize),
            "ngrams" => t.ngram_widths(
                &value.as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect::<Vec<_>>(),
            ),
            "output_mode" => t.output_mode(TextOutput::from_name(value.as_str().unwrap()).unwrap()),
            "pad_to_max_tokens" => t.pad_to_max_tokens(value.as_bool().unwrap()),
            other => panic!("fixture argument {other}"),
        };
    }
    t
}

#[test]
fn text_vectorization_learns_and_outputs_what_keras_does() {
    let f = fixture();
    let corpus = strings(&f["corpus"]);
    let probe = strings(&f["probe"]);
    let cases = f["cases"].as_object().unwrap();
    assert!(cases.len() >= 16);
    for (name, case) in cases {
        let mut t = layer(&case["kwargs"]);
        t.adapt(corpus.iter().map(String::as_str)).unwrap();
        assert_eq!(t.get_vocabulary(), strings(&case["vocabulary"]), "{name}: vocabulary");
        let out = t.call(&probe).unwrap();
        let shape: Vec<usize> =
            case["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
        assert_eq!(out.shape(), shape.as_slice(), "{name}: shape");
        let expected: Vec<f64> = case["output"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
            .collect();
        for (i, (&got, want)) in out.data().iter().zip(&expected).enumerate() {
            assert!(
                (got as f64 - want).abs() <= 1e-5 * want.abs().max(1.0),
                "{name}: value {i}: {got} against Keras's {want}"
            );
        }
        if let Some(idf) = case.get("idf") {
            let want: Vec<f64> = idf.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
            let got = &t.config().idf_weights;
            assert_eq!(got.len(), want.len().min(t.vocabulary_size()), "{name}: idf count");
            for (g, w) in got.iter().zip(&want) {
                assert!((*g as f64 - w).abs() < 1e-6, "{name}: idf {g} against {w}");
            }
        }
    }
}

/// A fresh folder under the system's temporary folder, removed first if left by a crash.
fn folder(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("minibatch-text-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The fixture's class folder written out.
fn write_fixture_folder(f: &Value, name: &str) -> std::path::PathBuf {
    let dir = folder(name);
    for (class, entries) in f["directory"]["files"].as_object().unwrap() {
        for (rel, text) in entries.as_object().unwrap() {
            let path = dir.join(class).join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text.as_str().unwrap()).unwrap();
        }
    }
    dir
}

#[test]
fn a_class_folder_reads_as_keras_reads_it_and_splits_the_same_files() {
    use minibatch::data::{text_dataset_from_directory, Subset, TextDirectoryOptions};
    let f = fixture();
    let d = &f["directory"];
    let dir = write_fixture_folder(&f, "keras");
    let sorted = TextDirectoryOptions { shuffle: false, ..TextDirectoryOptions::default() };
    let folder = text_dataset_from_directory(&dir, &sorted).unwrap();
    assert_eq!(folder.class_names, strings(&d["class_names"]));
    assert_eq!(folder.texts, strings(&d["texts"]), "the .md file skipped, sub-folders walked, Keras's order");
    let labels: Vec<usize> = d["labels"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    assert_eq!(folder.labels, labels);
    assert_eq!(folder.label_tensor().unwrap().data(), labels.iter().map(|&l| l as f32).collect::<Vec<_>>().as_slice());
    let cut = TextDirectoryOptions { max_length: Some(4), ..sorted.clone() };
    assert_eq!(text_dataset_from_directory(&dir, &cut).unwrap().texts, strings(&d["max_length_4"]));
    for seed in [7u64, 1234] {
        let side = |subset| {
            let o = TextDirectoryOptions {
                seed,
                validation_split: Some((0.34, subset)),
                ..TextDirectoryOptions::default()
            };
            let f = text_dataset_from_directory(&dir, &o).unwrap();
            let mut pairs: Vec<(String, usize)> = f.texts.into_iter().zip(f.labels).collect();
            pairs.sort();
            pairs
        };
        let want = |key: &str| -> Vec<(String, usize)> {
            let side = d[format!("split_{seed}")][key].as_array().unwrap();
            side.iter().map(|p| (p[0].as_str().unwrap().to_string(), p[1].as_u64().unwrap() as usize)).collect()
        };
        assert_eq!(side(Subset::Training), want("training"), "seed {seed}: Keras's training files");
        assert_eq!(side(Subset::Validation), want("validation"), "seed {seed}: Keras's validation files");
    }
    // Class names given: the labels follow them; one not a folder is named.
    let named = TextDirectoryOptions {
        class_names: Some(vec!["pos".into(), "neutral".into(), "neg".into()]),
        ..sorted.clone()
    };
    let folder = text_dataset_from_directory(&dir, &named).unwrap();
    assert_eq!((folder.texts[0].as_str(), folder.labels[0]), ("great fun", 0));
    let stray = TextDirectoryOptions { class_names: Some(vec!["pos".into(), "neg".into()]), ..sorted };
    let e = text_dataset_from_directory(&dir, &stray).unwrap_err().to_string();
    assert!(e.contains("\"neutral\""), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_text_input_is_named_before_any_work() {
    use minibatch::data::{text_dataset_from_directory, Subset, TextDirectoryOptions};
    let dir = folder("bad");
    let options = TextDirectoryOptions::default();
    let e = text_dataset_from_directory(&dir, &options).unwrap_err().to_string();
    assert!(e.contains("no class folders"), "{e}");
    std::fs::create_dir_all(dir.join("a")).unwrap();
    std::fs::write(dir.join("a/notes.md"), "x").unwrap();
    let e = text_dataset_from_directory(&dir, &options).unwrap_err().to_string();
    assert!(e.contains("\"a\"") && e.contains("no .txt files"), "{e}");
    // Latin-1 bytes where UTF-8 is expected: the file and the offset.
    std::fs::write(dir.join("a/latin1.txt"), b"caf\xe9 au lait").unwrap();
    let e = text_dataset_from_directory(&dir, &options).unwrap_err().to_string();
    assert!(e.contains("latin1.txt") && e.contains("not UTF-8") && e.contains("byte offset 3"), "{e}");
    std::fs::write(dir.join("a/latin1.txt"), "café").unwrap();
    for (split, seed, what) in [(1.5, 0, "validation_split"), (0.0, 0, "validation_split"), (0.5, 1 << 32, "seed")] {
        let o = TextDirectoryOptions {
            seed,
            validation_split: Some((split, Subset::Training)),
            ..TextDirectoryOptions::default()
        };
        let e = text_dataset_from_directory(&dir, &o).unwrap_err().to_string();
        assert!(e.contains(what), "{e}");
    }
    // One file: a split would leave the training side empty.
    let o =
        TextDirectoryOptions { validation_split: Some((0.99, Subset::Training)), ..TextDirectoryOptions::default() };
    let e = text_dataset_from_directory(&dir, &o).unwrap_err().to_string();
    assert!(e.contains("both sides"), "{e}");

    // The vectorizer's arguments, named.
    let mut t = TextVectorization::new().max_tokens(2);
    let e = t.adapt(["a b"]).unwrap_err().to_string();
    assert!(e.contains("max_tokens") && e.contains("more than 2"), "{e}");
    let mut t = TextVectorization::new().ngrams(0);
    assert!(t.adapt(["a b"]).unwrap_err().to_string().contains("ngrams"));
    let mut t = TextVectorization::new().output_mode(TextOutput::MultiHot).output_sequence_length(3);
    assert!(t.adapt(["a b"]).unwrap_err().to_string().contains("output_sequence_length"));
    let mut t = TextVectorization::new().output_mode(TextOutput::Count).pad_to_max_tokens(true);
    assert!(t.adapt(["a b"]).unwrap_err().to_string().contains("pad_to_max_tokens"));
    assert!(TextVectorization::new()
        .standardize(Some("upper"))
        .unwrap_err()
        .to_string()
        .contains("lower_and_strip_punctuation"));
    assert!(TextOutput::from_name("one_hot").unwrap_err().to_string().contains("tf_idf"));
    // An empty vocabulary, no texts, a bag of words with no vocabulary.
    let mut t = TextVectorization::new();
    let e = t.adapt(["  ", "?!", ""]).unwrap_err().to_string();
    assert!(e.contains("empty vocabulary") && e.contains("3 texts"), "{e}");
    assert!(t.adapt(std::iter::empty()).unwrap_err().to_string().contains("no text"));
    let e = TextVectorization::new().output_mode(TextOutput::MultiHot).call(&["a"]).unwrap_err().to_string();
    assert!(e.contains("adapt"), "{e}");
    assert!(TextVectorization::new().call::<&str>(&[]).unwrap_err().to_string().contains("texts"));
    // A vocabulary given: no special token, no repeat; tf_idf needs one weight per token.
    let mut t = TextVectorization::new().output_mode(TextOutput::TfIdf);
    assert!(t.set_vocabulary(&["a", "a"], Some(&[1.0, 1.0])).unwrap_err().to_string().contains("\"a\""));
    assert!(t.set_vocabulary(&["a", "b"], None).unwrap_err().to_string().contains("idf_weights"));
    t.set_vocabulary(&["a", "b"], Some(&[1.0, 3.0])).unwrap();
    assert_eq!(t.config().idf_weights, [2.0, 1.0, 3.0], "[UNK]'s weight is the mean");
    assert_eq!(t.call(&["b b c"]).unwrap().data(), &[2.0, 0.0, 6.0]);
    // A saved vectorizer claiming a bad argument is refused when read.
    let mut saved = serde_json::to_value(&t).unwrap();
    saved["max_tokens"] = serde_json::json!(1);
    assert!(serde_json::from_value::<TextVectorization>(saved).unwrap_err().to_string().contains("max_tokens"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_vectorizer_adapts_from_a_streamed_file_and_round_trips() {
    let dir = folder("stream");
    let path = dir.join("corpus.txt");
    std::fs::write(&path, "The cat sat.\r\nthe dog sat!\nA cat\n").unwrap();
    let mut from_file = TextVectorization::new().output_mode(TextOutput::TfIdf).ngrams(2);
    from_file.adapt_file(&path).unwrap();
    let mut from_list = TextVectorization::new().output_mode(TextOutput::TfIdf).ngrams(2);
    from_list.adapt(["The cat sat.", "the dog sat!", "A cat"]).unwrap();
    assert_eq!(from_file, from_list, "each line one document, line ends dropped");
    let json = serde_json::to_string(&from_file).unwrap();
    assert!(json.contains("\"output_mode\":\"tf_idf\"") && json.contains("\"ngrams\":[1,2]"), "{json}");
    let back: TextVectorization = serde_json::from_str(&json).unwrap();
    assert_eq!(back, from_file);
    assert_eq!(back.call(&["the cat"]).unwrap(), from_file.call(&["the cat"]).unwrap());
    std::fs::write(&path, b"fine line\nsecond \xff line\n").unwrap();
    let e = from_file.adapt_file(&path).unwrap_err().to_string();
    assert!(e.contains("corpus.txt") && e.contains("line 2") && e.contains("byte offset 17"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_classifier_learns_topics_from_a_generated_corpus() {
    use minibatch::data::{text_dataset_from_directory, Subset, TextDirectoryOptions};
    use minibatch::layers::Dense;
    use minibatch::{FitOptions, Sequential};
    let dir = folder("topics");
    minibatch::datasets::write_topics(&dir, 200, 3).unwrap();
    let side = |subset| {
        let o =
            TextDirectoryOptions { seed: 5, validation_split: Some((0.25, subset)), ..TextDirectoryOptions::default() };
        text_dataset_from_directory(&dir, &o).unwrap()
    };
    let (train, val) = (side(Subset::Training), side(Subset::Validation));
    assert_eq!((train.texts.len(), val.texts.len()), (450, 150));
    let mut text = TextVectorization::new().output_mode(TextOutput::MultiHot).ngrams(2).max_tokens(1000);
    text.adapt(train.texts.iter().map(String::as_str)).unwrap();
    let mut model = Sequential::new()
        .seed(0)
        .input_shape(&[text.columns()])
        .add(Dense::new(16).activation("relu"))
        .add(Dense::new(3).activation("softmax"));
    model.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    let (x, y) = (text.call(&train.texts).unwrap(), train.label_tensor().unwrap());
    model.fit(&x, &y, FitOptions::new().epochs(20).verbose(0)).unwrap();
    let logs = model.evaluate(&text.call(&val.texts).unwrap(), &val.label_tensor().unwrap(), 32).unwrap();
    // A third of each text's words are its topic's, one in ten another topic's: about 1 text
    // in 12 of 6 words holds none of its own (the ceiling is near 0.93); chance is 0.33.
    let accuracy = logs.get("accuracy").unwrap();
    assert!(accuracy > 0.8, "validation accuracy {accuracy}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_command_trains_a_text_classifier_from_a_folder_and_reads_texts_back() {
    use crate::common::minibatch;
    let dir = folder("cli");
    let corpus = dir.join("corpus");
    minibatch::datasets::write_topics(&corpus, 120, 1).unwrap();
    let model = dir.join("topics.mb");
    let (c, m) = (corpus.to_str().unwrap(), model.to_str().unwrap());
    // The flags are checked before any output.
    let (ok, out, err) = minibatch(&["train", "--data", c, "--model", "convnet"]);
    assert!(!ok && out.is_empty() && err.contains("mlp (a bag of words) or lstm"), "{err}");
    let (ok, out, err) = minibatch(&["train", "--data", "exam", "--max-tokens", "100"]);
    assert!(!ok && out.is_empty() && err.contains("--max-tokens") && err.contains(".txt"), "{err}");
    let (ok, out, err) = minibatch(&["train", "--data", c, "--ngrams", "0"]);
    assert!(!ok && out.is_empty() && err.contains("--ngrams"), "{err}");
    let (ok, out, err) = minibatch(&["train", "--data", c, "--test-split", "0.25", "--epochs", "15", "--save", m]);
    assert!(ok, "{err}");
    assert!(out.contains("TextVectorization adapted to the training texts"), "{out}");
    let accuracy: f64 = out.split("Test accuracy: ").nth(1).unwrap()[..6].parse().unwrap();
    assert!(accuracy > 0.75, "{out}");
    let (ok, out, err) = minibatch(&["evaluate", "--model", m, "--data", c]);
    assert!(ok && out.contains("90 samples") && out.contains("test rows"), "{out}{err}");
    // predict: a file's lines, and a folder's files.
    let lines = dir.join("new.txt");
    std::fs::write(&lines, "the coach and the team won the match\nsimmer the garlic sauce in a pan\n").unwrap();
    let (ok, out, err) = minibatch(&["predict", "--model", m, "--data", lines.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(
        out.starts_with("row,class,p_cooking,p_sports,p_weather\n0,sports,") && out.contains("\n1,cooking,"),
        "{out}"
    );
    let new = dir.join("new");
    std::fs::create_dir_all(&new).unwrap();
    std::fs::write(new.join("storm.txt"), "a storm with wind and rain").unwrap();
    let (ok, out, err) = minibatch(&["predict", "--model", m, "--data", new.to_str().unwrap()]);
    assert!(ok && out.contains("0,storm.txt,weather,"), "{out}{err}");
    // A text model with an LSTM over token ids.
    let (ok, out, err) = minibatch(&[
        "train",
        "--data",
        c,
        "--model",
        "lstm",
        "--sequence-length",
        "16",
        "--ngrams",
        "1",
        "--epochs",
        "2",
    ]);
    assert!(ok && out.contains("embedding (Embedding)") && out.contains("16 token ids each"), "{out}{err}");
    // Texts given to a model not trained on them, and a text file to train on.
    let (ok, _, err) =
        minibatch(&["train", "--data", "exam", "--epochs", "1", "--save", dir.join("exam.mb").to_str().unwrap()]);
    assert!(ok, "{err}");
    let (ok, _, err) =
        minibatch(&["predict", "--model", dir.join("exam.mb").to_str().unwrap(), "--data", lines.to_str().unwrap()]);
    assert!(!ok && err.contains("not trained on texts"), "{err}");
    let (ok, _, err) = minibatch(&["train", "--data", lines.to_str().unwrap()]);
    assert!(!ok && err.contains("predict reads it"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
