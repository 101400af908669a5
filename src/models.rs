//! `offload setup --code-model M --logic-model M`: switch the models offload routes to, in one
//! command, in offload's config file (`runner.model_code`, `runner.model_logic`).
//!
//! The rest of the file is kept as it was (every other key, in its order); a file that is not a
//! JSON object is reported and never written. `runner.model`, the model of runs without
//! `--work-type`, is the logic model by default: it follows `--logic-model` while it is the same
//! as the logic model, and is left alone once the user set it to something else.
//!
//! A name that cannot be a model (empty, spaces, shell characters) is refused. A model codex's
//! catalog does not know (see `shared::codex::catalog`) is written all the same, with a warning
//! naming what codex offers: a custom provider may serve models codex has no metadata for.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use shared::codex::catalog;
use shared::config::{Config, check_model_name};
use shared::env;
use shared::fsutil::{create_private_dir, write_atomic};
use shared::paths::Paths;

use crate::Error;

/// How long codex may take to list its models.
const CATALOG_WAIT: Duration = Duration::from_secs(10);
/// The largest config file read (a config is a few hundred bytes).
const MAX_CONFIG: u64 = 4 << 20;

/// One role's switch: the config key, the flag, the variable that overrides it, the new model.
struct Switch {
    key: &'static str,
    flag: &'static str,
    var: &'static str,
    model: String,
}

pub fn switch(code: Option<&str>, logic: Option<&str>, dry_run: bool) -> Result<u8, Error> {
    let checked = |flag: &str, m: Option<&str>| {
        m.map(|m| check_model_name(m).map_err(|e| Error::usage(format!("{flag}: {e}"))))
            .transpose()
    };
    let code = checked("--code-model", code)?;
    let logic = checked("--logic-model", logic)?;
    let paths = Paths::from_env().map_err(|e| Error::with_code(e.to_string(), 1))?;
    let file = &paths.config_file;
    let (text, mut doc) = read_doc(file)?;
    let before = Config::load_file(file).config.runner;

    let mut switches = Vec::new();
    if let Some(model) = code {
        switches.push(Switch {
            key: "model_code",
            flag: "--code-model",
            var: env::CODEX_MODEL_CODE,
            model,
        });
    }
    if let Some(model) = logic {
        let follows = before.model == before.model_logic;
        switches.push(Switch {
            key: "model_logic",
            flag: "--logic-model",
            var: env::CODEX_MODEL_LOGIC,
            model: model.clone(),
        });
        if follows {
            switches.push(Switch {
                key: "model",
                flag: "--logic-model",
                var: env::CODEX_MODEL,
                model,
            });
        }
    }
    let current = |key: &str| match key {
        "model_code" => &before.model_code,
        "model_logic" => &before.model_logic,
        _ => &before.model,
    };
    let runner = section(&mut doc, "runner", file)?;
    let mut lines = Vec::new();
    let mut changed = false;
    for s in &switches {
        let was = current(s.key);
        // Written even when it is the default already: the choice is the user's now.
        if runner.get(s.key).and_then(Value::as_str) != Some(s.model.as_str()) {
            runner.insert(s.key.to_owned(), Value::String(s.model.clone()));
            changed = true;
        }
        let why = if s.key == "model" {
            " (runs without --work-type use the logic model)"
        } else {
            ""
        };
        lines.push(if *was == s.model {
            format!("runner.{}: {} (as it was){why}", s.key, s.model)
        } else {
            format!("runner.{}: {was} → {}{why}", s.key, s.model)
        });
    }

    let title = if dry_run {
        "offload setup --dry-run (nothing is written)"
    } else {
        "offload setup"
    };
    println!("{title}: the models in {}", file.display());
    for l in &lines {
        println!("  {l}");
    }
    for note in catalog_notes(&paths, &switches) {
        eprintln!("offload: warning: {note}");
    }
    for s in &switches {
        if let Some(v) = env::var(s.var)
            && v.trim() != s.model
        {
            eprintln!(
                "offload: warning: {}={} in your environment overrides runner.{} (unset it, or \
                 set it to {})",
                s.var,
                v.trim(),
                s.key,
                s.model
            );
        }
    }
    if dry_run {
        return Ok(0);
    }
    if !changed {
        println!("  nothing changed");
        return Ok(0);
    }
    write(file, &doc, text.as_deref())?;
    println!("  wrote {}", file.display());
    println!("\nNext:");
    println!("  - `offload run --work-type code|analysis …` and new plans route to them;");
    println!("    plans route a task with `codex <model> <sandbox>`");
    println!("  - check them: offload doctor");
    let undo: Vec<String> = switches
        .iter()
        .filter(|s| s.key != "model" && *current(s.key) != s.model)
        .map(|s| format!("{} {}", s.flag, current(s.key)))
        .collect();
    if !undo.is_empty() {
        println!("  - back: offload setup {}", undo.join(" "));
    }
    Ok(0)
}

