//! One hook invocation from stdin bytes to an answer, as a function: what to print, the exit
//! code, and the events to record. The `offload-hook` binary only does the I/O around it.

use std::path::{Path, PathBuf};

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::claude::{self, Event as HookEvent, HookInput};
use crate::config::{Config, Mode};
use crate::ledger::{Body, Event, SessionSummary};
use crate::paths::Paths;
use crate::policy::effect::{self, Store};
use crate::policy::guard::{self, Ctx, Verdict};
use crate::policy::scope::Scope;
use crate::policy::watch;

/// Where the hook runs: the environment, read once by the binary.
pub struct Env {
    pub paths: Paths,
    /// `OFFLOAD_MODE`, if set.
    pub mode: Option<String>,
    /// `CLAUDE_PROJECT_DIR`, if set.
    pub project_dir: Option<PathBuf>,
    /// `CLAUDE_ENV_FILE`, if set (SessionStart).
    pub env_file: Option<PathBuf>,
    pub home: Option<PathBuf>,
    /// `CODEX_HOME`, if set: codex's home (else `~/.codex`), whose config the guard keeps.
    pub codex_home: Option<PathBuf>,
    /// Whether a codex executable was found (SessionStart context).
    pub codex_found: Option<String>,
    pub now: DateTime<Utc>,
    /// `TMPDIR`, if set.
    pub tmpdir: Option<PathBuf>,
    /// Who wrote the hook's input, asked only for a prompt that approves a fallback (see
    /// [`crate::claude_marker::prompt_sender`]; tests pass their own).
    pub prompt_sender: fn() -> Result<Option<String>, String>,
    /// Why this prompt comes from a Claude Code nested in another one's command
    /// ([`crate::claude_marker::nested_prompt`]; tests pass their own).
    pub prompt_nested: fn() -> Option<String>,
}

/// How long the Bash analysis may take, and the snapshot of a watched command: both well inside
/// Claude Code's hook timeout (10 s as setup writes it), so a slow disk denies instead of letting
/// the call through on a timeout.
const ANALYSIS_BUDGET: Duration = Duration::from_secs(2);
const SNAPSHOT_BUDGET: Duration = Duration::from_secs(5);
/// A snapshot's base is built on for this long, then a walk writes a new one.
const BASE_MAX_AGE: Duration = Duration::from_secs(3600);
/// Files a snapshot may differ from its base by before a new base is written.
const MAX_OWN: usize = 2048;

/// What the binary must do.
#[derive(Debug, Default, PartialEq)]
pub struct Answer {
    pub stdout: String,
    pub stderr: String,
    pub exit: u8,
    /// Events to append to the ledger.
    pub record: Vec<Event>,
    /// A line to append to `CLAUDE_ENV_FILE`.
    pub env_line: Option<(PathBuf, String)>,
}

/// The message a block carries when the input cannot be judged.
pub fn unreadable(why: &str) -> String {
    format!(
        "offload-hook: {why}. offload fails closed, so this tool call is blocked. \
         If offload itself is broken, the user can turn it off with OFFLOAD_MODE=off (or \"guard\": {{\"mode\": \"off\"}} \
         in offload's config.json) and run `offload doctor`."
    )
}

