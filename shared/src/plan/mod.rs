//! Plans: the Markdown files in `docs/plans/YYYY-MM-DD-<feature>.md` in which every task names
//! the backend it is routed to. Claude writes them, people read and edit them, and offload
//! reads them strictly: `offload plan check` reports every problem with its line, the guard
//! refuses to write a plan that does not pass, and `offload plan next|run` turn the ready tasks
//! into exact `offload run` commands. This module is the one reader of the format: the parser,
//! the checker, the batcher, the prompt each task becomes, the template and the one edit
//! offload makes to a plan (marking a task done). It does no I/O except
//! [`check_text_at`]'s "is this path a directory?" question.
//!
//! # The format
//!
//! Line-oriented Markdown. `skills/plan-and-execute/plan-format.md` (installed beside the skill, printed by
//! `offload plan format`) is the user-facing copy of this section.
//!
//! ```markdown
//! # Plan: Add a --verbose flag
//!
//! Goal: `offload run --verbose` prints codex's full event stream to stderr, so a user can
//! see why a run failed without opening the run folder.
//!
//! ## Tasks
//!
//! ### T1: Parse the flag
//! - Status: done
//! - Objective: Add `--verbose` to `RunArgs` and thread it into `Plan`.
//! - Files: `src/cli.rs`, `src/run.rs`
//! - Commands: `cargo test -p offload --bin offload run::tests`
//! - Backend: codex gpt-5.3-codex workspace-write
//! - Done when: `offload run --help` lists `--verbose` and the unit tests pass.
//! - Estimate: 3 min
//!
//! ### T2: Print the events
//! - Status: todo
//! - Objective: When verbose, copy every codex JSON line to stderr as it arrives.
//! - Files: `src/supervise.rs`, `tests/runner.rs`
//! - Commands: `cargo test -p offload --test runner verbose`
//! - Backend: codex gpt-5.3-codex workspace-write
//! - Done when: a runner test sees the fake codex's events on stderr with `--verbose` only.
//! - Estimate: 4 min
//! - Depends on: T1
//!
//! ### T3: Document it
//! - Status: todo
//! - Objective: Add `--verbose` to the options table in the README.
//! - Files: `README.md`
//! - Commands: `grep -q -- --verbose README.md`
//! - Backend: claude
//! - Done when: the README's options table lists `--verbose`.
//! - Estimate: 2 min
//! - Depends on: T1
//!
//! ## Routing summary
//!
//! | Task | Backend | Model | Sandbox |
//! |---|---|---|---|
//! | T1 | codex | gpt-5.3-codex | workspace-write |
//! | T2 | codex | gpt-5.3-codex | workspace-write |
//! | T3 | claude | - | - |
//! ```
//!
//! - **Title**: the first line, `# Plan: <feature>`. **Goal**: a `Goal:` paragraph before
//!   `## Tasks` (it may wrap onto following lines; a blank line ends it). Other prose and other
//!   `## ` sections (notes, risks) may appear anywhere outside `## Tasks`.
//! - **Tasks**: under `## Tasks`, each starts with `### <id>: <title>` (an id is letters,
//!   digits, `.`, `_`, `-`, starting with a letter or digit, e.g. `T1`) and holds only
//!   `- Field: value` lines, in any order, each at most once. A value continues on following
//!   lines indented by at least two spaces. Field names are case-insensitive.
//!   - `Status`: `todo` or `done`. This is where done-state lives: `offload plan run` rewrites
//!     this one line when a task's commands pass.
//!   - `Objective`, `Done when`: free text (the prompt's goal and acceptance criteria).
//!   - `Files`: the concrete files the task reads or changes, relative to the project root:
//!     no globs, no directories, nothing outside the project. Comma-separated, each in
//!     backticks (backticks may be left out when no path has a comma or a space).
//!   - `Commands`: the commands that prove the task done, each in backticks, comma-separated
//!     (so a command cannot itself contain a backtick: use `$(…)`). `offload plan run` runs
//!     them with `bash -c` in the project root.
//!   - `Backend`: `codex <model> <sandbox>` with a model of the routing policy
//!     ([`RoutingPolicy`]) and a sandbox (`read-only`, `workspace-write`,
//!     `danger-full-access`), or `claude`.
//!   - `Estimate`: whole minutes, 2 to 5 (`3 min`); a bigger task must be split.
//!   - `Depends on` (optional): task ids, comma-separated, or `none`. No cycles.
//! - **Routing summary**: a `## Routing summary` section after the tasks holding one table
//!   `| Task | Backend | Model | Sandbox |` with a row for every task, exactly once, agreeing
//!   with the task's `Backend` (a Claude task's model and sandbox are `-`).
//! - Placeholders are written `{{like this}}`; a plan with one left fails the check.
//! - Fenced code blocks outside `## Tasks` are prose: headings in them do not count.
//!
//! The project root of a plan is the folder holding its `docs/plans/`; a plan elsewhere belongs
//! to the current directory.

