//! Running the real Codex CLI in tests, offline and without touching the user's files.
//!
//! The end-to-end tests drive the pinned `codex` that `scripts/install-clients.sh` puts in
//! `.tools/bin/`. A test that needs it calls [`require_real_codex`]: on a developer machine
//! without it the test skips with a note, on CI (`CI=true`) it fails, so a missing install step
//! cannot hide behind a green run. [`CodexHome`] is a throwaway `CODEX_HOME` (and `HOME`) whose
//! `config.toml` points codex at a [`crate::responses::MockResponses`] and switches off
//! everything that would reach the network or retry.

use std::env;
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// Environment variable naming the `codex` binary to test; overrides `.tools/bin/codex`.
pub const CODEX_ENV: &str = "OFFLOAD_TEST_CODEX";

/// The workspace root (the folder holding `Cargo.lock` and `.tools/`).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The real Codex CLI, if there is one: `$OFFLOAD_TEST_CODEX` when set (non-empty), else
/// `<workspace>/.tools/bin/codex` when it exists.
pub fn real_codex() -> Option<PathBuf> {
    if let Some(path) = env::var_os(CODEX_ENV).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let installed = workspace_root().join(".tools/bin/codex");
    installed.exists().then_some(installed)
}

/// [`real_codex`] for a test that needs it. When it is absent: panics on CI (`CI` is `true` or
/// `1`), otherwise prints a skip note to stderr and returns `None` (the test should return).
pub fn require_real_codex() -> Option<PathBuf> {
    let found = real_codex();
    if found.is_none() {
        let on_ci = env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        if on_ci {
            panic!("real codex not installed: run scripts/install-clients.sh (or set {CODEX_ENV})");
        }
        eprintln!("skipping: real codex not installed (scripts/install-clients.sh)");
    }
    found
}

/// A throwaway `CODEX_HOME` configured for a mock Responses server, with everything else the
/// child needs to stay off the user's files.
///
/// Layout of the temporary folder (removed on drop):
/// `codex/` is `CODEX_HOME`, `home/` the child's `HOME`, `tmp/` its `TMPDIR`, `work/` the
/// working folder given to `-C`, `last.txt` the `-o` file of [`CodexHome::exec_args`].
pub struct CodexHome {
    dir: TempDir,
}

impl CodexHome {
    /// Writes `config.toml` pointing codex at `base_url` (e.g. [`crate::responses::MockResponses::base_url`]).
    ///
    /// Panics if the temporary folder cannot be written (a test-environment failure).
    pub fn new(base_url: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("offload-codex-")
            .tempdir()
            .expect("create a temporary folder for CODEX_HOME");
        for sub in ["codex", "home", "tmp", "work"] {
            fs::create_dir_all(dir.path().join(sub)).expect("create a temporary folder");
        }
        let home = CodexHome { dir };
        fs::write(home.path().join("config.toml"), config_toml(base_url))
            .expect("write config.toml");
        home
    }