/// Answer one hook call. `session` reads a session summary (only when needed).
pub fn answer(
    stdin: &[u8],
    env: &Env,
    session: impl FnOnce(&str) -> Option<SessionSummary>,
) -> Answer {
    let input = match HookInput::parse(stdin) {
        Ok(i) => i,
        Err(why) => {
            let cfg = Config::load_for_project(&env.paths.config_file, env.project_dir.as_deref());
            return match mode(env, &cfg.config) {
                Mode::Enforce => Answer {
                    stderr: unreadable(&why),
                    exit: 2,
                    ..Answer::default()
                },
                _ => Answer::default(),
            };
        }
    };
    let cwd = input
        .cwd
        .as_deref()
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let project = env
        .project_dir
        .clone()
        .or_else(|| cwd.clone())
        .unwrap_or_else(|| PathBuf::from("/"));
    let cwd = cwd.unwrap_or_else(|| project.clone());
    let loaded = Config::load_for_project(&env.paths.config_file, Some(&project));
    let mut config = loaded.config;
    // The deny reason names the model `offload run` will pick, so env overrides count here too.
    let _ = config.apply_env();
    let mode = mode(env, &config);
    let sid = input.session().map(str::to_owned);
    let event = input.event();
    // Valid JSON that is not a hook payload is judged like unreadable input: a tool call
    // without a tool name or with a tool input that is not an object cannot be judged.
    // So is a tool call under an event name offload is not registered for (`pretooluse`), and
    // a built-in tool's call without the field it acts on as a string (Claude Code checks
    // those inputs before hooks run, so only a forged payload lacks them).
    let required = |tool: &str| match tool {
        "Edit" | "Write" | "MultiEdit" => Some("file_path"),
        "NotebookEdit" => Some("notebook_path"),
        "Bash" => Some("command"),
        _ => None,
    };
    let shapeless = match event {
        HookEvent::PreToolUse | HookEvent::PreSkillShellCommand => {
            input.tool_name.is_none()
                || !input.tool_input.as_ref().is_some_and(|v| v.is_object())
                || (event == HookEvent::PreToolUse
                    && input
                        .tool_name
                        .as_deref()
                        .and_then(required)
                        .is_some_and(|field| input.input_str(field).is_none()))
        }
        HookEvent::Other => input.hook_event_name.is_none() || input.tool_name.is_some(),
        _ => input.hook_event_name.is_none(),
    };
    if shapeless && mode == Mode::Enforce {
        return Answer {
            stderr: unreadable(
                "the hook input is JSON, but not a Claude Code hook payload (no hook_event_name, a tool call under an event offload does not know, a tool call without tool_name or without a tool_input object, or an Edit, Write, NotebookEdit or Bash call without its path or command)",
            ),
            exit: 2,
            ..Answer::default()
        };
    }
    // offload's state and config, and the installed hook and statusline binaries (the wiring:
    // a `cp /bin/true` over the hook would switch the guard off).
    let mut protected = vec![
        env.paths.state_dir.clone(),
        env.paths.config_dir().to_path_buf(),
    ];
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        for bin in [
            crate::settings::HOOK_BIN,
            crate::settings::STATUSLINE_BIN,
            "offload",
        ] {
            protected.push(dir.join(bin));
        }
    }
    // codex's own config and login: where the configured codex talks, and as whom.
    if let Some(home) = crate::codex::trust::codex_home(
        env.codex_home.as_deref().and_then(Path::to_str),
        env.home.as_deref(),
    ) {
        protected.extend(crate::codex::trust::protected_files(&home));
    }
    // Attempts running now (PreToolUse only): one of this session's that still runs holds its
    // native work; one whose process died without a finish is closed as failed here.
    let pre_event = matches!(
        event,
        HookEvent::PreToolUse | HookEvent::PreSkillShellCommand
    );
    let mut closed = Vec::new();
    let mut live = None;
    if pre_event {
        for r in crate::running::list(&env.paths.state_dir) {
            if r.claim_if_dead(&env.paths.state_dir) {
                closed.push(r.died());
            } else if r.alive() && sid.is_some() && r.session == sid {
                live = Some(r);
            }
        }
    }
    // How the commands Claude is given run the CLI: its full path when `PATH` does not find it.
    let offload = crate::shell::this_offload();
    // What the guard judges a tool call with (PreToolUse, and PostToolUse when it must know
    // whether PreToolUse would have watched the command).
    let ctx = Ctx {
        config: &config.guard,
        mode,
        project: &project,
        cwd: &cwd,
        home: env.home.as_deref(),
        protected: &protected,
        runner: &config.runner,
        now: env.now,
        tmpdir: env.tmpdir.as_deref(),
        deadline: Some(Instant::now() + ANALYSIS_BUDGET),
        running: live.as_ref(),
        offload: &offload,
    };
    match event {
        HookEvent::PreToolUse | HookEvent::PreSkillShellCommand => {
            let mut a = (|| -> Answer {
                let skill = event == HookEvent::PreSkillShellCommand;
                let event_name = if skill {
                    "PreSkillShellCommand"
                } else {
                    "PreToolUse"
                };
                // A skill's inline shell command is judged as the Bash command it is.
                let skill_input;
                let input = if skill {
                    skill_input = HookInput {
                        tool_name: Some("Bash".into()),
                        ..input.clone()
                    };
                    &skill_input
                } else {
                    &input
                };
                // Judged with the attempts this call closes (their runner died) already in: the
                // failure they record is what the next call would see.
                let closed_now = &closed;
                let verdict = guard::pre_tool_use(input, &ctx, || {
                    let mut s = sid.as_deref().and_then(session)?;
                    for ev in closed_now.iter().filter(|e: &&Event| e.session == sid) {
                        let end = s.events_len;
                        s.apply(ev, end);
                    }
                    Some(s)
                });
                let verdict = match verdict {
                    Verdict::Watch(w) => {
                        let store = Store::new(&env.paths.state_dir);
                        let problem = if skill {
                            Some(
                                "a skill's shell command has no PostToolUse in which to check it"
                                    .to_owned(),
                            )
                        } else {
                            let scope = Scope::new(&project, &config.guard, &protected);
                            start_watch(&store, &scope, &project, sid.as_deref(), input, &w, env)
                                .err()
                        };
                        match problem {
                            None => return Answer::default(),
                            Some(p) => {
                                let reason = crate::policy::messages::cannot_watch(
                                    &w.why[0],
                                    &p,
                                    &w.denial.reason,
                                );
                                if w.warn {
                                    Verdict::Warn(guard::Denial {
                                        reason: crate::policy::messages::warn(&reason),
                                        ..w.denial
                                    })
                                } else {
                                    Verdict::Deny(guard::Denial { reason, ..w.denial })
                                }
                            }
                        }
                    }
                    v => v,
                };
                match verdict {
                    Verdict::Silent | Verdict::Watch(_) => Answer::default(),
                    Verdict::Deny(d) => Answer {
                        stdout: claude::deny_json_for(event_name, &d.reason),
                        record: vec![Event::now(
                            sid.as_deref(),
                            Body::GuardDenied {
                                tool: d.tool,
                                reason: d.code.into(),
                                warn: false,
                            },
                        )],
                        ..Answer::default()
                    },
                    Verdict::Warn(d) => Answer {
                        stdout: claude::context_json(event_name, &d.reason),
                        record: vec![Event::now(
                            sid.as_deref(),
                            Body::GuardDenied {
                                tool: d.tool,
                                reason: d.code.into(),
                                warn: true,
                            },
                        )],
                        ..Answer::default()
                    },
                }
            })();
            a.record.splice(0..0, closed);
            a
        }
        HookEvent::UserPromptSubmit => {
            let prompt = input.prompt.as_deref().unwrap_or("");
            if prompt.trim_start().starts_with("<task-notification>") {
                return Answer::default();
            }
            // A `claude` a command started inside the session (`claude -p … --resume <id>`
            // from the Bash tool) is not the user: its prompt starts no turn.
            if let Some(why) = (env.prompt_nested)() {
                return Answer {
                    stdout: format!(
                        "offload: this prompt does not start a turn of the session: {why}."
                    ),
                    ..Answer::default()
                };
            }
            let mut record = vec![Event::now(
                sid.as_deref(),
                Body::TurnStarted {
                    prompt_id: None,
                    project: Some(project.display().to_string()),
                },
            )];
            let gate_on = config.guard.review_gate.enabled && mode != Mode::Off;
            let mut approved = guard::approval_in(prompt, &config.guard.approval_phrase);
            // A prompt Claude wrote into a tool call earlier (a wakeup it scheduled, which
            // Claude Code submits as if the user typed it) is not the user's approval.
            let mut scheduled = None;
            if approved
                && let Some(t) = input.transcript_path.as_deref().map(Path::new)
                && t.is_absolute()
            {
                scheduled = claude::prompt_claude_wrote(t, prompt, &config.guard.approval_phrase);
                approved = scheduled.is_none();
            }
            // Who wrote this input: asked once, for the gate and for an approval.
            let sender = (gate_on || (approved && sid.is_some())).then(env.prompt_sender);
            let mut stdout = String::new();
            // The review gate's start of the turn: a snapshot of the work tree. Only for a
            // prompt Claude Code sent: one a command forged would move the start past the
            // turn's changes, and the stop would review nothing.
            if gate_on {
                match &sender {
                    Some(Ok(_)) => {
                        let scope = Scope::new(&project, &config.guard, &protected);
                        let ctx = review_ctx(env, &config, mode, &scope, sid.as_deref(), &project);
                        // A failure here must not block the prompt: the stop says what is
                        // missing.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            crate::review::gate::on_prompt(&ctx)
                        }));
                    }
                    Some(Err(why)) => {
                        stdout = format!(
                            "offload: the review gate kept this turn's start where it was: this prompt's input did not come from Claude Code ({why})."
                        );
                    }
                    None => {}
                }
            }
            if approved && sid.is_some() {
                match sender.unwrap_or_else(env.prompt_sender) {
                    Ok(unverified) => {
                        record.push(Event::now(
                            sid.as_deref(),
                            Body::ApprovalGranted {
                                source: "prompt".into(),
                                terminal: None,
                                unverified,
                            },
                        ));
                        if mode != Mode::Off {
                            stdout = "offload: the user approved a native fallback for this turn; native tools may be used for the work Codex could not do.".into();
                        }
                    }
                    Err(why) => {
                        stdout = format!(
                            "offload: this prompt's approval was not recorded: {why}. The user can approve with `{offload} approve` in their own terminal."
                        );
                    }
                }
            }
            if let Some(tool) = scheduled {
                stdout = format!(
                    "offload: this prompt's approval was not recorded: Claude wrote it earlier in this session (its {tool} call), so it is not the user's. The user can approve by typing it, or with `{offload} approve` in their own terminal."
                );
            }
            Answer {
                stdout,
                record,
                ..Answer::default()
            }
        }
        HookEvent::SessionStart => {
            let env_line = match (&env.env_file, &sid) {
                (Some(f), Some(id)) => Some((
                    f.clone(),
                    format!(
                        "export {}={}\n",
                        crate::env::OFFLOAD_SESSION_ID,
                        crate::shell::quote(id)
                    ),
                )),
                _ => None,
            };
            let stdout = if mode == Mode::Off {
                String::new()
            } else {
                let mut context = session_context(
                    mode,
                    env.codex_found.as_deref(),
                    &config.guard.approval_phrase,
                    &project,
                    &offload,
                );
                if config.guard.review_gate.enabled {
                    context.push_str(
                        " offload's review gate is on: when you stop after changing code, Codex reviews the turn's diff; \
                         a stop blocked with its findings means fix them (through offload run) or explain why they are not problems.",
                    );
                }
                context
            };
            Answer {
                stdout,
                env_line,
                ..Answer::default()
            }
        }
        HookEvent::PostToolUse | HookEvent::PostToolUseFailure => {
            if input.tool_name.as_deref() != Some("Bash") {
                return Answer::default();
            }
            let event_name = if event == HookEvent::PostToolUse {
                "PostToolUse"
            } else {
                "PostToolUseFailure"
            };
            let store = Store::new(&env.paths.state_dir);
            let pending = store.pending(sid.as_deref(), input.tool_use_id.as_deref());
            if std::fs::symlink_metadata(&pending).is_err() {
                // No snapshot. Would PreToolUse have taken one? Then the command removed it
                // (or the state folder failed): its effect cannot be checked, and Claude and
                // the user are told. (Judged with the mode PreToolUse had, not a mode the
                // command may have just written.)
                if mode == Mode::Off {
                    return Answer::default();
                }
                return match guard::pre_tool_use(&input, &ctx, || sid.as_deref().and_then(session))
                {
                    Verdict::Watch(w) => Answer {
                        stdout: claude::context_json(
                            event_name,
                            &format!(
                                "offload: this Bash command {}, so offload took a snapshot of the code before it ran to check its effect, \
                                 and the snapshot is gone now (removed while the command ran). What it did to the code was NOT checked: \
                                 tell the user. {}",
                                w.why[0], w.denial.reason
                            ),
                        ),
                        record: vec![Event::now(
                            sid.as_deref(),
                            Body::GuardDenied {
                                tool: "Bash".into(),
                                reason: "effect-unchecked".into(),
                                warn: false,
                            },
                        )],
                        ..Answer::default()
                    },
                    _ => Answer::default(),
                };
            }
            let scope = Scope::new(&project, &config.guard, &protected);
            finish_watch(
                &store,
                &pending,
                &scope,
                sid.as_deref(),
                &config,
                env,
                event_name,
                session,
            )
        }
        HookEvent::Stop => {
            if !config.guard.review_gate.enabled || mode == Mode::Off {
                return Answer::default();
            }
            let scope = Scope::new(&project, &config.guard, &protected);
            let ctx = review_ctx(env, &config, mode, &scope, sid.as_deref(), &project);
            let active = input.stop_hook_active.unwrap_or(false);
            // An internal error is reported, never turned into a block (exit 2 would block
            // every stop after it).
            let reply = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                crate::review::gate::on_stop(&ctx, active)
            }))
            .unwrap_or_else(|_| crate::review::gate::Reply {
                message: Some(
                    "offload review: NOT reviewed: offload-hook hit an internal error (please report it). The stop was not blocked."
                        .into(),
                ),
                ..Default::default()
            });
            Answer {
                stdout: reply.json(),
                record: reply
                    .record
                    .map(|r| vec![Event::now(sid.as_deref(), Body::Review(r))])
                    .unwrap_or_default(),
                ..Answer::default()
            }
        }
        HookEvent::Other => Answer::default(),
    }
}

