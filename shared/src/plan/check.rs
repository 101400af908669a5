//! What needs the whole plan or the routing policy: the models and sandboxes allowed, unique
//! ids, dependencies and their cycles, and the routing table agreeing with the tasks.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use super::{Backend, Key, Plan, Problem, RoutingPolicy, Rule, parse};

/// Every problem of `text` as a plan under `policy`, in line order. Pure: no file is read (see
/// [`check_text_at`] for the one check that needs the project).
pub fn check_text(text: &str, policy: &RoutingPolicy) -> Vec<Problem> {
    let parsed = parse(text);
    let mut problems = parsed.problems;
    problems.extend(check_plan(&parsed.plan, policy));
    problems.sort_by_key(|p| p.line);
    problems
}

/// [`check_text`], plus: a `Files` entry that is an existing directory under `root` (the
/// project) is not a file.
pub fn check_text_at(text: &str, policy: &RoutingPolicy, root: &Path) -> Vec<Problem> {
    let parsed = parse(text);
    let mut problems = parsed.problems;
    problems.extend(check_plan(&parsed.plan, policy));
    problems.extend(directory_problems(&parsed.plan, root));
    problems.sort_by_key(|p| p.line);
    problems
}

/// `Files` entries that name an existing directory under `root`.
pub fn directory_problems(plan: &Plan, root: &Path) -> Vec<Problem> {
    let mut out = Vec::new();
    for task in &plan.tasks {
        let line = task.line_of(Key::Files).unwrap_or(task.line);
        for f in &task.files {
            if root.join(f).is_dir() {
                out.push(Problem::new(
                    line,
                    Rule::Files,
                    format!("task {}: `{f}` is a directory, not a file", task.id),
                    "name the files in it that the task touches",
                ));
            }
        }
    }
    out
}

/// The problems of a parsed plan that need the policy or more than one task. Not sorted.
pub fn check_plan(plan: &Plan, policy: &RoutingPolicy) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (i, task) in plan.tasks.iter().enumerate() {
        match first.get(task.id.as_str()) {
            Some(&j) => out.push(Problem::new(
                task.line,
                Rule::DuplicateId,
                format!(
                    "task id {} is used twice (first on line {})",
                    task.id, plan.tasks[j].line
                ),
                "give every task its own id",
            )),
            None => {
                first.insert(&task.id, i);
            }
        }
        if let Some(Backend::Codex { model, sandbox }) = &task.backend {
            let line = task.line_of(Key::Backend).unwrap_or(task.line);
            if !policy.allows_model(model) {
                out.push(Problem::new(
                    line,
                    Rule::Policy,
                    format!(
                        "task {}: model `{model}` is not in the routing policy",
                        task.id
                    ),
                    format!("use {}", policy.describe_models()),
                ));
            }
            if !policy.sandboxes.contains(sandbox) {
                out.push(Problem::new(
                    line,
                    Rule::Policy,
                    format!(
                        "task {}: sandbox `{sandbox}` is not allowed by the routing policy",
                        task.id
                    ),
                    format!(
                        "use {}",
                        policy
                            .sandboxes
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(" or ")
                    ),
                ));
            }
        }
    }
    dependencies(plan, &first, &mut out);
    routing(plan, &first, &mut out);
    out
}

