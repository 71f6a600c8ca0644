//! The README's promises that a test can hold: its first program is `examples/quickstart.rs`
//! (which CI runs), and the commands it opens with exist.

/// The lines of the README's first Rust block.
fn first_rust_block(readme: &str) -> Vec<&str> {
    let start = readme.find("```rust\n").expect("a Rust block in the README") + "```rust\n".len();
    let len = readme[start..].find("```").unwrap();
    readme[start..start + len].lines().map(str::trim).filter(|l| !l.is_empty()).collect()
}

#[test]
fn the_readme_program_is_the_quickstart_example() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let example = std::fs::read_to_string(root.join("examples/quickstart.rs")).unwrap();
    let lines: Vec<&str> = example.lines().map(str::trim).collect();
    // Every README line appears in the example, in order (the example adds `main` and prints
    // a little more).
    let mut at = 0;
    for line in first_rust_block(&readme) {
        let line = line.trim_end_matches(';');
        let found = lines[at..].iter().position(|l| l.starts_with(line) || l.contains(line));
        let Some(offset) = found else {
            panic!("README line {line:?} is not in examples/quickstart.rs (after line {at})");
        };
        at += offset + 1;
    }
    assert!(readme.starts_with("# minibatch"));
    assert!(readme.contains("cargo run --release -- train ") && readme.contains("cargo test --release "));
}