/// The review gate's view of this hook run.
fn review_ctx<'a>(
    env: &Env,
    config: &'a Config,
    mode: Mode,
    scope: &'a Scope,
    session: Option<&'a str>,
    project: &'a Path,
) -> crate::review::gate::Ctx<'a> {
    crate::review::gate::Ctx {
        session,
        project,
        gate: &config.guard.review_gate,
        mode,
        scope,
        store: crate::review::state::Store::new(&env.paths.state_dir),
        offload: offload_bin(),
        now: env.now,
    }
}

/// The `offload` CLI: beside this executable (they are installed together), else on `PATH`.
fn offload_bin() -> Option<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|e| Some(e.parent()?.join("offload")));
    beside
        .and_then(|b| crate::process::resolve_bin(&b.display().to_string()).ok())
        .or_else(|| crate::process::resolve_bin("offload").ok())
}

/// What PreToolUse keeps beside a watched command's snapshot for PostToolUse.
#[derive(serde::Serialize, serde::Deserialize)]
struct WatchMeta {
    why: String,
    code: String,
    reason: String,
    warn: bool,
    command: String,
    /// The ledger's length before the command, and offload's config files and the user's
    /// Claude Code settings as they were (see [`Guarded`]).
    #[serde(default)]
    guarded: Option<Guarded>,
}

