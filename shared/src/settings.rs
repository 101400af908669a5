//! Wiring offload into Claude Code's `settings.json`, and taking it out again, as pure functions
//! over JSON values (`offload setup` and `offload uninstall` do the reading and writing).
//!
//! Why this is more than "insert a few hooks": a user's settings file holds their permissions,
//! env, other hooks and statusline, and Claude Code keeps adding keys. Setup must touch nothing
//! else, running it twice must change nothing, and uninstall must give back the value setup
//! started from, even after the user edited the file in between. So:
//!
//! - **Ours is recognised by the program**: a hook entry whose command runs a file named
//!   [`HOOK_BIN`], a statusline whose command runs [`STATUSLINE_BIN`]. That survives reinstalls
//!   to another prefix and any edit the user makes around our entries.
//! - **Setup adds its own matcher groups** (one per event) instead of inserting into the user's
//!   groups, so removing them leaves the user's groups exactly as they were. An entry of ours
//!   found elsewhere (a hand-made registration) is adopted: moved into our group.
//! - **What cannot be recognised is recorded** in a [`Record`]: which containers (`hooks`, an
//!   event array) setup created, so uninstall removes them only if they are empty again, and the
//!   statusLine that setup replaced.
//! - **A previous statusline is wrapped, not replaced**: `offload-statusline --wrap '<theirs>'`,
//!   keeping every other key of theirs, so uninstall can restore it even without the record.
//!
//! [`to_pretty`] writes the result in the key order of the file it came from (serde_json here
//! is built without `preserve_order`), so a user's file is not reshuffled by setup.

use crate::shell::{quote, single_quote};
use std::cmp::Ordering;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The hook binary's file name: a hook entry running it is offload's.
pub const HOOK_BIN: &str = "offload-hook";

/// The statusline binary's file name: a statusLine running it is offload's.
pub const STATUSLINE_BIN: &str = "offload-statusline";

/// The PreToolUse matcher: the tools the guard watches. `Task` is the old name of `Agent` (still
/// an alias), `Workflow` starts subagents from a script, `MultiEdit` a removed tool that is
/// harmless to name, `mcp__.*` every MCP server's tools (a `write_file` of one is judged like
/// Write).
pub const PRE_TOOL_USE_MATCHER: &str =
    "Edit|Write|NotebookEdit|MultiEdit|Agent|Task|Workflow|Bash|mcp__.*";

/// The statusline's `refreshInterval` (seconds) setup proposes when the user has none: without
/// one, Claude Code runs the statusline only after messages, so nothing moves while a long
/// Codex job runs.
pub const STATUSLINE_REFRESH_SECS: u64 = 10;

/// Seconds Claude Code gives one hook run.
pub const HOOK_TIMEOUT_SECS: u64 = 10;

/// The first Claude Code version that accepts `"onFailure": "block"` on a hook. Older versions
/// validate settings strictly, so the key is written only for this version and later.
pub const ON_FAILURE_SINCE: ClaudeVersion = ClaudeVersion(2, 1, 295);

/// The matcher of the PostToolUse and PostToolUseFailure groups. A Bash command that exits
/// non-zero fires PostToolUseFailure instead of PostToolUse (every version from 2.1.197 on), so
/// the guard needs both to see every command end.
pub const POST_TOOL_USE_MATCHER: &str = "Bash";

/// The hook event Claude Code fires before a skill's inline `` !`cmd` `` runs (2.1.332 and
/// later). Earlier versions run those commands with no hook at all.
pub const PRE_SKILL_SHELL_COMMAND: &str = "PreSkillShellCommand";

/// The first Claude Code version with [`PRE_SKILL_SHELL_COMMAND`].
pub const SKILL_SHELL_SINCE: ClaudeVersion = ClaudeVersion(2, 1, 332);

/// The hook events setup always registers, with the matcher of its group (`None`: no matcher,
/// every source or prompt).
pub const EVENTS: [(&str, Option<&str>); 5] = [
    ("PreToolUse", Some(PRE_TOOL_USE_MATCHER)),
    ("PostToolUse", Some(POST_TOOL_USE_MATCHER)),
    ("PostToolUseFailure", Some(POST_TOOL_USE_MATCHER)),
    ("SessionStart", None),
    ("UserPromptSubmit", None),
];

/// The hook events setup registers only when the installed Claude Code has them: (event,
/// matcher, first version). [`PRE_SKILL_SHELL_COMMAND`] has no matcher: every inline command is
/// judged, whatever tool name a version reports for it (2.1.332 says `Bash`).
pub const VERSIONED_EVENTS: [(&str, Option<&str>, ClaudeVersion); 1] =
    [(PRE_SKILL_SHELL_COMMAND, None, SKILL_SHELL_SINCE)];

/// The event of the review gate, registered only when it is on (`offload setup --review-gate`).
pub const REVIEW_EVENT: &str = "Stop";

/// Seconds Claude Code gives the Stop hook: the longest review the config allows
/// (`guard.review_gate.timeout`, see [`crate::config::limits::REVIEW_TIMEOUT`]) plus a margin
/// for the snapshot, the diff and the runner's own slack, so the hook's own deadlines always end
/// it first, whatever timeout the config names later. (Claude Code takes any positive number;
/// its default is 600.)
pub const STOP_HOOK_TIMEOUT_SECS: u64 = crate::config::limits::REVIEW_TIMEOUT.max.as_secs() + 60;

/// Every event setup manages (and uninstall cleans up), whichever version it was set up for.
pub fn managed_events() -> impl Iterator<Item = &'static str> {
    EVENTS
        .iter()
        .map(|(event, _)| *event)
        .chain(VERSIONED_EVENTS.iter().map(|(event, _, _)| *event))
        .chain(std::iter::once(REVIEW_EVENT))
}

/// The timeout setup writes for `event`'s hook.
pub fn hook_timeout(event: &str) -> u64 {
    if event == REVIEW_EVENT {
        STOP_HOOK_TIMEOUT_SECS
    } else {
        HOOK_TIMEOUT_SECS
    }
}

/// A Claude Code version, `major.minor.patch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClaudeVersion(pub u32, pub u32, pub u32);

impl ClaudeVersion {
    /// The first `X.Y.Z` in `claude --version` output (`2.1.330 (Claude Code)`).
    pub fn parse(output: &str) -> Option<ClaudeVersion> {
        output.split_whitespace().find_map(|word| {
            let mut parts = word.trim_start_matches('v').splitn(3, '.');
            let major = parts.next()?.parse().ok()?;
            let minor = parts.next()?.parse().ok()?;
            let patch: String = parts
                .next()?
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            Some(ClaudeVersion(major, minor, patch.parse().ok()?))
        })
    }

    /// Whether this version accepts `"onFailure": "block"`.
    pub fn supports_on_failure(self) -> bool {
        self >= ON_FAILURE_SINCE
    }

    /// Whether this version fires [`PRE_SKILL_SHELL_COMMAND`].
    pub fn has_skill_shell_hook(self) -> bool {
        self >= SKILL_SHELL_SINCE
    }
}

impl fmt::Display for ClaudeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// What setup wires in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wiring {
    /// Absolute path of `offload-hook`.
    pub hook: String,
    /// Absolute path of `offload-statusline`.
    pub statusline: String,
    /// `Some(true)`: write `"onFailure": "block"`; `Some(false)`: leave it out (older Claude
    /// Code); `None`: the version is unknown, keep whatever our entry already has.
    pub on_failure: Option<bool>,
    /// The installed Claude Code's version, for [`VERSIONED_EVENTS`]: an event is registered
    /// for its version and later, and taken out for an older one; `None` (unknown): none is
    /// added, one of ours already there is kept (and updated).
    pub claude: Option<ClaudeVersion>,
    /// Where the offload plugin is enabled for this settings file (it registers the [`EVENTS`]
    /// hooks itself): setup then adds only what the plugin cannot (the statusline and the
    /// [`VERSIONED_EVENTS`]) and takes its own [`EVENTS`] hooks out, since two would run every
    /// hook twice. `None`: no plugin.
    pub plugin: Option<String>,
    /// Register the review gate's [`REVIEW_EVENT`] hook (the plugin never does; it is off
    /// unless asked for); `false` takes ours out of it.
    pub review_gate: bool,
}

impl Wiring {
    /// The command line of the hook entries (the path, shell-quoted when it needs it).
    pub fn hook_command(&self) -> String {
        quote(&self.hook).into_owned()
    }

    /// The statusline command line, wrapping `theirs` when given.
    pub fn statusline_command(&self, theirs: Option<&str>) -> String {
        match theirs {
            Some(theirs) => format!(
                "{} --wrap {}",
                quote(&self.statusline),
                single_quote(theirs)
            ),
            None => quote(&self.statusline).into_owned(),
        }
    }
}

/// What setup did that uninstall cannot see in the file: kept by `offload setup` next to
/// offload's state, per settings file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Setup created the `hooks` object.
    #[serde(default)]
    pub created_hooks: bool,
    /// Event arrays under `hooks` that setup created.
    #[serde(default)]
    pub created_events: Vec<String>,
    /// The statusLine before setup: `None` when there was none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statusline_before: Option<Saved>,
    /// The statusLine setup wrote: while it is unchanged, uninstall restores
    /// [`Record::statusline_before`] exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statusline_after: Option<Value>,
}

/// A saved JSON value (a wrapper, so that a saved `null` stays distinct from "nothing saved").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Saved {
    pub value: Value,
}

/// The settings file has a shape setup cannot merge into without guessing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapeError {
    /// Where, as a dotted path (`hooks.PreToolUse`); empty for the top level.
    pub at: String,
    /// What was found there, and what was expected.
    pub problem: String,
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.at.is_empty() {
            write!(f, "{}", self.problem)
        } else {
            write!(f, "`{}` {}", self.at, self.problem)
        }
    }
}

impl std::error::Error for ShapeError {}

/// The result of [`merge`].
#[derive(Clone, Debug, PartialEq)]
pub struct Merged {
    pub settings: Value,
    /// What to keep for uninstall (carries forward what an earlier setup recorded).
    pub record: Record,
    /// One line per change, for the user; empty when nothing changed.
    pub changes: Vec<String>,
}

/// The result of [`unmerge`].
#[derive(Clone, Debug, PartialEq)]
pub struct Unmerged {
    pub settings: Value,
    /// One line per change, for the user; empty when nothing changed.
    pub changes: Vec<String>,
    /// Things left as they are that the user may want to know about.
    pub notes: Vec<String>,
}

