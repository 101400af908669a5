//! Every environment variable offload reads, declared once, with its meaning and default.
//!
//! Precedence everywhere: a command-line flag beats the environment, which beats the config
//! file, which beats the default written in code (see [`crate::config`]).

/// Root folder for both config and state. When set, `config.json`, `events.jsonl` and the
/// summaries all live directly in it. Unset: platform folders (see [`crate::paths`]).
pub const OFFLOAD_HOME: &str = "OFFLOAD_HOME";

/// Session id written by offload's SessionStart hook into `CLAUDE_ENV_FILE`, for Claude Code
/// versions that do not set [`CLAUDE_CODE_SESSION_ID`] for Bash commands.
pub const OFFLOAD_SESSION_ID: &str = "OFFLOAD_SESSION_ID";

/// Session id Claude Code sets for hooks and for the commands its Bash tool runs (2.1.330).
pub const CLAUDE_CODE_SESSION_ID: &str = "CLAUDE_CODE_SESSION_ID";

/// Set by `offload run --background` for the detached run it starts: the job's id (its folder
/// `jobs/<id>/` in the state folder). Not for people.
pub const OFFLOAD_JOB: &str = "OFFLOAD_JOB";

/// Set by `offload run` for codex (and so for everything codex starts): the attempt's id. A
/// run whose own process died is closed by the next hook or run, which also ends every process
/// still carrying its tag (one codex left behind when both offload and its reaper were
/// killed). Not for people.
pub const OFFLOAD_ATTEMPT: &str = "OFFLOAD_ATTEMPT";

/// Set by offload for the codex it asks for its model catalog (`codex debug models`): the
/// asking process's pid and start time. What such a question leaves running (a codex that
/// forked a daemon) is ended by that tag when the question ends, when the run ends, or when the
/// run died and its attempt is closed. Not for people.
pub const OFFLOAD_PROBE: &str = "OFFLOAD_PROBE";

/// `1` inside Claude Code (hooks and Bash tool commands).
pub const CLAUDECODE: &str = "CLAUDECODE";

/// Claude Code's managed settings folder for `offload setup --managed` and `uninstall
/// --managed`. Default: `/etc/claude-code` (Linux), `/Library/Application Support/ClaudeCode`
/// (macOS).
pub const OFFLOAD_MANAGED_DIR: &str = "OFFLOAD_MANAGED_DIR";

/// Guard mode override: `enforce`, `warn` or `off`. Default: config `guard.mode`, else `enforce`.
pub const OFFLOAD_MODE: &str = "OFFLOAD_MODE";

/// Model for `offload run` when neither `--model` nor `--work-type` is given. Default `gpt-5.4`.
pub const CODEX_MODEL: &str = "CODEX_MODEL";

/// Model for code, explore and review work (`--work-type`). Default `gpt-5.3-codex`.
pub const CODEX_MODEL_CODE: &str = "CODEX_MODEL_CODE";

/// Model for analysis work (`--work-type analysis`). Default `gpt-5.4`.
pub const CODEX_MODEL_LOGIC: &str = "CODEX_MODEL_LOGIC";

/// Reasoning effort passed as `-c model_reasoning_effort=...`. Default `xhigh`.
pub const CODEX_EFFORT: &str = "CODEX_EFFORT";

/// Wall-clock limit of one Codex attempt: seconds (`600`) or a humantime (`10m`), 100 ms to 24 h.
/// Default 600 s. Out of range: ignored with a warning.
pub const CODEX_TIMEOUT: &str = "CODEX_TIMEOUT";

/// `1` (default): every non-success exits 20. `0`: distinct exit codes 10/11/12/13/1.
pub const CODEX_FAIL_CLOSED: &str = "CODEX_FAIL_CLOSED";

/// The codex executable: a path, or a name looked up on `PATH`. Default `codex`.
pub const CODEX_BIN: &str = "CODEX_BIN";

/// Codex's own home (config, sessions, rollouts). Default `~/.codex`.
pub const CODEX_HOME: &str = "CODEX_HOME";

/// Grace between SIGTERM and SIGKILL when offload ends codex: seconds or humantime, 0 to 60 s.
/// Default 3 s. Out of range: ignored with a warning.
pub const OFFLOAD_KILL_GRACE: &str = "OFFLOAD_KILL_GRACE";

/// How much of codex's output a run folder keeps, in MiB, 1 to 4096. Default 64. Out of range:
/// ignored with a warning.
pub const OFFLOAD_MAX_OUTPUT_MB: &str = "OFFLOAD_MAX_OUTPUT_MB";

/// How many per-run folders under `runs/` to keep, 0 to 1 000 000. Default 50.
pub const OFFLOAD_RUNS_KEEP: &str = "OFFLOAD_RUNS_KEEP";

/// Set by `NO_COLOR` convention: no ANSI colours in any output.
pub const NO_COLOR: &str = "NO_COLOR";

/// Read an environment variable, treating unset, empty and non-UTF-8 alike as absent.
pub fn var(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Some(v),
        _ => None,
    }
}

/// The Claude Code executable offload inspects (`claude --version`) for `setup` and `doctor`:
/// a path or a name on `PATH`. Default `claude`.
pub const OFFLOAD_CLAUDE_BIN: &str = "OFFLOAD_CLAUDE_BIN";

/// The folder holding `offload-hook` and `offload-statusline` that `offload setup` wires into
/// Claude Code's settings. Default: the folder of the running `offload` executable. `install.sh
/// --dry-run` sets it to the install folder to preview the settings before anything is installed.
pub const OFFLOAD_BIN_DIR: &str = "OFFLOAD_BIN_DIR";