/// What PreToolUse of a watched command keeps of offload's own records and config, so that
/// PostToolUse can tell what code it cannot read did to them (the effect check itself covers
/// the project's code): lines appended to the ledger that only offload itself may write (an
/// approval, an attempt's end) and rewritten config (put back) or settings that now switch
/// offload off (put back).
#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Guarded {
    ledger: PathBuf,
    ledger_len: u64,
    /// Path, and its bytes before (`None`: absent, or too big to keep and judge).
    files: Vec<(PathBuf, Option<String>, bool)>,
    /// offload's installed binaries beside the hook, and their identity before.
    #[serde(default)]
    bins: Vec<(PathBuf, Option<crate::tamper::BinSig>)>,
    /// The user's `~/.claude.json` (see [`guard::user_mcp_files`]) and the MCP servers it
    /// defined before ([`mcp_view`]; `None`: too big or not JSON, not judged). Only these keys
    /// are kept and put back: Claude Code itself writes the rest of the file all the time.
    #[serde(default)]
    mcp: Vec<(PathBuf, Option<serde_json::Value>)>,
}

/// The largest `~/.claude.json` kept and judged (Claude Code keeps much state there).
const CLAUDE_JSON_MAX: u64 = 16 << 20;

/// What `~/.claude.json` defines of MCP servers: its top-level `mcpServers` and each
/// `projects.<path>.mcpServers`, as they are (absent keys left out). `None` when the file is
/// there but cannot be read as JSON (too big, not a regular file, not JSON); an absent file
/// defines none.
fn mcp_view(path: &Path) -> Option<serde_json::Value> {
    use serde_json::{Map, Value};
    if std::fs::symlink_metadata(path).is_err() {
        return Some(Value::Object(Map::new()));
    }
    let text = crate::fsutil::read_regular_text(path, CLAUDE_JSON_MAX)?;
    let file: Value = serde_json::from_str(&text).ok()?;
    let mut view = Map::new();
    if let Some(v) = file.get("mcpServers") {
        view.insert("mcpServers".into(), v.clone());
    }
    let mut projects = Map::new();
    for (p, entry) in file
        .get("projects")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if let Some(v) = entry.get("mcpServers") {
            projects.insert(p.clone(), serde_json::json!({ "mcpServers": v }));
        }
    }
    if !projects.is_empty() {
        view.insert("projects".into(), Value::Object(projects));
    }
    Some(Value::Object(view))
}