/// Add offload's hooks and statusline to `settings`. `prev` is what an earlier setup of the
/// same file recorded, if any. Everything else in `settings` is kept as it is.
pub fn merge(
    settings: &Value,
    wiring: &Wiring,
    prev: Option<&Record>,
) -> Result<Merged, ShapeError> {
    let mut root = settings.clone();
    let obj = root.as_object_mut().ok_or_else(|| ShapeError {
        at: String::new(),
        problem: format!("the top level is {}, expected an object", kind(settings)),
    })?;
    let mut record = prev.cloned().unwrap_or_default();
    let mut changes = Vec::new();

    // Hooks.
    if !obj.contains_key("hooks") {
        obj.insert("hooks".into(), Value::Object(Map::new()));
        record.created_hooks = true;
    }
    let hooks = obj
        .get_mut("hooks")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| ShapeError {
            at: "hooks".into(),
            problem: format!("is {}, expected an object", kind(&settings["hooks"])),
        })?;
    let versioned = VERSIONED_EVENTS
        .iter()
        .map(|&(event, matcher, since)| (event, matcher, wiring.claude.map(|v| v >= since)));
    let plugin = wiring.plugin.is_some();
    let all = EVENTS
        .iter()
        .map(|&(event, matcher)| (event, matcher, Some(!plugin)))
        .chain(versioned)
        .chain(std::iter::once((
            REVIEW_EVENT,
            None,
            Some(wiring.review_gate),
        )));
    for (event, matcher, wanted) in all {
        match wanted {
            Some(true) => {}
            Some(false) => {
                // This Claude Code has no such event (it was set up for a newer one), or the
                // plugin runs it: take ours out.
                if take_ours_out(hooks, event, prev, &mut record) {
                    changes.push(if event == REVIEW_EVENT {
                        format!("hooks.{event}: removed offload-hook (the review gate is off)")
                    } else if plugin && EVENTS.iter().any(|(e, _)| *e == event) {
                        format!(
                            "hooks.{event}: removed offload-hook ({} runs it; both would run every hook twice)",
                            wiring.plugin.as_deref().unwrap_or("the offload plugin")
                        )
                    } else {
                        let version = wiring.claude.map(|v| v.to_string()).unwrap_or_default();
                        format!(
                            "hooks.{event}: removed offload-hook (Claude Code {version} has no {event} event)"
                        )
                    });
                }
                continue;
            }
            // Version unknown: add nothing; one of ours already there is updated below.
            None => {
                let ours = hooks
                    .get(event)
                    .and_then(Value::as_array)
                    .is_some_and(|gs| gs.iter().any(|g| group_entries(g).any(is_our_hook)));
                if !ours {
                    continue;
                }
            }
        }
        if !hooks.contains_key(event) {
            hooks.insert(event.into(), Value::Array(Vec::new()));
            if !record.created_events.iter().any(|e| e == event) {
                record.created_events.push(event.into());
            }
        }
        let groups = hooks
            .get_mut(event)
            .and_then(Value::as_array_mut)
            .ok_or_else(|| ShapeError {
                at: format!("hooks.{event}"),
                problem: format!(
                    "is {}, expected an array of matcher groups",
                    kind(&settings["hooks"][event])
                ),
            })?;
        let before = groups.clone();
        merge_event(groups, event, matcher, wiring);
        if *groups != before {
            let had_ours = before.iter().any(|g| group_entries(g).any(is_our_hook));
            let verb = if had_ours { "updated" } else { "added" };
            let what = describe_entry(wiring, event, groups);
            changes.push(match matcher {
                Some(m) => format!("hooks.{event} ({m}): {verb} {what}"),
                None if event == REVIEW_EVENT => {
                    format!("hooks.{event}: {verb} {what}: the review gate")
                }
                None => format!("hooks.{event}: {verb} {what}"),
            });
        }
    }

    // Statusline.
    let current = obj.get("statusLine").cloned();
    let (after, before) = match &current {
        Some(v) if our_statusline(v).is_some() => {
            let theirs = our_statusline(v).flatten();
            let mut after = v.clone();
            if let Some(cmd) = rebuilt_statusline(v, wiring) {
                after["command"] = Value::String(cmd);
            }
            propose_refresh(&mut after);
            let before = match prev {
                Some(p) => p.statusline_before.clone(),
                // No record: what we wrapped is what there was.
                None => theirs.map(|t| {
                    let mut v = v.clone();
                    v["command"] = Value::String(t);
                    Saved { value: v }
                }),
            };
            (after, before)
        }
        Some(v) if wrappable(v).is_some() => {
            let theirs = wrappable(v).unwrap_or_default().to_string();
            let mut after = v.clone();
            after["command"] = Value::String(wiring.statusline_command(Some(&theirs)));
            propose_refresh(&mut after);
            changes.push(format!(
                "statusLine: {} now runs your statusline inside it ({theirs})",
                wiring.statusline
            ));
            (after, Some(Saved { value: v.clone() }))
        }
        other => {
            let after = json!({
                "type": "command",
                "command": wiring.statusline_command(None),
                "padding": 0,
                "refreshInterval": STATUSLINE_REFRESH_SECS,
            });
            changes.push(match other {
                None => format!("statusLine: set to {}", wiring.statusline),
                Some(v) => format!(
                    "statusLine: set to {} (the previous value was not a command statusline; uninstall restores it: {v})",
                    wiring.statusline
                ),
            });
            (after, other.clone().map(|value| Saved { value }))
        }
    };
    if current.as_ref() != Some(&after)
        && current
            .as_ref()
            .is_some_and(|v| our_statusline(v).is_some())
    {
        changes.push(format!(
            "statusLine: updated to {}",
            after["command"].as_str().unwrap_or_default()
        ));
    }
    obj.insert("statusLine".into(), after.clone());
    record.statusline_before = before;
    record.statusline_after = Some(after);

    Ok(Merged {
        settings: root,
        record,
        changes,
    })
}

/// A `refreshInterval` for the statusline, unless it has one (the user's stays).
fn propose_refresh(statusline: &mut Value) {
    if let Some(o) = statusline.as_object_mut()
        && !o.contains_key("refreshInterval")
    {
        o.insert("refreshInterval".into(), json!(STATUSLINE_REFRESH_SECS));
    }
}

/// Remove our entries from `hooks[event]`, and the event's array when it is left empty and
/// setup had created it. Whether anything was removed.
fn take_ours_out(
    hooks: &mut Map<String, Value>,
    event: &str,
    prev: Option<&Record>,
    record: &mut Record,
) -> bool {
    let Some(groups) = hooks.get_mut(event).and_then(Value::as_array_mut) else {
        return false;
    };
    if remove_ours(groups, None) == 0 {
        return false;
    }
    let created = match prev {
        Some(_) => record.created_events.iter().any(|e| e == event),
        None => true,
    };
    if groups.is_empty() && created {
        hooks.remove(event);
        record.created_events.retain(|e| e != event);
    }
    true
}

/// Remove what [`merge`] added: our hook entries in the events setup manages (and the groups and
/// containers that only existed for them), and our statusline, giving back the previous one.
/// Without a record (lost, or from another state folder) containers emptied by the removal are
/// removed too, and a wrapped statusline is unwrapped.
pub fn unmerge(settings: &Value, record: Option<&Record>) -> Result<Unmerged, ShapeError> {
    let mut root = settings.clone();
    let obj = root.as_object_mut().ok_or_else(|| ShapeError {
        at: String::new(),
        problem: format!("the top level is {}, expected an object", kind(settings)),
    })?;
    let mut changes = Vec::new();
    let mut notes = Vec::new();

    let mut removed_any = false;
    if let Some(hooks_value) = obj.get_mut("hooks") {
        let hooks = hooks_value.as_object_mut().ok_or_else(|| ShapeError {
            at: "hooks".into(),
            problem: format!("is {}, expected an object", kind(&settings["hooks"])),
        })?;
        for event in managed_events() {
            let Some(groups) = hooks.get_mut(event).and_then(Value::as_array_mut) else {
                continue;
            };
            let removed = remove_ours(groups, None);
            if removed > 0 {
                removed_any = true;
                changes.push(format!("hooks.{event}: removed offload-hook"));
            }
            let created = match record {
                Some(r) => r.created_events.iter().any(|e| e == event),
                None => removed > 0,
            };
            if groups.is_empty() && created {
                hooks.remove(event);
            }
        }
        for (event, groups) in hooks.iter() {
            if managed_events().any(|e| e == event) {
                continue;
            }
            let ours = groups
                .as_array()
                .is_some_and(|gs| gs.iter().any(|g| group_entries(g).any(is_our_hook)));
            if ours {
                notes.push(format!(
                    "hooks.{event} also runs offload-hook; setup did not add it, so it was left as it is"
                ));
            }
        }
        let created = match record {
            Some(r) => r.created_hooks,
            None => removed_any,
        };
        if hooks.is_empty() && created {
            obj.remove("hooks");
        }
    }

    if let Some(current) = obj.get("statusLine").cloned() {
        if let Some(theirs) = our_statusline(&current) {
            let untouched = record.is_some_and(|r| r.statusline_after.as_ref() == Some(&current));
            let restored = if untouched {
                record
                    .and_then(|r| r.statusline_before.clone())
                    .map(|s| s.value)
            } else if let Some(theirs) = theirs {
                let mut v = current.clone();
                v["command"] = Value::String(theirs);
                // Without a record, the refresh setup proposes is taken for setup's.
                if record.is_none()
                    && v.get("refreshInterval") == Some(&json!(STATUSLINE_REFRESH_SECS))
                    && let Some(o) = v.as_object_mut()
                {
                    o.remove("refreshInterval");
                }
                Some(v)
            } else {
                record
                    .and_then(|r| r.statusline_before.clone())
                    .map(|s| s.value)
            };
            match restored {
                Some(v) => {
                    changes.push(match v.get("command").and_then(Value::as_str) {
                        Some(cmd) => format!("statusLine: restored yours ({cmd})"),
                        None => "statusLine: restored the previous value".to_string(),
                    });
                    obj.insert("statusLine".into(), v);
                }
                None => {
                    changes.push("statusLine: removed offload-statusline".to_string());
                    obj.remove("statusLine");
                }
            }
        } else if record.is_some_and(|r| r.statusline_after.is_some()) {
            notes.push(
                "statusLine was changed since setup and does not run offload-statusline; left as it is"
                    .to_string(),
            );
        }
    }

    Ok(Unmerged {
        settings: root,
        changes,
        notes,
    })
}

