//! The `minibatch` command's pieces beside `main.rs`.

pub mod checks;