/// `file` with its MCP server definitions set back to `before` ([`mcp_view`]): the top-level
/// `mcpServers` and every project's, each as it was (taken out when there was none). Nothing
/// else in it is touched.
fn put_back_mcp(file: &mut serde_json::Value, before: &serde_json::Value) {
    let Some(obj) = file.as_object_mut() else {
        return;
    };
    match before.get("mcpServers") {
        Some(v) => {
            obj.insert("mcpServers".into(), v.clone());
        }
        None => {
            obj.remove("mcpServers");
        }
    }
    for (p, entry) in obj
        .get_mut("projects")
        .and_then(serde_json::Value::as_object_mut)
        .into_iter()
        .flatten()
    {
        let Some(entry) = entry.as_object_mut() else {
            continue;
        };
        match before["projects"][p.as_str()].get("mcpServers") {
            Some(v) => {
                entry.insert("mcpServers".into(), v.clone());
            }
            None => {
                entry.remove("mcpServers");
            }
        }
    }
}

/// Offload's config files and the user's Claude Code settings, with their text now, and
/// whether each is settings (judged by meaning) or offload's config (any change put back).
fn guarded_now(paths: &crate::paths::Paths, project: &Path, home: Option<&Path>) -> Guarded {
    let mut files: Vec<(PathBuf, bool)> = vec![
        (paths.config_file.clone(), false),
        (project.join(".claude/offload.json"), false),
    ];
    if let Some(h) = home {
        files.push((h.join(".claude/settings.json"), true));
        files.push((h.join(".claude/settings.local.json"), true));
    }
    let bins = std::env::current_exe()
        .ok()
        .map(|hook| {
            [
                "offload",
                crate::settings::HOOK_BIN,
                crate::settings::STATUSLINE_BIN,
            ]
            .map(|name| {
                let p = hook.with_file_name(name);
                let sig = crate::tamper::bin_sig(&p);
                (p, sig)
            })
            .to_vec()
        })
        .unwrap_or_default();
    Guarded {
        mcp: guard::user_mcp_files(home)
            .into_iter()
            .map(|p| {
                let view = mcp_view(&p);
                (p, view)
            })
            .collect(),
        bins,
        ledger: paths.events(),
        ledger_len: std::fs::metadata(paths.events()).map_or(0, |m| m.len()),
        files: files
            .into_iter()
            .map(|(p, settings)| {
                let text = crate::fsutil::read_regular_text(&p, 1 << 20);
                (p, text, settings)
            })
            .collect(),
    }
}

