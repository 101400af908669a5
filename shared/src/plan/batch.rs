//! Which tasks can run next. A task is ready when it is not done and every task it depends on
//! is. The next batch for Codex is the first ready Codex tasks in plan order, at most
//! [`MAX_BATCH`], skipping any that shares a file with one already taken (two Codex runs
//! editing one file at once would overwrite each other); ready Claude tasks are listed apart.

use serde::Serialize;

use super::{Backend, Plan, Task};

/// At most this many Codex tasks run at once.
pub const MAX_BATCH: usize = 3;

/// A task that is not done and not ready, and the dependencies it waits for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Waiting<'a> {
    pub task: &'a Task,
    pub on: Vec<&'a str>,
}

/// The next batch of a plan (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Batch<'a> {
    /// Ready Codex tasks to run now, at once.
    pub codex: Vec<&'a Task>,
    /// Ready tasks routed to Claude.
    pub claude: Vec<&'a Task>,
    /// Ready Codex tasks left for a later batch (over the limit, or sharing a file).
    pub later: Vec<&'a Task>,
    pub waiting: Vec<Waiting<'a>>,
    pub done: usize,
    pub total: usize,
}

/// The next batch of `plan`, at most `max` Codex tasks. Meant for a plan that checks clean;
/// on another it does its best (a task without a backend is never ready).
pub fn next_batch(plan: &Plan, max: usize) -> Batch<'_> {
    let is_done = |id: &str| plan.task(id).is_some_and(|t| t.done);
    let mut b = Batch {
        total: plan.tasks.len(),
        done: plan.tasks.iter().filter(|t| t.done).count(),
        ..Batch::default()
    };
    for task in plan.tasks.iter().filter(|t| !t.done) {
        let on: Vec<&str> = task
            .depends_on
            .iter()
            .map(String::as_str)
            .filter(|d| !is_done(d))
            .collect();
        if !on.is_empty() {
            b.waiting.push(Waiting { task, on });
            continue;
        }
        match task.backend {
            Some(Backend::Claude) => b.claude.push(task),
            Some(Backend::Codex { .. }) => {
                let shares = b
                    .codex
                    .iter()
                    .any(|t| t.files.iter().any(|f| task.files.contains(f)));
                if b.codex.len() < max && !shares {
                    b.codex.push(task);
                } else {
                    b.later.push(task);
                }
            }
            None => {}
        }
    }
    b
}