/// Whether `settings` has offload's hooks in every event setup always registers ([`EVENTS`]) and
/// its statusline.
pub fn is_wired(settings: &Value) -> bool {
    let hooks_ok = EVENTS.iter().all(|(event, _)| {
        settings["hooks"][event]
            .as_array()
            .is_some_and(|gs| gs.iter().any(|g| group_entries(g).any(is_our_hook)))
    });
    hooks_ok && our_statusline(&settings["statusLine"]).is_some()
}

/// Environment variables a settings file's `env` must not set for a session: they switch the
/// guard off or move its state (`OFFLOAD_*`), change which codex runs and how (`CODEX_*`), feed
/// the session's environment (`CLAUDE_ENV_FILE`, `CLAUDECODE`), load code into the hook or into
/// codex's launcher before either runs ([`loads_code_env`]), move where offload finds its
/// config and state (`HOME`, `XDG_CONFIG_HOME`, `XDG_STATE_HOME`, `XDG_DATA_HOME`), or where a
/// bare `codex` is found (`PATH`), change how Claude Code runs hooks or whether it runs them
/// ([`runs_hooks_env`]), load code into another interpreter ([`interpreter_env`]), or decide
/// what codex loads and where it talks ([`crate::codex::trust::watched_var`]: `OPENAI_BASE_URL`,
/// certificates; the user's own settings may set them, and an attempt then counts with them).
pub fn guarded_env(key: &str) -> bool {
    key.starts_with("OFFLOAD_")
        || key.starts_with("CODEX_")
        || key == "CLAUDE_ENV_FILE"
        || key == "CLAUDECODE"
        || loads_code_env(key)
        || moves_home_env(key)
        || runs_hooks_env(key)
        || interpreter_env(key)
        || key == "PATH"
        || crate::codex::trust::watched_var(key)
}

/// Variables that make a program load code before its own (the dynamic loader's, a shell's
/// startup file for `sh -c`, bash's exported functions, Node's options for codex's launcher,
/// glibc's character set modules and tunables).
pub fn loads_code_env(key: &str) -> bool {
    key.starts_with("LD_")
        || key.starts_with("DYLD_")
        || key.starts_with("BASH_FUNC_")
        || matches!(
            key,
            "BASH_ENV"
                | "ENV"
                | "NODE_OPTIONS"
                | "NODE_PATH"
                | "GLIBC_TUNABLES"
                | "GCONV_PATH"
                | "LOCPATH"
        )
}

/// Variables that make another interpreter load code before its own (Perl's, Python's,
/// Ruby's): denied in a settings `env`, not flagged (a user may set them for their own work).
pub fn interpreter_env(key: &str) -> bool {
    matches!(
        key,
        "PERL5OPT" | "PERL5LIB" | "PYTHONSTARTUP" | "PYTHONPATH" | "PYTHONHOME" | "RUBYOPT"
    )
}

/// Variables that move where offload looks for its config and state.
pub fn moves_home_env(key: &str) -> bool {
    matches!(
        key,
        "HOME" | "XDG_CONFIG_HOME" | "XDG_STATE_HOME" | "XDG_DATA_HOME"
    )
}

/// Variables that change how Claude Code runs hooks or whether it runs them: its own
/// (`CLAUDE_CODE_*`: a prefix put before every hook command, bare mode that runs none, the
/// shell), where it reads its settings (`CLAUDE_CONFIG_DIR`), the shell and how it splits words
/// (`SHELL`, `IFS`), where temporary files go (`TMPDIR`), and git's configuration and repository
/// (`GIT_CONFIG_*`, `GIT_DIR`), which decide what the guard's git commands run and see.
pub fn runs_hooks_env(key: &str) -> bool {
    key.starts_with("CLAUDE_CODE_")
        || key.starts_with("GIT_CONFIG")
        || matches!(
            key,
            "CLAUDE_CONFIG_DIR" | "SHELL" | "IFS" | "TMPDIR" | "GIT_DIR"
        )
}

/// The [`runs_hooks_env`] variables the tamper check flags when a settings file already sets
/// them: the ones known to switch hooks off or put a program before them. (`CLAUDE_CODE_*` as
/// a whole is denied to Claude, but a user may set many of them for their own reasons.)
pub fn flags_hooks_env(key: &str) -> bool {
    key.starts_with("BASH_FUNC_")
        || key.starts_with("GIT_CONFIG")
        || matches!(
            key,
            "CLAUDE_CODE_SHELL_PREFIX"
                | "CLAUDE_CODE_SIMPLE"
                | "CLAUDE_CODE_SHELL"
                | "CLAUDE_CODE_DISABLE_HOOKS"
                | "CLAUDE_CONFIG_DIR"
                | "SHELL"
                | "IFS"
                | "GIT_DIR"
        )
}

/// Per hook event, the matchers under which `settings` runs offload's hook, with the hook entry.
fn our_matchers(settings: &Value) -> Vec<(String, Option<String>, Value)> {
    let mut out = Vec::new();
    let Some(hooks) = settings.get("hooks").and_then(Value::as_object) else {
        return out;
    };
    for (event, groups) in hooks {
        for g in groups.as_array().into_iter().flatten() {
            for e in group_entries(g).filter(|e| is_our_hook(e)) {
                out.push((
                    event.clone(),
                    g.get("matcher").and_then(Value::as_str).map(str::to_owned),
                    e.clone(),
                ));
            }
        }
    }
    out
}

/// Why a change to a settings file is not Claude's to make when it adds or changes something
/// that runs a program: Claude Code runs it outside the guard.
pub const RUNS_OUTSIDE: &str =
    "a hook (or helper command) runs code outside the guard: the user can add it themselves";

/// The settings keys whose value is (or holds) a command Claude Code runs: for credentials,
/// telemetry or proxy headers, file suggestions, a subagent's statusline.
pub const HELPER_KEYS: [&str; 8] = [
    "apiKeyHelper",
    "awsAuthRefresh",
    "awsCredentialExport",
    "otelHeadersHelper",
    "gcpAuthRefresh",
    "proxyAuthHelper",
    "fileSuggestion",
    "subagentStatusLine",
];

/// Why a change that adds or changes an MCP server (or lets one start unasked) is not Claude's
/// to make.
pub const MCP_RUNS_OUTSIDE: &str =
    "an MCP server runs a program outside the guard: the user can add it themselves";

/// What changing a Claude Code settings file from `old` to `new` does to offload's guard, judged
/// by the resulting JSON, not by its words: `disableAllHooks` set; an `env` entry that switches
/// offload off, redirects it or codex, or changes how Claude Code runs hooks ([`guarded_env`]);
/// a value of a type Claude Code's settings schema rejects, which makes it ignore the whole file
/// ([`schema_problems`]; only problems the file did not have before); offload's hook removed
/// from an event it was in, or moved under another matcher (a narrower one, a renamed event), or
/// its entry changed in any way (its command, timeout, type, `async`, `if`, `onFailure`…: only
/// `offload setup` writes it); a hook that is not offload's added or changed (it runs code
/// outside the guard, and a PreToolUse one can rewrite a call offload already judged); the
/// statusline's command changed, or offload's statusline (the channel of its tamper flag)
/// removed; a helper command ([`HELPER_KEYS`]) set or changed; a plugin enabled or a
/// marketplace added (plugins carry hooks); a project's MCP servers let start unasked
/// (`enableAllProjectMcpServers` set to true, a name added to `enabledMcpjsonServers` or taken
/// out of `disabledMcpjsonServers`), or an MCP server defined in `mcpServers` added or changed
/// ([`mcp_servers_change`]). Removing another program's hook, statusline, helper or server, or
/// turning a server off, passes. `None` when it leaves the guard as it was.
pub fn weakens(old: &Value, new: &Value) -> Option<String> {
    if new
        .get("disableAllHooks")
        .is_some_and(|v| v != &Value::Bool(false))
    {
        return Some("sets disableAllHooks".into());
    }
    if let Some(env) = new.get("env").and_then(Value::as_object) {
        for (k, v) in env {
            if guarded_env(k) && old.get("env").and_then(|e| e.get(k)) != Some(v) {
                return Some(format!(
                    "sets {k} in env (it changes how or whether offload's hook runs, or what it \
                     sees; the user can set it themselves)"
                ));
            }
        }
    }
    if !new.is_null() {
        let before = schema_problems(old);
        if let Some(p) = schema_problems(new)
            .into_iter()
            .find(|p| !before.contains(p))
        {
            return Some(format!(
                "makes the file not fit Claude Code's settings schema ({p}): Claude Code then \
                 ignores the whole file, offload's hooks with it"
            ));
        }
    }
    let after = our_matchers(new);
    for (event, matcher, entry) in our_matchers(old) {
        let kept = after.iter().any(|(e, m, en)| {
            *e == event
                && *en == entry
                && (*m == matcher
                    || matches!(m.as_deref(), None | Some("") | Some("*") | Some(".*")))
        });
        if !kept {
            return Some(match matcher {
                Some(m) => format!("removes or changes offload's {event} hook (matcher {m:?})"),
                None => format!("removes or changes offload's {event} hook"),
            });
        }
    }
    let before = hook_entries(old);
    for (event, matcher, entry) in hook_entries(new) {
        if before
            .iter()
            .any(|(e, m, en)| *e == event && *m == matcher && *en == entry)
        {
            continue;
        }
        // offload's own entry, as it was, under another (wider) matcher: judged above.
        if is_our_hook(&entry) && before.iter().any(|(e, _, en)| *e == event && *en == entry) {
            continue;
        }
        let whose = if is_our_hook(&entry) {
            "that names offload-hook but is not the one setup wrote"
        } else {
            "that is not offload's"
        };
        return Some(format!(
            "adds or changes a {event} hook {whose} ({RUNS_OUTSIDE})"
        ));
    }
    let line = |v: &Value| {
        (
            v["statusLine"].get("type").cloned(),
            v["statusLine"].get("command").cloned(),
        )
    };
    if our_statusline(&old["statusLine"]).is_some() && our_statusline(&new["statusLine"]).is_none()
    {
        return Some(
            "removes offload's statusline (where offload flags tampering; the user can change it themselves)"
                .into(),
        );
    }
    if new["statusLine"].get("command").is_some() && line(new) != line(old) {
        return Some(format!("changes the statusLine command ({RUNS_OUTSIDE})"));
    }
    for key in HELPER_KEYS {
        if new.get(key).is_some() && new.get(key) != old.get(key) {
            return Some(format!("sets {key} ({RUNS_OUTSIDE})"));
        }
    }
    if new.get("enableAllProjectMcpServers") == Some(&Value::Bool(true))
        && old.get("enableAllProjectMcpServers") != Some(&Value::Bool(true))
    {
        return Some(format!(
            "sets enableAllProjectMcpServers (the project's MCP servers then start unasked; \
             {MCP_RUNS_OUTSIDE})"
        ));
    }
    let names = |v: &Value, key: &str| -> Vec<Value> {
        v.get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let enabled = names(old, "enabledMcpjsonServers");
    if let Some(n) = names(new, "enabledMcpjsonServers")
        .into_iter()
        .find(|n| !enabled.contains(n))
    {
        return Some(format!(
            "adds {n} to enabledMcpjsonServers (it then starts unasked; {MCP_RUNS_OUTSIDE})"
        ));
    }
    let disabled = names(new, "disabledMcpjsonServers");
    if let Some(n) = names(old, "disabledMcpjsonServers")
        .into_iter()
        .find(|n| !disabled.contains(n))
    {
        return Some(format!(
            "takes {n} out of disabledMcpjsonServers ({MCP_RUNS_OUTSIDE})"
        ));
    }
    if let Some(why) = mcp_servers_change(old, new, false) {
        return Some(why);
    }
    for (k, v) in new
        .get("enabledPlugins")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if v != &Value::Bool(false) && old["enabledPlugins"].get(k) != Some(v) {
            return Some(format!(
                "enables the plugin {k:?} (plugins carry hooks; {RUNS_OUTSIDE})"
            ));
        }
    }
    for (k, v) in new
        .get("extraKnownMarketplaces")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if old["extraKnownMarketplaces"].get(k) != Some(v) {
            return Some(format!(
                "adds the plugin marketplace {k:?} (plugins carry hooks; {RUNS_OUTSIDE})"
            ));
        }
    }
    None
}