/// What a watched command did behind the guard to what [`Guarded`] kept: each finding, after
/// putting back rewritten config (the new text kept in the undo store).
fn guarded_findings(g: &Guarded, store: &Store, sid: Option<&str>, command: &str) -> Vec<String> {
    let mut found = Vec::new();
    // Lines appended while the command ran that only offload writes, for this session.
    let len = std::fs::metadata(&g.ledger).map_or(0, |m| m.len());
    if len > g.ledger_len
        && let Ok(f) = crate::ledger::open_log_read(&g.ledger)
    {
        use std::os::unix::fs::FileExt;
        let n = (len - g.ledger_len).min(4 << 20) as usize;
        let mut buf = vec![0u8; n];
        if f.read_exact_at(&mut buf, g.ledger_len).is_ok() {
            let runs_offload = command.contains("offload") && command.contains("run");
            for line in buf.split(|b| *b == b'\n') {
                let Ok(ev) = serde_json::from_slice::<Event>(line) else {
                    continue;
                };
                if ev.session.as_deref() != sid {
                    continue;
                }
                match &ev.body {
                    Body::ApprovalGranted { source, .. } => found.push(format!(
                        "an approval (source {source:?}) was recorded while the command ran"
                    )),
                    Body::AttemptFinished(a) if !runs_offload && a.outcome.is_success() => {
                        found.push(format!(
                            "a successful attempt ({}) was recorded by a command that runs no `offload run`",
                            a.attempt
                        ))
                    }
                    _ => {}
                }
            }
        }
    }
    for (path, before) in &g.bins {
        if crate::tamper::bin_sig(path) != *before {
            found.push(format!(
                "{} (offload's own program) was replaced or changed",
                path.display()
            ));
        }
    }
    for (path, before) in &g.mcp {
        let Some(before) = before else { continue };
        // Unreadable now: Claude Code cannot read it either (it starts none of its servers).
        let Some(after) = mcp_view(path) else {
            continue;
        };
        let Some(why) = crate::settings::mcp_servers_change(before, &after, true) else {
            continue;
        };
        found.push(put_back_claude_json(path, before, &why, store));
    }
    for (path, before, settings) in &g.files {
        let after = crate::fsutil::read_regular_text(path, 1 << 20);
        if after == *before {
            continue;
        }
        let changed = if *settings {
            crate::settings::weakens_text(
                before.as_deref().map(str::as_bytes),
                after.as_deref().map(str::as_bytes),
            )
        } else {
            Some("offload's config, which only the user changes".to_string())
        };
        let Some(why) = changed else { continue };
        let kept = store.undone_dir().join(format!(
            "{}-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f"),
            crate::fsutil::safe_name(&path.display().to_string(), 120)
        ));
        let _ = crate::fsutil::create_private_dir(&store.undone_dir());
        if let Some(a) = &after {
            let _ = crate::fsutil::write_atomic(&kept, a.as_bytes());
        }
        let put_back = match before {
            Some(b) => crate::fsutil::write_atomic(path, b.as_bytes()),
            None => std::fs::remove_file(path),
        };
        found.push(match put_back {
            Ok(()) => format!(
                "{} was rewritten ({why}); put back, the new text kept in {}",
                path.display(),
                kept.display()
            ),
            Err(e) => format!(
                "{} was rewritten ({why}) and could not be put back: {e}",
                path.display()
            ),
        });
    }
    found
}

/// Put `~/.claude.json`'s MCP server definitions back to `before` (the new text kept in the undo
/// store): the file is read again and only those keys are set back, so that what Claude Code
/// wrote to the rest of it meanwhile stays. What happened, for the findings.
fn put_back_claude_json(
    path: &Path,
    before: &serde_json::Value,
    why: &str,
    store: &Store,
) -> String {
    let kept = store.undone_dir().join(format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f"),
        crate::fsutil::safe_name(&path.display().to_string(), 120)
    ));
    let put_back = (|| -> std::io::Result<()> {
        let text = crate::fsutil::read_regular_text(path, CLAUDE_JSON_MAX)
            .ok_or_else(|| std::io::Error::other("it can no longer be read"))?;
        let _ = crate::fsutil::create_private_dir(&store.undone_dir());
        let _ = crate::fsutil::write_atomic(&kept, text.as_bytes());
        let mut file: serde_json::Value =
            serde_json::from_str(&text).map_err(std::io::Error::other)?;
        put_back_mcp(&mut file, before);
        crate::fsutil::write_atomic(
            path,
            crate::settings::to_pretty(&file, Some(&text)).as_bytes(),
        )
    })();
    match put_back {
        Ok(()) => format!(
            "{} was rewritten (it {why}); its MCP servers put back, the new text kept in {}",
            path.display(),
            kept.display()
        ),
        Err(e) => format!(
            "{} was rewritten (it {why}) and its MCP servers could not be put back: {e}",
            path.display()
        ),
    }
}

