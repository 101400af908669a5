//! A builder for running the `offload` binary the way a test wants it: isolated state, a chosen
//! codex, chosen environment. `Run::new().arg(..).env(..).output()` reads like the behaviour.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use shared::ledger::{Body, Event, Ledger};
use shared::paths::Paths;

pub fn offload_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_offload"))
}

pub fn fake_codex() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fake-codex.sh")
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Variables from the developer's own shell that would leak into a test.
const SCRUB: [&str; 19] = [
    "AI_AGENT",
    "CLAUDE_CODE_ENTRYPOINT",
    "OFFLOAD_MODE",
    "CLAUDE_PROJECT_DIR",
    "CLAUDE_ENV_FILE",
    "OFFLOAD_HOME",
    "OFFLOAD_SESSION_ID",
    "CLAUDE_CODE_SESSION_ID",
    "CLAUDECODE",
    "CODEX_MODEL",
    "CODEX_MODEL_CODE",
    "CODEX_MODEL_LOGIC",
    "CODEX_EFFORT",
    "CODEX_TIMEOUT",
    "CODEX_FAIL_CLOSED",
    "CODEX_BIN",
    "CODEX_HOME",
    "OFFLOAD_KILL_GRACE",
    "OFFLOAD_RUNS_KEEP",
];

/// An isolated offload home (state + config) and a work folder.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("work")).unwrap();
        std::fs::create_dir_all(dir.path().join("codex-home")).unwrap();
        Sandbox { dir }
    }
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("offload")
    }
    pub fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }
    pub fn codex_home(&self) -> PathBuf {
        self.dir.path().join("codex-home")
    }
    pub fn ledger(&self) -> Ledger {
        Ledger::new(Paths::in_folder(self.home()))
    }
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    /// All `attempt.finished` events, in order.
    pub fn finished(&self) -> Vec<shared::ledger::AttemptFinished> {
        self.events()
            .into_iter()
            .filter_map(|e| match e.body {
                Body::AttemptFinished(f) => Some(*f),
                _ => None,
            })
            .collect()
    }
    pub fn events(&self) -> Vec<Event> {
        self.ledger().read_log().unwrap().events
    }
    /// A `Run` of `offload run` against the fake codex in this sandbox.
    pub fn run(&self) -> Run {
        Run::new(offload_bin())
            .arg("run")
            .env("OFFLOAD_HOME", self.home())
            .env("CODEX_HOME", self.codex_home())
            .env("CODEX_BIN", fake_codex())
            .current_dir(self.work())
    }
}

pub struct Run {
    cmd: Command,
    stdin: Option<Vec<u8>>,
    closed_stdout: bool,
}

impl Run {
    pub fn new(program: impl AsRef<std::ffi::OsStr>) -> Run {
        let mut cmd = Command::new(program);
        for v in SCRUB {
            cmd.env_remove(v);
        }
        cmd.env_remove("FAKE_CODEX_MODE");
        // The developer's own telemetry settings and trace.
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("OTEL_") || k == "TRACEPARENT" || k == "TRACESTATE" {
                cmd.env_remove(&*k);
            }
        }
        Run {
            cmd,
            stdin: None,
            closed_stdout: false,
        }
    }
    pub fn arg(mut self, a: impl AsRef<std::ffi::OsStr>) -> Run {
        self.cmd.arg(a);
        self
    }
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<std::ffi::OsStr>>(mut self, a: I) -> Run {
        self.cmd.args(a);
        self
    }
    pub fn env(mut self, k: &str, v: impl AsRef<std::ffi::OsStr>) -> Run {
        self.cmd.env(k, v);
        self
    }
    pub fn mode(self, m: &str) -> Run {
        self.env("FAKE_CODEX_MODE", m)
    }
    pub fn current_dir(mut self, d: impl AsRef<Path>) -> Run {
        self.cmd.current_dir(d);
        self
    }
    pub fn stdin(self, s: &str) -> Run {
        self.stdin_bytes(s.as_bytes())
    }
    pub fn stdin_bytes(mut self, s: &[u8]) -> Run {
        self.stdin = Some(s.to_vec());
        self
    }
    /// Standard output a pipe whose reader is gone before the program starts, as after
    /// `… | head -1` has read its line: every write to it fails (EPIPE). `stdout()` is empty.
    pub fn closed_stdout(mut self) -> Run {
        self.closed_stdout = true;
        self
    }
    pub fn command(self) -> Command {
        self.cmd
    }
    /// Run it in a terminal this test process makes and holds (a pseudo-terminal from
    /// `openpty`, the child its session leader in the foreground): what a user's terminal
    /// emulator gives a command. Standard output and error both land in `stdout`. At most 60 s.
    pub fn in_terminal(mut self) -> Done {
        use std::io::Read;
        use std::os::fd::{FromRawFd, OwnedFd};
        use std::os::unix::process::CommandExt;
        let (mut master, mut slave) = (-1, -1);
        // SAFETY: openpty fills two fresh descriptors, owned below.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors are ours alone.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let stdio = || Stdio::from(slave.try_clone().unwrap());
        self.cmd.stdin(stdio()).stdout(stdio()).stderr(stdio());
        // SAFETY: async-signal-safe calls between fork and exec.
        unsafe {
            self.cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = self.cmd.spawn().expect("spawn in a terminal");
        drop(self.cmd);
        drop(slave);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut out = Vec::new();
            // Reading the master ends with EIO once every copy of the other side is closed.
            let _ = std::fs::File::from(master).read_to_end(&mut out);
            let _ = tx.send(out);
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                break child.wait().unwrap();
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let stdout = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .unwrap_or_default();
        Done(Output {
            status,
            stdout,
            stderr: Vec::new(),
        })
    }
    pub fn output(mut self) -> Done {
        use std::io::Write;
        self.cmd
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::piped());
        if self.closed_stdout {
            let (reader, writer) = std::io::pipe().expect("pipe");
            drop(reader);
            self.cmd.stdout(writer);
        } else {
            self.cmd.stdout(Stdio::piped());
        }
        let mut child = self.cmd.spawn().expect("spawn offload");
        // The parent's copy of the pipe's writer went with the spawn; only the child's is left.
        if let Some(input) = self.stdin.take() {
            child.stdin.take().unwrap().write_all(&input).unwrap();
        }
        Done(child.wait_with_output().unwrap())
    }
}