/// The MCP servers a Claude Code file defines: `(where, name, definition)` for each entry of the
/// top-level `mcpServers` (`where` empty) and, with `projects` (the user's `~/.claude.json`),
/// of each `projects.<path>.mcpServers` (`where` the path). An `mcpServers` that is not an object
/// counts as one entry named `""`.
pub fn mcp_servers(file: &Value, projects: bool) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    let mut add = |at: &str, servers: Option<&Value>| match servers {
        None => {}
        Some(Value::Object(m)) => {
            for (name, def) in m {
                out.push((at.to_string(), name.clone(), def.clone()));
            }
        }
        Some(other) => out.push((at.to_string(), String::new(), other.clone())),
    };
    add("", file.get("mcpServers"));
    if projects {
        for (path, p) in file
            .get("projects")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            add(path, p.get("mcpServers"));
        }
    }
    out
}

/// Whether `new` defines an MCP server that `old` did not, or defines one differently (see
/// [`mcp_servers`]): why, or `None`. Removing a server passes.
pub fn mcp_servers_change(old: &Value, new: &Value, projects: bool) -> Option<String> {
    let before = mcp_servers(old, projects);
    let (at, name, _) = mcp_servers(new, projects)
        .into_iter()
        .find(|s| !before.contains(s))?;
    let whose = if at.is_empty() {
        String::new()
    } else {
        format!(" for the project {at}")
    };
    Some(format!(
        "adds or changes the MCP server {name:?}{whose} ({MCP_RUNS_OUTSIDE})"
    ))
}

/// A settings-like file's JSON (an empty file is an empty object); `None`: not JSON.
fn json_of(b: &[u8]) -> Option<Value> {
    if b.iter().all(u8::is_ascii_whitespace) {
        Some(Value::Object(Default::default()))
    } else {
        serde_json::from_slice(b).ok()
    }
}

/// [`mcp_servers_change`] for a file's bytes before and after (`None`: no file). A result that
/// is not JSON is taken as a change (it cannot be judged); deleting the file passes.
pub fn mcp_servers_change_text(
    old: Option<&[u8]>,
    new: Option<&[u8]>,
    projects: bool,
) -> Option<String> {
    let old = old.and_then(json_of).unwrap_or(Value::Null);
    match new.map(json_of) {
        None => None,
        Some(Some(new)) => mcp_servers_change(&old, &new, projects),
        Some(None) => Some(format!(
            "leaves it unreadable, which cannot be judged ({MCP_RUNS_OUTSIDE})"
        )),
    }
}

/// Every hook entry of a settings file: its event, its group's matcher, the entry.
fn hook_entries(settings: &Value) -> Vec<(String, Option<Value>, Value)> {
    let mut out = Vec::new();
    for (event, groups) in settings
        .get("hooks")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        for g in groups.as_array().into_iter().flatten() {
            for e in group_entries(g) {
                out.push((event.clone(), g.get("matcher").cloned(), e.clone()));
            }
        }
    }
    out
}

/// The type a well-known settings key must have for Claude Code to accept the file.
#[derive(Clone, Copy)]
enum Ty {
    Str,
    Num,
    Bool,
    Obj,
    StrList,
    /// `env`: an object of scalars (Claude Code turns numbers and booleans into strings).
    Env,
    Permissions,
    Hooks,
    StatusLine,
}

/// The well-known keys of Claude Code's settings and their types (its settings reference);
/// other keys are not judged.
const SCHEMA: [(&str, Ty); 29] = [
    ("$schema", Ty::Str),
    ("apiKeyHelper", Ty::Str),
    ("awsAuthRefresh", Ty::Str),
    ("awsCredentialExport", Ty::Str),
    ("otelHeadersHelper", Ty::Str),
    ("cleanupPeriodDays", Ty::Num),
    ("env", Ty::Env),
    ("includeCoAuthoredBy", Ty::Bool),
    ("permissions", Ty::Permissions),
    ("hooks", Ty::Hooks),
    ("disableAllHooks", Ty::Bool),
    ("model", Ty::Str),
    ("statusLine", Ty::StatusLine),
    ("outputStyle", Ty::Str),
    ("forceLoginMethod", Ty::Str),
    ("forceLoginOrgUUID", Ty::Str),
    ("enableAllProjectMcpServers", Ty::Bool),
    ("enabledMcpjsonServers", Ty::StrList),
    ("disabledMcpjsonServers", Ty::StrList),
    ("enabledPlugins", Ty::Obj),
    ("extraKnownMarketplaces", Ty::Obj),
    ("alwaysThinkingEnabled", Ty::Bool),
    ("respectGitignore", Ty::Bool),
    ("spinnerTipsEnabled", Ty::Bool),
    ("language", Ty::Str),
    ("autoUpdatesChannel", Ty::Str),
    ("companyAnnouncements", Ty::StrList),
    ("sandbox", Ty::Obj),
    ("skipWebFetchPreflight", Ty::Bool),
];

/// The ways a settings file does not fit Claude Code's settings schema for its well-known keys
/// (a top-level value that is not an object; a key of [`SCHEMA`] of the wrong type; inside
/// `permissions`, `hooks` and `statusLine`, a field of the wrong type or a required one
/// missing). Claude Code ignores such a file as a whole. Unknown keys pass; `null` (no file)
/// has none.
pub fn schema_problems(settings: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let obj = match settings {
        Value::Null => return out,
        Value::Object(o) => o,
        other => {
            out.push(format!("the file is {}, not an object", kind(other)));
            return out;
        }
    };
    for (key, ty) in SCHEMA {
        if let Some(v) = obj.get(key) {
            check(&mut out, key, v, ty);
        }
    }
    out
}

fn check(out: &mut Vec<String>, at: &str, v: &Value, ty: Ty) {
    let mut want = |ok: bool, what: &str| {
        if !ok {
            out.push(format!("`{at}` is {}, not {what}", kind(v)));
        }
        ok
    };
    match ty {
        Ty::Str => {
            want(v.is_string(), "a string");
        }
        Ty::Num => {
            want(v.is_number(), "a number");
        }
        Ty::Bool => {
            want(v.is_boolean(), "a boolean");
        }
        Ty::Obj => {
            want(v.is_object(), "an object");
        }
        Ty::StrList => {
            if want(v.is_array(), "an array of strings") {
                for item in v.as_array().into_iter().flatten() {
                    check(out, &format!("{at}[]"), item, Ty::Str);
                }
            }
        }
        Ty::Env => {
            if want(v.is_object(), "an object of strings") {
                for (k, val) in v.as_object().into_iter().flatten() {
                    if !(val.is_string() || val.is_number() || val.is_boolean()) {
                        out.push(format!("`{at}.{k}` is {}, not a string", kind(val)));
                    }
                }
            }
        }
        Ty::Permissions => {
            if want(v.is_object(), "an object") {
                for (k, ty) in [
                    ("allow", Ty::StrList),
                    ("deny", Ty::StrList),
                    ("ask", Ty::StrList),
                    ("additionalDirectories", Ty::StrList),
                    ("defaultMode", Ty::Str),
                    ("disableBypassPermissionsMode", Ty::Str),
                ] {
                    if let Some(f) = v.get(k) {
                        check(out, &format!("{at}.{k}"), f, ty);
                    }
                }
            }
        }
        Ty::Hooks => {
            if !want(v.is_object(), "an object") {
                return;
            }
            for (event, groups) in v.as_object().into_iter().flatten() {
                let at = format!("{at}.{event}");
                let Some(groups) = groups.as_array() else {
                    out.push(format!("`{at}` is {}, not an array", kind(groups)));
                    continue;
                };
                for g in groups {
                    let at = format!("{at}[]");
                    if !g.is_object() {
                        out.push(format!("`{at}` is {}, not an object", kind(g)));
                        continue;
                    }
                    if let Some(m) = g.get("matcher") {
                        check(out, &format!("{at}.matcher"), m, Ty::Str);
                    }
                    let at = format!("{at}.hooks");
                    let Some(entries) = g.get("hooks").and_then(Value::as_array) else {
                        out.push(format!(
                            "`{at}` is {}, not an array",
                            g.get("hooks").map_or("missing", kind)
                        ));
                        continue;
                    };
                    for e in entries {
                        let at = format!("{at}[]");
                        if !e.is_object() {
                            out.push(format!("`{at}` is {}, not an object", kind(e)));
                            continue;
                        }
                        match e.get("type") {
                            Some(t) => check(out, &format!("{at}.type"), t, Ty::Str),
                            None => out.push(format!("`{at}.type` is missing")),
                        }
                        for (k, ty) in [("command", Ty::Str), ("timeout", Ty::Num)] {
                            if let Some(f) = e.get(k) {
                                check(out, &format!("{at}.{k}"), f, ty);
                            }
                        }
                    }
                }
            }
        }
        Ty::StatusLine => {
            if !want(v.is_object(), "an object") {
                return;
            }
            match v.get("type") {
                Some(t) => check(out, &format!("{at}.type"), t, Ty::Str),
                None => out.push(format!("`{at}.type` is missing")),
            }
            match v.get("command") {
                Some(c) => check(out, &format!("{at}.command"), c, Ty::Str),
                None if v.get("type").and_then(Value::as_str) == Some("command") => {
                    out.push(format!("`{at}.command` is missing"))
                }
                None => {}
            }
            if let Some(p) = v.get("padding") {
                check(out, &format!("{at}.padding"), p, Ty::Num);
            }
        }
    }
}

