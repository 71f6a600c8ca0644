//! `minibatch train`: fit a model on a data set, report it, save it.

use super::data;
use super::model_spec::Architecture;
use super::task::Task;
pub use super::train_args::TrainArgs;
use super::train_args::{check_train_args, color_mode_name, image_size, split_mode, standardizes};
use super::train_setup::{
    batch_size, build_model, check_monitor, class_weights, lr_find, print_test, target_scaler,
    warn_lopsided_validation, warn_small_validation, Watchers,
};
use super::windows::Window;
use minibatch::callbacks::BackupAndRestore;
use minibatch::data::Source;
use minibatch::report::TrainingReport;
use minibatch::{datasets, io, FitOptions, Model, Result};
use serde_json::{json, Value};

/// Without --threads, processes that mpirun started on the same machine share its cores: each
/// takes its part (`None` for one process per machine).
fn shared_cores() -> Option<usize> {
    let local = minibatch::distributed::local_size()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (local > 1).then(|| (cores / local).max(1))
}

pub fn train(args: &TrainArgs) -> Result<()> {
    let (clock, started) = (std::time::Instant::now(), minibatch::report::timestamp());
    check_train_args(args)?;
    // --target is --label-column's name for a forecast.
    let aliased;
    let args = match &args.target {
        Some(target) => {
            aliased = TrainArgs { label_column: target.clone(), ..args.clone() };
            &aliased
        }
        None => args,
    };
    // Over several processes, rank 0 alone writes the model, History, plot and report (the
    // library's checkpoints and backups see to themselves).
    let worker;
    let args = if minibatch::distributed::is_root() {
        args
    } else {
        worker = TrainArgs { save: None, history: None, plot: None, report: None, ..args.clone() };
        &worker
    };
    if let Some(n) = args.threads.or_else(shared_cores) {
        minibatch::tensor::kernels::set_num_threads(n);
    }
    let backup_dir = args.checkpoint_dir.as_ref().map(|d| d.join("backup"));
    match (&backup_dir, args.resume) {
        (None, true) => {
            return Err(minibatch::Error::invalid("--resume", "set", "--checkpoint-dir DIR naming where the backup is"))
        }
        (Some(dir), false) if BackupAndRestore::exists(dir) => {
            return Err(minibatch::Error::State(format!(
                "{} holds the backup of an unfinished run: pass --resume to continue it, or remove it to start afresh",
                dir.display()
            )))
        }
        _ => {}
    }
    if minibatch::distributed::is_root() {
        super::interrupt::on_ctrl_c(&super::interrupt::train_line(backup_dir.as_deref()));
    }
    // The architecture's name, refused at once when unknown (before any data is read).
    let architecture = Architecture::parse(&args.model)?;
    if let Some(labels) = &args.labels {
        return super::mapped::train_mapped(args, labels, backup_dir);
    }
    check_model_before_images(args)?;
    // A folder of texts: the vectorizer adapted to its training texts, before they are read
    // through it.
    let text = match Source::parse(&args.data) {
        Source::TextFolder(dir) => Some(super::texts::adapted(&args.text_flags(), dir, architecture)?),
        _ => None,
    };
    let mut data = load_data(args, text.as_ref())?;
    if let Some(n) = args.train_samples.filter(|&n| n < data.x.batch()) {
        // The first n training rows, as the lab takes them (the test rows stay whole).
        data.x = data.x.slice_rows(0, n);
        data.y = data.y.slice_rows(0, n);
    }
    let epochs = args.epochs.unwrap_or(match args.data.as_str() {
        "spirals" => 60,
        "moons" | "exam" => 30,
        _ => 10,
    });
    let mut ys = vec![&data.y];
    ys.extend(data.test.as_ref().map(|(_, y)| y));
    // A forecast's targets are quantities unless --task says otherwise.
    let kind = args.task.or(args.window.map(|_| super::task::TaskKind::Regression));
    let (task, note) = Task::infer(&ys, args.loss.as_deref(), kind)?;

    let split_mode = split_mode(args)?;
    // The rows fit will train on (the split it will make, checked now: before the model is
    // built or printed).
    let (train_rows, held_rows) = if args.validation_split > 0.0 {
        let (train, held) = minibatch::training::split_rows(&data.y, args.validation_split, split_mode, args.seed)?;
        warn_small_validation(args, held.len(), data.x.batch());
        warn_lopsided_validation(args, &task, &data.y, &train, &held);
        (train, held)
    } else {
        ((0..data.x.batch()).collect(), Vec::new())
    };
    let data = if architecture.takes_images() { data::with_channel_axis(data)? } else { data };
    // Standardize a file's features on the rows fit will train on (not its validation rows).
    let standardizer =
        if !args.no_standardize && standardizes(args) { Some(data::standardizer(&data.x, &train_rows)?) } else { None };
    let targets = target_scaler(args, &task, &data.y.select_rows(&train_rows))?;
    let mut model = build_model(
        args,
        &data.x.shape()[1..],
        &task,
        standardizer.as_ref().map(|(n, _)| n),
        targets.as_ref().map(|(n, _)| n),
        text.as_ref().filter(|_| architecture == Architecture::Lstm).map(|t| t.vocabulary_size()),
    )?;
    // Everything fit would refuse (the data, the split, the agreement of several processes on
    // a global batch they share evenly), and test data evaluate would, refused now: before
    // anything is printed.
    let weights = class_weights(args, &task, &data.y, &train_rows)?;
    let (batch, batch_note) = batch_size(args, &model)?;
    let fit_options = || {
        let options = FitOptions::new()
            .batch_size(batch)
            .epochs(epochs)
            .validation_split(args.validation_split)
            .validation_split_mode(split_mode)
            .measure_noise_scale(args.noise_scale)
            .verbose(args.verbose);
        match &weights {
            Some(w) => options.class_weight(w.iter().copied()),
            None => options,
        }
    };
    model.prepare_fit(&data.x, &data.y, &fit_options())?;
    if let Some((x, y)) = &data.test {
        model.check_training_data(x, y)?;
    }
    if args.early_stopping || args.reduce_lr_patience.is_some() {
        check_monitor(&args.monitor, &model, args.validation_split > 0.0)?;
    }
    if let Some(length) = args.window {
        Window { length, horizon: args.horizon }.record(&mut model);
    }
    if let (Some(fraction), None) = (args.test_split, args.window) {
        let rows = data.x.batch() + data.test.as_ref().map_or(0, |(x, _)| x.batch());
        let split = data::RecordedSplit::new(&args.data, rows, fraction, args.seed)?;
        model.set_metadata("test_split", serde_json::to_value(&split).expect("plain values"));
    }
    if !data.class_names.is_empty() {
        model.set_metadata("class_names", json!(data.class_names));
    }
    if let Some(vectorizer) = &text {
        super::texts::record(&mut model, vectorizer);
    }
    if matches!(Source::parse(&args.data), Source::Csv(_)) {
        // evaluate and predict read a CSV's features by position: the header is kept to
        // check theirs against.
        let delimiter = io::parse_delimiter(&args.delimiter)?;
        model.set_metadata("csv_columns", json!(io::csv_header(&args.data, delimiter)?));
        model.set_metadata("csv_delimiter", json!((delimiter as char).to_string()));
        // ... and the label column, which they read by default.
        model.set_metadata("label_column", json!(args.label_column));
    }
    if !data.categories.is_empty() {
        // evaluate and predict encode the string columns through the same lookups.
        model.set_metadata("string_columns", serde_json::to_value(&data.categories).expect("plain values"));
    }
    if matches!(Source::parse(&args.data), Source::ImageFolder(_)) {
        // evaluate and predict read a folder as train did.
        if let Some(size) = image_size(args)? {
            model.set_metadata("image_size", json!(size));
        }
        model.set_metadata("color_mode", json!(color_mode_name(args)));
    }
    // A look at the data before the first epoch (one pass; --no-audit skips it).
    let audit = if args.no_audit {
        Vec::new()
    } else {
        let header = trained_feature_names(args, data.x.row_len());
        minibatch::data::audit::audit(&minibatch::data::audit::AuditInput {
            x: &data.x,
            y: &data.y,
            train: &train_rows,
            validation: &held_rows,
            test: data.test.as_ref().map(|(x, _)| x),
            classes: task.is_classifier().then(|| task.units().max(2)),
            standardized: standardizer.is_some(),
            names: header.as_deref(),
        })
    };
    // A guess that may be wrong is said even when nothing else is.
    if let (0, Some(note), true) = (args.verbose, &note, minibatch::distributed::is_root()) {
        eprintln!("{}: {note}", args.data);
    }
    if args.verbose > 0 {
        let opt =
            model.optimizer().map_or(String::new(), |o| format!("{} (learning rate {})", o.name(), o.learning_rate()));
        let samples = match args.window {
            Some(length) => {
                format!("{} windows of {length} rows (targets {} row(s) ahead)", data.x.batch(), args.horizon)
            }
            None => format!("{} training samples", data.x.batch()),
        };
        println!("{}: {samples}, {}; {opt}", args.data, task.describe());
        if let Some(note) = &note {
            println!("{}: {note}", args.data);
        }
        if let Some(t) = &text {
            let how = match t.config().output_sequence_length {
                Some(length) => format!("{length} token ids each (0 pads)"),
                None => "a multi-hot row each".to_string(),
            };
            println!(
                "{}: texts through a TextVectorization adapted to the training texts: {} tokens (words and runs of up to {} words, [UNK] for the rest), {how}",
                args.data,
                t.vocabulary_size(),
                t.config().ngrams.iter().max().copied().unwrap_or(1)
            );
        }
        if !data.categories.is_empty() {
            let columns: Vec<String> =
                data.categories.iter().map(|(c, l)| format!("{c} ({} categories)", l.vocabulary_size() - 1)).collect();
            println!(
                "{}: string columns one-hot encoded through StringLookup (index 0 for a category not seen): {}",
                args.data,
                columns.join(", ")
            );
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
    if args.lr_find || args.lr_find_only {
        // On the rows fit will train on: never the validation rows.
        let (x, y) = if train_rows.len() == data.x.batch() {
            (data.x.clone(), data.y.clone())
        } else {
            (data.x.select_rows(&train_rows), data.y.select_rows(&train_rows))
        };
        if lr_find(args, &mut model, &x, &y, batch)?.is_none() {
            return Ok(());
        }
    }

    let mut watchers = Watchers::new(args, backup_dir);
    watchers.describe(&train_config(args, batch, epochs, &model));
    let history = model.fit(&data.x, &data.y, watchers.attach(args, fit_options()))?;
    if let (Some(dir), true) = (&args.tensorboard, args.verbose > 0) {
        println!("Wrote the run for TensorBoard to {} (tensorboard --logdir {})", dir.display(), dir.display());
    }
    let stopped = watchers.finish(args, &model)?;
    // The cheaper outputs: each is tried even when one before it fails (the first error is
    // returned at the end).
    let plotted = watchers.plot(args, &history, stopped);
    let test = match &data.test {
        Some((x, y)) => {
            let logs = model.evaluate(x, y, 256)?;
            print_test(&model, &logs, x.batch())
        }
        None => {
            println!("No test data: give --test-data or --test-split to evaluate on held-out samples.");
            Value::Null
        }
    };

    let reported = (|| -> Result<()> {
        let Some(dir) = &args.report else { return Ok(()) };
        let test_figures: Vec<(String, f64)> = match &test {
            Value::Object(m) => m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_f64()?))).collect(),
            _ => Vec::new(),
        };
        let config = train_config(args, batch, epochs, &model);
        let summary = model.summary()?;
        let shape = |t: &minibatch::Tensor| format!("{:?}", t.shape());
        let mut rows = vec![
            ("source".to_string(), args.data.clone()),
            ("training inputs".into(), shape(&data.x)),
            ("training targets".into(), shape(&data.y)),
            ("task".into(), task.describe()),
        ];
        if !args.no_audit {
            let said = if audit.is_empty() { "nothing to flag".to_string() } else { audit.join(" · ") };
            rows.push(("data audit".into(), said));
        }
        if let Some((x, y)) = &data.test {
            rows.push(("test inputs".into(), shape(x)));
            rows.push(("test targets".into(), shape(y)));
        }
        let mut report = TrainingReport::new(&config, &history)
            .stopped_epoch(stopped)
            .test(&test_figures)
            .command(&super::command_line(), &started)
            .data(rows)
            .summary(&summary)
            .wall_time(clock.elapsed().as_secs_f64());
        if task.is_classifier() {
            let classes = task.units().max(2);
            let names: Vec<String> =
                (0..classes).map(|c| data.class_names.get(c).cloned().unwrap_or_else(|| c.to_string())).collect();
            let count = |y: &minibatch::Tensor| class_counts(y, classes);
            let mut sets = vec!["training".to_string()];
            let mut counts = vec![count(&data.y)];
            if let Some((x, y)) = &data.test {
                sets.push("test".into());
                counts.push(count(y));
                let pred = model.predict(x, 256)?;
                report = report.confusion(&names, &minibatch::metrics::confusion_matrix(&pred, y));
            }
            report = report.class_balance(&names, &sets, &counts);
        }
        let path = report.build()?.write(dir)?;
        if args.verbose > 0 {
            println!("Wrote the report to {}", path.display());
        }
        Ok(())
    })();
    let written = watchers.write_history(args, &history, test);
    plotted.and(reported).and(written)
}

