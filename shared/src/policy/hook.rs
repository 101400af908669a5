//! One hook invocation from stdin bytes to an answer, as a function: what to print, the exit
//! code, and the events to record. The `offload-hook` binary only does the I/O around it.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::claude::{self, Event as HookEvent, HookInput};
use crate::config::{Config, Mode};
use crate::ledger::{Body, Event, SessionSummary};
use crate::paths::Paths;
use crate::policy::guard::{self, Ctx, Verdict};

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
    /// Whether a codex executable was found (SessionStart context).
    pub codex_found: Option<String>,
    pub now: DateTime<Utc>,
}

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
    match input.event() {
        HookEvent::PreToolUse => {
            let protected = [
                env.paths.state_dir.clone(),
                env.paths.config_dir().to_path_buf(),
            ];
            let ctx = Ctx {
                config: &config.guard,
                mode,
                project: &project,
                cwd: &cwd,
                home: env.home.as_deref(),
                protected: &protected,
                runner: &config.runner,
                now: env.now,
            };
            let verdict = guard::pre_tool_use(&input, &ctx, || sid.as_deref().and_then(session));
            match verdict {
                Verdict::Silent => Answer::default(),
                Verdict::Deny(d) => Answer {
                    stdout: claude::deny_json(&d.reason),
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
                    stdout: claude::context_json("PreToolUse", &d.reason),
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
        }
        HookEvent::UserPromptSubmit => {
            let prompt = input.prompt.as_deref().unwrap_or("");
            if prompt.trim_start().starts_with("<task-notification>") {
                return Answer::default();
            }
            let mut record = vec![Event::now(
                sid.as_deref(),
                Body::TurnStarted { prompt_id: None },
            )];
            let phrase = config.guard.approval_phrase.trim().to_lowercase();
            let approved = !phrase.is_empty() && prompt.to_lowercase().contains(&phrase);
            let mut stdout = String::new();
            if approved && sid.is_some() {
                record.push(Event::now(
                    sid.as_deref(),
                    Body::ApprovalGranted {
                        source: "prompt".into(),
                    },
                ));
                if mode != Mode::Off {
                    stdout = "offload: the user approved a native fallback for this turn; native tools may be used for the work Codex could not do.".into();
                }
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
                session_context(
                    mode,
                    env.codex_found.as_deref(),
                    &config.guard.approval_phrase,
                    &project,
                )
            };
            Answer {
                stdout,
                env_line,
                ..Answer::default()
            }
        }
        HookEvent::PostToolUse | HookEvent::Other => Answer::default(),
    }
}

fn mode(env: &Env, config: &Config) -> Mode {
    env.mode
        .as_deref()
        .and_then(Mode::parse)
        .unwrap_or(config.guard.mode)
}

fn session_context(mode: Mode, codex: Option<&str>, phrase: &str, project: &Path) -> String {
    let codex = match codex {
        Some(p) => format!("codex is ready ({p})"),
        None => {
            "codex was NOT found (install it or set CODEX_BIN); offload run will report `missing`"
                .into()
        }
    };
    let dir = crate::shell::quote(&project.display().to_string()).into_owned();
    format!(
        "offload ({}): route work to Codex first; {codex}. Exploration: `offload run --work-type explore \"<question>\" read-only {dir}`. \
         Code changes: `offload run --work-type code \"<task>\" workspace-write {dir}`. Analysis: `--work-type analysis`. \
         Native Explore/general-purpose subagents and native code edits are blocked until a Codex attempt succeeds in the turn; \
         after a failed attempt, ask the user to approve a fallback (\"{phrase}\").",
        mode.as_str()
    )
}
