//! Running the real Claude Code in tests, offline and without touching the user's files.
//!
//! offload's hook and statusline are only proven by the program that calls them. The tests
//! drive the pinned `claude` that `scripts/install-clients.sh` puts in `.tools/bin/` (and older
//! pins as `.tools/bin/claude-<version>`). A test that needs one calls [`require_real_claude`]:
//! on a developer machine without it the test skips with a note, on CI (`CI=true`) it fails.
//!
//! [`ClaudeHome`] is a throwaway `HOME` with the environment of PROTOCOLS.md §2, pointing
//! Claude Code at a [`crate::messages::MockMessages`]; [`ClaudeHome::run_headless`] runs
//! `claude -p` with a hard timeout; [`Tmux`] drives the interactive TUI (the statusline only
//! runs there) on a private tmux server.

use std::env;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::codex::{CodexRun, signal_group, workspace_root};

/// Environment variable naming the `claude` binary to test for the default version; overrides
/// `.tools/bin/claude`.
pub const CLAUDE_ENV: &str = "OFFLOAD_TEST_CLAUDE";

/// The API key given to Claude Code (`ANTHROPIC_API_KEY`); the mock ignores it.
pub const API_KEY: &str = "dummy";

/// The PreToolUse matcher of [`hooks_settings`]: the tools offload's guard watches. `Task` is
/// the old name of `Agent`, `MultiEdit` a removed tool (harmless to name; older versions had it).
pub const GUARDED_TOOLS: &str =
    "Edit|Write|NotebookEdit|MultiEdit|Agent|Task|Workflow|Bash|mcp__.*";

/// The real Claude Code, if installed. `version: None` is the default pin: `$OFFLOAD_TEST_CLAUDE`
/// when set (non-empty), else `<workspace>/.tools/bin/claude`. `Some(v)` is
/// `<workspace>/.tools/bin/claude-<v>` (installed by `scripts/install-clients.sh claude-<v>`).
pub fn real_claude(version: Option<&str>) -> Option<PathBuf> {
    let installed = match version {
        None => {
            if let Some(path) = env::var_os(CLAUDE_ENV).filter(|v| !v.is_empty()) {
                return Some(PathBuf::from(path));
            }
            workspace_root().join(".tools/bin/claude")
        }
        Some(version) => workspace_root().join(format!(".tools/bin/claude-{version}")),
    };
    installed.exists().then_some(installed)
}

/// [`real_claude`] for a test that needs it. When it is absent: panics on CI (`CI` is `true` or
/// `1`), otherwise prints a skip note to stderr and returns `None` (the test should return).
pub fn require_real_claude(version: Option<&str>) -> Option<PathBuf> {
    let found = real_claude(version);
    if found.is_none() {
        let install = match version {
            None => "scripts/install-clients.sh claude".to_string(),
            Some(v) => format!("scripts/install-clients.sh claude-{v}"),
        };
        let on_ci = env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        if on_ci {
            panic!("real claude not installed: run {install} (or set {CLAUDE_ENV})");
        }
        eprintln!("skipping: real claude not installed ({install})");
    }
    found
}

/// `settings.json` hooks that register one command (a shell command line, run by Claude Code
/// through a shell) for every event offload uses: PreToolUse (matcher [`GUARDED_TOOLS`]),
/// PostToolUse and PostToolUseFailure (`Bash`), UserPromptSubmit and SessionStart (all sources).
pub fn hooks_settings(hook_command: &str, timeout_secs: u64) -> Value {
    let hook = json!([{"type": "command", "command": hook_command, "timeout": timeout_secs}]);
    json!({
        "hooks": {
            "PreToolUse": [{"matcher": GUARDED_TOOLS, "hooks": hook}],
            "PostToolUse": [{"matcher": "Bash", "hooks": hook}],
            "PostToolUseFailure": [{"matcher": "Bash", "hooks": hook}],
            "UserPromptSubmit": [{"hooks": hook}],
            "SessionStart": [{"hooks": hook}],
        }
    })
}

/// A throwaway `HOME` for Claude Code, with a project folder, pointed at a mock Messages server.
///
/// Layout of the temporary folder (removed on drop; the path is canonical, so it compares equal
/// to the `cwd` Claude Code reports): `home/` is `HOME` (`home/.claude/settings.json`,
/// `home/.claude.json`), `project/` the working folder of a session, `tmp/` `TMPDIR` and
/// `CLAUDE_CODE_TMPDIR`, `run/` `XDG_RUNTIME_DIR`.
pub struct ClaudeHome {
    /// Held for its removal on drop; `root` is its canonical path.
    _dir: TempDir,
    root: PathBuf,
    base_url: String,
}