/// PreToolUse of a watched command: snapshot the project's code files.
fn start_watch(
    store: &Store,
    scope: &Scope,
    project: &Path,
    sid: Option<&str>,
    input: &HookInput,
    w: &guard::Watch,
    env: &Env,
) -> Result<(), String> {
    let paths = &env.paths;
    let deadline = Instant::now() + SNAPSHOT_BUDGET;
    // The project's last snapshot, and what the watcher saw touched since (shared::policy::watch).
    let base_path = store.baseline(project, scope);
    // A base older than an hour is not built on: a walk now and then refreshes what it keeps.
    let base = effect::Snapshot::load(&base_path)
        .filter(|b| b.project == project && b.base_age().is_some_and(|a| a < BASE_MAX_AGE));
    let since = base.as_ref().and_then(|b| b.watch.as_ref().map(|w| w.1));
    let key = watch::key(store, project, scope);
    let answer = watch::ask(store, &key, since, ask_deadline(deadline));
    let fail =
        |e: std::io::Error| format!("cannot save the snapshot in {} ({e})", store.root.display());
    let fast = match (&base, &answer) {
        (Some(b), Some(a))
            if b.watch.as_ref().is_some_and(|w| w.0 == a.id) && a.touched.is_some() =>
        {
            let touched = a.touched.as_deref().unwrap_or_default();
            // A base that cannot be read back only costs a walk.
            effect::take_touched(b, touched, scope, store, deadline)
                .ok()
                .map(|mut s| {
                    s.watch = Some((a.id.clone(), a.mark));
                    s
                })
        }
        _ => None,
    };
    let snap = match fast {
        Some(mut s) => {
            if s.own_len() > MAX_OWN {
                s = s.rebase(store).map_err(fail)?;
            }
            s
        }
        None => {
            if answer.is_none() {
                watch::spawn(project, &paths.config_file, &paths.state_dir, &key);
            }
            let mut s = effect::take(project, scope, store, deadline)?;
            s.watch = answer.map(|a| (a.id, a.mark));
            if s.watch.is_some() {
                s = s.rebase(store).map_err(fail)?;
            }
            s
        }
    };
    let path = store.pending(sid, input.tool_use_id.as_deref());
    let meta = WatchMeta {
        why: w.why[0].clone(),
        code: w.denial.code.into(),
        reason: w.denial.reason.clone(),
        warn: w.warn,
        command: input
            .input_str("command")
            .unwrap_or("")
            .chars()
            .take(2000)
            .collect(),
        guarded: Some(guarded_now(paths, project, env.home.as_deref())),
    };
    let save = || -> std::io::Result<()> {
        crate::fsutil::create_private_dir(&store.pending_dir())?;
        let meta = serde_json::to_vec(&meta).map_err(std::io::Error::other)?;
        crate::fsutil::write_atomic(&path.with_extension("json"), &meta)?;
        let bytes = snap.encode();
        crate::fsutil::write_atomic(&path, &bytes)?;
        if snap.watch.is_some() {
            // The next command starts from this one (a failure only costs it a walk).
            let _ = crate::fsutil::write_atomic(&base_path, &bytes);
        }
        Ok(())
    };
    save().map_err(|e| {
        format!(
            "cannot save the snapshot in {} ({e})",
            store.pending_dir().display()
        )
    })
}

/// PostToolUse of a watched command: undo what it did to code while edits stay locked.
#[allow(clippy::too_many_arguments)]
fn finish_watch(
    store: &Store,
    pending: &Path,
    scope: &Scope,
    sid: Option<&str>,
    config: &Config,
    env: &Env,
    event_name: &str,
    session: impl FnOnce(&str) -> Option<SessionSummary>,
) -> Answer {
    let meta_path = pending.with_extension("json");
    let snap = effect::Snapshot::load(pending);
    let meta: Option<WatchMeta> = crate::fsutil::read_regular_text(&meta_path, 1 << 20)
        .and_then(|t| serde_json::from_str(&t).ok());
    effect::Snapshot::discard(pending);
    let _ = std::fs::remove_file(&meta_path);
    let unchecked = || {
        vec![Event::now(
            sid,
            Body::GuardDenied {
                tool: "Bash".into(),
                reason: "effect-unchecked".into(),
                warn: false,
            },
        )]
    };
    let (Some(snap), Some(meta)) = (snap, meta) else {
        return Answer {
            stdout: claude::context_json(
                event_name,
                "offload: the snapshot taken before this Bash command could not be read back (was it changed while the command ran?), so its effect on the code was NOT checked: tell the user.",
            ),
            record: unchecked(),
            ..Answer::default()
        };
    };
    // What it did to offload's own records and config comes first: a forged approval or
    // success must not unlock the command's own writes.
    let tampered = meta
        .guarded
        .as_ref()
        .map(|g| guarded_findings(g, store, sid, &meta.command))
        .unwrap_or_default();
    if !tampered.is_empty() {
        let what = tampered.join("; ");
        let mut answer = finish_watch_checked(store, &snap, scope, sid, &meta, event_name);
        answer
            .record
            .push(Event::now(sid, Body::Tamper { what: what.clone() }));
        let text = format!(
            "offload: this Bash command changed offload's own records or config behind the guard: {what}. Nothing in this turn unlocks native work now. Tell the user."
        );
        answer.stdout = claude::context_json(event_name, &text);
        return answer;
    }
    // An attempt that succeeded (or an approval given) while the command ran unlocks its writes.
    if guard::unlocked(sid.and_then(session).as_ref(), &config.guard, env.now) {
        return Answer::default();
    }
    finish_watch_checked(store, &snap, scope, sid, &meta, event_name)
}

