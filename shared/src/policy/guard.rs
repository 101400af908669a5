//! The PreToolUse guard: given a tool call, the config and the session's summary, deny or stay
//! silent. Never `allow`: silence leaves the user's own permission rules in charge.
//!
//! Order of checks:
//! 1. mode `off` → silent;
//! 2. tamper: changing offload's state, config, project override or hooks, or running
//!    `offload approve`, is denied (in warn mode, reported);
//! 3. plans: a Write or Edit of `docs/plans/*.md` is checked as a plan (the text the call would
//!    leave behind) and denied with its problems when it does not pass `offload plan check`;
//!    a valid plan is never blocked;
//! 4. eligibility: an `Agent`/`Task` call of a configured subagent type; an
//!    `Edit`/`Write`/`NotebookEdit`/`MultiEdit` of a code path in the project; a `Bash` command
//!    that writes one. Anything else → silent;
//! 5. the session's state in the attempt scope (the turn by default): approval → silent; last
//!    attempt succeeded → silent; last attempt failed or codex missing → deny (fail closed);
//!    no attempt → deny (route first). An attempt the user interrupted is passed over, as if
//!    it had not run: it never unlocks anything and does not lock like a failure (a failure
//!    before it still fails closed, a success before it still counts, and with neither Claude
//!    is told to route first). The user stopped it, Codex did not fail; and since it opens
//!    nothing, a process that interrupts its own run gains nothing by it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::claude::HookInput;
use crate::config::{GuardConfig, Mode, RunnerConfig, limits};
use crate::ledger::{LastAttempt, SessionSummary};
use crate::policy::bash::{self, Target};
use crate::policy::messages::{self, Work};
use crate::policy::scope::{PathClass, Scope};

/// Tools whose calls name a file they change.
pub const EDIT_TOOLS: [&str; 4] = ["Edit", "Write", "NotebookEdit", "MultiEdit"];
/// The subagent tool (`Task` is its old name and still an alias).
/// Tools that start subagents: `Agent` (`Task` its old name), and `Workflow`, whose script's
/// `agent()` starts general-purpose subagents without an `Agent` call.
pub const AGENT_TOOLS: [&str; 3] = ["Agent", "Task", "Workflow"];

/// What the guard answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Print nothing: the normal permission flow decides.
    Silent,
    /// Deny the call with this reason.
    Deny(Denial),
    /// Warn mode: let it through, tell Claude what enforce mode would have done.
    Warn(Denial),
    /// Let it run, but judge it by its effect: the command runs code the analyzer cannot read
    /// while native edits are locked, so the hook snapshots the project's code files now and
    /// PostToolUse undoes any change to them (see [`super::effect`]).
    Watch(Watch),
}

/// Why a command is watched, and what Claude is told if its effect is undone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watch {
    pub tool: String,
    /// What the analyzer could not see into.
    pub why: Vec<String>,
    /// The denial this would be if the command wrote code (`route-first` or `fail-closed`),
    /// which is the reason PostToolUse gives when it undoes something.
    pub denial: Denial,
    /// Warn mode: report what would be undone, undo nothing.
    pub warn: bool,
}

/// A denial (or what would have been one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    pub tool: String,
    /// `route-first`, `fail-closed`, `tamper`, or `plan-invalid`.
    pub code: &'static str,
    pub reason: String,
}

/// Everything the guard needs besides the call and the session.
pub struct Ctx<'a> {
    pub config: &'a GuardConfig,
    pub mode: Mode,
    /// The project root (`CLAUDE_PROJECT_DIR`, else the call's `cwd`).
    pub project: &'a Path,
    /// The call's working directory.
    pub cwd: &'a Path,
    pub home: Option<&'a Path>,
    /// offload's state and config folders.
    pub protected: &'a [PathBuf],
    /// `offload run`'s settings: the code model named in deny reasons, and the routing policy
    /// plans are checked against.
    pub runner: &'a RunnerConfig,
    pub now: DateTime<Utc>,
    /// `$TMPDIR` of the session (scratch paths under it are outside the project).
    pub tmpdir: Option<&'a Path>,
    /// When the analysis must stop (a limit that denies), well inside the hook's timeout.
    pub deadline: Option<std::time::Instant>,
    /// An attempt of this session whose process still runs (see [`crate::running`]).
    pub running: Option<&'a crate::running::Running>,
    /// How the commands in deny reasons run offload's CLI (see
    /// [`crate::shell::offload_command`]).
    pub offload: &'a str,
}

/// How long an attempt unlocks native work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptScope {
    Turn,
    Session,
    Within(Duration),
}

impl AttemptScope {
    /// `turn`, `session`, or a duration of 1 s to 30 days; anything else reads as `turn` (the
    /// strictest useful).
    pub fn parse(s: &str) -> AttemptScope {
        match s.trim() {
            "session" => AttemptScope::Session,
            "turn" | "" => AttemptScope::Turn,
            d => limits::ATTEMPT_SCOPE
                .parse(d)
                .map_or(AttemptScope::Turn, AttemptScope::Within),
        }
    }

