//! `minibatch summary`: a saved model's layers and training configuration.

use clap::Args;
use minibatch::{Model, Result};

#[derive(Args)]
pub struct SummaryArgs {
    /// A model file written by `train --save` (or `Model::save`).
    #[arg(long)]
    pub model: std::path::PathBuf,
}

pub fn summary(args: &SummaryArgs) -> Result<()> {
    let model = Model::load(&args.model)?;
    print!("{}", model.summary()?);
    if let (Some(loss), Some(opt)) = (model.loss(), model.optimizer()) {
        let metrics = model.metrics_names();
        println!(
            "Compiled: optimizer {} (learning rate {}, {} steps taken), loss {}, metrics [{}]",
            opt.name(),
            opt.learning_rate(),
            opt.iterations(),
            loss.name(),
            metrics[..metrics.len() - 1].join(", ")
        );
    }
    Ok(())
}