impl ClaudeHome {
    /// A fresh home for a mock at `base_url` (e.g. [`crate::messages::MockMessages::base_url`]).
    ///
    /// Panics if the temporary folder cannot be written (a test-environment failure).
    pub fn new(base_url: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("offload-claude-")
            .tempdir()
            .expect("create a temporary folder for HOME");
        let root = dir
            .path()
            .canonicalize()
            .unwrap_or_else(|_| dir.path().to_path_buf());
        for sub in ["home/.claude", "project", "tmp", "run"] {
            fs::create_dir_all(root.join(sub)).expect("create a temporary folder");
        }
        fs::set_permissions(root.join("run"), fs::Permissions::from_mode(0o700))
            .expect("chmod XDG_RUNTIME_DIR");
        ClaudeHome {
            _dir: dir,
            root,
            base_url: base_url.to_string(),
        }
    }

    /// The temporary folder holding everything (a place for test scripts and logs too).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The `HOME` given to Claude Code.
    pub fn home(&self) -> PathBuf {
        self.root.join("home")
    }

    /// The project folder (empty, not a git repository): the usual `cwd` of a session.
    pub fn project(&self) -> PathBuf {
        self.root.join("project")
    }

    /// `~/.claude/settings.json`.
    pub fn settings_path(&self) -> PathBuf {
        self.home().join(".claude/settings.json")
    }

    /// Write `~/.claude/settings.json` (replacing it). Older versions validate it strictly:
    /// only write keys the version under test knows.
    pub fn settings(&self, settings: Value) {
        let text = serde_json::to_string_pretty(&settings).expect("settings serialize");
        fs::write(self.settings_path(), text).expect("write ~/.claude/settings.json");
    }

    /// Write `~/.claude.json` so the interactive TUI starts straight into a session in `cwd`:
    /// onboarding done, the API key approved (by its last 20 characters), the folder trusted.
    /// Headless `-p` runs do not need it.
    pub fn seed_interactive(&self, cwd: &Path) {
        let key_tail: String = {
            let chars: Vec<char> = API_KEY.chars().collect();
            chars[chars.len().saturating_sub(20)..].iter().collect()
        };
        let mut projects = serde_json::Map::new();
        projects.insert(
            cwd.display().to_string(),
            json!({"hasTrustDialogAccepted": true}),
        );
        let seeded = json!({
            "hasCompletedOnboarding": true,
            "customApiKeyResponses": {"approved": [key_tail], "rejected": []},
            "projects": projects,
        });
        fs::write(
            self.home().join(".claude.json"),
            serde_json::to_string_pretty(&seeded).expect("serialize"),
        )
        .expect("write ~/.claude.json");
    }

    /// The environment of PROTOCOLS.md §2: `HOME`, `ANTHROPIC_BASE_URL`, `ANTHROPIC_API_KEY`,
    /// the switches that keep Claude Code off the network, `CLAUDE_CODE_TMPDIR`, `TMPDIR`,
    /// `XDG_RUNTIME_DIR`, and `IS_SANDBOX=1` when running as root (otherwise Claude Code refuses
    /// `bypassPermissions`).
    pub fn envs(&self) -> Vec<(String, String)> {
        let path = |p: PathBuf| p.display().to_string();
        let mut envs: Vec<(String, String)> = vec![
            ("HOME".into(), path(self.home())),
            ("ANTHROPIC_BASE_URL".into(), self.base_url.clone()),
            ("ANTHROPIC_API_KEY".into(), API_KEY.into()),
            (
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".into(),
                "1".into(),
            ),
            ("DISABLE_TELEMETRY".into(), "1".into()),
            ("DISABLE_AUTOUPDATER".into(), "1".into()),
            ("CLAUDE_CODE_TMPDIR".into(), path(self.root.join("tmp"))),
            ("TMPDIR".into(), path(self.root.join("tmp"))),
            ("XDG_RUNTIME_DIR".into(), path(self.root.join("run"))),
        ];
        if running_as_root() {
            envs.push(("IS_SANDBOX".into(), "1".into()));
        }
        envs
    }

    /// A `Command` for `claude` in `cwd` with [`ClaudeHome::envs`] applied and the variables
    /// that could steer it elsewhere removed (`ANTHROPIC_*`, `CLAUDE*`, `OFFLOAD_*`, `XDG_*`,
    /// proxies, `TMUX*`), stdin from `/dev/null`, stdout and stderr piped, and its own process
    /// group (so a timeout can end it and every hook it started).
    pub fn command(&self, claude: &Path, cwd: &Path) -> Command {
        let mut command = Command::new(claude);
        for name in env::vars_os().map(|(name, _)| name).filter(is_steering) {
            command.env_remove(name);
        }
        command
            .envs(self.envs())
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        command
    }