    /// The `CODEX_HOME` folder.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("codex")
    }

    /// The `HOME` given to the child (codex writes nothing there; commands it runs might).
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// The working folder for `-C` (empty, not a git repository).
    pub fn workdir(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// The `-o` file of [`CodexHome::exec_args`]: codex writes the last agent message there.
    pub fn last_message_path(&self) -> PathBuf {
        self.dir.path().join("last.txt")
    }

    /// Environment for the child: `CODEX_HOME`, `HOME`, `TMPDIR`, `MOCK_API_KEY=dummy`.
    ///
    /// `TMPDIR` is set to a folder that does not contain `CODEX_HOME`: when `CODEX_HOME` lies
    /// under the temporary folder, codex 0.169.0 prints "WARNING: proceeding, even though we
    /// could not create PATH aliases: Refusing to create helper binaries under temporary dir".
    pub fn envs(&self) -> Vec<(String, String)> {
        let path = |p: PathBuf| p.display().to_string();
        vec![
            ("CODEX_HOME".into(), path(self.path())),
            ("HOME".into(), path(self.home())),
            ("TMPDIR".into(), path(self.dir.path().join("tmp"))),
            ("MOCK_API_KEY".into(), "dummy".into()),
        ]
    }

    /// A `Command` for `codex` with [`CodexHome::envs`] applied, the variables that could steer
    /// it elsewhere removed (`OPENAI_*`, `CODEX_*`, proxies, `RUST_LOG`), stdin from
    /// `/dev/null` (codex reads stdin to its end), stdout and stderr piped, the working folder
    /// [`CodexHome::workdir`], and its own process group (so [`CodexRun`] can end it and
    /// everything it started).
    pub fn command(&self, codex: &Path) -> Command {
        let mut command = Command::new(codex);
        for name in env::vars_os().map(|(name, _)| name).filter(is_steering) {
            command.env_remove(name);
        }
        command
            .envs(self.envs())
            .current_dir(self.workdir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        command
    }

    /// The usual arguments: `exec --json --skip-git-repo-check -s read-only -C <work>
    /// -c approval_policy="never" -m gpt-5.5 -o <last.txt> <prompt>`.
    pub fn exec_args(&self, prompt: &str) -> Vec<String> {
        let path = |p: PathBuf| p.display().to_string();
        vec![
            "exec".into(),
            "--json".into(),
            "--skip-git-repo-check".into(),
            "-s".into(),
            "read-only".into(),
            "-C".into(),
            path(self.workdir()),
            "-c".into(),
            r#"approval_policy="never""#.into(),
            "-m".into(),
            "gpt-5.5".into(),
            "-o".into(),
            path(self.last_message_path()),
            prompt.into(),
        ]
    }

    /// Arguments to continue a thread: `exec resume --json --skip-git-repo-check
    /// -c sandbox_mode="read-only" -c approval_policy="never" -m gpt-5.5 -o <last.txt>
    /// <thread_id> <prompt>`. `exec resume` rejects `-s` and `-C` (exit 2): the sandbox goes
    /// through `-c`, the folder is the working directory ([`CodexHome::command`] sets it).
    pub fn resume_args(&self, thread_id: &str, prompt: &str) -> Vec<String> {
        [
            "exec",
            "resume",
            "--json",
            "--skip-git-repo-check",
            "-c",
            r#"sandbox_mode="read-only""#,
            "-c",
            r#"approval_policy="never""#,
            "-m",
            "gpt-5.5",
            "-o",
        ]
        .into_iter()
        .map(String::from)
        .chain([
            self.last_message_path().display().to_string(),
            thread_id.to_string(),
            prompt.to_string(),
        ])
        .collect()
    }

    /// Run `codex` with these arguments ([`CodexHome::command`]) and wait at most `timeout`.
    pub fn run(&self, codex: &Path, args: &[String], timeout: Duration) -> ExecOutput {
        let mut command = self.command(codex);
        command.args(args);
        CodexRun::spawn(command)
            .expect("spawn codex")
            .wait_timeout(timeout)
    }

    /// Run `codex` with [`CodexHome::exec_args`] and wait at most `timeout`.
    pub fn exec(&self, codex: &Path, prompt: &str, timeout: Duration) -> ExecOutput {
        self.run(codex, &self.exec_args(prompt), timeout)
    }

    /// The last agent message codex wrote to `-o`, if the file exists.
    pub fn last_message(&self) -> Option<String> {
        fs::read_to_string(self.last_message_path()).ok()
    }

    /// Every session rollout, `sessions/**/rollout-*.jsonl`, sorted by path.
    pub fn rollouts(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let _ = collect_rollouts(&self.path().join("sessions"), &mut found);
        found.sort();
        found
    }
}

/// Variables that could point codex at a real service, another home, a proxy, or make it chatty.
fn is_steering(name: &OsString) -> bool {
    let name = name.to_string_lossy();
    let upper = name.to_ascii_uppercase();
    name.starts_with("OPENAI_")
        || name.starts_with("CODEX_")
        || upper.ends_with("_PROXY")
        || name == "RUST_LOG"
}

/// A running `codex` (started by [`CodexRun::spawn`]) in its own process group.
pub struct CodexRun {
    child: Child,
    started: Instant,
    stdout: JoinHandle<Vec<u8>>,
    stderr: JoinHandle<Vec<u8>>,
}

impl CodexRun {
    /// Spawn `command`, which must pipe stdout and stderr and start a process group, as
    /// [`CodexHome::command`] does.
    pub fn spawn(mut command: Command) -> io::Result<Self> {
        let started = Instant::now();
        let mut child = command.spawn()?;
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        Ok(CodexRun {
            child,
            started,
            stdout,
            stderr,
        })
    }

    /// The child's PID, which is also its process group ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the child is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Wait for the child to exit; after `timeout`, end its process group (SIGTERM, then SIGKILL
    /// after 5 s) and report `timed_out`. Whatever the child started and left behind is killed
    /// either way, so the pipes close.
    pub fn wait_timeout(mut self, timeout: Duration) -> ExecOutput {
        let pgid = self.pid();
        let deadline = self.started + timeout;
        let mut timed_out = false;
        let status = loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                break status;
            }
            if Instant::now() >= deadline {
                timed_out = true;
                signal_group(pgid, "TERM");
                let grace = Instant::now() + Duration::from_secs(5);
                loop {
                    if let Ok(Some(_)) = self.child.try_wait() {
                        break;
                    }
                    if Instant::now() >= grace {
                        signal_group(pgid, "KILL");
                        break;
                    }
                    thread::sleep(Duration::from_millis(20));
                }
                break self.child.wait().expect("wait for codex");
            }
            thread::sleep(Duration::from_millis(20));
        };
        let elapsed = self.started.elapsed();
        signal_group(pgid, "KILL");
        let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
        ExecOutput {
            code: status.code(),
            signal: status.signal(),
            stdout: text(self.stdout.join().unwrap_or_default()),
            stderr: text(self.stderr.join().unwrap_or_default()),
            elapsed,
            timed_out,
        }
    }
}