    fn covers(
        self,
        summary: &SessionSummary,
        turn: u64,
        ts: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> bool {
        match self {
            AttemptScope::Turn => turn == summary.turn,
            AttemptScope::Session => true,
            // A record from the future (a writer whose clock is ahead) cannot be placed in
            // time: it opens nothing under a duration, which skew therefore cannot extend.
            // Checked: an end past what a date can hold covers nothing (fail closed).
            AttemptScope::Within(d) => {
                let skew = now
                    .checked_add_signed(chrono::Duration::minutes(1))
                    .unwrap_or(DateTime::<Utc>::MAX_UTC);
                ts <= skew
                    && chrono::Duration::from_std(d)
                        .ok()
                        .and_then(|d| ts.checked_add_signed(d))
                        .is_some_and(|end| end >= now)
            }
        }
    }
}

/// Decide a PreToolUse call. `session` is read only when the call is eligible work.
pub fn pre_tool_use(
    input: &HookInput,
    ctx: &Ctx<'_>,
    session: impl FnOnce() -> Option<SessionSummary>,
) -> Verdict {
    if ctx.mode == Mode::Off {
        return Verdict::Silent;
    }
    let tool = input.tool_name.as_deref().unwrap_or("");
    let judged = judge(input, tool, ctx, session);
    let denial = match judged {
        Judged::Pass => None,
        Judged::Deny(code, reason) => Some(Denial {
            tool: tool.to_string(),
            code,
            reason,
        }),
        Judged::Watch(why, code, reason) => {
            return Verdict::Watch(Watch {
                tool: tool.to_string(),
                why,
                denial: Denial {
                    tool: tool.to_string(),
                    code,
                    reason,
                },
                warn: ctx.mode == Mode::Warn,
            });
        }
    };
    match (denial, ctx.mode) {
        (None, _) | (_, Mode::Off) => Verdict::Silent,
        (Some(d), Mode::Enforce) => Verdict::Deny(d),
        (Some(d), Mode::Warn) => Verdict::Warn(Denial {
            reason: messages::warn(&d.reason),
            ..d
        }),
    }
}

/// What [`judge`] found.
enum Judged {
    Pass,
    Deny(&'static str, String),
    /// Watch by effect: why, and the denial it stands for.
    Watch(Vec<String>, &'static str, String),
}

impl From<Option<(&'static str, String)>> for Judged {
    fn from(d: Option<(&'static str, String)>) -> Judged {
        match d {
            Some((code, reason)) => Judged::Deny(code, reason),
            None => Judged::Pass,
        }
    }
}

fn judge(
    input: &HookInput,
    tool: &str,
    ctx: &Ctx<'_>,
    session: impl FnOnce() -> Option<SessionSummary>,
) -> Judged {
    let is_edit = EDIT_TOOLS.contains(&tool);
    let is_agent = AGENT_TOOLS.contains(&tool);
    let unknown = !is_edit && !is_agent && tool != "Bash";
    let scope = (!is_agent).then(|| Scope::new(ctx.project, ctx.config, ctx.protected));
    let mut watch: Vec<String> = Vec::new();
    let mut analysis_background = false;
    let (work, what) = if unknown {
        match unknown_tool(input, tool, ctx) {
            Unknown::Pass => return Judged::Pass,
            Unknown::Tamper(what) => return Judged::Deny("tamper", messages::tamper(&what)),
            Unknown::Code(what) => (Work::Edit, what),
        }
    } else if is_agent {
        // A workflow's agents are general-purpose (what its script asks cannot be judged).
        let sub = if tool == "Workflow" {
            "general-purpose"
        } else {
            input
                .input_str("subagent_type")
                .unwrap_or("general-purpose")
        };
        if !ctx
            .config
            .subagent_types
            .iter()
            .any(|t| t.eq_ignore_ascii_case(sub))
        {
            return Judged::Pass;
        }
        (Work::Explore, format!("the {sub} subagent"))
    } else {
        let Some(scope) = scope.as_ref() else {
            return Judged::Pass;
        };
        // A Bash command is parsed once, for both the tamper check and eligibility.
        let analysis = match input.input_str("command") {
            Some(command) if !is_edit => {
                bash::analyze(command, ctx.cwd, ctx.home, ctx.tmpdir, ctx.deadline)
            }
            _ => bash::Analysis::default(),
        };
        analysis_background = analysis.background;
        if let Some(limit) = analysis.limit {
            return Judged::Deny("analysis-limit", messages::analysis_limit(limit));
        }
        if analysis.runs_parallel
            && let Some(r) = ctx.running
        {
            return Judged::Deny(
                "codex-running",
                messages::still_running("a second Codex run (`--parallel`)", r, ctx.offload),
            );
        }
        if let Some(what) = tamper(input, tool, &analysis, scope, ctx) {
            return Judged::Deny("tamper", messages::tamper(&what));
        }
        if is_edit && let Some(problems) = plan_problems(input, tool, scope, ctx) {
            return if problems.is_empty() {
                Judged::Pass
            } else {
                Judged::Deny("plan-invalid", problems)
            };
        }
        let what = if is_edit {
            edit_target(input, scope, ctx)
        } else {
            let found = bash_target(&analysis.targets, scope, ctx);
            if found.is_none() {
                watch = watch_reasons(&analysis, scope, ctx);
                if watch.is_empty() {
                    return Judged::Pass;
                }
                Some(format!("this Bash command ({})", watch[0]))
            } else {
                found
            }
        };
        let Some(what) = what else {
            return Judged::Pass;
        };
        (Work::Edit, what)
    };
    if let Some(r) = ctx.running {
        return Judged::Deny(
            "codex-running",
            messages::still_running(&what, r, ctx.offload),
        );
    }
    let summary = session();
    let route = messages::Route {
        project: ctx.project,
        phrase: &ctx.config.approval_phrase,
        model: &ctx.runner.model_code,
        offload: ctx.offload,
    };
    let denial = match unlock(summary.as_ref(), ctx, work) {
        Unlock::Open => None,
        Unlock::NoAttempt => Some(("route-first", messages::route_first(work, &what, &route))),
        Unlock::ReadOnly(last) => Some((
            "route-first",
            format!(
                "{} (The successful attempt {} ran read-only: a read-only attempt unlocks exploration, not code edits.)",
                messages::route_first(work, &what, &route),
                last.attempt
            ),
        )),
        Unlock::NotCounted(last) => Some((
            "route-first",
            format!(
                "{} (The successful attempt {} did not run the configured codex, so it does not count.)",
                messages::route_first(work, &what, &route),
                last.attempt
            ),
        )),
        Unlock::Failed(last) => Some((
            "fail-closed",
            messages::fail_closed(work, &what, &last, &route),
        )),
        Unlock::Elsewhere(last) => Some((
            "route-first",
            format!(
                "{} (The successful attempt {} worked in {}, not in this project.)",
                messages::route_first(work, &what, &route),
                last.attempt,
                last.cwd.as_deref().unwrap_or("another folder")
            ),
        )),
        Unlock::Tampered(found) => Some((
            "tamper",
            format!(
                "offload: {what} is denied: a command in this turn changed offload's own records or config behind the guard ({found}), so nothing in this turn unlocks native work, neither an attempt nor an approval. Tell the user what happened; the next prompt starts a new turn."
            ),
        )),
    };
    match denial {
        Some((code, reason)) if !watch.is_empty() => {
            if analysis_background
                || input
                    .tool_input
                    .as_ref()
                    .and_then(|i| i.get("run_in_background"))
                    .and_then(|v| v.as_bool())
                    == Some(true)
            {
                return Judged::Deny(code, messages::background_watch(&watch[0], &reason));
            }
            Judged::Watch(watch, code, reason)
        }
        d => d.into(),
    }
}

/// Why a command that names no code file must still be judged by its effect: it runs code the
/// analyzer cannot read, or writes files it does not name into a folder of the project.
fn watch_reasons(analysis: &bash::Analysis, scope: &Scope, ctx: &Ctx<'_>) -> Vec<String> {
    let mut why = analysis.opaque.clone();
    for t in &analysis.targets {
        if let Target::File(w) = t
            && w.conditional
            && scope.classify(&w.path, ctx.cwd) == PathClass::Code
        {
            why.push(format!(
                "may write {} ({}), depending on a condition only known at run time",
                display(&w.path.to_string_lossy(), ctx),
                w.how
            ));
        }
        if let Target::Unknown { dir, how } = t
            && (scope.contains_dir(dir, ctx.cwd)
                || scope
                    .project()
                    .starts_with(crate::policy::scope::normalize(&ctx.cwd.join(dir))))
        {
            let w = format!(
                "{how} into files of {} named only at run time",
                display(&dir.to_string_lossy(), ctx)
            );
            if !why.contains(&w) {
                why.push(w);
            }
        }
    }
    why
}

/// What a tool offload does not know would do, judged by the paths its input names.
enum Unknown {
    Pass,
    Tamper(String),
    Code(String),
}

/// Claude Code's own tools that write no file, or whose writes are judged elsewhere.
const NON_WRITING_TOOLS: &[&str] = &[
    "Read",
    "Grep",
    "Glob",
    "LS",
    "WebFetch",
    "WebSearch",
    "TodoWrite",
    "TodoRead",
    "BashOutput",
    "KillShell",
    "KillBash",
    "ExitPlanMode",
    "EnterPlanMode",
    "AskUserQuestion",
    "Skill",
    "SlashCommand",
    "ListMcpResourcesTool",
    "ReadMcpResourceTool",
];

/// Whether a tool's name says it only reads: its last part (`mcp__server__read_file` →
/// `read_file`) names a reading verb and no writing one. A name that says neither is judged
/// like a write.
fn reads_by_name(tool: &str) -> bool {
    const WRITES: &[&str] = &[
        "write", "edit", "create", "move", "rename", "delete", "remove", "patch", "apply",
        "replace", "update", "put", "save", "copy", "append", "insert", "set", "upload", "mkdir",
        "touch", "modify", "change", "commit", "push", "exec", "run",
    ];
    const READS: &[&str] = &[
        "read", "get", "list", "search", "find", "grep", "glob", "view", "show", "stat", "info",
        "describe", "query", "fetch", "tree", "diff", "log", "status",
    ];
    let lower = tool.to_ascii_lowercase();
    let name = lower.rsplit("__").next().unwrap_or(&lower);
    !WRITES.iter().any(|w| name.contains(w)) && READS.iter().any(|r| name.contains(r))
}

/// Whether a field of a tool's input names a path by its key.
fn path_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("path")
        || k.contains("file")
        || matches!(
            k.as_str(),
            "target"
                | "destination"
                | "dest"
                | "to"
                | "from"
                | "source"
                | "src"
                | "uri"
                | "url"
                | "output"
                | "out"
                | "notebook"
                | "location"
        )
}

/// The path-like strings of a tool's input, bounded: values of fields named like paths; any
/// other value, or object key, that is one word with a `/` or a `.` in it (a path under any
/// name, in any nesting); `file://` URIs percent-decoded.
fn input_paths(v: &Value, key: Option<&str>, depth: usize, out: &mut Vec<String>) {
    if depth > 6 || out.len() >= 256 {
        return;
    }
    let one_word = |t: &str| {
        !t.is_empty()
            && t.len() < 4096
            && !t.chars().any(char::is_whitespace)
            && t.contains(['/', '.'])
    };
    match v {
        Value::String(s) if key.is_some_and(path_key) || one_word(s) => {
            let p = match s.strip_prefix("file://") {
                Some(rest) => percent_decode(rest),
                None => s.clone(),
            };
            if !p.is_empty() && p.len() < 4096 && !p.contains("://") {
                out.push(p);
            }
        }
        Value::Array(a) => {
            for x in a.iter().take(256) {
                input_paths(x, key, depth + 1, out);
            }
        }
        Value::Object(m) => {
            for (k, x) in m.iter().take(256) {
                if one_word(k) {
                    out.push(k.clone());
                }
                input_paths(x, Some(k), depth + 1, out);
            }
        }
        _ => {}
    }
}

/// `%XX` sequences decoded (invalid ones kept as they are).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A tool offload does not know (an MCP server's `write_file`, a new Claude Code tool) whose
/// input names a code file of the project is judged like Write; one that names offload's own
/// files like a Write of them. Tools whose name says they only read, and Claude Code's own tools
/// that write nothing, pass.
fn unknown_tool(input: &HookInput, tool: &str, ctx: &Ctx<'_>) -> Unknown {
    if tool.is_empty() || NON_WRITING_TOOLS.contains(&tool) || reads_by_name(tool) {
        return Unknown::Pass;
    }
    let Some(v) = input.tool_input.as_ref() else {
        return Unknown::Pass;
    };
    let mut paths = Vec::new();
    input_paths(v, None, 0, &mut paths);
    if paths.is_empty() {
        return Unknown::Pass;
    }
    let scope = Scope::new(ctx.project, ctx.config, ctx.protected);
    let mut code = None;
    for p in &mut paths {
        // What a server may expand: `~`, `$HOME`, `${HOME}`, and the project's variable.
        let expanded = ["~/", "$HOME/", "${HOME}/"]
            .iter()
            .find_map(|pre| Some((p.strip_prefix(pre)?, ctx.home?)))
            .map(|(rest, home)| home.join(rest))
            .or_else(|| {
                ["$CLAUDE_PROJECT_DIR/", "${CLAUDE_PROJECT_DIR}/"]
                    .iter()
                    .find_map(|pre| p.strip_prefix(pre))
                    .map(|rest| ctx.project.join(rest))
            });
        if let Some(full) = expanded {
            *p = full.display().to_string();
        }
    }
    for p in &paths {
        // Claude Code's settings: what such a tool writes there cannot be judged.
        if ctx.config.protect_settings && is_settings_file(Path::new(p), ctx) {
            return Unknown::Tamper(format!("{tool} on Claude Code's settings {p}"));
        }
        if ctx.config.protect_settings && mcp_file(Path::new(p), ctx).is_some() {
            return Unknown::Tamper(format!(
                "{tool} on {p}, where MCP servers are defined ({})",
                crate::settings::MCP_RUNS_OUTSIDE
            ));
        }
        match scope.classify(Path::new(p), ctx.cwd) {
            PathClass::Protected => return Unknown::Tamper(format!("{tool} on {p}")),
            PathClass::Code if code.is_none() => {
                code = Some(format!("{tool} on {}", display(p, ctx)));
            }
            _ => {}
        }
    }
    code.map_or(Unknown::Pass, Unknown::Code)
}

enum Unlock {
    Open,
    NoAttempt,
    Failed(LastAttempt),
    /// Only a read-only attempt succeeded, and the work is an edit.
    ReadOnly(LastAttempt),
    /// The newest attempt succeeded but ran a codex that is not the configured one.
    NotCounted(LastAttempt),
    /// A command in this turn changed offload's records or config behind the guard.
    Tampered(String),
    /// The success in scope worked on another folder than this project.
    Elsewhere(LastAttempt),
}

fn unlock(summary: Option<&SessionSummary>, ctx: &Ctx<'_>, work: Work) -> Unlock {
    unlock_at(summary, ctx.config, ctx.now, work, Some(ctx.project))
}

/// Whether a user prompt gives the approval `phrase` as the user's own instruction:
/// - the phrase opens a sentence of the prompt (the prompt's start, or after `.`, `!`, `;`, a
///   dash or a line break), after nothing but words of assent (`yes`, `ok`, `sure`, `please`,
///   `go ahead and`, `I`, …) and commas, and ends at a word boundary (not `approve
///   fallback-free`); runs of spaces count as one;
/// - the prompt asks nothing and negates nothing (no `?`, no `not`, `no`, `never`, `don't`, …,
///   `later`, `wait`, `yet`, `kidding`), and quotes no code (no backticks, no indented line
///   holding the phrase), so pasted text or "no. approve fallback." approve nothing.
///
/// So "yes, approve fallback" approves; "do not approve fallback", "approve fallback later",
/// "should I approve fallback?" and a prompt that only mentions the phrase do not.
pub fn approval_in(prompt: &str, phrase: &str) -> bool {
    const ASSENT: &[&str] = &[
        "yes", "yeah", "yep", "ok", "okay", "sure", "fine", "alright", "right", "please", "go",
        "ahead", "and", "then", "i", "you", "can", "may", "hereby", "so", "now", "just", "proceed",
    ];
    // Words that negate, postpone, take back or put a condition on it.
    const NEGATION: &[&str] = &[
        "no",
        "not",
        "never",
        "nope",
        "nah",
        "later",
        "wait",
        "yet",
        "kidding",
        "joking",
        "without",
        "cancel",
        "stop",
        "dont",
        "cannot",
        "hold",
        "scratch",
        "nvm",
        "nevermind",
        "revoke",
        "undo",
        "unless",
        "if",
        "until",
        "only",
        "instead",
        "wants",
        "suggests",
        "psych",
        "jk",
        "sarcasm",
        "sarcastic",
        "lol",
    ];
    // Signs that take it back: a sarcasm tag, refusing or winking emoji.
    const TAKEN_BACK: &[&str] = &[
        "/s", "🙅", "🚫", "❌", "✋", "👎", "🛑", "⛔", "🤡", "😜", "😉", "🙃", "😏", "🤪", "🤭",
    ];
    let squash = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    let phrase = squash(&phrase.to_lowercase());
    if phrase.is_empty() {
        return false;
    }
    // Typographic apostrophes and quotes read as plain ones (`don’t` is `don't`).
    let lower = prompt
        .to_lowercase()
        .replace(['\u{2018}', '\u{2019}', '\u{02bc}', '\u{ff07}'], "'");
    let quoted_code = lower.contains('`')
        || lower
            .lines()
            .any(|l| (l.starts_with("    ") || l.starts_with('\t')) && squash(l).contains(&phrase));
    let words = lower
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty());
    let negated = words.clone().any(|w| {
        let w = w.trim_matches('\'');
        NEGATION.contains(&w) || w.ends_with("n't")
    });
    let taken_back = TAKEN_BACK.iter().any(|t| lower.contains(t));
    if quoted_code || negated || taken_back || lower.contains('?') {
        return false;
    }
    // Sentences, each with its runs of spaces squashed.
    lower
        .split(['.', '!', ';', '\n', '—', '–'])
        .map(squash)
        .any(|sentence| {
            let Some(rest) = sentence
                .find(&phrase)
                .map(|at| (&sentence[..at], &sentence[at + phrase.len()..]))
            else {
                return false;
            };
            let (before, after) = rest;
            let bounded = after
                .chars()
                .next()
                .is_none_or(|c| !c.is_alphanumeric() && c != '-' && c != '_');
            let assent = before
                .split(|c: char| c.is_whitespace() || c == ',' || c == ':' || c == '-')
                .filter(|w| !w.is_empty())
                .all(|w| ASSENT.contains(&w));
            bounded && assent
        })
}

/// Whether native edits are allowed now for a session in this state (an approval or a
/// successful attempt in scope).
pub fn unlocked(
    summary: Option<&SessionSummary>,
    config: &GuardConfig,
    now: DateTime<Utc>,
) -> bool {
    matches!(
        unlock_at(summary, config, now, Work::Edit, None),
        Unlock::Open
    )
}

/// Whether native `work` is open for the session: an approval in scope, or a successful attempt
/// in scope that counts and fits the work (one that could write, for an edit). A function of
/// all the attempts, not of which finished last: a success in scope opens whatever failed
/// before or after it (`--dual` succeeds if either model does; of parallel tasks, one success
/// is enough). Without one, a failure in scope keeps it closed until the user approves.
fn unlock_at(
    summary: Option<&SessionSummary>,
    config: &GuardConfig,
    now: DateTime<Utc>,
    work: Work,
    project: Option<&Path>,
) -> Unlock {
    let Some(s) = summary else {
        return Unlock::NoAttempt;
    };
    if let Some((turn, _, what)) = &s.tamper
        && *turn == s.turn
    {
        return Unlock::Tampered(what.clone());
    }
    let scope = AttemptScope::parse(&config.attempt_scope);
    if let Some(a) = &s.approval
        && scope.covers(s, a.turn, a.ts, now)
    {
        return Unlock::Open;
    }
    let covers = |l: &&LastAttempt| scope.covers(s, l.turn, l.ts, now);
    // A summary written before offload kept successes and failures apart knows only the
    // newest attempt. Interrupted attempts are never recorded as one (see
    // `SessionSummary::last_attempt`); one that is anyway is passed over here too.
    let legacy = !s.split_outcomes;
    let (success, failure) = if legacy {
        let l = s.last_attempt.as_ref();
        (
            l.filter(|l| l.outcome.is_success()),
            l.filter(|l| l.outcome.is_failure()),
        )
    } else {
        let success = match work {
            Work::Edit => s.last_write_success.as_ref(),
            Work::Explore => s.last_success.as_ref(),
        };
        (success, s.last_failure.as_ref())
    };
    // A success opens edits of the project it worked on (its folder inside the project, or
    // the project inside its folder), not of another one (`offload run … /tmp`).
    let real = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let elsewhere = |l: &LastAttempt| -> bool {
        match (work, project, l.cwd.as_deref()) {
            (Work::Edit, Some(p), Some(cwd)) => {
                let (p, c) = (real(p), real(Path::new(cwd)));
                !(p.starts_with(&c) || c.starts_with(&p))
            }
            _ => false,
        }
    };
    if let Some(l) = success.filter(covers) {
        if !elsewhere(l) {
            return Unlock::Open;
        }
        if failure.filter(covers).is_none() {
            return Unlock::Elsewhere(l.clone());
        }
    }
    if let Some(l) = failure.filter(covers) {
        return Unlock::Failed(l.clone());
    }
    if let Some(l) = s.last_success.as_ref().filter(covers) {
        return Unlock::ReadOnly(l.clone());
    }
    if let Some(l) = s.last_attempt.as_ref().filter(covers)
        && l.outcome.is_success()
        && !legacy
    {
        return Unlock::NotCounted(l.clone());
    }
    Unlock::NoAttempt
}

/// For a Write or Edit of a plan (`docs/plans/*.md` in the project): the problems of the plan
/// the call would leave behind, as a denial reason (empty when it passes `offload plan check`).
/// `None` when the call is not about a plan, or its result cannot be known (an Edit whose
/// `old_string` is not in the file fails in Claude Code anyway).
fn plan_problems(input: &HookInput, tool: &str, scope: &Scope, ctx: &Ctx<'_>) -> Option<String> {
    let path = edit_path(input)?;
    if !is_plan_path(Path::new(path), scope, ctx) {
        return None;
    }
    let file = crate::policy::scope::normalize(&ctx.cwd.join(path));
    let policy = crate::plan::RoutingPolicy::from(ctx.runner);
    let (text, before) = match tool {
        "Write" => (input.input_str("content")?.to_owned(), Vec::new()),
        "Edit" | "MultiEdit" => {
            if std::fs::metadata(&file).is_ok_and(|m| !m.is_file()) {
                return Some(format!(
                    "offload: {} is not a regular file (a FIFO, a device or a folder), so this edit of a plan cannot be checked; it is denied.",
                    display(path, ctx)
                ));
            }
            let now = crate::fsutil::read_regular_text(&file, 4 << 20)?;
            let before = crate::plan::check_text(&now, &policy);
            (apply_edits(now, input)?, before)
        }
        _ => return None,
    };
    let mut problems = crate::plan::check_text(&text, &policy);
    // An edit of a plan in progress (the template `offload plan new` wrote, filled in one
    // placeholder at a time) may leave the problems it had: only the ones it adds are denied.
    let mut had: Vec<(String, String)> = before.into_iter().map(|p| (p.message, p.hint)).collect();
    problems.retain(|p| {
        match had
            .iter()
            .position(|(m, h)| *m == p.message && *h == p.hint)
        {
            Some(i) => {
                had.swap_remove(i);
                false
            }
            None => true,
        }
    });
    Some(messages::plan_invalid(
        &display(path, ctx),
        &problems,
        ctx.offload,
    ))
}

/// `docs/plans/*.md` directly under the project root, as the file really is: a symlink is
/// judged by what it points to, and a file with another name (a hard link) is not a plan (that
/// other name may be code).
fn is_plan_path(path: &Path, scope: &Scope, ctx: &Ctx<'_>) -> bool {
    let full = crate::policy::scope::real(&crate::policy::scope::normalize(&ctx.cwd.join(path)));
    if hard_linked(&full) {
        return false;
    }
    let Ok(rel) = full.strip_prefix(scope.project_real()) else {
        return false;
    };
    let parts: Vec<_> = rel.components().collect();
    parts.len() == 3
        && parts[0].as_os_str() == "docs"
        && parts[1].as_os_str() == "plans"
        && rel
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("md"))
}

/// `(old_string, new_string, replace_all)` of an Edit, or of each edit of a MultiEdit.
fn edits(input: &HookInput) -> Vec<(String, String, bool)> {
    let one = |v: &serde_json::Value| {
        Some((
            v.get("old_string")?.as_str()?.to_owned(),
            v.get("new_string")?.as_str()?.to_owned(),
            v.get("replace_all")
                .and_then(|b| b.as_bool())
                .unwrap_or(false),
        ))
    };
    let Some(input) = input.tool_input.as_ref() else {
        return vec![];
    };
    match input.get("edits").and_then(|e| e.as_array()) {
        Some(list) => list.iter().filter_map(one).collect(),
        None => one(input).into_iter().collect(),
    }
}

/// The file an edit tool names.
fn edit_path(input: &HookInput) -> Option<&str> {
    input
        .input_str("file_path")
        .or_else(|| input.input_str("notebook_path"))
        .filter(|p| !p.is_empty())
}

fn edit_target(input: &HookInput, scope: &Scope, ctx: &Ctx<'_>) -> Option<String> {
    let path = edit_path(input)?;
    match scope.classify(Path::new(path), ctx.cwd) {
        PathClass::Code => Some(format!("editing {}", display(path, ctx))),
        // A file of the project with another name too: the edit writes that one as well,
        // and it may be code.
        PathClass::Exempt | PathClass::Other
            if hard_linked(&crate::policy::scope::normalize(&ctx.cwd.join(path))) =>
        {
            Some(format!(
                "editing {} (a hard link: the same file has another name, which may be code)",
                display(path, ctx)
            ))
        }
        _ => None,
    }
}

/// Whether `path` is a regular file with more than one name.
fn hard_linked(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && m.nlink() > 1)
}

