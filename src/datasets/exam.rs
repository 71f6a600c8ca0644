//! `exam`: the tutorial's mock exam.
//!
//! An exam of 100 multiple-choice questions with an answer key. The questions come from 10
//! *groups of similar questions* (10 each): a question is its group's prototype, a point in
//! 16 dimensions, plus noise, and its answer (one of 4 choices) is its group's. Groups that
//! share an answer lie far apart, so the answer must be learnt group by group.
//!
//! This is the tutorial's point made measurable: solving all 100 before checking the answers
//! (batch size 100) makes one correction per pass, while checking after each question (batch
//! size 1) corrects a wrong answer before the next similar question comes — the wrong answers
//! fall in far fewer passes. The held-out set is a second exam of new questions from the same
//! groups.

use super::{shuffled, TrainTest};
use crate::rng::Rng;

const GROUPS: usize = 10;
const PER_GROUP: usize = 10;
const FEATURES: usize = 16;
const CHOICES: usize = 4;
/// Spread of the questions around their group's prototype.
const NOISE: f64 = 0.9;

pub fn generate(seed: u64) -> TrainTest {
    let mut rng = Rng::derive(seed, 0xE8A4);
    let prototypes: Vec<Vec<f64>> = (0..GROUPS).map(|_| (0..FEATURES).map(|_| 1.5 * rng.normal()).collect()).collect();
    // Answers 0,1,2,3,0,1,2,3,0,1: every choice is right for two or three groups.
    let answer = |g: usize| g % CHOICES;
    let sheet = |rng: &mut Rng| {
        let mut qs = Vec::with_capacity(GROUPS * PER_GROUP);
        for (g, p) in prototypes.iter().enumerate() {
            for _ in 0..PER_GROUP {
                let q: Vec<f32> = p.iter().map(|&c| (c + NOISE * rng.normal()) as f32).collect();
                qs.push((q, answer(g)));
            }
        }
        shuffled(qs, rng)
    };
    let (x_train, y_train) = sheet(&mut rng);
    let (x_test, y_test) = sheet(&mut rng);
    TrainTest { name: "exam", x_train, y_train, x_test, y_test, num_classes: CHOICES }
}
