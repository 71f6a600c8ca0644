//! The crate's import graph against the order `src/lib.rs` declares ("The crate's layers,
//! bottom to top"): every `crate::` path in a module's code names a module on its own line or
//! below, except the few upward uses listed here (each to be cut by issue 26), and each of
//! those is still there (a use that is gone must leave the list, so the list only shrinks).
//! Module folders hold no circles between their files either.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Upward uses that remain, `(from, to)`: see `src/lib.rs`.
const STILL_UPWARD: [(&str, &str); 2] = [("models", "callbacks"), ("models", "training")];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The levels `src/lib.rs` declares: module name → line number (1 at the bottom).
fn declared_levels() -> BTreeMap<String, usize> {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let section = lib.split("# The crate's layers, bottom to top").nth(1).expect("the section in lib.rs");
    let mut levels = BTreeMap::new();
    for line in section.lines().map(|l| l.trim_start_matches("//!").trim()) {
        let Some((number, names)) = line.split_once(". ") else { continue };
        let Ok(level) = number.parse::<usize>() else { continue };
        for name in names.split(',').map(|n| n.trim().trim_matches('`')) {
            levels.insert(name.to_string(), level);
        }
    }
    levels
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// A file's code as the check reads it: no comments, no unit tests, no `pub use` re-exports.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.split("#[cfg(test)]").next().unwrap();
    text.lines()
        .map(|l| l.split("//").next().unwrap())
        .filter(|l| !l.trim_start().starts_with("pub use") && !l.trim_start().starts_with("pub(crate) use"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The names that follow `prefix` in `text` (`crate::` → `tensor`, `io`, ...).
fn names_after<'a>(text: &'a str, prefix: &str) -> impl Iterator<Item = &'a str> + 'a {
    let prefix = prefix.to_string();
    text.match_indices(prefix.clone().as_str()).collect::<Vec<_>>().into_iter().filter_map(move |(at, _)| {
        let rest = &text[at + prefix.len()..];
        let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
        (end > 0).then(|| &rest[..end])
    })
}

#[test]
fn every_module_uses_only_modules_at_or_below_its_level() {
    let levels = declared_levels();
    let mut found: BTreeSet<(String, String)> = BTreeSet::new();
    let mut upward = Vec::new();
    for file in rust_files(&src()) {
        let rel = file.strip_prefix(src()).unwrap();
        let module = rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
        if matches!(module.as_str(), "lib" | "main" | "cli") {
            continue;
        }
        let from = *levels.get(&module).unwrap_or_else(|| panic!("module {module} is missing from lib.rs's list"));
        for target in names_after(&code(&file), "crate::") {
            let Some(&to) = levels.get(target) else { continue };
            if target != module && to > from {
                found.insert((module.clone(), target.to_string()));
                if !STILL_UPWARD.contains(&(module.as_str(), target)) {
                    upward.push(format!("{} uses crate::{target} (level {to} above {module}'s {from})", rel.display()));
                }
            }
        }
    }
    upward.sort();
    upward.dedup();
    assert!(upward.is_empty(), "uses that reach up the declared order:\n{}", upward.join("\n"));
    for (from, to) in STILL_UPWARD {
        assert!(
            found.contains(&(from.to_string(), to.to_string())),
            "{from} no longer uses {to}: remove it from the list"
        );
    }
}

#[test]
fn no_folder_has_a_circle_between_its_files() {
    for dir in std::fs::read_dir(src()).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()) {
        let module = dir.file_name().unwrap().to_string_lossy().into_owned();
        let files: BTreeSet<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "rs") && !p.ends_with("mod.rs"))
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for f in &files {
            let text = code(&dir.join(format!("{f}.rs")));
            let own = format!("crate::{module}::");
            let targets = names_after(&text, "super::").chain(names_after(&text, &own));
            uses.insert(f.clone(), targets.filter(|t| files.contains(*t) && *t != f).map(str::to_string).collect());
        }
        // A depth-first walk from every file: reaching a file on the current path is a circle.
        fn walk(f: &str, path: &mut Vec<String>, uses: &BTreeMap<String, BTreeSet<String>>, module: &str) {
            for next in &uses[f] {
                if let Some(at) = path.iter().position(|p| p == next) {
                    panic!("a circle in src/{module}/: {} -> {next}", path[at..].join(" -> "));
                }
                path.push(next.clone());
                walk(next, path, uses, module);
                path.pop();
            }
        }
        for f in &files {
            walk(f, &mut vec![f.clone()], &uses, &module);
        }
    }
}