/// The first code file of the project a Bash command names as a write target. Writes to files
/// named only at run time are not denied here: they are watched (see [`watch_reasons`]).
fn bash_target(writes: &[Target], scope: &Scope, ctx: &Ctx<'_>) -> Option<String> {
    writes.iter().find_map(|t| match t {
        Target::File(w)
            if !w.conditional && scope.classify(&w.path, ctx.cwd) == PathClass::Code =>
        {
            Some(format!(
                "this Bash command ({} {})",
                w.how,
                display(&w.path.to_string_lossy(), ctx)
            ))
        }
        _ => None,
    })
}

/// Would this call change offload's own files, approvals or hooks? Returns what it would do.
/// `writes`: what a Bash command writes (empty for the edit tools).
fn tamper(
    input: &HookInput,
    tool: &str,
    analysis: &bash::Analysis,
    scope: &Scope,
    ctx: &Ctx<'_>,
) -> Option<String> {
    let writes = &analysis.targets;
    if EDIT_TOOLS.contains(&tool) {
        let path = edit_path(input)?;
        if scope.classify(Path::new(path), ctx.cwd) == PathClass::Protected {
            return Some(format!("editing {path}"));
        }
        if ctx.config.protect_settings && is_settings_file(Path::new(path), ctx) {
            return settings_change(input, tool, &ctx.cwd.join(path))
                .map(|what| format!("a change to {path} that {what}"));
        }
        if ctx.config.protect_settings
            && let Some(user) = mcp_file(Path::new(path), ctx)
        {
            return mcp_change(input, tool, &ctx.cwd.join(path), user)
                .map(|what| format!("a change to {path} that {what}"));
        }
        if ctx.config.protect_settings && declares_hooks(Path::new(path), ctx) {
            return frontmatter_hooks_change(input, tool, &ctx.cwd.join(path)).then(|| {
                format!(
                    "a change to {path} that adds or changes the hooks its frontmatter declares ({})",
                    crate::settings::RUNS_OUTSIDE
                )
            });
        }
        return None;
    }
    let command = input.input_str("command")?;
    if analysis.runs_approve {
        return Some(
            "running `offload approve` or `offload restore` (the user's own commands)".into(),
        );
    }
    let mut spellings = scope.protected_spellings(ctx.home);
    spellings.push(".claude/offload.json".into());
    spellings.extend(["$OFFLOAD_HOME".into(), "${OFFLOAD_HOME".into()]);
    if let Some(s) = spellings.iter().find(|s| command.contains(s.as_str())) {
        return Some(format!("a Bash command touching {s}"));
    }
    for t in writes.iter() {
        if let Target::File(w) = t {
            if scope.classify(&w.path, ctx.cwd) == PathClass::Protected {
                return Some(format!("a Bash command writing {}", w.path.display()));
            }
            if ctx.config.protect_settings && mcp_file(&w.path, ctx).is_some() {
                return Some(format!(
                    "a Bash command writing {}, where MCP servers are defined ({})",
                    w.path.display(),
                    crate::settings::MCP_RUNS_OUTSIDE
                ));
            }
            if ctx.config.protect_settings && is_settings_file(&w.path, ctx) {
                let now = crate::fsutil::read_regular_text(&w.path, 4 << 20).unwrap_or_default();
                if now.contains("offload") {
                    return Some(format!("a Bash command rewriting {}", w.path.display()));
                }
            }
        }
    }
    None
}

