//! The words Claude reads when the guard stops it. Each says what happened, the exact command
//! to run next, and the user's way out; Claude acts on them, so they are instructions, not
//! error codes.

use std::path::Path;

use crate::ledger::LastAttempt;

/// What kind of native work was attempted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// A subagent (Explore, general-purpose): route as read-only exploration.
    Explore,
    /// An edit of code: route as workspace-write code work.
    Edit,
}

impl Work {
    /// The `offload run` command for this kind of work in `project`, `offload` being how the
    /// CLI is run (see [`crate::shell::offload_command`]). The prompt is single-quoted: inside
    /// double quotes a shell would run `` `calc.py` `` and expand `$VAR`.
    pub fn command(self, project: &Path, offload: &str) -> String {
        let dir = crate::shell::quote(&project.display().to_string()).into_owned();
        match self {
            Work::Explore => format!(
                "{offload} run --work-type explore '<the question, what to look at, what to report>' read-only {dir}"
            ),
            Work::Edit => format!(
                "{offload} run --work-type code '<goal and acceptance criteria; files; constraints; tests to run>' workspace-write {dir}"
            ),
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Work::Explore => "exploration is",
            Work::Edit => "code edits are",
        }
    }
}

/// How the user approves a fallback.
pub fn approval_path(phrase: &str, offload: &str) -> String {
    format!(
        "ask the user for explicit approval to fall back to native tools: they approve by including \"{phrase}\" in their next message, or by running `{offload} approve` in a terminal"
    )
}

/// The prompt rule every printed command follows.
pub const QUOTING: &str = "Put the prompt in single quotes ('\\'' for a quote inside), or pass it on stdin with `-` as the prompt and a quoted heredoc (<<'EOF'): in double quotes the shell runs backticks and expands $.";

/// Where and how to route: the project, the approval phrase, and the code model that
/// `--work-type code|explore` selects.
pub struct Route<'a> {
    pub project: &'a Path,
    pub phrase: &'a str,
    pub model: &'a str,
    /// How the CLI is run (see [`crate::shell::offload_command`]).
    pub offload: &'a str,
}

impl Work {
    fn sandbox(self) -> &'static str {
        match self {
            Work::Explore => "read-only",
            Work::Edit => "workspace-write",
        }
    }
}

/// An attempt of the session is still running.
pub fn still_running(what: &str, r: &crate::running::Running, offload: &str) -> String {
    format!(
        "offload: {what} must wait: Codex is still working on it (pid {}, since {} UTC, \"{}\"). \
         Wait for it to finish: for a background job run `{offload} wait --last` with the Bash tool's \
         \"timeout\": 600000 (exit 75: still running, wait again); do not start another `offload run`, \
         and do not do the work natively meanwhile. Its result decides: a success unlocks native \
         work for this turn.",
        r.pid,
        r.started.format("%H:%M:%S"),
        r.prompt
    )
}

/// How long work goes: the sentence deny reasons and the session start add.
pub fn long_work(offload: &str) -> String {
    format!(
        "Codex can take 3 to 15 minutes: for anything but a quick question start it with `--background` \
         (it returns a job id at once), then `{offload} wait <id>` with the Bash tool's \"timeout\": 600000, \
         again while it exits 75 (still running); never start a second copy."
    )
}

/// No Codex attempt in scope yet.
pub fn route_first(work: Work, what: &str, route: &Route<'_>) -> String {
    format!(
        "offload: {what} is Codex-eligible work; route it to Codex first. Run this with your Bash tool (fill in the prompt; it runs {} in a {} sandbox):\n  {}\n\
         {QUOTING} {} When it succeeds, check its result; native {} then allowed for the rest of this turn. \
         If it fails, do not work around this block: {}.",
        route.model,
        work.sandbox(),
        work.command(route.project, route.offload),
        long_work(route.offload),
        work.noun(),
        approval_path(route.phrase, route.offload)
    )
}