/// Send a signal to a whole process group we started (`kill -SIG -- -PGID`), ignoring "no such
/// process". Uses the `kill` program so this crate needs no `libc` and no `unsafe`.
pub fn signal_group(pgid: u32, signal: &str) {
    let program = if Path::new("/bin/kill").exists() {
        "/bin/kill"
    } else {
        "kill"
    };
    let _ = Command::new(program)
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{pgid}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// What a finished (or ended) `codex` run left.
#[derive(Clone, Debug)]
pub struct ExecOutput {
    /// Exit code, `None` when ended by a signal.
    pub code: Option<i32>,
    /// The signal that ended it, if any.
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    /// The run outlived its timeout and was ended by us.
    pub timed_out: bool,
}

impl ExecOutput {
    /// The `--json` events on stdout, one per line (lines that are not JSON are skipped).
    pub fn events(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// The last event of that `type` (`turn.completed`, `turn.failed`, …).
    pub fn last_event(&self, kind: &str) -> Option<Value> {
        self.events().into_iter().rfind(|e| e["type"] == kind)
    }

    /// The `thread_id` from `thread.started`.
    pub fn thread_id(&self) -> Option<String> {
        self.last_event("thread.started")
            .and_then(|e| e["thread_id"].as_str().map(str::to_string))
    }

    /// The texts of the `agent_message` items, in order.
    pub fn agent_messages(&self) -> Vec<String> {
        self.events()
            .iter()
            .filter(|e| e["type"] == "item.completed" && e["item"]["type"] == "agent_message")
            .filter_map(|e| e["item"]["text"].as_str().map(str::to_string))
            .collect()
    }
}

/// The JSON lines of a file (a rollout), skipping lines that are not JSON; empty if unreadable.
pub fn read_jsonl(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

fn collect_rollouts(dir: &Path, found: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_rollouts(&path, found)?;
        } else if path.file_name().is_some_and(|name| {
            let name = name.to_string_lossy();
            name.starts_with("rollout-") && name.ends_with(".jsonl")
        }) {
            found.push(path);
        }
    }
    Ok(())
}

/// The `config.toml` for a mock provider at `base_url`: PROTOCOLS.md §5, plus the two settings
/// that keep codex 0.169.0 off the network (without them it looks up `ab.chatgpt.com` for
/// metrics, and `api.github.com` and `chatgpt.com` to sync curated plugins, on every run).
pub fn config_toml(base_url: &str) -> String {
    format!(
        r#"model = "gpt-5.5"
model_provider = "mock"

[model_providers.mock]
name = "Mock"
base_url = "{base_url}"
wire_api = "responses"
env_key = "MOCK_API_KEY"
request_max_retries = 0
stream_max_retries = 0

[analytics]
enabled = false

[features]
plugins = false
"#
    )
}