mod batch;
mod check;
mod edit;
mod parse;
mod prompt;
mod template;

use std::fmt;

use serde::Serialize;

use crate::codex::command::Sandbox;
use crate::config::RunnerConfig;

pub use crate::shell::{command_line, quote as shell_quote};
pub use batch::{Batch, MAX_BATCH, Waiting, next_batch};
pub use check::{check_plan, check_text, check_text_at, directory_problems};
pub use edit::mark_done;
pub use parse::{Parsed, parse};
pub use prompt::{prompt, run_args};
pub use template::{file_name, slug, template};

/// The shortest and longest task estimate, in minutes.
pub const ESTIMATE_MINUTES: (u32, u32) = (2, 5);

/// One thing wrong with a plan: where, what, and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// 1-based line number.
    pub line: usize,
    pub rule: Rule,
    pub message: String,
    pub hint: String,
}

impl Problem {
    pub(crate) fn new(
        line: usize,
        rule: Rule,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Problem {
        Problem {
            line: line.max(1),
            rule,
            message: message.into(),
            hint: hint.into(),
        }
    }
}

impl fmt::Display for Problem {
    /// `12: message (hint)`; the CLI puts the file name in front.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.line, self.message, self.hint)
    }
}

/// The rule a [`Problem`] breaks, for machines (`--json`) and for the test corpus, which holds
/// an invalid plan for each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// Missing or malformed `# Plan: <feature>` title, or a second title.
    Title,
    /// Missing, empty or repeated `Goal:`.
    Goal,
    /// Missing, repeated or misplaced `## Tasks` / `## Routing summary`.
    Section,
    /// `## Tasks` holds no task.
    NoTasks,
    /// A task heading that is not `### <id>: <title>`, or a task without a title.
    Heading,
    /// A line in a task that is not a known `- Field: value`, or a field given twice.
    Field,
    /// A required field missing or empty.
    MissingField,
    /// `Status` other than `todo`/`done`.
    Status,
    /// A `Files` entry that is not one concrete file in the project.
    Files,
    /// `Commands` not written as backticked commands.
    Commands,
    /// A `Backend` that is neither `codex <model> <sandbox>` nor `claude`.
    Backend,
    /// A model or sandbox the routing policy does not allow.
    Policy,
    /// An estimate that is not whole minutes within 2–5.
    Estimate,
    /// Two tasks with one id.
    DuplicateId,
    /// A dependency on a task that does not exist, or not written as ids.
    Dependency,
    /// Tasks that depend on each other in a cycle.
    Cycle,
    /// The routing table missing or malformed.
    RoutingTable,
    /// The routing table and the tasks disagree.
    RoutingMismatch,
    /// A `{{placeholder}}` left in.
    Placeholder,
}