fn dependencies(plan: &Plan, index: &HashMap<&str, usize>, out: &mut Vec<Problem>) {
    for task in &plan.tasks {
        let line = task.line_of(Key::DependsOn).unwrap_or(task.line);
        for dep in &task.depends_on {
            if dep == &task.id {
                out.push(Problem::new(
                    line,
                    Rule::Cycle,
                    format!("task {} depends on itself", task.id),
                    "remove it from its own `Depends on`",
                ));
            } else if !index.contains_key(dep.as_str()) {
                out.push(Problem::new(
                    line,
                    Rule::Dependency,
                    format!("task {} depends on {dep}, which is not a task", task.id),
                    "use the id of a task in this plan",
                ));
            }
        }
    }
    // Cycles longer than one: depth-first over the first task of each id.
    let edges: Vec<Vec<usize>> = plan
        .tasks
        .iter()
        .map(|t| {
            t.depends_on
                .iter()
                .filter(|d| **d != t.id)
                .filter_map(|d| index.get(d.as_str()).copied())
                .collect()
        })
        .collect();
    let mut state = vec![0u8; plan.tasks.len()]; // 0 new, 1 on the stack, 2 finished
    let mut seen: BTreeSet<Vec<usize>> = BTreeSet::new();
    for start in 0..plan.tasks.len() {
        if state[start] != 0 || index.get(plan.tasks[start].id.as_str()) != Some(&start) {
            continue;
        }
        // Iterative DFS: (node, next edge to try).
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        state[start] = 1;
        while let Some(top) = stack.last_mut() {
            let node = top.0;
            if let Some(&to) = edges[node].get(top.1) {
                top.1 += 1;
                match state[to] {
                    0 => {
                        state[to] = 1;
                        stack.push((to, 0));
                    }
                    1 => {
                        let from = stack.iter().position(|(n, _)| *n == to).unwrap_or(0);
                        let mut cycle: Vec<usize> = stack[from..].iter().map(|(n, _)| *n).collect();
                        // One spelling per cycle: start at the task written first.
                        let min = cycle
                            .iter()
                            .enumerate()
                            .min_by_key(|(_, n)| **n)
                            .map_or(0, |(i, _)| i);
                        cycle.rotate_left(min);
                        if seen.insert(cycle.clone()) {
                            let t = &plan.tasks[cycle[0]];
                            let names: Vec<&str> = cycle
                                .iter()
                                .chain(std::iter::once(&cycle[0]))
                                .map(|i| plan.tasks[*i].id.as_str())
                                .collect();
                            out.push(Problem::new(
                                t.line_of(Key::DependsOn).unwrap_or(t.line),
                                Rule::Cycle,
                                format!(
                                    "tasks {} depend on each other in a cycle",
                                    names.join(" → ")
                                ),
                                "remove one of these dependencies",
                            ));
                        }
                    }
                    _ => {}
                }
            } else {
                state[node] = 2;
                stack.pop();
            }
        }
    }
}

fn routing(plan: &Plan, index: &HashMap<&str, usize>, out: &mut Vec<Problem>) {
    let Some(table) = plan.marks.table else {
        return;
    };
    let mut rows: HashMap<&str, usize> = HashMap::new();
    for row in &plan.routes {
        if row.task.contains("{{") || row.route().contains("{{") {
            continue; // reported as a placeholder
        }
        let Some(&i) = index.get(row.task.as_str()) else {
            out.push(Problem::new(
                row.line,
                Rule::RoutingMismatch,
                format!("the routing table lists {}, which is not a task", row.task),
                "remove the row, or add the task",
            ));
            continue;
        };
        if let Some(first) = rows.insert(&row.task, row.line) {
            rows.insert(&row.task, first);
            out.push(Problem::new(
                row.line,
                Rule::RoutingMismatch,
                format!(
                    "{} appears twice in the routing table (first on line {first})",
                    row.task
                ),
                "keep one row per task",
            ));
            continue;
        }
        let task = &plan.tasks[i];
        if let Some(b) = &task.backend {
            let want = b.to_string();
            if row.route() != want {
                out.push(Problem::new(
                    row.line,
                    Rule::RoutingMismatch,
                    format!(
                        "the routing table says `{}` for {}, but the task says `{want}`",
                        row.route(),
                        row.task
                    ),
                    format!(
                        "make the row agree with the `Backend` on line {}",
                        task.line_of(Key::Backend).unwrap_or(task.line)
                    ),
                ));
            }
        }
    }
    for (i, task) in plan.tasks.iter().enumerate() {
        if index.get(task.id.as_str()) != Some(&i) || rows.contains_key(task.id.as_str()) {
            continue;
        }
        let row = match &task.backend {
            Some(Backend::Codex { model, sandbox }) => {
                format!("| {} | codex | {model} | {sandbox} |", task.id)
            }
            Some(Backend::Claude) => format!("| {} | claude | - | - |", task.id),
            None => format!("| {} | <backend> | <model> | <sandbox> |", task.id),
        };
        out.push(Problem::new(
            table,
            Rule::RoutingMismatch,
            format!("task {} is missing from the routing table", task.id),
            format!("add `{row}`"),
        ));
    }
}
