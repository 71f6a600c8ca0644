//! `train --data x.npy --labels y.npy`: the inputs read a batch at a time (positional reads) by
//! background workers (a [`NpyDataset`]), so a file larger than memory trains with memory
//! bounded by the batch; the labels (a value or a row per sample) read into memory.

use super::data;
use super::model_spec::Architecture;
use super::task::Task;
use super::train_args::{split_mode, TrainArgs};
use super::train_setup::{
    batch_size, build_model, check_monitor, print_test, target_scaler, warn_lopsided_validation, warn_small_validation,
    Watchers,
};
use minibatch::data::{Dataset, NpyDataset};
use minibatch::layers::Normalization;
use minibatch::{io, EvaluateOptions, FitOptions, Result, Tensor};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Trains as `train` does, from inputs read a batch at a time.
pub fn train_mapped(args: &TrainArgs, labels: &Path, backup_dir: Option<PathBuf>) -> Result<()> {
    if let Some(weights) = &args.class_weight {
        return Err(minibatch::Error::invalid(
            "--class-weight",
            weights,
            "data read into memory (--data FILE.csv or FILE.npz): --labels reads a batch at a time",
        ));
    }
    let x_path = Path::new(&args.data);
    for (flag, path) in [("--data", x_path), ("--labels", labels)] {
        if !matches!(minibatch::data::Source::parse(&path.to_string_lossy()), minibatch::data::Source::Npy(_)) {
            return Err(minibatch::Error::invalid(flag, path.display(), "an .npy file with --labels"));
        }
    }
    for (flag, given) in [("--test-data", args.test_data.is_some()), ("--report", args.report.is_some())] {
        if given {
            return Err(minibatch::Error::invalid(
                flag,
                "given with --labels",
                "--test-split for held-out rows (data read a batch at a time has no --test-data or --report yet)",
            ));
        }
    }
    if let Some(n) = args.train_samples {
        return Err(minibatch::Error::invalid(
            "--train-samples",
            n,
            "data read into memory: with --labels, give an NPY file of the rows to train on",
        ));
    }
    if args.lr_find || args.lr_find_only {
        return Err(minibatch::Error::invalid(
            "--lr-find",
            "given with --labels",
            "data read into memory (--data FILE.csv, FILE.npz, a folder or a built-in set): the range test \
             draws batches from anywhere in the rows",
        ));
    }
    // The batch the files are opened with; --memory-budget may choose another once the model
    // is built.
    let batch = args.batch_size.unwrap_or(super::train_setup::DEFAULT_BATCH);
    // u8 images are scaled to [0, 1] as from an NPZ; an architecture for images gets a
    // grayscale channel axis, as from an NPZ.
    let images = Architecture::parse(&args.model)?.takes_images();
    let open = || NpyDataset::open(x_path, Some(labels), batch).map(|d| if images { d.with_channel_axis() } else { d });
    let whole = open()?;
    let n = whole.samples();
    let sample = whole.spec().inputs[0].clone();
    let y = read_labels(labels)?;

    // The rows: held out for testing (--test-split), for validation (--validation-split), the
    // rest trained on.
    let (train_rows, test_rows) = match args.test_split {
        Some(f) => {
            let (train, test) = minibatch::datasets::train_test_rows(n, f, args.seed)?;
            (train, Some(test))
        }
        None => ((0..n).collect::<Vec<_>>(), None),
    };
    let (fit_rows, val_rows) = if args.validation_split > 0.0 {
        let y_train = y.select_rows(&train_rows);
        let (fit, val) =
            minibatch::training::split_rows(&y_train, args.validation_split, split_mode(args)?, args.seed)?;
        warn_small_validation(args, val.len(), train_rows.len());
        (fit.iter().map(|&i| train_rows[i]).collect(), Some(val.iter().map(|&i| train_rows[i]).collect::<Vec<_>>()))
    } else {
        (train_rows.clone(), None)
    };
    let y_test = test_rows.as_ref().map(|rows| y.select_rows(rows));
    let y_fit = y.select_rows(&fit_rows);
    let mut ys = vec![&y_fit];
    ys.extend(y_test.as_ref());
    let (task, note) = Task::infer(&ys, args.loss.as_deref(), args.task)?;
    if let Some(val) = &val_rows {
        warn_lopsided_validation(args, &task, &y, &fit_rows, val);
    }
    let subset = |rows: &[usize]| open()?.rows(rows.to_vec());
    // A subset of the rows is served shuffled by sample (as fit shuffles arrays); the whole
    // file in contiguous batches whose order fit shuffles (as Keras shuffles a dataset's).
    let mut train = if fit_rows.len() == n { open()? } else { subset(&fit_rows)?.shuffle(args.seed) };
    let mut val = val_rows.as_deref().map(subset).transpose()?;
    let mut test = test_rows.as_deref().map(subset).transpose()?;

    // Standardized on the training rows only, a batch at a time.
    let standardizer = if !args.no_standardize && super::train_args::standardizes(args) {
        let mut adapted = Normalization::new();
        adapted.adapt_dataset(&train, None)?;
        Some(data::standardizer_from(&adapted, fit_rows.len())?)
    } else {
        None
    };
    let targets = target_scaler(args, &task, &y_fit)?;
    let mut model = build_model(
        args,
        &sample,
        &task,
        standardizer.as_ref().map(|(n, _)| n),
        targets.as_ref().map(|(n, _)| n),
        None,
    )?;
    let (chosen, batch_note) = batch_size(args, &model)?;
    if chosen != batch {
        train = train.with_batch_size(chosen)?;
        val = val.map(|v| v.with_batch_size(chosen)).transpose()?;
        test = test.map(|t| t.with_batch_size(chosen)).transpose()?;
    }
    if args.early_stopping || args.reduce_lr_patience.is_some() {
        check_monitor(&args.monitor, &model, val.is_some())?;
    }
    if let Some(fraction) = args.test_split {
        let split = data::RecordedSplit::new(&args.data, n, fraction, args.seed)?;
        model.set_metadata("test_split", serde_json::to_value(&split).expect("plain values"));
    }
    // A look at the data before the first epoch: one pass a batch at a time, memory bounded
    // by 16 bytes a training row (--no-audit skips it).
    let audit = if args.no_audit {
        Vec::new()
    } else {
        minibatch::data::audit::audit_datasets(
            &train,
            val.as_ref().map(|d| d as &dyn Dataset),
            test.as_ref().map(|d| d as &dyn Dataset),
            task.is_classifier().then(|| task.units().max(2)),
            standardizer.is_some(),
        )?
    };
    let workers = args.workers;
    let epochs = args.epochs.unwrap_or(10);
    let mut options =
        FitOptions::new().epochs(epochs).verbose(args.verbose).workers(workers).measure_noise_scale(args.noise_scale);
    if let Some(v) = val.as_mut() {
        options = options.validation_dataset(v);
    }
    // Everything fit_dataset would refuse before reading a batch, refused before any output.
    model.prepare_fit_dataset(&train, &options)?;
    // A guess that may be wrong is said even when nothing else is.
    if let (0, Some(note), true) = (args.verbose, &note, minibatch::distributed::is_root()) {
        eprintln!("{}: {note}", args.data);
    }
    if args.verbose > 0 {
        let opt =
            model.optimizer().map_or(String::new(), |o| format!("{} (learning rate {})", o.name(), o.learning_rate()));
        let (dx, dy) = whole.dtypes();
        println!(
            "{}: {} training samples read a batch at a time ({dx} inputs, {} labels; {workers} workers prefetching), {}; {opt}",
            args.data,
            fit_rows.len(),
            dy.unwrap_or_default(),
            task.describe()
        );
        if let Some(note) = &note {
            println!("{}: {note}", args.data);
        }
        if whole.scales_pixels() {
            println!("{}: u8 images scaled from 0..255 to [0, 1], as from an NPZ", args.data);
        }
        for (_, note) in standardizer.iter().chain(&targets) {
            println!("{}: {note}", args.data);
        }
        if let Some(note) = &batch_note {
            println!("{}: {note}", args.data);
        }
        for finding in &audit {
            println!("{}: data audit: {finding}", args.data);
        }
        print!("{}", model.summary()?);
    }

    let mut watchers = Watchers::new(args, backup_dir);
    let history = model.fit_dataset(&mut train, watchers.attach(args, options))?;
    let stopped = watchers.finish(args, &model)?;
    let plotted = watchers.plot(args, &history, stopped);
    let figures = match test.as_mut() {
        Some(t) => {
            let logs = model.evaluate_dataset(t, EvaluateOptions::new().workers(workers))?;
            print_test(&model, &logs, t.samples())
        }
        None => {
            println!("No test data: give --test-split to evaluate on held-out rows.");
            Value::Null
        }
    };
    let written = watchers.write_history(args, &history, figures);
    plotted.and(written)
}

/// The labels file, whole (a value or a row per sample: small beside the inputs).
fn read_labels(path: &Path) -> Result<Tensor> {
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut io::open_regular(path)?, &mut bytes).map_err(|e| minibatch::Error::io(path, &e))?;
    let a = io::parse_npy(path, &bytes)?;
    let shape = if a.shape.len() == 1 { vec![a.shape[0]] } else { a.shape.clone() };
    Tensor::from_vec(&shape, a.data)
}
