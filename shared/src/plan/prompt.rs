//! The `offload run` command for a Codex task, and its prompt, assembled per the prompt
//! contract of the plan-and-execute skill: goal and acceptance criteria, paths and
//! constraints, commands and tests, expected output format.

use std::fmt::Write;

use super::{Backend, Plan, Task};
use crate::codex::command::Sandbox;

/// The prompt Codex gets for `task`.
pub fn prompt(plan: &Plan, task: &Task) -> String {
    let read_only = matches!(
        task.backend,
        Some(Backend::Codex {
            sandbox: Sandbox::ReadOnly,
            ..
        })
    );
    let mut p = String::new();
    let _ = writeln!(
        p,
        "Task {} of the plan \"{}\": {}",
        task.id, plan.feature, task.title
    );
    let _ = writeln!(p, "\nGoal of the plan: {}", plan.goal);
    let _ = writeln!(p, "\nObjective: {}", task.objective);
    let _ = writeln!(p, "\nDone when: {}", task.done_when);
    let files = task
        .files
        .iter()
        .map(|f| format!("`{f}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if read_only {
        let _ = writeln!(
            p,
            "\nFiles: {files}. Read these (and what they use); the sandbox is read-only, so change nothing."
        );
    } else {
        let _ = writeln!(
            p,
            "\nFiles: {files}. Change only these files; do not create, edit or delete any other."
        );
    }
    let _ = writeln!(
        p,
        "\nCommands: run these from the project root{}:",
        if read_only {
            " and report what they show"
        } else {
            " and make them pass before you finish"
        }
    );
    for c in &task.commands {
        let _ = writeln!(p, "- `{c}`");
    }
    let _ = write!(
        p,
        "\nOutput: end with a short summary: {}, the commands you ran and their results, and anything left undone.",
        if read_only {
            "what you found"
        } else {
            "the files you changed"
        }
    );
    p
}

/// The arguments after `offload` for a Codex task: `run -m <model> <prompt> <sandbox> <dir>`.
/// `None` for a task that is not routed to Codex.
pub fn run_args(task: &Task, prompt: &str, dir: &str) -> Option<Vec<String>> {
    let Some(Backend::Codex { model, sandbox }) = &task.backend else {
        return None;
    };
    Some(vec![
        "run".into(),
        "-m".into(),
        model.clone(),
        prompt.into(),
        sandbox.as_str().into(),
        dir.into(),
    ])
}