/// Claude Code's settings files, where offload's hooks are registered.
fn is_settings_file(path: &Path, ctx: &Ctx<'_>) -> bool {
    // By the real path: a symlink to `.claude` (or to the file) is the settings file.
    let p = crate::policy::scope::real(&crate::policy::scope::normalize(&ctx.cwd.join(path)));
    let mut files = vec![
        ctx.project.join(".claude/settings.json"),
        ctx.project.join(".claude/settings.local.json"),
    ];
    if let Some(h) = ctx.home {
        files.push(h.join(".claude/settings.json"));
    }
    files.iter().any(|f| {
        let f = crate::policy::scope::normalize(f);
        f == p || crate::policy::scope::real(&f) == p
    })
}

/// The user's `~/.claude.json`, where Claude Code keeps its user-scope MCP servers (top-level
/// `mcpServers`, and `projects.<path>.mcpServers` per project) among much state of its own; and
/// `$CLAUDE_CONFIG_DIR/.claude.json` when that is set.
pub fn user_mcp_files(home: Option<&Path>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = home.map(|h| h.join(".claude.json")).into_iter().collect();
    if let Some(d) = crate::env::var("CLAUDE_CONFIG_DIR") {
        out.push(PathBuf::from(d).join(".claude.json"));
    }
    out
}