/// The `name` section of the config document, made when absent; one that is not an object is
/// an error (the file is the user's, and is never overwritten).
pub(crate) fn section<'a>(
    doc: &'a mut Value,
    name: &str,
    file: &Path,
) -> Result<&'a mut serde_json::Map<String, Value>, Error> {
    doc.as_object_mut()
        .and_then(|o| {
            o.entry(name)
                .or_insert_with(|| Value::Object(Default::default()))
                .as_object_mut()
        })
        .ok_or_else(|| {
            Error::with_code(
                format!(
                    "{}: \"{name}\" is not an object; fix it (or move the file away), then run \
                     this again. Nothing was written.",
                    file.display()
                ),
                1,
            )
        })
}

/// The config file's text and JSON value (`{}` when it is absent or blank). A file that cannot
/// be read or is not a JSON object is an error: it is the user's, and is never overwritten.
pub(crate) fn read_doc(file: &Path) -> Result<(Option<String>, Value), Error> {
    let refuse = |why: String| {
        Error::with_code(
            format!(
                "{}: {why}; fix it (or move it away), then run this again. Nothing was written.",
                file.display()
            ),
            1,
        )
    };
    let bytes = match shared::fsutil::read_regular(file, MAX_CONFIG + 1) {
        Ok(Some(b)) if b.len() as u64 > MAX_CONFIG => {
            return Err(refuse("it is larger than 4 MiB".into()));
        }
        Ok(Some(b)) => b,
        Ok(None) => return Err(refuse("it is not a regular file".into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((None, Value::Object(Default::default())));
        }
        Err(e) => return Err(refuse(format!("cannot read it ({e})"))),
    };
    let text = String::from_utf8(bytes).map_err(|_| refuse("it is not UTF-8 text".into()))?;
    if text.trim().is_empty() {
        return Ok((Some(text), Value::Object(Default::default())));
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(v) if v.is_object() => Ok((Some(text), v)),
        Ok(_) => Err(refuse("it is not a JSON object".into())),
        Err(e) => Err(refuse(format!("it is not valid JSON ({e})"))),
    }
}

/// Write the config atomically (mode 0600), in the key order of `original`; through a symlink
/// to the file it points at.
pub(crate) fn write(file: &Path, doc: &Value, original: Option<&str>) -> Result<(), Error> {
    let target: PathBuf = if file.is_symlink() {
        std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf())
    } else {
        file.to_path_buf()
    };
    let fail =
        |e: std::io::Error| Error::with_code(format!("cannot write {}: {e}", target.display()), 1);
    if let Some(dir) = target.parent() {
        create_private_dir(dir).map_err(fail)?;
    }
    let text = shared::settings::to_pretty(doc, original);
    write_atomic(&target, text.as_bytes()).map_err(fail)
}

/// Warnings for the models codex's catalog does not know, or why they could not be checked.
fn catalog_notes(paths: &Paths, switches: &[Switch]) -> Vec<String> {
    let loaded = Config::load(&paths.config_file);
    let bin = match shared::process::resolve_bin(&loaded.config.runner.codex_bin) {
        Ok(b) => b,
        Err(e) => {
            return vec![format!(
                "codex not found ({e}): the models were not checked"
            )];
        }
    };
    let known = match catalog::cached(&paths.state_dir, &bin, None, CATALOG_WAIT) {
        Ok(c) => c,
        Err(why) => {
            return vec![format!(
                "could not check the models against codex's catalog ({why})"
            )];
        }
    };
    let mut notes = Vec::new();
    let mut seen = Vec::new();
    for s in switches {
        if known.knows(&s.model) || seen.contains(&&s.model) {
            continue;
        }
        seen.push(&s.model);
        let offered: Vec<&str> = known.candidates().iter().map(|m| m.slug.as_str()).collect();
        notes.push(format!(
            "{} is not in {}'s catalog: codex would run it on fallback metadata, which can \
             degrade its work (set anyway; it offers {})",
            s.model,
            known.codex(),
            if offered.is_empty() {
                "none".to_owned()
            } else {
                offered.join(", ")
            }
        ));
    }
    notes
}