    /// The interactive TUI of `claude` in `cwd` on a private tmux server, `width`×`height`, with
    /// [`ClaudeHome::envs`] (and nothing else of this process's environment but `PATH`). Call
    /// [`ClaudeHome::seed_interactive`] first, or it stops at the onboarding screens.
    pub fn tmux(
        &self,
        claude: &Path,
        cwd: &Path,
        width: u16,
        height: u16,
    ) -> std::io::Result<Tmux> {
        Tmux::start(&[claude], &self.envs(), cwd, width, height)
    }

    /// Run `claude -p PROMPT --output-format stream-json --verbose EXTRA_ARGS…` in `cwd`, and
    /// wait at most `timeout`: after it, the whole process group is ended (SIGTERM, then SIGKILL
    /// after 5 s). Continue a session with `extra_args` `["--resume", session_id]`.
    pub fn run_headless(
        &self,
        claude: &Path,
        cwd: &Path,
        prompt: &str,
        extra_args: &[&str],
        timeout: Duration,
    ) -> HeadlessRun {
        self.run_headless_with(claude, cwd, prompt, extra_args, &[], timeout)
    }

    /// [`ClaudeHome::run_headless`] with extra environment for Claude Code (and so for its hooks
    /// and the commands its Bash tool runs), e.g. `PATH`, `OFFLOAD_HOME`, `CODEX_HOME`.
    pub fn run_headless_with(
        &self,
        claude: &Path,
        cwd: &Path,
        prompt: &str,
        extra_args: &[&str],
        extra_env: &[(String, String)],
        timeout: Duration,
    ) -> HeadlessRun {
        let mut command = self.command(claude, cwd);
        command.envs(extra_env.iter().map(|(k, v)| (k, v)));
        command
            .args(["-p", prompt, "--output-format", "stream-json", "--verbose"])
            .args(extra_args);
        let out = CodexRun::spawn(command)
            .expect("spawn claude")
            .wait_timeout(timeout);
        let events: Vec<Value> = out
            .stdout
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect();
        let result = events.iter().rfind(|e| e["type"] == "result").cloned();
        let session_id = events
            .iter()
            .find_map(|e| e["session_id"].as_str())
            .map(str::to_string);
        HeadlessRun {
            code: out.code,
            stdout: out.stdout,
            stderr: out.stderr,
            events,
            result,
            session_id,
            elapsed: out.elapsed,
            timed_out: out.timed_out,
        }
    }
}

/// What a finished (or ended) `claude -p` run left.
#[derive(Clone, Debug)]
pub struct HeadlessRun {
    /// Exit code, `None` when ended by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// The stream-json lines of stdout (`system` init, `assistant`, `user`, `result`, …); lines
    /// that are not JSON are skipped.
    pub events: Vec<Value>,
    /// The last `{"type":"result",…}` event (`is_error`, `result`, `permission_denials`, `usage`).
    pub result: Option<Value>,
    /// The session id of the first event that has one (the `system` init).
    pub session_id: Option<String>,
    pub elapsed: Duration,
    /// The run outlived its timeout and was ended by us.
    pub timed_out: bool,
}

impl HeadlessRun {
    /// Context for assertion messages: exit, time, stdout and stderr.
    pub fn shown(&self) -> String {
        format!(
            "code {:?}, {:?}, timed out {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.elapsed, self.timed_out, self.stdout, self.stderr
        )
    }