/// [`weakens`] for a settings file's bytes before and after (`None`: no file). An empty file is
/// an empty object; a result Claude Code cannot parse runs none of the file's hooks, so it
/// weakens the guard when the file before held any of offload's.
pub fn weakens_text(old: Option<&[u8]>, new: Option<&[u8]>) -> Option<String> {
    let old = old.and_then(json_of).unwrap_or(Value::Null);
    match new.map(json_of) {
        None => weakens(&old, &Value::Null),
        Some(Some(new)) => weakens(&old, &new),
        Some(None) => weakens(&old, &Value::Null)
            .map(|_| "leaves it unreadable (and offload's hooks with it)".to_string()),
    }
}

/// Put our entry into `groups` exactly once: in place if a group with our matcher already holds
/// one, else in a new group at the end. Other entries of ours are removed.
fn merge_event(groups: &mut Vec<Value>, event: &str, matcher: Option<&str>, wiring: &Wiring) {
    let keep = groups.iter().enumerate().find_map(|(gi, g)| {
        if !matcher_matches(g, matcher) {
            return None;
        }
        let entries = g.get("hooks")?.as_array()?;
        entries.iter().position(is_our_hook).map(|ei| (gi, ei))
    });
    let existing = keep.map(|(gi, ei)| groups[gi]["hooks"][ei].clone());
    let desired = desired_entry(wiring, event, existing.as_ref());
    match keep {
        Some((gi, ei)) => {
            groups[gi]["hooks"][ei] = desired;
            remove_ours(groups, Some((gi, ei)));
        }
        None => {
            remove_ours(groups, None);
            let mut group = Map::new();
            if let Some(m) = matcher {
                group.insert("matcher".into(), Value::String(m.into()));
            }
            group.insert("hooks".into(), Value::Array(vec![desired]));
            groups.push(Value::Object(group));
        }
    }
}

/// Remove our hook entries from `groups` (except the one at `except`), and the groups that held
/// nothing else. Returns how many entries were removed.
fn remove_ours(groups: &mut Vec<Value>, except: Option<(usize, usize)>) -> usize {
    let mut removed = 0;
    let mut gi = 0;
    groups.retain_mut(|g| {
        let this = gi;
        gi += 1;
        let Some(entries) = g.get_mut("hooks").and_then(Value::as_array_mut) else {
            return true;
        };
        let before = entries.len();
        let mut ei = 0;
        entries.retain(|e| {
            let keep = !is_our_hook(e) || except == Some((this, ei));
            ei += 1;
            keep
        });
        let gone = before - entries.len();
        removed += gone;
        !(gone > 0 && entries.is_empty())
    });
    removed
}

/// The entry setup writes for `event`; with `on_failure: None` it keeps the `onFailure` of
/// `existing`. The Stop hook never has `onFailure`: a review gate that cannot run must let the
/// stop through, never block it (a block on every failure would keep Claude looping).
fn desired_entry(wiring: &Wiring, event: &str, existing: Option<&Value>) -> Value {
    let mut entry = Map::new();
    entry.insert("type".into(), json!("command"));
    entry.insert("command".into(), Value::String(wiring.hook_command()));
    entry.insert("timeout".into(), json!(hook_timeout(event)));
    if event == REVIEW_EVENT {
        return Value::Object(entry);
    }
    match wiring.on_failure {
        Some(true) => {
            entry.insert("onFailure".into(), json!("block"));
        }
        Some(false) => {}
        None => {
            if let Some(v) = existing.and_then(|e| e.get("onFailure")) {
                entry.insert("onFailure".into(), v.clone());
            }
        }
    }
    Value::Object(entry)
}

fn describe_entry(wiring: &Wiring, event: &str, groups: &[Value]) -> String {
    let on_failure = groups
        .iter()
        .flat_map(group_entries)
        .find(|e| is_our_hook(e))
        .and_then(|e| e.get("onFailure"))
        .and_then(Value::as_str)
        .map(|v| format!(", onFailure {v}"))
        .unwrap_or_default();
    format!(
        "{} (timeout {}s{on_failure})",
        wiring.hook,
        hook_timeout(event)
    )
}

fn group_entries(group: &Value) -> impl Iterator<Item = &Value> {
    group
        .get("hooks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn matcher_matches(group: &Value, matcher: Option<&str>) -> bool {
    let theirs = group.get("matcher").and_then(Value::as_str);
    match matcher {
        Some(m) => theirs == Some(m),
        None => matches!(theirs, None | Some("") | Some("*")),
    }
}

/// A hook entry that runs `offload-hook`.
pub fn is_our_hook(entry: &Value) -> bool {
    entry
        .get("command")
        .and_then(Value::as_str)
        .is_some_and(|c| runs(c, HOOK_BIN))
}

/// `Some(wrapped)` when `statusline` runs `offload-statusline`; `wrapped` is the command it
/// wraps (`--wrap '<command>'`), if any.
pub fn our_statusline(statusline: &Value) -> Option<Option<String>> {
    let command = statusline.get("command")?.as_str()?;
    if !runs(command, STATUSLINE_BIN) {
        return None;
    }
    let words = shell_words(command)?;
    Some(match words.as_slice() {
        [_, flag, theirs] if flag == "--wrap" => Some(theirs.clone()),
        _ => None,
    })
}

/// Our statusline's command for the current wiring, when its shape is one setup writes (`prog`
/// or `prog --wrap X`); `None` leaves a hand-written command of ours as it is.
fn rebuilt_statusline(statusline: &Value, wiring: &Wiring) -> Option<String> {
    let command = statusline.get("command")?.as_str()?;
    let words = shell_words(command)?;
    match words.as_slice() {
        [_] => Some(wiring.statusline_command(None)),
        [_, flag, theirs] if flag == "--wrap" => Some(wiring.statusline_command(Some(theirs))),
        _ => None,
    }
}

/// The command of a statusline setup can wrap: an object with a non-empty string `command` and
/// `type` `command` (or no type).
fn wrappable(statusline: &Value) -> Option<&str> {
    let obj = statusline.as_object()?;
    if !matches!(obj.get("type"), None | Some(Value::String(_))) {
        return None;
    }
    if obj
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| t != "command")
    {
        return None;
    }
    obj.get("command")
        .and_then(Value::as_str)
        .filter(|c| !c.trim().is_empty())
}

