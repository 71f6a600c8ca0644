//! Forecasting a series: `timeseries_dataset_from_array` windows over an hourly temperature
//! with a daily cycle and noise (generated here, seeded), an LSTM that predicts the next hour
//! from the last 24, and two baselines to beat: "the same as the last hour" and "the same as
//! this hour yesterday". The series is also written as a CSV for the command:
//!
//! ```sh
//! cargo run --release --example forecast
//! cargo run --release -- train --data target/forecast/temps.csv --window 24 --target temp \
//!     --model lstm --test-split 0.2
//! ```

use minibatch::data::{timeseries_dataset_from_array, TimeseriesOptions};
use minibatch::layers::{Dense, LSTM};
use minibatch::optimizers::Adam;
use minibatch::{FitOptions, Sequential, Tensor};

fn main() -> minibatch::Result<()> {
    // 100 days an hour at a time: a daily swing of ±8 °C, a slow monthly drift, noise of 0.5.
    let hours = 2400;
    let mut rng = minibatch::rng::Rng::new(7);
    let mut temp = Vec::with_capacity(hours);
    let mut csv = String::from("hour,humidity,temp\n");
    for t in 0..hours {
        let day = (std::f64::consts::TAU * t as f64 / 24.0).sin();
        let value = 15.0 + 8.0 * day + 3.0 * (std::f64::consts::TAU * t as f64 / 720.0).sin() + 0.5 * rng.normal();
        let humidity = 60.0 - 10.0 * day + 2.0 * rng.normal();
        csv += &format!("{},{humidity:.2},{value:.2}\n", t % 24);
        temp.push(value as f32);
    }
    let path = std::path::Path::new("target/forecast/temps.csv");
    std::fs::create_dir_all("target/forecast").map_err(|e| minibatch::Error::io(path, &e))?;
    minibatch::saving::write_atomic(path, csv.as_bytes())?;

    // Inputs: 24 hours of temperature (standardized); target: the hour after them.
    let (length, split) = (24, 1920);
    let (mean, std) = (15.0f32, 6.0f32);
    let scaled: Vec<f32> = temp.iter().map(|v| (v - mean) / std).collect();
    let data = Tensor::from_vec(&[hours - length, 1], scaled[..hours - length].to_vec())?;
    let targets = Tensor::from_vec(&[hours - length], scaled[length..].to_vec())?;
    let train_options =
        TimeseriesOptions { batch_size: 32, shuffle: Some(0), end_index: Some(split), ..Default::default() };
    let mut train = timeseries_dataset_from_array(data.clone(), Some(targets.clone()), length, &train_options)?;
    let val_options = TimeseriesOptions { batch_size: 128, start_index: split, ..Default::default() };
    let mut val = timeseries_dataset_from_array(data, Some(targets), length, &val_options)?;

    let mut model = Sequential::new().add(LSTM::new(32)).add(Dense::new(1));
    model.compile(Adam::new(0.005), "mse", &["mae"])?;
    let history =
        model.fit_dataset(&mut train, FitOptions::new().epochs(10).verbose(0).validation_dataset(&mut val))?;
    let lstm = history.get("val_mae").and_then(|v| v.last().copied()).unwrap_or(f64::NAN) * std as f64;

    // The baselines over the same validation targets (hours split + 24 .. the end).
    let targets = split + length..hours;
    let baseline = |lag: usize| {
        targets.clone().map(|t| (temp[t] - temp[t - lag]).abs() as f64).sum::<f64>() / targets.len() as f64
    };
    println!("validation mean absolute error, °C (noise alone: 0.40):");
    println!("  LSTM over the last 24 hours:  {lstm:.3}");
    println!("  the last hour again:          {:.3}", baseline(1));
    println!("  this hour yesterday:          {:.3}", baseline(24));
    println!("the series is in target/forecast/temps.csv, for `minibatch train --window 24 --target temp`");
    Ok(())
}
