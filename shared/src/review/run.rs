//! Running the review: `offload run --json --work-type review … - read-only <dir>`, the same
//! runner Claude uses, so the attempt is recorded in the ledger like any other. The prompt goes
//! in from a file and the answer comes back in a file (no pipe can fill up and block), and the
//! run has a deadline: past it, its process group gets SIGTERM (the runner then ends codex and
//! records the attempt), then SIGKILL. The runner gets SIGTERM too when the hook dies
//! (`PR_SET_PDEATHSIG`), so no review outlives the hook that waits for it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::outcome::Outcome;

/// What the runner reported.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ran {
    /// `None`: the runner gave no result (it failed before running codex, or was killed).
    pub outcome: Option<Outcome>,
    pub answer: Option<String>,
    pub error: Option<String>,
    pub attempt: Option<String>,
    pub model: Option<String>,
    /// The hook ended the runner at its deadline.
    pub killed: bool,
    /// The runner's exit code.
    pub code: Option<i32>,
    /// The start of the runner's stderr, for saying why it gave no result.
    pub stderr: String,
}

/// How long the runner may take beyond codex's own timeout (its model catalog, the rollout,
/// the ledger) before the hook ends it.
pub const RUNNER_SLACK: Duration = Duration::from_secs(15);
/// Between SIGTERM and SIGKILL of a runner past its deadline.
const TERM_GRACE: Duration = Duration::from_secs(5);

/// Run one review of `dir` for `session`; `work` is a private folder for the prompt and the
/// output files.
pub fn review(
    offload: &Path,
    dir: &Path,
    session: &str,
    prompt: &str,
    timeout: Duration,
    work: &Path,
) -> Result<Ran, String> {
    crate::fsutil::create_private_dir(work)
        .map_err(|e| format!("cannot create {} ({e})", work.display()))?;
    let file = |name: &str| -> PathBuf { work.join(name) };
    crate::fsutil::write_atomic(&file("prompt.txt"), prompt.as_bytes())
        .map_err(|e| format!("cannot write the prompt in {} ({e})", work.display()))?;
    let open = |name: &str, write: bool| {
        let path = file(name);
        let f = if write {
            std::fs::File::create(&path)
        } else {
            std::fs::File::open(&path)
        };
        f.map_err(|e| format!("cannot open {} ({e})", path.display()))
    };
    let mut cmd = Command::new(offload);
    cmd.arg("run")
        .arg("--json")
        .args(["--work-type", "review"])
        .args(["--session", session])
        .args(["--timeout", &format!("{}ms", timeout.as_millis().max(1))])
        .arg("-")
        .arg("read-only")
        .arg(dir)
        .current_dir(dir)
        .stdin(Stdio::from(open("prompt.txt", false)?))
        .stdout(Stdio::from(open("out.json", true)?))
        .stderr(Stdio::from(open("err.txt", true)?));
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    // The runner ends (and ends codex) when the hook dies: a hook killed mid-review must not
    // leave a review running on to its limit, unseen, beside the next stop's.
    let hook = std::process::id() as libc::pid_t;
    // SAFETY: async-signal-safe calls only between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The hook died before the signal was asked for.
            if libc::getppid() != hook {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {} ({e})", offload.display()))?;
    let pid = child.id();
    let deadline = Instant::now() + timeout + RUNNER_SLACK;
    let mut killed = false;
    let mut term_at: Option<Instant> = None;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) => {}
            Err(_) => break None,
        }
        let now = Instant::now();
        match term_at {
            None if now >= deadline => {
                crate::process::kill_group(pid, libc::SIGTERM);
                killed = true;
                term_at = Some(now);
            }
            Some(t) if now >= t + TERM_GRACE => {
                crate::process::kill_group(pid, libc::SIGKILL);
                break child.wait().ok();
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Whatever the runner left in its group goes with it.
    crate::process::kill_group(pid, libc::SIGKILL);
    let out = crate::fsutil::read_regular_text(&file("out.json"), 32 << 20).unwrap_or_default();
    let err = crate::fsutil::read_regular_text(&file("err.txt"), 1 << 20).unwrap_or_default();
    let mut ran = Ran {
        killed,
        code: status.and_then(|s| s.code()),
        stderr: err.chars().take(2000).collect(),
        ..Ran::default()
    };
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(out.trim()) {
        let text = |k: &str| v.get(k).and_then(|s| s.as_str()).map(str::to_owned);
        ran.outcome = v
            .get("outcome")
            .and_then(|o| serde_json::from_value(o.clone()).ok());
        ran.answer = text("answer");
        ran.error = text("error");
        ran.attempt = text("attempt");
        ran.model = text("model");
    }
    Ok(ran)
}

impl Ran {
    /// Why this run is not a review, in a few words (`None`: it succeeded).
    pub fn failure(&self) -> Option<String> {
        if self.outcome == Some(Outcome::Success) && !self.killed {
            return None;
        }
        if self.killed && self.outcome.is_none() {
            return Some("the review ran past its deadline and was ended".into());
        }
        let said = self
            .error
            .clone()
            .or_else(|| {
                self.stderr
                    .lines()
                    .map(str::trim)
                    .rfind(|l| l.starts_with("offload:"))
                    .map(str::to_owned)
            })
            .map(|e| e.chars().take(300).collect::<String>());
        Some(match (self.outcome, said) {
            (Some(o), Some(e)) => format!("Codex's review ended `{}`: {e}", o.as_str()),
            (Some(o), None) => format!("Codex's review ended `{}`", o.as_str()),
            (None, Some(e)) => format!("`offload run` gave no result: {e}"),
            (None, None) => format!(
                "`offload run` gave no result ({})",
                self.code
                    .map_or("killed by a signal".to_owned(), |c| format!("exit {c}"))
            ),
        })
    }
}