impl Rule {
    pub const ALL: [Rule; 19] = [
        Rule::Title,
        Rule::Goal,
        Rule::Section,
        Rule::NoTasks,
        Rule::Heading,
        Rule::Field,
        Rule::MissingField,
        Rule::Status,
        Rule::Files,
        Rule::Commands,
        Rule::Backend,
        Rule::Policy,
        Rule::Estimate,
        Rule::DuplicateId,
        Rule::Dependency,
        Rule::Cycle,
        Rule::RoutingTable,
        Rule::RoutingMismatch,
        Rule::Placeholder,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Title => "title",
            Rule::Goal => "goal",
            Rule::Section => "section",
            Rule::NoTasks => "no-tasks",
            Rule::Heading => "heading",
            Rule::Field => "field",
            Rule::MissingField => "missing-field",
            Rule::Status => "status",
            Rule::Files => "files",
            Rule::Commands => "commands",
            Rule::Backend => "backend",
            Rule::Policy => "policy",
            Rule::Estimate => "estimate",
            Rule::DuplicateId => "duplicate-id",
            Rule::Dependency => "dependency",
            Rule::Cycle => "cycle",
            Rule::RoutingTable => "routing-table",
            Rule::RoutingMismatch => "routing-mismatch",
            Rule::Placeholder => "placeholder",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which models and sandboxes a plan may route Codex tasks to: the runner's three models
/// (`model`, `model_code`, `model_logic`, after config and environment) and, by default, every
/// sandbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutingPolicy {
    /// Model for code, explore and review work.
    pub model_code: String,
    /// Model for analysis work.
    pub model_logic: String,
    /// Model when no work type is given.
    pub model: String,
    pub sandboxes: Vec<Sandbox>,
}

impl From<&RunnerConfig> for RoutingPolicy {
    fn from(cfg: &RunnerConfig) -> RoutingPolicy {
        RoutingPolicy {
            model_code: cfg.model_code.clone(),
            model_logic: cfg.model_logic.clone(),
            model: cfg.model.clone(),
            sandboxes: Sandbox::ALL.to_vec(),
        }
    }
}

impl Default for RoutingPolicy {
    fn default() -> RoutingPolicy {
        RoutingPolicy::from(&RunnerConfig::default())
    }
}

impl RoutingPolicy {
    /// Each allowed model once, with what it is for, in policy order.
    pub fn models(&self) -> Vec<(&str, Vec<&'static str>)> {
        let mut out: Vec<(&str, Vec<&'static str>)> = Vec::new();
        for (name, uses) in [
            (self.model_code.as_str(), "code, explore, review"),
            (self.model_logic.as_str(), "analysis"),
            (self.model.as_str(), "default"),
        ] {
            match out.iter_mut().find(|(n, _)| *n == name) {
                Some((_, u)) => u.push(uses),
                None => out.push((name, vec![uses])),
            }
        }
        out
    }

    pub fn allows_model(&self, model: &str) -> bool {
        [&self.model_code, &self.model_logic, &self.model]
            .iter()
            .any(|m| m.as_str() == model)
    }

    /// `gpt-5.3-codex (code, explore, review) or gpt-5.4 (analysis, default)`.
    pub fn describe_models(&self) -> String {
        let names: Vec<String> = self
            .models()
            .iter()
            .map(|(name, uses)| format!("{name} ({})", uses.join(", ")))
            .collect();
        match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => names.concat(),
        }
    }
}

/// Where a task runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "backend", rename_all = "kebab-case")]
pub enum Backend {
    Codex { model: String, sandbox: Sandbox },
    Claude,
}

impl fmt::Display for Backend {
    /// `codex gpt-5.3-codex workspace-write` or `claude`, as written in a plan.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backend::Codex { model, sandbox } => write!(f, "codex {model} {sandbox}"),
            Backend::Claude => f.write_str("claude"),
        }
    }
}

/// A task field's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    Status,
    Objective,
    Files,
    Commands,
    Backend,
    DoneWhen,
    Estimate,
    DependsOn,
}

impl Key {
    pub const ALL: [Key; 8] = [
        Key::Status,
        Key::Objective,
        Key::Files,
        Key::Commands,
        Key::Backend,
        Key::DoneWhen,
        Key::Estimate,
        Key::DependsOn,
    ];