/// A finished process, with readable accessors.
pub struct Done(pub Output);

impl Done {
    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    #[track_caller]
    pub fn expect_code(self, code: i32) -> Done {
        assert_eq!(
            self.code(),
            code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }
}

/// Whether a process still exists (and is not a zombie), waiting up to `for_ms` for it to go.
pub fn alive_after(pid: u32, for_ms: u64) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(for_ms);
    loop {
        let alive = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => stat
                .rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().next())
                .is_some_and(|state| state != "Z" && state != "X"),
            Err(_) => false,
        };
        if !alive || std::time::Instant::now() >= deadline {
            return alive;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A binary of another workspace package (`offload-hook`, `offload-statusline`), built on first
/// use: `cargo test` builds only this package's binaries for its own tests.
pub fn workspace_bin(name: &str) -> PathBuf {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "-p",
                "offload-hook",
                "-p",
                "offload-statusline",
            ])
            .current_dir(repo_root())
            .status()
            .expect("run cargo build for the workspace binaries");
        assert!(
            status.success(),
            "building offload-hook and offload-statusline failed"
        );
    });
    offload_bin().with_file_name(name)
}

/// The environment Claude Code needs so that `offload run` from its Bash tool drives the real
/// codex against a mock: the offload binaries, node (codex's launcher) and the toolchain's own
/// cargo (not the rustup proxy, which needs the real HOME) on `PATH`; `OFFLOAD_HOME`;
/// `CODEX_BIN`, `CODEX_HOME`, `MOCK_API_KEY`; a bounded `CODEX_TIMEOUT`.
pub fn offload_env(
    codex: &Path,
    codex_home: &offload_testkit::codex::CodexHome,
    offload_home: &Path,
) -> Vec<(String, String)> {
    let dir_of = |p: PathBuf| p.parent().map(|d| d.display().to_string());
    let node = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("node"))
        .find(|p| p.is_file());
    let mut path: Vec<String> = [
        Some(offload_bin()),
        node,
        std::env::var_os("CARGO").map(PathBuf::from),
    ]
    .into_iter()
    .flatten()
    .filter_map(dir_of)
    .collect();
    path.push("/usr/local/bin:/usr/bin:/bin".into());
    let mut env = vec![
        ("PATH".to_string(), path.join(":")),
        (
            "OFFLOAD_HOME".to_string(),
            offload_home.display().to_string(),
        ),
        ("CODEX_BIN".to_string(), codex.display().to_string()),
        ("CODEX_TIMEOUT".to_string(), "60".to_string()),
    ];
    env.extend(
        codex_home
            .envs()
            .into_iter()
            .filter(|(k, _)| k == "CODEX_HOME" || k == "MOCK_API_KEY"),
    );
    env
}
