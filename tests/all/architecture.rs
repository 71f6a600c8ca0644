//! The crate's import graph against the order `src/lib.rs` declares ("The crate's layers,
//! bottom to top"): every `crate::` path in a module's code names a module on its own line or
//! below, with no exception. Module folders hold no circles between their files either.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

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
                upward.push(format!("{} uses crate::{target} (level {to} above {module}'s {from})", rel.display()));
            }
        }
    }
    upward.sort();
    upward.dedup();
    assert!(upward.is_empty(), "uses that reach up the declared order:\n{}", upward.join("\n"));
}

/// Every file of `src/` (lib and main aside) as a module path: `io/csv.rs` → `["io", "csv"]`,
/// `io/mod.rs` → `["io"]`.
fn module_files() -> BTreeMap<Vec<String>, PathBuf> {
    let mut out = BTreeMap::new();
    for file in rust_files(&src()) {
        let rel = file.strip_prefix(src()).unwrap().with_extension("");
        let mut path: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        if path.last().is_some_and(|l| l == "mod") {
            path.pop();
        }
        if !matches!(path.first().map(String::as_str), Some("lib" | "main")) {
            out.insert(path, file);
        }
    }
    out
}

/// The file a path names: its longest prefix that is a file.
fn file_of(files: &BTreeMap<Vec<String>, PathBuf>, mut path: Vec<String>) -> Option<Vec<String>> {
    while !path.is_empty() {
        if files.contains_key(&path) {
            return Some(path);
        }
        path.pop();
    }
    None
}

/// The paths after `prefix` in `text`, as segments: `crate::io::csv::csv_reader` → `[io, csv,
/// csv_reader]`; a group `crate::io::{a, b::c}` gives one path per member.
fn paths_after(text: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (at, _) in text.match_indices(prefix) {
        let rest = &text[at + prefix.len()..];
        let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')).unwrap_or(rest.len());
        let base: Vec<String> = rest[..end].split("::").filter(|s| !s.is_empty()).map(str::to_string).collect();
        if rest[end..].starts_with('{') {
            let group = &rest[end + 1..rest[end..].find('}').map_or(rest.len(), |e| end + e)];
            for member in group.split(',').map(|m| m.split(" as ").next().unwrap().trim()) {
                let mut path = base.clone();
                path.extend(member.split("::").filter(|s| !s.is_empty() && *s != "self").map(str::to_string));
                out.push(path);
            }
        } else {
            out.push(base);
        }
    }
    out
}

/// No circle between the files of the crate: each file's `crate::`, `super::` and `self::`
/// paths (re-exports included: a `pub use` is a use of the file it names) point at files
/// read before it, so the tree reads one way, bottom to top.
#[test]
fn no_circle_between_the_crates_files() {
    let files = module_files();
    let mut uses: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, path) in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let text = text.split("#[cfg(test)]").next().unwrap();
        let text: String = text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
        // A mod.rs is its folder's module: `super::` leaves the folder, `self::` stays.
        let is_folder = path.ends_with("mod.rs");
        let here: Vec<String> = if is_folder { module.clone() } else { module[..module.len() - 1].to_vec() };
        let mut targets = paths_after(&text, "crate::");
        for p in paths_after(&text, "super::") {
            let ups = 1 + p.iter().take_while(|s| *s == "super").count();
            let base = if is_folder { &module[..] } else { &here[..] };
            if let Some(kept) = base.len().checked_sub(ups.saturating_sub(usize::from(!is_folder))) {
                let mut t = base[..kept].to_vec();
                t.extend(p.into_iter().skip_while(|s| s == "super"));
                targets.push(t);
            }
        }
        for p in paths_after(&text, "self::") {
            targets.push(here.iter().cloned().chain(p).collect());
        }
        let found: BTreeSet<Vec<String>> = targets
            .into_iter()
            .filter_map(|t| file_of(&files, t))
            // A module naming its own descendants (a folder's mod.rs its files) is no use.
            .filter(|t| t != module && !t.starts_with(module))
            .collect();
        uses.insert(module.clone(), found);
    }
    fn walk(
        f: &Vec<String>,
        path: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
        uses: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
    ) {
        if done.contains(f) {
            return;
        }
        for next in &uses[f] {
            if let Some(at) = path.iter().position(|p| p == next) {
                let circle: Vec<String> = path[at..].iter().chain([next]).map(|p| p.join("/")).collect();
                panic!("a circle between files of src/: {}", circle.join(" -> "));
            }
            path.push(next.clone());
            walk(next, path, done, uses);
            path.pop();
        }
        done.insert(f.clone());
    }
    let mut done = BTreeSet::new();
    for f in files.keys() {
        walk(f, &mut vec![f.clone()], &mut done, &uses);
    }
}