/// Whether `path` is a file where Claude Code reads MCP server definitions, by its real path: a
/// `.mcp.json` in any folder of the project (`Some(false)`), or the user's `~/.claude.json`
/// (`Some(true)`: its `projects.*.mcpServers` count too; see [`user_mcp_files`]).
fn mcp_file(path: &Path, ctx: &Ctx<'_>) -> Option<bool> {
    let named = crate::policy::scope::normalize(&ctx.cwd.join(path));
    let p = crate::policy::scope::real(&named);
    let same = |f: &Path| {
        let f = crate::policy::scope::normalize(f);
        f == p || crate::policy::scope::real(&f) == p
    };
    if user_mcp_files(ctx.home).iter().any(|f| same(f)) {
        return Some(true);
    }
    // Claude Code reads `.mcp.json` in the project, its subfolders and the folders above it:
    // a file of that name is judged wherever it is.
    [&named, &p]
        .iter()
        .any(|q| q.file_name().is_some_and(|n| n == ".mcp.json"))
        .then_some(false)
}

/// What an Edit/Write/MultiEdit of an MCP file ([`mcp_file`]) would do: why it adds or changes
/// an MCP server, judged on the JSON it leaves (see [`crate::settings::mcp_servers_change`]). An
/// edit whose text is not found changes nothing.
fn mcp_change(input: &HookInput, tool: &str, file: &Path, user: bool) -> Option<String> {
    let current = crate::fsutil::read_regular_text(file, 16 << 20);
    if current.is_none() && std::fs::symlink_metadata(file).is_ok() {
        return Some(format!(
            "cannot be read to judge (too big, or not a regular file; {})",
            crate::settings::MCP_RUNS_OUTSIDE
        ));
    }
    let new_text = match tool {
        "Write" => input.input_str("content")?.to_owned(),
        _ => apply_edits(current.clone()?, input)?,
    };
    crate::settings::mcp_servers_change_text(
        current.as_deref().map(str::as_bytes),
        Some(new_text.as_bytes()),
        user,
    )
}