    /// The `tool_use` blocks of the assistant events, in order.
    pub fn tool_uses(&self) -> Vec<Value> {
        self.events
            .iter()
            .filter(|e| e["type"] == "assistant")
            .flat_map(|e| {
                e["message"]["content"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter(|block| block["type"] == "tool_use")
            .collect()
    }
}

/// Variables that could point Claude Code at a real service or account, another home, a proxy,
/// or make it believe it runs inside another session or tmux.
fn is_steering(name: &OsString) -> bool {
    let name = name.to_string_lossy();
    let upper = name.to_ascii_uppercase();
    upper.starts_with("ANTHROPIC_")
        || upper.starts_with("CLAUDE")
        || upper.starts_with("OFFLOAD_")
        || upper.starts_with("XDG_")
        || upper.starts_with("TMUX")
        || upper.starts_with("AWS_")
        || upper.starts_with("GOOGLE_")
        || upper.starts_with("VERTEX_")
        || upper.starts_with("DISABLE_")
        || upper.ends_with("_PROXY")
}

/// Whether this process runs as root (the owner of `/proc/self` is the effective user).
fn running_as_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// An interactive program (the Claude Code TUI) in a detached session of a private tmux server.
///
/// The server has its own socket folder (`TMUX_TMPDIR`, a temporary folder) and socket name
/// (`-L`), and starts with a cleared environment: only `PATH`, `TERM` and the given variables,
/// so the program sees exactly those. Dropping it runs `kill-server` on that socket only (which
/// hangs up the program) and removes the folder.
pub struct Tmux {
    dir: TempDir,
    socket: String,
    /// The pane's first process, leader of its own process group (tmux starts panes with
    /// `setsid`).
    pane_pid: Option<u32>,
}

impl Tmux {
    /// Start `command` (program and arguments, run directly, not through a shell) in `cwd` on a
    /// `width`×`height` window, with the environment `env` (on top of this process's `PATH`,
    /// `TERM=xterm-256color` and `LANG=C.UTF-8`).
    pub fn start<S: AsRef<OsStr>>(
        command: &[S],
        env: &[(String, String)],
        cwd: &Path,
        width: u16,
        height: u16,
    ) -> std::io::Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = tempfile::Builder::new().prefix("offload-tmux-").tempdir()?;
        let socket = format!(
            "offload-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut tmux = Tmux {
            dir,
            socket,
            pane_pid: None,
        };
        let mut start = tmux.tmux();
        start.env_clear();
        start.env(
            "PATH",
            env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
        );
        start.env("TERM", "xterm-256color");
        start.env("LANG", "C.UTF-8");
        start.env("TMUX_TMPDIR", tmux.dir.path());
        start.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        start
            .args(["new-session", "-d", "-x"])
            .arg(width.to_string())
            .arg("-y")
            .arg(height.to_string())
            .arg("-c")
            .arg(cwd)
            .arg("--")
            .args(command);
        let out = start.output()?;
        if !out.status.success() {
            return Err(std::io::Error::other(format!(
                "tmux new-session failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        // Keep the pane (and its last screen) after the program exits, for error messages.
        let _ = tmux.run(&["set-option", "-g", "remain-on-exit", "on"]);
        tmux.pane_pid = tmux
            .run(&["display-message", "-p", "-t", "0", "#{pane_pid}"])
            .ok()
            .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok());
        Ok(tmux)
    }

    /// The socket name (`tmux -L NAME`); the socket lives under a private `TMUX_TMPDIR`.
    pub fn socket(&self) -> &str {
        &self.socket
    }

    /// A `tmux -L SOCKET -f /dev/null` command on this server.
    fn tmux(&self) -> Command {
        let mut command = Command::new("tmux");
        command
            .env("TMUX_TMPDIR", self.dir.path())
            .env_remove("TMUX")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .stdin(Stdio::null());
        command
    }

    fn run(&self, args: &[&str]) -> std::io::Result<Output> {
        self.tmux().args(args).output()
    }

    /// `send-keys` to the pane: tmux key names (`Enter`, `C-c`, `Escape`) or, with `literal`,
    /// text typed as is (`send-keys -l`).
    pub fn send_keys(&self, keys: &[&str], literal: bool) {
        let mut command = self.tmux();
        command.arg("send-keys");
        if literal {
            command.arg("-l");
        }
        command.args(["-t", "0"]).arg("--").args(keys);
        let _ = command.output();
    }

    /// Type `text` literally, then press Enter (as a separate key, so the TUI sees a submit, not
    /// a pasted newline).
    pub fn type_line(&self, text: &str) {
        self.send_keys(&[text], true);
        thread::sleep(Duration::from_millis(150));
        self.send_keys(&["Enter"], false);
    }

    /// The visible screen as plain text (`capture-pane -p`).
    pub fn capture(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "0"])
            .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
            .unwrap_or_default()
    }

    /// The visible screen with colours as ANSI escapes (`capture-pane -p -e`).
    pub fn capture_ansi(&self) -> String {
        self.run(&["capture-pane", "-p", "-e", "-t", "0"])
            .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
            .unwrap_or_default()
    }

    /// Poll the screen until it contains `text`: `Ok(screen)`, or after `timeout`
    /// `Err(last screen)`.
    pub fn wait_for(&self, text: &str, timeout: Duration) -> Result<String, String> {
        self.wait_until(|screen| screen.contains(text), timeout)
    }

    /// Poll the screen until `done(screen)`: `Ok(screen)`, or after `timeout` `Err(last screen)`.
    pub fn wait_until(
        &self,
        mut done: impl FnMut(&str) -> bool,
        timeout: Duration,
    ) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.capture();
            if done(&screen) {
                return Ok(screen);
            }
            if Instant::now() >= deadline {
                return Err(screen);
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    /// `kill-server` hangs up the pane; whatever of the pane's process group outlives that
    /// (a program ignoring SIGHUP) is killed.
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
        if let Some(pid) = self.pane_pid {
            thread::sleep(Duration::from_millis(100));
            signal_group(pid, "KILL");
        }
    }
}
