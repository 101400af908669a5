//! Reading a plan line by line. Structure and field values are checked here; what needs the
//! routing policy or the whole plan (dependencies, the routing table) is in `check.rs`.
//! Never panics: every slice is taken at a char boundary found by `find`/`split`.

use super::{Backend, ESTIMATE_MINUTES, Key, Plan, Problem, RouteRow, Rule, Task};
use crate::codex::command::Sandbox;

/// A plan as far as it could be read, and what was wrong with its form.
#[derive(Clone, Debug, Default)]
pub struct Parsed {
    pub plan: Plan,
    pub problems: Vec<Problem>,
}

const FIELD_HINT: &str =
    "fields are Status, Objective, Files, Commands, Backend, Done when, Estimate, Depends on";
const TABLE_HEADER: &str = "| Task | Backend | Model | Sandbox |";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Section {
    /// Before the title.
    Start,
    /// After the title, before any `## `.
    Preamble,
    Tasks,
    Routing,
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Table {
    None,
    /// Header read; the separator comes next.
    Header,
    Rows,
    /// A table ended (or a bad header started one): further `|` lines are a second table.
    Ended,
    /// Skipping the lines of a table already reported as wrong.
    Skipping,
}

/// A task whose fields are still being read.
struct Open {
    task: Task,
    /// Raw values, in order: (key, value, line).
    raw: Vec<(Key, String, usize)>,
    /// Which raw value an indented line continues; `Some(None)` swallows continuations of a
    /// line already reported.
    cont: Option<Option<usize>>,
}

struct Reader {
    plan: Plan,
    problems: Vec<Problem>,
    section: Section,
    fence: bool,
    open: Option<Open>,
    /// After a bad task heading, or a reported stray paragraph: skip to the next heading/blank.
    skip: Skip,
    goal_line: Option<usize>,
    goal_open: bool,
    routing_line: Option<usize>,
    /// Whether `## Tasks` held any `### ` heading at all.
    task_headings: usize,
    table: Table,
    table_seen: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Skip {
    No,
    ToHeading,
    ToBlank,
}

/// Read a plan. Every problem of form is reported with its line; see the module docs of
/// [`crate::plan`] for the format.
pub fn parse(text: &str) -> Parsed {
    let mut r = Reader {
        plan: Plan::default(),
        problems: Vec::new(),
        section: Section::Start,
        fence: false,
        open: None,
        skip: Skip::No,
        goal_line: None,
        goal_open: false,
        routing_line: None,
        task_headings: 0,
        table: Table::None,
        table_seen: false,
    };
    let mut last = 0;
    for (i, raw) in text.lines().enumerate() {
        last = i + 1;
        r.line(i + 1, raw.trim_end());
    }
    r.close_task();
    r.finish(last.max(1));
    Parsed {
        plan: r.plan,
        problems: r.problems,
    }
}

fn is_fence(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("```") || t.starts_with("~~~")
}

/// `(level, text)` for an ATX heading at column 0.
fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.bytes().take_while(|b| *b == b'#').count();
    if level == 0 || level > 6 {
        return None;
    }
    let rest = &line[level..];
    if rest.is_empty() {
        return Some((level, ""));
    }
    rest.strip_prefix(' ')
        .or_else(|| rest.strip_prefix('\t'))
        .map(|t| (level, t.trim()))
}

/// The first `{{…}}` on a line.
fn placeholder(line: &str) -> Option<&str> {
    let start = line.find("{{")?;
    let end = line[start..].find("}}")? + start + 2;
    Some(&line[start..end])
}

fn push(
    problems: &mut Vec<Problem>,
    line: usize,
    rule: Rule,
    message: String,
    hint: impl Into<String>,
) {
    problems.push(Problem::new(line, rule, message, hint));
}

pub(crate) fn is_task_id(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

impl Reader {
    fn problem(&mut self, line: usize, rule: Rule, message: String, hint: impl Into<String>) {
        self.problems.push(Problem::new(line, rule, message, hint));
    }

    fn line(&mut self, n: usize, line: &str) {
        let in_task = self.open.is_some() && self.section == Section::Tasks;
        if self.fence && !in_task {
            if is_fence(line) {
                self.fence = false;
            }
            return;
        }
        if let Some(p) = placeholder(line) {
            let p = p.to_owned();
            self.problem(
                n,
                Rule::Placeholder,
                format!("`{p}` is a placeholder"),
                "replace it with the real text",
            );
        }
        if let Some((level, text)) = heading(line) {
            self.heading(n, level, text);
            return;
        }
        if self.section == Section::Start {
            if line.trim().is_empty() {
                return;
            }
            self.problem(
                n,
                Rule::Title,
                "the plan must start with its title".into(),
                "make the first line `# Plan: <feature>`",
            );
            self.section = Section::Preamble;
        }
        match self.section {
            Section::Start => {}
            Section::Preamble => self.preamble(n, line),
            Section::Tasks => self.task_line(n, line),
            Section::Routing => self.routing(n, line),
            Section::Other => {
                if is_fence(line) {
                    self.fence = true;
                }
            }
        }
    }

    fn heading(&mut self, n: usize, level: usize, text: &str) {
        self.goal_open = false;
        self.skip = Skip::No;
        if self.table != Table::None {
            self.table = Table::Ended;
        }
        match level {
            1 => {
                self.close_task();
                let late_title =
                    self.section == Section::Preamble && self.plan.marks.title.is_none();
                if self.section != Section::Start && !late_title {
                    self.problem(
                        n,
                        Rule::Title,
                        "a second `# ` title".into(),
                        "use `## ` for sections and `### ` for tasks",
                    );
                    return;
                }
                self.section = Section::Preamble;
                self.plan.marks.title = Some(n);
                let feature = text
                    .get(..5)
                    .filter(|p| p.eq_ignore_ascii_case("plan:"))
                    .map(|_| text[5..].trim());
                match feature {
                    Some("") => self.problem(
                        n,
                        Rule::Title,
                        "the title names no feature".into(),
                        "write `# Plan: <feature>`",
                    ),
                    Some(f) => self.plan.feature = f.to_owned(),
                    None => {
                        self.plan.feature = text.to_owned();
                        self.problem(
                            n,
                            Rule::Title,
                            "the title must read `# Plan: <feature>`".into(),
                            format!("write `# Plan: {text}`"),
                        );
                    }
                }
            }
            2 => {
                self.close_task();
                if self.section == Section::Start {
                    self.problem(
                        n,
                        Rule::Title,
                        "the plan must start with its title".into(),
                        "make the first line `# Plan: <feature>`",
                    );
                }
                let name = text.split_whitespace().collect::<Vec<_>>().join(" ");
                if name.eq_ignore_ascii_case("tasks") {
                    if let Some(first) = self.plan.marks.tasks {
                        self.problem(
                            n,
                            Rule::Section,
                            format!("a second `## Tasks` section (the first is on line {first})"),
                            "keep every task under one `## Tasks`",
                        );
                    } else {
                        self.plan.marks.tasks = Some(n);
                    }
                    self.section = Section::Tasks;
                } else if name.eq_ignore_ascii_case("routing summary") {
                    if let Some(first) = self.routing_line {
                        self.problem(
                            n,
                            Rule::Section,
                            format!(
                                "a second `## Routing summary` section (the first is on line {first})"
                            ),
                            "keep one routing summary, at the end",
                        );
                    } else {
                        self.routing_line = Some(n);
                    }
                    self.section = Section::Routing;
                } else {
                    self.section = Section::Other;
                }
            }
            _ => {
                if self.section == Section::Start {
                    self.problem(
                        n,
                        Rule::Title,
                        "the plan must start with its title".into(),
                        "make the first line `# Plan: <feature>`",
                    );
                    self.section = Section::Preamble;
                }
                if self.section != Section::Tasks {
                    return;
                }
                if level > 3 {
                    let (message, hint) = match &self.open {
                        Some(o) => (
                            format!(
                                "task {}: a task holds only `- Field: value` lines",
                                o.task.id
                            ),
                            "put notes in a `## Notes` section after the tasks",
                        ),
                        None => (
                            "a task heading must read `### <id>: <title>`".into(),
                            "e.g. `### T1: Add the flag`",
                        ),
                    };
                    self.problem(n, Rule::Heading, message, hint);
                    return;
                }
                self.close_task();
                self.task_headings += 1;
                let parsed = text
                    .split_once(':')
                    .map(|(id, title)| (id.trim(), title.trim()))
                    .filter(|(id, _)| is_task_id(id));
                let Some((id, title)) = parsed else {
                    self.problem(
                        n,
                        Rule::Heading,
                        "a task heading must read `### <id>: <title>`".into(),
                        "e.g. `### T1: Add the flag`",
                    );
                    self.skip = Skip::ToHeading;
                    return;
                };
                if title.is_empty() {
                    self.problem(
                        n,
                        Rule::Heading,
                        format!("task {id} has no title"),
                        format!("write `### {id}: <what it does>`"),
                    );
                }
                self.open = Some(Open {
                    task: Task {
                        id: id.to_owned(),
                        title: title.to_owned(),
                        line: n,
                        ..Task::default()
                    },
                    raw: Vec::new(),
                    cont: None,
                });
            }
        }
    }

    fn preamble(&mut self, n: usize, line: &str) {
        let t = line.trim();
        if t.is_empty() {
            self.goal_open = false;
            return;
        }
        if is_fence(line) {
            self.goal_open = false;
            self.fence = true;
            return;
        }
        let goal = t
            .get(..5)
            .filter(|p| p.eq_ignore_ascii_case("goal:"))
            .map(|_| t[5..].trim());
        if let Some(goal) = goal {
            if let Some(first) = self.goal_line {
                self.problem(
                    n,
                    Rule::Goal,
                    format!("a second `Goal:` (the first is on line {first})"),
                    "keep one goal paragraph",
                );
                return;
            }
            self.goal_line = Some(n);
            self.plan.goal = goal.to_owned();
            self.goal_open = true;
        } else if self.goal_open {
            if !self.plan.goal.is_empty() {
                self.plan.goal.push(' ');
            }
            self.plan.goal.push_str(t);
        }
    }

    fn task_line(&mut self, n: usize, line: &str) {
        let blank = line.trim().is_empty();
        match self.skip {
            Skip::ToHeading => return,
            Skip::ToBlank if !blank => return,
            Skip::ToBlank => self.skip = Skip::No,
            Skip::No => {}
        }
        let problems = &mut self.problems;
        let Some(open) = self.open.as_mut() else {
            if !blank {
                push(
                    problems,
                    n,
                    Rule::Heading,
                    "expected a task heading `### <id>: <title>`".into(),
                    "each task starts with `### T1: <title>`; notes belong in another `## ` section",
                );
                self.skip = Skip::ToBlank;
            }
            return;
        };
        if blank {
            open.cont = None;
            return;
        }
        let id = open.task.id.clone();
        if line.starts_with([' ', '\t']) {
            match open.cont {
                Some(Some(i)) => {
                    let v = &mut open.raw[i].1;
                    if !v.is_empty() {
                        v.push(' ');
                    }
                    v.push_str(line.trim());
                    return;
                }
                Some(None) => return,
                None => {}
            }
        }
        // From here on, a line that is not a new field swallows its own continuations.
        open.cont = Some(None);
        let Some(rest) = line.strip_prefix("- ") else {
            let t = line.trim_start();
            let hint = match t.split_once(':').and_then(|(k, _)| Key::parse(k)) {
                Some(k) => format!("start the line with `- `: `- {}: …`", k.name()),
                None if t.starts_with('-') || t.starts_with('*') => {
                    "write `- Field: value`, with one space after the dash".into()
                }
                None => {
                    format!("{FIELD_HINT}; indent a line by two spaces to continue the field above")
                }
            };
            push(
                problems,
                n,
                Rule::Field,
                format!("task {id}: expected a `- Field: value` line"),
                hint,
            );
            return;
        };
        let rest = rest.trim_start();
        if rest.starts_with("[ ]") || rest.starts_with("[x]") || rest.starts_with("[X]") {
            push(
                problems,
                n,
                Rule::Field,
                format!("task {id}: checkboxes are not read; done-state lives in `Status`"),
                "write `- Status: todo` or `- Status: done`",
            );
            return;
        }
        let field = rest.split_once(':').map(|(k, v)| (k.trim(), v.trim()));
        match field.map(|(k, v)| (k, v, Key::parse(k))) {
            Some((_, value, Some(key))) => {
                if let Some((_, _, first)) = open.raw.iter().find(|(k, _, _)| *k == key) {
                    push(
                        problems,
                        n,
                        Rule::Field,
                        format!(
                            "task {id}: `{}` is given twice (first on line {first})",
                            key.name()
                        ),
                        "keep one line per field",
                    );
                } else {
                    open.raw.push((key, value.to_owned(), n));
                    open.cont = Some(Some(open.raw.len() - 1));
                }
            }
            Some((name, _, None)) => push(
                problems,
                n,
                Rule::Field,
                format!("task {id}: unknown field `{name}`"),
                FIELD_HINT,
            ),
            None => push(
                problems,
                n,
                Rule::Field,
                format!("task {id}: expected a `- Field: value` line"),
                FIELD_HINT,
            ),
        }
    }

    fn routing(&mut self, n: usize, line: &str) {
        let t = line.trim();
        if !t.starts_with('|') {
            if self.table != Table::None {
                self.table = Table::Ended;
            }
            if is_fence(line) {
                self.fence = true;
            }
            return;
        }
        let cells = cells(t);
        match self.table {
            Table::None => {
                self.table_seen = true;
                let names: Vec<String> = cells.iter().map(|c| c.to_ascii_lowercase()).collect();
                if names == ["task", "backend", "model", "sandbox"] {
                    self.plan.marks.table = Some(n);
                    self.table = Table::Header;
                } else {
                    self.problem(
                        n,
                        Rule::RoutingTable,
                        format!("the routing table's header must be `{TABLE_HEADER}`"),
                        "use exactly these four columns, in this order",
                    );
                    self.table = Table::Skipping;
                }
            }
            Table::Header => {
                self.table = Table::Rows;
                let separator = !cells.is_empty()
                    && cells.iter().all(|c| {
                        let c = c.trim_start_matches(':').trim_end_matches(':');
                        !c.is_empty() && c.bytes().all(|b| b == b'-')
                    });
                if !separator {
                    self.problem(
                        n,
                        Rule::RoutingTable,
                        "the routing table needs a `|---|---|---|---|` line under its header"
                            .into(),
                        "Markdown tables need it to render",
                    );
                    self.row(n, cells);
                }
            }
            Table::Rows => self.row(n, cells),
            Table::Ended => {
                self.problem(
                    n,
                    Rule::RoutingTable,
                    "a second routing table".into(),
                    "keep one table with one row per task",
                );
                self.table = Table::Skipping;
            }
            Table::Skipping => {}
        }
    }

    fn row(&mut self, n: usize, cells: Vec<String>) {
        if cells.len() != 4 {
            self.problem(
                n,
                Rule::RoutingTable,
                format!("a routing row has 4 cells, this one has {}", cells.len()),
                format!("write `{TABLE_HEADER}` cells: Task, Backend, Model, Sandbox"),
            );
            return;
        }
        let mut it = cells.into_iter();
        let mut next = || it.next().unwrap_or_default();
        self.plan.routes.push(RouteRow {
            line: n,
            task: next(),
            backend: next(),
            model: next(),
            sandbox: next(),
        });
    }

    fn close_task(&mut self) {
        if let Some(open) = self.open.take() {
            let task = build_task(open, &mut self.problems);
            self.plan.tasks.push(task);
        }
    }

    fn finish(&mut self, last: usize) {
        self.plan.marks.last = last;
        let title = self.plan.marks.title.unwrap_or(1);
        if self.section == Section::Start {
            self.problem(
                1,
                Rule::Title,
                "the plan must start with its title".into(),
                "make the first line `# Plan: <feature>`",
            );
        }
        match self.goal_line {
            None => self.problem(
                title,
                Rule::Goal,
                "the plan has no goal".into(),
                "add a `Goal: <one paragraph>` line under the title",
            ),
            Some(n) if self.plan.goal.is_empty() => self.problem(
                n,
                Rule::Goal,
                "the goal is empty".into(),
                "say in one paragraph what the plan achieves and how to tell",
            ),
            Some(_) => {}
        }
        match self.plan.marks.tasks {
            None => self.problem(
                last,
                Rule::Section,
                "the plan has no `## Tasks` section".into(),
                "add `## Tasks` with a `### <id>: <title>` heading per task",
            ),
            Some(n) if self.task_headings == 0 => self.problem(
                n,
                Rule::NoTasks,
                "the plan has no tasks".into(),
                "add one: `### T1: <title>` followed by its fields",
            ),
            Some(_) => {}
        }
        match (self.routing_line, self.plan.marks.tasks) {
            (None, _) => self.problem(
                last,
                Rule::Section,
                "the plan has no `## Routing summary` section".into(),
                format!("end the plan with `## Routing summary` and a table `{TABLE_HEADER}`"),
            ),
            (Some(r), Some(t)) if r < t => self.problem(
                r,
                Rule::Section,
                "the routing summary must come after the tasks".into(),
                "move `## Routing summary` and its table to the end",
            ),
            (Some(r), _) if !self.table_seen => self.problem(
                r,
                Rule::RoutingTable,
                "the routing summary has no table".into(),
                format!("add `{TABLE_HEADER}`, `|---|---|---|---|` and one row per task"),
            ),
            _ => {}
        }
    }
}

/// The cells of a `| a | b |` row, trimmed, backticks around a cell removed.
fn cells(row: &str) -> Vec<String> {
    let inner = row.strip_prefix('|').unwrap_or(row);
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    inner
        .split('|')
        .map(|c| c.trim().trim_matches('`').trim().to_owned())
        .collect()
}

/// Turn the raw fields of a task into values, reporting what cannot be read.
fn build_task(open: Open, problems: &mut Vec<Problem>) -> Task {
    let Open { mut task, raw, .. } = open;
    let id = task.id.clone();
    let mut problem = |line: usize, rule: Rule, message: String, hint: String| {
        problems.push(Problem::new(line, rule, message, hint));
    };
    for key in Key::ALL {
        if key.required() && !raw.iter().any(|(k, _, _)| *k == key) {
            problem(
                task.line,
                Rule::MissingField,
                format!("task {id} has no `{}`", key.name()),
                format!("add a line like: {}", key.example()),
            );
        }
    }
    for (key, value, line) in raw {
        task.fields.push((key, line));
        if value.is_empty() && key != Key::DependsOn {
            problem(
                line,
                Rule::MissingField,
                format!("task {id}: `{}` is empty", key.name()),
                format!("write a line like: {}", key.example()),
            );
            continue;
        }
        if placeholder(&value).is_some() {
            // Reported once for its line; its value is not judged until it is filled in.
            continue;
        }
        match key {
            Key::Status => match value.to_ascii_lowercase().as_str() {
                "todo" => task.done = false,
                "done" => task.done = true,
                _ => problem(
                    line,
                    Rule::Status,
                    format!("task {id}: status `{value}` is neither `todo` nor `done`"),
                    "write `- Status: todo` or `- Status: done`".into(),
                ),
            },
            Key::Objective => task.objective = value,
            Key::DoneWhen => task.done_when = value,
            Key::Files => match list(&value, key) {
                Ok(items) => {
                    for item in &items {
                        if let Some((message, hint)) = not_concrete(item) {
                            problem(line, Rule::Files, format!("task {id}: {message}"), hint);
                        }
                    }
                    task.files = items;
                }
                Err(why) => problem(
                    line,
                    Rule::Files,
                    format!("task {id}: {why}"),
                    "list paths in backticks, separated by commas: `src/a.rs`, `src/b.rs`".into(),
                ),
            },
            Key::Commands => match list(&value, key) {
                Ok(items) => task.commands = items,
                Err(why) => problem(
                    line,
                    Rule::Commands,
                    format!("task {id}: {why}"),
                    "write each command in backticks, separated by commas: `cargo test`, `cargo clippy`"
                        .into(),
                ),
            },
            Key::Backend => match backend(&value) {
                Ok(b) => task.backend = Some(b),
                Err((message, hint)) => {
                    problem(line, Rule::Backend, format!("task {id}: {message}"), hint)
                }
            },
            Key::Estimate => match minutes(&value) {
                Some(m) => {
                    task.estimate_min = Some(m);
                    let (lo, hi) = ESTIMATE_MINUTES;
                    if m < lo || m > hi {
                        let hint = if m > hi {
                            format!("split it into tasks of {lo}–{hi} minutes")
                        } else {
                            "merge it into a neighbouring task".into()
                        };
                        problem(
                            line,
                            Rule::Estimate,
                            format!("task {id}: estimate {m} min is outside {lo}–{hi} minutes"),
                            hint,
                        );
                    }
                }
                None => problem(
                    line,
                    Rule::Estimate,
                    format!("task {id}: estimate `{value}` is not a number of minutes"),
                    "write whole minutes, e.g. `3 min`".into(),
                ),
            },
            Key::DependsOn => {
                if matches!(value.to_ascii_lowercase().as_str(), "" | "none" | "-") {
                    continue;
                }
                for dep in value.split(',') {
                    let dep = dep.trim().trim_matches('`').trim();
                    if is_task_id(dep) {
                        task.depends_on.push(dep.to_owned());
                    } else {
                        problem(
                            line,
                            Rule::Dependency,
                            format!("task {id}: `{dep}` is not a task id"),
                            "list task ids separated by commas, e.g. `T1, T2`".into(),
                        );
                    }
                }
            }
        }
    }
    task
}

/// A comma-separated list. With backticks anywhere, the items are the backticked spans and only
/// commas and spaces may stand between them; `code_only` requires backticks.
fn list(value: &str, key: Key) -> Result<Vec<String>, String> {
    let name = key.name();
    if !value.contains('`') {
        if key == Key::Commands {
            return Err("the commands are not in backticks".into());
        }
        let items: Vec<String> = value.split(',').map(|s| s.trim().to_owned()).collect();
        if items.iter().any(|s| s.is_empty()) {
            return Err(format!("an empty entry in `{name}`"));
        }
        if let Some(s) = items.iter().find(|s| s.contains(char::is_whitespace)) {
            return Err(format!("`{s}` is not one path"));
        }
        return Ok(items);
    }
    let parts: Vec<&str> = value.split('`').collect();
    if parts.len().is_multiple_of(2) {
        return Err(format!("unbalanced backticks in `{name}`"));
    }
    let mut items = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        if i % 2 == 1 {
            let item = part.trim();
            if item.is_empty() {
                return Err(format!("an empty entry in `{name}`"));
            }
            items.push(item.to_owned());
        } else if !part.chars().all(|c| c == ',' || c.is_whitespace()) {
            return Err(format!(
                "text outside backticks in `{name}`: `{}`",
                part.trim()
            ));
        }
    }
    Ok(items)
}

/// Why a `Files` entry is not one concrete file in the project, if it is not.
fn not_concrete(path: &str) -> Option<(String, String)> {
    if path.contains(['*', '?', '[', ']', '{', '}']) {
        return Some((
            format!("`{path}` is a glob, not a file"),
            "name each file the task touches".into(),
        ));
    }
    if path.starts_with('/') || path.starts_with('~') || path.split('/').any(|c| c == "..") {
        return Some((
            format!("`{path}` is outside the project"),
            "use a path relative to the project root".into(),
        ));
    }
    if path.ends_with('/') || path.rsplit('/').next().is_some_and(|c| c == ".") {
        return Some((
            format!("`{path}` is a directory, not a file"),
            "name the files in it that the task touches".into(),
        ));
    }
    None
}

fn backend(value: &str) -> Result<Backend, (String, String)> {
    let value = value.trim_matches('`').trim();
    let words: Vec<&str> = value.split_whitespace().collect();
    match words.as_slice() {
        [b] if b.eq_ignore_ascii_case("claude") => Ok(Backend::Claude),
        [b, model, sandbox] if b.eq_ignore_ascii_case("codex") => {
            match sandbox.parse::<Sandbox>() {
                Ok(sandbox) => Ok(Backend::Codex {
                    model: (*model).to_owned(),
                    sandbox,
                }),
                Err(_) => Err((
                    format!("unknown sandbox `{sandbox}`"),
                    "use read-only, workspace-write or danger-full-access".into(),
                )),
            }
        }
        [b, ..] if b.eq_ignore_ascii_case("codex") => Err((
            format!("backend `{value}` must read `codex <model> <sandbox>`"),
            "e.g. `codex gpt-5.3-codex workspace-write`".into(),
        )),
        _ => Err((
            format!("unknown backend `{value}`"),
            "use `codex <model> <sandbox>` or `claude`".into(),
        )),
    }
}

/// `3 min`, `3min`, `3 mins`, `3 minutes`, `3m`.
fn minutes(value: &str) -> Option<u32> {
    let v = value.trim();
    let digits = v.len() - v.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 || digits > 4 {
        return None;
    }
    let unit = v[digits..].trim();
    matches!(unit, "m" | "min" | "mins" | "minute" | "minutes")
        .then(|| v[..digits].parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        assert_eq!(list("`a`, `b c`", Key::Files).unwrap(), ["a", "b c"]);
        assert_eq!(list("a, b", Key::Files).unwrap(), ["a", "b"]);
        assert!(list("a,, b", Key::Files).is_err());
        assert!(list("`a` and `b`", Key::Files).is_err());
        assert!(list("`a", Key::Files).is_err());
        assert!(list("cargo test", Key::Commands).is_err());
        assert_eq!(
            list("`cargo test -- --x=1,2`", Key::Commands).unwrap(),
            ["cargo test -- --x=1,2"]
        );
    }

    #[test]
    fn estimates() {
        assert_eq!(minutes("3 min"), Some(3));
        assert_eq!(minutes("4minutes"), Some(4));
        assert_eq!(minutes("10m"), Some(10));
        assert_eq!(minutes("3.5 min"), None);
        assert_eq!(minutes("soon"), None);
        assert_eq!(minutes("99999999999 min"), None);
    }

    #[test]
    fn concrete_paths() {
        assert!(not_concrete("src/a.rs").is_none());
        assert!(not_concrete("Makefile").is_none());
        for p in [
            "src/*.rs", "src/", ".", "src/.", "/etc/x", "../x", "~/x", "a/{b,c}",
        ] {
            assert!(not_concrete(p).is_some(), "{p}");
        }
    }

    #[test]
    fn headings() {
        assert_eq!(heading("## Tasks"), Some((2, "Tasks")));
        assert_eq!(heading("#hashtag"), None);
        assert_eq!(heading("#######"), None);
        assert_eq!(heading("###"), Some((3, "")));
    }
}