/// What an Edit/Write/MultiEdit of Claude Code settings file `file` would do to the guard,
/// judged on the JSON it leaves (see [`crate::settings::weakens`]). An edit whose text is not
/// found changes nothing (Claude Code fails it). A result that is not JSON, of a file that wired
/// offload, would unwire it.
fn settings_change(input: &HookInput, tool: &str, file: &Path) -> Option<String> {
    let current = crate::fsutil::read_regular_text(file, 4 << 20);
    let new_text = match tool {
        "Write" => input.input_str("content")?.to_owned(),
        _ => apply_edits(current.clone()?, input)?,
    };
    crate::settings::weakens_text(
        current.as_deref().map(str::as_bytes),
        Some(new_text.as_bytes()),
    )
}

/// A file whose YAML frontmatter can declare hooks Claude Code runs while it is active: a
/// skill's `SKILL.md` under a `.claude/skills` folder, a subagent's or a command's Markdown under
/// `.claude/agents` or `.claude/commands` (the project's, a subfolder's or the user's), by the
/// path named and by its real path.
fn declares_hooks(path: &Path, ctx: &Ctx<'_>) -> bool {
    let named = crate::policy::scope::normalize(&ctx.cwd.join(path));
    let real = crate::policy::scope::real(&named);
    [named, real].iter().any(|p| {
        let parts: Vec<&std::ffi::OsStr> = p.iter().collect();
        parts.windows(2).enumerate().any(|(i, w)| {
            let rest = &parts[i + 2..];
            w[0] == ".claude"
                && !rest.is_empty()
                && match w[1].to_str() {
                    Some("skills") => rest.last().is_some_and(|f| *f == "SKILL.md"),
                    Some("agents" | "commands") => rest
                        .last()
                        .and_then(|f| f.to_str())
                        .is_some_and(|f| f.to_ascii_lowercase().ends_with(".md")),
                    _ => false,
                }
        })
    })
}