/// Whether a shell command line's program is a file named `bin`.
fn runs(command: &str, bin: &str) -> bool {
    shell_words(command)
        .and_then(|w| w.into_iter().next())
        .is_some_and(|program| program.rsplit('/').next() == Some(bin))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Split a command line into words the way a POSIX shell would for the simple cases (blanks,
/// `'…'`, `"…"` with `\` escapes, `\` outside quotes). `None` for an unterminated quote.
pub fn shell_words(s: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => word.push(c),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            c @ ('"' | '\\' | '$' | '`') => word.push(c),
                            '\n' => {}
                            c => {
                                word.push('\\');
                                word.push(c);
                            }
                        },
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') | None => {}
                    Some(c) => word.push(c),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Some(words)
}

/// `value` as pretty JSON (two-space indent, like Claude Code writes it) with a final newline,
/// keeping the key order of `original` (the text it was read from) for every object that was
/// there; new keys come after the old ones, in a readable order (`type`, `matcher`, `command`…).
pub fn to_pretty(value: &Value, original: Option<&str>) -> String {
    let shape = original.and_then(|text| serde_json::from_str::<Shape>(text).ok());
    let mut out = String::new();
    write_value(&mut out, value, shape.as_ref(), 0);
    out.push('\n');
    out
}

/// The key order of a JSON document (serde_json's `Value` sorts keys without `preserve_order`).
enum Shape {
    Object(Vec<(String, Shape)>),
    Array(Vec<Shape>),
    Scalar,
}

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Shape, D::Error> {
        struct ShapeVisitor;
        impl<'de> Visitor<'de> for ShapeVisitor {
            type Value = Shape;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Shape, E> {
                Ok(Shape::Scalar)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Shape, E> {
                Ok(Shape::Scalar)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Shape, E> {
                Ok(Shape::Scalar)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Shape, E> {
                Ok(Shape::Scalar)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Shape, E> {
                Ok(Shape::Scalar)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Shape, E> {
                Ok(Shape::Scalar)
            }
            fn visit_none<E: de::Error>(self) -> Result<Shape, E> {
                Ok(Shape::Scalar)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Shape>()? {
                    items.push(item);
                }
                Ok(Shape::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    entries.push((key, map.next_value::<Shape>()?));
                }
                Ok(Shape::Object(entries))
            }
        }
        d.deserialize_any(ShapeVisitor)
    }
}

/// The order of keys that were not in the original: the keys setup writes first, in the order
/// Claude Code's documentation shows them, then the rest alphabetically.
fn new_key_order(a: &str, b: &str) -> Ordering {
    const KNOWN: [&str; 8] = [
        "type",
        "matcher",
        "command",
        "args",
        "timeout",
        "onFailure",
        "padding",
        "hooks",
    ];
    let rank = |k: &str| KNOWN.iter().position(|n| *n == k).unwrap_or(KNOWN.len());
    rank(a).cmp(&rank(b)).then_with(|| a.cmp(b))
}

fn write_value(out: &mut String, value: &Value, shape: Option<&Shape>, depth: usize) {
    let pad = |out: &mut String, depth: usize| {
        for _ in 0..depth {
            out.push_str("  ");
        }
    };
    match value {
        Value::Object(map) if !map.is_empty() => {
            let known: &[(String, Shape)] = match shape {
                Some(Shape::Object(entries)) => entries,
                _ => &[],
            };
            let mut keys: Vec<(&String, Option<&Shape>)> = Vec::with_capacity(map.len());
            for (k, s) in known {
                if map.contains_key(k) && !keys.iter().any(|(seen, _)| *seen == k) {
                    keys.push((k, Some(s)));
                }
            }
            let mut fresh: Vec<&String> = map
                .keys()
                .filter(|k| !known.iter().any(|(seen, _)| seen == *k))
                .collect();
            fresh.sort_by(|a, b| new_key_order(a, b));
            keys.extend(fresh.into_iter().map(|k| (k, None)));
            out.push_str("{\n");
            for (i, (k, s)) in keys.iter().enumerate() {
                pad(out, depth + 1);
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push_str(": ");
                write_value(out, &map[k.as_str()], *s, depth + 1);
                if i + 1 < keys.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            pad(out, depth);
            out.push('}');
        }
        Value::Array(items) if !items.is_empty() => {
            let known: &[Shape] = match shape {
                Some(Shape::Array(items)) => items,
                _ => &[],
            };
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                pad(out, depth + 1);
                write_value(out, item, known.get(i), depth + 1);
                if i + 1 < items.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            pad(out, depth);
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wiring(on_failure: Option<bool>) -> Wiring {
        Wiring {
            hook: "/opt/bin/offload-hook".into(),
            statusline: "/opt/bin/offload-statusline".into(),
            on_failure,
            claude: None,
            plugin: None,
            review_gate: false,
        }
    }

    fn wiring_for(claude: Option<ClaudeVersion>) -> Wiring {
        Wiring {
            on_failure: claude.map(ClaudeVersion::supports_on_failure),
            claude,
            ..wiring(None)
        }
    }

    /// A settings file with a bit of everything a real user has.
    fn rich() -> Value {
        json!({
            "permissions": {"allow": ["Bash(npm test:*)", "Read"], "deny": ["Read(./.env)"]},
            "env": {"FOO": "1", "NESTED_LOOKING": "{\"a\":1}"},
            "model": "opus",
            "futureKey": {"deep": {"list": [1, 2, {"x": null}]}},
            "hooks": {
                "PreToolUse": [
                    {"matcher": "Bash", "hooks": [{"type": "command", "command": "~/bin/audit.sh"}]},
                    {"matcher": PRE_TOOL_USE_MATCHER, "hooks": [{"type": "command", "command": "lint", "timeout": 5}]}
                ],
                "Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}]
            },
            "statusLine": {"type": "command", "command": "bash -c 'echo \"$(whoami)\"'", "padding": 2, "refreshInterval": 5}
        })
    }

    #[test]
    fn merge_adds_our_groups_and_keeps_everything_else() {
        let m = merge(&rich(), &wiring(Some(true)), None).unwrap();
        let s = &m.settings;
        for key in ["permissions", "env", "model", "futureKey"] {
            assert_eq!(s[key], rich()[key], "{key} kept");
        }
        assert_eq!(s["hooks"]["Stop"], rich()["hooks"]["Stop"]);
        let pre = s["hooks"]["PreToolUse"].as_array().unwrap();
        assert_eq!(pre.len(), 3, "the user's two groups and ours");
        assert_eq!(
            pre[..2],
            rich()["hooks"]["PreToolUse"].as_array().unwrap()[..]
        );
        assert_eq!(
            pre[2],
            json!({"matcher": PRE_TOOL_USE_MATCHER, "hooks": [{"type": "command", "command": "/opt/bin/offload-hook", "timeout": 10, "onFailure": "block"}]})
        );
        for event in ["SessionStart", "UserPromptSubmit"] {
            assert_eq!(
                s["hooks"][event],
                json!([{"hooks": [{"type": "command", "command": "/opt/bin/offload-hook", "timeout": 10, "onFailure": "block"}]}])
            );
        }
        for event in ["PostToolUse", "PostToolUseFailure"] {
            assert_eq!(
                s["hooks"][event],
                json!([{"matcher": "Bash", "hooks": [{"type": "command", "command": "/opt/bin/offload-hook", "timeout": 10, "onFailure": "block"}]}])
            );
        }
        assert!(
            s["hooks"].get(PRE_SKILL_SHELL_COMMAND).is_none(),
            "version unknown"
        );
        assert_eq!(
            s["statusLine"],
            json!({"type": "command", "command": "/opt/bin/offload-statusline --wrap 'bash -c '\\''echo \"$(whoami)\"'\\'''", "padding": 2, "refreshInterval": 5})
        );
        assert_eq!(
            our_statusline(&s["statusLine"]),
            Some(Some("bash -c 'echo \"$(whoami)\"'".to_string()))
        );
        assert!(!m.record.created_hooks);
        assert_eq!(
            m.record.created_events,
            [
                "PostToolUse",
                "PostToolUseFailure",
                "SessionStart",
                "UserPromptSubmit"
            ]
        );
        assert_eq!(m.changes.len(), 6, "{:?}", m.changes);
        assert!(is_wired(s));
    }

    #[test]
    fn merge_twice_changes_nothing() {
        let once = merge(&rich(), &wiring(Some(true)), None).unwrap();
        let twice = merge(&once.settings, &wiring(Some(true)), Some(&once.record)).unwrap();
        assert_eq!(twice.settings, once.settings);
        assert_eq!(twice.record, once.record);
        assert!(twice.changes.is_empty(), "{:?}", twice.changes);
    }

    #[test]
    fn unmerge_gives_back_the_original() {
        for original in [
            rich(),
            json!({}),
            json!({"hooks": {}}),
            json!({"statusLine": null}),
            json!({"hooks": {"SessionStart": []}, "statusLine": {"type": "command", "command": "x"}}),
        ] {
            let m = merge(&original, &wiring(Some(true)), None).unwrap();
            let u = unmerge(&m.settings, Some(&m.record)).unwrap();
            assert_eq!(u.settings, original);
            assert!(!u.changes.is_empty());
        }
    }

    #[test]
    fn unmerge_without_a_record_still_restores_the_common_cases() {
        for original in [
            rich(),
            json!({}),
            json!({"statusLine": {"type": "command", "command": "ccline", "padding": 0}}),
        ] {
            let m = merge(&original, &wiring(None), None).unwrap();
            assert_eq!(unmerge(&m.settings, None).unwrap().settings, original);
        }
    }

    #[test]
    fn user_edits_between_setup_and_uninstall_survive() {
        let m = merge(&rich(), &wiring(Some(true)), None).unwrap();
        let mut edited = m.settings.clone();
        edited["model"] = json!("sonnet");
        edited["permissions"]["allow"]
            .as_array_mut()
            .unwrap()
            .push(json!("Edit"));
        // A hook of theirs in our group, and a new event that setup did not create.
        edited["hooks"]["SessionStart"][0]["hooks"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "command", "command": "echo hi"}));
        edited["hooks"]["PostToolUse"] =
            json!([{"matcher": "Bash", "hooks": [{"type": "command", "command": "log"}]}]);
        edited["statusLine"]["padding"] = json!(1);
        let u = unmerge(&edited, Some(&m.record)).unwrap();
        let mut expected = rich();
        expected["model"] = json!("sonnet");
        expected["permissions"]["allow"]
            .as_array_mut()
            .unwrap()
            .push(json!("Edit"));
        expected["hooks"]["SessionStart"] =
            json!([{"hooks": [{"type": "command", "command": "echo hi"}]}]);
        expected["hooks"]["PostToolUse"] = edited["hooks"]["PostToolUse"].clone();
        expected["statusLine"]["padding"] = json!(1);
        assert_eq!(u.settings, expected);
    }

    #[test]
    fn a_statusline_the_user_replaced_after_setup_is_left_alone() {
        let m = merge(&json!({}), &wiring(Some(true)), None).unwrap();
        let mut edited = m.settings.clone();
        edited["statusLine"] = json!({"type": "command", "command": "mine"});
        let u = unmerge(&edited, Some(&m.record)).unwrap();
        assert_eq!(
            u.settings,
            json!({"statusLine": {"type": "command", "command": "mine"}})
        );
        assert_eq!(u.notes.len(), 1);
    }

    #[test]
    fn on_failure_follows_the_version_and_unknown_keeps_it() {
        let with = merge(&json!({}), &wiring(Some(true)), None).unwrap();
        let entry = |v: &Value| v["hooks"]["PreToolUse"][0]["hooks"][0].clone();
        assert_eq!(entry(&with.settings)["onFailure"], "block");
        let without = merge(&json!({}), &wiring(Some(false)), None).unwrap();
        assert!(entry(&without.settings).get("onFailure").is_none());
        let unknown = merge(&json!({}), &wiring(None), None).unwrap();
        assert!(entry(&unknown.settings).get("onFailure").is_none());
        // Version unknown on a re-run: what is there stays.
        let kept = merge(&with.settings, &wiring(None), Some(&with.record)).unwrap();
        assert_eq!(kept.settings, with.settings);
        // Claude Code upgraded: added in place, nothing else moves.
        let upgraded = merge(
            &without.settings,
            &wiring(Some(true)),
            Some(&without.record),
        )
        .unwrap();
        assert_eq!(upgraded.settings, with.settings);
        assert_eq!(upgraded.changes.len(), EVENTS.len());
    }

    #[test]
    fn the_skill_shell_hook_follows_the_version() {
        let skill = |v: &Value| v["hooks"][PRE_SKILL_SHELL_COMMAND].clone();
        let ours = json!([{"hooks": [{"type": "command", "command": "/opt/bin/offload-hook", "timeout": 10, "onFailure": "block"}]}]);
        let new = Some(ClaudeVersion(2, 1, 332));
        let with = merge(&rich(), &wiring_for(new), None).unwrap();
        assert_eq!(skill(&with.settings), ours);
        assert!(
            with.changes
                .iter()
                .any(|c| c.starts_with("hooks.PreSkillShellCommand: added")),
            "{:?}",
            with.changes
        );
        assert!(
            with.record
                .created_events
                .iter()
                .any(|e| e == PRE_SKILL_SHELL_COMMAND)
        );
        assert_eq!(
            unmerge(&with.settings, Some(&with.record))
                .unwrap()
                .settings,
            rich()
        );
        assert_eq!(unmerge(&with.settings, None).unwrap().settings, rich());
        for older in [
            Some(ClaudeVersion(2, 1, 330)),
            Some(ClaudeVersion(2, 1, 197)),
        ] {
            let m = merge(&rich(), &wiring_for(older), None).unwrap();
            assert!(m.settings["hooks"].get(PRE_SKILL_SHELL_COMMAND).is_none());
            assert_eq!(
                unmerge(&m.settings, Some(&m.record)).unwrap().settings,
                rich()
            );
        }
        // Unknown version: nothing added, ours kept (a re-run changes nothing).
        let unknown = merge(&rich(), &wiring_for(None), None).unwrap();
        assert!(
            unknown.settings["hooks"]
                .get(PRE_SKILL_SHELL_COMMAND)
                .is_none()
        );
        let kept = merge(&with.settings, &wiring(None), Some(&with.record)).unwrap();
        assert_eq!(kept.settings, with.settings);
        assert!(kept.changes.is_empty(), "{:?}", kept.changes);
        // Claude Code downgraded: ours is taken out, with the array setup created.
        let down = merge(
            &with.settings,
            &wiring_for(Some(ClaudeVersion(2, 1, 330))),
            Some(&with.record),
        )
        .unwrap();
        assert!(
            down.settings["hooks"]
                .get(PRE_SKILL_SHELL_COMMAND)
                .is_none()
        );
        assert!(
            !down
                .record
                .created_events
                .iter()
                .any(|e| e == PRE_SKILL_SHELL_COMMAND)
        );
        assert_eq!(down.changes.len(), 1, "{:?}", down.changes);
        assert!(down.changes[0].contains("2.1.330 has no PreSkillShellCommand event"));
        assert_eq!(
            unmerge(&down.settings, Some(&down.record))
                .unwrap()
                .settings,
            rich()
        );
        // A group of the user's on that event stays, before and after.
        let mut theirs = rich();
        theirs["hooks"][PRE_SKILL_SHELL_COMMAND] =
            json!([{"matcher": "Bash", "hooks": [{"type": "command", "command": "audit"}]}]);
        let m = merge(&theirs, &wiring_for(new), None).unwrap();
        assert_eq!(skill(&m.settings).as_array().unwrap().len(), 2);
        let down = merge(
            &m.settings,
            &wiring_for(Some(ClaudeVersion(2, 1, 197))),
            Some(&m.record),
        )
        .unwrap();
        assert_eq!(
            skill(&down.settings),
            theirs["hooks"][PRE_SKILL_SHELL_COMMAND]
        );
        assert_eq!(
            unmerge(&m.settings, Some(&m.record)).unwrap().settings,
            theirs
        );
    }

    /// With the offload plugin enabled, setup adds only what the plugin cannot register (the
    /// statusline, PreSkillShellCommand), takes out the hooks an earlier setup added for the
    /// events the plugin runs, and uninstall still gives back the original.
    #[test]
    fn with_the_plugin_setup_adds_only_what_the_plugin_cannot() {
        let original = rich();
        let v = ClaudeVersion(2, 1, 332);
        let full = merge(&original, &wiring_for(Some(v)), None).unwrap();
        let plugin = Wiring {
            plugin: Some("plugin offload@offload".into()),
            ..wiring_for(Some(v))
        };
        let ours = |settings: &Value, event: &str| {
            settings["hooks"][event].as_array().map_or(0, |gs| {
                gs.iter()
                    .flat_map(group_entries)
                    .filter(|e| is_our_hook(e))
                    .count()
            })
        };
        for (start, prev) in [(&original, None), (&full.settings, Some(&full.record))] {
            let m = merge(start, &plugin, prev).unwrap();
            for (event, _) in EVENTS {
                assert_eq!(ours(&m.settings, event), 0, "{event}: the plugin runs it");
            }
            assert_eq!(ours(&m.settings, PRE_SKILL_SHELL_COMMAND), 1);
            assert!(our_statusline(&m.settings["statusLine"]).is_some());
            // The user's own hooks on those events stay.
            assert_eq!(
                m.settings["hooks"]["PreToolUse"],
                original["hooks"]["PreToolUse"]
            );
            if prev.is_some() {
                assert!(
                    m.changes.iter().any(|c| c.starts_with(
                        "hooks.PreToolUse: removed offload-hook (plugin offload@offload runs it"
                    )),
                    "{:?}",
                    m.changes
                );
            }
            let u = unmerge(&m.settings, Some(&m.record)).unwrap();
            assert_eq!(u.settings, original);
        }
    }

    /// The statusline gets a refresh interval so it moves while a long job runs; the user's
    /// own interval stays; uninstall takes ours away with the rest.
    #[test]
    fn setup_proposes_a_statusline_refresh_and_keeps_the_users() {
        let theirs = json!({"statusLine": {"type": "command", "command": "mine"}});
        let m = merge(&theirs, &wiring(None), None).unwrap();
        assert_eq!(
            m.settings["statusLine"]["refreshInterval"],
            STATUSLINE_REFRESH_SECS
        );
        assert_eq!(
            unmerge(&m.settings, Some(&m.record)).unwrap().settings,
            theirs
        );
        assert_eq!(unmerge(&m.settings, None).unwrap().settings, theirs);
        let slow =
            json!({"statusLine": {"type": "command", "command": "mine", "refreshInterval": 3}});
        let m = merge(&slow, &wiring(None), None).unwrap();
        assert_eq!(m.settings["statusLine"]["refreshInterval"], 3);
        assert_eq!(
            unmerge(&m.settings, Some(&m.record)).unwrap().settings,
            slow
        );
        let none = merge(&json!({}), &wiring(None), None).unwrap();
        assert_eq!(
            none.settings["statusLine"]["refreshInterval"],
            STATUSLINE_REFRESH_SECS
        );
        assert_eq!(
            unmerge(&none.settings, Some(&none.record))
                .unwrap()
                .settings,
            json!({})
        );
    }

    /// The review gate's Stop hook: added beside the user's own Stop hook only when asked for
    /// (with the plugin too), with the long timeout and never `onFailure`; taken out again
    /// when the gate is off; uninstall gives back the original either way.
    #[test]
    fn the_review_gate_adds_a_stop_hook_only_when_asked() {
        let original = rich();
        let off = merge(&original, &wiring(Some(true)), None).unwrap();
        assert_eq!(off.settings["hooks"]["Stop"], original["hooks"]["Stop"]);
        let on = Wiring {
            review_gate: true,
            ..wiring(Some(true))
        };
        for plugin in [None, Some("plugin offload@offload".to_string())] {
            let on = Wiring {
                plugin: plugin.clone(),
                ..on.clone()
            };
            let m = merge(&original, &on, None).unwrap();
            let stop = m.settings["hooks"]["Stop"].as_array().unwrap();
            assert_eq!(stop.len(), 2, "{stop:?}");
            assert_eq!(stop[0], original["hooks"]["Stop"][0], "theirs is kept");
            assert_eq!(
                stop[1],
                json!({"hooks": [{"type": "command", "command": "/opt/bin/offload-hook", "timeout": STOP_HOOK_TIMEOUT_SECS}]})
            );
            assert!(
                m.changes
                    .iter()
                    .any(|c| c
                        .starts_with("hooks.Stop: added /opt/bin/offload-hook (timeout 1260s)")),
                "{:?}",
                m.changes
            );
            let again = merge(&m.settings, &on, Some(&m.record)).unwrap();
            assert_eq!(again.settings, m.settings, "{plugin:?}: idempotent");
            let gone = merge(&m.settings, &wiring(Some(true)), Some(&m.record)).unwrap();
            assert_eq!(gone.settings["hooks"]["Stop"], original["hooks"]["Stop"]);
            assert!(
                gone.changes.contains(
                    &"hooks.Stop: removed offload-hook (the review gate is off)".to_string()
                ),
                "{:?}",
                gone.changes
            );
            let u = unmerge(&m.settings, Some(&m.record)).unwrap();
            assert_eq!(u.settings, original);
        }
        // A settings file without a Stop array: the array comes and goes with ours.
        let bare = json!({});
        let m = merge(&bare, &on, None).unwrap();
        assert!(m.record.created_events.contains(&"Stop".to_string()));
        let u = unmerge(&m.settings, Some(&m.record)).unwrap();
        assert_eq!(u.settings, bare);
        let gone = merge(&m.settings, &wiring(None), Some(&m.record)).unwrap();
        assert!(gone.settings["hooks"].get("Stop").is_none());
        // Claude taking the gate out is weakening the wiring.
        assert!(weakens(&m.settings, &gone.settings).is_some_and(|w| w.contains("Stop")),);
    }

    #[test]
    fn a_reinstall_elsewhere_moves_the_paths_in_place() {
        let first = merge(&rich(), &wiring(Some(true)), None).unwrap();
        let moved = Wiring {
            hook: "/home/u/my bin/offload-hook".into(),
            statusline: "/home/u/my bin/offload-statusline".into(),
            on_failure: Some(true),
            claude: None,
            plugin: None,
            review_gate: false,
        };
        let second = merge(&first.settings, &moved, Some(&first.record)).unwrap();
        assert_eq!(
            second.settings["hooks"]["PreToolUse"][2]["hooks"][0]["command"],
            "'/home/u/my bin/offload-hook'"
        );
        assert_eq!(
            our_statusline(&second.settings["statusLine"])
                .unwrap()
                .as_deref(),
            Some("bash -c 'echo \"$(whoami)\"'")
        );
        assert_eq!(
            second.settings["hooks"]["PreToolUse"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        assert_eq!(
            unmerge(&second.settings, Some(&second.record))
                .unwrap()
                .settings,
            rich()
        );
    }

    #[test]
    fn a_hand_made_registration_is_adopted_not_duplicated() {
        let original = json!({"hooks": {"PreToolUse": [{"matcher": "Edit|Write", "hooks": [
            {"type": "command", "command": "/old/offload-hook"}, {"type": "command", "command": "fmt"}]}]}});
        let m = merge(&original, &wiring(Some(false)), None).unwrap();
        let pre = m.settings["hooks"]["PreToolUse"].as_array().unwrap();
        assert_eq!(pre.len(), 2);
        assert_eq!(
            pre[0],
            json!({"matcher": "Edit|Write", "hooks": [{"type": "command", "command": "fmt"}]})
        );
        assert_eq!(pre[1]["hooks"][0]["command"], "/opt/bin/offload-hook");
    }

    #[test]
    fn shapes_setup_cannot_merge_into_are_errors() {
        for (bad, at) in [
            (json!([]), ""),
            (json!({"hooks": []}), "hooks"),
            (json!({"hooks": {"PreToolUse": {}}}), "hooks.PreToolUse"),
        ] {
            assert_eq!(merge(&bad, &wiring(None), None).unwrap_err().at, at);
        }
        // Groups and entries of shapes we do not know are kept as they are.
        let odd = json!({"hooks": {"PreToolUse": ["not a group", {"matcher": "X"}]}});
        let m = merge(&odd, &wiring(None), None).unwrap();
        assert_eq!(m.settings["hooks"]["PreToolUse"][0], "not a group");
        assert_eq!(unmerge(&m.settings, Some(&m.record)).unwrap().settings, odd);
    }

    #[test]
    fn a_statusline_that_is_not_a_command_is_saved_and_restored() {
        let original = json!({"statusLine": {"type": "static", "text": "hi"}});
        let m = merge(&original, &wiring(None), None).unwrap();
        assert_eq!(
            m.settings["statusLine"]["command"],
            "/opt/bin/offload-statusline"
        );
        assert_eq!(
            unmerge(&m.settings, Some(&m.record)).unwrap().settings,
            original
        );
    }

    #[test]
    fn record_round_trips_a_saved_null() {
        let r = Record {
            statusline_before: Some(Saved { value: Value::Null }),
            ..Record::default()
        };
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Record>(&text).unwrap(), r);
    }

    #[test]
    fn versions() {
        assert_eq!(
            ClaudeVersion::parse("2.1.330 (Claude Code)"),
            Some(ClaudeVersion(2, 1, 330))
        );
        assert_eq!(
            ClaudeVersion::parse("claude v2.1.295-beta"),
            Some(ClaudeVersion(2, 1, 295))
        );
        assert_eq!(ClaudeVersion::parse("Claude Code"), None);
        assert!(ClaudeVersion(2, 1, 330).supports_on_failure());
        assert!(ClaudeVersion(2, 1, 295).supports_on_failure());
        assert!(!ClaudeVersion(2, 1, 197).supports_on_failure());
        assert!(ClaudeVersion(3, 0, 0).supports_on_failure());
        assert!(ClaudeVersion(2, 1, 332).has_skill_shell_hook());
        assert!(!ClaudeVersion(2, 1, 330).has_skill_shell_hook());
    }

    #[test]
    fn words() {
        assert_eq!(
            shell_words("a 'b c' \"d \\\"e\" f\\ g").unwrap(),
            ["a", "b c", "d \"e", "f g"]
        );
        assert_eq!(shell_words("'unterminated"), None);
        for s in ["plain", "it's", "a 'q' \"d\" $x \\"] {
            assert_eq!(shell_words(&single_quote(s)).unwrap(), [s]);
        }
        assert!(runs("'/a b/offload-hook'", HOOK_BIN));
        assert!(!runs("/bin/offload-hook-old", HOOK_BIN));
        assert!(!runs("echo offload-hook", HOOK_BIN));
    }

    #[test]
    fn pretty_output_keeps_the_original_key_order() {
        let text = "{\n  \"z\": 1,\n  \"hooks\": {\"Stop\": [{\"matcher\": \"a\", \"hooks\": []}]},\n  \"a\": {\"y\": true, \"b\": null}\n}";
        let original: Value = serde_json::from_str(text).unwrap();
        let m = merge(&original, &wiring(Some(true)), None).unwrap();
        let out = to_pretty(&m.settings, Some(text));
        assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), m.settings);
        let pos = |needle: &str| {
            out.find(needle)
                .unwrap_or_else(|| panic!("{needle} in {out}"))
        };
        assert!(pos("\"z\"") < pos("\"hooks\"") && pos("\"hooks\"") < pos("\"a\""));
        assert!(pos("\"y\"") < pos("\"b\""));
        assert!(pos("\"a\"") < pos("\"statusLine\""), "new keys come last");
        assert!(pos("\"Stop\"") < pos("\"PreToolUse\""));
        assert!(pos("\"matcher\": \"a\"") < pos("\"hooks\": []"));
        // Our entry reads in the documented order.
        let entry = &out[pos("\"type\": \"command\",\n")..];
        assert!(entry.find("\"command\"").unwrap() < entry.find("\"timeout\"").unwrap());
        // Unchanged input comes back byte for byte when it was written this way.
        let canonical = to_pretty(&original, Some(text));
        assert_eq!(to_pretty(&original, Some(&canonical)), canonical);
        let back = unmerge(&m.settings, Some(&m.record)).unwrap().settings;
        assert_eq!(to_pretty(&back, Some(&out)), canonical);
        assert_eq!(
            to_pretty(&json!({"e": {}, "l": []}), None),
            "{\n  \"e\": {},\n  \"l\": []\n}\n"
        );
    }

    #[test]
    fn the_schema_check_names_each_well_known_key_of_the_wrong_type() {
        assert!(schema_problems(&Value::Null).is_empty());
        assert!(schema_problems(&json!({})).is_empty());
        let m = merge(&rich(), &wiring(Some(true)), None).unwrap();
        assert!(
            schema_problems(&m.settings).is_empty(),
            "what setup writes fits"
        );
        let good = json!({
            "$schema": "https://json.schemastore.org/claude-code-settings.json",
            "permissions": {"allow": ["Bash(ls:*)"], "deny": [], "ask": ["Read(./.env)"],
                            "defaultMode": "acceptEdits", "additionalDirectories": ["../x"]},
            "env": {"ANTHROPIC_MODEL": "x", "N": 5, "B": true},
            "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "x", "timeout": 5}]}],
                      "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "prompt", "prompt": "p"}]}]},
            "statusLine": {"type": "command", "command": "x", "padding": 0},
            "model": "opus", "outputStyle": "Explanatory", "apiKeyHelper": "/bin/k",
            "cleanupPeriodDays": 7, "includeCoAuthoredBy": false, "disableAllHooks": false,
            "enabledPlugins": {"a@b": true}, "unknownKey": [1, {"x": null}],
        });
        assert_eq!(schema_problems(&good), Vec::<String>::new());
        for (bad, names) in [
            (json!(5), "the file is a number"),
            (json!([]), "the file is an array"),
            (
                json!({"permissions": 5}),
                "`permissions` is a number, not an object",
            ),
            (
                json!({"permissions": {"allow": "Bash"}}),
                "`permissions.allow` is a string",
            ),
            (
                json!({"permissions": {"deny": [1]}}),
                "`permissions.deny[]` is a number",
            ),
            (
                json!({"permissions": {"defaultMode": true}}),
                "`permissions.defaultMode` is a boolean",
            ),
            (
                json!({"permissions": {"additionalDirectories": "/x"}}),
                "`permissions.additionalDirectories`",
            ),
            (json!({"model": 5}), "`model` is a number, not a string"),
            (json!({"model": null}), "`model` is null"),
            (json!({"statusLine": 5}), "`statusLine` is a number"),
            (
                json!({"statusLine": {"command": "x"}}),
                "`statusLine.type` is missing",
            ),
            (
                json!({"statusLine": {"type": "command"}}),
                "`statusLine.command` is missing",
            ),
            (
                json!({"statusLine": {"type": "command", "command": "x", "padding": "1"}}),
                "`statusLine.padding`",
            ),
            (
                json!({"cleanupPeriodDays": "x"}),
                "`cleanupPeriodDays` is a string, not a number",
            ),
            (
                json!({"enabledPlugins": 5}),
                "`enabledPlugins` is a number, not an object",
            ),
            (
                json!({"includeCoAuthoredBy": "no"}),
                "`includeCoAuthoredBy` is a string, not a boolean",
            ),
            (
                json!({"disableAllHooks": 0}),
                "`disableAllHooks` is a number",
            ),
            (json!({"outputStyle": {}}), "`outputStyle` is an object"),
            (json!({"apiKeyHelper": ["x"]}), "`apiKeyHelper` is an array"),
            (json!({"env": []}), "`env` is an array"),
            (json!({"env": {"A": {"b": 1}}}), "`env.A` is an object"),
            (json!({"hooks": []}), "`hooks` is an array"),
            (
                json!({"hooks": {"Stop": {}}}),
                "`hooks.Stop` is an object, not an array",
            ),
            (
                json!({"hooks": {"Stop": [5]}}),
                "`hooks.Stop[]` is a number",
            ),
            (
                json!({"hooks": {"Stop": [{"matcher": 1, "hooks": []}]}}),
                "`hooks.Stop[].matcher`",
            ),
            (
                json!({"hooks": {"Stop": [{}]}}),
                "`hooks.Stop[].hooks` is missing",
            ),
            (
                json!({"hooks": {"Stop": [{"hooks": [{"command": "x"}]}]}}),
                "`hooks.Stop[].hooks[].type` is missing",
            ),
            (
                json!({"hooks": {"Stop": [{"hooks": [{"type": "command", "timeout": "5"}]}]}}),
                "`hooks.Stop[].hooks[].timeout`",
            ),
        ] {
            let found = schema_problems(&bad);
            assert!(found.iter().any(|p| p.contains(names)), "{bad}: {found:?}");
        }
    }

    #[test]
    fn env_that_decides_what_codex_loads_and_where_it_talks_is_guarded() {
        for k in [
            "OPENAI_BASE_URL",
            "NODE_EXTRA_CA_CERTS",
            "SSL_CERT_FILE",
            "NODE_OPTIONS",
            "CODEX_CA_CERTIFICATE",
        ] {
            assert!(guarded_env(k), "{k}");
        }
        for k in ["ANTHROPIC_MODEL", "BASH_DEFAULT_TIMEOUT_MS", "HTTPS_PROXY"] {
            assert!(!guarded_env(k), "{k}");
        }
    }

    #[test]
    fn a_change_is_judged_on_the_schema_problems_it_adds() {
        let wired = merge(&json!({}), &wiring(Some(true)), None)
            .unwrap()
            .settings;
        let with = |k: &str, v: Value| {
            let mut s = wired.clone();
            s[k] = v;
            s
        };
        let why = weakens(&wired, &with("permissions", json!(5))).unwrap();
        assert!(
            why.contains("`permissions` is a number") && why.contains("ignores the whole file"),
            "{why}"
        );
        // A file already invalid is judged as it is now: the same problem is not a new one.
        let bad = with("model", json!(5));
        assert_eq!(weakens(&bad, &bad), None);
        let mut still = bad.clone();
        still["permissions"] = json!({"allow": ["Bash(ls:*)"]});
        assert_eq!(weakens(&bad, &still), None);
        assert!(weakens(&bad, &with("cleanupPeriodDays", json!("x"))).is_some());
        // Fixing it passes; deleting the file is not a schema problem.
        assert_eq!(weakens(&bad, &wired), None);
        assert!(weakens_text(Some(b"{}"), None).is_none());
        assert!(weakens_text(Some(b"{}"), Some(b"[]")).is_some());
    }
}
