//! `offload restore`: put back what the guard's effect check undid.
//!
//! When a Bash command changed code while native edits were locked, the hook put the code back
//! and kept what the command wrote in an undo record (`<state>/guard/undone/<id>/`). This is the
//! user's one command to put it back, and `--list` shows the records. It refuses to run inside
//! Claude Code, like `offload approve`: Claude re-applying its own undone write would undo the
//! guard. Before writing, the current content of every file is kept in a new record, so a
//! restore can itself be restored.

use shared::paths::Paths;
use shared::policy::effect::{self, Store};

use crate::Error;
use crate::cli::RestoreArgs;

pub fn main(args: RestoreArgs) -> Result<u8, Error> {
    let paths = Paths::from_env().map_err(|e| Error::with_code(e.to_string(), 1))?;
    let store = Store::new(&paths.state_dir);
    let records = effect::records(&store);
    if args.list || args.id.is_none() {
        if records.is_empty() {
            println!("No undo records in {}.", store.undone_dir().display());
            return Ok(0);
        }
        for r in records.iter().take(50) {
            let files: Vec<String> = r
                .files
                .iter()
                .map(|f| format!("{} ({:?})", f.path, f.change).to_lowercase())
                .collect();
            println!(
                "{}  {}  {}\n    {}",
                r.id,
                r.ts,
                r.project,
                files.join(", ")
            );
        }
        if args.id.is_none() && !args.list {
            println!("\nPut one back with: offload restore <id>");
        }
        return Ok(0);
    }
    if let Some(why) = crate::approve::inside_claude_code() {
        return Err(Error::with_code(
            format!(
                "refusing to restore from inside Claude Code ({why}). Restoring puts back code the guard undid; \
                 only the user can decide that: run `offload restore <id>` in your own terminal."
            ),
            1,
        ));
    }
    let id = args.id.unwrap_or_default();
    let (kept, done) =
        effect::restore(&store, &id).map_err(|e| Error::with_code(e.to_string(), 1))?;
    for p in &done {
        println!("restored {p}");
    }
    println!(
        "The files' previous content is kept in record {}: `offload restore {}` puts it back.",
        kept.id, kept.id
    );
    Ok(0)
}
