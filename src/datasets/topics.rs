//! `topics`: a generated corpus of short English texts about three topics, written as Keras's
//! `text_dataset_from_directory` reads a corpus (see [`write_topics`]).

use crate::error::{Error, Result};
use crate::rng::Rng;
use std::path::Path;

/// Each topic's folder name and its own words.
const TOPICS: [(&str, &[&str]); 3] = [
    (
        "cooking",
        &["oven", "recipe", "garlic", "simmer", "flour", "butter", "sauce", "bake", "onion", "salt", "pan", "dough"],
    ),
    (
        "sports",
        &[
            "match", "goal", "coach", "league", "score", "team", "referee", "season", "striker", "penalty", "stadium",
            "fans",
        ],
    ),
    (
        "weather",
        &["rain", "storm", "forecast", "wind", "cloud", "sunny", "frost", "humid", "thunder", "snow", "breeze", "fog"],
    ),
];

/// Words every topic uses: they say nothing about the class.
const SHARED: &[&str] = &[
    "the", "a", "was", "today", "really", "after", "we", "it", "great", "long", "again", "with", "and", "of", "very",
    "new", "time", "day", "good", "bad",
];

/// Writes `per_class` texts per topic under `dir` (`cooking/`, `sports/`, `weather/`, one
/// `.txt` file each, `dir` created if need be), drawn from `seed`: each text is 6 to 14
/// words, about a third of them the topic's own, the rest shared words, and one word in ten
/// another topic's (so that a model must weigh words rather than find one).
///
/// ```
/// let dir = std::env::temp_dir().join(format!("minibatch-doc-topics-{}", std::process::id()));
/// minibatch::datasets::write_topics(&dir, 4, 0).unwrap();
/// let options = minibatch::data::TextDirectoryOptions { shuffle: false, ..Default::default() };
/// let corpus = minibatch::data::text_dataset_from_directory(&dir, &options).unwrap();
/// assert_eq!((corpus.texts.len(), corpus.class_names.len()), (12, 3));
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
///
/// # Errors
/// [`Error::InvalidArgument`] for `per_class` 0 or above 1,000,000; [`Error::Io`] when a file
/// cannot be written.
pub fn write_topics(dir: &Path, per_class: usize, seed: u64) -> Result<()> {
    if per_class == 0 || per_class > 1_000_000 {
        return Err(Error::invalid("per_class", per_class, "1 to 1000000 texts per topic"));
    }
    let mut rng = Rng::new(seed);
    for (t, (name, own)) in TOPICS.iter().enumerate() {
        let folder = dir.join(name);
        std::fs::create_dir_all(&folder).map_err(|e| Error::io(&folder, &e))?;
        for i in 0..per_class {
            let words = 6 + rng.below(9);
            let text: Vec<&str> = (0..words)
                .map(|_| {
                    let roll = rng.below(30);
                    if roll < 3 {
                        let other = TOPICS[(t + 1 + rng.below(2)) % 3].1;
                        other[rng.below(other.len())]
                    } else if roll < 13 {
                        own[rng.below(own.len())]
                    } else {
                        SHARED[rng.below(SHARED.len())]
                    }
                })
                .collect();
            let path = folder.join(format!("{i:05}.txt"));
            std::fs::write(&path, format!("{}.\n", text.join(" "))).map_err(|e| Error::io(&path, &e))?;
        }
    }
    Ok(())
}