/// The effect check proper of a watched command: undo what it did to code.
fn finish_watch_checked(
    store: &Store,
    snap: &effect::Snapshot,
    scope: &Scope,
    sid: Option<&str>,
    meta: &WatchMeta,
    event_name: &str,
) -> Answer {
    let unchecked = || {
        vec![Event::now(
            sid,
            Body::GuardDenied {
                tool: "Bash".into(),
                reason: "effect-unchecked".into(),
                warn: false,
            },
        )]
    };
    let deadline = Instant::now() + SNAPSHOT_BUDGET;
    // What the watcher saw touched since PreToolUse, when it is the same watcher.
    let touched = snap.watch.as_ref().and_then(|(id, mark)| {
        let key = watch::key(store, &snap.project, scope);
        watch::ask(store, &key, Some(*mark), ask_deadline(deadline))
            .filter(|a| a.id == *id)
            .and_then(|a| a.touched)
    });
    let checked = match &touched {
        Some(t) => effect::check_touched(snap, t, scope, store, deadline),
        None => effect::check(snap, scope, store, deadline),
    };
    let changes = match checked {
        Ok(c) => c,
        Err(e) => {
            return Answer {
                stdout: claude::context_json(
                    event_name,
                    &format!(
                        "offload: could not check this Bash command's effect on the code: {e}. Tell the user."
                    ),
                ),
                record: unchecked(),
                ..Answer::default()
            };
        }
    };
    maybe_prune(store);
    if changes.is_empty() {
        return Answer::default();
    }
    let names = |list: &[&effect::Changed]| -> String {
        let mut parts: Vec<String> = list
            .iter()
            .take(12)
            .map(|c| {
                let what = match c.change {
                    effect::Change::Created => "created",
                    effect::Change::Modified => "changed",
                    effect::Change::Deleted => "deleted",
                };
                format!("{} {what}", c.path())
            })
            .collect();
        if list.len() > 12 {
            parts.push(format!("and {} more", list.len() - 12));
        }
        parts.join(", ")
    };
    let all: Vec<&effect::Changed> = changes.iter().collect();
    if meta.warn {
        return Answer {
            stdout: claude::context_json(
                event_name,
                &crate::policy::messages::would_undo(&names(&all), &meta.why),
            ),
            record: vec![Event::now(
                sid,
                Body::GuardDenied {
                    tool: "Bash".into(),
                    reason: "effect".into(),
                    warn: true,
                },
            )],
            ..Answer::default()
        };
    }
    let text = match effect::undo(snap, &changes, store, sid, &meta.command) {
        Ok(rec) => {
            let failed: Vec<String> = rec
                .files
                .iter()
                .filter_map(|f| f.problem.as_ref().map(|p| format!("{}: {p}", f.path)))
                .collect();
            let mut text = crate::policy::messages::undone(
                &names(&all),
                &rec.id,
                &meta.why,
                &meta.reason,
                &crate::shell::this_offload(),
            );
            if !failed.is_empty() {
                text.push_str(&format!(" Not undone: {}.", failed.join("; ")));
            }
            text
        }
        Err(e) => format!(
            "offload: this Bash command changed the project's code ({}) while native edits are locked, and offload could not undo it: {e}. Tell the user. {}",
            names(&all),
            meta.reason
        ),
    };
    Answer {
        stdout: claude::context_json(event_name, &text),
        record: vec![Event::now(
            sid,
            Body::GuardDenied {
                tool: "Bash".into(),
                reason: "undone".into(),
                warn: false,
            },
        )],
        ..Answer::default()
    }
}

/// How long the hook waits for the watcher: little, since walking the project is the fallback.
fn ask_deadline(deadline: Instant) -> Instant {
    deadline.min(Instant::now() + Duration::from_millis(500))
}

/// Prune the effect check's store at most once an hour (one `stat` otherwise).
fn maybe_prune(store: &Store) {
    let marker = store.root.join("pruned");
    let fresh = std::fs::metadata(&marker)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|m| m.elapsed().ok())
        .is_some_and(|d| d < Duration::from_secs(3600));
    if !fresh {
        effect::prune(store);
        let _ = crate::fsutil::write_atomic(&marker, b"");
    }
}

fn mode(env: &Env, config: &Config) -> Mode {
    env.mode
        .as_deref()
        .and_then(Mode::parse)
        .unwrap_or(config.guard.mode)
}

fn session_context(
    mode: Mode,
    codex: Option<&str>,
    phrase: &str,
    project: &Path,
    offload: &str,
) -> String {
    let codex = match codex {
        Some(p) => format!("codex is ready ({p})"),
        None => {
            "codex was NOT found (install it or set CODEX_BIN); offload run will report `missing`"
                .into()
        }
    };
    let dir = crate::shell::quote(&project.display().to_string()).into_owned();
    format!(
        "offload ({}): route work to Codex first; {codex}. Exploration: `{offload} run --work-type explore '<question>' read-only {dir}`. \
         Code changes: `{offload} run --work-type code '<task>' workspace-write {dir}`. Analysis: `--work-type analysis`. \
         {} {} Native Explore/general-purpose subagents and native code edits are blocked until a Codex attempt succeeds in the turn; \
         after a failed attempt, ask the user to approve a fallback (\"{phrase}\").{}",
        mode.as_str(),
        crate::policy::messages::QUOTING,
        crate::policy::messages::long_work(offload),
        if offload == "offload" {
            String::new()
        } else {
            format!(
                " `offload` is not on PATH here: run it as `{offload}` wherever the plan-and-execute skill says `offload`."
            )
        }
    )
}