/// A CSV's feature names in the order the features are read, when each feature is one
/// column (no string column one-hot encoded into several): the audit names features by them.
fn trained_feature_names(args: &TrainArgs, width: usize) -> Option<Vec<String>> {
    if !matches!(Source::parse(&args.data), Source::Csv(_)) {
        return None;
    }
    let delimiter = io::parse_delimiter(&args.delimiter).ok()?;
    let header = io::csv_header(&args.data, delimiter).ok()?;
    let labels = io::label_columns(&header, &args.label_column);
    let names: Vec<String> =
        header.into_iter().enumerate().filter(|(i, _)| !labels.contains(i)).map(|(_, n)| n).collect();
    (names.len() == width).then_some(names)
}

/// The settings of a `train` run, for its report.
fn train_config(args: &TrainArgs, batch: usize, epochs: usize, model: &Model) -> Vec<(String, String)> {
    let optimizer =
        model.optimizer().map_or(String::new(), |o| format!("{}, learning rate {}", o.name(), o.learning_rate()));
    let mut config = vec![
        ("data", args.data.clone()),
        (
            "test data",
            args.test_data
                .clone()
                .or(args.test_split.map(|f| format!("{f} of --data")))
                .unwrap_or("the source's own".into()),
        ),
        ("batch size", batch.to_string()),
        ("epochs", epochs.to_string()),
        ("validation split", format!("{} ({})", args.validation_split, args.split_mode)),
        ("optimizer", optimizer),
        ("hidden layers", format!("{:?}, {}, dropout {}", args.hidden, args.activation, args.dropout)),
        ("parameters", model.count_params().to_string()),
        ("seed", args.seed.to_string()),
        ("threads", minibatch::tensor::kernels::num_threads().to_string()),
    ];
    if args.early_stopping {
        let es = format!(
            "monitor {}, patience {}, min_delta {}, restore best weights: {}",
            args.monitor, args.patience, args.min_delta, args.restore_best_weights
        );
        config.push(("early stopping", es));
    }
    config.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// For an image folder read at `--image-size`, the model the flags describe, built (its
/// weights claimed against the memory budget) and dropped before any image is decoded: the
/// sample shape is the size asked for and the classes are the folder's names, so a model
/// that cannot fit is refused before the work of decoding and resizing every image.
fn check_model_before_images(args: &TrainArgs) -> Result<()> {
    let (Source::ImageFolder(dir), Some((h, w))) = (Source::parse(&args.data), image_size(args)?) else {
        return Ok(());
    };
    let listing = io::list_image_folder(dir, None)?;
    let y = minibatch::Tensor::from_slice(&listing.labels);
    let (task, _) = Task::infer(&[&y], args.loss.as_deref(), args.task)?;
    let channels = io::ColorMode::from_name(color_mode_name(args))?.channels();
    build_model(args, &[h, w, channels], &task, None, None, None).map(drop)
}

/// The training data and its test split, from --data, --test-data and --test-split (texts
/// read through `text`).
pub fn load_data(args: &TrainArgs, text: Option<&minibatch::layers::TextVectorization>) -> Result<io::Loaded> {
    let image_size = image_size(args)?;
    let color_mode = io::ColorMode::from_name(color_mode_name(args))?;
    let delimiter = io::parse_delimiter(&args.delimiter)?;
    let options = io::LoadOptions {
        delimiter,
        label_column: &args.label_column,
        seed: args.seed,
        image_size,
        color_mode,
        classes: None,
        categories: None,
        columns: None,
        text,
    };
    let mut data = io::load_with(&args.data, &options)?;
    if let Some(source) = &args.test_data {
        // A test CSV's features read by name, in the training file's order.
        let mut columns = None;
        if let (Source::Csv(train), Source::Csv(test)) = (Source::parse(&args.data), Source::parse(source)) {
            let expected = io::csv_header(train, delimiter)?;
            let found = io::csv_header(test, delimiter)?;
            io::check_csv_columns(test, &found, &expected, &args.label_column, &args.label_column)?;
            columns = Some(expected);
        }
        // Label names number, and string columns encode, as in the training data.
        let names = Some(&data.class_names[..]).filter(|n| !n.is_empty());
        let categories = Some(&data.categories[..]).filter(|c| !c.is_empty());
        let t = io::load_with(
            source,
            &io::LoadOptions { classes: names, categories, columns: columns.as_deref(), ..options },
        )?;
        data.test = Some((t.x, t.y));
    }
    if let Some(length) = args.window {
        return windowed(data, Window { length, horizon: args.horizon }, args);
    }
    if let Some(fraction) = args.test_split {
        let ((x, y), test) = datasets::train_test_split(&data.x, &data.y, fraction, args.seed)?;
        data = io::Loaded { x, y, test: Some(test), class_names: data.class_names, categories: data.categories };
    }
    Ok(data)
}

/// A series read by `--window` (see [`super::windows`]): every window of the file whose
/// target is in it, and of `--test-data`'s; `--test-split` holds out the last windows, and
/// the training windows end where their targets would reach the first test window's rows.
fn windowed(data: io::Loaded, window: Window, args: &TrainArgs) -> Result<io::Loaded> {
    if !data.class_names.is_empty() {
        return Err(minibatch::Error::invalid(
            "--target",
            &args.label_column,
            "a column of numbers to forecast (it holds names)",
        ));
    }
    let (x, y) = window.labelled(&data.x, &data.y)?;
    let test = data.test.map(|(tx, ty)| window.labelled(&tx, &ty)).transpose()?;
    let loaded = |x, y, test| io::Loaded { x, y, test, class_names: Vec::new(), categories: data.categories.clone() };
    let Some(fraction) = args.test_split else { return Ok(loaded(x, y, test)) };
    let n = x.batch();
    let held = ((n as f64 * fraction).ceil() as usize).clamp(1, n);
    let cut = n - held;
    // Training window k's target is row k + length − 1 + horizon; the first test window
    // begins at row `cut`.
    let train = cut.saturating_sub(window.lead());
    if train == 0 {
        return Err(minibatch::Error::invalid(
            "--test-split",
            fraction,
            format!("a share that leaves training windows: {n} windows, {held} held out, and the last {} before them overlap them", cut - train),
        ));
    }
    let test = Some((x.slice_rows(cut, n), y.slice_rows(cut, n)));
    Ok(loaded(x.slice_rows(0, train), y.slice_rows(0, train), test))
}

/// Samples per class in targets `y`: class indices (0/1 for a binary target), or one-hot
/// rows.
fn class_counts(y: &minibatch::Tensor, classes: usize) -> Vec<u64> {
    let mut counts = vec![0u64; classes];
    for row in y.data().chunks(y.row_len().max(1)) {
        let class =
            if row.len() == 1 { row[0].round().max(0.0) as usize } else { minibatch::tensor::kernels::argmax(row) };
        if let Some(c) = counts.get_mut(class) {
            *c += 1;
        }
    }
    counts
}