    /// The name as written in a plan.
    pub fn name(self) -> &'static str {
        match self {
            Key::Status => "Status",
            Key::Objective => "Objective",
            Key::Files => "Files",
            Key::Commands => "Commands",
            Key::Backend => "Backend",
            Key::DoneWhen => "Done when",
            Key::Estimate => "Estimate",
            Key::DependsOn => "Depends on",
        }
    }

    /// A field name, any case, inner spaces collapsed.
    pub fn parse(s: &str) -> Option<Key> {
        let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
        Key::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(&s))
    }

    pub fn required(self) -> bool {
        self != Key::DependsOn
    }

    /// An example line, for hints.
    pub fn example(self) -> &'static str {
        match self {
            Key::Status => "- Status: todo",
            Key::Objective => "- Objective: <what the task changes>",
            Key::Files => "- Files: `src/a.rs`, `tests/a.rs`",
            Key::Commands => "- Commands: `cargo test -p a`",
            Key::Backend => "- Backend: codex <model> <sandbox>",
            Key::DoneWhen => "- Done when: <how to tell it is done>",
            Key::Estimate => "- Estimate: 3 min",
            Key::DependsOn => "- Depends on: T1",
        }
    }
}

/// One task, as far as it could be read. Values that could not be read are empty or `None`
/// (with a [`Problem`] saying why); a plan that checks clean has them all.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Task {
    pub id: String,
    pub title: String,
    /// The line of its `### ` heading.
    pub line: usize,
    pub done: bool,
    pub objective: String,
    pub files: Vec<String>,
    pub commands: Vec<String>,
    pub backend: Option<Backend>,
    pub done_when: String,
    pub estimate_min: Option<u32>,
    pub depends_on: Vec<String>,
    /// The line of each field given, in the order written.
    #[serde(skip)]
    pub fields: Vec<(Key, usize)>,
}

impl Task {
    /// The line of a field, if given.
    pub fn line_of(&self, key: Key) -> Option<usize> {
        self.fields.iter().find(|(k, _)| *k == key).map(|(_, l)| *l)
    }

    pub fn is_codex(&self) -> bool {
        matches!(self.backend, Some(Backend::Codex { .. }))
    }
}

/// One row of the routing summary table, cells as written (backticks removed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RouteRow {
    pub line: usize,
    pub task: String,
    pub backend: String,
    pub model: String,
    pub sandbox: String,
}

impl RouteRow {
    /// The row as a backend spelling (`codex m s`, `claude`), to compare with a task's.
    pub fn route(&self) -> String {
        let blank = |s: &str| matches!(s, "" | "-" | "–" | "—" | "n/a" | "N/A");
        if self.backend.eq_ignore_ascii_case("claude") && blank(&self.model) && blank(&self.sandbox)
        {
            return "claude".to_owned();
        }
        [&self.backend, &self.model, &self.sandbox]
            .iter()
            .filter(|s| !blank(s))
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A plan as read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// From `# Plan: <feature>`.
    pub feature: String,
    pub goal: String,
    pub tasks: Vec<Task>,
    pub routes: Vec<RouteRow>,
    #[serde(skip)]
    pub(crate) marks: Marks,
}

/// Where the plan's parts are, for problems that point at them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Marks {
    pub title: Option<usize>,
    /// The `## Tasks` line.
    pub tasks: Option<usize>,
    /// The routing table's header line, when the header is right.
    pub table: Option<usize>,
    /// The last line of the file (at least 1).
    pub last: usize,
}

impl Plan {
    pub fn task(&self, id: &str) -> Option<&Task> {
        self.tasks.iter().find(|t| t.id == id)
    }

    /// The sum of the estimates, in minutes.
    pub fn estimate_min(&self) -> u32 {
        self.tasks.iter().filter_map(|t| t.estimate_min).sum()
    }
}

/// Read `text` and check it against `policy` (and, given the project `root`, that no `Files`
/// entry is a directory): the plan when it has no problem, else every problem in line order.
pub fn load(
    text: &str,
    policy: &RoutingPolicy,
    root: Option<&std::path::Path>,
) -> Result<Plan, Vec<Problem>> {
    let parsed = parse(text);
    let mut problems = parsed.problems;
    problems.extend(check_plan(&parsed.plan, policy));
    if let Some(root) = root {
        problems.extend(directory_problems(&parsed.plan, root));
    }
    if problems.is_empty() {
        Ok(parsed.plan)
    } else {
        problems.sort_by_key(|p| p.line);
        Err(problems)
    }
}