/// The last attempt in scope failed, and the user has not approved a fallback.
pub fn fail_closed(work: Work, what: &str, last: &LastAttempt, route: &Route<'_>) -> String {
    let why = last
        .error
        .as_deref()
        .map(|e| format!(" ({e})"))
        .unwrap_or_default();
    let head = if last.outcome == crate::outcome::Outcome::Missing {
        format!("offload: the Codex CLI is missing{why}, so {what} cannot be routed to Codex.")
    } else {
        format!(
            "offload: the last Codex attempt in this turn ended `{}`{why}. offload fails closed: {what} stays blocked.",
            last.outcome
        )
    };
    format!(
        "{head} Do not fall back to native tools on your own: {}. You may instead retry Codex:\n  {}",
        approval_path(route.phrase, route.offload),
        work.command(route.project, route.offload)
    )
}

/// A plan write that would leave a plan failing `offload plan check`.
pub fn plan_invalid(path: &str, problems: &[crate::plan::Problem], offload: &str) -> String {
    if problems.is_empty() {
        return String::new();
    }
    const SHOWN: usize = 20;
    let mut out = format!(
        "offload: {path} would not pass `{offload} plan check` ({} problem{}); fix them and write it again (`{offload} plan format` prints the format):",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems.iter().take(SHOWN) {
        out.push_str(&format!("\n  line {}: {} ({})", p.line, p.message, p.hint));
    }
    if problems.len() > SHOWN {
        out.push_str(&format!("\n  … and {} more", problems.len() - SHOWN));
    }
    out
}

/// Claude tried to change offload's own state, config or approvals, or codex's config.
pub fn tamper(what: &str) -> String {
    format!(
        "offload: {what} would change offload's own records, configuration or hooks, or codex's own config \
         (where codex talks and as whom), which only the user may do. \
         Do not retry this another way; if the user wants it, they can do it themselves in a terminal \
         (or turn offload off for a session with OFFLOAD_MODE=off)."
    )
}

/// Warn mode: what enforce mode would have done.
pub fn warn(reason: &str) -> String {
    format!("offload (warn mode, not blocking): {reason}")
}

/// The analyzer stopped at one of its limits: the command is denied rather than trusted.
pub fn analysis_limit(limit: &str) -> String {
    format!(
        "offload: this Bash command was not run because offload could not analyze it completely: {limit}. \
         offload fails closed rather than let an unchecked command through. Split it into smaller commands, \
         or write long content to a file outside the project first."
    )
}

/// A watched command that would go on in the background, where its effect cannot be checked.
pub fn background_watch(why: &str, denial: &str) -> String {
    format!(
        "offload: this Bash command {why}, and native code edits are locked, so offload checks such a command's effect \
         on the project's code when it ends; part of it would go on in the background (`&`, `run_in_background`, `setsid -f`, \
         `at`, `tmux`), where it cannot. Run it in the foreground, or route the work to Codex. {denial}"
    )
}

/// PostToolUse: what the effect check undid, and why.
pub fn undone(files: &str, id: &str, why: &str, denial: &str, offload: &str) -> String {
    format!(
        "offload undid what this Bash command did to the project's code ({files}), because it {why} while native code \
         edits are locked. The code is back as it was before the command. Do not try another way around this: {denial}\n\
         What the command wrote is kept: the user can put it back with `{offload} restore {id}`."
    )
}

/// PostToolUse in warn mode: what enforce mode would have undone.
pub fn would_undo(files: &str, why: &str) -> String {
    format!(
        "offload (warn mode): this Bash command changed the project's code ({files}) while it {why} and native code \
         edits are locked; in enforce mode offload would have undone it. Route code changes to Codex with `offload run`."
    )
}

/// PreToolUse: the snapshot a watched command needs could not be taken.
pub fn cannot_watch(why: &str, problem: &str, denial: &str) -> String {
    format!(
        "offload: this Bash command {why}, so offload must check its effect on the project's code, and it cannot: \
         {problem}. offload fails closed. {denial}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_name_model_route_and_sandbox() {
        let p = Path::new("/work/my proj");
        assert_eq!(
            Work::Edit.command(p, "~/.local/bin/offload"),
            "~/.local/bin/offload run --work-type code '<goal and acceptance criteria; files; constraints; tests to run>' workspace-write '/work/my proj'"
        );
        assert!(
            Work::Explore
                .command(Path::new("/w"), "offload")
                .ends_with("read-only /w")
        );
    }
}
