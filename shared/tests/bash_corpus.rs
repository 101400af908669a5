//! The Bash write-detector against a corpus of real-looking commands: every `deny` line must be
//! seen to write a code file in the project, every `pass` line must not. The corpus lives in
//! `fixtures/bash-corpus.tsv` so that a missed trick is one line to add.

use std::path::Path;

use shared::policy::bash::{Target, writes};

const CWD: &str = "/proj";
const HOME: &str = "/home/u";
/// What the test calls code; the real policy reads its globs from the config.
const CODE: &[&str] = &[
    "rs", "py", "js", "ts", "tsx", "jsx", "go", "java", "kt", "c", "h", "cc", "cpp", "hpp", "cs",
    "rb", "php", "swift", "scala", "sh", "sql", "lua",
];

/// Would the guard stop this command: a code file, or unknown files, in or around the project?
fn blocks(targets: &[Target]) -> bool {
    targets.iter().any(|t| match t {
        Target::File(w) => {
            w.path.starts_with(CWD)
                && w.path
                    .extension()
                    .is_some_and(|e| CODE.contains(&e.to_string_lossy().as_ref()))
        }
        // Unknown files in a folder that is, or holds, the project.
        Target::Unknown { dir, .. } => dir.starts_with(CWD) || Path::new(CWD).starts_with(dir),
    })
}

fn describe(targets: &[Target]) -> String {
    if targets.is_empty() {
        return "nothing".into();
    }
    let parts: Vec<String> = targets
        .iter()
        .map(|t| match t {
            Target::File(w) => format!("{} {}", w.how, w.path.display()),
            Target::Unknown { dir, how } => format!("{how} in {}/?", dir.display()),
        })
        .collect();
    parts.join(", ")
}

#[test]
fn bash_corpus() {
    let corpus = include_str!("fixtures/bash-corpus.tsv");
    let (mut denies, mut passes) = (0, 0);
    let (mut escapes, mut false_blocks) = (Vec::new(), Vec::new());
    for (n, line) in corpus.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((verdict, command)) = line.split_once('\t') else {
            panic!("bash-corpus.tsv:{}: no tab in {line:?}", n + 1);
        };
        let command = command.replace("\\n", "\n");
        let targets = writes(&command, Path::new(CWD), Some(Path::new(HOME)));
        let what = format!(
            "  line {}: {command:?}\n    writes: {}",
            n + 1,
            describe(&targets)
        );
        match verdict {
            "deny" => {
                denies += 1;
                if !blocks(&targets) {
                    escapes.push(what);
                }
            }
            "pass" => {
                passes += 1;
                if blocks(&targets) {
                    false_blocks.push(what);
                }
            }
            other => panic!(
                "bash-corpus.tsv:{}: verdict {other:?} is not deny or pass",
                n + 1
            ),
        }
    }
    eprintln!(
        "bash corpus: {denies} deny / {passes} pass; escapes {}, false blocks {}",
        escapes.len(),
        false_blocks.len()
    );
    assert!(
        escapes.is_empty() && false_blocks.is_empty(),
        "escapes (should deny, passed):\n{}\nfalse blocks (should pass, denied):\n{}",
        escapes.join("\n"),
        false_blocks.join("\n")
    );
    assert!(
        denies >= 45 && passes >= 45,
        "the corpus shrank: {denies} deny / {passes} pass (at least 45 of each)"
    );
}