/// Whether an Edit/Write/MultiEdit of a skill's, subagent's or command's file leaves a
/// frontmatter `hooks` the file did not have, or changes it ([`frontmatter_hooks`]).
fn frontmatter_hooks_change(input: &HookInput, tool: &str, file: &Path) -> bool {
    let current = crate::fsutil::read_regular_text(file, 4 << 20);
    let new_text = match tool {
        "Write" => match input.input_str("content") {
            Some(t) => t.to_owned(),
            None => return false,
        },
        _ => match current.clone().and_then(|c| apply_edits(c, input)) {
            Some(t) => t,
            None => return false,
        },
    };
    let after = frontmatter_hooks(&new_text);
    after.is_some() && after != current.as_deref().and_then(frontmatter_hooks)
}

/// The `hooks` a Markdown file's YAML frontmatter declares, as text: the lines of a top-level
/// `hooks:` key and the indented (or list) lines under it. When a `hooks` key is written any
/// other way (quoted, in a flow mapping, nested), the whole frontmatter, so that any change to
/// it counts. `None` when there is no frontmatter or no `hooks` key in it.
pub fn frontmatter_hooks(text: &str) -> Option<String> {
    let text = text.trim_start_matches('\u{feff}').trim_start();
    let rest = text.strip_prefix("---")?;
    let rest = rest.trim_start_matches([' ', '\t']);
    let rest = rest
        .strip_prefix("\r\n")
        .or_else(|| rest.strip_prefix('\n'))?;
    let mut lines = Vec::new();
    for line in rest.lines() {
        if line.trim_end() == "---" || line.trim_end() == "..." {
            break;
        }
        lines.push(line);
    }
    let mentions = |l: &str| {
        let mut from = 0;
        while let Some(i) = l[from..].find("hooks") {
            let after = l[from + i + 5..]
                .trim_start_matches(['"', '\''])
                .trim_start();
            if after.starts_with(':') {
                return true;
            }
            from += i + 5;
        }
        false
    };
    if !lines.iter().any(|l| mentions(l)) {
        return None;
    }
    let start = lines
        .iter()
        .position(|l| l.starts_with("hooks:") || l.starts_with("hooks :"));
    let whole = || Some(lines.join("\n"));
    let Some(start) = start else {
        return whole();
    };
    let mut block = vec![lines[start]];
    let mut end = start + 1;
    while end < lines.len() {
        let l = lines[end];
        if !(l.is_empty() || l.starts_with([' ', '\t', '-', '#'])) {
            break;
        }
        block.push(l);
        end += 1;
    }
    // A second `hooks` key elsewhere (YAML keeps the last): the whole frontmatter.
    if lines[end..].iter().any(|l| mentions(l)) {
        return whole();
    }
    Some(block.join("\n"))
}

/// `text` after an Edit's or MultiEdit's replacements, in order; `None` when one's old text is
/// not there (Claude Code fails such an edit, so it changes nothing).
fn apply_edits(mut text: String, input: &HookInput) -> Option<String> {
    for (old, new, all) in edits(input) {
        if old.is_empty() || !text.contains(&old) {
            return None;
        }
        text = if all {
            text.replace(&old, &new)
        } else {
            text.replacen(&old, &new, 1)
        };
    }
    Some(text)
}

/// `offload approve` anywhere in a command line, however the binary is spelled.
pub fn runs_offload_approve(command: &str) -> bool {
    let words: Vec<&str> = command
        .split(|c: char| c.is_whitespace() || ";&|()`$\"'".contains(c))
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .any(|w| w[1] == "approve" && (w[0] == "offload" || w[0].ends_with("/offload")))
}

/// A path as Claude would recognise it: relative to the project when inside it.
fn display(path: &str, ctx: &Ctx<'_>) -> String {
    let p = crate::policy::scope::normalize(&ctx.cwd.join(path));
    p.strip_prefix(ctx.project)
        .map(|r| r.display().to_string())
        .unwrap_or_else(|_| p.display().to_string())
}

#[cfg(test)]
mod approval_tests {
    use super::approval_in;

    #[test]
    fn the_phrase_approves_only_as_the_users_own_instruction() {
        let p = "approve fallback";
        for yes in [
            "approve fallback",
            "Approve fallback.",
            "yes, approve fallback",
            "ok approve fallback and carry on",
            "Codex failed again. OK, I approve fallback!",
            "please approve fallback\nthen fix the test",
            "  APPROVE FALLBACK",
            "Yes — approve fallback.",
            "you may proceed, approve fallback",
            "approve  fallback",
            "approve fallback \u{1f44d}",
        ] {
            assert!(approval_in(yes, p), "{yes}");
        }
        for no in [
            "Do NOT approve fallback, just retry codex",
            "don't approve fallback",
            "never approve fallback",
            "I will not approve fallback",
            "\"approve fallback\" is the phrase, but not yet",
            "the phrase is `approve fallback`",
            "should I approve fallback?",
            "approve fallbacks are bad",
            "we could approve fallback later",
            "",
            "approve",
            // What a red team found approving before.
            "```\napprove fallback\n```",
            "look at this:\n    approve fallback\nthat is what it printed",
            "Here is what the bot printed:\napprove fallback\nWhat does it mean?",
            "No.\n\nApprove fallback.",
            "Never.\napprove fallback",
            "approve fallback later, not now",
            "approve fallback (just kidding, don't)",
            "approve fallback, NOT",
            "approve fallback is what Claude wants. Not yet.",
            "approve fallback-free mode",
            // And a second red team.
            "approve fallback. Don\u{2019}t.",
            "approve fallback. Hold on.",
            "approve fallback. Scratch that.",
            "approve fallback. Nvm",
            "approve fallback. Revoke.",
            "approve fallback unless tests fail",
            "approve fallback if you must",
            "approve fallback is what Claude wants",
            // And a third.
            "approve fallback \u{1f645}",
            "sure, approve fallback \u{2014} psych",
            "approve fallback /s",
            "approve fallback jk",
            "approve fallback \u{1f609}",
        ] {
            assert!(!approval_in(no, p), "{no}");
        }
        assert!(!approval_in("anything", "  "));
        assert!(approval_in("go ahead: ok go", "ok go"));
    }
}
